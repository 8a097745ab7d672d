"""City-wide daily landslide nowcast: the expected number of landslides per day, built on
the rain-threshold rules so that it can only add to them.

* **Inputs** (:func:`citywide_inputs`): the rule indices of
  :mod:`features.rain_indices` (multi-duration totals and maxima, intensities,
  Caine and Guzzetti exceedance ratios, API, effective and antecedent rain), the season,
  the reporting calendar and era (:mod:`features.landslide_reporting`) and the
  landslides known on earlier days. Rain up to the end of the day (a nowcast), landslide
  records known before the day.
* **Monotone in rain**: every rain index enters with a +1 XGBoost monotone constraint and
  every rain index is non-decreasing in every day's rain, so raising any day's rain never
  lowers the nowcast: a wetter day is never judged safer than the rules judge it.
* **Severity, one model** (:class:`CountNowcast`): XGBoost ``count:poisson`` predicts the
  expected landslides per day ``mu``; the day's count is taken as negative binomial with
  mean ``mu`` and variance ``mu + alpha mu^2``, ``alpha`` fitted by maximum likelihood on
  the training days (counts censored at the label cap). ``P(>= k) = NB survival(k - 1)``,
  so P(>= 1) and P(>= 10) come from the same ``mu`` and never contradict each other.
  Training labels are capped (``label_cap``): a day with 300 landslides would otherwise
  dominate the Poisson fit; the cap is above the 10 of a major day and the censored
  likelihood keeps ``alpha`` consistent with it.
* **Severity at the extremes** (:class:`CountModelParams`): ``stack_inputs`` (default:
  effective rain and 72-hour rain) adds a monotone last layer (``log mu`` plus
  ``c log(index / its training 99.5% quantile)`` above that quantile, ``c >= 0`` fitted on
  the training days) so that past the training data, where the trees go flat, the rules'
  order carries through: chosen on the design years 1995-2004, where it left every >= 1
  figure as it was and raised the Spearman of count and score on the >= 10 days from 0.114
  to 0.223 (docs/benchmarks-models.md). ``offset_inputs`` (off) boosts from the rule
  instead (a Poisson GLM on ``log1p`` of rain indices, slopes >= 0, as every day's base
  margin; :class:`RuleOffset`, :func:`nowcast_dmatrix` builds the rows for fitting and
  prediction alike): it lost >= 1 skill on the design years, the trees (monotone +1 in
  rain) can add slope to the GLM's but never remove it.
* **The rule as a band** (:class:`RuleFloor`, ``floor_*``): on the days whose effective
  rain is above its training 99% quantile, the expected count is held within a factor 1.5
  of the rule's own (a Poisson GLM ``b0 + b1 log(index / knee)``, ``b1 >= 0``, fitted on
  those training days, labels capped at 30); below the knee only the ceiling applies (1.5 x
  the rule's count at the knee). Where the trees disagree with the rule by more than 1.5x,
  the rule's order of the wettest days decides. Both bounds are non-decreasing in rain, so
  the nowcast stays monotone. Chosen on the design years 1995-2004 by a rule written before
  the variants were run (docs/benchmarks-models.md, Hong Kong section).
* **Levels** (:func:`level_thresholds`): red and orange warn, on the training years, on as
  many days per year as the Observatory issued Red (4.6) and Amber (21.3) rainstorm signals
  per year in 1992-2010; yellow when P(>= 1) >= 0.5; blue at the threshold of P(>= 1) that
  maximised TSS on the training years. Every threshold comes from training days only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import optimize, stats

from features.landslide_reporting import calendar_inputs, daily_counts, reporting_era
from features.rain_indices import RainIndexParams, rain_index_columns, rain_indices
from models.metrics import best_threshold_tss

LEVEL_NAMES = ("blue", "yellow", "orange", "red")  # levels 1..4
# Hong Kong Observatory, "Interesting Statistics on Rainstorm Warning Signals" (LI Kin-wai,
# June 2011): signals issued per year on average, 1992-2010
HKO_SIGNALS_PER_YEAR = {"amber": 21.3, "red": 4.6, "black": 1.2}


@dataclass(frozen=True)
class CountModelParams:
    """XGBoost settings of the count model (chosen on 1995-2004, see docs)."""

    rounds: int = 300
    max_depth: int = 2
    learning_rate: float = 0.05
    min_child_weight: float = 5.0
    subsample: float = 0.8
    max_delta_step: float = 0.7
    label_cap: int = 20
    seed: int = 0
    # boost from the rule: rain indices of the Poisson GLM whose log mean is every day's
    # starting margin (empty: no offset, trees start from a constant)
    offset_inputs: tuple[str, ...] = ()
    offset_label_cap: int | None = None  # cap of the GLM's labels (None: uncapped)
    # the GLM's rain slopes are multiplied by this (intercept refitted): the trees can only
    # add slope in rain (monotone +1), never remove it, so an offset steeper than the data
    # cannot be corrected; a fraction < 1 leaves the rest of the slope to the trees
    offset_slope_scale: float = 1.0
    # a monotone last layer on the trees: log mu = log mu_trees + c_j z_j (z_j as in
    # RuleOffset, knee at ``stack_knee_quantile``), c_j >= 0 fitted on the training days
    # with labels capped at ``stack_label_cap``: above the knee, where the trees plateau,
    # the rule's own order carries through (empty: no layer)
    stack_inputs: tuple[str, ...] = ("effective_rain_mm", "rain_3d_mm")
    stack_knee_quantile: float = 0.995
    stack_label_cap: int | None = None
    # the rule as a floor: above the training ``floor_knee_quantile`` of ``floor_input``,
    # mu >= mu_rule / floor_band, mu_rule = exp(b0 + b1 log(index / knee)) (b1 >= 0) a
    # Poisson GLM fitted on the training days above the knee (labels capped at
    # ``floor_label_cap``): where the trees (and the last layer) say less than the rule, the
    # rule's order decides (None: no floor)
    floor_input: str | None = "effective_rain_mm"
    floor_knee_quantile: float = 0.99
    floor_band: float = 1.5
    floor_label_cap: int | None = 30
    # and as a ceiling: mu <= mu_rule * floor_cap_band on every day (mu_rule is constant below
    # the knee, so the ceiling is non-decreasing in rain too); None: no ceiling
    floor_cap_band: float | None = 1.5


@dataclass(frozen=True)
class LevelPolicy:
    """How the four warning levels are set on training days."""

    red_days_per_year: float = HKO_SIGNALS_PER_YEAR["red"]
    orange_days_per_year: float = HKO_SIGNALS_PER_YEAR["amber"]
    yellow_p_any: float = 0.5


def citywide_inputs(
    rain: pd.Series,
    days: pd.DataFrame,
    first_year: int,
    rain_params: RainIndexParams | None = None,
    era_window_years: int = 5,
) -> pd.DataFrame:
    """Model inputs per day of ``rain`` (complete daily index) and ``label_count``.

    ``days``: landslide records (``occurred_day``, ``known_day``; :func:`landslide_days`);
    ``first_year``: first year of the landslide record (the era input starts there).
    """
    idx = pd.DatetimeIndex(rain.index)
    f = rain_indices(rain, rain_params)
    doy = idx.day_of_year.to_numpy()
    f["season_sin"] = np.sin(2 * np.pi * doy / 365.25)
    f["season_cos"] = np.cos(2 * np.pi * doy / 365.25)
    f = f.join(calendar_inputs(idx))
    prev = daily_counts(days, idx, by="known_day").shift(1, fill_value=0)
    for n in (1, 7, 30):
        f[f"landslides_prev_{n}d"] = prev.rolling(n, min_periods=1).sum().to_numpy(float)
    years = np.unique(idx.year)
    era = reporting_era(days, years, first_year, era_window_years)
    f["era_landslide_days_per_year"] = era.reindex(idx.year).to_numpy()
    f["label_count"] = daily_counts(days, idx).to_numpy()
    return f


def rain_columns(columns: list[str] | pd.Index, params: RainIndexParams | None = None) -> list[str]:
    """The rain-index columns among ``columns`` (the ones constrained to raise the nowcast)."""
    rain = set(rain_index_columns(params))
    return [c for c in columns if c in rain]


def monotone_constraints(columns: list[str], params: RainIndexParams | None = None) -> str:
    """XGBoost constraint string: +1 for every rain index, 0 for the other inputs."""
    rain = set(rain_columns(columns, params))
    return "(" + ",".join("1" if c in rain else "0" for c in columns) + ")"


def nb_at_least(mu: np.ndarray, alpha: float, k: int) -> np.ndarray:
    """P(N >= k) for a negative binomial with mean ``mu`` and variance mu + alpha mu^2."""
    mu = np.asarray(mu, dtype=float)
    n = 1.0 / alpha
    return np.asarray(stats.nbinom.sf(k - 1, n, n / (n + mu)), dtype=float)


def nb_dispersion(y: np.ndarray, mu: np.ndarray, cap: int) -> float:
    """Maximum-likelihood ``alpha`` of NB(mu, alpha) for counts censored at ``cap``."""
    y = np.asarray(y, dtype=float)
    mu = np.maximum(np.asarray(mu, dtype=float), 1e-9)
    below = y < cap

    def nll(log_alpha: float) -> float:
        n = 1.0 / np.exp(log_alpha)
        p = n / (n + mu)
        ll = np.where(
            below,
            stats.nbinom.logpmf(np.minimum(y, cap), n, p),
            stats.nbinom.logsf(cap - 1, n, p),
        )
        return float(-ll.sum())

    res = optimize.minimize_scalar(nll, bounds=(-7.0, 4.0), method="bounded")
    return float(np.exp(res.x))


@dataclass(frozen=True)
class RuleOffset:
    """A Poisson GLM on rain indices: ``log mu0 = intercept + sum_j coef_j z_j`` with
    ``z_j = log1p(max(index_j - knee_j, 0) / max(knee_j, 1))`` (``log1p(index_j)`` for knee
    0, ``log(index_j / knee_j)`` above a positive knee and 0 below it) and every
    ``coef_j >= 0``, so ``mu0`` is non-decreasing in every index (and in every day's rain).
    A missing index (NaN) counts as 0 (a dry day's term)."""

    columns: tuple[str, ...]
    intercept: float
    coefs: tuple[float, ...]
    knees: tuple[float, ...]

    def log_mu(self, x: pd.DataFrame) -> np.ndarray:
        """``log mu0`` of the rows of ``x`` (the model's base margin)."""
        z = _glm_design(x, self.columns, self.knees)
        return np.asarray(self.intercept + z @ np.array(self.coefs))


def _glm_design(x: pd.DataFrame, columns: tuple[str, ...], knees: tuple[float, ...]) -> np.ndarray:
    k = np.asarray(knees, dtype=float)
    v = x[list(columns)].to_numpy(float)
    z = np.log1p(np.maximum(v - k, 0.0) / np.maximum(k, 1.0))
    return np.asarray(np.nan_to_num(z, nan=0.0))


def fit_rule_offset(
    x: pd.DataFrame,
    y: np.ndarray,
    columns: tuple[str, ...],
    label_cap: int | None = None,
    slope_scale: float = 1.0,
    knee_quantile: float = 0.0,
    base: np.ndarray | None = None,
) -> RuleOffset:
    """Maximum-likelihood Poisson GLM of ``y`` (capped at ``label_cap`` if given) on
    ``log1p`` of the rain indices ``columns``, coefficients on rain constrained >= 0; the
    coefficients are then multiplied by ``slope_scale`` and the intercept refitted (the
    GLM's mean count stays the training mean); each index's knee is its
    ``knee_quantile`` over the training days (0: no knee). With ``base`` (a log mean per
    row, e.g. the trees'), the GLM is fitted on top of it with no intercept (0)."""
    knees = tuple(
        float(np.nanquantile(x[c].to_numpy(float), knee_quantile)) if knee_quantile > 0 else 0.0
        for c in columns
    )
    z = _glm_design(x, columns, knees)
    y = np.asarray(y, dtype=float)
    if label_cap is not None:
        y = np.minimum(y, label_cap)
    design = np.column_stack([np.ones(len(z)), z])
    b0 = np.zeros(len(z)) if base is None else np.asarray(base, dtype=float)

    def nll(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = np.clip(b0 + design @ beta, -30.0, 30.0)
        mu = np.exp(eta)
        return float((mu - y * eta).sum()), design.T @ (mu - y)

    beta0 = np.zeros(design.shape[1])
    beta0[0] = np.log(max(y.mean(), 1e-6)) if base is None else 0.0
    bounds = [(None, None) if base is None else (0.0, 0.0)] + [(0.0, None)] * len(columns)
    res = optimize.minimize(nll, beta0, jac=True, method="L-BFGS-B", bounds=bounds)
    coefs = np.asarray(res.x[1:]) * slope_scale
    intercept = float(res.x[0])
    if slope_scale != 1.0:
        intercept = float(np.log(max(y.sum(), 1e-9)) - np.log(np.exp(z @ coefs).sum()))
    return RuleOffset(tuple(columns), intercept, tuple(float(b) for b in coefs), knees)


@dataclass(frozen=True)
class RuleFloor:
    """The rule's expected count as a lower bound of the nowcast: on a day whose index
    ``column`` is at least ``knee``, ``mu >= exp(glm.log_mu) / band`` (``glm``: a
    :class:`RuleOffset` on that one index with a knee, slope >= 0); below the knee no bound.
    The bound is non-decreasing in the index (0 below the knee, then rising), so
    ``max(mu, bound)`` keeps the nowcast monotone in rain."""

    glm: RuleOffset
    band: float
    cap_band: float | None = None

    @property
    def column(self) -> str:
        return self.glm.columns[0]

    def bound(self, x: pd.DataFrame) -> np.ndarray:
        """The lower bound of ``mu`` per row of ``x`` (0 below the knee or for a missing
        index)."""
        v = x[self.column].to_numpy(float)
        above = np.nan_to_num(v, nan=-np.inf) >= self.glm.knees[0]
        return np.where(above, np.exp(self.glm.log_mu(x)) / self.band, 0.0)

    def ceiling(self, x: pd.DataFrame) -> np.ndarray:
        """The upper bound of ``mu`` per row (inf without ``cap_band``): the rule's count
        times ``cap_band``, on every day (constant below the knee)."""
        if self.cap_band is None:
            return np.full(len(x), np.inf)
        return np.exp(self.glm.log_mu(x)) * self.cap_band

    def apply(self, mu: np.ndarray, x: pd.DataFrame) -> np.ndarray:
        """``mu`` held between :meth:`bound` and :meth:`ceiling` (both non-decreasing in
        rain, bound <= ceiling, so the result stays monotone in rain)."""
        return np.minimum(np.maximum(mu, self.bound(x)), self.ceiling(x))


def fit_rule_floor(
    x: pd.DataFrame,
    y: np.ndarray,
    column: str,
    knee_quantile: float,
    band: float,
    label_cap: int | None = None,
    cap_band: float | None = None,
) -> RuleFloor:
    """:class:`RuleFloor` fitted on the training days whose ``column`` is at least its
    ``knee_quantile`` over the training days (``log mu = b0 + b1 log(index / knee)``)."""
    knee = float(np.nanquantile(x[column].to_numpy(float), knee_quantile))
    tail = np.nan_to_num(x[column].to_numpy(float), nan=-np.inf) >= knee
    z = _glm_design(x[tail], (column,), (knee,))[:, 0]  # the design RuleOffset serves with
    yt = np.asarray(y, dtype=float)[tail]
    if label_cap is not None:
        yt = np.minimum(yt, label_cap)

    def nll(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = np.clip(beta[0] + beta[1] * z, -30.0, 30.0)
        mu = np.exp(eta)
        return float((mu - yt * eta).sum()), np.array([(mu - yt).sum(), ((mu - yt) * z).sum()])

    res = optimize.minimize(
        nll,
        np.array([np.log(max(yt.mean(), 1e-6)), 0.0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[(None, None), (0.0, None)],
    )
    glm = RuleOffset((column,), float(res.x[0]), (float(res.x[1]),), (knee,))
    return RuleFloor(glm, band, cap_band)


def nowcast_dmatrix(
    x: pd.DataFrame,
    columns: tuple[str, ...] | list[str],
    offset: RuleOffset | None,
    label: np.ndarray | None = None,
) -> xgb.DMatrix:
    """The one way the count model's rows are built, for fitting and for prediction: the
    inputs ``columns`` and, with an ``offset``, its ``log mu0`` as the base margin."""
    cols = list(columns)
    d = xgb.DMatrix(x[cols].to_numpy(np.float32), label=label, feature_names=cols)
    if offset is not None:
        d.set_base_margin(offset.log_mu(x))
    return d


@dataclass(frozen=True)
class CountNowcast:
    """A fitted count model: expected landslides per day and NB tail probabilities; with
    ``offset``, the trees multiply the rule GLM's ``mu0`` (boosted from the rule)."""

    booster: xgb.Booster
    columns: tuple[str, ...]
    dispersion: float
    offset: RuleOffset | None = None
    stack: RuleOffset | None = None
    floor: RuleFloor | None = None

    def expected(self, x: pd.DataFrame) -> np.ndarray:
        """Expected landslides per day of the rows of ``x`` (the one function that fitting,
        thresholds and serving all call)."""
        d = nowcast_dmatrix(x, self.columns, self.offset)
        mu = np.asarray(self.booster.predict(d), dtype=float)
        if self.stack is not None:
            mu = mu * np.exp(self.stack.log_mu(x))
        if self.floor is not None:
            mu = self.floor.apply(mu, x)
        return mu

    def p_at_least(self, mu: np.ndarray, k: int) -> np.ndarray:
        """P(>= k landslides) for expected counts ``mu``."""
        return nb_at_least(mu, self.dispersion, k)

    def mu_for_p_at_least(self, p: float, k: int) -> float:
        """The expected count at which P(>= k) reaches ``p`` (P is increasing in mu)."""
        return float(
            optimize.brentq(
                lambda m: nb_at_least(np.array([m]), self.dispersion, k)[0] - p, 1e-9, 1e6
            )
        )


def fit_count_nowcast(
    x: pd.DataFrame, y: np.ndarray, params: CountModelParams | None = None
) -> CountNowcast:
    """Fit the monotone count model on training days ``x`` (inputs) and ``y`` (counts)."""
    p = params or CountModelParams()
    cols = list(x.columns)
    y = np.asarray(y, dtype=float)
    offset = (
        fit_rule_offset(x, y, p.offset_inputs, p.offset_label_cap, p.offset_slope_scale)
        if p.offset_inputs
        else None
    )
    booster = xgb.train(
        {
            "objective": "count:poisson",
            "max_depth": p.max_depth,
            "learning_rate": p.learning_rate,
            "min_child_weight": p.min_child_weight,
            "subsample": p.subsample,
            "max_delta_step": p.max_delta_step,
            "monotone_constraints": monotone_constraints(cols),
            "nthread": 1,
            "seed": p.seed,
        },
        nowcast_dmatrix(x, cols, offset, label=np.minimum(y, p.label_cap)),
        p.rounds,
    )
    model = CountNowcast(booster, tuple(cols), 1.0, offset)
    if p.stack_inputs:
        log_trees = np.log(np.maximum(model.expected(x), 1e-12))
        stack = fit_rule_offset(
            x, y, p.stack_inputs, p.stack_label_cap, 1.0, p.stack_knee_quantile, base=log_trees
        )
        model = CountNowcast(booster, tuple(cols), 1.0, offset, stack)
    if p.floor_input is not None:
        floor = fit_rule_floor(
            x,
            y,
            p.floor_input,
            p.floor_knee_quantile,
            p.floor_band,
            p.floor_label_cap,
            p.floor_cap_band,
        )
        model = CountNowcast(booster, tuple(cols), 1.0, offset, model.stack, floor)
    alpha = nb_dispersion(y, model.expected(x), p.label_cap)
    return CountNowcast(booster, tuple(cols), alpha, offset, model.stack, model.floor)


def threshold_at_rate(score: np.ndarray, days_per_year: float) -> float:
    """The score threshold that warns on ``days_per_year`` of the days of ``score`` (warn
    when score >= it), e.g. a year's worth of training days."""
    s = np.sort(np.asarray(score, dtype=float))[::-1]
    n_warn = round(days_per_year * s.size / 365.25)
    if n_warn <= 0:
        return float(np.nextafter(s[0], np.inf))
    return float(s[min(n_warn, s.size) - 1])


def level_thresholds(
    mu_train: np.ndarray, y_train: np.ndarray, model: CountNowcast, policy: LevelPolicy
) -> dict[str, float]:
    """Thresholds on the expected count for blue / yellow / orange / red, from training days
    only, nested (blue <= yellow <= orange <= red)."""
    red = threshold_at_rate(mu_train, policy.red_days_per_year)
    orange = min(threshold_at_rate(mu_train, policy.orange_days_per_year), red)
    yellow = min(model.mu_for_p_at_least(policy.yellow_p_any, 1), orange)
    blue = min(best_threshold_tss(np.asarray(y_train) >= 1, mu_train), yellow)
    return {"blue": blue, "yellow": yellow, "orange": orange, "red": red}


def levels_from(score: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """Level 0-4 per day: the highest level whose threshold the score reaches."""
    s = np.asarray(score, dtype=float)
    lvl = np.zeros(s.size, dtype=int)
    for i, name in enumerate(LEVEL_NAMES, start=1):
        lvl[s >= thresholds[name]] = i
    return lvl


def warned_days_per_year(score: np.ndarray, threshold: float) -> float:
    """Days per year with ``score >= threshold`` among the days of ``score``."""
    s = np.asarray(score, dtype=float)
    return float((s >= threshold).sum() * 365.25 / max(s.size, 1))
