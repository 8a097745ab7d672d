"""``make demo``: the simulated city through the whole pipeline, then the dashboard.

1. create the home (mode 0700) and a random pseudonym key in it (``secrets/
   pseudonym.key``, 0600: a real installation configures its own, see riskwarn.keys);
   simulate the small city (seeded) into ``$RISKWARN_HOME/sim`` and stage its extracts
   in the landing folder;
2. run every DAG through Airflow (``airflow dags test``, in dependency order): ingest,
   features, training with the promotion gate, scoring and warnings, geohazard
   nowcast, publish;
3. write the demo users file, print how to change the demo password, and serve the
   dashboard on http://127.0.0.1:8501 (this host only; ``RISKWARN_DASHBOARD_HOST`` to
   change) until interrupted.

Set ``RISKWARN_DEMO_NO_SERVE=1`` to stop after step 2 (used by CI smoke runs); its last
line is the command that serves the dashboard of that home later (:func:`serve_command`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from riskwarn.settings import Settings, load_settings

log = logging.getLogger("riskwarn.demo")

# The simulated city's area (the `area` of configs/sources/sim_*.yaml): the demo home
# quarantines located records outside it at ingest (Settings.city_area), so another
# city's extract dropped into this home cannot reach the features (issue 13.7).
SIMULATED_CITY_AREA = "115.7,29.6,117.4,31.3"
DEFAULT_HOST = "127.0.0.1"  # the demo dashboard listens on this host only (issue 13.11)


def write_demo_users_once(settings: Settings) -> Path:
    """The demo users file (README's logins), written before serving or stopping, so that
    ``RISKWARN_DEMO_NO_SERVE=1 make demo`` then ``riskwarn dashboard`` signs in too."""
    from dashboard import auth
    from riskwarn.commands.dashboard import DEFAULT_DEMO_PASSWORD, DEMO_PASSWORD_ENV

    path = auth.users_file_path(settings.home)
    if not path.exists():
        auth.write_demo_users(path, os.environ.get(DEMO_PASSWORD_ENV, DEFAULT_DEMO_PASSWORD))
    return path


def serve_command(settings: Settings) -> str:
    """The command that serves this demo's dashboard afterwards, from any folder: its
    home given absolute (``riskwarn dashboard`` reads ``./var`` of the folder it runs
    in otherwise), the store and MLflow as the demo ran with them if set."""
    import shlex

    env = [f"RISKWARN_HOME={shlex.quote(str(settings.home.resolve()))}"]
    for name in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI"):
        if os.environ.get(name):  # a URL with a password is masked by the log redaction
            env.append(f"{name}={shlex.quote(os.environ[name])}")
    riskwarn_bin = shlex.quote(str(Path(sys.executable).with_name("riskwarn")))
    return " ".join([*env, riskwarn_bin, "dashboard"])


def parse_args(argv: list[str] | None = None) -> None:
    """``python -m riskwarn.demo --help`` says what the demo does and stops (it took no
    arguments and ran the whole demo: attack review, 2026-12-07); any other argument is
    refused, as the demo's settings come from the environment."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m riskwarn.demo",
        description=(
            "The simulated city through the whole pipeline (ingest, features, training "
            "with the promotion gate, scoring and warnings, geohazard nowcast, publish; "
            "every DAG through Airflow), then the dashboard. Run by `make demo`."
        ),
        epilog=(
            "Settings come from the environment: RISKWARN_HOME (default ./var), "
            "RISKWARN_DEMO_NO_SERVE=1 (stop before serving the dashboard), "
            "RISKWARN_DASHBOARD_HOST / RISKWARN_DASHBOARD_PORT (default 127.0.0.1:8501)."
        ),
    )
    parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from riskwarn.filemodes import private_dir, restrict_umask
    from riskwarn.keys import ensure_demo_key
    from riskwarn.redact import install_log_redaction

    install_log_redaction()
    restrict_umask()  # the lake, stores and keys of the demo home: this user's only
    os.environ.setdefault("RISKWARN_CITY_AREA", SIMULATED_CITY_AREA)  # Airflow tasks too
    settings = load_settings()
    private_dir(settings.home)
    key_file = ensure_demo_key(settings)
    log.info("demo pseudonym key: %s (random, mode 0600; demo only)", key_file)
    from riskwarn.orchestration import run_demo_pipeline

    dag_ids = run_demo_pipeline(settings)
    log.info("pipeline ran through Airflow: %s", ", ".join(dag_ids))
    users_file = write_demo_users_once(settings)
    from riskwarn.commands.dashboard import demo_password_note

    if os.environ.get("RISKWARN_DEMO_NO_SERVE"):
        log.info("%s", demo_password_note(users_file))
        # `riskwarn dashboard` later signs in with the same demo logins
        log.info("to serve the dashboard of this demo: %s", serve_command(settings))
        return 0
    # else `riskwarn dashboard --demo-users` below prints the note (once, not here too)
    port = os.environ.get("RISKWARN_DASHBOARD_PORT", "8501")
    host = os.environ.get("RISKWARN_DASHBOARD_HOST", DEFAULT_HOST)
    log.info("serving the dashboard on http://%s:%s (Ctrl-C to stop)", host, port)
    riskwarn_bin = str(Path(sys.executable).with_name("riskwarn"))
    try:
        return subprocess.call(
            [riskwarn_bin, "dashboard", "--demo-users", "--port", port, "--host", host]
        )
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
