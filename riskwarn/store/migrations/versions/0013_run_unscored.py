"""``forecast_runs.unscored`` / ``staged_runs.unscored``: the units a run leaves out.

The dispute-case model scores the open cases that have not escalated yet
(:mod:`features.disputes`: one already in the petition, police or court workflow is not
asked "will it escalate"); its panel said "Open cases 50" where 103 were open, and a
reader took the 53 left out for cases that do not exist. A run now records, per reason,
the ids of the units it left out (``{"already_escalated": ["MD...", ...]}``; NULL for
runs written before, and for domains that leave nothing out), so the dashboard can say
how many open cases there are and list those it did not score.

Revision ID: 0013_run_unscored
Revises: 0012_observed_weeks
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_run_unscored"
down_revision: str | None = "0012_observed_weeks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("forecast_runs", "staged_runs"):
        op.add_column(table, sa.Column("unscored", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    for table in ("forecast_runs", "staged_runs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("unscored")
