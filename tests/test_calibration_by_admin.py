"""The backtest's calibration per admin unit without scikit-learn's checks per group
(issue 18.3: training CPU; models.hotspot_backtest.calibration_by_admin): the same table as
models.calibration.calibration_by_group, value for value within floating rounding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.calibration import calibration_by_group
from models.hotspot_backtest import calibration_by_admin
from models.metrics import probability_metrics, probability_metrics_numpy

RTOL = 1e-12


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 20_000
    admin = rng.choice([f"{k:06d}" for k in range(300)], n)
    # coarse probabilities: many ties, as calibrated scores of sparse cells have
    p = np.round(rng.beta(0.5, 12, n), 3)
    y = (rng.random(n) < p * 1.5).astype(np.int64)
    frame = pd.DataFrame({"admin_code": admin, "label_any": y, "probability": p})
    # a unit with no event, one with only events, one with one row, one "unknown"
    extra = pd.DataFrame(
        {
            "admin_code": ["zz_none"] * 5 + ["zz_all"] * 3 + ["zz_one", "unknown"],
            "label_any": [0] * 5 + [1] * 3 + [1, 0],
            "probability": [0.1, 0.1, 0.2, 0.0, 0.3, 0.5, 0.5, 0.9, 0.4, 0.2],
        }
    )
    return pd.concat([frame, extra], ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_by_admin_equals_calibration_by_group(seed: int) -> None:
    frame = _frame(seed)
    want = calibration_by_group(frame, "admin_code")
    got = calibration_by_admin(frame)
    assert list(got.columns) == list(want.columns)
    assert got["admin_code"].tolist() == want["admin_code"].tolist()
    assert got["n"].tolist() == want["n"].tolist()
    for col in ("auc", "average_precision", "brier", "ece", "base_rate", "mean_probability"):
        np.testing.assert_allclose(got[col], want[col], rtol=RTOL, atol=0, equal_nan=True)
    one_class = got.set_index("admin_code").loc[["zz_none", "zz_all", "zz_one", "unknown"]]
    assert one_class[["auc", "average_precision"]].isna().all().all()
    assert got["auc"].notna().sum() > 250  # most units hold both outcomes


def test_probability_metrics_numpy_equals_probability_metrics() -> None:
    rng = np.random.default_rng(5)
    for n in (2, 7, 50, 5_000):
        p = np.round(rng.random(n), 2)
        y = (rng.random(n) < p).astype(int)
        y[0], y[-1] = 0, 1
        want, got = probability_metrics(y, p), probability_metrics_numpy(y, p)
        assert list(got) == list(want)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=RTOL, atol=0, err_msg=k)
