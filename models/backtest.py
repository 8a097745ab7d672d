"""Rolling-origin backtest of the XGBoost hotspot model beside the classic baselines.

At each forecast origin the model may use only rows whose *labels* were complete before
the origin: a row at origin ``o'`` with horizon ``h`` carries events up to ``o' + h``, so
it is a training row at origin ``o`` only if ``o' + h <= o``. The model is refitted on a
schedule (``refit_every_days``); between refits the last fit scores the new origins.

At each refit the available rows (most recent ``train_window_days`` of origins) are split
by time, never at random::

    [ ...... fit ...... | early stopping | calibration ] refit origin
                          (es_origins)     (cal_origins)

Trees are grown on ``fit``, the number of trees is chosen by early stopping on the next
slice, and the raw score is calibrated to P(label_any) on the last slice (Platt, so the
ranking is kept). Hyperparameters are chosen from a small grid at the first refit by
PAI@5% on the calibration slice (time-ordered validation) and reused afterwards.

Objective. PAI and hit rate only judge the *ranking* of cells within an origin, so the
default is ``rank:pairwise`` with one query group per origin; ``count:poisson`` (expected
counts) is the alternative. Measured on Chicago (one fit at 2016-01-01 on a year of weekly
origins, scored on the 13 weekly origins of 2016 Q1; PAI@5%, long-run counts 4.45):
``rank:pairwise`` 4.57 (57 s), ``count:poisson`` 4.55 (97 s; 4.58 with depth 4 and
learning rate 0.05, 185 s), ``binary:logistic`` 4.52, ``rank:ndcg`` 4.22. Pairwise ranking
is as good as the best and about twice as fast, so it is the default. Early stopping uses
the judged metric (hit rate in the top 5% of cells per origin); NDCG on sparse counts
stopped after 1-2 trees.

Scoring the backtest (every method, every event counted, the ex-post ceilings) lives in
:mod:`models.hotspot_evaluation`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from models.calibration import Calibrator, fit_calibrator
from models.known_labels import labels_known_by
from models.matrices import quantile_dmatrix, sorted_by_origin
from models.metrics import hotspot_windows, pooled_hotspot_metrics

log = logging.getLogger(__name__)

KEYS = ["origin", "cell_x", "cell_y"]

# Features whose larger values mean more past events nearby: risk must not fall when they
# rise (model-behaviour requirement), enforced with XGBoost monotone constraints. The
# long-memory ``lr_*`` inputs (models.extra_features) are counts too: all-history and
# n-year counts (``lr_count_all`` equals ``hist_count_all``), per location category and at
# night, the same weeks 1 and 2 years earlier, age-decayed counts and their neighbour-
# smoothed maps. Their shares (``lr_share_*``, ``lr_season_share``) are not "more events"
# and stay free, as ratios and trends do.
INCREASING_PREFIXES = (
    "count_",
    "decayed_count",
    "near_repeat",
    "ring1_count",
    "ring2_count",
    "longrun_rate",
    "hist_",
    "lr_count_",
    "lr_season_",
    "lr_decayed_",
    "lr_smooth_",
)
# matched by an increasing prefix but a share of the cell's events, not a count
NOT_COUNTS = ("lr_season_share",)
DECREASING_PREFIXES = ("days_since_last",)


@dataclass(frozen=True)
class ModelConfig:
    """XGBoost and validation settings of the rolling-origin backtest."""

    objective: str = "rank:pairwise"
    horizon_days: int = 7
    tz: str = "UTC"  # local time zone of the origins (label windows are local days)
    refit_every_days: int = 28
    # 364 (half the rows) was measured against 728 on Chicago and Cincinnati and not
    # adopted: not non-inferior at PAI@1 %, and on Chicago with refits every 28 days worse
    # beyond noise at PAI@5 % (docs/benchmarks.md, issue 18.3, "Fewer training origins")
    train_window_days: int = 728
    es_origins: int = 8  # 4 stopped on noise (1-3 trees at several refits on Chicago)
    cal_origins: int = 4
    max_rounds: int = 400
    # rounds grown past the best one before stopping: on the city they were about half of
    # every round grown, but 15 instead of 30 stopped a grid booster at 10 trees instead of
    # 46 and changed the gate's numbers (docs/benchmarks.md, issue 18.3): kept at 30
    early_stopping_rounds: int = 30
    top_fraction: float = 0.05
    grid: tuple[dict[str, Any], ...] = (
        {"max_depth": 3, "learning_rate": 0.05, "min_child_weight": 5.0},
        {"max_depth": 5, "learning_rate": 0.05, "min_child_weight": 50.0},
    )
    base_params: dict[str, Any] = field(
        default_factory=lambda: {
            "tree_method": "hist",
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
            # 64 and 32 measured: no CPU saved that counts (other early-stopping points, no
            # cheaper round; 64 +10 % on the city) and 64 not non-inferior at PAI@1 % on
            # Chicago (docs/benchmarks.md, issue 18.3, "`max_bin` 64 (and 32)"): kept at 128
            "max_bin": 128,
            "nthread": os.cpu_count() or 1,  # XGBoost's CPU hist is deterministic per setting
            "seed": 0,
        }
    )
    calibration: str = "platt"
    monotone: bool = True
    # blend the booster with a stacked baseline input (see Blend); the default since
    # issue 17: the plain booster lost to long_run on Vancouver at PAI@1 % beyond noise
    blend: bool = True
    # the blend is chosen on the geometric mean of the validation PAI at these fractions
    # (the three the reports show), so that no reported figure is traded away for another
    blend_fractions: tuple[float, ...] = (0.01, 0.05, 0.1)
    # case-control subsampling of the boosters' fit rows: rows without an event at origins
    # that only ever serve as fit rows are kept at this rate (every row with an event is
    # kept; None or 1: every row). See models.case_control.negative_sampler. Off:
    # at 0.1 it lost PAI@1/5/10 % beyond noise on the small simulation (docs/benchmarks.md,
    # the full-day section)
    negative_rate: float | None = None


def with_max_bin(config: ModelConfig, max_bin: int | None) -> ModelConfig:
    """``config`` with its boosters' ``max_bin`` (histogram bins per feature) set to
    ``max_bin``; None: ``config`` unchanged. A bench and backtest knob (``riskwarn backtest
    incidents --max-bin``, ``bench/profile_train_domain.py --max-bin``)."""
    if max_bin is None:
        return config
    if max_bin < 2:
        raise ValueError(f"max_bin must be at least 2, not {max_bin}")
    return replace(config, base_params={**config.base_params, "max_bin": int(max_bin)})


BLEND_INPUTS = ("hist_count_all", "hist_kde", "hist_prospective")
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Blend:
    """``(1 - weight) z(margin) + weight z(log1p(baseline input))``: the booster's margin
    blended with one stacked baseline score (``hist_*``), each standardised with constants
    fixed at the refit. Chosen at each refit on the validation slices (before the refit
    origin, never on evaluation windows): the weight and input with the best PAI@5%
    there (the geometric mean of PAI at ``ModelConfig.blend_fractions``, 1/5/10 % by
    default), ties to the smaller weight (weight 0 = the booster alone)."""

    feature: str
    weight: float
    margin_mean: float
    margin_std: float
    base_mean: float
    base_std: float

    def apply(self, margin: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        base = np.log1p(np.clip(frame[self.feature].to_numpy(float), 0, None))
        zm = (margin - self.margin_mean) / self.margin_std
        zb = (np.nan_to_num(base) - self.base_mean) / self.base_std
        return (1 - self.weight) * zm + self.weight * zb


PREDICT_BLOCK_ROWS = 1 << 19
"""Rows per prediction block of :meth:`FittedModel.margin`."""


@dataclass
class FittedModel:
    """One refit: the booster, its calibrator and what it was trained on."""

    booster: xgb.Booster
    calibrator: Calibrator
    features: list[str]
    params: dict[str, Any]
    best_iteration: int
    trained_until: pd.Timestamp
    n_train_rows: int
    blend: Blend | None = None

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's margin of feature rows, predicted in blocks of
        ``PREDICT_BLOCK_ROWS`` rows (each row's margin depends on that row alone, so the
        values are those of one matrix of every row; the float32 copy and the DMatrix are
        then one block's, not every row's)."""
        parts = []
        for a in range(0, max(len(frame), 1), PREDICT_BLOCK_ROWS):
            block = frame.iloc[a : a + PREDICT_BLOCK_ROWS]
            dm = xgb.DMatrix(block[self.features].to_numpy(np.float32), feature_names=self.features)
            parts.append(
                self.booster.predict(
                    dm, iteration_range=(0, self.best_iteration + 1), output_margin=True
                )
            )
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw model score of feature rows: the margin, blended when a blend was chosen."""
        margin = self.margin(frame)
        blend = getattr(self, "blend", None)  # models pickled before blends had none
        return margin if blend is None or blend.weight == 0 else blend.apply(margin, frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of at least one event in the horizon."""
        return self.calibrator.predict(self.raw(frame))


def monotone_constraints(features: Sequence[str]) -> tuple[int, ...]:
    """+1 for past-event counts, -1 for time since the last event, 0 otherwise."""
    out = []
    for f in features:
        if f.startswith(INCREASING_PREFIXES) and f not in NOT_COUNTS:
            out.append(1)
        elif f.startswith(DECREASING_PREFIXES):
            out.append(-1)
        else:
            out.append(0)
    return tuple(out)


def origin_slices(frame: pd.DataFrame, lo: Any = None, hi: Any = None) -> pd.DataFrame | None:
    """Rows with ``lo <= origin < hi`` (either bound None: open) as a positional slice of a
    frame sorted by origin (the same rows, order and index as a boolean selection, without
    copying them); None when ``frame`` is not sorted by origin (the caller then masks)."""
    origin = frame["origin"]
    if not origin.is_monotonic_increasing:
        return None
    a = 0 if lo is None else int(origin.searchsorted(lo, side="left"))
    b = len(frame) if hi is None else int(origin.searchsorted(hi, side="left"))
    return frame.iloc[a : max(a, b)]


def _xgb_params(config: ModelConfig, hp: dict[str, Any], features: list[str], n_cells: int):
    params = {**config.base_params, **hp, "objective": config.objective}
    if config.objective.startswith("rank:"):
        k = max(1, round(config.top_fraction * n_cells))
        params["eval_metric"] = f"ndcg@{k}"
        params.setdefault(
            "lambdarank_pair_method", "topk" if "ndcg" in config.objective else "mean"
        )
    elif config.objective == "count:poisson":
        params["eval_metric"] = "poisson-nloglik"
    else:
        params["eval_metric"] = "logloss"
    if config.monotone:
        params["monotone_constraints"] = (
            "(" + ",".join(map(str, monotone_constraints(features))) + ")"
        )
    return params


def top_share_hit_rate_metric(frame: pd.DataFrame, fraction: float):
    """XGBoost custom metric: pooled hit rate in the top ``fraction`` of cells per origin.

    Early stopping on the metric the forecasts are judged by (PAI is this divided by the
    area share) is steadier than NDCG on sparse counts, which stops after a few trees.
    """
    group = pd.factorize(frame["origin"], sort=True)[0]
    counts = frame["label_count"].to_numpy(float)
    sizes = np.bincount(group)
    k = np.maximum(1, np.round(fraction * sizes)).astype(int)
    total = counts.sum()
    name = f"hit_rate@{fraction:g}"
    if len(group) and (np.diff(group) >= 0).all():  # rows sorted by origin (as fits give)
        bounds = np.r_[0, np.cumsum(sizes)]

        def by_group(predt: np.ndarray, _: xgb.DMatrix) -> tuple[str, float]:
            # per origin, the top k by score, ties to the earlier row (the stable order
            # the lexsort below gives), found by a partition: the same rows, O(n)
            hit = 0.0
            for g in range(len(sizes)):
                a, b, kk = bounds[g], bounds[g + 1], int(k[g])
                neg = -predt[a:b]
                c = counts[a:b]
                if kk >= b - a:
                    hit += c.sum()
                    continue
                t = np.partition(neg, kk - 1)[kk - 1]
                above = neg < t
                tied = np.flatnonzero(neg == t)[: kk - int(above.sum())]
                hit += c[above].sum() + c[tied].sum()
            return name, float(hit / total) if total > 0 else 0.0

        return by_group

    def metric(predt: np.ndarray, _: xgb.DMatrix) -> tuple[str, float]:
        order = np.lexsort((-predt, group))
        g_sorted = group[order]
        first = np.searchsorted(g_sorted, g_sorted, side="left")
        rank = np.arange(len(order)) - first
        hit = counts[order][rank < k[g_sorted]].sum()
        return name, float(hit / total) if total > 0 else 0.0

    return metric


def split_by_time(
    rows: pd.DataFrame, es_origins: int, cal_origins: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split rows into fit / early-stopping / calibration slices by origin (time order)."""
    origins = np.sort(rows["origin"].unique())
    if len(origins) < es_origins + cal_origins + 1:
        raise ValueError(
            f"need at least {es_origins + cal_origins + 1} training origins, have {len(origins)}"
        )
    cal_start = origins[-cal_origins]
    es_start = origins[-(cal_origins + es_origins)]
    if rows["origin"].is_monotonic_increasing:  # positional slices: no copies of the rows
        fit, es, cal = (
            origin_slices(rows, lo, hi)
            for lo, hi in ((None, es_start), (es_start, cal_start), (cal_start, None))
        )
        assert fit is not None and es is not None and cal is not None
        return fit, es, cal
    fit = rows[rows["origin"] < es_start]
    es = rows[(rows["origin"] >= es_start) & (rows["origin"] < cal_start)]
    cal = rows[rows["origin"] >= cal_start]
    return fit, es, cal


def label_window_end(origins: pd.Series, horizon_days: int, tz: str) -> pd.Series:
    """End of each row's label window: ``horizon_days`` local days after its origin (UTC)."""
    uniq = pd.DatetimeIndex(origins.unique())
    local = uniq.tz_convert(tz).tz_localize(None) + pd.Timedelta(days=horizon_days)
    ends = local.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")
    return origins.map(dict(zip(uniq, ends, strict=True)))


def training_rows(
    frame: pd.DataFrame,
    refit_origin: pd.Timestamp,
    config: ModelConfig,
    late: pd.DataFrame | None = None,
):
    """Rows usable at ``refit_origin``: label window ended, within the training window;
    their labels count only the events known before ``refit_origin``: ``late``
    (:func:`models.known_labels.late_label_events` of the frame's events) lists the events
    known after their window ended, and those known at or after ``refit_origin`` are taken
    out (:func:`models.known_labels.labels_known_by`). None: every label was known when its
    window ended (a source without report times)."""
    label_end = label_window_end(frame["origin"], config.horizon_days, config.tz)
    lo = refit_origin - pd.Timedelta(days=config.train_window_days)
    mask = ((label_end <= refit_origin) & (frame["origin"] >= lo)).to_numpy()
    pos = np.flatnonzero(mask)
    if len(pos) and pos[-1] - pos[0] + 1 == len(pos):
        # one run of rows (frames sorted by origin): a positional slice, not a copy
        rows = frame.iloc[pos[0] : pos[-1] + 1]
    else:
        rows = frame.loc[mask]
    return labels_known_by(rows, late, refit_origin, KEYS)


def _pai_on(frame: pd.DataFrame, score: np.ndarray, fraction: float) -> float:
    w = hotspot_windows(frame.assign(score=score)[["origin", "score", "label_count"]])
    return pooled_hotspot_metrics(w, (fraction,))[f"pai@{fraction:g}"]


BoosterTrainer = Callable[
    [dict[str, Any], pd.DataFrame, pd.DataFrame, list[str], ModelConfig], xgb.Booster
]
"""Grows one booster: ``(params, fit rows, early-stopping rows, features, config)``, rows
sorted by origin; :func:`train_booster` on this machine, ``riskwarn.engine`` on a cluster."""


def train_booster(
    params: dict[str, Any],
    fit: pd.DataFrame,
    es: pd.DataFrame,
    features: list[str],
    config: ModelConfig,
) -> xgb.Booster:
    """Grow trees on ``fit``, stop early on the hit rate of ``es`` (single node)."""
    d_fit = quantile_dmatrix(fit, features, config.objective, params)
    return _grow(params, d_fit, early_stopping_dmatrix(es, features, params), es, config)


def early_stopping_dmatrix(
    es: pd.DataFrame, features: list[str], params: dict[str, Any]
) -> xgb.DMatrix:
    """The early-stopping rows as a plain :class:`xgboost.DMatrix` of their float32 values.

    Only the booster's margins of these rows are read (the stopping metric, every round).
    A tree splits at the fit matrix's cut values, so a row's margin is the same from its
    float values as from its bins in a ``QuantileDMatrix`` built with ``ref=`` the fit
    matrix (what it was until 2026-12-04), but XGBoost predicts several times faster from
    the float values: on the city the bins' predictions took about 0.5 s a round (90 s of
    ``train incidents``; docs/benchmarks.md, issue 18.3). Same margins, same stopping
    round, same boosters (tests/test_training_es_matrix.py)."""
    return xgb.DMatrix(
        sorted_by_origin(es)[features].to_numpy(np.float32),
        feature_names=features,
        nthread=params.get("nthread"),
    )


def _grow(
    params: dict[str, Any],
    d_fit: xgb.DMatrix,
    d_es: xgb.DMatrix,
    es: pd.DataFrame,
    config: ModelConfig,
) -> xgb.Booster:
    booster = xgb.train(
        params,
        d_fit,
        num_boost_round=config.max_rounds,
        evals=[(d_es, "es")],
        custom_metric=top_share_hit_rate_metric(es, config.top_fraction),
        maximize=True,
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    log.info(
        "booster: %d rounds grown, best %d (early stopping after %d)",
        booster.num_boosted_rounds(),
        booster.best_iteration + 1,
        config.early_stopping_rounds,
    )
    return booster


class SharedMatrices:
    """:func:`train_booster` for the grid points of one refit: their fit and
    early-stopping rows are the same, so the two matrices (the fit rows' quantile sketch
    and bins, the early-stopping rows' values) are built once and every grid point grows
    its booster on them. The
    matrices do not depend on the tree parameters, so the boosters are the ones
    :func:`train_booster` grows (byte for byte; tests/test_training_shared_matrices.py)."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._mats: tuple[xgb.DMatrix, xgb.DMatrix] | None = None

    def __call__(
        self,
        params: dict[str, Any],
        fit: pd.DataFrame,
        es: pd.DataFrame,
        features: list[str],
        config: ModelConfig,
    ) -> xgb.Booster:
        key = (
            config.objective,
            tuple(features),
            int(params.get("max_bin", 256)),
            params.get("nthread"),
            *(_rows_key(f) for f in (fit, es)),
        )
        if key != self._key or self._mats is None:
            self._key, self._mats = None, None  # the old pair goes before the new is built
            d_fit = quantile_dmatrix(fit, features, config.objective, params)
            d_es = early_stopping_dmatrix(es, features, params)
            self._key, self._mats = key, (d_fit, d_es)
        return _grow(params, *self._mats, es, config)


def _rows_key(rows: pd.DataFrame) -> tuple[Any, ...]:
    """Which rows these are, for :class:`SharedMatrices` (a check: it serves the grid
    points of one refit, whose rows are one slice): count, origin range, label total."""
    origin = pd.DatetimeIndex(rows["origin"])
    labels = float(rows["label_count"].sum()) if "label_count" in rows else 0.0
    return (len(rows), origin.min(), origin.max(), labels)


def fit_model(
    rows: pd.DataFrame,
    features: list[str],
    config: ModelConfig,
    hp: dict[str, Any],
    refit_origin: pd.Timestamp,
    trainer: BoosterTrainer | None = None,
) -> tuple[FittedModel, float]:
    """Fit one booster with early stopping and a calibrator; return it and its cal-slice PAI.

    ``trainer`` grows the booster (default :func:`train_booster`, here)."""
    rows = sorted_by_origin(rows)  # qid groups and the metric need it
    fit, es, cal = split_by_time(rows, config.es_origins, config.cal_origins)
    n_cells = int(rows.groupby("origin").size().max())
    params = _xgb_params(config, hp, features, n_cells)
    params.pop("eval_metric", None)
    params["disable_default_eval_metric"] = 1
    booster = (trainer or train_booster)(params, fit, es, features, config)
    best = int(booster.best_iteration)
    model = FittedModel(
        booster=booster,
        calibrator=None,  # type: ignore[arg-type]
        features=list(features),
        params=params,
        best_iteration=best,
        trained_until=refit_origin,
        n_train_rows=len(fit),
    )
    if config.blend:
        model.blend = choose_blend(model, pd.concat([es, cal]), features, config.blend_fractions)
    raw_cal = model.raw(cal)
    model.calibrator = fit_calibrator(raw_cal, cal["label_any"].to_numpy(), config.calibration)
    return model, _pai_on(cal, raw_cal, config.top_fraction)


def _blend_criterion(frame: pd.DataFrame, score: np.ndarray, fractions: Sequence[float]) -> float:
    """Geometric mean of the pooled PAI at ``fractions`` (0 if any is 0)."""
    w = hotspot_windows(frame.assign(score=score)[["origin", "score", "label_count"]])
    m = pooled_hotspot_metrics(w, tuple(fractions))
    pais = np.array([m[f"pai@{f:g}"] for f in fractions], dtype=float)
    return float(np.exp(np.log(pais).mean())) if (pais > 0).all() else 0.0


def choose_blend(
    model: FittedModel,
    val: pd.DataFrame,
    features: list[str],
    fraction: float | Sequence[float],
) -> Blend | None:
    """The :class:`Blend` with the best PAI@``fraction`` on ``val`` (validation rows before
    the refit origin; several fractions: the geometric mean of their PAI); None without a
    stacked baseline input."""
    fractions = (fraction,) if isinstance(fraction, float | int) else tuple(fraction)
    margin = model.margin(val)
    best: tuple[float, Blend] | None = None
    for feat in (f for f in BLEND_INPUTS if f in features):
        base = np.log1p(np.clip(val[feat].to_numpy(float), 0, None))
        base = np.nan_to_num(base)
        consts = (
            float(margin.mean()),
            float(margin.std()) or 1.0,
            float(base.mean()),
            float(base.std()) or 1.0,
        )
        for w in BLEND_WEIGHTS:
            cand = Blend(feat, w, *consts)
            pai = _blend_criterion(val, cand.apply(margin, val), fractions)
            if best is None or pai > best[0] + 1e-12:
                best = (pai, cand)
    if best is not None:
        log.info("blend %s x %.2f: validation PAI %.3f", best[1].feature, best[1].weight, best[0])
    return best[1] if best is not None else None


def choose_hyperparameters(
    rows: pd.DataFrame,
    features: list[str],
    config: ModelConfig,
    refit_origin: pd.Timestamp,
    trainer: BoosterTrainer | None = None,
) -> tuple[FittedModel, dict[str, Any], list[dict[str, Any]]]:
    """Fit every grid point; keep the best PAI on the (later) calibration slice."""
    trials = []
    best: tuple[float, FittedModel, dict[str, Any]] | None = None
    grow = trainer or SharedMatrices()  # here: every grid point on the same matrices
    for hp in config.grid:
        model, pai = fit_model(rows, features, config, hp, refit_origin, grow)
        trials.append({**hp, "val_pai": pai, "best_iteration": model.best_iteration})
        log.info("grid %s: validation PAI %.3f (%d trees)", hp, pai, model.best_iteration + 1)
        if best is None or pai > best[0]:
            best = (pai, model, hp)
    assert best is not None
    return best[1], best[2], trials


@dataclass
class ModelBacktest:
    """Scores of the model at every evaluation origin plus the fit log."""

    scores: pd.DataFrame  # origin, cell_x, cell_y, score (probability), raw
    fits: pd.DataFrame
    trials: list[dict[str, Any]]
    last_model: FittedModel | None


def run_model_backtest(
    frame: pd.DataFrame,
    eval_origins: Sequence[pd.Timestamp],
    features: list[str],
    config: ModelConfig,
    trainer: BoosterTrainer | None = None,
    late_labels: pd.DataFrame | None = None,
) -> ModelBacktest:
    """Rolling-origin backtest of the model over ``eval_origins`` (boosters grown by
    ``trainer``, default here).

    ``frame`` holds feature + label rows for the evaluation origins and for earlier
    (training) origins. Labels of rows at or after a refit origin are never used by that
    fit, and the labels it uses count only events known before it (``late_labels``: see
    :func:`training_rows`).
    """
    eval_origins = sorted(pd.DatetimeIndex(eval_origins))
    # the rows of one evaluation origin: a positional slice when the frame is sorted by
    # origin (hotspot frames are), so the frame is never held twice
    by_origin = (
        None
        if frame["origin"].is_monotonic_increasing
        else dict(tuple(frame.groupby("origin", sort=True)))
    )
    out, fits = [], []
    model: FittedModel | None = None
    hp: dict[str, Any] | None = None
    trials: list[dict[str, Any]] = []
    next_refit: pd.Timestamp | None = None
    for origin in eval_origins:
        # origins are local midnights: allow for a DST hour when comparing with the schedule
        if next_refit is None or origin >= next_refit - pd.Timedelta(hours=2):
            rows = training_rows(frame, origin, config, late_labels)
            if hp is None:
                model, hp, trials = choose_hyperparameters(rows, features, config, origin, trainer)
            else:
                model, _ = fit_model(rows, features, config, hp, origin, trainer)
            fits.append(
                {
                    "refit_origin": origin,
                    "n_train_rows": model.n_train_rows,
                    "trees": model.best_iteration + 1,
                    "blend": None
                    if model.blend is None
                    else f"{model.blend.feature} x {model.blend.weight:g}",
                    "last_label_end": rows["origin"].max() + pd.Timedelta(days=config.horizon_days),
                }
            )
            next_refit = origin + pd.Timedelta(days=config.refit_every_days)
        assert model is not None
        if by_origin is not None:
            rows_o = by_origin[origin]
        else:
            col = frame["origin"]
            a, b = col.searchsorted(origin, side="left"), col.searchsorted(origin, side="right")
            if a == b:
                raise KeyError(origin)
            rows_o = frame.iloc[a:b]
        raw = model.raw(rows_o)
        out.append(
            pd.DataFrame(
                {
                    "origin": origin,
                    "cell_x": rows_o["cell_x"].to_numpy(),
                    "cell_y": rows_o["cell_y"].to_numpy(),
                    "score": model.calibrator.predict(raw),
                    "raw": raw,
                }
            )
        )
    return ModelBacktest(pd.concat(out, ignore_index=True), pd.DataFrame(fits), trials, model)


def with_objective(config: ModelConfig, objective: str) -> ModelConfig:
    """A copy of ``config`` with another XGBoost objective."""
    return replace(config, objective=objective)
