"""The review page when a newer run replaces the open warning (AppTest, en + zh).

Reviewer's walk (2026-12-06): with a decision typed on a warning, a score published a
newer run of its domain; the submit said "saved" (on the next warning's form), the
decision landed on the old run's warning, out of force and out of the queue, and the
new run's warning for the same cell stayed awaiting review. The store now refuses it
(``ReplacedWarningError``); the page says which warning replaced it, from which run,
and offers to open it. Also: decisions are worded with the level an adjustment set,
and the trail names reviewers by their display names (users file).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, review
from riskwarn.store import Store, warning_id_for
from riskwarn.store.models import WARNING_CONTENT
from riskwarn.store.publishing import RUN_KEYS, run_id_for
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
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


def _select(at: AppTest, key: str) -> Any:
    found = [w for w in at.selectbox if str(w.key).startswith(key)]
    assert len(found) == 1, [w.key for w in at.selectbox]
    return found[0]


def _newer_run(store: Store, warning_id: str, hours: int = 24) -> tuple[str, str]:
    """Publish a newer run of ``warning_id``'s domain, ``hours`` later, raising the same
    warnings (new ids: their validity starts at the new origin); returns (run id, the new
    warning id of ``warning_id``'s unit)."""
    w = store.get_warning(warning_id)
    run = store.runs().set_index("run_id").loc[w["run_id"]]
    step = timedelta(hours=hours)
    origin = pd.Timestamp(run["origin"]).to_pydatetime() + step
    meta = {k: run[k] for k in RUN_KEYS[1:]} | {"origin": origin}
    run_id = store.stage_run({"run_id": run_id_for(w["domain"], origin), **meta})
    forecasts = store.run_forecasts(w["run_id"])
    forecasts = forecasts.assign(origin=forecasts["origin"] + step)
    store.write_forecasts(run_id, forecasts.assign(valid_to=forecasts["valid_to"] + step))
    old = store.warnings(run_ids=[w["run_id"]])[list(WARNING_CONTENT)]
    old = old.drop(columns=["run_id", "warning_id"])  # new ids, from the new validity
    moved = {c: old[c] + step for c in ("origin", "valid_from", "valid_to")}
    store.write_warnings(run_id, old.assign(**moved))
    store.publish_run(run_id, actor="score")
    new_id = warning_id_for(w["domain"], w["unit_id"], pd.Timestamp(w["valid_from"]) + step)
    return run_id, new_id


def _fill(at: AppTest, action: str, reason: str) -> None:
    next(w for w in at.radio if str(w.key).startswith("rv_action_")).set_value(action).run()
    next(w for w in at.text_area if str(w.key).startswith("rv_reason_")).input(reason).run()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_submit_on_a_warning_a_newer_run_replaced_is_refused_and_opens_the_new_one(
    home: Path, lang: str
) -> None:
    at = _reviewer_at(lang)
    wid = str(_select(at, "rv_pick").value)
    _fill(at, "accept", "confirmed on site")
    store = Store(f"sqlite:///{home / 'serving.db'}")
    before = len(store.warning_reviews())
    run_id, new_id = _newer_run(store, wid)
    next(w for w in at.button if str(w.key).startswith("rv_submit_")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    # nothing saved, on either warning
    assert len(store.warning_reviews()) == before
    assert store.warning_reviews(wid).empty and store.warning_reviews(new_id).empty
    said = "\n".join(str(e.value) for e in at.error)
    assert not [s for s in at.success if "Saved" in str(s.value) or "已保存" in str(s.value)]
    words = {
        "en": ("This warning was replaced by the newer run issued at", "not saved"),
        "zh": ("该预警已被", "发布的新一轮预测取代", "您的决定未保存"),
    }[lang]
    assert all(w in said for w in words), said
    assert review.short_id(new_id) in said and run_id in said
    # a way to open the warning in force for the same place
    button = next(b for b in at.button if str(b.key).startswith("rv_open_replacement_"))
    assert review.short_id(new_id) in str(button.label)
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert str(_select(at, "rv_pick").value) == new_id
    store.close()


def test_decisions_say_the_level_and_the_trail_names_reviewers(home: Path) -> None:
    at = _reviewer_at("zh")
    wid = str(_select(at, "rv_pick").value)
    store = Store(f"sqlite:///{home / 'serving.db'}")
    w = store.get_warning(wid)
    to = "blue" if w["effective_level"] != "blue" else "yellow"
    _fill(at, "adjust", "现场核实")
    next(w for w in at.selectbox if str(w.key).startswith("rv_level_")).set_value(to).run()
    next(w for w in at.button if str(w.key).startswith("rv_submit_")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    to_zh = {"blue": "蓝色（IV级）", "yellow": "黄色（III级）"}[to]
    said = "\n".join(str(s.value) for s in at.success)
    assert f"调整为{to_zh}（第 " in said, said
    # the trail of that warning: the display name, not the login
    _select(at, "rv_pick").set_value(wid).run()
    trail = at.dataframe[-1].value
    assert trail["研判人"].tolist() == ["评估专家"]
    at.session_state["lang"] = "en"
    at.run()
    # English pages name reviewers by login, as their sidebar does (review of 2026-12-07)
    assert at.dataframe[-1].value["Reviewer"].tolist() == ["reviewer"]
    store.close()


def test_the_conflict_message_says_the_level_and_who() -> None:
    people = {"reviewer": "评估专家", "reviewer2": "评估专家乙", "x": "评估专家乙"}
    decided = {
        "reviewer": "reviewer",
        "reviewed_at": pd.Timestamp("2026-01-02T03:00Z"),
        "action": "adjust",
        "to_level": "orange",
        "reason": "school holiday",
    }
    zh = review.stale_message(decided, "zh", people=people)
    assert "已被 评估专家 于" in zh and "（调整为橙色（II级），理由：school holiday）" in zh
    en = review.stale_message(decided, "en", people=people)
    assert en.startswith("reviewer already decided") and "adjust to Orange (II)" in en
    assert "评估专家" not in en  # no Chinese name in an English message
    assert review.person("reviewer2", people, "en") == "reviewer2"
    # a display name two users share gets the login; a removed user is the login
    assert review.person("reviewer2", people, "zh") == "评估专家乙（reviewer2）"
    assert review.person("gone", people, "zh") == "gone"
    assert review.action_words("accept", "red", "en") == "Accept"
