"""Real-browser walk of the review flow, per role (Playwright + Debian's Chromium).

A reviewer chooses each action, switches the language in the middle of the form, submits,
and the decision stored in the serving store must be exactly the one chosen; another
warning must start an empty form; a browser refresh keeps the session. A leader sees the
queue read-only, a data scientist is refused. Screenshots of both languages go to
tests/artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from dashboard.review import short_id
from riskwarn.store import Store
from testkit.dashboard_demo import DEMO_PASSWORD, demo_home
from testkit.dashboard_server import (
    CHROMIUM,
    SCRIPT_STATE_JS,
    HeldSocket,
    dashboard_env,
    launch_chromium,
    script_state,
    serve,
    slow_runs,
    slow_trail_env,
    wait_idle,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)
ZH: dict[str, Any] = {
    "user": "用户名",
    "password": "密码",
    "sign_in": "登录",
    "page": "预警研判",
    "pick": "选择预警",
    "reason": "理由（必填）",
    "submit": "提交",
    "saved": "已保存",
    "accept": "确认",
    "adjust": "调整等级",
    "dismiss": "排除",
    "level": "调整为",
    "levels": {"red": "红色（I级）", "orange": "橙色（II级）", "yellow": "黄色（III级）"},
    "language": "中文",
    "form_for": "针对预警 ",
    "action_label": "处置",
}
EN: dict[str, Any] = {
    "page": "Warnings review",
    "pick": "Warning",
    "reason": "Reason (required)",
    "submit": "Submit",
    "saved": "Saved",
    "accept": "Accept",
    "adjust": "Adjust level",
    "dismiss": "Dismiss",
    "level": "New level",
    "levels": {"red": "Red (I)", "orange": "Orange (II)", "yellow": "Yellow (III)"},
    "language": "English",
    "form_for": "For warning ",
    "action_label": "Action",
}
WORDS = {"zh": ZH, "en": EN}
# an element not drawn by an earlier run still in the page (Streamlit marks those stale)
FRESH = "xpath=//*[not(ancestor-or-self::*[@data-stale='true'])]"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A populated demo home: (its folder, its store URL)."""
    home = tmp_path_factory.mktemp("review-browser") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40)
    return home, city.store_url


@pytest.fixture(scope="module")
def served(demo: tuple[Path, str]) -> Iterator[tuple[str, str]]:
    """The dashboard over the demo home: (base URL, store URL)."""
    home, store_url = demo
    with serve(home, dashboard_env(home, store_url)) as base:
        yield base, store_url


SLOW_S = 3.0  # each run of the slow dashboard's review page, after its form is drawn


@pytest.fixture(scope="module")
def served_slow(demo: tuple[Path, str]) -> Iterator[tuple[str, str, Path]]:
    """A second dashboard over the same home whose review page sleeps :data:`SLOW_S`
    below its form on every run started within ``slow_runs(switch)``
    (testkit.dashboard_server.slow_trail_env): a click sent once the form shows lands on
    a run still going. (base URL, store URL, switch.) A test's steps before its race
    wait for each run to finish and need no slow run (each was 3 s more, 2026-12-07)."""
    home, store_url = demo
    switch = home.parent / "slow-trail-on"
    env = dashboard_env(home, store_url, **slow_trail_env(SLOW_S, switch))
    with serve(home, env) as base:
        yield base, store_url, switch


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = launch_chromium(sync_api, p)
        yield b
        b.close()


class Walk:
    """One signed-in browser page on the warnings review page."""

    open_walks: ClassVar[list[Walk]] = []

    def __init__(
        self, browser: Any, base: str, username: str, socket: HeldSocket | None = None
    ) -> None:
        from playwright.sync_api import expect

        self.expect = expect
        expect.set_options(timeout=60_000)
        self.context = browser.new_context(viewport={"width": 1440, "height": 1700}, locale="zh-CN")
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        if socket is not None:  # before the page opens its connection
            self.page.route_web_socket(re.compile(r".*/_stcore/stream"), socket.route)
        self.base = base
        self.lang = "zh"
        Walk.open_walks.append(self)
        self.page.goto(base)
        self.page.get_by_label(ZH["user"]).fill(username)
        self.page.get_by_label(ZH["password"]).fill(DEMO_PASSWORD)
        self.page.get_by_role("button", name=ZH["sign_in"]).click()
        self.expect(self.page.get_by_role("heading", name="本周风险总览")).to_be_visible()

    def idle(self) -> None:
        """Wait until the script run finished (testkit.dashboard_server.wait_idle: the
        app's script state, no stale element, the page's end marker). A click's run may
        not have reached the browser yet when this returns: read the page through
        :meth:`fresh` locators."""
        wait_idle(self.page)

    def fresh(self, locator: Any) -> Any:
        """``locator`` without the elements of an earlier run still in the page, marked
        stale, while a run draws (two review forms at once: the stale one where the
        form was and the new one where the run put it, till the run ends; CI
        2026-12-07, a strict-mode error on two "Dismiss" radios)."""
        return locator.and_(self.page.locator(FRESH))

    @property
    def w(self) -> dict[str, Any]:
        return WORDS[self.lang]

    def open_review(self) -> None:
        self.page.get_by_role("link", name=self.w["page"]).click()
        self.expect(self.page.get_by_role("heading", name=self.w["page"])).to_be_visible()
        self.idle()

    def switch(self, lang: str) -> None:
        self.fresh(self.page.get_by_role("radio", name=WORDS[lang]["language"])).click()
        self.lang = lang
        self.idle()
        self.expect(self.page.get_by_role("link", name=self.w["page"])).to_be_visible()

    def pick(self, warning_id: str) -> None:
        sid = short_id(warning_id)
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        combo = self.fresh(self.page.get_by_role("combobox", name=self.w["pick"]))
        # A script run finishing while the list is open re-renders the select box and
        # closes the list (CI 2026-12-06: the option was detached and never came back):
        # wait for the page to be idle, and open the list again if it closed.
        for attempt in range(3):
            self.idle()
            combo.click()
            combo.press_sequentially(sid)
            option = self.page.get_by_role("option", name=re.compile(f"^{sid} "))
            try:
                option.click(timeout=20_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
                self.page.keyboard.press("Escape")
                combo.fill("")
        self.idle()
        if "form_for" in self.w:
            self.expect(self.page.get_by_text(self.w["form_for"] + sid)).to_be_visible()
        self.expect(combo).to_have_value(re.compile(f"^{sid} "))

    def action(self, action: str) -> None:
        group = self.fresh(self.page.get_by_role("radiogroup", name=self.w["action_label"]))
        group.get_by_text(self.w[action], exact=True).click()
        self.idle()
        self.expect(self.radio(action)).to_be_checked()

    def radio(self, action: str) -> Any:
        return self.fresh(self.page.get_by_role("radio", name=self.w[action], exact=True))

    def level_box(self) -> Any:
        return self.fresh(self.page.get_by_role("combobox", name=self.w["level"]))

    def level(self, level: str) -> None:
        combo = self.level_box()
        combo.click()
        self.page.get_by_role("option", name=self.w["levels"][level]).click()
        self.idle()
        self.expect(combo).to_have_value(self.w["levels"][level])

    def reason_box(self) -> Any:
        # Streamlit leaves the replaced text box in the page, hidden, for a moment
        return self.fresh(self.page.get_by_label(self.w["reason"]).filter(visible=True))

    def reason(self, text: str) -> None:
        self.reason_box().fill(text)

    def submit(self) -> None:
        self.idle()
        self.fresh(self.page.get_by_role("button", name=self.w["submit"])).click()
        self.idle()

    def saved(self, warning_id: str) -> None:
        self.expect(
            self.page.get_by_text(re.compile(f"{self.w['saved']}.*{short_id(warning_id)}"))
        ).to_be_visible()

    def form_is_empty(self) -> None:
        self.idle()
        for action in ("accept", "adjust", "dismiss"):
            self.expect(self.radio(action)).not_to_be_checked()
        self.expect(self.reason_box()).to_have_value("")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.wait_for_timeout(600)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _trail(store_url: str, warning_id: str) -> list[list[Any]]:
    store = Store(store_url)
    try:
        trail = store.warning_reviews(warning_id)
        cols = ["action", "from_level", "to_level", "reason", "reviewer"]
        return trail[cols].astype(object).where(trail[cols].notna(), None).values.tolist()
    finally:
        store.close()


def _new_warnings(store_url: str) -> list[dict[str, Any]]:
    """New red and orange warnings in force, in the queue's order (expired ones are not
    queued: the geohazard nowcast's few-hour warnings of the fixture's Monday are not)."""
    store = Store(store_url)
    try:
        w = store.warnings(state="new")
        w = w.loc[w["valid_to"] > pd.Timestamp.now(tz="UTC")]
        return w.loc[w["level"].isin(["red", "orange"])].to_dict("records")
    finally:
        store.close()


def test_reviewer_decisions_are_recorded_exactly_as_made(
    served: tuple[str, str], browser: Any
) -> None:
    base, store_url = served
    todo = _new_warnings(store_url)[:6]
    assert len(todo) == 6
    walk = Walk(browser, base, "reviewer")
    walk.open_review()

    # 1. the first warning of the queue: dismiss + reason in Chinese, switch to English,
    #    submit (the steps of issue 12, which stored "accept" with the dismissal's reason)
    w1 = todo[0]
    walk.action("dismiss")
    walk.reason("误报：该网格本周已开展专项整治")
    walk.shot("review_form_zh")
    walk.switch("en")
    walk.shot("review_form_en")
    walk.submit()
    walk.expect(walk.page.get_by_text(EN["saved"])).to_be_visible()
    assert _trail(store_url, w1["warning_id"]) == [
        ["dismiss", w1["level"], None, "误报：该网格本周已开展专项整治", "reviewer"]
    ]
    walk.saved(w1["warning_id"])
    walk.form_is_empty()  # saved: the form starts again

    # 2. adjust in English, choose a level, switch to Chinese, submit
    w2 = todo[1]
    walk.pick(w2["warning_id"])
    walk.action("adjust")
    target = "yellow"
    walk.level(target)
    walk.reason("Patrols already in place; one level down.")
    walk.switch("zh")
    walk.expect(walk.radio("adjust")).to_be_checked()
    walk.expect(walk.level_box()).to_have_value(ZH["levels"][target])
    walk.submit()
    walk.saved(w2["warning_id"])
    assert _trail(store_url, w2["warning_id"]) == [
        ["adjust", w2["level"], target, "Patrols already in place; one level down.", "reviewer"]
    ]

    # 3. accept, switch twice, change the mind to dismiss, then accept again, submit
    w3 = todo[2]
    walk.pick(w3["warning_id"])
    walk.action("accept")
    walk.reason("已电话核实，属实")
    walk.switch("en")
    walk.action("dismiss")
    walk.switch("zh")
    walk.expect(walk.radio("dismiss")).to_be_checked()
    walk.action("accept")
    walk.submit()
    walk.saved(w3["warning_id"])
    assert _trail(store_url, w3["warning_id"]) == [
        ["accept", w3["level"], w3["level"], "已电话核实，属实", "reviewer"]
    ]

    # 4. a half-filled form does not follow the reviewer to another warning
    w4, w5 = todo[3], todo[4]
    walk.pick(w4["warning_id"])
    walk.action("adjust")
    walk.level("yellow")
    walk.reason("这条理由属于上一条预警")
    walk.page.get_by_text(ZH["submit"]).first.hover()  # leave the text box
    walk.pick(w5["warning_id"])
    walk.form_is_empty()
    walk.expect(walk.level_box()).to_have_count(0)
    walk.submit()
    walk.expect(walk.page.get_by_text("请选择处置方式")).to_be_visible()
    assert _trail(store_url, w4["warning_id"]) == [] and _trail(store_url, w5["warning_id"]) == []

    # 5. an adjust to the warning's own level cannot be chosen
    walk.action("adjust")
    combo = walk.level_box()
    combo.click()
    options = walk.page.get_by_role("option").all_inner_texts()
    assert ZH["levels"][w5["level"]] not in options and len(options) == 3
    walk.page.keyboard.press("Escape")

    # 6. odd clicks: adjust with a level and a reason, change the mind to accept, then
    #    double-click submit: one decision, an accept at the warning's own level
    other = next(lv for lv in ("yellow", "blue", "orange") if lv != w5["level"])
    walk.level(other)
    walk.reason("先调整后改为确认")
    walk.action("accept")
    walk.idle()
    walk.fresh(walk.page.get_by_role("button", name=ZH["submit"])).dblclick()
    walk.idle()
    walk.saved(w5["warning_id"])
    assert _trail(store_url, w5["warning_id"]) == [
        ["accept", w5["level"], w5["level"], "先调整后改为确认", "reviewer"]
    ]
    # ... and the half-filled form left on w4 (step 4) does not come back with it
    walk.pick(w4["warning_id"])
    walk.form_is_empty()
    assert _trail(store_url, w4["warning_id"]) == []

    walk.context.close()


def test_admin_decides_and_leader_reads_and_scientist_is_refused(
    served: tuple[str, str], browser: Any
) -> None:
    base, store_url = served
    todo = _new_warnings(store_url)[-1]
    admin = Walk(browser, base, "admin")
    admin.switch("en")
    admin.open_review()
    admin.pick(todo["warning_id"])
    admin.action("dismiss")
    admin.reason("duplicate of last week's warning")
    admin.switch("zh")
    admin.submit()
    admin.saved(todo["warning_id"])
    assert _trail(store_url, todo["warning_id"]) == [
        ["dismiss", todo["level"], None, "duplicate of last week's warning", "admin"]
    ]
    admin.context.close()

    leader = Walk(browser, base, "leader")
    leader.open_review()
    leader.expect(leader.page.get_by_text("您的角色只读")).to_be_visible()
    leader.expect(leader.page.get_by_role("button", name=ZH["submit"])).to_have_count(0)
    leader.shot("review_leader_zh")
    leader.context.close()

    scientist = Walk(browser, base, "scientist")
    scientist.expect(scientist.page.get_by_role("link", name=ZH["page"])).to_have_count(0)
    scientist.context.close()


def test_clicks_racing_a_language_switch_never_record_another_decision(
    served: tuple[str, str], browser: Any
) -> None:
    """Attack (review 2026-12-05): the reviewer does not wait for the page. A choice
    clicked and the language switched at once, then submit clicked while the switch's
    run is still going (the old language's button may be what is under the mouse), twice.
    Whatever happens, the store holds at most one decision per warning, and only the one
    chosen: never another action, level or reason, never two."""
    base, store_url = served
    todo = _new_warnings(store_url)
    walk = Walk(browser, base, "reviewer2")
    walk.open_review()
    for i, (action, switch_to) in enumerate([("dismiss", "en"), ("adjust", "zh")]):
        w = todo[-1 - i]  # still new: not decided by the other tests
        walk.pick(w["warning_id"])
        if action == "adjust":
            walk.action("adjust")
            walk.level("yellow")  # the queue's new warnings are red or orange
            chosen_level: str | None = "yellow"
        else:
            chosen_level = None
        reason = f"race {i}: 理由 reason"
        walk.reason(reason)
        group = walk.page.get_by_role("radiogroup", name=walk.w["action_label"])
        group.get_by_text(walk.w[action], exact=True).click()  # no wait
        walk.page.get_by_role("radio", name=WORDS[switch_to]["language"]).click()  # no wait
        before = walk.w
        walk.lang = switch_to
        for _ in range(2):  # submit in whichever language is showing, without waiting
            button = walk.page.get_by_role(
                "button", name=re.compile(f"^({before['submit']}|{walk.w['submit']})$")
            ).first
            button.click(timeout=10_000)
        walk.idle()
        walk.page.wait_for_timeout(1500)
        walk.idle()  # the language the page settled in (a click may land on a rerun)
        english = walk.fresh(walk.page.get_by_role("radio", name=EN["language"])).is_checked()
        walk.lang = "en" if english else "zh"
        trail = _trail(store_url, w["warning_id"])
        assert len(trail) <= 1, trail
        if trail:
            to_level = chosen_level if action == "adjust" else None
            assert trail == [[action, w["level"], to_level, reason, "reviewer2"]], trail
    walk.context.close()
    # (a submit lost on a rerun records nothing, which the reviewer sees: allowed; runs
    # on 2026-12-05 recorded 0 or 1 of the 2 races)


def test_a_language_switch_racing_the_form_keeps_every_choice(
    served_slow: tuple[str, str, Path], browser: Any
) -> None:
    """CI of 2026-12-07 (a loaded machine): Accept, a switch to English, Dismiss, a switch
    back to Chinese, and the Chinese form showed the first choice again; submitted, it
    would have recorded it. Each language's widgets kept their state by key, and a run
    stopped for the next click (Streamlit stops a run when new input arrives) does not
    drop the state of widgets it did not draw: the Chinese widgets of the first choice
    came back with it and overwrote the draft. Here every run of the review page is
    slow after its form, so the clicks land on runs still going, every time: the level
    and reason changed in English and the action changed in English, each followed at
    once by the switch to Chinese, must all be what the Chinese form shows and what is
    recorded."""
    base, store_url, switch = served_slow
    todo = _new_warnings(store_url)
    w = todo[len(todo) // 2]  # not one the other tests decide (the first ones, the last)
    raised = w["level"]
    other = "orange" if raised == "red" else "red"
    walk = Walk(browser, base, "reviewer")
    walk.open_review()
    walk.pick(w["warning_id"])
    walk.action("adjust")  # every run finished: the Chinese widgets hold these
    walk.level("yellow")
    walk.reason("中文理由")
    walk.reason_box().blur()  # sent
    walk.page.wait_for_timeout(500)
    walk.idle()
    with slow_runs(switch):  # from here every run is slow
        _race_the_form(walk, store_url, w, raised, other)
    walk.context.close()


def _race_the_form(walk: Walk, store_url: str, w: dict[str, Any], raised: str, other: str) -> None:
    """The steps of the test above that race the slow runs."""

    def to_chinese() -> None:  # at once, on the run still going
        walk.page.get_by_role("radio", name=ZH["language"]).click()
        walk.lang = "zh"
        walk.idle()
        walk.expect(walk.page.get_by_role("link", name=ZH["page"])).to_be_visible()

    # 1. English; on its form (its run still going) another level and another reason
    walk.page.get_by_role("radio", name=EN["language"]).click()
    walk.lang = "en"
    combo = walk.page.get_by_role("combobox", name=EN["level"])
    combo.click()
    walk.page.get_by_role("option", name=EN["levels"][other]).click()
    walk.reason_box().fill("English reason")
    to_chinese()
    walk.expect(walk.radio("adjust")).to_be_checked(timeout=20_000)
    walk.expect(walk.level_box()).to_have_value(ZH["levels"][other], timeout=20_000)
    walk.expect(walk.reason_box()).to_have_value("English reason", timeout=20_000)

    # 2. English; on its form (its run still going) Dismiss, then Chinese at once
    walk.page.get_by_role("radio", name=EN["language"]).click()
    walk.lang = "en"
    group = walk.page.get_by_role("radiogroup", name=EN["action_label"])
    group.get_by_text(EN["dismiss"], exact=True).click()
    to_chinese()
    walk.expect(walk.radio("dismiss")).to_be_checked(timeout=20_000)
    walk.expect(walk.reason_box()).to_have_value("English reason", timeout=20_000)
    walk.submit()
    walk.saved(w["warning_id"])
    assert _trail(store_url, w["warning_id"]) == [
        ["dismiss", raised, None, "English reason", "reviewer"]
    ]


# the wait four browser tests used until 2026-12-07: the running icon is never drawn with
# this app's toolbar (toolbarMode = "minimal"), so it passed at once, mid-run
OLD_WAIT_JS = "() => !document.querySelector('[data-testid=stStatusWidgetRunningIcon]')"


def test_the_shared_wait_waits_out_a_slow_run(
    served_slow: tuple[str, str, Path], browser: Any
) -> None:
    """``testkit.dashboard_server.wait_idle``, the browser tests' one wait, waits for a
    run still going (here a review-page run slowed :data:`SLOW_S` after its form), where
    the old wait for the running icon's absence passed at once; and the state it reads
    is there (a Streamlit that renamed it would make the waits fail, not pass)."""
    base, _, switch = served_slow
    walk = Walk(browser, base, "reviewer")
    walk.open_review()
    page = walk.page
    assert script_state(page) == "notRunning"
    with slow_runs(switch):
        page.get_by_role("radio", name=EN["language"]).click()
        page.wait_for_function(f"() => ({SCRIPT_STATE_JS})() === 'running'")
        assert page.evaluate(OLD_WAIT_JS)  # the old wait: "done", mid-run
        started = time.monotonic()
        wait_idle(page)
        waited = time.monotonic() - started
    assert script_state(page) == "notRunning"
    assert waited > SLOW_S / 3, waited  # the rest of the slowed run, not a poll or two
    walk.expect(page.get_by_role("heading", name=EN["page"])).to_be_visible(timeout=1_000)
    walk.context.close()


def test_a_language_switch_racing_the_picker_keeps_the_warning_picked(
    served_slow: tuple[str, str, Path], browser: Any
) -> None:
    """The warning picker's share of the race above (``shell.select`` keyed its box by
    the language alone): a warning picked in Chinese, English, another warning picked on
    the English picker while that run is still going, Chinese at once: the first Chinese
    picker, its state kept by the stopped runs, came back and reopened the first warning.
    Nothing is decided here. In the full suite under load (CI 2026-12-07, twice) the
    Chinese picker came back on the first warning another way: the pick's run had put
    ``?warning=<second>`` in the address, the browser sent the language click with the
    address before it, and the page took the old address for a new link
    (``views.focus_warning`` now reads the address once per visit of the page)."""
    base, store_url, switch = served_slow
    todo = _new_warnings(store_url)
    first, second = (short_id(w["warning_id"]) for w in todo[1:3])
    walk = Walk(browser, base, "reviewer2")
    walk.open_review()
    walk.pick(todo[1]["warning_id"])  # every run finished: the Chinese picker holds it
    with slow_runs(switch):  # from here every run is slow
        _race_the_picker(walk, first, second)
    walk.context.close()


def _race_the_picker(walk: Walk, first: str, second: str) -> None:
    """The steps of the test above that race the slow runs."""
    walk.page.get_by_role("radio", name=EN["language"]).click()
    walk.lang = "en"
    combo = walk.page.get_by_role("combobox", name=EN["pick"])
    combo.click()  # drawn above the form: its run is still going
    combo.press_sequentially(second)
    walk.page.get_by_role("option", name=re.compile(f"^{second} ")).click()
    walk.expect(combo).to_have_value(re.compile(f"^{second} "), timeout=2_000)  # taken
    walk.page.get_by_role("radio", name=ZH["language"]).click()  # at once
    walk.lang = "zh"
    walk.idle()
    picker = walk.fresh(walk.page.get_by_role("combobox", name=ZH["pick"]))
    walk.expect(picker).to_have_value(re.compile(f"^{second} "), timeout=20_000)
    walk.expect(walk.page.get_by_text(walk.w["form_for"] + second)).to_be_visible()
    walk.expect(walk.page.get_by_text(walk.w["form_for"] + first)).to_have_count(0)


def test_an_address_lagging_the_pick_does_not_reopen_the_warning_picked_before(
    served_slow: tuple[str, str, Path], browser: Any
) -> None:
    """The picker race's cause, made certain (``views.focus_warning``): a warning picked,
    another picked, and the language switched before the pick's run reached the browser
    (the server's messages held back 1.5 s: its new address ``?warning=<second>`` has not
    arrived, so the language click carries ``?warning=<first>``). The page took the old
    address for a new link and reopened the first warning; within a visit of the page
    the address is its own and the second warning stays picked."""
    base, store_url, switch = served_slow
    todo = _new_warnings(store_url)  # it decides nothing: any two still new will do
    assert len(todo) >= 3, f"the fixture's home has {len(todo)} new red/orange warnings left"
    # not the queue's first (the picker's default); not by a fixed position past the ones
    # the module's earlier tests decide (6-8 of them: todo[3:5] ran out once, 2026-12-07)
    first, second = (short_id(w["warning_id"]) for w in todo[1:3])
    socket = HeldSocket()
    walk = Walk(browser, base, "reviewer2", socket)
    walk.open_review()
    walk.pick(todo[1]["warning_id"])  # every run finished: the address names the first
    with slow_runs(switch):  # from here every run is slow
        _lag_the_address(walk, socket, first, second)
    walk.context.close()


def _lag_the_address(walk: Walk, socket: HeldSocket, first: str, second: str) -> None:
    """The steps of the test above, on slow runs, with the server's messages held."""
    socket.hold = True
    combo = walk.page.get_by_role("combobox", name=ZH["pick"])
    combo.click()
    combo.press_sequentially(second)
    walk.page.get_by_role("option", name=re.compile(f"^{second} ")).click()
    walk.expect(combo).to_have_value(re.compile(f"^{second} "), timeout=2_000)
    walk.page.wait_for_timeout(1500)  # the pick's run put the second in the address
    walk.page.get_by_role("radio", name=EN["language"]).click()  # sent with the old one
    walk.page.wait_for_timeout(300)
    socket.release()
    walk.lang = "en"
    walk.idle()
    picker = walk.fresh(walk.page.get_by_role("combobox", name=EN["pick"]))
    walk.expect(picker).to_have_value(re.compile(f"^{second} "), timeout=20_000)
    walk.expect(walk.page.get_by_text(walk.w["form_for"] + second)).to_be_visible()
    walk.expect(walk.page.get_by_text(walk.w["form_for"] + first)).to_have_count(0)


def _warning_audit(store_url: str, warning_id: str) -> list[list[Any]]:
    """(action, actor) of the audit entries of one warning, oldest first."""
    store = Store(store_url)
    try:
        log = store.audit_log()
        log = log.loc[log["object_id"] == warning_id].sort_values("id")
        return log[["action", "actor"]].values.tolist()
    finally:
        store.close()


def test_a_refused_form_stays_refused_until_the_reviewer_reviews_again(
    served: tuple[str, str], browser: Any
) -> None:
    """Two quick clicks on a stale form (the reviewer's script /tmp/review/pwE.py):
    reviewer2 fills Accept while reviewer dismisses, then clicks Submit twice 0.3 s apart.
    Before, the first click was refused but moved the form to the current version with
    the draft kept, so the second click recorded the accept over the dismissal unseen
    (and "from Orange"). Now the form stays refused, in both languages, until reviewer2
    presses "review again with the current decision", and what is then recorded is
    recorded against the dismissal reviewer2 was shown."""
    base, store_url = served
    target = _new_warnings(store_url)[-2]
    wid, raised = target["warning_id"], target["level"]
    first, second = Walk(browser, base, "reviewer"), Walk(browser, base, "reviewer2")
    for walk in (first, second):
        walk.switch("en")
        walk.open_review()
        walk.pick(wid)

    second.action("accept")
    second.reason("Confirmed by patrol")
    second.reason_box().blur()
    second.idle()
    first.action("dismiss")
    first.reason("Duplicate reports, dismiss")
    first.submit()
    first.saved(wid)

    button = second.page.get_by_role("button", name=EN["submit"])
    button.click()
    second.page.wait_for_timeout(300)
    try:  # refused: the button is disabled by then, or the click is ignored
        second.page.get_by_role("button", name=EN["submit"]).click(timeout=5_000)
    except Exception as exc:  # a disabled button times the click out
        assert "Timeout" in type(exc).__name__, exc
    second.idle()
    second.page.wait_for_timeout(1_500)  # a queued run would have finished by now
    second.idle()
    assert _trail(store_url, wid) == [
        ["dismiss", raised, None, "Duplicate reports, dismiss", "reviewer"]
    ]
    audit = _warning_audit(store_url, wid)
    assert ["review_accept", "reviewer2"] not in audit, audit
    assert ["review_rejected", "reviewer2"] in audit, audit
    # the reviewer by login on English pages, as their sidebar names users (2026-12-07)
    notice = second.page.get_by_text(re.compile(r"^reviewer already decided this warning"))
    second.expect(notice).to_be_visible()
    saved = second.page.get_by_text(re.compile(f"^{EN['saved']}: ")).filter(visible=True)
    second.expect(saved).to_have_count(0)
    second.expect(
        second.fresh(second.page.get_by_role("button", name=EN["submit"]))
    ).to_be_disabled()
    second.shot("review_conflict_en")

    # the refusal survives a language switch, said in Chinese, with the control in Chinese
    second.switch("zh")
    second.expect(second.page.get_by_text(re.compile("该预警已被 评估专家 于"))).to_be_visible()
    second.expect(
        second.fresh(second.page.get_by_role("button", name=ZH["submit"]))
    ).to_be_disabled()
    again = second.page.get_by_role("button", name="基于当前决定重新研判")
    second.expect(again).to_be_visible()
    second.shot("review_conflict_zh")
    assert _trail(store_url, wid)[-1][-1] == "reviewer"

    # reviewing again: the form is based on the dismissal, the reason kept, no action
    again.click()
    second.idle()
    second.expect(second.page.get_by_text(re.compile("该预警已被 评估专家 于"))).to_have_count(0)
    second.expect(second.reason_box()).to_have_value("Confirmed by patrol")
    for action in ("accept", "adjust", "dismiss"):
        second.expect(second.radio(action)).not_to_be_checked()
    second.action("accept")
    second.submit()
    second.saved(wid)
    assert _trail(store_url, wid) == [
        ["dismiss", raised, None, "Duplicate reports, dismiss", "reviewer"],
        ["accept", None, raised, "Confirmed by patrol", "reviewer2"],  # from the dismissal
    ]
    first.context.close()
    second.context.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Keep what the browser showed when a step failed (tests/artifacts/failed-*.png)."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        for i, walk in enumerate(Walk.open_walks):
            if not walk.page.is_closed():
                walk.shot(f"failed-{request.node.name}-{i}")
    Walk.open_walks.clear()


def test_a_form_drawn_again_during_a_run_is_read_from_its_new_drawing(
    served: tuple[str, str], browser: Any
) -> None:
    """The review form's leftover (CI 2026-12-07, load 8): a choice clicked while the
    language switch's run was still reaching the browser; the choice's run drew the form
    anew while the switch's form stayed in the page, stale, till the run ended: two
    "Dismiss" radios, and the walk's locator failed in strict mode. Made certain here by
    holding the server's messages back (the switch's run delivered one message at a time,
    Dismiss clicked once it shows, then the choice's run one message at a time): while
    two forms are on the page the stale one is marked so, and the walk reads the new."""
    base, store_url = served
    todo = _new_warnings(store_url)
    w = todo[len(todo) // 2 + 1]  # not one another test decides; nothing is decided here
    socket = HeldSocket()
    walk = Walk(browser, base, "reviewer2", socket)
    walk.open_review()
    walk.pick(w["warning_id"])
    walk.action("accept")
    socket.hold = True
    walk.page.get_by_role("radio", name=EN["language"]).click()
    walk.lang = "en"
    radios = walk.page.get_by_role("radio", name=EN["dismiss"], exact=True)
    two = 0
    for _ in range(2):  # the switch's run, then the choice's
        walk.page.wait_for_timeout(3000)  # the server's run done, its messages held
        held = list(socket.held)
        socket.held.clear()
        for message in held:
            socket.page_side.send(message)
            walk.page.wait_for_timeout(60)
            if (
                radios.count() == 1
                and not two
                and walk.page.get_by_role("radiogroup", name=EN["action_label"]).count()
            ):
                walk.page.get_by_role("radiogroup", name=EN["action_label"]).get_by_text(
                    EN["dismiss"], exact=True
                ).click()
                two = -1  # clicked
            if radios.count() == 2:
                two = 2
                walk.expect(walk.radio("dismiss")).to_be_checked(timeout=2_000)
                stale = walk.page.locator("[data-stale=true]").get_by_role(
                    "radio", name=EN["dismiss"], exact=True
                )
                walk.expect(stale).to_have_count(1)
    socket.release()
    walk.idle()
    assert two == 2, "the form was not drawn twice: the race was not reproduced"
    walk.expect(radios).to_have_count(1)
    walk.expect(walk.radio("dismiss")).to_be_checked()
    walk.context.close()
