"""The inverse-velocity (Fukuzono) rule must not fire on sensor noise (issue 15).

Before the noise guard, a stationary creeping sensor read hourly with 6-hour velocities
raised red whenever four rising steps and a five-point 1/v line lined up by chance
(a crack meter at 0.05 mm noise on 1 mm/day creep: 115 red episodes in 10 x 90 days).
"""

from __future__ import annotations

from dataclasses import replace

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


# --------------------------------------------------------------------------- yellow noise gate


def _stable(kind: str, seed: int, days: int = 90) -> pd.Series:
    """A stable slope read hourly as the simulator's sensors read it: creep 0.05 mm/day
    (the simulator's median) under GNSS noise (2.5 mm, 0.1 mm resolution) or a crack
    meter's (0.08 mm on half the movement, 0.01 mm resolution)."""
    idx = pd.date_range("2024-01-01T00:00Z", periods=24 * days, freq="1h")
    rng = np.random.default_rng(seed)
    creep = 0.05 * np.arange(len(idx)) / 24
    if kind == "gnss":
        d = np.round(creep + rng.normal(0.0, 2.5, len(idx)), 1)
    else:
        d = np.round(0.5 * creep + 1.0 + rng.normal(0.0, 0.08, len(idx)), 2)
    return pd.Series(d, index=idx)


def test_stable_noisy_sensor_does_not_reach_yellow():
    """Before the gate the tangent angle of a stable slope read through 6-hour velocities
    was >= 50° in about one hour in five (the steady velocity is the noise's own median):
    yellow on every stable slope, ~900 hours per sensor-year. A velocity inside the
    sensor's noise now gives at most blue."""
    yellow_hours, reasons = 0, []
    for kind in ("gnss", "crack_meter"):
        for seed in range(4):
            k, lv = _levels(_stable(kind, seed).to_numpy(), _stable(kind, seed).index)
            rank = lv["sensor_level_rank"]
            yellow_hours += int((rank >= 2).sum())
            steep = (k["tangent_angle_deg"] >= NOWCAST_RULES.yellow_deg).to_numpy()
            reasons += list(lv.loc[steep, "sensor_reason"].iloc[:1])
    assert yellow_hours == 0  # 8 sensors x 90 days of a stable slope
    assert len(reasons) == 8  # the angle still crosses 50° on noise on every sensor...
    for reason in reasons:  # ...and the reason says why that is blue
        assert "within the sensor's noise" in reason
        assert "capped at yellow" not in reason


def test_accelerating_series_keeps_its_orange_and_red_lead_under_the_gate():
    """The gate only touches the tangent angle's yellow band: a genuine tertiary creep
    (crack meter, 0.08 mm noise) reaches orange and red at the same hours as without it,
    and yellow still comes before orange, from the accelerating movement itself."""
    off = replace(NOWCAST_RULES, yellow_steps=0)
    for seed in range(3):
        series, tf = _tertiary(seed)
        k = displacement_kinematics(series, "1h", NOWCAST_RULES)
        on_rank = sensor_levels(k, NOWCAST_RULES)["sensor_level_rank"]
        off_rank = sensor_levels(k, off)["sensor_level_rank"]
        assert ((on_rank >= 3) == (off_rank >= 3)).all()  # orange and red unchanged
        assert ((on_rank == 4) == (off_rank == 4)).all()

        lead = {
            lvl: (tf - on_rank.index[on_rank >= lvl].min()) / pd.Timedelta(hours=1)
            for lvl in (2, 3)
        }
        assert lead[2] > lead[3] >= 6  # yellow first, then orange
        # yellow in the steady month only where the movement left the noise: none here
        assert (on_rank.loc[: tf - pd.Timedelta(days=4)] <= 1).all()


def test_yellow_gate_needs_consecutive_steps_above_the_noise_floor():
    """One reading far off (a spike that passes the health checks) raises one 6-hour
    velocity above the floor: not yellow; movement above it for two hours in a row is."""
    s = _stable("crack_meter", 0)
    spike = s.copy()
    spike.iloc[24 * 60] += 3.0
    k, lv = _levels(spike.to_numpy(), spike.index)
    assert k["above_noise_run"].max() == 1
    assert lv["sensor_level_rank"].max() <= 1
    step = s.copy()
    step.iloc[24 * 60 :] += 3.0  # a real 3 mm step: 6 hours of significant velocity
    k, lv = _levels(step.to_numpy(), step.index)
    assert k["above_noise_run"].max() == 6
    assert lv["sensor_level_rank"].max() == 2  # yellow (capped: no sustained acceleration)
