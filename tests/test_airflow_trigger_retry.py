"""A retrain trigger survives Airflow's transient failures and starts exactly one run.

CI once failed on ``POST /api/v2/dags/train_models/dagRuns`` answering 500 right after the
DAG processor registered the DAG (SQLite metadata DB under load). The dashboard's retrain
button and ``scripts/retrain_follow.py`` go through :func:`dashboard.airflow_api.trigger`,
which now names the run itself, looks it up after a failure and retries with back-off.

A real HTTP server on 127.0.0.1 plays Airflow's API here, because the failures cannot be
produced on demand in a real Airflow: a 500 before storing the run, a 500 after storing
it (the answer lost), a dropped connection, a 4xx. The happy path against the real
Airflow is in tests/test_services_auth.py and tests/test_airflow_live.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from dashboard import airflow_api


class FlakyAirflow:
    """Airflow's token and dagRuns endpoints with a script of failures for the POSTs."""

    def __init__(self, script: list[str]) -> None:
        # each POST to dagRuns takes the next step: "ok", "500" (nothing stored),
        # "500-stored" (stored, then 500), "drop" (stored, connection closed), "400"
        self.script = list(script)
        self.runs: dict[str, dict[str, Any]] = {}
        self.posts = 0
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any] | None:
        if method == "POST" and path == "/auth/token":
            return 201, {"access_token": "a.b.c"}
        prefix = "/api/v2/dags/train_models/dagRuns"
        if method == "GET" and path.startswith(prefix + "/"):
            run = self.runs.get(path[len(prefix) + 1 :])
            return (200, run) if run else (404, {"detail": "DagRun not found"})
        if method == "POST" and path == prefix:
            with self.lock:
                self.posts += 1
                step = self.script.pop(0) if self.script else "ok"
                run_id = body["dag_run_id"]
                if step == "500":
                    return 500, {"detail": "Internal Server Error"}
                if step == "400":
                    return 400, {"detail": "bad"}
                if run_id in self.runs:
                    return 409, {"detail": f"DAG Run with run_id: `{run_id}` already exists"}
                self.runs[run_id] = {"dag_run_id": run_id, "state": "queued", "conf": body["conf"]}
                if step == "500-stored":
                    return 500, {"detail": "Internal Server Error"}
                if step == "drop":
                    return None
                return 200, self.runs[run_id]
        return 404, {"detail": "not found"}


@pytest.fixture
def airflow(request: pytest.FixtureRequest) -> Iterator[tuple[FlakyAirflow, str]]:
    fake = FlakyAirflow(request.param)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            answer = fake.handle(method, self.path, body)
            if answer is None:  # the run was stored; the answer is lost
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, payload = answer
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _cfg(base: str) -> airflow_api.AirflowConfig:
    return airflow_api.AirflowConfig(base, "dashboard", "pw", "train_models")


@pytest.mark.parametrize(
    "airflow",
    [["500", "500", "ok"], ["500-stored"], ["drop"], ["500", "drop"]],
    indirect=True,
    ids=["500-twice", "stored-then-500", "stored-then-dropped", "500-then-dropped"],
)
def test_transient_failures_start_exactly_one_run(airflow: tuple[FlakyAirflow, str]) -> None:
    fake, base = airflow
    run = airflow_api.trigger(_cfg(base), "incidents", "ana", retry_s=20)
    assert list(fake.runs) == [run["dag_run_id"]]  # one run, the one returned
    assert run["conf"] == {"domains": ["incidents"], "requested_by": "ana"}
    assert not fake.script  # every scripted failure was met and got past


@pytest.mark.parametrize("airflow", [["500"] * 100], indirect=True, ids=["always-500"])
def test_a_lasting_failure_is_raised_after_the_retry_time(
    airflow: tuple[FlakyAirflow, str],
) -> None:
    fake, base = airflow
    with pytest.raises(requests.HTTPError, match="500"):
        airflow_api.trigger(_cfg(base), "incidents", "ana", retry_s=1.2)
    assert 2 <= fake.posts <= 4 and not fake.runs  # retried with back-off, nothing stored


@pytest.mark.parametrize("airflow", [["400"]], indirect=True, ids=["400"])
def test_a_client_error_is_raised_at_once(airflow: tuple[FlakyAirflow, str]) -> None:
    fake, base = airflow
    with pytest.raises(requests.HTTPError, match="400"):
        airflow_api.trigger(_cfg(base), "incidents", "ana", retry_s=20)
    assert fake.posts == 1 and not fake.runs
