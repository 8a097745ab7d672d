"""Geohazard nowcast on the simulated city: lead time and false-alarm ratio.

    .venv/bin/python bench/bench_nowcast.py [--size small] [--seed 3] [--work DIR] [--horizon 72]

Simulates the city (unless DIR already holds it), ingests sites, sensors, sensor
readings and hazard events through their mapping files into a scratch lake, then runs
the nowcast's sensor rules (riskwarn.warnings, the same code and parameters as
riskwarn.nowcast.NOWCAST_RULES) causally at every hour of the sensor period. Prints:

* episodes: orange/red warnings as the nowcast serves them: issued at the first
  orange/red hour, held until 6 consecutive hours below (riskwarn.level_hold), so hours
  warned again within the hold continue the episode (models.site_levels.warning_episodes);
* POD: share of failures at monitored sites with an orange/red episode in force when
  they happen or in force within the horizon (72 h) before them; median lead time (hours
  from the start of the latest episode issued before the failure to the failure);
* FAR: share of episodes with no failure at the site from their issue to the horizon
  after they were lifted (models.site_levels.verify_episodes); 95% Wilson intervals;
  also per site-day (a local day with an episode in force vs a failure that day).
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


def evaluate(levels: pd.DataFrame, events: pd.DataFrame, horizon_h: float = WINDOW_H) -> dict:
    """POD, lead time and FAR of orange/red warnings against failures (pure): episodes
    held as the nowcast holds a level (:data:`riskwarn.level_hold.BATCH_HYSTERESIS`), then
    :func:`models.site_levels.verify_episodes` (per failure and per episode) and per site-day."""
    from models.metrics import warning_metrics
    from models.site_levels import (
        episode_summary,
        site_day_table,
        verify_episodes,
        warning_episodes,
    )
    from riskwarn.level_hold import BATCH_HYSTERESIS

    hold = pd.Timedelta(hours=BATCH_HYSTERESIS.lower_after_steps)
    episodes = warning_episodes(levels, 3, hold)
    ev = events.dropna(subset=["site_id"])
    failures, episodes = verify_episodes(episodes, ev, pd.Timedelta(hours=horizon_h))
    out = episode_summary(failures, episodes)
    days = site_day_table(levels, episodes, ev, "Asia/Shanghai")
    out["site_days"] = warning_metrics(days["warned"].to_numpy(), days["failure"].to_numpy())
    out["site_days"]["n"] = float(len(days))
    out["hold_h"] = hold / pd.Timedelta(hours=1)
    return out


def ci(pair: tuple[float, float]) -> str:
    return f"95% CI {pair[0]:.2f}-{pair[1]:.2f} (Wilson)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--horizon", type=float, default=WINDOW_H, help="hours (default 72)")
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
    m = evaluate(levels, events, args.horizon)
    print(
        f"simulated city: size={args.size} seed={args.seed} sensors {first:%Y-%m-%d}..{last:%Y-%m-%d}"
    )
    print(f"sites scored hourly: {levels['site_id'].nunique()}, site-hours: {len(levels)}")
    print(
        f"orange/red episodes (held {m['hold_h']:.0f} h after the last orange/red hour, as "
        f"the nowcast holds a level): {m['episodes']}"
    )
    print(
        f"failures at monitored sites: {m['failures']}, warned (orange/red in force, or in "
        f"force within {args.horizon:.0f} h before): {m['warned']}  POD = {m['pod']:.2f}, "
        f"{ci(m['pod_ci'])}"
    )
    print(f"median lead time (failure - start of its episode): {m['median_lead_h']:.1f} h")
    print(
        f"episodes with no failure at the site in force or within {args.horizon:.0f} h after: "
        f"{m['false_episodes']} of {m['episodes']}, false-alarm ratio {m['far']:.2f}, "
        f"{ci(m['far_ci'])}"
    )
    d = m["site_days"]
    print(
        f"per site-day (local days, {d['n']:.0f}): warned {d['hits'] + d['false_alarms']:.0f}, "
        f"with a failure {d['hits']:.0f}, POD {d['pod']:.2f}, FAR {d['far']:.2f}, "
        f"POFD {d['pofd']:.4f}"
    )
    print(f"wall time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
