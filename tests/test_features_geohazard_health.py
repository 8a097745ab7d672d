"""Site features: the drift flag (recent window vs the reference period before it) and the
Fukuzono failure-time forecast (independent of the absolute date)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.geohazard import SiteFeatureParams, build_site_features

SENSORS = pd.DataFrame(
    {
        "record_id": ["c1", "d1"],
        "site_id": ["s1", "s1"],
        "sensor_type": ["crack_meter", "gnss"],
        "lon": [110.0, 110.0],
        "lat": [30.0, 30.0],
    }
)
SITES = pd.DataFrame(
    {
        "record_id": ["s1"],
        "hazard_type": ["landslide"],
        "lon": [110.0],
        "lat": [30.0],
        "slope_class": [3],
        "people_threatened": [10],
    }
)
NO_EVENTS = pd.DataFrame(
    {"occurred_at": pd.DatetimeIndex([], tz="UTC"), "site_id": pd.Series([], dtype=object)}
)
T0 = pd.Timestamp("2022-03-01", tz="UTC")
DAILY = SiteFeatureParams(step_hours=24, tz="UTC")  # default drift_sigma = 4


def _readings(
    sensor: str, quantity: str, start: pd.Timestamp, values: np.ndarray, every: str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sensor_id": sensor,
            "observed_at": pd.date_range(start, periods=len(values), freq=every),
            "interval_s": 0,
            "quantity": quantity,
            "value": values,
            "quality": "good",
        }
    )


def _crack(days: int, shift: float, shift_days: float, seed: int = 0) -> pd.DataFrame:
    """Hourly crack width: 2 mm + N(0, 0.05 mm), raised by ``shift`` over the last days."""
    n = days * 24
    v = 2.0 + np.random.default_rng(seed).normal(0.0, 0.05, n)
    v[n - int(shift_days * 24) :] += shift
    return _readings("c1", "crack_width_mm", T0, v, "h")


def _drift_at(readings: pd.DataFrame, days: list[int], params: SiteFeatureParams) -> list[float]:
    origins = [T0 + pd.Timedelta(days=d) for d in days]
    f = build_site_features(readings, SENSORS, SITES, NO_EVENTS, origins, params)
    return f.sort_values("origin")["drift_flag"].tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_level_shift_is_flagged_at_the_default_sigma(seed: int) -> None:
    # +0.5 mm = 10 reference SDs over the last 5 days: the 7-day median sits on the new level
    r = _crack(40, shift=0.5, shift_days=5, seed=seed)
    assert _drift_at(r, [40], DAILY) == [1.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_steady_noise_and_steady_creep_are_not_drift(seed: int) -> None:
    assert _drift_at(_crack(60, 0.0, 0, seed), [38, 45, 52, 60], DAILY) == [0.0] * 4
    # a crack opening steadily (0.02 mm/day) moves the 7-day median ~2 reference SDs: no flag
    n = 60 * 24
    creep = 2.0 + 0.02 * np.arange(n) / 24 + np.random.default_rng(seed).normal(0.0, 0.05, n)
    r = _readings("c1", "crack_width_mm", T0, creep, "h")
    assert _drift_at(r, [38, 45, 52, 60], DAILY) == [0.0] * 4


def test_shift_is_flagged_while_recent_and_forgotten_once_it_is_the_reference() -> None:
    # the level rises on day 30 and stays: new for the next week, then the normal level
    r = _crack(80, shift=0.5, shift_days=50)
    assert _drift_at(r, [29, 34, 36, 70, 80], DAILY) == [0.0, 1.0, 1.0, 0.0, 0.0]


def test_short_history_or_few_recent_readings_never_flag() -> None:
    # 8 days of history: the reference period holds a day's readings at most (< 10 needed)
    r = _crack(8, shift=0.5, shift_days=2)
    assert _drift_at(r, [8], DAILY) == [0.0]


@pytest.mark.parametrize("after", [0.0, 0.5, -3.0])
def test_a_shift_after_the_origin_never_changes_the_flag_at_it(after: float) -> None:
    base = _crack(40, shift=0.5, shift_days=5)
    later = _crack(10, shift=0.0, shift_days=0, seed=9)
    later = later.assign(
        observed_at=later["observed_at"] + pd.Timedelta(days=40), value=later["value"] + after
    )
    origins = [36, 38, 40]
    assert _drift_at(pd.concat([base, later]), origins, DAILY) == _drift_at(base, origins, DAILY)


def _accelerating(start: pd.Timestamp, tf: pd.Timestamp, a_mm: float) -> pd.DataFrame:
    """10-minute displacement whose 10-minute velocity is exactly a / (tf - t) (mm/day): the
    inverse velocity falls linearly to 0 at ``tf``. Readings stop 30 h before ``tf``."""
    t = pd.date_range(start, tf - pd.Timedelta(hours=30), freq="10min")
    days_left = (tf - t).total_seconds().to_numpy() / 86400.0
    inc = (10 / 1440) * a_mm / days_left
    disp = np.cumsum(np.r_[0.0, inc[1:]])
    return _readings("d1", "displacement_mm", start, disp, "10min")


@pytest.mark.parametrize("year", [1990, 2024, 2100])
def test_fukuzono_failure_time_does_not_depend_on_the_epoch(year: int) -> None:
    start = pd.Timestamp(f"{year}-06-01", tz="UTC")
    tf = start + pd.Timedelta(days=4, hours=6, minutes=20)
    r = _accelerating(start, tf, a_mm=25.0)
    last = tf - pd.Timedelta(hours=30)  # the last reading, 00:20
    origin = last.ceil("h")
    params = SiteFeatureParams(velocity_window_days=10 / 1440)  # 10-minute velocity
    f = build_site_features(r, SENSORS, SITES, NO_EVENTS, [origin], params)
    # hours from the last reading used to the fitted failure time: 30 h, within a minute
    assert f["fukuzono_hours_to_failure"].iloc[0] == pytest.approx(30.0, abs=1 / 60)


def test_fukuzono_is_nan_when_the_inverse_velocity_does_not_fall() -> None:
    start = pd.Timestamp("2024-06-01", tz="UTC")
    disp = 0.01 * np.arange(6 * 144)  # steady creep: 1/v flat
    r = _readings("d1", "displacement_mm", start, disp, "10min")
    params = SiteFeatureParams(velocity_window_days=10 / 1440)
    f = build_site_features(r, SENSORS, SITES, NO_EVENTS, [start + pd.Timedelta(days=6)], params)
    assert np.isnan(f["fukuzono_hours_to_failure"].iloc[0])


def test_fukuzono_gives_the_same_hours_in_1990_and_2024() -> None:
    got = []
    for year in (1990, 2024):
        start = pd.Timestamp(f"{year}-06-01", tz="UTC")
        tf = start + pd.Timedelta(days=4, hours=6, minutes=20)
        r = _accelerating(start, tf, a_mm=25.0)
        origin = (tf - pd.Timedelta(hours=30)).ceil("h")
        params = SiteFeatureParams(velocity_window_days=10 / 1440)
        f = build_site_features(r, SENSORS, SITES, NO_EVENTS, [origin], params)
        got.append(float(f["fukuzono_hours_to_failure"].iloc[0]))
    # the same series shifted by 34 years: the same forecast (to float32 precision)
    assert got[0] == pytest.approx(got[1], rel=1e-6)
