"""Issue 12 §3: the models page's MLflow links work against the MLflow that `make up` runs.

Starts only the ``mlflow`` service of ``scripts/services.sh up`` (the same command line:
the basic-auth app, SQLite backend, 127.0.0.1, its generated admin password) in a
temporary home on a free port, logs a run and registers a model version through the
authenticated client, then opens the two links the page writes
(``dashboard.views.mlflow_urls``) in Debian's Chromium: signed in, each shows its run /
version; without credentials the server refuses (basic-auth challenge), as it must.
"""

from __future__ import annotations

import configparser
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import views
from testkit.dashboard_server import CHROMIUM, free_port, launch_chromium

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)


@pytest.fixture(scope="module")
def mlflow_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, Path]]:
    home = tmp_path_factory.mktemp("mlflow_link") / "home"
    port = free_port()
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_MLFLOW_PORT": str(port)}
    for name in (
        "RISKWARN_MLFLOW_TRACKING_URI",
        "RISKWARN_STORE_URL",
        "RISKWARN_USERS_FILE",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION",
    ):
        env.pop(name, None)
    script = str(ROOT / "scripts" / "services.sh")
    up = subprocess.run(
        [script, "up", "mlflow"], env=env, capture_output=True, text=True, timeout=300
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        auth = configparser.ConfigParser()
        auth.read(home / "secrets" / "mlflow_auth.ini")
        yield f"http://127.0.0.1:{port}", auth["mlflow"]["admin_password"], home
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True, timeout=120)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_models_page_links_open_the_run_and_the_version(
    mlflow_service: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import psutil
    from mlflow import MlflowClient
    from playwright.sync_api import sync_playwright

    uri, password, home = mlflow_service
    # the server runs without MLflow's job runner (7 huey consumers, each importing MLflow,
    # for GenAI jobs riskwarn does not use): scripts/services.sh turns it off
    session = os.getsid(int((home / "run" / "mlflow.pid").read_text()))
    commands = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == session:
                commands.append(" ".join(proc.cmdline()))
        except (ProcessLookupError, psutil.Error):
            continue
    assert any("mlflow server" in c for c in commands), commands
    assert not [c for c in commands if "huey" in c or "mlflow.server.jobs" in c], commands
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    # registry_uri too: an earlier test in this process may have set a global registry URI
    # (mlflow.set_registry_uri), and the client would register into that database instead
    client = MlflowClient(uri, registry_uri=uri)
    experiment_id = client.create_experiment("riskwarn-incidents")
    run = client.create_run(experiment_id, run_name="link-check")
    client.log_metric(run.info.run_id, "pai_at_5pct", 4.2)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("riskwarn-incidents")
    version = client.create_model_version(
        "riskwarn-incidents", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    champ = {
        "experiment_id": experiment_id,
        "run_id": run.info.run_id,
        "name": "riskwarn-incidents",
        "version": version.version,
    }
    run_url, version_url = views.mlflow_urls(uri + "/", champ)
    assert mlflow.__version__.startswith("3.")
    with sync_playwright() as p:
        browser = launch_chromium(None, p)
        try:
            signed_in = browser.new_context(
                http_credentials={"username": "admin", "password": password}
            )
            for url, shows in (
                (run_url, "link-check"),
                (version_url, f"Version {version.version}"),
            ):
                page = signed_in.new_page()  # the page's links open a new tab
                response = page.goto(url)
                assert response is not None and response.status == 200, url
                page.get_by_text(shows).first.wait_for(timeout=120_000)
            anonymous = browser.new_context().new_page()
            with pytest.raises(Exception, match=r"ERR_INVALID_AUTH_CREDENTIALS|401"):
                anonymous.goto(run_url)
        finally:
            browser.close()
