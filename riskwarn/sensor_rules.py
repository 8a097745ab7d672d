"""The nowcast's geohazard sensor rules (pure: frames and parameters in, frames out).

Thresholds on the sensor physics of :mod:`riskwarn.sensor_physics`:

* :func:`displacement_kinematics` samples one cumulative-displacement series at the end
  of each step and derives velocity, steady-stage velocity, the improved tangent angle,
  consecutive accelerating steps and the Fukuzono inverse-velocity line;
* :func:`sensor_levels` turns them into a level: orange and red need *sustained,
  tertiary* acceleration (velocity rising over several consecutive steps and 1/v falling
  along a line); a seasonal step (one or two fast steps that then stop) is capped at
  yellow. A red sensor rule wins whatever the model says;
* :func:`sensor_health`: a dead or gappy sensor is flagged as such and never read as
  "no movement";
* :func:`sensor_rule_reason` / :func:`sensor_health_reason`: the bilingual reason items.

``NOWCAST_RULES`` and ``DISPLACEMENT_TYPES`` are the nowcast's parameters, shared by the
nowcast (:mod:`riskwarn.scoring`) and the site model's ``sensor_rule_level``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskwarn import sensor_physics as phys


@dataclass(frozen=True)
class SensorRules:
    """Thresholds of the displacement rules (DOMAIN.md; all tunable).

    Tangent-angle bands: >= ``attention_deg`` blue (45° = steady creep, "attention"),
    >= ``yellow_deg`` yellow (a 5° margin above steady creep so that measurement noise
    around 45° does not raise yellow), >= ``orange_deg`` orange, >= ``red_deg`` red; orange/red only with tertiary
    (sustained) acceleration over ``n_accel`` consecutive steps with the inverse
    velocity falling along a line (R^2 >= ``min_inv_r2``). Inverse-velocity failure
    forecasts within ``red_failure_hours`` give red, within ``orange_failure_hours``
    orange.

    ``fit_steps`` > ``n_accel`` + 1 (the nowcast's hourly rules: 12) adds a *window
    mode* for short, noisy steps, where ``n_accel`` consecutive rising steps and a
    five-point line appear only in the last hours before failure (on the simulator the
    rules then jumped from yellow straight to red, never orange): velocity significant
    over the whole window, rising and not decelerating across its two halves
    (``accelerating``: at most orange; the tangent angle's orange band 80-85° becomes
    reachable) and, for red, the 1/v line over the window with R^2 >= ``min_inv_r2``.

    **Noise guard** (``noise_z``, ``accel_factor``): a rising run and a 1/v line over a
    handful of steps also arise by chance on a stationary sensor, at a rate that grows
    with the ratio of reading noise to creep (hourly 6-h velocities of a crack meter at
    0.05 mm noise on 1 mm/day creep: 115 red episodes in 10 x 90 days before the guard,
    ``tests/test_warnings.py``). Tertiary creep therefore also needs, as an engineer
    would check before trusting a Fukuzono (1985) extrapolation (Intrieri et al. 2012
    use velocity thresholds above a site's background; Xu et al. 2009 normalise by the
    steady-stage velocity):

    * a known steady baseline: the creep velocity (median) and the velocity noise
      (interquartile range / 1.349) of the ``steady_window_steps`` before the current
      rising run, from at least a third of that window;
    * significant acceleration, sustained: each of the last ``n_accel`` velocities at
      least ``noise_z`` noise standard deviations above the creep velocity and at least
      ``accel_factor`` times it;
    * the inverse-velocity line (R^2 >= ``min_inv_r2``, falling) and a forecast failure
      within the horizon, as before.

    **Yellow noise gate** (``yellow_steps`` > 0; the nowcast's hourly rules: 2). The
    tangent angle divides the velocity by the steady-stage velocity; where reading noise
    dominates a short-step velocity (a GNSS solution at +-2.5 mm read hourly: 6-hour
    velocities with ~14 mm/day of noise against creep of a few hundredths of a mm/day)
    the steady velocity is the noise's own median and the angle of a stable slope is
    >= 50° in about one hour in five: yellow by chance. The tangent angle's yellow band
    (and the bands above it, which need acceleration anyway) therefore also needs the
    movement to be real, as operational early-warning systems require before an alert:
    the velocity above the sensor's noise floor, creep + ``noise_z`` velocity-noise SD of
    the same baseline as the acceleration test, for ``yellow_steps`` consecutive steps
    (``above_noise_run``; a lone spike that passes the health checks moves one step).
    Below it the angle gives at most blue (attention). Where the noise is small against
    the creep the floor is just above the creep and the 50° band decides as before.
    0 = off (the monthly rules: a monthly velocity is not noise-dominated). Orange and
    red are unchanged: acceleration already needs ``n_accel`` (>= ``yellow_steps``)
    consecutive steps above a floor at least as high.
    """

    attention_deg: float = 45.0
    no_baseline_blue_mm_per_day: float = 4.38
    """**No baseline yet** (the warm-up of a new sensor, or one back from a long outage:
    fewer than a third of ``steady_window_steps`` velocities, so no steady velocity and no
    tangent angle). The tangent-angle bands cannot be read, and a huge step would get no
    level at all (review 2026-12-06: 8 of the 20 largest monthly steps of the Three
    Gorges points, up to +560 mm in a month). Absolute velocity bands then apply, capped at
    yellow (no orange/red without a tangent angle and tertiary creep; a seasonal step on a
    creeping slope is at most yellow anyway): blue (attention) from this velocity, the
    lower bound of the *slow* class of Cruden & Varnes (1996), 1.6 m/year = 4.38 mm/day;
    0 = off."""
    no_baseline_yellow_mm_per_day: float = 433.0
    """Yellow from this velocity without a baseline: the lower bound of Cruden & Varnes'
    (1996) *moderate* class, 13 m/month = 433 mm/day (a slope that fast is moving whatever
    its history); 0 = off."""
    yellow_deg: float = 50.0
    orange_deg: float = 80.0
    red_deg: float = 85.0
    n_accel: int = 4
    min_inv_r2: float = 0.8
    red_failure_hours: float = 24.0
    orange_failure_hours: float = 72.0
    steady_window_steps: int = 12
    smooth_steps: int = 1
    convexity_tol: float = 0.1
    min_steady_velocity_mm_per_day: float = 0.01
    noise_z: float = 3.0
    accel_factor: float = 2.0
    fit_steps: int = 0
    yellow_steps: int = 0
    robust_steps: int = 0
    """Experimental, off (0) in every served rule set: > 0 takes the velocity as the
    Theil-Sen slope of the last ``robust_steps`` samples instead of the
    ``smooth_steps`` difference (tried for hourly GNSS at +-2.5 mm, 2026-12-05; result in
    docs/benchmarks.md, "Robust GNSS velocity"). Only
    :func:`displacement_kinematics` implements it; the stream's batch twin
    (:mod:`riskwarn.sensor_rules_batch`) refuses it, so it cannot be served by one path
    and not the other."""
    lookback_steps: int = 0
    """How many steps before a step its steady velocity, creep and noise (the window of
    ``steady_window_steps`` before the current rising run) may reach; 0 = no bound. Without
    it a rising run longer than a few days pushes that window past the 35 days the nowcast
    and serving read, and a level depends on how much history was read (training read
    years: review finding sitepar, 2026-12-07)."""
    robust_blocks: int = 0
    """Experimental, off (0) in every served rule set; needs ``robust_steps`` > 0. The
    second attempt at the robust GNSS velocity (2026-12-05, docs/benchmarks.md "Robust
    GNSS velocity", second attempt): a Theil-Sen window of ``robust_steps`` samples that
    slides one step shares all but one sample with the previous one, so a run of
    "consecutive significant steps" and a straight 1/v line are one noise excursion seen
    many times. With ``robust_blocks`` = B > 0 every significance and acceleration test
    reads only *non-overlapping* windows, the velocities at t, t - W, ..., t - (B-1) W
    (W = ``robust_steps``): sustained = all B significant (each against its own noise
    floor), accelerating = rising from block to block (and, for B >= 3, the growth not
    falling by more than ``convexity_tol``), tertiary = the 1/v line through the last
    max(B, 3) block velocities falling with R^2 >= ``min_inv_r2``; the yellow noise gate counts
    ``yellow_steps`` consecutive *blocks* above the floor. The hourly step and window
    modes are not used in this mode."""

    def __post_init__(self) -> None:
        if self.robust_blocks > 0 and self.robust_steps <= 0:
            raise ValueError("SensorRules.robust_blocks needs robust_steps > 0")


RULE_READ_DELAY_NS = 1
"""The sensor rules read a reading this long after its time stamp (1 ns): the rules sample
each series at step ends with right-closed steps (:func:`displacement_kinematics`,
:func:`riskwarn.sensor_rules_batch.sampled_matrix`), so through :func:`rule_times_ns` the
hourly step ending at ``E`` holds the readings taken in ``[E - 1 h, E)``, and the level
issued at an origin is read from the readings taken strictly before it, every step
alike. It is the visibility rule of every model input (features/sensor_readings.py: an
instantaneous reading becomes visible 1 ns after it is taken) and of the health checks
(``[origin - 24 h, origin)``): a reading stamped exactly at the origin is not known at
it (it is still in transit when the nowcast runs, and the stream evaluates a step as
soon as the first reading at or after its end arrives)."""


def rule_times_ns(t_ns: Any) -> Any:
    """The times (ns since the epoch, UTC) at which the sensor rules read readings taken
    at ``t_ns`` (an int or an int64 array): ``t_ns + RULE_READ_DELAY_NS``. The one place
    of the step convention: the site models' rule-level input
    (:func:`models.geohazard_sites.sensor_rule_levels`), the nowcast and the stream
    (:func:`riskwarn.site_state.site_states`) and the stream's per-step state
    (:class:`riskwarn.stream.state.SensorStates`) all sample through it, so they issue
    the same level from the same readings (tests/test_site_rule_same.py)."""
    if isinstance(t_ns, int | np.integer):
        return int(t_ns) + RULE_READ_DELAY_NS
    return np.asarray(t_ns, dtype=np.int64) + RULE_READ_DELAY_NS


def _trailing(x: np.ndarray, k: int) -> np.ndarray:
    """``(k, n)``: column i holds ``x[i-k+1 .. i]`` (NaN before the start)."""
    padded = np.concatenate([np.full(k - 1, np.nan), x])
    return np.lib.stride_tricks.sliding_window_view(padded, k).T


def pre_run_stats(
    velocity: np.ndarray, pos: np.ndarray, rules: SensorRules
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median |v|, and the 25/50/75 % quantiles of v, over each row's window of
    ``steady_window_steps`` ending at ``pos`` (the row before its rising run; NaN where
    ``pos`` < 0), bounded by ``lookback_steps``: one series (rows = steps)."""
    n = rules.steady_window_steps
    start, end = phys.pre_run_bounds(pos, n, int(rules.lookback_steps))
    min_base = max(3, n // 3)
    v = np.asarray(velocity, dtype=float)
    steady = phys.rolling_over(np.abs(v), start, end, min_base).median().to_numpy()
    roll = phys.rolling_over(v, start, end, min_base)
    q25, q50, q75 = (roll.quantile(q).to_numpy() for q in (0.25, 0.5, 0.75))
    ok = np.asarray(pos) >= 0
    return tuple(np.where(ok, a, np.nan) for a in (steady, q25, q50, q75))  # type: ignore[return-value]


def rolling_theil_sen(t: np.ndarray, y: np.ndarray, k: int, min_n: int) -> np.ndarray:
    """Theil-Sen slope (median of pairwise slopes) of ``y`` on ``t`` over each trailing
    window of ``k`` samples (causal: row i uses samples i-k+1..i); NaN samples are left
    out, and a window with fewer than ``min_n`` samples gives NaN."""
    n = len(y)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    tw, yw = _trailing(np.asarray(t, float), k), _trailing(np.asarray(y, float), k)
    i, j = np.triu_indices(k, 1)
    count = np.isfinite(yw).sum(axis=0)
    chunk = max(1, 2_000_000 // len(i))
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            slopes = (yw[j, a:b] - yw[i, a:b]) / (tw[j, a:b] - tw[i, a:b])
        full = count[a:b] == k  # no gap in the window: the plain (faster) median
        med = np.full(b - a, np.nan)
        if full.any():
            med[full] = np.median(slopes[:, full], axis=0)
        part = ~full & np.isfinite(slopes).any(axis=0)
        if part.any():
            med[part] = np.nanmedian(slopes[:, part], axis=0)
        out[a:b] = med
    out[count < min_n] = np.nan
    return out


def _block_tests(
    t: np.ndarray,
    velocity: pd.Series,
    significant: pd.Series,
    above: pd.Series,
    rules: SensorRules,
) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series, pd.Series, int]:
    """The significance, acceleration and 1/v tests of ``SensorRules.robust_blocks``: on
    the velocities at t, t - W, ..., t - (B-1) W only (W = ``robust_steps``, windows that
    share no sample). Returns ``(accelerating, tertiary, r2, t_fail, above_noise_run,
    n_blocks)``."""
    w, nb = int(rules.robust_steps), int(rules.robust_blocks)
    idx = velocity.index
    v = [velocity.shift(j * w) for j in range(nb)]  # v[0] now, v[j] j windows before
    sig = [significant.shift(j * w).fillna(0.0) > 0 for j in range(nb)]
    sustained = pd.Series(np.logical_and.reduce([s.to_numpy() for s in sig]), index=idx)
    rising = pd.Series(True, index=idx)
    for j in range(nb - 1):
        rising &= v[j] > v[j + 1]
    log_v = [np.log(x.where(x > 0)) for x in v]
    convex = pd.Series(True, index=idx)
    for j in range(nb - 2):  # growth now >= growth a window before - tol
        convex &= (log_v[j] - log_v[j + 1]) >= (log_v[j + 1] - log_v[j + 2]) - rules.convexity_tol
    accelerating = sustained & rising & convex
    # Fukuzono over the block velocities (oldest first); at least 3 points (a line through
    # two is always straight)
    t_s = pd.Series(t, index=idx)
    iv = pd.Series(phys.inverse_velocity(velocity.to_numpy(float)), index=idx)
    n_line = max(nb, 3)
    pts = [
        (t_s.shift(j * w).to_numpy(), iv.shift(j * w).to_numpy()) for j in reversed(range(n_line))
    ]
    mean_t, mean_iv, slope, r2 = phys.inverse_velocity_line(lambda j: pts[j], n_line)
    t_fail = pd.Series(phys.failure_time(mean_t, mean_iv, slope), index=idx)
    tertiary = accelerating & pd.Series((slope < 0) & (r2 >= rules.min_inv_r2), index=idx)
    # the yellow gate's run, in blocks: the current window and the ones before it above
    # the floor (counted up to max(yellow_steps, B))
    run = pd.Series(0, index=idx)
    alive = pd.Series(True, index=idx)
    for j in range(max(int(rules.yellow_steps), nb)):
        alive &= above.shift(j * w, fill_value=False).astype(bool)
        run += alive.astype(int)
    return accelerating, tertiary, pd.Series(r2, index=idx), t_fail, run, nb


def displacement_kinematics(
    displacement_mm: pd.Series,
    step: str | pd.Timedelta,
    rules: SensorRules | None = None,
) -> pd.DataFrame:
    """Causal kinematics of one cumulative-displacement series.

    ``displacement_mm`` is indexed by UTC time. The series is sampled at the end of
    each ``step`` (last reading in the step, gaps left as NaN) and every row uses
    only readings up to its own time. Columns: ``displacement_mm``,
    ``velocity_mm_per_day`` (over the last ``smooth_steps`` steps), ``steady_velocity_mm_per_day`` (median
    absolute velocity over the previous ``steady_window_steps`` steps, before the
    current accelerating run), ``tangent_angle_deg`` (improved tangent angle
    arctan(v / v_steady)), ``accel_steps`` (consecutive steps of rising velocity),
    ``inv_velocity_r2`` and ``failure_in_hours`` (Fukuzono: linear fit of 1/v over the
    last ``n_accel`` + 1 steps extrapolated to 1/v = 0; NaN unless tertiary),
    ``above_noise_run`` (consecutive steps up to this one whose velocity is above the
    noise floor, creep + ``noise_z`` velocity-noise SD),
    ``tertiary`` (sustained acceleration: at least ``n_accel`` consecutive rising
    steps, 1/v falling along a line, and the growth ratio v_t / v_{t-1} not falling,
    as in hyperbolic pre-failure creep; a seasonal step's growth saturates).
    """
    rules = rules or SensorRules()
    offset = pd.tseries.frequencies.to_offset(step)
    s = displacement_mm.dropna().sort_index()
    if isinstance(offset, pd.offsets.Tick):  # fixed steps: sample at the step's end
        sampled = s.resample(offset, label="right", closed="right").last()
    else:  # calendar steps (monthly data): one sample per period
        sampled = s.resample(offset).last()
    t_days = (sampled.index - sampled.index[0]).total_seconds() / 86400.0 if len(sampled) else []
    t = pd.Series(np.asarray(t_days, dtype=float), index=sampled.index)
    known = sampled.notna()
    dt = t.where(known).ffill().diff()
    # velocity between consecutive available samples
    m = max(int(rules.smooth_steps), 1)
    d_prev = sampled.ffill().shift(m)
    t_prev = t.where(known).ffill().shift(m)
    velocity = phys.velocity(sampled, d_prev, t - t_prev)
    if rules.robust_steps > 0:  # experimental (SensorRules.robust_steps)
        k_r = int(rules.robust_steps)
        ts = rolling_theil_sen(t.to_numpy(float), sampled.to_numpy(float), k_r, max(3, k_r // 2))
        velocity = pd.Series(ts, index=sampled.index)
    velocity = velocity.where(known)
    del dt
    rising = velocity.diff() > 0
    run_id = (~rising).cumsum()
    accel_steps = rising.astype(int).groupby(run_id).cumsum()
    # steady velocity: median |v| over the window before the current rising run
    lag = accel_steps.clip(lower=0).to_numpy() + 1
    pos = np.arange(len(velocity)) - lag
    steady_vals, q25, q50, q75 = pre_run_stats(velocity.to_numpy(float), pos, rules)
    steady = pd.Series(steady_vals, index=velocity.index).clip(
        lower=rules.min_steady_velocity_mm_per_day
    )
    tangent = pd.Series(phys.tangent_angle_deg(velocity, steady), index=velocity.index)
    # noise guard: creep velocity and velocity noise of the same window (before the run)
    creep = pd.Series(q50, index=velocity.index)
    noise = pd.Series((q75 - q25) / 1.349, index=velocity.index)
    floor = np.maximum(
        creep + rules.noise_z * noise,
        rules.accel_factor * creep.clip(lower=rules.min_steady_velocity_mm_per_day),
    )
    significant = (velocity > floor).astype(float).where(floor.notna(), 0.0)
    # the yellow noise gate: consecutive steps with the velocity above creep + noise_z SD
    above = (velocity > noise_floor(creep, noise, rules)).fillna(False).astype(bool)
    above_noise_run = above.astype(int).groupby((~above).cumsum()).cumsum()
    # Fukuzono/Voight tertiary creep: 1/v linear in t, so log v is convex (the growth ratio
    # of velocity keeps rising); a seasonal step saturates: its growth ratio falls.
    log_v = np.log(velocity.where(velocity > 0))
    inv_v = phys.inverse_velocity(velocity.to_numpy(float))
    t_np = t.to_numpy(float)

    def line(k: int) -> tuple[pd.Series, pd.Series, pd.Series]:
        t_k, iv_k = _trailing(t_np, k), _trailing(inv_v, k)
        mean_t, mean_iv, slope_k, r2_k = phys.inverse_velocity_line(lambda j: (t_k[j], iv_k[j]), k)
        t_f = phys.failure_time(mean_t, mean_iv, slope_k)
        return (
            pd.Series(slope_k, index=velocity.index),
            pd.Series(r2_k, index=velocity.index),
            pd.Series(t_f, index=velocity.index),
        )

    def sustained(n_sig: int) -> pd.Series:
        return significant.rolling(n_sig, min_periods=n_sig).sum() >= n_sig

    # step mode: n_accel consecutive rising steps, the growth ratio not falling step to step,
    # the line over the last n_accel + 1 samples
    slope, r2, t_fail = line(rules.n_accel + 1)
    accelerating = (
        (accel_steps >= rules.n_accel)
        & (log_v.diff().diff() >= -rules.convexity_tol)
        & sustained(rules.n_accel)
    )
    tertiary = accelerating & (slope < 0) & (r2 >= rules.min_inv_r2)
    n_sig = rules.n_accel
    if rules.fit_steps > rules.n_accel + 1:
        # window mode (short noisy steps): the same tests over the window's two halves and
        # the line over the whole window; either mode detects
        k = n_sig = rules.fit_steps
        h = (k - 1) // 2
        growth, growth_before = log_v - log_v.shift(h), log_v.shift(h) - log_v.shift(2 * h)
        acc_w = (
            (growth > 0)
            & (growth_before > 0)
            & (growth >= growth_before - rules.convexity_tol)
            & sustained(k)
        )
        slope_w, r2_w, t_fail_w = line(k)
        tert_w = acc_w & (slope_w < 0) & (r2_w >= rules.min_inv_r2)
        use_w = tert_w & ~tertiary
        r2 = r2.where(~use_w, r2_w)
        t_fail = t_fail.where(~use_w, t_fail_w)
        accelerating, tertiary = accelerating | acc_w, tertiary | tert_w
    if rules.robust_blocks > 0:  # experimental: non-overlapping windows only
        b = _block_tests(t_np, velocity, significant, above, rules)
        accelerating, tertiary, r2, t_fail, above_noise_run, n_sig = b
    sig_count = significant.rolling(n_sig, min_periods=1).sum()
    if rules.robust_blocks > 0:  # significant blocks among the last robust_blocks windows
        w_b = int(rules.robust_steps)
        sig_count = significant.copy()
        for j in range(1, int(rules.robust_blocks)):
            sig_count += significant.shift(j * w_b).fillna(0.0)
    failure_hours = ((t_fail - t) * 24.0).where(tertiary & (t_fail >= t))
    return pd.DataFrame(
        {
            "displacement_mm": sampled,
            "velocity_mm_per_day": velocity,
            "steady_velocity_mm_per_day": steady,
            "creep_velocity_mm_per_day": creep,
            "velocity_noise_mm_per_day": noise,
            "significant_steps": sig_count.fillna(0).astype(int),
            "above_noise_run": above_noise_run.astype(int),
            "tangent_angle_deg": tangent,
            "accel_steps": accel_steps.astype(int),
            "inv_velocity_r2": r2,
            "failure_in_hours": failure_hours,
            "tertiary": tertiary.astype(bool),
            "accelerating": accelerating.astype(bool),
        }
    )


NOISE_GATE_TEXT = (
    "velocity within the sensor's noise (not above its noise floor for {n} consecutive "
    "steps: at most blue)",
    "速度在传感器噪声范围内（未连续 {n} 个时段超过噪声下限：最高蓝色）",
)
# the same with its figures (review of 6 Dec 2026: "44.4 mm/day" beside a velocity chart
# within +-2 mm/day read as a wrong number; the 44.4 is one step's velocity over the last
# smooth_steps steps, just above a noise floor of ~40 mm/day, the chart a daily mean):
# {v} the step's velocity, {floor} its noise floor, {run} steps above it, {n} needed
NOISE_GATE_FIGURES = (
    "velocity within the sensor's noise ({v:.1f} mm/day, above its noise floor of "
    "{floor:.1f} mm/day for {run} of the {n} consecutive steps needed: at most blue)",
    "速度在传感器噪声范围内（{v:.1f} 毫米/日，超过噪声下限 {floor:.1f} 毫米/日的连续时段 "
    "{run} 个，需 {n} 个：最高蓝色）",
)
NOISE_GATE_BELOW = (
    "velocity within the sensor's noise ({v:.1f} mm/day, below its noise floor of "
    "{floor:.1f} mm/day: at most blue)",
    "速度在传感器噪声范围内（{v:.1f} 毫米/日，低于噪声下限 {floor:.1f} 毫米/日：最高蓝色）",
)


def noise_floor(creep_mm_per_day: Any, noise_mm_per_day: Any, rules: SensorRules) -> Any:
    """The yellow noise gate's floor (:class:`SensorRules`): the creep velocity plus
    ``noise_z`` velocity-noise standard deviations, in the velocity's own terms (the
    velocity over the last ``smooth_steps`` steps); NaN without a baseline. Numbers or
    aligned Series (the kinematics' ``creep_velocity_mm_per_day`` and
    ``velocity_noise_mm_per_day``), as :func:`displacement_kinematics` compares them."""
    return creep_mm_per_day + rules.noise_z * noise_mm_per_day


def noise_gate_text(
    rules: SensorRules,
    velocity_mm_per_day: float | None = None,
    floor_mm_per_day: float | None = None,
    run: int | None = None,
) -> tuple[str, str]:
    """The yellow noise gate's sentence (en, zh): with the velocity, its noise floor and
    the steps above it when known (:data:`NOISE_GATE_FIGURES`), else without."""
    n = rules.yellow_steps
    known = [x for x in (velocity_mm_per_day, floor_mm_per_day) if x is not None]
    if len(known) < 2 or not all(math.isfinite(float(x)) for x in known):
        return NOISE_GATE_TEXT[0].format(n=n), NOISE_GATE_TEXT[1].format(n=n)
    v, floor = float(velocity_mm_per_day), float(floor_mm_per_day)  # type: ignore[arg-type]
    if v <= floor or not run:
        return (
            NOISE_GATE_BELOW[0].format(v=v, floor=floor),
            NOISE_GATE_BELOW[1].format(v=v, floor=floor),
        )
    return (
        NOISE_GATE_FIGURES[0].format(v=v, floor=floor, run=int(run), n=n),
        NOISE_GATE_FIGURES[1].format(v=v, floor=floor, run=int(run), n=n),
    )


def noise_capped(kinematics: pd.DataFrame, rules: SensorRules) -> np.ndarray:
    """Rows whose velocity has not been above the noise floor for ``rules.yellow_steps``
    consecutive steps (:class:`SensorRules`, yellow noise gate): their tangent angle gives
    at most blue. All False when the gate is off (``yellow_steps`` 0)."""
    if rules.yellow_steps <= 0:
        return np.zeros(len(kinematics), dtype=bool)
    run = kinematics["above_noise_run"].fillna(0).to_numpy()
    return run < rules.yellow_steps


def no_baseline_rank(kinematics: pd.DataFrame, rules: SensorRules) -> np.ndarray:
    """Level 0-2 of the velocity bands on the rows without a baseline (a velocity but no
    tangent angle: :attr:`SensorRules.no_baseline_blue_mm_per_day`); 0 elsewhere."""
    v = kinematics["velocity_mm_per_day"].to_numpy(float)
    no_base = np.isnan(kinematics["tangent_angle_deg"].to_numpy(float)) & np.isfinite(v)
    blue, yellow = rules.no_baseline_blue_mm_per_day, rules.no_baseline_yellow_mm_per_day
    rank = np.zeros(len(v), dtype=int)
    with np.errstate(invalid="ignore"):
        if blue > 0:
            rank = np.where(no_base & (v >= blue), 1, rank)
        if yellow > 0:
            rank = np.where(no_base & (v >= yellow), 2, rank)
    return rank


def no_baseline_text(velocity: float, rank: int, rules: SensorRules) -> tuple[str, str]:
    """(English, Chinese) reason of a level set by the no-baseline velocity bands."""
    band = rules.no_baseline_yellow_mm_per_day if rank >= 2 else rules.no_baseline_blue_mm_per_day
    colour = ("yellow", "黄色") if rank >= 2 else ("blue", "蓝色")
    return (
        f"no baseline yet: velocity band, velocity {velocity:.1f} mm/day >= {band:g} mm/day "
        f"({colour[0]}; no steady-stage velocity yet, so no tangent angle: at most yellow)",
        f"尚无基线：按速度分级，速度 {velocity:.1f} 毫米/天 ≥ {band:g} 毫米/天（{colour[1]}；"
        "尚无稳定阶段速度，无法计算切线角：最高黄色）",
    )


def sensor_levels(kinematics: pd.DataFrame, rules: SensorRules | None = None) -> pd.DataFrame:
    """Sensor-rule level per row of :func:`displacement_kinematics` output (vectorised).

    Returns ``sensor_level_rank`` (0..4), ``sensor_red`` (a hard red rule fired) and
    ``sensor_reason`` (one sentence, '' when nothing fired).
    """
    rules = rules or SensorRules()
    k = kinematics
    a = k["tangent_angle_deg"].fillna(-90.0)
    fail_h = k["failure_in_hours"]
    tert = k["tertiary"].fillna(False).astype(bool)
    accel = (k["accelerating"].fillna(False).astype(bool) if "accelerating" in k else tert) | tert
    angle_rank = np.select(
        [
            a >= rules.red_deg,
            a >= rules.orange_deg,
            a >= rules.yellow_deg,
            a >= rules.attention_deg,
        ],
        [4, 3, 2, 1],
        0,
    )
    # without sustained acceleration a fast step is at most yellow
    # significant sustained acceleration without a reliable 1/v line yet: at most orange
    angle_rank = np.where(tert, angle_rank, np.minimum(angle_rank, np.where(accel, 3, 2)))
    # yellow noise gate: an angle from a velocity inside the sensor's noise is at most blue
    noisy = noise_capped(kinematics, rules) & ~accel
    angle_rank = np.where(noisy, np.minimum(angle_rank, 1), angle_rank)
    fail_rank = np.select(
        [fail_h <= rules.red_failure_hours, fail_h <= rules.orange_failure_hours], [4, 3], 0
    )
    band = no_baseline_rank(k, rules)
    rank = np.maximum(np.maximum(angle_rank, fail_rank), band)
    red = rank == 4
    reasons = []
    vel = k["velocity_mm_per_day"].to_numpy(float)
    nan = pd.Series(np.nan, index=k.index)
    floors = noise_floor(
        k.get("creep_velocity_mm_per_day", nan), k.get("velocity_noise_mm_per_day", nan), rules
    ).to_numpy(float)
    runs = k.get("above_noise_run", nan).fillna(0).to_numpy(int)
    for ang, fh, t_, r, ar, nz, b, v, fl, run in zip(
        a, fail_h, tert, rank, angle_rank, noisy, band, vel, floors, runs, strict=True
    ):
        if r == 0:
            reasons.append("")
            continue
        if b > 0 and b >= ar:
            reasons.append("Displacement: " + no_baseline_text(v, int(b), rules)[0] + ".")
            continue
        parts = [f"improved tangent angle {ang:.1f}°"]
        if nz and r == 1 and ang >= rules.yellow_deg:
            parts.append(noise_gate_text(rules, v, fl, run)[0])
        if t_:
            parts.append("sustained (tertiary) acceleration")
            if not math.isnan(fh):
                parts.append(f"inverse-velocity failure forecast in {fh:.0f} h")
        elif r == 3:
            parts.append(
                "significant sustained acceleration, no reliable inverse-velocity line yet"
            )
        elif ar >= 2 and ang >= rules.orange_deg:
            parts.append(
                "a step without sustained acceleration (seasonal-step rule: capped at yellow)"
            )
        reasons.append("Displacement: " + ", ".join(parts) + ".")
    return pd.DataFrame(
        {"sensor_level_rank": rank.astype(int), "sensor_red": red, "sensor_reason": reasons},
        index=kinematics.index,
    )


@dataclass(frozen=True)
class HealthRules:
    """When a sensor counts as dead, gappy, flat or spiky over the look-back window."""

    expected_interval_s: int = 600
    dead_after_hours: float = 6.0
    max_missing_share: float = 0.3
    flat_min_readings: int = 12
    spike_mad_factor: float = 20.0
    max_spike_share: float = 0.05


def sensor_health(
    readings: pd.DataFrame,
    origin: pd.Timestamp,
    window_hours: float = 24.0,
    rules: HealthRules | None = None,
    sensors: pd.Series | None = None,
) -> pd.DataFrame:
    """Health of each sensor over ``[origin - window, origin)`` from long-form readings.

    ``readings`` has ``sensor_id``, ``observed_at`` (UTC) and ``value``; ``sensors``
    optionally lists every sensor expected to report (those with no reading at all are
    'dead'). Returns one row per sensor: ``n_readings``, ``missing_share``,
    ``hours_since_last``, ``spike_share``, ``status`` ('ok'|'dead'|'flat'|'gappy'|
    'spiky') and ``health_note`` (a sentence; '' when ok). A dead sensor says so; its
    silence is never evidence of stability.
    """
    rules = rules or HealthRules()
    start = origin - pd.Timedelta(hours=window_hours)
    w = readings.loc[(readings["observed_at"] >= start) & (readings["observed_at"] < origin)]
    w = w.sort_values(["sensor_id", "observed_at"])
    expected = max(int(window_hours * 3600 / rules.expected_interval_s), 1)
    diffs = w.groupby("sensor_id")["value"].diff()
    mad = diffs.abs().groupby(w["sensor_id"]).transform("median")
    spike = phys.is_spike(diffs, mad.clip(lower=1e-6), rules.spike_mad_factor)
    g = w.assign(_spike=spike, _valid=w["value"].notna()).groupby("sensor_id")
    stats = pd.DataFrame(
        {
            "n_readings": g["_valid"].sum(),
            "last_at": g["observed_at"].max(),
            "value_std": g["value"].std(),
            "spike_share": g["_spike"].mean(),
        }
    )
    ids = pd.Index(sensors.unique() if sensors is not None else stats.index, name="sensor_id")
    stats = stats.reindex(ids.union(stats.index))
    stats["n_readings"] = stats["n_readings"].fillna(0).astype(int)
    stats["spike_share"] = stats["spike_share"].fillna(0.0)
    stats["missing_share"] = phys.missing_share(stats["n_readings"], expected)
    stats["hours_since_last"] = (origin - stats["last_at"]).dt.total_seconds() / 3600.0
    dead = phys.is_dead(stats["hours_since_last"], rules.dead_after_hours)
    flat = (stats["n_readings"] >= rules.flat_min_readings) & (stats["value_std"].fillna(0) == 0)
    gappy = stats["missing_share"] > rules.max_missing_share
    spiky = stats["spike_share"] > rules.max_spike_share
    stats["status"] = np.select(
        [dead, flat, gappy, spiky], ["dead", "flat", "gappy", "spiky"], "ok"
    )
    stats["health_note"] = [
        ""
        if st == "ok"
        else (sensor_health_reason(str(sid), st, hs, ms, ss, window_hours) or {"en": ""})["en"]
        for sid, st, hs, ms, ss in zip(
            stats.index,
            stats["status"],
            stats["hours_since_last"],
            stats["missing_share"],
            stats["spike_share"],
            strict=True,
        )
    ]
    return stats.drop(columns=["last_at", "value_std"]).reset_index()


def sensor_rule_reason(
    level_rank: int,
    tangent_angle_deg: float,
    failure_in_hours: float,
    tertiary: bool,
    rules: SensorRules | None = None,
    above_noise_run: int | None = None,
    velocity_mm_per_day: float | None = None,
    noise_floor_mm_per_day: float | None = None,
) -> dict[str, str] | None:
    """The displacement rule that set a site's level, as a bilingual reason item.

    ``{"en": ..., "zh": ...}`` (the warning ``reasons`` contract); None when no rule
    fired. A red rule says that it holds whatever the model says. ``above_noise_run``
    (the kinematics' column): a blue held there by the yellow noise gate says so.
    ``velocity_mm_per_day``: with no tangent angle (no baseline yet) the level came from
    the velocity bands (:attr:`SensorRules.no_baseline_blue_mm_per_day`), and says so.
    ``noise_floor_mm_per_day`` (:func:`noise_floor`): a blue held by the noise gate gives
    the velocity and that floor as numbers (:func:`noise_gate_text`).
    """
    rules = rules or SensorRules()
    if level_rank <= 0:
        return None
    a = float(tangent_angle_deg)
    if math.isnan(a) and velocity_mm_per_day is not None and level_rank <= 2:
        # no baseline yet: the level came from the velocity bands
        en_b, zh_b = no_baseline_text(float(velocity_mm_per_day), level_rank, rules)
        return {"en": "Displacement: " + en_b + ".", "zh": "位移监测：" + zh_b + "。"}
    en = [f"improved tangent angle {a:.1f}°"]
    zh = [f"改进切线角 {a:.0f}°"]
    gated = (
        above_noise_run is not None
        and rules.yellow_steps > 0
        and above_noise_run < rules.yellow_steps
        and level_rank == 1
        and a >= rules.yellow_deg
    )
    if gated:
        floor = noise_floor_mm_per_day if velocity_mm_per_day is not None else None
        gate_en, gate_zh = noise_gate_text(rules, velocity_mm_per_day, floor, above_noise_run)
        en.append(gate_en)
        zh.append(gate_zh)
    if tertiary and a >= rules.red_deg:
        en[0] += f" (>= {rules.red_deg:.0f}° red threshold)"
        zh[0] += f"，已超过 {rules.red_deg:.0f}° 红色阈值"
    elif tertiary and a >= rules.orange_deg:
        en[0] += f" (>= {rules.orange_deg:.0f}° orange threshold)"
        zh[0] += f"，已超过 {rules.orange_deg:.0f}° 橙色阈值"
    if tertiary:
        en.append("sustained (tertiary) acceleration")
        zh.append("持续加速（加速变形阶段）")
        if not math.isnan(failure_in_hours):
            en.append(f"inverse-velocity failure forecast in {failure_in_hours:.0f} h")
            zh.append(f"速度倒数法预测 {failure_in_hours:.0f} 小时后失稳")
    elif level_rank == 3:
        en.append(
            "velocity significantly above the creep baseline and rising over the last hours "
            "(no reliable inverse-velocity line yet: orange, not red)"
        )
        zh.append("速度显著高于蠕变基线并持续上升（速度倒数拟合尚不可靠：橙色，非红色）")
    elif a >= rules.orange_deg and not gated:
        en.append("a step without sustained acceleration (seasonal-step rule: capped at yellow)")
        zh.append("单次位移台阶、无持续加速（季节性台阶规则：最高黄色）")
    text_en = "Displacement: " + ", ".join(en) + "."
    text_zh = "位移监测：" + "，".join(zh) + "。"
    if level_rank >= 4:
        text_en += " Hard sensor rule: red whatever the model says."
        text_zh += "触发传感器硬规则：无论模型结果如何均为红色预警。"
    elif level_rank == 3:
        text_en += " Sensor rule: at least orange whatever the model says."
        text_zh += "触发传感器规则：无论模型结果如何至少为橙色预警。"
    return {"en": text_en, "zh": text_zh}


def sensor_health_reason(
    sensor_id: str,
    status: str,
    hours_since_last: float,
    missing_share: float,
    spike_share: float,
    window_hours: float = 24.0,
) -> dict[str, str] | None:
    """A sensor-health problem as a bilingual reason item (None when the sensor is ok).

    The English text is :func:`sensor_health`'s ``health_note``.
    """
    if status == "ok":
        return None
    # no reading at all in the health window: the silence is at least that long
    silent = pd.isna(hours_since_last)
    since = f"in the last {window_hours:.0f} h" if silent else f"for {hours_since_last:.1f} h"
    since_zh = (
        f"过去 {window_hours:.0f} 小时内未上传任何"
        if silent
        else f"已 {hours_since_last:.1f} 小时未上传"
    )
    texts = {
        "dead": (
            f"Sensor {sensor_id} has sent no reading {since} — treated as unknown, "
            "not as no movement.",
            f"传感器 {sensor_id} {since_zh}数据——按状态未知处理，不视为无位移。",
        ),
        "flat": (
            f"Sensor {sensor_id} reports a constant value — likely stuck; treated as unknown.",
            f"传感器 {sensor_id} 读数恒定不变——疑似卡滞，按状态未知处理。",
        ),
        "gappy": (
            f"Sensor {sensor_id} missed {missing_share:.0%} of its readings in the last "
            f"{window_hours:.0f} h.",
            f"传感器 {sensor_id} 过去 {window_hours:.0f} 小时缺测 {missing_share:.0%}。",
        ),
        "spiky": (
            f"Sensor {sensor_id} shows spikes in {spike_share:.0%} of its readings "
            "(removed before use).",
            f"传感器 {sensor_id} 有 {spike_share:.0%} 的读数为异常跳点（已剔除）。",
        ),
    }
    en, zh = texts.get(
        status, (f"Sensor {sensor_id}: {status}.", f"传感器 {sensor_id}：{status}。")
    )
    return {"en": en, "zh": zh}


DISPLACEMENT_TYPES = ("gnss", "crack_meter")
# the nowcast's rules: 30 days of hourly steps set the steady velocity, 6-hour velocities
# and the yellow noise gate: 2 consecutive hourly velocities above the noise floor. Without
# a baseline (a sensor's first 10 days) blue needs 50 mm/day, not Cruden & Varnes' 4.38:
# the 6-hour velocity of a GNSS read hourly at +-2.5-3 mm (DOMAIN.md) has a noise SD of
# 14-17 mm/day, so 4.38 mm/day would be reached by noise alone about one hour in three;
# 50 mm/day is about 3 noise SD of the noisiest sensor (a crack meter's noise is far lower).
# No yellow band: one spike in a 6-hour velocity reaches any band, and without a baseline
# there is no noise floor for the yellow noise gate (bench_sensor_false_alarms --rules
# nobands,new: with a 433 mm/day yellow band, 4 more stable sites of 234 reached yellow,
# all GNSS spikes in their first 10 days)
NOWCAST_RULES = SensorRules(
    steady_window_steps=30 * 24,
    # 33 days: a level is served for up to 24 h after its step (then the sensor is dead),
    # so what it reads lies within the 35 days the nowcast and serving read (+ margin)
    lookback_steps=33 * 24,
    smooth_steps=6,
    fit_steps=12,
    yellow_steps=2,
    no_baseline_blue_mm_per_day=50.0,
    no_baseline_yellow_mm_per_day=0.0,
)


# --------------------------------------------------------------------------- model applicability

# The site model is trained on sensors read every 10 min to 1 h (the simulator, the lake's
# loggers) and reads them through hourly 6-hour velocities (the rule level), 1-day
# velocities and 5-reading inverse-velocity lines. A displacement sensor whose readings
# come more than this many model steps apart (median spacing; 4 h for the hourly model,
# 4 days for the daily one) yields inputs the model never saw: a month-long velocity
# looks like a 1-day one, five monthly readings like a five-hour 1/v line. The model is
# not applied to such a sensor; the sensor rules and the health checks still are.
MODEL_SPACING_FACTOR = 4.0


def max_model_spacing_hours(step_hours: float) -> float:
    """The widest median reading spacing the site model of ``step_hours`` accepts."""
    return MODEL_SPACING_FACTOR * float(step_hours)


MODEL_SPACING_WINDOW_DAYS = 35
"""The reading window the spacing guard looks at, before each origin: serving's own
(:func:`riskwarn.serving_frames.read_recent_readings` of the nowcast, daily serving and
stream), so training computes each origin's spacing over the window serving reads then."""

DISPLACEMENT_QUANTITIES = ("displacement_mm", "crack_width_mm")


def displacement_site_of(sensors: pd.DataFrame) -> pd.Series:
    """Site (str) of each displacement sensor with a site, indexed by sensor id (str)."""
    disp = sensors.loc[sensors["sensor_type"].isin(DISPLACEMENT_TYPES) & sensors["site_id"].notna()]
    return disp.set_index(disp["record_id"].astype(str))["site_id"].astype(str)


def spacing_hours_at(
    readings: pd.DataFrame,
    origins: pd.DatetimeIndex,
    window_days: float = MODEL_SPACING_WINDOW_DAYS,
) -> pd.DataFrame:
    """:func:`reading_spacing_hours` of each ``sensor_id`` at each origin over the readings
    of ``[origin - window, origin)`` only (pure, causal): rows = origins, columns = sensor
    ids (str), NaN where fewer than two readings fall in the window: the median hours
    between consecutive readings, readings with a missing value not counting (a logged
    gap is not a reading)."""
    origins = pd.DatetimeIndex(origins).tz_convert("UTC").as_unit("ns")
    o_ns = origins.asi8
    lo_ns = (origins - pd.Timedelta(days=window_days)).asi8
    r = readings.loc[readings["value"].notna(), ["sensor_id", "observed_at"]]
    out: dict[str, np.ndarray] = {}
    for sid, g in r.groupby(r["sensor_id"].astype(str), sort=True):
        t = np.unique(pd.DatetimeIndex(g["observed_at"]).tz_convert("UTC").as_unit("ns").asi8)
        gaps = np.diff(t) / 3.6e12
        lo = np.searchsorted(t, lo_ns, side="left")  # first reading in the window
        hi = np.searchsorted(t, o_ns, side="left")  # readings before the origin
        vals = np.full(len(origins), np.nan)
        pairs, inverse = np.unique(np.stack([lo, hi]), axis=1, return_inverse=True)
        med = np.full(pairs.shape[1], np.nan)
        for k in range(pairs.shape[1]):
            a, b = pairs[0, k], pairs[1, k]
            if b - a >= 2:  # gaps a .. b-2 join two readings of the window
                med[k] = float(np.median(gaps[a : b - 1]))
        vals[:] = med[np.ravel(inverse)]
        out[str(sid)] = vals
    return pd.DataFrame(out, index=origins, dtype=float)


@dataclass(frozen=True)
class SpacingGuard:
    """What the reading-spacing guard keeps from the site model at each origin.

    ``spacing``: origins x displacement sensors (hours, NaN unknown); ``sparse``: same
    shape, True where the spacing exceeds ``limit_hours``; ``refused``: origins x sites,
    True where a site has a sparse displacement sensor and no other that reports at an
    acceptable spacing (the model is not applied there)."""

    spacing: pd.DataFrame
    sparse: pd.DataFrame
    refused: pd.DataFrame
    site_of: pd.Series
    limit_hours: float


def spacing_guard(
    sensors: pd.DataFrame,
    readings: pd.DataFrame,
    origins: pd.DatetimeIndex,
    step_hours: float,
    window_days: float = MODEL_SPACING_WINDOW_DAYS,
) -> SpacingGuard:
    """The reading-spacing guard of the site model (pure), at each of ``origins``: a
    displacement sensor whose median reading spacing over ``[origin - window, origin)``
    exceeds :func:`max_model_spacing_hours` of ``step_hours`` is left out of the model's
    inputs; a site left with no displacement sensor the model may read, while it has one
    that reports, is refused. Serving (:func:`riskwarn.scoring.serve_site_model`, one
    origin) and the training/backtest table (:func:`models.geohazard_sites.build_site_tables`,
    every origin) both call it."""
    limit = max_model_spacing_hours(step_hours)
    site_of = displacement_site_of(sensors)
    disp = readings.loc[
        readings["sensor_id"].astype(str).isin(site_of.index)
        & readings["quantity"].isin(DISPLACEMENT_QUANTITIES)
    ]
    spacing = spacing_hours_at(disp, origins, window_days)
    sparse = spacing > limit
    usable = spacing.notna() & ~sparse
    sites = site_of.reindex(spacing.columns)
    any_sparse = sparse.T.groupby(sites.to_numpy()).any().T
    any_usable = usable.T.groupby(sites.to_numpy()).any().T
    refused = any_sparse & ~any_usable.reindex(columns=any_sparse.columns, fill_value=False)
    refused = refused.reindex(index=spacing.index, fill_value=False).astype(bool)
    return SpacingGuard(spacing, sparse, refused, site_of, limit)


def model_readings(
    sensors: pd.DataFrame,
    readings: pd.DataFrame,
    origin: pd.Timestamp,
    step_hours: float,
    window_days: float = MODEL_SPACING_WINDOW_DAYS,
) -> tuple[pd.DataFrame, pd.Series, list[str], set[str]]:
    """:func:`spacing_guard` at one origin (serving): (the readings the model may read,
    the spacing of every displacement sensor (hours by sensor id, NaN unknown), the sparse
    sensors left out, the refused sites)."""
    guard = spacing_guard(sensors, readings, pd.DatetimeIndex([origin]), step_hours, window_days)
    spacing = guard.spacing.iloc[0] if len(guard.spacing.columns) else pd.Series(dtype=float)
    sparse = [str(s) for s in guard.sparse.columns[guard.sparse.iloc[0].to_numpy(bool)]]
    refused = {str(u) for u in guard.refused.columns[guard.refused.iloc[0].to_numpy(bool)]}
    kept = readings.loc[~readings["sensor_id"].astype(str).isin(sparse)] if sparse else readings
    return kept, spacing, sparse, refused


def spacing_text(hours: float) -> tuple[str, str]:
    """'~30 days' / '~6 h' (English, Chinese) for a reading spacing."""
    if hours >= 48:
        d = round(hours / 24.0)
        return f"~{d} days", f"约 {d} 天"
    h = round(hours, 1) if hours < 10 else round(hours)
    return f"~{h:g} h", f"约 {h:g} 小时"


_RULES_ONLY = (
    "Level from the sensor rules and sensor checks only.",
    "预警级别仅依据传感器规则和设备状态检查。",
)
# daily serving (model only): a refused site gets no level here, the hourly nowcast's rules run
_NO_MODEL_LEVEL = (
    "No model level in this run; the hourly nowcast's sensor rules still apply.",
    "本次不给出模型预警级别；小时级临近预报的传感器规则仍然适用。",
)


def model_not_applicable_reason(
    sensor_ids: list[str],
    spacing_hours: list[float],
    limit_hours: float,
    whole_site: bool,
    rules_served: bool = True,
) -> dict[str, str]:
    """Why the site model was not applied to these sensors, as a bilingual reason item.

    ``whole_site``: no sensor of the site was usable, so the level is the sensor rules'
    (and the health checks') alone — or, where the run serves no sensor rules
    (``rules_served`` False: the daily model-only run), there is no level from this run.
    """
    en_s = ", ".join(
        f"{s} (readings every {spacing_text(h)[0]})"
        for s, h in zip(sensor_ids, spacing_hours, strict=True)
    )
    zh_s = "、".join(
        f"{s}（每{spacing_text(h)[1]}一次读数）"
        for s, h in zip(sensor_ids, spacing_hours, strict=True)
    )
    lim_en, lim_zh = spacing_text(limit_hours)
    tail_en, tail_zh = _RULES_ONLY if rules_served else _NO_MODEL_LEVEL
    if whole_site:
        return {
            "en": f"Model not applicable: sensor {en_s}; the model was trained on readings at "
            f"most {lim_en} apart. {tail_en}",
            "zh": f"模型不适用：传感器 {zh_s}；模型训练数据的读数间隔不超过{lim_zh}。{tail_zh}",
        }
    return {
        "en": f"Sensor {en_s} not used by the model (trained on readings at most {lim_en} "
        "apart); the sensor rules still apply to it.",
        "zh": f"传感器 {zh_s} 未用于模型（模型训练数据的读数间隔不超过{lim_zh}）；"
        "传感器规则仍适用。",
    }


def model_inputs_missing_reason(
    missing: list[str], has_rain_gauge: bool, rules_served: bool = True
) -> dict[str, str]:
    """Why the site model was not applied at all: the lake could not give its inputs
    ``missing`` (feature names). Without a rain gauge the rain features cannot be built;
    the fix is to ingest one (or serve a champion trained without rain)."""
    tail_en, tail_zh = _RULES_ONLY if rules_served else _NO_MODEL_LEVEL
    shown = ", ".join(missing[:3]) + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else "")
    if not has_rain_gauge:
        return {
            "en": "Model not applicable: no rain gauge in the lake, so the model's rain "
            f"inputs ({shown}) cannot be built. Ingest rain gauge readings to serve the "
            f"model. {tail_en}",
            "zh": f"模型不适用：数据湖中没有雨量计，无法生成模型的降雨输入（{shown}）。"
            f"请接入雨量计读数以启用模型。{tail_zh}",
        }
    return {
        "en": f"Model not applicable: the model's inputs ({shown}) cannot be built from the "
        f"lake's sensors. {tail_en}",
        "zh": f"模型不适用：无法从数据湖的传感器生成模型输入（{shown}）。{tail_zh}",
    }


def model_inputs_unknown_reason(missing: list[str]) -> dict[str, str]:
    """The model scored with inputs ``missing`` unknown (NaN): e.g. no rain gauge."""
    shown = ", ".join(missing[:3]) + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else "")
    return {
        "en": f"The model scored without its inputs {shown} (not available from the lake, "
        "e.g. no rain gauge): treated as unknown.",
        "zh": f"模型在缺少输入 {shown} 的情况下评分（数据湖中无此数据，例如没有雨量计）：按未知处理。",
    }
