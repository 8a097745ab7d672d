"""``observed_weeks``: the observed weekly history before each published run's origin.

The overview answered "is risk rising" with the forecasts of published runs only; the
demo publishes one week, so its trend was a single dot. Scoring older origins with the
champion is refused as in-sample (``riskwarn.scoring.out_of_sample``), so the history a
leader needs is what was observed: per domain and published origin, the events and the
units (cells, sites) with at least one event in each of the weeks before the origin,
counted from the lake by the publish step (``riskwarn.pipeline.publish_observed``).
Only weeks ending at or before the origin are written (no event after it is counted).

Revision ID: 0012_observed_weeks
Revises: 0011_delivery_maybe_heard
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_observed_weeks"
down_revision: str | None = "0011_delivery_maybe_heard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "observed_weeks",
        sa.Column("domain", sa.String(32), nullable=False),
        ts("origin"),
        ts("week_start"),
        ts("week_end"),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("units", sa.Integer, nullable=False),
        ts("computed_at"),
        sa.PrimaryKeyConstraint("domain", "origin", "week_start", name="pk_observed_weeks"),
    )


def downgrade() -> None:
    op.drop_table("observed_weeks")
