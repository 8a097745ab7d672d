"""The community-level weekly disputes forecast on a riskwarn home: Poisson XGBoost
against the community's last 4 weeks, its long-run rate and its population share of the
city's rate, on the same (origin, community) rows, rolling weekly origins
(models/community_backtest.py). Prints every method's pooled figures and the model minus
each baseline with 95 % paired bootstrap CIs over weeks. Reads the home's lake only
(``disputes`` with the versions of corrected records, ``admin_units``).

    RISKWARN_HOME=var .venv/bin/python bench/bench_community_disputes.py --eval-weeks 26

``--sim DIR`` (the simulation's folder, ``var/sim`` in a demo home) adds ``truth``: each
community's expected registrations of the week from the simulation's ground truth
(``truth_dispute_cells`` x ``truth_dispute_days`` summed over the community's cells), the
best any forecast could rank without luck.

The same backtest with the paired verdicts, as a documented command:
``riskwarn backtest communities`` (riskwarn/commands/backtest.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from features.communities import BASELINES, LABEL, CommunityParams, communities
from models.community_backtest import (
    CEILING,
    FRACTIONS,
    MODEL,
    CommunityBacktest,
    CommunityModelConfig,
    best_baseline,
    gap_closed,
    method_windows,
    paired_comparison,
    pooled,
    run_community_backtest,
    sim_truth_scores,
    weekly_origins,
)
from models.metrics import bootstrap_ci, hotspot_statistic
from riskwarn import lake
from riskwarn.settings import load_settings

TRUTH = "truth"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval-weeks", type=int, default=26, help="weekly origins scored")
    ap.add_argument(
        "--first-train-week",
        type=int,
        default=4,
        help="weeks of data before the first training origin",
    )
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument(
        "--offset",
        default="best",
        help="the baseline the trees start from: best (chosen on the past at each origin), a name, or none",
    )
    ap.add_argument(
        "--sim", type=Path, default=None, help="the simulation's folder: adds the ground truth"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    s = load_settings()
    tz = s.display_tz
    disputes = lake.read_versions(s.lake_dir, "disputes")
    units = communities(lake.read_table(s.lake_dir, "admin_units"), s.city_crs)
    # aligned on the data end: the last origin's window ends on the data's last day
    weeks = weekly_origins(disputes["opened_at"], tz, args.first_train_week)
    eval_origins = weeks[-args.eval_weeks :]
    params = CommunityParams(tz=tz)
    offset = None if args.offset == "none" else args.offset
    config = CommunityModelConfig(rounds=args.rounds, offset=offset)
    bt = run_community_backtest(disputes, units, eval_origins, weeks, params, config)
    methods = list(bt.methods)
    if args.sim is not None:
        scores = bt.scores.assign(**{TRUTH: sim_truth_scores(args.sim, bt.scores, tz)})
        methods.append(TRUTH)
        bt = CommunityBacktest(scores, bt.outside, methods, bt.offsets)
    w = method_windows(bt)
    summary = pooled(w)
    in_rows = bt.scores.groupby("origin")[LABEL].sum().sum()
    print(
        f"{len(eval_origins)} weekly origins {eval_origins[0].tz_convert(tz).date()}.."
        f"{eval_origins[-1].tz_convert(tz).date()} (local), {len(units)} communities, "
        f"{int(summary['events'].iloc[0])} disputes in the windows ({int(in_rows)} in a "
        f"community, {int(bt.outside['outside_count'].sum())} in none: misses), training "
        f"origins from {weeks[0].tz_convert(tz).date()}, {args.rounds} rounds"
    )
    chosen = pd.Series(list(bt.offsets.values())).value_counts().to_dict() if bt.offsets else {}
    print(f"offset: {args.offset} (origins per baseline started from: {chosen or 'none'})")
    print("k % of communities by count: HR, PAI; the same communities' area share, PAI over area;")
    print("HR at k % of the area; deviance and Brier per community-week (lower is better)")
    pd.set_option("display.width", 200)
    cols = ["method"]
    for f in FRACTIONS:
        cols += [f"hit_rate@{f:g}", f"pai@{f:g}"]
    cols += [
        "area_share@0.05",
        "pai_area@0.05",
        "hit_rate_area@0.05",
        "hit_rate_area@0.1",
        "deviance",
        "brier",
    ]
    print(summary[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for m in bt.methods:
        mw = w[w["method"] == m].sort_values("origin").reset_index(drop=True)
        cis = []
        for f in FRACTIONS:
            lo, hi = bootstrap_ci(mw, hotspot_statistic("pai", f), n_boot=args.n_boot)
            cis.append(f"PAI@{f:g} {lo:.2f}-{hi:.2f}")
        print(f"{m}: 95% CI over weeks (by count; random 1): " + ", ".join(cis))
    best = best_baseline(summary)
    print(
        f"best baseline at HR@5%: {best}; share of its gap to the ceiling the model closes: {gap_closed(summary):.2f}"
    )
    others = [*BASELINES] + ([TRUTH] if args.sim is not None else [])
    for b in others:
        cmp = paired_comparison(w, MODEL, b, n_boot=args.n_boot)
        parts = [f"{k} {d:+.4f} [{lo:+.4f}, {hi:+.4f}]" for k, (d, lo, hi) in cmp.items()]
        print(f"model - {b}: " + "; ".join(parts))
    if args.sim is not None:
        cmp = paired_comparison(w, best, TRUTH, n_boot=args.n_boot)
        parts = [f"{k} {d:+.4f} [{lo:+.4f}, {hi:+.4f}]" for k, (d, lo, hi) in cmp.items()]
        print(f"{best} - truth: " + "; ".join(parts))
    print(f"ceiling ({CEILING}) is ex post; wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
