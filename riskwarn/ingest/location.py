"""Stage 2, map: the location of a row (source x/y reprojected to lon/lat, the mapping's
area, swapped coordinates); moved out of :mod:`riskwarn.ingest.mapping` unchanged."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from riskwarn import geo
from riskwarn.sources import SourceMapping


def map_xy(
    mapping: SourceMapping,
    raw: pd.DataFrame,
    out: pd.DataFrame,
    flag: Callable[[pd.Series, str], None],
) -> None:
    nulls = set(mapping.null_values) | {""}
    xs = raw[mapping.x].astype(str).str.strip()  # type: ignore[index]
    ys = raw[mapping.y].astype(str).str.strip()  # type: ignore[index]
    x = pd.to_numeric(xs.where(~xs.isin(nulls)), errors="coerce")
    y = pd.to_numeric(ys.where(~ys.isin(nulls)), errors="coerce")
    flag((~xs.isin(nulls) & x.isna()) | (~ys.isin(nulls) & y.isna()), "unparseable_coordinates")
    infinite = (x.notna() & ~np.isfinite(x.astype(float))) | (
        y.notna() & ~np.isfinite(y.astype(float))
    )
    flag(infinite, "non_finite_value:x/y")
    x, y = x.where(~infinite), y.where(~infinite)
    if mapping.crs.upper() in ("EPSG:4326", "WGS84"):
        out["lon"], out["lat"] = x.astype(float), y.astype(float)
        out["_swap_lon"], out["_swap_lat"] = y.astype(float), x.astype(float)
    else:
        lon, lat = geo.unproject(x.to_numpy(float), y.to_numpy(float), mapping.crs)
        slon, slat = geo.unproject(y.to_numpy(float), x.to_numpy(float), mapping.crs)
        out["lon"], out["lat"] = lon, lat
        out["_swap_lon"], out["_swap_lat"] = slon, slat


def check_area(
    mapping: SourceMapping, out: pd.DataFrame, flag: Callable[[pd.Series, str], None]
) -> None:
    lon = pd.to_numeric(out["lon"], errors="coerce").astype(float)
    lat = pd.to_numeric(out["lat"], errors="coerce").astype(float)
    out["lon"], out["lat"] = lon, lat
    flag(lon.isna() != lat.isna(), "incomplete_coordinates")
    if mapping.area is None:
        return
    both = lon.notna() & lat.notna()
    inside = mapping.area.contains(lon, lat)
    slon = out.get("_swap_lon", lat)
    slat = out.get("_swap_lat", lon)
    swapped = mapping.area.contains(slon, slat)
    flag(both & ~inside & swapped, "swapped_lon_lat")
    flag(both & ~inside, "outside_area")
