"""One metrics harness for every riskwarn forecast (hotspots, cases, sites, warnings).

Hotspot metrics follow DOMAIN.md: at each forecast origin the cells of the scored area
(the active area, or a study area) are ranked by score and the top k% (k = 1, 2, 5, 10,
20) are "flagged".

* hit rate HR@k = events in flagged cells / all events of the window
* PAI@k = HR@k / area share  (area share = flagged cells / scored cells)
* PEI@k = events in flagged cells / events in the window's k busiest cells

"All events of the window" is the standard count (open_cp, published comparisons): every
located event, including those in cells outside the scored area (a cell with no event
before the backtest start is not in the active area, so its events are misses for every
method). Callers pass those cells' counts as ``outside``; the k busiest cells of PEI are
chosen among all cells. The active-area variant (events outside the scored area left
out, which reads higher) is kept under ``*_active_area`` keys, on request.

Ties in the score are broken at random. Instead of sampling orderings we use the exact
expected value under uniformly random tie-breaking: a tie group that straddles the cut
contributes ``events_in_group * slots_left / group_size``. Cell order never matters.

Scores over many windows are pooled (sum of captured events / sum of events), which is
how the reference numbers for Chicago are reported; per-window values are kept so that
confidence intervals can resample forecast windows (origins) with the bootstrap.

Everything here is pure: arrays/frames in, numbers/frames out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import binomtest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

AREA_FRACTIONS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10, 0.20)


def n_flagged(n_cells: int, fraction: float) -> int:
    """Number of cells in the top ``fraction`` of an area of ``n_cells`` (at least 1)."""
    return max(1, round(fraction * n_cells))


def expected_captured(scores: np.ndarray, counts: np.ndarray, k: int) -> float:
    """Expected events in the top ``k`` cells by ``scores`` under random tie-breaking.

    Exact: cells strictly above the cut score count fully; the tie group at the cut
    contributes its events times (slots left / group size).
    """
    scores = np.asarray(scores, dtype=float)
    counts = np.asarray(counts, dtype=float)
    n = scores.size
    if k <= 0 or n == 0:
        return 0.0
    if k >= n:
        return float(counts.sum())
    return _captured_of_groups(_tie_groups(scores, counts), k)


def _tie_groups(scores: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cells grouped by equal score, best first: each group's size, events, and the
    cumulative size (what :func:`expected_captured` needs at any ``k``)."""
    uniq, inverse = np.unique(-scores, return_inverse=True)  # ascending -score = descending
    group_size = np.bincount(inverse, minlength=uniq.size).astype(float)
    group_events = np.bincount(inverse, weights=counts, minlength=uniq.size)
    return group_size, group_events, np.cumsum(group_size)


def _captured_of_groups(groups: tuple[np.ndarray, ...], k: int) -> float:
    """:func:`expected_captured` at ``0 < k < n`` from :func:`_tie_groups`."""
    group_size, group_events, cum_size = groups
    g = int(np.searchsorted(cum_size, k, side="left"))  # group holding the k-th slot
    before_size = cum_size[g - 1] if g > 0 else 0.0
    before_events = group_events[:g].sum()
    slots_left = k - before_size
    return float(before_events + group_events[g] * slots_left / group_size[g])


def best_captured(counts: np.ndarray, k: int) -> float:
    """Events in the ``k`` cells with the most events (the ex-post optimum for one window)."""
    counts = np.sort(np.asarray(counts, dtype=float))[::-1]
    return float(counts[:k].sum())


def window_hit_table(
    scores: np.ndarray,
    counts: np.ndarray,
    fractions: Sequence[float] = AREA_FRACTIONS,
    outside: np.ndarray | None = None,
) -> dict[str, float]:
    """Captured, best and total events of one window for each area fraction.

    ``scores``/``counts``: the scored cells; ``outside``: event counts of the window's
    cells outside the scored area (never flagged, so misses for every method). ``events``
    and ``best@f`` count them (the standard count); ``events_active_area`` and
    ``best_active_area@f`` do not.
    """
    n = len(scores)
    counts = np.asarray(counts, dtype=float)
    out_counts = np.asarray(outside if outside is not None else [], dtype=float)
    every_cell = np.concatenate([counts, out_counts[out_counts > 0]])
    out: dict[str, float] = {
        "events": float(every_cell.sum()),
        "events_active_area": float(counts.sum()),
        "cells": float(n),
    }
    # the tie groups and the descending counts once for every fraction (they were made
    # again at each: np.unique and two sorts per fraction); the same values
    score_arr = np.asarray(scores, dtype=float)
    groups = _tie_groups(score_arr, counts) if n else None
    every_desc = np.sort(every_cell)[::-1]
    counts_desc = np.sort(counts)[::-1]
    for f in fractions:
        k = n_flagged(n, f)
        if k <= 0 or n == 0 or groups is None:
            out[f"captured@{f:g}"] = 0.0
        elif k >= n:
            out[f"captured@{f:g}"] = float(counts.sum())
        else:
            out[f"captured@{f:g}"] = _captured_of_groups(groups, k)
        out[f"best@{f:g}"] = float(every_desc[:k].sum())
        out[f"best_active_area@{f:g}"] = float(counts_desc[:k].sum())
        out[f"share@{f:g}"] = k / n
    return out


def _outside_by_origin(outside: pd.DataFrame | None, count_col: str) -> dict[Any, np.ndarray]:
    if outside is None or outside.empty:
        return {}
    return {o: g[count_col].to_numpy(float) for o, g in outside.groupby("origin", sort=False)}


def hotspot_windows(
    frame: pd.DataFrame,
    score_col: str = "score",
    count_col: str = "label_count",
    by: Sequence[str] = ("origin",),
    fractions: Sequence[float] = AREA_FRACTIONS,
    outside: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-window (per origin, per method if in ``by``) hit tables of a scored frame.

    ``frame`` has one row per window x cell of the scored area with a score and the
    realised event count. ``outside``: ``origin`` and ``count_col`` of the cells outside
    the scored area with events in the window (one row per origin x cell; see
    :func:`window_hit_table`); without it, events outside the area are not counted.
    """
    if outside is not None and "origin" not in by:
        raise ValueError("events outside the area are matched to windows by origin")
    extra = _outside_by_origin(outside, count_col)
    unmatched = set(extra) - set(frame["origin"].unique()) if extra else set()
    if unmatched:
        raise ValueError(
            f"{len(unmatched)} origin(s) of the events outside the area match no scored "
            f"window (e.g. {sorted(unmatched, key=str)[0]!r}): origins must be of one kind"
        )
    rows = []
    for key, g in frame.groupby(list(by), sort=True):
        key_t = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key_t, strict=True))
        row.update(
            window_hit_table(
                g[score_col].to_numpy(),
                g[count_col].to_numpy(),
                fractions,
                extra.get(row["origin"]) if extra else None,
            )
        )
        rows.append(row)
    return pd.DataFrame(rows)


def pooled_hotspot_metrics(
    windows: pd.DataFrame, fractions: Sequence[float] = AREA_FRACTIONS, active_area: bool = False
) -> dict[str, float]:
    """HR, PAI and PEI at each fraction, pooled over windows (sums of events).

    The standard count (every event of the window, :func:`window_hit_table`); with
    ``active_area`` also ``hit_rate_active_area@f``, ``pai_active_area@f`` and
    ``pei_active_area@f``: events outside the scored area left out (reads higher; not
    comparable with published figures).
    """
    variants = [("", "events", "best")]
    if active_area:
        variants.append(("_active_area", "events_active_area", "best_active_area"))
    out: dict[str, float] = {}
    for suffix, events_col, best_col in variants:
        total = windows[events_col].sum()
        for f in fractions:
            cap = windows[f"captured@{f:g}"].sum()
            best = windows[f"{best_col}@{f:g}"].sum()
            share = float(windows[f"share@{f:g}"].mean())
            hr = cap / total if total > 0 else float("nan")
            out[f"hit_rate{suffix}@{f:g}"] = float(hr)
            out[f"pai{suffix}@{f:g}"] = float(hr / share) if share > 0 else float("nan")
            out[f"pei{suffix}@{f:g}"] = float(cap / best) if best > 0 else float("nan")
    return out


Statistic = Callable[[pd.DataFrame, "np.ndarray | None"], "float | np.ndarray"]


def bootstrap_ci(
    windows: pd.DataFrame,
    statistic: Statistic,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` resampling whole forecast windows (rows).

    ``statistic(windows, idx)`` returns the statistic of every resample (rows ``idx`` of
    shape ``(n_boot, n_windows)``), or of the windows themselves when ``idx`` is None.
    """
    n = len(windows)
    if n == 0:
        return (float("nan"), float("nan"))
    idx = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    stats = np.asarray(statistic(windows, idx), dtype=float)
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_bootstrap_diff(
    a: pd.DataFrame,
    b: pd.DataFrame,
    statistic: Statistic,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Difference ``stat(a) - stat(b)`` with a paired bootstrap CI over common windows.

    ``a`` and ``b`` are per-window tables of two methods with the same windows in the
    same row order (same origins). Returns (difference, low, high).
    """
    if len(a) != len(b):
        raise ValueError("paired bootstrap needs the same windows for both methods")
    idx = np.random.default_rng(seed).integers(0, len(a), (n_boot, len(a)))
    diffs = np.asarray(statistic(a, idx), dtype=float) - np.asarray(statistic(b, idx), dtype=float)
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(diffs, [alpha, 1 - alpha])
    return float(statistic(a, None)) - float(statistic(b, None)), float(lo), float(hi)


def pai_statistic(fraction: float) -> Statistic:
    """Pooled PAI at ``fraction`` of a window table, for the bootstrap functions."""
    return hotspot_statistic("pai", fraction)


def hotspot_statistic(metric: str, fraction: float) -> Statistic:
    """Pooled ``metric`` ('hit_rate', 'pai' or 'pei') at ``fraction`` of a window table, as
    :func:`pooled_hotspot_metrics` computes it, for the bootstrap functions."""
    if metric not in ("hit_rate", "pai", "pei"):
        raise ValueError(f"unknown hotspot metric {metric!r}")
    key = f"{fraction:g}"

    def stat(w: pd.DataFrame, idx: np.ndarray | None = None) -> float | np.ndarray:
        cap = w[f"captured@{key}"].to_numpy(float)
        den = w["events" if metric != "pei" else f"best@{key}"].to_numpy(float)
        share = w[f"share@{key}"].to_numpy(float)
        if idx is None:
            if den.sum() <= 0:
                return float("nan")
            value = cap.sum() / den.sum()
            return float(value / share.mean() if metric == "pai" else value)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = cap[idx].sum(axis=1) / den[idx].sum(axis=1)
            return value / share[idx].mean(axis=1) if metric == "pai" else value

    return stat


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of bin share x |mean p - observed rate|."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if y.size == 0:
        return float("nan")
    bins = _ece_bins(p, n_bins)
    weight = np.bincount(bins, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    nz = weight > 0
    gap = np.abs(sum_p[nz] - sum_y[nz]) / weight[nz]
    return float(np.sum(weight[nz] / y.size * gap))


ECE_NOISE_DRAWS = 200
"""Draws of :func:`ece_noise_quantile` used by the promotion gate (fixed seed 0)."""


def _ece_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((p * n_bins).astype(int), n_bins - 1)


def ece_noise_draws(
    y_prob: npt.ArrayLike,
    n_draws: int = ECE_NOISE_DRAWS,
    seed: int = 0,
    n_bins: int = 10,
    rows_per_event: int = 1,
) -> np.ndarray:
    """ECEs of a perfectly calibrated model with these predictions (consistency resampling).

    Bröcker & Smith (2007), "Increasing the reliability of reliability diagrams" (Weather
    and Forecasting 22): each of ``n_draws`` draws takes labels y* ~ Bernoulli(p) from the
    predictions ``y_prob`` themselves and computes :func:`expected_calibration_error` of
    (y*, p) with the same equal-width bins. The spread of these ECEs is what the events'
    sampling noise alone gives a calibrated model: with few events per bin it is of the
    order of the base rate. Vectorised: rows sorted by bin once, labels drawn in chunks of
    about 4 M (row, draw) cells and summed per bin; only the per-bin label counts of each
    draw are kept (``n_bins`` x ``n_draws``). The uniforms are float32 (resolution 2**-24,
    so a row's Bernoulli probability is off by under 6e-8): half the time of float64.
    Deterministic for a fixed ``seed``. Empty input: an empty array.

    ``rows_per_event`` (m > 1): labels of overlapping windows are not independent (an
    hourly site origin with a 24-hour horizon: one failure makes the 24 origins before it
    positive), so m independent Bernoulli labels would understate the noise about
    sqrt(m)-fold. Each row then draws Bernoulli(p / m) and counts m times: the same
    expected count, m times the variance, as if the m rows an event labels fell in the
    same bin (for a site's consecutive hours they mostly do). m = 1 is Bröcker & Smith's
    resampling as published.
    """
    if n_draws < 1 or rows_per_event < 1:
        raise ValueError(
            f"n_draws and rows_per_event must be at least 1: {n_draws}, {rows_per_event}"
        )
    p = np.clip(np.asarray(y_prob, dtype=float).ravel(), 0.0, 1.0)
    if p.size == 0:
        return np.empty(0)
    bins = _ece_bins(p, n_bins)
    order = np.argsort(bins, kind="stable")
    p, bins = p[order], bins[order]
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    counts = np.zeros((n_bins, n_draws))
    rng = np.random.default_rng(seed)
    step = max(1, (1 << 22) // n_draws)
    p32 = (p / rows_per_event).astype(np.float32)
    for start in range(0, p.size, step):
        pc, bc = p32[start : start + step], bins[start : start + step]
        hit = rng.random((pc.size, n_draws), dtype=np.float32) < pc[:, None]
        first = np.flatnonzero(np.r_[True, bc[1:] != bc[:-1]])
        counts[bc[first]] += np.add.reduceat(hit, first, axis=0, dtype=np.int64)
    return np.abs(sum_p[:, None] - rows_per_event * counts).sum(axis=0) / p.size


def ece_noise_quantile(
    y_prob: npt.ArrayLike,
    n_draws: int = ECE_NOISE_DRAWS,
    q: float = 0.95,
    seed: int = 0,
    n_bins: int = 10,
    rows_per_event: int = 1,
) -> float:
    """The ``q`` quantile of :func:`ece_noise_draws`: an observed ECE above it is
    miscalibration beyond what the events' noise explains (at level 1 - ``q``). NaN for
    no rows. About 1.5 s on 10**6 rows with 200 draws (``bench/bench_ece_noise.py``)."""
    draws = ece_noise_draws(y_prob, n_draws, seed, n_bins, rows_per_event)
    return float(np.quantile(draws, q)) if draws.size else float("nan")


def reliability_curve(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10, strategy: str = "quantile"
) -> pd.DataFrame:
    """Observed rate vs mean predicted probability per bin (sklearn ``calibration_curve``)."""
    prob_true, prob_pred = calibration_curve(y, np.clip(p, 0, 1), n_bins=n_bins, strategy=strategy)
    return pd.DataFrame({"mean_predicted": prob_pred, "observed_rate": prob_true})


def probability_metrics(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """AUC, average precision, Brier score, ECE and base rate of binary outcomes ``y``."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    both = 0 < y.sum() < y.size
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "ece": expected_calibration_error(y, p, n_bins),
        "base_rate": float(y.mean()) if y.size else float("nan"),
    }


def probability_metrics_numpy(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """:func:`probability_metrics` in numpy alone, for many small groups (the calibration of
    every admin unit: on the city's 1,894 units scikit-learn's input checks took 52 of
    the 55 CPU s, docs/benchmarks.md, "Where train incidents' CPU goes"). The same
    definitions (scikit-learn's ROC curve and trapezoid area, its average precision over
    the distinct thresholds, the Brier score of the clipped probabilities, the same ECE):
    equal to :func:`probability_metrics` within floating rounding (relative 1e-12,
    tests/test_calibration_by_admin.py)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    n = y.size
    pos = int(y.sum())
    auc = ap = float("nan")
    if 0 < pos < n:
        order = np.argsort(-p, kind="mergesort")
        ps, ys = p[order], y[order]
        last = np.r_[np.flatnonzero(np.diff(ps)), n - 1]  # the end of each distinct score
        tps = np.cumsum(ys)[last].astype(float)
        fps = (last + 1) - tps
        tpr = np.r_[0.0, tps / tps[-1]]
        fpr = np.r_[0.0, fps / fps[-1]]
        auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        precision = tps / (tps + fps)
        ap = float(np.sum(np.diff(tpr) * precision))
    return {
        "auc": auc,
        "average_precision": ap,
        "brier": float(np.mean((y - np.clip(p, 0, 1)) ** 2)) if n else float("nan"),
        "ece": expected_calibration_error(y, p, n_bins),
        "base_rate": float(y.mean()) if n else float("nan"),
    }


def ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """AUC and average precision of an uncalibrated score (no Brier/ECE)."""
    y = np.asarray(y, dtype=int)
    both = 0 < y.sum() < y.size
    return {
        "auc": roc_auc(y, score),
        "average_precision": float(average_precision_score(y, score)) if both else float("nan"),
    }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """:func:`ranking_metrics`' AUC alone (scikit-learn's ``roc_auc_score``; NaN with one
    class), without the average precision's second pass over the rows."""
    y = np.asarray(y, dtype=int)
    return float(roc_auc_score(y, score)) if 0 < y.sum() < y.size else float("nan")


def warning_metrics(warned: np.ndarray, event: np.ndarray) -> dict[str, float]:
    """Contingency-table scores of yes/no warnings against yes/no events.

    POD = hits / events, FAR = false alarms / warnings, POFD = false alarms / non-events,
    TSS = POD - POFD, CSI = hits / (hits + misses + false alarms), warned share = share
    of units (days, cells) warned.
    """
    w = np.asarray(warned, dtype=bool)
    e = np.asarray(event, dtype=bool)
    hits = float(np.sum(w & e))
    misses = float(np.sum(~w & e))
    false_alarms = float(np.sum(w & ~e))
    correct_neg = float(np.sum(~w & ~e))

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    pod = ratio(hits, hits + misses)
    pofd = ratio(false_alarms, false_alarms + correct_neg)
    return {
        "pod": pod,
        "far": ratio(false_alarms, hits + false_alarms),
        "pofd": pofd,
        "tss": pod - pofd,
        "csi": ratio(hits, hits + misses + false_alarms),
        "warned_share": ratio(hits + false_alarms, float(w.size)),
        "hits": hits,
        "misses": misses,
        "false_alarms": false_alarms,
    }


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (no continuity correction;
    scipy's ``binomtest(...).proportion_ci(method="wilson")``): unlike the normal
    approximation it stays inside [0, 1] and is not empty at 0/n or n/n, so it suits the
    small counts of warning verification (3 of 3 failures warned: 0.44-1.00). NaNs for
    ``n = 0``."""
    if n <= 0:
        return float("nan"), float("nan")
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def best_threshold_tss(y: np.ndarray, p: np.ndarray) -> float:
    """Probability threshold that maximises TSS on (training) data; warn when p >= it.

    The candidates are the distinct values of ``p`` (at most 200) or 201 of its quantiles;
    the first of the best wins. Each candidate's TSS is ``warning_metrics(p >= t, y)``'s,
    counted from one sort instead of a pass over the rows per candidate
    (:func:`tss_at_thresholds`)."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    ordered = np.sort(p)  # once: the candidates, the quantiles and the counts read it
    zero = ordered == 0.0
    # np.unique of sorted rows is np.unique of the rows, unless both zeros are there (a
    # sort may put either first, and the first is kept): then the rows themselves
    mixed = bool(zero.any()) and np.unique(np.signbit(ordered[zero])).size > 1
    cands = np.unique(p) if mixed else _unique_of_sorted(ordered)
    if cands.size > 200:  # the same order statistics, so the same quantiles
        cands = np.unique(np.quantile(ordered, np.linspace(0, 1, 201)))
    best, best_t = -np.inf, float(cands[-1]) if cands.size else 0.5
    for t, tss in zip(cands, tss_at_thresholds(y, p, cands, ordered=ordered), strict=True):
        if np.isfinite(tss) and tss > best:
            best, best_t = float(tss), float(t)
    return best_t


def _unique_of_sorted(ordered: np.ndarray) -> np.ndarray:
    """``np.unique`` of a sorted float array without sorting it again: the same mask as
    numpy's (the first of each run of equal values; the NaNs, sorted last, as one)."""
    n = ordered.size
    mask = np.empty(n, dtype=bool)
    mask[:1] = True
    if n and np.isnan(ordered[-1]):
        first_nan = int(np.searchsorted(ordered, ordered[-1], side="left"))
        if first_nan > 0:
            mask[1:first_nan] = ordered[1:first_nan] != ordered[: first_nan - 1]
        mask[first_nan] = True
        mask[first_nan + 1 :] = False
    else:
        mask[1:] = ordered[1:] != ordered[:-1]
    return ordered[mask]


def tss_at_thresholds(
    y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, *, ordered: np.ndarray | None = None
) -> np.ndarray:
    """``warning_metrics(p >= t, y)["tss"]`` for every ``t`` of ``thresholds``, bit for bit
    (the same integer counts, the same divisions), from one sort of the events' and one of
    the non-events' ``p`` (a row with NaN ``p`` is never warned, as ``NaN >= t`` is False;
    NaN sorts last, so it is never counted at or above a threshold). ``ordered``: every
    row's ``p`` sorted, when the caller has it: the non-events' counts are then every row's
    less the events' (the same integers), without sorting the non-events."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    t = np.asarray(thresholds, dtype=float)

    def at_or_above(s: np.ndarray) -> np.ndarray:  # s sorted
        valid = s.size - int(np.isnan(s).sum())
        return valid - np.searchsorted(s, t, side="left")

    events = p[y]
    warned_ev = at_or_above(np.sort(events))
    if ordered is None:
        warned_non = at_or_above(np.sort(p[~y]))
    else:
        warned_non = at_or_above(ordered) - warned_ev
    hits, false_alarms = warned_ev.astype(float), warned_non.astype(float)
    misses = float(events.size) - hits
    correct_neg = float(p.size - events.size) - false_alarms
    with np.errstate(invalid="ignore", divide="ignore"):
        ev, non = hits + misses, false_alarms + correct_neg
        pod = np.where(ev > 0, hits / ev, np.nan)
        pofd = np.where(non > 0, false_alarms / non, np.nan)
    return np.asarray(pod - pofd, dtype=float)


# ------------------------------------------------------------------ block bootstrap


def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (average ranks for ties); NaN if one class."""
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=float)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size, dtype=float)
    # average rank of each tie group (1-based)
    uniq_start = np.r_[True, sorted_s[1:] != sorted_s[:-1]]
    group = np.cumsum(uniq_start) - 1
    starts = np.flatnonzero(uniq_start)
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = avg[group]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def block_bootstrap_indices(
    blocks: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> list[np.ndarray]:
    """Row indices of ``n_boot`` block-bootstrap resamples (whole blocks drawn with replacement).

    ``blocks`` labels each row with its block (e.g. the calendar month of a day); every
    resample draws as many blocks as there are, so its length varies with block sizes.
    """
    labels = np.asarray(blocks)
    uniq, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == b) for b in range(uniq.size)]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, uniq.size, (n_boot, uniq.size))
    return [np.concatenate([members[b] for b in row]) for row in draws]


def warning_skill(y: np.ndarray, p: np.ndarray, warned: np.ndarray) -> dict[str, float]:
    """AUC, average precision, Brier and TSS / POD / FAR of one probability + warning series."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    both = 0 < y.sum() < y.size
    wm = warning_metrics(warned, y)
    return {
        "auc": rank_auc(y, p),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(np.mean((np.clip(p, 0, 1) - y) ** 2)) if y.size else float("nan"),
        "tss": wm["tss"],
        "pod": wm["pod"],
        "far": wm["far"],
    }


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates, ignoring NaN (resamples without events)."""
    v = np.asarray(values, dtype=float)
    if not np.isfinite(v).any():
        return (float("nan"), float("nan"))
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(v, [alpha, 1 - alpha])
    return float(lo), float(hi)


def block_bootstrap_skill(
    y: np.ndarray,
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    blocks: np.ndarray,
    reference: str | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Block-bootstrap CIs of :func:`warning_skill` per method, and paired differences.

    ``series`` maps a method to ``(probability, warned)`` over the same rows as ``y``.
    Every method is scored on the same resamples, so ``reference - method`` differences
    are paired. Returns ``{"methods": {m: {metric: {"value", "ci"}}},
    "reference_minus": {m: {metric: {"diff", "ci"}}}}``.
    """
    y = np.asarray(y, dtype=bool)
    idx = block_bootstrap_indices(blocks, n_boot, seed)
    point = {m: warning_skill(y, p, w) for m, (p, w) in series.items()}
    reps: dict[str, dict[str, np.ndarray]] = {}
    for m, (p, w) in series.items():
        p, w = np.asarray(p, dtype=float), np.asarray(w, dtype=bool)
        rows = [warning_skill(y[i], p[i], w[i]) for i in idx]
        reps[m] = {k: np.array([r[k] for r in rows]) for k in point[m]}
    out: dict[str, Any] = {"methods": {}, "reference_minus": {}}
    for m in series:
        out["methods"][m] = {
            k: {"value": point[m][k], "ci": percentile_interval(reps[m][k], level)}
            for k in point[m]
        }
        if reference is not None and m != reference:
            out["reference_minus"][m] = {
                k: {
                    "diff": point[reference][k] - point[m][k],
                    "ci": percentile_interval(reps[reference][k] - reps[m][k], level),
                }
                for k in point[m]
            }
    return out


def gap_closed_share(model: float, baseline: float, ceiling: float) -> float:
    """Share of the gap from ``baseline`` to ``ceiling`` closed by ``model`` (NaN if no gap)."""
    gap = ceiling - baseline
    return float((model - baseline) / gap) if np.isfinite(gap) and gap > 0 else float("nan")


def paired_verdict(
    diff: float, lo: float | None, hi: float | None, higher_is_better: bool = True
) -> str:
    """A model against the rule (or baseline) it is compared with, read from the paired
    95 % CI of the difference (model minus rule), the same way on both sides: ``"win"``
    (the CI lies wholly on the better side of 0), ``"loss"`` (wholly on the worse side),
    else a tie, which says on which side its point estimate lies: ``"tie, point below"``
    (the model behind the rule on the point estimate: for a metric where lower is better,
    Brier or FAR, a higher value), ``"tie, point above"`` or ``"tie, point at 0"``;
    ``"n/a"`` without a finite CI. A point estimate alone never makes a win, nor a loss."""
    if lo is None or hi is None or not np.all(np.isfinite([diff, lo, hi])):
        return "n/a"
    sign = 1.0 if higher_is_better else -1.0
    lo_b, hi_b = sorted((sign * float(lo), sign * float(hi)))
    if lo_b > 0:
        return "win"
    if hi_b < 0:
        return "loss"
    d = sign * float(diff)
    return "tie, point below" if d < 0 else "tie, point above" if d > 0 else "tie, point at 0"


def point_below(verdict: str) -> bool:
    """Whether a :func:`paired_verdict` is behind the rule on the point estimate (a loss
    or a tie with the point below): what a summary must name, beside the losses."""
    return verdict in ("loss", "tie, point below")


def target_verdict(
    value: float, lo: float | None, hi: float | None, threshold: float, strict: bool = False
) -> str:
    """A target "value >= threshold" (``strict``: "> threshold") read from the 95 % CI,
    as :func:`paired_verdict` reads a difference: ``"met"`` only when the whole CI is on
    the target's side, ``"missed"`` when the whole CI is on the other side, else ``"not
    shown"`` (the point estimate alone decides nothing; the caller shows it and the CI).
    ``"n/a"`` without a finite CI."""
    if lo is None or hi is None or not np.all(np.isfinite([value, lo, hi])):
        return "n/a"
    above = lo > threshold if strict else lo >= threshold
    if above:
        return "met"
    below = hi <= threshold if strict else hi < threshold
    return "missed" if below else "not shown"
