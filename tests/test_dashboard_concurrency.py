"""Two reviewers decide the same warning at once, against PostgreSQL: no silent overwrite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth
from testkit.dashboard_demo import demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def _session(username: str) -> AppTest:
    role, name = auth.DEMO_USERS[username]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username=username, name=name, role=role)
    at.session_state["lang"] = "zh"
    at.run()
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _widget(elements: Any, prefix: str) -> Any:
    """The one widget whose key starts with ``prefix`` (review widgets carry the draft's
    serial and the language in their keys)."""
    found = [w for w in elements if str(w.key).startswith(prefix)]
    assert len(found) == 1, [w.key for w in elements]
    return found[0]


def _decide(at: AppTest, action: str, reason: str, level: str | None = None) -> None:
    _widget(at.radio, "rv_action_").set_value(action).run()
    if level:
        _widget(at.selectbox, "rv_level_").set_value(level).run()
    _widget(at.text_area, "rv_reason_").input(reason).run()
    _widget(at.button, "rv_submit_").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_second_reviewer_is_told_and_shown_the_first_decision(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskwarn.store import Store

    home = tmp_path / "home"
    demo_home(home, store_url=pg_url, n_cells=150, weeks=2, n_cases=20)
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    monkeypatch.setenv("RISKWARN_STORE_URL", pg_url)
    monkeypatch.setenv("RISKWARN_AIRFLOW_API_URL", "http://127.0.0.1:9")

    first, second = _session("reviewer"), _session("reviewer2")
    wid = _widget(first.selectbox, "rv_pick").value
    assert _widget(second.selectbox, "rv_pick").value == wid  # both look at the same warning

    _decide(first, "dismiss", "误报：当日为集市，人流量正常")
    assert [s.value for s in first.success], "the first decision is saved"
    _decide(second, "adjust", "应降为橙色处置", level="orange")

    errors = " ".join(e.value for e in second.error)
    assert "评估专家" in errors and "误报：当日为集市，人流量正常" in errors
    assert "未保存" in errors
    assert not second.success

    store = Store(pg_url)
    try:
        now = store.get_warning(wid)
        assert now["state"] == "dismissed" and now["version"] == 2
        trail = store.warning_reviews(wid)
        assert trail["reviewer"].tolist() == ["reviewer"]  # the second did not overwrite
        rejected = store.audit_log()
        assert (
            (rejected["action"] == "review_rejected") & (rejected["actor"] == "reviewer2")
        ).any()
        # the refused form stays refused: it cannot be submitted again (before, the form
        # had moved to the current version and a second click went through), and says so
        second.run()
        assert _widget(second.button, "rv_submit_").disabled
        assert "未保存" in " ".join(e.value for e in second.error)  # still told
        assert store.warning_reviews(wid)["reviewer"].tolist() == ["reviewer"]
        # once the reviewer asks to review again with the current decision, the form is
        # based on it: the reason typed is kept, the action is chosen again
        _widget(second.button, "rv_rebase_").click().run()
        assert not second.error
        assert _widget(second.text_area, "rv_reason_").value == "应降为橙色处置"
        assert _widget(second.radio, "rv_action_").value is None
        _decide(second, "adjust", "复核后仍需升级", level="red")
        assert second.success and store.get_warning(wid)["reviewed_level"] == "red"
        assert store.warning_reviews(wid)["reviewer"].tolist() == ["reviewer", "reviewer2"]
    finally:
        store.close()
