"""The wall screen shows where its red warnings are (review 2026-12-06).

The wall screen (``?wall=1``) counted "Red warnings 2" but drew only the two hotspot maps
and their places to watch: a red dispute case or a red geohazard site (domains with no
map there) was counted and nowhere to be found on the centre's wall. Now its side column
lists them, read-only (no link: the wall is unattended), each with its domain, id, place
and probability, in Chinese and English. A case's line carries its pseudonymous id and
township only, never a party's name or phone.

The demo home is built for a fixed past day, so the dashboard judges it as a replay (each
domain at its own origin): the red site's one-day warning is in force whatever the
calendar says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    home = tmp_path_factory.mktemp("wallred") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=10, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        case = conn.execute(
            sa.text(
                "SELECT warning_id, unit_id FROM warnings WHERE domain = 'dispute_cases' LIMIT 1"
            )
        ).one()
        conn.execute(
            sa.text("UPDATE warnings SET level = 'red' WHERE warning_id = :w"), {"w": case[0]}
        )
        site = conn.execute(
            sa.text("SELECT unit_id FROM warnings WHERE domain = 'geohazard' AND level = 'red'")
        ).scalar_one()
    engine.dispose()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield str(case[1]), str(site)
    mp.undo()


def _wall(lang: str) -> AppTest:
    role, name = auth.DEMO_USERS["leader"]
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.query_params["wall"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _columns_of(node: Any) -> list[Any]:
    return [c for c in getattr(node, "children", {}).values() if getattr(c, "type", "") == "column"]


@pytest.mark.parametrize(
    ("lang", "kpi", "heading", "case_domain", "site_domain"),
    [
        ("zh", "红色预警", "隐患点、纠纷案件红色预警（2）", "纠纷案件升级", "地质灾害"),
        (
            "en",
            "Red warnings",
            "Red warnings of sites and cases (2)",
            "Dispute escalation",
            "Geohazards",
        ),
    ],
)
def test_the_wall_screen_lists_the_red_warnings_off_its_maps(
    home: tuple[str, str], lang: str, kpi: str, heading: str, case_domain: str, site_domain: str
) -> None:
    case, site = home
    at = _wall(lang)
    (red,) = [m for m in at.metric if m.label == kpi]
    assert int(str(red.value)) >= 2  # the case and the site at least
    rows = [b for b in at.main.get("flex_container") if len(_columns_of(b)) == 3]
    assert rows, "no row of two maps and a side column on the wall screen"
    side = _columns_of(rows[0])[-1]
    words = [str(m.value) for m in side.get("markdown")]
    # the old wall: the count only, no such list anywhere on the screen
    (listed,) = [w for w in words if heading in w]
    lines = listed.split("rw-place")[1:]
    assert len(lines) == 2, listed
    by_id = {i: next(x for x in lines if i in x) for i in (case, site)}
    assert case_domain in by_id[case] and site_domain in by_id[site], listed
    assert "%" in by_id[case] and "%" in by_id[site]
    # read-only: nothing on the wall links to a page that needs a sign-in
    assert not at.get("page_link"), [str(e.proto) for e in at.get("page_link")]
