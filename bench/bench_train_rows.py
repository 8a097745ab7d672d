"""Fewer training rows by fewer origins: paired backtests of training-origin settings.

    .venv/bin/python bench/bench_train_rows.py chicago --out DIR \\
        [--variants ref=728:7,A=364:7,B=728:14] [--refit-days 84] [--only B] [--compare-only]
    .venv/bin/python bench/bench_train_rows.py cincinnati --out DIR --variants ref=728:7,A=364:7
    .venv/bin/python bench/bench_train_rows.py chicago --out DIR --variants ref=364:7,bin64=364:7:64

Runs ``riskwarn backtest incidents`` once per variant (``NAME=WINDOW:STEP[:MAXBIN]``: its
``--train-window-days`` and ``--train-step-days``, and ``--max-bin`` when given; the first
variant is the reference) on
the same data, protocol and evaluation origins: ``chicago`` is bench/bench_backtest.py's
weekly protocol (2016-2017, 250 m), any other case one of bench/bench_cities.py's cities;
only those options (and ``--refit-days`` when given, the same for every variant) differ
from the case's own command. Each run's folder
(``DIR/<name>``) gets ``bench.json`` (wall and CPU seconds, load averages before and after,
the command); a folder that already holds a finished run is not run again. ``--only``:
run only those variants (several processes may share ``DIR``); ``--compare-only``: run
nothing. Then, for every variant after the first, PAI@1/5/10 % of its model minus the
reference's with paired bootstrap 95 % CIs over the forecast windows (every event counted;
bench/bench_cities.py's ``paired_diffs`` on the two runs' scores merged), printed and
written to ``DIR/train_rows.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

FRACTIONS = ("0.01", "0.05", "0.1")


def case_args(case: str, out: Path) -> list[str]:
    """The case's own ``riskwarn`` arguments (its protocol), writing to ``out``."""
    if case == "chicago":
        from bench_backtest import chicago_args

        return chicago_args(out, daily=False)
    from bench_cities import CITIES

    cities = {c.name: c for c in CITIES}
    if case not in cities:
        raise SystemExit(f"unknown case {case!r}: chicago or one of {sorted(cities)}")
    return cities[case].args(out)


def with_option(args: list[str], flag: str, value: str) -> list[str]:
    """``args`` with ``flag``'s value set to ``value`` (appended when absent)."""
    out = list(args)
    if flag in out:
        out[out.index(flag) + 1] = value
        return out
    return [*out, flag, value]


def parse_variants(text: str) -> dict[str, tuple[int, int, int | None]]:
    """``ref=728:7,A=364:7,C=728:7:64`` -> {name: (train window days, train step days,
    max_bin or None: the model's)}, in order."""
    variants: dict[str, tuple[int, int, int | None]] = {}
    for item in text.split(","):
        name, _, setting = item.strip().partition("=")
        window, _, rest = setting.partition(":")
        step, _, max_bin = rest.partition(":")
        if not name or not window or not step:
            raise SystemExit(f"variant {item!r}: expected NAME=WINDOW:STEP[:MAXBIN]")
        variants[name] = (int(window), int(step), int(max_bin) if max_bin else None)
    if len(variants) < 2:
        raise SystemExit("need a reference and at least one candidate")
    return variants


def variant_args(
    case: str,
    out: Path,
    window: int,
    step: int,
    refit_days: int | None = None,
    max_bin: int | None = None,
) -> list[str]:
    args = with_option(case_args(case, out), "--train-window-days", str(window))
    if refit_days is not None:
        args = with_option(args, "--refit-days", str(refit_days))
    if max_bin is not None:
        args = with_option(args, "--max-bin", str(max_bin))
    return with_option(args, "--train-step-days", str(step))


def run_variant(args: list[str], out: Path) -> dict[str, Any]:
    """Run the backtest in-process; record wall, CPU (this process) and load averages."""
    from riskwarn.cli import main

    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    rc = main(args)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    if rc != 0:
        raise SystemExit(f"riskwarn backtest exited {rc}: {' '.join(args)}")
    bench = {
        "wall_s": wall,
        "cpu_s": (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime),
        "started_utc": started,
        "ended_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_before": list(load0),
        "load_after": list(os.getloadavg()),
        "peak_rss_mb": c1.ru_maxrss / 1024,
        "command": "riskwarn " + " ".join(args),
    }
    (out / "bench.json").write_text(json.dumps(bench, indent=2))
    return bench


def finished(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").exists() and (run_dir / "bench.json").exists()


def compare(ref_dir: Path, cand_dir: Path, work: Path) -> dict[str, dict[str, Any]]:
    """Candidate minus reference (xgboost), paired over the same windows."""
    import pandas as pd
    from bench_cities import paired_diffs

    work.mkdir(parents=True, exist_ok=True)
    s_ref = pd.read_parquet(ref_dir / "scores.parquet")
    s_cand = pd.read_parquet(cand_dir / "scores.parquet")
    xc = s_cand[s_cand["method"] == "xgboost"].assign(method="xgboost_candidate")
    pd.concat([s_ref, xc], ignore_index=True).to_parquet(work / "scores.parquet", index=False)
    outside = ref_dir / "events_outside_area.parquet"
    if outside.exists():
        shutil.copy(outside, work / "events_outside_area.parquet")
    return paired_diffs(work, "xgboost_candidate", "xgboost")


def summary(run_dir: Path) -> dict[str, Any]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    m = metrics["methods"]["xgboost"]
    bench = json.loads((run_dir / "bench.json").read_text())
    return {
        "pai": {f"pai@{f}": m[f"pai@{f}"] for f in FRACTIONS},
        "events": m.get("events"),
        "n_origins": metrics.get("n_origins"),
        "n_active_cells": metrics.get("n_active_cells"),
        **{k: bench.get(k) for k in ("wall_s", "cpu_s", "started_utc", "ended_utc")},
        **{k: bench.get(k) for k in ("load_before", "load_after", "peak_rss_mb", "command")},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", help="chicago, or a city of bench/bench_cities.py")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", default="ref=728:7,A=364:7,B=728:14")
    ap.add_argument("--only", default=None, help="comma list of variants to run")
    ap.add_argument("--compare-only", action="store_true")
    ap.add_argument(
        "--refit-days",
        type=int,
        default=None,
        help="every variant's --refit-days (default: the case's own; the city's training "
        "refits every 84 days)",
    )
    a = ap.parse_args(argv)
    variants = parse_variants(a.variants)
    only = set(a.only.split(",")) if a.only else set(variants)
    if not only <= set(variants):
        ap.error(f"--only names variants not in --variants: {sorted(only - set(variants))}")
    for name, (window, step, max_bin) in variants.items():
        run_dir = a.out / name
        if a.compare_only or name not in only or finished(run_dir):
            continue
        args = variant_args(a.case, run_dir, window, step, a.refit_days, max_bin)
        bench = run_variant(args, run_dir)
        print(
            f"{a.case} {name} (window {window}, step {step}, max_bin {max_bin or 'default'}): "
            f"{bench['wall_s']:.1f} s wall"
        )
    names = list(variants)
    ref = names[0]
    if not all(finished(a.out / n) for n in names):
        print("not every variant has finished; no comparison yet")
        return 0
    res: dict[str, Any] = {"case": a.case, "reference": ref, "variants": {}}
    for name in names:
        window, step, max_bin = variants[name]
        res["variants"][name] = {
            "window": window,
            "step": step,
            "max_bin": max_bin,
            **summary(a.out / name),
        }
    for name in names[1:]:
        diffs = compare(a.out / ref, a.out / name, a.out / f"paired_{name}")
        ref_pai = res["variants"][ref]["pai"]
        res["variants"][name]["minus_reference"] = {
            f: {**d, "lower_over_reference": d["ci"][0] / ref_pai[f"pai@{f}"]}
            for f, d in diffs.items()
        }
    (a.out / "train_rows.json").write_text(json.dumps(res, indent=2, default=str))
    print(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
