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
    byte, which PostgreSQL's text cannot hold) or an invisible format character beside
    visible text (Unicode Cf: bidi overrides and isolates, U+200B), ``reason_required``
    for nothing visible (empty, white space, only invisible format characters), and
    ``reason_too_long`` past :data:`REASON_MAX_CHARS` characters (trimmed)."""
    text = "" if reason is None else str(reason)
    if any(unicodedata.category(c) == "Cc" and c not in _LINE_CONTROLS for c in text):
        return "reason_control"
    if not any(not c.isspace() and unicodedata.category(c) != "Cf" for c in text):
        return "reason_required"
    # an invisible format character (Cf): a bidi override or isolate makes the trail
    # show other words than recorded ("ok\u202egnp.exe" reads "okexe.png"), a zero-width
    # one splits words unseen (attack review 2026-12-07)
    if any(unicodedata.category(c) == "Cf" for c in text):
        return "reason_control"
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


# Who decided, as the store records it: the dashboard's signed-in login (a users-file
# name such as ``reviewer2``, or an OIDC e-mail address). Letters of any script, digits
# and . _ - + @ only, at most 128: no markup (``<img src=x onerror=...>``), spaces,
# control or bidi characters in the trail and the audit log (attack review 2026-12-07).
REVIEWER_MAX_CHARS = 128
_REVIEWER_PUNCTUATION = frozenset("._-+@")


def reviewer_problem(reviewer: str | None) -> str | None:
    """Why ``reviewer`` cannot be recorded as who decided, in words, or None."""
    name = "" if reviewer is None else str(reviewer)
    if not name.strip():
        return "a review needs a reviewer"
    if len(name) > REVIEWER_MAX_CHARS:
        return f"a reviewer's name is at most {REVIEWER_MAX_CHARS} characters"
    if not all(c.isalnum() or c in _REVIEWER_PUNCTUATION for c in name):
        return (
            "a reviewer's name is a login: letters, digits and . _ - + @ only (no spaces, "
            "markup or control characters)"
        )
    return None
