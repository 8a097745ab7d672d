"""The overview's "Red warnings of sites and cases" list is capped (review 2026-12-06).

The list (``views.red_off_the_maps``: a dispute case's red warnings, a red geohazard
site's) had no cap: a week with many red dispute cases pushed the maps off the screen.
Now it shows the five most probable, then "and n more", a link to the warnings review
for the roles that may open it and plain words for the others, in Chinese and English
(as the wall screen does, tests/test_dashboard_wall_red.py).

The demo home is built for a fixed past day (a replay: the warnings are in force whatever
the calendar says).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
RED_CASES = 8  # with the demo's red site: 9 red warnings off the maps
WALL_RED_LINES = 3  # dashboard/pages/overview.py's (a page script: not importable here)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("redcap") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=20, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        cases = conn.execute(
            sa.text("SELECT warning_id FROM warnings WHERE domain = 'dispute_cases' LIMIT :n"),
            {"n": RED_CASES},
        ).all()
        assert len(cases) == RED_CASES
        for (wid,) in cases:
            conn.execute(
                sa.text("UPDATE warnings SET level = 'red' WHERE warning_id = :w"), {"w": wid}
            )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _overview(username: str, lang: str, wall: bool = False) -> AppTest:
    role, name = auth.DEMO_USERS[username]
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["user"] = auth.User(username=username, name=name, role=role)
    at.session_state["lang"] = lang
    if wall:
        at.query_params["wall"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _red_list(at: AppTest) -> tuple[str, list[str], list[str]]:
    """The list's heading, its page links' labels and its other lines."""
    (box,) = [c for c in at.main.get("flex_container") if "rwred_off_maps" in str(c.proto)] or [
        None
    ]
    assert box is not None, "no list of red warnings off the maps"
    heading = str(box.get("markdown")[0].value)
    links = [str(e.proto.label) for e in box.get("page_link")]
    lines = [str(m.value) for m in box.get("markdown")[1:]]
    return heading, links, lines


@pytest.mark.parametrize(
    ("lang", "more"),
    [("en", "and {n} more: open Warnings review"), ("zh", "另有 {n} 条：在预警研判中查看")],
)
def test_a_reviewer_sees_five_lines_and_a_link_to_the_rest(
    home: Path, lang: str, more: str
) -> None:
    heading, links, lines = _red_list(_overview("reviewer", lang))
    n = int(heading.rsplit("（" if lang == "zh" else "(", 1)[1].strip("）)*"))
    assert n > 5, heading
    assert links[:5] and len(links) == 6 and not lines, (links, lines)
    assert links[-1] == more.format(n=n - 5)


@pytest.mark.parametrize(("lang", "more"), [("en", "and {n} more"), ("zh", "另有 {n} 条")])
def test_a_role_without_the_review_page_reads_plain_words(home: Path, lang: str, more: str) -> None:
    heading, links, lines = _red_list(_overview("scientist", lang))
    n = int(heading.rsplit("（" if lang == "zh" else "(", 1)[1].strip("）)*"))
    assert not links and len(lines) == 6, lines
    assert lines[-1] == more.format(n=n - 5)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_more_link_opens_the_queue_filtered_to_these_red_warnings(
    home: Path, lang: str
) -> None:
    """The "and n more" link led to the whole warnings list; it now opens the review
    page's queue filtered to the red warnings the list summarised (review 2026-12-06)."""
    from urllib.parse import parse_qs

    at = _overview("reviewer", lang)
    heading, _, _ = _red_list(at)
    n = int(heading.rsplit("（" if lang == "zh" else "(", 1)[1].strip("）)*"))
    (box,) = [c for c in at.main.get("flex_container") if "rwred_off_maps" in str(c.proto)]
    more = box.get("page_link")[-1].proto
    assert more.query_string, "the link opens the unfiltered list"
    params = {k: v[0] for k, v in parse_qs(more.query_string).items()}
    assert params == {"level": "red", "domains": "dispute_cases,geohazard"}

    role, name = auth.DEMO_USERS["reviewer"]
    page = AppTest.from_file(str(APP), default_timeout=120)
    page.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    page.session_state["lang"] = lang
    for key, value in params.items():
        page.query_params[key] = value
    page.switch_page("pages/warnings.py").run()
    assert not page.exception, [e.value for e in page.exception]
    (picker,) = [w for w in page.selectbox if str(w.key).startswith("rv_pick")]
    assert len(picker.options) == n  # exactly the red warnings counted on the overview
    (level,) = [w for w in page.selectbox if str(w.key).startswith("rv_flevel")]
    assert level.value == "red"
    (domain,) = [w for w in page.selectbox if str(w.key).startswith("rv_domain")]
    assert domain.value == ("dispute_cases", "geohazard")
    red = "Red" if lang == "en" else "红"
    assert all(red in str(o) for o in picker.options), picker.options


@pytest.mark.parametrize(
    ("lang", "heading", "more"),
    [
        ("en", "Red warnings of sites and cases ({n})", "and {n} more (see Warnings review)"),
        ("zh", "隐患点、纠纷案件红色预警（{n}）", "另有 {n} 条（见预警研判）"),
    ],
)
def test_the_wall_screen_shows_three_red_lines_then_and_n_more(
    home: Path, lang: str, heading: str, more: str
) -> None:
    """More red warnings off the maps than the wall's side column holds
    (``overview.WALL_RED_LINES``, 3): the three most probable, then "and n more" as
    plain words (the wall is unattended: no link), the count in the heading all of them."""
    at = _overview("leader", lang, wall=True)
    (box,) = [c for c in at.main.get("flex_container") if "rwwall_red" in str(c.proto)]
    (listed,) = [str(m.value) for m in box.get("markdown")]
    n = RED_CASES + 1  # the cases made red and the demo's red site
    assert heading.format(n=n) in listed, listed
    lines = [x.split(">", 1)[1].split("</div>")[0] for x in listed.split("rw-place")[1:]]
    assert len(lines) == WALL_RED_LINES + 1, lines
    assert all("%" in x for x in lines[:WALL_RED_LINES]), lines
    assert lines[-1] == more.format(n=n - WALL_RED_LINES), lines
    assert not at.get("page_link"), [str(e.proto) for e in at.get("page_link")]
