"""Trigger and follow a retrain through Airflow 3's REST API (``/api/v2``, JWT auth).

Credentials come from ``RISKWARN_AIRFLOW_USER`` / ``RISKWARN_AIRFLOW_PASSWORD``; the DAG
id from ``RISKWARN_RETRAIN_DAG`` (default ``train_models``, whose ``domains`` param
selects what to train). Every call has a short timeout so an unreachable Airflow is
reported, not waited for. Checked against a live Airflow 3.3 API server in
``tests/test_airflow_live.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import requests

# (connect, read) seconds: an unreachable Airflow fails fast; a busy one may answer slowly
TIMEOUT_S = (3.0, 15.0)
RETRAIN_DAG = "train_models"


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
        dag_id=os.environ.get("RISKWARN_RETRAIN_DAG", RETRAIN_DAG),
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


def retrain_body(domain: str, requested_by: str) -> dict[str, Any]:
    """The ``POST .../dagRuns`` body: a run now (no logical date) training ``domain`` only.

    ``logical_date`` is required by Airflow 3's API and may be null; the DAG's ``domains``
    param is a list, so one domain goes as a one-element list.
    """
    return {"logical_date": None, "conf": {"domains": [domain], "requested_by": requested_by}}


def trigger(cfg: AirflowConfig, domain: str, requested_by: str) -> dict[str, Any]:
    """Start a DAG run that retrains ``domain``; returns the DAG run (``dag_run_id``, ``state``)."""
    r = requests.post(
        f"{cfg.base_url}/api/v2/dags/{cfg.dag_id}/dagRuns",
        json=retrain_body(domain, requested_by),
        headers={"Authorization": f"Bearer {token(cfg)}"},
        timeout=TIMEOUT_S,
    )
    r.raise_for_status()
    return dict(r.json())


def progress(cfg: AirflowConfig, dag_run_id: str) -> dict[str, Any]:
    """State of a DAG run and of its task instances (``state``, ``conf``, ``tasks``: id -> state).

    A mapped task (``train`` over the domains) lists one instance per domain; with one
    domain its state is that instance's.
    """
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
    body = run.json()
    return {"state": body.get("state"), "conf": body.get("conf") or {}, "tasks": tasks}
