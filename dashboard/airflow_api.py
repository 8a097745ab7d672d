"""Trigger and follow a retrain through Airflow 3's REST API (``/api/v2``, JWT auth).

Credentials come from ``RISKWARN_AIRFLOW_USER`` / ``RISKWARN_AIRFLOW_PASSWORD``; the DAG
id from ``RISKWARN_RETRAIN_DAG`` (default ``train_models``, whose ``domains`` param
selects what to train). Every call has a short timeout so an unreachable Airflow is
reported, not waited for. Checked against a live Airflow 3.3 API server in
``tests/test_airflow_live.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from riskwarn import domains

# (connect, read) seconds: an unreachable Airflow fails fast; a busy one may answer slowly
TIMEOUT_S = (3.0, 15.0)
RETRAIN_DAG = domains.TRAIN_DAG
# what the train_models DAG can train (its DOMAINS; tests/test_airflow_live.py checks)
RETRAIN_DOMAINS = domains.names(trained_by=domains.TRAIN_DAG)


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


def retrain_body(domain: str, requested_by: str, run_id: str | None = None) -> dict[str, Any]:
    """The ``POST .../dagRuns`` body: a run now (no logical date) training ``domain`` only.

    ``logical_date`` is required by Airflow 3's API and may be null; the DAG's ``domains``
    param is a list, so one domain goes as a one-element list. ``run_id``: the run's id,
    chosen by the client so a retried request can find the run an earlier attempt stored.
    """
    body: dict[str, Any] = {
        "logical_date": None,
        "conf": {"domains": [domain], "requested_by": requested_by},
    }
    if run_id is not None:
        body["dag_run_id"] = run_id
    return body


def new_run_id(domain: str) -> str:
    """A fresh, unguessable DAG run id for a retrain of ``domain`` (Airflow's run id
    pattern: letters, digits, ``_.~:+-``)."""
    import secrets
    import time

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"riskwarn-retrain-{domain}-{stamp}-{secrets.token_hex(4)}"


# how long a trigger keeps retrying an Airflow that fails transiently (a 5xx such as
# SQLite's "database is locked" while the DAG processor writes, a dropped connection)
TRIGGER_RETRY_S = 60.0


def _stored_run(
    cfg: AirflowConfig, run_id: str, headers: Mapping[str, str]
) -> dict[str, Any] | None:
    """The DAG run ``run_id`` when Airflow has it, else None (also when Airflow cannot say)."""
    try:
        r = requests.get(
            f"{cfg.base_url}/api/v2/dags/{cfg.dag_id}/dagRuns/{run_id}",
            headers=dict(headers),
            timeout=TIMEOUT_S,
        )
    except requests.RequestException:
        return None
    return dict(r.json()) if r.ok else None


def trigger(
    cfg: AirflowConfig,
    domain: str,
    requested_by: str,
    *,
    retry_s: float = TRIGGER_RETRY_S,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Start a DAG run that retrains ``domain``; returns the DAG run (``dag_run_id``, ``state``).

    Exactly one run per call: the run's id is chosen here (:func:`new_run_id`), so after a
    server error, a dropped connection or a timeout the run is looked up by that id before
    the request is sent again (an attempt whose answer was lost may have stored it), and a
    409 for that id means an earlier attempt stored it. Transient failures are retried with
    back-off for ``retry_s`` seconds, then the last one is raised; a 4xx other than 409
    (wrong password, unknown DAG, bad body) is raised at once.
    """
    import time

    run_id = run_id or new_run_id(domain)
    headers = {"Authorization": f"Bearer {token(cfg)}"}
    url = f"{cfg.base_url}/api/v2/dags/{cfg.dag_id}/dagRuns"
    body = retrain_body(domain, requested_by, run_id)
    deadline = time.monotonic() + retry_s
    delay = 0.5
    while True:
        failure: requests.RequestException
        try:
            # a slow answer may not carry the wait much past ``retry_s``
            left = max(1.0, deadline - time.monotonic())
            timeout = (TIMEOUT_S[0], min(TIMEOUT_S[1], left))
            r = requests.post(url, json=body, headers=headers, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            failure = exc
        else:
            if r.ok:
                return dict(r.json())
            if r.status_code != 409 and r.status_code < 500:
                r.raise_for_status()
            failure = requests.HTTPError(f"{r.status_code} {r.reason} for url: {r.url}", response=r)
        stored = _stored_run(cfg, run_id, headers)
        if stored is not None:
            return stored
        if time.monotonic() + delay > deadline:
            raise failure
        time.sleep(delay)
        delay = min(delay * 2.0, 8.0)


def progress(cfg: AirflowConfig, dag_run_id: str) -> dict[str, Any]:
    """State of a DAG run and of its task instances.

    ``state``, ``conf``, ``tasks`` (task id -> state), ``start_date`` / ``end_date`` (ISO
    text or None, as Airflow reports them) and ``queued_at``. A mapped task (``train``
    over the domains) lists one instance per domain; with one domain its state is that
    instance's.
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
    return {
        "state": body.get("state"),
        "conf": body.get("conf") or {},
        "tasks": tasks,
        "queued_at": body.get("queued_at"),
        "start_date": body.get("start_date"),
        "end_date": body.get("end_date"),
    }


FINISHED = ("success", "failed")  # a DAG run in one of these states will not change


def result(cfg: AirflowConfig, dag_run_id: str, task_id: str = "train") -> dict[str, Any] | None:
    """What the run's training task returned (``riskwarn.pipeline.train_domain``: ``version``,
    ``gate``, ``promoted``, ``mlflow_run_id``), from its XCom; None when it returned nothing.

    The task is mapped over the domains; a retrain from the dashboard trains one domain,
    map index 0.
    """
    r = requests.get(
        f"{cfg.base_url}/api/v2/dags/{cfg.dag_id}/dagRuns/{dag_run_id}/taskInstances/"
        f"{task_id}/xcomEntries/return_value",
        params={"map_index": 0},
        headers={"Authorization": f"Bearer {token(cfg)}"},
        timeout=TIMEOUT_S,
    )
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return xcom_value(r.json().get("value"))


def xcom_value(value: Any) -> dict[str, Any] | None:
    """An XCom's value as Airflow's API returns it (a JSON object, its text, or serde's
    ``{"__classname__": ..., "__data__": ...}`` envelope) as a dict, else None."""
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and "__data__" in value and "__classname__" in value:
        value = value["__data__"]
    return dict(value) if isinstance(value, dict) else None


def run_seconds(prog: Mapping[str, Any], now: Any) -> float | None:
    """Seconds the run has taken: start to end when finished, start to ``now`` otherwise."""
    import pandas as pd

    start = prog.get("start_date")
    if not start:
        return None
    end = prog.get("end_date") or now
    return float((pd.Timestamp(end) - pd.Timestamp(start)).total_seconds())
