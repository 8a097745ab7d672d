"""Hong Kong landslides: the city-wide nowcast beside the rain rules, rolling 2005-2014.

    .venv/bin/python bench/bench_hongkong.py --out var/bench/hongkong [--n-boot 1000]

1. ``riskwarn backtest geohazard`` (the CLI a city would run) over 2005-2014 with yearly
   rolling origins, the ex-post ``ceiling_crossfit`` and month-block bootstrap CIs:
   ``metrics.json``, ``citywide.parquet``, ``scores.parquet``;
2. the design comparison on 1995-2004 (model variants on the years before the reported
   window, where the design was chosen), point values;
3. the per-cell prior's smoothing judged within landslide days, 1995-2004 and 2005-2014.

Writes ``<out>/hongkong.json`` (everything :func:`section_markdown` prints) and prints the
section; ``bench/report.py --hongkong DIR`` includes it in docs/benchmarks-models.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RISKWARN_SHARED_DATA", ROOT.parent / "shared" / "data"))
LANDSLIDES = ("configs/sources/hongkong_landslides.yaml", "hongkong/landslides_1984_2014.csv")
RAINFALL = ("configs/sources/hongkong_rainfall.yaml", "hongkong/hko_daily_rainfall_1884_2014.csv")
WINDOW = ("2005-01-01", "2014-12-31")
DESIGN_WINDOW = ("1995-01-01", "2004-12-31")
SUBSET = ("2010-01-01", "2014-12-31")  # the window of the previous report, for continuity


def cli_args(out: Path, n_boot: int) -> list[str]:
    """The backtest command: 2005-2014, yearly origins, crossfit, bootstrap CIs."""
    return [
        "backtest", "geohazard",
        "--source", str(ROOT / LANDSLIDES[0]), "--events", str(DATA / LANDSLIDES[1]),
        "--rainfall-source", str(ROOT / RAINFALL[0]), "--rainfall", str(DATA / RAINFALL[1]),
        "--cell-size", "1000", "--crs", "EPSG:2326", "--horizon-days", "1",
        "--start", WINDOW[0], "--end", WINDOW[1], "--crossfit", "--n-boot", str(n_boot),
        "--out", str(out),
    ]  # fmt: skip


def design_variants() -> dict[str, dict[str, Any]]:
    """Model variants compared on 1995-2004 (GeohazardSpec / CountModelParams changes)."""
    calendar = ("day_of_week", "is_public_holiday")
    history = ("landslides_prev_1d", "landslides_prev_7d", "landslides_prev_30d")
    rules = ("effective_rain_mm", "rain_3d_mm")
    return {
        "chosen (all inputs, cap 20, 300 rounds, depth 2, last layer, rule band)": {},
        # severity, second step (2026-12-06 evening): the effective-rain rule as a band
        "without the rule band (the design of 2026-12-06 afternoon)": {
            "model": {"floor_input": None}
        },
        "rule band 1.25 (both ways)": {"model": {"floor_band": 1.25, "floor_cap_band": 1.25}},
        "rule band 2 (both ways)": {"model": {"floor_band": 2.0, "floor_cap_band": 2.0}},
        "rule band 1.25, rule labels capped at 20": {
            "model": {"floor_band": 1.25, "floor_cap_band": 1.25, "floor_label_cap": 20}
        },
        "rule band 2 below, 1.5 above, rule labels capped at 20": {
            "model": {"floor_band": 2.0, "floor_label_cap": 20}
        },
        "rule band 2, rule labels capped at 20": {
            "model": {"floor_band": 2.0, "floor_cap_band": 2.0, "floor_label_cap": 20}
        },
        "rule band 2, knee 98%, rule labels capped at 20": {
            "model": {
                "floor_band": 2.0,
                "floor_cap_band": 2.0,
                "floor_label_cap": 20,
                "floor_knee_quantile": 0.98,
            }
        },
        "rule band 1: the rule's count above the knee": {
            "model": {"floor_band": 1.0, "floor_cap_band": 1.0}
        },
        "rule band, knee at the 98% quantile": {"model": {"floor_knee_quantile": 0.98}},
        "rule band, rule labels capped at 20": {"model": {"floor_label_cap": 20}},
        "rule floor only (band 1, no ceiling), knee 95%, rule labels uncapped": {
            "model": {
                "floor_knee_quantile": 0.95,
                "floor_band": 1.0,
                "floor_cap_band": None,
                "floor_label_cap": None,
            }
        },
        "rule band without the last layer": {"model": {"stack_inputs": ()}},
        # severity, first step (2026-12-06 afternoon): the rules' order kept where the trees
        # go flat
        "without the last layer and the rule band (the design before 2026-12-06)": {
            "model": {"stack_inputs": (), "floor_input": None}
        },
        "last layer above the 95% quantiles (no band)": {
            "model": {"stack_knee_quantile": 0.95, "floor_input": None}
        },
        "last layer on effective rain only (no band)": {
            "model": {"stack_inputs": rules[:1], "floor_input": None}
        },
        "last layer above the 99% quantiles (no band)": {
            "model": {"stack_knee_quantile": 0.99, "floor_input": None}
        },
        "last layer, labels capped at 50 (no band)": {
            "model": {"stack_label_cap": 50, "floor_input": None}
        },
        "boosted from the rule (effective-rain GLM as base margin, GLM labels cap 20)": {
            "model": {
                "stack_inputs": (),
                "floor_input": None,
                "offset_inputs": rules[:1],
                "offset_label_cap": 20,
            }
        },
        "boosted from the rule, GLM uncapped": {
            "model": {"stack_inputs": (), "floor_input": None, "offset_inputs": rules[:1]}
        },
        "boosted from the rule, GLM slope x 0.5": {
            "model": {
                "stack_inputs": (),
                "floor_input": None,
                "offset_inputs": rules[:1],
                "offset_label_cap": 20,
                "offset_slope_scale": 0.5,
            }
        },
        "without the reporting calendar": {"drop_inputs": calendar},
        "without the reporting era": {"drop_inputs": ("era_landslide_days_per_year",)},
        "without earlier landslides": {"drop_inputs": history},
        "label cap 50": {"model": {"label_cap": 50}},
        "no label cap": {"model": {"label_cap": 1_000_000}},
        "150 rounds": {"model": {"rounds": 150}},
        "600 rounds": {"model": {"rounds": 600}},
        "depth 3": {"model": {"max_depth": 3}},
    }


def design_comparison(rain: Any, days: Any, tz: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Point metrics of each variant (and, with the chosen one, the rules) on 1995-2004, and
    the numbers of event days there."""
    from dataclasses import replace

    import pandas as pd
    from scipy.stats import spearmanr

    from features.rain_indices import rain_indices
    from models.citywide_nowcast import CountModelParams
    from models.geohazard import GeohazardSpec, run_citywide_backtest
    from models.nowcast_skill import day_skill

    eff = rain_indices(rain)["effective_rain_mm"]

    base = GeohazardSpec(
        tz=tz, start=pd.Timestamp(DESIGN_WINDOW[0]), end=pd.Timestamp(DESIGN_WINDOW[1])
    )
    out: dict[str, Any] = {}
    n_days: dict[str, int] = {}
    for i, (name, change) in enumerate(design_variants().items()):
        spec = replace(
            base,
            model=replace(CountModelParams(), **change.get("model", {})),
            drop_inputs=change.get("drop_inputs", ()),
            rules=base.rules if i == 0 else (),
        )
        city, _ = run_citywide_backtest(rain, days, spec)
        n = city.drop_duplicates("date")["n_events"].to_numpy()
        n_days = {"any": int((n >= 1).sum()), "major": int((n >= spec.major_threshold).sum())}
        for method, g in city.groupby("method"):
            label = name if method == "xgboost" else f"rule: {method}"
            counts = g["n_events"].to_numpy()
            out[label] = day_skill(counts, g, spec.major_threshold)
            # how closely the score orders the major days as the effective-rain rule does
            major = counts >= spec.major_threshold
            e = eff.reindex(pd.to_datetime(g["date"])).to_numpy()[major]
            agree = spearmanr(g["score"].to_numpy()[major], e).statistic
            out[label]["severe"]["agreement_effective_rain"] = float(agree)
    return out, n_days


def prior_comparison(
    cells_ev: Any, tz: str, start: str, end: str, smooths: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
) -> dict[str, dict[str, float]]:
    """Within-day hit rates of the susceptibility prior alone on the landslide days of
    [start, end], for several smoothing widths (cells); active cells = before ``start``."""
    import pandas as pd

    from features.cells import active_cells
    from models.geohazard import cell_daily_scores, cell_hit_rates

    s0 = pd.Timestamp(start).tz_localize(tz).tz_convert("UTC")
    e0 = pd.Timestamp(end).tz_localize(tz).tz_convert("UTC") + pd.Timedelta(days=1)
    cells = active_cells(cells_ev, s0)
    win = cells_ev[(cells_ev["occurred_at"] >= s0) & (cells_ev["occurred_at"] < e0)]
    local = pd.DatetimeIndex(win["occurred_at"]).tz_convert(tz).tz_localize(None).normalize()
    city = pd.DataFrame({"date": sorted(set(local.date)), "p_any": 1.0, "method": "prior"})
    out = {}
    for smooth in smooths:
        sc = cell_daily_scores(city, cells_ev, cells, tz, smooth_cells=smooth)
        hr = cell_hit_rates(sc, win, tz)["prior"]
        out[f"{smooth:g}"] = {k: v for k, v in hr.items() if k.startswith("day_")}
    return out


def subset_skill(out: Path, start: str, end: str, major: int) -> dict[str, Any]:
    """Point metrics of every method on the days [start, end] of the run's citywide.parquet."""
    import pandas as pd

    from models.nowcast_skill import day_skill

    city = pd.read_parquet(out / "citywide.parquet")
    d = pd.to_datetime(city["date"])
    city = city[(d >= start) & (d <= end)]
    return {
        str(m): day_skill(g["n_events"].to_numpy(), g, major) for m, g in city.groupby("method")
    }


def run(out: Path, n_boot: int = 1000, design: bool = True) -> dict[str, Any]:
    """Run everything; write and return ``hongkong.json``."""
    from features.cells import assign_cells
    from features.landslide_reporting import landslide_days
    from models.geohazard import daily_rain
    from riskwarn.cli import main as cli
    from riskwarn.commands.backtest import read_source, write_json

    args = cli_args(out, n_boot)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = "load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    t0 = time.perf_counter()
    if cli(args) != 0:
        raise SystemExit("riskwarn backtest geohazard failed")
    res: dict[str, Any] = {
        "command": "riskwarn " + " ".join(args),
        "backtest_wall_s": time.perf_counter() - t0,
        "metrics": json.loads((out / "metrics.json").read_text()),
        "window": WINDOW,
        "design_window": DESIGN_WINDOW,
    }
    major = int(res["metrics"]["major_threshold"])
    res["subset"] = {"window": SUBSET, "methods": subset_skill(out, *SUBSET, major)}
    ev, tz = read_source(ROOT / LANDSLIDES[0], DATA / LANDSLIDES[1])
    t1 = time.perf_counter()
    if design:
        readings, _ = read_source(ROOT / RAINFALL[0], DATA / RAINFALL[1])
        res["design"], res["design_n_days"] = design_comparison(
            daily_rain(readings, tz), landslide_days(ev, tz), tz
        )
        res["design_wall_s"] = time.perf_counter() - t1
    cells_ev = assign_cells(ev, "EPSG:2326", 1000.0).dropna(subset=["cell_x", "cell_y"])
    cells_ev = cells_ev.astype({"cell_x": "int64", "cell_y": "int64"})
    res["prior_within_day"] = {
        f"{a[:4]}-{b[:4]}": prior_comparison(cells_ev, tz, a, b) for a, b in (DESIGN_WINDOW, WINDOW)
    }
    res["wall_s"] = time.perf_counter() - t0
    res["started_utc"] = started
    res["load_at_start"] = load_start
    res["load_at_end"] = "load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    write_json(out / "hongkong.json", res)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--no-design", action="store_true", help="skip the 1995-2004 comparison")
    a = p.parse_args(argv)
    if not (DATA / LANDSLIDES[1]).exists():
        sys.stdout.write(f"skipped: {DATA / LANDSLIDES[1]} is absent\n")
        return 0
    res = run(a.out, a.n_boot, design=not a.no_design)
    from hongkong_section import section_markdown

    sys.stdout.write(section_markdown(res))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
