"""Real-browser smoke test: Debian Chromium driven by Playwright against the served app.

Logs in, opens every page, switches language, submits a review and saves a screenshot of
each page to tests/artifacts/. Also checks that nothing is fetched from outside
127.0.0.1 (the map is offline). Streamlit renders after a websocket round-trip, so the
test waits for content, never for page load.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from testkit.dashboard_demo import DEMO_PASSWORD, demo_home

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The dashboard served on a free port over a populated demo home: (base URL, store URL)."""
    from riskwarn.commands.dashboard import streamlit_command

    home = tmp_path_factory.mktemp("browser") / "home"
    city = demo_home(home, n_cells=400, weeks=4, n_cases=60)
    port = _free_port()
    env = {
        **os.environ,
        "RISKWARN_HOME": str(home),
        "RISKWARN_STORE_URL": city.store_url,
        "RISKWARN_AIRFLOW_API_URL": "http://127.0.0.1:9",
        "RISKWARN_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
    }
    env.pop("RISKWARN_USERS_FILE", None)
    log = (home / "streamlit.log").open("w")
    proc = subprocess.Popen(
        streamlit_command("127.0.0.1", port), cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited: {(home / 'streamlit.log').read_text()}")
                time.sleep(0.3)
        yield base, city.store_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_browser_walkthrough(served: tuple[str, str]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from riskwarn.store import Store

    base, store_url = served
    ARTIFACTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1440, "height": 1700}, locale="zh-CN")
        page.set_default_timeout(30_000)

        def note(request: object) -> None:
            url = request.url  # type: ignore[attr-defined]
            host = urlparse(url).hostname
            if url.startswith(("http://", "https://", "ws://")) and host != "127.0.0.1":
                outside.append(url)

        page.on("request", note)
        expect = sync_api.expect
        expect.set_options(timeout=30_000)
        try:
            page.goto(base)
            page.get_by_label("用户名").fill("admin")
            page.get_by_label("密码").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="登录").click()

            # overview: map canvas, places to watch, charts
            expect(page.get_by_role("heading", name="本周风险总览")).to_be_visible()
            expect(page.get_by_text("重点关注地区").first).to_be_visible()
            page.locator("[data-testid=stDeckGlJsonChart] canvas").first.wait_for(state="attached")
            page.locator("[data-testid=stVegaLiteChart]").first.wait_for()
            page.wait_for_timeout(1500)  # let deck.gl paint
            page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

            shots = {
                "矛盾纠纷案件": ("disputes", "按 30 天内升级概率排序"),
                "地质灾害隐患点": ("geohazard", "数据健康"),
                "模型与数据质量": ("models", "尚未登记服役模型"),
            }
            for title, (name, marker) in shots.items():
                page.get_by_role("link", name=title).click()
                expect(page.get_by_role("heading", name=title)).to_be_visible()
                page.get_by_text(marker).first.wait_for()
                if name == "disputes":
                    page.locator(".rw-table").first.wait_for(state="attached")
                if name == "models":
                    page.get_by_role("tab", name="重新训练").click()
                    page.get_by_text("无法连接 Airflow").wait_for()  # said plainly
                    page.get_by_role("tab", name="数据质量").click()
                    page.locator("[data-testid=stVegaLiteChart]").first.wait_for()
                    # issue 17.4: the per-district panel under the tabs, with data
                    panel = page.get_by_text("各区县：预警、记录事件与人口").first
                    panel.scroll_into_view_if_needed()
                    expect(panel).to_be_visible()
                    expect(page.get_by_text("暂无区县数据")).to_have_count(0)
                page.wait_for_timeout(800)
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

            # warnings: submit a review through the form
            page.get_by_role("link", name="预警研判").click()
            expect(page.get_by_role("heading", name="预警研判")).to_be_visible()
            page.get_by_text("研判决定").wait_for()
            page.get_by_text("确认", exact=True).click()
            page.get_by_label("理由（必填）").fill("已电话核实，属实")
            page.get_by_role("button", name="提交").click()
            page.get_by_text("已保存").wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "warnings.png"), full_page=True)

            # language switch: labels and dates in English
            page.get_by_role("radio", name="English").click()
            expect(page.get_by_role("heading", name="Warnings review")).to_be_visible()
            # the chosen options are shown in English too (Streamlit kept the old text
            # of a selected option when only its format changed)
            for name in ("Domain", "County", "State"):
                expect(page.get_by_role("combobox", name=name)).to_have_value("All")
            for action in ("Accept", "Adjust level", "Dismiss"):  # the form, in English
                expect(page.get_by_role("radio", name=action, exact=True)).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "warnings_en.png"), full_page=True)
            page.get_by_role("link", name="This week's risk").click()
            expect(page.get_by_role("heading", name="This week's risk")).to_be_visible()
            page.get_by_text("Places to watch").first.wait_for()
            page.locator("[data-testid=stDeckGlJsonChart] canvas").first.wait_for(state="attached")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "overview_en.png"), full_page=True)
        finally:
            browser.close()

    store = Store(store_url)
    try:
        trail = store.warning_reviews()
        assert trail["reason"].tolist() == ["已电话核实，属实"]
        assert trail["reviewer"].tolist() == ["admin"] and trail["action"].tolist() == ["accept"]
    finally:
        store.close()
    assert not outside, f"the dashboard fetched from outside 127.0.0.1: {outside[:5]}"
    for name in ("overview", "warnings", "disputes", "geohazard", "models", "overview_en"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 20_000
