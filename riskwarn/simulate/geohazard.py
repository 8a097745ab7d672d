"""Geohazards: sites, storms, rain gauges, creeping slopes, failures and sensor faults.

* Storms arrive as a Poisson process with monthly rates (spring rain, the plum-rain
  season mid-June to mid-July, summer convection, dry winters); each has a centre,
  radius, duration and peak intensity; rain is stronger in the mountains.
* Each site creeps at ``v0`` (mm/day), plus a rain response to its antecedent
  precipitation index (API, k = 0.85 per day) above a site threshold: seasonal steps
  that slow down again when the rain stops and do not fail.
* At the end of each day a site that has not failed starts an accelerating
  (tertiary) phase with probability ``sigmoid(eta)``, eta = ONSET_COEFS . (1, slope_class - 3,
  susceptibility, API_mm, rain_24h_mm); it then fails ``lead`` days later with velocity
  ``v = A / (t_fail - t)`` in between (inverse velocity falls linearly to zero, the
  Fukuzono pattern; the tangent angle rises towards 90 degrees). The failure is a
  labelled hazard event; the sensors at the site stop reporting.
* Sensor faults: gaps, missing-value rows, spikes, drift, dead sensors (silent or
  frozen at their last value); the fault log is part of the ground truth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.signal import lfilter

from riskwarn.simulate.config import CELL_SIZE_M, SimConfig
from riskwarn.simulate.geography import Geography

STEP_MIN = 10
SPINUP_DAYS = 30
API_K_PER_DAY = 0.85
STORMS_PER_DAY = np.array([0.12, 0.15, 0.22, 0.25, 0.28, 0.40, 0.35, 0.25, 0.18, 0.12, 0.12, 0.10])
ONSET_COEFS = {
    "intercept": -11.0,
    "slope_class_minus_3": 0.7,
    "susceptibility": 1.0,
    "api_mm": 0.035,
    "rain_24h_mm": 0.02,
}
HAZARD_TYPES = pd.DataFrame(
    [
        ("landslide", "滑坡", 0.65),
        ("rockfall", "崩塌", 0.15),
        ("debris_flow", "泥石流", 0.10),
        ("collapse", "地面塌陷", 0.10),
    ],
    columns=["hazard_type", "label", "share"],
)
SENSOR_KINDS = {
    "rain_gauge": ("雨量计", "雨量", 600),
    "gnss": ("GNSS位移计", "累计位移", 0),
    "crack_meter": ("裂缝计", "裂缝宽度", 0),
}


@dataclass(frozen=True)
class GeoSim:
    """Everything the geohazard component produced."""

    sites: pd.DataFrame  # one row per site (static + truth of failure)
    sensors: pd.DataFrame  # sensor_id, kind, site index or -1, x, y, installed_min
    values: np.ndarray  # (n_sensors, T) float32 readings at 10-minute steps (window)
    present: np.ndarray  # (n_sensors, T) bool, a row exists
    missing_flag: np.ndarray  # (n_sensors, T) bool, row exists but value missing (缺测)
    suspect_flag: np.ndarray  # (n_sensors, T) bool, source marks the value suspect
    events: (
        pd.DataFrame
    )  # hazard events: minute, x, y, site index or -1, type, volume, deaths, injuries
    daily_truth: pd.DataFrame  # site x day: api_mm, rain_24h_mm, onset_probability, accelerating
    faults: pd.DataFrame  # sensor_id, fault, start_min, end_min
    window_start: dt.date
    steps: int


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _sample_cells(
    geo: Geography, weight: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    inside = np.flatnonzero(geo.mask.ravel())
    p = weight.ravel()[inside]
    return rng.choice(inside, size=n, replace=False, p=p / p.sum())


def _xy(
    geo: Geography, flat: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    nx = geo.shape[1]
    return (
        (geo.ix0 + flat % nx + rng.random(len(flat))) * CELL_SIZE_M,
        (geo.iy0 + flat // nx + rng.random(len(flat))) * CELL_SIZE_M,
    )


def _storms(rng: np.random.Generator, dates: pd.DatetimeIndex, geo: Geography) -> pd.DataFrame:
    """Storms: start hour, duration (h), peak intensity (mm/h), centre, radius (m)."""
    doy = dates.dayofyear.to_numpy()
    plum = (doy >= 165) & (doy <= 195)
    n = rng.poisson(STORMS_PER_DAY[dates.month.to_numpy() - 1])
    day = np.repeat(np.arange(len(dates)), n)
    k = len(day)
    pl = np.repeat(plum, n)
    summer = np.repeat((doy >= 180) & (doy <= 250), n)
    dur = (
        np.clip(rng.lognormal(np.where(pl, np.log(16), np.log(9)), 0.6), 1, 72)
        .round()
        .astype(np.int64)
    )
    peak = rng.gamma(2.0, np.where(summer & ~pl, 1.6, np.where(pl, 0.8, 0.6)), k)
    ny, nx = geo.shape
    cx = (geo.ix0 + rng.random(k) * nx) * CELL_SIZE_M
    cy = (geo.iy0 + rng.random(k) * ny) * CELL_SIZE_M
    radius = np.where(pl, rng.uniform(60e3, 150e3, k), rng.uniform(15e3, 70e3, k))
    return pd.DataFrame(
        {
            "start_h": day * 24 + rng.integers(0, 24, k),
            "dur_h": dur,
            "peak_mm_h": peak,
            "x": cx,
            "y": cy,
            "radius_m": radius,
        }
    )


def _rain_hourly(
    rng: np.random.Generator,
    storms: pd.DataFrame,
    hours: int,
    lx: np.ndarray,
    ly: np.ndarray,
    loc_mountain: np.ndarray,
) -> np.ndarray:
    """(n_locations, hours) true hourly rain (mm) at the given locations."""
    dur = storms["dur_h"].to_numpy()
    sid = np.repeat(np.arange(len(storms)), dur)
    step = np.arange(len(sid)) - np.repeat(np.cumsum(dur) - dur, dur)
    frac = (step + 0.5) / dur[sid]
    shape = np.sin(np.pi * frac) ** 1.5
    val = storms["peak_mm_h"].to_numpy()[sid] * shape * rng.gamma(1.5, 1 / 1.5, len(sid))
    hour = storms["start_h"].to_numpy()[sid] + step
    ok = hour < hours
    q = sparse.csr_matrix((val[ok], (sid[ok], hour[ok])), shape=(len(storms), hours))
    d2 = (storms["x"].to_numpy()[:, None] - lx[None, :]) ** 2 + (
        storms["y"].to_numpy()[:, None] - ly[None, :]
    ) ** 2
    w = np.exp(-d2 / (2 * storms["radius_m"].to_numpy()[:, None] ** 2))
    w *= (1 + 0.6 * loc_mountain[None, :]) * rng.lognormal(0, 0.25, w.shape)
    rain = np.asarray((q.T @ w).T, dtype=np.float32)
    return np.where(rain < 0.05, 0.0, rain).astype(np.float32)


def _to_10min(hourly: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split hourly rain into six 10-minute amounts with random weights."""
    wts = rng.standard_gamma(0.7, (*hourly.shape, 6), dtype=np.float32)
    wts /= wts.sum(axis=2, keepdims=True)
    return (hourly[:, :, None] * wts).reshape(hourly.shape[0], -1)


def _interp_10min(hourly: np.ndarray) -> np.ndarray:
    """Linear interpolation of an hourly series (value at hour start) to 10-minute steps."""
    nxt = np.concatenate([hourly[:, 1:], hourly[:, -1:]], axis=1)
    frac = (np.arange(6) / 6.0).astype(np.float32)
    return (hourly[:, :, None] + (nxt - hourly)[:, :, None] * frac).reshape(hourly.shape[0], -1)


def simulate_geohazard(geo: Geography, cfg: SimConfig, rng: np.random.Generator) -> GeoSim:
    """Simulate sites, sensors, rain, creep, failures and faults over the sensor window."""
    win_start = cfg.sensor_start
    all_days = SPINUP_DAYS + cfg.sensor_days
    dates = pd.date_range(
        pd.Timestamp(win_start) - pd.Timedelta(days=SPINUP_DAYS), periods=all_days, freq="D"
    )
    hours = all_days * 24
    n_sites, n_g = cfg.n_sites, cfg.n_rain_gauges

    # sites in the mountains where people live; gauges mostly in the hills too
    mountain = geo.mountain
    site_flat = _sample_cells(geo, mountain**4 * (geo.population > 5), n_sites, rng)
    sx, sy = _xy(geo, site_flat, rng)
    gauge_flat = _sample_cells(geo, mountain**2 + 0.05, n_g, rng)
    gx, gy = _xy(geo, gauge_flat, rng)
    slope = np.clip(np.round(rng.normal(3.3, 0.9, n_sites)), 1, 5).astype(np.int64)
    susc = rng.normal(0, 0.6, n_sites)
    htype = rng.choice(len(HAZARD_TYPES), n_sites, p=HAZARD_TYPES["share"].to_numpy())

    storms = _storms(rng, dates, geo)
    loc_m = np.concatenate([mountain.ravel()[site_flat], mountain.ravel()[gauge_flat]])
    rain_h = _rain_hourly(
        rng, storms, hours, np.concatenate([sx, gx]), np.concatenate([sy, gy]), loc_m
    )
    site_rain, gauge_rain = rain_h[:n_sites], rain_h[n_sites:]

    # antecedent precipitation index (hourly recursion, k per day) and daily onset hazard
    k_h = API_K_PER_DAY ** (1 / 24)
    api = lfilter([1.0], [1.0, -k_h], site_rain.astype(np.float64), axis=1)
    api_day = api[:, 23::24]
    r24 = site_rain.reshape(n_sites, all_days, 24).sum(axis=2)
    eta = (
        ONSET_COEFS["intercept"]
        + cfg.onset_shift
        + ONSET_COEFS["slope_class_minus_3"] * (slope - 3)[:, None]
        + ONSET_COEFS["susceptibility"] * susc[:, None]
        + ONSET_COEFS["api_mm"] * api_day
        + ONSET_COEFS["rain_24h_mm"] * r24
    )
    p_onset = _sigmoid(eta)
    p_onset[:, :SPINUP_DAYS] = 0.0
    draw = rng.random(p_onset.shape) < p_onset
    onset_day = np.where(draw.any(axis=1), draw.argmax(axis=1), -1)
    if (onset_day >= 0).sum() < cfg.min_failures:  # short records: force the likeliest sites
        cand = np.argsort(-p_onset.max(axis=1))
        for s in cand[: cfg.min_failures]:
            if onset_day[s] < 0:
                onset_day[s] = int(p_onset[s].argmax())
    lead_h = rng.uniform(24, 6 * 24, n_sites)
    onset_h = np.where(onset_day >= 0, (onset_day + 1) * 24, -1).astype(np.float64)
    fail_h = np.where(onset_day >= 0, onset_h + lead_h, np.inf)
    failed = fail_h < hours
    fail_h = np.where(failed, fail_h, np.inf)

    # creep velocity (mm/day), hourly
    v0 = rng.lognormal(np.log(0.05), 0.8, n_sites)
    theta = rng.uniform(40, 120, n_sites)
    gain = rng.lognormal(np.log(0.02), 0.5, n_sites)
    th = np.arange(hours)[None, :]
    v = v0[:, None] * (1 + 0.3 * np.sin(2 * np.pi * (th / 24 - 100) / 365.25)) + gain[
        :, None
    ] * np.maximum(api - theta[:, None], 0)
    in_tert = (th >= onset_h[:, None]) & (th < fail_h[:, None]) & (onset_h[:, None] >= 0)
    v_on = v[np.arange(n_sites), np.clip(onset_h, 0, hours - 1).astype(np.int64)]
    amp = np.maximum(2 * v_on, 1.0) * lead_h / 24.0  # A (mm) so that v_tert(onset) = 2 v_onset
    ttf_days = np.maximum((fail_h[:, None] - th) / 24.0, 1 / 48)
    v = np.where(in_tert, v + amp[:, None] / ttf_days, v)
    v = np.minimum(v, 2000.0)
    disp_h = np.cumsum(v / 24.0, axis=1).astype(np.float32)

    # drop the spin-up, go to 10-minute steps
    s0 = SPINUP_DAYS * 24
    disp10 = _interp_10min(disp_h[:, s0:])
    rain10 = _to_10min(gauge_rain[:, s0:], rng)
    steps = disp10.shape[1]
    fail_step = np.where(failed, np.floor((fail_h - s0) * 6), np.inf)

    # sensors: GNSS at every site, crack meters at some, gauges
    crack_sites = np.flatnonzero(rng.random(n_sites) < cfg.crack_share)
    ratio = rng.uniform(0.2, 0.8, len(crack_sites))
    gnss = disp10 + 2.5 * rng.standard_normal(disp10.shape, dtype=np.float32)
    crack = (
        ratio[:, None] * disp10[crack_sites]
        + 1.0
        + 0.08 * rng.standard_normal((len(crack_sites), steps), dtype=np.float32)
    )
    values = np.concatenate(
        [np.round(rain10 * 10) / 10, np.round(gnss, 1), np.round(crack, 2)]
    ).astype(np.float32)
    del disp10, gnss, crack, rain10  # the readings live on in ``values`` only
    kinds = np.array(["rain_gauge"] * n_g + ["gnss"] * n_sites + ["crack_meter"] * len(crack_sites))
    sensor_site = np.concatenate([np.full(n_g, -1), np.arange(n_sites), crack_sites])
    n_sens = len(kinds)
    sensor_ids = np.array([f"SB{i + 1:05d}" for i in range(n_sens)])
    jitter = rng.normal(0, 15, (n_sens, 2))
    sens_x = np.concatenate([gx, sx, sx[crack_sites]]) + jitter[:, 0]
    sens_y = np.concatenate([gy, sy, sy[crack_sites]]) + jitter[:, 1]

    present = np.ones((n_sens, steps), dtype=bool)
    step_idx = np.arange(steps)[None, :]
    site_fail = np.where(sensor_site >= 0, fail_step[np.clip(sensor_site, 0, None)], np.inf)
    present &= step_idx < site_fail[:, None]  # destroyed by the failure
    values, present, missing, suspect, faults = _faults(rng, values, present, kinds, sensor_ids)

    # hazard events: monitored failures + unmonitored slides on heavy-rain days
    fs = np.flatnonzero(failed)
    gdaily = gauge_rain[:, s0:].reshape(n_g, cfg.sensor_days, 24).sum(axis=2)
    n_un = rng.poisson(0.03 * (gdaily > 50).sum(axis=0))
    un_day = np.repeat(np.arange(cfg.sensor_days), n_un)
    un_flat = rng.choice(
        np.flatnonzero(geo.mask.ravel()),
        size=len(un_day),
        p=(mountain.ravel()[geo.mask.ravel()] ** 4)
        / (mountain.ravel()[geo.mask.ravel()] ** 4).sum(),
    )
    ux, uy = _xy(geo, un_flat, rng)
    ev_min = np.concatenate(
        [(fail_h[fs] - s0) * 60, un_day * 1440 + rng.integers(0, 1440, len(un_day))]
    )
    n_ev = len(ev_min)
    events = (
        pd.DataFrame(
            {
                "minute": np.floor(ev_min).astype(np.int64),
                "x": np.concatenate([sx[fs], ux]),
                "y": np.concatenate([sy[fs], uy]),
                "site": np.concatenate([fs, np.full(len(un_day), -1)]),
                "type": np.concatenate(
                    [
                        htype[fs],
                        rng.choice(
                            len(HAZARD_TYPES), len(un_day), p=HAZARD_TYPES["share"].to_numpy()
                        ),
                    ]
                ),
                "volume_m3": np.round(rng.lognormal(np.log(3000), 1.2, n_ev), -1),
                "deaths": rng.binomial(1, 0.03, n_ev) * rng.integers(1, 4, n_ev),
                "injuries": rng.poisson(0.3, n_ev),
                "precise": np.concatenate([np.ones(len(fs), bool), np.zeros(len(un_day), bool)]),
                "report_delay_min": rng.integers(20, 360, n_ev),
            }
        )
        .sort_values(["minute", "x"], kind="stable")
        .reset_index(drop=True)
    )
    # reported after the end of the record: not in the extract yet
    events = events[
        events["minute"] + events["report_delay_min"] < cfg.sensor_days * 1440
    ].reset_index(drop=True)

    day_idx = np.arange(SPINUP_DAYS, all_days)
    daily = pd.DataFrame(
        {
            "site": np.repeat(np.arange(n_sites), cfg.sensor_days),
            "day": np.tile(day_idx - SPINUP_DAYS, n_sites),
            "api_mm": api_day[:, day_idx].ravel().astype(np.float32),
            "rain_24h_mm": r24[:, day_idx].ravel().astype(np.float32),
            "onset_probability": p_onset[:, day_idx].ravel(),
            "accelerating": in_tert[:, s0:]
            .reshape(n_sites, cfg.sensor_days, 24)
            .any(axis=2)
            .ravel(),
        }
    )
    sites = pd.DataFrame(
        {
            "x": sx,
            "y": sy,
            "flat": site_flat,
            "slope_class": slope,
            "susceptibility": susc,
            "type": htype,
            "people_threatened": np.round(rng.lognormal(np.log(40), 1.0, n_sites)).astype(np.int64),
            "volume_m3": np.round(rng.lognormal(np.log(8000), 1.3, n_sites), -1),
            "v0_mm_per_day": v0,
            "api_threshold_mm": theta,
            "onset_min": np.where(onset_day >= 0, (onset_h - s0) * 60, np.nan),
            "failure_min": np.where(failed, (fail_h - s0) * 60, np.nan),
        }
    )
    sensors = pd.DataFrame(
        {
            "sensor_id": sensor_ids,
            "kind": kinds,
            "site": sensor_site,
            "x": sens_x,
            "y": sens_y,
            "installed_days_before": rng.integers(30, 900, n_sens),
        }
    )
    return GeoSim(
        sites=sites,
        sensors=sensors,
        values=values,
        present=present,
        missing_flag=missing,
        suspect_flag=suspect,
        events=events,
        daily_truth=daily,
        faults=faults,
        window_start=win_start,
        steps=steps,
    )


def _faults(
    rng: np.random.Generator,
    values: np.ndarray,
    present: np.ndarray,
    kinds: np.ndarray,
    ids: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Gaps, missing values, spikes, drift and dead sensors (vectorised over readings)."""
    n, steps = values.shape
    step = np.arange(steps)[None, :]
    log: list[pd.DataFrame] = []
    # gaps: a few outages per sensor-year, median 6 h
    n_gap = rng.poisson(3 * steps / 52_560, n)
    gs = np.repeat(np.arange(n), n_gap)
    g0 = rng.integers(0, steps, len(gs))
    g1 = g0 + np.ceil(rng.lognormal(np.log(36), 1.0, len(gs))).astype(np.int64)
    gap = np.zeros((n, steps + 1), dtype=np.int16)
    np.add.at(gap, (gs, g0), 1)
    np.add.at(gap, (gs, np.minimum(g1, steps)), -1)
    present &= np.cumsum(gap, axis=1, dtype=np.int16)[:, :steps] == 0
    log.append(
        pd.DataFrame({"sensor": gs, "fault": "gap", "start": g0, "end": np.minimum(g1, steps)})
    )
    # drift on displacement sensors
    disp = kinds != "rain_gauge"
    drift_s = np.flatnonzero(disp & (rng.random(n) < 0.10))
    d0 = rng.integers(0, steps, len(drift_s))
    rate = (
        rng.uniform(0.5, 3.0, len(drift_s))
        / (30 * 144)
        * np.where(kinds[drift_s] == "crack_meter", 0.2, 1.0)
    )
    values[drift_s] += (np.maximum(step - d0[:, None], 0) * rate[:, None]).astype(np.float32)
    log.append(pd.DataFrame({"sensor": drift_s, "fault": "drift", "start": d0, "end": steps}))
    # dead sensors: silent or frozen at the last value
    dead_s = np.flatnonzero(rng.random(n) < 0.05)
    t_dead = rng.integers(steps // 10, steps, len(dead_s))
    frozen = rng.random(len(dead_s)) < 0.5
    after = step >= t_dead[:, None]
    present[dead_s[~frozen]] &= ~after[~frozen]
    last = values[dead_s[frozen], t_dead[frozen] - 1]
    values[dead_s[frozen]] = np.where(after[frozen], last[:, None], values[dead_s[frozen]])
    log.append(
        pd.DataFrame(
            {
                "sensor": dead_s,
                "fault": np.where(frozen, "dead_frozen", "dead_silent"),
                "start": t_dead,
                "end": steps,
            }
        )
    )
    # spikes and missing-value rows (sparse positions, never a dense random matrix)
    n_spk = rng.poisson(0.0005 * n * steps)
    si, sj = rng.integers(0, n, n_spk), rng.integers(0, steps, n_spk)
    kind_s = kinds[si]
    size = np.select([kind_s == "gnss", kind_s == "crack_meter"], [60.0, 8.0], 50.0) * rng.uniform(
        0.5, 2, n_spk
    )
    sign = np.where(kind_s == "rain_gauge", 1.0, rng.choice([-1.0, 1.0], n_spk))
    values[si, sj] += (sign * size).astype(np.float32)
    keep = present[si, sj]
    log.append(
        pd.DataFrame({"sensor": si[keep], "fault": "spike", "start": sj[keep], "end": sj[keep] + 1})
    )
    suspect = np.zeros((n, steps), dtype=bool)
    flagged = rng.random(n_spk) < 0.3
    suspect[si[flagged], sj[flagged]] = True
    suspect &= present
    n_mis = rng.poisson(0.003 * n * steps)
    missing = np.zeros((n, steps), dtype=bool)
    missing[rng.integers(0, n, n_mis), rng.integers(0, steps, n_mis)] = True
    missing &= present
    faults = pd.concat(log, ignore_index=True)
    faults["sensor_id"] = ids[faults["sensor"].to_numpy()]
    faults = faults.sort_values(["sensor", "start", "fault"], kind="stable").reset_index(drop=True)
    return values, present, missing, suspect, faults
