"""Skill of city-wide daily nowcasts: every metric for every method, month-block CIs and
paired CIs of the model minus the best rule.

Input: one row per date and method with ``score`` (the ranking: the model's expected
count, a rule's own index), ``p_any`` / ``p_major`` (probabilities of >= 1 / >= major
landslides), ``level`` (0-4) and ``level_prev_day`` (the level of the previous day's
nowcast), and the day's landslide count.

Metrics per target (``any`` = >= 1 landslide, ``major`` = >= major_threshold):

* ``auc``, ``ap``: ranking of ``score``; ``brier`` of the probability; ``bss``: Brier
  skill over the climatology of the scored days themselves (their own base rate, the
  strictest constant forecast: 1 - Brier / (rate (1 - rate)));
* per level L (blue, yellow, orange, red), warning = level >= L: ``pod``, ``far``,
  ``tss``, ``csi``, ``warned_days_per_year``, and ``pod_prev_day``: the share of event
  days already warned at L by the previous day's nowcast (in force from midnight, so before
  any failure of the day: a lead time of at least 0 h and up to a day or more; the record
  is daily, so hours cannot be measured).

Severity (target ``severe``, :func:`severity_skill`): AUC only asks whether a major day
scores above an ordinary day; a warning service must also put the worst days on top.
``spearman``: Spearman correlation of the landslide count with ``score`` over the days
with >= major landslides (ordering the extremes); ``share_top@k``: the share of all the
days' landslides that fall on the ``k`` highest-scored days, for k = 10, 20 and ``red`` =
the number of days the red level warns on at its policy rate (4.6 days a year, the
Observatory's Red-signal rate) over the scored days. Ties at the k-th score share the
remaining places evenly.

CIs: calendar months drawn with replacement (storms and antecedent rain stay together);
every method is scored on the same resamples, so differences are paired.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score

from models.metrics import (
    block_bootstrap_indices,
    percentile_interval,
    rank_auc,
    warning_metrics,
)

LEVELS = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
LOWER_IS_BETTER = ("brier", "far")
RED_DAYS_PER_YEAR = 4.6  # LevelPolicy.red_days_per_year (the Observatory's Red signals a year)
TOP_K = (10, 20)


def top_k_share(counts: np.ndarray, score: np.ndarray, k: int) -> float:
    """Share of the landslides of ``counts`` that fall on the ``k`` highest-``score`` days;
    days tied at the k-th score share the remaining places evenly."""
    n = np.asarray(counts, dtype=float)
    s = np.asarray(score, dtype=float)
    total = n.sum()
    if total <= 0 or k <= 0 or s.size == 0:
        return float("nan")
    if k >= s.size:
        return 1.0
    kth = np.sort(s)[::-1][k - 1]
    above = s > kth
    tied = s == kth
    weight = above.astype(float)
    weight[tied] = (k - above.sum()) / tied.sum()
    return float((weight * n).sum() / total)


def severity_skill(
    counts: np.ndarray,
    score: np.ndarray,
    major_threshold: int,
    red_days_per_year: float = RED_DAYS_PER_YEAR,
    top_k: tuple[int, ...] = TOP_K,
) -> dict[str, float]:
    """How well ``score`` orders the most severe days (module docstring): ``spearman`` of
    count and score on the days with >= ``major_threshold`` landslides, ``share_top@k``."""
    n = np.asarray(counts, dtype=float)
    s = np.asarray(score, dtype=float)
    sev = n >= major_threshold
    rho = float("nan")
    if sev.sum() >= 3 and np.unique(n[sev]).size > 1 and np.unique(s[sev]).size > 1:
        rho = float(spearmanr(n[sev], s[sev]).statistic)
    out = {"spearman": rho}
    for k in top_k:
        out[f"share_top@{k}"] = top_k_share(n, s, k)
    out["share_top@red"] = top_k_share(n, s, round(red_days_per_year * s.size / 365.25))
    return out


def _target_skill(
    y: np.ndarray, score: np.ndarray, p: np.ndarray, level: np.ndarray, prev: np.ndarray
) -> dict[str, float]:
    n_pos = int(y.sum())
    both = 0 < n_pos < y.size
    brier = float(np.mean((p - y) ** 2))
    rate = float(y.mean())
    ref = rate * (1.0 - rate)
    out = {
        "auc": rank_auc(y, score),
        "ap": float(average_precision_score(y, score)) if both else float("nan"),
        "brier": brier,
        "bss": 1.0 - brier / ref if ref > 0 else float("nan"),
    }
    years = y.size / 365.25
    for name, lv in LEVELS.items():
        warned = level >= lv
        w = warning_metrics(warned, y)
        for k in ("pod", "far", "tss", "csi"):
            out[f"{k}@{name}"] = w[k]
        out[f"warned_days_per_year@{name}"] = float(warned.sum() / years)
        out[f"pod_prev_day@{name}"] = float((prev[y] >= lv).mean()) if n_pos else float("nan")
    return out


def day_skill(
    counts: np.ndarray, frame: pd.DataFrame, major_threshold: int, rows: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Metrics of one method's days (``frame`` columns as the module says) on ``rows``."""
    r = slice(None) if rows is None else rows
    n = np.asarray(counts)[r]
    score = frame["score"].to_numpy(float)[r]
    level = frame["level"].to_numpy(int)[r]
    prev = frame["level_prev_day"].to_numpy(int)[r]
    out = {
        target: _target_skill(n >= k, score, frame[col].to_numpy(float)[r], level, prev)
        for target, k, col in (("any", 1, "p_any"), ("major", major_threshold, "p_major"))
    }
    out["severe"] = severity_skill(n, score, major_threshold)
    return out


def best_rule(values: dict[str, float], metric: str) -> str | None:
    """The rule with the best point value of ``metric`` (lowest for Brier and FAR)."""
    finite = {m: v for m, v in values.items() if np.isfinite(v)}
    if not finite:
        return None
    pick = min if metric.split("@")[0] in LOWER_IS_BETTER else max
    return pick(finite, key=lambda m: finite[m])


def nowcast_skill(
    city: pd.DataFrame,
    counts: pd.Series,
    major_threshold: int,
    model: str = "xgboost",
    exclude_from_rules: tuple[str, ...] = (),
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Point values, month-block CIs and paired CIs of ``model`` minus the best rule.

    ``city``: rows per date and method (module docstring); ``counts``: landslides per date.
    Methods in ``exclude_from_rules`` (ex-post references) get CIs but are never the best
    rule. Returns ``{"methods": {m: {target: {metric: {"value", "ci"}}}}, "model_minus_best":
    {target: {metric: {"rule", "diff", "ci"}}}, "model_minus_rule": {rule: {target:
    {metric: {"diff", "ci"}}}}, "n_blocks", "n_days"}``; targets ``any``, ``major`` and
    ``severe`` (:func:`severity_skill`).
    """
    dates = pd.DatetimeIndex(sorted(pd.to_datetime(city["date"]).unique()))
    n = counts.reindex(dates).fillna(0).to_numpy()
    frames = {
        str(m): g.assign(date=pd.to_datetime(g["date"])).set_index("date").reindex(dates)
        for m, g in city.groupby("method")
    }
    blocks = dates.to_period("M").astype(str).to_numpy()
    idx = block_bootstrap_indices(blocks, n_boot, seed)
    point = {m: day_skill(n, f, major_threshold) for m, f in frames.items()}
    reps = {m: [day_skill(n, f, major_threshold, i) for i in idx] for m, f in frames.items()}
    rules = [m for m in frames if m != model and m not in exclude_from_rules]
    out: dict[str, Any] = {
        "methods": {},
        "model_minus_best": {},
        "n_blocks": len(set(blocks)),
        "n_days": len(dates),
        "n_boot": n_boot,
    }
    for m in frames:
        out["methods"][m] = {
            t: {
                k: {
                    "value": v,
                    "ci": percentile_interval(np.array([r[t][k] for r in reps[m]])),
                }
                for k, v in point[m][t].items()
            }
            for t in point[m]
        }
    if model not in frames:
        return out
    # every metric against every rule by name (the rule the model replaces may not be the
    # best one; warned days per year are set by the level policy, not compared)
    out["model_minus_rule"] = {
        r: {
            t: {
                k: {
                    "diff": point[model][t][k] - point[r][t][k],
                    "ci": percentile_interval(
                        np.array(
                            [a[t][k] - b[t][k] for a, b in zip(reps[model], reps[r], strict=True)]
                        )
                    ),
                }
                for k in point[model][t]
                if not k.startswith("warned_days_per_year")
            }
            for t in point[model]
        }
        for r in rules
    }
    for t in point[model]:
        out["model_minus_best"][t] = {}
        for k in point[model][t]:
            if k.startswith("warned_days_per_year"):
                continue
            rule = best_rule({r: point[r][t][k] for r in rules}, k)
            if rule is None:
                continue
            diff = np.array(
                [a[t][k] - b[t][k] for a, b in zip(reps[model], reps[rule], strict=True)]
            )
            out["model_minus_best"][t][k] = {
                "rule": rule,
                "diff": point[model][t][k] - point[rule][t][k],
                "ci": percentile_interval(diff),
            }
    return out
