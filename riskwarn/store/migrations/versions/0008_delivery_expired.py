"""A delivery can be 'expired': not sent, its warning was no longer in force.

A replay of old readings (``riskwarn stream replay`` into a consumer with contacts) or
a queue that waited out an outage logged e-mails and webhooks for warnings whose
validity had ended, and sent them: a duty officer was paged for a warning no longer in
force. The store now records such a delivery as ``expired`` (when it is logged, or when
it comes due), audited as ``delivery_expired``, and never sends it
(``riskwarn.store.deliveries``, docs/streaming.md). This migration only widens
``ck_deliveries_status``; rows already logged keep their status.

SQLite cannot alter a CHECK constraint: ``deliveries`` is rebuilt (batch mode) from its
new definition. No foreign key points at it or from it, so the rebuild is allowed while
foreign keys are on.

Revision ID: 0008_delivery_expired
Revises: 0007_ack_once
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_delivery_expired"
down_revision: str | None = "0007_ack_once"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD = "status IN ('pending', 'sent', 'failed')"
NEW = "status IN ('pending', 'sent', 'failed', 'expired')"
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
    """Back to three statuses: expired rows become 'failed' (not sent either)."""
    op.execute("UPDATE deliveries SET status = 'failed' WHERE status = 'expired'")
    _set_status_check(OLD)
