"""PostgreSQL roles of the serving store and exactly what each may do (issue 13.12).

Four roles, so that no process that runs riskwarn's code can erase what it is audited by:

* ``owner`` (a login role of the DBA's choosing, e.g. ``riskwarn_owner``): owns the
  tables, triggers and functions, runs ``riskwarn db upgrade``. Only it can disable a
  trigger, drop a table or change a grant. No riskwarn service runs as it.
* :data:`WRITER` (``riskwarn_writer``): the pipeline (Airflow tasks, ``riskwarn
  ingest|score|promote``). Writes runs, forecasts, warnings' content and ingest
  counts; on ``audit_log`` and ``warning_reviews`` it may only INSERT (and SELECT).
* :data:`DASHBOARD` (``riskwarn_dashboard``): reads what is served; writes only review
  decisions (the warnings' review-state columns, ``warning_reviews``) and audit entries.
* :data:`READER` (``riskwarn_reader``): read-only, for the city's other systems.

These are group roles (NOLOGIN); login users are made members by the DBA
(``CREATE ROLE rw_pipeline LOGIN PASSWORD '...' IN ROLE riskwarn_writer``). None of
them may create, alter or drop anything. ``warnings`` has no DELETE grant, and its
review state can only change together with a matching ``warning_reviews`` row (a
deferred constraint trigger, migration 0004), so the review state is as protected as
the trail itself. SQLite has no roles: it is the single-user demo store.

:func:`apply_grants` runs at the end of every migration (as the owner) and on
``riskwarn db upgrade``: it revokes everything from the three roles and grants
exactly :data:`TABLE_GRANTS`, so the grants are always what this file says.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

WRITER = "riskwarn_writer"
DASHBOARD = "riskwarn_dashboard"
READER = "riskwarn_reader"
GROUP_ROLES = (WRITER, DASHBOARD, READER)
VERSION_TABLE = "riskwarn_alembic_version"

READ = ("SELECT",)
APPEND = ("SELECT", "INSERT")
REVIEW_STATE_COLUMNS = ("state", "reviewed_level", "version", "updated_at")

SERVED_TABLES = (
    "forecast_runs",
    "forecasts",
    "publications",
    "warnings",
    "warning_reviews",
    "audit_log",
    "ingest_batches",
    "deliveries",
    "warning_acks",
    "observed_weeks",
    "community_runs",
    "community_rankings",
    VERSION_TABLE,
)
STAGING_TABLES = ("staged_runs", "staged_forecasts", "staged_warnings")

# role -> table -> privileges. "UPDATE(a, b)" is a column privilege.
TABLE_GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    WRITER: {
        "staged_runs": ("SELECT", "INSERT", "UPDATE", "DELETE"),
        "staged_forecasts": ("SELECT", "INSERT", "DELETE"),
        "staged_warnings": ("SELECT", "INSERT", "DELETE"),
        "forecast_runs": ("SELECT", "INSERT", "UPDATE"),
        "forecasts": ("SELECT", "INSERT", "DELETE"),  # a re-published run replaces its rows
        "publications": ("SELECT", "INSERT", "UPDATE"),
        "warnings": ("SELECT", "INSERT", "UPDATE"),  # no DELETE; review state: trigger
        "warning_reviews": APPEND,
        "audit_log": APPEND,
        "ingest_batches": ("SELECT", "INSERT", "UPDATE"),
        "deliveries": ("SELECT", "INSERT", "UPDATE"),  # the stream's delivery queue
        "warning_acks": APPEND,
        "observed_weeks": ("SELECT", "INSERT", "DELETE"),  # a re-publish replaces its rows
        "community_runs": ("SELECT", "INSERT", "UPDATE"),
        "community_rankings": ("SELECT", "INSERT", "DELETE"),  # a changed re-run replaces them
        VERSION_TABLE: READ,
    },
    DASHBOARD: {
        **{t: READ for t in SERVED_TABLES},
        "warnings": ("SELECT", f"UPDATE({', '.join(REVIEW_STATE_COLUMNS)})"),
        "warning_reviews": APPEND,
        "audit_log": APPEND,
        "warning_acks": APPEND,  # a duty officer acknowledges on the dashboard
    },
    READER: {t: READ for t in SERVED_TABLES},
}
# tables with an auto-incrementing id -> its column (the sequence needs USAGE to insert)
SERIAL_COLUMNS = {
    "audit_log": "id",
    "warning_reviews": "review_id",
    "deliveries": "delivery_id",
    "warning_acks": "ack_id",
}


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def create_group_roles(conn: Connection) -> list[str]:
    """Create the NOLOGIN group roles that do not exist yet (needs CREATEROLE); return them.

    Safe to run concurrently and again: a role created meanwhile by another session
    is not an error.
    """
    created = []
    for role in GROUP_ROLES:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).first()
        if exists:
            continue
        conn.exec_driver_sql(
            "DO $$ BEGIN "
            f"CREATE ROLE {_quote(conn, role)} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
        created.append(role)
    return created


def existing_group_roles(conn: Connection) -> list[str]:
    rows = conn.execute(
        sa.text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:r)"), {"r": list(GROUP_ROLES)}
    )
    return sorted(r[0] for r in rows)


def apply_grants(conn: Connection) -> list[str]:
    """Grant each existing group role exactly :data:`TABLE_GRANTS`; return the roles missing.

    Run as the tables' owner (or a superuser), inside the migration transaction.
    """
    present = existing_group_roles(conn)
    missing = [r for r in GROUP_ROLES if r not in present]
    if missing:
        log.warning(
            "PostgreSQL roles %s do not exist: no grants for them (create them with "
            "`riskwarn db roles`, see docs/serving-store.md)",
            ", ".join(missing),
        )
    # only the tables of the revision migrated to: a store upgraded to an older revision
    # (or stepwise) lacks the later ones, which their own migration's run grants
    exists = set(sa.inspect(conn).get_table_names())
    tables = {t for grants in TABLE_GRANTS.values() for t in grants} | set(STAGING_TABLES)
    tables &= exists
    quoted_tables = ", ".join(_quote(conn, t) for t in sorted(tables))
    for role in present:
        q_role = _quote(conn, role)
        conn.exec_driver_sql(f"REVOKE ALL ON {quoted_tables} FROM {q_role}")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {q_role}")
        for table, privileges in TABLE_GRANTS[role].items():
            if table not in exists:
                continue
            conn.exec_driver_sql(
                f"GRANT {', '.join(privileges)} ON {_quote(conn, table)} TO {q_role}"
            )
        for table, column in SERIAL_COLUMNS.items():
            if table not in exists:
                continue
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column}
            ).scalar_one()
            if sequence is None:
                continue
            if "INSERT" in TABLE_GRANTS[role].get(table, ()):
                conn.exec_driver_sql(f"GRANT USAGE ON SEQUENCE {sequence} TO {q_role}")
            else:
                conn.exec_driver_sql(f"REVOKE ALL ON SEQUENCE {sequence} FROM {q_role}")
    return missing
