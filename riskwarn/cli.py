"""The ``riskwarn`` command line: one entry point, one subcommand per job.

Subcommands live in ``riskwarn.commands.<name>`` and are imported only when used, so
``riskwarn --help`` stays fast and a broken optional part cannot break the others.
User mistakes end with a one-line ``error: ...`` message and exit code 2, never a
traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from typing import Any

import click

# command name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ingest": (
        "riskwarn.commands.ingest",
        "ingest",
        "Ingest extracts through a source mapping file.",
    ),
    "simulate": ("riskwarn.commands.simulate", "simulate", "Write a simulated city's extracts."),
    "db": ("riskwarn.commands.db", "db", "Serving-store schema: upgrade, current revision."),
    "contracts": ("riskwarn.commands.contracts", "contracts", "Print the data contracts."),
    "features": ("riskwarn.commands.features", "features", "Build feature tables from the lake."),
    "backtest": (
        "riskwarn.commands.backtest",
        "backtest",
        "Rolling-origin backtest of models and baselines.",
    ),
    "train": (
        "riskwarn.commands.train",
        "train",
        "Train and gate a challenger model for a domain.",
    ),
    "promote": (
        "riskwarn.commands.registry",
        "promote",
        "Point a domain's champion alias at a model version.",
    ),
    "rollback": (
        "riskwarn.commands.registry",
        "rollback",
        "Return a domain's champion alias to the previous version.",
    ),
    "models": (
        "riskwarn.commands.registry",
        "models_",
        "A domain's model versions: gate verdicts, which one serves.",
    ),
    "runs": (
        "riskwarn.commands.registry",
        "runs",
        "MLflow runs shown RUNNING, and whether their owner lives.",
    ),
    "score": (
        "riskwarn.commands.score",
        "score",
        "Score a domain with its champion and raise warnings.",
    ),
    "dashboard": ("riskwarn.commands.dashboard", "dashboard", "Serve the Streamlit dashboard."),
    "lake": (
        "riskwarn.commands.lake",
        "lake",
        "The lake: record history, maintenance, snapshot, migration.",
    ),
    "keys": ("riskwarn.commands.keys", "keys", "Create secret keys (pseudonym key)."),
    "backup": (
        "riskwarn.commands.backup",
        "backup",
        "Back up the serving store, MLflow and the lake.",
    ),
    "restore": ("riskwarn.commands.backup", "restore", "Restore a backup into an empty home."),
    "stream": (
        "riskwarn.commands.stream",
        "stream",
        "Real-time sensor readings over MQTT (store, warn, deliver).",
    ),
}


# MLflow warnings that every `riskwarn train` printed and that say nothing about the run:
# logger -> the start of the message. The models are riskwarn's own PythonModel classes,
# pickled on purpose and loaded only from riskwarn's registry; the conda spec of a model
# without a pinned pip is not used (models are served from this environment). Only these
# two messages are dropped: every other record of these loggers passes.
KNOWN_LIBRARY_NOISE: dict[str, tuple[str, ...]] = {
    "mlflow.pyfunc": ("Passing a Python object as `python_model` causes it to be serialized",),
    "mlflow.utils.environment": ("Failed to resolve installed pip version.",),
}


class _DropKnownNoise(logging.Filter):
    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.WARNING and record.getMessage().startswith(self.starts)
        )


def quiet_known_library_noise() -> None:
    """Drop the :data:`KNOWN_LIBRARY_NOISE` records (idempotent): a filter on each
    named logger, by level and message, so nothing else of MLflow's is hidden."""
    for name, starts in KNOWN_LIBRARY_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropKnownNoise) for f in logger.filters):
            logger.addFilter(_DropKnownNoise(starts))


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[cmd_name]
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="riskwarn")
def cli() -> None:
    """riskwarn: city-level risk scoring and early warning."""
    quiet_known_library_noise()  # here, not in main(): also under click's test runner


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit code 2.

    Files and folders the command creates are private to the user (umask 077; the
    caller's umask is restored on return); passwords in URLs are masked in error lines
    and log records.
    """
    import os

    from riskwarn.commands import ExitStatus
    from riskwarn.filemodes import restrict_umask
    from riskwarn.redact import install_log_redaction, redact
    from riskwarn.settings import SettingsError

    previous = restrict_umask()
    install_log_redaction()  # no password of a database URL in any log line
    try:
        cli.main(args=argv, prog_name="riskwarn", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"error: {redact(exc.format_message())}", err=True)
        return 2
    except SettingsError as exc:  # a RISKWARN_* value out of range: one line, any command
        click.echo(f"error: {redact(str(exc))}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except ExitStatus as exc:  # an outcome with its own code, output already printed
        return exc.code
    except Exception as exc:
        # the store unreachable (or refusing: no such database, role, table), from any
        # command: one line, as `db upgrade` says it, not a SQLAlchemy traceback. The
        # exception class is looked up only when SQLAlchemy raised, so the CLI's start
        # does not import it.
        if isinstance(exc, OSError) and _in_home(exc):
            # the home cannot be made or written (RISKWARN_HOME=/proc/x): one line
            why = exc.strerror or type(exc).__name__
            click.echo(f"error: cannot use {exc.filename!s} in RISKWARN_HOME: {why}", err=True)
            return 2
        store_base = sys.modules.get("riskwarn.store.base")
        if store_base is not None and isinstance(exc, store_base.UnknownRevisionError):
            # a store migrated by a newer riskwarn: any command, one line, nothing done
            click.echo(f"error: {redact(str(exc))}", err=True)
            return 2
        sa_exc = sys.modules.get("sqlalchemy.exc")
        if sa_exc is None or not isinstance(exc, sa_exc.OperationalError):
            raise
        cause = exc.orig or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        click.echo(f"error: cannot use the store: {redact(first)}", err=True)
        return 2
    finally:
        os.umask(previous)
    return 0


def _in_home(exc: OSError) -> bool:
    """Whether ``exc`` is about the home (``RISKWARN_HOME``, default ``var``) or a path
    in it."""
    import os
    from pathlib import Path

    if not isinstance(exc.filename, str | os.PathLike):
        return False
    home = Path(os.environ.get("RISKWARN_HOME") or "var").absolute()
    path = Path(exc.filename).absolute()
    return path == home or home in path.parents


if __name__ == "__main__":
    sys.exit(main())
