"""A live Airflow (API server, DAG processor, scheduler; LocalExecutor on PostgreSQL).

``scripts/backfill_check.sh`` pays Airflow's start-up once for two checks:

* **Backfill** (issue 5): the original forecasts of score_and_warn for a past week
  (2024-12-16..22 of the simulated small city), then the documented one-command
  ``airflow backfill create`` of that week run by the scheduler: forecasts, warnings
  and runs identical row for row, no duplicates.
* **Retrain from the dashboard** (issue 6): ``dashboard.airflow_api`` signs in
  (JWT from ``/auth/token``, simple auth manager with a password user), triggers
  ``train_models`` for incidents and follows the run to ``running``.

The module fixture runs the script once; the tests read what it wrote (pickled
snapshots, ``retrain.json``) and its output. The last tests need no Airflow: the
client's requests, checked with a fake ``requests``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard import airflow_api

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "backfill_check.sh"
WEEK = pd.date_range("2024-12-16", "2024-12-22", freq="D", tz="Asia/Shanghai").tz_convert("UTC")
# re-publishing a run stamps it again; nothing else may change (forecasts and warnings
# carry no volatile column: an unchanged warning is not even touched)
VOLATILE_RUN_COLUMNS = ["published_at"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("backfill")
    # its own process group: at the time limit the script gets TERM, so that its EXIT trap
    # stops the Airflow processes it started (own sessions) and drops the database; a
    # plain timeout killed bash alone and left the API server, scheduler and DAG processor
    # running for the rest of the suite (2026-12-05)
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        log, _ = proc.communicate(timeout=1750)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            log, _ = proc.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
        log += "\nbackfill_check.sh ran over 1750 s: stopped"
    return {"out": out, "rc": proc.returncode, "log": log}


def _snapshot(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_pickle(folder / f"{name}.pkl") for name in ("forecasts", "warnings", "runs")
    }


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(1800)
def test_backfill_of_a_week_reproduces_the_original_forecasts(live: dict[str, Any]) -> None:
    log = live["log"]
    assert live["rc"] == 0, log[-5000:]
    original, after = _snapshot(live["out"] / "original"), _snapshot(live["out"] / "after")
    # seven daily runs at the week's local midnights, every one re-run by the backfill
    assert sorted(pd.to_datetime(original["runs"]["origin"], utc=True)) == list(WEEK)
    backfilled = re.findall(r"^backfill run (\S+) \S+: success \(backfill, .*try 2\)$", log, re.M)
    assert sorted(pd.Timestamp(t) for t in backfilled) == list(WEEK), log[-3000:]
    assert (original["runs"]["published_at"] != after["runs"]["published_at"]).all()
    # the week has content worth comparing: every cell of the city, warnings each day
    assert len(original["forecasts"]) == original["runs"]["n_rows"].sum() > 7 * 1000
    assert original["warnings"]["origin"].nunique() == 7
    # identical row for row
    pd.testing.assert_frame_equal(original["forecasts"], after["forecasts"], check_exact=True)
    pd.testing.assert_frame_equal(original["warnings"], after["warnings"], check_exact=True)
    pd.testing.assert_frame_equal(
        original["runs"].drop(columns=VOLATILE_RUN_COLUMNS),
        after["runs"].drop(columns=VOLATILE_RUN_COLUMNS),
        check_exact=True,
    )
    # and no duplicates: one forecast per run and unit, one warning per unit and day
    f, w = after["forecasts"], after["warnings"]
    assert not f.duplicated(["run_id", "unit_id"]).any()
    assert not w.duplicated(["warning_id"]).any()
    assert not w.duplicated(["domain", "unit_id", "origin"]).any()
    assert after["runs"]["status"].value_counts().to_dict() == {"superseded": 6, "published": 1}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(1800)
def test_dashboard_retrain_trigger_follows_a_live_run(live: dict[str, Any]) -> None:
    assert live["rc"] == 0, live["log"][-5000:]
    report = json.loads((live["out"] / "retrain.json").read_text())
    assert report["reachable"] is True
    assert report["dag_id"] == "train_models"
    # a real sign-in: JWT for the right password only; the API refuses no token
    assert report["status_wrong_password"] == 401
    assert report["token_parts"] == 3
    assert report["status_without_token"] == 401
    assert report["status_with_token"] == 200
    run = report["run"]
    assert run["dag_run_id"] and run["run_type"] == "manual"
    assert run["conf"]["domains"] == ["incidents"]
    states = [p["state"] for p in report["progress"]]
    order = ["queued", "running", "success"]
    assert set(states) <= set(order) and states == sorted(states, key=order.index), states
    last = report["progress"][-1]
    assert last["conf"]["domains"] == ["incidents"]
    assert last["tasks"]["domains"] == "success"
    assert last["tasks"]["train"] in ("running", "success"), report["progress"]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(1800)
def test_every_started_process_is_stopped_and_the_database_dropped(live: dict[str, Any]) -> None:
    import sqlalchemy as sa

    from tests.conftest import PG_ADMIN_URL

    log = live["log"]
    assert "all started processes stopped" in log and "ORPHANS LEFT" not in log, log[-3000:]
    names = re.findall(r"migrate metadata DB (\S+)", log)
    assert len(names) == 1
    engine = sa.create_engine(PG_ADMIN_URL)
    with engine.connect() as con:
        left = con.execute(
            sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": names[0]}
        ).scalar_one()
    engine.dispose()
    assert left == 0


# --------------------------------------------------------------------------- no Airflow


class _Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code, self._body, self.ok = status, body, status < 400

    def json(self) -> dict[str, Any]:
        return self._body

    def raise_for_status(self) -> None:
        if not self.ok:
            import requests

            raise requests.HTTPError(f"{self.status_code}", response=self)  # type: ignore[arg-type]


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """Record the client's requests; answer like Airflow 3's API for one DAG run."""
    calls: list[tuple[str, str, Any]] = []

    def post(url: str, json: Any = None, **kw: Any) -> _Response:
        calls.append(("POST", url, json))
        if url.endswith("/auth/token"):
            ok = json == {"username": "ana", "password": "pw"}
            return _Response(201, {"access_token": "a.b.c"}) if ok else _Response(401, {})
        return _Response(200, {"dag_run_id": "manual__1", "state": "queued", "conf": json["conf"]})

    def get(url: str, headers: dict[str, str] | None = None, **kw: Any) -> _Response:
        calls.append(("GET", url, headers))
        if url.endswith("/taskInstances"):
            tis = [{"task_id": "domains", "state": "success"}, {"task_id": "train", "state": None}]
            return _Response(200, {"task_instances": tis, "total_entries": 2})
        if "/xcomEntries/" in url:
            if url.split("/dagRuns/")[1].startswith("manual__none"):
                return _Response(404, {"detail": "XCom entry not found"})
            assert kw.get("params") == {"map_index": 0}
            value = {
                "domain": "disputes",
                "version": "7",
                "gate": "gate FAIL: ...",
                "promoted": False,
            }
            return _Response(200, {"key": "return_value", "value": value})
        return _Response(
            200,
            {
                "state": "running",
                "conf": {"domains": ["disputes"]},
                "start_date": "2026-12-03T01:00:00Z",
                "end_date": None,
                "queued_at": "2026-12-03T00:59:58Z",
            },
        )

    monkeypatch.setattr(airflow_api.requests, "post", post)
    monkeypatch.setattr(airflow_api.requests, "get", get)
    monkeypatch.setenv("RISKWARN_AIRFLOW_USER", "ana")
    monkeypatch.setenv("RISKWARN_AIRFLOW_PASSWORD", "pw")
    monkeypatch.delenv("RISKWARN_RETRAIN_DAG", raising=False)
    return calls


def test_trigger_posts_the_domain_as_the_train_dags_domains_param(fake_api) -> None:
    cfg = airflow_api.config("http://af:8080/")
    run = airflow_api.trigger(cfg, "disputes", "ana")
    assert run["dag_run_id"] == "manual__1"
    (_, token_url, creds), (_, url, body) = fake_api
    assert token_url == "http://af:8080/auth/token" and creds["username"] == "ana"
    assert url == "http://af:8080/api/v2/dags/train_models/dagRuns"
    # Airflow 3 requires logical_date (null = now); train_models reads the list `domains`
    run_id = body.pop("dag_run_id")
    assert body == {"logical_date": None, "conf": {"domains": ["disputes"], "requested_by": "ana"}}
    # the client names the run, so a retry can find what an earlier attempt stored
    assert re.fullmatch(r"riskwarn-retrain-disputes-\d{8}T\d{6}Z-[0-9a-f]{8}", run_id)


def test_progress_reads_run_and_task_states_with_a_bearer_token(fake_api) -> None:
    prog = airflow_api.progress(airflow_api.config("http://af:8080"), "manual__1")
    assert prog == {
        "state": "running",
        "conf": {"domains": ["disputes"]},
        "tasks": {"domains": "success", "train": None},
        "start_date": "2026-12-03T01:00:00Z",
        "end_date": None,
        "queued_at": "2026-12-03T00:59:58Z",
    }
    now = pd.Timestamp("2026-12-03T01:03:30Z")
    assert airflow_api.run_seconds(prog, now) == 210.0  # still running: until now
    done = {**prog, "end_date": "2026-12-03T01:02:00Z"}
    assert airflow_api.run_seconds(done, now) == 120.0
    assert airflow_api.run_seconds({**prog, "start_date": None}, now) is None
    gets = [c for c in fake_api if c[0] == "GET"]
    assert [u for _, u, _ in gets] == [
        "http://af:8080/api/v2/dags/train_models/dagRuns/manual__1",
        "http://af:8080/api/v2/dags/train_models/dagRuns/manual__1/taskInstances",
    ]
    assert all(h == {"Authorization": "Bearer a.b.c"} for _, _, h in gets)


def test_wrong_password_raises_instead_of_triggering(fake_api, monkeypatch) -> None:
    import requests

    monkeypatch.setenv("RISKWARN_AIRFLOW_PASSWORD", "nope")
    with pytest.raises(requests.HTTPError):
        airflow_api.trigger(airflow_api.config("http://af:8080"), "incidents", "ana")
    assert [m for m, _, _ in fake_api] == ["POST"]  # the token request only


def test_retrain_dag_is_a_dag_of_the_repository() -> None:
    dag_file = ROOT / "dags" / f"{airflow_api.RETRAIN_DAG}.py"
    assert dag_file.is_file()
    assert f'dag_id="{airflow_api.RETRAIN_DAG}"' in dag_file.read_text()
    assert '"domains": Param(' in dag_file.read_text()


def test_result_reads_the_training_tasks_return_value(fake_api) -> None:
    cfg = airflow_api.config("http://af:8080")
    out = airflow_api.result(cfg, "manual__1")
    assert out == {
        "domain": "disputes",
        "version": "7",
        "gate": "gate FAIL: ...",
        "promoted": False,
    }
    url = [u for m, u, _ in fake_api if m == "GET"][-1]
    assert url.endswith(
        "/dags/train_models/dagRuns/manual__1/taskInstances/train/xcomEntries/return_value"
    )
    assert airflow_api.result(cfg, "manual__none") is None  # the task returned nothing


def test_xcom_values_in_every_form_airflow_returns_them() -> None:
    value = {"version": "3", "promoted": True}
    assert airflow_api.xcom_value(value) == value
    assert airflow_api.xcom_value(json.dumps(value)) == value
    assert (
        airflow_api.xcom_value(
            {"__classname__": "builtins.dict", "__version__": 1, "__data__": value}
        )
        == value
    )
    assert airflow_api.xcom_value("not json") is None and airflow_api.xcom_value([1]) is None


def test_the_dashboard_offers_exactly_the_domains_train_models_can_train(tmp_path) -> None:
    """The retrain form lists exactly what the train_models DAG trains (both come from the
    domain registry; the DAG's ``DOMAINS`` is read from the parsed DAG file itself).

    The DAG file is run in a child process with its own AIRFLOW_HOME: importing Airflow here
    would configure this pytest process's Airflow against the wrong metadata database before
    tests/test_dags.py sets its own (CI failed with "no such table: dag" that way)."""
    import os
    import sys

    code = (
        "import json, runpy; "
        f"m = runpy.run_path({str(ROOT / 'dags' / 'train_models.py')!r}); "
        "print(json.dumps(list(m['DOMAINS'])))"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dag_domains = json.loads(out.stdout.strip().splitlines()[-1])
    assert tuple(dag_domains) == tuple(airflow_api.RETRAIN_DOMAINS)
    assert dag_domains, "train_models trains no domain"
