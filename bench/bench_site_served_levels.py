"""Which warning level to judge a site model by: the model's own, or the one served.

    .venv/bin/python bench/bench_site_served_levels.py --scores DIR [--domain geohazard]
        [--n-boot 1000] [--markdown FILE]

``DIR`` holds a backtest's out-of-sample scores saved by ``bench/bench_geohazard_sites.py
--save-scores DIR`` (``<domain>_scores.parquet``). For each level (blue .. red; warned =
level k or above, every row of the window counted) it prints POD, FAR and TSS of three
ways of issuing the level, each minus the sensor rules' own level, with the paired 95% CI
of the gate's bootstrap (``models.site_evaluation.DayBootstrap``: whole local days,
the same resamples for every option):

* ``model alone``: the model's level (what the gate judged with ``gate_levels="xgboost"``);
* ``served``: the higher of the model's and the rules' level, what the nowcast issues
  (``riskwarn.warnings.combine_geohazard_levels``; the gate's default);
* ``served, no model blue``: the same, but the model raises nothing below yellow on its
  own (its blue is the rules' blue): a remedy measured here, not served.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def options(model: np.ndarray, rules: np.ndarray) -> dict[str, np.ndarray]:
    """The level of each row under each way of issuing it."""
    return {
        "model alone": model,
        "served": np.fmax(model, rules),
        "served, no model blue": np.fmax(np.where(model >= 2, model, 0), rules),
    }


def compare(scores: pd.DataFrame, tz: str, n_boot: int) -> list[dict[str, object]]:
    """One record per level and option: POD / FAR / TSS, minus the rules', paired CI."""
    from models.metrics import warning_metrics
    from models.site_evaluation import KEYS, LEVEL_NAMES, DayBootstrap, _ci, local_day_codes

    a = scores[scores["method"] == "xgboost"].sort_values(KEYS).reset_index(drop=True)
    b = scores[scores["method"] == "sensor_rules"].sort_values(KEYS).reset_index(drop=True)
    if len(a) != len(b) or not (a[KEYS].to_numpy() == b[KEYS].to_numpy()).all():
        raise ValueError("the model and the sensor rules must score the same rows")
    y = a["label"].to_numpy()
    boot = DayBootstrap(local_day_codes(a["origin"], tz), n_boot)
    rules = b["level"].to_numpy(float)
    out = []
    for k, name in enumerate(LEVEL_NAMES, start=1):
        ref, ref_reps = warning_metrics(rules >= k, y), boot.warning_scores(rules >= k, y)
        for option, level in options(a["level"].to_numpy(float), rules).items():
            warned = level >= k
            got, reps = warning_metrics(warned, y), boot.warning_scores(warned, y)
            rec: dict[str, object] = {"level": name, "option": option}
            for x in ("pod", "far", "tss"):
                rec[x] = (got[x], ref[x], got[x] - ref[x], _ci(reps[x] - ref_reps[x]))
            rec["warned_share"] = (got["warned_share"], ref["warned_share"])
            out.append(rec)
    return out


def markdown(records: list[dict[str, object]], n_boot: int) -> list[str]:
    out = [
        f"Each option minus the sensor rules' own level, paired 95% CI from {n_boot} "
        "resamples of local days (the gate's bootstrap); gate: fails if the TSS CI lies "
        "below zero.",
        "",
        "| level | option | warned share (rules) | POD (rules) | POD diff [95% CI] | FAR (rules) "
        "| FAR diff [95% CI] | TSS (rules) | TSS diff [95% CI] | gate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        share = r["warned_share"]
        cells = [f"{share[0]:.5f} ({share[1]:.5f})"]  # type: ignore[index]
        for x in ("pod", "far", "tss"):
            v, ref, d, ci = cast(tuple[float, float, float, list[float]], r[x])
            cells.append(f"{v:.3f} ({ref:.3f}) | {d:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]")
        hi = r["tss"][3][1]  # type: ignore[index]
        verdict = "n/a" if not np.isfinite(hi) else ("ok" if hi >= 0 else "**fails**")
        out.append(f"| {r['level']} | {r['option']} | " + " | ".join(cells) + f" | {verdict} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=Path, required=True)
    parser.add_argument("--domain", default="geohazard")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    from models.geohazard_sites import site_config

    scores = pd.read_parquet(args.scores / f"{args.domain}_scores.parquet")
    lines = markdown(compare(scores, site_config(args.domain).tz, args.n_boot), args.n_boot)
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
