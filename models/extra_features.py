"""Long-memory cell inputs of the hotspot model (past-only), beside ``features``.

The classic "plain counts over all history" baseline is hard to beat because crime
concentrates in stable places. These inputs describe that stable part better than the
short-window feature table does:

* multi-scale long-run counts: all history, the last 2 and 3 years, exponentially decayed
  counts with half-lives of 1 and 2 years;
* neighbour-smoothed long-run counts: the all-history and 1-year-decayed count maps
  smoothed with Gaussian kernels of several radii (in cells);
* seasonal counts: events in the same weeks one and two years before the forecast window;
* composition: all-history counts per location category (``location_type``) and of events
  at night, with their share of the cell's events.

Leakage: an event counts at an origin only if its local day is before the origin's local
day and, where ``reported_at`` is known, it was reported before that day too (the event's
*availability day* is the later of the two local days). Every input is a difference of
prefix sums over availability days, so nothing at or after an origin can enter it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from features.cells import known_times
from models.grid import cell_clusters

KEYS = ["origin", "cell_x", "cell_y"]
NIGHT_HOURS = (20, 21, 22, 23, 0, 1, 2, 3, 4)
# Fixed so that training and live scoring always see the same columns (zeros where a
# source has no such category or no location column at all).
LOCATION_CATEGORIES = (
    "street",
    "residence",
    "education",
    "open space",
    "retail",
    "leisure",
    "transportation",
    "vehicle",
)


@dataclass(frozen=True)
class ExtraFeatureParams:
    """Windows and radii of the long-memory inputs (days and cells)."""

    tz: str
    horizon_days: int = 7
    window_years: tuple[int, ...] = (2, 3)
    half_lives_days: tuple[float, ...] = (365.0, 730.0)
    smooth_sigmas_cells: tuple[float, ...] = (1.0, 2.0, 4.0)
    season_pad_days: int = 14
    location_column: str = "location_type"
    locations: tuple[str, ...] = LOCATION_CATEGORIES


def _local_day(ts: pd.Series, tz: str) -> np.ndarray:
    """Local calendar day (days since 1970-01-01) of UTC timestamps; NaT -> -1."""
    idx = pd.DatetimeIndex(ts)
    days = idx.tz_convert(tz).tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
    out = days.astype("int64")
    return np.where(idx.isna(), -1, out)


def availability_day(events: pd.DataFrame, tz: str) -> np.ndarray:
    """Local day from which each event may be used: the local day of
    :func:`features.cells.known_times` (-1 where the time is missing)."""
    return _local_day(known_times(events), tz)


def night_mask(events: pd.DataFrame, tz: str) -> np.ndarray:
    """Events at night (20:00-04:59 local), leaving out exact midnights (unknown time)."""
    local = pd.DatetimeIndex(events["occurred_at"]).tz_convert(tz)
    hour, minute = local.hour.to_numpy(), local.minute.to_numpy()
    unknown = (hour == 0) & (minute == 0)
    return np.isin(hour, NIGHT_HOURS) & ~unknown


@dataclass(frozen=True)
class _Grid:
    """A dense raster spanning every cell with an event or requested."""

    x0: int
    y0: int
    nx: int
    ny: int

    def flat(self, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
        return (np.asarray(cx) - self.x0) * self.ny + (np.asarray(cy) - self.y0)


def _grid(events: pd.DataFrame, cells: pd.DataFrame) -> _Grid:
    xs = np.concatenate([events["cell_x"].to_numpy(), cells["cell_x"].to_numpy()])
    ys = np.concatenate([events["cell_y"].to_numpy(), cells["cell_y"].to_numpy()])
    pad = 8  # room for the widest smoothing kernel at the edge
    x0, y0 = int(xs.min()) - pad, int(ys.min()) - pad
    return _Grid(x0, y0, int(xs.max()) - x0 + pad + 1, int(ys.max()) - y0 + pad + 1)


def prefix_rasters(
    day: np.ndarray, flat: np.ndarray, weight: np.ndarray, query_days: np.ndarray, n: int
) -> np.ndarray:
    """Weighted event sums per raster cell over events with ``day < q`` for each query day.

    Returns ``len(query_days) x n``. Built incrementally over the sorted query days.
    """
    order = np.argsort(day, kind="stable")
    day, flat, weight = day[order], flat[order], weight[order]
    q_sorted = np.unique(query_days)
    ends = np.searchsorted(day, q_sorted, side="left")  # events strictly before q
    out_sorted = np.zeros((len(q_sorted), n), dtype=np.float64)
    acc = np.zeros(n, dtype=np.float64)
    prev = 0
    for i, end in enumerate(ends):
        if end > prev:
            acc += np.bincount(flat[prev:end], weights=weight[prev:end], minlength=n)
            prev = end
        out_sorted[i] = acc
    if len(q_sorted) == len(query_days) and bool((q_sorted == query_days).all()):
        return out_sorted  # the query days were sorted and unique (origins): no gather copy
    return out_sorted[np.searchsorted(q_sorted, query_days)]


def _window(cum, q_hi: np.ndarray, q_lo: np.ndarray) -> np.ndarray:
    """Events with ``q_lo <= day < q_hi`` from a prefix-raster function ``cum``."""
    return cum(q_hi) - cum(q_lo)


def _put_smoothed(
    put: Callable[[str, np.ndarray], None],
    name: str,
    raster: np.ndarray,
    grid: _Grid,
    sigmas: Sequence[float],
) -> None:
    """``lr_smooth_<name>_s<sigma>``: ``raster`` (origins x the grid's cells) smoothed per
    origin with a Gaussian kernel of each radius (in cells)."""
    maps = raster.reshape(len(raster), grid.nx, grid.ny)
    for s in sigmas:
        sm = ndimage.gaussian_filter(maps, sigma=(0, s, s), mode="constant", truncate=3.0)
        put(f"lr_smooth_{name}_s{s:g}", sm.reshape(len(raster), grid.nx * grid.ny))


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")


def build_extra_features(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
    params: ExtraFeatureParams,
    rows: np.ndarray | None = None,
    keys: bool = True,
) -> pd.DataFrame:
    """One row per origin x cell (``KEYS``) with the long-memory inputs (``lr_*`` columns).

    ``rows``: only these rows of that origin-major table (positions ``origin index x
    len(cells) + cell index``, increasing), e.g. a subsampled training frame's, each column
    cut as it is made. ``keys=False``: the ``lr_*`` columns alone, rows in that same
    order (for a caller whose frame already holds those rows in that order; the city's key
    columns are 0.35 GB).

    ``events`` carry ``occurred_at`` (UTC), ``cell_x``/``cell_y`` and optionally
    ``reported_at`` and the location column; ``origins`` are local midnights as UTC
    timestamps. Groups of cells far apart (:func:`models.grid.cell_clusters`)
    are built on rasters of their own, so memory follows the area covered, not the box
    around it; the values are the same.
    """
    both = pd.concat([cells[["cell_x", "cell_y"]], events[["cell_x", "cell_y"]]])
    both = both.astype("int64").drop_duplicates(ignore_index=True)
    labels = pd.Series(cell_clusters(both), index=pd.MultiIndex.from_frame(both), name="cluster")
    if labels.nunique() <= 1:
        return _build_extra_features(events, cells, origins, params, rows, keys)
    ev_label = labels.reindex(
        pd.MultiIndex.from_frame(events[["cell_x", "cell_y"]].astype("int64"))
    ).to_numpy()
    cell_label = labels.reindex(
        pd.MultiIndex.from_frame(cells[["cell_x", "cell_y"]].astype("int64"))
    ).to_numpy()
    parts = [
        _build_extra_features(
            events.loc[ev_label == k], cells.loc[cell_label == k], origins, params
        )
        for k in np.unique(cell_label)
    ]
    skeleton = pd.DataFrame(
        {
            "origin": np.repeat(pd.DatetimeIndex(origins), len(cells)),
            "cell_x": np.tile(cells["cell_x"].to_numpy(), len(origins)),
            "cell_y": np.tile(cells["cell_y"].to_numpy(), len(origins)),
        }
    )
    if rows is not None:
        skeleton = skeleton.iloc[rows].reset_index(drop=True)
    out = skeleton.merge(pd.concat(parts, ignore_index=True), on=KEYS, how="left")
    return out if keys else out.drop(columns=KEYS)


def _build_extra_features(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
    params: ExtraFeatureParams,
    rows: np.ndarray | None = None,
    keys: bool = True,
) -> pd.DataFrame:
    """:func:`build_extra_features` on one raster around ``events`` and ``cells``."""
    origins_idx = pd.DatetimeIndex(origins)
    grid = _grid(events, cells)
    n = grid.nx * grid.ny
    day = availability_day(events, params.tz)
    ok = day >= 0
    ev = events.loc[ok]
    day = day[ok]
    flat = grid.flat(ev["cell_x"].to_numpy(), ev["cell_y"].to_numpy())
    o_day = _local_day(pd.Series(origins_idx), params.tz)
    cell_pos = grid.flat(cells["cell_x"].to_numpy(), cells["cell_y"].to_numpy())
    ones = np.ones(len(ev))
    # Only the two maps that are smoothed need the whole raster; every other input is read
    # at the requested cells alone, so its prefix sums are kept for those cells only
    # (``len(cells)`` columns instead of the raster's ``n``). Each cell's sums add the
    # same events in the same order either way: the values are the same, bit for bit.
    cell_of = np.full(n, -1, dtype=np.int64)
    cell_of[cell_pos] = np.arange(len(cell_pos))
    ev_cell = cell_of[flat]
    at_cells = ev_cell >= 0
    day_c, cell_c = day[at_cells], ev_cell[at_cells]
    cells_unique = len(np.unique(cell_pos)) == len(cell_pos)

    def cum_fn(weight: np.ndarray):
        """Prefix sums over the whole raster (``origins x n``)."""
        return lambda q: prefix_rasters(day, flat, weight, q, n)

    def cum_cells(weight: np.ndarray):
        """Prefix sums at the requested cells only (``origins x len(cells)``; a cell
        requested twice: read out of the whole raster)."""
        if not cells_unique:
            return lambda q: cum_fn(weight)(q)[:, cell_pos]
        return lambda q: prefix_rasters(day_c, cell_c, weight[at_cells], q, len(cell_pos))

    cols: dict[str, np.ndarray] = {}

    def put(name: str, raster: np.ndarray, at: bool = False) -> None:
        """Column ``name`` from a whole raster, or (``at``) from values at the cells."""
        col = (raster if at else raster[:, cell_pos]).astype(np.float32).ravel()
        cols[name] = col if rows is None else col[rows]

    all_hist = cum_fn(ones)(o_day)
    all_at = all_hist[:, cell_pos]
    put("lr_count_all", all_at, at=True)
    total = cum_cells(ones)
    for years in params.window_years:
        put(f"lr_count_{years}y", _window(total, o_day, o_day - 365 * years), at=True)
    # same weeks one and two years before the forecast window (padded both sides)
    pad, h = params.season_pad_days, params.horizon_days
    season = np.zeros_like(all_at)
    for years in (1, 2):
        lo = o_day - 364 * years - pad
        hi = np.minimum(o_day - 364 * years + h + pad, o_day)
        w = _window(total, hi, lo)
        put(f"lr_season_{years}y", w, at=True)
        season += w
    put("lr_season_share", season / np.maximum(all_at, 1.0), at=True)
    # exponential decay: sum exp(-(o - d) / tau) = exp(-(o - ref) / tau) * sum exp((d - ref) / tau)
    ref = int(o_day.max())
    decayed_1y = None
    for hl in params.half_lives_days:
        tau = hl / np.log(2.0)
        w = np.exp((day - ref) / tau)
        scale = np.exp(-(o_day - ref) / tau)[:, None]
        if decayed_1y is None:  # the first half-life's map is smoothed below: whole raster
            decayed_1y = cum_fn(w)(o_day) * scale
            put(f"lr_decayed_hl{int(hl)}d", decayed_1y)
        else:
            put(f"lr_decayed_hl{int(hl)}d", cum_cells(w)(o_day) * scale, at=True)
    # neighbour-smoothed maps (Gaussian kernels in cells), per origin
    for name, raster in (("all", all_hist), ("hl1y", decayed_1y)):
        if raster is not None:
            _put_smoothed(put, name, raster, grid, params.smooth_sigmas_cells)
    del all_hist, decayed_1y  # the whole rasters are not needed any more
    # composition: location categories and night-time events over all history
    denom = np.maximum(all_at, 1.0)
    if params.location_column in ev.columns:
        lt = ev[params.location_column].astype("string").fillna("").str.lower().to_numpy()
    else:
        lt = np.full(len(ev), "", dtype=object)
    for loc in params.locations:
        cnt = cum_cells((lt == loc).astype(float))(o_day)
        put(f"lr_count_loc_{_slug(loc)}", cnt, at=True)
        put(f"lr_share_loc_{_slug(loc)}", cnt / denom, at=True)
    night = cum_cells(night_mask(ev, params.tz).astype(float))(o_day)
    put("lr_count_night", night, at=True)
    put("lr_share_night", night / denom, at=True)

    if not keys:
        return pd.DataFrame(cols, copy=False)
    key_cols = {
        "origin": np.repeat(origins_idx, len(cells)),
        "cell_x": np.tile(cells["cell_x"].to_numpy(), len(o_day)),
        "cell_y": np.tile(cells["cell_y"].to_numpy(), len(o_day)),
    }
    if rows is not None:
        key_cols = {k: v[rows] for k, v in key_cols.items()}
    # one frame over the arrays (no second copy of every column while it is assembled)
    return pd.DataFrame({**key_cols, **cols}, copy=False)
