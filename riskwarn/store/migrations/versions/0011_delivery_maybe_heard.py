"""``deliveries.maybe_heard``: a claim of the row whose outcome was never recorded.

A delivery claimed for sending keeps ``last_error = "claimed: outcome not recorded"``
until its outcome is recorded: when the sender dies after its POST, the page may have
reached the officer, and the row counts as possibly heard
(``riskwarn.store.deliveries.possibly_sent``). When the lease ran out, the row was
claimed again and that send failed, ``record_attempt`` overwrote ``last_error`` with the
new error and the first claim was forgotten: ``riskwarn stream ack`` without a key said
nothing had been sent, and once a later change superseded it even ``ack --key`` was
refused as "never sent". The claim now sets ``maybe_heard`` when it takes a row whose
previous claim's outcome was never recorded; nothing clears it. Rows already logged
start false (a row still marked ``claimed: outcome not recorded`` keeps counting as
possibly heard by its ``last_error``).

A column rather than a mark inside ``last_error``: ``last_error`` is the latest
attempt's error class, written by every attempt; a durable fact in it would have to be
carried through every writer.

Revision ID: 0011_delivery_maybe_heard
Revises: 0010_delivery_cancelled
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_delivery_maybe_heard"
down_revision: str | None = "0010_delivery_cancelled"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "deliveries",
        sa.Column("maybe_heard", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("maybe_heard")
