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


DRAWN: dict[str, tuple[str, tuple[Any, ...]]] = {}  # a widget key: its field, its callback's args


def _change(state: dict[str, Any], key: str, value: Any) -> None:
    """A reviewer's change to the widget at ``key``, as Streamlit applies it before a run:
    the widget's new state, then its ``on_change`` callback with the args it was drawn with."""
    field, args = DRAWN[key]
    state[key] = value
    review.set_field(*args)
    assert args[1] == field


def _draw(state: dict[str, Any], warning_id: str, lang: str) -> dict[str, str]:
    """One run of the form (dashboard/pages/warnings.py): its widget keys, each seeded."""
    draft = review.draft_for(state, warning_id, 1)
    review.drawn_in(draft, lang)
    keys = {}
    for field in review.FIELDS:
        key = review.widget_key(field, draft, lang)
        review.seed_widget(state, key, draft[field])
        DRAWN[key] = (field, review.field_args(state, field, key, draft))
        draft[field] = state[key]  # what the widget returns, as the page takes it back
        keys[field] = key
    return keys


def test_a_language_switch_never_brings_back_an_earlier_forms_choice() -> None:
    """CI of 2026-12-07: Accept in Chinese, English, Dismiss, Chinese again, each click
    sent before the run of the one before finished. Streamlit keeps the state of widgets
    a stopped run did not draw, so the first Chinese widgets (still holding Accept) were
    drawn again under the same key and their Accept taken over the draft's Dismiss."""
    state: dict[str, Any] = {}
    zh = _draw(state, "w1", "zh")
    _change(state, zh["action"], "accept")
    _change(state, zh["reason"], "已核实")
    en = _draw(state, "w1", "en")  # stopped for the next click: the zh states stay
    assert state[en["action"]] == "accept" and state[en["reason"]] == "已核实"
    _change(state, en["action"], "dismiss")
    _change(state, en["reason"], "duplicate")
    again = _draw(state, "w1", "zh")
    assert state[zh["action"]] == "accept"  # the stale state, left by the stopped runs ...
    assert again["action"] != zh["action"]  # ... is not the Chinese form's any more
    assert state[again["action"]] == "dismiss" and state[again["reason"]] == "duplicate"
    assert state[review.DRAFT_KEY]["action"] == "dismiss"
    # the same language again (a rerun): the same widgets, the reviewer's value kept
    assert _draw(state, "w1", "zh") == again


def test_a_click_on_the_form_of_the_language_before_is_taken_and_shown() -> None:
    """Chinese's form drawn while the English one, clicked, was still in the browser: the
    click is the reviewer's choice on this warning, so the draft takes it, and the next
    form shows it instead of its widgets' own earlier value."""
    state: dict[str, Any] = {}
    en = _draw(state, "w1", "en")
    _change(state, en["action"], "accept")
    zh = _draw(state, "w1", "zh")
    _change(state, en["action"], "dismiss")  # on the English form, still shown
    after = _draw(state, "w1", "zh")
    assert after["action"] != zh["action"] and state[after["action"]] == "dismiss"
    assert state[review.DRAFT_KEY]["action"] == "dismiss"


def test_a_click_on_another_warnings_form_changes_nothing_here() -> None:
    """The page moved on to w2 while w1's form, clicked, was still in the browser: that
    choice was made on w1, not w2 (before, the callback wrote it into w2's draft, and
    w2's fresh form came up with it already chosen)."""
    state: dict[str, Any] = {}
    w1 = _draw(state, "w1", "zh")
    w2 = _draw(state, "w2", "zh")
    _change(state, w1["action"], "dismiss")
    assert state[review.DRAFT_KEY]["warning_id"] == "w2"
    assert state[review.DRAFT_KEY]["action"] is None
    assert _draw(state, "w2", "zh") == w2 and state[w2["action"]] is None
    # and a draft saved since (a new, empty one for the same warning) the same way
    review.clear_draft(state, 2)
    fresh = _draw(state, "w2", "zh")
    _change(state, w2["action"], "accept")
    assert state[review.DRAFT_KEY]["action"] is None and state[fresh["action"]] is None
    assert "args=review.field_args(st.session_state" in PAGE and PAGE.count("field_args(") == 3
    assert "review.drawn_in(draft, lg)" in PAGE
