"""Calibration keeps the ranking and fixes probabilities; explanations add up and read well."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models.calibration import calibration_by_group, fit_calibrator
from models.explain import contributions, describe, explain_rows, global_importance
from models.metrics import expected_calibration_error


def test_platt_calibrates_a_monotone_score_and_keeps_the_order() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 2, 20000)
    p_true = 1 / (1 + np.exp(-(0.7 * raw - 2)))
    y = rng.random(raw.size) < p_true
    cal = fit_calibrator(raw[:10000], y[:10000], "platt")
    p = cal.predict(raw[10000:])
    assert expected_calibration_error(y[10000:], p) < 0.02
    assert expected_calibration_error(y[10000:], 1 / (1 + np.exp(-raw[10000:]))) > 0.1
    order = np.argsort(raw[10000:])
    assert np.all(np.diff(p[order]) >= 0)
    iso = fit_calibrator(raw[:10000], y[:10000], "isotonic")
    assert expected_calibration_error(y[10000:], iso.predict(raw[10000:])) < 0.03
    with pytest.raises(ValueError, match="unknown calibration"):
        fit_calibrator(raw, y, "magic")


def test_single_class_slice_still_gives_a_small_probability() -> None:
    raw = np.linspace(-1, 1, 200)
    cal = fit_calibrator(raw, np.zeros(200, dtype=int), "platt")
    p = cal.predict(raw)
    assert p.max() < 0.05 and np.all(np.diff(p) >= 0)


def test_calibration_by_group() -> None:
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"county": np.repeat(["a", "b"], 5000), "probability": rng.random(10000)})
    f["label_any"] = (rng.random(10000) < f["probability"]).astype(int)
    f.loc[f["county"] == "b", "probability"] = 0.9  # miscalibrated in b
    res = calibration_by_group(f, "county").set_index("county")
    assert res.loc["a", "ece"] < 0.05 < res.loc["b", "ece"]
    assert res.loc["a", "n"] == 5000


def test_shap_contributions_sum_to_margin_and_sentences_use_templates() -> None:
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"count_7d": rng.poisson(2, 2000).astype(float), "noise": rng.random(2000)})
    y = rng.poisson(0.2 + 0.3 * x["count_7d"].to_numpy())
    feats = list(x.columns)
    booster = xgb.train(
        {"objective": "count:poisson", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(x.to_numpy(np.float32), label=y, feature_names=feats),
        30,
    )
    c = contributions(booster, x, feats, 29)
    margin = booster.predict(
        xgb.DMatrix(x.to_numpy(np.float32), feature_names=feats), output_margin=True
    )
    assert np.allclose(c.sum(axis=1), margin, atol=1e-4)
    imp = global_importance(c)
    assert imp.index[0] == "count_7d"
    top = x.assign(m=margin).sort_values("m").tail(1).drop(columns="m")
    expl = explain_rows(
        contributions(booster, top, feats, 29),
        top,
        {"count_7d": "{value:.0f} incidents in this cell in the last 7 days"},
    )
    assert expl[0]["factors"][0]["feature"] == "count_7d"
    assert "incidents in this cell in the last 7 days" in expl[0]["sentence"]
    assert describe("unknown", 2.5, {}) == "unknown = 2.5"
