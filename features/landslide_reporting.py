"""Landslide records as daily series, and the inputs that describe how they were reported.

A record has the local day it occurred (``occurred_day``) and the local day it became known
(``known_day``: the later of occurrence and report, :func:`features.cells.known_times`).
Labels count records by occurrence day; history inputs count them from the day they became
known; a model fitted at a cut-off learns only from records known before it.

Reporting practice changed over the record (Hong Kong 1984-2014) in two ways the nowcast
handles explicitly:

* **the reporting calendar**: about a quarter of the records carry no failure date and are
  dated by the call; calls are fewer on days off, so a Sunday or public holiday has about
  half the landslide-day rate of a weekday with the same rain. Inputs: ``day_of_week``
  (0 = Monday) and ``is_public_holiday`` (the ``holidays`` package's Hong Kong calendar).
* **the reporting level** of an era: ``era_landslide_days_per_year``, the mean number of
  days per year with at least one landslide over the ``window_years`` calendar years
  before the day's year, counting only records known before 1 January of the day's year.
  Its value for a year is fixed on that year's 1 January from earlier years only, so an
  evaluation year's value comes from its training years and never from itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import holidays as holidays_lib
import numpy as np
import pandas as pd

from features.cells import known_times


def landslide_days(events: pd.DataFrame, tz: str) -> pd.DataFrame:
    """``occurred_day`` and ``known_day`` (naive local dates) of records with an occurrence
    time; ``events``: ``occurred_at`` (UTC) and optional ``reported_at``."""
    ev = events.dropna(subset=["occurred_at"])

    def local_day(ts: pd.Series) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(ts).tz_convert(tz).tz_localize(None).normalize()

    return pd.DataFrame(
        {
            "occurred_day": local_day(ev["occurred_at"]),
            "known_day": local_day(known_times(ev)),
        }
    ).reset_index(drop=True)


def daily_counts(
    days: pd.DataFrame,
    index: pd.DatetimeIndex,
    by: str = "occurred_day",
    known_before: pd.Timestamp | None = None,
) -> pd.Series:
    """Records per day of ``index`` by ``by`` (``occurred_day`` or ``known_day``); with
    ``known_before``, only records known before that (local) day."""
    d = days if known_before is None else days[days["known_day"] < known_before]
    counts = pd.Series(1, index=pd.DatetimeIndex(d[by])).groupby(level=0).sum()
    return counts.reindex(index, fill_value=0).astype(int)


def calendar_inputs(index: pd.DatetimeIndex, country: str = "HK") -> pd.DataFrame:
    """``day_of_week`` (0 = Monday) and ``is_public_holiday`` per day of ``index``."""
    cal = holidays_lib.country_holidays(
        country, years=range(index.min().year, index.max().year + 1)
    )
    holiday = np.fromiter((d in cal for d in index.date), dtype=bool, count=len(index))
    return pd.DataFrame(
        {
            "day_of_week": index.day_of_week.to_numpy(float),
            "is_public_holiday": holiday.astype(float),
        },
        index=index,
    )


def reporting_era(
    days: pd.DataFrame, years: Iterable[int], first_year: int, window_years: int = 5
) -> pd.Series:
    """Per year Y: mean landslide days per year over years max(first_year, Y - window)..Y-1,
    counting records known before 1 January of Y (NaN when no such year exists)."""
    out = {}
    for y in years:
        cut = pd.Timestamp(f"{y}-01-01")
        lo = max(first_year, y - window_years)
        d = days[(days["known_day"] < cut) & (days["occurred_day"] >= pd.Timestamp(f"{lo}-01-01"))]
        n_years = y - lo
        out[y] = d["occurred_day"].nunique() / n_years if n_years > 0 else np.nan
    return pd.Series(out, dtype=float).rename("era_landslide_days_per_year")
