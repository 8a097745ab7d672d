"""`promote` / `rollback` against an MLflow server that does not answer, with no
MLFLOW_TRACKING_USERNAME: the old code said only "the MLflow server is used without
credentials" while the server was down; now the unreachable server comes first, the
missing credentials after it (both true). A server that answers, without credentials:
the credentials line alone, as before."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from riskwarn.cli import main

DOWN = "http://alice:S3cret-pw@127.0.0.1:9"  # the discard port: nothing listens


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    for var in ("RISKWARN_STORE_URL", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(var, "x")  # recorded, so that the test's end restores it
        monkeypatch.delenv(var)
    return home


@pytest.fixture
def answering() -> Iterator[str]:
    """An HTTP server that answers every request 401 (a server up, asking for a login)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "argv",
    [["promote", "incidents", "1", "--reason", "x"], ["rollback", "incidents", "--reason", "x"]],
)
def test_an_unreachable_server_is_said_before_the_missing_credentials(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", DOWN)
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    line = lines[0]
    assert "cannot reach the MLflow server at http://alice:***@127.0.0.1:9" in line, line
    assert "Connection refused" in line, line
    assert line.index("cannot reach") < line.index("without credentials"), line
    assert "S3cret" not in line


def test_a_server_that_answers_without_credentials_is_refused_for_them_alone(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answering: str,
) -> None:
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", answering)
    assert main(["rollback", "incidents", "--reason", "x"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: the MLflow server is used without credentials"), line
    assert "cannot reach" not in line
