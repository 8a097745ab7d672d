"""The inverse-velocity (Fukuzono) rule must not fire on sensor noise (issue 15).

Before the noise guard, a stationary creeping sensor read hourly with 6-hour velocities
raised red whenever four rising steps and a five-point 1/v line lined up by chance
(a crack meter at 0.05 mm noise on 1 mm/day creep: 115 red episodes in 10 x 90 days).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn.sensor_rules import NOWCAST_RULES, displacement_kinematics, sensor_levels


def _levels(d: np.ndarray, idx: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    k = displacement_kinematics(pd.Series(d, index=idx), "1h", NOWCAST_RULES)
    return k, sensor_levels(k, NOWCAST_RULES)


def test_stationary_noise_never_raises_the_inverse_velocity_rule():
    idx = pd.date_range("2024-01-01T00:00Z", periods=24 * 60, freq="1h")
    hours = np.arange(len(idx))
    forecasts = reds = 0
    for creep in (0.5, 1.0, 3.0):  # mm/day
        for noise in (0.05, 0.2, 0.5):  # mm per reading (crack meter .. GNSS-like)
            for seed in range(6):
                rng = np.random.default_rng(seed)
                d = creep * hours / 24 + rng.normal(0.0, noise, len(idx))
                k, lv = _levels(d, idx)
                forecasts += int(k["failure_in_hours"].notna().sum())
                reds += int((lv["sensor_level_rank"] >= 3).sum())
    assert forecasts == 0  # no Fukuzono forecast on 54 x 60 days of stationary creep
    assert reds == 0  # and no orange or red


def _tertiary(seed: int) -> tuple[pd.Series, pd.Timestamp]:
    """30 days of 0.05 mm/day creep, then 4 days of Fukuzono creep v = A / (tf - t) to a
    failure at ``tf``; hourly crack-meter readings with 0.08 mm noise."""
    tf = pd.Timestamp("2024-02-04T00:00Z")
    idx = pd.date_range("2024-01-01T00:00Z", tf - pd.Timedelta("1h"), freq="1h")
    t = np.asarray((idx - idx[0]).total_seconds() / 86400.0)
    t_fail, onset = t[-1] + 1 / 24, t[-1] + 1 / 24 - 4.0
    v = 0.05 + np.where(t >= onset, 4.0 / np.maximum(t_fail - t, 1 / 48), 0.0)
    d = np.cumsum(v / 24) + np.random.default_rng(seed).normal(0.0, 0.08, len(t))
    return pd.Series(d, index=idx), tf


def test_genuine_tertiary_creep_goes_orange_then_red_before_failure():
    for seed in range(3):
        series, tf = _tertiary(seed)
        k, lv = _levels(series.to_numpy(), series.index)
        rank = lv["sensor_level_rank"]
        lead = {lvl: (tf - rank.index[rank >= lvl].min()).total_seconds() / 3600 for lvl in (3, 4)}
        assert 6 <= lead[4] <= 72  # red hours ahead, from the inverse-velocity forecast
        assert lead[3] > lead[4]  # orange first: the ladder does not jump yellow -> red
        first_red = rank.index[rank == 4].min()
        assert k.loc[first_red, "failure_in_hours"] <= NOWCAST_RULES.red_failure_hours
        # nothing at orange or red in the steady month
        assert (rank.loc[: tf - pd.Timedelta(days=4)] <= 2).all()


def test_three_gorges_real_displacement_gives_no_failure_forecast(shared_data):
    raw = pd.read_csv(shared_data / "threegorges" / "displacement_monthly.csv")
    raw["month_start"] = pd.to_datetime(raw["month"]).dt.tz_localize("UTC")
    forecasts = red_episodes = 0
    for _, g in raw.groupby(["landslide", "point"]):
        k = displacement_kinematics(g.set_index("month_start")["dF_mm"], "MS")
        red = sensor_levels(k)["sensor_level_rank"] == 4
        red_episodes += int((red & ~red.shift(fill_value=False)).sum())
        forecasts += int(k["failure_in_hours"].notna().sum())
    assert (forecasts, red_episodes) == (0, 0)  # the slopes did not fail
