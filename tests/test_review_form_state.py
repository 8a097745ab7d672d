"""The review form's state (user review of 6 Dec 2026, seen once in a browser): after
"adjust" and a Submit without a level, 红色 picked quickly showed in the dropdown while
the caption and the submit had no level, and re-picking it sent no change; after
browser Back, Dismiss + Submit saved nothing and said nothing. The form now draws its
widgets with the same arguments every run (the draft's value given once through their
state), submits the values its widgets returned in that run, and keys its submit button
by the warning, not the draft's serial, so no click is dropped without a word."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dashboard import review

PAGE = (Path(__file__).parents[1] / "dashboard" / "pages" / "warnings.py").read_text()


def test_the_submit_uses_the_widgets_values_not_the_drafts_copy() -> None:
    state: dict[str, Any] = {}
    draft = review.draft_for(state, "w1", 3)
    draft.update(action="adjust", level=None, reason="")  # a copy from an earlier run
    form = review.submitted_draft(draft, "adjust", "red", " level up ")
    assert review.decision_problem(form, "yellow") is None
    assert review.decision(form) == {"action": "adjust", "level": "red", "reason": "level up"}
    assert form["base"] == 3
    # a level left from "adjust" does not travel with another action
    other = review.submitted_draft({**draft, "level": "red"}, "dismiss", None, "x")
    assert review.decision(other)["level"] is None
    # nothing chosen: the form says why (never a silent no-op)
    assert review.decision_problem(review.submitted_draft(draft, "adjust", None, "x"), "yellow")


def test_widgets_are_seeded_once_and_drawn_with_fixed_arguments() -> None:
    state: dict[str, Any] = {}
    review.seed_widget(state, "k", None)
    state["k"] = "red"  # the reviewer's pick
    review.seed_widget(state, "k", None)  # a later run with a stale draft
    assert state["k"] == "red"
    # no widget argument follows the draft (it changed the widget under the reviewer)
    assert "index=options.index(draft" not in PAGE and 'value=draft["reason"]' not in PAGE
    assert PAGE.count("review.seed_widget(") == 3
    assert "review.submitted_draft(draft, action, level, reason)" in PAGE


def test_the_submit_button_keeps_its_key_while_the_draft_moves_on() -> None:
    state: dict[str, Any] = {}
    draft = review.draft_for(state, "w1", 1)
    before = review.submit_key("w1", "zh")
    review.clear_draft(state, 2)  # saved: a new draft, new serial
    assert review.draft_for(state, "w1", 2)["serial"] != draft["serial"]
    assert review.submit_key("w1", "zh") == before
    assert review.submit_key("w2", "zh") != before and review.submit_key("w1", "en") != before
    assert "key=review.submit_key(wid, lg)" in PAGE
    assert 'st.error(t("submit_in_conflict", lg)' in PAGE  # a refused click says why
