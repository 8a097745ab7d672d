"""The review page says what the panel decided on an earlier run (AppTest, en + zh).

Reviewer's walk (2026-12-07): a panel dismissed one cell's warning and accepted another;
the next daily run raised new warnings for both cells (new ids), all "new" again, and
neither the queue nor the form said the panel had decided them the day before;
"Awaiting review" grew. Now the queue marks such a warning ("decided on <time>: dismissed
by <name>"), the form quotes the earlier decision and its reason and offers "Same
decision as before", which fills the reviewer's own form (nothing is recorded until
they submit); a warning whose level rose since gets no shortcut and is highlighted; the
overview says how many awaiting warnings were decided on an earlier run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, review
from dashboard.i18n import level_label
from riskwarn.store import Store, warning_id_for
from riskwarn.store.models import WARNING_CONTENT
from riskwarn.store.publishing import RUN_KEYS, run_id_for
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
RISE = {"blue": "yellow", "yellow": "orange", "orange": "red"}
RANK = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40)
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _newer_run(store: Store, run_id: str, rise: str, hours: int = 24) -> str:
    """Publish the next run of ``run_id``'s domain ``hours`` later raising the same
    warnings (new ids), the one of unit ``rise`` one level higher; returns its id."""
    run = store.runs().set_index("run_id").loc[run_id]
    step = timedelta(hours=hours)
    origin = pd.Timestamp(run["origin"]).to_pydatetime() + step
    meta = {k: run[k] for k in RUN_KEYS[1:]} | {"origin": origin}
    new_run = store.stage_run({"run_id": run_id_for(str(run["domain"]), origin), **meta})
    forecasts = store.run_forecasts(run_id)
    forecasts = forecasts.assign(origin=forecasts["origin"] + step)
    store.write_forecasts(new_run, forecasts.assign(valid_to=forecasts["valid_to"] + step))
    old = store.warnings(run_ids=[run_id])[list(WARNING_CONTENT)]
    old = old.drop(columns=["run_id", "warning_id"])
    moved = {c: old[c] + step for c in ("origin", "valid_from", "valid_to")}
    raised = old["level"].where(old["unit_id"] != rise, old["level"].map(RISE))
    old = old.assign(**moved, level=raised, level_rank=raised.map(RANK))
    store.write_warnings(new_run, old)
    store.publish_run(new_run, actor="score")
    return new_run


def _at(page: str, lang: str, username: str = "reviewer") -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    role, name = auth.DEMO_USERS[username]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username=username, name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    parts = [str(getattr(e, "value", "")) for e in at.main]
    for kind in ("markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [str(h.proto.body) for h in at.get("html")]
    return "\n".join(parts)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_next_run_shows_the_panels_decisions_and_records_none(home: Path, lang: str) -> None:
    store = Store(f"sqlite:///{home / 'serving.db'}")
    run = store.serving_snapshot()
    served = store.warnings(run_ids=[r["run_id"] for r in run.values()])
    cells = served[(served["unit_type"] == "cell") & (served["level"] != "red")]
    domain = str(cells["domain"].iloc[0])
    cells = cells[cells["domain"] == domain].head(3)
    (a, b, c) = (dict(r) for r in cells.to_dict("records"))
    store.review_warning(a["warning_id"], "dismiss", "road works, not burglary", "reviewer2", 1)
    store.review_warning(b["warning_id"], "accept", "confirmed on patrol", "reviewer2", 1)
    store.review_warning(c["warning_id"], "dismiss", "one-off report", "reviewer2", 1)
    new_run = _newer_run(store, str(run[domain]["run_id"]), rise=str(c["unit_id"]))
    step = timedelta(hours=24)
    new_a, new_b, new_c = (
        warning_id_for(domain, str(w["unit_id"]), pd.Timestamp(w["valid_from"]) + step)
        for w in (a, b, c)
    )
    assert set(store.warnings(run_ids=[new_run])["state"]) == {"new"}
    before = len(store.warning_reviews())

    at = _at("pages/warnings.py", lang)
    shown = _text(at)
    name = "评估专家乙" if lang == "zh" else "reviewer2"
    marker = {"en": "decided on ", "zh": "已研判："}[lang]
    assert marker in shown and name in shown, shown[:3000]
    was = level_label(str(c["level"]), lang)  # the level the dismissal set aside
    rose = {"en": f"above the {was} judged then", "zh": f"高于当时研判的{was}"}[lang]
    assert rose in shown

    # the dismissed cell's new warning: the earlier decision, and the shortcut
    pick = next(w for w in at.selectbox if str(w.key).startswith("rv_pick"))
    pick.set_value(new_a).run()
    assert not at.exception, [e.value for e in at.exception]
    note = "\n".join(str(i.value) for i in at.info)
    said = {"en": "Earlier decision on this place", "zh": "此地此前的研判"}[lang]
    assert said in note and "road works, not burglary" in note
    assert review.short_id(str(a["warning_id"])) in note
    same = [b for b in at.button if str(b.key).startswith("rv_same_")]
    assert (
        len(same) == 1
        and str(same[0].label)
        == {
            "en": "Same decision as before",
            "zh": "沿用此前研判",
        }[lang]
    )
    same[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(store.warning_reviews()) == before  # filled, not recorded
    action = next(w for w in at.radio if str(w.key).startswith("rv_action_"))
    reason = next(w for w in at.text_area if str(w.key).startswith("rv_reason_"))
    assert action.value == "dismiss"
    assert "road works, not burglary" in str(reason.value)
    assert review.short_id(str(a["warning_id"])) in str(reason.value)
    reason.input(str(reason.value) + " / still so").run()
    next(w for w in at.button if str(w.key).startswith("rv_submit_")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    trail = store.warning_reviews(new_a)
    assert len(trail) == 1 and len(store.warning_reviews()) == before + 1
    got = trail.iloc[0]
    assert (got["action"], got["reviewer"]) == ("dismiss", "reviewer")  # the clicker's
    assert str(got["reason"]).endswith("/ still so")
    # the earlier decision's time is stored with its zone: the reason is read away from
    # the page (the trail's export, `riskwarn review`, a dashboard in another zone)
    zone = {"en": " (Asia/Shanghai) on the earlier run's", "zh": "（北京时间）对上一轮预警"}[lang]
    assert zone in str(got["reason"]), got["reason"]

    # the cell whose level rose since: highlighted, no shortcut
    pick = next(w for w in at.selectbox if str(w.key).startswith("rv_pick"))
    pick.set_value(new_c).run()
    assert not at.exception, [e.value for e in at.exception]
    warned = "\n".join(str(w.value) for w in at.warning)
    assert rose in warned, warned
    assert not [b for b in at.button if str(b.key).startswith("rv_same_")]
    assert store.warning_reviews(new_b).empty and store.warning_reviews(new_c).empty
    store.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_awaiting_review_says_how_many_the_panel_decided_before(home: Path, lang: str) -> None:
    store = Store(f"sqlite:///{home / 'serving.db'}")
    run = store.serving_snapshot()
    served = store.warnings(run_ids=[r["run_id"] for r in run.values()])
    cells = served[(served["unit_type"] == "cell") & (served["level"] != "red")]
    domain = str(cells["domain"].iloc[0])
    a, b = (dict(r) for r in cells[cells["domain"] == domain].head(2).to_dict("records"))
    store.review_warning(a["warning_id"], "dismiss", "road works", "reviewer2", 1)
    store.review_warning(b["warning_id"], "dismiss", "one-off", "reviewer2", 1)
    _newer_run(store, str(run[domain]["run_id"]), rise=str(b["unit_id"]))
    store.close()
    at = _at("pages/overview.py", lang, "leader")
    captions = "\n".join(str(c.value) for c in at.caption)
    words = {
        "en": "1 decided on an earlier run at the same or higher level, ",
        "zh": "其中 1 条此前已在同级或更高等级研判过，",
    }[lang]
    assert words in captions, captions
