"""Issue 12 §4: the backtest metrics table on the models page words every metric id
(``pai_at_0.05_ci_lo``, ``levels.velocity.3.mean_lead_h``, ...) in the page's language."""

from __future__ import annotations

import re

import pytest

from dashboard.metric_words import metric_order, metric_words

# taken from the make-demo home's MLflow (select distinct key from latest_metrics),
# ``methods.<method>.`` removed as the table does
REAL = [
    "auc",
    "auc_ci_hi",
    "auc_ci_lo",
    "average_precision",
    "base_rate",
    "brier",
    "csi",
    "ece",
    "escalation_recall_at_0.2",  # the case model's event measure (2026-12-06)
    "escalations",
    "escalations_flagged_at_0.1",
    "escalations_never_scored",
    "events",
    "events_active_area",
    "events_outside_area",
    "failures",
    "failures_warned",
    "failures_warned_orange",
    "far",
    "far_orange",
    "final_threshold",
    "gap_closed_share",
    "gap_closed_share_loo",
    "hit_rate_active_area_at_0.01",
    "hit_rate_active_area_at_0.2",
    "hit_rate_at_0.01",
    "hit_rate_at_0.01_ci_hi",
    "hit_rate_at_0.05_ci_lo",
    "hit_rate_at_0.1",
    "lead_model_minus.inverse_velocity.1.ci_hi",
    "lead_model_minus.sensor_rules.4.diff",
    "lead_model_minus.tangent_angle.2.n",
    "lead_model_minus.velocity.3.ci_lo",
    "levels.caine.1.failures",
    "levels.caine.2.far_rows",
    "levels.effective_rain.1.median_lead_warned_h",
    "levels.guzzetti.3.pod_rows",
    "levels.inverse_velocity.4.warned",
    "levels.velocity.3.mean_lead_h",
    "levels.xgboost.2.warned_share",
    "mean_lead_time_orange_h",
    "median_lead_time_h",
    "median_lead_time_orange_h",
    "model_minus_baseline.caine.ci_hi",
    "model_minus_baseline.category_rate.diff",
    "model_minus_baseline.kde.ci_lo",
    "model_minus_baseline.prospective.diff",
    "model_minus_baseline_tss.caine.ci_hi",
    "model_minus_baseline_tss.velocity.diff",
    "n_active_cells",
    "n_cells",
    "n_days",
    "n_origins",
    "n_rows",
    "n_sites",
    "n_windows",
    "pai_active_area_at_0.01",
    "pai_active_area_at_0.1",
    "pai_at_0.01",
    "pai_at_0.01_ci_hi",
    "pai_at_0.05",
    "pai_at_0.05_ci_lo",
    "pai_at_0.2",
    "pei_active_area_at_0.02",
    "pei_at_0.05_ci_hi",
    "pei_at_0.1",
    "pod",
    "pod_orange",
    "refits",
    "threshold_last_fit",
    "timings_s.baselines_s",
    "timings_s.features_s",
    "timings_s.metrics_s",
    "timings_s.model_s",
    "timings_s.total_s",
    "tss",
    "tss_ci_hi",
    "tss_ci_lo",
    "tss_orange",
    "warned_share",
    "warned_share_orange",
]


@pytest.mark.parametrize("key", REAL)
def test_every_real_metric_id_is_worded_in_chinese(key: str) -> None:
    zh = metric_words(key, "zh")
    assert "_" not in zh and zh != key
    # no word starting lowercase: acronyms (PAI, AUC...) and method names (Caine,
    # XGBoost) begin with a capital; units are Chinese (小时, 秒)
    assert not re.search(r"(?<![A-Za-z])[a-z]", zh), zh
    assert re.search(r"[\u4e00-\u9fff]", zh), zh
    en = metric_words(key, "en")
    assert "_" not in en and not re.search(r"[\u4e00-\u9fff]", en), en


def test_exact_words() -> None:
    assert (
        metric_words("pai_at_0.05_ci_lo", "zh")
        == "命中效率 PAI（全域前 5% 面积，95% 置信区间下限）"
    )
    assert metric_words("pai_at_0.05_ci_lo", "en") == "PAI, at 5% of the area, 95% CI low"
    assert metric_words("hit_rate_active_area_at_0.01", "zh") == "命中率（活跃区域前 1% 面积）"
    assert metric_words("far_orange", "zh") == "空报率 FAR（橙色及以上）"
    assert metric_words("mean_lead_time_orange_h", "en") == "Mean lead time, orange or above (h)"
    assert metric_words("levels.velocity.3.mean_lead_h", "zh") == (
        "位移速率·橙色及以上：平均提前时间（小时，未预警计 0）"
    )
    assert metric_words("levels.velocity.4.warned", "en") == (
        "Displacement velocity, red: failures warned"
    )
    assert metric_words("lead_model_minus.sensor_rules.1.diff", "zh").startswith(
        "平均提前时间差：模型减"
    )
    assert metric_words("model_minus_baseline_tss.caine.ci_hi", "zh") == (
        "模型减Caine 雨强-历时阈值（TSS，95% 置信区间上限）"
    )


def test_model_minus_baseline_names_its_metric() -> None:
    """Issue 12: the rows read "主指标差" without saying which metric; the run's headline
    (metrics.json) is named in both languages."""
    key = "model_minus_baseline.kde.ci_lo"
    assert metric_words(key, "zh", "pai@0.05") == "模型减核密度热点（PAI@5%，95% 置信区间下限）"
    assert metric_words(key, "en", "pai@0.05") == (
        "The model minus kernel density hotspots (PAI@5%, 95% CI low)"
    )
    assert "（AP）" in metric_words(
        "model_minus_baseline.failed_mediations.diff", "zh", "average_precision"
    )
    assert "(AUC)" in metric_words("model_minus_baseline.caine.diff", "en", "auc")
    assert metric_words("timings_s.model_s", "zh") == "耗时：模型（秒）"
    assert metric_words("n_windows", "en") == "Backtest windows"


def test_unknown_ids_stay_as_given() -> None:
    for key in ("something_new", "levels.velocity.9.pod_rows", "pai_at_x", "timings_s.odd"):
        assert metric_words(key, "zh") == key


def test_order_headline_first_shares_rising_ci_after_value() -> None:
    keys = [
        "timings_s.model_s",
        "n_windows",
        "levels.caine.1.failures",
        "model_minus_baseline.kde.diff",
        "auc",
        "pai_at_0.1",
        "pai_at_0.05_ci_hi",
        "pai_at_0.05",
        "pai_at_0.05_ci_lo",
        "pai_active_area_at_0.01",
    ]
    assert sorted(keys, key=metric_order) == [
        "pai_at_0.05",
        "pai_at_0.05_ci_lo",
        "pai_at_0.05_ci_hi",
        "pai_at_0.1",
        "pai_active_area_at_0.01",
        "auc",
        "model_minus_baseline.kde.diff",
        "levels.caine.1.failures",
        "n_windows",
        "timings_s.model_s",
    ]


def test_hit_rate_curve_points_and_chart_in_chinese() -> None:
    import json

    from dashboard import views

    metrics = {
        "methods.xgboost.hit_rate_at_0.05": 0.3,
        "methods.xgboost.hit_rate_at_0.01": 0.1,
        "methods.kde.hit_rate_at_0.01": 0.05,
        "methods.kde.hit_rate_at_0.01_ci_lo": 0.01,  # not a point of the curve
        "methods.kde.hit_rate_active_area_at_0.01": 0.2,  # nor this
    }
    points = views.hit_rate_points(metrics, "zh")
    assert points.to_dict("records") == [
        {"method": "核密度热点", "area": 1.0, "hit": 0.05},
        {"method": "模型（XGBoost）", "area": 1.0, "hit": 0.1},
        {"method": "模型（XGBoost）", "area": 5.0, "hit": 0.3},
    ]
    spec = json.dumps(views.hit_rate_chart(points, "zh").to_dict(), ensure_ascii=False)
    assert "预警面积占比（%）" in spec and "命中率" in spec and '"方法"' in spec
