"""The classic methods riskwarn is judged against, run by the same backtest as the model.

Hotspot baselines score every cell at an origin from the events *before* the origin
(``CountCube`` days ``[:origin]``), with the same output as the model: one score per
origin x cell, higher = riskier.

* ``last_period``: events in the last ``period_days`` days.
* ``long_run``: events over all history ("plain counts", the best classic on Chicago).
* ``kde``: retrospective kernel-density hotspot, a Gaussian kernel (``bandwidth_m``) over
  the cell centres of past events (optionally only the last ``window_days``).
* ``prospective``: near-repeat / ProMap-like, a space-time decaying kernel: weight
  ``1 / (1 + age_weeks)`` within ``time_window_days`` times ``1 / (1 + distance_cells)``
  within ``bandwidth_m``.

Geohazard baselines score days from rainfall (and sites from displacement):

* Caine (1980) ``I = 14.82 D^-0.39`` and Guzzetti et al. (2008) ``I = 2.20 D^-0.44``
  intensity-duration thresholds (I mm/h, D h): score = the largest ratio of observed mean
  intensity to the threshold over durations of 1..n days (>= 1 means exceeded).
* Effective rainfall ``R_e = P_t + sum_{i>=1} k^i P_{t-i}``.
* Sensor rules: improved tangent angle and velocity of cumulative displacement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from models.grid import CountCube, smooth_by_cluster


@dataclass(frozen=True)
class HotspotParams:
    """Tunable parameters of the hotspot baselines (defaults follow open_cp practice)."""

    cell_size_m: float = 250.0
    last_period_days: int = 7
    kde_bandwidth_m: float = 250.0
    kde_window_days: int | None = None
    prospective_bandwidth_m: float = 400.0
    prospective_time_window_days: int = 56
    methods: tuple[str, ...] = field(default=("last_period", "long_run", "kde", "prospective"))


def _gaussian_smooth(values: np.ndarray, cube: CountCube, bandwidth_m: float, cell_m: float):
    def smooth(img: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(
            img, sigma=bandwidth_m / cell_m, mode="constant", truncate=3.0
        )

    return smooth_by_cluster(values, cube.cells, smooth)


def _promap_kernel(bandwidth_m: float, cell_m: float) -> np.ndarray:
    r = int(np.floor(bandwidth_m / cell_m))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    d = np.hypot(xx, yy)
    return np.where(d * cell_m <= bandwidth_m, 1.0 / (1.0 + d), 0.0)


def last_period_scores(cube: CountCube, origin_idx: int, period_days: int) -> np.ndarray:
    """Events per cell in the ``period_days`` days before the origin."""
    return cube.before(origin_idx, _window_start(cube, origin_idx, period_days))


def long_run_scores(cube: CountCube, origin_idx: int) -> np.ndarray:
    """Events per cell over all history before the origin."""
    return cube.before(origin_idx)


def kde_scores(
    cube: CountCube, origin_idx: int, bandwidth_m: float, cell_m: float, window_days=None
) -> np.ndarray:
    """Retrospective Gaussian kernel density of past events at each cell centre."""
    if window_days is None:
        counts = cube.before(origin_idx)
    else:
        counts = cube.before(origin_idx, _window_start(cube, origin_idx, window_days))
    return _gaussian_smooth(counts, cube, bandwidth_m, cell_m)


def prospective_scores(
    cube: CountCube, origin_idx: int, bandwidth_m: float, time_window_days: int, cell_m: float
) -> np.ndarray:
    """ProMap-like space-time kernel: recent nearby events weigh most."""
    lo = _window_start(cube, origin_idx, time_window_days)
    recent = cube.counts[lo:origin_idx]
    age_days = origin_idx - np.arange(lo, origin_idx) - 0.5
    w = 1.0 / (1.0 + age_days / 7.0)
    decayed = w @ recent
    kernel = _promap_kernel(bandwidth_m, cell_m)
    return smooth_by_cluster(
        decayed, cube.cells, lambda img: ndimage.convolve(img, kernel, mode="constant")
    )


def _window_start(cube: CountCube, origin_idx: int, window_days: int) -> int:
    """First day index of a ``window_days`` window before the origin; a cube that holds
    only recent days (``prior`` set) must hold the whole window."""
    lo = origin_idx - window_days
    if lo < 0 and cube.prior is not None:
        raise ValueError(f"the cube does not hold the {window_days} days before the origin")
    return max(lo, 0)


def hotspot_baseline_scores(
    cube: CountCube, origins: Sequence[pd.Timestamp], params: HotspotParams
) -> pd.DataFrame:
    """Scores of every baseline for every origin x cell: origin, cell_x, cell_y, method, score."""
    frames = []
    cx = cube.cells["cell_x"].to_numpy()
    cy = cube.cells["cell_y"].to_numpy()
    for origin in origins:
        o = cube.day_index(origin)
        per_method = {
            "last_period": lambda o=o: last_period_scores(cube, o, params.last_period_days),
            "long_run": lambda o=o: long_run_scores(cube, o),
            "kde": lambda o=o: kde_scores(
                cube, o, params.kde_bandwidth_m, params.cell_size_m, params.kde_window_days
            ),
            "prospective": lambda o=o: prospective_scores(
                cube,
                o,
                params.prospective_bandwidth_m,
                params.prospective_time_window_days,
                params.cell_size_m,
            ),
        }
        for method in params.methods:
            frames.append(
                pd.DataFrame(
                    {
                        "origin": origin,
                        "cell_x": cx,
                        "cell_y": cy,
                        "method": method,
                        "score": per_method[method]().astype(float),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


# --- geohazards -----------------------------------------------------------------------

CAINE_1980 = (14.82, -0.39)
GUZZETTI_2008 = (2.20, -0.44)


def id_threshold_intensity(duration_h: np.ndarray, a: float, b: float) -> np.ndarray:
    """Threshold mean intensity (mm/h) of an intensity-duration curve ``I = a D^b``."""
    return a * np.power(duration_h, b)


def id_exceedance_ratio(
    daily_rain_mm: pd.Series, coeffs: tuple[float, float], max_days: int = 7
) -> pd.Series:
    """Largest ratio of mean intensity to the ID threshold over 1..``max_days`` day spells.

    For each day t and n in 1..max_days, the spell is days t-n+1..t (ending with the day
    itself: rain up to the end of the day is observed, a nowcast), its mean intensity
    ``sum rain / (24 n)`` mm/h, compared with ``a (24 n)^b``. Missing rain counts as 0.
    """
    rain = daily_rain_mm.fillna(0.0).astype(float)
    a, b = coeffs
    ratios = []
    for n in range(1, max_days + 1):
        dur_h = 24.0 * n
        intensity = rain.rolling(n, min_periods=1).sum() / dur_h
        ratios.append(intensity / id_threshold_intensity(np.array(dur_h), a, b))
    return pd.concat(ratios, axis=1).max(axis=1).rename("id_ratio")


def effective_rainfall(daily_rain_mm: pd.Series, k: float = 0.84, days: int = 15) -> pd.Series:
    """Effective rainfall ``P_t + sum_{i=1..days} k^i P_{t-i}`` in mm (same-day included)."""
    rain = daily_rain_mm.fillna(0.0).astype(float).to_numpy()
    weights = k ** np.arange(days + 1)
    out = np.convolve(rain, weights)[: rain.size]
    return pd.Series(out, index=daily_rain_mm.index, name="effective_rain_mm")


def displacement_velocity(displacement_mm: pd.Series, window: int = 1) -> pd.Series:
    """Velocity (mm per step) of cumulative displacement over ``window`` steps."""
    return (displacement_mm.diff(window) / window).rename("velocity_mm_per_step")


def improved_tangent_angle(
    displacement_mm: pd.Series, steady_window: int = 12, window: int = 1
) -> pd.Series:
    """Improved tangent angle (degrees) of cumulative displacement (Xu et al.).

    ``T = displacement / v_steady`` (time-like units) where ``v_steady`` is the median
    velocity over the previous ``steady_window`` steps (past only), then
    ``alpha = arctan(dT / dt)``: 45 deg = steady creep, >= 85 deg = imminent failure.
    """
    v = displacement_mm.diff()
    v_steady = v.shift(1).rolling(steady_window, min_periods=3).median().abs()
    v_steady = v_steady.where(v_steady > 1e-9)
    d_t = displacement_mm.diff(window) / window / v_steady
    return np.degrees(np.arctan(d_t)).rename("tangent_angle_deg")


def tangent_angle_level(angle_deg: pd.Series) -> pd.Series:
    """Warning level 0-4 from the improved tangent angle (DOMAIN.md bands)."""
    bins = [-np.inf, 45.0, 80.0, 85.0, np.inf]
    lvl = pd.cut(angle_deg, bins=bins, labels=[0, 2, 3, 4], right=False)
    return lvl.astype(float).fillna(0).astype(int).rename("level")
