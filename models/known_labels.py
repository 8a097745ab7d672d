"""Labels a refit may learn from: only the events known before its cut-off.

A training row's label counts the events that *occurred* in its window
(``[origin, window end)``), but a refit at cut-off ``C`` (a backtest's refit origin, the
final model's ``trained_through``) uses a row as soon as its window ended, ``end <= C``;
an event of that window reported at or after ``C`` was not known then. So a refit's
rows count only the events known before ``C`` (known = the later of occurrence and
report, :func:`features.cells.known_times`, the project's one rule), as the Hong Kong
nowcast's ``daily_counts(known_before=...)`` already did.

Only events known at or after their row's window end can ever be left out (a refit uses a
row only once its window ended), and they are few: :func:`late_label_events` lists them
once per (row, event) with their known time, and :func:`labels_known_by` takes them out of
a refit's rows. A frame's label columns stay the occurrence counts (what happened: the
evaluation's truth).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.cells import known_times

KNOWN_AT = "known_at"
GONE_AT = "gone_at"


def late_label_events(
    events: pd.DataFrame,
    entity: Sequence[str],
    origins: pd.DatetimeIndex,
    window_end: pd.DatetimeIndex,
    time_col: str = "occurred_at",
    until: str | None = None,
) -> pd.DataFrame:
    """One row per (label row, event) whose event is known at or after the row's window
    end: ``origin``, the ``entity`` columns (``cell_x, cell_y``; ``site_id``) and
    ``known_at`` (UTC).

    ``until``: a column of ``events`` (``known_to``: superseded versions of corrected
    records, not in the rows' labels, which count the current versions): then one row per
    (label row, version) whose version is still valid at or after the row's window end
    (``until`` not before it), with ``gone_at`` (its ``until``) beside ``known_at``: a
    refit whose cut-off is in ``(known_at, gone_at]`` counts it
    (:func:`labels_known_by`).

    ``events``: ``time_col``, optional ``reported_at`` and the ``entity`` columns (one row
    per event and entity it labels). ``origins``: the label rows' origins (UTC), and
    ``window_end`` their window ends, in the same order; an event labels the row of origin
    ``o`` when ``o <= time < end(o)``, the labels' own rule.
    """
    empty = {
        "origin": pd.Series(dtype="datetime64[ns, UTC]"),
        **{c: events[c].iloc[:0] if c in events else pd.Series(dtype=object) for c in entity},
        KNOWN_AT: pd.Series(dtype="datetime64[ns, UTC]"),
    }
    if events.empty or len(origins) == 0:
        return pd.DataFrame(empty)
    occurred = pd.Series(pd.to_datetime(events[time_col], utc=True), index=events.index)
    known = known_times(events, time_col)
    if until is None:
        stop = known
        late = (known > occurred).to_numpy() & occurred.notna().to_numpy()
    else:
        stop = pd.Series(pd.to_datetime(events[until], utc=True), index=events.index)
        late = stop.notna().to_numpy() & occurred.notna().to_numpy()
    if not late.any():
        return pd.DataFrame(empty)
    order = np.argsort(pd.DatetimeIndex(origins).as_unit("ns").asi8, kind="stable")
    o = pd.DatetimeIndex(origins).as_unit("ns").asi8[order]
    e = pd.DatetimeIndex(window_end).as_unit("ns").asi8[order]
    if not (np.diff(e) >= 0).all():
        raise ValueError("window ends must increase with the origins")
    t = pd.DatetimeIndex(occurred[late]).as_unit("ns").asi8
    k = pd.DatetimeIndex(known[late]).as_unit("ns").asi8
    g = pd.DatetimeIndex(stop[late]).as_unit("ns").asi8
    lo = np.searchsorted(e, t, side="right")  # first origin whose window ends after t
    hi = np.searchsorted(o, t, side="right")  # origins at or before t
    reps = np.maximum(hi - lo, 0)
    rec = np.repeat(np.arange(len(t)), reps)
    pos = np.repeat(lo, reps) + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))
    keep = g[rec] >= e[pos]
    rec, pos = rec[keep], pos[keep]
    rows = events.loc[late, list(entity)].iloc[rec].reset_index(drop=True)
    rows.insert(0, "origin", pd.DatetimeIndex(o[pos], tz="UTC").as_unit("ns"))
    rows[KNOWN_AT] = pd.DatetimeIndex(k[rec], tz="UTC").as_unit("ns")
    if until is not None:
        rows[GONE_AT] = pd.DatetimeIndex(g[rec], tz="UTC").as_unit("ns")
    return rows


def labels_known_by(
    rows: pd.DataFrame,
    late: pd.DataFrame | None,
    cut: pd.Timestamp,
    keys: Sequence[str],
    count: str = "label_count",
    flag: str = "label_any",
) -> pd.DataFrame:
    """``rows`` with ``count`` (and ``flag``, ``count > 0``) counting the events as known
    at ``cut``: the ``late`` events (:func:`late_label_events`) known at or after it are
    taken out, and the superseded versions in it (a ``gone_at``) valid at it (known
    before it, ``gone_at`` not before it) are put back. ``rows`` itself when none of them
    is (no copy); otherwise only the two label columns are new."""
    if late is None or late.empty or rows.empty:
        return rows
    if GONE_AT in late.columns:
        gone = late[GONE_AT]
        unknown = late.loc[gone.isna() & (late[KNOWN_AT] >= cut), list(keys)]
        back = late.loc[gone.notna() & (late[KNOWN_AT] < cut) & (gone >= cut), list(keys)]
        delta = pd.concat([unknown.assign(_unknown=1), back.assign(_unknown=-1)])
    else:
        delta = late.loc[late[KNOWN_AT] >= cut, list(keys)].assign(_unknown=1)
    if delta.empty:
        return rows
    n = delta.groupby(list(keys), sort=False)["_unknown"].sum().reset_index()
    near = rows["origin"].isin(n["origin"]).to_numpy()
    if not near.any():
        return rows
    sub = rows.loc[near, list(keys)]
    n = n.astype({k: sub[k].dtype for k in keys})
    minus_near = sub.merge(n, on=list(keys), how="left")["_unknown"].fillna(0).to_numpy()
    if not minus_near.any():
        return rows
    minus = np.zeros(len(rows), dtype=np.int64)
    minus[near] = minus_near.astype(np.int64)
    old = rows[count].to_numpy()
    new = old - minus
    if (new < 0).any():
        raise ValueError("more late events than counted labels: the late table is not these rows'")
    if not (new != old).any():
        return rows
    cols = {count: new.astype(old.dtype)}
    if flag in rows:
        cols[flag] = (new > 0).astype(rows[flag].dtype)
    return rows.assign(**cols)
