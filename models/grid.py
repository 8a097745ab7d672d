"""Event history on a grid: a daily count cube and rasters for spatial kernels.

The hotspot baselines and the model's history inputs are all functions of "how many
events fell in which cell on which day before the origin". This module holds that one
representation: ``CountCube.counts[day, cell]`` for a fixed list of cells, plus the
mapping of those cells onto a 2-D raster so spatial kernels are image filters
(``scipy.ndimage``) instead of loops over events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.cells import known_times


@dataclass(frozen=True)
class CountCube:
    """Daily event counts per cell: ``counts[d, c]`` = events on ``days[d]`` in ``cells[c]``.

    ``days`` are UTC timestamps of local midnights (one per calendar day of ``tz``).
    """

    days: pd.DatetimeIndex
    cells: pd.DataFrame  # cell_x, cell_y (int64), row order = column order of counts
    counts: np.ndarray  # float32 [n_days, n_cells]
    tz: str
    prior: np.ndarray | None = None  # float32 [n_cells]: events before ``days[0]``

    def before(self, origin_idx: int, lo: int | None = None) -> np.ndarray:
        """Events per cell on days ``[lo, origin_idx)``; ``lo`` None = all history (the
        days held plus the ``prior`` before them). A window that reaches before the first
        day held is an error, never a silently shorter window."""
        if lo is not None and lo < 0 and self.prior is not None:
            raise ValueError("the cube does not hold the days this window needs")
        total = self.counts[max(lo or 0, 0) : origin_idx].sum(axis=0)
        if lo is None and self.prior is not None:
            total = total + self.prior
        return total

    def day_index(self, origin: pd.Timestamp) -> int:
        """Index of the day starting at ``origin`` (days before it are ``[:index]``)."""
        return int(self.days.searchsorted(pd.Timestamp(origin), side="left"))

    def raster_index(self) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Row/column of each cell on a raster covering the cells' bounding box (+margin)."""
        return raster_layout(self.cells)


RASTER_MARGIN = 8  # cells of padding so kernels do not wrap or clip at the edge


CLUSTER_BLOCK_CELLS = 32  # cells of a block: groups of cells farther apart than this are
# rastered apart (wider than twice any kernel's reach, so no value changes)


def cell_clusters(cells: pd.DataFrame, block: int = CLUSTER_BLOCK_CELLS) -> np.ndarray:
    """A label per cell: cells in touching ``block`` x ``block`` squares share a label.

    Two cells with different labels are more than ``block`` cells apart, so kernels that
    reach less than half as far never mix them: each group gets its own raster, and
    memory grows with the area the cells cover, not with the box around two distant
    cities (a mis-mapped source 10,000 km away is a second small raster).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(cells) == 0:
        return np.zeros(0, dtype=np.int64)
    bx = np.floor_divide(cells["cell_x"].to_numpy(np.int64), block)
    by = np.floor_divide(cells["cell_y"].to_numpy(np.int64), block)
    blocks, of_cell = np.unique(np.stack([bx, by], axis=1), axis=0, return_inverse=True)
    key = blocks[:, 0] * (1 << 32) + blocks[:, 1]
    rows, cols = [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            probe = (blocks[:, 0] + dx) * (1 << 32) + (blocks[:, 1] + dy)
            pos = np.searchsorted(key, probe)
            pos_c = np.minimum(pos, len(key) - 1)
            hit = key[pos_c] == probe
            rows.append(np.nonzero(hit)[0])
            cols.append(pos_c[hit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(len(key), len(key)))
    _, label = connected_components(graph, directed=False)
    return label[np.asarray(of_cell).ravel()].astype(np.int64)


def smooth_by_cluster(values: np.ndarray, cells: pd.DataFrame, smooth) -> np.ndarray:
    """``smooth(raster) -> raster`` applied to ``values`` (one per cell) on one raster per
    group of :func:`cell_clusters`; returns the smoothed value at each cell."""
    out = np.zeros(len(cells), dtype=np.float64)
    for idx, row, col, shape in cluster_layouts(cells):
        out[idx] = smooth(to_raster(values[idx], row, col, shape))[row, col]
    return out


Layout = tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]
_LAYOUTS: dict[bytes, list[Layout]] = {}


def cluster_layouts(cells: pd.DataFrame) -> list[Layout]:
    """Per group of :func:`cell_clusters`: its cells' positions and their raster layout
    (:func:`raster_layout`). Kept for the last few sets of cells, keyed by a digest of
    their coordinates (a count cube's cells are smoothed at every origin by two kernels;
    laying them out each time took 16.8 s of the city's disputes training)."""
    import hashlib

    cx = np.ascontiguousarray(cells["cell_x"].to_numpy(np.int64))
    cy = np.ascontiguousarray(cells["cell_y"].to_numpy(np.int64))
    key = hashlib.blake2b(cx.tobytes() + b"|" + cy.tobytes(), digest_size=20).digest()
    layouts = _LAYOUTS.get(key)
    if layouts is None:
        labels = cell_clusters(cells)
        layouts = []
        for k in np.unique(labels):
            idx = np.nonzero(labels == k)[0]
            layouts.append((idx, *raster_layout(cells.iloc[idx])))
        if len(_LAYOUTS) >= 8:
            _LAYOUTS.clear()
        _LAYOUTS[key] = layouts
    return layouts


def raster_layout(cells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Raster row/col of each cell and the raster shape (bounding box plus a margin)."""
    cx = cells["cell_x"].to_numpy(np.int64)
    cy = cells["cell_y"].to_numpy(np.int64)
    col = cx - cx.min() + RASTER_MARGIN
    row = cy - cy.min() + RASTER_MARGIN
    shape = (int(row.max()) + 1 + RASTER_MARGIN, int(col.max()) + 1 + RASTER_MARGIN)
    return row, col, shape


def local_days(start: pd.Timestamp, end: pd.Timestamp, tz: str) -> pd.DatetimeIndex:
    """UTC timestamps of the local midnights from ``start`` to ``end`` (inclusive dates)."""
    s = pd.Timestamp(start)
    e = pd.Timestamp(end)
    s = s.tz_convert(tz) if s.tzinfo else s.tz_localize(tz)
    e = e.tz_convert(tz) if e.tzinfo else e.tz_localize(tz)
    days = pd.date_range(s.normalize(), e.normalize(), freq="D")
    return days.tz_convert("UTC")


def build_count_cube(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tz: str,
    time_col: str = "occurred_at",
) -> CountCube:
    """Count ``events`` (``time_col`` UTC, ``cell_x``, ``cell_y``) per local day and cell.

    Events outside ``cells`` or outside ``[start, end]`` are ignored.
    """
    days = local_days(start, end, tz)
    cells = cells[["cell_x", "cell_y"]].astype("int64").reset_index(drop=True)
    counts = np.zeros((len(days), len(cells)), dtype=np.float32)
    ev = events.dropna(subset=["cell_x", "cell_y", time_col])
    if len(ev):
        key = pd.MultiIndex.from_frame(cells)
        ev_key = pd.MultiIndex.from_arrays(
            [ev["cell_x"].astype("int64").to_numpy(), ev["cell_y"].astype("int64").to_numpy()]
        )
        c_idx = key.get_indexer(ev_key)
        t = pd.DatetimeIndex(pd.to_datetime(ev[time_col], utc=True))
        d_idx = days.searchsorted(t, side="right") - 1
        last_end = (days[-1].tz_convert(tz) + pd.DateOffset(days=1)).tz_convert("UTC")
        ok = (c_idx >= 0) & (d_idx >= 0) & np.asarray(t < last_end)
        np.add.at(counts, (d_idx[ok], c_idx[ok]), 1.0)
    return CountCube(days=days, cells=cells, counts=counts, tz=tz)


def history_cube(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    end: pd.Timestamp,
    tz: str,
    start: pd.Timestamp | None = None,
) -> CountCube:
    """The count cube of what was known: events on the local day they became known
    (:func:`known_times`), for history before an origin, never for labels.

    ``start`` bounds the days held (memory grows with cells x days held, not with the
    record): everything known before it is summed per cell into ``prior``, so all-history
    scores stay exact while windowed ones may look back to ``start``.
    """
    known = events.assign(known_at=known_times(events))
    first = known["known_at"].min()
    if pd.notna(first) and first > end:  # nothing known yet at the end: an empty history
        first = pd.Timestamp(end)
    if start is None or pd.isna(first) or pd.Timestamp(start) <= first:
        return build_count_cube(known, cells, first, end, tz, time_col="known_at")
    start_day = pd.Timestamp(start).tz_convert(tz).normalize().tz_convert("UTC")
    cube = build_count_cube(known, cells, start_day, end, tz, time_col="known_at")
    earlier = known.loc[known["known_at"] < start_day]
    prior = np.zeros(len(cube.cells), dtype=np.float32)
    if len(earlier):
        key = pd.MultiIndex.from_frame(cube.cells)
        idx = key.get_indexer(
            pd.MultiIndex.from_arrays(
                [
                    earlier["cell_x"].astype("int64").to_numpy(),
                    earlier["cell_y"].astype("int64").to_numpy(),
                ]
            )
        )
        prior += np.bincount(idx[idx >= 0], minlength=len(prior)).astype(np.float32)
    return CountCube(days=cube.days, cells=cube.cells, counts=cube.counts, tz=tz, prior=prior)


def window_counts(cube: CountCube, start_idx: int, n_days: int) -> np.ndarray:
    """Events per cell in days ``[start_idx, start_idx + n_days)`` (labels of a window)."""
    return cube.counts[start_idx : start_idx + n_days].sum(axis=0)


def to_raster(values: np.ndarray, row: np.ndarray, col: np.ndarray, shape: tuple[int, int]):
    """Place per-cell values on a zero raster."""
    img = np.zeros(shape, dtype=np.float64)
    np.add.at(img, (row, col), values)
    return img
