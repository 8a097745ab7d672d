"""The robust GNSS velocity's rule logic on real displacement: the Three Gorges points.

    .venv/bin/python bench/gnss_blocks_threegorges.py

The only real displacement series in ../shared/data are the Baishuihe / Bazimen monthly
points (2006-2012; creeping with seasonal steps, no failure: a good rule raises at most
yellow there). They are monthly, so they cannot show hourly GNSS noise; they do show what
the block tests (``SensorRules.robust_blocks``) make of real seasonal steps. The served
monthly rules (``SensorRules()``) against the same rules with a Theil-Sen velocity over W
months (``robust_steps`` W) and the tests on B non-overlapping windows (``robust_blocks``
B), per point: highest level and (months at orange or above). Every orange/red is listed.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from riskwarn.sensor_rules import SensorRules, displacement_kinematics, sensor_levels

DATA = Path(
    os.environ.get(
        "RISKWARN_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


def main() -> None:
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "|", subprocess.getoutput("uptime"))
    raw = pd.read_csv(DATA / "threegorges" / "displacement_monthly.csv")
    base = SensorRules()
    variants = {
        "served": base,
        **{f"TS{w}": replace(base, robust_steps=w) for w in (3, 4)},
        **{
            f"TS{w}b{b}": replace(base, robust_steps=w, robust_blocks=b)
            for w, b in ((3, 2), (4, 2), (3, 3), (4, 3))
        },
    }
    rows, alarms = [], []
    for (ls, pt), g in raw.groupby(["landslide", "point"]):
        at = pd.to_datetime(g["month"]).dt.tz_localize("UTC")
        s = pd.Series(g["dF_mm"].to_numpy(float), index=at).dropna()
        row = {"point": f"{ls} {pt}", "months": len(s), "moved mm": round(s.iloc[-1] - s.iloc[0])}
        for name, r in variants.items():
            k = displacement_kinematics(s, "MS", r)
            lv = sensor_levels(k, r)
            rank = lv["sensor_level_rank"].to_numpy()
            row[name] = f"{int(rank.max())} ({int((rank >= 3).sum())})"
            for j in np.flatnonzero(rank >= 3):
                alarms.append(f"{name} {ls} {pt} {k.index[j]:%Y-%m}: {lv['sensor_reason'].iloc[j]}")
        rows.append(row)
    print("highest level (0 none .. 4 red) and (months at orange or above):")
    print(pd.DataFrame(rows).to_string(index=False))
    print("\norange/red months:")
    print("\n".join(alarms) or "none")


if __name__ == "__main__":
    main()
