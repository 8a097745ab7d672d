"""Accept on a dismissed warning says, before submit, the level the warning will have
(review of 2026-12-07, AppTest en + zh on a demo store).

The reviewer's walk: dismiss a warning, reopen it (badge "Dismissed"), choose Accept,
submit. The form said only "Will be recorded: Accept" and the confirmation "Accept
(version 3)"; the store returned the warning to the level the system had raised, which a
reviewer meaning "confirm the dismissal" did not expect, and the trail read "— -> Yellow".
Now the form says "Accept — the warning returns to level ... as raised by the system; it
was dismissed by ...", the confirmation the level it has now, and the trail "from
Dismissed". The level itself is the store's (riskwarn.review_text.accepted_level).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, review
from dashboard.i18n import level_label
from riskwarn.store import Store
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
WORDS = {
    "en": {
        "returns": "Will be recorded: Accept — the warning returns to level {level} as raised "
        "by the system; it was dismissed by reviewer2",
        "saved": "Accept: now at level {level} (version 3)",
        "from": "From",
        "dismissed": "Dismissed",
        "dismissed_was": "Dismissed (was {level})",
    },
    "zh": {
        "returns": "将记录：确认——预警恢复为系统发出时的等级{level}；此前已被 评估专家乙 排除",
        "saved": "确认，现为{level}（第 3 版）",
        "from": "原等级",
        "dismissed": "已排除",
        "dismissed_was": "已排除（原{level}）",
    },
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("accept_dismissed") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40)
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _reviewer_at(lang: str) -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    role, name = auth.DEMO_USERS["reviewer"]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _widget(elements: Any, field: str) -> Any:
    found = [w for w in elements if str(w.key).startswith(f"rv_{field}_")]
    assert len(found) == 1, [w.key for w in elements]
    return found[0]


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in (at.caption, at.success) for e in kind)


@pytest.mark.parametrize(("lang", "index"), [("en", 1), ("zh", 2)])
def test_accept_of_a_dismissed_warning_says_the_level_it_returns_to(
    home: Path, lang: str, index: int
) -> None:
    words = WORDS[lang]
    at = _reviewer_at(lang)
    pick = next(w for w in at.selectbox if str(w.key).startswith("rv_pick"))
    store = Store(f"sqlite:///{home / 'serving.db'}")
    ids = {review.short_id(w): str(w) for w in store.warnings()["warning_id"]}
    shown = [ids[str(o).split(" · ")[0]] for o in pick.options]  # labels start with it
    fresh = [w for w in shown if store.get_warning(w)["version"] == 1]
    wid = fresh[index]  # one not decided yet (the module's home is shared)
    raised = store.get_warning(wid)["level"]
    store.review_warning(wid, "dismiss", "duplicate of another report", "reviewer2", 1)
    at = _reviewer_at(lang)  # the page as reopened, the warning dismissed
    next(w for w in at.selectbox if str(w.key).startswith("rv_pick")).set_value(wid).run()
    _widget(at.radio, "action").set_value("accept").run()
    said = _texts(at)
    assert words["returns"].format(level=level_label(raised, lang)) in said, said
    _widget(at.text_area, "reason").input("patrol confirms the risk").run()
    _widget(at.button, "submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert words["saved"].format(level=level_label(raised, lang)) in _texts(at), _texts(at)
    w = store.get_warning(wid)
    assert (w["state"], w["effective_level"], w["version"]) == ("accepted", raised, 3)
    # the trail shown: the accept came from the dismissed state, to the raised level
    next(w for w in at.selectbox if str(w.key).startswith("rv_pick")).set_value(wid).run()
    trail = at.dataframe[-1].value
    was = words["dismissed_was"].format(level=level_label(raised, lang))  # what it set aside
    assert trail[words["from"]].tolist() == [level_label(raised, lang), was]
    store.close()


def test_the_form_states_the_outcome_of_every_decision() -> None:
    """Red adjusted to orange by reviewer2, then dismissed: an accept returns it to red
    (as raised), and the form says the orange is not restored; on a warning in force the
    form says the level it keeps or goes to."""
    people = {"reviewer2": "评估专家乙"}
    dismissed = {
        "state": "dismissed",
        "level": "red",
        "reviewed_level": None,
        "effective_level": None,
        "last_review": {"action": "dismiss", "reviewer": "reviewer2", "from_level": "orange"},
    }
    en = review.outcome_words("accept", None, dismissed, "en", people)
    assert en == (
        "Will be recorded: Accept — the warning returns to level Red (I) as raised by the "
        "system; it was dismissed by reviewer2 (before the dismissal it was at Orange (II), "
        "which is not restored: for that level, choose Adjust level)"
    )
    zh = review.outcome_words("accept", None, dismissed, "zh", people)
    assert zh.startswith(
        "将记录：确认——预警恢复为系统发出时的等级红色（I级）；此前已被 评估专家乙 排除"
    )
    assert "排除前为橙色（II级），不会恢复" in zh
    adjusted = {**dismissed, "state": "adjusted", "reviewed_level": "orange"}
    adjusted["effective_level"] = "orange"
    assert review.outcome_words("accept", None, adjusted, "en").endswith(
        "the warning stays at level Orange (II)"
    )
    assert review.outcome_words("adjust", "yellow", adjusted, "en").endswith(
        "the warning goes from Orange (II) to Yellow (III)"
    )
    assert review.outcome_words("dismiss", None, adjusted, "zh").endswith(
        "预警将不再有生效等级（已排除）"
    )
    assert review.outcome_words("adjust", "blue", dismissed, "en").endswith(
        "the dismissed warning returns at level Blue (IV); it was dismissed by reviewer2"
    )


def test_the_trail_reads_a_decision_with_no_level_as_dismissed() -> None:
    reviews = pd.DataFrame(
        {
            "reviewed_at": pd.to_datetime(["2026-03-02 09:00", "2026-03-02 10:00"], utc=True),
            "reviewer": ["bob", "carol"],
            "action": ["dismiss", "accept"],
            "from_level": ["orange", None],
            "to_level": [None, "red"],
            "reason": ["false alarm", "confirmed"],
            "warning_version": [2, 3],
        }
    )
    events = [
        {
            "at": pd.Timestamp("2026-03-02 11:00", tz="UTC"),
            "actor": "pipeline",
            "action": "withdraw_warning",
            "details": {"run_id": "incidents:20260302T0000Z", "version": 4},
        }
    ]
    for lang in ("en", "zh"):
        # the dismissal set the orange aside (tests/test_trail_dismissed_level.py)
        dismissed = WORDS[lang]["dismissed_was"].format(level=level_label("orange", lang))
        shown = review.shown_trail(review.trail_frame(reviews, events, lang), lang, "UTC")
        assert shown.iloc[:, 3].tolist() == [level_label("orange", lang), dismissed, "—"]
        assert shown.iloc[:, 4].tolist() == [dismissed, level_label("red", lang), "—"]
