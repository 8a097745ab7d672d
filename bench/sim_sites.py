"""The simulated city's monitored-site tables in memory, at hourly resolution (bench helper).

The site models only need hourly readings: the hourly site table and the nowcast's sensor
rules sample displacement at the end of each hour, and rain is summed per hour. Running
the simulator's geohazard component directly and keeping one displacement reading per
hour (the last of the hour's six 10-minute readings) and hourly rain totals gives a
multi-year, many-site record in a few million rows, instead of ingesting ~100 million
10-minute rows through the lake. Faults (gaps, missing values, spikes, drift, dead
sensors) are those of the 10-minute record, sampled the same way.

    sim_site_frames(seed=1, n_sites=360, sensor_days=1096)
    -> dict(readings=..., sensors=..., sites=..., events=..., truth=...)

Column names and values are those the lake holds after the ``configs/sources/sim_*.yaml``
mappings (UTC times, ``sensor_type`` gnss/crack_meter/rain_gauge, ``hazard_type``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd

from riskwarn.simulate import geohazard as gh
from riskwarn.simulate.config import component_rng, size_config
from riskwarn.simulate.extracts import lonlat, site_ids
from riskwarn.simulate.geography import build_geography

UTC_OFFSET = pd.Timedelta(hours=8)  # the simulated city's local time (Asia/Shanghai)
QUANTITY = {"rain_gauge": "rain_mm", "gnss": "displacement_mm", "crack_meter": "crack_width_mm"}
HAZARD = ["landslide", "rockfall", "debris_flow", "collapse"]


def _hourly_readings(sim: gh.GeoSim) -> pd.DataFrame:
    n, steps = sim.values.shape
    hours = steps // 6
    kinds = sim.sensors["kind"].to_numpy()
    ids = sim.sensors["sensor_id"].to_numpy()
    base = pd.Timestamp(sim.window_start) - UTC_OFFSET  # local midnight in UTC
    frames = []
    for i in range(n):
        vals = sim.values[i, : hours * 6].reshape(hours, 6)
        pres = sim.present[i, : hours * 6].reshape(hours, 6)
        miss = sim.missing_flag[i, : hours * 6].reshape(hours, 6)
        susp = sim.suspect_flag[i, : hours * 6].reshape(hours, 6)
        if kinds[i] == "rain_gauge":
            ok = pres & ~miss
            value = np.where(ok, vals, 0.0).sum(axis=1).round(1)
            row = pres.any(axis=1)
            missing = row & ~ok.any(axis=1)
            suspect = (susp & pres).any(axis=1)
            minute = np.arange(hours) * 60
            interval = 3600.0
        else:  # the last reading of the hour
            row = pres[:, 5]
            value, missing, suspect = vals[:, 5], miss[:, 5], susp[:, 5]
            minute = np.arange(hours) * 60 + 50
            interval = np.nan
        h = np.flatnonzero(row)
        frames.append(
            pd.DataFrame(
                {
                    "sensor_id": ids[i],
                    "observed_at": base + pd.to_timedelta(minute[h], unit="min"),
                    "interval_s": interval,
                    "quantity": QUANTITY[kinds[i]],
                    "value": np.where(missing[h], np.nan, value[h]).astype(float),
                    "quality": np.where(
                        missing[h], "missing", np.where(suspect[h], "suspect", "good")
                    ),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["observed_at"] = out["observed_at"].dt.tz_localize("UTC")
    return out


def sim_site_frames(
    seed: int = 1,
    n_sites: int = 360,
    sensor_days: int = 1096,
    start: dt.date = dt.date(2023, 1, 1),
    onset_shift: float = 0.0,
) -> dict[str, pd.DataFrame]:
    """Sites, sensors, hourly readings and failures of the simulated city (lake columns)."""
    cfg = replace(
        size_config("city", start),
        n_sites=n_sites,
        sensor_days=sensor_days,
        onset_shift=onset_shift,
    )
    geo = build_geography(cfg, component_rng(seed, "geography"))
    sim = gh.simulate_geohazard(geo, cfg, component_rng(seed, "geohazard"))
    s_ids = site_ids(geo, sim)
    s = sim.sites
    lon, lat = lonlat(s["x"].to_numpy(), s["y"].to_numpy())
    sites = pd.DataFrame(
        {
            "record_id": s_ids,
            "hazard_type": np.array(HAZARD)[s["type"].to_numpy()],
            "lon": lon,
            "lat": lat,
            "slope_class": s["slope_class"].astype("Int64"),
            "people_threatened": s["people_threatened"].astype("Int64"),
        }
    )
    se = sim.sensors
    slon, slat = lonlat(se["x"].to_numpy(), se["y"].to_numpy())
    site = se["site"].to_numpy()
    sensors = pd.DataFrame(
        {
            "record_id": se["sensor_id"].to_numpy(),
            "site_id": pd.Series(np.where(site >= 0, s_ids[np.clip(site, 0, None)], None)),
            "sensor_type": se["kind"].to_numpy(),
            "lon": slon,
            "lat": slat,
        }
    )
    e = sim.events
    elon, elat = lonlat(e["x"].to_numpy(), e["y"].to_numpy())
    esite = e["site"].to_numpy()
    base = pd.Timestamp(sim.window_start, tz="UTC") - UTC_OFFSET
    events = pd.DataFrame(
        {
            "occurred_at": base + pd.to_timedelta(e["minute"].to_numpy(), unit="min"),
            "reported_at": base
            + pd.to_timedelta(
                e["minute"].to_numpy() + e["report_delay_min"].to_numpy(), unit="min"
            ),
            "site_id": pd.Series(np.where(esite >= 0, s_ids[np.clip(esite, 0, None)], None)),
            "lon": elon,
            "lat": elat,
        }
    )
    truth = s.assign(site_id=s_ids)[["site_id", "v0_mm_per_day", "onset_min", "failure_min"]]
    return {
        "readings": _hourly_readings(sim),
        "sensors": sensors,
        "sites": sites,
        "events": events,
        "truth": truth,
    }


if __name__ == "__main__":
    import sys
    import time

    t0 = time.perf_counter()
    seed, n_sites, days = (int(a) for a in sys.argv[1:4])
    f = sim_site_frames(seed, n_sites, days, onset_shift=float(sys.argv[4]))
    ev = f["events"].dropna(subset=["site_id"])
    print(f"{len(f['readings']):,} readings, {len(f['sites'])} sites, {len(ev)} failures at sites")
    print(ev["occurred_at"].dt.year.value_counts().sort_index().to_string())
    print(f"{time.perf_counter() - t0:.0f} s")
