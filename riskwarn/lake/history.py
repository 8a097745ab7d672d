"""A record's history from the table's versions (Delta change data feed, time travel).

Every commit that inserted, corrected or moved a record left its before and after images
in the change data feed; :func:`record_history` reads them for one record id, with the
commit's version, time and batch. Versions are kept ``Settings.lake_history_days``
(table properties ``delta.logRetentionDuration`` / ``deletedFileRetentionDuration``,
vacuum retention): older changes are gone after maintenance. Rows superseded before the
lake moved to Delta (``riskwarn lake migrate``) are read from ``_legacy_history``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from riskwarn.contracts import TABLES, conform
from riskwarn.lake import layout
from riskwarn.lake.layout import AS_OF_KEY, BATCH_KEY
from riskwarn.lake.read import delta_table, read_table

CHANGE_COLUMNS = ["version", "committed_at", "change", "batch_id"]
_CHANGE_NAMES = {
    "insert": "insert",
    "update_preimage": "before",
    "update_postimage": "after",
    "delete": "delete",
}


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _commits(dt: Any) -> dict[int, dict[str, Any]]:
    return {int(c["version"]): c for c in dt.history()}


def _first_kept_version(dt: Any, commits: dict[int, dict[str, Any]]) -> int:
    """The oldest version still within the table's retention (its files are kept)."""
    text = dt.metadata().configuration.get("delta.deletedFileRetentionDuration", "")
    match = re.fullmatch(r"interval (\d+) days?", text.strip())
    if not match:
        return min(commits)
    cutoff_ms = (time.time() - int(match.group(1)) * 86400) * 1000
    kept = [v for v, c in commits.items() if int(c.get("timestamp", 0)) >= cutoff_ms]
    return min(kept) if kept else max(commits)


def record_history(
    lake_dir: Path, table: str, record_id: str, source: str | None = None
) -> pd.DataFrame:
    """Every version of one record: columns ``version, committed_at, change`` (insert /
    before / after / delete / legacy), ``batch_id`` and the table's columns, oldest first.

    ``before``/``after`` pairs are corrections (an after with another event time moved
    the record to another partition); ``legacy`` rows were superseded before the lake
    was converted to Delta (version -1)."""
    tbl = TABLES[table]
    frames = [_legacy(lake_dir, table, record_id, source)]
    dt = delta_table(lake_dir, table)
    if dt is not None:
        commits = _commits(dt)
        predicate = f"record_id = {_sql_text(record_id)}"
        if source:
            predicate += f" AND source = {_sql_text(source)}"
        try:
            reader = dt.load_cdf(
                starting_version=_first_kept_version(dt, commits), predicate=predicate
            )
            changes = pa.table(reader.read_all()).to_pandas()
        except Exception as exc:  # deltalake raises its own error types
            raise layout.LakeError(
                f"cannot read the history of {table}: {layout.describe_os_error(exc)}"
            ) from exc
        if len(changes):
            versions = changes["_commit_version"].astype(int)
            changes["version"] = versions
            changes["committed_at"] = pd.to_datetime(changes["_commit_timestamp"], utc=True)
            changes["change"] = changes["_change_type"].map(_CHANGE_NAMES)
            changes["batch_id"] = [
                (commits.get(v, {}).get(BATCH_KEY) or "") for v in versions.tolist()
            ]
            frames.append(changes)
    out = (
        pd.concat([f for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else None
    )
    if out is None:
        empty = conform(pd.DataFrame(columns=tbl.columns), tbl)
        return pd.concat([pd.DataFrame(columns=CHANGE_COLUMNS), empty], axis=1)
    rows = conform(out.reindex(columns=tbl.columns), tbl)
    meta = out[CHANGE_COLUMNS].reset_index(drop=True)
    order = {"legacy": 0, "delete": 1, "before": 2, "insert": 3, "after": 4}
    result = pd.concat([meta, rows.reset_index(drop=True)], axis=1)
    result["_o"] = result["change"].map(order)
    return (
        result.sort_values(["version", "_o"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


VERSION_COLUMNS = ("known_from", "known_to")


def _known_at(commit: dict[str, Any]) -> pd.Timestamp:
    """When a commit's changes became known: its ingest's ``as_of`` (commit metadata
    :data:`~riskwarn.lake.write.AS_OF_KEY`), else the commit's own time (a commit made
    before the key existed: its corrections were surely known by then)."""
    text = commit.get(AS_OF_KEY)
    if text:
        return pd.Timestamp(text).tz_convert("UTC")
    return pd.Timestamp(int(commit.get("timestamp", 0)), unit="ms", tz="UTC")


def read_versions(
    lake_dir: Path,
    table: str,
    sources: list[str] | None = None,
    *,
    end: pd.Timestamp | None = None,
    version: int | None = None,
) -> pd.DataFrame:
    """The table as :func:`~riskwarn.lake.read.read_table` reads it, plus every earlier
    version of its corrected records, each with the knowledge-time interval in which it
    was the record's version: ``known_from`` (None: from the record's usual known time,
    ``max(occurred_at, reported_at)``) and ``known_to`` (None: still current).

    A correction's version is known from its ingest's ``as_of`` and supersedes the one
    before it from then on. Only the commits that corrected rows are read from the change
    data feed (their ``update_preimage`` images), so the cost follows the corrections,
    not the lake. Without a correction (within the table's kept history) the frame is
    ``read_table``'s, without the two columns. Superseded images older than the kept
    history (``Settings.lake_history_days``) or from before the Delta migration are not
    read: such records are only seen as they are now."""
    latest = read_table(lake_dir, table, sources=sources, end=end, version=version)
    dt = delta_table(lake_dir, table, version)
    if dt is None:
        return latest
    current = int(dt.version())
    commits = {v: c for v, c in _commits(dt).items() if v <= current}
    first = _first_kept_version(dt, commits) if commits else 0
    fixing = sorted(
        v
        for v, c in commits.items()
        if v >= first
        and int((c.get("operationMetrics") or {}).get("num_target_rows_updated", 0) or 0) > 0
    )
    images = []
    for v in fixing:
        predicate = "_change_type = 'update_preimage'"
        if sources:
            predicate += " AND source IN (" + ", ".join(_sql_text(x) for x in sources) + ")"
        try:
            reader = dt.load_cdf(starting_version=v, ending_version=v, predicate=predicate)
            got = pa.table(reader.read_all()).to_pandas()
        except Exception as exc:  # deltalake raises its own error types
            raise layout.LakeError(
                f"cannot read the corrections of {table}: {layout.describe_os_error(exc)}"
            ) from exc
        if len(got):
            got["_known"] = _known_at(commits[v])
            got["_v"] = v
            images.append(got)
    if not images:
        return latest
    tbl = TABLES[table]
    old = pd.concat(images, ignore_index=True).sort_values(["_v"], kind="stable")
    # each image was valid until its commit's time; from the one before (if any) on
    key = ["source", "record_id"]
    # an ingest with an earlier as_of than the one before it (an older extract re-sent)
    # cannot make a version known before its predecessor: times never go back per record
    old["_known"] = old.groupby(key, sort=False)["_known"].cummax()
    old["known_to"] = old["_known"]
    old["known_from"] = old.groupby(key, sort=False)["_known"].shift(1)
    last = old.groupby(key, sort=False)["_known"].max().rename("_last").reset_index()
    if end is not None and tbl.time_column:
        old = old.loc[pd.to_datetime(old[tbl.time_column], utc=True) < pd.Timestamp(end)]
    now = latest.merge(last, on=key, how="left")["_last"].to_numpy()
    out_old = conform(old.reindex(columns=tbl.columns), tbl)
    stamp = "datetime64[ns, UTC]"
    for c in VERSION_COLUMNS:
        out_old[c] = pd.Series(
            pd.to_datetime(old[c].to_numpy(), utc=True), index=out_old.index
        ).astype(stamp)
    cur = latest.copy()
    cur["known_from"] = pd.Series(pd.to_datetime(now, utc=True), index=cur.index).astype(stamp)
    cur["known_to"] = pd.Series(pd.NaT, index=cur.index, dtype=stamp)
    return pd.concat([cur, out_old.reset_index(drop=True)], ignore_index=True)


def read_known(
    lake_dir: Path,
    table: str,
    before: pd.Timestamp | None = None,
    sources: Sequence[str] | None = None,
    *,
    version: int | None = None,
) -> pd.DataFrame:
    """What a model may be given of ``table`` for forecast origins up to ``before``: the
    rows of ``sources`` (None: all) whose event time is before ``before`` (None, or a table
    without an event time: every row), with the earlier versions of corrected records and
    each version's knowledge interval (:func:`read_versions`); ``version``: as of that
    table version. The frame builders take, at each origin, the version known then
    (``known_from`` before it, ``known_to`` not: :func:`features.cells.versions_at`).

    The one read of training (:mod:`riskwarn.pipeline`, the engine's ``EventSource``) and
    serving (:mod:`riskwarn.serving_frames`): a backfill at a past origin sees what was
    known at that origin, never a correction made after it, and a model trained on some
    sources is served on those sources alone."""
    end = before if TABLES[table].time_column else None
    return read_versions(
        lake_dir, table, sources=list(sources) if sources else None, end=end, version=version
    )


def _legacy(lake_dir: Path, table: str, record_id: str, source: str | None) -> pd.DataFrame:
    """Rows superseded in the old Parquet lake, carried over by the migration."""
    from deltalake import DeltaTable

    path = layout.table_dir(lake_dir, layout.LEGACY_HISTORY) / table
    if not layout.is_delta(path):
        return pd.DataFrame()
    import pyarrow.compute as pc

    flt = pc.field("record_id") == record_id
    if source:
        flt = flt & (pc.field("source") == source)
    got = DeltaTable(str(path)).to_pyarrow_dataset().to_table(filter=flt).to_pandas()
    if got.empty:
        return got
    got["version"] = -1
    got["committed_at"] = pd.NaT
    got["change"] = "legacy"
    got["batch_id"] = got.pop("superseded_by_batch")
    return got


def oldest_logged_version(lake_dir: Path, name: str) -> int | None:
    """The oldest version of table ``name`` whose commit entry its Delta log still holds
    (lake maintenance removes the entries older than ``lake_history_days`` once a later
    checkpoint holds the state): :func:`run_commits` cannot see a commit before it. None:
    no table, or no commit entry left."""
    log_dir = layout.table_dir(lake_dir, name) / "_delta_log"
    if not log_dir.is_dir():
        return None
    found = [int(p.name[:20]) for p in log_dir.iterdir() if re.match(r"^\d{20}\.json$", p.name)]
    return min(found) if found else None


def run_commits(
    lake_dir: Path, name: str, after_version: int | None, run_id: str
) -> list[dict[str, Any]]:
    """The commits of table ``name`` made by ingest run ``run_id`` (commit metadata
    :data:`~riskwarn.lake.write.RUN_KEY`) after ``after_version`` (None: from the first),
    oldest first, each ``{"version", "operation", "inserted", "updated", "deleted",
    "planned", "rows"}``: rows inserted / updated / deleted by it (from the commit's
    operation metrics), and how many commits and rows (new + updated) the run planned on
    this table (None on the quarantine).
    Only the log entries after ``after_version`` are read."""
    from riskwarn.lake.layout import PLAN_KEY, ROWS_KEY, RUN_KEY

    dt = delta_table(lake_dir, name)
    if dt is None:
        return []
    start = -1 if after_version is None else int(after_version)
    count = int(dt.version()) - start
    if count <= 0:
        return []
    found = []
    for c in dt.history(count):
        if c.get(RUN_KEY) != run_id or int(c["version"]) <= start:
            continue
        m = c.get("operationMetrics") or {}
        planned, rows = c.get(PLAN_KEY), c.get(ROWS_KEY)
        found.append(
            {
                "version": int(c["version"]),
                "operation": str(c.get("operation", "")),
                "inserted": int(m.get("num_target_rows_inserted", m.get("num_added_rows", 0))),
                "updated": int(m.get("num_target_rows_updated", 0)),
                "deleted": int(m.get("num_target_rows_deleted", m.get("num_deleted_rows", 0))),
                "planned": None if planned is None else int(planned),
                "rows": None if rows is None else int(rows),
            }
        )
    return sorted(found, key=lambda c: c["version"])
