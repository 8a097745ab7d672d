"""A dismissal records the level it dismissed (``warning_reviews.dismissed_level``,
migration 0015), on SQLite and PostgreSQL.

Review finding (2026-12-06): a ``dismiss`` of a warning already dismissed (a second
reviewer confirming it) was stored from none to none, so the trail did not say which
level was dismissed. ``from_level`` keeps its meaning (the level in force when decided:
none for a dismissed warning, which the dashboard's trail reads as "Dismissed"); every
dismiss row now also carries ``dismissed_level``, and the upgrade fills older rows from
the trail where it can be derived."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from riskwarn.store import Store, warning_id_for
from tests.test_store import DOMAIN, ORIGIN, publish

RED, ORANGE = (warning_id_for(DOMAIN, u, ORIGIN) for u in ("c000", "c001"))
COLS = ["action", "from_level", "to_level", "dismissed_level"]


def _trail(store: Store, wid: str) -> list[list[object]]:
    reviews = store.warning_reviews(wid)
    return reviews[COLS].astype(object).where(reviews[COLS].notna(), None).values.tolist()


def test_a_dismissal_records_the_level_it_dismissed(store: Store) -> None:
    publish(store)
    store.review_warning(RED, "adjust", "school holiday", "alice", 1, level="orange")
    store.review_warning(RED, "dismiss", "false alarm", "bob", 2)
    store.review_warning(RED, "dismiss", "confirmed false alarm", "carol", 3)  # again
    store.review_warning(RED, "accept", "patrol confirms it", "dave", 4)
    assert _trail(store, RED) == [
        ["adjust", "red", "orange", None],
        ["dismiss", "orange", None, "orange"],
        ["dismiss", None, None, "orange"],  # before: from none to none, nothing more
        ["accept", None, "red", None],
    ]
    details = [
        e["details"] for e in store.audit_entries("warning", RED, ("review_dismiss",))
    ]  # newest first
    assert [(d["from_level"], d["dismissed_level"]) for d in details] == [
        (None, "orange"),
        ("orange", "orange"),
    ]


def test_the_upgrade_fills_old_dismissals_from_the_trail(store_url: str) -> None:
    """A store at 0014 with the trail the old code wrote (the second dismissal from none)
    upgrades: each dismissal gets the level it set aside, accept rows none, a dismissal
    with nothing to derive it from stays none; the table is still append-only."""
    old = Store(store_url)
    assert old.upgrade("0014_content_reopens_review") == "0014_content_reopens_review"
    publish(old)
    insert = sa.text(  # the columns the code before 0015 wrote
        "INSERT INTO warning_reviews (warning_id, action, from_level, to_level, reason, "
        "reviewer, reviewed_at, warning_version) VALUES (:w, :a, :f, :t, 'why', :who, :at, :v)"
    )
    trail = [  # RED: dismissed, dismissed again (from none), accepted, dismissed
        (RED, "dismiss", "red", None, "bob"),
        (RED, "dismiss", None, None, "carol"),
        (RED, "accept", None, "red", "dave"),
        (RED, "dismiss", "red", None, "erin"),
        (ORANGE, "dismiss", None, None, "frank"),  # its first dismissal predates the trail
    ]
    with old.engine.begin() as conn:
        for v, (w, a, f, t, who) in enumerate(trail, start=2):
            at = ORIGIN + timedelta(hours=v)
            conn.execute(insert, {"w": w, "a": a, "f": f, "t": t, "who": who, "at": at, "v": v})
    old.close()

    store = Store(store_url)
    assert store.upgrade() == store.head_revision()  # through 0015 (and any later)
    assert _trail(store, RED) == [
        ["dismiss", "red", None, "red"],
        ["dismiss", None, None, "red"],
        ["accept", None, "red", None],
        ["dismiss", "red", None, "red"],
    ]
    assert _trail(store, ORANGE) == [["dismiss", None, None, None]]  # not derivable
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as c:
        c.execute(sa.text("UPDATE warning_reviews SET dismissed_level = 'blue'"))
    store.close()


def test_fill_derives_levels_in_decision_order() -> None:
    import importlib.util

    path = (
        Path(__file__).resolve().parents[1]
        / "riskwarn/store/migrations/versions/0015_review_dismissed_level.py"
    )
    spec = importlib.util.spec_from_file_location("m0015", path)
    assert spec is not None and spec.loader is not None
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    rows = [
        (4, "w1", "dismiss", None),
        (1, "w1", "dismiss", "red"),
        (2, "w1", "dismiss", None),
        (3, "w1", "accept", None),
        (5, "w2", "dismiss", None),
    ]
    assert m.fill(rows) == {1: "red", 2: "red"}
