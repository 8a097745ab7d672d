"""Rain-threshold rule indices from a daily rain series, as model inputs and as baselines.

Pure functions: a daily series in (index = local calendar days, values = mm, NaN =
unavailable), one frame out with one row per day. A day's indices use the rain of that
day and earlier days only (a nowcast at the end of the day); nothing later enters.

Only daily totals exist in the shared data (the Hong Kong Observatory's daily series),
so every "duration" below is a whole number of calendar days:

* ``rain_{n}d_mm``: the n-day total ending with the day (``rain_3d_mm`` stands for the
  72-hour rain, over three calendar days rather than the 72 hours before a warning);
* ``max_{n}d_in_{w}d_mm``: the largest n-day total in the last w days (multi-duration
  maxima: a burst a few days ago still counts after drier days);
* ``intensity_{n}d_mm_per_h``: the n-day mean intensity (total / 24 n hours);
* ``caine_ratio`` / ``guzzetti_ratio``: the largest ratio, over spells of 1..7 days ending
  with the day, of the spell's mean intensity to the intensity-duration threshold
  (Caine 1980, Guzzetti et al. 2008); >= 1 means the published curve is exceeded;
* ``api_mm``: the antecedent precipitation index ``API_t = k API_{t-1} + P_t``;
  ``effective_rain_mm``: ``P_t + sum_{i=1..15} k^i P_{t-i}``; ``antecedent_rain_mm``: the
  same without the day itself (what the ground held before the day's rain).

What daily totals cannot capture: sub-daily bursts (the hourly rates the Observatory's
Amber / Red / Black signals are defined by: 30 / 50 / 70 mm in an hour), the timing of
rain within the day (a storm that ends at 01:00 and one that starts at 23:00 fall on
different days), and durations shorter than 24 h, where the Caine and Guzzetti curves are
steepest. The 1-day intensity is the day's mean rate, a lower bound of its peak hour.

Every index is non-decreasing in the rain of every day (raising any day's rain never
lowers any index), which the model's monotone constraints rely on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

CAINE_1980 = (14.82, -0.39)  # I = a D^b, I mm/h, D h
GUZZETTI_2008 = (2.20, -0.44)


@dataclass(frozen=True)
class RainIndexParams:
    """Durations (days) and decay of the rain indices."""

    totals_days: tuple[int, ...] = (1, 2, 3, 5, 7, 15, 30, 60)
    maxima: tuple[tuple[int, int], ...] = ((1, 3), (1, 7), (3, 15), (1, 30))  # (n, w)
    intensity_days: tuple[int, ...] = (1, 3, 7)
    id_max_days: int = 7
    k: float = 0.84
    effective_days: int = 15


def id_exceedance_ratio(
    rain_mm: pd.Series, coeffs: tuple[float, float], max_days: int = 7
) -> pd.Series:
    """Largest ratio of the mean intensity of a 1..``max_days``-day spell ending with the day
    to the intensity-duration threshold ``a D^b`` (D in hours); missing rain counts as 0."""
    r = rain_mm.fillna(0.0).astype(float)
    a, b = coeffs
    best = pd.Series(0.0, index=r.index)
    for n in range(1, max_days + 1):
        hours = 24.0 * n
        best = np.maximum(best, (r.rolling(n, min_periods=1).sum() / hours) / (a * hours**b))
    return best


def effective_rainfall(rain_mm: pd.Series, k: float = 0.84, days: int = 15) -> pd.Series:
    """``P_t + sum_{i=1..days} k^i P_{t-i}`` (mm), same day included; missing = 0."""
    r = rain_mm.fillna(0.0).astype(float).to_numpy()
    out = np.convolve(r, k ** np.arange(days + 1))[: r.size]
    return pd.Series(out, index=rain_mm.index)


def rain_indices(rain_mm: pd.Series, params: RainIndexParams | None = None) -> pd.DataFrame:
    """One row per day of ``rain_mm`` (a complete daily index): the rule indices above."""
    p = params or RainIndexParams()
    r = rain_mm.fillna(0.0).astype(float)
    out: dict[str, pd.Series | np.ndarray] = {}
    totals = {n: r.rolling(n, min_periods=1).sum() for n in sorted({*p.totals_days, 1})}
    for n in p.totals_days:
        out[f"rain_{n}d_mm"] = totals[n]
    for n, w in p.maxima:
        total = totals.get(n, r.rolling(n, min_periods=1).sum())
        out[f"max_{n}d_in_{w}d_mm"] = total.rolling(w, min_periods=1).max()
    for n in p.intensity_days:
        out[f"intensity_{n}d_mm_per_h"] = totals.get(n, r.rolling(n, min_periods=1).sum()) / (
            24.0 * n
        )
    out["caine_ratio"] = id_exceedance_ratio(r, CAINE_1980, p.id_max_days)
    out["guzzetti_ratio"] = id_exceedance_ratio(r, GUZZETTI_2008, p.id_max_days)
    api = lfilter([1.0], [1.0, -p.k], r.to_numpy())
    out["api_mm"] = api
    eff = effective_rainfall(r, p.k, p.effective_days)
    out["effective_rain_mm"] = eff
    out["antecedent_rain_mm"] = eff - r
    return pd.DataFrame(out, index=rain_mm.index)


def rain_index_columns(params: RainIndexParams | None = None) -> list[str]:
    """Names of the columns :func:`rain_indices` returns, in order."""
    return list(rain_indices(pd.Series([0.0], index=pd.DatetimeIndex(["2000-01-01"])), params))
