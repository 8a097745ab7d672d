"""A change to what a reviewer sees reopens the review, at any level.

``publish_run`` reset a warning's review (state 'new', version raised) only when its
level changed: the same run published again with the same level but another
probability and other reasons kept the version, so a decision sent on the old content
was recorded against content the reviewer never saw (review of 2026-12-06). Now a
change to anything the review page shows (``riskwarn.store.publishing.REVIEWED_FIELDS``)
reopens the review. No column changes.

PostgreSQL: the review-state trigger of migration 0006 refused a reset to 'new' at the
same level with no review decision; it now allows it when one of the reviewed columns
changed (the raw value: publishing compares them as shown, a stricter test, so every
reset it makes passes), and still refuses it otherwise; a state or version change that
changes one of them without that reset is refused, as a level change was (a review
decision never changes content).

Revision ID: 0014_content_reopens_review
Revises: 0013_run_unscored
Create Date: 2026-12-06
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0014_content_reopens_review"
down_revision: str | None = "0013_run_unscored"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVEL_BLOCK = """  IF NEW.level <> OLD.level THEN
    IF NEW.state = 'new' AND NEW.reviewed_level IS NULL THEN
      RETURN NULL;
    END IF;
"""
CONTENT_BLOCK = """  IF NEW.level <> OLD.level
     OR NEW.probability IS DISTINCT FROM OLD.probability
     OR NEW.reasons::jsonb IS DISTINCT FROM OLD.reasons::jsonb
     OR NEW.evidence::jsonb IS DISTINCT FROM OLD.evidence::jsonb
     OR NEW.valid_from IS DISTINCT FROM OLD.valid_from
     OR NEW.valid_to IS DISTINCT FROM OLD.valid_to
     OR NEW.lead_time_hours IS DISTINCT FROM OLD.lead_time_hours
     OR NEW.county_code IS DISTINCT FROM OLD.county_code
     OR NEW.township_code IS DISTINCT FROM OLD.township_code THEN
    IF NEW.state = 'new' AND NEW.reviewed_level IS NULL THEN
      RETURN NULL;
    END IF;
"""


def _previous() -> ModuleType:
    path = Path(__file__).with_name("0006_warning_withdrawal.py")
    spec = importlib.util.spec_from_file_location("riskwarn_migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_function() -> str:
    """0006's trigger function with its level-change rule widened to the reviewed content."""
    text: str = _previous().CHECK_FUNCTION
    old = (
        LEVEL_BLOCK
        + "    RAISE EXCEPTION 'warning %: a level change must reset the review state', "
        "NEW.warning_id\n      USING ERRCODE = 'check_violation';\n  END IF;\n"
    )
    assert text.count(old) == 1, "0006's trigger function is not the one this migration edits"
    new = (
        CONTENT_BLOCK
        + "    RAISE EXCEPTION 'warning %: a change of its level or reviewed content must "
        "reset the review state', NEW.warning_id\n      USING ERRCODE = 'check_violation';\n"
        "  END IF;\n"
    )
    return text.replace(old, new)


CHECK_FUNCTION = check_function()


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHECK_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_previous().CHECK_FUNCTION)
