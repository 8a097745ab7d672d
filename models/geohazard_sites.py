"""Monitored-site geohazard models (domains ``geohazard`` and ``geohazard_hourly``).

One row per (origin, monitored site) from
:func:`features.geohazard.build_site_features` (rain at the site's gauge,
displacement kinematics, sensor health, static site data; only readings that ended
before the origin). Two tasks:

* ``geohazard`` (site x day): origins at local midnight, label = a failure at the site
  during that local day (``[origin, origin + 24 h)``). One day matches the daily duty
  briefing and the city-wide Hong Kong nowcast; the sensors' tertiary creep usually
  announces a failure within a day or two, so a longer horizon would mostly add rain
  climatology.
* ``geohazard_hourly`` (site x hour): origins every hour, label = a failure within the
  next 24 h. This is the nowcast's model (``riskwarn.nowcast.nowcast_geohazard``).

Objective ``binary:logistic``: failures are rare (tens over years at hundreds of sites),
duty staff need the probability of *this* site failing (calibrated, comparable across
sites and hours, and combined with the hard sensor rules by probability thresholds), and
a ranking objective would only order the sites of one hour.

The trees are boosted from a prior, not from a constant (:class:`VelocityPrior`, XGBoost
``base_margin``): log-odds ``a + asinh(velocity)``, i.e. odds proportional to the site's
displacement velocity as the inverse-velocity law implies, with ``a`` fitted on the
training rows. Trees are grown on top only when the fit slice holds at least
``min_tree_failures`` distinct failures; with fewer, the model is the prior. The raw
margin is then calibrated on a later slice by Platt scaling shrunk towards the identity
(:func:`fit_shrunk_platt`), which keeps the ranking and is not thrown about by a slice
with one or two failures. Why: on the simulated city (30 failures in Mar-Sep 2024, 27 of
them in the Jul-Sep evaluation window, most in one July storm) trees grown from a
constant on the 1-5 failures of the early refits lost to the plain velocity, and
unpenalised Platt on such slices changed the scale from refit to refit (daily backtest:
AUC 0.839 on the raw margin, 0.712 after calibration; velocity 0.862).

The job mirrors :mod:`models.case_models`:

1. rolling-origin backtest over the latest ``eval_days``: at each refit origin only rows
   whose label window ended before it are used (:func:`site_training_rows`); trees are
   grown on the oldest rows, stopped early (log loss) on the next slice and calibrated on
   the latest slice; the warning threshold (max TSS) is chosen on those two later slices;
2. baselines scored on the same rows, each with its max-TSS threshold from the training
   rows: Caine (1980) and Guzzetti et al. (2008) intensity-duration exceedance at the
   site's gauge, effective (antecedent) rainfall, the improved tangent angle, the
   displacement velocity, and the nowcast's own sensor rules (:mod:`riskwarn.warnings`);
3. metrics from the harness (:mod:`models.metrics`): AUC, AP, Brier, ECE,
   POD/FAR/TSS/CSI at the threshold, failures warned and lead time, with bootstrap CIs
   resampling whole local days (hours of a day are not independent);
4. the gate (:func:`models.registry.gate`) on AUC (paired day bootstrap against
   every baseline and the champion) plus the ECE bound; a final model on every complete
   row is logged and registered as ``riskwarn-<domain>``.

Features whose value depends on how much history is read (the 365-day rain percentile,
the creep rate since the sensor's first reading and the tangent angle built on it) are
left out of the model: the nowcast reads 35 days of readings, training reads years, and
a model must see the same quantity in both. The tangent-angle and inverse-velocity
*rules* still apply on top of the model in the nowcast.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from models.backtest import FittedModel
from models.calibration import Calibrator, fit_calibrator
from models.explain import contributions, global_importance
from models.metrics import (
    best_threshold_tss,
    probability_metrics,
    ranking_metrics,
    warning_metrics,
)
from models.registry import (
    GateResult,
    champion_version,
    gate,
    load_champion,
    log_training_run,
    model_name,
    settle_gate,
)
from riskwarn import domains

log = logging.getLogger(__name__)

KEYS = ["origin", "site_id"]
LABEL = "label_any"
# inputs whose value depends on the length of history read (see the module docstring)
HISTORY_DEPENDENT = (
    "rain_24h_pct_rank",
    "rain_24h_vs_p99",
    "steady_velocity_mm_per_day",
    "tangent_angle_deg",
)
# left out of the model: static site attributes and sensor-health flags. With tens of
# failures in years of data the trees split on them by chance (simulated city, daily
# backtest Jul-Sep 2024, refit every 3 days: AUC 0.65 with them, 0.71 without); sensor
# health is stated explicitly by the nowcast's rules instead.
NOT_MODEL_INPUTS = (
    "share_missing_",
    "spikes_removed_",
    "drift_flag",
    "dead_sensor_flag",
    "displacement_age_days",
    "slope_class",
    "people_threatened",
    "hazard_type_",
)
INCREASING = (
    "rain_",
    "api_mm",
    "effective_rain",
    "caine_",
    "guzzetti_",
    "velocity_mm_per_day",
    "acceleration_mm_per_day2",
)
DECREASING = ("inverse_velocity_day_per_mm", "fukuzono_hours_to_failure")
# baseline name -> feature column (higher = riskier); "sensor_rules" is added separately
BASELINE_COLUMNS = {
    "caine": "caine_exceedance",
    "guzzetti": "guzzetti_exceedance",
    "effective_rain": "effective_rain_3d_mm",
    "tangent_angle": "tangent_angle_deg",
    "velocity": "velocity_mm_per_day",
}
RULE_COLUMN = "sensor_rule_level"
# the sensor_readings columns the site table needs
READING_COLUMNS = ("sensor_id", "observed_at", "interval_s", "quantity", "value", "quality")


@dataclass(frozen=True)
class SiteModelConfig:
    """Origins, backtest schedule and XGBoost settings of one site domain."""

    step_hours: int = 24
    horizon_hours: int = 24
    tz: str = "Asia/Shanghai"
    eval_days: int = 28
    # failures are rare: each new one should reach the model within days (simulated city,
    # daily backtest Jul-Sep 2024: AUC 0.51 refitting every 14 days, 0.71 every 3 days)
    refit_every_days: int = 3
    train_window_days: int = 730
    train_every_hours: int = 24  # spacing of training origins before the evaluation window
    warmup_days: int = 8  # first origin: this long after the first reading
    es_fraction: float = 0.2
    cal_fraction: float = 0.25
    max_rounds: int = 300
    early_stopping_rounds: int = 30
    # the trees start from a logistic prior on the site's displacement velocity (None:
    # from a constant); see :class:`VelocityPrior`
    prior_column: str | None = "velocity_mm_per_day"
    # with a prior, trees are grown only when the fit slice holds this many distinct
    # failures (fewer: the model is the prior); trees grown on one to three failures
    # learn that site's storm, not failure (see :class:`VelocityPrior`)
    min_tree_failures: int = 10
    # slope of the prior on asinh(velocity) ~ log(2 velocity): 1 = odds proportional to
    # the velocity, as the inverse-velocity law (time to failure ~ 1/velocity) implies;
    # None = fitted on each refit's rows (unstable with a few failures: the scale then
    # changes from refit to refit and scores pooled across refits rank badly)
    prior_slope: float | None = 1.0
    params: tuple[tuple[str, Any], ...] = (
        ("max_depth", 3),
        ("learning_rate", 0.05),
        ("min_child_weight", 0.1),
        ("max_delta_step", 1.0),
        ("subsample", 0.8),
        ("colsample_bytree", 0.8),
        ("reg_lambda", 1.0),
        ("max_bin", 128),
        ("tree_method", "hist"),
        ("nthread", 1),
        ("seed", 0),
    )


def site_config(domain: str, **overrides: Any) -> SiteModelConfig:
    """The config of a site domain: its step and horizon from :mod:`riskwarn.domains`."""
    spec = domains.get(domain)
    if spec.family != "site":
        raise ValueError(f"not a site domain: {domain!r} (one of {domains.names('site')})")
    base = SiteModelConfig(step_hours=spec.step_hours, horizon_hours=spec.horizon_hours)
    if spec.step_hours < 24:
        # hourly origins are strongly autocorrelated: train on every 3rd hour before the
        # evaluation window (every hour inside it), which bounds rows without losing events
        base = replace(base, train_every_hours=3, refit_every_days=7)
    return replace(base, **overrides)


# --------------------------------------------------------------------------- tables


def step_origins(first: pd.Timestamp, last: pd.Timestamp, config: SiteModelConfig):
    """Origins on the domain's step boundaries in ``[first, last]`` (UTC timestamps).

    Daily steps are local midnights; hourly steps are whole UTC hours.
    """
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    if config.step_hours % 24 == 0:
        lo = first.tz_convert(config.tz).tz_localize(None).ceil("D")
        hi = last.tz_convert(config.tz).tz_localize(None).floor("D")
        days = pd.date_range(lo, hi, freq=f"{config.step_hours // 24}D")
        return days.tz_localize(config.tz, nonexistent="shift_forward").tz_convert("UTC")
    return pd.date_range(
        first.tz_convert("UTC").ceil("h"),
        last.tz_convert("UTC").floor("h"),
        freq=f"{config.step_hours}h",
    )


def table_origins(
    first_reading: pd.Timestamp, data_end: pd.Timestamp, config: SiteModelConfig
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """(all origins of the table, evaluation origins) for data up to ``data_end``.

    The last origin is the last one whose label window is complete at ``data_end``;
    evaluation covers its last ``eval_days``; before that, origins every
    ``train_every_hours`` (at least one step).
    """
    last = data_end - pd.Timedelta(hours=config.horizon_hours)
    first = first_reading + pd.Timedelta(days=config.warmup_days)
    every = step_origins(first, last, config)
    if len(every) == 0:
        raise ValueError(f"no complete origin between {first} and {last}")
    eval_start = every[-1] - pd.Timedelta(days=config.eval_days) + pd.Timedelta(hours=1)
    evals = every[every >= eval_start]
    spacing = max(config.train_every_hours // config.step_hours, 1)
    before = every[every < eval_start]
    hours = np.asarray((before - every[0]) / pd.Timedelta(hours=1), dtype=float)
    train = before[hours % (spacing * config.step_hours) == 0]
    return train.union(evals), evals


def build_site_table(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    config: SiteModelConfig,
    *,
    with_rules: bool = True,
) -> pd.DataFrame:
    """Site x origin features, labels and (``with_rules``) the sensor-rule level per row."""
    from features.geohazard import SiteFeatureParams, build_site_features

    params = SiteFeatureParams(
        step_hours=config.step_hours, tz=config.tz, horizon_hours=config.horizon_hours
    )
    table = build_site_features(readings, sensors, sites, hazard_events, origins, params)
    table["origin"] = table["origin"].astype("datetime64[ns, UTC]")
    if with_rules:
        rules = sensor_rule_levels(readings, sensors, pd.DatetimeIndex(origins))
        table = table.merge(rules, on=KEYS, how="left")
        table[RULE_COLUMN] = table[RULE_COLUMN].fillna(0.0).astype(np.float32)
    return table


def sensor_rule_levels(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    origins: pd.DatetimeIndex,
    step: str = "1h",
) -> pd.DataFrame:
    """The nowcast's displacement-rule level (0-4, max over a site's sensors) at each origin.

    Same code and parameters as the nowcast (``riskwarn.nowcast.NOWCAST_RULES``). A
    reading at ``t`` is moved 1 ns later so that an origin's hourly sample holds only
    readings strictly before it.
    """
    from riskwarn.nowcast import DISPLACEMENT_TYPES, NOWCAST_RULES
    from riskwarn.warnings import displacement_kinematics, sensor_levels

    disp_sensors = sensors.loc[
        sensors["sensor_type"].isin(DISPLACEMENT_TYPES) & sensors["site_id"].notna()
    ]
    site_of = disp_sensors.set_index("record_id")["site_id"].astype(str)
    r = readings.loc[
        readings["sensor_id"].isin(site_of.index)
        & readings["quantity"].isin(["displacement_mm", "crack_width_mm"])
        & readings["value"].notna()
    ]
    origins = pd.DatetimeIndex(origins).tz_convert("UTC").as_unit("ns")
    frames = []
    for sid, g in r.groupby("sensor_id", sort=True):
        at = pd.DatetimeIndex(g["observed_at"]).as_unit("ns") + pd.Timedelta(1, "ns")
        series = pd.Series(g["value"].to_numpy(float), index=at)
        k = displacement_kinematics(series, step, NOWCAST_RULES)
        if k.empty:
            continue
        lv = sensor_levels(k, NOWCAST_RULES)["sensor_level_rank"]
        lv.index = pd.DatetimeIndex(lv.index).as_unit("ns")
        # the latest sample at or before each origin (a sensor that stopped keeps its
        # last level only for 6 h, like the nowcast's dead-sensor rule)
        pos = lv.index.searchsorted(origins, side="right") - 1
        ok = pos >= 0
        vals = np.zeros(len(origins))
        age = np.full(len(origins), np.inf)
        vals[ok] = lv.to_numpy(float)[pos[ok]]
        age[ok] = (origins[ok] - lv.index[pos[ok]]) / pd.Timedelta(hours=1)
        vals[age > 6] = 0.0
        frames.append(pd.DataFrame({"origin": origins, "site_id": site_of[sid], RULE_COLUMN: vals}))
    if not frames:
        return pd.DataFrame(columns=[*KEYS, RULE_COLUMN])
    out = pd.concat(frames, ignore_index=True)
    return out.groupby(KEYS, as_index=False)[RULE_COLUMN].max()


def site_features(table: pd.DataFrame) -> list[str]:
    """Model inputs: rain and displacement kinematics (no keys, labels, rule level,
    history-dependent, static or sensor-health columns)."""
    skip = {*KEYS, RULE_COLUMN, *HISTORY_DEPENDENT}
    return [
        c
        for c in table.columns
        if c not in skip and not c.startswith(("label_", *NOT_MODEL_INPUTS))
    ]


def monotone(features: Sequence[str]) -> str:
    """XGBoost monotone constraints: more rain or faster movement never lowers the risk."""
    signs = []
    for f in features:
        if f.startswith(DECREASING):
            signs.append("-1")
        elif f.startswith(INCREASING):
            signs.append("1")
        else:
            signs.append("0")
    return "(" + ",".join(signs) + ")"


def site_training_rows(
    table: pd.DataFrame, refit_origin: pd.Timestamp, config: SiteModelConfig
) -> pd.DataFrame:
    """Rows usable at ``refit_origin``: label window ``[o, o + horizon)`` ended by then."""
    end = table["origin"] + pd.Timedelta(hours=config.horizon_hours)
    lo = refit_origin - pd.Timedelta(days=config.train_window_days)
    return table.loc[(end <= refit_origin) & (table["origin"] >= lo)]


def split_by_share(
    rows: pd.DataFrame, es_fraction: float, cal_fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Fit / early-stopping / calibration slices by origin (time order, never random).

    Each later slice holds at least ``cal_fraction`` (``es_fraction``) of the origins *and*
    of the failure rows (its start moves back in time until it does, while the fit slice
    keeps at least one failure): with a few failures in years of data, a slice cut by
    origins alone often holds none, and early stopping on such a slice stops at one tree.
    """
    origins, inverse = np.unique(rows["origin"].to_numpy(), return_inverse=True)
    n = len(origins)
    pos = np.bincount(inverse, weights=rows[LABEL].to_numpy(float), minlength=n)
    after = np.append(np.cumsum(pos[::-1])[::-1], 0.0)  # failure rows at or after each origin

    def slice_start(end: int, share: float) -> int:
        by_origins = end - max(round(n * share), 1)
        need = max(round(pos.sum() * share), 1)
        enough = np.nonzero(after[:end] - after[end] >= need)[0]
        return min(by_origins, int(enough[-1])) if len(enough) else by_origins

    first_pos = int(np.argmax(pos > 0)) if pos.sum() else 0
    cal_i = slice_start(n, cal_fraction)
    if n < 3:
        raise ValueError(f"too few training origins ({n}) for fit/early-stopping/calibration")
    # the fit slice keeps a failure where it can; each slice keeps at least one origin
    es_i = min(max(slice_start(cal_i, es_fraction), first_pos + 1, 1), n - 2)
    cal_i = min(max(cal_i, es_i + 1), n - 1)
    es_start, cal_start = origins[es_i], origins[cal_i]
    return (
        rows[rows["origin"] < es_start],
        rows[(rows["origin"] >= es_start) & (rows["origin"] < cal_start)],
        rows[rows["origin"] >= cal_start],
    )


@dataclass(frozen=True)
class VelocityPrior:
    """Logistic prior on one movement column: ``intercept + slope * asinh(value)``.

    The site's displacement velocity alone ranks failures better than trees grown on a
    handful of failures (simulated city, hourly backtest Jul-Sep 2024: AUC 0.864 against
    0.785 for trees from a constant). Boosting from this prior (XGBoost ``base_margin``)
    keeps the velocity ranking when there are no trees (too few failures) or they add
    nothing, and lets them correct it where the training rows show more. ``asinh`` is a
    signed log (velocities are noisy and often negative); a row without the column (dead
    sensor) gets ``low``, the lowest value of the rows the prior was fitted on. The slope
    is fixed (``SiteModelConfig.prior_slope``) or fitted and then at least
    ``MIN_PRIOR_SLOPE``, so that faster movement never lowers the prior.
    """

    column: str
    intercept: float
    slope: float
    low: float

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """Prior log-odds of each row."""
        x = np.arcsinh(frame[self.column].to_numpy(float))
        return self.intercept + self.slope * np.where(np.isfinite(x), x, self.low)


MIN_PRIOR_SLOPE = 1e-3


def fit_velocity_prior(
    rows: pd.DataFrame, column: str, slope: float | None = None
) -> VelocityPrior:
    """Logistic regression of ``label_any`` on ``asinh(column)``; with ``slope`` given,
    only the intercept is fitted (maximum likelihood, by bisection)."""
    from scipy.optimize import brentq
    from sklearn.linear_model import LogisticRegression

    x = np.arcsinh(rows[column].to_numpy(float))
    finite = np.isfinite(x)
    low = float(x[finite].min()) if finite.any() else 0.0
    x = np.where(finite, x, low)
    y = rows[LABEL].to_numpy(int)
    if np.unique(y).size < 2:
        rate = (float(y.sum()) + 0.5) / (y.size + 1.0)
        b = MIN_PRIOR_SLOPE if slope is None else slope
        return VelocityPrior(column, float(np.log(rate / (1 - rate)) - b * x.mean()), b, low)
    if slope is not None:
        # expected failures = observed failures
        def excess(a: float) -> float:
            z = a + slope * x
            return float(np.exp(z - np.logaddexp(0.0, z)).sum() - y.sum())

        return VelocityPrior(column, float(brentq(excess, -60.0, 60.0)), slope, low)
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(x.reshape(-1, 1), y)
    slope = max(float(lr.coef_[0, 0]), MIN_PRIOR_SLOPE)
    # refit the intercept alone when the slope was raised: mean prior = base rate
    intercept = float(lr.intercept_[0])
    if slope != float(lr.coef_[0, 0]):
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        intercept = float(np.log(rate / (1 - rate)) - slope * x.mean())
    return VelocityPrior(column, intercept, slope, low)


PLATT_PRIOR_SD = 0.5


def fit_shrunk_platt(
    raw: np.ndarray, y: np.ndarray, prior_sd: float = PLATT_PRIOR_SD, max_iter: int = 200
) -> Calibrator:
    """Platt scaling ``sigmoid(a + b * raw)`` with a Gaussian prior (sd ``prior_sd``) on
    ``(a, b)`` centred on the identity ``(0, 1)``: the MAP estimate (L-BFGS).

    For margins that are already log-odds (trees boosted with log loss from a fitted
    prior). A calibration slice holds a handful of failures; unpenalised Platt fitted on
    it swings the scale of every refit (slope near zero when the slice's one failure came
    at a low margin), and scores pooled across refits then rank worse than the raw
    margins (simulated city, daily backtest Jul-Sep 2024, trees from a constant: AUC 0.839
    on the margin, 0.712 after unpenalised Platt). The slope stays positive, so the
    ranking of one refit is kept.
    """
    from scipy.optimize import minimize

    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=float)
    centre = np.array([0.0, 1.0])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = w[0] + w[1] * raw
        nll = float(np.sum(np.logaddexp(0.0, z) - y * z))
        p = np.exp(z - np.logaddexp(0.0, z))
        d = w - centre
        grad = np.array([np.sum(p - y), np.sum((p - y) * raw)]) + d / prior_sd**2
        return nll + 0.5 * float(d @ d) / prior_sd**2, grad

    w = minimize(loss, centre, jac=True, method="L-BFGS-B", options={"maxiter": max_iter}).x
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
    lr.coef_[0, 0] = max(float(w[1]), MIN_PRIOR_SLOPE)
    lr.intercept_[0] = float(w[0])
    return Calibrator("platt", lr)


@dataclass
class SiteFittedModel(FittedModel):
    """A site model: trees boosted from an optional :class:`VelocityPrior` margin."""

    prior: VelocityPrior | None = None

    @property
    def trees(self) -> int:
        """Trees that count (0 when the model is the prior alone)."""
        return 0 if self.params.get("learning_rate") == 0.0 else self.best_iteration + 1

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """SHAP contributions to :meth:`raw` (features + ``bias``): the trees' plus the
        prior's, ``slope * asinh(value)`` on the prior's column and its intercept in
        ``bias`` (a row without the column: its ``low`` value), so that explanations
        name the movement even when the model is the prior alone."""
        c = contributions(self.booster, frame, self.features, self.best_iteration)
        if self.prior is not None:
            x = np.arcsinh(frame[self.prior.column].to_numpy(float))
            x = np.where(np.isfinite(x), x, self.prior.low)
            c[self.prior.column] += self.prior.slope * x
            # the trees' bias holds XGBoost's base_score, which a base margin replaces:
            # the same shift for every row, set so that the parts add up to the margin
            c["bias"] += self.raw(frame) - c.to_numpy().sum(axis=1)
        return c

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw margin: the prior's log-odds plus the trees' (the trees' alone if no prior)."""
        dm = xgb.DMatrix(frame[self.features].to_numpy(np.float32), feature_names=self.features)
        if self.prior is not None:
            dm.set_base_margin(self.prior.margin(frame))
        return self.booster.predict(
            dm, iteration_range=(0, self.best_iteration + 1), output_margin=True
        )


def failure_events(rows: pd.DataFrame, horizon_hours: float) -> int:
    """Distinct failures behind the positive rows: runs of positive origins at one site
    (a failure labels every origin of the ``horizon_hours`` before it)."""
    pos = rows.loc[rows[LABEL] > 0, ["site_id", "origin"]].sort_values(["site_id", "origin"])
    if pos.empty:
        return 0
    gap = pos.groupby("site_id")["origin"].diff() > pd.Timedelta(hours=horizon_hours)
    new_site = pos["site_id"].ne(pos["site_id"].shift())
    return int((gap | new_site).sum())


def fit_site_model(
    rows: pd.DataFrame,
    features: list[str],
    config: SiteModelConfig,
    refit_origin: pd.Timestamp,
) -> tuple[SiteFittedModel, float]:
    """Fit (oldest rows), early-stop (next slice, log loss), Platt-calibrate (latest slice).

    Returns the model and its warning threshold: max TSS of the calibrated probability on
    the early-stopping and calibration slices (rows the trees were not grown on), or on
    all rows when those slices hold no failure.
    """
    if rows[LABEL].sum() == 0:
        raise ValueError(f"no failure among the training rows before {refit_origin}")
    rows = rows.sort_values("origin", kind="stable")
    fit, es, cal = split_by_share(rows, config.es_fraction, config.cal_fraction)
    params = {
        **dict(config.params),
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "monotone_constraints": monotone(features),
    }

    # the prior (two numbers) learns from the fit and early-stopping slices: failures
    # cluster in storms, and the fit slice alone often holds one or two
    prior = (
        fit_velocity_prior(pd.concat([fit, es]), config.prior_column, config.prior_slope)
        if config.prior_column is not None
        else None
    )

    def dm(f: pd.DataFrame) -> xgb.DMatrix:
        x = f[features].to_numpy(np.float32)
        d = xgb.DMatrix(x, label=f[LABEL].to_numpy(np.float32), feature_names=features)
        if prior is not None:
            d.set_base_margin(prior.margin(f))
        return d

    if prior is not None and failure_events(fit, config.horizon_hours) < config.min_tree_failures:
        # too few failures to grow trees on: one tree of zero leaves, the model is the prior
        params["learning_rate"] = 0.0
        booster = xgb.train(params, dm(fit), num_boost_round=1)
        booster.best_iteration = 0
    else:
        booster = xgb.train(
            params,
            dm(fit),
            num_boost_round=config.max_rounds,
            evals=[(dm(es), "es")],
            early_stopping_rounds=config.early_stopping_rounds,
            verbose_eval=False,
        )
    model = SiteFittedModel(
        booster=booster,
        calibrator=None,  # type: ignore[arg-type]
        features=list(features),
        params=params,
        best_iteration=int(booster.best_iteration),
        trained_until=refit_origin,
        n_train_rows=len(fit),
        prior=prior,
    )
    if prior is None:
        model.calibrator = fit_calibrator(model.raw(cal), cal[LABEL].to_numpy(), "platt")
    else:  # the margin is already log-odds: only correct it as far as the slice shows
        model.calibrator = fit_shrunk_platt(model.raw(cal), cal[LABEL].to_numpy())
    later = pd.concat([es, cal])
    pick = later if later[LABEL].sum() > 0 else rows
    threshold = best_threshold_tss(pick[LABEL].to_numpy(), model.predict_proba(pick))
    return model, threshold


def baseline_scores(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Scores of the classic methods for ``rows`` (higher = riskier; NaN = no signal)."""
    out = {name: rows[col].to_numpy(float) for name, col in BASELINE_COLUMNS.items()}
    if RULE_COLUMN in rows:
        out["sensor_rules"] = rows[RULE_COLUMN].to_numpy(float)
    return {k: _no_signal_low(v) for k, v in out.items()}


def _no_signal_low(score: np.ndarray) -> np.ndarray:
    """NaN (dead sensor, no gauge) ranks below every real value."""
    finite = score[np.isfinite(score)]
    low = (finite.min() - 1.0) if finite.size else 0.0
    return np.where(np.isfinite(score), score, low)


@dataclass
class SiteBacktest:
    """Scores per method on the evaluation rows, the thresholds used and the last fit."""

    scores: pd.DataFrame  # origin, site_id, method, score, raw, threshold, warned, label
    last_model: SiteFittedModel
    fits: pd.DataFrame


def run_site_backtest(
    table: pd.DataFrame, eval_origins: Sequence[pd.Timestamp], config: SiteModelConfig
) -> SiteBacktest:
    """Rolling-origin backtest of the model and every baseline over ``eval_origins``."""
    features = site_features(table)
    by_origin = dict(tuple(table.groupby("origin", sort=True)))
    out, fits = [], []
    model: SiteFittedModel | None = None
    thresholds: dict[str, float] = {}
    next_refit: pd.Timestamp | None = None
    for origin in sorted(pd.DatetimeIndex(eval_origins)):
        if origin not in by_origin:
            continue
        if next_refit is None or origin >= next_refit - pd.Timedelta(hours=2):
            train = site_training_rows(table, origin, config)
            if train[LABEL].sum() == 0 or train["origin"].nunique() < 3:
                if model is None:  # nothing to learn from yet: the backtest starts later
                    continue
                next_refit = origin + pd.Timedelta(days=config.refit_every_days)
            else:
                model, t_model = fit_site_model(train, features, config, origin)
                thresholds = {"xgboost": t_model}
                y_train = train[LABEL].to_numpy()
                for name, s in baseline_scores(train).items():
                    thresholds[name] = best_threshold_tss(y_train, s)
                fits.append(
                    {
                        "refit_origin": origin,
                        "n_train_rows": len(train),
                        "train_failures": int(train[LABEL].sum()),
                        "last_label_end": train["origin"].max()
                        + pd.Timedelta(hours=config.horizon_hours),
                        "trees": model.trees,
                        **{f"threshold_{k}": v for k, v in thresholds.items()},
                    }
                )
                next_refit = origin + pd.Timedelta(days=config.refit_every_days)
        assert model is not None
        rows = by_origin[origin]
        raw = model.raw(rows)
        methods = {"xgboost": model.calibrator.predict(raw), **baseline_scores(rows)}
        for name, score in methods.items():
            out.append(
                pd.DataFrame(
                    {
                        "origin": origin,
                        "site_id": rows["site_id"].to_numpy(),
                        "method": name,
                        "score": score,
                        # the model's margin before calibration (NaN for the baselines)
                        "raw": raw if name == "xgboost" else np.nan,
                        "threshold": thresholds[name],
                        "warned": score >= thresholds[name],
                        "label": rows[LABEL].to_numpy(int),
                    }
                )
            )
    if model is None:
        raise ValueError("no evaluation origin has a failure in its training rows")
    return SiteBacktest(pd.concat(out, ignore_index=True), model, pd.DataFrame(fits))


# --------------------------------------------------------------------------- evaluation


def failure_lead_times(
    scores: pd.DataFrame, events: pd.DataFrame, horizon_hours: float
) -> pd.DataFrame:
    """Per failure (``site_id``, ``occurred_at``) and method: hours from the earliest
    warned origin in ``[failure - horizon, failure]`` at that site (NaN = not warned)."""
    ev = events.dropna(subset=["site_id", "occurred_at"])[["site_id", "occurred_at"]]
    ev = ev.astype({"site_id": str})
    warned = scores.loc[scores["warned"], ["method", "site_id", "origin"]]
    m = ev.merge(warned, on="site_id", how="inner")
    m = m[
        (m["origin"] <= m["occurred_at"])
        & (m["origin"] >= m["occurred_at"] - pd.Timedelta(hours=horizon_hours))
    ]
    first = m.groupby(["method", "site_id", "occurred_at"], as_index=False)["origin"].min()
    first["lead_time_hours"] = (first["occurred_at"] - first["origin"]) / pd.Timedelta(hours=1)
    grid = ev.merge(pd.DataFrame({"method": scores["method"].unique()}), how="cross")
    return grid.merge(
        first[["method", "site_id", "occurred_at", "lead_time_hours"]],
        on=["method", "site_id", "occurred_at"],
        how="left",
    )


class DayBootstrap:
    """Bootstrap over local days (whole days resampled, paired across methods).

    Each replicate draws days with replacement; a row's weight is its day's count. AUC and
    the warning table are recomputed from per-day parts, so thousands of replicates over
    hundreds of thousands of rows take well under a second.
    """

    def __init__(self, day: np.ndarray, n_boot: int, seed: int = 0) -> None:
        self.day = np.asarray(day)
        self.n_days = int(self.day.max()) + 1 if self.day.size else 0
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, max(self.n_days, 1), (n_boot, self.n_days))
        self.weights = np.stack([np.bincount(i, minlength=self.n_days) for i in idx]).astype(float)

    def auc(self, y: np.ndarray, s: np.ndarray) -> np.ndarray:
        """AUC of every replicate (ties count one half)."""
        pos = np.asarray(y) == 1
        s = np.asarray(s, dtype=float)
        below = np.zeros((int(pos.sum()), self.n_days))
        for d in range(self.n_days):
            sn = np.sort(s[~pos & (self.day == d)])
            lo = np.searchsorted(sn, s[pos], "left")
            hi = np.searchsorted(sn, s[pos], "right")
            below[:, d] = lo + 0.5 * (hi - lo)
        neg_per_day = np.bincount(self.day[~pos], minlength=self.n_days)
        w_pos = self.weights[:, self.day[pos]]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w_pos * (self.weights @ below.T)).sum(axis=1) / (
                w_pos.sum(axis=1) * (self.weights @ neg_per_day)
            )

    def tss(self, warned: np.ndarray, y: np.ndarray) -> np.ndarray:
        """TSS (POD - POFD) of every replicate."""
        w, e = np.asarray(warned, bool), np.asarray(y) == 1
        parts = np.stack(
            [
                np.bincount(self.day[m], minlength=self.n_days)
                for m in (w & e, ~w & e, w & ~e, ~w & ~e)
            ],
            axis=1,
        ).astype(float)
        hits, misses, fa, cn = (self.weights @ parts).T
        with np.errstate(invalid="ignore", divide="ignore"):
            return hits / (hits + misses) - fa / (fa + cn)


def _ci(values: np.ndarray) -> list[float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(v, [0.025, 0.975])
    return [float(lo), float(hi)]


def local_day_codes(origins: pd.Series, tz: str) -> np.ndarray:
    """0-based index of each origin's local day."""
    days = pd.DatetimeIndex(origins).tz_convert(tz).tz_localize(None).normalize()
    return pd.factorize(days, sort=True)[0]


def evaluate_site_methods(
    scores: pd.DataFrame,
    events: pd.DataFrame,
    config: SiteModelConfig,
    n_boot: int = 500,
    champion: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Every metric per method, day-bootstrap CIs and model-minus-other AUC differences.

    ``events`` (``site_id``, ``occurred_at``) are the failures inside the evaluation
    window (for lead times); ``champion`` optionally holds the champion's scores of the
    same rows (``origin``, ``site_id``, ``score``).
    """
    scores = scores.sort_values(["method", *KEYS]).reset_index(drop=True)
    first = scores[scores["method"] == "xgboost"]
    boot = DayBootstrap(local_day_codes(first["origin"], config.tz), n_boot)
    leads = failure_lead_times(scores, events, config.horizon_hours)
    result: dict[str, Any] = {"methods": {}, "headline": "auc"}
    auc_reps: dict[str, np.ndarray] = {}
    for m, g in scores.groupby("method", sort=True):
        y, s = g["label"].to_numpy(), g["score"].to_numpy()
        res: dict[str, Any] = dict(
            probability_metrics(y, s) if m == "xgboost" else ranking_metrics(y, s)
        )
        wm = warning_metrics(g["warned"].to_numpy(), y)
        res.update({k: wm[k] for k in ("pod", "far", "tss", "csi", "warned_share")})
        auc_reps[str(m)] = boot.auc(y, s)
        res["auc_ci"] = _ci(auc_reps[str(m)])
        res["tss_ci"] = _ci(boot.tss(g["warned"].to_numpy(), y))
        lm = leads[leads["method"] == m]["lead_time_hours"]
        res["failures"] = len(lm)
        res["failures_warned"] = int(lm.notna().sum())
        res["median_lead_time_h"] = float(lm.median()) if lm.notna().any() else float("nan")
        res["threshold_last_fit"] = float(g["threshold"].iloc[-1])
        res["n_rows"] = len(g)
        result["methods"][str(m)] = res
    model = auc_reps["xgboost"]
    comps: dict[str, Any] = {}
    for m, reps in auc_reps.items():
        if m == "xgboost":
            continue
        d = result["methods"]["xgboost"]["auc"] - result["methods"][m]["auc"]
        comps[m] = {"diff": float(d), "ci": _ci(model - reps)}
    if champion is not None and len(champion):
        c = first[[*KEYS, "label"]].merge(champion[[*KEYS, "score"]], on=KEYS, how="left")
        if c["score"].notna().all():
            y, s = c["label"].to_numpy(), c["score"].to_numpy()
            reps = boot.auc(y, s)
            d = result["methods"]["xgboost"]["auc"] - probability_metrics(y, s)["auc"]
            comps["champion"] = {"diff": float(d), "ci": _ci(model - reps)}
    result["model_minus_baseline"] = comps
    result["n_origins"] = int(first["origin"].nunique())
    result["n_days"] = int(boot.n_days)
    result["n_sites"] = int(first["site_id"].nunique())
    result["base_rate"] = float(first["label"].mean())
    return result


# --------------------------------------------------------------------------- training job


def site_model_card(
    domain: str, metrics: dict[str, Any], gate_result: GateResult, features: list[str]
) -> str:
    """Markdown model card of a site model."""
    rows = "\n".join(
        f"| {k} | {v['auc']:.3f} [{v['auc_ci'][0]:.3f}, {v['auc_ci'][1]:.3f}] "
        f"| {v['average_precision']:.3f} | {v['tss']:.2f} | {v['pod']:.2f} | {v['far']:.2f} "
        f"| {v['failures_warned']}/{v['failures']} | {v['median_lead_time_h']:.1f} |"
        for k, v in sorted(metrics["methods"].items())
    )
    task = domains.get(domain).summary
    return f"""# Model card: {model_name(domain)}

- Task: {task}. XGBoost `binary:logistic`,
  boosted from a velocity prior (odds proportional to the displacement velocity; trees
  only with enough failures), Platt-calibrated (shrunk to the identity) on the latest
  complete-label slice; monotone in rain and movement.
- Evaluation: rolling origins, {metrics["n_origins"]} origins over {metrics["n_days"]}
  days x {metrics["n_sites"]} sites, base rate {metrics["base_rate"]:.5f}; training rows
  only with label windows closed before each refit. Thresholds: max TSS on training rows.
- Gate (AUC, paired day bootstrap): {gate_result.summary()}

| method | AUC [95% CI] | AP | TSS | POD | FAR | failures warned | median lead (h) |
|---|---|---|---|---|---|---|---|
{rows}

Features ({len(features)}): {", ".join(features)}. Left out: {", ".join(HISTORY_DEPENDENT)}
(their value depends on how much history is read; the nowcast reads 35 days).
"""


@dataclass
class SiteTrainReport:
    """Outcome of training a site domain."""

    domain: str
    run_id: str
    version: str | None
    gate: GateResult
    promoted: bool
    metrics: dict[str, Any]
    champion_before: str | None
    backtest: SiteBacktest


def _champion_scores(
    domain: str, table: pd.DataFrame, scores: pd.DataFrame, store: Any | None = None
) -> pd.DataFrame | None:
    try:
        champ = load_champion(domain, store)
    except MlflowException:
        return None
    rows = table.merge(scores.loc[scores["method"] == "xgboost", KEYS], on=KEYS)
    if any(f not in rows.columns for f in champ.features):
        return None
    return rows[KEYS].assign(score=champ.predict(None, rows)["probability"].to_numpy())


def data_end_of(readings: pd.DataFrame) -> pd.Timestamp:
    """The end of the last reading (the data end of a training run)."""
    interval = pd.to_timedelta(readings["interval_s"].fillna(0).astype("int64"), unit="s")
    return pd.Timestamp((pd.to_datetime(readings["observed_at"], utc=True) + interval).max())


def train_site_domain(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    events: pd.DataFrame,
    client: MlflowClient,
    *,
    domain: str,
    tz: str,
    config: SiteModelConfig | None = None,
    store: Any | None = None,
    max_ece: float = 0.05,
    auto_promote: bool = True,
    n_boot: int = 500,
    artifact_location: str | None = None,
) -> SiteTrainReport:
    """Backtest, fit, log, register and gate a ``geohazard``/``geohazard_hourly`` challenger."""
    from models.train import data_version, importance_figure, reliability_figure

    config = replace(config or site_config(domain), tz=tz)
    if readings.empty or sites.empty:
        raise ValueError(f"no sensor readings or sites to train {domain} on")
    data_end = data_end_of(readings)
    first = pd.Timestamp(readings["observed_at"].min())
    origins, eval_origins = table_origins(first, data_end, config)
    table = build_site_table(readings, sensors, sites, events, origins, config)
    features = site_features(table)
    bt = run_site_backtest(table, eval_origins, config)
    in_eval = events.dropna(subset=["site_id"])
    in_eval = in_eval[
        (in_eval["occurred_at"] >= eval_origins[0])
        & (in_eval["occurred_at"] < eval_origins[-1] + pd.Timedelta(hours=config.horizon_hours))
        & in_eval["site_id"].astype(str).isin(set(table["site_id"]))
    ]
    before = champion_version(client, domain)
    champ = _champion_scores(domain, table, bt.scores, store) if before is not None else None
    metrics = evaluate_site_methods(bt.scores, in_eval, config, n_boot=n_boot, champion=champ)
    decision = gate(
        metrics["model_minus_baseline"],
        metrics["methods"]["xgboost"]["ece"],
        max_ece=max_ece,
        champion=before,
        base_rate=metrics["methods"]["xgboost"].get("base_rate"),
        n_rows=metrics["methods"]["xgboost"].get("n_rows"),
    )
    final_origin = eval_origins[-1] + pd.Timedelta(hours=config.horizon_hours)
    final, threshold = fit_site_model(
        site_training_rows(table, final_origin, config), features, config, final_origin
    )
    metrics["final_threshold"] = threshold
    ev_rows = table[table["origin"].isin(eval_origins)]
    sample = ev_rows.sample(min(len(ev_rows), 5000), random_state=0)
    importance = global_importance(final.contributions(sample))
    xgb_rows = bt.scores[bt.scores["method"] == "xgboost"]
    figures = {
        "reliability": reliability_figure(xgb_rows["label"].to_numpy(), xgb_rows["score"]),
        "importance": importance_figure(importance),
    }
    record = log_training_run(
        final,
        domain,
        metrics,
        data_version(readings, sensors, sites, events),
        ev_rows,
        figures,
        site_model_card(domain, metrics, decision, features),
        params={
            "eval_origins": len(eval_origins),
            "objective": "binary:logistic",
            "step_hours": config.step_hours,
            "horizon_hours": config.horizon_hours,
            "refit_every_days": config.refit_every_days,
            "warning_threshold": round(threshold, 6),
        },
        artifact_location=artifact_location,
    )
    promoted = settle_gate(
        client, domain, record.version, decision, auto_promote=auto_promote, store=store
    )
    return SiteTrainReport(
        domain, record.run_id, record.version, decision, promoted, metrics, before, bt
    )
