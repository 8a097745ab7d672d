"""testkit/forked_cli.py: each CLI run forked from the importing parent is a process of
its own, with the caller's environment and working folder, its exit code (a signal's
negative) and its own stdout/stderr, as ``python -m riskwarn.cli`` started anew would
give them (the ingest-order and crash-record tests run their ingests this way)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from testkit.forked_cli import ForkedCli
from testkit.ingest_helpers import SIM_INCIDENTS, sim_incidents_file

pytestmark = pytest.mark.timeout(300)


def _args(path: Path, *extra: str) -> list[str]:
    return [
        "ingest",
        "--json",
        "--as-of",
        "2024-06-01",
        *extra,
        "--source",
        str(SIM_INCIDENTS),
        str(path),
    ]


def test_each_run_is_a_process_of_its_own(cli: ForkedCli, tmp_path: Path) -> None:
    path = sim_incidents_file(tmp_path / "jan.csv", {0: 1, 1: 1})
    env = {**os.environ, "RISKWARN_STORE_URL": f"sqlite:///{tmp_path / 'a.db'}"}
    usage = cli.run(["ingest", "--no-such-option"], env=env)
    assert (usage.returncode, usage.stdout) == (2, "")
    assert "No such option" in usage.stderr
    # a run's environment is its own: two homes, each with its own lake and report
    for name in ("a", "b"):
        run_env = {**env, "RISKWARN_HOME": str(tmp_path / name)}
        done = cli.run(_args(path), env=run_env)
        assert done.returncode == 0, done.stderr[-2000:]
        [report] = json.loads(done.stdout)
        assert report["new"] == 2  # each lake new (one store)
        assert (tmp_path / name / "lake" / "incidents").is_dir()
    # a run killed by a signal: its negative, as subprocess gives it; the parent lives on
    killed = cli.run(
        _args(path),
        env={
            **env,
            "RISKWARN_HOME": str(tmp_path / "c"),
            "RISKWARN_TESTING": "1",
            "RISKWARN_INGEST_KILL_BEFORE_RECORD": str(tmp_path / "killed"),
        },
    )
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "killed").exists()
    late = cli.run(_args(path, "--extracted-at", "2024-07-01"), env=env, cwd=tmp_path)
    assert late.returncode == 2 and "is after --as-of" in late.stderr


def test_a_run_over_its_time_is_killed(tmp_path: Path) -> None:
    import fcntl

    from riskwarn.lake.layout import LOCKS

    path = sim_incidents_file(tmp_path / "jan.csv", {0: 1})
    home = tmp_path / "home"
    (home / "lake" / LOCKS).mkdir(parents=True)
    fd = os.open(home / "lake" / LOCKS / "ingest-incidents.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another ingest under way: the run waits for ever
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": url}
    try:
        with ForkedCli(tmp_path / "out") as forked:
            with pytest.raises(subprocess.TimeoutExpired):
                forked.run(_args(path), env=env, timeout=8)
            again = forked.run(["ingest", "--no-such-option"], env=env)
            assert again.returncode == 2
    finally:
        os.close(fd)
