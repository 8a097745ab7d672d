"""The sensor-rule level at an origin (a site model input and the 'sensor_rules' baseline)
depends only on readings before the origin, so training (every reading) and serving (the
35 days before the origin) give a site the same value.

Review 2026-12-06 (HIGH): an accelerating sensor whose reading in the hour before an origin
was missing had level 4 (red) when served (its last sample, an hour old, held for 6 h) and 0
in training: once any later reading existed, the resampled series had an empty step at the
origin whose velocity is NaN, and the as-of join picked that step. On the simulator 0.10 %
of site-hours differed, always served higher.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.frames import site_frame
from models.geohazard_sites import RULE_COLUMN, sensor_rule_levels, site_features
from riskwarn import domains
from riskwarn.serving_frames import site_model_frame

TZ = "Asia/Shanghai"
ORIGIN = pd.Timestamp("2024-07-10T13:00Z")
GAP = ORIGIN - pd.Timedelta("30min")  # the missing reading: the hour before the origin


def _site() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One site with a crack meter read hourly (at :30) accelerating to failure at
    ``ORIGIN + 6 h`` (Fukuzono/Voight: 1/v linear), its reading at ``GAP`` missing and
    readings continuing to ``ORIGIN + 4 h``, and a rain gauge."""
    idx = pd.date_range(
        ORIGIN - pd.Timedelta(days=40), ORIGIN + pd.Timedelta(hours=4), freq="1h"
    ) - pd.Timedelta("30min")
    t = np.asarray((idx - idx[0]).total_seconds() / 86400.0)
    span = (ORIGIN + pd.Timedelta(hours=6) - idx[0]).total_seconds() / 86400.0
    rng = np.random.default_rng(0)
    d = 1.0 * t - 20.0 * np.log(1.0 - t / span) + rng.normal(0, 0.05, len(t))
    keep = idx != GAP
    crack = pd.DataFrame(
        {
            "sensor_id": "c1",
            "observed_at": idx[keep],
            "value": d[keep],
            "quantity": "crack_width_mm",
        }
    )
    rain_at = pd.date_range(ORIGIN - pd.Timedelta(days=40), ORIGIN, freq="10min")
    rain = pd.DataFrame(
        {"sensor_id": "r1", "observed_at": rain_at, "value": 0.2, "quantity": "rain_mm"}
    )
    readings = pd.concat([crack, rain], ignore_index=True).assign(
        interval_s=lambda f: np.where(f["quantity"] == "rain_mm", 600, 0)
    )
    readings["interval_s"] = readings["interval_s"].astype("Int64")
    readings = readings.assign(
        source="test", record_id=[f"r{i}" for i in range(len(readings))], quality="good"
    )
    sites = pd.DataFrame(
        {
            "source": "test",
            "record_id": ["s1"],
            "name": ["A"],
            "hazard_type": "landslide",
            "lon": 116.1,
            "lat": 30.8,
            "admin_code": None,
            "slope_class": pd.array([4], dtype="Int64"),
            "people_threatened": pd.array([50], dtype="Int64"),
            "volume_m3": 1e4,
        }
    )
    sensors = pd.DataFrame(
        {
            "source": "test",
            "record_id": ["c1", "r1"],
            "site_id": ["s1", "s1"],
            "sensor_type": ["crack_meter", "rain_gauge"],
            "lon": 116.1,
            "lat": 30.8,
            "installed_at": pd.Timestamp("2023-01-01", tz="UTC"),
        }
    )
    return sites, sensors, readings


def test_rule_level_at_an_origin_is_unchanged_by_readings_after_it() -> None:
    """Leakage by construction: the last reading before the origin is missing; appending
    the readings after the origin must not change the origin's level."""
    _, sensors, readings = _site()
    before = readings.loc[readings["observed_at"] < ORIGIN]
    crack = before.loc[before["sensor_id"] == "c1", "observed_at"]
    assert not (crack == GAP).any() and (crack == GAP - pd.Timedelta(hours=1)).any()
    origins = pd.DatetimeIndex([ORIGIN])
    alone = sensor_rule_levels(before, sensors, origins)[RULE_COLUMN].iloc[0]
    with_later = sensor_rule_levels(readings, sensors, origins)[RULE_COLUMN].iloc[0]
    # the accelerating sensor is red an hour before, and its level holds for 6 h
    assert alone == 4
    assert with_later == alone
    # every hour around the gap: the full series gives what the readings before it give
    hours = pd.date_range(ORIGIN - pd.Timedelta(hours=3), ORIGIN + pd.Timedelta(hours=3), freq="h")
    full = sensor_rule_levels(readings, sensors, hours).set_index("origin")[RULE_COLUMN]
    for o in hours:
        cut = readings.loc[readings["observed_at"] < o]
        assert (
            full[o] == sensor_rule_levels(cut, sensors, pd.DatetimeIndex([o]))[RULE_COLUMN].iloc[0]
        ), o


def test_site_training_row_equals_the_served_row_after_a_missed_reading() -> None:
    """Parity: the training frame (every reading) and the served frame (the 35 days
    before the origin) give the site the same inputs at the origin, the rule level too."""
    sites, sensors, readings = _site()
    dom = domains.get("geohazard_hourly")
    no_events = pd.DataFrame(
        {"occurred_at": pd.Series([], dtype="datetime64[ns, UTC]"), "site_id": []}
    )
    origins = pd.DatetimeIndex([ORIGIN - pd.Timedelta(hours=1), ORIGIN])
    train = site_frame(dom, readings, sensors, sites, no_events, origins, TZ, with_rules=True)
    inputs = site_features(train)
    assert RULE_COLUMN in inputs
    for o in origins:
        window = readings.loc[
            (readings["observed_at"] >= o - pd.Timedelta(days=35)) & (readings["observed_at"] < o)
        ]
        served = site_model_frame(sites, sensors, window, o, "geohazard_hourly", TZ)
        a = train.loc[train["origin"] == o, inputs].reset_index(drop=True)
        b = served[inputs].reset_index(drop=True)
        assert float(b[RULE_COLUMN].iloc[0]) == 4.0  # red, served
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-6)
