"""Calendar features of a forecast window: weekday, month, public holidays.

Holidays come from the ``holidays`` package (default: mainland China, which includes
the Spring Festival and the official substitute days off). Pure: origins in, frame out.
"""

from __future__ import annotations

import holidays as holidays_lib
import numpy as np
import pandas as pd


def local_midnights(
    start: str | pd.Timestamp, end: str | pd.Timestamp, step_days: int, tz: str
) -> pd.DatetimeIndex:
    """Forecast origins: local midnights ``start, start+step, ... <= end`` as UTC timestamps."""

    def naive_day(value: str | pd.Timestamp) -> pd.Timestamp:
        ts = pd.Timestamp(value)
        return (ts.tz_convert(tz).tz_localize(None) if ts.tz is not None else ts).normalize()

    days = pd.date_range(naive_day(start), naive_day(end), freq=f"{int(step_days)}D")
    return days.tz_localize(tz).tz_convert("UTC")


def origin_local_days(origins: pd.DatetimeIndex | pd.Series, tz: str) -> np.ndarray:
    """Local calendar day (datetime64[D]) of each origin; raise if an origin is not a local midnight."""
    idx = pd.DatetimeIndex(origins)
    if idx.tz is None:
        raise ValueError("origins must be timezone-aware (UTC) timestamps")
    local = idx.tz_convert(tz)
    if (local != local.normalize()).any():
        raise ValueError(f"origins must be local midnights in {tz}")
    return local.tz_localize(None).to_numpy().astype("datetime64[D]")


def holiday_days(
    years: range | list[int], country: str = "CN", subdiv: str | None = None
) -> pd.DataFrame:
    """Public holidays (``date``, ``name``) for ``years``; ``is_spring_festival`` marks Chinese New Year."""
    cal = holidays_lib.country_holidays(country, subdiv=subdiv, years=list(years))
    frame = pd.DataFrame(sorted(cal.items()), columns=["date", "name"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["is_spring_festival"] = frame["name"].str.contains(
        "Spring Festival|Chinese New Year", regex=True
    )
    return frame


def calendar_features(
    origins: pd.DatetimeIndex,
    tz: str,
    horizon_days: int,
    country: str = "CN",
    subdiv: str | None = None,
) -> pd.DataFrame:
    """One row per origin: calendar of the window [origin, origin + horizon_days) in local days.

    Columns: ``origin``, ``cal_day_of_week`` (0 = Monday), ``cal_month`` (1-12),
    ``cal_day_of_year``, ``cal_holiday_days_in_window``, ``cal_spring_festival_in_window``
    (0/1), ``cal_days_to_next_holiday`` (0 when the origin day is a holiday).
    """
    idx = pd.DatetimeIndex(origins)
    days = origin_local_days(idx, tz)
    out = pd.DataFrame({"origin": idx})
    if len(idx) == 0:
        for c in (
            "cal_day_of_week",
            "cal_month",
            "cal_day_of_year",
            "cal_holiday_days_in_window",
            "cal_spring_festival_in_window",
            "cal_days_to_next_holiday",
        ):
            out[c] = pd.Series([], dtype="float32")
        return out
    dts = pd.DatetimeIndex(days.astype("datetime64[ns]"))
    years = range(int(dts.year.min()) - 1, int(dts.year.max()) + 3)
    hol = holiday_days(years, country, subdiv)
    hdays = np.unique(hol["date"].to_numpy().astype("datetime64[D]"))
    sf = np.unique(hol.loc[hol["is_spring_festival"], "date"].to_numpy().astype("datetime64[D]"))
    d_int = days.astype("int64")
    h_int = hdays.astype("int64")
    sf_int = sf.astype("int64")
    n_in = np.searchsorted(h_int, d_int + horizon_days, "left") - np.searchsorted(
        h_int, d_int, "left"
    )
    sf_in = np.searchsorted(sf_int, d_int + horizon_days, "left") - np.searchsorted(
        sf_int, d_int, "left"
    )
    nxt = np.searchsorted(h_int, d_int, "left")
    to_next = np.where(nxt < len(h_int), h_int[np.minimum(nxt, len(h_int) - 1)] - d_int, np.nan)
    out["cal_day_of_week"] = dts.dayofweek.astype("float32")
    out["cal_month"] = dts.month.astype("float32")
    out["cal_day_of_year"] = dts.dayofyear.astype("float32")
    out["cal_holiday_days_in_window"] = n_in.astype("float32")
    out["cal_spring_festival_in_window"] = (sf_in > 0).astype("float32")
    out["cal_days_to_next_holiday"] = to_next.astype("float32")
    return out
