"""Three Gorges: warning levels the sensor rules give the creeping Baishuihe / Bazimen points.

    .venv/bin/python bench/bench_threegorges.py --out var/bench/threegorges [--served]

Reads the monthly cumulative displacement through its source mapping
(configs/sources/threegorges_displacement.yaml), runs the geohazard sensor rules of
``riskwarn.warnings`` (``displacement_kinematics`` at monthly steps, ``sensor_levels``)
on every monitoring point over 2007-2012 and prints, per point, the highest level and
the number of months at each level. Neither landslide failed in 2007-2012: they creep
with seasonal steps when the reservoir is drawn down in the rainy season, so the rules
should give at most blue / yellow. Writes ``<out>/threegorges.json`` for bench/report.py.
The same measurement is asserted in tests/test_warnings.py
(``test_three_gorges_creeping_points_get_no_orange_or_red``).

``--served``: also what the product would *serve* for these points with a champion site
model: the hourly nowcast (``riskwarn.nowcast.nowcast_geohazard``: sensor rules on the
healthy sensors, health checks, and the site model through
``riskwarn.nowcast.serve_site_model`` with its reading-spacing guard) run on a riskwarn
home holding the points (one site and one displacement sensor each; approximate
coordinates), the two rain gauges (configs/sources/threegorges_rainfall.yaml) and a
champion ``geohazard_hourly``: by default the small simulated city's model trained as
tests/test_geohazard_site_models.py trains it (simulation seed 3, 20 sites, 10-minute
readings), or ``--registry URI`` with a champion already in it. One origin per month:
the first whole hour after the month's reading (the freshest the model can be). Also
run with the guard off (``MODEL_SPACING_FACTOR`` = inf) to show what it prevents.
The same is asserted in tests/test_geohazard_site_models.py
(``test_three_gorges_served_levels_stay_below_orange``).
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
sys.path.insert(0, str(ROOT))  # the shared Three Gorges home: testkit/threegorges.py
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
    p.add_argument("--served", action="store_true", help="also the product's served levels")
    p.add_argument("--registry", help="MLflow URI with a champion geohazard_hourly")
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
    if a.served:
        rain, _ = read_source(
            ROOT / "configs/sources/threegorges_rainfall.yaml",
            DATA / "threegorges/rainfall_daily.csv",
        )
        result["served"] = served_result(
            readings, rain, landslide_of, tz, a.start, a.end, a.out, a.registry
        )
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "threegorges.json").write_text(json.dumps(result, indent=2))
    sys.stdout.write(section_markdown(result))
    return 0


def served_result(
    readings: pd.DataFrame,
    rain: pd.DataFrame,
    landslide_of: dict[str, str],
    tz: str,
    start: str,
    end: str,
    out: Path,
    registry: str | None,
) -> dict[str, Any]:
    """Served levels per point with the guard (the product) and without it."""
    import shutil

    from riskwarn import sensor_rules
    from testkit.threegorges import (
        month_origins,
        served_levels,
        threegorges_home,
        train_small_site_model,
    )

    t0 = time.perf_counter()
    work = out.resolve() / "served"
    shutil.rmtree(work, ignore_errors=True)
    uri = registry or train_small_site_model(work / "train")
    t_train = time.perf_counter() - t0
    origins = month_origins(readings, tz, start, end)
    # the served window reads 35 days before each origin; the rain of that window too
    found: dict[str, Any] = {"origins": len(origins), "train_s": t_train, "registry": registry}
    frames = {}
    for name, factor in (("guard", sensor_rules.MODEL_SPACING_FACTOR), ("no_guard", float("inf"))):
        saved = sensor_rules.MODEL_SPACING_FACTOR
        sensor_rules.MODEL_SPACING_FACTOR = factor
        try:
            t1 = time.perf_counter()
            settings, store = threegorges_home(work / name, readings, rain, landslide_of, uri)
            lv = served_levels(settings, store, origins)
            store.close()
        finally:
            sensor_rules.MODEL_SPACING_FACTOR = saved
        lv["month"] = [str(o.tz_convert(tz))[:7] for o in lv["origin"]]
        lv["refused"] = lv["reasons"].map(lambda r: any("Model not applicable" in x for x in r))
        frames[name] = lv
        lv.assign(reasons=lv["reasons"].map(" | ".join), origin=lv["origin"].astype(str)).to_csv(
            out / f"served_{name}.csv", index=False
        )  # every point-month: level, probability, reasons
        per_point = []
        for point, g in lv.groupby("point", sort=True):
            counts = g["level_rank"].value_counts()
            top = g.sort_values(["level_rank", "probability"], ascending=False).iloc[0]
            per_point.append(
                {
                    "landslide": landslide_of.get(point, "?"),
                    "point": point,
                    "highest": LEVELS[int(g["level_rank"].max())],
                    **{f"months_{n}": int(counts.get(i, 0)) for i, n in enumerate(LEVELS)},
                    "max_probability": None
                    if g["probability"].isna().all()
                    else float(g["probability"].max()),
                    "model_refused_months": int(g["refused"].sum()),
                    "highest_month": top["month"],
                }
            )
        found[name] = {"points": per_point, "wall_s": time.perf_counter() - t1}
    # the point-month the model without the guard rated highest, as served both ways
    off = frames["no_guard"]
    worst = off.loc[off["probability"].fillna(-1.0).idxmax()]
    on = frames["guard"]
    same = on.loc[(on["point"] == worst["point"]) & (on["origin"] == worst["origin"])].iloc[0]
    found["example"] = {
        "point": worst["point"],
        "month": worst["month"],
        "no_guard": {
            "level": LEVELS[int(worst["level_rank"])],
            "probability": float(worst["probability"]),
            "reasons": list(worst["reasons"]),
        },
        "guard": {"level": LEVELS[int(same["level_rank"])], "reasons": list(same["reasons"])},
    }
    found["spacing_factor"] = sensor_rules.MODEL_SPACING_FACTOR
    return found


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
    if result.get("served"):
        lines += ["", *served_markdown(result["served"], {r["point"]: r for r in rows})]
    return "\n".join(lines) + "\n"


def served_markdown(served: dict[str, Any], rules: dict[str, dict[str, Any]]) -> list[str]:
    """The product's served level per point beside the monthly rules' level."""
    guard = {r["point"]: r for r in served["guard"]["points"]}
    off = {r["point"]: r for r in served["no_guard"]["points"]}
    lines = [
        "### What the product serves for these points (rules + site model)",
        "",
        f"The hourly nowcast (`riskwarn.nowcast.nowcast_geohazard`) at {served['origins']} "
        "origins, the first whole hour after each month's reading, with a champion "
        "`geohazard_hourly` ("
        + (
            f"`{served['registry']}`"
            if served["registry"]
            else "the small simulated city's model, trained as tests/test_geohazard_site_models.py "
            "trains it"
        )
        + "). Served = max(model level, sensor rules on healthy sensors), at least blue when "
        "a sensor is unhealthy. The model is refused for a displacement sensor whose median "
        f"reading spacing exceeds {served['spacing_factor']:g} model steps "
        "(`riskwarn.sensor_rules.MODEL_SPACING_FACTOR`); 'guard off' = the same run with "
        "the factor set to infinity (the product before the guard).",
        "",
        "| landslide | point | monthly rules: highest | served: highest (months none/blue/"
        "yellow/orange/red) | model refused (months) | guard off: highest (months yellow+) "
        "| guard off: max probability (month) |",
        "|---|---|---|---|---|---|---|",
    ]
    for point in sorted(guard, key=lambda p: (guard[p]["landslide"], p)):
        g, o = guard[point], off[point]
        counts = "/".join(str(g[f"months_{n}"]) for n in LEVELS)
        high_off = sum(o[f"months_{n}"] for n in LEVELS[2:])
        prob = (
            "n/a"
            if o["max_probability"] is None
            else f"{o['max_probability']:.3f} ({o['highest_month']})"
        )
        lines.append(
            f"| {g['landslide']} | {point} | {rules.get(point, {}).get('highest', '?')} | "
            f"{g['highest']} ({counts}) | {g['model_refused_months']} | {o['highest']} "
            f"({high_off}) | {prob} |"
        )
    worst = max(LEVELS.index(r["highest"]) for r in guard.values())
    worst_off = max(LEVELS.index(r["highest"]) for r in off.values())
    yellow_off = sum(sum(r[f"months_{n}"] for n in LEVELS[2:]) for r in off.values())
    ex = served["example"]
    lines += [
        "",
        f"- Served with the guard: highest **{LEVELS[worst]}** over all points and months; "
        f"model refused at {sum(r['model_refused_months'] for r in guard.values())} of "
        f"{len(guard) * served['origins']} point-months. Guard off: highest "
        f"**{LEVELS[worst_off]}**, {yellow_off} point-months at yellow or above.",
        f"- The point-month the model rated highest without the guard, {ex['point']} "
        f"{ex['month']}: guard off **{ex['no_guard']['level']}** (probability "
        f"{ex['no_guard']['probability']:.3f}), reasons: "
        + "; ".join(f"“{r}”" for r in ex["no_guard"]["reasons"])
        + f". Served (guard): **{ex['guard']['level']}**, reasons: "
        + "; ".join(f"“{r}”" for r in ex["guard"]["reasons"])
        + ".",
        f"- Time: training {served['train_s']:.0f} s, nowcasts {served['guard']['wall_s']:.0f} s "
        f"(guard) + {served['no_guard']['wall_s']:.0f} s (guard off).",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
