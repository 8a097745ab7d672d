"""A warning change is acknowledged once.

Two duty officers (or the dashboard and ``riskwarn stream ack``) acknowledging the same
delivered change at the same moment were both recorded. ``warning_acks.claim`` holds the
change's delivery key and is unique, so the second acknowledgement fails in the database
whatever the timing, and the store refuses it naming the first
(``riskwarn.store.deliveries.AlreadyAcknowledgedError``).

Rows recorded before this migration are kept as they are (the table is a trail): the
first acknowledgement of each change gets its key as ``claim``, any later ones of the
same change keep ``claim`` NULL (NULLs do not collide in a unique index on either
backend).

Revision ID: 0007_ack_once
Revises: 0006_warning_withdrawal
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_ack_once"
down_revision: str | None = "0006_warning_withdrawal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("warning_acks", sa.Column("claim", sa.String(128), nullable=True))
    op.execute(
        "UPDATE warning_acks SET claim = delivery_key WHERE ack_id IN ("
        "SELECT MIN(ack_id) FROM warning_acks WHERE delivery_key IS NOT NULL "
        "GROUP BY delivery_key)"
    )
    op.create_index("uq_warning_acks_claim", "warning_acks", ["claim"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_warning_acks_claim", table_name="warning_acks")
    with op.batch_alter_table("warning_acks") as batch:
        batch.drop_column("claim")
