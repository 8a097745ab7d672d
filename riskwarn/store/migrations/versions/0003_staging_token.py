"""Staged runs carry the token of the writer that staged them.

Two writers of one run (a manual ``riskwarn score`` while the DAG scores the same day,
an Airflow retry beside a zombie attempt) used to share its staging rows: one could
publish the other's half-written attempt. ``stage_run`` now writes a fresh token;
``write_forecasts``, ``write_warnings`` and ``publish_run`` of any other writer are
refused (issue 13.1).

Revision ID: 0003_staging_token
Revises: 0002_forecasts_run_rank
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_staging_token"
down_revision: str | None = "0002_forecasts_run_rank"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staged_runs") as batch:
        batch.add_column(sa.Column("staging_token", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staged_runs") as batch:
        batch.drop_column("staging_token")
