"""Alembic environment of the serving store.

``riskwarn.store.Store.upgrade`` passes an open connection in
``config.attributes["connection"]``; the plain Alembic CLI passes ``-x url=...``.
Logging is left to the application (no ``fileConfig``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from riskwarn.store.models import Base

VERSION_TABLE = "riskwarn_alembic_version"
# Serialises concurrent upgrades of one PostgreSQL database (arbitrary constant key).
PG_LOCK_KEY = 7_240_310_551


def run_with(connection: sa.Connection) -> None:
    """Run the pending migrations on ``connection`` in one transaction."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
        context.run_migrations()
        if connection.dialect.name == "postgresql":
            from riskwarn.store.roles import apply_grants

            apply_grants(connection)  # the roles' grants, exactly as riskwarn/store/roles.py


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=<SQLAlchemy URL>")
    from riskwarn.store.sql import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            run_with(conn)
    finally:
        engine.dispose()


# Alembic executes this file inside its environment; a plain import (e.g. a packaging
# test importing every module of the wheel) must do nothing.
if hasattr(context, "config"):
    main()
