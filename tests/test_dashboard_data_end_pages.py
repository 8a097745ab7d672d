"""Every page that names the champion as the live model says when scoring refuses it over
its training data end (dashboard.verdicts.serving_refusal, the models page's words): the
overview's model note said "The next scoring run uses model version 2" and the models
page's district panel read version 2's calibration as the served model's, while scoring
refused version 2 at every origin (its data end cannot be read).

Real MLflow (SQLite) registry and serving store of a small demo home (the fixture of
tests/test_dashboard_data_end.py), the pages run with Streamlit's AppTest."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard.auth import DEMO_USERS, User
from tests import test_dashboard_data_end as base

DOMAIN = base.DOMAIN
home = base.home  # v1 (its data end recorded) promoted; v2 registered by hand


def _promote_v2(home: dict[str, Any]) -> None:
    from models import registry as reg
    from riskwarn.store import Store

    store = Store(home["store_url"])
    try:
        reg.promote(home["client"], DOMAIN, "2", store=store, actor="bob", reason="r", force=True)
    finally:
        store.close()


def _page(page: str, role: str, lang: str = "en") -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(base.APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == role)
    at.session_state["user"] = User(username, "Ana", role)
    at.session_state["lang"] = lang
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = [*(c.value for c in at.caption), *(w.value for w in at.warning)]
    return "\n".join(str(p) for p in parts)


def test_the_overview_says_scoring_refuses_the_champion(home: dict[str, Any]) -> None:
    text = _texts(_page("overview", "leader"))
    assert "The next scoring run uses model version 1." in text, text  # served: unchanged
    _promote_v2(home)
    text = _texts(_page("overview", "leader"))
    assert "The next scoring run uses model version 2." not in text, text
    assert "the next scoring run does not use model version 2, and this map stays" in text
    assert "**Scoring refuses this version at every forecast origin**" in text, text
    assert "v2's training data end cannot be read" in text, text
    assert f"riskwarn promote {DOMAIN} 2 --force --reason" in text, text  # the fix
    zh = _texts(_page("overview", "leader", "zh"))
    assert "下一次评分不会使用模型第 2 版" in zh, zh
    assert "无法确认第 2 版训练数据的截止时间" in zh, zh


def test_the_district_panel_does_not_show_a_refused_champion_as_served(
    home: dict[str, Any],
) -> None:
    at = _page("models", "data_scientist")
    assert not [w for w in at.warning if "Scoring refuses" in str(w.value)]
    _promote_v2(home)
    for lang, words in (("en", "Scoring refuses this version"), ("zh", "评分在任何预测起点都拒绝")):
        at = _page("models", "data_scientist", lang)
        said = [str(w.value) for w in at.warning if words in str(w.value)]
        assert len(said) == 2, said  # the Champion tab and the district panel
        captions = [str(c.value) for c in at.caption]
        assert not [c for c in captions if "per-district calibration" in c], captions
        assert not [c for c in captions if "分区县校准" in c and "未记录" in c], captions
