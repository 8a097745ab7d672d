"""Withdrawn warnings on the review page (AppTest on a populated demo store).

A served run re-published without one of its warnings withdraws it
(docs/serving-store.md, "Warnings lifecycle"): the page must not queue or count it,
and where its trail is shown it reads "withdrawn", in both languages.
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
from riskwarn.store import Store
from riskwarn.store.models import WARNING_CONTENT
from riskwarn.store.publishing import RUN_KEYS
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("withdrawn") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40)
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _reviewer_at(lang: str) -> AppTest:
    role, name = auth.DEMO_USERS["reviewer"]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _select(at: AppTest, key: str) -> Any:
    found = [w for w in at.selectbox if str(w.key).startswith(key)]
    assert len(found) == 1, [w.key for w in at.selectbox]
    return found[0]


def _rerun_without(store: Store, warning_id: str) -> str:
    """Re-publish the run of ``warning_id`` (same run id) without that warning."""
    w = store.get_warning(warning_id)
    run = store.runs().set_index("run_id").loc[w["run_id"]]
    run_id = store.stage_run({"run_id": w["run_id"], **{k: run[k] for k in RUN_KEYS[1:]}})
    store.write_forecasts(run_id, store.run_forecasts(run_id))
    kept = store.warnings(run_ids=[run_id])
    kept = kept.loc[kept["warning_id"] != warning_id, [c for c in WARNING_CONTENT]]
    store.write_warnings(run_id, kept.drop(columns="run_id"))
    store.publish_run(run_id, actor="rerun-after-correction")
    return run_id


def test_a_withdrawn_warning_leaves_the_queue_and_its_trail_says_withdrawn(home: Path) -> None:
    import streamlit as st

    st.cache_data.clear()
    at = _reviewer_at("zh")
    picker = _select(at, "rv_pick")
    wid = str(picker.value)
    labels_before = list(picker.options)
    store = Store(f"sqlite:///{home / 'serving.db'}")
    store.review_warning(wid, "accept", "现场核实", "reviewer", store.get_warning(wid)["version"])
    run_id = _rerun_without(store, wid)
    store.close()

    st.cache_data.clear()
    at = _reviewer_at("zh")
    sid = review.short_id(wid)
    assert any(sid in str(o) for o in labels_before)
    assert not any(sid in str(o) for o in _select(at, "rv_pick").options)  # not queued
    assert len(_select(at, "rv_pick").options) == len(labels_before) - 1

    _select(at, "rv_state").set_value("withdrawn").run()  # the filter that shows them
    assert not at.exception, [e.value for e in at.exception]
    assert str(_select(at, "rv_pick").value) == wid
    page = "\n".join(str(m.value) for m in [*at.markdown, *at.info])
    assert "已撤回" in page and f"{run_id} 重算后不再发出该预警" in page
    assert not [w for w in at.radio if str(w.key).startswith("rv_action_")]  # no form
    trail = at.dataframe[-1].value
    assert trail["处置"].tolist() == ["确认", "撤回"]
    assert trail["研判人"].tolist() == ["评估专家", "rerun-after-correction"]  # display name

    at.session_state["lang"] = "en"
    at.run()
    trail = at.dataframe[-1].value
    assert trail["Action"].tolist() == ["Accept", "Withdrawn"]
    assert trail["Reason"].tolist()[-1] == f"not raised by the re-run of {run_id}"
    info = "\n".join(str(m.value) for m in at.info)
    assert "This warning was withdrawn at" in info


def test_an_open_form_on_a_warning_withdrawn_meanwhile_records_nothing(home: Path) -> None:
    """A reviewer fills the form; a re-run withdraws the warning; the submit records no
    decision on it (before, the decision was recorded on a warning no longer raised)."""
    import streamlit as st

    st.cache_data.clear()
    at = _reviewer_at("en")
    wid = str(_select(at, "rv_pick").value)
    action = next(w for w in at.radio if str(w.key).startswith("rv_action_"))
    action.set_value("dismiss").run()
    next(w for w in at.text_area if str(w.key).startswith("rv_reason_")).input("false alarm").run()
    store = Store(f"sqlite:///{home / 'serving.db'}")
    before = len(store.warning_reviews())
    _rerun_without(store, wid)
    next(w for w in at.button if str(w.key).startswith("rv_submit_")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.warning_reviews(wid).empty
    assert len(store.warning_reviews()) == before
    assert store.get_warning(wid)["withdrawn_at"] is not None
    # nothing else opened in its place; the reviewer is told why, and that nothing was saved
    assert _select(at, "rv_pick").value is None
    assert "The warning you had open" in at.warning[0].value
    assert at.warning[0].value.endswith("The decision you had started on it was not saved.")
    store.close()


def test_the_open_warning_withdrawn_is_said_and_no_other_is_opened_in_its_place(
    home: Path,
) -> None:
    """A reviewer has a warning open; a re-publication withdraws it. Before, the picker
    moved to another warning without a word (the form then decided on that one); now the
    page says which warning was withdrawn, when and why (en and zh), opens none and shows
    no form until the reviewer chooses one."""
    import streamlit as st

    st.cache_data.clear()
    at = _reviewer_at("en")
    picker = _select(at, "rv_pick")
    wid = str(picker.value)
    store = Store(f"sqlite:///{home / 'serving.db'}")
    run_id = _rerun_without(store, wid)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _select(at, "rv_pick").value is None
    sid = review.short_id(wid)
    notice = "\n".join(str(w.value) for w in at.warning)
    assert "The warning you had open" in notice and sid in notice
    assert "was withdrawn at" in notice and "not raised by the re" in notice
    assert "not saved" not in notice  # no decision had been started
    assert run_id.split(":")[-1] in notice  # the run (its colon Markdown-escaped)
    assert not [w for w in at.radio if str(w.key).startswith("rv_action_")]  # no form
    assert not [w for w in at.button if str(w.key).startswith("rv_submit_")]

    at.session_state["lang"] = "zh"
    at.run()
    assert _select(at, "rv_pick").value is None
    notice = "\n".join(str(w.value) for w in at.warning)
    assert "您打开的预警" in notice and sid in notice and "撤回" in notice
    assert "重算后不再发出该预警" in notice

    _select(at, "rv_pick").set_value(_select(at, "rv_pick").options[0]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _select(at, "rv_pick").value is not None and not at.warning  # chosen: notice gone
    assert [w for w in at.radio if str(w.key).startswith("rv_action_")]  # its form
    at.run()
    assert not at.warning  # and it stays gone

    # a reload of its link (?warning=<id>, a new session) is told too, in place of the
    # first warning of the queue
    again = AppTest.from_file(str(APP), default_timeout=60)
    role, name = auth.DEMO_USERS["reviewer"]
    again.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    again.session_state["lang"] = "en"
    again.query_params["warning"] = wid
    again.switch_page("pages/warnings.py").run()
    assert not again.exception, [e.value for e in again.exception]
    assert _select(again, "rv_pick").value is None
    notice = "\n".join(str(w.value) for w in again.warning)
    assert "The warning you had open" in notice and sid in notice
    assert again.query_params.get("warning") in (None, [], "")
    store.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_link_to_an_unknown_warning_is_said_and_none_is_opened(home: Path, lang: str) -> None:
    """``?warning=nope`` (a mistyped or stale link): before, the first warning of the
    queue opened without a word and the reviewer could decide on it believing it was
    the linked one (reviewer helper-88). Now the page says the link's warning does not
    exist, opens none and shows no form; choosing one opens it."""
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=60)
    role, name = auth.DEMO_USERS["reviewer"]
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.query_params["warning"] = "nope<script>"
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert _select(at, "rv_pick").value is None
    notice = "\n".join(str(w.value) for w in at.warning)
    said = {"en": "that does not exist", "zh": "不存在"}[lang]
    assert said in notice and "nope" in notice and "<script>" not in notice
    assert not [w for w in at.radio if str(w.key).startswith("rv_action_")]  # no form
    at.run()  # any rerun keeps it so
    assert _select(at, "rv_pick").value is None and at.warning
    _select(at, "rv_pick").set_value(_select(at, "rv_pick").options[0]).run()
    assert _select(at, "rv_pick").value is not None and not at.warning
    assert [w for w in at.radio if str(w.key).startswith("rv_action_")]


def test_trail_frame_orders_decisions_and_publication_events() -> None:
    reviews = pd.DataFrame(
        {
            "reviewed_at": [pd.Timestamp("2026-03-02 09:00", tz="UTC")],
            "reviewer": ["alice"],
            "action": ["accept"],
            "from_level": ["red"],
            "to_level": ["red"],
            "reason": ["confirmed"],
            "warning_version": [2],
        }
    )
    events = [  # newest first, as Store.audit_entries returns them
        {
            "at": pd.Timestamp("2026-03-03 09:00", tz="UTC"),
            "actor": "pipeline",
            "action": "warning_raised_again",
            "details": {"run_id": "incidents:20260302T0000Z", "version": 4},
        },
        {
            "at": pd.Timestamp("2026-03-02 10:00", tz="UTC"),
            "actor": "pipeline",
            "action": "withdraw_warning",
            "details": {"run_id": "incidents:20260302T0000Z", "version": 3},
        },
    ]
    frame = review.trail_frame(reviews, events, "en")
    assert frame["action"].tolist() == ["Accept", "Withdrawn", "Raised again"]
    assert frame["warning_version"].tolist() == [2, 3, 4]
    zh = review.trail_frame(reviews, events, "zh")
    assert zh["action"].tolist() == ["确认", "撤回", "重新发出"]
    assert review.shown_state("accepted", pd.Timestamp("2026-03-02", tz="UTC")) == "withdrawn"
    assert review.shown_state("accepted", None) == "accepted"
    assert "已撤回" in review.badge("red", "withdrawn", "zh")
