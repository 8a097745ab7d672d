"""The review form records exactly the decision made (AppTest on a populated demo store).

The real-browser walk is in ``test_review_browser.py``; these drive the same page through
Streamlit's AppTest: validation, a language switch mid-form, another warning, and the
store refusing an "adjust" that changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import auth, review, text
from riskwarn.store import Store
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("review") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40)
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{home / 'serving.db'}")
    yield s
    s.close()


def _reviewer_at(lang: str = "zh") -> AppTest:
    role, name = auth.DEMO_USERS["reviewer"]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _widget(elements: Any, field: str) -> Any:
    """The review widget of ``field`` (its key carries the draft's serial and the language)."""
    found = [w for w in elements if str(w.key).startswith(f"rv_{field}_")]
    assert len(found) == 1, [w.key for w in elements]
    return found[0]


def _picker(at: AppTest) -> Any:
    """The warning picker (its key carries a digest of the shown labels)."""
    found = [w for w in at.selectbox if str(w.key).startswith("rv_pick")]
    assert len(found) == 1, [w.key for w in at.selectbox]
    return found[0]


def _submit(at: AppTest) -> AppTest:
    _widget(at.button, "submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _switch(at: AppTest, lang: str) -> AppTest:
    """Switch the language (AppTest does not show the sidebar under st.navigation, so the
    session's language is set as the sidebar control's callback sets it)."""
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _messages(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in [*at.error, *at.success, *at.caption])


def test_nothing_is_recorded_until_action_and_reason_are_given(home: Path, store: Store) -> None:
    at = _reviewer_at()
    wid = str(_picker(at).value)
    assert _widget(at.radio, "action").value is None  # no action is preselected
    _submit(at)
    assert "请选择处置方式" in _messages(at)
    _widget(at.radio, "action").set_value("dismiss").run()
    _submit(at)
    assert "请填写理由" in _messages(at)
    _widget(at.radio, "action").set_value("adjust").run()
    _widget(at.text_area, "reason").input("核实后下调").run()
    _submit(at)
    assert "请选择调整后的等级" in _messages(at)
    assert store.warning_reviews(wid).empty


def test_a_language_switch_mid_form_keeps_the_choice(home: Path, store: Store) -> None:
    """Dismiss + reason in Chinese, switch to English, submit: the trail says dismiss."""
    at = _reviewer_at()
    _picker(at).select_index(1).run()
    wid = str(_picker(at).value)
    before = store.get_warning(wid)
    _widget(at.radio, "action").set_value("dismiss").run()
    _widget(at.text_area, "reason").input("误报：该网格本周已开展专项整治").run()
    _switch(at, "en")
    # the English form shows the same choice, in English
    action = _widget(at.radio, "action")
    assert action.value == "dismiss" and action.label == "Action"
    assert _widget(at.text_area, "reason").value == "误报：该网格本周已开展专项整治"
    assert "Will be recorded: Dismiss" in _messages(at)
    _submit(at)
    trail = store.warning_reviews(wid)
    assert trail[["action", "from_level", "reason"]].values.tolist() == [
        ["dismiss", before["effective_level"], "误报：该网格本周已开展专项整治"]
    ]
    assert store.get_warning(wid)["state"] == "dismissed"
    # saved: the form is empty again, and says what was saved
    assert _widget(at.radio, "action").value is None
    assert _widget(at.text_area, "reason").value == ""
    assert "Dismiss" in _messages(at) and review.short_id(wid) in _messages(at)


def test_another_warning_starts_an_empty_form(home: Path, store: Store) -> None:
    at = _reviewer_at()
    _picker(at).select_index(2).run()
    first = str(_picker(at).value)
    _widget(at.radio, "action").set_value("adjust").run()
    options = _widget(at.selectbox, "level").options
    _widget(at.selectbox, "level").set_value(
        next(v for v in ("blue", "yellow") if v != store.get_warning(first)["effective_level"])
    ).run()
    _widget(at.text_area, "reason").input("上一条预警的理由").run()
    _picker(at).select_index(3).run()
    second = str(_picker(at).value)
    assert second != first
    assert _widget(at.radio, "action").value is None
    assert _widget(at.text_area, "reason").value == ""
    assert not [w for w in at.selectbox if str(w.key).startswith("rv_level_")]
    # submitting now records nothing for either warning
    _submit(at)
    assert store.warning_reviews(first).empty and store.warning_reviews(second).empty
    assert len(options) == 3  # every level but the current one


def test_adjust_offers_only_other_levels_and_records_the_chosen_one(
    home: Path, store: Store
) -> None:
    at = _reviewer_at()
    _picker(at).select_index(4).run()
    wid = str(_picker(at).value)
    current = store.get_warning(wid)["effective_level"]
    _widget(at.radio, "action").set_value("adjust").run()
    level = _widget(at.selectbox, "level")
    assert current not in level.options and level.value is None
    target = "yellow" if current != "yellow" else "blue"
    level.set_value(target).run()
    _widget(at.text_area, "reason").input("现场核查：已有巡逻力量").run()
    _switch(at, "en")
    assert _widget(at.selectbox, "level").value == target
    _switch(at, "zh")
    assert _widget(at.selectbox, "level").value == target
    _submit(at)
    trail = store.warning_reviews(wid)
    assert trail[["action", "from_level", "to_level"]].values.tolist() == [
        ["adjust", current, target]
    ]
    assert "已保存" in _messages(at)
    assert at.dataframe[-1].value.shape[0] == 1  # the trail shown on the page


def test_draft_helpers_refuse_incomplete_or_empty_decisions() -> None:
    state: dict[str, Any] = {}
    d = review.draft_for(state, "w1")
    assert review.decision_problem(d, "red") == "choose_action"
    d.update(action="adjust", level="red", reason="x")
    assert review.decision_problem(d, "red") == "same_level"
    d.update(level="orange", reason="  ")
    assert review.decision_problem(d, "red") == "reason_required"
    d.update(reason=" 下调 ")
    assert review.decision_problem(d, "red") is None
    assert review.decision(d) == {"action": "adjust", "level": "orange", "reason": "下调"}
    d.update(action="accept")
    assert review.decision(d)["level"] is None  # a level only travels with 'adjust'
    other = review.draft_for(state, "w2")
    assert other["reason"] == "" and other["serial"] == d["serial"] + 1
    assert review.level_options("orange") == ["red", "yellow", "blue"]
    assert review.short_id("incidents:c1_2:20260105T0000Z") == review.short_id(
        "incidents:c1_2:20260105T0000Z"
    )
    assert text.md_escape("[x](http://a) $y$ <b>") == "\\[x\\](http\\://a) \\$y\\$ \\<b\\>"


def test_a_refused_draft_stays_on_its_version_until_rebased() -> None:
    """A stale submit marks the draft in conflict without moving it to the current
    version (a second click would pass otherwise); only a rebase moves it, as a new
    draft (new widgets) keeping the reason and dropping the action and level."""
    state: dict[str, Any] = {}
    d = review.draft_for(state, "w1", 3)
    assert d["base"] == 3 and d["conflict"] is None
    d.update(action="adjust", level="red", reason="patrol saw it")
    current = {"version": 4, "last_review": {"reviewer": "bob", "action": "dismiss"}}
    review.refuse(state, current)
    again = review.draft_for(state, "w1", 4)  # the page's next run shows version 4
    assert again is d and again["base"] == 3 and again["conflict"]["version"] == 4
    review.rebase(state)
    fresh = review.draft_for(state, "w1", 5)  # based on the conflict's version, not 5
    assert (fresh["base"], fresh["conflict"], fresh["serial"]) == (4, None, d["serial"] + 1)
    assert (fresh["action"], fresh["level"], fresh["reason"]) == (None, None, "patrol saw it")
    review.rebase(state)  # no conflict: nothing happens
    assert state[review.DRAFT_KEY] is fresh
    saved = review.clear_draft(state, 5)
    assert (saved["base"], saved["reason"]) == (5, "")


EVIL_REASON = (
    "**BOLD** :red[RED] $x^2$ <b>html</b>\n\n# heading\n"
    "![beacon](http://127.0.0.1:9/beacon.png) [click](javascript:alert(1))"
)


def test_the_stale_decision_message_shows_the_other_reason_as_plain_text(
    home: Path, store: Store
) -> None:
    """Another reviewer decides first with a reason full of Markdown: the late reviewer's
    error shows that reason escaped (no image fetched, no link, no formatting)."""
    at = _reviewer_at("en")
    _picker(at).select_index(5).run()
    wid = str(_picker(at).value)
    _widget(at.radio, "action").set_value("accept").run()
    _widget(at.text_area, "reason").input("checked on site").run()
    seen = store.get_warning(wid)
    store.review_warning(
        wid, "dismiss", EVIL_REASON, "reviewer2", expected_version=int(seen["version"])
    )
    _submit(at)
    shown = [str(e.value) for e in at.error]
    assert len(shown) == 1 and "already decided" in shown[0], shown
    message = shown[0]
    assert "![" not in message and "](" not in message.replace("\\](", "")
    assert "\\!\\[beacon\\]" in message and "\\*\\*BOLD\\*\\*" in message
    assert "\\$x^2\\$" in message and "\\<b\\>" in message and "\n" not in message
    assert "\\# heading" in message and "\\:red\\[RED\\]" in message  # no colour directive
    assert store.warning_reviews(wid)["reviewer"].tolist() == ["reviewer2"]


def test_promotion_actor_and_reason_are_escaped_on_the_models_page() -> None:
    """Who promoted and why (typed at ``riskwarn promote --reason``) are data in Markdown."""
    from dashboard import verdicts, views

    promo = {"actor": "os:**x**", "details": {"forced_over_gate": True, "gate": "fail"}}
    assert "\\*\\*x\\*\\*" in views.model_note("3", promo, "en")
    v = verdicts.Verdict(
        "incidents", "3", "fail", True, promoted_by="os:**x**", promotion_reason="![i](http://h/i)"
    )
    said = "\n".join(verdicts.verdict_lines(v, "en", "UTC"))
    assert "\\!\\[i\\](http\\://h/i)" in said and "\\*\\*x\\*\\*" in said


def test_the_queue_orders_by_the_level_in_force_dismissed_last() -> None:
    import pandas as pd

    queue = pd.DataFrame(
        {
            "warning_id": ["a", "b", "c", "d", "e"],
            "level": ["orange", "orange", "yellow", "red", "orange"],
            "state": ["dismissed", "new", "adjusted", "new", "accepted"],
            "effective_level": [None, "orange", "red", "red", "orange"],
            "score": [0.9, 0.5, 0.4, 0.3, 0.6],
        }
    )
    assert review.queue_order(queue)["warning_id"].tolist() == ["c", "d", "e", "b", "a"]
    rows = list(
        queue.assign(
            short_id="x", place="p", unit="u", domain_label="d", probability=0.1
        ).itertuples()
    )
    assert "Dismissed (was Orange" in review.pick_label(rows[0], "en")
    assert "已排除（原橙色" in review.pick_label(rows[0], "zh")
    assert "Dismissed" not in review.pick_label(rows[1], "en")


def test_a_dismissed_warning_leaves_the_top_of_the_picker(home: Path, store: Store) -> None:
    at = _reviewer_at("en")
    picker = _picker(at)
    top = str(picker.value)  # the first warning of the queue is chosen
    seen = store.get_warning(top)
    assert seen["effective_level"] is not None
    store.review_warning(top, "dismiss", "false alarm", "reviewer2", int(seen["version"]))
    st.cache_data.clear()  # as another user's review after the warnings' short cache
    at = _reviewer_at("en")
    labels = list(_picker(at).options)
    assert str(_picker(at).value) != top
    dismissed = [i for i, label in enumerate(labels) if label.startswith(review.short_id(top))]
    assert all("Dismissed (was" in labels[i] for i in dismissed)
    in_force = [i for i, label in enumerate(labels) if "Dismissed (was" not in label]
    assert in_force and (not dismissed or min(dismissed) > max(in_force)), labels[:5]


def _reviewer_at_url(wid: str) -> AppTest:
    """The review page opened at ``?warning=<wid>`` in a new session (a reload)."""
    role, name = auth.DEMO_USERS["reviewer"]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = "en"
    at.query_params["warning"] = wid
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_chosen_warning_stays_in_the_url_and_a_reload_reopens_it(home: Path) -> None:
    at = _reviewer_at("en")
    _picker(at).select_index(3).run()
    wid = str(_picker(at).value)
    assert at.query_params.get("warning") in (wid, [wid])
    # a reload: a new session with the same URL shows the same warning, still in the URL
    again = _reviewer_at_url(wid)
    assert str(_picker(again).value) == wid
    _widget(again.radio, "action").set_value("accept").run()  # later runs keep it
    assert str(_picker(again).value) == wid
    assert again.query_params.get("warning") in (wid, [wid])


def test_the_observed_charts_give_each_domain_one_colour_in_both_languages() -> None:
    import pandas as pd

    from dashboard import views

    weeks = pd.DataFrame(
        {
            "week_start": pd.to_datetime(["2024-03-03 16:00"], utc=True),
            "week_end": pd.to_datetime(["2024-03-10 16:00"], utc=True),
            "events": [3],
            "units": [2],
        }
    )

    def colour(domain: str, lang: str) -> str:
        series = views.observed_series(weeks, 1.5, lang, "UTC")
        chart = views.observed_chart(series, lang, "y", views.domain_colour(domain)).to_dict()
        return str(chart["layer"][0]["mark"]["color"])

    for d in ("incidents", "disputes"):
        assert colour(d, "zh") == colour(d, "en") == views.domain_colour(d)
    assert views.domain_colour("incidents") != views.domain_colour("disputes")


def test_the_sidebar_names_a_user_whose_name_is_the_role_once() -> None:
    from dashboard import shell

    assert shell.signed_in_line("评估专家", "评估专家", "zh") == "当前用户：评估专家"
    # the demo's English sidebar read "Signed in as leader (Leader)"
    assert shell.signed_in_line("leader", "Leader", "en") == "Signed in as Leader"
    assert (
        shell.signed_in_line("评估专家乙", "评估专家", "zh") == "当前用户：评估专家乙（评估专家）"
    )
    assert (
        shell.signed_in_line("**x**", "Reviewer", "en") == "Signed in as \\*\\*x\\*\\* (Reviewer)"
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_queue_has_phone_cards_of_the_same_rows(home: Path, lang: str) -> None:
    """At 390 px the queue's eight-column table scrolled sideways (place, unit and state
    out of sight: bench/dashboard_screenshots.py --widths 390, 2026-12-06). The page now
    also sends the same rows as wrapped cards, which its CSS shows instead of the table
    under 640 px (review.QUEUE_CSS; the screenshot at 390 px is the browser's check)."""
    at = _reviewer_at(lang)
    (table,) = [c for c in at.main.get("flex_container") if "rwqueue_table" in str(c.proto)]
    (cards,) = [c for c in at.main.get("flex_container") if "rwqueue_cards" in str(c.proto)]
    assert not table.dataframe  # an HTML table there; the grid behind its expander
    frame = at.dataframe[0]
    html = "".join(str(m.value) for m in cards.get("markdown"))
    assert html.count("class='rw-qcard'") == len(frame.value)
    first = frame.value.iloc[0]
    shown = html.split("class='rw-qcard'")[1]
    for value in (first.iloc[0], first.iloc[3], first.iloc[4], first.iloc[5], first.iloc[7]):
        assert str(value) in shown, (value, shown)  # id, place, unit, probability, state
    css = "".join(str(e.proto) for e in at.get("html"))
    assert "max-width: 640px" in css and ".st-key-rwqueue_table { display: none" in css


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_queue_and_the_trail_fit_their_frame_as_wrapping_tables(
    home: Path, store: Store, lang: str
) -> None:
    """At 800-1280 px the queue's data grid scrolled sideways in its frame (at 1280 px its
    "valid until" was cut at the frame's edge, its state out of sight) and the trail's
    reasons were cut mid-sentence (bench/dashboard_screenshots.py --widths 800 1024 1280,
    2026-12-06): the grid sizes columns to their longest value and never wraps. Both are
    now HTML tables that fit their frame and wrap, every column and every word of a
    reason in them; the grid (sort, search, CSV) is behind an expander; a frame narrower
    than 760 px shows the queue's cards (review.QUEUE_CSS; the screenshots are the
    browser's check)."""
    import re
    from html import escape

    at = _reviewer_at(lang)
    wid = str(_picker(at).value)
    reason = "现场核查：" + "边坡裂缝扩大，" * 20 + "end of the reason"
    version = int(store.get_warning(wid)["version"])
    store.review_warning(wid, "accept", reason, "reviewer", version)
    st.cache_data.clear()  # decided outside the page: its cached reads do not know yet
    at = _reviewer_at(lang)
    assert str(_picker(at).value) == wid
    (table,) = [c for c in at.main.get("flex_container") if "rwqueue_table" in str(c.proto)]
    html = "".join(str(h.value) for h in table.get("html"))
    grid = at.dataframe[0].value  # the same rows, in the grid behind the expander
    heads = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", html.split("</thead>")[0])
    assert heads == [escape(str(c)) for c in grid.columns] and len(heads) == 8, heads
    # the state on one line where the frame is wide (zh "待研判" broke at 1280 px)
    assert f'<th class="rw-wkeep" scope="col">{escape(str(grid.columns[7]))}</th>' in html
    assert html.count("<tr>") == len(grid) + 1
    first = html.split("<tbody>")[1].split("</tr>")[0]
    for value in grid.iloc[0].drop(grid.columns[1]):  # the level is its badge
        assert escape(str(value)) in first, (value, first)
    css = "".join(str(e.proto) for e in at.get("html"))
    assert "container-type: inline-size" in css and "@container (max-width: 759px)" in css
    assert ".rw-tablebox { max-height: 430px; overflow-y: auto; overflow-x: hidden;" in css
    (trail,) = [c for c in at.main.get("flex_container") if "rwwide_trail" in str(c.proto)]
    shown = "".join(str(h.value) for h in trail.get("html"))
    assert reason in shown and 'class="rw-text"' in shown, shown
    # under 760 px (a phone) the same decisions as cards, the whole reason in each
    # (review of 2026-12-07: at 390 px the table cut it after its first word)
    (cards,) = [c for c in at.main.get("flex_container") if "rwnarrow_trail" in str(c.proto)]
    said = "".join(str(m.value) for m in cards.get("markdown"))
    assert escape(reason) in said and "rw-qcard" in said, said
    assert at.dataframe[-1].value.iloc[-1].iloc[5] == reason  # the grid's copy (CSV)
    labels = {
        "en": "Table view: sort, search, download CSV",
        "zh": "表格视图：排序、搜索、下载",
    }
    # the queue's, the evidence's (its facts and tables: test_dashboard_ux_dec7.py) and
    # the trail's
    assert [e.label for e in at.expander].count(labels[lang]) == 3
