"""A dismissal records the level it dismissed: ``warning_reviews.dismissed_level``.

A ``dismiss`` decision's ``from_level`` is the level in force when it was taken; a
warning already dismissed is in force at no level, so a second dismissal of it (another
reviewer confirming it, with a reason of their own) was stored from none to none: the
trail did not say what level was dismissed (review of 2026-12-06). ``dismissed_level``
is set on every ``dismiss`` row: the level in force it set aside, or, for a warning
already dismissed, the level the dismissal in force had set aside. NULL on ``accept``
and ``adjust`` rows.

Old rows are filled from the review trail itself, warning by warning in decision order:
a ``dismiss`` row's own ``from_level``, else (it dismissed a dismissed warning) the
``dismissed_level`` of the dismissal before it; a ``dismiss`` row with neither (the trail
holds no earlier dismissal: not derivable) stays NULL. The audit entries of decisions
(``review_dismiss``) hold the same ``from_level`` as the row, nothing more.

``warning_reviews`` is append-only (migration 0001's triggers): the fill lifts its UPDATE
guard for its own statements only (SQLite: the trigger is dropped and created again in
the same transaction; PostgreSQL: ``DISABLE TRIGGER`` / ``ENABLE TRIGGER``, which the
owner role running migrations may do) and puts it back before the migration ends.

Revision ID: 0015_review_dismissed_level
Revises: 0014_content_reopens_review
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_review_dismissed_level"
down_revision: str | None = "0014_content_reopens_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_GUARD = (
    "CREATE TRIGGER warning_reviews_no_update BEFORE UPDATE ON warning_reviews "
    "BEGIN SELECT RAISE(ABORT, 'warning_reviews is append-only'); END"
)


def fill(rows: Sequence[tuple[int, str, str, str | None]]) -> dict[int, str]:
    """``{review_id: dismissed_level}`` for the ``dismiss`` rows of ``rows`` (review id,
    warning id, action, from_level; any order) whose level can be derived."""
    out: dict[int, str] = {}
    carried: dict[str, str | None] = {}  # warning -> level set aside by the dismissal in force
    for review_id, warning_id, action, from_level in sorted(rows):
        if action != "dismiss":
            carried[warning_id] = None
            continue
        level = from_level if from_level is not None else carried.get(warning_id)
        carried[warning_id] = level
        if level is not None:
            out[review_id] = level
    return out


def upgrade() -> None:
    op.add_column("warning_reviews", sa.Column("dismissed_level", sa.String(8), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT review_id, warning_id, action, from_level FROM warning_reviews")
    ).all()
    levels = fill([(int(r[0]), str(r[1]), str(r[2]), r[3]) for r in rows])
    if not levels:
        return
    dialect = bind.dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS warning_reviews_no_update")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE warning_reviews DISABLE TRIGGER warning_reviews_append_only")
    update = sa.text("UPDATE warning_reviews SET dismissed_level = :l WHERE review_id = :r")
    bind.execute(update, [{"r": r, "l": level} for r, level in sorted(levels.items())])
    if dialect == "sqlite":
        op.execute(SQLITE_GUARD)
    elif dialect == "postgresql":
        op.execute("ALTER TABLE warning_reviews ENABLE TRIGGER warning_reviews_append_only")


def downgrade() -> None:
    # a plain DROP COLUMN (SQLite >= 3.35 too): a batch rebuild would lose the table's
    # append-only triggers
    op.execute("ALTER TABLE warning_reviews DROP COLUMN dismissed_level")
