"""Geohazard nowcast on the simulated city: lead time and false-alarm ratio.

    .venv/bin/python bench/bench_nowcast.py [--size small] [--seed 3] [--work DIR]

Simulates the city (unless DIR already holds it), ingests sites, sensors, sensor
readings and hazard events through their mapping files into a scratch lake, then runs
the nowcast's sensor rules (riskwarn.warnings, the same code and parameters as
riskwarn.nowcast.NOWCAST_RULES) causally at every hour of the sensor period. Prints:

* POD: share of failures at monitored sites with an orange/red warning in the 72 h
  before them; median lead time (hours from the first orange/red of that episode to
  the failure);
* FAR: share of orange/red episodes (runs of consecutive warned hours at a site) not
  followed by a failure at the site within 72 h.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WINDOW_H = 72


def simulate(out: Path, size: str, seed: int) -> None:
    if (out / "simulation.json").exists():
        return
    riskwarn = Path(sys.executable).with_name("riskwarn")
    cmd = [str(riskwarn), "simulate", "--size", size, "--seed", str(seed), "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)


def ingest(sim: Path, settings) -> None:
    from riskwarn.ingest import ingest_files, load_mapping

    as_of = datetime(2030, 1, 1, tzinfo=UTC)
    for name in ("hazard_sites", "sensors", "hazard_events", "sensor_readings"):
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{name}.yaml")
        files = sorted(p for p in (sim / "extracts").rglob(f"{name}.*") if p.is_file())
        ingest_files(mapping, files, settings, as_of=as_of)


def site_levels(settings) -> pd.DataFrame:
    """Hourly sensor-rule level per site (max over its displacement sensors)."""
    from riskwarn import lake
    from riskwarn.nowcast import DISPLACEMENT_TYPES, NOWCAST_RULES
    from riskwarn.warnings import displacement_kinematics, sensor_levels

    sensors = lake.read_table(settings.lake_dir, "sensors")
    disp = sensors.loc[sensors["sensor_type"].isin(DISPLACEMENT_TYPES) & sensors["site_id"].notna()]
    readings = lake.read_table(
        settings.lake_dir,
        "sensor_readings",
        columns=["sensor_id", "observed_at", "quantity", "value"],
    )
    readings = readings.loc[readings["quantity"].isin(["displacement_mm", "crack_width_mm"])]
    frames = []
    for sid, g in readings.loc[readings["sensor_id"].isin(disp["record_id"])].groupby("sensor_id"):
        k = displacement_kinematics(g.set_index("observed_at")["value"], "1h", NOWCAST_RULES)
        lv = sensor_levels(k, NOWCAST_RULES)
        frames.append(
            pd.DataFrame({"sensor_id": sid, "at": k.index, "level": lv["sensor_level_rank"]})
        )
    levels = pd.concat(frames, ignore_index=True)
    levels["site_id"] = levels["sensor_id"].map(disp.set_index("record_id")["site_id"])
    return levels.groupby(["site_id", "at"], as_index=False)["level"].max()


def evaluate(levels: pd.DataFrame, events: pd.DataFrame) -> dict[str, float]:
    """POD, median lead time and FAR of orange/red warnings against failures (pure)."""
    warned = levels.loc[levels["level"] >= 3].sort_values(["site_id", "at"])
    gap = warned.groupby("site_id")["at"].diff() != pd.Timedelta(hours=1)
    warned = warned.assign(episode=gap.cumsum())
    episodes = warned.groupby("episode").agg(site_id=("site_id", "first"), start=("at", "min"))
    ev = events.dropna(subset=["site_id"])
    leads, hits = [], 0
    for e in ev.itertuples(index=False):
        ep = episodes.loc[
            (episodes["site_id"] == e.site_id)
            & (episodes["start"] <= e.occurred_at)
            & (episodes["start"] > e.occurred_at - pd.Timedelta(hours=WINDOW_H))
        ]
        if len(ep):
            hits += 1
            leads.append((e.occurred_at - ep["start"].min()).total_seconds() / 3600)
    followed = [
        bool(
            (
                (ev["site_id"] == r.site_id)
                & (ev["occurred_at"] >= r.start)
                & (ev["occurred_at"] <= r.start + pd.Timedelta(hours=WINDOW_H))
            ).any()
        )
        for r in episodes.itertuples()
    ]
    n_ep = len(episodes)
    return {
        "failures_at_sites": float(len(ev)),
        "detected": float(hits),
        "pod": hits / len(ev) if len(ev) else float("nan"),
        "median_lead_time_h": float(np.median(leads)) if leads else float("nan"),
        "warning_episodes": float(n_ep),
        "far": (n_ep - sum(followed)) / n_ep if n_ep else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from riskwarn import lake
    from riskwarn.settings import Settings

    work = args.work or Path(tempfile.mkdtemp(prefix="rw-nowcast-"))
    t0 = time.perf_counter()
    simulate(work / "sim", args.size, args.seed)
    settings = Settings(home=work / "home")
    if not (settings.lake_dir / "sensor_readings").exists():
        ingest(work / "sim", settings)
    levels = site_levels(settings)
    events = lake.read_table(settings.lake_dir, "hazard_events")
    first, last = levels["at"].min(), levels["at"].max()
    events = events.loc[(events["occurred_at"] >= first) & (events["occurred_at"] <= last)]
    m = evaluate(levels, events)
    print(
        f"simulated city: size={args.size} seed={args.seed} sensors {first:%Y-%m-%d}..{last:%Y-%m-%d}"
    )
    print(f"sites scored hourly: {levels['site_id'].nunique()}, site-hours: {len(levels)}")
    print(
        f"failures at monitored sites: {m['failures_at_sites']:.0f}, warned (orange/red within "
        f"{WINDOW_H} h before): {m['detected']:.0f}  POD = {m['pod']:.2f}"
    )
    print(f"median lead time: {m['median_lead_time_h']:.1f} h")
    print(f"orange/red episodes: {m['warning_episodes']:.0f}, false-alarm ratio: {m['far']:.2f}")
    print(f"wall time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
