"""Turn model scores into probabilities a panel can take at their word.

The model's raw output (a ranking margin or a Poisson log-rate) is mapped to the
probability of ``label_any`` by a monotone calibrator fitted on a slice of origins
*later* than the training rows (never on the rows the trees were fitted on).

* ``platt`` (default for hotspots): logistic regression on the raw margin. Strictly
  increasing, so it keeps the model's ranking exactly (no new ties, PAI unchanged).
* ``isotonic``: sklearn ``IsotonicRegression``; more flexible but piecewise constant, so
  it creates ties between cells (they are broken at random by the metrics harness).

Calibration quality is reported as Brier, ECE and a reliability curve, overall and per
group (e.g. county) with :func:`calibration_by_group`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.metrics import probability_metrics

log = logging.getLogger(__name__)


@dataclass
class Calibrator:
    """A fitted monotone map from raw score to probability."""

    method: str
    model: LogisticRegression | IsotonicRegression

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw scores."""
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            return self.model.predict_proba(raw.reshape(-1, 1))[:, 1]
        return np.clip(self.model.predict(raw), 0.0, 1.0)


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str = "platt") -> Calibrator:
    """Fit a calibrator of ``raw`` scores to binary outcomes ``y`` (a later slice)."""
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    if method == "platt":
        lr = LogisticRegression(C=1e6, max_iter=1000)
        if np.unique(y).size < 2:
            # one class only (e.g. no major days in the slice): keep the ranking with a
            # tiny slope and predict a Jeffreys-style rate (positives + 0.5) / (n + 1)
            lr.fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
            rate = (float(y.sum()) + 0.5) / (y.size + 1.0)
            lr.coef_[0, 0] = 1e-9
            lr.intercept_[0] = np.log(rate / (1 - rate)) - 1e-9 * (
                float(raw.mean()) if raw.size else 0.0
            )
            return Calibrator("platt", lr)
        lr.fit(raw.reshape(-1, 1), y)
        if lr.coef_[0, 0] <= 0:
            # no positive association on this slice: keep the ranking, predict the base rate
            log.warning("calibration slice shows no positive association; using the base rate")
            rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            lr.coef_[0, 0] = 1e-9
            lr.intercept_[0] = np.log(rate / (1 - rate)) - 1e-9 * float(raw.mean())
        return Calibrator("platt", lr)
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
        iso.fit(raw, y)
        return Calibrator("isotonic", iso)
    raise ValueError(f"unknown calibration method {method!r}")


def calibration_by_group(
    frame: pd.DataFrame, group_col: str, y_col: str = "label_any", p_col: str = "probability"
) -> pd.DataFrame:
    """Brier, ECE, AUC, mean probability and observed rate per group (e.g. county)."""
    rows = []
    for key, g in frame.groupby(group_col, sort=True):
        res = probability_metrics(g[y_col].to_numpy(), g[p_col].to_numpy())
        res.update({group_col: key, "n": len(g), "mean_probability": float(g[p_col].mean())})
        rows.append(res)
    return pd.DataFrame(rows)
