"""Without a steady baseline (a new sensor's warm-up) the tangent angle is unknown; the
rules then read absolute velocity bands, capped at yellow, instead of giving a huge step
no level at all.

Review 2026-12-06 (medium): on the Three Gorges points 8 of the 20 largest monthly steps
(DX-03 2007-07 +560 mm, DX-01 2007-07 +528 mm, ZG93 2007-07 +355 mm) got level none
because the tangent angle was NaN before a baseline existed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn.sensor_rules import (
    NOWCAST_RULES,
    SensorRules,
    displacement_kinematics,
    sensor_levels,
    sensor_rule_reason,
)


def _monthly(increments_mm: list[float]) -> pd.Series:
    """A monthly cumulative-displacement series (one reading mid-month) from increments."""
    at = pd.date_range("2007-01-15", periods=len(increments_mm), freq="MS", tz="UTC")
    at = at + pd.Timedelta(days=14)
    return pd.Series(np.cumsum(increments_mm), index=at)


def test_a_huge_step_before_any_baseline_gets_the_velocity_band() -> None:
    rules = SensorRules()
    k = displacement_kinematics(_monthly([10.0, 12.0, 560.0]), "MS", rules)
    assert k["tangent_angle_deg"].isna().all()  # no baseline yet: 3 months < 4 needed
    lv = sensor_levels(k, rules)
    # ~18 mm/day (> 4.38, Cruden & Varnes' "slow"): blue; the creep months nothing
    assert lv["sensor_level_rank"].tolist() == [0, 0, 1]
    assert "no baseline yet: velocity band" in lv["sensor_reason"].iloc[-1]
    item = sensor_rule_reason(
        1,
        float(k["tangent_angle_deg"].iloc[-1]),
        float(k["failure_in_hours"].iloc[-1]),
        bool(k["tertiary"].iloc[-1]),
        rules,
        int(k["above_noise_run"].iloc[-1]),
        float(k["velocity_mm_per_day"].iloc[-1]),
    )
    assert item is not None
    assert "no baseline yet: velocity band" in item["en"] and "nan" not in item["en"]
    assert "尚无基线" in item["zh"] and "蓝色" in item["zh"]


def test_the_velocity_bands_stop_at_yellow_and_only_without_a_baseline() -> None:
    rules = SensorRules()
    # 20 m in a month (> 13 m/month, Cruden & Varnes' "moderate"): yellow, never above
    k = displacement_kinematics(_monthly([10.0, 20_000.0]), "MS", rules)
    lv = sensor_levels(k, rules)
    assert lv["sensor_level_rank"].tolist() == [0, 2]
    item = sensor_rule_reason(2, np.nan, np.nan, False, rules, 0, 666.7)
    assert item is not None and "黄色" in item["zh"] and "yellow" in item["en"]
    # with a baseline the tangent-angle rules decide, as before: steady creep at ~5 mm/day
    # (above the 4.38 band) gives what the rules without the bands give
    off = SensorRules(no_baseline_blue_mm_per_day=0, no_baseline_yellow_mm_per_day=0)
    steady = displacement_kinematics(_monthly([150.0] * 14), "MS", rules)
    known = steady["tangent_angle_deg"].notna().to_numpy()
    assert known.sum() >= 6
    pd.testing.assert_series_equal(
        sensor_levels(steady, rules)["sensor_level_rank"][known],
        sensor_levels(steady, off)["sensor_level_rank"][known],
    )
    # the warm-up months (no angle) at ~5 mm/day: blue from the band
    assert (sensor_levels(steady, rules)["sensor_level_rank"][~known].iloc[1:] == 1).all()
    k0 = displacement_kinematics(_monthly([10.0, 20_000.0]), "MS", off)
    assert sensor_levels(k0, off)["sensor_level_rank"].tolist() == [0, 0]


def test_hourly_warm_up_noise_gives_no_level_but_a_fast_crack_does() -> None:
    """The nowcast's rules: a new GNSS read hourly at +-2.5 mm on a stable slope gives no
    level in its first days (6-hour velocity noise ~14 mm/day, under the 50 mm/day band);
    a new crack meter opening at 100 mm/day gives blue, and at 1 m/day still blue."""
    rng = np.random.default_rng(3)
    at = pd.date_range("2024-07-01", periods=9 * 24, freq="h", tz="UTC")
    gnss = pd.Series(rng.normal(0.0, 2.5, len(at)), index=at)
    k = displacement_kinematics(gnss, "1h", NOWCAST_RULES)
    assert k["tangent_angle_deg"].isna().all()
    assert sensor_levels(k, NOWCAST_RULES)["sensor_level_rank"].max() == 0
    t = np.arange(len(at)) / 24.0
    crack = pd.Series(100.0 * t + rng.normal(0.0, 0.05, len(at)), index=at)
    kc = displacement_kinematics(crack, "1h", NOWCAST_RULES)
    lc = sensor_levels(kc, NOWCAST_RULES)
    assert lc["sensor_level_rank"].iloc[-1] == 1
    assert lc["sensor_level_rank"].max() == 1
    assert "no baseline yet: velocity band" in lc["sensor_reason"].iloc[-1]
    # hourly, no yellow band: a spike in a 6-hour velocity would reach any band, and
    # without a baseline there is no noise floor to guard it; 1 m/day is blue too
    fast = pd.Series(1000.0 * t + rng.normal(0.0, 0.05, len(at)), index=at)
    kf = displacement_kinematics(fast, "1h", NOWCAST_RULES)
    assert sensor_levels(kf, NOWCAST_RULES)["sensor_level_rank"].max() == 1
