"""Calendar of the simulated period: weekdays, seasons, Chinese public holidays."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Calendar:
    """Per-day calendar arrays for ``days`` local dates from ``start``."""

    dates: pd.DatetimeIndex  # local dates (naive)
    dow: np.ndarray  # 0 = Monday
    doy: np.ndarray  # day of year 1..366
    spring_festival: np.ndarray  # bool: Spring Festival holiday incl. eve
    holiday: np.ndarray  # bool: any statutory day off (China calendar)
    years_from_start: np.ndarray  # float years since start


def build_calendar(start: dt.date, days: int) -> Calendar:
    """Calendar for the period, holidays from the ``holidays`` package (China)."""
    dates = pd.date_range(pd.Timestamp(start), periods=days, freq="D")
    years = sorted({d.year for d in dates})
    cn = holidays.China(years=years)
    names = np.array([cn.get(d.date(), "") for d in dates], dtype=object)
    holiday = names != ""
    sf = np.array(["Spring Festival" in n for n in names])
    sf_eve = np.roll(sf, -1) & ~sf  # the eve (除夕) before the first holiday day
    if len(sf_eve):
        sf_eve[-1] = False
    return Calendar(
        dates=dates,
        dow=dates.dayofweek.to_numpy(),
        doy=dates.dayofyear.to_numpy(),
        spring_festival=sf | sf_eve,
        holiday=holiday | sf_eve,
        years_from_start=np.arange(days) / 365.25,
    )


def seasonal(doy: np.ndarray, amplitude: float, peak_doy: float) -> np.ndarray:
    """1 + amplitude * cos(2 pi (doy - peak) / 365.25)."""
    return 1.0 + amplitude * np.cos(2 * np.pi * (doy - peak_doy) / 365.25)
