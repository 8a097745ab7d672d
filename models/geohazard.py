"""City-wide daily landslide nowcasts (LHASA-like) beside the rainfall-threshold baselines.

A day's forecast may use rainfall observed up to the end of that day (a nowcast) and
landslide records of *earlier* days only. Targets: at least one landslide that day
(``p_any``) and a major day with at least ``major_threshold`` landslides (``p_major``).

Rolling origin by year: for each evaluation year Y the models are fitted on days before
Y - 2 years, stopped early on year Y - 2, calibrated (Platt) and given their warning
threshold (max TSS) on years Y - 2 and Y - 1; nothing from year Y is seen. Baselines (Caine 1980,
Guzzetti 2008 intensity-duration ratios, effective rainfall) get the same Platt mapping
and threshold choice so every method is judged the same way.

Warning level per day: 1 blue if ``p_any`` >= its threshold, 2 yellow if ``p_any`` >= 0.5,
3 orange if ``p_major`` >= its threshold, 4 red if ``p_major`` >= 0.5.

Per 1 km cell: the day's ``p_any`` times the cell's susceptibility prior (its share of
landslides before the evaluation year, Gaussian-smoothed, sigma 0.5 cell), the
same prior for every method. Within a day this ranks cells by the prior alone; pooled
over all cell-days of the window the day's probability decides which cell-days rank high
(hit rate / PAI at k% of cell-days, AUC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from riskwarn.features.cells import known_times, visible_mask
from riskwarn.models.baselines import (
    CAINE_1980,
    GUZZETTI_2008,
    effective_rainfall,
    id_exceedance_ratio,
)
from riskwarn.models.calibration import fit_calibrator
from riskwarn.models.metrics import (
    AREA_FRACTIONS,
    best_threshold_tss,
    block_bootstrap_skill,
    gap_closed_share,
    hotspot_windows,
    pooled_hotspot_metrics,
    probability_metrics,
    rank_auc,
    warning_metrics,
    window_hit_table,
)

RAIN_FEATURES = (
    "rain_1d_mm",
    "rain_2d_mm",
    "rain_3d_mm",
    "rain_7d_mm",
    "rain_15d_mm",
    "rain_30d_mm",
    "api_k084_mm",
    "effective_rain_mm",
    "caine_ratio",
    "guzzetti_ratio",
)
BASELINE_SCORES = {
    "caine": "caine_ratio",
    "guzzetti": "guzzetti_ratio",
    "effective_rain": "effective_rain_mm",
}


@dataclass(frozen=True)
class GeohazardSpec:
    """Evaluation years, training start, thresholds and XGBoost settings."""

    tz: str
    start: pd.Timestamp
    end: pd.Timestamp
    train_start: pd.Timestamp = pd.Timestamp("1990-01-01")  # noqa: RUF009 (immutable)
    major_threshold: int = 10
    max_depth: int = 2  # LHASA uses depth-2 trees
    learning_rate: float = 0.05
    max_rounds: int = 600
    early_stopping_rounds: int = 50


def daily_rain(readings: pd.DataFrame, tz: str) -> pd.Series:
    """Daily rain (mm) per local date from ``sensor_readings`` rows (``rain_mm``)."""
    r = readings[readings["quantity"] == "rain_mm"] if "quantity" in readings else readings
    day = pd.DatetimeIndex(r["observed_at"]).tz_convert(tz).tz_localize(None).normalize()
    s = pd.Series(r["value"].astype(float).to_numpy(), index=day).groupby(level=0).sum(min_count=1)
    full = pd.date_range(s.index.min(), s.index.max(), freq="D")
    return s.reindex(full).rename("rain_mm")


def daily_event_counts(events: pd.DataFrame, tz: str, index: pd.DatetimeIndex) -> pd.Series:
    """Landslides per local date (``occurred_at``) on ``index``."""
    day = pd.DatetimeIndex(events["occurred_at"].dropna()).tz_convert(tz).tz_localize(None)
    counts = pd.Series(1, index=day.normalize()).groupby(level=0).sum()
    return counts.reindex(index, fill_value=0).astype(int).rename("n_events")


def daily_known_counts(events: pd.DataFrame, tz: str, index: pd.DatetimeIndex) -> pd.Series:
    """Landslides per local date on which they became known: the later of ``occurred_at``
    and ``reported_at`` (a failure reported days later is not known on the days between)."""
    ev = events.dropna(subset=["occurred_at"])
    return daily_event_counts(ev.assign(occurred_at=known_times(ev)), tz, index).rename("n_known")


def citywide_features(
    rain: pd.Series, counts: pd.Series, known: pd.Series | None = None
) -> pd.DataFrame:
    """Per-date features: rain up to the end of the day, landslides of earlier days only.

    ``counts``: landslides per day of occurrence (the label); ``known``: per day on which
    they became known (:func:`daily_known_counts`), for the ``landslides_prev_*`` inputs
    (default ``counts``, for records without a report date).
    """
    r = rain.fillna(0.0)
    f = pd.DataFrame(index=rain.index)
    for n in (1, 2, 3, 7, 15, 30):
        f[f"rain_{n}d_mm"] = r.rolling(n, min_periods=1).sum()
    api = np.zeros(len(r))
    vals = r.to_numpy()
    for i in range(len(r)):  # first-order recursion API_t = k API_{t-1} + P_t
        api[i] = vals[i] + (0.84 * api[i - 1] if i else 0.0)
    f["api_k084_mm"] = api
    f["effective_rain_mm"] = effective_rainfall(r, k=0.84, days=15).to_numpy()
    f["caine_ratio"] = id_exceedance_ratio(r, CAINE_1980).to_numpy()
    f["guzzetti_ratio"] = id_exceedance_ratio(r, GUZZETTI_2008).to_numpy()
    f["rain_missing"] = rain.isna().astype(float)
    doy = rain.index.dayofyear.to_numpy()
    f["season_sin"] = np.sin(2 * np.pi * doy / 365.25)
    f["season_cos"] = np.cos(2 * np.pi * doy / 365.25)
    past = counts if known is None else known.reindex(counts.index, fill_value=0)
    prev = past.shift(1, fill_value=0)
    for n in (1, 7, 30):
        f[f"landslides_prev_{n}d"] = prev.rolling(n, min_periods=1).sum().to_numpy()
    f["label_count"] = counts.to_numpy()
    return f


def _fit_binary(
    x_fit: pd.DataFrame,
    y_fit: np.ndarray,
    x_es: pd.DataFrame,
    y_es: np.ndarray,
    spec: GeohazardSpec,
) -> tuple[xgb.Booster, int]:
    feats = list(x_fit.columns)
    cons = "(" + ",".join("1" if f in RAIN_FEATURES else "0" for f in feats) + ")"
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "max_depth": spec.max_depth,
        "learning_rate": spec.learning_rate,
        "min_child_weight": 2.0,
        "subsample": 0.9,
        "monotone_constraints": cons,
        "nthread": 1,
        "seed": 0,
    }
    d_fit = xgb.DMatrix(x_fit.to_numpy(np.float32), label=y_fit, feature_names=feats)
    d_es = xgb.DMatrix(x_es.to_numpy(np.float32), label=y_es, feature_names=feats)
    booster = xgb.train(
        params,
        d_fit,
        spec.max_rounds,
        evals=[(d_es, "es")],
        early_stopping_rounds=spec.early_stopping_rounds,
        verbose_eval=False,
    )
    return booster, int(booster.best_iteration)


def _predict(booster: xgb.Booster, best: int, x: pd.DataFrame) -> np.ndarray:
    d = xgb.DMatrix(x.to_numpy(np.float32), feature_names=list(x.columns))
    return booster.predict(d, iteration_range=(0, best + 1), output_margin=True)


def _levels(p_any: np.ndarray, p_major: np.ndarray, t_any: float, t_major: float) -> np.ndarray:
    lvl = np.zeros(len(p_any), dtype=int)
    lvl[p_any >= t_any] = 1
    lvl[p_any >= 0.5] = 2
    lvl[p_major >= t_major] = 3
    lvl[p_major >= 0.5] = 4
    return lvl


def run_citywide_backtest(
    rain: pd.Series, counts: pd.Series, spec: GeohazardSpec, known: pd.Series | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Daily p_any / p_major / level per method for the evaluation years, and metrics
    (``known``: see :func:`citywide_features`)."""
    feats = citywide_features(rain, counts, known)
    feats = feats[feats.index >= spec.train_start]
    x_cols = [c for c in feats.columns if c != "label_count"]
    y_any = (feats["label_count"] >= 1).astype(int)
    y_major = (feats["label_count"] >= spec.major_threshold).astype(int)
    out, thresholds = [], []
    for year in range(spec.start.year, spec.end.year + 1):
        y0 = pd.Timestamp(f"{year}-01-01")
        es0, cal0 = pd.Timestamp(f"{year - 2}-01-01"), pd.Timestamp(f"{year - 1}-01-01")  # es: Y-2
        fit, es = feats.index < es0, (feats.index >= es0) & (feats.index < cal0)
        tr_thr = (feats.index >= es0) & (feats.index < y0)  # threshold years (no year Y)
        ev = (feats.index >= y0) & (feats.index <= min(spec.end, pd.Timestamp(f"{year}-12-31")))
        if not ev.any():
            continue
        raw_scores: dict[str, dict[str, np.ndarray]] = {}
        for target, y in (("any", y_any), ("major", y_major)):
            booster, best = _fit_binary(
                feats.loc[fit, x_cols],
                y[fit].to_numpy(),
                feats.loc[es, x_cols],
                y[es].to_numpy(),
                spec,
            )
            raw_scores.setdefault("xgboost", {})[target] = _predict(booster, best, feats[x_cols])
            for name, col in BASELINE_SCORES.items():
                raw_scores.setdefault(name, {})[target] = np.log1p(feats[col].to_numpy())
        for method, by_target in raw_scores.items():
            probs, thr = {}, {}
            for target, y in (("any", y_any), ("major", y_major)):
                raw = by_target[target]
                calib = fit_calibrator(raw[tr_thr], y[tr_thr].to_numpy(), "platt")
                p = calib.predict(raw)
                probs[target] = p
                thr[target] = best_threshold_tss(y[tr_thr].to_numpy(), p[tr_thr])
            thresholds.append(
                {"year": year, "method": method, "t_any": thr["any"], "t_major": thr["major"]}
            )
            out.append(
                pd.DataFrame(
                    {
                        "date": feats.index[ev].date,
                        "p_any": probs["any"][ev],
                        "p_major": probs["major"][ev],
                        "level": _levels(
                            probs["any"][ev], probs["major"][ev], thr["any"], thr["major"]
                        ),
                        "method": method,
                        "warn_any": probs["any"][ev] >= thr["any"],
                        "warn_major": probs["major"][ev] >= thr["major"],
                        "n_events": feats["label_count"].to_numpy()[ev],
                    }
                )
            )
    city = pd.concat(out, ignore_index=True)
    metrics = citywide_metrics(city, spec.major_threshold)
    metrics["thresholds"] = thresholds
    window = (feats.index >= spec.start) & (feats.index <= spec.end)
    metrics["native_thresholds"] = native_threshold_metrics(
        feats[window], y_any[window].to_numpy(), y_major[window].to_numpy()
    )
    return city, metrics


def native_threshold_metrics(
    feats: pd.DataFrame, y_any: np.ndarray, y_major: np.ndarray
) -> dict[str, dict[str, dict[str, float]]]:
    """Caine and Guzzetti as published: warn on a day whose rain exceeds the
    intensity-duration curve (ratio >= 1), no calibration and no chosen threshold."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in ("caine", "guzzetti"):
        warned = feats[BASELINE_SCORES[name]].to_numpy() >= 1.0
        out[name] = {
            target: warning_metrics(warned, y.astype(bool))
            for target, y in (("any", y_any), ("major", y_major))
        }
    return out


def citywide_metrics(city: pd.DataFrame, major_threshold: int) -> dict[str, Any]:
    """AUC, AP, Brier, ECE and TSS/POD/FAR/CSI per method for >= 1 and >= major days."""
    res: dict[str, Any] = {"methods": {}}
    for method, g in city.groupby("method", sort=True):
        m: dict[str, Any] = {}
        for target, col, warn in (("any", "p_any", "warn_any"), ("major", "p_major", "warn_major")):
            y = (g["n_events"] >= (1 if target == "any" else major_threshold)).to_numpy()
            pm = probability_metrics(y, g[col].to_numpy())
            wm = warning_metrics(g[warn].to_numpy(), y)
            m[target] = {
                **pm,
                **{k: wm[k] for k in ("pod", "far", "pofd", "tss", "csi", "warned_share")},
            }
        m["n_days"] = len(g)
        res["methods"][method] = m
    return res


def susceptibility_prior(
    events_cells: pd.DataFrame,
    cells: pd.DataFrame,
    before: pd.Timestamp,
    smooth_cells: float = 1.0,
    pseudo_count: float = 0.5,
) -> np.ndarray:
    """Each active cell's share of past landslides, smoothed with a Gaussian kernel.

    Landslides known before ``before`` (UTC: occurred and, if recorded, reported before
    it) are counted per cell, spread over
    the active cells with a Gaussian of ``smooth_cells`` cells (0 = no smoothing), plus a
    ``pseudo_count`` per cell; the result sums to 1 over ``cells`` (row order kept).
    """
    past = events_cells[visible_mask(events_cells, before)]
    counts = past.groupby(["cell_x", "cell_y"]).size()
    cx = cells["cell_x"].to_numpy(float)
    cy = cells["cell_y"].to_numpy(float)
    if smooth_cells > 0 and len(counts):
        ex = counts.index.get_level_values(0).to_numpy(float)
        ey = counts.index.get_level_values(1).to_numpy(float)
        d2 = (cx[:, None] - ex[None, :]) ** 2 + (cy[:, None] - ey[None, :]) ** 2
        kernel = np.exp(-d2 / (2 * smooth_cells**2))
        raw = kernel @ counts.to_numpy(float)
    else:
        raw = cells.set_index(["cell_x", "cell_y"]).index.map(counts).fillna(0).to_numpy(float)
    raw = raw + pseudo_count
    return np.asarray(raw / raw.sum())


def cell_daily_scores(
    city: pd.DataFrame,
    events_cells: pd.DataFrame,
    cells: pd.DataFrame,
    tz: str,
    methods: tuple[str, ...] | None = None,
    smooth_cells: float = 0.5,
) -> pd.DataFrame:
    """Per-cell daily scores: the day's ``p_any`` x the cell's susceptibility prior.

    The prior (:func:`susceptibility_prior`) comes from landslides before each evaluation
    year (local 1 January), the same for every method; the default smoothing (0.5 cell)
    had the best within-day hit rates on Hong Kong 2005-2009, before the 2010-2014
    backtest (``bench/bench_backtest.py hongkong``, ``prior_within_day``); ``methods`` defaults to every
    method of ``city``. Within one day every method therefore ranks cells the same way
    (the prior); across days the city-wide probability decides which cell-days rank
    high, which is what :func:`cell_hit_rates` judges. ``events_cells``: ``occurred_at``,
    ``cell_x``, ``cell_y`` of landslides.
    """
    use = city if methods is None else city[city["method"].isin(methods)]
    years = pd.to_datetime(use["date"]).dt.year
    frames = []
    n = len(cells)
    for year, g in use.groupby(years):
        before = pd.Timestamp(f"{year}-01-01").tz_localize(tz).tz_convert("UTC")
        sus = susceptibility_prior(events_cells, cells, before, smooth_cells)
        for method, gm in g.groupby("method"):
            frames.append(
                pd.DataFrame(
                    {
                        "origin": np.repeat(gm["date"].to_numpy(), n),
                        "cell_x": np.tile(cells["cell_x"].to_numpy(), len(gm)),
                        "cell_y": np.tile(cells["cell_y"].to_numpy(), len(gm)),
                        "method": method,
                        "score": np.outer(gm["p_any"].to_numpy(), sus).ravel(),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def cell_hit_rates(
    scores: pd.DataFrame, events_cells: pd.DataFrame, tz: str
) -> dict[str, dict[str, float]]:
    """Per-cell skill per method: within landslide days and over all cell-days.

    * ``day_*``: on each landslide day the active cells are ranked by score (for
      p_any x prior this is the prior's ranking, the same for every method), HR / PAI
      pooled over landslide days;
    * ``st_*``: every cell-day of the window ranked together (top k% of cell-days
      flagged): HR = landslides in flagged cell-days / all landslides in active cells,
      PAI = HR / k, and the AUC of a cell-day having a landslide. This is where the
      city-wide daily probability matters.
    """
    day = pd.DatetimeIndex(events_cells["occurred_at"]).tz_convert(tz).tz_localize(None)
    counts = (
        events_cells.assign(origin=day.normalize().date)
        .groupby(["origin", "cell_x", "cell_y"])
        .size()
        .rename("label_count")
        .reset_index()
    )
    event_days = set(counts["origin"])
    merged = scores.merge(counts, on=["origin", "cell_x", "cell_y"], how="left").fillna(
        {"label_count": 0}
    )
    out: dict[str, dict[str, float]] = {}
    for method, g in merged.groupby("method"):
        on_days = g[g["origin"].isin(event_days)]
        res = {f"day_{k}": v for k, v in pooled_hotspot_metrics(hotspot_windows(on_days)).items()}
        st = window_hit_table(g["score"].to_numpy(), g["label_count"].to_numpy())
        for f in AREA_FRACTIONS:
            hr = st[f"captured@{f:g}"] / st["events"] if st["events"] > 0 else float("nan")
            res[f"st_hit_rate@{f:g}"] = float(hr)
            res[f"st_pai@{f:g}"] = float(hr / st[f"share@{f:g}"])
        res["st_auc"] = rank_auc(g["label_count"].to_numpy() > 0, g["score"].to_numpy())
        res["n_events"] = float(st["events"])
        res["n_event_days"] = float(len(event_days & set(g["origin"])))
        out[str(method)] = res
    return out


def warn_flags(city: pd.DataFrame, thresholds: list[dict[str, Any]]) -> pd.DataFrame:
    """``warn_any`` / ``warn_major`` of ``citywide.parquet`` rows from each year's thresholds."""
    thr = pd.DataFrame(thresholds)
    c = city.assign(year=pd.to_datetime(city["date"]).dt.year)
    c = c.merge(thr, on=["year", "method"], how="left", validate="many_to_one")
    return c.assign(warn_any=c["p_any"] >= c["t_any"], warn_major=c["p_major"] >= c["t_major"])


def monthly_ceiling(dates: pd.Series, n_events: np.ndarray, major_threshold: int) -> pd.DataFrame:
    """Ex-post ceiling of a city-wide daily series: each day gets its month's realised rate.

    ``p_any`` (``p_major``) is the share of days of that calendar month *in the evaluation
    window* with >= 1 (>= ``major_threshold``) landslides: knowledge no forecast has (which
    months turn out wet) but no day-to-day information. Its warnings use the threshold
    that maximises TSS on the evaluation data itself (also ex post).
    """
    month = pd.to_datetime(pd.Series(dates)).dt.to_period("M").to_numpy()
    n = np.asarray(n_events)
    frame = pd.DataFrame({"month": month, "any": n >= 1, "major": n >= major_threshold})
    rate = frame.groupby("month")[["any", "major"]].transform("mean")
    out = pd.DataFrame({"date": np.asarray(dates), "p_any": rate["any"].to_numpy(float)})
    out["p_major"] = rate["major"].to_numpy(float)
    out["warn_any"] = out["p_any"] >= best_threshold_tss(frame["any"].to_numpy(), out["p_any"])
    out["warn_major"] = out["p_major"] >= best_threshold_tss(
        frame["major"].to_numpy(), out["p_major"]
    )
    return out


def refit_ceiling(
    rain: pd.Series,
    counts: pd.Series,
    spec: GeohazardSpec,
    rounds: int = 300,
    known: pd.Series | None = None,
) -> pd.DataFrame:
    """Ex-post ceiling of the nowcast: the same learner fitted on the evaluation days.

    The model of :func:`run_citywide_backtest` (same features, depth, monotone rain
    constraints) trained for ``rounds`` rounds on the days ``spec.start`` .. ``spec.end``
    and scored on those same days: it knows the answers, within the capacity of the
    model class. Warnings at the threshold maximising TSS on those days.
    """
    feats = citywide_features(rain, counts, known)
    ev = feats[(feats.index >= spec.start) & (feats.index <= spec.end)]
    x = ev[[c for c in ev.columns if c != "label_count"]]
    out = pd.DataFrame({"date": ev.index.date})
    for target, thr in (("any", 1), ("major", spec.major_threshold)):
        y = (ev["label_count"] >= thr).astype(int).to_numpy()
        booster, _ = _fit_binary(x, y, x, y, replace(spec, max_rounds=rounds))
        margin = booster.predict(
            xgb.DMatrix(x.to_numpy(np.float32), feature_names=list(x.columns)),
            iteration_range=(0, rounds),
            output_margin=True,
        )
        p = 1.0 / (1.0 + np.exp(-margin))
        out[f"p_{target}"] = p
        out[f"warn_{target}"] = p >= best_threshold_tss(y, p)
    return out


def crossfit_ceiling(
    rain: pd.Series,
    counts: pd.Series,
    spec: GeohazardSpec,
    rounds_grid: tuple[int, ...] = (50, 100, 200, 400, 600),
    known: pd.Series | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Ex-post oracle without the day's own label: leave-one-year-out refits.

    The learner of :func:`refit_ceiling`, fitted on every day from ``spec.train_start``
    to ``spec.end`` except one calendar year of the evaluation window, and scored on
    that held-out year: it has all the history the forecast has *plus* the other
    evaluation years, future ones included (knowledge no forecast has), but not the
    answers of the days it scores, so it cannot memorise them as the in-sample refit
    does. The number of rounds is chosen ex post (best out-of-fold AUC per target) from
    ``rounds_grid``; warnings at the ex-post max-TSS threshold. Returns the frame
    (columns as :func:`refit_ceiling`) and the rounds used per target.
    """
    from riskwarn.models.metrics import rank_auc

    feats = citywide_features(rain, counts, known)
    feats = feats[(feats.index >= spec.train_start) & (feats.index <= spec.end)]
    x_all = feats[[c for c in feats.columns if c != "label_count"]]
    years_all = pd.DatetimeIndex(feats.index).year.to_numpy()
    in_eval = np.asarray(feats.index >= spec.start)
    out = pd.DataFrame({"date": feats.index[in_eval].date})
    chosen: dict[str, int] = {}
    top = max(rounds_grid)
    for target, thr in (("any", 1), ("major", spec.major_threshold)):
        y_all = (feats["label_count"] >= thr).astype(int).to_numpy()
        margins = np.full((len(rounds_grid), len(y_all)), np.nan)
        for year in np.unique(years_all[in_eval]):
            held = years_all == year
            fit = ~held
            if y_all[fit].sum() == 0:
                continue
            booster, _ = _fit_binary(
                x_all[fit], y_all[fit], x_all[fit], y_all[fit], replace(spec, max_rounds=top)
            )
            d = xgb.DMatrix(x_all[held].to_numpy(np.float32), feature_names=list(x_all.columns))
            for i, r in enumerate(rounds_grid):
                margins[i, held] = booster.predict(d, iteration_range=(0, r), output_margin=True)
        margins = margins[:, in_eval]
        y = y_all[in_eval]
        aucs = [rank_auc(y, m) if np.isfinite(m).all() else -1.0 for m in margins]
        best = int(np.argmax(aucs))
        chosen[target] = int(rounds_grid[best])
        p = 1.0 / (1.0 + np.exp(-margins[best]))
        out[f"p_{target}"] = p
        out[f"warn_{target}"] = p >= best_threshold_tss(y, p)
    return out, chosen


def citywide_uncertainty(
    city: pd.DataFrame,
    n_events: pd.Series,
    major_threshold: int,
    n_boot: int = 1000,
    seed: int = 0,
    model: str = "xgboost",
    ceilings: dict[str, pd.DataFrame] | None = None,
    oracle: str | None = None,
) -> dict[str, Any]:
    """Month-block bootstrap CIs, paired model-minus-baseline CIs, ceilings and gap closed.

    ``city``: one row per date and method with ``p_any``, ``p_major``, ``warn_any``,
    ``warn_major``; ``n_events``: landslides per date (index = date). Resampling whole
    calendar months keeps multi-day storms and antecedent-rain runs together (days are
    not independent); months are nearly independent of each other. The ex-post ceilings
    (``ceiling_month``: :func:`monthly_ceiling`, plus any in ``ceilings``, same columns
    as ``city`` with one row per date) are scored on the same resamples; the gap closed
    is measured to the highest of them. With ``oracle`` (one of ``ceilings``), the
    paired differences oracle - baseline on the same resamples are added as
    ``oracle_minus``: how far even that ex-post knowledge gets beyond the baselines.
    """
    dates = pd.to_datetime(pd.Series(sorted(city["date"].unique())))
    n = n_events.reindex(pd.DatetimeIndex(dates)).fillna(0).to_numpy()
    blocks = dates.dt.to_period("M").astype(str).to_numpy()
    all_ceilings = {"ceiling_month": monthly_ceiling(dates, n, major_threshold)}
    all_ceilings.update(ceilings or {})
    res: dict[str, Any] = {"block": "calendar month", "n_blocks": len(set(blocks))}
    for target, thr in (("any", 1), ("major", major_threshold)):
        series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for method, g in city.groupby("method"):
            g = g.assign(date=pd.to_datetime(g["date"])).set_index("date").reindex(dates)
            series[str(method)] = (
                g[f"p_{target}"].to_numpy(float),
                g[f"warn_{target}"].astype(bool).to_numpy(),
            )
        for name, ceil in all_ceilings.items():
            c = ceil.assign(date=pd.to_datetime(ceil["date"])).set_index("date").reindex(dates)
            series[name] = (
                c[f"p_{target}"].to_numpy(float),
                c[f"warn_{target}"].astype(bool).to_numpy(),
            )
        boot = block_bootstrap_skill(n >= thr, series, blocks, model, n_boot, seed=seed)
        gaps = {}
        baselines = [m for m in series if m != model and m not in all_ceilings]
        for key in ("auc", "average_precision", "tss"):
            vals = {m: boot["methods"][m][key]["value"] for m in series}
            best = max(baselines, key=lambda m, v=vals: v[m])  # type: ignore[misc]
            top = max(all_ceilings, key=lambda m, v=vals: v[m])  # type: ignore[misc]
            gaps[key] = {
                "best_baseline": best,
                "model": vals[model],
                "baseline": vals[best],
                "ceiling_method": top,
                "ceiling": vals[top],
                "gap_closed": gap_closed_share(vals[model], vals[best], vals[top]),
                "gap_closed_by_ceiling": {
                    c: gap_closed_share(vals[model], vals[best], vals[c]) for c in all_ceilings
                },
                "ceilings": {c: vals[c] for c in all_ceilings},
            }
        boot["gap"] = gaps
        if oracle is not None and oracle in series:
            sub = {m: series[m] for m in [oracle, *baselines]}
            boot["oracle"] = oracle
            boot["oracle_minus"] = block_bootstrap_skill(
                n >= thr, sub, blocks, oracle, n_boot, seed=seed
            )["reference_minus"]
        res[target] = boot
    return res
