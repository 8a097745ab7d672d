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

With enough failures (the bench pools 720 simulated sites over three years,
``bench/bench_geohazard_sites.py --sim``) the trees grow on every refit. Inputs are the
physics (:mod:`riskwarn.sensor_physics`): velocity (monotone, and the prior),
acceleration, inverse velocity and the Fukuzono time to failure (decreasing), and rain
(monotone). Where the trees do not rank the held-out training failures of a site type
(``hazard_type_*``) above the velocity rule, the model defers to the rule on that type
(its margin is the prior alone) and its reasons say so
(:func:`models.site_fit.site_types_to_defer`).

Layout: the config, prior, calibration and fit live in :mod:`models.site_fit`,
the metrics in :mod:`models.site_evaluation`; their names are importable from
here. The nowcast's sensor rules come from :mod:`riskwarn.sensor_rules`.

The job mirrors :mod:`models.case_models`:

1. rolling-origin backtest over the latest ``eval_days``: at each refit origin only rows
   whose label window ended before it are used (:func:`site_training_rows`); trees are
   grown on the oldest rows, stopped early (log loss) on the next slice and calibrated on
   the latest slice; the warning threshold (max TSS) is chosen on those two later slices;
2. baselines scored on the same rows, each with its max-TSS threshold from the training
   rows: Caine (1980) and Guzzetti et al. (2008) intensity-duration exceedance at the
   site's gauge, effective (antecedent) rainfall, the improved tangent angle, the
   displacement velocity, the inverse-velocity (Fukuzono) time to failure, and the
   nowcast's own sensor rules (:mod:`riskwarn.sensor_rules`, also a monotone model input);
   warning levels 1..4 of the model and of every rule at the training rates of the sensor
   rules' levels (:mod:`models.site_levels`);
3. metrics from the harness (:mod:`models.metrics`): AUC, AP, Brier, ECE,
   POD/FAR/TSS/CSI at the threshold, failures warned and lead time, with bootstrap CIs
   resampling whole local days (hours of a day are not independent);
4. the gate (:func:`models.registry.gate`) on AUC (paired day bootstrap against
   every baseline and the champion), on TSS at each warning level against the sensor
   rules the model replaces (the level the nowcast serves, the higher of the model's and
   the rules', ``SiteModelConfig.gate_levels``; same day bootstrap, fails if the CI lies
   below zero; POD and FAR shown) plus the ECE bound; a final model on every complete
   row is logged and registered as ``riskwarn-<domain>``.

Features whose value depends on how much history is read (the 365-day rain percentile,
the creep rate since the sensor's first reading and the tangent angle built on it) are
left out of the model: the nowcast reads 44 days of readings, training reads years, and
a model must see the same quantity in both. The tangent-angle and inverse-velocity
*rules* still apply on top of the model in the nowcast.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from features.cells import latest_versions
from features.sensor_readings import ReadingSource, SiteFeatureParams
from models.champion import compare_scores_with_champion
from models.explain import global_importance
from models.gate import NOT_JUDGED, NothingToLearn, champion_check
from models.known_labels import labels_known_by, late_label_events
from models.metrics import ECE_NOISE_DRAWS, best_threshold_tss, ece_noise_quantile
from models.recipe import Recipe, code_version, recipe
from models.registry import (
    GateResult,
    champion_provenance,
    champion_version,
    gate,
    load_champion,
    log_training_run,
    model_name,
    settle_gate,
)
from models.site_evaluation import (  # noqa: F401  (part of this module's interface)
    PUBLISHED,
    DayBootstrap,
    champion_auc_diff,
    evaluate_site_methods,
    failure_lead_times,
    level_gate_comparisons,
    local_day_codes,
)
from models.site_fit import (  # noqa: F401  (part of this module's interface)
    DECREASING,
    INCREASING,
    KEYS,
    LABEL,
    MIN_PRIOR_SLOPE,
    PLATT_PRIOR_SD,
    RULE_COLUMN,
    SiteFittedModel,
    SiteModelConfig,
    VelocityPrior,
    failure_events,
    fit_shrunk_platt,
    fit_site_model,
    fit_velocity_prior,
    monotone,
    no_failure_reason,
    site_config,
    split_by_share,
)
from models.site_levels import (  # noqa: F401  (part of this module's interface)
    level_thresholds,
    levels_of,
    rate_threshold,
    rule_level_shares,
)
from riskwarn import domains

log = logging.getLogger(__name__)

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
# baseline name -> feature column (higher = riskier); "sensor_rules" is added separately
BASELINE_COLUMNS = {
    "caine": "caine_exceedance",
    "guzzetti": "guzzetti_exceedance",
    "effective_rain": "effective_rain_3d_mm",
    "tangent_angle": "tangent_angle_deg",
    "velocity": "velocity_mm_per_day",
}
# the inverse-velocity rule (Fukuzono 1985) reads the forecast time to failure, counted
# from the last reading, and how old that reading is (:func:`inverse_velocity_score`)
INVERSE_VELOCITY_COLUMNS = ("fukuzono_hours_to_failure", "displacement_age_days")
# its score is SCALE / (SCALE + hours from the origin to the forecast failure): 1 at the
# origin, 1/2 a day away, 0 without a forecast (any scale gives the same ranking)
INVERSE_VELOCITY_SCALE_H = 24.0
# the sensor_readings columns the site table needs
READING_COLUMNS = ("sensor_id", "observed_at", "interval_s", "quantity", "value", "quality")


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


MIN_FIT_ORIGINS = 3
"""A backtest refit needs training rows from at least this many origins (else it waits)."""


@dataclass(frozen=True)
class EvalWindow:
    """The evaluation window of a site domain and why it is where it is.

    ``origins``: the evaluation origins; ``failures``: distinct failures at monitored
    sites from the first origin to the end of the last label window; ``default_start`` /
    ``default_failures``: the same for the last ``eval_days`` alone; ``train_failures``:
    failures a table row labels (not in the warm-up) whose label window closed before the
    first origin, within ``train_window_days`` (what the first refit can learn from);
    ``extended_for``: ``"min_eval_failures=N"`` when the window reaches
    back further than ``eval_days`` to hold N failures, else ``""``; ``limited_by``:
    why it holds fewer than ``min_eval_failures`` (``""``, ``"training_history"``: going
    further back would leave the first refit fewer than ``min_train_failures``;
    ``"max_eval_days"``; ``"data"``: no earlier failure to reach).
    """

    origins: pd.DatetimeIndex
    failures: int
    default_start: pd.Timestamp
    default_failures: int
    train_failures: int
    extended_for: str
    limited_by: str
    horizon_hours: int
    wanted: int = 0  # min_eval_failures

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.origins[0])

    @property
    def end(self) -> pd.Timestamp:
        """The end of the last evaluation origin's label window."""
        return pd.Timestamp(self.origins[-1]) + pd.Timedelta(hours=self.horizon_hours)

    def dates(self, tz: str) -> str:
        """``2025-12-01 .. 2025-12-28`` (local days of the first and last origin)."""
        lo = self.start.tz_convert(tz)
        hi = pd.Timestamp(self.origins[-1]).tz_convert(tz)
        return f"{lo:%Y-%m-%d} .. {hi:%Y-%m-%d}"

    def words(self, tz: str) -> str:
        """One sentence: the window, its failures, and why it reaches back (if it does)."""
        text = f"evaluation window {self.dates(tz)}: {self.failures} site failure(s)"
        if self.extended_for:
            text += (
                f"; reached back from {self.default_start.tz_convert(tz):%Y-%m-%d} (the last "
                f"window held {self.default_failures}) for {self.extended_for}"
            )
        if self.limited_by:
            text += f"; fewer than wanted, limited by {self.limited_by.replace('_', ' ')}"
        return text

    def params(self, tz: str) -> dict[str, Any]:
        """What a training run logs about the window (MLflow params)."""
        return {
            "eval_start": f"{self.start.tz_convert(tz):%Y-%m-%d}",
            "eval_end": f"{pd.Timestamp(self.origins[-1]).tz_convert(tz):%Y-%m-%d}",
            "eval_failures": self.failures,
            "eval_default_start": f"{self.default_start.tz_convert(tz):%Y-%m-%d}",
            "eval_default_failures": self.default_failures,
            "eval_train_failures": self.train_failures,
            "eval_window_extended_for": self.extended_for or "none",
            "eval_window_limited_by": self.limited_by or "none",
            "eval_min_failures": self.wanted,
        }


def site_failure_times(events: pd.DataFrame, sites: pd.DataFrame) -> pd.DatetimeIndex:
    """Times of the distinct failures at monitored sites (events with a known site_id of
    ``sites``), sorted, UTC; of corrected records, the current versions."""
    from features.cells import latest_versions

    events, sites = latest_versions(events), latest_versions(sites)
    ev = events.dropna(subset=["site_id"])
    ev = ev.loc[ev["site_id"].astype(str).isin(set(sites["record_id"].astype(str)))]
    ev = ev.assign(site_id=ev["site_id"].astype(str)).drop_duplicates(["site_id", "occurred_at"])
    return pd.DatetimeIndex(pd.to_datetime(ev["occurred_at"], utc=True)).sort_values()


def evaluation_window(
    every: pd.DatetimeIndex,
    config: SiteModelConfig,
    failure_times: pd.DatetimeIndex | None = None,
) -> EvalWindow:
    """The evaluation origins among ``every`` (all complete origins, sorted).

    The last ``eval_days`` by default. When they hold fewer than ``min_eval_failures``
    failures (``failure_times``), the window reaches back one origin step at a time until
    it does, but not past the earliest origin that still has ``min_train_failures``
    failures closed before it (the first refit's training rows, on at least
    ``MIN_FIT_ORIGINS`` closed origins: a window starting earlier would claim origins the
    backtest cannot score) nor more than ``max_eval_days`` back. When that bound comes first, the window holds as many as it
    can reach, and reaches back no further than the last failure it gains. The
    reach-back's origins are those of the training grid (every ``train_every_hours``).
    """
    horizon = pd.Timedelta(hours=config.horizon_hours)
    starts = every.as_unit("ns").asi8
    cut = every[-1] - pd.Timedelta(days=config.eval_days) + pd.Timedelta(hours=1)
    i0 = min(int(np.searchsorted(starts, cut.value, side="left")), len(every) - 1)
    ft = pd.DatetimeIndex([] if failure_times is None else failure_times)
    t = ft.tz_convert("UTC").as_unit("ns").sort_values().asi8 if len(ft) else np.array([], "i8")
    end = (every[-1] + horizon).value
    upto = np.searchsorted(t, end, side="left")
    # failures in [every[i], end) (what the metrics count); those whose every labelled
    # origin lies in the window (t >= every[i] + horizon: the lead-up is evaluated too,
    # what the reach-back counts); and those closed (t + horizon <= every[i]) before it
    n_in = upto - np.searchsorted(t, starts, side="left")
    n_full = upto - np.searchsorted(t, starts + horizon.value, side="left")
    # the reach-back (before the last eval_days) is scored on the training origins' grid
    # (every train_every_hours: hourly, every 3rd hour): origins the table holds anyway, so
    # it costs no feature rows; the last eval_days keep every origin
    step = max(config.train_every_hours // config.step_hours, 1) * config.step_hours
    hours = (starts - starts[0]) // 3_600_000_000_000
    on_grid = hours % step == 0
    keep = on_grid | (np.arange(len(every)) >= i0)
    # what the first refit at every[i] can learn from (run_site_backtest): failures a table
    # row labels (none before the first origin: they fall in the warm-up), closed before
    # it and inside its train_window_days, on at least MIN_FIT_ORIGINS closed origins
    lab = t[t >= starts[0]]
    n_closed = np.searchsorted(lab, starts - horizon.value, side="right") - np.searchsorted(
        lab, starts - pd.Timedelta(days=config.train_window_days).value, side="left"
    )
    n_origins_closed = np.searchsorted(starts[on_grid], starts - horizon.value, side="right")

    def window(i: int, extended_for: str = "", limited_by: str = "") -> EvalWindow:
        return EvalWindow(
            origins=every[i:][keep[i:]],
            failures=int(n_in[i]),
            default_start=every[i0],
            default_failures=int(n_in[i0]),
            train_failures=int(n_closed[i]),
            extended_for=extended_for,
            limited_by=limited_by,
            horizon_hours=config.horizon_hours,
            wanted=config.min_eval_failures,
        )

    want = config.min_eval_failures
    if want <= 0 or n_full[i0] >= want:
        return window(i0)
    # the furthest back the window may start: the first refit keeps min_train_failures
    # failures to learn from, and at most max_eval_days before the last origin
    reach = every[-1] - pd.Timedelta(days=config.max_eval_days)
    lo_days = int(np.searchsorted(starts, reach.value, side="left"))
    ok_train = np.nonzero(
        (n_closed >= max(config.min_train_failures, 0)) & (n_origins_closed >= MIN_FIT_ORIGINS)
    )[0]
    lo_train = int(ok_train[0]) if len(ok_train) else len(every)
    lo = max(lo_days, lo_train)
    i, extended = i0, ""
    if lo < i0 and n_full[lo] > n_full[i0]:
        target = min(want, int(n_full[lo]))
        # n_full does not grow with i: the latest start in [lo, i0] that holds `target`
        i = int(np.nonzero(n_full[lo : i0 + 1] >= target)[0][-1]) + lo
        # start on the grid: the nearest grid origin before it, else the next one after it
        grid = np.nonzero(keep)[0]
        down, up = grid[grid <= i], grid[grid >= i]
        i = int(down[-1]) if len(down) and down[-1] >= lo else int(up[0]) if len(up) else i
        extended = f"min_eval_failures={want}"
    if n_full[i] >= want:
        limited = ""
    elif n_full[0] <= n_full[i]:
        limited = "data"  # no earlier failure among the complete origins
    elif lo_train >= lo_days:
        limited = "training_history"
    else:
        limited = "max_eval_days"
    return window(i, extended, limited)


def site_origins(
    first_reading: pd.Timestamp,
    data_end: pd.Timestamp,
    config: SiteModelConfig,
    failure_times: pd.DatetimeIndex | None = None,
) -> tuple[pd.DatetimeIndex, EvalWindow]:
    """(all origins of the table, the evaluation window) for data up to ``data_end``.

    The last origin is the last one whose label window is complete at ``data_end``; the
    evaluation window is :func:`evaluation_window` (every origin inside it); before it,
    origins every ``train_every_hours`` (at least one step).
    """
    last = data_end - pd.Timedelta(hours=config.horizon_hours)
    first = first_reading + pd.Timedelta(days=config.warmup_days)
    every = step_origins(first, last, config)
    if len(every) == 0:
        raise ValueError(f"no complete origin between {first} and {last}")
    win = evaluation_window(pd.DatetimeIndex(every), config, failure_times)
    evals = win.origins
    spacing = max(config.train_every_hours // config.step_hours, 1)
    before = every[every < evals[0]]
    hours = np.asarray((before - every[0]) / pd.Timedelta(hours=1), dtype=float)
    train = before[hours % (spacing * config.step_hours) == 0]
    return train.union(evals), win


def table_origins(
    first_reading: pd.Timestamp,
    data_end: pd.Timestamp,
    config: SiteModelConfig,
    failure_times: pd.DatetimeIndex | None = None,
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """(all origins of the table, evaluation origins): :func:`site_origins` without the
    window's account. Without ``failure_times`` the window is the last ``eval_days``."""
    origins, win = site_origins(first_reading, data_end, config, failure_times)
    return origins, win.origins


def feature_params(config: SiteModelConfig) -> SiteFeatureParams:
    """The feature parameters of a site model's table (step, zone, horizon of ``config``).

    Training, backtests and serving all build a site table through this function
    (:func:`build_site_tables`), so they share these values. Both domains' dead-sensor
    time (``dead_after_hours``: a sensor silent for longer has missing kinematics and
    ``dead_sensor_flag`` 1) is the sensor rules' (``HealthRules.dead_after_hours``, 6 h):
    with the features' 24 h the model kept reading the last velocity of a sensor the rules
    had already dropped (6-24 h after it fell silent; docs/design.md, "A dead sensor's
    kinematics are missing"; hourly since h-dead6, daily since h-deadday: measured in
    docs/benchmarks-models.md, "After h-dead6 (hourly)" and "Daily dead-sensor time 6 h")."""
    from riskwarn.sensor_rules import HealthRules

    return SiteFeatureParams(
        step_hours=config.step_hours,
        tz=config.tz,
        horizon_hours=config.horizon_hours,
        dead_after_hours=HealthRules().dead_after_hours,
    )


@functools.lru_cache(maxsize=32)  # per domain and zone: the stream asks per site
def unknowable_inputs(domain: str, tz: str) -> frozenset[str]:
    """The model inputs of ``domain``'s site table that a lake may be unable to give at all
    (the rain features, absent without any rain gauge: :func:`features.geohazard.rain_feature_names`).
    Serving treats a champion's missing input of this set as unknown (NaN, said in the
    reasons); any other missing input means the champion does not fit the domain's frame
    and is refused (:func:`riskwarn.scoring.serve_site_model`)."""
    from features.geohazard import rain_feature_names

    return frozenset(rain_feature_names(feature_params(site_config(domain, tz=tz))))


def build_site_table(
    readings: pd.DataFrame | ReadingSource,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    config: SiteModelConfig,
    *,
    with_rules: bool = True,
    batch_sensors: int | None = None,
) -> pd.DataFrame:
    """Site x origin features, labels and (``with_rules``) the sensor-rule level per row.

    ``readings``: a frame (serving, tests) or a :class:`features.geohazard.ReadingSource`
    (training reads the lake by batch of sites, about ``batch_sensors`` sensors each; the
    rows do not depend on the batches: :func:`features.geohazard.build_site_features_multi`).
    """
    (table,) = build_site_tables(
        readings,
        sensors,
        sites,
        hazard_events,
        [(origins, config)],
        with_rules=with_rules,
        batch_sensors=batch_sensors,
    )
    return table


def build_site_tables(
    readings: pd.DataFrame | ReadingSource,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    sets: Sequence[tuple[Sequence[pd.Timestamp] | pd.DatetimeIndex, SiteModelConfig]],
    *,
    with_rules: bool = True,
    batch_sensors: int | None = None,
    spacing_guard: bool = True,
) -> list[pd.DataFrame]:
    """:func:`build_site_table` of several (origins, config) sets (e.g. ``geohazard_hourly``'s
    and ``geohazard``'s) in one pass over the readings: each batch is read once, its
    per-reading work (:func:`features.geohazard.build_site_features_multi`) and the
    per-sensor displacement kinematics of the sensor rules (:func:`sensor_rule_levels_multi`)
    are done once and sampled at each set's origins. One table per set, each equal to
    ``build_site_table`` of that set alone.

    The site model's reading-spacing guard (:func:`riskwarn.sensor_rules.spacing_guard`,
    the one serving applies) is applied per origin over the window serving reads before
    it: a site's rows at origins where some displacement sensor of it reads too sparsely
    are built without that sensor's readings (as serving scores them), and the rows of a
    site the guard refuses at an origin are left out (serving does not score it there;
    the count is logged). ``spacing_guard`` False: the rows of every reading (internal)."""
    from features.derived import add_derived_features
    from features.geohazard import build_site_features_multi

    indexes = [pd.DatetimeIndex(origins) for origins, _ in sets]
    if any("known_to" in f.columns for f in (sensors, sites, hazard_events)):
        return _site_tables_by_version(
            readings, sensors, sites, hazard_events, sets, with_rules, batch_sensors
        )
    params = [feature_params(c) for _, c in sets]
    rule_parts: list[list[pd.DataFrame]] = [[] for _ in sets]

    def rules_of_batch(frame: pd.DataFrame, batch_sensors: pd.DataFrame) -> None:
        # per site, the max over its own displacement sensors: all in the same batch
        levels = sensor_rule_levels_multi(frame, batch_sensors, indexes)
        for parts, part in zip(rule_parts, levels, strict=True):
            parts.append(part)

    tables = build_site_features_multi(
        readings,
        sensors,
        sites,
        hazard_events,
        [(idx, p) for idx, p in zip(indexes, params, strict=True)],
        batch_sensors=batch_sensors,
        on_batch=rules_of_batch if with_rules else None,
    )
    out = []
    for table, parts in zip(tables, rule_parts, strict=True):
        table["origin"] = table["origin"].astype("datetime64[ns, UTC]")
        table = add_derived_features(table, "site", KEYS)  # before the rule level (a baseline)
        if with_rules:
            full = [r for r in parts if len(r)]
            rules = pd.concat(full, ignore_index=True) if full else parts[0]
            table = table.merge(rules, on=KEYS, how="left")
            table[RULE_COLUMN] = table[RULE_COLUMN].fillna(0.0).astype(np.float32)
        out.append(table)
    if spacing_guard:
        out = [
            _apply_spacing_guard(
                t, readings, sensors, sites, hazard_events, idx, c, with_rules, batch_sensors
            )
            for t, idx, (_, c) in zip(out, indexes, sets, strict=True)
        ]
    return out


@dataclass(frozen=True)
class _WithoutSensors:
    """A reading source without the readings of some sensors (the guard's sparse ones)."""

    source: ReadingSource
    left_out: frozenset[str]

    def read(self, sensor_ids: Sequence[str]) -> pd.DataFrame:
        frame = self.source.read([s for s in sensor_ids if str(s) not in self.left_out])
        return frame.loc[~frame["sensor_id"].astype(str).isin(self.left_out)]


def _displacement_readings(
    source: ReadingSource, sensor_ids: list[str], batch_sensors: int | None
) -> pd.DataFrame:
    """The displacement readings (time and value only) of ``sensor_ids``, read by batch."""
    from riskwarn.sensor_rules import DISPLACEMENT_QUANTITIES

    step = batch_sensors or len(sensor_ids)
    parts = []
    for i in range(0, len(sensor_ids), max(step, 1)):
        r = source.read(sensor_ids[i : i + step])
        r = r.loc[r["quantity"].isin(DISPLACEMENT_QUANTITIES) & r["value"].notna()]
        parts.append(r[["sensor_id", "observed_at", "quantity", "value"]])
    return pd.concat(parts, ignore_index=True)


def _apply_spacing_guard(
    table: pd.DataFrame,
    readings: pd.DataFrame | ReadingSource,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    origins: pd.DatetimeIndex,
    config: SiteModelConfig,
    with_rules: bool,
    batch_sensors: int | None,
) -> pd.DataFrame:
    """``table`` (one set's) as serving's reading-spacing guard gives it at each origin:
    the rows of a site at origins where some of its displacement sensors are sparse
    rebuilt without those sensors' readings, the rows of a refused site left out."""
    from features.sensor_readings import as_reading_source
    from riskwarn.sensor_rules import displacement_site_of, spacing_guard

    site_of = displacement_site_of(sensors)
    if table.empty or site_of.empty:
        return table
    source = as_reading_source(readings)
    disp = _displacement_readings(source, sorted(site_of.index), batch_sensors)
    guard = spacing_guard(sensors, disp, origins.unique(), config.step_hours)
    if not guard.sparse.to_numpy().any():
        return table
    site_ids = sites["record_id"].astype(str)
    drop: list[pd.DataFrame] = []
    rebuilt: list[pd.DataFrame] = []
    n_refused = 0
    cols = guard.sparse.columns
    for site, own in cols.groupby(guard.site_of.reindex(cols).to_numpy()).items():
        m = guard.sparse[list(own)]
        hit = m.to_numpy().any(axis=1)
        if not hit.any() or not site_ids.eq(site).any():
            continue
        refused = (
            guard.refused[site].to_numpy() if site in guard.refused else np.zeros(len(m), bool)
        )
        groups: dict[tuple[str, ...], list[pd.Timestamp]] = {}
        for at, row, no in zip(m.index[hit], m.to_numpy()[hit], refused[hit], strict=True):
            drop.append(pd.DataFrame({"origin": [at], "site_id": [site]}))
            if no:
                n_refused += 1
            else:
                groups.setdefault(
                    tuple(str(c) for c, x in zip(own, row, strict=True) if x), []
                ).append(at)
        for left_out, at_list in groups.items():
            (part,) = build_site_tables(
                _WithoutSensors(source, frozenset(left_out)),
                sensors,
                sites.loc[site_ids.eq(site).to_numpy()],
                hazard_events,
                [(pd.DatetimeIndex(at_list), config)],
                with_rules=with_rules,
                batch_sensors=batch_sensors,
                spacing_guard=False,
            )
            rebuilt.append(part)
    if not drop:
        return table
    gone = pd.concat(drop, ignore_index=True).assign(_gone=True)
    gone["origin"] = gone["origin"].astype(table["origin"].dtype)
    pos = table[KEYS].astype({"site_id": str}).merge(gone, on=KEYS, how="left")["_gone"]
    keep = table.loc[pos.isna().to_numpy()]
    order = table[KEYS].astype({"site_id": str}).reset_index(drop=True)
    order["_pos"] = np.arange(len(order))
    new = pd.concat([keep, *rebuilt], ignore_index=True)
    new_keys = new[KEYS].astype({"site_id": str})
    at = new_keys.merge(order, on=KEYS, how="left")["_pos"].to_numpy()
    new = new.iloc[np.argsort(at, kind="stable")].reset_index(drop=True)
    if n_refused:
        log.info(
            "site table (step %sh): %d site x origin rows refused by the reading-spacing "
            "guard left out (serving does not score them)",
            config.step_hours,
            n_refused,
        )
    return new


def _site_tables_by_version(
    readings: pd.DataFrame | ReadingSource,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    hazard_events: pd.DataFrame,
    sets: Sequence[tuple[Sequence[pd.Timestamp] | pd.DatetimeIndex, SiteModelConfig]],
    with_rules: bool,
    batch_sensors: int | None,
) -> list[pd.DataFrame]:
    """:func:`build_site_tables` when ``sensors``, ``sites`` or ``hazard_events`` hold the
    earlier versions of corrected records (:func:`riskwarn.lake.read_versions`).

    Each stretch of origins between two corrections' times of sensors or sites is built
    from the versions valid in it (:func:`features.cells.versions_at_many`; the readings
    are read once per stretch), the rows put back in key order. Failures only make the
    labels, so a corrected failure costs no pass over the readings. The labels count the
    current versions of the failures and sites (what happened, as known now: the
    evaluation's truth); a refit counts those known at its cut-off
    (:func:`late_site_labels`, :func:`site_training_rows`)."""
    from features.cells import versions_at_many
    from features.geohazard import SITE_LABEL_CRS, _site_labels

    def current(f: pd.DataFrame) -> pd.DataFrame:
        return latest_versions(f).drop(columns=["known_from", "known_to"], errors="ignore")

    events_now = current(hazard_events)
    indexes = [pd.DatetimeIndex(origins) for origins, _ in sets]
    every = pd.DatetimeIndex(sorted(set().union(*[set(i) for i in indexes])))
    per_set: list[list[pd.DataFrame]] = [[] for _ in sets]
    for pos, (s_view, si_view) in versions_at_many([sensors, sites], every):
        here = every[pos]
        chosen = [k for k, idx in enumerate(indexes) if idx.isin(here).any()]
        got = build_site_tables(
            readings,
            s_view,
            si_view,
            events_now,
            [(indexes[k][indexes[k].isin(here)], sets[k][1]) for k in chosen],
            with_rules=with_rules,
            batch_sensors=batch_sensors,
        )
        for k, table in zip(chosen, got, strict=True):
            per_set[k].append(table)
    out = []
    for k, parts in enumerate(per_set):
        if not parts:  # a set without origins: its (empty) table from the current rows
            (empty,) = build_site_tables(
                readings, current(sensors), current(sites), events_now,
                [(indexes[k], sets[k][1])], with_rules=with_rules, batch_sensors=batch_sensors,
            )  # fmt: skip
            out.append(empty)
            continue
        table = pd.concat(parts, ignore_index=True)
        table = table.sort_values(KEYS, kind="stable").reset_index(drop=True)
        # labels: what happened, as known now (the current failures and sites); a refit
        # reads them at its cut-off through the late-label table (late_site_labels)
        labels = _site_labels(
            current(hazard_events),
            current(sites),
            indexes[k].unique().sort_values(),
            feature_params(sets[k][1]),
            SITE_LABEL_CRS,
        )
        got_labels = table[KEYS].merge(labels, on=KEYS, how="left")
        for c in ("label_count", "label_any"):
            table[c] = got_labels[c].to_numpy().astype(table[c].dtype)
        out.append(table)
    return out


def sensor_rule_levels(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    origins: pd.DatetimeIndex,
    step: str = "1h",
) -> pd.DataFrame:
    """The nowcast's displacement-rule level (0-4, max over a site's sensors) at each origin.

    Same code and parameters as the nowcast (``riskwarn.sensor_rules.NOWCAST_RULES``) and
    the same step convention (:func:`riskwarn.sensor_rules.rule_times_ns`: a reading is
    read 1 ns after it is taken, so an origin's hourly sample holds only readings strictly
    before it, as the nowcast's and the stream's do; tests/test_site_rule_same.py). Causal: the level at an origin depends only on readings
    before it (each sensor's level is taken at its last step holding a reading, not at an
    empty step that exists only because a later reading does), so training (every reading)
    and serving (the readings before the origin) get the same value from this one function.
    """
    return sensor_rule_levels_multi(readings, sensors, [origins], step)[0]


def sensor_rule_levels_multi(
    readings: pd.DataFrame,
    sensors: pd.DataFrame,
    origin_sets: Sequence[pd.DatetimeIndex],
    step: str = "1h",
) -> list[pd.DataFrame]:
    """:func:`sensor_rule_levels` at each of several origin sets: each sensor's kinematics
    and levels are computed once and sampled at every set (one frame per set, each equal
    to ``sensor_rule_levels`` of that set alone)."""
    from riskwarn.sensor_rules import (
        DISPLACEMENT_TYPES,
        NOWCAST_RULES,
        HealthRules,
        displacement_kinematics,
        rule_times_ns,
        sensor_levels,
    )

    disp_sensors = sensors.loc[
        sensors["sensor_type"].isin(DISPLACEMENT_TYPES) & sensors["site_id"].notna()
    ]
    site_of = disp_sensors.set_index("record_id")["site_id"].astype(str)
    r = readings.loc[
        readings["sensor_id"].isin(site_of.index)
        & readings["quantity"].isin(["displacement_mm", "crack_width_mm"])
        & readings["value"].notna()
    ]
    sets = [pd.DatetimeIndex(o).tz_convert("UTC").as_unit("ns") for o in origin_sets]
    dead_after = HealthRules().dead_after_hours
    frames: list[list[pd.DataFrame]] = [[] for _ in sets]
    for sid, g in r.groupby("sensor_id", sort=True):
        at = pd.to_datetime(
            rule_times_ns(pd.DatetimeIndex(g["observed_at"]).as_unit("ns").asi8), utc=True
        )
        series = pd.Series(g["value"].to_numpy(float), index=at)
        k = displacement_kinematics(series, step, NOWCAST_RULES)
        if k.empty:
            continue
        lv = sensor_levels(k, NOWCAST_RULES)["sensor_level_rank"]
        # only steps holding a reading: an empty step (a missed reading) has no velocity, and
        # it exists only once a later reading does, so joining on it would make an origin's
        # level depend on readings after the origin (serving, which has no later readings,
        # sees the last step holding one)
        lv = lv.loc[k["displacement_mm"].notna().to_numpy()]
        lv.index = pd.DatetimeIndex(lv.index).as_unit("ns")
        levels = lv.to_numpy(float)
        # the time of the last reading of each of those steps (not the step end)
        taken = np.sort(pd.DatetimeIndex(g["observed_at"]).as_unit("ns").asi8)
        last_read = taken[np.searchsorted(rule_times_ns(taken), lv.index.asi8, side="right") - 1]
        for origins, out in zip(sets, frames, strict=True):
            # the latest step holding a reading at or before each origin; a sensor that
            # stopped keeps its last level only while the nowcast's health check does not
            # call it dead (more than dead_after_hours since its last reading, counted
            # from the reading as the health check counts: from the step end, a sensor
            # whose last reading came at 11:50 was still red at 18:00 here and dead in
            # the nowcast, tests/test_site_rule_same.py)
            pos = lv.index.searchsorted(origins, side="right") - 1
            ok = pos >= 0
            vals = np.zeros(len(origins))
            age = np.full(len(origins), np.inf)
            vals[ok] = levels[pos[ok]]
            age[ok] = (origins[ok].asi8 - last_read[pos[ok]]) / pd.Timedelta(hours=1).value
            vals[age > dead_after] = 0.0
            out.append(
                pd.DataFrame({"origin": origins, "site_id": site_of[sid], RULE_COLUMN: vals})
            )
    result = []
    for out in frames:
        if not out:
            result.append(pd.DataFrame(columns=[*KEYS, RULE_COLUMN]))
            continue
        every = pd.concat(out, ignore_index=True)
        result.append(every.groupby(KEYS, as_index=False)[RULE_COLUMN].max())
    return result


def site_features(table: pd.DataFrame) -> list[str]:
    """Model inputs: rain, displacement kinematics and the nowcast's sensor-rule level (a
    monotone input, so the model can only add to the rule it replaces); no keys, labels,
    history-dependent, static or sensor-health columns."""
    skip = {*KEYS, *HISTORY_DEPENDENT}
    return [
        c
        for c in table.columns
        if c not in skip and not c.startswith(("label_", *NOT_MODEL_INPUTS))
    ]


def site_training_rows(
    table: pd.DataFrame,
    refit_origin: pd.Timestamp,
    config: SiteModelConfig,
    late: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rows usable at ``refit_origin``: label window ``[o, o + horizon)`` ended by then;
    their labels count the failures as known at ``refit_origin``, each corrected one in
    its version valid then (``late``: :func:`late_site_labels`, the failures and versions
    known after their window ended; None: every failure was known when its window ended
    and never corrected)."""
    end = table["origin"] + pd.Timedelta(hours=config.horizon_hours)
    lo = refit_origin - pd.Timedelta(days=config.train_window_days)
    rows = table.loc[(end <= refit_origin) & (table["origin"] >= lo)]
    return labels_known_by(rows, late, refit_origin, KEYS)


def late_site_labels(
    events: pd.DataFrame,
    sites: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    config: SiteModelConfig,
) -> pd.DataFrame:
    """The label failures of the ``origins`` x ``sites`` rows known only after their window
    ended (``origin, site_id, known_at``): the (site, failure) pairs the labels count
    (:func:`features.geohazard.site_label_events`, the table's own rule and grid) through
    :func:`models.known_labels.late_label_events`.

    With the earlier versions of corrected failures (``read_versions``) the rows' labels
    count the current versions (what happened, the evaluation's truth), so these are the
    current versions known after the window ended (a correction from its ``known_from``)
    and, with a ``gone_at`` (their ``known_to``), the superseded versions still valid
    after it: a refit at cut-off ``T`` counts each failure in its version valid at ``T``
    (:func:`models.known_labels.labels_known_by`), never a correction made later. The
    sites are the current ones (a site's corrected place moves the failures without a
    site it counts for every cut-off)."""
    from features.geohazard import SITE_LABEL_CRS, site_label_events

    idx = pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(origins))))
    ends = idx + pd.Timedelta(hours=config.horizon_hours)
    params = feature_params(config)
    now_sites = latest_versions(sites)
    pairs = site_label_events(latest_versions(events), now_sites, params, SITE_LABEL_CRS)
    late = late_label_events(pairs, ["site_id"], idx, ends)
    if "known_to" not in events.columns:
        return late
    old = events.loc[events["known_to"].notna()]
    gone = late_label_events(
        site_label_events(old, now_sites, params, SITE_LABEL_CRS),
        ["site_id"],
        idx,
        ends,
        until="known_to",
    )
    return pd.concat([late, gone], ignore_index=True) if len(gone) else late


def inverse_velocity_score(rows: pd.DataFrame) -> np.ndarray:
    """The inverse-velocity (Fukuzono 1985) rule's score of ``rows``: a decreasing function
    of the forecast time from the origin to failure, ``S / (S + hours)`` with
    ``S = INVERSE_VELOCITY_SCALE_H``, in (0, 1]; **0 without a forecast**, below every
    forecast at every origin.

    ``fukuzono_hours_to_failure`` is the feature's forecast (a falling 1/v line through
    the last readings, extrapolated to 1/v = 0), counted from the sensor's *last reading*
    before the origin; the time left at the origin is that minus the reading's age
    (``displacement_age_days``). No forecast: no falling line (a slope without
    acceleration: steady creep, no movement, a line flat beyond ten years), no
    displacement reading, or a forecast whose time passed before the origin (the readings
    stopped, e.g. a sensor lost in the failure or dead: nothing says the slope is
    accelerating now). Only what the row knows at its origin is read.

    Why not the negated hours with NaN filled below each origin's lowest value (the old
    score): the backtest pools the origins, and an origin's fill lay above the forecasts
    of other origins (an origin without any forecast filled 0.0, above every one), so
    "no forecast" outranked accelerating slopes; and a silent sensor's last forecast stood
    for months, a few hours ahead, at sites that had already failed
    (docs/benchmarks-models.md, "The inverse-velocity baseline below chance").
    """
    hours = pd.to_numeric(rows[INVERSE_VELOCITY_COLUMNS[0]], errors="coerce").to_numpy(float)
    age_days = pd.to_numeric(rows[INVERSE_VELOCITY_COLUMNS[1]], errors="coerce").to_numpy(float)
    left = hours - 24.0 * age_days  # NaN when either is unknown
    ok = np.isfinite(left) & (left > 0)
    scale = INVERSE_VELOCITY_SCALE_H
    return np.where(ok, scale / (scale + np.where(ok, left, 0.0)), 0.0)


def _raw_baseline_scores(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every baseline's score of ``rows`` before the no-signal fill (NaN = no signal)."""
    out = {name: rows[col].to_numpy(float) for name, col in BASELINE_COLUMNS.items()}
    if all(c in rows for c in INVERSE_VELOCITY_COLUMNS):
        out["inverse_velocity"] = inverse_velocity_score(rows)  # never NaN
    if RULE_COLUMN in rows:
        out["sensor_rules"] = rows[RULE_COLUMN].to_numpy(float)
    return out


def baseline_scores(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Scores of the classic methods for ``rows`` (higher = riskier; NaN = no signal)."""
    return {k: _no_signal_low(v) for k, v in _raw_baseline_scores(rows).items()}


def _no_signal_low(score: np.ndarray) -> np.ndarray:
    """NaN (dead sensor, no gauge) ranks below every real value."""
    finite = score[np.isfinite(score)]
    low = (finite.min() - 1.0) if finite.size else 0.0
    return np.where(np.isfinite(score), score, low)


def _no_signal_low_by_group(score: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """:func:`_no_signal_low` of each group of consecutive rows (``starts``: the first row
    of each group, increasing, every group non-empty) at once: the same values as calling
    it group by group (the minimum is exact, the same ``- 1.0``)."""
    finite = np.isfinite(score)
    if score.size == 0:
        return np.where(finite, score, 0.0)
    lowest = np.minimum.reduceat(np.where(finite, score, np.inf), starts)
    low = np.where(np.isfinite(lowest), lowest - 1.0, 0.0)
    return np.where(finite, score, np.repeat(low, np.diff(np.r_[starts, score.size])))


def baseline_scores_by_origin(rows: pd.DataFrame, starts: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`baseline_scores` of several origins' rows at once (``starts``: the first row
    of each origin's consecutive rows): each origin's no-signal value is its own, as when
    :func:`baseline_scores` is called origin by origin."""
    out = _raw_baseline_scores(rows)
    return {k: _no_signal_low_by_group(v, starts) for k, v in out.items()}


@dataclass
class SiteBacktest:
    """Scores per method on the evaluation rows, the thresholds used and the last fit."""

    scores: pd.DataFrame  # origin, site_id, method, score, raw, threshold, warned, label
    last_model: SiteFittedModel
    fits: pd.DataFrame


def run_site_backtest(
    table: pd.DataFrame,
    eval_origins: Sequence[pd.Timestamp],
    config: SiteModelConfig,
    *,
    reach_back_until: pd.Timestamp | None = None,
    late_labels: pd.DataFrame | None = None,
) -> SiteBacktest:
    """Rolling-origin backtest of the model and every baseline over ``eval_origins``.

    A refit learns only the failures known before it (``late_labels``: see
    :func:`site_training_rows`).

    Refits every ``refit_every_days``. Before ``reach_back_until`` (the start of the last
    ``eval_days`` when the window reached back for failures, :class:`EvalWindow`) a due
    refit is skipped while the training rows hold the same failure rows as the last fit
    and that fit is younger than ``reach_back_refit_days``.
    """
    features = site_features(table)
    # each origin's row positions (in table order); the rows are taken once per stretch of
    # origins scored by one fit (:func:`_score_stretch`), not once per origin
    by_origin = table.groupby("origin", sort=True).indices
    out, fits = [], []
    stretch: list[pd.Timestamp] = []  # origins scored by the current fit, not yet scored
    model: SiteFittedModel | None = None
    thresholds: dict[str, float] = {}
    levels: dict[str, list[float]] = {}
    next_refit: pd.Timestamp | None = None
    last_fit: tuple[pd.Timestamp, int] | None = None  # (origin, failure rows) of the last fit
    for origin in sorted(pd.DatetimeIndex(eval_origins)):
        if origin not in by_origin:
            continue
        if next_refit is None or origin >= next_refit - pd.Timedelta(hours=2):
            train = site_training_rows(table, origin, config, late_labels)
            if (
                model is not None
                and last_fit is not None
                and reach_back_until is not None
                and origin < reach_back_until
                and int(train[LABEL].sum()) == last_fit[1]
                and origin - last_fit[0] < pd.Timedelta(days=config.reach_back_refit_days)
            ):  # reach-back: nothing new to learn from since the last fit
                next_refit = origin + pd.Timedelta(days=config.refit_every_days)
            elif train[LABEL].sum() == 0 or train["origin"].nunique() < MIN_FIT_ORIGINS:
                if model is None:  # nothing to learn from yet: the backtest starts later
                    continue
                next_refit = origin + pd.Timedelta(days=config.refit_every_days)
            else:
                if stretch:  # the last fit's origins, before the new fit replaces it
                    assert model is not None
                    out.append(_score_stretch(table, by_origin, stretch, model, thresholds, levels))
                    stretch = []
                model, t_model = fit_site_model(train, features, config, origin)
                thresholds = {"xgboost": t_model}
                y_train = train[LABEL].to_numpy()
                # levels 1..4: the model's and each rule's at the training rates of the
                # sensor rules' levels (models.site_levels); the sensor rules at their own
                if config.level_policy in ("rule_rates", "rule_budget") and RULE_COLUMN in train:
                    shares = rule_level_shares(train[RULE_COLUMN].to_numpy(float))
                    # set by the fit on these rows (the same thresholds serving uses)
                    assert model.level_thresholds is not None
                    levels = {"xgboost": list(model.level_thresholds)}
                else:  # the domain's probabilities; each rule at the model's training rates
                    p_train = model.predict_proba(train)
                    levels = {"xgboost": list(config.level_probabilities)}
                    shares = [float(np.mean(p_train >= t)) for t in config.level_probabilities]
                for name, s in baseline_scores(train).items():
                    thresholds[name] = best_threshold_tss(y_train, s)
                    levels[name] = (
                        [1.0, 2.0, 3.0, 4.0]
                        if name == "sensor_rules"
                        else level_thresholds(s, shares)
                    )
                fits.append(
                    {
                        "refit_origin": origin,
                        "n_train_rows": len(train),
                        "train_failures": int(train[LABEL].sum()),
                        "last_label_end": train["origin"].max()
                        + pd.Timedelta(hours=config.horizon_hours),
                        "trees": model.trees,
                        "deferred": ",".join(model.deferred),
                        "orange_share": shares[2],
                        "level_shares": [round(x, 6) for x in shares],
                        "model_level_thresholds": [float(x) for x in levels["xgboost"]],
                        # fitted for the served level (ties kept when served:
                        # riskwarn.nowcast.threshold_level_policy reads it)
                        "levels_served": bool(getattr(model, "levels_served", False)),
                        **{f"threshold_{k}": v for k, v in thresholds.items()},
                    }
                )
                log.info(
                    "refit %s: %d rows, %d positive, %d trees, deferred %s",
                    origin,
                    len(train),
                    int(train[LABEL].sum()),
                    model.trees,
                    model.deferred or "none",
                )
                next_refit = origin + pd.Timedelta(days=config.refit_every_days)
                last_fit = (origin, int(train[LABEL].sum()))
        assert model is not None
        stretch.append(origin)
    if model is None:
        raise NothingToLearn(
            no_failure_reason(table, eval_origins), zh=no_failure_reason(table, eval_origins, "zh")
        )
    if stretch:
        out.append(_score_stretch(table, by_origin, stretch, model, thresholds, levels))
    return SiteBacktest(pd.concat(out, ignore_index=True), model, pd.DataFrame(fits))


def _score_stretch(
    table: pd.DataFrame,
    by_origin: dict[Any, np.ndarray],
    origins: list[pd.Timestamp],
    model: SiteFittedModel,
    thresholds: dict[str, float],
    levels: dict[str, list[float]],
) -> pd.DataFrame:
    """The backtest's scores of ``origins`` (consecutive evaluation origins scored by one
    fit): per origin, per method (the model, then every baseline), its rows in table order,
    the same frame as one per origin and method put together. The model scores all the
    rows at once (a row's margin and probability do not depend on the other rows); each
    baseline's no-signal value is still each origin's own."""
    pos = [by_origin[o] for o in origins]
    counts = np.array([len(p) for p in pos])
    rows = table.take(np.concatenate(pos))
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    raw = model.raw(rows)
    methods = {"xgboost": model.calibrator.predict(raw), **baseline_scores_by_origin(rows, starts)}
    n, names = len(rows), list(methods)
    score = np.concatenate([methods[m] for m in names])
    threshold = np.repeat([float(thresholds[m]) for m in names], n)
    level = np.concatenate([levels_of(methods[m], levels[m]) for m in names])
    nan = np.full(n, np.nan)
    # origin-major, then method, then the origin's rows (the order of the old per-origin loop)
    origin_of_row = np.repeat(np.arange(len(origins)), counts)
    order = np.lexsort(
        (
            np.tile(np.arange(n), len(names)),
            np.repeat(np.arange(len(names)), n),
            np.tile(origin_of_row, len(names)),
        )
    )
    return pd.DataFrame(
        {
            "origin": pd.DatetimeIndex(origins).repeat(counts * len(names)),
            "site_id": np.tile(rows["site_id"].to_numpy(), len(names))[order],
            "method": np.repeat(np.array(names, dtype=object), n)[order],
            "score": score[order],
            # the model's margin before calibration (NaN for the baselines)
            "raw": np.concatenate([np.asarray(raw, dtype=float), *[nan] * (len(names) - 1)])[order],
            "threshold": threshold[order],
            "warned": (score >= threshold)[order],
            "level": level[order],
            "orange": (level >= 3)[order],
            "label": np.tile(rows[LABEL].to_numpy(int), len(names))[order],
        }
    )


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
    window = (metrics.get("eval_window") or {}).get("words", "the last eval_days")
    unjudged = [c for c in gate_result.checks if not c.get("judged", True)]
    only_champion = bool(unjudged) and all(
        c.get("reason") == "champion_out_of_sample" for c in unjudged
    )
    not_judged = (
        (
            "\n**The gate could not judge this challenger**: it could not be compared with "
            "the serving champion on origins the champion never saw (see the checks above), "
            "so it was not promoted automatically. Promote it by hand only with a reason, "
            f"which is audited (`riskwarn promote {domain} VERSION --force --reason ...`), or "
            "retrain when the window holds enough origins after the champion's training.\n"
        )
        if only_champion
        else (
            "\n**The gate could not judge this challenger** (no finite comparison: see the "
            "checks above), so it was not promoted automatically. It was never shown to beat "
            "the rules, nor to lose to them. Promote it by hand only with a reason, which is "
            "audited (`riskwarn promote "
            f"{domain} VERSION --force --reason ...`), or retrain when the data hold failures.\n"
        )
        if gate_result.status == NOT_JUDGED
        else ""
    )
    return f"""# Model card: {model_name(domain)}

- Task: {task}. XGBoost `binary:logistic`,
  boosted from a velocity prior (odds proportional to the displacement velocity; trees
  only with enough failures), Platt-calibrated (shrunk to the identity) on the latest
  complete-label slice; monotone in rain and movement.
- Evaluation: rolling origins, {metrics["n_origins"]} origins over {metrics["n_days"]}
  days x {metrics["n_sites"]} sites, base rate {metrics["base_rate"]:.5f}; training rows
  only with label windows closed before each refit. Thresholds: max TSS on training rows.
- Evaluation window: {window}
- Gate (AUC, and TSS at each warning level against the sensor rules, paired day
  bootstrap): {gate_result.summary()}
{not_judged}

| method | AUC [95% CI] | AP | TSS | POD | FAR | failures warned | median lead (h) |
|---|---|---|---|---|---|---|---|
{rows}

Features ({len(features)}): {", ".join(features)}. Left out: {", ".join(HISTORY_DEPENDENT)}
(their value depends on how much history is read; the nowcast reads 44 days).
"""


def not_judged_words(window: EvalWindow, metrics: dict[str, Any], tz: str) -> str:
    """Why a comparison of a site model could not be computed, for the gate's checks."""
    scored = int(metrics.get("methods", {}).get("xgboost", {}).get("failures", 0) or 0)
    if window.failures == 0 or scored == 0:
        why = f"no site failure in the evaluation window {window.dates(tz)}"
    else:
        why = (
            f"{window.failures} site failure(s) in the evaluation window {window.dates(tz)} "
            "gave no finite difference"
        )
    if window.limited_by:
        why += f" (the window could not reach further back: {window.limited_by.replace('_', ' ')})"
    return why


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


def site_recipe(domain: str, features: list[str], config: SiteModelConfig) -> Recipe:
    """The recipe (:mod:`models.recipe`) of a site domain's model."""
    return recipe(domain, features, config, {"tz": config.tz}, code_version())


def data_end_of(readings: pd.DataFrame) -> pd.Timestamp:
    """The end of the last reading (the data end of a training run)."""
    interval = pd.to_timedelta(readings["interval_s"].fillna(0).astype("int64"), unit="s")
    return pd.Timestamp((pd.to_datetime(readings["observed_at"], utc=True) + interval).max())


# sensors per batch when training reads the lake (about 150 k readings per sensor and
# year on the simulated city: a batch's per-reading work, not the whole history, in memory)
TRAIN_BATCH_SENSORS = 48


@dataclass(frozen=True)
class ReadingsSummary:
    """What training needs of all its readings besides the features: how many, the first
    start, the data end (:func:`data_end_of`) and their data version."""

    rows: int
    first: pd.Timestamp | None
    data_end: pd.Timestamp | None
    version: str

    @classmethod
    def of_frame(cls, readings: pd.DataFrame) -> ReadingsSummary:
        from models.train import data_version

        if readings.empty:
            return cls(0, None, None, data_version(readings))
        first = pd.Timestamp(readings["observed_at"].min())
        return cls(len(readings), first, data_end_of(readings), data_version(readings))


@runtime_checkable
class TrainingReadings(ReadingSource, Protocol):
    """A :class:`ReadingSource` that can also summarise all its readings (e.g. the lake's,
    read in pieces; ``riskwarn.pipeline.LakeReadings``)."""

    def summary(self) -> ReadingsSummary: ...


@dataclass(frozen=True)
class SitePlan:
    """What a site domain's training decides before reading any feature: its config (with
    the display time zone), every origin of its table and its evaluation window."""

    domain: str
    config: SiteModelConfig
    origins: pd.DatetimeIndex
    window: EvalWindow


def readings_summary(readings: pd.DataFrame | TrainingReadings) -> ReadingsSummary:
    """The :class:`ReadingsSummary` of a frame or of a :class:`TrainingReadings` source."""
    if isinstance(readings, pd.DataFrame):
        return ReadingsSummary.of_frame(readings)
    return readings.summary()


def plan_site_training(
    summary: ReadingsSummary,
    sites: pd.DataFrame,
    events: pd.DataFrame,
    *,
    domain: str,
    tz: str,
    config: SiteModelConfig | None = None,
) -> SitePlan:
    """The origins and evaluation window of ``domain``'s training on readings ``summary``."""
    config = replace(config or site_config(domain), tz=tz)
    if summary.rows == 0 or sites.empty:
        raise ValueError(f"no sensor readings or sites to train {domain} on")
    assert summary.first is not None and summary.data_end is not None
    origins, window = site_origins(
        summary.first, summary.data_end, config, site_failure_times(events, sites)
    )
    log.info("%s: %s", domain, window.words(config.tz))
    return SitePlan(domain, config, origins, window)


def train_site_domain(
    readings: pd.DataFrame | TrainingReadings,
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
    batch_sensors: int | None = None,
    publish: LevelPublisher | None = None,
) -> SiteTrainReport:
    """Backtest, fit, log, register and gate a ``geohazard``/``geohazard_hourly`` challenger."""
    summary = readings_summary(readings)
    plan = plan_site_training(summary, sites, events, domain=domain, tz=tz, config=config)
    table = build_site_table(
        readings, sensors, sites, events, plan.origins, plan.config, batch_sensors=batch_sensors
    )
    return finish_site_training(
        plan,
        table,
        summary,
        sensors,
        sites,
        events,
        client,
        store=store,
        max_ece=max_ece,
        auto_promote=auto_promote,
        n_boot=n_boot,
        artifact_location=artifact_location,
        publish=publish,
    )


def train_site_domains(
    readings: pd.DataFrame | TrainingReadings,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    events: pd.DataFrame,
    client: MlflowClient,
    *,
    domains: Sequence[str],
    tz: str,
    configs: dict[str, SiteModelConfig] | None = None,
    store: Any | None = None,
    max_ece: float = 0.05,
    auto_promote: bool = True,
    n_boot: int = 500,
    artifact_location: str | None = None,
    batch_sensors: int | None = None,
    publish: LevelPublisher | None = None,
) -> dict[str, SiteTrainReport | Exception]:
    """:func:`train_site_domain` of several site domains on the same readings, sharing the
    work that does not depend on the domain: the readings' summary, one read of each batch
    and its per-reading and per-sensor work (:func:`build_site_tables`). Each domain then
    has its own backtest, MLflow run, gate and promotion, exactly as if trained alone.

    Per domain, its report or the exception that stopped it (:class:`NothingToLearn`
    included): one domain's failure after the shared work never stops another's training.
    A failure of the shared work (the summary, the tables) is every planned domain's."""
    results: dict[str, SiteTrainReport | Exception] = {}
    summary = readings_summary(readings)
    plans: list[SitePlan] = []
    for domain in domains:
        try:
            plans.append(
                plan_site_training(
                    summary,
                    sites,
                    events,
                    domain=domain,
                    tz=tz,
                    config=(configs or {}).get(domain),
                )
            )
        except Exception as exc:  # this domain only; the others go on
            log.exception("%s: cannot plan its training", domain)
            results[domain] = exc
    if not plans:
        return results
    try:
        tables = build_site_tables(
            readings,
            sensors,
            sites,
            events,
            [(plan.origins, plan.config) for plan in plans],
            batch_sensors=batch_sensors,
        )
    except Exception as exc:
        log.exception("site tables of %s", [p.domain for p in plans])
        results.update({plan.domain: exc for plan in plans})
        return results
    for plan in plans:
        table = tables.pop(0)  # each table freed once its domain is done
        try:
            results[plan.domain] = finish_site_training(
                plan,
                table,
                summary,
                sensors,
                sites,
                events,
                client,
                store=store,
                max_ece=max_ece,
                auto_promote=auto_promote,
                n_boot=n_boot,
                artifact_location=artifact_location,
                publish=publish,
            )
        except Exception as exc:  # this domain only; the others go on
            log.exception("%s: training failed", plan.domain)
            results[plan.domain] = exc
        del table
    return {domain: results[domain] for domain in domains}


# the app's publishing step replayed over a backtest (scores, fits, domain) -> the
# published levels, or None when the domain is not published hourly
# (riskwarn.nowcast.backtest_published_levels; models may not import the app)
LevelPublisher = Callable[[pd.DataFrame, pd.DataFrame, str], "pd.DataFrame | None"]


def site_gate_metrics(
    bt: SiteBacktest,
    events: pd.DataFrame,
    config: SiteModelConfig,
    domain: str,
    n_boot: int = 500,
    publish: LevelPublisher | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The backtest's metrics (:func:`evaluate_site_methods`) and the gate's per-level
    comparisons with the sensor rules (``levels_vs_rule``).

    With ``config.gate_levels`` "published" and ``publish`` (the nowcast's publishing
    step, :func:`riskwarn.nowcast.backtest_published_levels`, passed in by the app), the
    levels judged are those the hourly nowcast would have published over the window with
    each refit's thresholds, against the rules alone as published: trained and served
    through the same function. Why: the gate judged each hour's level on its own, while
    the nowcast publishes through hysteresis and a hold, which move the served level
    (hourly 720-site simulation, 2026-12-07: served red FAR minus the rules' +0.108 as
    scored, published 0.683 vs 0.584; docs/streaming.md "Scored vs published levels").
    No ``publish``, or a domain not published hourly: the served level as scored (the
    comparisons' ``levels_from`` says which was judged)."""
    pub = None
    if config.gate_levels == PUBLISHED and publish is not None:
        pub = publish(bt.scores, bt.fits, domain)
    elif config.gate_levels == PUBLISHED and config.step_hours < 24:
        log.warning("%s: no publishing step given: the gate judges the levels as scored", domain)
    metrics = evaluate_site_methods(bt.scores, events, config, n_boot=n_boot, published=pub)
    return metrics, level_gate_comparisons(metrics, config.gate_levels)


def finish_site_training(
    plan: SitePlan,
    table: pd.DataFrame,
    summary: ReadingsSummary,
    sensors: pd.DataFrame,
    sites: pd.DataFrame,
    events: pd.DataFrame,
    client: MlflowClient,
    *,
    store: Any | None = None,
    max_ece: float = 0.05,
    auto_promote: bool = True,
    n_boot: int = 500,
    artifact_location: str | None = None,
    publish: LevelPublisher | None = None,
) -> SiteTrainReport:
    """The backtest, final fit, MLflow run, gate and promotion of ``plan``'s domain on its
    site ``table`` (:func:`build_site_table` of the plan's origins)."""
    from models.train import combine_versions, data_version, importance_figure, reliability_figure

    domain, config, window = plan.domain, plan.config, plan.window
    eval_origins = window.origins
    features = site_features(table)
    # failures reported after their window ended: each refit leaves out those not yet known
    late = late_site_labels(events, sites, table["origin"].unique(), config)
    bt = run_site_backtest(
        table,
        eval_origins,
        config,
        reach_back_until=window.default_start if window.extended_for else None,
        late_labels=late,
    )
    in_eval = latest_versions(events).dropna(subset=["site_id"])
    in_eval = in_eval[
        (in_eval["occurred_at"] >= eval_origins[0])
        & (in_eval["occurred_at"] < eval_origins[-1] + pd.Timedelta(hours=config.horizon_hours))
        & in_eval["site_id"].astype(str).isin(set(table["site_id"]))
    ]
    final_origin = eval_origins[-1] + pd.Timedelta(hours=config.horizon_hours)
    own = site_recipe(domain, features, config)
    before = champion_version(client, domain)
    metrics, levels_vs_rule = site_gate_metrics(bt, in_eval, config, domain, n_boot, publish)
    # the champion only on origins it never saw (at or after its trained_through)
    versus = (
        compare_scores_with_champion(
            champion_provenance(client, domain, before),
            table,
            bt.scores,
            keys=KEYS,
            load=lambda: load_champion(domain, store),
            measure=lambda later, champ: champion_auc_diff(later, champ, config, n_boot=n_boot),
            recipe_digest=own.digest,
            challenger_through=final_origin,
            event_words="site failure",
        )
        if before is not None
        else None
    )
    if versus is not None:
        metrics["champion_comparison"] = champion_check(versus)
    decision = gate(
        metrics["model_minus_baseline"],
        metrics["methods"]["xgboost"]["ece"],
        max_ece=max_ece,
        champion=before,
        base_rate=metrics["methods"]["xgboost"].get("base_rate"),
        n_rows=metrics["methods"]["xgboost"].get("n_rows"),
        not_judged_why=not_judged_words(window, metrics, config.tz),
        champion_vs=versus,
        ece_noise=ece_noise_quantile(
            bt.scores.loc[bt.scores["method"] == "xgboost", "score"],
            rows_per_event=max(1, config.horizon_hours // config.step_hours),  # 24 if hourly
        ),
        ece_draws=ECE_NOISE_DRAWS,
        levels_vs_rule=levels_vs_rule,
    )
    metrics["eval_window"] = {
        **window.params(config.tz),
        "words": window.words(config.tz),
        "refits": len(bt.fits),
    }
    final, threshold = fit_site_model(
        site_training_rows(table, final_origin, config, late), features, config, final_origin
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
        combine_versions([summary.version, *(data_version(f) for f in (sensors, sites, events))]),
        ev_rows,
        figures,
        site_model_card(domain, metrics, decision, features),
        params={
            "eval_origins": len(eval_origins),
            **window.params(config.tz),
            "backtest_refits": len(bt.fits),
            "objective": "binary:logistic",
            "step_hours": config.step_hours,
            "horizon_hours": config.horizon_hours,
            "refit_every_days": config.refit_every_days,
            "warning_threshold": round(threshold, 6),
        },
        artifact_location=artifact_location,
        trained_through=final_origin,
        recipe=own,
    )
    promoted = settle_gate(
        client, domain, record.version, decision, auto_promote=auto_promote, store=store
    )
    return SiteTrainReport(
        domain, record.run_id, record.version, decision, promoted, metrics, before, bt
    )
