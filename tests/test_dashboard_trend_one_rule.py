"""The overview compares with one forecast a week before, or none, everywhere on the page
(dashboard/trends.py, "One rule"; docs/dashboard.md, "How hotspots changed").

Before: a week with no forecast within 3 days of it left the KPI's arrow out ("no
forecast from a week earlier") while the hotspot changes compared with the forecast two
weeks back; a forecast a week before by another model version was compared without a
word; the "is it rising" section of a run scored but not yet counted by the publish
step read "No published data yet." under the forecast it had just published."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import streamlit as st

from dashboard import trends
from tests.test_dashboard_hotspot_changes import week

MONDAY = pd.Timestamp("2025-12-28T16:00Z")  # local midnight, Monday 29 Dec (Shanghai)
DAY = pd.Timedelta(days=1)


def test_a_missed_week_ends_the_comparison_for_arrow_and_labels_alike() -> None:
    """Weekly origins, then none near a week before the newest: no arrow, no labels, and
    :func:`trends.missing_week` names the day and the older forecast not compared."""
    history = pd.concat(
        [
            week(MONDAY, {"a": 0.5, "b": 0.6}),
            week(MONDAY + 7 * DAY, {"a": 0.5, "b": 0.6}),
            week(MONDAY + 18 * DAY, {"a": 0.9}),  # a week before: day 11, 4 days off day 7
        ],
        ignore_index=True,
    )
    summary = trends.weekly_summary(history, top_n=20)
    assert trends.week_before(summary) is None
    assert trends.weekly_origins(history, weeks=4) == [MONDAY + 18 * DAY]
    # before: "b" diminishing, "a" persistent against day 7 (14 days before day 18 is day 4)
    assert trends.classify_hotspots(history, top_n=20, floor=0.3).empty
    assert trends.missing_week(history["origin"]) == (MONDAY + 11 * DAY, MONDAY + 7 * DAY)
    # the arrow's forecast is the labels' newest earlier one whenever there is one
    full = pd.concat([history, week(MONDAY + 12 * DAY, {"a": 0.7})], ignore_index=True)
    before = trends.week_before(trends.weekly_summary(full, top_n=20))
    assert before is not None
    assert trends.weekly_origins(full, weeks=4)[-2] == before["origin"] == MONDAY + 12 * DAY
    assert trends.missing_week(full["origin"]) is None
    # a short history is not a gap
    assert trends.missing_week(week(MONDAY, {"a": 0.5})["origin"]) is None


def test_a_hole_two_weeks_back_is_not_skipped_over() -> None:
    """Forecasts now, a week and three weeks before (none two weeks before): the changes
    compare with the week before alone; a place hot three weeks ago and now is
    "emerging" against the week before (it was "persistent" across the hole)."""
    history = pd.concat(
        [
            week(MONDAY, {"b": 0.7, "a": 0.5}),
            week(MONDAY + 14 * DAY, {"a": 0.5, "q": 0.01}),
            week(MONDAY + 21 * DAY, {"a": 0.5, "b": 0.7}),
        ],
        ignore_index=True,
    )
    assert trends.weekly_origins(history, weeks=4) == [MONDAY + 14 * DAY, MONDAY + 21 * DAY]
    summary = trends.weekly_summary(history, top_n=20)
    assert list(summary["weeks_back"]) == [1, 0]
    got = trends.classify_hotspots(history, top_n=20, weeks=4, floor=0.3)
    assert dict(zip(got["unit_id"], got["label"], strict=True)) == {
        "b": "emerging",
        "a": "persistent",
    }


def test_naive_and_utc_origins_are_the_same_instants() -> None:
    """Origins read naive (UTC, as the store writes them) beside aware ones: one week
    each, compared as instants (before: 'Cannot compare tz-naive and tz-aware')."""
    naive = week(MONDAY.tz_localize(None), {"a": 0.5})
    aware = week(MONDAY + 7 * DAY, {"a": 0.52})
    history = pd.concat([naive, aware], ignore_index=True)
    summary = trends.weekly_summary(history, top_n=20)
    assert list(summary["weeks_back"]) == [1, 0]
    assert trends.week_before(summary)["origin"] == MONDAY  # type: ignore[index]
    got = trends.classify_hotspots(history, top_n=20, floor=0.3)
    assert list(got["label"]) == ["persistent"]


# -- the page --------------------------------------------------------------------------


def add_run(url: str, origin: pd.Timestamp, version: str | None = None) -> None:
    """A published incidents run at ``origin``: the published run's rows again."""
    from riskwarn.store import Store, run_id_for

    with Store(url) as s:
        fc = s.published_forecasts("incidents")
        run = {
            "run_id": run_id_for("incidents", origin),
            "domain": "incidents",
            "origin": origin,
            "horizon_hours": 168.0,
        }
        if version is not None:
            run["model_version"] = version
        run_id = s.stage_run(run)
        keep = ["unit_type", "unit_id", "county_code", "township_code", "rank", "cell_x"]
        keep += ["cell_y", "lon", "lat", "probability", "score"]
        s.write_forecasts(
            run_id,
            fc[[c for c in keep if c in fc]].assign(origin=origin, valid_to=origin + 7 * DAY),
        )
        s.publish_run(run_id)


def overview(lang: str) -> object:
    from streamlit.testing.v1 import AppTest

    from dashboard import auth

    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=90)
    role, name = auth.DEMO_USERS["leader"]
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_page_says_there_is_no_week_before_in_both_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """The demo's two weekly origins, then a run 11 days after the newest: a week before
    it (day 4) has no forecast within 3 days. The arrow's help and the changes panel
    both say so and name the older forecast; neither compares with it (before: the panel
    listed it as compared, under a KPI that said there was nothing to compare with)."""
    from dashboard import queries
    from dashboard.i18n import fmt_date, fmt_day, t
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path / "home"
    city = demo_home(home, n_cells=80, weeks=2, n_cases=5)
    use_dashboard_env(monkeypatch, home, city.store_url)
    origin = pd.Timestamp(city.origin)
    add_run(city.store_url, origin + 11 * DAY)
    st.cache_data.clear()
    at = overview(lang)
    tz = queries.settings().display_tz
    kpi = next(m for m in at.metric if m.label == t("kpi_hot_mean_incidents", lang))  # type: ignore[attr-defined]
    assert not kpi.proto.delta
    day, older = origin + 4 * DAY, origin
    gap = t("kpi_arrow_gap", lang, day=fmt_date(day, lang, tz), older=fmt_date(older, lang, tz))
    assert gap in kpi.proto.help
    missing = t(
        "hotspot_week_missing", lang, day=fmt_day(day, lang, tz), older=fmt_day(older, lang, tz)
    )
    # the incidents tab (the disputes' demo weeks are whole: compared as before)
    captions = [c.value for c in at.tabs[0].caption]  # type: ignore[attr-defined]
    assert missing in captions, captions
    assert not any(c.startswith(t("hotspot_compared", lang, dates="")[:12]) for c in captions)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_page_names_another_model_version_compared_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """A run a week after the demo's by model version 4 (the demo's are version 3): the
    arrow's help and the changes panel say the forecast compared with is another
    version's (before: not a word of it)."""
    from dashboard import queries
    from dashboard.i18n import fmt_day, t
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path / "home"
    city = demo_home(home, n_cells=80, weeks=2, n_cases=5)
    use_dashboard_env(monkeypatch, home, city.store_url)
    origin = pd.Timestamp(city.origin)
    add_run(city.store_url, origin + 7 * DAY, version="4")
    st.cache_data.clear()
    at = overview(lang)
    tz = queries.settings().display_tz
    kpi = next(m for m in at.metric if m.label == t("kpi_hot_mean_incidents", lang))  # type: ignore[attr-defined]
    assert t("kpi_arrow_version", lang, then="3", now="4") in kpi.proto.help
    sep = "、" if lang == "zh" else ", "
    dates = sep.join(fmt_day(o, lang, tz) for o in (origin, origin - 7 * DAY))
    versions = sep.join(f"{fmt_day(o, lang, tz)}: 3" for o in (origin, origin - 7 * DAY))
    note = t("hotspot_versions", lang, now="4", dates=dates, versions=versions)
    captions = [c.value for c in at.tabs[0].caption]  # type: ignore[attr-defined]
    assert note in captions, captions


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_run_not_yet_counted_says_so_not_no_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """`riskwarn score` alone: the run is served, the publish step has not counted the
    weeks before it. "Is it rising" says that, with the origin, and not "No published
    data yet." under the forecast the page shows."""
    from dashboard import queries
    from dashboard.i18n import fmt_datetime, t
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path / "home"
    city = demo_home(home, n_cells=80, weeks=1, n_cases=5)
    use_dashboard_env(monkeypatch, home, city.store_url)
    st.cache_data.clear()
    snap = queries.snapshot(city.store_url)
    run = queries.published_run(snap, "incidents")
    assert run is not None and queries.observed_weeks(snap, "incidents").empty
    at = overview(lang)
    tz = queries.settings().display_tz
    captions = [c.value for c in at.caption]  # type: ignore[attr-defined]
    pending = t("observed_pending", lang, origin=fmt_datetime(run["origin"], lang, tz))
    assert pending in captions, captions
    assert t("no_data", lang) not in captions


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_domain_without_a_run_says_so_not_zero_weeks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    """A hotspot domain with no published run (the CLI home scored incidents alone): its
    changes panel says there is no forecast, not "forecasts of 0 weeks (changes need 2,
    a week apart)" as if its history were short."""
    import sqlalchemy as sa

    from dashboard import queries
    from dashboard.i18n import t
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path / "home"
    city = demo_home(home, n_cells=80, weeks=2, n_cases=5)
    use_dashboard_env(monkeypatch, home, city.store_url)
    second = queries.DOMAINS_HOTSPOT[1]
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:  # its publication withdrawn: no run served
        conn.execute(sa.text("DELETE FROM publications WHERE domain = :d"), {"d": second})
    engine.dispose()
    st.cache_data.clear()
    assert queries.published_run(queries.snapshot(city.store_url), second) is None
    at = overview(lang)
    captions = [c.value for c in at.tabs[1].caption]  # type: ignore[attr-defined]
    assert t("hotspot_no_forecast", lang) in captions, captions
    short = t("hotspot_history_short", lang, n="0", weeks="0 weeks")
    assert short not in captions
