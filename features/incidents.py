"""Cell x origin features and labels for incidents (and dispute hotspots).

One row per (origin, cell) for every requested cell. Origins are local midnights (as
UTC timestamps); all windows are whole local days, so an origin's features see exactly
the events of the local days before it, and its labels the events of the ``horizon_days``
local days starting at it.

How it stays fast and leak-free: events are binned into a dense ``cells x days`` count
matrix (``np.bincount``); every lookback count is a difference of cumulative sums along
time, decayed counts a first-order recursive filter (one vector step per day), and
neighbour sums are one sparse matrix product per feature. Nothing at or after an origin
enters its features: counts use days strictly before the origin's day, and records whose
``reported_at`` is at or after the origin are subtracted again (an exact correction over
the few (record, origin) pairs where a record occurred before but was reported after).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from riskwarn.features.calendar import calendar_features, origin_local_days
from riskwarn.features.cells import CELL_KEYS, ring_offsets

KEY_COLUMNS = ["origin", "cell_x", "cell_y"]


@dataclass(frozen=True)
class CellFeatureParams:
    """Parameters of the cell x origin feature table (all windows in local days)."""

    tz: str = "Asia/Shanghai"
    horizon_days: int = 7
    lookbacks_days: tuple[int, ...] = (1, 7, 28, 91, 365)
    half_lives_days: tuple[float, ...] = (3.0, 14.0, 60.0)
    near_repeat_days: tuple[int, ...] = (1, 7, 14)
    lag_lookbacks_days: tuple[int, ...] = (28, 365)
    groups: tuple[str, ...] | None = None
    """Category groups with their own counts; ``None`` = every group in the events frame."""
    group_column: str = "category_group"
    holiday_country: str = "CN"
    data_start: pd.Timestamp | None = None
    """Start of the record for the long-run rate; ``None`` = the first event's local day."""
    chunk_origins: int = 256
    extra: dict[str, object] = field(default_factory=dict)


def _local_days(ts: pd.Series, tz: str) -> np.ndarray:
    """Local calendar day of UTC timestamps as int64 days since 1970-01-01 (NaT -> min int)."""
    local = pd.DatetimeIndex(ts).tz_convert(tz).tz_localize(None)
    return local.to_numpy().astype("datetime64[D]").astype("int64")


def _cell_key(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """One int64 per cell, ordered like (cell_x, cell_y)."""
    return np.asarray(cx, dtype=np.int64) * (1 << 32) + (np.asarray(cy, dtype=np.int64) + (1 << 31))


def _cell_codes(cells: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Row position of each (cell_x, cell_y) of ``keys`` in ``cells`` (sorted by cell; -1 if absent)."""
    ref = _cell_key(cells["cell_x"].to_numpy(), cells["cell_y"].to_numpy())
    probe = _cell_key(keys["cell_x"].to_numpy(), keys["cell_y"].to_numpy())
    pos = np.searchsorted(ref, probe)
    pos_c = np.minimum(pos, len(ref) - 1)
    found = (pos < len(ref)) & (ref[pos_c] == probe) if len(ref) else np.zeros(len(probe), bool)
    return np.where(found, pos_c, -1)


def _ring_matrix(cells: pd.DataFrame, ring: int) -> sparse.csr_matrix:
    """Sparse ``n x n`` matrix summing, for each cell, the cells exactly ``ring`` steps away."""
    n = len(cells)
    rows, cols = [], []
    for dx, dy in ring_offsets(ring):
        shifted = pd.DataFrame(
            {"cell_x": cells["cell_x"].to_numpy() + dx, "cell_y": cells["cell_y"].to_numpy() + dy}
        )
        pos = _cell_codes(cells, shifted)
        ok = pos >= 0
        rows.append(np.nonzero(ok)[0])
        cols.append(pos[ok])
    r = np.concatenate(rows) if rows else np.array([], dtype=int)
    c = np.concatenate(cols) if cols else np.array([], dtype=int)
    return sparse.csr_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(n, n))


def _decay_before(counts_t: np.ndarray, r: float) -> np.ndarray:
    """``y[k] = sum_{d<k} counts[d] * r**(k-d)`` for a days x cells matrix (one vector step per day).

    The recursion ``y[k] = r * (y[k-1] + counts[k-1])`` runs over days, each step vectorised
    over all cells (a first-order filter; faster than ``scipy.signal.lfilter`` along a strided axis).
    """
    y = np.empty_like(counts_t, dtype=np.float32)
    if len(y) == 0:
        return y
    y[0] = 0.0
    prev = np.zeros(counts_t.shape[1], dtype=np.float64)
    for k in range(1, len(y)):
        prev = r * (prev + counts_t[k - 1])
        y[k] = prev
    return y


@dataclass
class _History:
    """Pre-computed daily matrices over all cells (requested + neighbours with events)."""

    cells: pd.DataFrame  # all cells, sorted
    out_pos: np.ndarray  # positions of the requested cells in ``cells``
    day0: int
    cum: np.ndarray  # n x (days+1) cumulative counts, cum[:, k] = events with day index < k
    cum_groups: dict[str, np.ndarray]
    decayed: dict[float, np.ndarray]  # half-life -> n x days, value at day index k (before k)
    last_day: np.ndarray  # n x days: last visible occurrence day index before k (-1 none)
    start_day: int
    pend_cell: np.ndarray
    pend_occ: np.ndarray
    pend_from: np.ndarray  # first origin day index at which the record is pending
    pend_to: np.ndarray  # last origin day index (inclusive) at which it is pending
    pend_group: np.ndarray
    ring1: sparse.csr_matrix
    ring2: sparse.csr_matrix
    population: np.ndarray | None


def _prepare(
    events: pd.DataFrame, cells: pd.DataFrame, origin_days: np.ndarray, params: CellFeatureParams
) -> _History:
    req = cells[CELL_KEYS].astype("int64").drop_duplicates()
    ev = events.dropna(subset=[*CELL_KEYS, "occurred_at"])
    ev_cells = ev[CELL_KEYS].astype("int64")
    # events further than two rings from every requested cell can never matter
    if len(req):
        lo_x, hi_x = req["cell_x"].min() - 2, req["cell_x"].max() + 2
        lo_y, hi_y = req["cell_y"].min() - 2, req["cell_y"].max() + 2
        near = ev_cells["cell_x"].between(lo_x, hi_x) & ev_cells["cell_y"].between(lo_y, hi_y)
        ev, ev_cells = ev[near.to_numpy()], ev_cells[near.to_numpy()]
    all_cells = (
        pd.concat([req, ev_cells.drop_duplicates()])
        .drop_duplicates()
        .sort_values(CELL_KEYS)
        .reset_index(drop=True)
    )
    n = len(all_cells)
    occ = _local_days(ev["occurred_at"], params.tz)
    if "reported_at" in ev.columns:
        rep_ts = pd.to_datetime(ev["reported_at"], utc=True)
        rep = np.where(
            rep_ts.isna().to_numpy(),
            occ,
            _local_days(rep_ts.fillna(pd.to_datetime(ev["occurred_at"], utc=True)), params.tz),
        )
        avail = np.maximum(occ, rep)
    else:
        avail = occ
    max_look = max(
        [*params.lookbacks_days, *params.near_repeat_days, *params.lag_lookbacks_days, 1]
    )
    first_origin = int(origin_days.min()) if len(origin_days) else 0
    last_needed = int(origin_days.max()) + params.horizon_days if len(origin_days) else 0
    day0 = min(int(occ.min()) if len(occ) else first_origin, first_origin - max_look)
    n_days = last_needed - day0 + 1
    keep = occ <= last_needed
    occ, avail, ev, ev_cells = occ[keep], avail[keep], ev[keep], ev_cells[keep]
    code = _cell_codes(all_cells, ev_cells)
    occ_i = occ - day0
    avail_i = avail - day0

    def daily(mask: np.ndarray | None = None) -> np.ndarray:
        c, d = (code, occ_i) if mask is None else (code[mask], occ_i[mask])
        flat = np.bincount(c * n_days + d, minlength=n * n_days)
        return flat.reshape(n, n_days).astype(np.float32)

    counts = daily()
    cum = np.zeros((n, n_days + 1), dtype=np.float32)
    np.cumsum(counts, axis=1, out=cum[:, 1:])
    groups = params.groups
    if groups is None:
        groups = (
            tuple(sorted(ev[params.group_column].dropna().unique()))
            if params.group_column in ev
            else ()
        )
    gvals = (
        ev[params.group_column].to_numpy()
        if params.group_column in ev
        else np.array([None] * len(ev))
    )
    cum_groups = {}
    for g in groups:
        cg = np.zeros((n, n_days + 1), dtype=np.float32)
        np.cumsum(daily(gvals == g), axis=1, out=cg[:, 1:])
        cum_groups[g] = cg
    decayed = {}
    counts_t = np.ascontiguousarray(counts.T)  # days x cells: each day is one contiguous vector
    for h in params.half_lives_days:
        decayed[h] = _decay_before(counts_t, 0.5 ** (1.0 / h)).T
    del counts
    # last occurrence day visible before day k: running max, over availability days < k,
    # of occurrence days (a record counts once it is reported)
    last = np.full((n, n_days), -1, dtype=np.int32)
    ok_av = avail_i < n_days
    np.maximum.at(last, (code[ok_av], avail_i[ok_av]), occ_i[ok_av].astype(np.int32))
    np.maximum.accumulate(last, axis=1, out=last)
    start = params.data_start
    start_day = (
        int(_local_days(pd.Series([pd.Timestamp(start)]), params.tz)[0])
        if start is not None
        else (int(occ.min()) if len(occ) else first_origin)
    )
    pend = avail_i > occ_i
    pop = None
    if "population" in cells.columns:
        p = cells.drop_duplicates(CELL_KEYS).set_index(CELL_KEYS)["population"]
        pop = p.reindex(pd.MultiIndex.from_frame(req)).to_numpy(dtype=float)
    return _History(
        cells=all_cells,
        out_pos=_cell_codes(all_cells, req.sort_values(CELL_KEYS)),
        day0=day0,
        cum=cum,
        cum_groups=cum_groups,
        decayed=decayed,
        last_day=last,
        start_day=start_day - day0,
        pend_cell=code[pend],
        pend_occ=occ_i[pend],
        pend_from=occ_i[pend] + 1,
        pend_to=avail_i[pend],
        pend_group=gvals[pend],
        ring1=_ring_matrix(all_cells, 1),
        ring2=_ring_matrix(all_cells, 2),
        population=pop,
    )


def _pending_pairs(
    h: _History, o_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(record, origin) pairs where the record occurred before but was reported at/after the origin."""
    order = np.argsort(o_idx, kind="stable")
    so = o_idx[order]
    lo = np.searchsorted(so, h.pend_from, "left")
    hi = np.searchsorted(so, h.pend_to, "right")
    reps = np.maximum(hi - lo, 0)
    rec = np.repeat(np.arange(len(lo)), reps)
    within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    col = order[np.repeat(lo, reps) + within]
    age = o_idx[col] - h.pend_occ[rec]
    return rec, col, age, h.pend_cell[rec]


def _chunk_frame(
    h: _History,
    origins: pd.DatetimeIndex,
    o_days: np.ndarray,
    cal: pd.DataFrame,
    params: CellFeatureParams,
) -> pd.DataFrame:
    o_idx = (o_days - h.day0).astype(np.int64)
    n_orig = len(o_idx)
    rec, col, age, pcell = _pending_pairs(h, o_idx)
    feats: dict[str, np.ndarray] = {}

    def window(
        cum: np.ndarray, lookback: int | None, gmask: np.ndarray | None = None
    ) -> np.ndarray:
        base = cum[:, o_idx] - (cum[:, np.maximum(o_idx - lookback, 0)] if lookback else 0.0)
        sel = age <= lookback if lookback else np.ones(len(age), bool)
        if gmask is not None:
            sel &= gmask
        if sel.any():
            np.subtract.at(base, (pcell[sel], col[sel]), 1.0)
        return base

    looks = sorted(
        set(params.lookbacks_days) | set(params.near_repeat_days) | set(params.lag_lookbacks_days)
    )
    win = {lb: window(h.cum, lb) for lb in looks}
    for lb in params.lookbacks_days:
        feats[f"count_{lb}d"] = win[lb]
    for g, cg in h.cum_groups.items():
        gmask = h.pend_group[rec] == g
        for lb in params.lookbacks_days:
            feats[f"count_{g}_{lb}d"] = window(cg, lb, gmask)
    for hl, dec in h.decayed.items():
        r = 0.5 ** (1.0 / hl)
        val = dec[:, o_idx].astype(np.float64)
        if len(age):
            np.subtract.at(val, (pcell, col), r ** age.astype(float))
        feats[f"decayed_count_hl{hl:g}d"] = np.maximum(val, 0.0)
    own_and_ring1 = h.ring1 + sparse.identity(h.ring1.shape[0], format="csr")
    for d in params.near_repeat_days:
        feats[f"near_repeat_{d}d"] = own_and_ring1 @ win[d]
    for lb in params.lag_lookbacks_days:
        feats[f"ring1_count_{lb}d"] = h.ring1 @ win[lb]
        feats[f"ring2_count_{lb}d"] = h.ring2 @ win[lb]
    total = window(h.cum, None)
    days_obs = np.maximum(o_idx - h.start_day, 1).astype(float)
    longrun = total / days_obs[None, :]
    feats["longrun_rate_per_day"] = longrun
    c7 = win.get(7, window(h.cum, 7))
    feats["rate_ratio_7d_vs_longrun"] = (c7 / 7.0) / np.maximum(longrun, 1.0 / days_obs[None, :])
    c28, c91, c365 = (win.get(k, window(h.cum, k)) for k in (28, 91, 365))
    feats["trend_7d_vs_91d"] = (c7 / 7.0) / ((c91 + 1.0) / 91.0)
    feats["trend_28d_vs_365d"] = (c28 / 28.0) / ((c365 + 1.0) / 365.0)
    last = h.last_day[:, np.maximum(o_idx - 1, 0)].astype(float)
    last[:, o_idx == 0] = -1
    feats["days_since_last"] = np.where(last >= 0, o_idx[None, :] - last, np.nan)
    label = h.cum[:, np.minimum(o_idx + params.horizon_days, h.cum.shape[1] - 1)] - h.cum[:, o_idx]

    pos = h.out_pos
    n_cells = len(pos)
    cells_out = h.cells.iloc[pos]
    cols: dict[str, object] = {
        "origin": pd.DatetimeIndex(
            np.repeat(origins.tz_convert("UTC").tz_localize(None).to_numpy(), n_cells)
        ).tz_localize("UTC"),
        "cell_x": np.tile(cells_out["cell_x"].to_numpy(np.int64), n_orig),
        "cell_y": np.tile(cells_out["cell_y"].to_numpy(np.int64), n_orig),
    }
    for name, arr in feats.items():
        cols[name] = np.asarray(arr[pos, :], dtype=np.float32).T.ravel()
    if h.population is not None:
        pop = np.tile(h.population, n_orig).astype(np.float32)
        cols["population_persons"] = pop
        with np.errstate(divide="ignore", invalid="ignore"):
            count_365 = np.asarray(cols["count_365d"], dtype=np.float32)
            cols["count_365d_per_1k_persons"] = (count_365 / (pop / 1000.0)).astype(np.float32)
    cal_cols = cal.drop(columns="origin")
    for c in cal_cols.columns:
        cols[c] = np.repeat(cal_cols[c].to_numpy(), n_cells)
    label_count = label[pos, :].T.ravel().astype(np.int32)
    cols["label_count"] = label_count
    cols["label_any"] = (label_count > 0).astype(np.int8)
    return pd.DataFrame(cols)


def iter_cell_feature_chunks(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: CellFeatureParams,
) -> Iterator[pd.DataFrame]:
    """Yield the cell x origin table in chunks of ``params.chunk_origins`` origins (sorted).

    The daily matrices are built once; each chunk is a frame like :func:`build_cell_features`.
    """
    idx = pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(origins))))
    if idx.tz is None:
        raise ValueError("origins must be timezone-aware (UTC) timestamps")
    idx = idx.tz_convert("UTC")
    o_days = origin_local_days(idx, params.tz).astype("int64")
    if len(idx) == 0:
        yield _empty_frame(events, cells, params)
        return
    hist = _prepare(events, cells, o_days, params)
    cal = calendar_features(idx, params.tz, params.horizon_days, params.holiday_country)
    step = max(int(params.chunk_origins), 1)
    for i in range(0, len(idx), step):
        yield _chunk_frame(
            hist, idx[i : i + step], o_days[i : i + step], cal.iloc[i : i + step], params
        )


def _empty_frame(
    events: pd.DataFrame, cells: pd.DataFrame, params: CellFeatureParams
) -> pd.DataFrame:
    t0 = pd.Timestamp("2000-01-01", tz=params.tz).tz_convert("UTC")
    probe = cells[CELL_KEYS].head(1) if len(cells) else pd.DataFrame({"cell_x": [0], "cell_y": [0]})
    frame = next(iter_cell_feature_chunks(events.head(0), probe, [t0], params))
    return frame.head(0)


def build_cell_features(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: CellFeatureParams | None = None,
) -> pd.DataFrame:
    """Cell x origin features and labels: one row per (origin, cell) for every cell in ``cells``.

    ``events``: ``occurred_at`` (UTC), ``cell_x``, ``cell_y``, ``category_group`` and
    optionally ``reported_at``. ``cells``: ``cell_x``, ``cell_y`` (+ optional
    ``population``). ``origins``: local midnights as UTC timestamps. Columns: keys
    ``origin``, ``cell_x``, ``cell_y``; features (see ``riskwarn.features.catalog``);
    labels ``label_count`` and ``label_any`` over ``[origin, origin + horizon_days)``.
    Rows are sorted by origin then cell.
    """
    params = params or CellFeatureParams()
    return pd.concat(
        list(iter_cell_feature_chunks(events, cells, origins, params)), ignore_index=True
    )


def build_cell_labels(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    horizon_days: int,
    tz: str = "Asia/Shanghai",
) -> pd.DataFrame:
    """Labels only: ``label_count`` and ``label_any`` of events in [origin, origin + horizon_days)."""
    params = CellFeatureParams(
        tz=tz,
        horizon_days=horizon_days,
        lookbacks_days=(1,),
        half_lives_days=(),
        near_repeat_days=(),
        lag_lookbacks_days=(),
        groups=(),
    )
    frame = build_cell_features(events, cells, origins, params)
    return frame[[*KEY_COLUMNS, "label_count", "label_any"]]


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a feature frame (everything but keys and ``label_*``)."""
    return [c for c in frame.columns if c not in KEY_COLUMNS and not c.startswith("label_")]
