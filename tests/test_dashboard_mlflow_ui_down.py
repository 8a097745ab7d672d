"""The models page's MLflow links point at the tracking server, which ``make demo`` never
starts (it reads MLflow's SQLite file; only ``make up`` serves the UI): the links opened
nothing and the page never said why (review of 2026-12-06). Beside them the page now says
that the server is not running and how to start it (en + zh), from one short cached
HTTP probe (no SQLAlchemy in the dashboard)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

NAME = "riskwarn-incidents"


@pytest.fixture
def answering_server() -> Iterator[str]:
    """A real HTTP server on a free port answering 401 to everything (as MLflow's
    basic-auth app answers an unauthenticated probe)."""

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_models_page_says_when_the_mlflow_ui_is_not_running(answering_server: str) -> None:
    from dashboard import views
    from dashboard.model_reads import mlflow_ui_down
    from testkit.dashboard_server import free_port

    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert mlflow_ui_down(closed) is True
    assert mlflow_ui_down(answering_server) is False  # a 401 is a server that runs

    champ = {"experiment_id": "1", "run_id": "abc", "name": NAME, "version": "3"}
    for lang, words in (
        ("en", "is not running, so these links open nothing"),
        ("zh", "未运行，以上链接暂时打不开"),
    ):
        down = views.mlflow_links(closed, champ, lang, ui_down=True)
        assert f"({closed}/#/experiments/1/runs/abc)" in down  # the links stay
        assert words in down and closed in down
        assert "`make up`" in down and "`scripts/services.sh up mlflow`" in down
        up = views.mlflow_links(closed, champ, lang, ui_down=False)
        assert words not in up and "make up" not in up
