"""The sensor rules' kinematics at the last step of many sensors at once (pure).

:func:`riskwarn.sensor_rules.displacement_kinematics` works on one series and returns
every step; the stream (and any caller that only needs each sensor's newest step) asks
for the last row of each of hundreds of sensors at the same step end: at the hour, a
city's ~500 monitored sites complete a step together. :func:`last_step_kinematics` does
the same computation for all of them in one pass over a matrix (steps x sensors): the
series are right-aligned on their last step, the rolling windows run column-wise with
pandas' own rolling code, and the Fukuzono line, growth and significance tests are taken
at the last row only. It gives the last row of ``displacement_kinematics`` exactly (same
floating-point operations in the same order: tests/test_stream_rules_batch.py compares
them bit for bit), for fixed steps only (hourly, not calendar months).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn import sensor_physics as phys
from riskwarn.sensor_rules import SensorRules, pre_run_stats

COLUMNS = [
    "displacement_mm",
    "velocity_mm_per_day",
    "steady_velocity_mm_per_day",
    "creep_velocity_mm_per_day",
    "velocity_noise_mm_per_day",
    "significant_steps",
    "above_noise_run",
    "tangent_angle_deg",
    "accel_steps",
    "inv_velocity_r2",
    "failure_in_hours",
    "tertiary",
    "accelerating",
]


def sampled_matrix(
    series: list[tuple[np.ndarray, np.ndarray]], step_ns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each series (times in ns, sorted, unique, finite values) sampled at the end of each
    step (the last reading in ``(end - step, end]``, as ``resample(label="right",
    closed="right").last()``), right-aligned on its last step: ``(values, t_days,
    last_end_ns)``, ``values`` and ``t_days`` (days since the series' first step end, as
    ``displacement_kinematics`` counts them; NaN before it) of shape (steps, series)."""
    ends, spans = [], []
    for t, _ in series:
        e = -((-t) // step_ns) * step_ns
        ends.append(e)
        spans.append(int((e[-1] - e[0]) // step_ns) + 1 if len(e) else 0)
    rows = max(spans, default=0)
    values = np.full((rows, len(series)), np.nan)
    t_days = np.full((rows, len(series)), np.nan)
    last = np.zeros(len(series), dtype=np.int64)
    for c, ((_, v), e, span) in enumerate(zip(series, ends, spans, strict=True)):
        if not span:
            continue
        keep = np.flatnonzero(np.diff(e, append=e[-1] + 1) != 0)  # last reading per step
        row = rows - 1 - (e[-1] - e[keep]) // step_ns
        values[row, c] = v[keep]
        first = rows - span
        # (index - index[0]).total_seconds() / 86400.0, as pandas computes it
        since = (np.arange(span, dtype=np.int64) * step_ns) / 10**9
        t_days[first:, c] = since / 86400.0
        last[c] = e[-1]
    return values, t_days, last


def _line_last(t: np.ndarray, iv: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``displacement_kinematics``' ``line(k)`` at the last row: (slope, r2, t_fail)."""
    rows = t.shape[0]

    def point(j: int) -> tuple[np.ndarray, np.ndarray]:
        i = rows - k + j
        if i < 0:  # before the start: _trailing pads with NaN
            nan = np.full(t.shape[1], np.nan)
            return nan, nan
        return t[i], iv[i]

    mean_t, mean_iv, slope, r2 = phys.inverse_velocity_line(point, k)
    return slope, r2, phys.failure_time(mean_t, mean_iv, slope)


def _at(x: np.ndarray, back: int) -> np.ndarray:
    """Row ``last - back`` (NaN where there is none)."""
    rows = x.shape[0]
    return x[rows - 1 - back] if back < rows else np.full(x.shape[1], np.nan)


def last_step_kinematics(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    step: str | pd.Timedelta = "1h",
    rules: SensorRules | None = None,
) -> pd.DataFrame:
    """The last row of :func:`riskwarn.sensor_rules.displacement_kinematics` of each
    series (``sensor_id -> (times ns, values)``, times sorted and unique, values finite):
    one row per sensor, indexed by ``sensor_id``, the same columns plus ``at`` (its last
    step end). A sensor without readings is left out."""
    rules = rules or SensorRules()
    if rules.robust_steps:
        raise NotImplementedError(
            "SensorRules.robust_steps is experimental: displacement_kinematics only"
        )
    step_ns = int(pd.Timedelta(step).value)
    ids = [sid for sid, (t, _) in series.items() if len(t)]
    if not ids:
        return pd.DataFrame(columns=[*COLUMNS, "at"], index=pd.Index([], name="sensor_id"))
    sampled, t, last = sampled_matrix([series[sid] for sid in ids], step_ns)
    rows = sampled.shape[0]
    known = ~np.isnan(sampled)
    m = max(int(rules.smooth_steps), 1)
    d_prev = pd.DataFrame(sampled).ffill().shift(m).to_numpy()
    t_prev = pd.DataFrame(np.where(known, t, np.nan)).ffill().shift(m).to_numpy()
    velocity = phys.velocity(sampled, d_prev, t - t_prev)
    velocity = np.where(known, velocity, np.nan)
    vel = pd.DataFrame(velocity)
    rising = (vel.diff() > 0).to_numpy()
    # consecutive rising steps up to each row (0 where the velocity did not rise)
    idx = np.broadcast_to(np.arange(rows)[:, None], rising.shape)
    last_flat = np.maximum.accumulate(np.where(~rising, idx, -1), axis=0)
    accel_steps = np.where(last_flat >= 0, idx - last_flat, idx + 1)
    lag = np.clip(accel_steps, 0, None) + 1
    pos = idx - lag
    # per sensor, the window before its rising run (bounded: SensorRules.lookback_steps)
    stats = [pre_run_stats(velocity[:, c], pos[:, c], rules) for c in range(velocity.shape[1])]
    steady, q25, q50, q75 = (np.column_stack([st[k] for st in stats]) for k in range(4))
    steady = pd.DataFrame(steady).clip(lower=rules.min_steady_velocity_mm_per_day).to_numpy()
    tangent = phys.tangent_angle_deg(velocity[-1], steady[-1])
    creep = q50
    noise = (q75 - q25) / 1.349
    creep_s = pd.DataFrame(creep)
    floor = np.maximum(
        creep + rules.noise_z * noise,
        rules.accel_factor * creep_s.clip(lower=rules.min_steady_velocity_mm_per_day).to_numpy(),
    )
    significant = np.where(~np.isnan(floor), (velocity > floor).astype(float), 0.0)
    # the yellow noise gate: consecutive steps up to the last row with the velocity above
    # creep + noise_z SD
    with np.errstate(invalid="ignore"):
        above = (velocity > creep + rules.noise_z * noise)[::-1]  # last row first
    above_run = np.where(above.all(axis=0), rows, np.argmin(above, axis=0))
    log_v = np.log(np.where(velocity > 0, velocity, np.nan))
    inv_v = phys.inverse_velocity(velocity)

    def sustained(k: int) -> np.ndarray:
        # rolling(k, min_periods=k).sum() >= k at the last row: k steps, all significant
        if k > rows:
            return np.zeros(significant.shape[1], dtype=bool)
        return significant[rows - k :].sum(axis=0) >= k

    slope, r2, t_fail = _line_last(t, inv_v, rules.n_accel + 1)
    curv = (_at(log_v, 0) - _at(log_v, 1)) - (_at(log_v, 1) - _at(log_v, 2))
    accelerating = (
        (accel_steps[-1] >= rules.n_accel)
        & (curv >= -rules.convexity_tol)
        & sustained(rules.n_accel)
    )
    tertiary = accelerating & (slope < 0) & (r2 >= rules.min_inv_r2)
    n_sig = rules.n_accel
    if rules.fit_steps > rules.n_accel + 1:
        k = n_sig = rules.fit_steps
        h = (k - 1) // 2
        growth = _at(log_v, 0) - _at(log_v, h)
        growth_before = _at(log_v, h) - _at(log_v, 2 * h)
        acc_w = (
            (growth > 0)
            & (growth_before > 0)
            & (growth >= growth_before - rules.convexity_tol)
            & sustained(k)
        )
        slope_w, r2_w, t_fail_w = _line_last(t, inv_v, k)
        tert_w = acc_w & (slope_w < 0) & (r2_w >= rules.min_inv_r2)
        use_w = tert_w & ~tertiary
        r2 = np.where(use_w, r2_w, r2)
        t_fail = np.where(use_w, t_fail_w, t_fail)
        accelerating, tertiary = accelerating | acc_w, tertiary | tert_w
    t_last = t[-1]
    with np.errstate(invalid="ignore"):
        failure = np.where(tertiary & (t_fail >= t_last), (t_fail - t_last) * 24.0, np.nan)
    sig_steps = np.nansum(significant[max(rows - n_sig, 0) :], axis=0)
    out = pd.DataFrame(
        {
            "displacement_mm": sampled[-1],
            "velocity_mm_per_day": velocity[-1],
            "steady_velocity_mm_per_day": steady[-1],
            "creep_velocity_mm_per_day": creep[-1],
            "velocity_noise_mm_per_day": noise[-1],
            "significant_steps": sig_steps.astype(int),
            "above_noise_run": above_run.astype(int),
            "tangent_angle_deg": tangent,
            "accel_steps": accel_steps[-1].astype(int),
            "inv_velocity_r2": r2,
            "failure_in_hours": failure,
            "tertiary": tertiary.astype(bool),
            "accelerating": accelerating.astype(bool),
            "at": pd.to_datetime(last, utc=True),
        },
        index=pd.Index(ids, name="sensor_id"),
    )
    return out
