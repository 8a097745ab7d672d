"""Warning delivery (issue 16): the delivery log and acknowledgements.

``deliveries``: one row per warning change, channel and contact (unique), with its
status, attempts and next attempt time (the retry queue); ``warning_acks``: who
acknowledged a warning change and when (append-only on PostgreSQL, like the reviews).
Contacts appear only by their id in the contacts file, never by address or number.

Revision ID: 0005_deliveries
Revises: 0004_review_state_guard
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_deliveries"
down_revision: str | None = "0004_review_state_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("delivery_key", sa.String(128), nullable=False),
        sa.Column("warning_id", sa.String(256), nullable=False),
        sa.Column("domain", sa.String(32), nullable=False),
        sa.Column("unit_id", sa.String(128), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("from_level", sa.String(8)),
        sa.Column("to_level", sa.String(8)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("contact_id", sa.String(128), nullable=False),
        sa.Column("escalation_step", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(512)),
        sa.Column("message", sa.JSON(none_as_null=True)),
        ts("changed_at"),
        ts("created_at"),
        ts("next_attempt_at"),
        ts("sent_at", nullable=True),
        sa.UniqueConstraint("delivery_key", "channel", "contact_id", name="uq_deliveries_key"),
        sa.CheckConstraint("channel IN ('email', 'webhook')", name="channel"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        sa.CheckConstraint(
            "change IN ('new', 'raised', 'lowered', 'ended', 'escalated')", name="change"
        ),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_warning_id", "deliveries", ["warning_id"])
    op.create_table(
        "warning_acks",
        sa.Column("ack_id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("warning_id", sa.String(256), nullable=False),
        sa.Column("delivery_key", sa.String(128)),
        sa.Column("acknowledged_by", sa.String(128), nullable=False),
        ts("acknowledged_at"),
        sa.Column("via", sa.String(32), nullable=False),
    )
    op.create_index("ix_warning_acks_warning_id", "warning_acks", ["warning_id"])


def downgrade() -> None:
    op.drop_index("ix_warning_acks_warning_id", table_name="warning_acks")
    op.drop_table("warning_acks")
    op.drop_index("ix_deliveries_warning_id", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
