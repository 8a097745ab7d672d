"""A city whose displacement surveys are monthly: the kinematics look-back guard.

The site features compute a sensor's velocity, acceleration, inverse velocity and
Fukuzono time at an origin only from readings that started within
``SiteFeatureParams.kinematics_lookback_days`` (35 days, serving's read) before it. A
sensor surveyed every 30 days has, at most origins, one reading in that window: its
kinematics are missing, and nothing said so. The feature build now tells the operator
(a warning naming the setting to raise and how far) when the displacement sensors'
median reading interval x 2 exceeds the look-back.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from features.geohazard import SiteFeatureParams, build_site_features
from features.sensor_readings import lookback_warning

SENSORS = pd.DataFrame(
    {
        "record_id": ["m1", "h1"],
        "site_id": ["s1", "s2"],
        "sensor_type": ["gnss", "gnss"],
        "lon": [110.0, 110.1],
        "lat": [30.0, 30.1],
    }
)
SITES = pd.DataFrame(
    {
        "record_id": ["s1", "s2"],
        "hazard_type": ["landslide", "landslide"],
        "lon": [110.0, 110.1],
        "lat": [30.0, 30.1],
        "slope_class": [3, 3],
        "people_threatened": [10, 10],
    }
)
NO_EVENTS = pd.DataFrame(
    {"occurred_at": pd.DatetimeIndex([], tz="UTC"), "site_id": pd.Series([], dtype=object)}
)
T0 = pd.Timestamp("2022-01-01", tz="UTC")
ORIGINS = pd.date_range(T0 + pd.Timedelta(days=100), periods=60, freq="D")


def _readings(sensor: str, every: str, n: int) -> pd.DataFrame:
    """Displacement creeping 0.1 mm/day, read every ``every``."""
    at = pd.date_range(T0, periods=n, freq=every)
    return pd.DataFrame(
        {
            "sensor_id": sensor,
            "observed_at": at,
            "interval_s": 0,
            "quantity": "displacement_mm",
            "value": 0.1 * (at - T0) / pd.Timedelta(days=1),
            "quality": "good",
        }
    )


def _build(readings: pd.DataFrame, lookback: float, dead_after_hours: float = 24.0) -> pd.DataFrame:
    params = SiteFeatureParams(
        step_hours=24,
        tz="UTC",
        kinematics_lookback_days=lookback,
        dead_after_hours=dead_after_hours,
    )
    return build_site_features(readings, SENSORS, SITES, NO_EVENTS, ORIGINS, params)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "displacement sensors" in r.getMessage()
    ]


def test_monthly_surveys_under_the_default_look_back_are_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    readings = pd.concat([_readings("m1", "30D", 7), _readings("h1", "h", 170 * 24)])
    with caplog.at_level(logging.WARNING):
        f = _build(readings, 35.0)
    (text,) = _warnings(caplog)  # once per build, not once per batch or origin
    assert "1 of 2 displacement sensors (m1)" in text and "every 30.0 days" in text
    assert "look-back of 35 days" in text
    assert "kinematics_lookback_days (now 35 days) to at least 60 days" in text
    assert "dead_after_hours (now 24 h) above the interval, e.g. 900 h" in text
    # the serving read is a setting (before: code, ``lookback_days`` of two functions)
    assert "serving_lookback_days setting, RISKWARN_SERVING_LOOKBACK_DAYS" in text
    # what it warns of: the monthly site's velocity is missing at most origins
    v = f.set_index(["site_id", "origin"])["velocity_mm_per_day"]
    assert v.loc["s1"].isna().mean() > 0.5
    assert v.loc["s2"].notna().all()


def test_a_dead_sensor_time_shorter_than_the_surveys_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two intervals of look-back, but the default 24 h dead-sensor time: between two
    monthly surveys the sensor counts as dead, so its kinematics are missing; said."""
    readings = pd.concat([_readings("m1", "30D", 7), _readings("h1", "h", 170 * 24)])
    with caplog.at_level(logging.WARNING):
        f = _build(readings, 60.0)
    (text,) = _warnings(caplog)
    assert "dead_after_hours (now 24 h) above the interval" in text
    assert "kinematics_lookback_days" not in text
    v = f.set_index(["site_id", "origin"])["velocity_mm_per_day"]
    assert v.loc["s1"].isna().mean() > 0.9  # present only on a survey day


def test_a_look_back_of_two_intervals_is_not_warned_and_has_the_velocity(
    caplog: pytest.LogCaptureFixture,
) -> None:
    readings = pd.concat([_readings("m1", "30D", 7), _readings("h1", "h", 170 * 24)])
    with caplog.at_level(logging.WARNING):
        f = _build(readings, 60.0, dead_after_hours=40 * 24)
    assert _warnings(caplog) == []
    v = f.set_index(["site_id", "origin"])["velocity_mm_per_day"]
    assert v.loc["s1"].notna().all()


def test_hourly_sensors_are_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _build(_readings("h1", "h", 170 * 24), 35.0)
    assert _warnings(caplog) == []


def test_the_warning_text() -> None:
    lookback = SiteFeatureParams().kinematics_lookback_days  # 35 days
    intervals = pd.Series(
        [1 / 24, 31.0, 17.0, 30.0, 29.0, 40.0],
        index=["a", "b", "c", "d", "e", "f"],
        dtype=float,
    )
    text = lookback_warning(intervals, lookback)
    assert text is not None  # 17 days x 2 = 34 fits in 35; 29, 30, 31, 40 do not
    assert text.startswith("4 of 6 displacement sensors (f, b, d, ...) report only every 40.0")
    assert "at least 80 days (two intervals; 120 for the acceleration" in text
    assert "dead_after_hours" not in text  # no dead-sensor time given: none to raise
    assert "(e)" in lookback_warning(intervals[["a", "e"]], lookback)  # type: ignore[operator]
    assert lookback_warning(intervals[intervals <= 17.5], lookback) is None
    assert lookback_warning(pd.Series(dtype=float), lookback) is None
    # the dead-sensor time: 17 days fits the look-back but not 24 h; the hourly one fits
    dead = lookback_warning(intervals[intervals <= 17.5], lookback, 24.0)
    assert dead is not None and dead.startswith("1 of 2 displacement sensors (c)")
    assert "dead_after_hours (now 24 h) above the interval, e.g. 510 h" in dead
    assert lookback_warning(intervals[["a"]], lookback, 24.0) is None
