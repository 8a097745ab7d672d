"""``community_runs`` / ``community_rankings``: the weekly disputes ranking by community.

The overview's disputes tab ranks the communities (村/社区) for the week by the rule the
community backtest serves (``features.communities.SERVED``: ``population_rate``, the
Poisson model lost to it). The dashboard computed that ranking from the lake at every
page load; it is now published like the other runs: the scoring DAG writes, per origin,
one ``community_runs`` row (the origin, the method and its version, when it was written)
and one ``community_rankings`` row per community (rank, score, expected disputes of the
week, disputes of the last 4 and 52 weeks), and the dashboard reads them.

``run_id`` is ``disputes_communities:<origin>``: one run per origin; a re-run of the
origin that computes the same rows (``content_hash``) changes nothing, one that computes
other rows replaces them in one transaction (``replaced_at``). Codes and counts only: no
party, name or number of a person.

Revision ID: 0016_community_rankings
Revises: 0015_review_dismissed_level
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_community_rankings"
down_revision: str | None = "0015_review_dismissed_level"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "community_runs",
        sa.Column("run_id", sa.String(128), nullable=False),
        ts("origin"),
        sa.Column("horizon_days", sa.Integer, nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("method_version", sa.String(64), nullable=False),
        sa.Column("n_communities", sa.Integer, nullable=False),
        sa.Column("data_version", sa.String(256), nullable=True),
        sa.Column("airflow_run_id", sa.String(256), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        ts("created_at"),
        ts("replaced_at", nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_community_runs"),
        sa.UniqueConstraint("origin", name="uq_community_runs_origin"),
    )
    op.create_table(
        "community_rankings",
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("admin_code", sa.String(64), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("expected", sa.Float, nullable=False),
        sa.Column("n_28d", sa.Integer, nullable=True),
        sa.Column("n_364d", sa.Integer, nullable=True),
        sa.Column("township_code", sa.String(32), nullable=True),
        sa.Column("county_code", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "admin_code", name="pk_community_rankings"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["community_runs.run_id"],
            name="fk_community_rankings_run_id_community_runs",
        ),
        sa.CheckConstraint("rank >= 1", name="ck_community_rankings_rank"),
        sa.CheckConstraint("expected >= 0", name="ck_community_rankings_expected"),
    )
    op.create_index("ix_community_rankings_run_id_rank", "community_rankings", ["run_id", "rank"])


def downgrade() -> None:
    op.drop_index("ix_community_rankings_run_id_rank", table_name="community_rankings")
    op.drop_table("community_rankings")
    op.drop_table("community_runs")
