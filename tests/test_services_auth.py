"""``make up`` (scripts/services.sh): nobody gets in without a login, nothing listens
beyond 127.0.0.1 (issue 13.10).

On the old code Airflow ran its simple auth manager in all-admins mode (anyone on the
host got an admin token from ``/auth/token/login``), MLflow had no login at all, and
the scheduler's and triggerer's log servers listened on 0.0.0.0:8793/8794; later the
MQTT broker took anonymous clients (``allow_anonymous true``).

The services are started for real by the script, in a scratch home and on free ports
(so a running ``make up`` is not disturbed), then stopped; the dashboard's retrain
client (dashboard/airflow_api.py) must still trigger a run with the credentials the
script gives the dashboard.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests

from dashboard import airflow_api

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "services.sh"
SERVICES = [
    "mosquitto",
    "mlflow",
    "airflow-api",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
]
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sessions_of(home: Path) -> set[int]:
    return {int(p.read_text()) for p in (home / "run").glob("*.pid")}


def session_processes(sessions: set[int]) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) in sessions:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def connections(proc: psutil.Process) -> list:  # type: ignore[type-arg]
    """The process's inet sockets ([] if it ended meanwhile: a short-lived worker)."""
    try:
        return list(proc.net_connections("inet"))
    except psutil.Error:
        return []


def wait_for(check, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = check()
        except requests.RequestException:
            result = None
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"{what} not within {timeout_s:.0f} s")


def _replay_home(home: Path) -> None:
    """A store whose one published run is of 2024: a replay home, whose DAGs ``up``
    creates paused (riskwarn.orchestration.pause_on_replay), so the scheduler runs
    nothing on its own. (``AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True`` in the
    environment, as before, is overridden by services.sh since the replay pause: about
    20 ingest, training, scoring and maintenance tasks ran during the test, load 15,
    and ``down`` waited for them.)"""
    import numpy as np
    import pandas as pd

    from riskwarn.scoring import forecasts_frame, write_run
    from riskwarn.settings import Settings
    from riskwarn.store import Store

    home.mkdir(mode=0o700)
    store = Store.from_settings(Settings(home=home))
    store.upgrade()
    origin = pd.Timestamp("2024-01-01T16:00Z")
    units = pd.DataFrame({"unit_id": ["c1"], "county_code": ["A"], "township_code": ["A1"]})
    write_run(
        store,
        domain="incidents",
        origin=origin,
        forecasts=forecasts_frame(units, np.array([0.1]), "incidents", origin),
        warnings=pd.DataFrame(),
        model_name_=None,
        model_version=None,
        data_version_="t",
        airflow_run_id=None,
    )
    store.close()


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_services_sign_everyone_in_and_listen_on_loopback_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    airflow_port, mlflow_port, mqtt_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "RISKWARN_HOME": str(home),
        "RISKWARN_AIRFLOW_PORT": str(airflow_port),
        "RISKWARN_MLFLOW_PORT": str(mlflow_port),
        "RISKWARN_MQTT_PORT": str(mqtt_port),
        "RISKWARN_SERVICE_WAIT_S": "900",
    }
    for name in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI", "RISKWARN_AIRFLOW_DB_URL"):
        env.pop(name, None)
    _replay_home(home)
    sessions: set[int] = set()
    try:
        up = subprocess.run(
            ["bash", str(SCRIPT), "up", *SERVICES],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        sessions = sessions_of(home)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Airflow's DAGs are paused" in up.stdout, up.stdout  # nothing runs on its own

        secrets = home / "secrets"
        passwords = json.loads((secrets / "airflow_passwords.json").read_text())
        for f in secrets.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f

        # every socket the services listen on is on the loopback interface
        procs = session_processes(sessions)
        assert len(procs) >= len(SERVICES)
        listening = {
            (pid, c.laddr.ip, c.laddr.port)
            for pid, conns in ((p.pid, connections(p)) for p in procs)
            for c in conns
            if c.status == psutil.CONN_LISTEN
        }
        assert {port for *_, port in listening} >= {airflow_port, mlflow_port, mqtt_port}
        assert all(ip in LOOPBACK for _, ip, _ in listening), listening

        # Airflow: no token without a password, no API call without a token
        base = f"http://127.0.0.1:{airflow_port}"
        wrong = requests.post(
            f"{base}/auth/token", json={"username": "admin", "password": "admin"}, timeout=30
        )
        assert wrong.status_code == 401
        login = requests.get(f"{base}/auth/token/login", allow_redirects=False, timeout=30)
        assert "_token" not in login.cookies and "access_token" not in login.text
        assert requests.get(f"{base}/api/v2/dags", timeout=30).status_code == 401

        # the dashboard's client, with the credentials the script gives the dashboard
        cfg = airflow_api.AirflowConfig(base, "dashboard", passwords["dashboard"], "train_models")
        headers = {"Authorization": f"Bearer {airflow_api.token(cfg)}"}
        wait_for(
            lambda: (
                requests.get(f"{base}/api/v2/dags/train_models", headers=headers, timeout=30).ok
            ),
            600,
            "the DAG processor registering train_models",
        )
        try:
            run = airflow_api.trigger(cfg, "incidents", "test")
        except requests.HTTPError as exc:  # say why: the API server's own log
            log = (home / "logs" / "airflow-api.log").read_text(errors="replace")
            pytest.fail(f"{exc}\n--- airflow-api.log (end) ---\n{log[-6000:]}")
        assert run["dag_run_id"]

        # MLflow: basic auth on every request, including moving an alias
        mbase = f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow"
        search = f"{mbase}/registered-models/search"
        assert requests.get(search, timeout=30).status_code == 401
        alias = requests.post(
            f"{mbase}/registered-models/alias",
            json={"name": "riskwarn-incidents", "alias": "champion", "version": "1"},
            timeout=30,
        )
        assert alias.status_code == 401
        from riskwarn.service_auth import mlflow_admin_password
        from riskwarn.settings import Settings

        admin = ("admin", mlflow_admin_password(Settings(home=home)))
        assert requests.get(search, auth=admin, timeout=30).status_code == 200
        assert requests.get(search, auth=("admin", "password1234"), timeout=30).status_code == 401

        # the MQTT broker: no anonymous client, no wrong password (tests/test_stream_auth.py
        # checks what each account may do)
        from riskwarn.stream.auth import anonymous_accepted, read_passwords
        from riskwarn.stream.replay import connect

        assert anonymous_accepted("127.0.0.1", mqtt_port) is False
        mqtt_passwords = read_passwords(home)
        for user in ("stream", "gateway"):
            with pytest.raises(RuntimeError, match="Not authorized"):
                connect("127.0.0.1", mqtt_port, username=user, password="password1234")
            client = connect("127.0.0.1", mqtt_port, username=user, password=mqtt_passwords[user])
            client.loop_stop()
            client.disconnect()
    finally:
        sessions |= sessions_of(home)
        subprocess.run(["bash", str(SCRIPT), "down"], env=env, capture_output=True, timeout=300)
    assert not session_processes(sessions)
