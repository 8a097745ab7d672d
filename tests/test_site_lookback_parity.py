"""Train and serve through one look-back: the site model's inputs at an origin are the same
whether the frame is built on every reading (training: ``pipeline._train_sites`` reads the
lake) or on the 35 days before the origin (serving: ``read_recent_readings``).

Review finding (sitepar): on the default simulated city three sites whose displacement
sensors stopped early in July 2023 (GNSS SB00015, SB00018, SB00026 of DZ3408250007,
DZ3408280010, DZ3408250018; SB00026 last read 2023-07-03 12:40) kept their last velocity (21.4 mm/day at DZ3408250018) in
training at 25-26 of the 26 daily origins of 5-30 August, and NaN when served (no reading
in the 35-day read); acceleration and inverse velocity too. The as-of join of the
kinematics had no look-back (``SiteFeatureParams.kinematics_lookback_days`` now bounds it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.frames import site_frame
from models.geohazard_sites import site_features
from riskwarn import domains
from riskwarn.serving_frames import site_model_frame

TZ = "Asia/Shanghai"
START = pd.Timestamp("2024-05-01T00:10Z")
LOOKBACK = pd.Timedelta(days=35)


def _city() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three sites: ``s1`` whose GNSS (g1, creeping 2 mm/day) goes silent on day 20,
    ``s2`` whose GNSS reads every hour of the 70 days, ``s3`` whose crack meter (c3) goes
    silent on day 33 after 3-hourly readings, so the 35-day window's edge crosses its
    last readings (and their 1-day velocity steps) at the origins of days 67-69; a gauge."""
    rng = np.random.default_rng(3)
    hours = pd.date_range(START, START + pd.Timedelta(days=70), freq="1h", inclusive="left")
    t = np.asarray((hours - START).total_seconds() / 86400.0)
    parts = []
    for sid, quantity, stop, every, rate in (
        ("g1", "displacement_mm", 20, 1, 2.0),
        ("g2", "displacement_mm", 70, 1, 0.5),
        ("c3", "crack_width_mm", 33, 3, 1.0),
    ):
        keep = (t < stop) & (np.arange(len(t)) % every == 0)
        parts.append(
            pd.DataFrame(
                {
                    "sensor_id": sid,
                    "observed_at": hours[keep],
                    "value": rate * t[keep] + rng.normal(0, 0.05, keep.sum()),
                    "quantity": quantity,
                    "interval_s": 0,
                }
            )
        )
    parts.append(
        pd.DataFrame(
            {
                "sensor_id": "r1",
                "observed_at": hours,
                "value": np.where(rng.random(len(hours)) < 0.1, 2.0, 0.0),
                "quantity": "rain_mm",
                "interval_s": 3600,
            }
        )
    )
    readings = pd.concat(parts, ignore_index=True)
    readings["interval_s"] = readings["interval_s"].astype("Int64")
    readings = readings.assign(
        source="test", record_id=[f"r{i}" for i in range(len(readings))], quality="good"
    )
    sites = pd.DataFrame(
        {
            "source": "test",
            "record_id": ["s1", "s2", "s3"],
            "name": ["A", "B", "C"],
            "hazard_type": "landslide",
            "lon": [116.1, 116.2, 116.3],
            "lat": 30.8,
            "admin_code": None,
            "slope_class": pd.array([4, 3, 2], dtype="Int64"),
            "people_threatened": pd.array([50, 20, 10], dtype="Int64"),
            "volume_m3": 1e4,
        }
    )
    sensors = pd.DataFrame(
        {
            "source": "test",
            "record_id": ["g1", "g2", "c3", "r1"],
            "site_id": ["s1", "s2", "s3", "s1"],
            "sensor_type": ["gnss", "gnss", "crack_meter", "rain_gauge"],
            "lon": [116.1, 116.2, 116.3, 116.1],
            "lat": 30.8,
            "installed_at": pd.Timestamp("2023-01-01", tz="UTC"),
        }
    )
    return sites, sensors, readings


@pytest.mark.parametrize(
    ("domain", "origins"),
    [
        # local midnights (16:00 UTC) from day 39 to day 69: g1 silent 19-49 days, c3's
        # last readings leaving the window's edge; hourly: g1's leaving it
        ("geohazard", pd.date_range("2024-06-09T16:00Z", "2024-07-08T16:00Z", freq="1D")),
        ("geohazard_hourly", pd.date_range("2024-06-24T10:00Z", "2024-06-26T10:00Z", freq="6h")),
    ],
)
def test_training_and_serving_frames_agree_at_every_origin(
    domain: str, origins: pd.DatetimeIndex
) -> None:
    """Every model input of every site at every origin: training's frame (every reading)
    equals serving's (the 35 days before the origin). Fails on the old code (s1 kept g1's
    last velocity in training)."""
    sites, sensors, readings = _city()
    no_events = pd.DataFrame(
        {"occurred_at": pd.Series([], dtype="datetime64[ns, UTC]"), "site_id": []}
    )
    dom = domains.get(domain)
    train = site_frame(dom, readings, sensors, sites, no_events, origins, TZ, with_rules=True)
    inputs = site_features(train)
    assert {"velocity_mm_per_day", "acceleration_mm_per_day2", "sensor_rule_level"} <= set(inputs)
    diffs: dict[str, list[str]] = {}
    for o in origins:
        window = readings.loc[
            (readings["observed_at"] >= o - LOOKBACK) & (readings["observed_at"] < o)
        ]
        served = site_model_frame(sites, sensors, window, o, domain, TZ).set_index("unit_id")
        rows = train.loc[train["origin"] == o].set_index("site_id")
        assert set(rows.index) == set(served.index)
        for c in inputs:
            a = rows[c].astype(float)
            b = served[c].reindex(rows.index).astype(float)
            same = np.isclose(a, b, rtol=1e-6, atol=0.0, equal_nan=True)
            for site in rows.index[~same]:
                diffs.setdefault(c, []).append(f"{o} {site}: {a[site]} vs {b[site]}")
    assert not diffs, f"training and serving differ: { {c: v[:3] for c, v in diffs.items()} }"
    # the silent sensor has no current velocity in either (a stale one is not current)
    late = train.loc[train["origin"] >= START + pd.Timedelta(days=20) + LOOKBACK]
    assert late.loc[late["site_id"] == "s1", "velocity_mm_per_day"].isna().all()
    assert train.loc[train["site_id"] == "s2", "velocity_mm_per_day"].notna().all()


KINEMATIC_INPUTS = (
    "velocity_mm_per_day",
    "acceleration_mm_per_day2",
    "inverse_velocity_day_per_mm",
    "fukuzono_hours_to_failure",
)


@pytest.mark.parametrize(
    ("domain", "origins"),
    [
        # local midnights from 20 May (g1 alive, last reading 50 min old) to 19 June (silent
        # ~29 days), all inside the 35-day read, so the look-back alone keeps its last
        # velocity; 22 May's (silent ~17 h) lies between the rules' 6 h and the old 24 h
        ("geohazard", pd.date_range("2024-05-19T16:00Z", "2024-06-19T16:00Z", freq="1D")),
        # hourly across the dead-sensor time (g1's last reading ends 2024-05-20T23:10Z):
        # silent 0.8 h to 31 h, across the rules' 6 h and the features' old 24 h
        ("geohazard_hourly", pd.date_range("2024-05-21T00:00Z", "2024-05-22T06:00Z", freq="1h")),
    ],
)
def test_a_dead_sensors_kinematics_are_missing_in_training_and_serving(
    domain: str, origins: pd.DatetimeIndex
) -> None:
    """Review finding (h-stale): after the look-back bound, sites whose sensor died in their
    own failure kept its last, huge velocity (131-429 mm/day) as "now" for up to 35 days in
    both training and serving; the model, no longer seeing older stale values in training,
    scored them 0.112 (0.003 before the bound) and the served levels lost to the sensor
    rules at blue and yellow. A sensor whose last displacement reading is older than the
    dead-sensor time (``SiteFeatureParams.dead_after_hours``, the ``dead_sensor_flag``'s)
    has no velocity, acceleration, inverse velocity or Fukuzono time, identically in
    training and serving; up to that time it keeps them. Fails on the old code (g1's
    velocity present at every origin of both frames).

    Review finding (h-dead6): the hourly domain's dead-sensor time was the features' 24 h
    while the rules drop a silent sensor's level after 6 h (``HealthRules.dead_after_hours``);
    between the two the model read the failure's last velocity (204-493 mm/day on the
    simulated city) where the rules said nothing, and hourly served blue lost to them.
    The hourly domain's time is now the rules' (through ``feature_params``, the one
    function training, backtests and serving build their parameters with). Fails on the
    old code (hourly: 24 h, g1's velocity present while silent 6-24 h).

    h-deadday: the daily domain's time is the rules' 6 h too (it was 24 h; measured on the
    simulated city: served yellow +0.066 [+0.008, +0.123] over 24 h, no level's interval
    below zero; docs/benchmarks-models.md, "Daily dead-sensor time 6 h"). Fails on the old
    code (daily: 24 h, g1's velocity present at the origin it has been silent ~17 h)."""
    from models.geohazard_sites import feature_params, site_config
    from riskwarn.sensor_rules import HealthRules

    sites, sensors, readings = _city()
    no_events = pd.DataFrame(
        {"occurred_at": pd.Series([], dtype="datetime64[ns, UTC]"), "site_id": []}
    )
    dom = domains.get(domain)
    hours = feature_params(site_config(domain, tz=TZ)).dead_after_hours
    rules_hours = HealthRules().dead_after_hours
    assert hours == rules_hours, (domain, hours, rules_hours)
    dead_after = pd.Timedelta(hours=hours)
    train = site_frame(dom, readings, sensors, sites, no_events, origins, TZ, with_rules=True)
    g1 = readings.loc[readings["sensor_id"] == "g1", "observed_at"]
    last_end = g1.max() + pd.Timedelta(nanoseconds=1)  # instantaneous: visible 1 ns after
    dead = origins - last_end > dead_after
    assert dead.any() and (~dead).any()
    silent = (origins - last_end) / pd.Timedelta(hours=1)
    # the origins silent 6-24 h are dead, as the rules count them (both domains)
    gap = (silent > rules_hours) & (silent <= 24.0)
    assert gap.any() and dead[gap].all(), silent[gap & ~dead]
    for o, is_dead in zip(origins, dead, strict=True):
        window = readings.loc[
            (readings["observed_at"] >= o - LOOKBACK) & (readings["observed_at"] < o)
        ]
        served = site_model_frame(sites, sensors, window, o, domain, TZ).set_index("unit_id")
        rows = train.loc[train["origin"] == o].set_index("site_id")
        for c in KINEMATIC_INPUTS:
            a, b = float(rows.loc["s1", c]), float(served.loc["s1", c])
            assert np.isclose(a, b, rtol=1e-6, equal_nan=True), (o, c, a, b)
            if is_dead:
                assert np.isnan(a), (o, c, a)  # dead: no current kinematics
        assert np.isnan(float(rows.loc["s1", "velocity_mm_per_day"])) == is_dead, o
        # the live sensor keeps its velocity, and the rules' level stays an input
        assert np.isfinite(float(rows.loc["s2", "velocity_mm_per_day"])), o
        assert float(rows.loc["s1", "dead_sensor_flag"]) == float(is_dead), o


@pytest.mark.parametrize("domain", ["geohazard", "geohazard_hourly"])
def test_each_site_domains_dead_sensor_time_is_the_rules(domain: str) -> None:
    """h-deadday: the feature parameters of both site domains (training, backtests and
    serving take theirs from ``feature_params``) carry the sensor rules' dead-sensor time
    (``HealthRules.dead_after_hours``, 6 h), not the features' default (24 h). Fails on
    the old code for the daily domain (24.0)."""
    from features.sensor_readings import SiteFeatureParams
    from models.geohazard_sites import feature_params, site_config
    from riskwarn.sensor_rules import HealthRules

    params = feature_params(site_config(domain, tz=TZ))
    assert params.dead_after_hours == HealthRules().dead_after_hours == 6.0
    assert SiteFeatureParams().dead_after_hours == 24.0  # the features' own default, unused here
    assert params.step_hours == domains.get(domain).step_hours


def test_rule_level_of_a_long_rising_run_is_the_same_from_the_serving_read() -> None:
    """``sensor_rule_level`` (a model input): a crack meter creeping 3 mm/day for 20 days,
    then 0.5 mm/day, then accelerating for 12 days (velocity rising every hour). Once the
    run is longer than ~5 days the rules' 30-day steady window before it reached past the
    35-day read: training (every reading) saw the fast early creep, serving did not (old
    code: 1 vs 2 on 24 June 07:00, 3 vs 4 on 28 June 19:00). ``NOWCAST_RULES.lookback_steps``
    bounds the window; the level from every reading equals the level from the 35 days."""
    from models.geohazard_sites import RULE_COLUMN, sensor_rule_levels

    start = pd.Timestamp("2024-05-01T00:10Z")
    hours = pd.date_range(start, start + pd.Timedelta(days=60), freq="1h", inclusive="left")
    t = np.asarray((hours - start).total_seconds() / 86400.0)
    rng = np.random.default_rng(1)
    d = np.where(t < 20, 3.0 * t, 60 + 0.5 * (t - 20)) + rng.normal(0, 0.05, len(t))
    run = t >= 48.0
    base = d[~run][-1] - 0.5 * t[~run][-1]
    d[run] = base + 0.5 * t[run] + 0.2 * (np.exp((t[run] - 48.0) / 2.5) - 1)
    readings = pd.DataFrame(
        {
            "sensor_id": "c1",
            "observed_at": hours,
            "value": d,
            "quantity": "crack_width_mm",
            "interval_s": 0,
            "quality": "good",
        }
    )
    sensors = pd.DataFrame({"record_id": ["c1"], "site_id": ["s1"], "sensor_type": ["crack_meter"]})
    origins = pd.date_range(start + pd.Timedelta(days=49), start + pd.Timedelta(days=60), freq="6h")
    origins = origins.ceil("h")
    full = sensor_rule_levels(readings, sensors, origins).set_index("origin")[RULE_COLUMN]
    assert full.max() == 4  # the run reaches red
    got = {}
    for o in origins:
        window = readings.loc[
            (readings["observed_at"] >= o - LOOKBACK) & (readings["observed_at"] < o)
        ]
        got[o] = sensor_rule_levels(window, sensors, pd.DatetimeIndex([o]))[RULE_COLUMN].iloc[0]
    served = pd.Series(got)
    assert (full.to_numpy() == served.reindex(full.index).to_numpy()).all(), pd.DataFrame(
        {"train": full, "serve": served}
    )[lambda f: f["train"] != f["serve"]]


def test_serving_reads_at_least_what_the_features_look_back() -> None:
    """Parity above holds only while serving's read of recent readings covers the
    features' look-backs (separate constants): a shorter read would make serving
    miss readings training uses. The read is the ``serving_lookback_days`` setting
    (its default here), refused below them."""
    from features.geohazard import SiteFeatureParams
    from riskwarn.sensor_rules import NOWCAST_RULES
    from riskwarn.serving_frames import ServingWindowTooShort, serving_lookback_days
    from riskwarn.settings import Settings

    read_days = serving_lookback_days(Settings())
    assert read_days >= SiteFeatureParams().kinematics_lookback_days
    # the rule's window before a rising run, plus the day a level is held
    assert read_days * 24 >= NOWCAST_RULES.lookback_steps + 24
    # the drift flag's last reading (up to 7 days old) and its recent and reference windows
    p = SiteFeatureParams()
    assert read_days >= 7 + p.drift_recent_days + p.drift_reference_days
    with pytest.raises(ServingWindowTooShort, match="drift_reference_days 30: 44 days"):
        serving_lookback_days(Settings(serving_lookback_days=43))
