"""Scale path: the unchanged daily DAG runs to success on Airflow's CeleryExecutor.

Runs ``scripts/celery_check.sh`` (PostgreSQL metadata DB, Redis broker db 5, API
server, scheduler, DAG processor and two Celery workers) and checks what it reports:
the run succeeded, forecasts were published, every task ran on worker1/worker2, and
no started process survived.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "celery_check.sh"


@pytest.mark.timeout(600)
def test_daily_dag_runs_on_two_celery_workers() -> None:
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=580)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "score_and_warn run state: success" in out
    assert "with 12 forecasts (airflow run celery_check)" in out
    task_lines = [line for line in out.splitlines() if line.startswith("task ")]
    assert task_lines and all(
        " on celery worker1 " in line or " on celery worker2 " in line for line in task_lines
    ), task_lines
    assert "all started processes stopped" in out and "ORPHANS LEFT" not in out
    assert "celery check passed" in out
