"""The geohazard page's "why" names the source that set a site's level (model, sensor rule,
hold or fault) with its numbers, and a sensor fault beside it only as a note.

The demo's case (make demo, origin 2023-08-31 16:00): site DZ3408820004 orange at model
probability 0.87%, over the site model's own orange threshold (its training-rate levels,
riskwarn.nowcast.model_level_policy) but under the domain's hold thresholds, with both
displacement sensors silent for 24 h: the page read it as "sensor fault: ... silent" only.
"""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("streamlit")

from dashboard import views
from riskwarn import domains, nowcast
from riskwarn import warnings as rw

HOLD = (0.015, 0.06, 0.20, 0.40)  # the domain's hold thresholds the page knows
DEAD = [
    {"sensor_id": "SB00012", "status": "dead", "tangent_angle_deg": None},
    {"sensor_id": "SB00031", "status": "dead", "tangent_angle_deg": None},
]


def test_model_orange_beside_dead_sensors_names_the_model_and_notes_the_fault() -> None:
    ev = {
        "sensor_health": "dead",
        "sensors": DEAD,
        "model_level": "orange",
        "model_threshold": 0.0062,
        "rules_level": None,
    }
    kind, facts = views.site_why("orange", 0.0087, ev, HOLD)
    assert kind == "model"
    en = views.site_why_words(kind, facts, "en")
    zh = views.site_why_words(kind, facts, "zh")
    assert en.startswith(
        "model: probability 0.87%, at or above this model's own Orange (II) threshold of 0.62%"
        " (set in training; the domain's thresholds do not apply)"
    )
    assert en.endswith("; also sensor fault: SB00012 silent, SB00031 silent")
    assert zh.startswith("模型预测：概率 0.87%，达到本模型自身的橙色（II级）阈值 0.62%（训练时设定")
    assert "；另：传感器异常：SB00012 无数据、SB00031 无数据" in zh


def test_rule_orange_names_the_rule_and_notes_a_dead_second_sensor() -> None:
    sensors = [
        {"sensor_id": "G1", "status": "ok", "tangent_angle_deg": 82.4, "velocity_mm_per_day": 30},
        {"sensor_id": "C2", "status": "dead", "tangent_angle_deg": None},
    ]
    ev = {"sensors": sensors, "model_level": "blue", "model_threshold": 0.001}
    ev["rules_level"] = "orange"
    kind, facts = views.site_why("orange", 0.002, ev, HOLD)
    assert kind == "sensor_rule" and facts["sensor"] == "G1"
    en = views.site_why_words(kind, facts, "en")
    assert en.startswith("sensor rule: tangent angle 82°") and en.endswith("C2 silent")


def test_a_fault_that_raised_the_level_says_so() -> None:
    ev = {"sensor_health": "dead", "sensors": DEAD, "model_level": None, "rules_level": None}
    kind, facts = views.site_why("blue", 0.0, ev, HOLD)
    assert kind == "sensor_health"
    assert views.site_why_words(kind, facts, "en").startswith("raised by a sensor fault")
    assert views.site_why_words(kind, facts, "zh").startswith("传感器异常使预警等级提升")


def test_a_held_level_says_it_is_held() -> None:
    ev = {"sensors": [], "model_level": None, "rules_level": "yellow", "held_steps_below": 2}
    kind, facts = views.site_why("orange", 0.001, ev, HOLD)
    assert kind == "held" and "2" in views.site_why_words(kind, facts, "en")


def test_level_sources_records_the_threshold_the_model_met() -> None:
    policy = domains.LevelPolicy((0.002, 0.004, 0.006, 0.02), (0.001, 0.002, 0.003, 0.01), None)
    scores = pd.DataFrame({"unit_id": ["a", "b", "c"], "probability": [0.0087, 0.0045, None]})
    previous = pd.DataFrame({"unit_id": ["b"], "level_rank": [3]})
    levels = rw.assign_levels(scores, policy, previous)
    got = [
        nowcast.level_sources(m, r, policy)
        for m, r in zip(levels.itertuples(index=False), [0, 2, 4], strict=True)
    ]
    assert got[0] == {"model_level": "orange", "model_threshold": 0.006, "rules_level": None}
    # b was orange and still meets orange's hold threshold (hysteresis): that one is named
    assert got[1] == {"model_level": "orange", "model_threshold": 0.003, "rules_level": "yellow"}
    assert got[2] == {"model_level": None, "model_threshold": None, "rules_level": "red"}


def test_the_review_page_words_the_recorded_sources() -> None:
    from dashboard import review

    rows = dict(
        review.evidence_fact_rows(
            {"model_level": "orange", "model_threshold": 0.0062, "rules_level": None}, "zh"
        )
    )
    assert rows == {
        "模型给出的等级": "橙色（II级）",
        "模型该等级的概率阈值": "0.62%",
        "传感器规则给出的等级": "未达阈值",
    }
