"""The review trail says what level a dismissal set aside (``warning_reviews.dismissed_level``,
migration 0015), in English and Chinese.

The store has recorded it since 0015, but the trail on the warnings page (its table, its
cards on a narrow frame and its data grid, which goes through ``dashboard.shell.grid``)
still read a bare "Dismissed" / "已排除": a dismissed warning dismissed again (a second
reviewer confirming it) read from "Dismissed" to "Dismissed", with nothing of the level
dismissed. Now a dismissed level cell reads "Dismissed (was Orange (II))" /
"已排除（原橙色（II级））", and so do the messages that name someone else's dismissal
(a refused decision, a warning that left the queue) and the form's note that an accept
does not restore the level a dismissal had set aside, also after a second dismissal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard import review
from dashboard.i18n import level_label
from riskwarn.store import Store
from tests.test_store import publish
from tests.test_store_dismissed_level import RED

WAS = {"en": "Dismissed (was {level})", "zh": "已排除（原{level}）"}
LANGS = ("en", "zh")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'serving.db'}")
    s.upgrade()
    publish(s)
    # raised red, adjusted to orange, dismissed, dismissed again, accepted (back to red)
    s.review_warning(RED, "adjust", "school holiday", "alice", 1, level="orange")
    s.review_warning(RED, "dismiss", "false alarm", "bob", 2)
    s.review_warning(RED, "dismiss", "confirmed false alarm", "carol", 3)
    s.review_warning(RED, "accept", "patrol confirms it", "dave", 4)
    yield s
    s.close()


def _was(level: str, lang: str) -> str:
    return WAS[lang].format(level=level_label(level, lang))


@pytest.mark.parametrize("lang", LANGS)
def test_the_trail_says_the_level_each_dismissal_set_aside(
    store: Store, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trail = review.trail_frame(store.warning_reviews(RED), [], lang)
    shown = review.shown_trail(trail, lang, "UTC")
    red, orange, was = level_label("red", lang), level_label("orange", lang), _was("orange", lang)
    assert shown.iloc[:, 3].tolist() == [red, orange, was, was]  # from
    assert shown.iloc[:, 4].tolist() == [orange, was, was, red]  # to
    # the table, the narrow frame's cards and the data grid (shell.grid) show it
    assert review.trail_table(shown).count(was) == 4
    assert review.trail_cards(shown).count(was) == 4
    from dashboard import shell

    got: list[Any] = []
    monkeypatch.setattr(shell.st, "dataframe", lambda data, **_: got.append(data))
    shell.grid(shown, hide_index=True, width="stretch")
    assert (got[0].iloc[:, 4] == was).sum() == 2


@pytest.mark.parametrize("lang", LANGS)
def test_a_dismissal_recorded_before_0015_reads_as_the_migration_fills_it(lang: str) -> None:
    """Without ``dismissed_level`` (a frame of older columns, or a NULL the migration could
    not derive) the level is the dismissal's ``from_level``, else the one before it; a
    dismissal with neither reads plain "Dismissed"."""
    reviews = pd.DataFrame(
        {
            "reviewed_at": pd.to_datetime(
                ["2026-03-02 09:00", "2026-03-02 10:00", "2026-03-02 11:00"], utc=True
            ),
            "reviewer": ["bob", "carol", "dave"],
            "action": ["dismiss", "dismiss", "accept"],
            "from_level": ["yellow", None, None],
            "to_level": [None, None, "red"],
            "reason": ["false alarm", "confirmed", "patrol confirms it"],
            "warning_version": [2, 3, 4],
        }
    )
    shown = review.shown_trail(review.trail_frame(reviews, [], lang), lang, "UTC")
    was = _was("yellow", lang)
    assert shown.iloc[:, 4].tolist() == [was, was, level_label("red", lang)]
    assert shown.iloc[:, 3].tolist()[1:] == [was, was]
    unknown = reviews.iloc[1:].assign(dismissed_level=[None, None])  # nothing to derive
    shown = review.shown_trail(review.trail_frame(unknown, [], lang), lang, "UTC")
    dismissed = {"en": "Dismissed", "zh": "已排除"}[lang]
    assert shown.iloc[:, 4].tolist() == [dismissed, level_label("red", lang)]


def test_messages_naming_a_dismissal_say_the_level_it_set_aside(store: Store) -> None:
    row = store.warning_reviews(RED).astype(object).iloc[2]  # the dismissal again
    second = row.where(row.notna(), None).to_dict()  # as get_warning's last_review
    assert (second["action"], second["from_level"]) == ("dismiss", None)
    en = review.decided_words(second, "en", "UTC")
    zh = review.decided_words(second, "zh", "UTC")
    assert en["action"] == "Dismiss (was Orange (II))"
    assert zh["action"] == "排除（原橙色（II级））"
    said = review.stale_message(second, "en", "UTC", state="dismissed")
    assert said.startswith("carol already decided this warning at "), said
    assert "(Dismiss (was Orange (II)), reason: confirmed false alarm)" in said, said
    said = review.stale_message(second, "zh", "UTC", state="dismissed")
    assert "（排除（原橙色（II级））" in said, said
    # the form before an accept on it: the orange it had is not restored
    dismissed = {
        "state": "dismissed",
        "level": "red",
        "reviewed_level": None,
        "effective_level": None,
        "last_review": second,
    }
    assert "(before the dismissal it was at Orange (II), which is not restored" in (
        review.outcome_words("accept", None, dismissed, "en")
    )
    assert "排除前为橙色（II级），不会恢复" in review.outcome_words("accept", None, dismissed, "zh")
