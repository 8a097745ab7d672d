"""PostgreSQL: a warning's review state changes only with its review decision on record.

The application roles may update ``warnings`` (the pipeline refreshes content, the
dashboard records decisions), so without this a process could set a warning to
'dismissed' with no trace. A deferred constraint trigger checks at commit that:

* a new warning starts as ``state = 'new'``, no reviewed level, version 1;
* a content refresh leaves the review state and version alone, and a level change
  resets the state to 'new' (no reviewed level) and raises the version by one;
* any other change of state / reviewed level / version raises the version by one and
  has its row in ``warning_reviews`` (same warning, that version, same resulting level
  and the action that gives that state), written in the same transaction or before.

The trigger belongs to the owner: the application roles cannot disable or drop it
(issue 13.12). SQLite (the single-user demo store) has no roles and no such trigger.

Revision ID: 0004_review_state_guard
Revises: 0003_staging_token
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_review_state_guard"
down_revision: str | None = "0003_staging_token"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK_FUNCTION = """
CREATE OR REPLACE FUNCTION riskwarn_check_review_state() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.state <> 'new' OR NEW.reviewed_level IS NOT NULL OR NEW.version <> 1 THEN
      RAISE EXCEPTION 'warning %: a new warning starts unreviewed (state new, version 1)',
        NEW.warning_id USING ERRCODE = 'check_violation';
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
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CHECK_FUNCTION)
    op.execute(
        "CREATE CONSTRAINT TRIGGER warnings_review_state AFTER INSERT OR UPDATE ON warnings "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "EXECUTE FUNCTION riskwarn_check_review_state()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS warnings_review_state ON warnings")
    op.execute("DROP FUNCTION IF EXISTS riskwarn_check_review_state()")
