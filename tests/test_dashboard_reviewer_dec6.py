"""A reviewer's reading of the demo as a leader and a panel member (6 Dec 2026): the words
that misled, each checked in en and zh (pure functions; no browser)."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard import views

HOLD = (0.02, 0.08, 0.25, 0.5)

# the demo's warning of site DZ3408250007 as stored (flat readings, a last-reading spike)
NOISY_REASONS = [
    {
        "en": "Model probability 0.2% over the next 24 h (level IV blue).",
        "zh": "模型预测未来 24 小时内的概率为 0.2%（蓝色，IV级）。",
    },
    {
        "en": "Displacement: improved tangent angle 78.3°, velocity within the sensor's noise "
        "(not above its noise floor for 2 consecutive steps: at most blue).",
        "zh": "位移监测：改进切线角 78°，速度在传感器噪声范围内（未连续 2 个时段超过噪声下限："
        "最高蓝色）。",
    },
]
NOISY_EVIDENCE: dict[str, Any] = {
    "model_level": None,
    "model_threshold": None,
    "rules_level": "blue",
    "sensors": [
        {
            "sensor_id": "SB00015",
            "status": "ok",
            "readings_24h": 144,
            "tangent_angle_deg": 78.3,
            "velocity_mm_per_day": 44.4,
        }
    ],
}


@pytest.mark.parametrize(
    ("lang", "caveat"),
    [("en", "within the sensor's noise"), ("zh", "传感器噪声范围内")],
)
def test_site_why_keeps_the_rules_noise_caveat(lang: str, caveat: str) -> None:
    kind, facts = views.site_why("blue", 0.0017, NOISY_EVIDENCE, HOLD, None, NOISY_REASONS)
    words = views.site_why_words(kind, facts, lang)
    assert kind == "sensor_rule" and "SB00015" in words
    assert caveat in words, words
    assert ("at most blue" if lang == "en" else "最高蓝色") in words


def test_noise_caveat_from_the_evidence_and_only_when_the_rule_says_so() -> None:
    ev = {**NOISY_EVIDENCE, "sensors": [{**NOISY_EVIDENCE["sensors"][0], "within_noise": True}]}
    kind, facts = views.site_why("blue", 0.0017, ev, HOLD)
    assert "within the sensor's noise" in views.site_why_words(kind, facts, "en")
    # a real movement (the rule's reason without the gate's sentence): no caveat
    moving = {**NOISY_EVIDENCE, "rules_level": "yellow"}
    reasons = [{"en": "Displacement: improved tangent angle 78.3°.", "zh": "位移监测。"}]
    kind, facts = views.site_why("yellow", 0.0017, moving, HOLD, None, reasons)
    for lang, caveat in (("en", "noise"), ("zh", "噪声")):
        words = views.site_why_words(kind, facts, lang)
        assert "44.4" in words and caveat not in words


def _gate(ok: bool, judged: bool = True) -> dict[str, Any]:
    calib = {"check": "calibration", "ok": ok, "ece": 0.0178, "bound": 0.01134812971584524}
    if not judged:
        calib["judged"] = False
    return {"checks": [{"check": "not worse than kde at PAI@1%", "ok": False}, calib]}


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "ranking, not a probability"), ("zh", "只可用于排序，不能当作概率")],
)
def test_kpi_says_when_its_model_failed_calibration(lang: str, words: str) -> None:
    caveat = views.calibration_caveat(_gate(ok=False), lang)
    assert caveat is not None and words in caveat and "0.0178" in caveat and "0.0113" in caveat
    # passed, not judged, or no gate: nothing new beside the number
    assert views.calibration_caveat(_gate(ok=True), lang) is None
    assert views.calibration_caveat(_gate(ok=False, judged=False), lang) is None
    assert views.calibration_caveat(None, lang) is None
