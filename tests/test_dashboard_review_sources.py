"""The review page's reasons name the source that set a site's level (review 2026-12-06).

The geohazard review page listed a site warning's stored reasons, the first of them the
model's probability "(level II orange)": the combined level, even when the model alone
gave blue and a sensor rule set orange. The site list already named the source
(``riskwarn.nowcast.level_sources`` in the evidence, tests/test_site_why_sources.py). Now
the review page's first reason names it too, a rule with the measured value and the
rule's threshold from the configuration (``riskwarn.sensor_rules.NOWCAST_RULES``), the
model's probability line says what the model alone gave, in Chinese and English; a
warning without level sources reads as before.

The demo home is built for a fixed past day (a replay: the site warnings are in force
whatever the calendar says).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, views
from riskwarn import sensor_rules
from riskwarn import warnings as rw
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
RULES = sensor_rules.NOWCAST_RULES
RULE_EV: dict[str, Any] = {
    "sensors": [
        {"sensor_id": "G1", "status": "ok", "tangent_angle_deg": 82.4, "velocity_mm_per_day": 30},
        {"sensor_id": "C2", "status": "dead", "tangent_angle_deg": None},
    ],
    "model_level": "blue",
    "model_threshold": 0.001,
    "rules_level": "orange",
}


def _warning(level: str, p: float, ev: dict[str, Any], reasons: list[Any]) -> dict[str, Any]:
    return {
        "level": level,
        "probability": p,
        "evidence": ev,
        "reasons": reasons,
        "domain": "geohazard_hourly",
        "lead_time_hours": 24.0,
    }


def test_a_rule_level_names_the_rule_its_value_and_threshold_first() -> None:
    stored = [
        rw.probability_reason(0.002, 24.0, 3),
        rw.sensor_rule_reason(3, 82.4, float("nan"), True, RULES),
    ]
    w = _warning("orange", 0.002, RULE_EV, stored)
    en = views.warning_reason_lines(w, "en")
    zh = views.warning_reason_lines(w, "zh")
    assert en[0] == (
        f"Level Orange (II) set by a sensor rule (G1): tangent angle 82.4° ≥ orange "
        f"threshold {RULES.orange_deg:.0f}°."
    )
    assert (
        zh[0]
        == f"预警等级橙色（II级）由传感器规则给出（G1）：切线角 82.4° ≥ 橙色阈值 {RULES.orange_deg:.0f}°。"
    )
    # the model's line says what the model alone gave, never the combined orange
    assert en[1] == "Model probability 0.20% over the next 24 h (the model alone: Blue (IV))."
    assert zh[1] == "模型预测未来 24 小时内的概率为 0.20%（模型单独给出：蓝色（IV级））。"
    assert not any("level II orange" in x for x in en) and not any(
        "（橙色，II级）" in x for x in zh
    )
    assert en[2:] == views.reason_lines(stored[1:], "en")  # the rule's own sentence kept


def test_the_threshold_is_the_configured_one() -> None:
    from dataclasses import replace

    w = _warning("orange", 0.002, RULE_EV, [rw.probability_reason(0.002, 24.0, 3)])
    en = views.warning_reason_lines(w, "en", rules=replace(RULES, orange_deg=78.0))
    assert "≥ orange threshold 78°" in en[0]


def test_a_failure_forecast_rule_and_a_model_level_and_a_hold() -> None:
    ev = {
        **RULE_EV,
        "sensors": [{"sensor_id": "G1", "status": "ok", "tangent_angle_deg": 60.0}],
        "rules_level": "red",
    }
    w = {**_warning("red", 0.002, ev, []), "lead_time_hours": 9.6}
    assert views.warning_reason_lines(w, "en")[0] == (
        f"Level Red (I) set by a sensor rule (G1): inverse-velocity failure forecast in 10 h "
        f"≤ red threshold {RULES.red_failure_hours:.0f} h."
    )
    model = {"model_level": "orange", "model_threshold": 0.0062, "rules_level": None}
    w = _warning("orange", 0.0087, model, [rw.probability_reason(0.0087, 24.0, 3)])
    assert views.warning_reason_lines(w, "en")[0] == (
        "Level Orange (II) set by the model: probability 0.87% ≥ its orange threshold 0.62%."
    )
    held = {"model_level": None, "rules_level": "yellow", "held_steps_below": 2}
    w = _warning("orange", 0.001, held, [])
    assert views.warning_reason_lines(w, "zh")[0].startswith("预警等级橙色（II级）为维持前期等级")


def test_a_warning_without_level_sources_reads_as_before() -> None:
    stored = [rw.probability_reason(0.61, 168.0, 3), {"en": "x", "zh": "甲"}]
    w = _warning("orange", 0.61, {"rain_3d_mm": 72.0}, stored)
    for lang in ("en", "zh"):
        assert views.warning_reason_lines(w, lang) == views.reason_lines(stored, lang)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("srcs") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=5, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    table = sa.table(
        "warnings",
        *(sa.column(c) for c in ("warning_id", "domain", "level", "level_rank", "probability")),
        sa.column("reasons", sa.JSON),
        sa.column("evidence", sa.JSON),
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        wid = conn.execute(
            sa.select(table.c.warning_id).where(
                (table.c.domain == "geohazard") & (table.c.level == "yellow")
            )
        ).scalar_one()
        conn.execute(
            sa.update(table)
            .where(table.c.warning_id == wid)
            .values(
                level="orange",
                level_rank=3,
                probability=0.002,
                reasons=[
                    rw.probability_reason(0.002, 24.0, 3),
                    rw.sensor_rule_reason(3, 82.4, float("nan"), True, RULES),
                ],
                evidence=RULE_EV,
            )
        )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield str(wid)
    mp.undo()


@pytest.mark.parametrize(
    ("lang", "first", "combined"),
    [
        (
            "en",
            "- Level Orange (II) set by a sensor rule (G1): tangent angle 82.4° ≥ orange threshold 80°.",
            "(level II orange)",
        ),
        (
            "zh",
            "- 预警等级橙色（II级）由传感器规则给出（G1）：切线角 82.4° ≥ 橙色阈值 80°。",
            "（橙色，II级）",
        ),
    ],
)
def test_the_review_page_names_the_source_first(
    home: str, lang: str, first: str, combined: str
) -> None:
    role, name = auth.DEMO_USERS["reviewer"]
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["user"] = auth.User(username="reviewer", name=name, role=role)
    at.session_state["lang"] = lang
    at.query_params["warning"] = home
    at.switch_page("pages/warnings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (reasons,) = [
        str(m.value)
        for m in at.markdown
        # the reasons' list: it holds the stored rule sentence, on the old page too
        if str(m.value).startswith("- ")
        and ("Displacement" in str(m.value) or "位移监测" in str(m.value))
    ]
    assert reasons.split("\n")[0].replace("\\", "") == first, reasons
    assert combined not in reasons
