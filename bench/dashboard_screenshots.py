"""Screenshots of every dashboard page at 800, 1280 and 1920 px in both languages.

Serves the dashboard (``riskwarn dashboard``'s Streamlit command) over a riskwarn home,
signs in with Debian's Chromium (Playwright) as each role that may open a page, and
writes ``<out>/<page>-<lang>-<width>.png`` (full page) plus the overview's second map tab
(``overview-tab2-<lang>-<width>.png``, disputes) and the wall-screen overview
(``overview-wall-<lang>-1920.png``) and an ``index.md`` listing them. Artefacts for a
person to look at (issue 12, Tests): is every warned cell visible at city zoom, with
place names and the legend on the map; does the models page say its verdict in words.

    .venv/bin/python bench/dashboard_screenshots.py [--home HOME] [--out var/screenshots]
        [--widths 800 1280 1920] [--langs zh en]

Without ``--home`` a generated demo home (testkit/dashboard_demo.py, the dashboard tests'
fixture) is built in a temporary folder; ``--home`` takes any populated home (e.g. the
one ``make demo`` or bench/bench_dashboard.py prepared: its city CRS and cell size are
read from the bench's stamp) with ``--password`` for its users file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = {  # page -> (url path, the role that opens it, heading zh, heading en)
    "overview": ("", "leader", "本周风险总览", "This week's risk"),
    "warnings": ("warnings", "reviewer", "预警研判", "Warnings review"),
    "disputes": ("disputes", "reviewer", "矛盾纠纷案件", "Dispute cases"),
    "geohazard": ("geohazard", "leader", "地质灾害隐患点", "Geohazard sites"),
    "models": ("models", "scientist", "模型与数据质量", "Models & data quality"),
}


def _settle(page: Any) -> list[str]:
    """Wait until the page's run ended (testkit.dashboard_server.wait_idle: the app's script
    state, and its end marker ``shell.RUN_DONE`` on the page; the running icon waited for
    before is never drawn with this app's toolbar), every chart drew, and every map shows its level-coloured marks (:func:`_marks_drawn`).
    Returns what did not draw (empty when the page is complete)."""
    from testkit.dashboard_server import wait_idle

    wait_idle(page, timeout_ms=120_000)  # the page's run ended (shell.RUN_DONE after it)
    problems: list[str] = []
    try:  # every visible map has its canvas, every visible chart its drawing (charts in a
        # hidden tab draw only when it opens), no loading placeholder left
        page.wait_for_function(
            "() => { const shown = e => e.getClientRects().length > 0"
            " && e.getBoundingClientRect().width > 0;"
            " return [...document.querySelectorAll('[data-testid=stDeckGlJsonChart]')]"
            ".filter(shown).every(e => e.querySelector('canvas'))"
            " && [...document.querySelectorAll('[data-testid=stVegaLiteChart]')]"
            ".filter(shown).every(e => e.querySelector('canvas, svg'))"
            " && !document.querySelector('[data-testid=stSkeleton]'); }",
            timeout=120_000,
        )
    except Exception as exc:  # a slow machine: shoot what is there, say so
        problems.append(f"charts not drawn after 120 s ({type(exc).__name__})")
    problems += _marks_drawn(page)
    for p in problems:
        print(f"{page.url}: {p}", flush=True)
    return problems


# the level colours of the warned squares and sites (opaque: township fills are pale)
MARK_RGB = [(214, 39, 40), (255, 127, 14), (240, 200, 30), (31, 119, 180)]
_MAPS_JS = """() => [...document.querySelectorAll('[class*=st-key-rwmap]')].map(c => {
  const legend = c.querySelector('.rw-legend');
  const chart = c.querySelector('[data-testid=stDeckGlJsonChart]');
  const r = chart ? chart.getBoundingClientRect() : null;
  if (!r) return {marks: 0, box: null};
  // the part of the map inside the window (Streamlit scrolls its main block, not the page)
  const x0 = Math.max(r.left, 0), y0 = Math.max(r.top, 0);
  const x1 = Math.min(r.right, window.innerWidth), y1 = Math.min(r.bottom, window.innerHeight);
  return {marks: legend ? Number(legend.dataset.rwMarks || 0) : 0,
          box: {x: x0, y: y0, width: Math.max(x1 - x0, 0), height: Math.max(y1 - y0, 0)}};
})"""


def level_pixels(png: bytes) -> int:
    """Pixels of a screenshot in one of the level colours (within 3 per channel)."""
    import io

    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)
    hit = np.zeros(rgb.shape[:2], dtype=bool)
    for colour in MARK_RGB:
        hit |= (np.abs(rgb - np.array(colour, dtype=np.int16)) <= 3).all(axis=2)
    return int(hit.sum())


def _marks_drawn(page: Any, timeout_s: float = 120.0) -> list[str]:
    """Wait until every map whose legend announces level-coloured marks (``data-rw-marks``,
    set by ``map_panel.show_map``) shows them on its canvas, and their pixel count held
    still for two polls a second apart.

    The cause of maps shot without their squares: the squares are a deck.gl IconLayer
    whose icon atlas is decoded asynchronously, and under software WebGL on a loaded
    machine that took longer than the fixed pause the old code gave it; the canvas
    existed (what the old wait checked) with the township fills drawn and no squares yet.
    The legends, which show the same colours, are hidden while the maps are measured.
    """
    deadline = time.monotonic() + timeout_s
    previous: list[int] | None = None
    while True:
        maps = [  # maps in a hidden tab or out of the window: nothing to see there
            m
            for m in page.evaluate(_MAPS_JS)
            if m["marks"] > 0 and m["box"] and m["box"]["width"] > 0 and m["box"]["height"] > 0
        ]
        if not maps:
            return []
        style = page.add_style_tag(content=".rw-legend { visibility: hidden !important; }")
        try:
            counts = [level_pixels(page.screenshot(clip=m["box"])) for m in maps]
        finally:
            style.evaluate("e => e.remove()")
        if all(c > 0 for c in counts) and counts == previous:
            return []
        if time.monotonic() > deadline:
            return [
                f"map {k + 1} of {len(maps)}: {m['marks']} warned marks expected, "
                f"{c} level-coloured pixels drawn after {timeout_s:.0f} s"
                for k, (m, c) in enumerate(zip(maps, counts, strict=True))
                if c == 0
            ] or [f"maps still changing after {timeout_s:.0f} s: {counts}"]
        previous = counts
        page.wait_for_timeout(1000)


TALL = 3000  # the first window height: set before the maps draw, taller than most pages
LONGEST = 16000  # the window grows to the page's length up to this; longer shots are cut


def _page_bottom(page: Any) -> int:
    return int(
        page.evaluate(
            "() => { const b = document.querySelector('[data-testid=stMainBlockContainer]');"
            " return b ? b.getBoundingClientRect().bottom + 30 : 1000; }"
        )
    )


WALL_WIDTH = 1920  # the wall-screen shot's window: 1920 x 1080


def _whole_page(page: Any, width: int, path: Path) -> str:
    """A screenshot of the page's whole content. The window is :data:`TALL` from the start
    (resizing it makes deck.gl redraw its maps blank for a while); a longer page (the
    models page) grows the window to its length, waits for it to settle again and is shot
    whole. Returns what is wrong with the shot: "" or that it is cut (page longer than
    :data:`LONGEST`) or something did not draw after the resize."""
    bottom = _page_bottom(page)
    problems: list[str] = []
    if bottom > page.viewport_size["height"]:
        page.set_viewport_size({"width": width, "height": min(bottom + 60, LONGEST)})
        problems += _settle(page)
        bottom = _page_bottom(page)
    if bottom > page.viewport_size["height"]:
        problems.append(f"cut at {page.viewport_size['height']} px of {bottom} px")
    height = int(min(max(bottom, 600), page.viewport_size["height"]))
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": width, "height": height})
    if page.viewport_size["height"] != TALL:  # the next page starts from the usual window
        page.set_viewport_size({"width": width, "height": TALL})
    return "; ".join(problems)


PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)


def sign_in(browser: Any, base: str, username: str, password: str, width: int) -> Any:
    # a phone-sized window says it is a phone, as a phone's browser does (the overview fits
    # its map by the User-Agent: dashboard.map_layout.map_fit_px)
    agent = {"user_agent": PHONE_USER_AGENT} if width < 600 else {}
    context = browser.new_context(viewport={"width": width, "height": TALL}, **agent)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(base)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="本周风险总览").wait_for()
    return page


def shoot(
    browser: Any,
    base: str,
    password: str,
    out: Path,
    widths: list[int],
    langs: list[str],
    pages: list[str],
    warning: str | None = None,
) -> list[tuple[str, float, str]]:
    """Every page x language x width; returns (file, seconds to a settled page, what did
    not draw). ``warning``: the review page opened on that warning (its form and trail)."""
    from urllib.parse import quote

    done: list[tuple[str, float, str]] = []
    for name in pages:
        path, role, head_zh, head_en = PAGES[name]
        for width in widths:
            page = sign_in(browser, base, role, password, width)
            for lang in langs:
                t0 = time.perf_counter()
                focus = f"&warning={quote(warning)}" if warning and name == "warnings" else ""
                page.goto(f"{base}/{path}?lang={lang}{focus}")
                page.get_by_role("heading", name=head_zh if lang == "zh" else head_en).wait_for()
                problems = _settle(page)
                file = out / f"{name}-{lang}-{width}.png"
                problems += [p for p in [_whole_page(page, width, file)] if p]
                done.append((file.name, time.perf_counter() - t0, "; ".join(problems)))
                if name == "overview":  # the second hotspot tab (disputes), as a leader opens it
                    t0 = time.perf_counter()
                    page.get_by_role("tab").nth(1).click()
                    page.wait_for_timeout(500)
                    problems = _settle(page)
                    file = out / f"overview-tab2-{lang}-{width}.png"
                    problems += [p for p in [_whole_page(page, width, file)] if p]
                    done.append((file.name, time.perf_counter() - t0, "; ".join(problems)))
            if name == "overview" and width == max(widths):
                # a wall screen is 1920 x 1080 whatever widths the other shots take: at
                # 1280 x 720 the disputes map starts below the fold and its check found
                # no drawn mark (2026-12-07; at 1920 x 1080 both maps draw)
                wall_w = WALL_WIDTH
                for lang in langs:
                    t0 = time.perf_counter()
                    page.goto(f"{base}/?lang={lang}&wall=1")
                    page.get_by_role(
                        "heading", name=head_zh if lang == "zh" else head_en
                    ).wait_for()
                    page.set_viewport_size({"width": wall_w, "height": wall_w * 9 // 16})
                    problems = _settle(page)  # after the resize: the maps redraw
                    file = out / f"overview-wall-{lang}-{wall_w}.png"
                    page.screenshot(path=str(file))
                    done.append((file.name, time.perf_counter() - t0, "; ".join(problems)))
            page.context.close()
    return done


DEMO_PASSWORD_BENCH = "demo-pass-1"  # the users bench/bench_dashboard.py writes (tests' demo)


def city_env(home: Path) -> dict[str, str]:
    """The city's CRS and cell size of a home bench/bench_dashboard.py prepared (its stamp),
    which the dashboard needs to place the simulated city's cells; {} for other homes."""
    import json

    stamp = home / "bench-dashboard-home.json"
    if not stamp.exists():
        return {}
    meta = json.loads(stamp.read_text(encoding="utf-8"))
    return {
        "RISKWARN_CITY_CRS": str(meta["crs"]),
        "RISKWARN_CELL_SIZE_M": str(int(meta["cell_size_m"])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--password", default=os.environ.get("RISKWARN_DEMO_PASSWORD"))
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "screenshots")
    parser.add_argument("--widths", type=int, nargs="+", default=[800, 1280, 1920])
    parser.add_argument("--langs", nargs="+", default=["zh", "en"])
    parser.add_argument("--pages", nargs="+", default=list(PAGES), choices=list(PAGES))
    parser.add_argument("--warning", help="open the review page on this warning id")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from testkit.dashboard_server import dashboard_env, launch_chromium, serve

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.home is None:
            from testkit.dashboard_demo import DEMO_PASSWORD, demo_home

            home = Path(tmp) / "home"
            city = demo_home(home, n_cells=600, weeks=4, n_cases=60)
            store_url, password = city.store_url, DEMO_PASSWORD
        else:
            home = args.home.resolve()
            store_url = os.environ.get("RISKWARN_STORE_URL", f"sqlite:///{home / 'serving.db'}")
            password = args.password or "riskwarn-demo"
        extra = city_env(home)
        if extra:
            password = args.password or DEMO_PASSWORD_BENCH
        with serve(home, dashboard_env(home, store_url, **extra)) as base, sync_playwright() as p:
            browser = launch_chromium(None, p)
            done = shoot(
                browser, base, password, args.out, args.widths, args.langs, args.pages, args.warning
            )
            browser.close()
    lines = [
        "# Dashboard screenshots",
        "",
        "| file | seconds to a settled page | not drawn or cut |",
        "|---|---|---|",
    ]
    lines += [f"| {f} | {s:.1f} | {p or '-'} |" for f, s, p in done]
    (args.out / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    incomplete = [f for f, _, p in done if p]
    print(f"{len(done)} screenshots in {args.out}; incomplete or cut: {incomplete or 'none'}")
    return 1 if incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
