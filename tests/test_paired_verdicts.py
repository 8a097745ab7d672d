"""Model-vs-rule verdicts read from the paired CI the same way on both sides: win (CI above
0), loss (CI below 0), else a tie that says where its point lies; targets "met" only when
the CI says so; the gate's decision unchanged but its words naming a point-estimate loss."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import hongkong_section

from models.gate import gate, level_check
from models.metrics import paired_verdict, target_verdict


def test_paired_verdict_is_symmetric_and_names_the_point() -> None:
    assert paired_verdict(0.2, 0.1, 0.3) == "win"
    assert paired_verdict(-0.2, -0.3, -0.1) == "loss"
    assert paired_verdict(-0.135, -0.343, 0.132) == "tie, point below"
    assert paired_verdict(0.048, -0.088, 0.369) == "tie, point above"
    # lower is better (Brier, FAR): a negative difference is the model ahead
    assert paired_verdict(-0.007, -0.009, -0.005, higher_is_better=False) == "win"
    assert paired_verdict(0.01, -0.01, 0.03, higher_is_better=False) == "tie, point below"
    assert paired_verdict(0.0, None, None) == "n/a"


def test_a_target_is_met_only_when_its_ci_says_so() -> None:
    assert target_verdict(0.79, 0.765, 0.817, 0.78) == "not shown"
    assert target_verdict(0.993, 0.989, 0.997, 0.97) == "met"
    assert target_verdict(0.5, 0.4, 0.6, 0.78) == "missed"
    assert target_verdict(0.1, 0.0, 0.2, 0.0, strict=True) == "not shown"


def _skill() -> dict:
    """The Hong Kong run's shape: a point-estimate loss on Spearman inside its CI and a
    TSS-at-red gain on the point estimate only (docs/benchmarks-models.md)."""
    m = {"value": 0.9, "ci": [0.85, 0.95]}
    methods = {
        "xgboost": {
            "any": {"auc": {"value": 0.79, "ci": [0.765, 0.817]}, "bss": m},
            "major": {"auc": m, "bss": m, "tss@red": {"value": 0.566, "ci": [0.445, 0.786]}},
        },
        "effective_rain": {"major": {"tss@red": {"value": 0.518, "ci": [0.4, 0.7]}}},
    }
    spearman = {"rule": "effective_rain", "diff": -0.135, "ci": [-0.343, 0.132]}
    tss = {"rule": "effective_rain", "diff": 0.048, "ci": [-0.088, 0.369]}
    return {
        "methods": methods,
        "model_minus_best": {"major": {"tss@red": tss}, "severe": {"spearman": spearman}},
        "model_minus_rule": {"effective_rain": {"severe": {"spearman": spearman}}},
    }


def test_hong_kong_targets_need_the_ci_and_name_every_point_loss() -> None:
    checks = {n: (v, fig) for n, v, fig in hongkong_section.target_checks(_skill())}
    tss = next(v for n, v in checks.items() if n.startswith("TSS on >= 10 days"))
    assert tss[0] == "not shown" and "(tie, point above)" in tss[1]
    assert checks["AUC on >= 1 days >= 0.78"][0] == "not shown"
    assert checks["AUC on >= 10 days >= 0.97"][0] == "missed"
    beyond = next(v for n, v in checks.items() if n.startswith("no loss beyond noise"))
    assert beyond == ("met", "none beyond noise")
    below = next(v for n, v in checks.items() if n.startswith("behind a rule"))
    assert below[0] == "1"
    assert (
        "severe spearman vs `effective_rain` -0.135 [-0.343, +0.132] (tie, point below)" in below[1]
    )
    assert hongkong_section._verdict("spearman", [-0.343, 0.132], -0.135) == "tie, point below"
    assert hongkong_section._verdict("brier", [-0.009, -0.005], -0.007) == "win"
    assert hongkong_section._verdict("auc", [-0.3, -0.1], -0.2) == "**loss**"


def _not_worse(diff: float, lo: float, hi: float) -> dict:
    return {"pai@0.05": {"against": "kde", "diff": diff, "ci": [lo, hi]}}


def test_the_gate_passes_a_tie_with_the_point_below_and_says_so() -> None:
    check = gate({}, ece=0.01, not_worse=_not_worse(-0.092, -0.214, 0.01)).checks[0]
    assert check["ok"] is True  # the decision rule is unchanged: not worse beyond noise
    assert "tie, point below (fails only if the CI lies below zero)" in check["detail"]
    lost = gate({}, ece=0.01, not_worse=_not_worse(-0.2, -0.3, -0.1)).checks[0]
    assert lost["ok"] is False and ": loss" in lost["detail"]
    tss = {"model": 0.4, "rule": 0.45, "diff": -0.05, "ci": [-0.2, 0.1]}
    level = level_check("red", {"against": "sensor_rules", "tss": tss}, "no failure")
    assert level["ok"] is True and "tie, point below" in level["detail"]


def test_the_cli_names_a_point_below_once() -> None:
    from riskwarn.commands.registry import check_line

    check = gate({}, ece=0.01, not_worse=_not_worse(-0.092, -0.214, 0.01)).checks[0]
    assert check_line(check).count("tie, point below") == 1


def test_the_models_page_names_a_passed_tie_with_the_point_below() -> None:
    from dashboard.verdicts import passed_point_below, point_below_words

    gate_json = {
        "checks": [
            {"check": "not worse than kde at PAI@1%", "ok": True, "metric": "pai@0.01",
             "baseline": "kde", "diff": -0.092, "ci": [-0.214, 0.01]},
            {"check": "not worse than kde at PAI@5%", "ok": True, "metric": "pai@0.05",
             "against": "kde", "diff": 0.1, "ci": [-0.1, 0.3]},
        ]
    }  # fmt: skip
    below = passed_point_below(gate_json)
    assert [c["metric"] for c in below] == ["pai@0.01"]
    en, zh = point_below_words(below[0], "en"), point_below_words(below[0], "zh")
    assert "PAI@1%" in en and "−0.092" in en and "−0.214" in en
    assert "PAI@1%" in zh and "−0.092" in zh
