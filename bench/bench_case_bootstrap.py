"""Why the dispute case comparisons resample whole cases: the gate's comparison (the case
model minus the failed-mediation rule, average precision) with its 95 % CI resampling
forecast origins (the rule before 2026-12-06) and resampling cases (today's
``models.case_models.case_bootstrap_diff``), on the same rows of the simulated city.

    python bench/bench_case_bootstrap.py [--sim var/bench/sim_small] [--n-boot 1000]

A case stays open over several weekly origins and one escalation labels up to four of its
rows: drawing origins splits a case's rows between draws and narrows the CI.

It also counts every escalation of the window (``models.case_models.escalations_in_window``):
how many no row scored (opened and escalated between two weekly origins, or escalated
after closing), how many of those a daily origin (serving's local midnight) would have
scored, and each method's escalated cases flagged in the top 10 % / 20 % of the open cases
at an origin before the escalation, the never-scored ones as misses for every method.
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


def daily_scored(never: pd.DataFrame, events: pd.DataFrame, tz: str) -> pd.Series:
    """Whether each never-scored escalation had a local midnight after its case opened, at
    or before the escalation, with the case not closed before it: a daily origin (serving
    scores at every local midnight) would have scored it."""
    from features.cells import latest_versions

    ev = latest_versions(events)
    closed = (
        ev[ev["event_type"] == "closed"].groupby(ev["dispute_id"].astype(str))["event_at"].min()
    )
    opened = pd.to_datetime(never["opened_at"], utc=True).dt.tz_convert(tz)
    midnight = (opened.dt.normalize() + pd.Timedelta(days=1)).dt.tz_convert("UTC")
    shut = never["dispute_id"].map(closed)
    return (midnight <= never["escalated_at"]) & ~(shut < midnight)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", type=Path, default=ROOT / "var" / "bench" / "sim_small")
    p.add_argument("--n-boot", type=int, default=1000)
    a = p.parse_args(argv)
    # simulated parties are pseudonymised with a throw-away key (never stored)
    os.environ.setdefault("RISKWARN_PSEUDONYM_KEY", secrets.token_hex(32))
    from bench_sim_truth import ensure_sim, read_extracts

    from models.case_models import (
        FLAG_SHARES,
        CaseModelConfig,
        build_case_table,
        case_bootstrap_diff,
        escalations_in_window,
        evaluate_case_methods,
        first_escalations,
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
    window = escalations_in_window(
        first_escalations(disputes, devents), evaluated, config.step_days
    )
    counted = evaluate_case_methods(scores, n_boot=a.n_boot, escalations=window)
    never = window[~window["dispute_id"].isin(set(positive["dispute_id"].astype(str)))].copy()
    never["days_open"] = (never["escalated_at"] - never["opened_at"]) / pd.Timedelta(days=1)
    daily = daily_scored(never, devents, tz)
    print(
        f"escalated cases {counted['escalations']} (first escalation from "
        f"{evaluated[0]:%Y-%m-%d} to 7 days after {evaluated[-1]:%Y-%m-%d}: {len(window)}, "
        f"or labelling an evaluated row); never scored: {counted['escalations_never_scored']} "
        f"(days open before escalating, median {never['days_open'].median():.1f}); "
        f"of them open at a local midnight before escalating (a daily origin scores them): "
        f"{int(daily.sum())}"
    )
    for m, res in sorted(counted["methods"].items()):
        flagged = ", ".join(
            f"top {s:.0%} {res[f'escalations_flagged@{s:g}']:.1f} "
            f"({res[f'escalation_recall@{s:g}']:.3f})"
            for s in FLAG_SHARES
        )
        print(
            f"  {m}: AP (rows) {res['average_precision']:.4f}, AUC (rows) {res['auc']:.4f}; "
            f"escalations flagged of {counted['escalations']}: {flagged}"
        )
    print(
        f"wall {time.perf_counter() - t0:.1f} s; load average {load0:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
