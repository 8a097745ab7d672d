"""A delivery can be 'cancelled': not sent, the review panel stopped its paging.

A red change queued while the gateway was down was sent after the review panel had
dismissed its warning as a false alarm, and 40 minutes later escalated to the next
contact: the sender and the escalation judged only the warning's validity, never its
review. The store now records a delivery whose warning the panel dismissed, or adjusted
below the change's level, as ``cancelled`` when it comes due (audited
``delivery_cancelled``, with who decided and when), and never sends or escalates it
(``riskwarn.store.deliveries.review_stops_paging``, docs/streaming.md, "Cancelled by
review"). This migration only widens ``ck_deliveries_status``; rows already logged keep
their status.

SQLite cannot alter a CHECK constraint: ``deliveries`` is rebuilt (batch mode) from its
new definition, as in migrations 0008 and 0009.

Revision ID: 0010_delivery_cancelled
Revises: 0009_delivery_net_change
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_delivery_cancelled"
down_revision: str | None = "0009_delivery_net_change"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD = "status IN ('pending', 'sent', 'failed', 'expired', 'superseded', 'unpaged')"
NEW = "status IN ('pending', 'sent', 'failed', 'expired', 'superseded', 'unpaged', 'cancelled')"
NAME = "ck_deliveries_status"


def _deliveries(status_check: str) -> sa.Table:
    """``deliveries`` as migration 0005 created it, with ``status_check``."""

    def ts(name: str, nullable: bool = False) -> sa.Column:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)

    return sa.Table(
        "deliveries",
        sa.MetaData(),
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
        sa.CheckConstraint("channel IN ('email', 'webhook')", name="ck_deliveries_channel"),
        sa.CheckConstraint(status_check, name=NAME),
        sa.CheckConstraint(
            "change IN ('new', 'raised', 'lowered', 'ended', 'escalated')",
            name="ck_deliveries_change",
        ),
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_deliveries_warning_id", "warning_id"),
    )


def _set_status_check(check: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("deliveries", copy_from=_deliveries(check), recreate="always"):
            pass
        return
    op.drop_constraint(op.f(NAME), "deliveries", type_="check")
    op.create_check_constraint(op.f(NAME), "deliveries", sa.text(check))


def upgrade() -> None:
    _set_status_check(NEW)


def downgrade() -> None:
    """Back to the six statuses of migration 0009: cancelled rows become 'expired' (not sent either; a
    publication putting their warning back in force would queue them again)."""
    op.execute("UPDATE deliveries SET status = 'expired' WHERE status = 'cancelled'")
    _set_status_check(OLD)
