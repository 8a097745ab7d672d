"""The overview counts one set of warnings (merge review, 2026-12-06): the KPIs stopped
counting warnings whose validity ended before the week shown, but the red list under them
and the county chart still took them, so the page read "Red warnings 0" above "Red
warnings not on these maps (1)". The maps' site markers drew it too (a red triangle beside
"Not counted this week", screenshots of 2026-12-06): they now judge it by the same rule
and the same week (``queries.week_shown``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, queries, views
from testkit.dashboard_demo import demo_home
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


# a warning of each kind the overview's maps draw, stale in the week shown (filled by the
# fixture: domain -> warning id): a dispute case's and a disputes cell's, blue
STALE: dict[str, str] = {}
PAST = pd.Timestamp("2019-12-31", tz="UTC").to_pydatetime()  # a run's origin before the week
ENDED = pd.Timestamp("2020-01-01", tz="UTC").to_pydatetime()  # its warning's end


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("stale") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=5, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE warnings SET level = 'blue', level_rank = 1"))
        wid = conn.execute(
            sa.text(
                "SELECT warning_id FROM warnings WHERE domain LIKE 'geohazard%'"
                " ORDER BY warning_id LIMIT 1"
            )
        ).scalar_one()
        # red, but its validity ended long before the week the overview shows: its
        # domain's run is older than the week (a replay judges it at its own origin, so
        # it is in force there: the geohazard data of the demo ends before the city's)
        conn.execute(
            sa.text("UPDATE forecast_runs SET origin = :o WHERE domain LIKE 'geohazard%'"),
            {"o": pd.Timestamp("2019-12-31", tz="UTC").to_pydatetime()},
        )
        conn.execute(
            sa.text(
                "UPDATE warnings SET level = 'red', level_rank = 4, valid_to = :t"
                " WHERE warning_id = :w"
            ),
            {"w": wid, "t": pd.Timestamp("2020-01-01", tz="UTC").to_pydatetime()},
        )
        # the same of one dispute case and one disputes cell: their runs' origins moved
        # before the week (the incidents run's origin stays the week shown)
        for domain in ("dispute_cases", "disputes"):
            conn.execute(
                sa.text("UPDATE forecast_runs SET origin = :o WHERE domain = :d"),
                {"o": PAST, "d": domain},
            )
            STALE[domain] = conn.execute(
                sa.text(
                    "SELECT warning_id FROM warnings WHERE domain = :d ORDER BY warning_id LIMIT 1"
                ),
                {"d": domain},
            ).scalar_one()
            conn.execute(
                sa.text("UPDATE warnings SET valid_to = :t WHERE warning_id = :w"),
                {"w": STALE[domain], "t": ENDED},
            )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


@pytest.mark.parametrize(
    ("lang", "red_list"), [("en", "Red warnings not on"), ("zh", "不在以上地图")]
)
def test_a_stale_red_warning_is_in_no_count_and_on_no_map_of_the_overview(
    home: Path, lang: str, red_list: str
) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120)
    role, name = auth.DEMO_USERS["scientist"]
    at.session_state["user"] = auth.User(username="scientist", name=name, role=role)
    at.session_state["lang"] = lang
    at.switch_page("pages/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (red,) = [m for m in at.metric if m.label in ("Red warnings", "红色预警")]
    assert red.value == "0"
    # it is in force at its own domain's time, and the KPI's note says it is not counted
    assert [
        c for c in at.caption if ("Not counted this week" in c.value or "未计入本周" in c.value)
    ]
    assert not [m for m in at.markdown if red_list in str(m.value)]
    # nor on the maps: no red triangle of the stale site; the other sites' (blue, valid in
    # the week shown) are drawn on both maps
    decks = [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]
    assert len(decks) == len(queries.DOMAINS_HOTSPOT)
    for deck in decks:
        (places,) = [x["data"] for x in deck["layers"] if x["id"] == "warned-places"]
        sites = [r for r in places if r["kind"] == "site"]
        assert sites and {r["level"] for r in sites} == {"blue"}, sites
        # nor a stale case in an area's marker, nor a stale cell's square
        cases = ",".join(r["warning_ids"] for r in places if r["kind"] == "case")
        (squares,) = [x["data"] for x in deck["layers"] if x["id"] == "warned-cells"]
        assert STALE["dispute_cases"] not in cases.split(",")
        assert STALE["disputes"] not in {r["warning_id"] for r in squares}
    assert any(r["kind"] == "case" for d in decks for x in d["layers"] for r in x["data"]
               if x["id"] == "warned-places")  # fmt: skip


def test_the_markers_judge_staleness_by_the_week_the_overview_shows(home: Path) -> None:
    """The stale site warning is in force at its own domain's time (the replay judges it at
    its run's origin, 2019-12-31) and stale in the week shown: the site table of the
    overview's markers leaves it out, the geohazard page's (no week) keeps it."""
    import streamlit as st

    from dashboard.i18n import t

    st.cache_data.clear()
    url = queries.settings().resolved_store_url  # the fixture's home
    snap = queries.snapshot(url)
    site = queries.site_domain(snap)
    week = queries.week_shown(snap)
    origins = [pd.Timestamp(r["origin"]) for d in queries.DOMAINS_HOTSPOT if (r := snap.run(d))]
    assert week == max(origins)  # the page's "Week of"
    in_force = views.effective_level(queries.warnings(snap, domain=site))
    _, stale = views.split_stale(in_force, week)
    assert list(stale["level"]) == ["red"]
    lake_dir = str(home / "lake")
    args = (url, snap, lake_dir, site, "en", queries.run_key(snap, site), "k", "UTC", False)
    page = queries.site_table(*args).set_index("unit_id")
    marks = queries.site_table(*args, week).set_index("unit_id")
    unit = str(stale["unit_id"].iloc[0])
    assert page.loc[unit, "level"] == "red"  # the geohazard page: in force at its time
    assert marks.loc[unit, "level"] == "none"
    assert marks.loc[unit, "why"] == "expired"
    assert marks.loc[unit, "level_label"] == t("level_none", "en")
