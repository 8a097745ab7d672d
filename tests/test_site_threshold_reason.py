"""A site warned orange at p = 0.87 % (review of 6 Dec 2026): its first reason said "Model
probability 0.9% over the next 24 h (level II orange)" where the domain's orange is 25 %,
and only the sites table's cut "Why" column said the site model has its own thresholds.
The first reason now says the model's own threshold of the level it set, and the domain's
it replaces, in English and Chinese; a warning whose model did not record one reads as
before, and one whose level another source set says what the model alone gave."""

from __future__ import annotations

import pandas as pd

from riskwarn import warnings as rw

ORIGIN = pd.Timestamp("2023-09-01T00:00", tz="UTC")


def _reasons(evidence: dict[str, dict[str, object]]) -> dict[str, dict[str, str]]:
    levels = pd.DataFrame(
        {
            "unit_id": ["s1", "s2"],
            "probability": [0.0087, 0.0087],
            "score": [0.0087, 0.0087],
            "level_rank": [3, 3],
        }
    )
    ctx = rw.WarningContext("geohazard_hourly", "site", ORIGIN, 24.0)
    out = rw.build_warnings(levels, ctx, {}, evidence=evidence)
    return {u: r[0] for u, r in zip(out["unit_id"], out["reasons"], strict=True)}


def test_first_reason_says_the_models_own_threshold() -> None:
    got = _reasons(
        {
            "s1": {"model_level": "orange", "model_threshold": 0.0065, "rules_level": "none"},
            # the sensor rules set orange; the model alone said blue: no orange threshold
            "s2": {"model_level": "blue", "model_threshold": 0.0008, "rules_level": "orange"},
        }
    )
    assert got["s1"]["en"] == (
        "Model probability 0.87% over the next 24 h, at or above this model's own orange "
        "threshold of 0.65% (set in training, not the domain's 25%): level II orange."
    )
    assert got["s1"]["zh"] == (
        "模型预测未来 24 小时内的概率为 0.87%，达到本模型自身的橙色阈值 0.65%"
        "（训练时设定，而非本领域通用的 25%）：橙色，II级。"
    )
    # the rules set s2's orange: its model reason says what the model alone gave, not the
    # level (review of 6 Dec 2026: "0.0% ... (level IV blue)" opened a fault's blue)
    assert got["s2"]["en"] == (
        "Model probability 0.9% over the next 24 h (the model alone: level IV blue; another "
        "source set the level)."
    )


def test_without_a_recorded_threshold_the_reason_is_unchanged() -> None:
    got = _reasons({})
    assert got["s1"] == {
        "en": "Model probability 0.9% over the next 24 h (level II orange).",
        "zh": "模型预测未来 24 小时内的概率为 0.9%（橙色，II级）。",
    }
