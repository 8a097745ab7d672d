"""Why the robust GNSS velocity (``SensorRules.robust_steps`` 48) raises red on sites that
never fail: month of each red episode's start, the robust velocity against the creep, and
the movement over the 48 h before and the 7 days after (docs/benchmarks.md, "Robust GNSS
velocity").

    /work/wt/heavy nice -n 5 .venv/bin/python bench/gnss_robust_false_reds.py \
        var/bench/sim_hourly_s1_d548   # the --cache of bench_sensor_false_alarms.py
"""

import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from riskwarn.sensor_rules import NOWCAST_RULES, displacement_kinematics, sensor_levels

print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
d = sys.argv[1] if len(sys.argv) > 1 else "var/bench/sim_hourly_s1_d548"
r = pd.read_parquet(f"{d}/readings.parquet")
s = pd.read_parquet(f"{d}/sensors.parquet")
ev = pd.read_parquet(f"{d}/events.parquet")
truth = pd.read_parquet(f"{d}/truth.parquet").set_index("site_id")
fail = set(ev["site_id"].dropna())
g = s[(s["sensor_type"] == "gnss") & ~s["site_id"].isin(fail)].set_index("record_id")
rules = replace(NOWCAST_RULES, robust_steps=48)
rows = []
r = r[r["sensor_id"].isin(g.index) & r["value"].notna()]
for sid, x in r.groupby("sensor_id"):
    ser = pd.Series(x["value"].to_numpy(float), index=pd.DatetimeIndex(x["observed_at"]))
    k = displacement_kinematics(ser, "1h", rules)
    lv = sensor_levels(k, rules)["sensor_level_rank"].to_numpy()
    on = lv >= 4
    starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
    for i in starts:
        t = k.index[i]
        site = g.loc[sid, "site_id"]
        v0 = truth.loc[site, "v0_mm_per_day"]
        rows.append(
            {
                "sensor": sid,
                "site": site,
                "at": t,
                "month": t.month,
                "robust_v": round(k["velocity_mm_per_day"].iloc[i], 2),
                "creep_v": round(k["creep_velocity_mm_per_day"].iloc[i], 2),
                "v0_truth": round(v0, 3),
                "moved_48h_mm": round(
                    k["displacement_mm"].iloc[i] - k["displacement_mm"].iloc[max(i - 48, 0)], 1
                ),
                "moved_next_7d_mm": round(
                    k["displacement_mm"].iloc[min(i + 168, len(k) - 1)]
                    - k["displacement_mm"].iloc[i],
                    1,
                ),
            }
        )
out = pd.DataFrame(rows)
print(len(out), "red episodes on", out["site"].nunique(), "non-failing GNSS sites")
print("by month:", out["month"].value_counts().sort_index().to_dict())
print(
    out[["robust_v", "creep_v", "v0_truth", "moved_48h_mm", "moved_next_7d_mm"]]
    .describe()
    .round(2)
    .to_string()
)
