"""``riskwarn dashboard``: serve the Streamlit dashboard (headless, no usage statistics)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

import dashboard as dashboard_package

# the Streamlit script: app.py of the installed top-level ``dashboard`` package
APP = Path(dashboard_package.__file__).resolve().parent / "app.py"
# what ``streamlit run`` serves: app.py inside the ASGI app that sets HttpOnly cookies
SERVER = Path(dashboard_package.__file__).resolve().parent / "server.py"
DEMO_PASSWORD_ENV = "RISKWARN_DEMO_PASSWORD"
DEFAULT_DEMO_PASSWORD = "riskwarn-demo"


def error_details() -> str:
    """``client.showErrorDetails``: tracebacks reach the browser only when
    ``RISKWARN_ENV=development``; otherwise the browser sees a generic message and the
    traceback goes to the server log (issue 13.11)."""
    return "full" if os.environ.get("RISKWARN_ENV", "").lower() == "development" else "none"


def streamlit_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the dashboard."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(SERVER),
        "--server.headless=true",
        f"--server.address={host}",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--client.toolbarMode=minimal",
        "--theme.base=light",
        f"--client.showErrorDetails={error_details()}",
    ]


def demo_password_note(users_file: Path) -> str:
    """How to change the demo accounts' password (printed by ``make demo``)."""
    return (
        f"demo logins: leader, reviewer, reviewer2, scientist, admin (users file {users_file}).\n"
        # worded so that the log redaction (riskwarn.redact: 'password: x', 'PASSWORD=x')
        # leaves it readable
        f"To give them another password, stop the dashboard, delete {users_file}, export "
        f"{DEMO_PASSWORD_ENV} with the new one and run `riskwarn dashboard --demo-users`; "
        "a real installation writes its own users file (see docs/security.md)."
    )


def empty_home_note(settings: Any) -> str | None:
    """One line when the home the dashboard reads holds no published run (its pages
    would be empty: often the wrong home, e.g. ``riskwarn dashboard`` started in another
    folder reads that folder's ``var``), naming the home; None when one is published or
    the store cannot be read now (the pages say so then)."""
    from riskwarn import domains
    from riskwarn.store import Store

    try:
        with Store.from_settings(settings) as store:
            if store.current_revision() is not None and any(
                store.published_run(d) for d in domains.names()
            ):
                return None
    except Exception:  # unreachable or refusing: not this note's to say
        return None
    return (
        f"note: no published run in the home {settings.home.resolve()} (RISKWARN_HOME): the "
        "dashboard will be empty; run the pipeline there (make demo), or set RISKWARN_HOME "
        "to the home that holds one"
    )


@click.command("dashboard")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--demo-users",
    is_flag=True,
    help="Create the demo users file (leader, reviewer, reviewer2, scientist, admin) if absent; "
    f"password from ${DEMO_PASSWORD_ENV} or '{DEFAULT_DEMO_PASSWORD}'.",
)
def dashboard(port: int, host: str, demo_users: bool) -> None:
    """Serve the dashboard at http://HOST:PORT until interrupted."""
    from dashboard import auth
    from riskwarn.settings import load_settings

    settings = load_settings()
    users_file = auth.users_file_path(settings.home)
    if demo_users and not users_file.exists():
        password = os.environ.get(DEMO_PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD
        auth.write_demo_users(users_file, password)
        origin = (
            f"password from ${DEMO_PASSWORD_ENV}"
            if os.environ.get(DEMO_PASSWORD_ENV)
            else f"the default demo password, ${DEMO_PASSWORD_ENV} is not set"
        )
        click.echo(f"demo users written to {users_file} ({origin})")
    if demo_users:
        click.echo(demo_password_note(users_file))
    if not users_file.exists():
        click.echo(f"note: no users file at {users_file}; use --demo-users for demo accounts")
    try:  # a corrupt users file: refused here, not a traceback on the sign-in page
        auth.load_users(users_file)
    except auth.UsersFileError as exc:
        raise click.ClickException(str(exc)) from None
    empty = empty_home_note(settings)
    if empty:
        click.echo(empty)
    click.echo(f"riskwarn dashboard on http://{host}:{port}")
    sys.stdout.flush()
    sys.stderr.flush()
    # Streamlit replaces this process (same pid): a SIGTERM/SIGINT to the pid services.sh
    # or an operator recorded reaches the server itself. A child started with
    # subprocess.call kept running and holding the port when this parent was killed.
    cmd = streamlit_command(host, port)
    os.execv(cmd[0], cmd)
