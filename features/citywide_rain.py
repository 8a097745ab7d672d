"""City-wide daily rain features (the Hong Kong case) and the landslide cell table.

One gauge, daily totals. Like NASA's LHASA they are a nowcast: rain up to the end of the
forecast day may be used; landslide records of that day and later may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from features.rain_indices import CAINE_1980 as CAINE
from features.rain_indices import GUZZETTI_2008 as GUZZETTI


def daily_rain_from_readings(
    readings: pd.DataFrame, tz: str, sensor_id: str | None = None
) -> pd.DataFrame:
    """Daily totals (``date`` = local calendar day of the reading's start, ``rain_mm``) of rain readings.

    A day with no valid reading is NaN (unavailable), not 0.
    """
    r = readings[
        (readings["quantity"] == "rain_mm") & (readings["quality"].fillna("good") != "missing")
    ]
    if sensor_id is not None:
        r = r[r["sensor_id"] == sensor_id]
    day = pd.DatetimeIndex(r["observed_at"]).tz_convert(tz).tz_localize(None).normalize()
    out = (
        r.assign(date=day).groupby("date")["value"].sum(min_count=1).rename("rain_mm").reset_index()
    )
    return out


@dataclass(frozen=True)
class CitywideRainParams:
    """Parameters of the city-wide daily table."""

    tz: str = "Asia/Hong_Kong"
    api_k: float = 0.85
    major_threshold: int = 10
    percentile_min_history_days: int = 365
    landslide_lookbacks_days: tuple[int, ...] = (1, 7, 30)
    id_durations_days: tuple[int, ...] = (1, 2, 3)


def build_citywide_rain_features(
    rain_daily: pd.DataFrame,
    landslides: pd.DataFrame,
    dates: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: CitywideRainParams | None = None,
) -> pd.DataFrame:
    """One row per requested local ``date``: city-wide rain (nowcast) and landslide history, labels.

    ``rain_daily``: ``date`` (local calendar day) and ``rain_mm`` (NaN = unavailable).
    ``landslides``: ``occurred_at`` (UTC) and optional ``reported_at``. Features for day D
    use rain of days <= D and landslides known before D's local midnight; labels count
    landslides on day D (``label_count``, ``label_any``, ``label_major`` for >= major_threshold).
    """
    params = params or CitywideRainParams()
    want = (
        pd.DatetimeIndex(pd.to_datetime(list(dates)))
        .tz_localize(None)
        .normalize()
        .unique()
        .sort_values()
    )
    if len(want) == 0:
        return pd.DataFrame({"date": pd.DatetimeIndex([])})
    rd = rain_daily.assign(
        date=pd.to_datetime(rain_daily["date"]).dt.tz_localize(None).dt.normalize()
    )
    rd = rd.dropna(subset=["date"])
    rd = rd.groupby("date")["rain_mm"].sum(min_count=1)
    start = min(rd.index.min() if len(rd) else want.min(), want.min())
    days = pd.date_range(start, want.max(), freq="D")
    r = rd.reindex(days)  # days after want.max() never enter
    r0 = r.fillna(0.0)
    out = pd.DataFrame(index=days)
    out["rain_day_mm"] = r
    out["rain_missing"] = r.isna().astype(float)
    out["rain_2d_antecedent_mm"] = r0.shift(1, fill_value=0) + r0.shift(2, fill_value=0)
    for n in (3, 7, 15):
        out[f"rain_{n}d_mm"] = r0.rolling(n, min_periods=1).sum()
    out["api_mm"] = lfilter([1.0], [1.0, -params.api_k], r0.to_numpy())
    out["effective_rain_3d_mm"] = sum(params.api_k**i * r0.shift(i, fill_value=0) for i in range(4))
    hist = r.expanding(min_periods=params.percentile_min_history_days)
    out["rain_day_pct_rank"] = hist.rank(pct=True)
    p99 = r.shift(1).expanding(min_periods=params.percentile_min_history_days).quantile(0.99)
    out["rain_day_vs_p99"] = r / p99.clip(lower=1.0)
    for name, (a, b) in (("caine_exceedance", CAINE), ("guzzetti_exceedance", GUZZETTI)):
        best = pd.Series(0.0, index=days)
        for nd in params.id_durations_days:
            dur = 24.0 * nd
            best = np.maximum(best, (r0.rolling(nd, min_periods=1).sum() / dur) / (a * dur**b))
        out[name] = best
    # landslide history (known before local midnight of D) and labels (occurring on D)
    ls = landslides.dropna(subset=["occurred_at"])
    occ_day = (
        pd.DatetimeIndex(ls["occurred_at"]).tz_convert(params.tz).tz_localize(None).normalize()
    )
    known = pd.Series(occ_day, index=ls.index)
    if "reported_at" in ls:
        rep = (
            pd.DatetimeIndex(ls["reported_at"]).tz_convert(params.tz).tz_localize(None).normalize()
        )
        known = pd.Series(np.where(pd.isna(rep), occ_day, np.maximum(occ_day, rep)), index=ls.index)
    counts = pd.Series(1, index=occ_day).groupby(level=0).sum().reindex(days, fill_value=0)
    label = counts.copy()
    # a record reported late counts in the lookback windows only from its report day on
    cum_occ = counts.cumsum()
    late = known.to_numpy() > occ_day.to_numpy()
    lo_pos = days.get_indexer(occ_day[late])
    hi_pos = days.get_indexer(
        pd.DatetimeIndex(np.minimum(known.to_numpy()[late], days.max().to_datetime64()))
    )
    for n in params.landslide_lookbacks_days:
        base = (cum_occ.shift(1, fill_value=0) - cum_occ.shift(n + 1, fill_value=0)).to_numpy(float)
        # a record reported late is invisible on days occ < d <= report day (and only matters
        # while d <= occ + n): subtract it there with a difference array (+1 / -1, cumsum)
        end = np.minimum(hi_pos, lo_pos + n)
        ok = (lo_pos >= 0) & (end >= lo_pos + 1)
        diff = np.zeros(len(days) + 2)
        np.add.at(diff, lo_pos[ok] + 1, 1.0)
        np.add.at(diff, end[ok] + 1, -1.0)
        base -= np.cumsum(diff)[: len(days)]
        out[f"landslides_{n}d"] = base
    out["cal_month"] = days.month.astype(float)
    out["cal_day_of_year"] = days.dayofyear.astype(float)
    out["label_count"] = label.astype("int32")
    out["label_any"] = (label > 0).astype("int8")
    out["label_major"] = (label >= params.major_threshold).astype("int8")
    out = out.loc[want].rename_axis("date").reset_index()
    feat = [c for c in out.columns if c != "date" and not c.startswith("label_")]
    out[feat] = out[feat].astype(np.float32)
    return out


def build_landslide_cell_features(
    landslides: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    rain_daily: pd.DataFrame,
    tz: str = "Asia/Hong_Kong",
    horizon_days: int = 1,
    rain_params: CitywideRainParams | None = None,
) -> pd.DataFrame:
    """Cell x day landslide table (Hong Kong case): cell history features plus the city-wide
    rain of the origin's local day (a nowcast: rain to the end of the day, slides before it).

    ``landslides`` carry ``cell_x``/``cell_y`` (see ``cells.assign_cells``); the cell part is
    :func:`features.incidents.build_cell_features`, the rain part
    :func:`build_citywide_rain_features` (its landslide counts and labels are dropped, the
    cell table has its own).
    """
    from features.incidents import CellFeatureParams, build_cell_features

    ev = landslides.assign(category_group="landslide")
    params = CellFeatureParams(tz=tz, horizon_days=horizon_days, groups=(), holiday_country="HK")
    frame = build_cell_features(ev, cells, origins, params)
    day = pd.DatetimeIndex(frame["origin"]).tz_convert(tz).tz_localize(None).normalize()
    rain_params = rain_params or CitywideRainParams(tz=tz)
    city = build_citywide_rain_features(rain_daily, landslides.head(0), day.unique(), rain_params)
    keep = [
        c
        for c in city.columns
        if c.startswith(("rain_", "api_", "effective_", "caine_", "guzzetti_"))
    ]
    city = city[["date", *keep]].rename(columns={c: f"city_{c}" for c in keep})
    out = frame.assign(date=day).merge(city, on="date", how="left").drop(columns="date")
    labels = [c for c in out.columns if c.startswith("label_")]
    return out[[c for c in out.columns if c not in labels] + labels]
