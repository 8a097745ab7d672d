"""Three Gorges: warning levels the sensor rules give the creeping Baishuihe / Bazimen points.

    .venv/bin/python bench/bench_threegorges.py --out var/bench/threegorges

Reads the monthly cumulative displacement through its source mapping
(configs/sources/threegorges_displacement.yaml), runs the geohazard sensor rules of
``riskwarn.warnings`` (``displacement_kinematics`` at monthly steps, ``sensor_levels``)
on every monitoring point over 2007-2012 and prints, per point, the highest level and
the number of months at each level. Neither landslide failed in 2007-2012: they creep
with seasonal steps when the reservoir is drawn down in the rainy season, so the rules
should give at most blue / yellow. Writes ``<out>/threegorges.json`` for bench/report.py.
The same measurement is asserted in tests/test_warnings.py
(``test_three_gorges_creeping_points_get_no_orange_or_red``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RISKWARN_SHARED_DATA", ROOT.parent / "shared" / "data"))
LEVELS = ("none", "blue", "yellow", "orange", "red")


def point_levels(readings: pd.DataFrame, tz: str, start: str, end: str) -> pd.DataFrame:
    """Monthly sensor-rule level per monitoring point (``sensor_id``) within [start, end)."""
    from riskwarn.warnings import displacement_kinematics, sensor_levels

    frames = []
    for point, g in readings.groupby("sensor_id", sort=True):
        series = g.set_index(pd.DatetimeIndex(g["observed_at"]).tz_convert(tz))["value"]
        k = displacement_kinematics(series.astype(float), "MS")
        lv = sensor_levels(k)
        frames.append(
            pd.DataFrame(
                {
                    "point": point,
                    "month": k.index.tz_localize(None).to_period("M").astype(str),
                    "level_rank": lv["sensor_level_rank"].to_numpy(),
                    "tangent_angle_deg": k["tangent_angle_deg"].to_numpy(),
                    "velocity_mm_per_day": k["velocity_mm_per_day"].to_numpy(),
                    "tertiary": k["tertiary"].to_numpy(),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    keep = (out["month"] >= start[:7]) & (out["month"] < end[:7])
    return out[keep].reset_index(drop=True)


def summarise(levels: pd.DataFrame, landslide_of: dict[str, str]) -> list[dict[str, Any]]:
    """Per point: landslide, months, highest level, months at each level, steepest step."""
    rows = []
    for point, g in levels.groupby("point", sort=True):
        counts = g["level_rank"].value_counts()
        rows.append(
            {
                "landslide": landslide_of.get(str(point), "?"),
                "point": str(point),
                "months": len(g),
                "highest": LEVELS[int(g["level_rank"].max())],
                **{f"months_{name}": int(counts.get(i, 0)) for i, name in enumerate(LEVELS)},
                "max_velocity_mm_per_day": float(g["velocity_mm_per_day"].max()),
                "tertiary_months": int(g["tertiary"].sum()),
            }
        )
    return sorted(rows, key=lambda r: (r["landslide"], r["point"]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "threegorges")
    p.add_argument("--start", default="2007-01-01")
    p.add_argument("--end", default="2013-01-01", help="exclusive")
    a = p.parse_args(argv)
    raw = DATA / "threegorges" / "displacement_monthly.csv"
    if not raw.exists():
        sys.stdout.write(f"skipped: {raw} absent\n")
        return 0
    from riskwarn.commands.backtest import read_source

    t0 = time.perf_counter()
    readings, tz = read_source(ROOT / "configs/sources/threegorges_displacement.yaml", raw)
    meta = pd.read_csv(raw, usecols=["landslide", "point"]).drop_duplicates()
    landslide_of = dict(zip(meta["point"], meta["landslide"], strict=True))
    levels = point_levels(readings, tz, a.start, a.end)
    rows = summarise(levels, landslide_of)
    wall = time.perf_counter() - t0
    command = "python bench/bench_threegorges.py " + " ".join(argv or sys.argv[1:])
    result = {"points": rows, "start": a.start, "end": a.end, "wall_s": wall, "command": command}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "threegorges.json").write_text(json.dumps(result, indent=2))
    sys.stdout.write(section_markdown(result))
    return 0


def section_markdown(result: dict[str, Any]) -> str:
    """The report section: one row per monitoring point."""
    rows = result["points"]
    worst = max((LEVELS.index(r["highest"]) for r in rows), default=0)
    lines = [
        "## Three Gorges: sensor-rule warning levels of the creeping Baishuihe and Bazimen points",
        "",
        f"Monthly cumulative displacement {result['start'][:7]} to before {result['end'][:7]}, "
        "monthly steps; rules of `riskwarn.warnings` (improved tangent angle bands, "
        "tertiary-creep and inverse-velocity rules; a step without sustained acceleration "
        "is capped at yellow). Neither landslide failed in the period.",
        "",
        "| landslide | point | months | highest | none | blue | yellow | orange | red "
        "| max velocity mm/day | tertiary months |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['landslide']} | {r['point']} | {r['months']} | {r['highest']} | "
            f"{r['months_none']} | {r['months_blue']} | {r['months_yellow']} | "
            f"{r['months_orange']} | {r['months_red']} | "
            f"{r['max_velocity_mm_per_day']:.1f} | {r['tertiary_months']} |"
        )
    n_yellow = sum(r["highest"] == "yellow" for r in rows)
    lines += [
        "",
        f"- {len(rows)} points; highest level over all: **{LEVELS[worst]}**; "
        f"{n_yellow} points reach yellow, none orange or red.",
        f"- Time {result['wall_s']:.1f} s. Command: `{result['command']}`",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
