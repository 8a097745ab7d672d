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

from riskwarn.sensor_rules import (
    NOWCAST_RULES,
    displacement_kinematics,
    rolling_theil_sen,
    sensor_levels,
)
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


# --------------------------------------------------------------------------- second attempt:
# the tests on non-overlapping windows (SensorRules.robust_blocks, experimental, off)


def _hours(n_days: int) -> pd.DatetimeIndex:
    return pd.date_range("2026-01-01", periods=24 * n_days, freq="1h", tz="UTC")


def _correlated_gnss(seed: int, n: int) -> np.ndarray:
    """Stable-slope GNSS error: white 2.5 mm plus AR(1) errors over hours (2 mm, 6 h) and
    days (1.5 mm, 48 h), as real hourly solutions err together."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2.5, n)
    for sd, tau in ((2.0, 6.0), (1.5, 48.0)):
        phi = np.exp(-1 / tau)
        x += lfilter([1.0], [1.0, -phi], rng.standard_normal(n) * sd * np.sqrt(1 - phi**2))
    return x


def test_block_mode_needs_the_robust_velocity_and_is_refused_by_the_batch_twin() -> None:
    assert NOWCAST_RULES.robust_blocks == 0
    with pytest.raises(ValueError, match="robust_steps"):
        replace(NOWCAST_RULES, robust_blocks=3)
    rules = replace(NOWCAST_RULES, robust_steps=24, robust_blocks=3)
    at = _hours(3)
    with pytest.raises(NotImplementedError):
        last_step_kinematics({"G1": (at.asi8, np.linspace(0, 1, len(at)))}, "1h", rules)


def test_correlated_noise_excursions_are_orange_red_with_sliding_windows_not_with_blocks() -> None:
    """The first attempt's failure, reproduced: on stable slopes (0.05 mm/day) read with
    time-correlated noise, the 48-h sliding window reaches orange or red (one excursion
    of its slope passes 12 'consecutive' significant steps and a straight 1/v line); the
    same velocity judged on three non-overlapping 48-h windows stays below orange."""
    at = _hours(75)
    sliding = replace(NOWCAST_RULES, robust_steps=48)
    blocks = replace(sliding, robust_blocks=3)
    after_baseline = slice(24 * 30, None)
    top_sliding, top_blocks = [], []
    for seed in range(8):
        s = pd.Series(0.05 * np.arange(len(at)) / 24 + _correlated_gnss(seed, len(at)), index=at)
        for rules, top in ((sliding, top_sliding), (blocks, top_blocks)):
            lv = sensor_levels(displacement_kinematics(s, "1h", rules), rules)
            top.append(int(lv["sensor_level_rank"].iloc[after_baseline].max()))
    assert sum(x >= 3 for x in top_sliding) >= 2 and max(top_sliding) == 4
    assert max(top_blocks) <= 2


def test_block_tests_read_the_windows_w_apart() -> None:
    """Velocity significant and rising in three disjoint 24-h windows: accelerating (and
    the 1/v line through them falls); significant only in the last window (a 24-h
    excursion, however many hourly steps it covers): not accelerating."""
    at = _hours(40)
    rules = replace(NOWCAST_RULES, robust_steps=24, robust_blocks=3)
    rng = np.random.default_rng(0)
    t = np.arange(len(at)) / 24.0
    end = t[-1]
    # creep 0.1 mm/day, then 1, 2, 4 mm/day in the last three days (noise 0.05 mm)
    v = np.select([t > end - 1, t > end - 2, t > end - 3], [4.0, 2.0, 1.0], 0.1)
    y = np.cumsum(v) / 24 + rng.normal(0, 0.05, len(t))
    k = displacement_kinematics(pd.Series(y, index=at), "1h", rules)
    last = k.iloc[-1]
    assert last["significant_steps"] == 3 and bool(last["accelerating"])
    assert bool(last["tertiary"])  # 1/v: 1, 0.5, 0.25 -> falling, R^2 0.96
    assert sensor_levels(k, rules)["sensor_level_rank"].iloc[-1] >= 3
    # only the last day fast: one significant window, no acceleration across windows
    v1 = np.where(t > end - 1, 4.0, 0.1)
    y1 = np.cumsum(v1) / 24 + rng.normal(0, 0.05, len(t))
    k1 = displacement_kinematics(pd.Series(y1, index=at), "1h", rules)
    assert k1["significant_steps"].iloc[-1] == 1
    assert not k1["accelerating"].iloc[-12:].any()
    assert sensor_levels(k1, rules)["sensor_level_rank"].iloc[-12:].max() <= 2
    # the same excursion with the hourly window tests (no blocks) is already orange or red
    sliding = replace(rules, robust_blocks=0)
    k2 = displacement_kinematics(pd.Series(y1, index=at), "1h", sliding)
    assert sensor_levels(k2, sliding)["sensor_level_rank"].iloc[-12:].max() >= 3
