"""The nowcast's sensor rules with and without the noise guard (issue 15).

    .venv/bin/python bench/bench_sensor_rules.py [--seeds 10] [--days 90]
        [--sim-sites 120 --sim-days 400]

1. Stationary creep (0.5 / 1 / 3 mm/day) plus reading noise (0.05 / 0.2 / 0.5 / 1 mm),
   hourly readings, the nowcast's hourly rules (``NOWCAST_RULES``): red episodes and
   Fukuzono forecasts over ``--seeds`` series of ``--days`` days each. No series fails,
   so every red is false.
2. The simulator's geohazard component (``bench/sim_sites.py``, seed 1, onset shift 1.0)
   with ``--sim-sites`` sites over ``--sim-days`` days: per sensor the rules' level every
   hour; orange/red episodes on sensors whose site does not fail, and for failing sites
   the hours from the first orange and the first red (within 144 h) to the failure.

``--site-steps N``: instead, the stream's evaluation of one hourly step of ``N`` sites
(one GNSS each, ``--history-days`` of 10-minute readings of creep with noise) that
complete it together, by the per-sensor path (``testkit.per_sensor.PerSensorStates``:
the nowcast's ``site_sensor_state`` before it went through the batched path, one
``displacement_kinematics`` per sensor) and by the batched one, in one process, back to back; ms per site-step and whether both give the
same levels and reasons:

    .venv/bin/python bench/bench_sensor_rules.py --site-steps 500

"guard off" is ``NOWCAST_RULES`` with the noise guard disabled (``noise_z`` and
``accel_factor`` -1e9, ``fit_steps`` 0): the rule before the guard, except that its
first third of a steady window (10 days) cannot be tertiary.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from riskwarn.sensor_rules import (
    NOWCAST_RULES,
    SensorRules,
    displacement_kinematics,
    rule_times_ns,
    sensor_levels,
)

OFF = replace(NOWCAST_RULES, noise_z=-1e9, accel_factor=-1e9, fit_steps=0)


def _episodes(flag: pd.Series) -> int:
    return int((flag & ~flag.shift(fill_value=False)).sum())


def noise_grid(rules: SensorRules, seeds: int, days: int) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01T00:00Z", periods=24 * days, freq="1h")
    hours = np.arange(len(idx))
    rows = []
    for creep in (0.5, 1.0, 3.0):
        for noise in (0.05, 0.2, 0.5, 1.0):
            red = orange = forecasts = 0
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                d = creep * hours / 24 + rng.normal(0.0, noise, len(idx))
                k = displacement_kinematics(pd.Series(d, index=idx), "1h", rules)
                lv = sensor_levels(k, rules)["sensor_level_rank"]
                red += _episodes(lv == 4)
                orange += _episodes(lv >= 3)
                forecasts += int(k["failure_in_hours"].notna().sum())
            rows.append(
                {
                    "creep_mm_per_day": creep,
                    "noise_mm": noise,
                    "red_episodes": red,
                    "orange_or_red_episodes": orange,
                    "fukuzono_forecast_hours": forecasts,
                }
            )
    return pd.DataFrame(rows)


def simulated(rules: SensorRules, frames: dict[str, pd.DataFrame]) -> dict[str, object]:
    r, sensors, ev = frames["readings"], frames["sensors"], frames["events"]
    disp = sensors[sensors["sensor_type"].isin(["gnss", "crack_meter"])].set_index("record_id")
    r = r[r["sensor_id"].isin(disp.index) & r["value"].notna()]
    fail = ev.dropna(subset=["site_id"]).groupby("site_id")["occurred_at"].min()
    counts = np.zeros(5, dtype=int)
    false_eps = {"gnss": 0, "crack_meter": 0}
    leads = []
    for sid, g in r.groupby("sensor_id"):
        # the rules' step convention (riskwarn.sensor_rules.rule_times_ns), as served
        at = pd.to_datetime(
            rule_times_ns(pd.DatetimeIndex(g["observed_at"]).as_unit("ns").asi8), utc=True
        )
        k = displacement_kinematics(pd.Series(g["value"].to_numpy(float), index=at), "1h", rules)
        lv = sensor_levels(k, rules)["sensor_level_rank"]
        counts += np.bincount(lv.to_numpy(), minlength=5)
        kind, tf = disp.loc[sid, "sensor_type"], fail.get(disp.loc[sid, "site_id"])
        if tf is None:
            false_eps[kind] += _episodes(lv >= 3)
            continue
        before = lv[lv.index < tf - pd.Timedelta(hours=144)]
        false_eps[kind] += _episodes(before >= 3)
        w = lv[(lv.index > tf - pd.Timedelta(hours=144)) & (lv.index <= tf)]
        lead = {
            lvl: (tf - w.index[w >= lvl].min()) / pd.Timedelta(hours=1)
            if (w >= lvl).any()
            else np.nan
            for lvl in (3, 4)
        }
        leads.append({"kind": kind, "orange_lead_h": lead[3], "red_lead_h": lead[4]})
    ld = pd.DataFrame(leads)
    per_kind = {}
    for kind, g in ld.groupby("kind"):
        per_kind[kind] = {
            "failing sensors": len(g),
            "warned orange+": int(g["orange_lead_h"].notna().sum()),
            "warned red": int(g["red_lead_h"].notna().sum()),
            "median orange lead h": float(g["orange_lead_h"].median()),
            "median red lead h": float(g["red_lead_h"].median()),
            "orange strictly before red": int((g["orange_lead_h"] > g["red_lead_h"]).sum()),
        }
    return {
        "site-hours per level 0..4": counts.tolist(),
        "false orange/red episodes (sensors of non-failing sites, or > 144 h before)": false_eps,
        "failing sites' sensors": per_kind,
    }


def site_steps(n: int, history_days: float) -> dict[str, object]:
    """ms per site-step of the stream's per-sensor and batched evaluation (module doc)."""
    from riskwarn.stream.state import Hysteresis, SensorStates

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit
    from testkit.per_sensor import PerSensorStates

    rng = np.random.default_rng(0)
    end = pd.Timestamp("2026-11-20", tz="UTC")
    t = pd.date_range(end - pd.Timedelta(days=history_days), end, freq="10min", inclusive="left")
    days = np.arange(len(t)) / 144
    r = pd.concat(
        [
            pd.DataFrame(
                {
                    "sensor_id": f"S{i:04d}",
                    "observed_at": t,
                    "quantity": "displacement_mm",
                    "value": (rng.uniform(0.05, 0.5) * days + rng.normal(0, 0.01, len(t))).round(3),
                }
            )
            for i in range(n)
        ],
        ignore_index=True,
    )
    sites: dict[str, str | None] = {f"S{i:04d}": f"SITE{i:04d}" for i in range(n)}
    closing = pd.DataFrame(
        {"sensor_id": list(sites), "observed_at": end, "quantity": "displacement_mm", "value": 0.0}
    )
    out: dict[str, object] = {"sites": n, "history_days": history_days}
    levels = []
    for batched in (False, True):
        st = (SensorStates if batched else PerSensorStates)(hysteresis=Hysteresis(1, 1))
        st.add(r, sites)
        due = st.due(st.add(closing, sites))
        t0, c0 = time.perf_counter(), time.process_time()
        rounds = st.evaluate_within(due, 1e9)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        got = {s: lv for rd in rounds for s, lv in rd.items()}
        name = "batched" if batched else "per_sensor"
        out[f"{name}_site_steps"] = len(got)
        out[f"{name}_ms_per_site_step"] = round(1000 * dt / max(len(got), 1), 2)
        out[f"{name}_cpu_ms_per_site_step"] = round(1000 * cpu / max(len(got), 1), 2)
        levels.append({s: (lv.level_rank, lv.reason_items, lv.evidence) for s, lv in got.items()})
    out["same_levels_reasons_evidence"] = levels[0] == levels[1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--sim-sites", type=int, default=120)
    parser.add_argument("--sim-days", type=int, default=400)
    parser.add_argument("--site-steps", type=int, default=0)
    parser.add_argument("--history-days", type=float, default=31.0)
    args = parser.parse_args()
    if args.site_steps:
        import json

        print(json.dumps(site_steps(args.site_steps, args.history_days)))
        return
    t0 = time.perf_counter()
    pd.set_option("display.width", 200)
    grids = {
        name: noise_grid(rules, args.seeds, args.days)
        for name, rules in (("guard off", OFF), ("guard on", NOWCAST_RULES))
    }
    both = grids["guard off"].merge(
        grids["guard on"], on=["creep_mm_per_day", "noise_mm"], suffixes=(" (off)", " (on)")
    )
    print(f"stationary creep, {args.seeds} seeds x {args.days} days each, hourly readings:")
    print(both.to_string(index=False))
    from sim_sites import sim_site_frames

    frames = sim_site_frames(1, args.sim_sites, args.sim_days, onset_shift=1.0)
    n_fail = int(frames["events"]["site_id"].notna().sum())
    print(
        f"\nsimulator: seed 1, {args.sim_sites} sites, {args.sim_days} days, {n_fail} failures at monitored sites"
    )
    for name, rules in (("guard off", OFF), ("guard on", NOWCAST_RULES)):
        print(f"{name}: {simulated(rules, frames)}")
    print(f"wall time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
