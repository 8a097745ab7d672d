"""What the forecasts do to the data (issue 17.4): a year of weekly feedback cycles.

    .venv/bin/python bench/bench_feedback.py [--sim var/bench/sim_small] [--out var/bench/feedback]
        [--weeks 52] [--warmup 26] [--section docs/_sections/feedback.md] [--plot docs/feedback_loop.png]

Each week: forecast -> patrols to the top 5 % of cells -> detection raised where patrols
are -> recorded incidents -> retrain. The true incidents come from the simulated city's
ground truth (``riskwarn simulate --size small --seed 7``: each cell's background weight
x the city's expected incidents per day, docs/simulation.md), in the 5,000 cells with the
highest weight; they do not depend on the patrols, only their *recording* does:

* every incident is reported by the public with probability ``P_PUBLIC``;
* an incident not reported by the public is found by the police with probability
  ``P_FOUND_PATROL`` in a patrolled cell and ``P_FOUND_BASE`` elsewhere (so a patrolled
  cell records ``(P_PUBLIC + (1 - P_PUBLIC) P_FOUND_PATROL) / (P_PUBLIC + (1 - P_PUBLIC)
  P_FOUND_BASE)`` times as many of its incidents).

The forecaster: a Poisson regression (scikit-learn) on the cell's recorded counts of the
last 1, 4, 13 and 26 weeks and its 8 neighbours' last 13 weeks (log1p), refitted every
week on the last 13 weeks of rows. Variants: ``none`` (trained on every record),
``public_only`` (trained on public reports only) and ``reweighted`` (patrol-found records
weighted by ``P_FOUND_BASE / P_FOUND_PATROL``, the detection they would have had without
the patrol). Warm-up: ``--warmup`` weeks recorded with patrols in random cells.

Reported per week and variant: share of warned (top 5 %) cells among the truth's top 5 %
cells, Gini of the forecast across cells (the truth's own Gini beside it), hit rate of the
warned cells against the *true* incidents, and over the loop, per district: share of
warnings, of recorded incidents, of true incidents and of population, and calibration
(the district's share of the forecast incidents / its share of the true incidents).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
SECTION = ROOT / "docs" / "_sections" / "feedback.md"
PLOT = ROOT / "docs" / "feedback_loop.png"
N_CELLS = 5000
TOP = 0.05
P_PUBLIC = 0.5
P_FOUND_BASE = 0.1
P_FOUND_PATROL = 0.6
TRAIN_WEEKS = 13
VARIANTS = ("none", "public_only", "reweighted")


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = equal, 1 = all in one cell)."""
    v = np.sort(np.asarray(x, dtype=float))
    if v.sum() <= 0:
        return float("nan")
    n = v.size
    return float((2 * np.arange(1, n + 1) - n - 1).dot(v) / (n * v.sum()))


def top_mask(score: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """The top ``fraction`` of cells by ``score`` (ties broken at random)."""
    k = max(1, round(fraction * score.size))
    order = np.lexsort((rng.random(score.size), -score))
    out = np.zeros(score.size, dtype=bool)
    out[order[:k]] = True
    return out


def ring_sum(values: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Sum over the 8 neighbours (``neighbours``: (n, 8) indices, -1 = none) of each cell."""
    padded = np.append(values, 0.0)
    return padded[neighbours].sum(axis=1)


def neighbour_index(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """(n, 8) positions of each cell's 8 neighbours among the cells (-1 where absent)."""
    pos = {(int(x), int(y)): i for i, (x, y) in enumerate(zip(cx, cy, strict=True))}
    offs = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]
    return np.array(
        [
            [pos.get((int(x) + dx, int(y) + dy), -1) for dx, dy in offs]
            for x, y in zip(cx, cy, strict=True)
        ]
    )


def features(rec: np.ndarray, week: int, neighbours: np.ndarray) -> np.ndarray:
    """(n, 5) log1p inputs at ``week`` from the recorded counts of earlier weeks."""

    def last(k: int) -> np.ndarray:
        return rec[max(0, week - k) : week].sum(axis=0)

    cols = [last(1), last(4), last(13), last(26), ring_sum(last(13), neighbours)]
    return np.log1p(np.column_stack(cols))


def fit_predict(
    xs: list[np.ndarray], train_rec: np.ndarray, weights: np.ndarray, week: int
) -> np.ndarray:
    """Fit on the last TRAIN_WEEKS weeks (``xs[w]``: inputs at week w, from before it) and
    predict ``week``."""
    from sklearn.linear_model import PoissonRegressor

    weeks = range(max(1, week - TRAIN_WEEKS), week)
    x = np.vstack([xs[w] for w in weeks])
    y = np.concatenate([train_rec[w] for w in weeks])
    sw = np.concatenate([weights[w] for w in weeks])
    model = PoissonRegressor(alpha=1e-4, max_iter=300).fit(x, y, sample_weight=sw)
    return model.predict(xs[week])


def simulate_loop(
    lam: np.ndarray, neighbours: np.ndarray, warmup: int, variant: str, seed: int
) -> dict[str, np.ndarray]:
    """Run the loop; ``lam``: (weeks, n) true expected incidents. Returns per-week arrays."""
    rng = np.random.default_rng(seed)  # same true incidents for every variant (same seed)
    n_weeks, n = lam.shape
    true = rng.poisson(lam)
    public = rng.binomial(true, P_PUBLIC)
    hidden = true - public
    rec_all = np.zeros((n_weeks, n))
    rec_public = np.zeros((n_weeks, n))
    weight = np.ones((n_weeks, n))
    patrol = np.zeros((n_weeks, n), dtype=bool)
    forecast = np.zeros((n_weeks, n))
    tie = np.random.default_rng(seed + 1)
    train = rec_public if variant == "public_only" else rec_all
    wts = weight if variant == "reweighted" else np.ones_like(weight)
    xs: list[np.ndarray] = []
    for w in range(n_weeks):
        xs.append(features(train, w, neighbours))  # from the weeks recorded before w
        if w < warmup:
            patrol[w] = top_mask(np.asarray(tie.random(n)), TOP, tie)
        else:
            forecast[w] = fit_predict(xs, train, wts, w)
            patrol[w] = top_mask(forecast[w], TOP, tie)
        p_found = np.where(patrol[w], P_FOUND_PATROL, P_FOUND_BASE)
        found = np.random.default_rng([seed, w]).binomial(hidden[w], p_found)
        rec_all[w] = public[w] + found
        rec_public[w] = public[w]
        # a patrol-found record counts as the base detection would have found it
        scale = np.where(patrol[w], P_FOUND_BASE / P_FOUND_PATROL, 1.0)
        tot = public[w] + found
        weight[w] = np.where(tot > 0, (public[w] + found * scale) / np.maximum(tot, 1), 1.0)
    return {"true": true, "recorded": rec_all, "patrol": patrol, "forecast": forecast}


def weekly_metrics(res: dict[str, np.ndarray], lam: np.ndarray, warmup: int) -> pd.DataFrame:
    """Per loop week: warned cells among the truth's top cells, Gini, true hit rate."""
    truth_top = top_mask(lam.mean(axis=0), TOP, np.random.default_rng(0))
    rows = []
    for w in range(warmup, lam.shape[0]):
        warned = res["patrol"][w]
        true_w = res["true"][w]
        rows.append(
            {
                "week": w - warmup + 1,
                "warned_in_true_top": float((warned & truth_top).sum() / warned.sum()),
                "gini_forecast": gini(res["forecast"][w]),
                "hit_rate_true": float(true_w[warned].sum() / max(true_w.sum(), 1)),
                "recorded_share_warned": float(
                    res["recorded"][w][warned].sum() / max(res["recorded"][w].sum(), 1)
                ),
            }
        )
    return pd.DataFrame(rows)


def district_table(
    res: dict[str, np.ndarray], lam: np.ndarray, cells: pd.DataFrame, warmup: int
) -> pd.DataFrame:
    """Per district over the loop weeks: shares of warnings, records, true incidents and
    population; calibration = the district's share of the forecast incidents / its share of
    the true incidents (1 = the forecast gives the district its true weight; the forecast
    is trained on records, which under-count everywhere, so shares are compared)."""
    loop = slice(warmup, None)
    d = cells["county_code"].to_numpy()
    frame = pd.DataFrame(
        {
            "district": d,
            "warnings": res["patrol"][loop].sum(axis=0),
            "recorded": res["recorded"][loop].sum(axis=0),
            "true": res["true"][loop].sum(axis=0),
            "forecast": res["forecast"][loop].sum(axis=0),
            "population": cells["population"].to_numpy(),
        }
    )
    g = frame.groupby("district").sum()
    out = pd.DataFrame(index=g.index)
    for col in ("warnings", "recorded", "true", "population"):
        out[f"{col}_share"] = g[col] / g[col].sum()
    out["calibration"] = (g["forecast"] / g["forecast"].sum()) / out["true_share"]
    out["recorded_vs_true"] = out["recorded_share"] / out["true_share"]
    return out.reset_index()


def run(sim: Path, weeks: int, warmup: int, seed: int = 17) -> dict[str, Any]:
    from bench_sim_truth import ensure_sim

    ensure_sim(sim)
    bg = pd.read_parquet(sim / "truth" / "truth_incident_background.parquet")
    days = pd.read_parquet(sim / "truth" / "truth_incident_days.parquet")
    cells = bg.nlargest(N_CELLS, "background_weight").reset_index(drop=True)
    covered = float(cells["background_weight"].sum())
    per_day = days["background_per_day"].to_numpy()
    n_weeks = warmup + weeks
    day_idx = np.arange(n_weeks * 7) % len(per_day)
    weekly = per_day[day_idx].reshape(n_weeks, 7).sum(axis=1)
    lam = weekly[:, None] * cells["background_weight"].to_numpy()[None, :]
    neighbours = neighbour_index(cells["cell_x"].to_numpy(), cells["cell_y"].to_numpy())
    out: dict[str, Any] = {
        "cells": N_CELLS,
        "share_of_city_weight": covered,
        "weeks": weeks,
        "warmup": warmup,
        "p_public": P_PUBLIC,
        "p_found_base": P_FOUND_BASE,
        "p_found_patrol": P_FOUND_PATROL,
        "detection_ratio": (P_PUBLIC + (1 - P_PUBLIC) * P_FOUND_PATROL)
        / (P_PUBLIC + (1 - P_PUBLIC) * P_FOUND_BASE),
        "truth_gini": gini(lam.mean(axis=0)),
        "variants": {},
    }
    for variant in VARIANTS:
        t0 = time.perf_counter()
        res = simulate_loop(lam, neighbours, warmup, variant, seed)
        wk = weekly_metrics(res, lam, warmup)
        dist = district_table(res, lam, cells, warmup)
        cal = dist["calibration"].to_numpy()
        out["variants"][variant] = {
            "weekly": wk.to_dict("list"),
            "districts": dist.to_dict("records"),
            "first4": wk.head(4).mean(numeric_only=True).to_dict(),
            "last4": wk.tail(4).mean(numeric_only=True).to_dict(),
            "calibration_range": [float(cal.min()), float(cal.max())],
            "calibration_mad": float(np.mean(np.abs(cal - 1))),
            "cells_ever_warned": int(res["patrol"][warmup:].any(axis=0).sum()),
            "wall_s": time.perf_counter() - t0,
        }
        print(f"{variant}: last 4 weeks {out['variants'][variant]['last4']}", flush=True)
    return out


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = (
        ("warned_in_true_top", "warned cells among the truth's top 5 %"),
        ("gini_forecast", "Gini of the forecast across cells"),
        ("hit_rate_true", "hit rate of warned cells (true incidents)"),
    )
    for ax, (key, title) in zip(axes.ravel()[:3], panels, strict=True):
        for v, r in res["variants"].items():
            ax.plot(r["weekly"]["week"], r["weekly"][key], label=v)
        if key == "gini_forecast":
            ax.axhline(res["truth_gini"], color="k", ls="--", lw=1, label="truth")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("week of the loop")
        ax.legend(fontsize=8)
    ax = axes.ravel()[3]
    names = list(res["variants"])
    dist = pd.DataFrame(res["variants"][names[0]]["districts"])
    x = np.arange(len(dist))
    width = 0.8 / len(names)
    for i, v in enumerate(names):
        d = pd.DataFrame(res["variants"][v]["districts"])
        ax.bar(x + i * width, d["calibration"], width, label=v)
    ax.axhline(1.0, color="k", lw=1)
    ax.set_xticks(x + 0.4 - width / 2, dist["district"].astype(str), rotation=45, fontsize=7)
    ax.set_title("per district: forecast share / true share (1 = calibrated)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def section_markdown(res: dict[str, Any], plot_name: str) -> str:
    lines = [
        "## What the forecasts do to the data: a year of feedback cycles (issue 17.4)",
        "",
        f"Simulated city (small, seed 7): the true incidents of the {res['cells']:,} cells with the "
        f"highest background weight ({100 * res['share_of_city_weight']:.0f}% of the city's "
        "expected incidents), drawn from the ground truth; they do not depend on patrols, "
        f"their recording does. Each week: forecast -> patrols to the top {TOP:.0%} of cells "
        "-> recorded incidents -> retrain (Poisson regression on the cells' recorded counts "
        f"of the last 1/4/13/26 weeks and the 8 neighbours' last 13 weeks, refitted weekly on "
        f"{TRAIN_WEEKS} weeks). Recording: public report {res['p_public']:.0%} of incidents; "
        f"an unreported incident is found with probability {res['p_found_patrol']:.0%} in a "
        f"patrolled cell and {res['p_found_base']:.0%} elsewhere: a patrolled cell records "
        f"{res['detection_ratio']:.2f}x its incidents. {res['warmup']} warm-up weeks with "
        f"patrols in random cells, then {res['weeks']} weekly cycles. Truth's Gini across "
        f"cells: {res['truth_gini']:.3f}.",
        "",
        "| variant | warned in truth's top 5% (weeks 1-4 -> last 4) | Gini of forecast | "
        "HR@5% on true incidents | recorded share in warned cells | cells ever warned | "
        "district calibration: forecast share / true share (min-max; mean abs. error) |",
        "|---|---|---|---|---|---|---|",
    ]
    words = {
        "none": "no mitigation (all records)",
        "public_only": "trained on public reports only",
        "reweighted": "patrol-found records down-weighted",
    }
    for v, r in res["variants"].items():
        f, last = r["first4"], r["last4"]
        lo, hi = r["calibration_range"]
        lines.append(
            f"| {words.get(v, v)} | {f['warned_in_true_top']:.3f} -> "
            f"{last['warned_in_true_top']:.3f} | {f['gini_forecast']:.3f} -> "
            f"{last['gini_forecast']:.3f} | {f['hit_rate_true']:.3f} -> "
            f"{last['hit_rate_true']:.3f} | {f['recorded_share_warned']:.3f} -> "
            f"{last['recorded_share_warned']:.3f} | {r['cells_ever_warned']} | "
            f"{lo:.2f}-{hi:.2f}; {r['calibration_mad']:.3f} |"
        )
    v = res["variants"]
    if {"none", "public_only", "reweighted"} <= set(v):
        n, p, r = (v[k]["last4"] for k in ("none", "public_only", "reweighted"))
        lines += [
            "",
            f"In the last 4 weeks, without mitigation the forecast is more concentrated than "
            f"the truth (Gini {n['gini_forecast']:.3f} vs {res['truth_gini']:.3f}): patrolled "
            "cells record more, so they are forecast higher and patrolled again. Down-weighting "
            f"patrol-found records keeps the Gini below the truth ({r['gini_forecast']:.3f}) "
            f"with the same hit rate on the true incidents ({r['hit_rate_true']:.3f} vs "
            f"{n['hit_rate_true']:.3f}); training on public reports only also removes the "
            f"over-concentration ({p['gini_forecast']:.3f}) but, with half the records, "
            f"finds fewer true incidents ({p['hit_rate_true']:.3f}).",
        ]
    lines += ["", "Per district over the loop (no mitigation / public reports only):", ""]
    lines += [
        "| district | population share | true-incident share | recorded share (none) | "
        "warnings share (none) | warnings share (public only) | calibration (none) | "
        "calibration (public only) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    a = pd.DataFrame(res["variants"]["none"]["districts"]).set_index("district")
    b = pd.DataFrame(res["variants"]["public_only"]["districts"]).set_index("district")
    for d in a.index:
        lines.append(
            f"| {d} | {a.at[d, 'population_share']:.3f} | {a.at[d, 'true_share']:.3f} | "
            f"{a.at[d, 'recorded_share']:.3f} | {a.at[d, 'warnings_share']:.3f} | "
            f"{b.at[d, 'warnings_share']:.3f} | {a.at[d, 'calibration']:.2f} | "
            f"{b.at[d, 'calibration']:.2f} |"
        )
    lines += [
        "",
        f"![feedback loop]({plot_name})",
        "",
        f"Produced by `{res['command']}` ({res['wall_s']:.0f} s).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim", type=Path, default=ROOT / "var" / "bench" / "sim_small")
    p.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "feedback")
    p.add_argument("--weeks", type=int, default=52)
    p.add_argument("--warmup", type=int, default=26)
    p.add_argument("--section", type=Path, default=SECTION)
    p.add_argument("--plot", type=Path, default=PLOT)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    res = run(a.sim, a.weeks, a.warmup)
    res["wall_s"] = time.perf_counter() - t0
    res["command"] = " ".join(
        ["python bench/bench_feedback.py", *(argv if argv is not None else sys.argv[1:])]
    )
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "feedback.json").write_text(json.dumps(res, indent=1, default=float))
    a.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(res, a.plot)
    # the section is included in docs/benchmarks-models.md: the image link is from docs/
    text = section_markdown(res, a.plot.name)
    a.section.parent.mkdir(parents=True, exist_ok=True)
    a.section.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
