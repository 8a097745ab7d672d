"""A reviewer refused because they decided the warning themselves in another tab or
window is told so, not named as if someone else decided (user review of 6 Dec 2026:
"该预警已被 评估专家 于 … 研判" with the reader's own display name)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dashboard import review

PEOPLE = {"reviewer": "评估专家", "reviewer2": "评估专家乙"}
DECIDED = {
    "reviewer": "reviewer",
    "reviewed_at": pd.Timestamp("2026-01-02T03:00Z"),
    "action": "dismiss",
    "to_level": None,
    "reason": "tab A dismiss",
}


def test_own_decision_in_another_tab_is_said_as_yours() -> None:
    zh = review.stale_message(DECIDED, "zh", people=PEOPLE, state="dismissed", me="reviewer")
    assert zh.startswith("您已在另一个标签页或窗口中于") and "评估专家" not in zh
    assert "排除" in zh and "tab A dismiss" in zh
    en = review.stale_message(DECIDED, "en", people=PEOPLE, state="dismissed", me="reviewer")
    assert en.startswith("You already decided this warning (in another tab or window) at")
    assert "评估专家" not in en and "tab A dismiss" in en
    # someone else's decision still names them
    other = review.stale_message(DECIDED, "zh", people=PEOPLE, state="dismissed", me="reviewer2")
    assert "已被 评估专家 于" in other


def test_review_page_passes_the_reader() -> None:
    page = (Path(__file__).parents[1] / "dashboard" / "pages" / "warnings.py").read_text()
    assert "me=ctx.user.username" in page
