"""Benchmark the model backtests on real data and print their figures.

    .venv/bin/python bench/bench_backtest.py chicago  --out var/bench/chicago_weekly
    .venv/bin/python bench/bench_backtest.py chicago  --daily --out var/bench/chicago_daily
    .venv/bin/python bench/bench_backtest.py chicago  --daily-full --out var/bench/chicago_daily_full

Each run goes through the same CLI a city would use (``riskwarn backtest ...``), records
the wall time in ``<out>/bench.json`` and leaves ``scores.parquet`` / ``metrics.json``
for ``bench/report.py`` (Hong Kong: bench/bench_hongkong.py). ``--daily-full``: Chicago
daily over all of 2016-2017 in eight quarterly runs pooled into ``pooled.json`` (heavy; one process for all 730
origins was killed at 8 GB; the default daily run covers 2016 Q1).
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


def chicago_args(
    out: Path, daily: bool, full: bool = False, period: tuple[str, str] | None = None
) -> list[str]:
    """CLI arguments of the Chicago backtest (issue 4: 250 m, EPSG:32616, 2016-2017).

    ``daily``: daily forecasts over 2016 Q1, all of 2016-2017 with ``full`` (one process:
    needs > 8 GB), or over ``period`` (first, last origin).
    """
    args = [
        "backtest", "incidents",
        "--source", str(ROOT / "configs/sources/chicago.yaml"),
        "--events", str(DATA / "chicago/aggravated_assaults_2010_2017.csv.gz"),
        "--cell-size", "250", "--crs", "EPSG:32616", "--out", str(out),
        "--location-groups", "street,residence",
    ]  # fmt: skip
    if daily:  # daily forecasts (weekly training origins)
        start, end = period or ("2016-01-01", "2017-12-31" if full else "2016-03-31")
        return [*args, "--horizon-days", "1", "--step-days", "1", "--start", start,
                "--end", end, "--train-step-days", "7",
                "--train-window-days", "364"]  # fmt: skip
    return [*args, "--horizon-days", "7", "--step-days", "7", "--start", "2016-01-01",
            "--end", "2017-12-31", "--train-window-days", "364"]  # fmt: skip


QUARTERS = [
    (f"{y}-{m:02d}-01", f"{y}-{m + 2:02d}-{d}")
    for y in (2016, 2017)
    for m, d in ((1, 31), (4, 30), (7, 30), (10, 31))
]  # 2016-2017 in quarters: first and last origin of each


def run_daily_quarters(
    out: Path, reuse: bool = False, finished_only: bool = False
) -> dict[str, Any]:
    """Chicago daily 2016-2017 as eight quarterly runs (one process would need > 8 GB).

    Each quarter is its own backtest (active area = cells with an event before the
    quarter); with ``reuse`` a quarter whose folder already holds a run is not rerun
    (its own recorded command is listed); with ``finished_only`` nothing is run and only
    the quarters that hold a finished run are pooled (``quarters`` names them).
    ``out/pooled.json`` pools them: hit rates weighted by each quarter's events, PAI =
    pooled HR / mean area share, with bootstrap CIs over all the daily windows
    (:func:`pooled_window_cis`).
    """
    runs, done = [], []
    for start, end in QUARTERS:
        sub = out / f"q_{start}"
        if finished_only and not (sub / "metrics.json").exists():
            continue
        done.append(start)
        if not ((reuse or finished_only) and (sub / "metrics.json").exists()):
            run(chicago_args(sub, daily=True, period=(start, end)), sub)
        runs.append(
            (
                json.loads((sub / "metrics.json").read_text()),
                json.loads((sub / "bench.json").read_text()),
            )
        )
    if not runs:
        raise SystemExit(f"no finished quarterly run under {out}")
    pooled = pool_hotspot_runs([m for m, _ in runs])
    pooled.update(pooled_window_cis([out / f"q_{start}" for start in done]))
    pooled["quarters"] = done
    pooled["commands"] = [b["command"] for _, b in runs]
    pooled["wall_s"] = sum(b["wall_s"] for _, b in runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pooled.json").write_text(json.dumps(pooled, indent=2))
    return pooled


OUTSIDE = "events_outside_area.parquet"


def pooled_window_cis(
    folders: list[Path],
    n_boot: int = 1000,
    fraction: float = 0.05,
    origins_from: str | None = None,
) -> dict[str, Any]:
    """Bootstrap CIs over every daily window of all runs, pooled, and paired differences.

    Each run's ``scores.parquet`` holds ``ceiling`` (the cell's count over the run's
    whole window) and ``ceiling_loo`` (the same without the scored day), so a cell-day's
    realised count is their difference: the per-window hit tables of every method are
    rebuilt from the published scores alone and resampled together (all origins of all
    runs, paired across methods). Every event of a window counts: the run's
    ``events_outside_area.parquet`` (events in cells outside its scored area) adds its
    misses. Empty if a run has no ``ceiling_loo`` or no ``events_outside_area.parquet``
    (written by runs before the standard count). ``origins_from`` (a local date): only the
    windows from that origin on (counts still come from the whole run's ceilings).
    """
    import numpy as np
    import pandas as pd

    from models.metrics import (
        bootstrap_ci,
        hotspot_windows,
        pai_statistic,
        paired_bootstrap_diff,
    )

    per_method: dict[str, list[pd.DataFrame]] = {}
    for folder in folders:
        sc = pd.read_parquet(folder / "scores.parquet")
        if "ceiling_loo" not in set(sc["method"]) or not (folder / OUTSIDE).exists():
            return {}
        outside = pd.read_parquet(folder / OUTSIDE)
        wide = sc.pivot_table(
            index=["origin", "cell_x", "cell_y"], columns="method", values="score"
        )
        counts = (wide["ceiling"] - wide["ceiling_loo"]).round()
        if origins_from is not None:
            origin = pd.to_datetime(wide.index.get_level_values("origin"))
            keep = np.asarray(origin >= pd.Timestamp(origins_from))
            wide, counts = wide[keep], counts[keep]
            later = pd.to_datetime(outside["origin"]) >= pd.Timestamp(origins_from)
            outside = outside[later.to_numpy()]
        for m in wide.columns:
            frame = pd.DataFrame({"score": wide[m], "label_count": counts}).reset_index()
            per_method.setdefault(str(m), []).append(
                hotspot_windows(frame, fractions=(fraction,), outside=outside)
            )
    windows = {
        m: pd.concat(w, ignore_index=True).sort_values("origin", ignore_index=True)
        for m, w in per_method.items()
    }
    stat = pai_statistic(fraction)
    ci = {m: list(bootstrap_ci(w, stat, n_boot=n_boot)) for m, w in windows.items()}
    baselines = [m for m in windows if m != "xgboost" and not m.startswith("ceiling")]
    paired = {}
    for b in baselines:
        d, lo, hi = paired_bootstrap_diff(windows["xgboost"], windows[b], stat, n_boot=n_boot)
        paired[b] = {"diff": d, "ci": [lo, hi]}
    return {
        "pai@0.05": {m: float(stat(w, None)) for m, w in windows.items()},
        "pai@0.05_ci": ci,
        "model_minus_baseline_pooled": paired,
        "n_windows_pooled": len(windows["xgboost"]),
    }


def pool_hotspot_runs(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool per-method hit rates of several runs over disjoint origins (event-weighted)."""
    methods: dict[str, Any] = {}
    for name in metrics[0]["methods"]:
        rows = [m["methods"][name] for m in metrics]
        events = sum(r["events"] for r in rows)
        res: dict[str, float] = {"events": events}
        for f in ("0.01", "0.05", "0.1"):
            hr = sum(r[f"hit_rate@{f}"] * r["events"] for r in rows) / events
            res[f"hit_rate@{f}"] = hr
            # pai = hr / share per run, so share = hr / pai (runs differ slightly in area)
            shares = [r[f"hit_rate@{f}"] / r[f"pai@{f}"] for r in rows if r[f"pai@{f}"]]
            res[f"pai@{f}"] = hr / (sum(shares) / len(shares))
        if "auc" in rows[0]:
            res["auc_mean_of_runs"] = sum(r["auc"] for r in rows) / len(rows)
        methods[name] = res
    x, ceil = methods["xgboost"], methods["ceiling"]
    base = max(
        (n for n in methods if n != "xgboost" and not n.startswith("ceiling")),
        key=lambda n: methods[n]["pai@0.05"],
    )
    gap = ceil["pai@0.05"] - methods[base]["pai@0.05"]
    loo = methods.get("ceiling_loo")
    gap_loo = loo["pai@0.05"] - methods[base]["pai@0.05"] if loo else 0.0
    per_run = []
    for m in metrics:
        d = m.get("model_minus_baseline", {}).get(base, {})
        per_run.append(
            {
                "n_origins": m["n_origins"],
                "xgboost_pai@0.05": m["methods"]["xgboost"]["pai@0.05"],
                "baseline_pai@0.05": m["methods"][base]["pai@0.05"],
                "diff": d.get("diff"),
                "ci": d.get("ci"),
            }
        )
    return {
        "methods": methods,
        "per_run": per_run,
        "best_baseline": base,
        "gap_closed_share": (x["pai@0.05"] - methods[base]["pai@0.05"]) / gap if gap > 0 else None,
        "gap_closed_share_loo": (
            (x["pai@0.05"] - methods[base]["pai@0.05"]) / gap_loo if gap_loo > 0 else None
        ),
        "n_origins": sum(m["n_origins"] for m in metrics),
        "events_outside_area": sum(m.get("events_outside_area", 0.0) for m in metrics),
        "counted_every_event": all("events_outside_area" in m for m in metrics),
        "n_active_cells": [m["n_active_cells"] for m in metrics],
        "n_runs": len(metrics),
    }


def run(args: list[str], out: Path) -> float:
    """Run the CLI in-process; write and return the wall time in seconds."""
    from riskwarn.cli import main

    t0 = time.perf_counter()
    rc = main(args)
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(rc)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(
        json.dumps({"wall_s": wall, "command": "riskwarn " + " ".join(args)}, indent=2)
    )
    return wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=["chicago"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--daily", action="store_true", help="Chicago: daily forecasts, 2016 Q1")
    p.add_argument("--daily-full", action="store_true", help="Chicago: daily, 2016-2017")
    p.add_argument(
        "--post-only",
        action="store_true",
        help="--daily-full: only pooled.json from the finished quarterly runs (none is run)",
    )
    p.add_argument("--reuse", action="store_true", help="--daily-full: keep finished quarters")
    a = p.parse_args(argv)
    if a.dataset == "chicago" and a.daily_full:
        pooled = run_daily_quarters(a.out, a.reuse or a.post_only, finished_only=a.post_only)
        sys.stdout.write(
            f"chicago daily 2016-2017: {pooled['n_origins']} origins in {pooled['n_runs']} "
            f"runs, {pooled['wall_s']:.0f} s; PAI@5% xgboost "
            f"{pooled['methods']['xgboost']['pai@0.05']:.2f} -> {a.out}\n"
        )
        return 0
    if not a.post_only:
        wall = run(chicago_args(a.out, a.daily), a.out)
        sys.stdout.write(f"{a.dataset}: {wall:.1f} s -> {a.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
