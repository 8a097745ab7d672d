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

Per 1 km cell: the day's ``p_any`` times the cell's share of past landslides (its
susceptibility from records before the evaluation year), so cells can be ranked on
landslide days (hit rate at k% of the active area).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from riskwarn.models.baselines import (
    CAINE_1980,
    GUZZETTI_2008,
    effective_rainfall,
    id_exceedance_ratio,
)
from riskwarn.models.calibration import fit_calibrator
from riskwarn.models.metrics import (
    best_threshold_tss,
    hotspot_windows,
    pooled_hotspot_metrics,
    probability_metrics,
    warning_metrics,
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


def citywide_features(rain: pd.Series, counts: pd.Series) -> pd.DataFrame:
    """Per-date features: rain up to the end of the day, landslides of earlier days only."""
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
    prev = counts.shift(1, fill_value=0)
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
    rain: pd.Series, counts: pd.Series, spec: GeohazardSpec
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Daily p_any / p_major / level per method for the evaluation years, and metrics."""
    feats = citywide_features(rain, counts)
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
    return city, metrics


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


def cell_daily_scores(
    city: pd.DataFrame,
    events_cells: pd.DataFrame,
    cells: pd.DataFrame,
    tz: str,
    methods: tuple[str, ...] = ("xgboost", "caine"),
) -> pd.DataFrame:
    """Per-cell daily scores: ``p_any`` x the cell's share of landslides before that year.

    ``events_cells``: ``occurred_at``, ``cell_x``, ``cell_y`` of past landslides.
    """
    day = pd.DatetimeIndex(events_cells["occurred_at"]).tz_convert(tz).tz_localize(None)
    ev = events_cells.assign(year=day.year)
    frames = []
    for year, g in city[city["method"].isin(methods)].groupby(
        pd.to_datetime(city.loc[city["method"].isin(methods), "date"]).dt.year
    ):
        past = ev[ev["year"] < year].groupby(["cell_x", "cell_y"]).size()
        sus = cells.set_index(["cell_x", "cell_y"]).index.map(past).fillna(0).to_numpy(float) + 0.5
        sus = sus / sus.sum()
        n = len(cells)
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
    """Hit rate / PAI per method on landslide days over the active cells."""
    day = pd.DatetimeIndex(events_cells["occurred_at"]).tz_convert(tz).tz_localize(None)
    counts = (
        events_cells.assign(origin=day.normalize().date)
        .groupby(["origin", "cell_x", "cell_y"])
        .size()
        .rename("label_count")
        .reset_index()
    )
    event_days = set(counts["origin"])
    s = scores[scores["origin"].isin(event_days)]
    merged = s.merge(counts, on=["origin", "cell_x", "cell_y"], how="left").fillna(
        {"label_count": 0}
    )
    out = {}
    for method, g in merged.groupby("method"):
        w = hotspot_windows(g)
        out[method] = pooled_hotspot_metrics(w)
    return out
