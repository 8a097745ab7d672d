"""Scale path: the unchanged daily DAG runs to success on Airflow's CeleryExecutor.

Runs ``scripts/celery_check.sh`` (PostgreSQL metadata DB, Redis broker db 5, API
server, scheduler, DAG processor and two Celery workers) and checks what it reports:
the run succeeded, forecasts were published, every task ran on worker1/worker2, and
no started process survived.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "celery_check.sh"


@contextlib.contextmanager
def port_taken(port: int) -> Iterator[None]:
    """Port ``port`` on 127.0.0.1 held (bound, not listening: a connection is refused)
    while the block runs, as a running ``make up`` or another check holds 8080; if
    something already holds it, that does the same."""
    with socket.socket() as s:
        with contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
        yield


@pytest.mark.timeout(1260)
def test_daily_dag_runs_on_two_celery_workers() -> None:
    """With Airflow's default API port 8080 taken, as by a running ``make up`` or the
    other worker of ``make test``: on the old script the API server could not start
    there and no task reached the execution API; the script now takes a free port."""
    with port_taken(8080):
        rc, out = _run_check()
    assert rc == 0, out[-12000:]
    assert "API server on 127.0.0.1:" in out and "API server on 127.0.0.1:8080\n" not in out
    assert "score_and_warn run state: success" in out
    assert "with 12 forecasts (airflow run celery_check)" in out
    task_lines = [line for line in out.splitlines() if line.startswith("task ")]
    assert task_lines and all(
        " on celery worker1 " in line or " on celery worker2 " in line for line in task_lines
    ), task_lines
    assert "all started processes stopped" in out and "ORPHANS LEFT" not in out
    assert "celery check passed" in out


def _run_check() -> tuple[int, str]:
    """``scripts/celery_check.sh``: its exit code and output."""
    # its own process group, so that a timeout stops the scheduler, workers and API server
    # the script started too (a killed script used to leave them running for later tests)
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"celery_check.sh ran over 1200 s: {(stdout + stderr)[-4000:]}")
    return proc.returncode, stdout + stderr
