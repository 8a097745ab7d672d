"""Cell x origin features and labels for incidents (and dispute hotspots).

One row per (origin, cell) for every requested cell. Origins are local midnights (as
UTC timestamps); all windows are whole local days, so an origin's features see exactly
the events of the local days before it, and its labels the events of the ``horizon_days``
local days starting at it.

How it stays fast, small and leak-free: events are kept as flat arrays sorted by day. For
each chunk of origins the events are binned (``np.bincount``) only at the few days the
chunk needs (each origin, each lookback start, each label end), so every lookback count
is a difference of two cumulative counts and nothing ``cells x days`` is ever dense;
decayed counts are a first-order recursive filter (one vector step per day) whose state
is carried from chunk to chunk; neighbour sums are one sparse matrix product per feature.
Chunks are capped in rows (``max_chunk_rows``), so peak memory is independent of the
number of cells and categories. Nothing at or after an origin
enters its features: counts use days strictly before the origin's day, and records whose
``reported_at`` is at or after the origin are subtracted again (an exact correction over
the few (record, origin) pairs where a record occurred before but was reported after).

Corrected records (``events`` from :func:`riskwarn.lake.read_versions`, with
``known_from`` / ``known_to``): each origin counts, in its features, the version valid
at it, and in its labels the version valid at ``labels_known_at`` (None: the current
version; what happened, as known when the labels are read). A correction is pending (as a late report) until the local day of its
``known_from``; the version it replaced is taken out again at the origins after the local
day of its ``known_to``: out of the windows by the same pending pairs (up to the longest
lookback), out of the long-run total and decayed counts after that by one subtraction on
the day it leaves every window; labels leave out the versions not valid at
``labels_known_at`` (at most ``horizon_days`` origins each). Without those columns
nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from features.calendar import calendar_features, origin_local_days
from features.cells import CELL_KEYS, ring_offsets

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
    max_chunk_rows: int = 1_000_000
    """Upper bound on rows per chunk (fewer origins per chunk when there are many cells), so
    peak memory does not grow with the number of cells; values do not depend on it."""
    extra: dict[str, object] = field(default_factory=dict)
    labels_known_at: pd.Timestamp | None = None
    """Labels count each corrected record in its version valid at this time (UTC); None:
    the current version (``known_to`` missing), the evaluation's truth. Features always
    take the version valid at each origin."""


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


@dataclass
class _History:
    """Events as flat arrays over all cells (requested + neighbours with events).

    Nothing here is dense in cells x days: each origin chunk bins the events it needs into
    ``cells x (few days)`` matrices, so memory grows with the chunk, not with the record.
    """

    cells: pd.DataFrame  # all cells, sorted
    out_pos: np.ndarray  # positions of the requested cells in ``cells``
    day0: int
    n_days: int  # day indices 0 .. n_days - 1 cover the record and every label window
    code: np.ndarray  # per event (sorted by occurrence day): cell position
    occ: np.ndarray  # occurrence day index
    avail: np.ndarray  # day index from which the record is known (max(occurred, reported))
    gcode: np.ndarray  # position of the event's group in ``groups`` (-1: none)
    groups: tuple[str, ...]
    start_day: int
    pend_cell: np.ndarray
    pend_occ: np.ndarray
    pend_from: np.ndarray  # first origin day index at which the record is pending
    pend_to: np.ndarray  # last origin day index (inclusive) at which it is pending
    pend_gcode: np.ndarray
    ring1: sparse.csr_matrix
    ring2: sparse.csr_matrix
    population: np.ndarray | None
    decay: _DecayCursor
    versions: _Versions | None = None


@dataclass
class _Versions:
    """What corrected records (events with ``known_from`` / ``known_to``) add to the
    pending ranges (:func:`_prepare`): the whole counts (long-run total, decayed counts)
    stop holding a superseded version from day ``tail_day`` on; labels leave out the
    versions not valid at ``labels_known_at`` (every origin whose window holds them);
    ``days_since_last`` sees a
    superseded version only at origins up to the day it was superseded."""

    live: np.ndarray  # per event: not superseded (counted by ``_last_visible_at``)
    sup_code: np.ndarray  # superseded versions: cell, occurrence, known and superseded
    sup_occ: np.ndarray  # day indices (visible at origins ``avail < o <= end``)
    sup_avail: np.ndarray
    sup_end: np.ndarray
    tail_day: np.ndarray  # sorted: the whole counts drop the version at origins after it
    tail_code: np.ndarray
    tail_w: np.ndarray  # half-lives x tails: its decayed weight on ``tail_day``
    lab_cell: np.ndarray  # labels: the version is not counted at the origins
    lab_from: np.ndarray  # ``lab_from .. lab_to`` (inclusive)
    lab_to: np.ndarray


@dataclass
class _DecayCursor:
    """Decayed counts ``y[k] = sum_{d<k} counts[d] * r**(k-d)``, advanced day by day.

    The recursion ``y[k] = r * (y[k-1] + counts[k-1])`` runs forward over days, one vector
    step (over all cells) per day and half-life; the state is kept between origin chunks
    (origins are visited in order), so the whole record is filtered once and never held.
    """

    rates: np.ndarray  # r = 0.5 ** (1 / half-life), one per half-life
    state: np.ndarray  # half-lives x cells, float64: y at day ``day``
    day: int = 0
    block_cells_days: int = 1 << 23  # bound of one binned block (cells x days, float32)

    def values_at(self, h: _History, days: np.ndarray) -> np.ndarray:
        """``y`` at each of the (non-decreasing) ``days``: half-lives x len(days) x cells.

        float64, not float32: the caller subtracts the not-yet-reported records from it, and
        a float32 state would leave a residue of those (future-known) records of ~1e-8.
        """
        n = self.state.shape[1]
        out = np.empty((len(self.rates), len(days), n), dtype=np.float64)
        block = max(1, self.block_cells_days // max(n, 1))
        for j, target in enumerate(days.tolist()):
            while self.day < target:
                a, b = self.day, min(target, self.day + block)
                lo, hi = np.searchsorted(h.occ, [a, b], side="left")
                flat = np.bincount(
                    (h.occ[lo:hi] - a) * n + h.code[lo:hi], minlength=(b - a) * n
                ).astype(np.float32)
                counts_t = flat.reshape(b - a, n)  # days x cells: one contiguous vector per day
                gone = _tails_in(h.versions, a, b, n)
                for k, row in enumerate(counts_t):
                    for i, r in enumerate(self.rates.tolist()):
                        if gone is None:
                            self.state[i] = r * (self.state[i] + row)
                        else:  # a superseded version's decayed count taken out again
                            self.state[i] = r * (self.state[i] + row - gone[i, k])
                self.day = b
            out[:, j, :] = self.state
        return out


def _tails_in(v: _Versions | None, a: int, b: int, n: int) -> np.ndarray | None:
    """Half-lives x days ``a .. b-1`` x cells: the decayed weight of the superseded
    versions dropped on each day (None: none in these days)."""
    if v is None or not len(v.tail_day) or not len(v.tail_w):
        return None
    lo, hi = np.searchsorted(v.tail_day, [a, b], side="left")
    if hi <= lo:
        return None
    idx = (v.tail_day[lo:hi] - a) * n + v.tail_code[lo:hi]
    return np.stack(
        [
            np.bincount(idx, weights=w[lo:hi], minlength=(b - a) * n).reshape(b - a, n)
            for w in v.tail_w
        ]
    )


def _range_pairs(
    first: np.ndarray, last: np.ndarray, o_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(item, origin column) pairs where origin day ``o_idx[col]`` lies in the item's
    ``first .. last`` (inclusive)."""
    order = np.argsort(o_idx, kind="stable")
    so = o_idx[order]
    lo = np.searchsorted(so, first, "left")
    hi = np.searchsorted(so, last, "right")
    reps = np.maximum(hi - lo, 0)
    rec = np.repeat(np.arange(len(lo)), reps)
    within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    return rec, order[np.repeat(lo, reps) + within]


def _cum_at(code: np.ndarray, day: np.ndarray, n: int, at: np.ndarray) -> np.ndarray:
    """Events with day index ``< at[j]``, per cell: ``len(at) x n`` float32 (``at`` sorted, unique).

    An event counts at ``at[j]`` for every ``j >= searchsorted(at, day, 'right')``: one
    ``bincount`` over (segment, cell) and a cumulative sum over the few segments.
    """
    m = len(at)
    seg = np.searchsorted(at, day, side="right")
    keep = seg < m
    flat = np.bincount(seg[keep] * n + code[keep], minlength=m * n)
    return np.cumsum(flat.reshape(m, n), axis=0, dtype=np.float32)  # exact below 2**24


def _last_visible_at(h: _History, at: np.ndarray) -> np.ndarray:
    """Latest occurrence day of records known at or before day ``at[j]``: ``len(at) x n`` (-1 none)."""
    n = len(h.cells)
    m = len(at)
    v = h.versions
    avail, code, occ = h.avail, h.code, h.occ
    if v is not None:
        avail, code, occ = avail[v.live], code[v.live], occ[v.live]
    seg = np.searchsorted(at, avail, side="left")
    keep = (seg < m) & (avail < h.n_days)
    last = np.full((m, n), -1, dtype=np.int32)
    np.maximum.at(last, (seg[keep], code[keep]), occ[keep].astype(np.int32))
    np.maximum.accumulate(last, axis=0, out=last)
    if v is not None and len(v.sup_code):
        # a superseded version: at ``at[j]`` from its known day until the day before
        # it was superseded (visible at origins ``avail < o <= end``, ``at = o - 1``)
        lo = np.searchsorted(at, v.sup_avail, side="left")
        hi = np.searchsorted(at, v.sup_end, side="left") - 1
        rec, j = _range_pairs(lo, hi, np.arange(m))
        np.maximum.at(last, (j, v.sup_code[rec]), v.sup_occ[rec].astype(np.int32))
    return last


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
    # versions of corrected records (riskwarn.lake.read_versions): a correction is known
    # from its ``known_from``, a superseded version until its ``known_to``
    vfrom = _version_days(ev, "known_from", params.tz)
    vto = _version_days(ev, "known_to", params.tz)
    lab_out = _not_valid_at(ev, params.labels_known_at)
    if vfrom is not None:
        avail = np.where(vfrom > _NO_DAY, np.maximum(avail, vfrom), avail)
    max_look = max(
        [*params.lookbacks_days, *params.near_repeat_days, *params.lag_lookbacks_days, 1]
    )
    first_origin = int(origin_days.min()) if len(origin_days) else 0
    last_needed = int(origin_days.max()) + params.horizon_days if len(origin_days) else 0
    day0 = min(int(occ.min()) if len(occ) else first_origin, first_origin - max_look)
    n_days = last_needed - day0 + 1
    keep = occ <= last_needed
    occ, avail, ev, ev_cells = occ[keep], avail[keep], ev[keep], ev_cells[keep]
    vfrom = None if vfrom is None else vfrom[keep]
    vto = None if vto is None else vto[keep]
    lab_out = lab_out[keep]
    code = _cell_codes(all_cells, ev_cells)
    occ_i = (occ - day0).astype(np.int64)
    avail_i = (avail - day0).astype(np.int64)
    groups = params.groups
    if groups is None:
        groups = (
            tuple(sorted(ev[params.group_column].dropna().unique()))
            if params.group_column in ev
            else ()
        )
    groups = tuple(dict.fromkeys(groups))
    if params.group_column in ev and groups:
        gcode = pd.Index(groups).get_indexer(ev[params.group_column].to_numpy())
    else:
        gcode = np.full(len(ev), -1)
    order = np.argsort(occ_i, kind="stable")
    code, occ_i, avail_i, gcode = code[order], occ_i[order], avail_i[order], gcode[order]
    start = params.data_start
    start_day = (
        int(_local_days(pd.Series([pd.Timestamp(start)]), params.tz)[0])
        if start is not None
        else (int(occ.min()) if len(occ) else first_origin)
    )
    pend = avail_i > occ_i
    pend_cell, pend_occ, pend_gcode = code[pend], occ_i[pend], gcode[pend]
    pend_from, pend_to = occ_i[pend] + 1, avail_i[pend]
    rates = np.array([0.5 ** (1.0 / h) for h in params.half_lives_days], dtype=np.float64)
    versions = None
    if vfrom is not None or vto is not None:
        no = np.full(len(occ_i), _NO_DAY)
        vt = (vto if vto is not None else no)[order]
        has_t = vt > _NO_DAY
        vt_i = vt - day0
        # superseded: visible at origins avail < o <= end; then out of the windows by
        # pending ranges up to the longest lookback, out of the whole counts after that
        end = np.maximum(vt_i, avail_i)[has_t]
        s_occ = occ_i[has_t]
        gone_from, gone_to = end + 1, s_occ + max_look
        more = gone_to >= gone_from
        pend_cell = np.concatenate([pend_cell, code[has_t][more]])
        pend_occ = np.concatenate([pend_occ, s_occ[more]])
        pend_gcode = np.concatenate([pend_gcode, gcode[has_t][more]])
        pend_from = np.concatenate([pend_from, gone_from[more]])
        pend_to = np.concatenate([pend_to, gone_to[more]])
        tail = np.maximum(end, s_occ + max_look)
        t_order = np.argsort(tail, kind="stable")
        # labels: the versions not valid at ``labels_known_at`` leave every window
        # holding them (origins ``occ - horizon + 1 .. occ``)
        out = lab_out[order]
        lab_occ = occ_i[out]
        versions = _Versions(
            live=~has_t,
            sup_code=code[has_t],
            sup_occ=s_occ,
            sup_avail=avail_i[has_t],
            sup_end=end,
            tail_day=tail[t_order],
            tail_code=code[has_t][t_order],
            tail_w=(rates[:, None] ** (tail - s_occ)[None, :])[:, t_order],
            lab_cell=code[out],
            lab_from=lab_occ - params.horizon_days + 1,
            lab_to=lab_occ,
        )
    pop = None
    if "population" in cells.columns:
        p = cells.drop_duplicates(CELL_KEYS).set_index(CELL_KEYS)["population"]
        pop = p.reindex(pd.MultiIndex.from_frame(req)).to_numpy(dtype=float)
    return _History(
        cells=all_cells,
        out_pos=_cell_codes(all_cells, req.sort_values(CELL_KEYS)),
        day0=day0,
        n_days=n_days,
        code=code,
        occ=occ_i,
        avail=avail_i,
        gcode=gcode,
        groups=groups,
        start_day=start_day - day0,
        pend_cell=pend_cell,
        pend_occ=pend_occ,
        pend_from=pend_from,
        pend_to=pend_to,
        pend_gcode=pend_gcode,
        ring1=_ring_matrix(all_cells, 1),
        ring2=_ring_matrix(all_cells, 2),
        population=pop,
        decay=_DecayCursor(rates=rates, state=np.zeros((len(rates), len(all_cells)))),
        versions=versions,
    )


_NO_DAY = np.iinfo(np.int64).min


def _not_valid_at(ev: pd.DataFrame, at: pd.Timestamp | None) -> np.ndarray:
    """Per row: a version not valid at ``at`` (``known_from`` at or after it, or
    ``known_to`` before it; None: every version with a ``known_to``, i.e. not current)."""
    out = np.zeros(len(ev), dtype=bool)
    if "known_to" in ev.columns:
        to = pd.to_datetime(ev["known_to"], utc=True)
        out |= (to.notna() if at is None else to < pd.Timestamp(at)).to_numpy()
    if at is not None and "known_from" in ev.columns:
        since = pd.to_datetime(ev["known_from"], utc=True)
        out |= (since >= pd.Timestamp(at)).to_numpy()
    return out


def _version_days(ev: pd.DataFrame, column: str, tz: str) -> np.ndarray | None:
    """Local day of a version bound (``known_from`` / ``known_to``), :data:`_NO_DAY`
    where there is none; None without the column or any value in it."""
    if column not in ev.columns:
        return None
    ts = pd.to_datetime(ev[column], utc=True)
    has = ts.notna().to_numpy()
    if not has.any():
        return None
    days = _local_days(ts.fillna(pd.Timestamp(0, tz="UTC")), tz)
    return np.where(has, days, _NO_DAY)


def _pending_pairs(
    h: _History, o_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(record, origin) pairs where the record occurred before but was reported at/after the origin."""
    rec, col = _range_pairs(h.pend_from, h.pend_to, o_idx)
    age = o_idx[col] - h.pend_occ[rec]
    return rec, col, age, h.pend_cell[rec]


def _chunk_features(
    h: _History, o_idx: np.ndarray, params: CellFeatureParams
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Feature matrices (origins x all cells) and the label counts of one chunk of origins."""
    n = len(h.cells)
    rec, col, age, pcell = _pending_pairs(h, o_idx)
    looks = sorted(
        set(params.lookbacks_days) | set(params.near_repeat_days) | set(params.lag_lookbacks_days)
    )
    for k in (7, 28, 91, 365):
        if k not in looks:
            looks.append(k)
    starts = {lb: np.maximum(o_idx - lb, 0) for lb in looks}
    label_end = np.minimum(o_idx + params.horizon_days, h.n_days)
    at = np.unique(np.concatenate([o_idx, label_end, *starts.values()]))
    j_of = {k: np.searchsorted(at, v) for k, v in [("o", o_idx), ("label", label_end)]}
    j_start = {lb: np.searchsorted(at, s) for lb, s in starts.items()}

    def window(cum: np.ndarray, lookback: int | None, gsel: np.ndarray | None = None) -> np.ndarray:
        base = cum[j_of["o"]] - (cum[j_start[lookback]] if lookback else 0.0)
        sel = age <= lookback if lookback else np.ones(len(age), bool)
        if gsel is not None:
            sel &= gsel
        if sel.any():
            np.subtract.at(base, (col[sel], pcell[sel]), 1.0)
        return base

    feats: dict[str, np.ndarray] = {}
    cum = _cum_at(h.code, h.occ, n, at)
    win = {lb: window(cum, lb) for lb in looks}
    for lb in params.lookbacks_days:
        feats[f"count_{lb}d"] = win[lb]
    pend_g = h.pend_gcode[rec]
    for gi, g in enumerate(h.groups):
        ing = h.gcode == gi
        cg = _cum_at(h.code[ing], h.occ[ing], n, at)
        for lb in params.lookbacks_days:
            feats[f"count_{g}_{lb}d"] = window(cg, lb, pend_g == gi)
        del cg
    dec = h.decay.values_at(h, o_idx)
    for i, hl in enumerate(params.half_lives_days):
        r = 0.5 ** (1.0 / hl)
        val = dec[i].astype(np.float64)
        if len(age):
            np.subtract.at(val, (col, pcell), r ** age.astype(float))
        feats[f"decayed_count_hl{hl:g}d"] = np.maximum(val, 0.0)
    del dec
    own_and_ring1_t = (h.ring1 + sparse.identity(n, format="csr")).T.tocsr()
    ring1_t, ring2_t = h.ring1.T.tocsr(), h.ring2.T.tocsr()
    for d in params.near_repeat_days:
        feats[f"near_repeat_{d}d"] = np.asarray(win[d] @ own_and_ring1_t)
    for lb in params.lag_lookbacks_days:
        feats[f"ring1_count_{lb}d"] = np.asarray(win[lb] @ ring1_t)
        feats[f"ring2_count_{lb}d"] = np.asarray(win[lb] @ ring2_t)
    total = window(cum, None)
    v = h.versions
    if v is not None and len(v.tail_day):  # superseded versions past the longest lookback
        total -= _cum_at(v.tail_code, v.tail_day, n, at)[j_of["o"]]
    days_obs = np.maximum(o_idx - h.start_day, 1).astype(float)
    longrun = total / days_obs[:, None]
    feats["longrun_rate_per_day"] = longrun
    c7, c28, c91, c365 = (win[k] for k in (7, 28, 91, 365))
    feats["rate_ratio_7d_vs_longrun"] = (c7 / 7.0) / np.maximum(longrun, 1.0 / days_obs[:, None])
    feats["trend_7d_vs_91d"] = (c7 / 7.0) / ((c91 + 1.0) / 91.0)
    feats["trend_28d_vs_365d"] = (c28 / 28.0) / ((c365 + 1.0) / 365.0)
    before = np.maximum(o_idx - 1, 0)
    ub, inv = np.unique(before, return_inverse=True)
    last = _last_visible_at(h, ub)[inv].astype(float)
    last[o_idx == 0, :] = -1
    feats["days_since_last"] = np.where(last >= 0, o_idx[:, None] - last, np.nan)
    label = cum[j_of["label"]] - cum[j_of["o"]]
    if v is not None and len(v.lab_cell):  # only the version valid at labels_known_at
        lrec, lcol = _range_pairs(v.lab_from, v.lab_to, o_idx)
        np.subtract.at(label, (lcol, v.lab_cell[lrec]), 1.0)
    return feats, label


def _chunk_frame(
    h: _History,
    origins: pd.DatetimeIndex,
    o_days: np.ndarray,
    cal: pd.DataFrame,
    params: CellFeatureParams,
) -> pd.DataFrame:
    """One chunk as a frame, rows by origin then cell.

    The float32 features are written into one ``features x rows`` buffer and handed to
    pandas as a single block (no per-column stacking or concatenation).
    """
    o_idx = (o_days - h.day0).astype(np.int64)
    n_orig = len(o_idx)
    feats, label = _chunk_features(h, o_idx, params)
    pos = h.out_pos
    n_cells = len(pos)
    n_rows = n_orig * n_cells
    names = list(feats)
    if h.population is not None:
        names += ["population_persons", "count_365d_per_1k_persons"]
    buf = np.empty((len(names), n_rows), dtype=np.float32)
    every_cell = n_cells == len(h.cells)  # positions are then 0..n-1 (both sorted)
    for i, name in enumerate(list(feats)):
        src = feats.pop(name)
        buf[i].reshape(n_orig, n_cells)[:] = src if every_cell else np.take(src, pos, axis=1)
    if h.population is not None:
        pop = np.tile(h.population, n_orig).astype(np.float32)
        i = len(names) - 2
        buf[i] = pop
        with np.errstate(divide="ignore", invalid="ignore"):
            buf[i + 1] = buf[names.index("count_365d")] / (pop / 1000.0)
    frame = pd.DataFrame(buf.T, columns=names, copy=False)
    cells_out = h.cells.iloc[pos]
    frame.insert(
        0,
        "origin",
        pd.DatetimeIndex(
            np.repeat(origins.tz_convert("UTC").tz_localize(None).to_numpy(), n_cells)
        ).tz_localize("UTC"),
    )
    frame.insert(1, "cell_x", np.tile(cells_out["cell_x"].to_numpy(np.int64), n_orig))
    frame.insert(2, "cell_y", np.tile(cells_out["cell_y"].to_numpy(np.int64), n_orig))
    for c in cal.columns.drop("origin"):
        frame[c] = np.repeat(cal[c].to_numpy(), n_cells)
    label_count = (label if every_cell else np.take(label, pos, axis=1)).ravel().astype(np.int32)
    frame["label_count"] = label_count
    frame["label_any"] = (label_count > 0).astype(np.int8)
    return frame


def iter_cell_feature_chunks(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: CellFeatureParams,
) -> Iterator[pd.DataFrame]:
    """Yield the cell x origin table in chunks of origins (sorted), all cells per chunk.

    A chunk holds at most ``params.chunk_origins`` origins and about
    ``params.max_chunk_rows`` rows (at least one origin); each chunk is a frame like
    :func:`build_cell_features` and is computed only when asked for (streaming), from the
    event arrays prepared once.
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
    n_cells = max(len(hist.out_pos), 1)
    step = max(min(int(params.chunk_origins), int(params.max_chunk_rows) // n_cells), 1)
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
    row_filter: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Cell x origin features and labels: one row per (origin, cell) for every cell in ``cells``.

    ``events``: ``occurred_at`` (UTC), ``cell_x``, ``cell_y``, ``category_group`` and
    optionally ``reported_at``. ``cells``: ``cell_x``, ``cell_y`` (+ optional
    ``population``). ``origins``: local midnights as UTC timestamps. Columns: keys
    ``origin``, ``cell_x``, ``cell_y``; features (see ``features.catalog``);
    labels ``label_count`` and ``label_any`` over ``[origin, origin + horizon_days)``.
    Rows are sorted by origin then cell. ``row_filter``: applied to each chunk of origins
    as it is built (training's negative subsampling), so the whole table is never held.
    """
    params = params or CellFeatureParams()
    chunks = iter_cell_feature_chunks(events, cells, origins, params)
    if row_filter is not None:
        return stack_chunks(map(row_filter, chunks))
    n_rows = len(set(pd.DatetimeIndex(origins))) * len(
        cells[CELL_KEYS].astype("int64").drop_duplicates()
    )
    return stack_chunks(chunks, n_rows)


def stack_chunks(chunks: Iterable[pd.DataFrame], n_rows: int = 0) -> pd.DataFrame:
    """``pd.concat(list(chunks), ignore_index=True)`` without holding every chunk beside
    the result: each chunk's columns are copied into arrays of ``n_rows`` (the expected
    total; grown if it is short) and the chunk is dropped, so the peak is about the result
    plus one chunk instead of twice the result (the city's ``train incidents`` spent
    2.7 GB here). The values, dtypes and column order are those of the concatenation;
    chunks whose columns or dtypes differ fall back to it."""
    it = iter(chunks)
    first = next(it, None)
    if first is None:
        return pd.concat([], ignore_index=True)  # raises like the concatenation would
    columns = list(first.columns)
    dtypes = list(first.dtypes)
    if not all(_plain(first[c]) for c in columns) or len(set(columns)) != len(columns):
        return pd.concat([first, *it], ignore_index=True)
    n = len(first)
    bufs = []
    for c in columns:
        a = _values(first[c])
        b = np.empty(max(n_rows, n), dtype=a.dtype)
        b[:n] = a
        bufs.append(b)
    del first
    done: list[pd.DataFrame] = []
    for chunk in it:
        if list(chunk.columns) != columns or list(chunk.dtypes) != dtypes:
            done = [_frame_of(columns, dtypes, [b[:n] for b in bufs]), chunk, *it]
            return pd.concat(done, ignore_index=True)
        m = len(chunk)
        if n + m > len(bufs[0]):
            cap = max(n + m, 2 * len(bufs[0]))
            grown = []
            for b in bufs:
                g = np.empty(cap, dtype=b.dtype)
                g[:n] = b[:n]
                grown.append(g)
            bufs = grown
        for b, c in zip(bufs, columns, strict=True):
            b[n : n + m] = _values(chunk[c])
        n += m
        del chunk
    return _frame_of(columns, dtypes, [b[:n] if len(b) == n else b[:n].copy() for b in bufs])


def _values(col: pd.Series) -> np.ndarray:
    """The column's numpy values (tz-aware datetimes: naive UTC of the same unit)."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.to_numpy(dtype=f"datetime64[{col.dtype.unit}]")
    return col.to_numpy()


def _plain(col: pd.Series) -> bool:
    """A column held as one numpy array (numbers, bools, tz-aware datetimes)."""
    return isinstance(col.dtype, np.dtype | pd.DatetimeTZDtype)


def _frame_of(columns: list[str], dtypes: list, arrays: list[np.ndarray]) -> pd.DataFrame:
    out = {}
    for c, dt, a in zip(columns, dtypes, arrays, strict=True):
        if isinstance(dt, pd.DatetimeTZDtype):
            out[c] = pd.Series(pd.DatetimeIndex(a).tz_localize("UTC").tz_convert(dt.tz))
        else:
            out[c] = pd.Series(a, dtype=dt, copy=False)
    return pd.DataFrame(out, copy=False)


def build_cell_labels(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    horizon_days: int,
    tz: str = "Asia/Shanghai",
    labels_known_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Labels only: ``label_count`` and ``label_any`` of events in [origin, origin + horizon_days),
    each corrected record in its version valid at ``labels_known_at`` (None: the current
    version). The label rule of :func:`build_cell_features` (the same pass)."""
    params = CellFeatureParams(
        labels_known_at=labels_known_at,
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
