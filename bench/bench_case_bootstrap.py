"""Why the dispute case comparisons resample whole cases: the gate's comparison (the case
model minus the failed-mediation rule, average precision) with its 95 % CI resampling
forecast origins (the rule before 2026-12-06) and resampling cases (today's
``models.case_models.case_bootstrap_diff``), on the same rows of the simulated city.

    python bench/bench_case_bootstrap.py [--sim var/bench/sim_small] [--n-boot 1000]

A case stays open over several weekly origins and one escalation labels up to four of its
rows: drawing origins splits a case's rows between draws and narrows the CI.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def origin_ci(a: pd.DataFrame, b: pd.DataFrame, n_boot: int, seed: int = 0) -> list[float]:
    """The old rule: the paired AP difference's 95 % CI resampling whole origins."""
    from sklearn.metrics import average_precision_score as ap

    y, sa = a["label"].to_numpy(), a["score"].to_numpy()
    sb = b["score"].to_numpy()
    groups = [np.asarray(g) for g in a.groupby("origin").indices.values()]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        pick = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        if y[pick].min() == y[pick].max():
            continue
        diffs.append(ap(y[pick], sa[pick]) - ap(y[pick], sb[pick]))
    return [float(q) for q in np.quantile(diffs, [0.025, 0.975])]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", type=Path, default=ROOT / "var" / "bench" / "sim_small")
    p.add_argument("--n-boot", type=int, default=1000)
    a = p.parse_args(argv)
    # simulated parties are pseudonymised with a throw-away key (never stored)
    os.environ.setdefault("RISKWARN_PSEUDONYM_KEY", secrets.token_hex(32))
    from bench_sim_truth import ensure_sim, read_extracts

    from models.case_models import (
        CaseModelConfig,
        build_case_table,
        case_bootstrap_diff,
        run_case_backtest,
        weekly_origins,
    )

    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    ensure_sim(a.sim)
    meta = json.loads((a.sim / "simulation.json").read_text())
    crs, size, tz = meta["crs"], float(meta["cell_size_m"]), meta["timezone"]
    disputes = read_extracts(a.sim, "sim_disputes.yaml", "disputes.csv")
    devents = read_extracts(a.sim, "sim_dispute_events.yaml", "dispute_events.csv")
    config = CaseModelConfig(tz=tz, train_window_days=364)
    first = pd.Timestamp(disputes["opened_at"].min()).tz_convert(tz).tz_localize(None)
    last_day = pd.Timestamp(devents["event_at"].max()).tz_convert(tz).tz_localize(None)
    last = last_day.normalize() - pd.Timedelta(days=config.horizon_days)
    origins = weekly_origins(first + pd.Timedelta(days=7), last, config.step_days, tz)
    table = build_case_table(
        disputes, devents, origins, crs=crs, cell_size_m=size, tz=tz, horizon_days=30
    )
    start = (pd.Timestamp(meta["start"]) + pd.Timedelta(days=182)).tz_localize(tz)
    evaluated = origins[origins >= start.tz_convert("UTC")]
    scores = run_case_backtest(table, evaluated, config).scores
    keys = ["origin", "dispute_id"]
    model = scores[scores["method"] == "xgboost"].sort_values(keys, ignore_index=True)
    rule = scores[scores["method"] == "failed_mediations"].sort_values(keys, ignore_index=True)
    by_case = case_bootstrap_diff(model, rule, n_boot=a.n_boot)
    by_origin = origin_ci(model, rule, a.n_boot)
    positive = model[model["label"] == 1]
    print(
        f"rows {len(model)}, cases {model['dispute_id'].nunique()}, origins "
        f"{model['origin'].nunique()}, positive rows {len(positive)} from "
        f"{positive['dispute_id'].nunique()} escalating cases"
    )
    print(f"xgboost - failed_mediations, average precision: {by_case['diff']:+.4f}")
    print(f"  95% CI resampling origins ({a.n_boot}): [{by_origin[0]:+.4f}, {by_origin[1]:+.4f}]")
    lo, hi = by_case["ci"]
    print(f"  95% CI resampling cases   ({a.n_boot}): [{lo:+.4f}, {hi:+.4f}]")
    print(f"  width ratio cases/origins: {(hi - lo) / (by_origin[1] - by_origin[0]):.1f}")
    print(
        f"wall {time.perf_counter() - t0:.1f} s; load average {load0:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
