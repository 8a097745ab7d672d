"""`scripts/services.sh up` on a home whose data is a replay (the demo's) starts its DAGs
paused (review r100 D3: `make up` on the demo's home ran about 20 DAGs at once on the wall
clock and published today's runs beside the 2024 replay)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from riskwarn import orchestration as orch
from riskwarn.scoring import forecasts_frame, write_run
from riskwarn.store import Store

DOMAIN = "incidents"


def _publish(store: Store, origin: pd.Timestamp) -> None:
    units = pd.DataFrame({"unit_id": ["c1"], "county_code": ["A"], "township_code": ["A1"]})
    write_run(
        store,
        domain=DOMAIN,
        origin=origin,
        forecasts=forecasts_frame(units, np.array([0.1]), DOMAIN, origin),
        warnings=pd.DataFrame(),
        model_name_=None,
        model_version=None,
        data_version_="t",
        airflow_run_id=None,
    )


def test_replay_origin_is_the_newest_run_when_it_is_old(settings):
    assert orch.replay_origin(settings) is None  # no store yet
    store = Store.from_settings(settings)
    store.upgrade()
    assert orch.replay_origin(settings) is None  # no run
    old = pd.Timestamp("2024-01-01T16:00Z")
    _publish(store, old)
    assert orch.replay_origin(settings) == old.to_pydatetime()
    now = datetime(2024, 1, 10, tzinfo=UTC)  # nine days after: live
    assert orch.replay_origin(settings, now=now) is None
    recent = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(days=1)
    _publish(store, recent)
    assert orch.replay_origin(settings) is None


def test_up_pauses_every_dag_of_a_replay_home(settings):
    orch.migrate(settings)
    env = orch.airflow_env(settings)
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    subprocess.run(
        [orch.airflow_bin(), "dags", "reserialize"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    db = orch.airflow_home(settings) / "airflow.db"

    def paused() -> dict[str, int]:
        with sqlite3.connect(db) as conn:
            return dict(conn.execute("select dag_id, is_paused from dag").fetchall())

    assert paused() and not any(paused().values())  # what the demo leaves
    store = Store.from_settings(settings)
    store.upgrade()
    _publish(store, pd.Timestamp("2024-01-01T16:00Z"))

    said = orch.pause_on_replay(settings, env={"RISKWARN_LIVE_SCHEDULES": "1"})
    assert "RISKWARN_LIVE_SCHEDULES=1" in said and not any(paused().values())

    said = orch.pause_on_replay(settings, env={})
    assert "replay" in said and "2024-01-01 16:00Z" in said
    assert all(paused().values()), paused()
    assert orch.airflow_env(settings)["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"

    # live data again: nothing paused by up, new DAGs created unpaused
    _publish(store, pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=2))
    assert orch.pause_on_replay(settings, env={}) == ""
    assert orch.airflow_env(settings)["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"


SERVICES = Path(__file__).resolve().parents[1] / "scripts" / "services.sh"


def _services(settings, *args: str, live: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RISKWARN_"))}
    env["RISKWARN_HOME"] = str(settings.home)
    if live:
        env["RISKWARN_LIVE_SCHEDULES"] = "1"
    done = subprocess.run(
        ["bash", str(SERVICES), *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_first_up_of_a_replay_home_creates_its_dags_paused_and_live_schedules_unpause(settings):
    # review 2026-12-05: services.sh read AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION
    # (through airflow_env.sh) before pause_on_replay wrote its marker, so the first `up`
    # of a restored or demo home (no DAG stored yet) created every DAG unpaused while
    # saying they were paused; and RISKWARN_LIVE_SCHEDULES=1 after a paused `up` left them
    # all paused
    settings.home.chmod(0o700)
    store = Store.from_settings(settings)
    store.upgrade()
    _publish(store, pd.Timestamp("2024-01-01T16:00Z"))
    store.close()
    db = orch.airflow_home(settings) / "airflow.db"

    def stored() -> list[tuple[str, int, str]]:
        """(dag_id, is_paused, DAG file name) of every DAG the dag-processor stored."""
        if not db.exists():
            return []
        with sqlite3.connect(db) as conn:
            try:
                rows = conn.execute("select dag_id, is_paused, fileloc from dag").fetchall()
            except sqlite3.OperationalError:  # not migrated yet
                return []
        return [(d, p, Path(f or "").name) for d, p, f in rows]

    def paused() -> dict[str, int]:
        return {d: p for d, p, _ in stored()}

    dag_files = {p.name for p in orch.DAGS_FOLDER.glob("*.py")}
    try:
        said = _services(settings, "up", "airflow-dag-processor")
        assert "Airflow's DAGs are paused" in said
        # the dag-processor stores the DAGs, every DAG of a file in one transaction
        # (Airflow's update_dag_parsing_results_in_db): wait until every DAG file of the
        # folder has its DAGs stored, checking each DAG paused as it appears (the wait
        # was for 4 equal counts 5 s apart: 15-20 s after the last file)
        deadline = time.monotonic() + 420
        while True:
            now = stored()
            assert all(p for _, p, _ in now), {d for d, p, _ in now if not p}
            if {f for *_, f in now} >= dag_files or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert {f for *_, f in now} >= dag_files, (dag_files, now)  # every DAG file parsed
        assert len(now) > 5, now
        assert all(paused().values())

        # the override after a paused start: the schedules run, every DAG unpaused
        said = _services(settings, "up", "airflow-dag-processor", live=True)
        assert not any(paused().values()), paused()
        assert "RISKWARN_LIVE_SCHEDULES=1" in said and "are unpaused" in said
        assert not orch.replay_pause_marker(settings).exists()
    finally:
        _services(settings, "down", "airflow-dag-processor")
