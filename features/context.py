"""Other sources as leading indicators of incidents: recent activity per cell and ring.

The hotspot model's inputs come from the forecast source's own history. This module adds
the activity of *other* sources near each cell before the origin (issue 17.3):

* disputes (:func:`dispute_context_points`): new registrations (``dispute_new``), failed
  mediations (``dispute_failed``), escalations (``dispute_escalated``) and new disputes
  with a repeat party (``dispute_repeat``: a party already in an earlier dispute, matched
  through the keyed pseudonyms ``party_ids`` only; nothing personal is read);
* calls for service of another kind (:func:`call_context_points`), e.g. Portland's
  dispute-like calls (disturbance, noise, unwanted person, civil problem, threat) as a
  leading indicator of the other calls;
* incidents, as a leading indicator of dispute escalation (same points, ``incident_*``).

For each kind and window ``w`` (days): ``ctx_<kind>_<w>d`` = points in the cell whose local
*availability day* (the day the point became known: :func:`features.cells.
known_times`) lies in ``[origin day - w, origin day)``, and ``ctx_<kind>_<w>d_ring`` = the
same over the 8 neighbouring cells. Origins are local midnights, so a point of the origin's
own day or later never counts (leakage-free; tests/test_features_leakage.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.cells import known_times

KEYS = ["origin", "cell_x", "cell_y"]
DISPUTE_KINDS = ("dispute_new", "dispute_failed", "dispute_escalated", "dispute_repeat")
ESCALATIONS = ("escalated_petition", "escalated_violence", "escalated_litigation")


@dataclass(frozen=True)
class ContextParams:
    """Windows (days) and the local time zone of the origins."""

    tz: str
    windows_days: tuple[int, ...] = (7, 28)


def _points(kind: str, at: pd.Series, cell_x: pd.Series, cell_y: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "kind": kind,
            "known_at": pd.to_datetime(at, utc=True).to_numpy(),
            "cell_x": pd.to_numeric(cell_x, errors="coerce").to_numpy(float),
            "cell_y": pd.to_numeric(cell_y, errors="coerce").to_numpy(float),
        }
    )
    out["known_at"] = pd.to_datetime(out["known_at"], utc=True)
    return out.dropna(subset=["known_at", "cell_x", "cell_y"]).reset_index(drop=True)


def repeat_party(disputes: pd.DataFrame) -> np.ndarray:
    """Per dispute: does one of its parties (``party_ids`` pseudonyms) appear in a dispute
    opened earlier? Ties in ``opened_at`` are broken by ``record_id``."""
    if "party_ids" not in disputes.columns or disputes.empty:
        return np.zeros(len(disputes), dtype=bool)
    d = pd.DataFrame(
        {
            "row": np.arange(len(disputes)),
            "opened": pd.to_datetime(disputes["opened_at"], utc=True).to_numpy(),
            "rid": disputes["record_id"].astype(str).to_numpy(),
            "party": disputes["party_ids"].astype("string").fillna("").str.split(";").to_numpy(),
        }
    ).explode("party")
    d = d[d["party"].notna() & (d["party"] != "")]
    d = d.sort_values(["opened", "rid"], kind="stable")
    d["seen"] = d.groupby("party").cumcount() > 0
    out = np.zeros(len(disputes), dtype=bool)
    rows = d.loc[d["seen"], "row"].to_numpy(dtype=np.int64)
    out[rows] = True
    return out


def dispute_context_points(disputes: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Context points of the dispute register (``kind, known_at, cell_x, cell_y``).

    ``disputes``: ``record_id``, ``opened_at``, ``cell_x``, ``cell_y``, optional
    ``party_ids``; ``events``: ``dispute_id``, ``event_at``, ``event_type``. A case event is
    placed at its dispute's cell.
    """
    parts = [_points("dispute_new", disputes["opened_at"], disputes["cell_x"], disputes["cell_y"])]
    rep = repeat_party(disputes)
    parts.append(
        _points(
            "dispute_repeat",
            disputes["opened_at"][rep],
            disputes["cell_x"][rep],
            disputes["cell_y"][rep],
        )
    )
    where = disputes.set_index(disputes["record_id"].astype(str))[["cell_x", "cell_y"]]
    ev = events.assign(dispute_id=events["dispute_id"].astype(str)).join(where, on="dispute_id")
    for kind, types in (
        ("dispute_failed", ("mediation_failed",)),
        ("dispute_escalated", ESCALATIONS),
    ):
        sel = ev[ev["event_type"].isin(types)]
        parts.append(_points(kind, sel["event_at"], sel["cell_x"], sel["cell_y"]))
    return pd.concat(parts, ignore_index=True)


def call_context_points(calls: pd.DataFrame, kind: str = "calls_dispute") -> pd.DataFrame:
    """Context points of calls for service (or incidents) with ``cell_x``/``cell_y``: placed
    when known (the later of ``occurred_at`` and ``reported_at``)."""
    return _points(kind, known_times(calls), calls["cell_x"], calls["cell_y"])


def _local_day(ts: pd.Series | pd.DatetimeIndex, tz: str) -> np.ndarray:
    idx = pd.DatetimeIndex(ts)
    return (
        idx.tz_convert(tz)
        .tz_localize(None)
        .normalize()
        .to_numpy()
        .astype("datetime64[D]")
        .astype(np.int64)
    )


def _cell_index(cells: pd.DataFrame, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Position of (cx, cy) in ``cells`` (-1 where absent)."""
    key = (cells["cell_x"].to_numpy(np.int64) << 32) + cells["cell_y"].to_numpy(np.int64)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    q = (cx.astype(np.int64) << 32) + cy.astype(np.int64)
    if len(sk) == 0:
        return np.full(len(q), -1, dtype=np.int64)
    pos = np.searchsorted(sk, q).clip(0, len(sk) - 1)
    return np.where(sk[pos] == q, order[pos], -1)


def _prefix_counts(day: np.ndarray, idx: np.ndarray, query: np.ndarray, n: int) -> np.ndarray:
    """``len(query) x n``: points with ``day < q`` per target index."""
    order = np.argsort(day, kind="stable")
    day, idx = day[order], idx[order]
    q_sorted = np.unique(query)
    ends = np.searchsorted(day, q_sorted, side="left")
    out = np.zeros((len(q_sorted), n), dtype=np.float64)
    acc = np.zeros(n, dtype=np.float64)
    prev = 0
    for i, end in enumerate(ends):
        if end > prev:
            acc += np.bincount(idx[prev:end], minlength=n)
            prev = end
        out[i] = acc
    return out[np.searchsorted(q_sorted, query)]


def context_feature_names(kinds: Sequence[str], params: ContextParams) -> list[str]:
    """Column names for ``kinds`` (cell and ring for each window)."""
    return [
        f"ctx_{k}_{w}d{ring}" for k in kinds for w in params.windows_days for ring in ("", "_ring")
    ]


def build_context_features(
    points: pd.DataFrame,
    cells: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
    params: ContextParams,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per origin x cell (``KEYS``) with ``ctx_*`` columns for every kind.

    ``points``: ``kind, known_at, cell_x, cell_y`` (the ``*_context_points`` functions);
    ``kinds`` fixes the columns (default: the kinds present), so training and scoring see
    the same ones even when a kind has no point.
    """
    origins_idx = pd.DatetimeIndex(origins)
    kinds = list(kinds) if kinds is not None else sorted(points["kind"].unique())
    n = len(cells)
    o_day = _local_day(origins_idx, params.tz)
    out = pd.DataFrame(
        {
            "origin": np.repeat(origins_idx, n),
            "cell_x": np.tile(cells["cell_x"].to_numpy(np.int64), len(o_day)),
            "cell_y": np.tile(cells["cell_y"].to_numpy(np.int64), len(o_day)),
        }
    )
    cols: dict[str, np.ndarray] = {}
    for kind in kinds:
        p = points[points["kind"] == kind]
        day = _local_day(p["known_at"], params.tz) if len(p) else np.zeros(0, np.int64)
        cx = p["cell_x"].to_numpy(np.int64)
        cy = p["cell_y"].to_numpy(np.int64)
        for ring in (False, True):
            shifts = [
                (dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if ((dx, dy) != (0, 0)) == ring
            ]
            d_all = np.concatenate([day] * len(shifts))
            idx = np.concatenate([_cell_index(cells, cx + dx, cy + dy) for dx, dy in shifts])
            keep = idx >= 0
            cum = lambda q, d=d_all[keep], i=idx[keep]: _prefix_counts(d, i, q, n)  # noqa: E731
            at_origin = cum(o_day)
            for w in params.windows_days:
                name = f"ctx_{kind}_{w}d" + ("_ring" if ring else "")
                cols[name] = (at_origin - cum(o_day - w)).astype(np.float32).ravel()
    for k, v in cols.items():
        out[k] = v
    return out


def join_context(
    frame: pd.DataFrame,
    points: pd.DataFrame | None,
    params: ContextParams,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``frame`` (``KEYS`` rows) with the context columns joined (zeros where none)."""
    if points is None:
        return frame
    cells = frame[["cell_x", "cell_y"]].drop_duplicates().reset_index(drop=True)
    origins = pd.DatetimeIndex(frame["origin"].unique()).sort_values()
    ctx = build_context_features(points, cells, origins, params, kinds)
    ctx["origin"] = ctx["origin"].astype(frame["origin"].dtype)
    return frame.merge(ctx, on=KEYS, how="left", validate="one_to_one")


def join_case_context(
    table: pd.DataFrame,
    points: pd.DataFrame | None,
    params: ContextParams,
    kinds: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A dispute case table (``origin``, ``dispute_id``, ``cell_x``, ``cell_y``: several
    cases may share a cell) with the context columns of its case's cell and ring joined;
    zeros for a case without a cell. Same counting rule as :func:`build_context_features`
    (points known before the origin's local day only): e.g. incidents near an open dispute
    as a leading indicator of its escalation (issue 17.3)."""
    if points is None:
        return table
    located = table.dropna(subset=["cell_x", "cell_y"])
    cells = located[["cell_x", "cell_y"]].astype("int64").drop_duplicates().reset_index(drop=True)
    origins = pd.DatetimeIndex(table["origin"].unique()).sort_values()
    ctx = build_context_features(points, cells, origins, params, kinds)
    ctx["origin"] = ctx["origin"].astype(table["origin"].dtype)
    names = [c for c in ctx.columns if c not in KEYS]
    keyed = table.assign(
        cell_x=table["cell_x"].astype("Int64"), cell_y=table["cell_y"].astype("Int64")
    )
    ctx = ctx.assign(cell_x=ctx["cell_x"].astype("Int64"), cell_y=ctx["cell_y"].astype("Int64"))
    out = keyed.merge(ctx, on=KEYS, how="left", validate="many_to_one")
    out[names] = out[names].fillna(0.0).astype(np.float32)
    out["cell_x"], out["cell_y"] = table["cell_x"].to_numpy(), table["cell_y"].to_numpy()
    return out
