"""Initial serving-store schema: runs, forecasts, warnings, reviews, audit, ingest, publications.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("warning_reviews", "audit_log")
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def ts(name: str, nullable: bool = False) -> sa.Column:
    """A timezone-aware UTC timestamp column."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def run_columns() -> list[sa.Column]:
    return [
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column("domain", sa.String(32), nullable=False),
        ts("origin"),
        sa.Column("horizon_hours", sa.Float, nullable=False),
        sa.Column("model_name", sa.String(256)),
        sa.Column("model_version", sa.String(64)),
        sa.Column("data_version", sa.String(256)),
        sa.Column("airflow_run_id", sa.String(256)),
    ]


def forecast_columns() -> list[sa.Column]:
    return [
        sa.Column("run_id", sa.String(128), primary_key=True),
        sa.Column("unit_id", sa.String(128), primary_key=True),
        sa.Column("unit_type", sa.String(8), nullable=False),
        sa.Column("domain", sa.String(32), nullable=False),
        ts("origin"),
        ts("valid_to"),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("probability", sa.Float),
        sa.Column("rank", sa.Integer),
        sa.Column("county_code", sa.String(32)),
        sa.Column("township_code", sa.String(32)),
        sa.Column("cell_x", sa.Integer),
        sa.Column("cell_y", sa.Integer),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("explanation", sa.JSON),
    ]


def warning_columns(staged: bool) -> list[sa.Column]:
    return [
        sa.Column("warning_id", sa.String(256), primary_key=True),
        sa.Column("run_id", sa.String(128), nullable=False, primary_key=staged),
        sa.Column("domain", sa.String(32), nullable=False),
        sa.Column("unit_type", sa.String(8), nullable=False),
        sa.Column("unit_id", sa.String(128), nullable=False),
        ts("origin"),
        ts("valid_from"),
        ts("valid_to"),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("level_rank", sa.Integer, nullable=False),
        sa.Column("probability", sa.Float),
        sa.Column("score", sa.Float),
        sa.Column("reasons", sa.JSON),
        sa.Column("evidence", sa.JSON),
        sa.Column("lead_time_hours", sa.Float),
        sa.Column("county_code", sa.String(32)),
        sa.Column("township_code", sa.String(32)),
    ]


def upgrade() -> None:
    op.create_table(
        "forecast_runs",
        *run_columns(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        ts("created_at"),
        ts("published_at", nullable=True),
        sa.CheckConstraint("status IN ('staging', 'published', 'superseded')", name="status"),
    )
    op.create_index("ix_forecast_runs_domain_origin", "forecast_runs", ["domain", "origin"])
    op.create_table("staged_runs", *run_columns(), ts("staged_at"))

    op.create_table(
        "forecasts",
        *forecast_columns(),
        sa.ForeignKeyConstraint(["run_id"], ["forecast_runs.run_id"]),
        sa.CheckConstraint("unit_type IN ('cell', 'case', 'site')", name="unit_type"),
    )
    op.create_index("ix_forecasts_domain_unit_id", "forecasts", ["domain", "unit_id"])
    op.create_table(
        "staged_forecasts",
        *forecast_columns(),
        sa.ForeignKeyConstraint(["run_id"], ["staged_runs.run_id"]),
        sa.CheckConstraint("unit_type IN ('cell', 'case', 'site')", name="unit_type"),
    )

    op.create_table(
        "warnings",
        *warning_columns(staged=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reviewed_level", sa.String(8)),
        sa.Column("version", sa.Integer, nullable=False),
        ts("created_at"),
        ts("updated_at"),
        sa.ForeignKeyConstraint(["run_id"], ["forecast_runs.run_id"]),
        sa.CheckConstraint("level IN ('blue', 'yellow', 'orange', 'red')", name="level"),
        sa.CheckConstraint("level_rank BETWEEN 1 AND 4", name="level_rank"),
        sa.CheckConstraint("state IN ('new', 'accepted', 'adjusted', 'dismissed')", name="state"),
        sa.CheckConstraint(
            "reviewed_level IS NULL OR reviewed_level IN ('blue', 'yellow', 'orange', 'red')",
            name="reviewed_level",
        ),
    )
    op.create_index("ix_warnings_run_id", "warnings", ["run_id"])
    op.create_index("ix_warnings_domain_county_code", "warnings", ["domain", "county_code"])
    op.create_table(
        "staged_warnings",
        *warning_columns(staged=True),
        sa.ForeignKeyConstraint(["run_id"], ["staged_runs.run_id"]),
        sa.CheckConstraint("level IN ('blue', 'yellow', 'orange', 'red')", name="level"),
    )

    op.create_table(
        "warning_reviews",
        sa.Column("review_id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "warning_id", sa.String(256), sa.ForeignKey("warnings.warning_id"), nullable=False
        ),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_level", sa.String(8)),
        sa.Column("to_level", sa.String(8)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        ts("reviewed_at"),
        sa.Column("warning_version", sa.Integer, nullable=False),
        sa.CheckConstraint("action IN ('accept', 'adjust', 'dismiss')", name="action"),
    )
    op.create_index("ix_warning_reviews_warning_id", "warning_reviews", ["warning_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        ts("at"),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(256), nullable=False),
        sa.Column("details", sa.JSON),
    )
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])

    op.create_table(
        "ingest_batches",
        sa.Column("batch_id", sa.String(256), primary_key=True),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("file_name", sa.String(1024), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=False)
            for name in (
                "read",
                "accepted",
                "new",
                "updated",
                "unchanged",
                "quarantined",
                "duplicates",
            )
        ),
        sa.Column("reasons", sa.JSON),
        ts("ingested_at"),
    )

    op.create_table(
        "publications",
        sa.Column("domain", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(128), sa.ForeignKey("forecast_runs.run_id"), nullable=False),
        ts("published_at"),
    )

    for table in APPEND_ONLY:
        create_append_only_trigger(table)


def create_append_only_trigger(table: str) -> None:
    """Make ``table`` append-only in the database itself: UPDATE and DELETE raise."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION riskwarn_reject_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION riskwarn_reject_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION riskwarn_reject_change()"
        )


def downgrade() -> None:
    for table in (
        "publications",
        "ingest_batches",
        "audit_log",
        "warning_reviews",
        "staged_warnings",
        "warnings",
        "staged_forecasts",
        "forecasts",
        "staged_runs",
        "forecast_runs",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS riskwarn_reject_change()")
