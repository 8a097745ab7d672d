"""In a real browser (Debian Chromium), the overview's maps draw the warned hazard sites
and (on the disputes tab) the warned dispute cases, each marker in its level's colour at
its place, at 1280 px and on a 390 px phone, with their legend entries.

Where each marker should be comes from the deck the page is served
(``queries.overview_map``, built here for the same home, language and fit); the test
reads the map's canvas at those pixels, the legend hidden. The demo home is a replay
(a fixed past day): its warnings are in force whatever the calendar says.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("streamlit")

from dashboard import map_layout, maps
from dashboard.i18n import t
from testkit.dashboard_demo import DEMO_PASSWORD, demo_home
from testkit.dashboard_server import CHROMIUM, dashboard_env, launch_chromium, serve, wait_idle
from tests.test_dashboard_map_places import TODAY, overview_deck, screen_px

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)
PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)
MAP_HEIGHT = 620  # the overview's map height off the wall screen (pages/overview.py)

_VISIBLE_MAP_JS = """() => {
  const shown = [...document.querySelectorAll('[class*=st-key-rwmap]')].filter(
    c => c.getClientRects().length && c.getBoundingClientRect().width > 0);
  if (shown.length !== 1) return null;
  const chart = shown[0].querySelector('[data-testid=stDeckGlJsonChart]');
  const canvas = chart && chart.querySelector('canvas');
  if (!canvas) return null;
  const r = canvas.getBoundingClientRect();
  return {x: r.left, y: r.top, width: r.width, height: r.height,
          legend: (shown[0].querySelector('.rw-legend') || {}).textContent || ''};
}"""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("places_browser") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40, today=TODAY)
    return {"home": home, "url": city.store_url}


def _wrong_markers(page: Any, box: dict[str, float], rows: list[dict], view: dict) -> list[str]:
    """The markers of ``rows`` whose centre pixel (within 2 px) is not their level's
    colour on the map's canvas (``box``, on the page), the legend hidden."""
    from PIL import Image

    style = page.add_style_tag(content=".rw-legend { visibility: hidden !important; }")
    try:
        clip = {k: box[k] for k in ("x", "y", "width", "height")}
        rgb = np.asarray(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB"))
    finally:
        style.evaluate("e => e.remove()")
    rgb = rgb.astype(np.int16)
    wrong = []
    for r in rows:
        x, y = screen_px(view, *r["position"])
        cx = round(box["width"] / 2 + x + r["offset"][0])
        cy = round(box["height"] / 2 + y + r["offset"][1])
        patch = rgb[max(cy - 2, 0) : cy + 3, max(cx - 2, 0) : cx + 3]
        want = np.array(maps.LEVEL_COLOURS[r["level"]], dtype=np.int16)
        if not patch.size or not (np.abs(patch - want) <= 4).all(axis=2).any():
            wrong.append(f"{r['kind']} {r['level']} at ({cx}, {cy}): {r['place']}")
    return wrong


def test_markers_are_drawn_in_their_levels_at_1280_and_390(
    city: dict[str, Any], tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    env = dashboard_env(city["home"], city["url"])
    with serve(city["home"], env) as base, sync_api.sync_playwright() as p:
        browser = launch_chromium(sync_api, p)
        try:
            for width in (1280, 390):
                agent = {"user_agent": PHONE_USER_AGENT} if width < 600 else {}
                context = browser.new_context(viewport={"width": width, "height": 3000}, **agent)
                page = context.new_page()
                page.set_default_timeout(180_000)
                page.goto(base)
                page.get_by_label("用户名").fill("leader")
                page.get_by_label("密码").fill(DEMO_PASSWORD)
                page.get_by_role("button", name="登录").click()
                page.get_by_role("heading", name="本周风险总览").wait_for()
                # the fit the page chose by the User-Agent (map_layout.map_fit_px)
                fit = map_layout.PHONE_FIT_PX if agent else map_layout.DESKTOP_FIT_PX
                for lang in ("en", "zh"):
                    page.goto(f"{base}/?lang={lang}")
                    wait_idle(page)
                    for i, domain in enumerate(("incidents", "disputes")):
                        if i:
                            page.get_by_role("tab", name=t(f"domain_{domain}", lang)).click()
                        # the deck's canvas exists before deck.gl sizes it (300 x 150, the
                        # canvas default, under load: CI of 2026-12-07): wait for its size
                        page.wait_for_function(
                            f"() => {{ const b = ({_VISIBLE_MAP_JS})(); "
                            f"return !!b && b.height === {MAP_HEIGHT}; }}"
                        )
                        deck = overview_deck(city, domain, lang, fit)
                        rows = {x["id"]: x for x in deck["layers"]}["warned-places"]["data"]
                        where = f"{domain} {lang} {width}"
                        kinds = {r["kind"] for r in rows}
                        assert kinds == ({"site", "case"} if i else {"site"}), where
                        wrong: list[str] = ["not drawn"]
                        for _ in range(60):  # the icon atlas is decoded asynchronously
                            box = page.evaluate(_VISIBLE_MAP_JS)
                            assert box and box["height"] == MAP_HEIGHT, (where, box)
                            wrong = _wrong_markers(page, box, rows, deck["initialViewState"])
                            if not wrong:
                                break
                            page.wait_for_timeout(1000)
                        problems += [f"{where}: {w}" for w in wrong]
                        legend = box["legend"]
                        for kind in kinds:
                            if t(f"map_legend_{kind}", lang) not in legend:
                                problems.append(f"{where}: no legend entry for {kind}")
                        page.screenshot(path=str(tmp_path / f"{domain}-{lang}-{width}.png"))
                context.close()
        finally:
            browser.close()
    assert not problems, problems
