"""``riskwarn db``: create or upgrade the serving-store schema and show its revision."""

from __future__ import annotations

from pathlib import Path

import click

URL_HELP = "SQLAlchemy URL of the store (default: RISKWARN_STORE_URL or SQLite in RISKWARN_HOME)."


def _store(url: str | None):  # type: ignore[no-untyped-def]
    from riskwarn.redact import redact
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    settings = load_settings(store_url=url)
    try:
        return Store.from_settings(settings)
    except Exception as exc:  # bad URL or missing driver: a user mistake, one line
        raise click.ClickException(
            redact(f"cannot open store {settings.resolved_store_url!r}: {exc}")
        ) from None


def new_sqlite_folder(url: object) -> Path | None:
    """The folder a SQLite store's file will be created in when it does not exist yet
    (the upgrade creates it), else None."""
    database = getattr(url, "database", None)
    if getattr(url, "get_backend_name", lambda: "")() != "sqlite" or not database:
        return None
    folder = Path(database).absolute().parent
    return None if folder.is_dir() else folder


def _one_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@click.group()
def db() -> None:
    """Serving-store schema (Alembic migrations): upgrade, current revision."""


@db.command()
@click.option("--url", default=None, help=URL_HELP)
def upgrade(url: str | None) -> None:
    """Apply every pending migration (safe to run again); run it as the owner role.

    On PostgreSQL it ends by granting the roles riskwarn_writer, riskwarn_dashboard and
    riskwarn_reader exactly what docs/serving-store.md says."""
    import sqlalchemy as sa

    from riskwarn.store.base import SchemaPermissionError, UnknownRevisionError

    store = _store(url)
    folder = new_sqlite_folder(store.engine.url)
    try:
        revision = store.upgrade(force=True)  # also re-applies the roles' grants (PostgreSQL)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"cannot reach the store: {_one_line(exc.orig or exc)}") from exc
    except (SchemaPermissionError, UnknownRevisionError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if folder is not None:  # only a --url may name one (RISKWARN_STORE_URL: refused)
        click.echo(f"created the folder {folder} for the new store")
    click.echo(f"{store!r} at revision {revision}")


@db.command()
@click.option("--url", default=None, help=URL_HELP)
def current(url: str | None) -> None:
    """Print the store's schema revision and the newest one this version ships."""
    import sqlalchemy as sa

    from riskwarn.store.base import UnknownRevisionError

    store = _store(url)
    unknown = None
    try:
        revision = store.current_revision()
        head = store.head_revision()
        store.known_revision()
    except sa.exc.OperationalError as exc:
        raise click.ClickException(f"cannot reach the store: {_one_line(exc.orig or exc)}") from exc
    except UnknownRevisionError as exc:  # newer than this code: no upgrade helps
        unknown = str(exc)
    finally:
        store.close()
    click.echo(f"current: {revision or 'none (empty database)'}\nhead: {head}")
    if unknown is not None:
        raise click.ClickException(unknown)
    click.echo("up to date" if revision == head else "needs `riskwarn db upgrade`")


@db.command()
@click.option(
    "--url",
    default=None,
    help="URL of the database as a role allowed to create roles (CREATEROLE), e.g. postgres.",
)
def roles(url: str | None) -> None:
    """Create the PostgreSQL group roles riskwarn_writer / _dashboard / _reader (NOLOGIN).

    Then make login roles members (CREATE ROLE rw_pipeline LOGIN PASSWORD '...' IN ROLE
    riskwarn_writer) and run `riskwarn db upgrade` as the owner to grant them.
    """
    import sqlalchemy as sa

    from riskwarn.store.roles import GROUP_ROLES, create_group_roles

    store = _store(url)
    if store.engine.dialect.name != "postgresql":
        store.close()
        raise click.ClickException("database roles exist on PostgreSQL only (SQLite: one user)")
    try:
        with store.engine.begin() as conn:
            created = create_group_roles(conn)
    except sa.exc.DBAPIError as exc:
        raise click.ClickException(f"cannot create roles: {_one_line(exc.orig or exc)}") from None
    finally:
        store.close()
    for role in GROUP_ROLES:
        click.echo(f"{role}: {'created' if role in created else 'exists'}")
