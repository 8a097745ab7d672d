"""Issue 12 §2: on the wall screen (``?wall=1``, 1920 x 1080) the places to watch sit in a
column beside the two maps, not under them (below the fold)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard.auth import DEMO_USERS, User

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    from testkit.dashboard_demo import demo_home
    from testkit.dashboard_server import use_dashboard_env

    home = tmp_path / "home"
    city = demo_home(home, n_cells=120, weeks=2, n_cases=5)
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _columns_of(node: Any) -> list[Any]:
    return [c for c in getattr(node, "children", {}).values() if getattr(c, "type", "") == "column"]


def test_the_wall_screen_puts_the_places_beside_the_maps(home: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "leader")
    at.session_state["user"] = User(username, "Li", "leader")
    at.session_state["lang"] = "zh"
    at.query_params["wall"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    rows = [b for b in at.main.get("flex_container") if len(_columns_of(b)) == 3]
    assert rows, "no row of two maps and a side column on the wall screen"
    *maps, side = _columns_of(rows[0])
    assert all(m.get("deck_gl_json_chart") for m in maps), "a map missing from its column"
    words = "\n".join(m.value for m in side.get("markdown"))
    assert "重点关注地区：治安案事件" in words and "重点关注地区：矛盾纠纷" in words
    assert not side.get("deck_gl_json_chart")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_wall_disputes_map_has_its_marks_to_draw(home: Path, lang: str) -> None:
    """The screenshots of 2026-12-06 found the wall's disputes map with no level-coloured
    pixel after 120 s: the page is not at fault. On the wall, as off it, the disputes deck
    carries its warned squares and the warned cases' markers in their levels, and its
    legend announces as many marks (``data-rw-marks``, what bench/dashboard_screenshots.py
    waits for) as the deck draws."""
    import json
    import re

    from dashboard import maps, queries

    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "leader")
    at.session_state["user"] = User(username, "Li", "leader")
    at.session_state["lang"] = lang
    at.query_params["wall"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    decks = [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]
    assert len(decks) == len(queries.DOMAINS_HOTSPOT) == 2
    announced = [
        int(n) for m in at.markdown for n in re.findall(r'data-rw-marks="(\d+)"', str(m.value))
    ]
    level_rgb = {tuple(c) for lv, c in maps.LEVEL_COLOURS.items() if lv != "none"}
    for domain, deck, n in zip(queries.DOMAINS_HOTSPOT, decks, announced, strict=True):
        layers = {x["id"]: x["data"] for x in deck["layers"]}
        drawn = sum(
            tuple(r["colour"][:3]) in level_rgb
            for lid in maps.MARK_LAYERS
            for r in layers.get(lid) or []
        )
        assert layers["warned-cells"], domain
        assert n == drawn > 0, (domain, n, drawn)
        if queries.draws_cases(domain):  # disputes: the warned cases' diamonds too
            assert any(r["kind"] == "case" for r in layers["warned-places"]), domain


def _leader_overview(lang: str = "zh") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "leader")
    at.session_state["user"] = User(username, "Li", "leader")
    at.session_state["lang"] = lang
    return at


def _run_app(at: AppTest) -> AppTest:
    """One run of the whole app, as the server runs it every time (app.py: shell.main,
    which counts the page's visits, then the page). AppTest (streamlit 1.67) renews its
    page registry on each run, finds dashboard/pages/ and runs a later run's page alone
    (an old-style multipage app); asked for no page, it starts from app.py again."""
    at._finished_page_script_hash = ""
    return at.run()


def _on_the_wall(at: AppTest) -> bool:
    assert not at.exception, [e.value for e in at.exception]
    keys = {b.key for b in at.button}
    assert keys & {"wall_enter", "wall_leave"}, keys
    assert "sign_out" in keys  # the app ran, not the page alone
    return "wall_leave" in keys


def test_an_address_lagging_the_wall_switch_does_not_flip_it_back(home: Path) -> None:
    """The review page's stale-address race (``views.focus_warning``) on the wall screen's
    switch: its run puts ``?wall=1`` in the address, and a click the browser sends before
    that arrives carries the address before it. The old page read ``?wall=`` on every
    run and left the wall screen it had just entered (and entered again the one just
    left). Within a visit of the page the switch wins, and the address follows it."""
    at = _run_app(_leader_overview())
    assert not _on_the_wall(at)
    at.button(key="wall_enter").click()
    _run_app(at)
    assert _on_the_wall(at) and at.query_params.get("wall") == "1"
    at.query_params.pop("wall")  # the next click, sent with the address before
    _run_app(at)
    assert _on_the_wall(at), "the address before the switch took the wall screen back"
    assert at.query_params.get("wall") == "1"  # the address follows the switch again
    at.button(key="wall_leave").click()
    _run_app(at)
    assert not _on_the_wall(at) and "wall" not in at.query_params
    at.query_params["wall"] = "1"  # an echo of the address before leaving
    _run_app(at)
    assert not _on_the_wall(at), "the address before leaving put the wall screen back"
    assert "wall" not in at.query_params


def test_back_and_forward_read_the_wall_address_again(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The address still rules where it is meant to: a link or a reload (a new session:
    the tests above), the browser's back/forward (Streamlit reruns the page with the
    address gone back to, ``is_history_navigation``: a new visit, shell.count_visit)."""
    from dashboard import shell

    at = _leader_overview("en")
    at.query_params["wall"] = "1"
    assert _on_the_wall(_run_app(at))
    monkeypatch.setattr(shell, "history_navigation", lambda: True)
    at.query_params.pop("wall")  # Back, to the address before the wall screen
    assert not _on_the_wall(_run_app(at)) and "wall" not in at.query_params
    at.query_params["wall"] = "1"  # Forward
    assert _on_the_wall(_run_app(at))
    monkeypatch.setattr(shell, "history_navigation", lambda: False)
    at.query_params.pop("wall")  # a click of this visit: the page's own address wins
    assert _on_the_wall(_run_app(at)) and at.query_params.get("wall") == "1"
