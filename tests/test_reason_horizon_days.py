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


def test_a_site_inputs_window_of_whole_days_reads_in_days() -> None:
    """A site model's reason and its evidence label word a window of whole days past one
    in days, as the horizon (review of 2026-12-06: days everywhere on the review page)."""
    from features.catalog import describe, describe_parts

    assert describe("rain_72h_mm", 12.0) == "12.0 mm of rain in the last 3 days"
    assert describe("rain_72h_mm", 12.0, "zh") == "近 3 天降雨 12.0 毫米"
    assert describe_parts("share_missing_168h", 0.5, "zh") == (
        "近 7 天应有传感器读数缺失比例",
        "50%",
    )
    assert describe("rain_24h_mm", 1.0) == "1.0 mm of rain in the last 24 hours"
    assert describe_parts("rain_6h_mm", 1.0) == ("Rain, last 6 hours (mm)", "1.0")
