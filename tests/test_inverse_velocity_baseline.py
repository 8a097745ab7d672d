"""The inverse-velocity (Fukuzono 1985) baseline of the site backtest, on constructed
displacement series read through the site table the backtest reads
(:func:`models.geohazard_sites.build_site_table`, the ``geohazard`` domain's features:
1-day velocities at hourly readings, a 1/v line through the last 5 readings).

The standard: 1/v extrapolated linearly to zero over the recent readings gives the failure
time; a slope without acceleration has no forecast (lowest risk); the score decreases with
the time from the origin to the forecast failure and ranks "no forecast" below every
forecast, at any origin of a pooled backtest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.geohazard_sites import (
    BASELINE_COLUMNS,
    INVERSE_VELOCITY_SCALE_H,
    baseline_scores,
    baseline_scores_by_origin,
    build_site_table,
    inverse_velocity_score,
    site_config,
)

T0 = pd.Timestamp("2024-06-01", tz="UTC")
CONFIG = site_config("geohazard", tz="UTC")  # daily origins at UTC midnight
NO_EVENTS = pd.DataFrame(
    {"occurred_at": pd.DatetimeIndex([], tz="UTC"), "site_id": pd.Series([], dtype=object)}
)


def _hours(until: pd.Timestamp) -> pd.DatetimeIndex:
    """Hourly reading times (hh:50, as the simulated GNSS reports) from T0 to ``until``."""
    return pd.date_range(T0 + pd.Timedelta(minutes=50), until, freq="h", inclusive="left")


def _creep(v0: float, until: pd.Timestamp) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Steady creep at ``v0`` mm/day (no acceleration)."""
    t = _hours(until)
    return t, v0 * (t - T0).total_seconds().to_numpy() / 86400.0


def _tertiary(
    fail_at: pd.Timestamp, a_mm: float, until: pd.Timestamp, v0: float = 0.2
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Creep at ``v0`` plus Fukuzono acceleration ``v = a / (t_f - t)`` (mm/day, t in days):
    the inverse velocity of the extra movement falls linearly to 0 at ``fail_at``."""
    t = _hours(until)
    days = (t - T0).total_seconds().to_numpy() / 86400.0
    tf = (fail_at - T0).total_seconds() / 86400.0
    return t, v0 * days - a_mm * np.log((tf - days) / tf)


def _rows(
    series: dict[str, tuple[pd.DatetimeIndex, np.ndarray]], origins: list[pd.Timestamp]
) -> pd.DataFrame:
    """The site table (one GNSS sensor per site) at ``origins``, in origin then site order."""
    readings = pd.concat(
        [
            pd.DataFrame(
                {
                    "sensor_id": f"g-{site}",
                    "observed_at": t,
                    "interval_s": 3600,
                    "quantity": "displacement_mm",
                    "value": d,
                    "quality": "good",
                }
            )
            for site, (t, d) in series.items()
        ],
        ignore_index=True,
    )
    sites = pd.DataFrame(
        {
            "record_id": list(series),
            "hazard_type": "landslide",
            "lon": 110.0,
            "lat": 30.0,
            "slope_class": 3,
            "people_threatened": 10,
        }
    )
    sensors = pd.DataFrame(
        {
            "record_id": [f"g-{s}" for s in series],
            "site_id": list(series),
            "sensor_type": "gnss",
            "lon": 110.0,
            "lat": 30.0,
        }
    )
    table = build_site_table(
        readings, sensors, sites, NO_EVENTS, pd.DatetimeIndex(origins), CONFIG, with_rules=False
    )
    # no rain gauge here: the rain baselines' columns (not under test) are absent
    for col in BASELINE_COLUMNS.values():
        if col not in table:
            table[col] = np.nan
    return table.sort_values(["origin", "site_id"]).reset_index(drop=True)


def _score(rows: pd.DataFrame, site: str, origin: pd.Timestamp | None = None) -> float:
    m = rows["site_id"] == site
    if origin is not None:
        m &= rows["origin"] == origin
    (i,) = np.flatnonzero(m)
    return float(baseline_scores(rows)["inverse_velocity"][i])


def _by_origin(rows: pd.DataFrame) -> np.ndarray:
    """The backtest's evaluation scores (each origin's rows consecutive)."""
    o = rows["origin"].to_numpy()
    starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
    return baseline_scores_by_origin(rows, starts)["inverse_velocity"]


ORIGIN = T0 + pd.Timedelta(days=20)


def test_accelerating_slope_is_forecast_sooner_and_ranks_above_steady_creep() -> None:
    rows = _rows(
        {
            "soon": _tertiary(ORIGIN + pd.Timedelta(hours=12), a_mm=5.0, until=ORIGIN),
            "later": _tertiary(ORIGIN + pd.Timedelta(hours=72), a_mm=5.0, until=ORIGIN),
            "creep": _creep(2.0, ORIGIN),
            "still": _creep(0.0, ORIGIN),
        },
        [ORIGIN],
    )
    h = rows.set_index("site_id")["fukuzono_hours_to_failure"]
    # the feature: a forecast for the accelerating slopes, the nearer failure sooner;
    # none for steady creep (flat 1/v) or no movement (no 1/v)
    assert 0 < h["soon"] < h["later"] < 10 * 72
    assert np.isnan(h["creep"]) and np.isnan(h["still"])
    s = {site: _score(rows, site) for site in ("soon", "later", "creep", "still")}
    assert s["soon"] > s["later"] > s["creep"] == s["still"] == 0.0
    # the score is the stated function of the hours left at the origin (fresh readings)
    age_h = 24 * rows.set_index("site_id")["displacement_age_days"]
    want = INVERSE_VELOCITY_SCALE_H / (INVERSE_VELOCITY_SCALE_H + h["soon"] - age_h["soon"])
    assert s["soon"] == pytest.approx(want)


def test_no_forecast_ranks_below_every_forecast_across_pooled_origins() -> None:
    """The backtest pools origins into one AUC: no origin's "no forecast" may rank above
    another origin's forecast. The old score (-hours, NaN filled below each origin's own
    lowest, 0.0 at an origin without any forecast) put an origin whose forecasts are all
    short, or absent, above the long forecasts of other origins."""
    o1, o2, o3 = ORIGIN, ORIGIN + pd.Timedelta(days=20), ORIGIN + pd.Timedelta(days=40)
    end = o3 + pd.Timedelta(hours=1)
    rows = _rows(
        {
            # accelerating before o1 (fails 72 h after it; readings stop at o1)
            "a": _tertiary(o1 + pd.Timedelta(hours=72), a_mm=5.0, until=o1),
            # accelerating before o2 (fails 8 h after it)
            "b": _tertiary(o2 + pd.Timedelta(hours=8), a_mm=5.0, until=o2),
            "creep": _creep(2.0, end),
            "still": _creep(0.0, end),
        },
        [o1, o2, o3],
    )
    has = np.isfinite(rows["fukuzono_hours_to_failure"].to_numpy(float)) & (
        rows["displacement_age_days"].to_numpy(float) < 1 / 24
    )
    # fresh forecasts: a and b at o1 (b's 1/v already falls, towards a failure 20 days on),
    # b at o2; none at all at o3
    got = set(zip(rows.loc[has, "origin"], rows.loc[has, "site_id"], strict=True))
    assert got == {(o1, "a"), (o1, "b"), (o2, "b")}
    for name, score in (
        ("training", baseline_scores(rows)["inverse_velocity"]),
        ("evaluation", _by_origin(rows)),
    ):
        assert score[~has].max() < score[has].min(), name
        assert (score[~has] == 0.0).all(), name


def test_a_forecast_whose_time_passed_before_the_origin_is_no_forecast() -> None:
    """A sensor's last reading keeps its forecast; once the forecast time has passed (the
    readings stopped: the sensor was lost in the failure, or died) nothing says the slope
    is accelerating now. The old score kept ranking such a site by its last forecast, above
    live accelerating slopes, for as long as the sensor stayed silent."""
    stop = ORIGIN - pd.Timedelta(hours=1)  # the silent sensor's last readings end here
    later = ORIGIN + pd.Timedelta(days=3)
    rows = _rows(
        {
            "silent": _tertiary(stop + pd.Timedelta(hours=6), a_mm=5.0, until=stop),
            "live": _tertiary(later + pd.Timedelta(hours=60), a_mm=5.0, until=later),
            "creep": _creep(2.0, later),
        },
        [ORIGIN, later],
    )
    h = rows.set_index(["origin", "site_id"])["fukuzono_hours_to_failure"]
    # the feature holds the silent sensor's forecast an hour after its last reading; three
    # days on the sensor is dead and its kinematics are missing (docs/design.md, "A dead
    # sensor's kinematics are missing"), the live slope's forecast is there
    assert np.isfinite(h[(ORIGIN, "silent")]) and np.isfinite(h[(later, "live")])
    assert np.isnan(h[(later, "silent")])
    # at ORIGIN its forecast is still ahead: it counts, from the origin
    assert _score(rows, "silent", ORIGIN) > _score(rows, "creep", ORIGIN)
    # three days on it has passed: no forecast, as steady creep, below the live slope
    assert _score(rows, "silent", later) == _score(rows, "creep", later) == 0.0
    assert _score(rows, "live", later) > 0.0
    pooled = _by_origin(rows)
    at = rows.set_index(["origin", "site_id"]).index
    assert pooled[at.get_loc((later, "silent"))] < pooled[at.get_loc((later, "live"))]


def test_only_readings_before_the_origin_are_used() -> None:
    """Readings at or after the origin (the failure itself, a wild spike) never change a
    score at it."""
    fail = ORIGIN + pd.Timedelta(hours=30)
    cut = {
        "acc": _tertiary(fail, a_mm=5.0, until=ORIGIN),
        "creep": _creep(2.0, ORIGIN),
    }
    t, d = _tertiary(fail, a_mm=5.0, until=fail - pd.Timedelta(minutes=30))
    t2, d2 = _creep(2.0, ORIGIN + pd.Timedelta(days=2))
    d2 = d2.copy()
    d2[t2 >= ORIGIN] += 50.0  # a jump right after the origin
    full = {"acc": (t, d), "creep": (t2, d2)}
    a, b = _rows(cut, [ORIGIN]), _rows(full, [ORIGIN])
    assert np.array_equal(
        baseline_scores(a)["inverse_velocity"], baseline_scores(b)["inverse_velocity"]
    )
    assert baseline_scores(a)["inverse_velocity"][0] > 0.0  # "acc" has a forecast


def test_inverse_velocity_score_is_a_decreasing_function_of_the_time_left() -> None:
    rows = pd.DataFrame(
        {
            "fukuzono_hours_to_failure": [2.0, 10.0, 100.0, np.nan, 10.0, 10.0, 5.0],
            "displacement_age_days": [0.0, 0.0, 0.0, 0.0, 0.5, np.nan, 1 / 24],
        }
    )
    s = inverse_velocity_score(rows)
    assert s[0] > s[1] > s[2] > 0.0
    assert s[3] == 0.0  # no forecast
    assert s[4] == 0.0  # forecast 10 h after a reading 12 h old: passed
    assert s[5] == 0.0  # no reading: no forecast
    assert s[6] == pytest.approx(24.0 / (24.0 + 4.0))  # 5 h after a reading 1 h old
    assert np.all((s >= 0.0) & (s <= 1.0))


def test_the_model_reads_the_forecast_as_decreasing_risk() -> None:
    """The site model's monotone constraint on the feature is decreasing (fewer hours to
    the forecast failure never lowers the risk), as the inverse-velocity law says."""
    from models.site_fit import monotone

    feats = ["fukuzono_hours_to_failure", "inverse_velocity_day_per_mm", "velocity_mm_per_day"]
    assert monotone(feats) == "(-1,-1,1)"
