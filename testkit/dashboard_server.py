"""Serve the dashboard for real-browser tests: one Streamlit process on a free port.

Used by the browser tests (Playwright driving Debian's /usr/bin/chromium). Streamlit
renders after a websocket round-trip, so tests wait for content, never for page load.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebGL on the CPU (SwiftShader), so the deck.gl maps draw in headless screenshots
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dashboard_env(home: Path, store_url: str, **extra: str) -> dict[str, str]:
    """The environment of a dashboard serving ``home`` (Airflow unreachable, MLflow local)."""
    env = {
        **os.environ,
        "RISKWARN_HOME": str(home),
        "RISKWARN_STORE_URL": store_url,
        "RISKWARN_AIRFLOW_API_URL": "http://127.0.0.1:9",
        "RISKWARN_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        **extra,
    }
    env.pop("RISKWARN_USERS_FILE", None)
    return env


def slow_trail_env(delay_s: float, switch: Path | None = None) -> dict[str, str]:
    """Extra environment of a served dashboard whose review page sleeps ``delay_s`` after
    drawing its decision form, on every run (testkit/slow_trail/sitecustomize.py): a
    click sent once the form shows lands on a run still going (tests of races). With
    ``switch``, only on the runs that start while that file exists (:func:`slow_runs`):
    a test's steps before its race, which wait for every run to finish, are not slowed."""
    path = [str(ROOT / "testkit" / "slow_trail"), os.environ.get("PYTHONPATH", "")]
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "RISKWARN_TEST_TRAIL_DELAY_S": str(delay_s),
        "RISKWARN_TEST_ROOT": str(ROOT),
    }
    if switch is not None:
        env["RISKWARN_TEST_TRAIL_DELAY_WHEN"] = str(switch)
    return env


@contextmanager
def slow_runs(switch: Path) -> Iterator[None]:
    """Within the block, every run of a dashboard served with
    ``slow_trail_env(delay_s, switch)`` is slow; before and after it, none."""
    switch.touch()
    try:
        yield
    finally:
        switch.unlink(missing_ok=True)


def use_dashboard_env(monkeypatch: Any, home: Path, store_url: str) -> None:
    """Point this process's ``RISKWARN_*`` at ``home`` as :func:`dashboard_env` does for
    a served dashboard (for in-process ``AppTest`` runs; ``monkeypatch`` undoes it)."""
    for key, value in dashboard_env(home, store_url).items():
        if key.startswith("RISKWARN_"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("RISKWARN_USERS_FILE", raising=False)


@contextmanager
def serve(home: Path, env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """Run ``riskwarn dashboard``'s Streamlit command until the block ends; yields the URL."""
    from riskwarn.commands.dashboard import streamlit_command

    port = port or free_port()
    log_path = home / f"streamlit-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            streamlit_command("127.0.0.1", port), cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            wait_for_port(port, proc, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_port(port: int, proc: subprocess.Popen[Any], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {log_path.read_text()}") from None
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not listen on {port} within 60 s")


def launch_chromium(sync_api: Any, playwright: Any) -> Any:
    """Debian's Chromium, headless, with no background traffic."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


class HeldSocket:
    """The page's connection to the dashboard, with the server's messages held back on
    demand (Playwright's WebSocket routing): what the browser does on a slow network or a
    loaded machine, where its next click leaves before the previous run's news arrives."""

    def __init__(self) -> None:
        self.hold = False
        self.held: list[Any] = []
        self.page_side: Any = None

    def route(self, ws: Any) -> None:
        server = ws.connect_to_server()
        self.page_side = ws

        def down(message: Any) -> None:
            if self.hold:
                self.held.append(message)
            else:
                ws.send(message)

        server.on_message(down)
        ws.on_message(server.send)

    def release(self) -> None:
        """Deliver what was held, in order, and let the rest through."""
        self.hold = False
        for message in self.held:
            self.page_side.send(message)
        self.held.clear()


# The app's script state, as Streamlit's frontend shows it on its root element
# (``data-test-script-state``: initial, running, rerunRequested, stopRequested,
# notRunning, compilationError). The running icon (``stStatusWidgetRunningIcon``) is not
# drawn with this app's ``toolbarMode = "minimal"``: a wait for its absence passed at
# once, mid-run (four browser tests did so until 2026-12-07).
SCRIPT_STATE_JS = (
    "() => { const app = document.querySelector('[data-testid=stApp]');"
    " return app ? app.getAttribute('data-test-script-state') : null; }"
)
_IDLE_JS = """(runDone) => {
  const app = document.querySelector('[data-testid=stApp]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-stale=true]')
    && (!runDone || !!document.querySelector('.rw-run-done'));
}"""


def script_state(page: Any) -> str | None:
    """The app's script state now (None: no Streamlit app, or no state on it)."""
    value = page.evaluate(SCRIPT_STATE_JS)
    return str(value) if value is not None else None


def wait_idle(page: Any, *, run_done: bool = True, timeout_ms: float | None = None) -> None:
    """Wait until the app's script run finished: its script state ``notRunning`` (not
    ``initial``: a page just opened has run nothing yet), no element of an earlier run
    left (Streamlit marks them stale until the run is done) and, with ``run_done``, the
    end marker a signed-in page draws after it ran to its end (``shell.RUN_DONE``; the
    sign-in page has none). A run a click asked for may not have reached the browser yet
    when this returns (the state changes when the server answers): wait for what the
    click shows, or read through locators of fresh elements.

    Fails loudly, with the state seen, when the app never gets there: a Streamlit that
    renamed the element or its attribute makes every wait fail (state None), never pass.
    ``tests/test_review_browser.py`` checks it waits out a slow run the icon missed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    kwargs = {} if timeout_ms is None else {"timeout": timeout_ms}
    try:
        page.wait_for_function(_IDLE_JS, arg=run_done, **kwargs)
    except PlaywrightTimeout:
        state = script_state(page)
        stale = page.locator("[data-stale=true]").count()
        done = page.locator(".rw-run-done").count()
        raise AssertionError(
            f"dashboard not idle: script state {state!r}, {stale} stale element(s), "
            f"run-done marker {'present' if done else 'absent'} ({page.url})"
        ) from None
