"""A geohazard warning's two velocities are labelled as the two quantities they are
(review r92 D5c: "the slope moved 6.30 mm per day recently" beside evidence "Velocity
(mm/day) 44.4"): the model's input is the GNSS velocity over the feature window (24 h),
the evidence's is the sensor rules' over their last ``smooth_steps`` hourly steps."""

from __future__ import annotations

from dashboard import review
from dashboard.i18n import t
from features.catalog import describe
from features.sensor_readings import SiteFeatureParams
from riskwarn.sensor_rules import NOWCAST_RULES


def test_model_reason_and_evidence_name_their_windows():
    model_h = f"{SiteFeatureParams().velocity_window_days * 24:.0f} h"
    rules_h = f"{NOWCAST_RULES.smooth_steps} h"
    assert model_h != rules_h  # two quantities: they must not share an unqualified label
    en = describe("velocity_mm_per_day", 6.3, "en")
    zh = describe("velocity_mm_per_day", 6.3, "zh")
    assert f"last {model_h}" in en and "GNSS" in en and "recently" not in en
    assert f"近 {model_h.replace(' h', ' 小时')}" in zh and "GNSS" in zh
    label_en = review.evidence_word("velocity_mm_per_day", "en")
    label_zh = review.evidence_word("velocity_mm_per_day", "zh")
    assert f"last {rules_h}" in label_en and "Sensor-rule" in label_en
    assert f"近 {rules_h.replace(' h', ' 小时')}" in label_zh and "传感器规则" in label_zh
    why = t("why_sensor_rule", "en", angle="88", v="44.4", sensor="SB1")
    assert f"last {rules_h}" in why
