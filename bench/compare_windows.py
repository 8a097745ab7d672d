"""Two trainings' models, paired per forecast window: PAI and hit rate at 1/5/10 % of
the area, candidate minus reference, with paired bootstrap 95 % CIs.

    .venv/bin/python bench/compare_windows.py REF.windows.parquet CAND.windows.parquet \\
        [--method xgboost] [--out diff.json]

Reads the evaluation windows ``bench/profile_train_domain.py --outputs RUN.json`` writes
beside its JSON (``RUN.windows.parquet``: every method's per-origin hit tables as the gate
reads them, every event counted). Prints each run's pooled PAI / hit rate of every method
(the model and the baselines), then ``method`` of the candidate minus ``method`` of the
reference on the same origins (``models.metrics.paired_bootstrap_diff``, 1000 resamples of
whole windows, seed 0, as the gate's not-worse checks), with the CI's lower bound as a
share of the reference's figure (the non-inferiority margin of docs/benchmarks.md is
-2 % of the reference's PAI). The baselines' windows of the two runs must be the same
(the same data and origins); that is checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

FRACTIONS = (0.01, 0.05, 0.1)


def pooled(w: pd.DataFrame) -> dict[str, float]:
    from models.metrics import pooled_hotspot_metrics

    m = pooled_hotspot_metrics(w, FRACTIONS)
    return {k: m[k] for f in FRACTIONS for k in (f"pai@{f:g}", f"hit_rate@{f:g}")}


def paired(ref: pd.DataFrame, cand: pd.DataFrame, n_boot: int = 1000) -> dict[str, dict[str, Any]]:
    """``cand`` minus ``ref`` (two window tables of one method), paired by origin."""
    from models.metrics import hotspot_statistic, paired_bootstrap_diff

    a = cand.sort_values("origin").reset_index(drop=True)
    b = ref.sort_values("origin").reset_index(drop=True)
    if list(a["origin"]) != list(b["origin"]):
        raise SystemExit("the two runs' windows are not the same origins")
    out: dict[str, dict[str, Any]] = {}
    for metric in ("pai", "hit_rate"):
        for f in FRACTIONS:
            stat = hotspot_statistic(metric, f)
            d, lo, hi = paired_bootstrap_diff(a, b, stat, n_boot=n_boot)
            reference = float(stat(b, None))
            out[f"{metric}@{f:g}"] = {
                "reference": reference,
                "candidate": float(stat(a, None)),
                "diff": d,
                "ci": [lo, hi],
                "lower_over_reference": lo / reference,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference", type=Path)
    ap.add_argument("candidate", type=Path)
    ap.add_argument("--method", default="xgboost")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    ref, cand = pd.read_parquet(a.reference), pd.read_parquet(a.candidate)
    res: dict[str, Any] = {"reference": str(a.reference), "candidate": str(a.candidate)}
    res["pooled"] = {
        run: {m: pooled(g) for m, g in t.groupby("method")}
        for run, t in (("reference", ref), ("candidate", cand))
    }
    for m in sorted(set(ref["method"]) - {a.method}):  # the baselines: the same in both runs
        cols = [c for c in ref.columns if c != "method"]
        same = (
            ref[ref["method"] == m][cols]
            .reset_index(drop=True)
            .equals(cand[cand["method"] == m][cols].reset_index(drop=True))
        )
        res.setdefault("baselines_identical", {})[m] = bool(same)
    res["candidate_minus_reference"] = paired(
        ref[ref["method"] == a.method], cand[cand["method"] == a.method]
    )
    res["origins"] = int(ref[ref["method"] == a.method]["origin"].nunique())
    res["events"] = float(ref[ref["method"] == a.method]["events"].sum())
    text = json.dumps(res, indent=2, default=str)
    if a.out is not None:
        a.out.write_text(text)
    print(
        f"{'method':<14}"
        + "".join(f"{k:>14}" for f in FRACTIONS for k in (f"pai@{f:g}", f"hit_rate@{f:g}"))
    )
    for run in ("reference", "candidate"):
        for m, v in res["pooled"][run].items():
            print(f"{run[:3]} {m:<10}" + "".join(f"{x:14.3f}" for x in v.values()))
    print(f"baselines identical: {res['baselines_identical']}")
    print(
        f"{a.method}, candidate - reference over {res['origins']} windows, {res['events']:.0f} events:"
    )
    for k, d in res["candidate_minus_reference"].items():
        lo, hi = d["ci"]
        print(
            f"  {k:<12} {d['reference']:.3f} -> {d['candidate']:.3f}  diff {d['diff']:+.3f} "
            f"[{lo:+.3f}, {hi:+.3f}]  lower/ref {100 * d['lower_over_reference']:+.1f} %"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
