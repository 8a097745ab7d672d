"""Warning reasons in the reader's language: bilingual items, fallbacks, legacy strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, views
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
ZH_REASON = "近 7 天本网格发生 12 起事件，近 28 天 30 起。"
EN_REASON = "12 events in this cell in the last 7 days, 30 in the last 28 days."
ONLY_EN = "Only written in English."
LEGACY = "A legacy plain-string reason."


def test_reason_lines_choose_the_language_then_fall_back() -> None:
    reasons = [{"en": EN_REASON, "zh": ZH_REASON}, {"en": ONLY_EN}, {"zh": "只有中文"}, LEGACY]
    assert views.reason_lines(reasons, "zh") == [ZH_REASON, ONLY_EN, "只有中文", LEGACY]
    assert views.reason_lines(reasons, "en") == [EN_REASON, ONLY_EN, "只有中文", LEGACY]
    assert views.reason_lines(None, "zh") == []
    assert views.reason_lines(LEGACY, "en") == [LEGACY]
    assert views.reason_lines({"en": EN_REASON, "zh": ZH_REASON}, "en") == [EN_REASON]
    # empty texts are skipped in favour of the other language
    assert views.reason_text({"zh": "", "en": EN_REASON}, "zh") == EN_REASON


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A small demo home whose top warning carries one bilingual, one English-only and one
    legacy reason; returns (home, that warning's id)."""
    import sqlalchemy as sa

    from riskwarn.warnings import probability_reason

    home = tmp_path_factory.mktemp("dash-i18n") / "home"
    city = demo_home(home, n_cells=150, weeks=2, n_cases=20)
    engine = sa.create_engine(city.store_url)
    table = sa.table(
        "warnings",
        *(sa.column(c) for c in ("warning_id", "domain", "level_rank", "probability")),
        sa.column("reasons", sa.JSON),
    )
    with engine.begin() as conn:
        top = conn.execute(
            sa.select(table.c.warning_id)
            .where(table.c.domain == "incidents")
            .order_by(table.c.level_rank.desc(), table.c.probability.desc())
            .limit(1)
        ).scalar_one()
        conn.execute(
            sa.update(table)
            .where(table.c.warning_id == top)
            .values(
                reasons=[
                    probability_reason(0.61, 168.0, 3),
                    {"en": EN_REASON, "zh": ZH_REASON},
                    {"en": ONLY_EN},
                    LEGACY,
                ]
            )
        )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home, top
    mp.undo()


def _warnings_page(lang: str, warning_id: str) -> str:
    role, name = auth.DEMO_USERS["reviewer"]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/warnings.py").run()
    picker = next(w for w in at.selectbox if str(w.key).startswith("rv_pick"))
    if picker.value != warning_id:
        picker.set_value(warning_id).run()
    assert not at.exception, [e.value for e in at.exception]
    return "\n".join(str(m.value) for m in at.markdown)


def test_warning_reasons_follow_the_language_switch(home: tuple[Path, str]) -> None:
    _, wid = home
    zh = _warnings_page("zh", wid)
    assert f"- {ZH_REASON}" in zh and EN_REASON not in zh
    assert f"- {ONLY_EN}" in zh and f"- {LEGACY}" in zh  # fallbacks
    assert "- 模型预测未来 7 天内的概率为 61.0%（橙色，II级）。" in zh  # the pipeline's own
    assert "Model probability" not in zh
    en = _warnings_page("en", wid)
    assert f"- {EN_REASON}" in en and ZH_REASON not in en
    assert f"- {LEGACY}" in en
    assert "- Model probability 61.0% over the next 7 days (level II orange)." in en
    assert "模型预测" not in en


def test_dispute_explanations_follow_the_language(home: tuple[Path, str]) -> None:
    role, name = auth.DEMO_USERS["reviewer"]
    for lang, marker, absent in (
        ("zh", "已调解失败", "failed mediation"),
        ("en", "failed mediation", "已调解失败"),
    ):
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
        at.session_state["lang"] = lang
        at.run()
        at.switch_page("pages/disputes.py").run()
        assert not at.exception, [e.value for e in at.exception]
        text = "\n".join(str(m.value) for m in at.markdown)
        table = at.dataframe[0].value
        cells = " ".join(str(v) for v in table.iloc[:, -1])
        assert marker in text and marker in cells
        assert absent not in text and absent not in cells
        assert isinstance(table, pd.DataFrame)


def test_evidence_facts_are_worded_in_the_chosen_language() -> None:
    from dashboard.views import evidence_fact_label

    assert evidence_fact_label("rain_3d_mm", 72.0, "zh") == "近 3 天降雨 72.0 毫米"
    assert evidence_fact_label("rain_3d_mm", 72.0, "en") == "72.0 mm of rain in the last 3 days"
    # not catalogued, or not a number: the key stays (never a made-up sentence)
    assert evidence_fact_label("sensor_health", "dead", "zh") == "sensor_health"
    assert evidence_fact_label("rain_3d_mm", None, "zh") == "rain_3d_mm"
