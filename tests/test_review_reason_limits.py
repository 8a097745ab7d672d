"""A review reason's limits (attack review C5, stop 41), on real stores.

A 10,000,000-character reason was recorded twice (the decision and the audit entry) and
shown in full in every reviewer's trail; a reason of zero-width spaces counted as a
reason; a NUL byte was accepted on SQLite (PostgreSQL's text cannot hold one). Now the
store refuses each, records nothing, and the review form says why first (the same
function, ``riskwarn.review_text.reason_problem``), in English and Chinese.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import review
from dashboard.i18n import t
from riskwarn.review_text import REASON_MAX_CHARS, reason_problem
from riskwarn.store import Store, warning_id_for
from tests.test_store import DOMAIN, ORIGIN
from tests.test_store_review_replaced import publish

WID = warning_id_for(DOMAIN, "c000", ORIGIN)


@pytest.mark.parametrize(
    ("reason", "problem"),
    [
        ("confirmed by the police station", None),
        ("现场核实，已通知社区\n第二行\t备注", None),
        ("x" * REASON_MAX_CHARS, None),
        ("  " + "x" * REASON_MAX_CHARS + "  \n", None),  # trimmed as recorded
        ("x" * (REASON_MAX_CHARS + 1), "reason_too_long"),
        ("", "reason_required"),
        (None, "reason_required"),
        (" \n\t\u3000", "reason_required"),
        ("\u200b\u200b\u200b", "reason_required"),
        ("\u200b \ufeff\u2060", "reason_required"),
        ("confirmed\x00", "reason_control"),
        ("ok \x1b[31m red", "reason_control"),
    ],
)
def test_reason_problem(reason: str | None, problem: str | None) -> None:
    assert reason_problem(reason) == problem


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'serving.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    s = Store(url)
    s.upgrade()
    yield s
    s.close()


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("x" * 10_000_000, f"at most {REASON_MAX_CHARS} characters"),
        ("\u200b\u200b", "needs a reason"),
        ("confirmed\x00", "control characters"),
    ],
)
def test_the_store_refuses_and_records_nothing(store: Store, reason: str, words: str) -> None:
    publish(store, ORIGIN)
    audit_before = len(store.audit_log())
    with pytest.raises(ValueError, match=words):
        store.review_warning(WID, "dismiss", reason, "reviewer", 1)
    assert store.warning_reviews().empty
    assert store.get_warning(WID)["version"] == 1
    assert len(store.audit_log()) == audit_before
    # a reason at the limit is recorded whole
    done = store.review_warning(WID, "dismiss", "y" * REASON_MAX_CHARS, "reviewer", 1)
    assert done["state"] == "dismissed"
    assert store.warning_reviews()["reason"].tolist() == ["y" * REASON_MAX_CHARS]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_form_says_why_in_both_languages(lang: str) -> None:
    draft = {"action": "dismiss", "level": None, "reason": "x" * (REASON_MAX_CHARS + 1)}
    problem = review.decision_problem(draft, "red")
    assert problem == "reason_too_long"
    words = t(problem, lang)
    assert "2000" in words.replace(",", "") and words != problem
    draft["reason"] = "\u200b"
    assert review.decision_problem(draft, "red") == "reason_required"
    draft["reason"] = "a\x00"
    assert t(review.decision_problem(draft, "red") or "", lang) != "reason_control"


# ------------------------- attack review 2026-12-07: bidi overrides, markup as a reviewer

BIDI = ["\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f", "\u200b", "\ufeff"]


@pytest.mark.parametrize("char", BIDI)
def test_a_reason_with_a_bidi_or_invisible_format_character_is_refused(
    store: Store, char: str
) -> None:
    """ "ok\u202egnp.exe" was recorded: the trail showed "okexe.png"."""
    reason = f"ok{char}gnp.exe"
    assert reason_problem(reason) == "reason_control"
    publish(store, ORIGIN)
    with pytest.raises(ValueError, match="invisible format characters"):
        store.review_warning(WID, "dismiss", reason, "reviewer", 1)
    assert store.warning_reviews().empty
    # a line break and a tab stay part of a reason
    done = store.review_warning(WID, "dismiss", "第一行\n\t第二行", "reviewer", 1)
    assert done["state"] == "dismissed"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_form_says_a_direction_character_is_why(lang: str) -> None:
    draft = {"action": "dismiss", "level": None, "reason": "ok\u202egnp.exe"}
    assert review.decision_problem(draft, "red") == "reason_control"
    assert ("right-to-left" if lang == "en" else "从右到左") in t("reason_control", lang)


@pytest.mark.parametrize(
    "reviewer",
    [
        "<img src=x onerror=alert(1)>",
        "alice\u202e",
        "ali\u200bce",
        "alice\nbob",
        "Alice Smith",
        "x" * 129,
        "a\x00",
    ],
)
def test_a_reviewer_name_that_is_no_login_is_refused(store: Store, reviewer: str) -> None:
    publish(store, ORIGIN)
    audit_before = len(store.audit_log())
    with pytest.raises(ValueError, match="reviewer"):
        store.review_warning(WID, "dismiss", "checked on site", reviewer, 1)
    assert store.warning_reviews().empty and len(store.audit_log()) == audit_before


@pytest.mark.parametrize(
    "reviewer", ["reviewer2", "zhang.san@example.org", "li-si_01", "张三", "ops+duty"]
)
def test_logins_and_oidc_addresses_are_reviewers(store: Store, reviewer: str) -> None:
    publish(store, ORIGIN)
    done = store.review_warning(WID, "dismiss", "checked on site", reviewer, 1)
    assert done["state"] == "dismissed"
    assert store.warning_reviews()["reviewer"].tolist() == [reviewer]
