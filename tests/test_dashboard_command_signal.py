"""``kill <riskwarn dashboard pid>`` stops the server: Streamlit ran as a child of
``subprocess.call`` that kept running, holding the port, when the parent was killed
(services.sh stops a service by its recorded pid). Now the command execs Streamlit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_to_the_dashboard_command_frees_its_port(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "RISKWARN_HOME": str(tmp_path / "home")}
    riskwarn = Path(sys.executable).parent / "riskwarn"
    proc = subprocess.Popen(
        [str(riskwarn), "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: whatever it leaves is ours to clean up
    )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert proc.poll() is None and time.monotonic() < deadline, "never listened"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _listening(port), "the Streamlit server outlived the killed command"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # only the group this test started
        proc.wait(timeout=10)
