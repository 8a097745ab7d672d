"""The overview's "vs last week" and hotspot changes compare weekly-spaced forecasts
(docs/dashboard.md, "How hotspots changed"): scoring runs daily, and comparing
consecutive origins compared today's forecast with yesterday's.

Before: with two daily origins the KPI arrow was the change from yesterday (its help:
"from last week's forecast"), the panel said "2 weeks published" and called every
top place "persistent" after two days."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st

from dashboard import trends
from tests.test_dashboard_hotspot_changes import week

MONDAY = pd.Timestamp("2025-12-28T16:00Z")  # local midnight, Monday 29 Dec (Shanghai)
DAY = pd.Timedelta(days=1)


def daily(first: pd.Timestamp, n: int, probs: dict[str, float], step: float) -> pd.DataFrame:
    """``n`` daily origins from ``first``; each place's probability grows by ``step`` a day."""
    return pd.concat(
        [week(first + k * DAY, {u: p + k * step for u, p in probs.items()}) for k in range(n)],
        ignore_index=True,
    )


def test_daily_origins_compare_with_the_same_weekday_a_week_before() -> None:
    """15 daily origins: the summary has one row per week (0, 7, 14 days back), "vs last
    week" is the origin 7 days before the newest, not the day before."""
    history = daily(MONDAY, 15, {"a": 0.5, "b": 0.4}, step=0.01)
    newest = MONDAY + 14 * DAY
    summary = trends.weekly_summary(history, top_n=20)
    assert list(summary["origin"]) == [MONDAY, MONDAY + 7 * DAY, newest]
    assert list(summary["weeks_back"]) == [2, 1, 0]
    before = trends.week_before(summary)
    assert before is not None and before["origin"] == newest - 7 * DAY
    # the change over a week: 7 days of +0.01, not one
    assert summary["top_mean"].iloc[-1] - before["top_mean"] == pytest.approx(0.07)
    assert trends.weekly_origins(history, weeks=4) == [MONDAY, MONDAY + 7 * DAY, newest]
    assert trends.weeks_published(history, weeks=4) == 3


def test_two_daily_origins_are_one_week_no_change_labels_no_arrow() -> None:
    """The demo's origin and the next day's: one week, no labels (it was "2 weeks" and
    every hot place "persistent"), nothing a week before to draw an arrow from."""
    history = daily(MONDAY, 2, {f"p{i}": 0.9 - 0.01 * i for i in range(20)}, step=0.001)
    assert trends.weeks_published(history) == 1
    assert trends.classify_hotspots(history, top_n=20, floor=0.3).empty
    summary = trends.weekly_summary(history, top_n=20)
    assert list(summary["origin"]) == [MONDAY + DAY]
    assert trends.week_before(summary) is None


def test_daily_labels_compare_weekly_spaced_origins() -> None:
    """22 daily origins: ``b`` was hot only 8-13 days ago (between the weekly origins:
    not "before"), ``c`` became hot 2 days ago (after a week before: "emerging" against
    the weeks, it was "persistent" against the 3 days before)."""
    frames = []
    for k in range(22):
        o = MONDAY + k * DAY
        probs = {"a": 0.6, "q": 0.01}
        if 8 <= 21 - k <= 13:
            probs["b"] = 0.7
        if 21 - k <= 2:
            probs["c"] = 0.5
        frames.append(week(o, probs))
    history = pd.concat(frames, ignore_index=True)
    out = trends.classify_hotspots(history, top_n=20, weeks=4, floor=0.3)
    got = dict(zip(out["unit_id"], out["label"], strict=True))
    assert got == {"a": "persistent", "c": "emerging"}
    assert out.set_index("unit_id").loc["a", "hot_weeks"] == 4


def test_weekly_origins_unchanged_and_a_switch_to_daily() -> None:
    """Weekly origins (the demo, backfills): every one is a week, as before. Weekly
    Mondays then daily runs: the origin nearest a week before (within 3 days)."""
    weekly = pd.concat(
        [week(MONDAY + k * 7 * DAY, {"a": 0.5 + 0.1 * k}) for k in range(5)], ignore_index=True
    )
    summary = trends.weekly_summary(weekly, top_n=20)
    assert len(summary) == 5 and list(summary["weeks_back"]) == [4, 3, 2, 1, 0]
    assert trends.weeks_published(weekly, weeks=4) == 4
    assert trends.weekly_origins(weekly, weeks=4) == sorted(set(weekly["origin"]))[-4:]
    switch = pd.concat(
        [weekly, week(MONDAY + 29 * DAY, {"a": 0.95}), week(MONDAY + 30 * DAY, {"a": 0.96})],
        ignore_index=True,
    )
    before = trends.week_before(trends.weekly_summary(switch, top_n=20))
    # 30 days: a week before is day 23; the nearest origin is the Monday of day 21
    assert before is not None and before["origin"] == MONDAY + 21 * DAY
    # a gap of more than 3 days around a week before: no "last week", no arrow
    gap = pd.concat([week(MONDAY, {"a": 0.5}), week(MONDAY + 11 * DAY, {"a": 0.6})])
    assert trends.week_before(trends.weekly_summary(gap, top_n=20)) is None
    # ... nor do the labels compare with it as the week two before (3 days off 14): one
    # rule for the page, a missed week ends the comparison (test_dashboard_trend_one_rule)
    assert trends.weekly_origins(gap) == [MONDAY + 11 * DAY]


def test_the_overview_says_which_forecast_it_compares_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo (weekly origins) plus a daily run the next day: the KPI's arrow is the
    change from the forecast a week before, and says so; the week line gives its 7 days."""
    from streamlit.testing.v1 import AppTest

    from dashboard import auth, queries
    from dashboard.i18n import fmt_date, fmt_day, fmt_points, t
    from riskwarn.store import Store, run_id_for
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path / "home"
    city = demo_home(home, n_cells=80, weeks=2, n_cases=5)
    use_dashboard_env(monkeypatch, home, city.store_url)
    st.cache_data.clear()
    origin = pd.Timestamp(city.origin)
    nxt = origin + DAY
    with Store(city.store_url) as s:
        fc = s.published_forecasts("incidents")
        run_id = s.stage_run(
            {
                "run_id": run_id_for("incidents", nxt),
                "domain": "incidents",
                "origin": nxt,
                "horizon_hours": 168.0,
            }
        )
        keep = ["unit_type", "unit_id", "county_code", "township_code", "rank", "cell_x"]
        keep += ["cell_y", "lon", "lat", "probability", "score"]
        s.write_forecasts(
            run_id,
            fc[[c for c in keep if c in fc]].assign(origin=nxt, valid_to=nxt + 7 * DAY),
        )
        s.publish_run(run_id)
    snap = queries.snapshot(city.store_url)
    summary = trends.weekly_summary(queries.forecast_history(snap, "incidents"), top_n=20)
    before = trends.week_before(summary)
    assert before is not None and before["origin"] == origin - 7 * DAY
    delta = summary["top_mean"].iloc[-1] - before["top_mean"]
    assert abs(delta) >= 0.0005  # the demo's weeks differ: there is an arrow to check

    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=90)
    role, name = auth.DEMO_USERS["leader"]
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    tz = queries.settings().display_tz
    kpi = next(m for m in at.metric if m.label == t("kpi_hot_mean_incidents", "en"))
    week_ago = fmt_day(origin - 7 * DAY, "en", tz)
    # before: the change from yesterday's run (the same forecasts: no arrow at all)
    assert kpi.proto.delta == fmt_points(delta, "en")  # its first character: the arrow's way
    assert any(c.value == f"Arrow: vs the forecast of {week_ago}" for c in at.caption)
    assert fmt_date(origin - 7 * DAY, "en", tz) in kpi.proto.help
    end = fmt_date(nxt + 7 * DAY - pd.Timedelta(seconds=1), "en", tz)
    assert any(c.value == f"Week of {fmt_date(nxt, 'en', tz)} – {end}" for c in at.caption)
    compared = t("hotspot_compared", "en", dates=week_ago)
    assert any(c.value == compared for c in at.caption), [c.value for c in at.caption]


# -- "is it rising": the forecast point like for like with the weeks observed -----------

BINS = {  # a model whose probabilities run high: 10 observed where they summed to 15
    "strategy": "quantile",
    "bins": [
        {"mean_predicted": 0.1, "observed_rate": 0.05, "count": 100},
        {"mean_predicted": 0.5, "observed_rate": 0.5, "count": 10},
    ],
}


def test_the_forecast_point_is_scaled_by_the_backtest() -> None:
    """Observed / expected of the backtest's reliability bins scales the forecast point,
    labelled "adjusted"; without bins, the model's sum as before."""
    from dashboard import model_plots, views

    assert model_plots.observed_over_expected(BINS) == pytest.approx((10.0, 15.0))
    assert model_plots.observed_over_expected({"bins": []}) is None
    assert model_plots.observed_over_expected(None) is None
    weeks = pd.DataFrame(
        {
            "week_start": [MONDAY - pd.Timedelta(days=7 * k) for k in (3, 2, 1)],
            "week_end": [MONDAY - pd.Timedelta(days=7 * k) for k in (2, 1, 0)],
            "events": [300, 330, 310],
            "units": [273, 325, 300],
        }
    )
    for lang in ("en", "zh"):
        series = views.observed_series(weeks, 332.8, lang, "Asia/Shanghai", ratio=0.883)
        fc = series[series["kind"] == "forecast"]
        assert fc["value"].iloc[-1] == pytest.approx(332.8 * 0.883)
        assert set(fc["kind_label"]) == {views.t("observed_kind_forecast_adjusted", lang)}
        spec = str(views.observed_chart(series, lang, "y", "#4c78a8").to_dict())
        assert views.t("observed_kind_forecast_adjusted", lang) in spec
        raw = views.observed_series(weeks, 332.8, lang, "Asia/Shanghai")
        assert raw["value"].iloc[-1] == pytest.approx(332.8)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_overview_draws_the_adjusted_forecast_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """The overview with observed weeks and a model whose backtest saw 10 where its
    probabilities expected 15: the forecast point is 2/3 of the sum, the caption says
    why, in the page's language (before: the raw sum, no word of the model's bias)."""
    from streamlit.testing.v1 import AppTest

    from dashboard import auth, queries
    from dashboard.i18n import fmt_int, t
    from riskwarn.store import Store
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path / "home"
    city = demo_home(home, n_cells=80, weeks=1, n_cases=5)
    use_dashboard_env(monkeypatch, home, city.store_url)
    with Store(city.store_url) as s:
        origin = pd.Timestamp(s.published_run("incidents")["origin"])
        ends = [origin - pd.Timedelta(days=7 * k) for k in range(3, -1, -1)]
        s.write_observed_weeks(
            "incidents",
            origin.to_pydatetime(),
            pd.DataFrame(
                {
                    "week_start": [e - pd.Timedelta(days=7) for e in ends],
                    "week_end": ends,
                    "events": [40, 42, 44, 46],
                    "units": [30, 31, 32, 33],
                }
            ),
        )
        run = s.published_run("incidents")
    monkeypatch.setattr(queries, "version_reliability", lambda *a: BINS)
    st.cache_data.clear()
    snap = queries.snapshot(city.store_url)
    expected = queries.expected_units(snap, "incidents")
    assert expected is not None and run["model_version"]

    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=90)
    role, name = auth.DEMO_USERS["leader"]
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    note = t(
        "observed_adjusted",
        lang,
        raw=f"{expected:,.1f}",
        obs=fmt_int(10, lang),
        exp=fmt_int(15, lang),
        ratio="0.67",
        adj=f"{expected * 10 / 15:,.1f}",
    )
    assert any(c.value == note for c in at.caption), [c.value for c in at.caption]
    charts = [*at.get("vega_lite_chart"), *at.get("arrow_vega_lite_chart")]
    drawn = [c for c in charts if "kind_label" in str(c.proto.spec)]
    adjusted = t("observed_kind_forecast_adjusted", lang)
    # the legend's label (the spec's JSON escapes Chinese: read it back)
    assert any(adjusted in json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in drawn)
