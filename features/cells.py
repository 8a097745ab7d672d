"""Square grid cells: assign events to cells, the active area, roll-up to polygons.

Cell (i, j) of size ``s`` metres covers ``[i*s, (i+1)*s) x [j*s, (j+1)*s)`` in a
projected CRS (``riskwarn.geo``). All functions are pure: frames and parameters in,
frames out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from riskwarn.geo import cell_index, project

CELL_KEYS = ["cell_x", "cell_y"]


def assign_cells(
    frame: pd.DataFrame,
    crs: str,
    cell_size_m: float,
    lon_col: str = "lon",
    lat_col: str = "lat",
    src_crs: str = "EPSG:4326",
) -> pd.DataFrame:
    """Return a copy of ``frame`` with integer ``cell_x``/``cell_y`` (nullable Int64).

    Rows without coordinates get ``<NA>`` cells; they are kept so callers can count them.
    """
    x, y = project(frame[lon_col].to_numpy(float), frame[lat_col].to_numpy(float), crs, src_crs)
    cx, cy = cell_index(x, y, cell_size_m)
    out = frame.copy()
    out["cell_x"] = pd.array(np.where(np.isfinite(cx), cx, np.nan), dtype="Float64").astype("Int64")
    out["cell_y"] = pd.array(np.where(np.isfinite(cy), cy, np.nan), dtype="Float64").astype("Int64")
    return out


def known_times(events: pd.DataFrame, time_col: str = "occurred_at") -> pd.Series:
    """When each event became known: its ``time_col``, or its ``reported_at`` if later,
    or (a corrected record's version, :func:`riskwarn.lake.read_versions`) its
    ``known_from`` if later still (UTC; NaT where ``time_col`` is missing).

    The one rule for what a forecast may know: history counted for an origin (feature
    tables, baselines, the model's stacked and long-memory inputs, the landslide prior)
    places an event at the time it could first be known, else a late report leaks into
    a forecast made before it arrived. Labels keep ``occurred_at``: what happened.
    """
    t = pd.Series(pd.to_datetime(events[time_col], utc=True), index=events.index)
    if "reported_at" in events.columns:
        rep = pd.Series(pd.to_datetime(events["reported_at"], utc=True), index=events.index)
        t = t.where(rep.isna() | t.isna() | (rep <= t), rep)
    if "known_from" in events.columns:
        since = pd.Series(pd.to_datetime(events["known_from"], utc=True), index=events.index)
        t = t.where(since.isna() | t.isna() | (since <= t), since)
    return t


def latest_versions(events: pd.DataFrame) -> pd.DataFrame:
    """The current version of each record of a frame holding the earlier versions of
    corrected records too (:func:`riskwarn.lake.read_versions`: those have a
    ``known_to``): what ``read_table`` reads, keeping ``known_from``, so a corrected
    record is known from its correction on (:func:`known_times`). A frame without
    versions is returned as it is."""
    if "known_to" not in events.columns:
        return events
    return events.loc[events["known_to"].isna()]


def versions_at(
    events: pd.DataFrame, origins: pd.DatetimeIndex
) -> list[tuple[np.ndarray, pd.DataFrame]]:
    """``origins`` (UTC) grouped by the versions of corrected records valid at them, each
    group as (positions in ``origins``, the events as they were known then: per record
    the version with ``known_from`` (if any) before the origin and ``known_to`` (if any)
    not before it, without those two columns). One group per stretch between two
    corrections' times that holds an origin; a frame without versions is one group of
    every origin with ``events`` itself."""
    origins = pd.DatetimeIndex(origins)
    if "known_to" not in events.columns:
        return [(np.arange(len(origins)), events)]
    until = pd.Series(pd.to_datetime(events["known_to"], utc=True), index=events.index)
    since = pd.Series(
        pd.to_datetime(events.get("known_from", pd.NaT), utc=True), index=events.index
    )
    bounds = pd.DatetimeIndex(pd.concat([until, since]).dropna().unique()).sort_values()
    key = np.searchsorted(bounds.as_unit("ns").asi8, origins.as_unit("ns").asi8, side="left")
    groups = []
    for k in np.unique(key):
        pos = np.flatnonzero(key == k)
        t = origins[pos[0]]
        valid = (since.isna() | (since < t)) & (until.isna() | (until >= t))
        groups.append((pos, events.loc[valid.to_numpy()].drop(columns=["known_from", "known_to"])))
    return groups


def versions_at_many(
    frames: Sequence[pd.DataFrame], origins: pd.DatetimeIndex
) -> list[tuple[np.ndarray, list[pd.DataFrame]]]:
    """:func:`versions_at` of several tables at once: ``origins`` grouped by stretches
    between any of the tables' corrections' times, each group with every table as it was
    known then (a table without versions as it is). One group of every origin when no
    table has versions."""
    origins = pd.DatetimeIndex(origins)
    if not any("known_to" in f.columns for f in frames):
        return [(np.arange(len(origins)), list(frames))]
    stamps = [
        pd.Series(pd.to_datetime(f[c], utc=True))
        for f in frames
        for c in ("known_from", "known_to")
        if c in f.columns
    ]
    bounds = pd.DatetimeIndex(pd.concat(stamps).dropna().unique()).sort_values()
    key = np.searchsorted(bounds.as_unit("ns").asi8, origins.as_unit("ns").asi8, side="left")
    groups = []
    for k in np.unique(key):
        pos = np.flatnonzero(key == k)
        t = origins[pos[0]]
        views = [
            f if "known_to" not in f.columns else versions_at(f, pd.DatetimeIndex([t]))[0][1]
            for f in frames
        ]
        groups.append((pos, views))
    return groups


def visible_mask(
    events: pd.DataFrame, before: pd.Timestamp, time_col: str = "occurred_at"
) -> pd.Series:
    """Rows known strictly before ``before`` (:func:`known_times`) and, for a version of
    a corrected record, not superseded before it (its ``known_to`` is not before)."""
    seen = known_times(events, time_col) < before
    if "known_to" in events.columns:
        until = pd.Series(pd.to_datetime(events["known_to"], utc=True), index=events.index)
        seen &= until.isna() | (until >= before)
    return seen


class ActiveArea:
    """The scored area of a hotspot forecast at each origin, the one rule for training,
    backtest refits, evaluation and serving: a (cell, origin) row exists only if the cell
    holds an event known strictly before the origin (:func:`visible_mask`: its
    :func:`known_times`, and for a corrected record the version valid at the origin).

    Picking the cells once (those active at a backtest's start) and building rows at
    earlier training origins for them selects on the future: such a row exists because
    its cell later had an event, often in that row's own label window, and serving (which
    scores at each origin the cells active then) never has that row.

    ``events``: integer ``cell_x``/``cell_y`` (rows without a cell are ignored),
    ``time_col``, optional ``reported_at`` / ``known_from`` / ``known_to``
    (:func:`riskwarn.lake.read_versions`).
    """

    def __init__(self, events: pd.DataFrame, time_col: str = "occurred_at") -> None:
        located = events[CELL_KEYS].notna().all(axis=1).to_numpy()
        ev = events.loc[located]
        kt = known_times(ev, time_col).to_numpy(dtype="datetime64[ns]")
        x = ev["cell_x"].to_numpy().astype(np.int64)
        y = ev["cell_y"].to_numpy().astype(np.int64)
        if "known_to" in ev.columns:
            until = pd.to_datetime(ev["known_to"], utc=True).dt.tz_localize(None)
            until_ns = until.to_numpy(dtype="datetime64[ns]")
        else:
            until_ns = np.full(len(ev), np.datetime64("NaT"), dtype="datetime64[ns]")
        known = ~np.isnat(kt)
        open_ = known & np.isnat(until_ns)  # visible from its known time on
        first = (
            pd.DataFrame({"cell_x": x[open_], "cell_y": y[open_], "t": kt[open_]})
            .groupby(CELL_KEYS, sort=True)["t"]
            .min()
        )
        self._open_x = first.index.get_level_values(0).to_numpy(np.int64)
        self._open_y = first.index.get_level_values(1).to_numpy(np.int64)
        self._open_t = first.to_numpy(dtype="datetime64[ns]")
        closed = known & ~np.isnat(until_ns)  # a superseded version: visible on (known, until]
        self._closed = pd.DataFrame(
            {"cell_x": x[closed], "cell_y": y[closed], "t": kt[closed], "until": until_ns[closed]}
        )

    @staticmethod
    def _ns(origins: object) -> np.ndarray:
        idx = pd.DatetimeIndex([origins] if isinstance(origins, pd.Timestamp) else origins)
        if idx.tz is None:
            raise ValueError("origins must be timezone-aware (UTC) timestamps")
        return idx.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")

    def mask(self, origins: object, cell_x: np.ndarray, cell_y: np.ndarray) -> np.ndarray:
        """Per row (origin, cell_x, cell_y): is the cell in the scored area at the origin."""
        t = self._ns(origins)
        x = np.asarray(cell_x).astype(np.int64)
        y = np.asarray(cell_y).astype(np.int64)
        if len(t) == 1 and len(x) != 1:
            t = np.repeat(t, len(x))
        ref = _cell_key(self._open_x, self._open_y)
        probe = _cell_key(x, y)
        pos = np.searchsorted(ref, probe)
        pos_c = np.minimum(pos, max(len(ref) - 1, 0))
        found = (pos < len(ref)) & (ref[pos_c] == probe) if len(ref) else np.zeros(len(x), bool)
        out = np.zeros(len(x), dtype=bool)
        out[found] = self._open_t[pos_c[found]] < t[found]
        if len(self._closed) and not out.all():
            rows = pd.DataFrame({"cell_x": x, "cell_y": y, "o": t, "i": np.arange(len(x))})
            hit = rows.loc[~out].merge(self._closed, on=CELL_KEYS)
            ok = (hit["t"] < hit["o"]) & (hit["until"] >= hit["o"])
            out[hit.loc[ok, "i"].to_numpy()] = True
        return out

    def cells(self, before: pd.Timestamp) -> pd.DataFrame:
        """The cells in the area at ``before``: ``cell_x``, ``cell_y`` (int64), sorted."""
        cand = self.ever(before)
        keep = self.mask(pd.Timestamp(before), cand["cell_x"].to_numpy(), cand["cell_y"].to_numpy())
        return cand.loc[keep].reset_index(drop=True)

    def ever(self, before: pd.Timestamp) -> pd.DataFrame:
        """Every cell in the area at some origin up to ``before`` (the cells a frame over
        such origins may hold rows for): sorted ``cell_x``, ``cell_y`` (int64)."""
        t = self._ns(pd.Timestamp(before))[0]
        cand = pd.concat(
            [
                pd.DataFrame({"cell_x": self._open_x, "cell_y": self._open_y})[self._open_t < t],
                self._closed.loc[(self._closed["t"] < t).to_numpy(), CELL_KEYS],
            ]
        ).drop_duplicates()
        return cand.astype("int64").sort_values(CELL_KEYS).reset_index(drop=True)

    def rows(self, origins: pd.DatetimeIndex) -> pd.DataFrame:
        """Every (origin, cell) row of the area at ``origins``: ``origin``, ``cell_x``,
        ``cell_y``, sorted by origin then cell."""
        parts = [self.cells(o).assign(origin=o) for o in pd.DatetimeIndex(origins).sort_values()]
        if not parts:
            return pd.DataFrame(
                {"origin": pd.Series(dtype="datetime64[ns, UTC]"), "cell_x": [], "cell_y": []}
            ).astype({"cell_x": "int64", "cell_y": "int64"})
        return pd.concat(parts, ignore_index=True)[["origin", *CELL_KEYS]]

    def row_filter(self) -> Callable[[pd.DataFrame], pd.DataFrame]:
        """A frame chunk's rows (``origin``, ``cell_x``, ``cell_y``) in the area, in order."""

        def keep(chunk: pd.DataFrame) -> pd.DataFrame:
            m = self.mask(chunk["origin"], chunk["cell_x"].to_numpy(), chunk["cell_y"].to_numpy())
            return chunk if m.all() else chunk.loc[m].reset_index(drop=True)

        return keep


def _cell_key(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One sortable int64 per cell (x in the high, y in the low 32 bits)."""
    return (np.asarray(x, np.int64) << 32) + (np.asarray(y, np.int64) + (1 << 31))


def active_cells(
    events: pd.DataFrame, before: pd.Timestamp, time_col: str = "occurred_at"
) -> pd.DataFrame:
    """The active area: every cell with at least one event known before ``before``
    (:class:`ActiveArea`, the rule every hotspot frame's rows follow).

    Returns ``cell_x``, ``cell_y`` (int64), sorted, one row per cell.
    """
    return ActiveArea(events, time_col).cells(before)


def cells_in_area(area: shapely.Geometry, cell_size_m: float, crs: str) -> pd.DataFrame:
    """The study area's cells: every cell of the grid whose centre lies in ``area``
    (a WGS84 polygon or multipolygon), whether or not it has had an event.

    Returns ``cell_x``, ``cell_y`` (int64), sorted, one row per cell.
    """

    def to_grid(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(project(xy[:, 0], xy[:, 1], crs))

    projected = shapely.transform(area, to_grid)
    minx, miny, maxx, maxy = projected.bounds
    xs = np.arange(np.floor(minx / cell_size_m), np.floor(maxx / cell_size_m) + 1)
    ys = np.arange(np.floor(miny / cell_size_m), np.floor(maxy / cell_size_m) + 1)
    gx, gy = (g.ravel() for g in np.meshgrid(xs, ys, indexing="ij"))
    inside = shapely.contains_xy(projected, (gx + 0.5) * cell_size_m, (gy + 0.5) * cell_size_m)
    cells = pd.DataFrame({"cell_x": gx[inside], "cell_y": gy[inside]}).astype("int64")
    return cells.sort_values(CELL_KEYS).reset_index(drop=True)


def cell_centroids_lonlat(cells: pd.DataFrame, cell_size_m: float, crs: str) -> pd.DataFrame:
    """WGS84 ``lon``/``lat`` of each cell's centre (for maps and polygon look-ups)."""
    from riskwarn.geo import unproject

    x = (cells["cell_x"].to_numpy(float) + 0.5) * cell_size_m
    y = (cells["cell_y"].to_numpy(float) + 0.5) * cell_size_m
    lon, lat = unproject(x, y, crs)
    return pd.DataFrame(
        {
            "cell_x": cells["cell_x"].to_numpy(),
            "cell_y": cells["cell_y"].to_numpy(),
            "lon": lon,
            "lat": lat,
        }
    )


def map_cells_to_polygons(
    cells: pd.DataFrame,
    polygons: pd.DataFrame,
    cell_size_m: float,
    crs: str,
    id_col: str = "record_id",
    out_col: str = "unit_id",
) -> pd.DataFrame:
    """Map each cell to the polygon containing its centre (centroid-in-polygon, STRtree).

    ``polygons`` has ``id_col`` and ``geometry_wkt`` (WGS84). Cells whose centre lies in
    no polygon get ``<NA>``; when polygons overlap the first in ``id_col`` order wins, so
    the result does not depend on row order.
    """
    cent = cell_centroids_lonlat(cells, cell_size_m, crs)
    polys = polygons.dropna(subset=["geometry_wkt"]).sort_values(id_col).reset_index(drop=True)
    out = cent[["cell_x", "cell_y"]].copy()
    out[out_col] = pd.Series([pd.NA] * len(out), dtype="string")
    if polys.empty or out.empty:
        return out
    geoms = shapely.from_wkt(polys["geometry_wkt"].to_numpy())
    tree = STRtree(geoms)
    points = shapely.points(cent["lon"].to_numpy(), cent["lat"].to_numpy())
    pt_idx, poly_idx = tree.query(points, predicate="within")
    pairs = pd.DataFrame({"pt": pt_idx, "poly": poly_idx}).sort_values(["pt", "poly"])
    first = pairs.drop_duplicates("pt")
    out.loc[first["pt"].to_numpy(), out_col] = polys[id_col].to_numpy()[first["poly"].to_numpy()]
    return out


def ring_offsets(ring: int) -> list[tuple[int, int]]:
    """Cell offsets at Chebyshev distance exactly ``ring`` (ring 1: the 8 neighbours)."""
    r = range(-ring, ring + 1)
    return [(dx, dy) for dx in r for dy in r if max(abs(dx), abs(dy)) == ring]
