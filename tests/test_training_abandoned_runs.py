"""An MLflow run left RUNNING by a training killed with ``kill -9`` is ended by the next
training of its domain, never a run whose owner lives (real processes, real SIGKILL, the
real MLflow store of a temporary home; tests/train_child.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests import test_training_spill as base
from tests.conftest import TEST_PSEUDONYM_KEY
from tests.test_training_spill import ROOT, Child, _new_home, _until

lake_base = base.lake_base  # the fixtures, shared: the small simulated city's lake
children = base.children

# A process that owns a RUNNING run of riskwarn-geohazard and lives on (as a notebook
# logging beside the trainings would): tagged as log_training_run tags its runs.
LIVE_OWNER = """
import sys, time
import mlflow
uri, marker, tagged = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("riskwarn-geohazard")
with mlflow.start_run(run_name="live") as run:
    if tagged:
        try:
            from models.registry import owner_tags
            mlflow.set_tags(owner_tags("geohazard"))
        except ImportError:  # the code before owner tags: a plain run
            pass
    open(marker, "w").write(run.info.run_id)
    time.sleep(600)
"""


def _client(home: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_a_killed_trainings_run_is_ended_by_the_next_and_a_live_owners_is_not(
    lake_base: Path, tmp_path: Path, children: list[Child]
) -> None:
    home, spill = _new_home(lake_base, tmp_path)
    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    # the experiment as a training creates it (its artifacts in the home), made here first:
    # two processes creating it at once race in MLflow (the loser's run goes to "Default")
    _client(home).create_experiment(
        "riskwarn-geohazard", artifact_location=(home / "mlartifacts").resolve().as_uri()
    )
    # two live owners: one tagged as riskwarn tags (same host: its pid is seen alive), one
    # with no owner recorded (nothing proves it dead)
    live: list[tuple[subprocess.Popen[str], Path]] = []
    for n, tagged in enumerate(("1", "0")):
        marker = tmp_path / f"live{n}.run"
        live.append(
            (
                subprocess.Popen(
                    [sys.executable, "-c", LIVE_OWNER, uri, str(marker), tagged],
                    cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
                marker,
            )
        )
    try:
        for proc, marker in live:
            _until(lambda m=marker, p=proc: m.exists() or p.poll() is not None, "a live run")
            assert marker.exists(), proc.communicate()[1][-2000:]
        live_ids = [m.read_text() for _, m in live]

        first = Child(home, "geohazard", spill, "first", pause=("mlflow_run",))
        children.append(first)
        first.wait_at("mlflow_run")
        client = _client(home)
        running = {r.info.run_id for r in client.search_runs(
            [client.get_experiment_by_name("riskwarn-geohazard").experiment_id],
            filter_string="attributes.status = 'RUNNING'",
        )}  # fmt: skip
        every = client.search_runs(
            [client.get_experiment_by_name("riskwarn-geohazard").experiment_id]
        )
        assert len(running) == 3, [(r.info.run_id, r.info.status, r.data.tags) for r in every]
        (killed_id,) = running - set(live_ids)
        first.kill()  # SIGKILL: its run cannot be ended by itself
        assert first.proc.returncode == -9
        assert client.get_run(killed_id).info.status == "RUNNING"

        second = Child(home, "geohazard", spill, "second")
        children.append(second)
        result = second.result()
        killed = client.get_run(killed_id)
        assert killed.info.status == "KILLED", "the killed training's run still shows RUNNING"
        assert result["abandoned_runs_ended"] == [killed_id]
        why = killed.data.tags["riskwarn.abandoned"]
        assert f"pid {first.proc.pid}" in why and "no longer runs" in why, why
        assert f"pid {second.proc.pid}" in killed.data.tags["riskwarn.abandoned_found"]
        assert killed.data.tags["riskwarn.owner.pid"] == str(first.proc.pid)
        assert killed.data.tags["riskwarn.owner.lock"].endswith("run/train-geohazard.lock")
        new = client.get_run(result["mlflow_run_id"])
        assert new.info.status == "FINISHED"
        assert new.data.tags["riskwarn.owner.pid"] == str(second.proc.pid)
        for run_id in live_ids:  # never a run whose owner lives (or may)
            assert client.get_run(run_id).info.status == "RUNNING"

        # what a data scientist sees: `riskwarn runs geohazard`
        out = subprocess.run(
            [sys.executable, "-m", "riskwarn.cli", "runs", "geohazard"],
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "RISKWARN_HOME": str(home),
                "RISKWARN_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY,
            },
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lines = {ln.split()[1]: ln for ln in out.splitlines()}
        assert set(lines) == set(live_ids), out
        assert ": alive (" in lines[live_ids[0]] and ": unknown (" in lines[live_ids[1]], out
    finally:
        for proc, _ in live:
            proc.kill()
            proc.communicate()


def test_owner_states_trust_the_pid_start_and_the_lock() -> None:
    """A pid reused by another process is not the owner; another host's run is ended only
    when it was started under the training lock the caller holds."""
    from models.registry import owner_tags, run_owner_state
    from riskwarn.spill import process_identity

    me = {f"riskwarn.owner.{k}": v for k, v in process_identity().items()}
    assert run_owner_state(me, None)[0] == "alive"
    assert owner_tags("geohazard") == me  # no training lock held here
    reused = {**me, "riskwarn.owner.pid_start": str(int(me["riskwarn.owner.pid_start"]) - 1)}
    assert run_owner_state(reused, None)[0] == "gone"
    rebooted = {**me, "riskwarn.owner.boot_id": "another-boot"}
    assert run_owner_state(rebooted, None)[0] == "gone"
    other = {**me, "riskwarn.owner.host": "elsewhere", "riskwarn.owner.lock": "/h/run/x.lock"}
    assert run_owner_state(other, None)[0] == "unknown"
    assert run_owner_state(other, "/h/run/y.lock")[0] == "unknown"
    assert run_owner_state(other, "/h/run/x.lock")[0] == "gone"
    # a live process on this host under the lock "held" by the caller: still alive
    assert run_owner_state({**me, "riskwarn.owner.lock": "/l"}, "/l")[0] == "alive"
    assert run_owner_state({}, "/l")[0] == "unknown"
