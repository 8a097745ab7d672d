"""One page render reads one snapshot of what is published (docs/dashboard.md, "One snapshot
per page"): a publish during the render cannot put two runs of a domain on one page.

The dashboard's reads used to be cached one by one (published run, forecasts, warnings,
clock, each for 60 s and each read whenever its cache was cold), so a render straddling
a publish could show run A's map and week with run B's warnings and counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st

from dashboard import queries
from riskwarn.store import Store, run_id_for
from tests.test_store import DOMAIN, ORIGIN, forecast_frame, run_meta, warning_frame

LATER = ORIGIN + timedelta(days=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend, and empty dashboard caches."""
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    Store(url).upgrade()
    st.cache_data.clear()
    yield url
    st.cache_data.clear()


def publish(url: str, origin: Any, n: int, levels: tuple[str, ...], shift: float = 0.0) -> str:
    """Publish a run of ``DOMAIN`` at ``origin`` (its own Store, as the pipeline would)."""
    with Store(url) as s:
        run_id = s.stage_run(run_meta(origin))
        s.write_forecasts(run_id, forecast_frame(origin, n=n, shift=shift))
        s.write_warnings(run_id, warning_frame(origin, levels=levels))
        s.publish_run(run_id)
    return run_id


def everything(snap: queries.Snapshot) -> dict[str, Any]:
    """Every read a page makes through a snapshot, reduced to what identifies its run."""
    run = queries.published_run(snap, DOMAIN)
    return {
        "run": None if run is None else run["run_id"],
        "forecast_runs": set(queries.published_forecasts(snap, DOMAIN)["run_id"]),
        "n_forecasts": len(queries.published_forecasts(snap, DOMAIN)),
        "top_runs": set(queries.top_forecasts(snap, DOMAIN)["run_id"]),
        "scores": queries.top_forecasts(snap, DOMAIN)["score"].tolist(),
        "warning_runs": set(queries.warnings(snap)["run_id"]),
        "n_warnings": len(queries.warnings(snap, domain=DOMAIN)),
        "n_red": int((queries.warnings(snap, state="new")["level"] == "red").sum()),
        "n_in_county": len(queries.warnings(snap, county="340803")),
        "origin": queries.clock(snap)["origin"],
        "history_origins": sorted(set(queries.forecast_history(snap, DOMAIN)["origin"])),
        "place_origins": sorted(set(queries.place_history(snap, DOMAIN, "c000")["origin"])),
    }


def test_every_read_of_a_snapshot_is_of_its_runs_after_a_new_publish(store_url: str) -> None:
    run_a = publish(store_url, ORIGIN, n=5, levels=("red", "orange"))
    snap_a = queries.snapshot(store_url)
    warm = everything(snap_a)  # fills every cache from run A
    a = {
        "run": run_a,
        "forecast_runs": {run_a},
        "n_forecasts": 5,
        "top_runs": {run_a},
        "scores": [5.0, 4.0, 3.0, 2.0, 1.0],
        "warning_runs": {run_a},
        "n_warnings": 2,
        "n_red": 1,
        "n_in_county": 2,
        "origin": pd.Timestamp(ORIGIN),
        "history_origins": [pd.Timestamp(ORIGIN)],
        "place_origins": [pd.Timestamp(ORIGIN)],
    }
    assert warm == a
    st.cache_data.clear()  # and with cold caches: the reads happen after B is published

    run_b = publish(store_url, LATER, n=4, levels=("yellow",))
    assert everything(snap_a) == a
    snap_b = queries.snapshot(store_url)
    assert everything(snap_b) == {
        "run": run_b,
        "forecast_runs": {run_b},
        "n_forecasts": 4,
        "top_runs": {run_b},
        "scores": [4.0, 3.0, 2.0, 1.0],
        "warning_runs": {run_b},
        "n_warnings": 1,
        "n_red": 0,
        "n_in_county": 1,
        "origin": pd.Timestamp(LATER),
        "history_origins": [pd.Timestamp(ORIGIN), pd.Timestamp(LATER)],
        "place_origins": [pd.Timestamp(ORIGIN), pd.Timestamp(LATER)],
    }
    assert everything(snap_a) == a  # the old snapshot's cached reads are still A's


def test_a_run_published_again_is_read_afresh(store_url: str) -> None:
    """Re-running an interval publishes the same run id with new rows (a new model): reads
    are keyed by the publication, not the run id alone, so its old rows are not served."""
    run_a = publish(store_url, ORIGIN, n=5, levels=("red", "orange"))
    first = queries.snapshot(store_url)
    assert queries.top_forecasts(first, DOMAIN)["score"].tolist()[0] == 5.0
    assert queries.published_forecasts(first, DOMAIN)["score"].max() == 5.0
    assert queries.warnings(first)["level"].tolist() == ["red", "orange"]
    assert publish(store_url, ORIGIN, n=5, levels=("yellow", "orange"), shift=10.0) == run_a
    again = queries.snapshot(store_url)
    assert queries.published_run(again, DOMAIN)["run_id"] == run_a
    assert queries.top_forecasts(again, DOMAIN)["score"].tolist()[0] == 15.0
    assert queries.published_forecasts(again, DOMAIN)["score"].max() == 15.0
    assert queries.warnings(again)["level"].tolist() == ["orange", "yellow"]


def test_the_snapshot_is_every_domain_read_together(store_url: str) -> None:
    """One store call returns every domain's published run (none before any publish)."""
    assert queries.snapshot(store_url).served == ()
    publish(store_url, ORIGIN, n=3, levels=("red",))
    with Store(store_url) as s:
        other = s.stage_run(run_meta(ORIGIN, domain="disputes"))
        s.write_forecasts(other, forecast_frame(ORIGIN, n=2))
        s.publish_run(other)
        served = s.serving_snapshot()
    assert {d: r["run_id"] for d, r in served.items()} == {
        DOMAIN: run_id_for(DOMAIN, ORIGIN),
        "disputes": other,
    }
    snap = queries.snapshot(store_url)
    assert [r.domain for r in snap.served] == ["disputes", DOMAIN]
    assert queries.warnings(snap, domain="disputes").empty
    assert len(queries.warnings(snap)) == 1


# -- a whole page ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path_factory.mktemp("snapshot") / "home"
    city = demo_home(home, n_cells=80, weeks=1, n_cases=5)
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home, city.store_url
    mp.undo()


def test_a_publish_during_a_render_does_not_mix_runs_on_the_overview(
    demo: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader's overview: a new incidents run is published while the page renders
    (just before its first warnings read). The page's week, "data as of", counts and map
    are all of the runs published when it began; the next render shows the new run."""
    from streamlit.testing.v1 import AppTest

    from dashboard import auth
    from dashboard.i18n import fmt_date, fmt_datetime, fmt_int, t

    _, url = demo
    st.cache_data.clear()
    with Store(url) as s:
        run_a = s.published_run("incidents")
        assert run_a is not None
        origin_a = pd.Timestamp(run_a["origin"])
        wall = pd.Timestamp.now(tz="UTC")
        now = origin_a if wall - origin_a > queries.REPLAY_AFTER else wall
        before = queries.active(s.warnings(), now)
        fc = s.published_forecasts("incidents")
    origin_b = origin_a + pd.Timedelta(days=1)  # another day: the week line can tell

    def publish_b() -> None:
        with Store(url) as s:
            run_id = s.stage_run(
                {
                    "run_id": run_id_for("incidents", origin_b),
                    "domain": "incidents",
                    "origin": origin_b,
                    "horizon_hours": 168.0,
                }
            )
            keep = ["unit_type", "unit_id", "county_code", "township_code", "rank"]
            s.write_forecasts(
                run_id,
                fc[keep].assign(
                    origin=origin_b,
                    valid_to=origin_b + pd.Timedelta(days=7),
                    probability=0.95,
                    score=0.95,
                ),
            )
            top = fc.head(1)  # one red warning instead of A's
            s.write_warnings(
                run_id,
                top[["unit_type", "unit_id", "county_code", "township_code"]].assign(
                    valid_from=origin_b,
                    valid_to=origin_b + pd.Timedelta(days=7),
                    level="red",
                    probability=0.95,
                ),
            )
            s.publish_run(run_id)

    real_warnings = Store.warnings
    published: list[bool] = []

    def warnings_then(self: Store, *args: Any, **kwargs: Any) -> pd.DataFrame:
        if not published:  # the publish lands between two reads of one render
            published.append(True)
            publish_b()
        return real_warnings(self, *args, **kwargs)

    monkeypatch.setattr(Store, "warnings", warnings_then)

    def render() -> AppTest:
        app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
        at = AppTest.from_file(str(app), default_timeout=90)
        role, name = auth.DEMO_USERS["leader"]
        at.session_state["user"] = auth.User(username="leader", name=name, role=role)
        at.session_state["lang"] = "en"
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    def shown(at: AppTest) -> tuple[str, str, str]:
        kpi = next(m.value for m in at.metric if m.label == t("kpi_warnings", "en"))
        week = next(c.value for c in at.caption if c.value.startswith("Week of"))
        as_of = next(c.value for c in at.caption if c.value.startswith("Data as of"))
        return kpi, week, as_of

    def week_line(origin: pd.Timestamp, tz: str) -> str:  # the forecast's 7 days
        end = origin + pd.Timedelta(days=7) - pd.Timedelta(seconds=1)
        return t("week_of", "en", date=fmt_date(origin, "en", tz), end=fmt_date(end, "en", tz))

    kpi, week, as_of = shown(render())
    assert published, "the render read no warnings: the test did not publish during it"
    tz = queries.settings().display_tz
    # what was published when the render began: A's week, A's origin, A's warnings
    assert week == week_line(origin_a, tz)
    assert f"forecast origin {fmt_datetime(origin_a, 'en', tz)}" in as_of, as_of
    assert kpi == fmt_int(len(before), "en"), (kpi, len(before))

    with Store(url) as s:
        wall = pd.Timestamp.now(tz="UTC")
        after = queries.active(
            s.warnings(), origin_b if wall - origin_b > queries.REPLAY_AFTER else wall
        )
    assert len(after) != len(before)  # B's counts differ: the check above can tell them apart
    kpi, week, as_of = shown(render())  # the next render: B
    assert week == week_line(origin_b, tz)
    assert f"forecast origin {fmt_datetime(origin_b, 'en', tz)}" in as_of, as_of
    assert kpi == fmt_int(len(after), "en")
