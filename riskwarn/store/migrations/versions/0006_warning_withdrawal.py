"""Warnings a re-run no longer raises are withdrawn, not deleted (and not left in force).

A run re-published under the same run id (a re-run of its interval after a data
correction, a backfill re-run) may no longer raise a warning its previous publication
raised. ``publish_run`` now marks such a warning withdrawn: ``withdrawn_at`` (the
publication's time), ``withdrawn_by`` (its actor) and ``withdrawn_reason``; its version
is raised by one and its review state and trail are kept. Readers leave withdrawn
warnings out of what is in force; a later publication that raises it again makes it
'new' again (the three columns cleared, version raised).

The state of a withdrawn warning stays what its review made it: 'withdrawn' is not a
review state. (Adding it to ``ck_warnings_state`` would rebuild ``warnings`` on SQLite,
and the rebuild's DROP TABLE fails on the rows of ``warning_reviews`` that reference it
while foreign keys are on, which they are in every store transaction.)

PostgreSQL: the review-state trigger of migration 0004 is replaced by one that also
allows exactly these two transitions, and refuses any review-state change of a warning
while it is withdrawn.

Revision ID: 0006_warning_withdrawal
Revises: 0005_deliveries
Create Date: 2026-12-05
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0006_warning_withdrawal"
down_revision: str | None = "0005_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK_FUNCTION = """
CREATE OR REPLACE FUNCTION riskwarn_check_review_state() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'new' OR NEW.reviewed_level IS NOT NULL OR NEW.version <> 1
       OR NEW.withdrawn_at IS NOT NULL THEN
      RAISE EXCEPTION 'warning %: a new warning starts unreviewed (state new, version 1)',
        NEW.warning_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF (NEW.withdrawn_at IS NULL) <> (NEW.withdrawn_by IS NULL)
     OR (NEW.withdrawn_at IS NULL) <> (NEW.withdrawn_reason IS NULL) THEN
    RAISE EXCEPTION 'warning %: a withdrawal names its time, actor and reason', NEW.warning_id
      USING ERRCODE = 'check_violation';
  END IF;
  IF OLD.withdrawn_at IS NULL AND NEW.withdrawn_at IS NOT NULL THEN
    IF NEW.version <> OLD.version + 1 OR NEW.state <> OLD.state
       OR NEW.reviewed_level IS DISTINCT FROM OLD.reviewed_level OR NEW.level <> OLD.level THEN
      RAISE EXCEPTION 'warning %: a withdrawal keeps the review state and raises the version '
        'by one', NEW.warning_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF OLD.withdrawn_at IS NOT NULL AND NEW.withdrawn_at IS NULL THEN
    IF NEW.version <> OLD.version + 1 OR NEW.state <> 'new' OR NEW.reviewed_level IS NOT NULL THEN
      RAISE EXCEPTION 'warning %: a withdrawn warning raised again is new (unreviewed, '
        'version raised by one)', NEW.warning_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.withdrawn_at IS NOT NULL THEN
    IF NEW.state <> OLD.state OR NEW.reviewed_level IS DISTINCT FROM OLD.reviewed_level
       OR NEW.version <> OLD.version OR NEW.level <> OLD.level THEN
      RAISE EXCEPTION 'warning %: withdrawn, its review state cannot change', NEW.warning_id
        USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.state = OLD.state AND NEW.reviewed_level IS NOT DISTINCT FROM OLD.reviewed_level
     AND NEW.version = OLD.version THEN
    IF NEW.level <> OLD.level THEN
      RAISE EXCEPTION 'warning %: level changed without resetting its review', NEW.warning_id
        USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.version <> OLD.version + 1 THEN
    RAISE EXCEPTION 'warning %: version % -> % (a change raises it by one)',
      NEW.warning_id, OLD.version, NEW.version USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.level <> OLD.level THEN
    IF NEW.state = 'new' AND NEW.reviewed_level IS NULL THEN
      RETURN NULL;
    END IF;
    RAISE EXCEPTION 'warning %: a level change must reset the review state', NEW.warning_id
      USING ERRCODE = 'check_violation';
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM warning_reviews r
    WHERE r.warning_id = NEW.warning_id
      AND r.warning_version = NEW.version
      AND r.to_level IS NOT DISTINCT FROM NEW.reviewed_level
      AND (CASE r.action WHEN 'accept' THEN 'accepted' WHEN 'adjust' THEN 'adjusted'
                         WHEN 'dismiss' THEN 'dismissed' END) = NEW.state
  ) THEN
    RAISE EXCEPTION 'warning %: review state changed to % (version %) with no review decision '
      'in warning_reviews', NEW.warning_id, NEW.state, NEW.version
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    with op.batch_alter_table("warnings") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("withdrawn_reason", sa.Text, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHECK_FUNCTION)


def downgrade() -> None:
    """Back to 0004's trigger and no withdrawal columns (withdrawn warnings are then in
    force again). SQLite drops the columns by rebuilding ``warnings``, which foreign keys
    refuse once reviews exist (see above)."""
    if op.get_bind().dialect.name == "postgresql":
        path = Path(__file__).with_name("0004_review_state_guard.py")
        spec = importlib.util.spec_from_file_location("riskwarn_migration_0004", path)
        assert spec is not None and spec.loader is not None
        previous = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(previous)
        op.execute(previous.CHECK_FUNCTION)
    with op.batch_alter_table("warnings") as batch:
        batch.drop_column("withdrawn_reason")
        batch.drop_column("withdrawn_by")
        batch.drop_column("withdrawn_at")
