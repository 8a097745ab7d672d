"""Review S12: before sign-in the sidebar listed the ``pages/`` folder by file name
(``disputes``, ``geohazard``, ...) while every page asked for sign-in. Signed out, the
navigation now shows nothing (the sign-in screen alone, also for a link to a page, and
with no users file); signed in, the pages the role may open, under their titles. In
Debian's Chromium (Streamlit's sidebar is drawn by the browser)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import page_index
from testkit.dashboard_demo import DEMO_PASSWORD, demo_home

NAV = '[data-testid="stSidebarNav"]'


def test_signed_out_sidebar_lists_no_page_and_signed_in_lists_titles(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from testkit.dashboard_server import dashboard_env, launch_chromium, serve

    home = tmp_path / "home"
    city = demo_home(home, n_cells=60, weeks=1, n_cases=5)
    expect = sync_api.expect
    expect.set_options(timeout=120_000)
    files = sorted(p.stem for p in page_index.PAGES_DIR.glob("*.py") if p.stem != "__init__")
    with (
        serve(home, dashboard_env(home, city.store_url)) as base,
        sync_api.sync_playwright() as p,
    ):
        browser = launch_chromium(sync_api, p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        for url in (base, f"{base}/disputes"):  # a link to a page: the sign-in screen
            page.goto(url)
            expect(page.get_by_label("密码")).to_be_visible()
            expect(page.locator(NAV)).to_have_count(0)
            for name in files:
                expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        # signed in from the link: the page it named, and the role's pages by title
        page.get_by_label("用户名").fill("leader")
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", name=page_index.title("disputes", "zh"))).to_be_visible()
        nav = page.locator(NAV)
        expect(nav).to_have_count(1)
        for key in ("overview", "warnings", "disputes", "geohazard"):
            title = page_index.title(key, "zh")
            expect(nav.get_by_role("link", name=title, exact=True)).to_have_count(1)
        title = page_index.title("models", "zh")  # not the leader's: hidden
        expect(nav.get_by_role("link", name=title, exact=True)).to_have_count(0)
        for name in files:
            expect(nav.get_by_role("link", name=name, exact=True)).to_have_count(0)
        browser.close()


def test_no_users_file_signed_out_sidebar_lists_no_page(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from testkit.dashboard_server import dashboard_env, launch_chromium, serve

    home = tmp_path / "home"
    city = demo_home(home, n_cells=60, weeks=1, n_cases=5)
    env = {
        **dashboard_env(home, city.store_url),
        "RISKWARN_USERS_FILE": str(tmp_path / "none.yaml"),
    }
    expect = sync_api.expect
    expect.set_options(timeout=120_000)
    with serve(home, env) as base, sync_api.sync_playwright() as p:
        browser = launch_chromium(sync_api, p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(base)
        expect(page.get_by_text("none.yaml")).to_be_visible()  # the no-users message
        expect(page.locator(NAV)).to_have_count(0)
        expect(page.get_by_role("link", name="warnings", exact=True)).to_have_count(0)
        browser.close()
