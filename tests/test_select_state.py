"""The state of ``shell.select``'s boxes (the review page's warning picker and filters, the
models page's domains) across language switches, raced or not.

The race (left open by the review form's fix of 2026-12-07): the widgets were keyed by
the language alone, and Streamlit drops the state of widgets a run did not draw only when
a run completes; a run stopped for the next click keeps it. A warning picked in Chinese,
English, another picked (its run stopped too), Chinese again: the first Chinese box came
back under its key still holding the first warning, which the page reopened (and wrote
back as the choice). Here Streamlit's widget state is played by :class:`Session`, runs
stopped or completed as the test says.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from dashboard import shell

OPTIONS = [None, "w1", "w2", "w3"]
WORDS = {"zh": "预警", "en": "Warning"}


class Session:
    """One browser session's widget state as Streamlit keeps it: a widget's value is its
    state while it has one (its ``index`` is used only when it is first drawn); a change
    sets the state and runs the widget's ``on_change`` before the next run; the state of
    a widget a run did not draw goes only at the end of a run that completes."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.widgets: dict[str, tuple[Callable[..., None] | None, tuple[Any, ...]]] = {}
        self.drawn: list[str] = []

    def selectbox(
        self,
        label: str,
        options: list[Any],
        index: int | None = 0,
        format_func: Callable[[Any], str] = str,
        key: str = "",
        on_change: Callable[..., None] | None = None,
        args: tuple[Any, ...] = (),
        **_: Any,
    ) -> Any:
        self.widgets[key] = (on_change, args)
        self.drawn.append(key)
        if key not in self.state:
            self.state[key] = None if index is None else options[index]
        return self.state[key]

    def run(self, lang: str, box: str = "rv_pick", texts_vary: bool = False) -> tuple[Any, str]:
        """One run drawing the box ``box`` in ``lang`` (stopped right after, unless
        :meth:`complete` follows): its value and its widget's key."""
        self.drawn = []
        value = shell.select(
            self,
            WORDS[lang],
            OPTIONS,
            lambda w: f"{WORDS[lang]} {w}",
            box,
            lang,
            texts_vary=texts_vary,
        )
        return value, self.drawn[-1]

    def complete(self) -> None:
        """The run completed: the widgets it did not draw lose their state."""
        for key in [k for k in self.widgets if k not in self.drawn]:
            self.state.pop(key, None)
            del self.widgets[key]

    def change(self, key: str, value: Any) -> None:
        """The user's choice on the widget at ``key``, as Streamlit applies it before the
        next run."""
        self.state[key] = value
        on_change, args = self.widgets[key]
        if on_change is not None:
            on_change(*args)


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Session:
    s = Session()
    monkeypatch.setattr(shell, "st", SimpleNamespace(session_state=s.state))
    return s


@pytest.mark.parametrize("texts_vary", [False, True])  # a filter; the warning picker
def test_a_raced_language_switch_never_reopens_the_earlier_choice(
    session: Session, texts_vary: bool
) -> None:
    _, zh = session.run("zh", texts_vary=texts_vary)
    session.change(zh, "w1")
    assert session.run("zh", texts_vary=texts_vary)[0] == "w1"
    session.complete()
    # English, then another warning picked on its box: both runs stopped by the next click
    value, en = session.run("en", texts_vary=texts_vary)
    assert value == "w1" and en != zh
    session.change(en, "w2")
    assert session.run("en", texts_vary=texts_vary)[0] == "w2"
    value, again = session.run("zh", texts_vary=texts_vary)  # Chinese at once
    assert value == "w2"  # not the first warning again
    assert session.state[zh] == "w1" and again != zh  # the stale box is not drawn again
    session.complete()
    assert session.run("zh", texts_vary=texts_vary) == ("w2", again)  # a rerun: the same box


def test_a_choice_whose_run_was_stopped_at_once_is_kept(session: Session) -> None:
    """The English pick's run stopped before it drew the box (Chinese clicked at once):
    the choice reached the session only through the box's ``on_change``."""
    _, zh = session.run("zh")
    session.change(zh, "w1")
    session.run("zh")
    session.complete()
    _, en = session.run("en")
    session.change(en, "w3")  # no run draws the box until ...
    assert session.run("zh")[0] == "w3"  # ... Chinese


def test_a_pick_on_the_box_of_the_language_before_is_taken(session: Session) -> None:
    """The English box drawn while the Chinese one, still in the browser, got a pick: the
    pick is the reviewer's, and the next run shows it instead of the English box's own."""
    _, zh = session.run("zh")
    session.change(zh, "w1")
    session.run("zh")
    session.complete()
    value, en = session.run("en")
    assert value == "w1"
    session.change(zh, "w3")  # on the Chinese box, not replaced yet in the browser
    value, after = session.run("en")
    assert value == "w3" and after != en
    session.complete()
    assert session.run("en") == ("w3", after)


def test_a_pick_survives_language_switches_and_reruns(session: Session) -> None:
    """The normal flow (every run completes): the pick stays through switches, each
    language's box is a new widget (its texts in that language: a box kept under one key
    showed the old language's text, streamlit PR 13788), and a rerun in the same language
    keeps the same widget."""
    value, zh = session.run("zh")
    assert value is None and zh == "rv_pick"  # the first Chinese box: the plain key
    session.complete()
    session.change(zh, "w2")
    last = ("zh", zh)
    for lang in ("zh", "en", "en", "zh", "zh", "en"):
        value, key = session.run(lang)
        session.complete()
        assert value == "w2", lang
        assert (key == last[1]) == (lang == last[0]), (lang, key, last)
        last = (lang, key)
    assert [k for k in session.state if k in session.widgets] == [key]  # one box kept
