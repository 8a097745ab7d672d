"""The overview's map fits a phone: at 390 px the column is 358 px wide and the map was
fitted to 480 px, so the city's sides, the county names on them and the scale bar were cut
(reviewer screenshot, overview-en-390.png). The test reads the map the page sends (AppTest)
and projects what it draws, at its initial view, into the column's pixels."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PHONE_COLUMN_PX = 358  # a 390 px phone: Streamlit's main column less 1 rem each side
DESKTOP_COLUMN_PX = 880  # 1280 px with the sidebar open (the screenshot's map width)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("streamlit")
    from testkit.dashboard_demo import demo_home

    home = tmp_path_factory.mktemp("mapfit") / "home"
    city = demo_home(home, n_cells=120, weeks=1, n_cases=5)
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _decks(lang: str) -> list[dict]:
    from streamlit.testing.v1 import AppTest

    from dashboard import auth

    at = AppTest.from_file(str(APP), default_timeout=90)
    role, name = auth.DEMO_USERS["leader"]
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]


def _x_px(lon: float, view: dict, column_px: float) -> float:
    """Where ``lon`` is drawn, in pixels from the column's left edge (Web Mercator)."""
    scale = 512 * 2 ** view["zoom"] / (2 * math.pi)
    return column_px / 2 + (math.radians(lon) - math.radians(view["longitude"])) * scale


def _extent(deck: dict, column_px: float) -> tuple[float, float, list[str]]:
    """Leftmost and rightmost pixel of the township boundaries, the scale bar and every
    name written on the map (its box as the page estimates it), and the names."""
    from dashboard.map_layout import text_box_px

    view = deck["initialViewState"]
    xs: list[float] = []
    names: list[str] = []
    for layer in deck["layers"]:
        if layer["id"].startswith("boundary-") or layer["id"] == "scale-bar":
            xs += [_x_px(p[0], view, column_px) for row in layer["data"] for p in row["path"]]
        elif layer["id"] in ("place-names", "scale-bar-label"):
            for row in layer["data"]:
                x = _x_px(row["position"][0], view, column_px)
                w, _h = text_box_px(row["text"], float(row.get("size", 13)))
                left = x if layer["id"] == "scale-bar-label" else x - w / 2
                xs += [left, left + w]
                names.append(row["text"])
    return min(xs), max(xs), names


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_whole_city_and_its_names_fit_a_phone_column(home: Path, lang: str) -> None:
    decks = _decks(lang)
    assert len(decks) == 2  # one map per hotspot domain
    for deck in decks:
        left, right, names = _extent(deck, PHONE_COLUMN_PX)
        assert names, "the map writes place names"
        assert left >= 0 and right <= PHONE_COLUMN_PX, (lang, round(left), round(right))
        # on a desktop the same view leaves the city a readable size, centred
        d_left, d_right, _ = _extent(deck, DESKTOP_COLUMN_PX)
        assert d_right - d_left > 0.3 * DESKTOP_COLUMN_PX
        assert abs((d_left + d_right) / 2 - DESKTOP_COLUMN_PX / 2) < 0.1 * DESKTOP_COLUMN_PX


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)


def test_the_fit_width_follows_the_browser() -> None:
    """A phone (or a browser that does not say) gets the phone's fit; a desktop or tablet
    the wider one, where a 358 px fit drew the city small in a wide grey map; the wall
    screen its own."""
    from dashboard.map_layout import map_fit_px

    assert map_fit_px(False, IPHONE) == PHONE_COLUMN_PX
    assert map_fit_px(False, ANDROID) == PHONE_COLUMN_PX
    assert map_fit_px(False, None) == PHONE_COLUMN_PX
    assert map_fit_px(False, "") == PHONE_COLUMN_PX
    assert map_fit_px(False, DESKTOP) == 480
    assert map_fit_px(False, IPAD) == 480
    assert map_fit_px(True, IPHONE) == 700
    assert map_fit_px(True, DESKTOP) == 700
