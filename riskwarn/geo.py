"""Projection and square grid cells.

Cell (i, j) of size s metres covers [i*s, (i+1)*s) x [j*s, (j+1)*s) in a projected
CRS, so ``cell_x = floor(x / s)``, ``cell_y = floor(y / s)``. Cells are aligned to
multiples of the cell size, never to the data's bounding box, so the same place
falls in the same cell whatever subset of data is processed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from pyproj import Transformer


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def project(
    lon: np.ndarray | pd.Series, lat: np.ndarray | pd.Series, crs: str, src_crs: str = "EPSG:4326"
) -> tuple[np.ndarray, np.ndarray]:
    """Project lon/lat (or any ``src_crs`` coordinates) to ``crs``; NaN stays NaN."""
    x, y = _transformer(src_crs, crs).transform(
        np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    )
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def unproject(
    x: np.ndarray | pd.Series, y: np.ndarray | pd.Series, crs: str
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`project`: projected coordinates back to WGS84 lon/lat."""
    return project(x, y, "EPSG:4326", src_crs=crs)


def cell_index(
    x: np.ndarray | pd.Series, y: np.ndarray | pd.Series, cell_size_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cell indices ``floor(x / s)``, ``floor(y / s)`` as float arrays (NaN where x/y is NaN)."""
    return (
        np.floor(np.asarray(x, dtype=float) / cell_size_m),
        np.floor(np.asarray(y, dtype=float) / cell_size_m),
    )


CASE_AREA_M = 1000.0  # a dispute case is shown and exported to its square of this side


def case_squares(
    lon: np.ndarray | pd.Series, lat: np.ndarray | pd.Series, crs: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blur dispute cases' points to their ``CASE_AREA_M`` squares of the city grid.

    A case's centre is an address (4 decimals are about 10 m: one household). Returns
    the squares' indices ``(bx, by)`` in ``crs`` and their centres' ``(lon, lat)``
    rounded to 2 decimals (about 1 km): computed from the square alone, so two cases in
    one square come out the same. The one blurring the dashboard (``review.case_area``)
    and the exports (``pipeline.publish_exports``) both use; NaN stays NaN.
    """
    x, y = project(lon, lat, crs)
    bx, by = cell_index(x, y, CASE_AREA_M)
    clon, clat = unproject((bx + 0.5) * CASE_AREA_M, (by + 0.5) * CASE_AREA_M, crs)
    return bx, by, np.round(clon, 2), np.round(clat, 2)


def cell_id(cell_x: int, cell_y: int) -> str:
    """Stable text id of a cell, e.g. ``"c1234_-56"``."""
    return f"c{int(cell_x)}_{int(cell_y)}"


def cell_polygon_wkt(cell_x: int, cell_y: int, cell_size_m: float, crs: str) -> str:
    """WGS84 polygon (WKT) of a cell, for maps and exports."""
    s = cell_size_m
    xs = np.array(
        [cell_x * s, (cell_x + 1) * s, (cell_x + 1) * s, cell_x * s, cell_x * s], dtype=float
    )
    ys = np.array(
        [cell_y * s, cell_y * s, (cell_y + 1) * s, (cell_y + 1) * s, cell_y * s], dtype=float
    )
    lon, lat = unproject(xs, ys, crs)
    coords = ", ".join(f"{a:.6f} {b:.6f}" for a, b in zip(lon, lat, strict=True))
    return f"POLYGON (({coords}))"
