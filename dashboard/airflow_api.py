"""Trigger and follow a retrain through Airflow 3's REST API (``/api/v2``, JWT auth).

Credentials come from ``RISKWARN_AIRFLOW_USER`` / ``RISKWARN_AIRFLOW_PASSWORD``; the DAG
id from ``RISKWARN_RETRAIN_DAG`` (default ``riskwarn_train``). Every call has a short
timeout so an unreachable Airflow is reported, not waited for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import requests

TIMEOUT_S = 3.0


@dataclass(frozen=True)
class AirflowConfig:
    """Where Airflow is and how to sign in."""

    base_url: str
    username: str
    password: str
    dag_id: str


def config(base_url: str) -> AirflowConfig:
    """Configuration from the settings' API URL and the environment."""
    return AirflowConfig(
        base_url=base_url.rstrip("/"),
        username=os.environ.get("RISKWARN_AIRFLOW_USER", "admin"),
        password=os.environ.get("RISKWARN_AIRFLOW_PASSWORD", "admin"),
        dag_id=os.environ.get("RISKWARN_RETRAIN_DAG", "riskwarn_train"),
    )


def reachable(cfg: AirflowConfig) -> bool:
    """Whether the API server answers its health endpoint."""
    try:
        r = requests.get(f"{cfg.base_url}/api/v2/monitor/health", timeout=TIMEOUT_S)
    except requests.RequestException:
        return False
    return r.ok


def token(cfg: AirflowConfig) -> str:
    """A JWT from ``/auth/token`` (simple auth manager / FAB both accept this form)."""
    r = requests.post(
        f"{cfg.base_url}/auth/token",
        json={"username": cfg.username, "password": cfg.password},
        timeout=TIMEOUT_S,
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def trigger(cfg: AirflowConfig, domain: str, requested_by: str) -> dict[str, Any]:
    """Start a DAG run that retrains ``domain``; returns the DAG run (``dag_run_id``, ``state``)."""
    r = requests.post(
        f"{cfg.base_url}/api/v2/dags/{cfg.dag_id}/dagRuns",
        json={"logical_date": None, "conf": {"domain": domain, "requested_by": requested_by}},
        headers={"Authorization": f"Bearer {token(cfg)}"},
        timeout=TIMEOUT_S,
    )
    r.raise_for_status()
    return dict(r.json())


def progress(cfg: AirflowConfig, dag_run_id: str) -> dict[str, Any]:
    """State of a DAG run and of its task instances (``state``, ``tasks``: id -> state)."""
    headers = {"Authorization": f"Bearer {token(cfg)}"}
    run = requests.get(
        f"{cfg.base_url}/api/v2/dags/{cfg.dag_id}/dagRuns/{dag_run_id}",
        headers=headers,
        timeout=TIMEOUT_S,
    )
    run.raise_for_status()
    tis = requests.get(
        f"{cfg.base_url}/api/v2/dags/{cfg.dag_id}/dagRuns/{dag_run_id}/taskInstances",
        headers=headers,
        timeout=TIMEOUT_S,
    )
    tis.raise_for_status()
    tasks = {ti["task_id"]: ti.get("state") for ti in tis.json().get("task_instances", [])}
    return {"state": run.json().get("state"), "tasks": tasks}
