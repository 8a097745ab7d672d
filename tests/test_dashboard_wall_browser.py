"""In a real browser (Debian Chromium), the wall screen's switch holds when the next click
leaves before the switch's new address (``?wall=1``) has arrived: the server's messages
are held back 1.5 s (testkit.dashboard_server.HeldSocket), as on a slow network or a
loaded machine. The old overview read ``?wall=`` on every run: the language click,
carrying the address from before the switch, left the wall screen at once (and the
address lost ``wall=1``). Now the address is read once per visit of the page and on
back/forward (dashboard/address.py); Back still leaves the wall screen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")

from testkit.dashboard_demo import DEMO_PASSWORD, demo_home
from testkit.dashboard_server import (
    CHROMIUM,
    HeldSocket,
    dashboard_env,
    launch_chromium,
    serve,
    wait_idle,
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("wall-browser") / "home"
    city = demo_home(home, n_cells=120, weeks=2, n_cases=5)
    with serve(home, dashboard_env(home, city.store_url)) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = launch_chromium(sync_api, p)
        yield b
        b.close()


def test_a_click_leaving_before_the_wall_address_does_not_flip_it_back(
    served: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    socket = HeldSocket()
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.route_web_socket(re.compile(r".*/_stcore/stream"), socket.route)
    try:
        page.goto(served)
        page.get_by_label("用户名").fill("leader")
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", name="本周风险总览")).to_be_visible(timeout=60_000)
        wait_idle(page)
        socket.hold = True
        page.get_by_role("button", name="大屏模式").click()
        page.wait_for_timeout(1500)  # the switch's run put ?wall=1 in the address
        page.get_by_role("radio", name="English").click()  # sent with the address before
        page.wait_for_timeout(300)
        socket.release()
        wait_idle(page)
        expect(page.get_by_role("heading", name="This week's risk")).to_be_visible()
        leave = page.get_by_role("button", name="Leave wall-screen mode")
        expect(leave).to_be_visible(timeout=20_000)  # the old page: "Wall-screen mode"
        expect(page).to_have_url(re.compile(r"[?&]wall=1"))
        # Back: the address before the wall screen is read again (a new visit)
        page.go_back()
        wait_idle(page)
        expect(page.get_by_role("button", name="Wall-screen mode")).to_be_visible()
        expect(leave).to_have_count(0)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "failed-wall-switch.png"), full_page=True)
        raise
    finally:
        context.close()
