"""Reasons word a horizon of whole days in days (reviewer's walk, 2026-12-06): a dispute
case's reason read "over the next 720 h / 未来 720 小时内"; now "30 days / 30 天"."""

from __future__ import annotations

from riskwarn.warnings import horizon_words, model_alone_reason, probability_reason


def test_a_dispute_case_horizon_reads_in_days() -> None:
    r = probability_reason(0.42, 720, 3)
    assert r["en"] == "Model probability 42.0% over the next 30 days (level II orange)."
    assert r["zh"] == "模型预测未来 30 天内的概率为 42.0%（橙色，II级）。"
    assert "30 days" in model_alone_reason(0.1, 720, None)["en"]
    assert "未来 30 天内" in model_alone_reason(0.1, 720, None)["zh"]


def test_hours_stay_hours_when_not_whole_days() -> None:
    assert horizon_words(24) == {"en": "24 h", "zh": "24 小时"}
    assert horizon_words(36) == {"en": "36 h", "zh": "36 小时"}
    assert horizon_words(48) == {"en": "2 days", "zh": "2 天"}
    assert horizon_words(168) == {"en": "7 days", "zh": "7 天"}
