"""The overview's "is it rising": observed weekly history, then this week's forecast.

Before, the overview's trend chart drew the mean probability of the top 20 places of each
published run, on one axis for every domain: the demo publishes one week, so it was one
dot per domain (civil disputes' 0.16 % flat against incidents' 72 %), and the "Hotspot
risk (mean)" KPI covered incidents without saying so. Scoring older origins with the
champion is refused as in-sample (riskwarn.scoring.out_of_sample), so the history is what
was observed: the publish step counts, per published run, the events and the units with
at least one in each of the 12 weeks before its origin (riskwarn.pipeline.publish_observed,
the store's ``observed_weeks``), and the overview draws them per domain, each on its own
axis, with the run's forecast (sum of its probabilities) as the next point.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth, views
from riskwarn import lake
from riskwarn.contracts import INCIDENTS, conform
from riskwarn.geo import unproject
from riskwarn.settings import Settings
from riskwarn.store import Store
from testkit.dashboard_demo import demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
ORIGIN = pd.Timestamp("2024-03-10 16:00", tz="UTC")


def _events(rows: list[tuple[str, str | None, int]]) -> pd.DataFrame:
    """Incidents at (occurred_at, reported_at, cell x offset) in the city's grid."""
    x = [(2000 + k + 0.5) * 250.0 for _, _, k in rows]
    lon, lat = unproject(x, [13500.5 * 250.0] * len(rows), "EPSG:32650")
    return conform(
        pd.DataFrame(
            {
                "source": "t",
                "record_id": [f"i{i}" for i in range(len(rows))],
                "occurred_at": pd.to_datetime([o for o, _, _ in rows], utc=True),
                "reported_at": pd.to_datetime([r for _, r, _ in rows], utc=True),
                "time_precision": "minute",
                "category": "assault",
                "category_group": "violent",
                "lon": lon,
                "lat": lat,
            }
        ),
        INCIDENTS,
    )


def _publish(store: Store, domain: str, origin: pd.Timestamp, probs: list[float]) -> str:
    run_id = store.stage_run(
        {
            "run_id": f"{domain}:{origin:%Y%m%dT%H%MZ}",
            "domain": domain,
            "origin": origin.to_pydatetime(),
            "horizon_hours": 168.0,
        }
    )
    store.write_forecasts(
        run_id,
        pd.DataFrame(
            {
                "unit_type": "cell",
                "unit_id": [f"c{2000 + k}_13500" for k in range(len(probs))],
                "valid_to": (origin + pd.Timedelta(days=7)).to_pydatetime(),
                "score": probs,
                "probability": probs,
                "rank": range(1, len(probs) + 1),
            }
        ),
    )
    store.publish_run(run_id)
    return run_id


def test_the_publish_step_counts_observed_weeks_up_to_the_origin_only(tmp_path: Path) -> None:
    """Events after the origin, and events reported after it, are not counted (no
    leakage into the history shown before the forecast); a cell with two events is one
    unit, a cell's first event no unit; empty weeks are 0; a re-run writes the same
    rows; the store refuses a week ending after the origin."""
    from riskwarn.pipeline import publish_observed

    settings = Settings(home=tmp_path / "home")
    week = pd.Timedelta(days=7)
    last = ORIGIN - pd.Timedelta(days=2)  # in the last week before the origin
    rows = [
        (str(last), str(last), 0),
        (str(last + pd.Timedelta(hours=1)), str(last + pd.Timedelta(hours=1)), 0),  # same cell
        (str(last), str(last), 1),
        (str(last - 3 * week), str(last - 3 * week), 2),  # four weeks before the origin
        (str(ORIGIN + pd.Timedelta(hours=1)), str(ORIGIN + pd.Timedelta(hours=1)), 3),  # after
        (str(last), str(ORIGIN + pd.Timedelta(days=1)), 4),  # reported after the origin
        (str(ORIGIN - 13 * week), str(ORIGIN - 13 * week), 5),  # before the 12 weeks
        # earlier events of cells 0 and 2: they are in the forecasts' area in the 12
        # weeks (cell 1's only event is its first: in no forecast, not a unit)
        (str(ORIGIN - 14 * week), str(ORIGIN - 14 * week), 0),
        (str(ORIGIN - 14 * week), str(ORIGIN - 14 * week), 2),
    ]
    lake.upsert(settings.lake_dir, "incidents", "t", _events(rows), batch_id="b1")
    store = Store.from_settings(settings)
    store.upgrade()
    _publish(store, "incidents", ORIGIN, [0.5, 0.25, 0.25])

    assert publish_observed(settings) == {"incidents": 12}
    got = store.observed_weeks("incidents", ORIGIN.to_pydatetime())
    assert len(got) == 12
    assert (got["week_end"] <= ORIGIN).all() and got["week_end"].iloc[-1] == ORIGIN
    assert got["week_start"].iloc[0] == ORIGIN - 12 * week
    assert got["events"].tolist() == [0] * 8 + [1, 0, 0, 3]
    assert got["units"].tolist() == [0] * 8 + [1, 0, 0, 1]
    first = got.drop(columns=["computed_at"])
    publish_observed(settings)  # idempotent
    again = store.observed_weeks("incidents", ORIGIN.to_pydatetime()).drop(columns=["computed_at"])
    pd.testing.assert_frame_equal(first, again)
    assert store.expected_units("incidents:20240310T1600Z") == pytest.approx(1.0)

    late = pd.DataFrame(
        {
            "week_start": [ORIGIN - pd.Timedelta(days=3)],
            "week_end": [ORIGIN + pd.Timedelta(days=4)],
            "events": [1],
            "units": [1],
        }
    )
    with pytest.raises(ValueError, match="after the origin"):
        store.write_observed_weeks("incidents", ORIGIN.to_pydatetime(), late)
    store.close()


def test_observed_cells_are_those_a_forecast_at_the_week_start_covers(tmp_path: Path) -> None:
    """Like with like: the forecast beside the observed weeks (the sum of its cells'
    probabilities) covers only cells with an event known before its origin
    (features.cells.active_cells, as riskwarn.serving_frames scores them), so a week
    counts the cells a forecast made at its start would have scored. Old code counted
    every cell with an event, first events included: on the demo's city 35 to 48
    dispute cells a week (2 expected: nearly every dispute is its cell's first) and 500
    to 585 incident cells (328 expected; 273 to 325 of them had an earlier incident)."""
    from features.cells import active_cells, assign_cells
    from riskwarn.pipeline import publish_observed

    settings = Settings(home=tmp_path / "home")
    week = pd.Timedelta(days=7)

    def at(k: int, days: float = 1.0) -> str:  # in week k of 12 (0 the oldest)
        return str(ORIGIN - (12 - k) * week + pd.Timedelta(days=days))

    rows = [
        (at(5), at(5), 0),  # cell 0: its first event, in no forecast
        (at(7), at(7), 0),  # ... then known: a unit in week 7
        (at(9, 1), at(9, 1), 1),  # cell 1: first and second event in the same week
        (at(9, 3), at(9, 3), 1),
        (str(ORIGIN - 20 * week), at(10, 2), 2),  # cell 2: an old event reported late,
        (at(10, 4), at(10, 4), 2),  # known only inside week 10: not yet scored there
        (at(11), at(11), 2),  # ... a unit in week 11
    ]
    events = _events(rows)
    lake.upsert(settings.lake_dir, "incidents", "t", events, batch_id="b1")
    store = Store.from_settings(settings)
    store.upgrade()
    _publish(store, "incidents", ORIGIN, [0.5, 0.25, 0.25])
    publish_observed(settings)
    got = store.observed_weeks("incidents", ORIGIN.to_pydatetime())
    store.close()
    assert got["events"].tolist() == [0] * 5 + [1, 0, 1, 0, 2, 1, 1]
    assert got["units"].tolist() == [0] * 7 + [1, 0, 0, 0, 1]
    # the same rule as the scored area: per week, the cells with an event in it among
    # the active cells at its start
    cells = assign_cells(events, "EPSG:32650", 250)
    for w in got.itertuples():
        start, end = pd.Timestamp(w.week_start), pd.Timestamp(w.week_end)
        area = set(map(tuple, active_cells(cells, start).to_numpy()))
        inside = cells[(cells["occurred_at"] >= start) & (cells["occurred_at"] < end)]
        hit = {(int(x), int(y)) for x, y in zip(inside["cell_x"], inside["cell_y"], strict=True)}
        assert w.units == len(hit & area)


def test_the_series_marks_observed_and_forecast_and_flags_a_far_forecast() -> None:
    weeks = pd.DataFrame(
        {
            "week_start": [ORIGIN - pd.Timedelta(days=7 * k) for k in (3, 2, 1)],
            "week_end": [ORIGIN - pd.Timedelta(days=7 * k) for k in (2, 1, 0)],
            "events": [44, 36, 40],
            "units": [40, 35, 38],
        }
    )
    for lang in ("en", "zh"):
        series = views.observed_series(weeks, 2.0, lang, "Asia/Shanghai")
        observed = series[series["kind"] == "observed"]
        forecast = series[series["kind"] == "forecast"]
        assert observed["value"].tolist() == [40.0, 35.0, 38.0]
        # the dashed forecast line starts at the last observed week, ends at the forecast
        assert forecast["value"].tolist() == [38.0, 2.0]
        assert forecast["week"].iloc[-1] not in set(observed["week"])
        assert set(series["kind_label"]) == {
            views.t("observed_kind_observed", lang),
            views.t("observed_kind_forecast", lang),
        }
        spec = views.observed_chart(series, lang, "y", "#4c78a8").to_dict()
        assert spec["layer"][0]["encoding"]["y"]["scale"]["zero"] is True
    assert views.forecast_off_observed(views.observed_series(weeks, 2.0, "en", "UTC"))
    assert not views.forecast_off_observed(views.observed_series(weeks, 36.0, "en", "UTC"))
    assert views.observed_series(weeks.iloc[0:0], 2.0, "en", "UTC").empty


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The dashboard test home (one week published, as the demo) with the observed weeks
    the publish step writes: incidents in the hundreds, disputes in the tens."""
    home = tmp_path_factory.mktemp("observed") / "home"
    city = demo_home(home, n_cells=300, weeks=1, n_cases=10)
    store = Store(city.store_url)
    for domain, base in (("incidents", 500), ("disputes", 40)):
        origin = pd.Timestamp(store.published_run(domain)["origin"])
        ends = [origin - pd.Timedelta(days=7 * k) for k in range(11, -1, -1)]
        store.write_observed_weeks(
            domain,
            origin.to_pydatetime(),
            pd.DataFrame(
                {
                    "week_start": [e - pd.Timedelta(days=7) for e in ends],
                    "week_end": ends,
                    "events": [base + 3 * i for i in range(12)],
                    "units": [base + 2 * i for i in range(12)],
                }
            ),
        )
    store.close()
    mp = pytest.MonkeyPatch()
    mp.setenv("RISKWARN_HOME", str(home))
    mp.setenv("RISKWARN_STORE_URL", city.store_url)
    yield home
    mp.undo()


def _overview(lang: str) -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    role, name = auth.DEMO_USERS["leader"]
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_overview_shows_observed_weeks_per_domain_and_names_the_kpis_domain(
    home: Path, lang: str
) -> None:
    """One week published: the overview still answers "is it rising" from the 12 weeks
    observed, one chart per domain (each its own axis), the forecast marked apart; the
    KPI's label names incidents (old code: one chart of one dot per domain, "Hotspot risk
    (mean)")."""
    at = _overview(lang)
    title = {"en": "Is it rising? The last 12 weeks observed", "zh": "风险在上升吗？近 12 周"}
    assert any(title[lang] in str(h.value) for h in at.subheader), [h.value for h in at.subheader]
    md = "\n".join(str(m.value) for m in at.markdown)
    for domain in ("incidents", "disputes"):
        words = views.t(f"domain_{domain}", lang)
        per_week = {"en": "250 m cells with at least one, per week", "zh": "每周发生过至少一起"}
        assert f"**{words}**" in md and per_week[lang] in md
    captions = "\n".join(str(c.value) for c in at.caption)
    dashed = {"en": "Dashed, hollow point: this week's forecast", "zh": "虚线与空心点：本周预测"}
    assert dashed[lang] in captions
    assert "Not enough history for a trend yet" not in captions
    assert "暂不判断趋势" not in captions
    charts = [*at.get("vega_lite_chart"), *at.get("arrow_vega_lite_chart")]
    observed = [c for c in charts if "kind_label" in str(c.proto.spec)]
    assert len(observed) == 2  # incidents and disputes, each its own chart and axis
    kpi = {"en": "Incident hotspot risk", "zh": "治安热点平均风险"}
    assert any(m.label == kpi[lang] for m in at.metric), [m.label for m in at.metric]


def test_the_observed_charts_speak_the_page_language(home: Path) -> None:
    """The language audit's rule (tests/test_dashboard_language_audit.py) on the overview
    with its observed charts: no English word on the Chinese page, no Chinese on the
    English one, chart titles included."""
    import re

    from tests.test_dashboard_language_audit import ALLOWED_ON_ZH, CJK, page_texts

    zh, _ = page_texts(_overview("zh"))
    english = {w for s in zh for w in re.findall(r"[A-Za-z_]{2,}", ALLOWED_ON_ZH.sub(" ", s))}
    assert english == set()
    assert any("网格数" in s for s in zh)  # the chart's own axis title was read
    en, _ = page_texts(_overview("en"))
    assert {s for s in en if CJK.search(s) and s != "中文"} == set()
    assert "cells" in en
