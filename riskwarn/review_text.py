"""What a review reason may be, and the level an accept gives. The serving store refuses a reason with a problem
(``Store.review_warning``); the review form asks the same function first, to say so in
words before anything is sent."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

# A reason is a reviewer's account of a decision, read by every later reviewer in the
# trail and kept in the audit log: a few sentences, not a document (attack review C5,
# stop 41: a 10,000,000-character reason was stored twice and shown in full).
REASON_MAX_CHARS = 2000
_LINE_CONTROLS = frozenset("\n\r\t")


def reason_problem(reason: str | None) -> str | None:
    """Why ``reason`` cannot be recorded, as a text key, or None when it can:
    ``reason_control`` for a control character other than a line break or tab (a NUL
    byte, which PostgreSQL's text cannot hold), ``reason_required`` for nothing visible
    (empty, white space, only invisible format characters such as U+200B), and
    ``reason_too_long`` past :data:`REASON_MAX_CHARS` characters (trimmed)."""
    text = "" if reason is None else str(reason)
    if any(unicodedata.category(c) == "Cc" and c not in _LINE_CONTROLS for c in text):
        return "reason_control"
    if not any(not c.isspace() and unicodedata.category(c) != "Cf" for c in text):
        return "reason_required"
    if len(text.strip()) > REASON_MAX_CHARS:
        return "reason_too_long"
    return None


def accepted_level(warning: Mapping[str, Any]) -> str | None:
    """The level an 'accept' of ``warning`` (a ``warnings`` row) gives it: the level in
    force (a reviewer's adjustment counts); for a dismissed warning, none being in force,
    the level the system raised it at (``level``): not a level a reviewer set before the
    dismissal (red adjusted to orange, dismissed, accepted: red). The review form states
    it before submit (``dashboard.review.outcome_words``); another level is an 'adjust'."""
    if warning["state"] == "dismissed":
        return warning["level"]
    return warning["reviewed_level"] or warning["level"]
