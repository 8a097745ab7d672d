"""Scoring a hotspot backtest: every method on the same windows, every event counted.

:func:`evaluate_methods` pools each method's windows (hit rate, PAI, PEI at 1/5/10 % of
the area, with bootstrap CIs over origins), adds probability metrics for the model and
ranking metrics for the baselines, and the model-minus-baseline paired differences; the
ex-post references (:func:`ceiling_scores`, :func:`loo_ceiling_scores`) are scored beside
them but never count as baselines (:func:`is_ex_post`). Events in cells outside the scored
area (:func:`events_outside_area`) are misses, as open_cp and published comparisons count.
Split out of :mod:`models.backtest` (which fits and scores the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from models.backtest import KEYS
from models.metrics import (
    AREA_FRACTIONS,
    bootstrap_ci,
    gap_closed_share,
    hotspot_statistic,
    hotspot_windows,
    pai_statistic,
    paired_bootstrap_diff,
    pooled_hotspot_metrics,
    probability_metrics,
    ranking_metrics,
)


def ceiling_scores(labels: pd.DataFrame) -> pd.DataFrame:
    """Ex-post ceiling: each cell scored by its realised count over the whole window."""
    total = labels.groupby(["cell_x", "cell_y"], as_index=False)["label_count"].sum()
    total = total.rename(columns={"label_count": "score"})
    out = labels[KEYS].merge(total, on=["cell_x", "cell_y"], how="left")
    return out.assign(method="ceiling")


def loo_ceiling_scores(labels: pd.DataFrame) -> pd.DataFrame:
    """Leave-one-window-out ex-post oracle (``ceiling_loo``).

    Each cell of a window is scored by its realised count over every *other* window of
    the backtest: it knows the cell's intensity over the whole period, future included
    (knowledge no forecast has), but not the window's own events. The ex-post ceiling
    (:func:`ceiling_scores`) also counts the window's own events, so part of its lead
    is that window's chance (Poisson) variation, which no forecast can know; this oracle
    measures how far knowing the period's intensities alone can go.
    """
    total = labels.groupby(["cell_x", "cell_y"])["label_count"].transform("sum")
    score = total.to_numpy(float) - labels["label_count"].to_numpy(float)
    return labels[KEYS].assign(score=score, method="ceiling_loo")


COUNTING = (
    "hit_rate/pai/pei: every event of the window, those in cells outside the scored area "
    "(no event known before the window's origin) counted as misses, as open_cp and published comparisons "
    "count; *_active_area: events outside the scored area left out (reads higher)"
)


def events_outside_area(labels_all: pd.DataFrame, area: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``labels_all`` (origin, cell_x, cell_y, label_count, ...: every cell with
    events in a window) whose cell is not in ``area`` (cell_x, cell_y) and that hold events."""
    keys = ["cell_x", "cell_y"]
    flagged = labels_all.merge(
        area[keys].drop_duplicates(), on=keys, how="left", indicator=True, validate="many_to_one"
    )
    keep = (flagged["_merge"] == "left_only").to_numpy() & (
        labels_all["label_count"] > 0
    ).to_numpy()
    return labels_all.loc[keep].reset_index(drop=True)


def is_ex_post(method: str) -> bool:
    """Ex-post reference scores (ceilings, oracles): neither a baseline nor the model."""
    return method.startswith("ceiling")


def evaluate_methods(
    scores: pd.DataFrame,
    labels: pd.DataFrame,
    model_method: str = "xgboost",
    headline_fraction: float = 0.05,
    n_boot: int = 500,
    fractions: Sequence[float] = AREA_FRACTIONS,
    outside: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Every metric per method (pooled over windows) with bootstrap CIs over origins.

    ``scores``: origin, cell_x, cell_y, method, score; ``labels``: origin, cell_x, cell_y,
    label_count, label_any for the same origin x cell rows. ``outside``: origin, cell_x,
    cell_y, label_count of the window's events in cells outside the scored area
    (:func:`events_outside_area`): hit rate, PAI and PEI count them as misses (the
    standard count); the ``*_active_area`` variants leave them out.
    """
    merged = scores.merge(labels, on=KEYS, how="inner", validate="many_to_one")
    stat = pai_statistic(headline_fraction)
    windows = {
        m: hotspot_windows(g, fractions=fractions, outside=outside)
        .sort_values("origin")
        .reset_index(drop=True)
        for m, g in merged.groupby("method", sort=True)
    }
    result: dict[str, Any] = {
        "methods": {},
        "headline": f"pai@{headline_fraction:g}",
        "counting": COUNTING,
        "events_outside_area": float(outside["label_count"].sum()) if outside is not None else 0.0,
    }
    for m, w in windows.items():
        g = merged[merged["method"] == m]
        res: dict[str, Any] = pooled_hotspot_metrics(w, fractions, active_area=True)
        for f in (0.01, 0.05, 0.10):
            for metric in ("pai", "hit_rate", "pei"):
                lo, hi = bootstrap_ci(w, hotspot_statistic(metric, f), n_boot=n_boot)
                res[f"{metric}@{f:g}_ci"] = [lo, hi]
        y = g["label_any"].to_numpy()
        if m == model_method:
            res.update(probability_metrics(y, g["score"].to_numpy()))
        else:
            res.update(ranking_metrics(y, g["score"].to_numpy()))
        res["n_windows"] = len(w)
        res["n_cells"] = int(w["cells"].max())
        res["events"] = float(w["events"].sum())
        res["events_active_area"] = float(w["events_active_area"].sum())
        result["methods"][m] = res
    baselines = [m for m in windows if m != model_method and not is_ex_post(m)]
    head = f"pai@{headline_fraction:g}"
    if baselines:
        best_base = max(baselines, key=lambda m: result["methods"][m][head])
        result["best_baseline"] = best_base
        if model_method in windows:
            comp = {}
            for b in baselines:
                d, lo, hi = paired_bootstrap_diff(
                    windows[model_method], windows[b], stat, n_boot=n_boot
                )
                comp[b] = {"diff": d, "ci": [lo, hi]}
            result["model_minus_baseline"] = comp
        if "ceiling" in windows and model_method in windows:
            base_v = result["methods"][best_base][head]
            ceil_v = result["methods"]["ceiling"][head]
            model_v = result["methods"][model_method][head]
            gap = ceil_v - base_v
            result["gap_closed_share"] = (model_v - base_v) / gap if gap > 0 else float("nan")
        if "ceiling_loo" in windows and model_method in windows:
            result["gap_closed_share_loo"] = gap_closed_share(
                result["methods"][model_method][head],
                result["methods"][best_base][head],
                result["methods"]["ceiling_loo"][head],
            )
    return result
