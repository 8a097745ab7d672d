"""Site features: the shared multi-origin-set path, de-duplication, spike and drift flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.geohazard import (
    SiteFeatureParams,
    build_site_features,
    build_site_features_multi,
    dedupe_readings,
)

T0 = pd.Timestamp("2021-05-01", tz="UTC")
DAYS = 45
SENSORS = pd.DataFrame(
    {
        "record_id": ["g1", "d1", "c1", "c2", "d2"],
        "site_id": ["s1", "s1", "s1", "s2", "s2"],
        "sensor_type": ["rain_gauge", "gnss", "crack_meter", "crack_meter", "gnss"],
        "lon": [110.0, 110.0, 110.0, 110.1, 110.1],
        "lat": [30.0, 30.0, 30.0, 30.1, 30.1],
    }
)
SITES = pd.DataFrame(
    {
        "record_id": ["s1", "s2"],
        "hazard_type": ["landslide", "rockfall"],
        "lon": [110.0, 110.1],
        "lat": [30.0, 30.1],
        "slope_class": [3, 4],
        "people_threatened": [10, 20],
    }
)
EVENTS = pd.DataFrame({"occurred_at": [T0 + pd.Timedelta(days=41, hours=5)], "site_id": ["s2"]})


def _series(sensor: str, quantity: str, values: np.ndarray, interval_s: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sensor_id": sensor,
            "observed_at": T0 + pd.to_timedelta(np.arange(len(values)), unit="h"),
            "interval_s": interval_s,
            "quantity": quantity,
            "value": values,
            "quality": "good",
        }
    )


def _readings(seed: int = 0) -> pd.DataFrame:
    """45 days of hourly readings: rain, two creeping slopes, two noisy crack meters."""
    rng = np.random.default_rng(seed)
    n = DAYS * 24
    t = np.arange(n) / 24.0
    rain = np.where(rng.random(n) < 0.1, rng.gamma(2.0, 3.0, n), 0.0)
    crack = 1.0 + 0.1 * (np.arange(n) % 2)
    parts = [
        _series("g1", "rain_mm", rain, 3600),
        _series("d1", "displacement_mm", 0.5 * t + 0.01 * t**2, 0),
        _series("d2", "displacement_mm", 0.2 * t + rng.normal(0, 0.05, n), 0),
        _series("c1", "crack_width_mm", crack + rng.normal(0, 0.01, n), 0),
        _series("c2", "crack_width_mm", crack.copy(), 0),
    ]
    r = pd.concat(parts, ignore_index=True)
    # data problems: a gap, missing values, a duplicate with a longer interval, a spike
    r = r.drop(r.index[(r["sensor_id"] == "d2") & (r["observed_at"] > T0 + pd.Timedelta(days=43))])
    r.loc[r.sample(40, random_state=seed).index, "value"] = np.nan
    r.loc[r.sample(20, random_state=seed + 1).index, "quality"] = "missing"
    dup = r[r["sensor_id"] == "g1"].iloc[[100, 500]].assign(interval_s=7200, value=99.0)
    return pd.concat([r, dup], ignore_index=True)


HOURLY = pd.date_range(T0 + pd.Timedelta(days=41), periods=72, freq="h")
DAILY = pd.date_range(T0 + pd.Timedelta(days=10), periods=35, freq="D")
P_HOUR = SiteFeatureParams(step_hours=1, tz="UTC", percentile_min_history_days=5)
P_DAY = SiteFeatureParams(
    step_hours=24, tz="UTC", percentile_min_history_days=5, velocity_window_days=2.0
)


def test_multi_equals_separate_builds() -> None:
    readings = _readings()
    other = SiteFeatureParams(step_hours=24, tz="UTC", spike_window=5, fukuzono_points=3)
    sets = [(HOURLY, P_HOUR), (DAILY, P_DAY), (DAILY[-3:], other)]
    together = build_site_features_multi(readings, SENSORS, SITES, EVENTS, sets)
    assert len(together) == 3
    for (origins, params), got in zip(sets, together, strict=True):
        alone = build_site_features(readings, SENSORS, SITES, EVENTS, origins, params)
        pd.testing.assert_frame_equal(got, alone, check_exact=True)
        assert len(got) == 2 * len(origins)
    hourly = together[0]
    assert hourly["velocity_mm_per_day"].notna().all()
    # the event at day 41 05:00 is within 24 h of the hourly origins 00:00 .. 05:00 of day 41
    assert hourly.loc[hourly["site_id"] == "s2", "label_count"].sum() == 6


def test_row_order_and_id_dtypes_do_not_change_features() -> None:
    readings = _readings(seed=3)
    base = build_site_features(readings, SENSORS, SITES, EVENTS, HOURLY, P_HOUR)
    shuffled = readings.sample(frac=1.0, random_state=7).astype(
        {"sensor_id": "category", "quantity": "category", "quality": "category"}
    )
    again = build_site_features(shuffled, SENSORS, SITES, EVENTS, HOURLY, P_HOUR)
    pd.testing.assert_frame_equal(base, again, check_exact=True)


def test_empty_origin_sets_and_no_readings() -> None:
    readings = _readings()
    empty, hourly = build_site_features_multi(
        readings, SENSORS, SITES, EVENTS, [([], P_DAY), (HOURLY[:2], P_HOUR)]
    )
    assert empty.empty and list(empty.columns) == ["origin", "site_id"]
    assert len(hourly) == 4
    none = build_site_features(readings.head(0), SENSORS, SITES, EVENTS, HOURLY[:2], P_HOUR)
    assert (none["dead_sensor_flag"] == 1).all() and (none["share_missing_24h"] == 1).all()
    assert none["velocity_mm_per_day"].isna().all()


def test_dedupe_keeps_longest_interval_then_largest_value() -> None:
    at = T0 + pd.Timedelta(hours=3)
    r = pd.DataFrame(
        {
            "sensor_id": ["a", "a", "a", "a", "a", "b"],
            "observed_at": [at, at, at, at, at + pd.Timedelta(hours=1), at],
            "interval_s": [600, 1200, 1200, 1200, 600, 600],
            "quantity": ["rain_mm"] * 6,
            "value": [50.0, 1.0, np.nan, 2.0, 3.0, 4.0],
            "quality": ["good"] * 6,
        }
    )
    for seed in range(4):
        d = dedupe_readings(r.sample(frac=1.0, random_state=seed))
        assert d["sensor_id"].tolist() == ["a", "a", "b"]
        assert d["value"].tolist() == [2.0, 3.0, 4.0]  # 1200 s beats 600 s; 2 beats 1 and NaN
        assert d["interval_s"].tolist() == [1200, 600, 600]


def _crack_only(values: np.ndarray) -> pd.DataFrame:
    return _series("c2", "crack_width_mm", values, 0)


def test_spike_counted_for_seven_days_then_forgotten() -> None:
    n = 30 * 24
    v = 1.0 + np.random.default_rng(1).normal(0.0, 0.02, n)
    v[20 * 24] = 10.0  # taken at day 20, 00:00, visible 1 ns later
    r = _crack_only(v)
    origins = [T0 + pd.Timedelta(days=d) for d in (20, 21, 26, 27, 28)]
    f = build_site_features(r, SENSORS, SITES, EVENTS.head(0), origins, P_DAY)
    s2 = f[f["site_id"] == "s2"].set_index("origin")["spikes_removed_7d"]
    # counted while it lies in (origin - 7 d, origin]: not yet at day 20, gone at day 28
    assert s2.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_displacement_jumps_are_not_spikes() -> None:
    n = 20 * 24
    v = 0.1 * np.arange(n) / 24
    v[15 * 24] += 50.0
    r = _series("d2", "displacement_mm", v, 0)
    f = build_site_features(r, SENSORS, SITES, EVENTS.head(0), [T0 + pd.Timedelta(days=16)], P_DAY)
    assert (f["spikes_removed_7d"] == 0).all()


@pytest.mark.parametrize(("shift", "expected"), [(5.0, 1.0), (0.0, 0.0)])
def test_drift_flag_on_a_recent_level_shift(shift: float, expected: float) -> None:
    n = 40 * 24
    v = 1.0 + 0.1 * (np.arange(n) % 2)
    v[-5 * 24 :] += shift  # the last 5 days: 7-day median ~6; the 30 days before: ~1, sd 0.05
    r = _crack_only(v)
    params = SiteFeatureParams(step_hours=24, tz="UTC", drift_sigma=2.0)
    f = build_site_features(r, SENSORS, SITES, EVENTS.head(0), [T0 + pd.Timedelta(days=40)], params)
    assert f.set_index("site_id").loc["s2", "drift_flag"] == expected
    assert f.set_index("site_id").loc["s1", "drift_flag"] == 0.0  # no readings: no flag
