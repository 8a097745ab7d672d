"""Long text fits the screen, in a real browser (Debian Chromium), at 1280 and 390 px,
English (review of 6 Dec 2026, `make demo`):

- the dispute cases' explanations and the sites' "why" were cut by the data grid at
  1280 px ("...at or above the Orange (I...") and off-screen at 390 px, where the sites
  list showed a level and a cut name: they are the review queue's wrapping HTML table
  now, no cell cut and the table inside its frame, and cards under 760 px;
- the review queue's cards under 760 px never showed in a browser (its CSS, a style-only
  ``st.html``, never reached the page): they do now;
- the overview's only red line was cut at 390 px ("Dispute escalation · Susong County,
  Yuanfeng Townshi..."), its probability hidden: it wraps, the probability first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from testkit.dashboard_demo import DEMO_PASSWORD, demo_home
from testkit.dashboard_server import CHROMIUM, dashboard_env, launch_chromium, serve, wait_idle

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)

# every cell and card of a list: not cut (its text as wide as its box) and inside the
# window; the list's table inside its frame. Returns what does not fit.
_FITS_JS = """([sel, width]) => {
  const bad = [];
  for (const el of document.querySelectorAll(sel)) {
    if (!el.getClientRects().length) continue;
    const r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1) bad.push('cut: ' + el.textContent.slice(0, 60));
    if (r.right > width + 1) bad.push('off-screen: ' + el.textContent.slice(0, 60));
  }
  return bad;
}"""
_SHOWN_JS = "(sel) => [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length"
_SHOWN_JS += " && e.getBoundingClientRect().width > 0).length"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard over a demo home whose dispute case is red (off the maps)."""
    home = tmp_path_factory.mktemp("wrap-browser") / "home"
    city = demo_home(home, n_cells=120, weeks=1, n_cases=12)
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE warnings SET level = 'red' WHERE warning_id = (SELECT warning_id "
                "FROM warnings WHERE domain = 'dispute_cases' LIMIT 1)"
            )
        )
    engine.dispose()
    with serve(home, dashboard_env(home, city.store_url)) as base:
        yield base


def _settle(page: Any) -> None:
    wait_idle(page, timeout_ms=120_000)
    page.wait_for_timeout(500)


def _fits(page: Any, selector: str, width: int) -> list[str]:
    return list(page.evaluate(_FITS_JS, [selector, width]))


def _shown(page: Any, selector: str) -> int:
    return int(page.evaluate(_SHOWN_JS, selector))


def test_lists_and_red_line_fit_at_1280_and_390(served: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(sync_api, p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-GB")
        page.set_default_timeout(60_000)
        try:
            page.goto(served)
            # the first run of the app's script (imports, the store) under a loaded machine:
            # the sign-in form once took over 60 s (13:05 UTC, load 5-15)
            page.get_by_label("用户名").fill("admin", timeout=180_000)
            page.get_by_label("密码").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.get_by_role("heading", name="本周风险总览").wait_for()
            page.get_by_role("radio", name="English").click()
            page.get_by_role("heading", name="This week's risk").wait_for()
            _settle(page)
            problems: list[str] = []
            for link, name in (("Dispute cases", "cases"), ("Geohazard sites", "sites")):
                page.set_viewport_size({"width": 1280, "height": 1000})
                page.get_by_role("link", name=link).click()
                page.get_by_role("heading", name=link).wait_for()
                _settle(page)
                wide, narrow = f".st-key-rwwide_{name}", f".st-key-rwnarrow_{name}"
                # 1280 px: the table, every cell whole, the table inside its frame
                if _shown(page, f"{wide} table.rw-table") != 1 or _shown(page, narrow):
                    problems.append(f"{name} at 1280: no wrapping table")
                problems += [
                    f"{name} at 1280: {b}"
                    for b in _fits(page, f"{wide} td, {wide} .rw-tablebox", 1280)
                ]
                page.screenshot(path=str(tmp_path / f"{name}-1280.png"), full_page=True)
                # 390 px: cards, none cut or off-screen; the table hidden
                page.set_viewport_size({"width": 390, "height": 900})
                page.wait_for_timeout(800)
                if _shown(page, f"{narrow} .rw-qcard") < 1 or _shown(page, wide):
                    problems.append(f"{name} at 390: no cards")
                problems += [f"{name} at 390: {b}" for b in _fits(page, f"{narrow} .rw-qcard", 390)]
                page.screenshot(path=str(tmp_path / f"{name}-390.png"), full_page=True)
                page.set_viewport_size({"width": 1280, "height": 1000})
                page.wait_for_timeout(500)
            # the review queue's own cards (its CSS never reached the browser before)
            page.get_by_role("link", name="Warnings review").click()
            page.get_by_role("heading", name="Warnings review").wait_for()
            _settle(page)
            if _shown(page, ".st-key-rwqueue_cards .rw-qcard"):
                problems.append("queue at 1280: cards shown under the table")
            page.set_viewport_size({"width": 390, "height": 900})
            page.wait_for_timeout(800)
            if _shown(page, ".st-key-rwqueue_table") or not _shown(page, ".rw-qcard"):
                problems.append("queue at 390: the table, not the cards")
            page.set_viewport_size({"width": 1280, "height": 1000})
            page.wait_for_timeout(500)
            page.get_by_role("link", name="This week's risk").click()
            page.get_by_role("heading", name="This week's risk").wait_for()
            _settle(page)
            page.set_viewport_size({"width": 390, "height": 900})
            page.wait_for_timeout(800)
            red = ".st-key-rwred_off_maps [data-testid=stPageLink] a"
            lines = page.locator(red).all_inner_texts()
            # (the link's text starts with its icon's name, a ligature: "open_in_new")
            if not lines or not lines[0].split(" · ")[0].strip().endswith("%"):
                problems.append(f"red line at 390: not probability first: {lines}")
            problems += [f"red line at 390: {b}" for b in _fits(page, f"{red}, {red} *", 390)]
            page.screenshot(path=str(tmp_path / "overview-390.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, problems
