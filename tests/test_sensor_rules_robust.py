"""The experimental robust GNSS velocity (``SensorRules.robust_steps``, off in every
served rule set; docs/benchmarks.md "Robust GNSS velocity").

Its Theil-Sen slope must be the textbook one (scipy's, window by window, gaps left out),
and the stream's batch kinematics must refuse it rather than silently compute the other
velocity: the nowcast, the stream and the site model's rule input read one rule.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import theilslopes

from riskwarn.sensor_rules import NOWCAST_RULES, displacement_kinematics, rolling_theil_sen
from riskwarn.sensor_rules_batch import last_step_kinematics


def test_rolling_theil_sen_equals_scipy_window_by_window() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(200, dtype=float) / 24.0
    y = 0.3 * t + rng.normal(0, 2.5, len(t))
    y[rng.random(len(t)) < 0.1] = np.nan  # gaps
    y[50] = 400.0  # a spike: the median ignores it
    k, min_n = 24, 12
    got = rolling_theil_sen(t, y, k, min_n)
    for i in range(len(t)):
        w = slice(max(0, i - k + 1), i + 1)
        ok = np.isfinite(y[w])
        if ok.sum() < min_n:
            assert np.isnan(got[i])
            continue
        want = theilslopes(y[w][ok], t[w][ok]).slope
        assert got[i] == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_robust_velocity_is_off_in_the_served_rules_and_refused_by_the_batch_twin() -> None:
    assert NOWCAST_RULES.robust_steps == 0
    rules = replace(NOWCAST_RULES, robust_steps=48)
    at = pd.date_range("2026-11-01", periods=24 * 40, freq="1h", tz="UTC")
    values = np.linspace(0, 2, len(at))
    k = displacement_kinematics(pd.Series(values, index=at), "1h", rules)
    assert k["velocity_mm_per_day"].iloc[-1] == pytest.approx(2 / (len(at) - 1) * 24)
    with pytest.raises(NotImplementedError):
        last_step_kinematics({"G1": (at.asi8, values)}, "1h", rules)
