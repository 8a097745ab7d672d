"""Rolling-origin backtest of the community-level weekly disputes forecast.

At each evaluation origin ``o`` (weekly local midnights) the model is an XGBoost
``count:poisson`` fitted on the rows of earlier origins whose whole window ended by
``o`` (``o' + horizon <= o``), their features and labels as the disputes were known at
``o`` (:func:`features.communities.community_week_rows` on that version); it scores the
rows of ``o``, built from the disputes opened before ``o``. The trees start from the log
of a baseline's expected count (a Poisson offset; by default the baseline with the lowest
deviance on the training rows, chosen again at each origin from the past only) and are
monotone increasing in the baselines and the past counts, so they learn corrections to
the rule they must beat. The baselines are columns of
the same rows (:data:`features.communities.BASELINES`), so model and baselines are scored
on exactly the same (origin, community) rows; the ex-post ceiling scores each community by
its realised disputes over the whole evaluation period (no forecast can know it).

Metrics (DOMAIN.md "How forecasts are judged"), per weekly window then pooled:

* hit rate at k % of the communities by count: disputes in the top ``round(k n)``
  communities / every dispute of the week, those in no community included (misses for
  every method); PAI = hit rate / k (ties broken at random, exact expectation:
  :func:`models.metrics.window_hit_table`);
* the same k % of communities as a share of the city's area (``area_share@k``) and PAI
  over area = hit rate / that share; and the hit rate at k % of the *area* (communities
  taken best first until their area reaches k % of the city's; the community, or tie
  group, that straddles the cut counts with the share of its area inside it);
* Poisson deviance of the expected counts (floored at :data:`MIN_MEAN`) and the Brier
  score of P(at least one dispute) = 1 - exp(-mean), both per community-week.

Confidence intervals resample weeks (paired between methods: the same weeks drawn for
both, :func:`models.metrics.paired_bootstrap_diff`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import mean_poisson_deviance

from features.communities import (
    BASELINES,
    KEYS,
    LABEL,
    CommunityParams,
    community_week_rows,
    feature_columns,
)
from models.metrics import (
    Statistic,
    expected_captured,
    gap_closed_share,
    hotspot_statistic,
    n_flagged,
    paired_bootstrap_diff,
    window_hit_table,
)

FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.10)
MIN_MEAN = 0.01  # expected disputes floor of the deviance (a zero mean with an event is infinite)
MODEL = "model"
CEILING = "ceiling"
MONOTONE_UP = (*BASELINES, "n_28d", "n_91d", "n_182d", "n_364d", "n_all", "population")


@dataclass(frozen=True)
class CommunityModelConfig:
    """The Poisson trees: rounds, depth, learning rate, and how many earlier weeks train."""

    rounds: int = 200
    max_depth: int = 3
    eta: float = 0.05
    min_child_weight: float = 5.0
    subsample: float = 0.8
    train_weeks: int | None = None  # None: every earlier origin with a full window
    nthread: int = 2
    seed: int = 0
    # the trees start from the log of a baseline's expected count (a Poisson offset):
    # "best" = at each origin the baseline with the lowest deviance on its training rows
    # (the past only), a baseline's name, or None (XGBoost's base score)
    offset: str | None = "best"
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommunityBacktest:
    """``scores``: one row per (origin, community) of the evaluation origins with
    ``label_count``, every method's expected count (``model``, the baselines, ``ceiling``);
    ``outside``: the disputes of each window in no community."""

    scores: pd.DataFrame
    outside: pd.DataFrame
    methods: list[str]
    offsets: dict[pd.Timestamp, str] = field(default_factory=dict)  # per origin, if any


def training_origins(
    origins: pd.DatetimeIndex, origin: pd.Timestamp, horizon_days: int, weeks: int | None
) -> pd.DatetimeIndex:
    """The origins whose whole window ends by ``origin`` (the newest ``weeks`` of them)."""
    done = origins[origins + pd.Timedelta(days=horizon_days) <= origin]
    return done if weeks is None else done[-weeks:]


def _monotone(features: Sequence[str]) -> str:
    return "(" + ",".join("1" if f in MONOTONE_UP else "0" for f in features) + ")"


def offset_baseline(train: pd.DataFrame, offset: str | None) -> str | None:
    """The baseline the trees start from: ``offset`` itself, or with "best" the one with
    the lowest mean Poisson deviance on ``train`` (rows of the past only)."""
    if offset != "best":
        return offset
    y = train[LABEL].to_numpy(float)
    dev = {b: mean_poisson_deviance(y, _floor(train[b])) for b in BASELINES}
    return min(dev, key=lambda b: dev[b])


def _floor(values: pd.Series | np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(values, dtype=float), MIN_MEAN)


def _matrix(
    rows: pd.DataFrame, features: Sequence[str], offset: str | None, label: bool
) -> xgb.DMatrix:
    d = xgb.DMatrix(
        rows[list(features)].to_numpy(np.float32),
        label=rows[LABEL].to_numpy(np.float32) if label else None,
        feature_names=list(features),
    )
    if offset is not None:
        d.set_base_margin(np.log(_floor(rows[offset])))
    return d


def fit_poisson(
    rows: pd.DataFrame,
    features: Sequence[str],
    config: CommunityModelConfig,
    offset: str | None = None,
) -> xgb.Booster:
    """Poisson trees on ``rows`` (``label_count``), monotone increasing in the baselines and
    the past counts, from the log of the ``offset`` baseline's expected count if given."""
    params = {
        "objective": "count:poisson",
        "max_depth": config.max_depth,
        "eta": config.eta,
        "min_child_weight": config.min_child_weight,
        "subsample": config.subsample,
        "monotone_constraints": _monotone(features),
        "nthread": config.nthread,
        "seed": config.seed,
        "verbosity": 0,
        **dict(config.params),
    }
    d = _matrix(rows, features, offset, label=True)
    return xgb.train(params, d, num_boost_round=config.rounds)


def predict(
    booster: xgb.Booster, rows: pd.DataFrame, features: Sequence[str], offset: str | None = None
) -> np.ndarray:
    """Expected disputes of ``rows``' windows (the ``offset`` the booster was fitted with)."""
    d = _matrix(rows, features, offset, label=False)
    return np.asarray(booster.predict(d), dtype=float)


def run_community_backtest(
    disputes: pd.DataFrame,
    units: pd.DataFrame,
    eval_origins: pd.DatetimeIndex,
    train_origins: pd.DatetimeIndex,
    params: CommunityParams | None = None,
    config: CommunityModelConfig | None = None,
) -> CommunityBacktest:
    """Model, baselines and ceiling on the same rows of every evaluation origin.

    ``train_origins``: the weekly origins the model may learn from (each evaluation origin
    uses those whose window ended by it). Features and training labels for an evaluation
    origin come from the disputes as known at it; its own label from ``disputes``'
    current versions.
    """
    params = params or CommunityParams()
    config = config or CommunityModelConfig()
    eval_origins = pd.DatetimeIndex(sorted(set(eval_origins)))
    train_origins = pd.DatetimeIndex(sorted(set(train_origins)))
    built = community_week_rows(disputes, units, eval_origins, params)
    rows = built.rows
    feats = feature_columns(rows)
    model = np.full(len(rows), np.nan)
    has_versions = "known_to" in disputes.columns
    cache: pd.DataFrame | None = None
    offsets: dict[pd.Timestamp, str] = {}
    for o in eval_origins:
        past = training_origins(train_origins, o, params.horizon_days, config.train_weeks)
        at = rows["origin"] == o
        if len(past) == 0:
            raise ValueError(f"no training origin with a full window before {o}")
        if has_versions:  # what was known at o: its features and its labels
            known = _known_at(disputes, o)
            train = community_week_rows(known, units, past, params, labels_from=known).rows
        else:  # one version: the training rows of every origin are built once
            if cache is None:
                cache = community_week_rows(disputes, units, train_origins, params).rows
            train = cache[cache["origin"].isin(past)]
        start = offset_baseline(train, config.offset)
        if start is not None:
            offsets[o] = start
        booster = fit_poisson(train, feats, config, start)
        model[at.to_numpy()] = predict(booster, rows.loc[at], feats, start)
    scores = rows[[*KEYS, LABEL, *BASELINES, "area_km2"]].copy()
    scores[MODEL] = model
    total = scores.groupby("admin_code", sort=False)[LABEL].transform("sum")
    scores[CEILING] = total / len(eval_origins)
    return CommunityBacktest(scores, built.outside, [MODEL, *BASELINES, CEILING], offsets)


def _known_at(disputes: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """The disputes as known at ``origin``: each record's version valid then, and only
    records known before it (opened before it, or a version known from before it)."""
    since = pd.to_datetime(disputes.get("known_from"), utc=True)
    until = pd.to_datetime(disputes["known_to"], utc=True)
    opened = pd.to_datetime(disputes["opened_at"], utc=True)
    known = since.isna() if since is not None else pd.Series(True, index=disputes.index)
    valid = (known & (opened < origin)) | (since < origin)
    valid &= until.isna() | (until >= origin)
    return disputes.loc[valid.to_numpy()].drop(columns=["known_from", "known_to"], errors="ignore")


def check_same_rows(scores: pd.DataFrame, methods: Sequence[str]) -> None:
    """Every method scored on the same rows: one row per (origin, community), the same
    communities at every origin, and a finite, non-negative expected count for every
    method on every row. A baseline scored on other rows fails here."""
    if scores.duplicated(KEYS).any():
        raise ValueError("a (origin, community) row is scored twice")
    per_origin = scores.groupby("origin")["admin_code"].agg(frozenset)
    if per_origin.nunique() > 1:
        raise ValueError("the origins score different sets of communities")
    for m in methods:
        v = scores[m].to_numpy(float)
        if not np.isfinite(v).all() or (v < 0).any():
            raise ValueError(f"method {m!r} is not scored on every row (missing or negative)")


def area_captured(
    scores: np.ndarray, counts: np.ndarray, area: np.ndarray, fraction: float
) -> float:
    """Events in the communities ranked best first until their area reaches ``fraction``
    of the total; the tie group at the cut counts with the share of its area inside it
    (the expectation over random orders of a group, by area)."""
    order = np.argsort(-scores, kind="stable")
    s, c, a = scores[order], counts[order], area[order]
    uniq, start = np.unique(-s, return_index=True)  # groups of equal score, best first
    g_events = np.add.reduceat(c, start)
    g_area = np.add.reduceat(a, start)
    budget = fraction * a.sum()
    cum = np.cumsum(g_area)
    g = int(np.searchsorted(cum, budget, side="left"))
    if g >= len(uniq):
        return float(c.sum())
    before = cum[g - 1] if g > 0 else 0.0
    inside = (budget - before) / g_area[g] if g_area[g] > 0 else 0.0
    return float(g_events[:g].sum() + g_events[g] * inside)


def method_windows(
    backtest: CommunityBacktest, fractions: Sequence[float] = FRACTIONS
) -> pd.DataFrame:
    """One row per (method, origin): the hit table of :func:`models.metrics.window_hit_table`
    (k % of the communities, every dispute of the week counted), the flagged communities'
    area share, the capture at k % of the area, and the window's deviance and Brier sums."""
    scores = backtest.scores
    check_same_rows(scores, backtest.methods)
    outside = backtest.outside.set_index("origin")["outside_count"]
    if set(outside.index) != set(scores["origin"]):
        raise ValueError("the events outside the communities are of other windows")
    out = []
    for origin, g in scores.groupby("origin", sort=True):
        y = g[LABEL].to_numpy(float)
        area = np.nan_to_num(g["area_km2"].to_numpy(float))
        extra = np.full(int(outside.loc[origin]), 1.0)
        for m in backtest.methods:
            s = g[m].to_numpy(float)
            row: dict[str, Any] = {"method": m, "origin": origin}
            row.update(window_hit_table(s, y, fractions, extra))
            for f in fractions:
                # the flagged communities' expected area (ties at the cut broken at random)
                flagged = expected_captured(s, area, n_flagged(len(s), f))
                row[f"area_share@{f:g}"] = flagged / area.sum() if area.sum() > 0 else np.nan
                row[f"captured_area@{f:g}"] = area_captured(s, y, area, f)
            mu = _floor(s)
            row["deviance_sum"] = mean_poisson_deviance(y, mu) * len(y)
            row["brier_sum"] = float((((1 - np.exp(-s)) - (y > 0)) ** 2).sum())
            row["rows"] = float(len(y))
            out.append(row)
    return pd.DataFrame(out)


def pooled(windows: pd.DataFrame, fractions: Sequence[float] = FRACTIONS) -> pd.DataFrame:
    """Per method: pooled hit rate, PAI (by count and by area), hit rate at k % of the
    area, mean Poisson deviance and Brier score per community-week."""
    rows = []
    for m, w in windows.groupby("method", sort=False):
        events = w["events"].sum()
        r: dict[str, Any] = {"method": m, "weeks": len(w), "events": events}
        for f in fractions:
            hr = w[f"captured@{f:g}"].sum() / events
            r[f"hit_rate@{f:g}"] = hr
            r[f"pai@{f:g}"] = hr / w[f"share@{f:g}"].mean()
            r[f"area_share@{f:g}"] = w[f"area_share@{f:g}"].mean()
            r[f"pai_area@{f:g}"] = hr / w[f"area_share@{f:g}"].mean()
            r[f"hit_rate_area@{f:g}"] = w[f"captured_area@{f:g}"].sum() / events
        r["deviance"] = w["deviance_sum"].sum() / w["rows"].sum()
        r["brier"] = w["brier_sum"].sum() / w["rows"].sum()
        rows.append(r)
    return pd.DataFrame(rows)


def mean_statistic(column: str) -> Statistic:
    """Per community-week mean of a window sum (``deviance_sum``, ``brier_sum``), for the
    bootstrap functions."""

    def stat(w: pd.DataFrame, idx: np.ndarray | None = None) -> float | np.ndarray:
        num = w[column].to_numpy(float)
        den = w["rows"].to_numpy(float)
        if idx is None:
            return float(num.sum() / den.sum())
        return num[idx].sum(axis=1) / den[idx].sum(axis=1)

    return stat


def paired_comparison(
    windows: pd.DataFrame,
    a: str,
    b: str,
    fractions: Sequence[float] = FRACTIONS,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """``a`` minus ``b``, with 95 % paired bootstrap CIs over weeks: hit rate at each
    fraction (of the communities), deviance and Brier (lower is better for those two)."""
    wa = windows[windows["method"] == a].sort_values("origin").reset_index(drop=True)
    wb = windows[windows["method"] == b].sort_values("origin").reset_index(drop=True)
    if not wa["origin"].equals(wb["origin"]):
        raise ValueError(f"{a} and {b} are scored on different weeks")
    out = {}
    for f in fractions:
        out[f"hit_rate@{f:g}"] = paired_bootstrap_diff(
            wa, wb, hotspot_statistic("hit_rate", f), n_boot=n_boot, seed=seed
        )
    for col, name in (("deviance_sum", "deviance"), ("brier_sum", "brier")):
        out[name] = paired_bootstrap_diff(wa, wb, mean_statistic(col), n_boot=n_boot, seed=seed)
    return out


def best_baseline(summary: pd.DataFrame, fraction: float = 0.05) -> str:
    """The baseline with the highest pooled hit rate at ``fraction``."""
    b = summary[summary["method"].isin(BASELINES)]
    return str(b.sort_values(f"hit_rate@{fraction:g}", ascending=False).iloc[0]["method"])


def gap_closed(summary: pd.DataFrame, fraction: float = 0.05) -> float:
    """Share of the hit-rate gap from the best baseline to the ceiling the model closes."""
    by = summary.set_index("method")[f"hit_rate@{fraction:g}"]
    return gap_closed_share(by[MODEL], by[best_baseline(summary, fraction)], by[CEILING])


def weekly_origins(
    opened: pd.Series, tz: str, first_train_week: int = 4, horizon_days: int = 7
) -> pd.DatetimeIndex:
    """The weekly local-midnight origins (UTC) of a rolling backtest on disputes opened at
    ``opened``: from ``first_train_week`` weeks after the first dispute's local day, aligned
    so the last origin's window ends on the data's last local day (none after it)."""
    from features.calendar import local_midnights

    at = pd.to_datetime(opened, utc=True).dropna()
    if at.empty:
        return pd.DatetimeIndex([], tz="UTC")
    first_day = at.min().tz_convert(tz).normalize()
    end_day = at.max().tz_convert(tz).normalize() + pd.Timedelta(days=1)  # the data end
    last_origin = end_day - pd.Timedelta(days=horizon_days)
    start = first_day + pd.Timedelta(weeks=first_train_week)
    if start > last_origin:
        return pd.DatetimeIndex([], tz="UTC")
    weeks = local_midnights(start, last_origin, 7, tz)
    shift = pd.Timedelta(days=(last_origin.tz_convert("UTC") - weeks[-1]).days)
    return local_midnights(weeks[0] + shift, last_origin, 7, tz)


# the paired comparisons a report prints: metric -> whether higher is better
COMPARED: dict[str, bool] = {
    **{f"hit_rate@{f:g}": True for f in FRACTIONS},
    "deviance": False,
    "brier": False,
}


def comparison_table(
    windows: pd.DataFrame,
    against: Sequence[str] = BASELINES,
    model: str = MODEL,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """``model`` minus each method of ``against``, one row per (against, metric): the
    paired difference, its 95 % bootstrap CI over weeks and the verdict words of
    :func:`models.metrics.paired_verdict` (``win`` / ``loss`` / ``tie, point ...``; for
    deviance and Brier lower is better)."""
    from models.metrics import paired_verdict

    rows = []
    for b in against:
        cmp = paired_comparison(windows, model, b, n_boot=n_boot, seed=seed)
        for metric, higher in COMPARED.items():
            d, lo, hi = cmp[metric]
            rows.append(
                {
                    "model": model,
                    "against": b,
                    "metric": metric,
                    "diff": d,
                    "lo": lo,
                    "hi": hi,
                    "verdict": paired_verdict(d, lo, hi, higher_is_better=higher),
                }
            )
    return pd.DataFrame(rows)


def sim_truth_scores(sim: Path, scores: pd.DataFrame, tz: str) -> np.ndarray:
    """Expected registrations of each row's week in its community, from a simulation's
    ground truth (``<sim>/truth``: ``truth_dispute_cells`` x ``truth_dispute_days``
    summed over the community's cells): the best any forecast could rank without luck."""
    t = sim / "truth"
    cells = pd.read_parquet(t / "truth_dispute_cells.parquet")
    days = pd.read_parquet(t / "truth_dispute_days.parquet")
    where = pd.read_parquet(
        t / "truth_incident_background.parquet", columns=["cell_x", "cell_y", "community_code"]
    )
    cells = cells.merge(where, on=["cell_x", "cell_y"], how="left", validate="one_to_one")
    cats = [c.removeprefix("weight_") for c in cells.columns if c.startswith("weight_")]
    w = cells.groupby("community_code")[[f"weight_{c}" for c in cats]].sum()
    days["date"] = pd.to_datetime(days["date"])
    rates = days.set_index("date")[[f"rate_{c}" for c in cats]]
    out = np.zeros(len(scores))
    local = pd.DatetimeIndex(scores["origin"]).tz_convert(tz).tz_localize(None).normalize()
    for o in local.unique():
        window = rates.loc[(rates.index >= o) & (rates.index < o + pd.Timedelta(days=7))].sum()
        per_unit = w.to_numpy() @ window.to_numpy()
        expected = pd.Series(per_unit, index=w.index.astype(str))
        at = np.asarray(local == o)
        out[at] = expected.reindex(scores.loc[at, "admin_code"].astype(str)).fillna(0).to_numpy()
    return out
