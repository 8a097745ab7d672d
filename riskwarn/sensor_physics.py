"""The sensor physics of a monitored slope, written once (pure functions on arrays).

Every part of riskwarn that reads displacement or sensor health uses these: the site
features (:mod:`features.sensor_readings`), the nowcast's sensor rules
(:mod:`riskwarn.sensor_rules`, used by :mod:`riskwarn.scoring` and the site model's
``sensor_rule_level``) and the dashboard's site charts and health table
(``dashboard/sensors.py``). Each caller chooses its own sampling (per reading, per hour,
per day) and windows; the quantities themselves are defined here:

* velocity ``v = (d - d_prev) / dt`` (mm/day) and acceleration ``a = (v - v_prev) / dt``;
* inverse velocity ``1 / v`` (day/mm; only for ``v > 0``);
* the improved tangent angle ``arctan(v / v0)`` in degrees, ``v0`` the steady-stage
  (creep) velocity: 45° is steady creep, towards 90° tertiary creep (Xu et al. 2009);
* the Fukuzono (1985) inverse-velocity line: a least-squares line through recent
  ``(t, 1/v)`` points (centred sums: no cancellation), its R² and where it reaches
  ``1/v = 0``, the forecast time of failure;
* spikes (a deviation from a robust centre of more than ``factor`` times a robust scale),
  the share of expected readings missing and the dead-sensor test.

Units: displacement in mm, times in days unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import numpy as np
import pandas as pd

_A = TypeVar("_A", np.ndarray, pd.Series)  # arrays in, the same kind out
_Num: TypeAlias = np.ndarray | pd.Series | float

MAD_TO_SD = 1.4826  # a normal distribution's standard deviation per median absolute deviation


def velocity(d: _A, d_prev: _Num, dt_days: _Num) -> _A:
    """Displacement velocity (mm/day) between a reading and an earlier one ``dt_days`` before."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (d - d_prev) / dt_days


def acceleration(v: _A, v_prev: _Num, dt_days: _Num) -> _A:
    """Acceleration (mm/day²) between two velocities ``dt_days`` apart."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (v - v_prev) / dt_days


def inverse_velocity(v: np.ndarray) -> np.ndarray:
    """``1 / v`` (day/mm) where the slope moves forward (``v > 0``), else NaN."""
    v = np.asarray(v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / np.where(v > 0, v, np.nan)


def tangent_angle_deg(v: np.ndarray, v_steady: np.ndarray) -> np.ndarray:
    """Improved tangent angle ``arctan(v / v0)`` in degrees (NaN where ``v0`` is not > 0)."""
    v0 = np.asarray(v_steady, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.degrees(np.arctan(np.asarray(v, dtype=float) / np.where(v0 > 0, v0, np.nan)))


def inverse_velocity_line(
    point: Callable[[int], tuple[np.ndarray, np.ndarray]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares line of inverse velocity on time through ``k`` points per row.

    ``point(j)`` returns ``(t_j, iv_j)``, the j-th point of every row (arrays of one
    length; a row with a NaN point gives NaN). Points are drawn twice, never all held at
    once (a city's readings x ``k`` would not fit in memory). Returns ``(mean_t,
    mean_iv, slope, r2)``; the line is ``iv = mean_iv + slope (t - mean_t)``. The sums
    are taken on centred values (no cancellation far from ``t = 0``).
    """
    sum_t: np.ndarray | float = 0.0
    sum_y: np.ndarray | float = 0.0
    for j in range(k):
        t, y = point(j)
        sum_t = sum_t + t
        sum_y = sum_y + y
    mt, my = np.asarray(sum_t, dtype=float) / k, np.asarray(sum_y, dtype=float) / k
    var_t, var_y, cov = np.zeros_like(mt), np.zeros_like(mt), np.zeros_like(mt)
    for j in range(k):  # second pass on centred values
        t, y = point(j)
        var_t += (t - mt) ** 2
        var_y += (y - my) ** 2
        cov += (t - mt) * (y - my)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = cov / np.where(var_t > 0, var_t, np.nan)
        r2 = np.where(var_y > 0, cov**2 / (var_t * var_y), np.nan)
    return mt, my, slope, r2


def failure_time(mean_t: np.ndarray, mean_iv: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Where a falling inverse-velocity line reaches ``1/v = 0`` (same time axis as the
    line; NaN unless the line falls): Fukuzono's forecast time of failure."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return mean_t - mean_iv / np.where(slope < 0, slope, np.nan)


def is_spike(deviation: _A, scale: _Num, factor: float, floor: _Num = 0.0) -> _A:
    """A reading is a spike when it deviates from a robust centre (rolling median, previous
    reading) by more than ``factor`` robust scales (plus ``floor``). NaN is never a spike."""
    with np.errstate(invalid="ignore"):
        return np.abs(deviation) > factor * np.asarray(scale, dtype=float) + floor


def missing_share(n_valid: np.ndarray, expected: np.ndarray | float) -> np.ndarray:
    """Share of the expected readings that did not arrive, in [0, 1]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(1.0 - np.asarray(n_valid, dtype=float) / expected, 0.0, 1.0)


def is_dead(hours_since_last: np.ndarray, dead_after_hours: float) -> np.ndarray:
    """A sensor is dead when it never reported (NaN) or not for ``dead_after_hours``; its
    silence is unknown, never evidence of no movement."""
    h = np.asarray(hours_since_last, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isnan(h) | (h > dead_after_hours)


# -- rolling windows of given bounds ----------------------------------------------------


class WindowBounds(pd.api.indexers.BaseIndexer):
    """Fixed window bounds for pandas ``rolling``: row ``i`` aggregates rows
    ``start[i] .. end[i] - 1`` (empty where ``start[i] == end[i]``).

    The one indexer of the site features (one kernel call over every sensor, windows never
    crossing a sensor: :mod:`features.sensor_readings`) and of the sensor rules' pre-run
    windows (:func:`pre_run_bounds`, :mod:`riskwarn.sensor_rules`)."""

    def __init__(self, start: np.ndarray, end: np.ndarray) -> None:
        super().__init__()
        self.bounds = (np.asarray(start).astype(np.int64), np.asarray(end).astype(np.int64))

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.bounds


def rolling_over(values: np.ndarray, start: np.ndarray, end: np.ndarray, min_periods: int) -> Any:
    """``pd.Series(values).rolling`` over the windows ``start[i] .. end[i] - 1``."""
    return pd.Series(values).rolling(WindowBounds(start, end), min_periods=min_periods)


def pre_run_bounds(pos: np.ndarray, n: int, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (start, end) of row ``i``'s pre-run window: the ``n`` rows up to ``pos[i]``
    (the row before its rising run), none earlier than ``i - lookback`` (``lookback`` 0:
    no bound), empty where ``pos[i] < 0``."""
    pos = np.asarray(pos, dtype=np.int64)
    i = np.arange(len(pos))
    lo = pos - n + 1
    if lookback > 0:
        lo = np.maximum(lo, i - lookback)
    end = np.maximum(np.where(pos >= 0, pos + 1, 0), 0).astype(np.int64)
    start = np.clip(lo, 0, None).astype(np.int64)
    return np.minimum(start, end), end
