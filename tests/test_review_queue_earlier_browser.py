"""The review queue with the panel's earlier decisions, in a real browser (Debian Chromium).

Screenshots of 2026-12-08 (bench/dashboard_screenshots.py --widths 740 760 800 1030 1060
1100 1150 1180 1280, en + zh, a demo home where the panel had decided four warnings of
the run before): where the frame is 760 px or more the queue is a table, and its ninth
column, "此前研判 / Earlier decision", took the room of the eight it is laid out for: at
1280 px (a 900 px frame) the Chinese domain "治安案事件" wrapped into three lines
("治安/案事/件"), the place too. The earlier decision is now a line under its warning's
row, across the table: no cell of the eight columns takes more lines than its words, or
two ("15 Dec / 2026 / 00:00" may take three), and the earlier decision is shown whole,
in both languages. Under 760 px the cards show it
as a line of their own (unchanged).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riskwarn.store import Store
from testkit.dashboard_demo import DEMO_PASSWORD, demo_home
from testkit.dashboard_server import CHROMIUM, dashboard_env, launch_chromium, serve, wait_idle
from tests.test_dashboard_review_earlier import _newer_run

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)

# per cell of the queue's table (the table shown: the frame is 760 px or more): its text's
# lines, and whether it is cut; the earlier decisions' lines as shown
_CELLS_JS = """() => {
  const box = document.querySelector('.st-key-rwqueue_table');
  if (!box || !box.getClientRects().length) return null;
  const out = [];
  for (const td of box.querySelectorAll('table.rw-table td')) {
    // the lines its text takes: the text fragments' tops, 6 px apart or more (a badge's
    // padding moves its text a few px)
    const tops = [];
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const r of range.getClientRects()) if (r.width > 0) tops.push(r.top);
    }
    tops.sort((x, y) => x - y);
    const lines = tops.filter((t, i) => i === 0 || t - tops[i - 1] >= 6).length;
    out.push({text: td.textContent, lines: lines,
              cut: td.scrollWidth > td.clientWidth + 1,
              note: td.closest('tr').classList.contains('rw-note')});
  }
  return {cells: out, text: box.innerText};
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard over a demo home whose incident run was followed by another, the
    panel having decided three of the first run's cell warnings."""
    home = tmp_path_factory.mktemp("queue-earlier") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40)
    store = Store(city.store_url)
    run = store.serving_snapshot()
    served = store.warnings(run_ids=[r["run_id"] for r in run.values()])
    cells = served[(served["unit_type"] == "cell") & (served["level"] != "red")]
    domain = str(cells["domain"].iloc[0])
    a, b, c = (dict(r) for r in cells[cells["domain"] == domain].head(3).to_dict("records"))
    store.review_warning(a["warning_id"], "dismiss", "road works, not burglary", "reviewer2", 1)
    store.review_warning(b["warning_id"], "accept", "confirmed on patrol", "reviewer2", 1)
    store.review_warning(c["warning_id"], "dismiss", "one-off report", "reviewer2", 1)
    _newer_run(store, str(run[domain]["run_id"]), rise=str(c["unit_id"]))
    store.close()
    with serve(home, dashboard_env(home, city.store_url)) as base:
        yield base


def _settle(page: Any) -> None:
    wait_idle(page, timeout_ms=120_000)
    page.wait_for_timeout(500)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_earlier_decision_leaves_the_queue_table_its_eight_columns(
    served: str, lang: str, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    marker = {"zh": "已研判：评估专家乙", "en": "decided on "}[lang]
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(sync_api, p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
        page.set_default_timeout(60_000)
        problems: list[str] = []
        try:
            page.goto(served)
            page.get_by_label("用户名").fill("reviewer", timeout=180_000)
            page.get_by_label("密码").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.get_by_role("heading", name="本周风险总览").wait_for()
            if lang == "en":
                page.get_by_role("radio", name="English").click()
                page.get_by_role("heading", name="This week's risk").wait_for()
            _settle(page)
            title = {"zh": "预警研判", "en": "Warnings review"}[lang]
            page.get_by_role("link", name=title).click()
            page.get_by_role("heading", name=title).wait_for()
            _settle(page)
            # 1280 px (a 900 px frame), and the widest windows whose frame is just over
            # the 760 px switch to cards
            for width in (1280, 1180, 1150):
                page.set_viewport_size({"width": width, "height": 1000})
                page.wait_for_timeout(800)
                page.screenshot(path=str(tmp_path / f"queue-{lang}-{width}.png"))
                got = page.evaluate(_CELLS_JS)
                if got is None:
                    continue  # cards at this width
                cells = got["cells"]
                if marker not in got["text"]:
                    problems.append(f"{width}: no earlier decision in the table")
                # a cell takes no more lines than its words, or two: before, "Public-/
                # security/incidents", "宜秀区/高河街/道", "治安/案事/件"
                problems += [
                    f"{width}: {c['text']!r} on {c['lines']} lines"
                    for c in cells
                    if not c["note"] and c["lines"] > max(2, len(c["text"].split()))
                ]
                problems += [f"{width}: {c['text']!r} cut" for c in cells if c["cut"]]
        finally:
            browser.close()
    assert not problems, problems
