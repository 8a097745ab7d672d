"""The HttpOnly nonce cookie reaches a browser that revalidates the cached page.

The page is served ``cache-control: no-cache``: a browser restarted with the page in its
cache (its session cookies, the nonce among them, gone) sends ``If-None-Match`` and gets
``304 Not Modified``. The old ``NonceMiddleware`` set the nonce only on HTML answers, so
the 304 carried none: the sign-in then succeeded with no session or device cookie set,
and a refresh showed the sign-in form again. Checked over HTTP and in Debian's Chromium
with a persistent profile closed and reopened.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from dashboard import sessions
from testkit.dashboard_demo import DEMO_PASSWORD, demo_home

NONCE = "riskwarn_nonce"  # sessions.NONCE_COOKIE


def _get(url: str, **headers: str) -> tuple[int, dict[str, list[str]]]:
    class Keep304(urllib.request.HTTPErrorProcessor):
        def http_response(self, request, response):  # type: ignore[no-untyped-def]
            return response

    opener = urllib.request.build_opener(Keep304)
    with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        seen: dict[str, list[str]] = {}
        for key, value in resp.headers.items():
            seen.setdefault(key.lower(), []).append(value)
        return resp.status, seen


def _nonces(headers: dict[str, list[str]]) -> list[str]:
    return [c for c in headers.get("set-cookie", []) if c.startswith(NONCE + "=")]


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no /usr/bin/chromium")
def test_a_revalidated_page_sets_the_nonce_too(tmp_path: Path) -> None:
    from testkit.dashboard_server import dashboard_env, serve

    home = tmp_path / "home"
    city = demo_home(home, n_cells=120, weeks=1, n_cases=10)
    with serve(home, dashboard_env(home, city.store_url)) as base:
        # over HTTP: the page, then its revalidation, both set the nonce
        status, first = _get(base + "/")
        assert status == 200 and len(_nonces(first)) == 1, first
        assert "HttpOnly" in _nonces(first)[0]
        etag = first["etag"][0]
        status, again = _get(base + "/", **{"If-None-Match": etag})
        assert status == 304, status
        assert len(_nonces(again)) == 1, again  # the old code: no set-cookie at all
        assert "HttpOnly" in _nonces(again)[0]
        # a request that carries its nonce keeps it
        cookie = _nonces(again)[0].split(";")[0]
        _, kept = _get(base + "/", **{"If-None-Match": etag, "Cookie": cookie})
        assert _nonces(kept) == [], kept


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no /usr/bin/chromium")
def test_a_restarted_chromium_stays_signed_in_after_a_refresh(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from testkit.dashboard_server import CHROMIUM, CHROMIUM_ARGS, dashboard_env, serve

    home = tmp_path / "home"
    city = demo_home(home, n_cells=120, weeks=1, n_cases=10)
    expect = sync_api.expect
    expect.set_options(timeout=120_000)
    with serve(home, dashboard_env(home, city.store_url)) as base:
        # in Chromium: visit, close the browser (session cookies go), reopen, sign in
        profile = tmp_path / "profile"
        with sync_api.sync_playwright() as p:

            def launch():  # type: ignore[no-untyped-def]
                return p.chromium.launch_persistent_context(
                    str(profile),
                    executable_path=str(CHROMIUM),
                    headless=True,
                    args=CHROMIUM_ARGS,
                    viewport={"width": 1280, "height": 900},
                )

            context = launch()
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(base)
            expect(page.get_by_label("用户名")).to_be_visible()
            time.sleep(3)  # Chromium writes its disk cache a moment after the load
            context.close()

            context = launch()
            assert NONCE not in [c["name"] for c in context.cookies()]
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(120_000)
            statuses: list[int] = []
            page.on(
                "response",
                lambda r: statuses.append(r.status) if r.url.rstrip("/") == base else None,
            )
            page.goto(base)
            # revalidated from the disk cache: the server answers 304 (Chromium reports the
            # cached page's 200 to Playwright, so the status is not asserted)
            assert len(statuses) == 1, statuses
            page.get_by_label("用户名").fill("reviewer")
            page.get_by_label("密码").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="登录").click()
            expect(page.get_by_role("heading", name="本周风险总览")).to_be_visible()
            deadline = time.monotonic() + 60
            names: list[str] = []
            while time.monotonic() < deadline:
                names = [c["name"] for c in context.cookies()]
                if {sessions.COOKIE, sessions.device_cookie("reviewer")} <= set(names):
                    break
                time.sleep(0.2)
            assert sessions.COOKIE in names, names  # the old code: only _streamlit_xsrf
            assert sessions.device_cookie("reviewer") in names, names
            page.reload()
            expect(page.get_by_role("heading", name="本周风险总览")).to_be_visible()
            expect(page.get_by_label("密码")).to_have_count(0)
            context.close()


def _answer_304(path: str, cookie: str | None = None) -> list[str]:
    """The set-cookie headers NonceMiddleware adds to a ``304`` answer for ``path``."""
    import asyncio

    from starlette.responses import Response

    from dashboard.server import NonceMiddleware

    async def not_modified(scope, receive, send):  # type: ignore[no-untyped-def]
        await Response(status_code=304, headers={"etag": '"abc"'})(scope, receive, send)

    headers = [(b"if-none-match", b'"abc"')]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("127.0.0.1", 8501),
    }
    sent: list[dict] = []

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    asyncio.run(NonceMiddleware(not_modified)(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 304
    return [v.decode() for k, v in start["headers"] if k == b"set-cookie"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/js/index.Bx3kQ1.js",
        "/static/css/index.Ab12.css",
        "/favicon.png",
        "/manifest.json",
        "/_stcore/host-config",
        "/media/abc.png",
    ],
)
def test_a_revalidated_asset_mints_no_nonce(path: str) -> None:
    """The old middleware set a new nonce on every 304, a script's or a style sheet's
    too (``curl -H 'If-None-Match: ...' /static/js/index.*.js``): only the page's own
    revalidation must carry one."""
    assert _answer_304(path) == []


@pytest.mark.parametrize("path", ["/", "/review", "/index.html"])
def test_a_revalidated_page_mints_a_nonce_once(path: str) -> None:
    cookies = _answer_304(path)
    assert len(cookies) == 1 and cookies[0].startswith(NONCE + "="), cookies
    assert "HttpOnly" in cookies[0]
    assert _answer_304(path, cookie=cookies[0].split(";")[0]) == []  # kept, not replaced
