"""City-wide daily landslide nowcasts beside the rain-threshold rules they must beat.

A day's nowcast may use rain observed up to the end of that day and landslide records
known before it. The model (:mod:`models.citywide_nowcast`) predicts the expected
landslides per day from the rule indices (monotone in rain), and P(>= 1) and P(>=
``major_threshold``) from one negative-binomial tail.

Rolling origin by year: for each evaluation year Y everything is fixed on 1 January of Y
from the landslide records known by then: the model is fitted on every day from
``train_start`` (default: the first year of the landslide record) to 31 December of Y - 1,
with labels counting only records known before 1 January of Y; its dispersion, the
reporting-era input and every warning threshold come from those training days. Nothing of
year Y is seen.

The rules (Caine 1980 and Guzzetti 2008 intensity-duration ratios, 15-day effective rain,
72-hour rain) are run through the same machinery with their one index as the only input:
the same count learner maps the index to an expected count (and P(>= 1), P(>= major)), and
each level warns on as many training days per year as the model's level does, so every
method is judged at the same warning rate. A rule's ranking score is its own index.

``ceiling_crossfit`` (ex post, for scale): the same model and level policy fitted on every
other year of the record, future years included, and scored on the held-out year.

Per 1 km cell: the day's ``p_any`` times the cell's susceptibility prior (its share of
landslides before the evaluation year, Gaussian-smoothed, sigma 0.5 cell), the
same prior for every method. Within a day this ranks cells by the prior alone; pooled
over all cell-days of the window the day's probability decides which cell-days rank high
(hit rate / PAI at k% of cell-days, AUC).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from features.cells import visible_mask
from features.landslide_reporting import daily_counts
from models.citywide_nowcast import (
    LEVEL_NAMES,
    CountModelParams,
    LevelPolicy,
    citywide_inputs,
    fit_count_nowcast,
    level_thresholds,
    levels_from,
    threshold_at_rate,
    warned_days_per_year,
)
from models.metrics import (
    AREA_FRACTIONS,
    hotspot_windows,
    pooled_hotspot_metrics,
    rank_auc,
    warning_metrics,
    window_hit_table,
)

MODEL = "xgboost"
RULES = {
    "caine": "caine_ratio",
    "guzzetti": "guzzetti_ratio",
    "effective_rain": "effective_rain_mm",
    "rain_72h": "rain_3d_mm",
}
CROSSFIT = "ceiling_crossfit"
CITY_COLUMNS = ["date", "method", "score", "expected_landslides", "p_any", "p_major", "level"]


@dataclass(frozen=True)
class GeohazardSpec:
    """Evaluation years, training start, major-day threshold, model and level policy."""

    tz: str
    start: pd.Timestamp
    end: pd.Timestamp
    train_start: pd.Timestamp | None = None  # None: 1 January of the record's first year
    major_threshold: int = 10
    model: CountModelParams = field(default_factory=CountModelParams)
    levels: LevelPolicy = field(default_factory=LevelPolicy)
    rules: tuple[str, ...] = tuple(RULES)  # the rules scored beside the model
    drop_inputs: tuple[str, ...] = ()  # model inputs left out (design comparisons)


def daily_rain(readings: pd.DataFrame, tz: str) -> pd.Series:
    """Daily rain (mm) per local date from ``sensor_readings`` rows (``rain_mm``)."""
    r = readings[readings["quantity"] == "rain_mm"] if "quantity" in readings else readings
    day = pd.DatetimeIndex(r["observed_at"]).tz_convert(tz).tz_localize(None).normalize()
    s = pd.Series(r["value"].astype(float).to_numpy(), index=day).groupby(level=0).sum(min_count=1)
    full = pd.date_range(s.index.min(), s.index.max(), freq="D")
    return s.reindex(full).rename("rain_mm")


def record_first_year(days: pd.DataFrame) -> int:
    """First calendar year of the landslide record."""
    if days.empty:
        raise ValueError("no landslide records with a date")
    return int(pd.DatetimeIndex(days["occurred_day"]).year.min())


def _fit_and_score(
    x: pd.DataFrame,
    train: np.ndarray,
    y_train: np.ndarray,
    score_rows: np.ndarray,
    era_value: float,
    spec: GeohazardSpec,
    major: int,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Fit the model and the rules on ``train`` rows; score ``score_rows`` (every row
    label-free); return the scored rows and each method's thresholds."""
    era_col = "era_landslide_days_per_year"
    x_train = x[train]
    model = fit_count_nowcast(x_train.drop(columns=list(spec.drop_inputs)), y_train, spec.model)
    # the thresholds judge the training years' weather as this year's reporting era would
    mu_thr = model.expected(x_train.assign(**{era_col: era_value}))
    thr = level_thresholds(mu_thr, y_train, model, spec.levels)
    rates = {lv: warned_days_per_year(mu_thr, t) for lv, t in thr.items()}
    clim = {"any": float(np.mean(y_train >= 1)), "major": float(np.mean(y_train >= major))}
    rows, info = [], []
    mu = model.expected(x[score_rows])
    methods: list[tuple[str, np.ndarray, np.ndarray, Any, dict[str, float]]] = [
        (MODEL, mu, mu, model, thr)
    ]
    for name in spec.rules:
        col = RULES[name]
        # a rule's probabilities: the count learner on its one index, no offset
        rule_params = replace(spec.model, offset_inputs=(), stack_inputs=(), floor_input=None)
        rule_model = fit_count_nowcast(x_train[[col]], y_train, rule_params)
        index_train = x_train[col].to_numpy(float)
        rule_thr = {lv: threshold_at_rate(index_train, rates[lv]) for lv in LEVEL_NAMES}
        for lower, upper in reversed(list(pairwise(LEVEL_NAMES))):  # nested, top down
            rule_thr[lower] = min(rule_thr[lower], rule_thr[upper])
        index = x.loc[score_rows, col].to_numpy(float)
        methods.append(
            (name, index, rule_model.expected(x.loc[score_rows, [col]]), rule_model, rule_thr)
        )
    for name, score, expected, fitted, t in methods:
        rows.append(
            pd.DataFrame(
                {
                    "date": x.index[score_rows],
                    "method": name,
                    "score": score,
                    "expected_landslides": expected,
                    "p_any": fitted.p_at_least(expected, 1),
                    "p_major": fitted.p_at_least(expected, major),
                    "level": levels_from(score, t),
                }
            )
        )
        info.append(
            {
                "method": name,
                "thresholds": t,
                "training_warned_days_per_year": rates,
                "dispersion": fitted.dispersion,
                "climatology": clim,
                "era_landslide_days_per_year": era_value,
                "n_training_days": int(train.sum()),
            }
        )
    return pd.concat(rows, ignore_index=True), info


def run_citywide_backtest(
    rain: pd.Series, days: pd.DataFrame, spec: GeohazardSpec, crossfit: bool = False
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Daily nowcasts per method for the evaluation years, and their thresholds.

    ``rain``: daily rain (complete local-day index, NaN = unavailable); ``days``: landslide
    records (``occurred_day``, ``known_day``). With ``crossfit``, ``ceiling_crossfit`` rows
    are added (ex post). Returns the rows (:data:`CITY_COLUMNS` + ``level_prev_day``) and
    ``{"thresholds": [...], "major_threshold", "train_start"}``.
    """
    first = record_first_year(days)
    train_start = spec.train_start or pd.Timestamp(f"{first}-01-01")
    x_all = citywide_inputs(rain, days, first)
    x_all = x_all[x_all.index >= train_start]
    label = x_all.pop("label_count").to_numpy()
    idx = pd.DatetimeIndex(x_all.index)
    major = spec.major_threshold
    out, thresholds = [], []
    for year in range(spec.start.year, spec.end.year + 1):
        cut = pd.Timestamp(f"{year}-01-01")
        ev = np.asarray(
            (idx >= max(cut, spec.start)) & (idx <= min(spec.end, pd.Timestamp(f"{year}-12-31")))
        )
        if not ev.any():
            continue
        era = float(x_all.loc[ev, "era_landslide_days_per_year"].iloc[0])
        train = np.asarray(idx < cut)
        y_known = daily_counts(days, idx, known_before=cut).to_numpy()
        setups = [(MODEL, train, y_known[train], spec)]
        if crossfit:
            other = np.asarray(idx.year != year)
            setups.append((CROSSFIT, other, label[other], replace(spec, rules=())))
        for kind, tr, y_tr, sp in setups:
            if not tr.any():
                raise ValueError(
                    f"no training days before {year} (train start {train_start.date()})"
                )
            rows, info = _fit_and_score(x_all, tr, y_tr, ev, era, sp, major)
            if kind == CROSSFIT:
                rows = rows[rows["method"] == MODEL].assign(method=CROSSFIT)
                info = [dict(i, method=CROSSFIT) for i in info if i["method"] == MODEL]
            out.append(rows)
            thresholds += [dict(i, year=year) for i in info]
    if not out:
        raise ValueError(f"no days between {spec.start.date()} and {spec.end.date()}")
    city = pd.concat(out, ignore_index=True).sort_values(["method", "date"], kind="stable")
    gap = city.groupby("method")["date"].diff() != pd.Timedelta(days=1)
    prev = city.groupby("method")["level"].shift(1, fill_value=0)
    city["level_prev_day"] = prev.where(~gap, 0).astype(int)
    city["n_events"] = pd.Series(label, index=idx).reindex(city["date"]).to_numpy()
    city["date"] = city["date"].dt.date
    meta = {"thresholds": thresholds, "major_threshold": major, "train_start": train_start}
    return city.reset_index(drop=True), meta


def native_threshold_metrics(
    x: pd.DataFrame, n_events: np.ndarray, major_threshold: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Caine and Guzzetti as published: warn on a day whose rain exceeds the
    intensity-duration curve (ratio >= 1), no calibration and no chosen threshold."""
    n = np.asarray(n_events)
    return {
        name: {
            target: warning_metrics(x[RULES[name]].to_numpy() >= 1.0, n >= k)
            for target, k in (("any", 1), ("major", major_threshold))
        }
        for name in ("caine", "guzzetti")
    }


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
      flagged): HR = landslides in flagged cell-days / all landslides of the scored days,
      PAI = HR / k, and the AUC of a cell-day (of the scored cells) having a landslide.
      This is where the city-wide daily probability matters.

    Every landslide of a scored day counts (the standard count): one in a cell outside
    the scored cells (no landslide there before) is a miss for every method
    (``n_events_outside``).
    """
    day = pd.DatetimeIndex(events_cells["occurred_at"]).tz_convert(tz).tz_localize(None)
    counts = (
        events_cells.assign(origin=day.normalize().date)
        .groupby(["origin", "cell_x", "cell_y"])
        .size()
        .rename("label_count")
        .reset_index()
    )
    scored_cells = scores[["cell_x", "cell_y"]].drop_duplicates()
    in_area = counts.merge(scored_cells, on=["cell_x", "cell_y"], how="left", indicator=True)
    outside_all = counts[(in_area["_merge"] == "left_only").to_numpy()]
    merged = scores.merge(counts, on=["origin", "cell_x", "cell_y"], how="left").fillna(
        {"label_count": 0}
    )
    out: dict[str, dict[str, float]] = {}
    for method, g in merged.groupby("method"):
        days = set(g["origin"])
        outside = outside_all[outside_all["origin"].isin(days)]
        event_days = set(counts["origin"]) & days
        on_days = g[g["origin"].isin(event_days)]
        windows = hotspot_windows(on_days, outside=outside)
        res = {f"day_{k}": v for k, v in pooled_hotspot_metrics(windows).items()}
        st = window_hit_table(
            g["score"].to_numpy(), g["label_count"].to_numpy(), outside=outside["label_count"]
        )
        for f in AREA_FRACTIONS:
            hr = st[f"captured@{f:g}"] / st["events"] if st["events"] > 0 else float("nan")
            res[f"st_hit_rate@{f:g}"] = float(hr)
            res[f"st_pai@{f:g}"] = float(hr / st[f"share@{f:g}"])
        res["st_auc"] = rank_auc(g["label_count"].to_numpy() > 0, g["score"].to_numpy())
        res["n_events"] = float(st["events"])
        res["n_events_outside"] = float(outside["label_count"].sum())
        res["n_event_days"] = float(len(event_days))
        out[str(method)] = res
    return out
