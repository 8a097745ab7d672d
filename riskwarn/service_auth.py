"""Sign-in for the services ``make up`` runs: Airflow and MLflow with real users (13.10).

Nothing of riskwarn's services answers without a login, and everything listens on
127.0.0.1 only:

* **Airflow** (3.x simple auth manager, not its all-admins mode): users ``admin``
  (role admin, for the operator) and ``dashboard`` (role user: may trigger and follow
  DAG runs, the dashboard's retrain button). Their random passwords are written by
  riskwarn, before Airflow starts, to ``<home>/secrets/airflow_passwords.json``
  (mode 0600), so Airflow never generates them into its logs. The scheduler's and the
  triggerer's log servers (which bind every interface, 0.0.0.0:8793/8794, with no
  setting to change it) are not started: on one host the API server reads task logs
  from the log folder.
* **MLflow** (``mlflow server --app-name basic-auth``): HTTP basic auth on every request,
  admin ``admin`` with a random password in ``<home>/secrets/mlflow_auth.ini`` (0600),
  its user database ``<home>/mlflow_auth.db``, default permission READ for other users
  the admin creates. riskwarn's own processes open the registry file directly (0600)
  and record every alias move in the serving store's audit log.

``riskwarn.orchestration.airflow_env`` adds :func:`airflow_auth_env`;
``scripts/services.sh`` calls :func:`prepare` (``python -m riskwarn.service_auth``) and
exports what it prints. docs/operations.md shows where the passwords are and how to
put the services behind TLS.
"""

from __future__ import annotations

import configparser
import json
import secrets
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from riskwarn.filemodes import write_private_file

if TYPE_CHECKING:
    from riskwarn.settings import Settings

AIRFLOW_USERS = {"admin": "admin", "dashboard": "user"}  # user -> simple auth manager role
DASHBOARD_AIRFLOW_USER = "dashboard"
MLFLOW_ADMIN = "admin"


def secrets_dir(settings: Settings) -> Path:
    return settings.home.resolve() / "secrets"


def airflow_passwords_file(settings: Settings) -> Path:
    return secrets_dir(settings) / "airflow_passwords.json"


def mlflow_auth_file(settings: Settings) -> Path:
    return secrets_dir(settings) / "mlflow_auth.ini"


def airflow_auth_env(settings: Settings) -> dict[str, str]:
    """Airflow settings: simple auth manager with real users, nothing on 0.0.0.0."""
    return {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
            f"{user}:{role}" for user, role in AIRFLOW_USERS.items()
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_passwords_file(settings)),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
    }


def ensure_airflow_passwords(settings: Settings) -> dict[str, str]:
    """The Airflow users' passwords; random ones are added (file 0600) for missing users."""
    path = airflow_passwords_file(settings)
    passwords: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [u for u in AIRFLOW_USERS if not passwords.get(u)]
    if missing:
        passwords.update({u: secrets.token_urlsafe(18) for u in missing})
        write_private_file(path, (json.dumps(passwords, indent=1) + "\n").encode())
    return passwords


def ensure_mlflow_auth(settings: Settings) -> dict[str, str]:
    """MLflow basic-auth configuration (0600, created once); returns the server's environment."""
    path = mlflow_auth_file(settings)
    if not path.exists():
        config = configparser.ConfigParser()
        config["mlflow"] = {
            "default_permission": "READ",
            "database_uri": f"sqlite:///{settings.home.resolve() / 'mlflow_auth.db'}",
            "admin_username": MLFLOW_ADMIN,
            "admin_password": secrets.token_urlsafe(18),
            "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
            "flask_secret_key": secrets.token_hex(32),
        }
        text = "# riskwarn: MLflow basic auth (mlflow server --app-name basic-auth)\n"
        with_body = text + _ini_text(config)
        write_private_file(path, with_body.encode())
    config = configparser.ConfigParser()
    config.read(path)
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(path),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": config["mlflow"]["flask_secret_key"],
    }


def mlflow_admin_password(settings: Settings) -> str:
    config = configparser.ConfigParser()
    config.read(mlflow_auth_file(settings))
    return config["mlflow"]["admin_password"]


def _ini_text(config: configparser.ConfigParser) -> str:
    import io

    out = io.StringIO()
    config.write(out)
    return out.getvalue()


def prepare(settings: Settings) -> str:
    """Create missing credentials; return shell lines for ``scripts/services.sh`` to eval.

    ``RW_DASHBOARD_AIRFLOW_PASSWORD`` is meant for the dashboard process only (the
    script exports it into that process's environment, never on a command line).
    """
    passwords = ensure_airflow_passwords(settings)
    env = ensure_mlflow_auth(settings)
    env["RW_DASHBOARD_AIRFLOW_PASSWORD"] = passwords[DASHBOARD_AIRFLOW_USER]
    return "\n".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))


if __name__ == "__main__":  # python -m riskwarn.service_auth (scripts/services.sh)
    from riskwarn.filemodes import restrict_umask
    from riskwarn.settings import load_settings

    restrict_umask()
    sys.stdout.write(prepare(load_settings()) + "\n")
