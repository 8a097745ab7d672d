"""Writing the lake: upsert by ``(source, record_id)`` with Delta MERGE, quarantine upsert.

Every write holds the table's writer lock (:func:`layout.writer_lock`) and ends in one
Delta commit, so concurrent ingests of a table are serialised and a killed writer leaves
the table at its previous version. A correction is a MERGE update: the table's versions
and its change data feed keep the record as it was (``riskwarn lake history``).

The MERGE only looks at the partitions an incoming id can live in:

* a source whose record id contains its event time (``ids_carry_time``: the mapping's id
  columns include the time column's source column, e.g. readings keyed by device, time
  and quantity) can only hold an id in the partition of its time (and the same year's
  partition of the other grain, if the mapping's grain changed);
* otherwise, partitions with a file whose ``record_id`` min/max statistics (in the Delta
  log: no data is read) may contain one of the ids.

So an ingest's cost follows its batch, not the lake. When none of those partitions holds
a file, the batch cannot match anything and is appended (the same commit a MERGE with no
match would make, without the join).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskwarn.contracts import TABLES, Table
from riskwarn.lake import layout

# the commit metadata keys live in layout (history reads them without importing this)
from riskwarn.lake.layout import (
    AS_OF_KEY,
    BATCH_KEY,
    EXTRACTED_KEY,
    PLAN_KEY,
    ROWS_KEY,
    RUN_KEY,
)

log = logging.getLogger(__name__)

# the quarantine reasons of the rows an upsert refuses (docs/ingestion.md, "An older
# version sent again"): a row equal to a version of its record a later commit superseded,
# and a row of an export made before the newest export that carried the record
REVERT_REASON = "reverts_correction"
OLDER_REASON = "older_extract"


def writer_properties() -> Any:
    """Parquet writer options of every lake file: zstd level 3; no dictionary for
    ``record_id`` (unique per row: the writer would build a dictionary only to give it
    up; without, a city readings month is written in about half the CPU time, and the
    file is no larger), nor for :data:`NO_DICTIONARY` (nearly all distinct in the city's
    extracts: a city incidents year is written in about 15% less CPU time and its
    files are 7% smaller). Only the encoding in the files differs, not a value."""
    from deltalake import ColumnProperties, WriterProperties

    return WriterProperties(
        compression="ZSTD",
        compression_level=3,
        column_properties={
            c: ColumnProperties(dictionary_enabled=False) for c in ("record_id", *NO_DICTIONARY)
        },
    )


# coordinates and event times to the minute: nearly every value distinct in a file
NO_DICTIONARY = ("lon", "lat", "occurred_at", "reported_at", "opened_at")


def table_config(history_days: int) -> dict[str, str]:
    """Delta table properties: change data feed on, versions kept ``history_days`` days."""
    return {
        "delta.enableChangeDataFeed": "true",
        "delta.logRetentionDuration": f"interval {int(history_days)} days",
        "delta.deletedFileRetentionDuration": f"interval {int(history_days)} days",
    }


DEFAULT_HISTORY_DAYS = 365


def quarantine_config(history_days: int) -> dict[str, str]:
    """:func:`table_config` of the quarantine, whose log keeps no statistics of its
    ``original`` and ``message`` (:data:`~riskwarn.lake.layout.QUARANTINE_STATS_COLUMNS`):
    a Delta log keeps each file's min/max values as long as the log, and these texts may
    hold a name typed into a column (riskwarn.lake.aging)."""
    return {
        **table_config(history_days),
        "delta.dataSkippingStatsColumns": ",".join(layout.QUARANTINE_STATS_COLUMNS),
    }


def ensure_quarantine_schema(dt: Any, history_days: int) -> Any:
    """The quarantine ``dt`` with the columns and properties of this version (a table
    created before 2026-12-08 lacks ``quarantined_at`` and ``aged_at``, null in its rows,
    and kept the statistics of its originals); the same table when it has them. Under the
    quarantine's writer lock."""
    from deltalake import DeltaTable
    from deltalake.schema import Field, PrimitiveType

    have = {f.name for f in dt.schema().fields}
    missing = [n for n in ("quarantined_at", "aged_at") if n not in have]
    stats = "delta.dataSkippingStatsColumns"
    wanted = quarantine_config(history_days)[stats]
    if not missing and dt.metadata().configuration.get(stats) == wanted:
        return dt
    if missing:
        dt.alter.add_columns([Field(n, PrimitiveType("timestamp"), nullable=True) for n in missing])
    dt = DeltaTable(dt.table_uri)
    if dt.metadata().configuration.get(stats) != wanted:
        dt.alter.set_table_properties({stats: wanted})
    return DeltaTable(dt.table_uri)


def to_arrow_batch(frame: pd.DataFrame, table: Table, grain: str) -> pa.Table:
    """Canonical rows as an Arrow table of the Delta schema, with the partition columns."""
    schema = layout.delta_schema(table)
    cols: dict[str, pa.Array] = {}
    for f in table.fields:
        values = frame[f.name] if f.name in frame.columns else pd.Series(None, index=frame.index)
        # Arrow-backed columns stay in their chunks (one per read chunk): combining them
        # would copy every string once more before the writer copies them anyway
        arr = pa.array(values, from_pandas=True)
        target = schema.field(f.name).type
        if pa.types.is_timestamp(target) and pa.types.is_timestamp(arr.type):
            arr = arr.cast(target, safe=False)  # ns -> us (Delta's timestamp)
        elif arr.type != target:
            arr = arr.cast(target)
        cols[f.name] = arr
    if table.time_column:
        t = cols[table.time_column]
        cols["year"] = pc.year(t).cast(pa.int32())
        month = pc.month(t).cast(pa.int32())
        cols["month"] = month if grain == "month" else pa.array(np.zeros(len(t), np.int32))
    return pa.table(cols, schema=schema)


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _partition_filter(alias: str, parts: list[tuple[int, int]]) -> str:
    """``(a.year = Y AND a.month IN (...)) OR ...`` for (year, month) pairs (no ``a.``
    for an empty ``alias``)."""
    by_year: dict[int, list[int]] = {}
    for y, m in sorted(parts):
        by_year.setdefault(y, []).append(m)
    col = f"{alias}." if alias else ""
    terms = [
        f"({col}year = {y} AND {col}month IN ({', '.join(str(m) for m in ms)}))"
        for y, ms in by_year.items()
    ]
    return "(" + " OR ".join(terms) + ")"


def _files(dt: Any) -> pa.Table:
    """The current files of a Delta table with partition values and statistics."""
    return pa.table(dt.get_add_actions(flatten=True))


class _SortedText(Sequence[str]):
    """The distinct values of a text column in order, as a sequence for :mod:`bisect`
    (the same answers as ``np.searchsorted`` on a sorted object array of them: Arrow
    orders valid UTF-8 by code point, as Python orders str). Values read one by one, only
    where the search looks; a batch already strictly increasing (the upsert sorts it by
    record_id) is not sorted again; ``in_order``: take the values as they come (sorted)."""

    def __init__(self, values: pa.Array | pa.ChunkedArray, *, in_order: bool = False) -> None:
        arr = values.cast(pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if (
            not in_order
            and len(arr) > 1
            and not (arr.null_count == 0 and pc.all(pc.greater(arr[1:], arr[:-1])).as_py())
        ):
            arr = pc.unique(arr)
            arr = arr.take(pc.sort_indices(arr, null_placement="at_end"))
        self._arr = arr

    def __len__(self) -> int:
        return len(self._arr)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return self._arr[i].to_pylist()
        return self._arr[i].as_py()


def _may_hold(files: pa.Table, key: str, values: pa.Array) -> np.ndarray:
    """Per file: whether its ``key`` min/max statistics may contain one of ``values``.

    The log's string statistics are truncated (a shorter min, a max raised in its last
    character), which keeps them bounds; a file without statistics may hold anything."""
    n = files.num_rows
    lo_name, hi_name = f"min.{key}", f"max.{key}"
    if n == 0 or lo_name not in files.column_names or hi_name not in files.column_names:
        return np.ones(n, dtype=bool)
    ids = _SortedText(values)
    out = np.ones(n, dtype=bool)
    los, his = files.column(lo_name).to_pylist(), files.column(hi_name).to_pylist()
    for i, (lo, hi) in enumerate(zip(los, his, strict=True)):
        if lo is None or hi is None:
            continue
        first = bisect.bisect_left(ids, lo)
        last = bisect.bisect_right(ids, hi + "\U0010ffff")
        out[i] = last > first
    return out


def _candidates(
    files: pa.Table, batch: pa.Table, source: str, table: Table, ids_carry_time: bool
) -> tuple[list[tuple[int, int]], bool]:
    """Partitions (year, month) of ``source`` where the batch's ids may be stored, and
    whether any of them holds a file."""
    mine = files.filter(pc.equal(files["partition.source"], source)) if files.num_rows else files
    if not table.time_column:
        return [], bool(mine.num_rows and _may_hold(mine, "record_id", batch["record_id"]).any())
    pairs = pa.table({"y": batch["year"], "m": batch["month"]}).group_by(["y", "m"]).aggregate([])
    own = {
        (int(y), int(m))
        for y, m in zip(pairs["y"].to_pylist(), pairs["m"].to_pylist(), strict=True)
    }
    stored: list[tuple[int, int]] = []
    if mine.num_rows:
        ys, ms = mine["partition.year"].to_pylist(), mine["partition.month"].to_pylist()
        stored = [(int(y), int(m)) for y, m in zip(ys, ms, strict=True)]
    if ids_carry_time:
        # the id's time fixes its partition: the same one, or the same year's partition of
        # the other grain (month 0 = by year) if the source's grain was changed
        by_year = {y for y, m in own if m == 0}
        by_month = {y for y, m in own if m != 0}
        keep = [
            (y, m) in own or (m != 0 and y in by_year) or (m == 0 and y in by_month)
            for y, m in stored
        ]
    else:
        keep = list(_may_hold(mine, "record_id", batch["record_id"]))
    holding = {p for p, k in zip(stored, keep, strict=True) if k}
    return sorted(own | holding), bool(holding)


def open_or_create(path: Path, table: Table | None, history_days: int) -> Any:
    """The Delta table at ``path``, created (empty, partitioned) if it does not exist."""
    from deltalake import DeltaTable

    if layout.is_delta(path):
        return DeltaTable(str(path))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    schema = layout.QUARANTINE_SCHEMA if table is None else layout.delta_schema(table)
    parts = layout.QUARANTINE_PARTITIONS if table is None else layout.partition_columns(table)
    return DeltaTable.create(
        str(path),
        schema,
        partition_by=list(parts),
        configuration=table_config(history_days) if table else quarantine_config(history_days),
    )


def _sorted_unique(batch: pa.Table, what: str) -> pa.Table:
    """The batch in record_id order (validated batches already are); duplicate ids refused."""
    ids = batch["record_id"]
    if batch.num_rows > 1 and not pc.all(pc.greater(ids[1:], ids[:-1])).as_py():
        batch = batch.take(pc.sort_indices(batch, sort_keys=[("record_id", "ascending")]))
        ids = batch["record_id"]
        if pc.any(pc.equal(ids[1:], ids[:-1])).as_py():
            raise ValueError(f"duplicate record ids in a batch of {what}")
    return batch


def upsert(
    lake_dir: Path,
    table_name: str,
    source: str,
    accepted: pd.DataFrame,
    *,
    batch_id: str,
    grain: str = "year",
    ids_carry_time: bool = False,
    history_days: int = DEFAULT_HISTORY_DAYS,
    run_id: str | None = None,
    as_of: datetime | None = None,
    corrections: bool = True,
    refuse_reverts: bool = True,
    held_ids: Sequence[str] = (),
    reverts: list[dict[str, Any]] | None = None,
    extracted_at: datetime | None = None,
    before_commit: Callable[[list[dict[str, Any]]], None] | None = None,
    versions: dict[str, int] | None = None,
) -> dict[str, int]:
    """Upsert validated canonical rows by ``(source, record_id)``.

    Every write of a table goes through here, and so does the guard against rolling a
    record back (docs/ingestion.md, "An older version sent again"). A row that would
    change a stored record is refused (not applied) when

    * ``extracted_at`` (when the batch's export was made) is before the newest export
      that carried the record, whether it changed the record or not (the table's
      export-times index, ``<lake>/_export_times/<table>``, one entry per record written
      under the table's writer lock before its commit): reason :data:`OLDER_REASON`,
      described by ``written_extracted_at``, ``written_by`` (that export's batch id),
      ``written_version`` (None) and ``extracted_at`` (this batch's). For a record with no
      entry (a lake written before the index), the export times of the commits that
      inserted or corrected it, within the kept history (``written_version`` = the
      commit's version); or
    * export times cannot order the row and the record's stored content (the batch has
      no ``extracted_at``; the record has no entry; its stored content came from a
      batch without one, or from an older row stored deliberately) and its content
      equals a version the record had and a later commit superseded (an
      ``update_preimage`` of the record in the change data feed, within the kept
      history): reason :data:`REVERT_REASON`, described by ``superseded_version`` (the
      table version whose commit superseded that content), ``superseded_at`` (that
      commit's as_of, else its time, ISO UTC) and ``superseded_by`` (its batch id). A
      row of an export newer than (or as new as) the newest that carried the record is
      applied: the newest export wins.

    Refused rows are counted ``reverted`` and described in ``reverts`` (one dict per row:
    ``record_id``, ``reason`` and the above). They are quarantined *before* the table
    commit, under the table's writer lock, so a crash between the two leaves the table
    as it was and a re-run refuses the same rows again (the quarantine write is
    idempotent): ``before_commit`` (the ingest) gets the list and writes the batch's
    quarantine itself; without it the lake quarantines them under ``batch_id`` (row
    number = position in the batch sorted by record id, original = the canonical row as
    JSON). ``refuse_reverts=False`` (``riskwarn ingest --allow-revert``, an operator's
    deliberate choice) applies them as corrections, counted ``reverts_applied``.
    ``held_ids``: with ``corrections=False``, ids whose differing rows are checked the
    same way (the rows an earlier run of the batch refused) instead of being counted
    ``stale``. ``extracted_at`` also goes into each table commit's metadata
    (:data:`EXTRACTED_KEY`).

    ``corrections=False`` (a re-ingest of a batch already ingested): stored records are
    never changed, only new ids are inserted; rows differing from the stored record are
    counted ``stale`` (not applied: the lake may hold a later correction).

    New ids are inserted; a record whose content differs from the stored one is updated
    with a Delta MERGE (the old version stays in the table's history); an identical record
    is left alone, and a batch that changes nothing makes no commit at all (the table keeps
    its version and every file). Returns the counts new / updated / unchanged.

    A batch is at most two commits, each atomic: the MERGE of its corrections (with its
    new rows when they are few), then the append of its new rows. A crash between the two
    leaves the corrections applied; the re-run adds the rest and reports them as new.
    ``run_id`` (an ingest run) goes into each commit's metadata with the number of
    commits and rows the run planned (:data:`RUN_KEY`, :data:`PLAN_KEY`, :data:`ROWS_KEY`),
    and ``as_of`` (the ingest's time: when its corrections became known) as
    :data:`AS_OF_KEY`. ``versions`` (given): ``versions[table_name]`` is set to the
    table's version after the write.
    """
    table = TABLES[table_name]
    if accepted.empty:
        return {"new": 0, "updated": 0, "unchanged": 0}
    if accepted["source"].ne(source).any():
        raise ValueError(f"rows of another source than {source!r} in upsert")
    batch = _sorted_unique(to_arrow_batch(accepted, table, grain), f"{source!r} for {table_name}")
    if extracted_at is not None:
        extracted_at = pd.Timestamp(extracted_at).tz_convert("UTC").to_pydatetime()
    layout.check_not_legacy(lake_dir, table_name)
    with layout.writer_lock(lake_dir, table_name) as path:
        dt = open_or_create(path, table, history_days)

        def quarantine_refused(refused: list[dict[str, Any]]) -> None:
            if refused:
                _quarantine_refused(lake_dir, table, source, batch_id, batch, refused, run_id)

        return _write(
            dt,
            batch,
            table,
            source,
            batch_id,
            ids_carry_time,
            run_id,
            as_of,
            corrections,
            refuse_reverts=refuse_reverts,
            held_ids=held_ids,
            reverts=reverts,
            extracted_at=extracted_at,
            before_commit=before_commit or quarantine_refused,
            lake_dir=Path(lake_dir),
            history_days=history_days,
            versions=versions,
        )


def refusal_message(info: dict[str, Any], file_name: str | None = None) -> str:
    """The quarantine message of one refused row (English; the dashboard names the
    reason in Chinese too). ``file_name``: the file of the commit that superseded (or
    wrote) the stored version, else its batch id is named."""
    rid = _shown_id(str(info["record_id"]))
    if info.get("reason") == OLDER_REASON:
        by = str(info.get("written_by") or "")
        what = f"file {file_name}" if file_name else f"batch {by[:16] or '(unknown)'}"
        made = f"made {info['written_extracted_at']}"
        if info.get("written_version") is None:  # from the export-times index
            of = f"the export of {what} ({made}), the newest export that carried the record"
        else:  # from the commits of a lake written before the index
            of = (
                f"the export of {what} ({made}, table version {info['written_version']}) "
                "that wrote the record's stored version"
            )
        return (
            f"record {rid}: this row comes from an export made {info['extracted_at']}, "
            f"before {of}; "
            "storing it would roll the record back to older content, so it was not "
            "applied. Ingest this file again with --allow-revert to store it deliberately"
        )
    by = str(info.get("superseded_by") or "")
    what = f"file {file_name}" if file_name else f"batch {by[:16] or '(unknown)'}"
    return (
        f"record {rid}: this row equals the version that "
        f"{what} superseded (table version {info['superseded_version']}, "
        f"{info['superseded_at']}); storing it would undo that correction, so it was not "
        "applied. Ingest this file again with --allow-revert to restore that version "
        "deliberately"
    )


def _shown_id(record_id: str) -> str:
    """A record id as a message may show it: never one holding a phone or ID number."""
    from riskwarn.redact import personal_data

    return (
        "(an id holding personal data, see the row's original)"
        if personal_data(record_id)
        else record_id
    )


def _quarantine_refused(
    lake_dir: Path,
    table: Table,
    source: str,
    batch_id: str,
    batch: pa.Table,
    refused: list[dict[str, Any]],
    run_id: str | None,
) -> None:
    """Quarantine the rows an upsert called without ``before_commit`` refused (a
    caller other than the ingest: maintenance, a backfill, a script), keyed by
    ``(table, batch_id, row_number)``: the row number is the row's position in the
    batch sorted by record id, the original the canonical row as JSON."""
    by_id = {str(r["record_id"]): r for r in refused}
    ids = batch["record_id"].to_pylist()
    at = [i for i, rid in enumerate(ids) if rid in by_id]
    rows = batch.take(pa.array(at, pa.int64())).select(list(table.columns)).to_pylist()
    q = pd.DataFrame(
        {
            "source": source,
            "table_name": table.name,
            "batch_id": batch_id,
            "file_name": f"(lake upsert, batch {batch_id[:16]})",
            "row_number": pd.Series([i + 1 for i in at], dtype="int64"),
            "reason": [str(by_id[ids[i]]["reason"]) for i in at],
            "message": [refusal_message(by_id[ids[i]]) for i in at],
            "original": [
                json.dumps(
                    {k: (None if v is None else str(v)) for k, v in row.items()},
                    ensure_ascii=False,
                )
                for row in rows
            ],
        }
    )
    write_quarantine(lake_dir, source, q, run_id=run_id)
    log.warning(
        "%s/%s batch %s: %d row(s) not applied (they would roll their record back), quarantined",
        table.name,
        source,
        batch_id[:16],
        len(q),
    )


def _commit_props(
    batch_id: str,
    run_id: str | None = None,
    plan: tuple[int, int] | None = None,
    as_of: datetime | None = None,
    extracted_at: datetime | None = None,
) -> Any:
    from deltalake import CommitProperties

    meta = {BATCH_KEY: batch_id}
    if as_of is not None:
        meta[AS_OF_KEY] = pd.Timestamp(as_of).tz_convert("UTC").isoformat()
    if extracted_at is not None:
        meta[EXTRACTED_KEY] = pd.Timestamp(extracted_at).tz_convert("UTC").isoformat()
    if run_id is not None:
        meta[RUN_KEY] = run_id
        if plan is not None:
            meta[PLAN_KEY], meta[ROWS_KEY] = str(plan[0]), str(plan[1])
    return CommitProperties(custom_metadata=meta)


# a batch's new rows ride along in the MERGE of its corrections when at most this many;
# more are appended in a second commit (a MERGE writes them twice: data + change feed)
NEW_ROWS_IN_MERGE = 100_000


def _may_be_stored(
    files: pa.Table, batch: pa.Table, table: Table, ids_carry_time: bool
) -> np.ndarray:
    """Per batch row: whether a stored file may hold its id (else it is surely new)."""
    n = batch.num_rows
    if files.num_rows == 0:
        return np.zeros(n, dtype=bool)
    if not ids_carry_time or not table.time_column:
        return _in_id_ranges(files, batch)
    years = files["partition.year"].to_numpy().astype(np.int64)
    months = files["partition.month"].to_numpy().astype(np.int64)
    key = batch["year"].to_numpy().astype(np.int64) * 100 + batch["month"].to_numpy()
    stored = np.unique(years * 100 + months)
    # the same year's partitions of the other grain (a source whose grain changed)
    by_year = np.unique(years[months == 0]) * 100
    monthly_years = np.unique(years[months != 0])
    flag = np.isin(key, stored)
    flag |= (key % 100 != 0) & np.isin(key - key % 100, by_year)
    flag |= (key % 100 == 0) & np.isin(key // 100, monthly_years)
    return flag


def _in_id_ranges(files: pa.Table, batch: pa.Table) -> np.ndarray:
    """Per batch row (sorted by record_id): whether its id lies within some file's
    record_id min/max statistics (truncated statistics stay bounds, see :func:`_may_hold`)."""
    n = batch.num_rows
    if "min.record_id" not in files.column_names or "max.record_id" not in files.column_names:
        return np.ones(n, dtype=bool)  # no statistics: any file may hold any id
    lo, hi = files.column("min.record_id"), files.column("max.record_id")
    ids = _SortedText(batch["record_id"], in_order=True)  # read only where searched
    mark = np.zeros(n + 1, dtype=np.int64)
    for a, b in zip(lo.to_pylist(), hi.to_pylist(), strict=True):
        first = 0 if a is None else bisect.bisect_left(ids, a)
        last = n if b is None else bisect.bisect_right(ids, b + "\U0010ffff")
        if last > first:
            mark[first] += 1
            mark[last] -= 1
    return np.cumsum(mark[:n]) > 0


def _same_values(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Row-wise: equal values, nulls equal nulls, NaN equals NaN (SQL ``IS NOT DISTINCT
    FROM``, which is what the MERGE's update condition tests)."""
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    b = b.combine_chunks() if isinstance(b, pa.ChunkedArray) else b
    if a.type != b.type:
        b = b.cast(a.type)
    same = pc.fill_null(pc.equal(a, b), False)
    same = pc.or_(same, pc.and_(pc.is_null(a), pc.is_null(b)))
    if pa.types.is_floating(a.type):
        same = pc.or_(
            same, pc.and_(pc.fill_null(pc.is_nan(a), False), pc.fill_null(pc.is_nan(b), False))
        )
    return np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)


def _compare_stored(
    dt: Any,
    batch: pa.Table,
    maybe: np.ndarray,
    table: Table,
    source: str,
    parts: list[tuple[int, int]],
    ids_carry_time: bool,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Per batch row: whether its record is stored (``known``) and whether its content
    differs (``changed``); and the partitions (year, month) of the stored versions that
    differ. The stored rows read for it are let go on return (a month sent again reads
    the whole month: kept to the end of the upsert, they were the larger part of its
    peak memory under the export-times index's write)."""
    known = np.zeros(batch.num_rows, dtype=bool)
    changed = np.zeros(batch.num_rows, dtype=bool)
    stored_parts: list[tuple[int, int]] = []
    probe = batch.filter(pa.array(maybe))
    window = None
    if ids_carry_time and table.time_column:  # a stored twin has the very same time
        times = probe[table.time_column]
        window = (table.time_column, pc.min(times), pc.max(times))
    stored = _probe(dt, table, source, parts, probe["record_id"], window)
    del probe
    if not stored.num_rows:
        return known, changed, stored_parts
    stored = stored.take(pc.sort_indices(stored, sort_keys=[("record_id", "ascending")]))
    at = pc.index_in(batch["record_id"], value_set=stored["record_id"])
    known = at.is_valid().to_numpy(zero_copy_only=False)
    incoming = batch.filter(pa.array(known))  # both in record_id order
    same = np.ones(incoming.num_rows, dtype=bool)
    for c in table.columns:
        if c not in ("source", "record_id"):
            same &= _same_values(stored[c], incoming[c])
    changed[np.flatnonzero(known)[~same]] = True
    if table.time_column and not same.all():
        moved = stored.filter(pa.array(~same))
        stored_parts = sorted(
            set(zip(moved["year"].to_pylist(), moved["month"].to_pylist(), strict=True))
        )
    return known, changed, stored_parts


def _write(
    dt: Any,
    batch: pa.Table,
    table: Table,
    source: str,
    batch_id: str,
    ids_carry_time: bool,
    run_id: str | None = None,
    as_of: datetime | None = None,
    corrections: bool = True,
    *,
    refuse_reverts: bool = True,
    held_ids: Sequence[str] = (),
    reverts: list[dict[str, Any]] | None = None,
    extracted_at: datetime | None = None,
    before_commit: Callable[[list[dict[str, Any]]], None] | None = None,
    lake_dir: Path | None = None,
    history_days: int = DEFAULT_HISTORY_DAYS,
    versions: dict[str, int] | None = None,
) -> dict[str, int]:
    """Probe, refuse the rows that would roll a record back, hand them to
    ``before_commit``, write the export times (``lake_dir`` given), then MERGE the
    corrections and append the new rows (see :func:`upsert`)."""
    files = _files(dt)
    if files.num_rows:
        files = files.filter(pc.equal(files["partition.source"], source))
    maybe = _may_be_stored(files, batch, table, ids_carry_time)
    parts, _ = _candidates(files, batch, source, table, ids_carry_time)
    known = np.zeros(batch.num_rows, dtype=bool)
    changed = np.zeros(batch.num_rows, dtype=bool)
    stored_parts: list[tuple[int, int]] = []
    if maybe.any():
        known, changed, stored_parts = _compare_stored(
            dt, batch, maybe, table, source, parts, ids_carry_time
        )
    new = ~known
    differs = changed.copy()
    # rows that would put back a version of the record a later commit superseded
    check = changed.copy()
    if not corrections:  # only the rows an earlier run of the batch refused as reverts
        if len(held_ids):
            held = pc.is_in(batch["record_id"], value_set=pa.array(list(held_ids), pa.string()))
            check &= held.to_numpy(zero_copy_only=False)
        else:
            check[:] = False
    reverting = np.zeros(batch.num_rows, dtype=bool)
    refused: list[dict[str, Any]] = []
    # per row, the newest export that carried its record (none: never a timed export)
    times = (
        _export_times(lake_dir, table, source, batch, ids_carry_time)
        if lake_dir is not None and (extracted_at is not None or changed.any())
        else _ExportTimes.empty(batch.num_rows)
    )
    if check.any():
        found: dict[str, dict[str, Any]] = {}
        guard = check.copy()  # the rows export times cannot order: compared by content
        if extracted_at is not None:
            mine = _micros(extracted_at)
            older = check & times.has & (times.at > mine)
            # the newest export wins: no content comparison where both times order it
            guard &= ~older & ~(times.has & (times.at <= mine) & times.from_export)
            for i in np.flatnonzero(older).tolist():
                info = times.older_info(i, str(batch["record_id"][i].as_py()), extracted_at)
                found[str(info["record_id"])] = info
        if guard.any():
            found |= _superseded_matches(dt, table, source, batch.filter(pa.array(guard)))
            # records no timed export carried since the index exists: the export times
            # of the commits that wrote them (lakes written before the index)
            rest = guard & ~times.has & ~_mask_of(batch, guard, found)
            if extracted_at is not None and rest.any():
                older_commits = _later_extract_writes(
                    dt, table, source, batch.filter(pa.array(rest)), extracted_at
                )
                found = {**found, **older_commits}
        if found:
            reverting = _mask_of(batch, check, found)
            ids = batch["record_id"].filter(pa.array(reverting)).to_pylist()
            refused = [found[i] for i in ids]
            if reverts is not None:
                reverts.extend(refused)
    n_reverted = n_reverts_applied = 0
    if refuse_reverts or not corrections:
        n_reverted = int(reverting.sum())
        changed &= ~reverting
    else:
        n_reverts_applied = int(reverting.sum())
        refused = []
    if before_commit is not None:
        # the refused rows are quarantined before the table commit: a crash between the
        # two leaves the table as it was, and the re-run refuses them again (idempotent)
        before_commit(refused if n_reverted else [])
    stale = 0
    if not corrections:  # a re-ingested batch never reverts a stored record
        stale, changed[:] = int(changed.sum()), False
    if lake_dir is not None:
        # before the table commit: a crash between the two leaves the index naming an
        # export whose rows are not stored yet; its re-run (same export time) applies
        # them, and an older export is refused meanwhile, as it would be after the run
        unchanged = known & ~differs
        _write_export_times(
            lake_dir,
            table,
            source,
            batch,
            times,
            carried=changed | new | unchanged,
            applied=changed | new,
            batch_id=batch_id,
            extracted_at=extracted_at,
            ids_carry_time=ids_carry_time,
            history_days=history_days,
            run_id=run_id,
        )
    n_new, n_changed = int(new.sum()), int(changed.sum())
    merge_new = n_changed > 0 and n_new <= NEW_ROWS_IN_MERGE
    planned = int(n_changed > 0) + int(n_new > 0 and not merge_new)
    props = _commit_props(batch_id, run_id, (planned, n_changed + n_new), as_of, extracted_at)
    updated = inserted = 0
    if n_changed:
        rows = batch.filter(pa.array(changed | new if merge_new else changed))
        done = _merge(dt, rows, table, source, props, stored_parts)
        updated, inserted = done["updated"], done["new"]
    if n_new and not merge_new:
        _append(dt, batch if new.all() else batch.filter(pa.array(new)), table, props)
        inserted += n_new
    log.info("%s/%s: %d new, %d updated", table.name, source, inserted, updated)
    rest = batch.num_rows - inserted - updated - stale - n_reverted
    if versions is not None:
        # the table's version after this write (its last commit, or the one it read):
        # every commit of ``run_id`` up to it is in these counts (riskwarn.stream.ledger)
        versions[table.name] = int(dt.version())
    out = {"new": inserted, "updated": updated, "unchanged": rest}
    if n_reverted:
        out["reverted"] = n_reverted
    if n_reverts_applied:
        out["reverts_applied"] = n_reverts_applied
    return out if corrections else {**out, "stale": stale}


def _micros(when: datetime) -> int:
    """A time as microseconds since the epoch (UTC), the index's unit."""
    return int(pd.Timestamp(when).tz_convert("UTC").value // 1000)


@dataclass
class _ExportTimes:
    """Per row of a batch: its record's entry in the table's export-times index."""

    has: np.ndarray  # an entry exists
    at: np.ndarray  # its extracted_at, microseconds UTC (0 where none)
    from_export: np.ndarray
    # the batch id of that export, null where none: dictionary-encoded (a month's entries
    # name a few batches; as Python strings they were 2.8 M objects, ~300 MB)
    by: pa.DictionaryArray
    year: np.ndarray
    month: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _ExportTimes:
        def zero() -> np.ndarray:
            return np.zeros(n, dtype=np.int64)

        flags = np.zeros(n, dtype=bool)
        by = pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), pa.array([], pa.string()))
        return cls(flags, zero(), flags.copy(), by, zero(), zero())

    def older_info(self, i: int, record_id: str, extracted_at: datetime) -> dict[str, Any]:
        """The refusal of row ``i``: its export is older than the newest that carried it."""
        return {
            "record_id": record_id,
            "reason": OLDER_REASON,
            "extracted_at": pd.Timestamp(extracted_at).tz_convert("UTC").isoformat(),
            "written_version": None,
            "written_extracted_at": pd.Timestamp(int(self.at[i]), unit="us", tz="UTC").isoformat(),
            "written_by": self.by[i].as_py() or "",
        }


def _export_times(
    lake_dir: Path, table: Table, source: str, batch: pa.Table, ids_carry_time: bool
) -> _ExportTimes:
    """The export-times entries of the batch's records: read only from the partitions
    (and files, by their record_id statistics) where one of its ids can be, as the
    table's own probe, so the cost follows the batch."""
    n = batch.num_rows
    out = _ExportTimes.empty(n)
    path = layout.table_dir(lake_dir, layout.export_times_name(table.name))
    if not layout.is_delta(path):
        return out
    from deltalake import DeltaTable

    dt = DeltaTable(str(path))
    files = _files(dt)
    if files.num_rows:
        files = files.filter(pc.equal(files["partition.source"], source))
    parts, holding = _candidates(files, batch, source, table, ids_carry_time)
    if not holding:
        return out
    # partitions holding hardly more entries than the batch has rows (a month sent
    # again): read whole, the ids matched below, rather than filtered by millions of ids
    wanted: pa.ChunkedArray | None = batch["record_id"]
    if table.time_column and "num_records" in files.column_names:
        keys = [f"{y}/{m}" for y, m in parts]
        mine = files.filter(
            pc.is_in(
                pc.binary_join_element_wise(
                    files["partition.year"].cast(pa.string()),
                    files["partition.month"].cast(pa.string()),
                    "/",
                ),
                value_set=pa.array(keys, pa.string()),
            )
        )
        entries = mine["num_records"]
        if not entries.null_count and int(pc.sum(entries).as_py() or 0) <= 2 * n:
            wanted = None
    got = _without_string_view(_probe(dt, table, source, parts, wanted))
    if not got.num_rows:
        return out
    # batch ids as a dictionary (a few distinct): the take below copies indices only
    got = got.drop_columns(["source"])
    got = got.set_column(
        got.schema.get_field_index("batch_id"),
        "batch_id",
        pc.dictionary_encode(got["batch_id"].combine_chunks()),
    )
    # one entry per record (the newest, should a record ever have two)
    got = got.take(
        pc.sort_indices(got, sort_keys=[("record_id", "ascending"), ("extracted_at", "descending")])
    )
    ids = got["record_id"].combine_chunks()
    if got.num_rows > 1:
        first = np.ones(got.num_rows, dtype=bool)
        first[1:] = pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)
        if not first.all():
            got, ids = got.filter(pa.array(first)), ids.filter(pa.array(first))
    mine_ids = batch["record_id"].combine_chunks()
    same = len(ids) == n and pc.all(pc.equal(ids, mine_ids.cast(ids.type))).as_py()
    # the entries of exactly these records (a month sent again), else matched by id
    at = pa.array(np.arange(n, dtype=np.int32)) if same else pc.index_in(mine_ids, value_set=ids)
    del ids, mine_ids
    has = at.is_valid().to_numpy(zero_copy_only=False)
    if not has.any():
        return out
    rows = np.flatnonzero(has)
    out.has = has
    out.by = got["batch_id"].combine_chunks().take(at)
    sub = got.drop_columns(["record_id", "batch_id"])
    del got  # a month's entries: let them go before the index is written
    if not same:
        sub = sub.take(at.filter(at.is_valid()))
    out.at[rows] = sub["extracted_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    out.from_export[rows] = sub["from_export"].to_numpy(zero_copy_only=False)
    if table.time_column:
        out.year[rows] = sub["year"].to_numpy(zero_copy_only=False)
        out.month[rows] = sub["month"].to_numpy(zero_copy_only=False)
    return out


def _write_export_times(
    lake_dir: Path,
    table: Table,
    source: str,
    batch: pa.Table,
    times: _ExportTimes,
    *,
    carried: np.ndarray,
    applied: np.ndarray,
    batch_id: str,
    extracted_at: datetime | None,
    ids_carry_time: bool,
    history_days: int,
    run_id: str | None,
) -> None:
    """Update the export-times index for a batch (called under the table's writer lock,
    before the table commit): a batch with an export time becomes the newest export of
    every record it carries (stored, unchanged or new) unless a newer one already did;
    a row stored from a batch without an export time (or an older row stored
    deliberately) marks its record's content as no longer that newest export's
    (``from_export`` false). Only entries that change are written: an identical re-run
    writes nothing. New entries are appended; partitions whose every entry is rewritten
    (a month sent again) are replaced in one commit, sorted; other rewrites MERGE; the
    files a rewrite replaced are vacuumed at once."""
    has, at, fe = times.has, times.at, times.from_export
    if extracted_at is not None:
        mine = _micros(extracted_at)
        newest = carried & (~has | (at < mine) | ((at == mine) & ~fe))
        demote = applied & has & (at > mine) & fe
    else:
        mine = 0
        newest = np.zeros(batch.num_rows, dtype=bool)
        demote = applied & has & fe
    write = newest | demote
    if not write.any():
        return
    at_rows = np.flatnonzero(write)
    take = pa.array(at_rows, pa.int64())
    when = np.where(newest, mine, at)[at_rows]
    # the batch ids in Arrow: the stored entry's (a demoted one keeps it), or this batch's
    known_ids = times.by.dictionary
    codes = pc.fill_null(times.by.indices, 0).to_numpy(zero_copy_only=False)
    codes = np.where(newest, len(known_ids), codes)[at_rows].astype(np.int32)
    unknown = (~newest & ~times.by.is_valid().to_numpy(zero_copy_only=False))[at_rows]
    by = pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=unknown if unknown.any() else None),
        pa.concat_arrays([known_ids, pa.array([batch_id], pa.string())]),
    )
    cols: dict[str, pa.Array] = {
        "source": pa.repeat(pa.scalar(source, pa.string()), len(at_rows)),
        "record_id": batch["record_id"].take(take).combine_chunks().cast(pa.string()),
        "extracted_at": pa.array(when, pa.int64()).cast(layout.TS),
        "from_export": pa.array(newest[at_rows]),
        # plain strings in the files, as every other write of the index
        "batch_id": by.cast(pa.string()),
    }
    if table.time_column:
        cols["year"] = batch["year"].take(take).combine_chunks()
        cols["month"] = batch["month"].take(take).combine_chunks()
    # in record_id order (the batch's): sorted, a month's entries compress to a third
    rows = pa.table(cols, schema=layout.export_times_schema(table))
    del cols, by
    name = layout.export_times_name(table.name)
    props = _commit_props(batch_id, run_id)
    from deltalake import DeltaTable, write_deltalake

    parts = list(layout.partition_columns(table))
    with layout.writer_lock(lake_dir, name) as path:
        if layout.is_delta(path):
            dt = DeltaTable(str(path))
        else:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            dt = DeltaTable.create(
                str(path),
                layout.export_times_schema(table),
                partition_by=parts,
                configuration=export_times_config(history_days),
            )
        stored = write & has
        if not stored.any():
            write_deltalake(
                dt,
                rows,
                mode="append",
                partition_by=parts,
                writer_properties=writer_properties(),
                commit_properties=props,
            )
            return
        whole = _whole_partitions(dt, table, source, batch, times, write)
        if whole is not None:
            # every entry of these partitions is rewritten (a month sent again): replace
            # them, sorted, in one commit, instead of a MERGE joining every entry
            where = f"source = {_sql_text(source)}"
            if table.time_column:
                where += " AND " + _partition_filter("", whole)
            write_deltalake(
                dt,
                rows,
                mode="overwrite",
                predicate=where,
                partition_by=parts,
                writer_properties=writer_properties(),
                commit_properties=props,
            )
        else:
            on = f"t.source = {_sql_text(source)} AND t.record_id = s.record_id"
            if table.time_column:  # where the entries are now (a record may move)
                held = sorted(
                    set(zip(times.year[stored].tolist(), times.month[stored].tolist(), strict=True))
                )
                on += " AND " + _partition_filter("t", [(int(y), int(m)) for y, m in held])
            (
                dt.merge(
                    rows,
                    on,
                    source_alias="s",
                    target_alias="t",
                    writer_properties=writer_properties(),
                    commit_properties=props,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        # the files the rewrite replaced go at once: the index is read only under its
        # table's writer lock, which this write holds, so no reader can still need them
        # (kept for the history, a re-sent month left the index at 4x its size)
        DeltaTable(str(path)).vacuum(
            retention_hours=0,
            dry_run=False,
            enforce_retention_duration=False,
            commit_properties=props,
        )


def _whole_partitions(
    dt: Any,
    table: Table,
    source: str,
    batch: pa.Table,
    times: _ExportTimes,
    write: np.ndarray,
) -> list[tuple[int, int]] | None:
    """The index partitions (year, month) a write of the ``write`` rows replaces whole:
    those the rows go to and those their present entries are in, when every entry the
    latter hold (the Delta log's record counts) is one of the rows' (``[]`` for a table
    without an event time: the source's one partition). None when some partition keeps
    an entry the batch does not rewrite, or a file's count is unknown."""
    files = _files(dt)
    if files.num_rows:
        files = files.filter(pc.equal(files["partition.source"], source))
    if files.num_rows and (
        "num_records" not in files.column_names or files["num_records"].null_count
    ):
        return None
    stored = write & times.has
    if not table.time_column:
        total = int(pc.sum(files["num_records"]).as_py() or 0) if files.num_rows else 0
        return [] if total == int(stored.sum()) else None
    held: dict[tuple[int, int], int] = {}
    for y, m in zip(times.year[stored].tolist(), times.month[stored].tolist(), strict=True):
        held[(y, m)] = held.get((y, m), 0) + 1
    wanted = set(held)
    rows = np.flatnonzero(write)
    years = batch["year"].to_numpy()[rows].astype(np.int64)
    months = batch["month"].to_numpy()[rows].astype(np.int64)
    wanted |= {(int(k // 100), int(k % 100)) for k in np.unique(years * 100 + months)}
    count: dict[tuple[int, int], int] = {}
    if files.num_rows:
        ys, ms = files["partition.year"].to_pylist(), files["partition.month"].to_pylist()
        for y, m, k in zip(ys, ms, files["num_records"].to_pylist(), strict=True):
            count[(int(y), int(m))] = count.get((int(y), int(m)), 0) + int(k)
    if any(count.get(p, 0) != held.get(p, 0) for p in wanted):
        return None
    return sorted(wanted)


def export_times_config(history_days: int) -> dict[str, str]:
    """Delta table properties of an export-times index: its log kept as the table's, no
    change data feed (the index has no history worth reading: the files a rewrite of it
    replaces are vacuumed by that write, :func:`_write_export_times`)."""
    return {**table_config(history_days), "delta.enableChangeDataFeed": "false"}


def _mask_of(batch: pa.Table, check: np.ndarray, found: dict[str, Any]) -> np.ndarray:
    """The rows among ``check`` whose record id is a key of ``found``."""
    out = np.zeros(batch.num_rows, dtype=bool)
    if found:
        at = np.flatnonzero(check)
        ids = batch["record_id"].take(pa.array(at)).to_pylist()
        out[at[np.array([i in found for i in ids], dtype=bool)]] = True
    return out


def _later_extract_writes(
    dt: Any, table: Table, source: str, rows: pa.Table, extracted_at: datetime
) -> dict[str, dict[str, Any]]:
    """The rows (of one source) whose record a commit of a later export wrote: its
    change data feed (``insert`` or ``update_postimage`` of the id) in a commit, within
    the kept history, whose :data:`EXTRACTED_KEY` is after ``extracted_at``. Returns, per
    such record id, the most recent such commit: ``record_id``, ``reason``
    (:data:`OLDER_REASON`), ``extracted_at`` (this batch's), ``written_version``,
    ``written_extracted_at`` and ``written_by`` (its batch id). Commits without an export
    time are not compared. Read only when such commits exist and only for the rows that
    would change a record: one change data feed read per later commit."""
    from riskwarn.lake.history import _commits, _first_kept_version

    if not rows.num_rows:
        return {}
    commits = _commits(dt)
    first = _first_kept_version(dt, commits) if commits else 0
    mine = pd.Timestamp(extracted_at).tz_convert("UTC")
    later = sorted(
        v
        for v, c in commits.items()
        if v >= first and c.get(EXTRACTED_KEY) and pd.Timestamp(c[EXTRACTED_KEY]) > mine
    )
    if not later:
        return {}
    predicate = (
        "(_change_type = 'insert' OR _change_type = 'update_postimage') "
        f"AND source = {_sql_text(source)}"
    )
    if rows.num_rows <= REVERT_IDS_IN_PREDICATE:  # else matched by id in Arrow below
        ids = rows["record_id"].to_pylist()
        predicate += " AND record_id IN (" + ", ".join(_sql_text(i) for i in ids) + ")"
    wanted = rows["record_id"].combine_chunks()
    found: dict[str, dict[str, Any]] = {}
    for v in reversed(later):  # the most recent commit first
        try:
            got = pa.table(
                dt.load_cdf(starting_version=v, ending_version=v, predicate=predicate).read_all()
            )
        except Exception as exc:  # deltalake raises its own error types
            raise layout.LakeError(
                f"cannot read the versions of {table.name}: {layout.describe_os_error(exc)}"
            ) from exc
        if not got.num_rows:
            continue
        got = _without_string_view(got.select(["record_id"]))
        hit = got["record_id"].filter(pc.is_in(got["record_id"], value_set=wanted))
        commit = commits[v]
        for rid in hit.to_pylist():
            found.setdefault(
                rid,
                {
                    "record_id": rid,
                    "reason": OLDER_REASON,
                    "extracted_at": mine.isoformat(),
                    "written_version": v,
                    "written_extracted_at": pd.Timestamp(commit[EXTRACTED_KEY])
                    .tz_convert("UTC")
                    .isoformat(),
                    "written_by": str(commit.get(BATCH_KEY) or ""),
                },
            )
    return found


# up to this many ids are named in the change data feed's predicate; more are matched in
# Arrow (a SQL text of 100,000 ids is slower to parse than the images are to read)
REVERT_IDS_IN_PREDICATE = 2_000


def _superseded_matches(
    dt: Any, table: Table, source: str, rows: pa.Table
) -> dict[str, dict[str, Any]]:
    """The rows (of one source) whose content equals a version their record had and a
    later commit superseded: the ``update_preimage`` images of the change data feed of
    the commits that corrected rows, within the table's kept history (the same commits
    :func:`riskwarn.lake.history.read_versions` reads). Returns, per such record id, the
    most recent superseding commit: ``record_id``, ``superseded_version``,
    ``superseded_at`` (its as_of, else its time, ISO UTC) and ``superseded_by`` (its
    batch id). Read only for the rows that would change a record, so the cost follows
    the corrections of a batch, not the lake."""
    from riskwarn.lake.history import _commits, _first_kept_version, _known_at

    if not rows.num_rows:
        return {}
    commits = _commits(dt)
    first = _first_kept_version(dt, commits) if commits else 0
    fixing = sorted(
        v
        for v, c in commits.items()
        if v >= first
        and int((c.get("operationMetrics") or {}).get("num_target_rows_updated", 0) or 0) > 0
    )
    if not fixing:
        return {}
    predicate = f"_change_type = 'update_preimage' AND source = {_sql_text(source)}"
    if rows.num_rows <= REVERT_IDS_IN_PREDICATE:  # else matched by id in Arrow below
        ids = rows["record_id"].to_pylist()
        predicate += " AND record_id IN (" + ", ".join(_sql_text(i) for i in ids) + ")"
    data = [c for c in table.columns if c not in ("source", "record_id")]
    found: dict[str, dict[str, Any]] = {}
    for v in reversed(fixing):  # the most recent superseding commit first
        try:
            got = pa.table(
                dt.load_cdf(starting_version=v, ending_version=v, predicate=predicate).read_all()
            )
        except Exception as exc:  # deltalake raises its own error types
            raise layout.LakeError(
                f"cannot read the corrections of {table.name}: {layout.describe_os_error(exc)}"
            ) from exc
        if not got.num_rows:
            continue
        got = _without_string_view(got.select(["record_id", *data]))
        at = pc.index_in(got["record_id"], value_set=rows["record_id"].combine_chunks())
        valid = at.is_valid()
        got, at = got.filter(valid), at.filter(valid)
        incoming = rows.take(at)
        same = np.ones(got.num_rows, dtype=bool)
        for c in data:
            same &= _same_values(incoming[c], got[c])
        commit = commits[v]
        for rid in incoming["record_id"].filter(pa.array(same)).to_pylist():
            found.setdefault(
                rid,
                {
                    "record_id": rid,
                    "reason": REVERT_REASON,
                    "superseded_version": v,
                    "superseded_at": _known_at(commit).isoformat(),
                    "superseded_by": str(commit.get(BATCH_KEY) or ""),
                },
            )
    return found


def _without_string_view(rows: pa.Table) -> pa.Table:
    """``rows`` with ``string_view`` columns (deltalake's MERGE files) as ``string``: the
    Arrow kernels used here have no ``string_view`` variant."""
    fields = [
        pa.field(f.name, pa.string()) if f.type == pa.string_view() else f for f in rows.schema
    ]
    return (
        rows
        if all(f.type != pa.string_view() for f in rows.schema)
        else rows.cast(pa.schema(fields))
    )


def _probe(
    dt: Any,
    table: Table,
    source: str,
    parts: list[tuple[int, int]],
    ids: pa.ChunkedArray | None,
    window: tuple[str, pa.Scalar, pa.Scalar] | None = None,
) -> pa.Table:
    """The stored rows (this snapshot) whose record_id is one of ``ids`` (None: every
    row), read only from the candidate partitions and, given a ``window`` (column, min,
    max), from files whose statistics overlap it: partition values and min/max
    statistics skip the other files."""
    in_window = pc.scalar(True)
    if window is not None:
        col, lo, hi = window
        in_window = (pc.field(col) >= lo) & (pc.field(col) <= hi)
    if ids is None:
        values = None
        wanted = in_window
    else:
        values = ids.combine_chunks()
        wanted = pc.field("record_id").isin(values) & in_window
    where = pc.field("source") == source
    if parts:
        by_part = None
        for y, m in parts:
            term = (pc.field("year") == y) & (pc.field("month") == m)
            by_part = term if by_part is None else (by_part | term)
        where = where & by_part
    ds = dt.to_pyarrow_dataset()
    try:
        return ds.to_table(filter=where & wanted)
    except pa.ArrowNotImplementedError:
        if values is None:
            raise
        # files written by a Delta MERGE (deltalake >= 1.4) store strings as string_view,
        # which Arrow cannot compare with a string in a filter (delta-rs issue 4579):
        # compare record_id as string (the window's statistics still skip files; the ids
        # are matched batch by batch, so memory stays bounded; riskwarn.lake.read.batches)
        as_string = pc.field("record_id").cast(pa.string()).isin(values)
        return ds.to_table(filter=where & as_string & in_window)


def _append(dt: Any, rows: pa.Table, table: Table, props: Any) -> None:
    from deltalake import write_deltalake

    write_deltalake(
        dt,
        rows,
        mode="append",
        partition_by=list(layout.partition_columns(table)),
        writer_properties=writer_properties(),
        commit_properties=props,
    )


def _merge(
    dt: Any,
    rows: pa.Table,
    table: Table,
    source: str,
    props: Any,
    stored_parts: list[tuple[int, int]],
) -> dict[str, int]:
    """Delta MERGE of ``rows`` by record_id over the partitions the matched ids live in."""
    on = f"t.source = {_sql_text(source)} AND t.record_id = s.record_id"
    if stored_parts:
        on += " AND " + _partition_filter("t", stored_parts)
    data = [c for c in table.columns if c not in ("source", "record_id")]
    differs = " OR ".join(f'(t."{c}" IS DISTINCT FROM s."{c}")' for c in data)
    metrics = (
        dt.merge(
            rows,
            on,
            source_alias="s",
            target_alias="t",
            writer_properties=writer_properties(),
            commit_properties=props,
        )
        .when_matched_update_all(predicate=differs)
        .when_not_matched_insert_all()
        .execute()
    )
    return {
        "new": int(metrics["num_target_rows_inserted"]),
        "updated": int(metrics["num_target_rows_updated"]),
    }


def write_quarantine(
    lake_dir: Path,
    source: str,
    quarantine: pd.DataFrame,
    *,
    batches: Sequence[tuple[str, str]] | None = None,
    history_days: int = DEFAULT_HISTORY_DAYS,
    run_id: str | None = None,
    counts: dict[str, int] | None = None,
) -> bool:
    """Store the quarantine of one or more batches: the rows keyed by ``(table_name,
    batch_id, row_number)`` replace what the quarantine held for those batches.

    ``counts`` (given: filled in) gets ``inserted``, the rows the quarantine did not hold
    by their key before this write (a message's row the stream stored before, e.g. in an
    earlier process, is not among them), ``updated`` and ``deleted``, and ``version``: the
    quarantine's version after this write (absent when no table was opened).

    ``batches``: the ``(table_name, batch_id)`` pairs this write is the whole quarantine
    of (default: those of the rows; pass them to also cover a batch with no quarantined
    row now). A row of such a batch that is not in ``quarantine`` is removed, in the same
    commit as the inserts and updates: a re-ingest that now accepts a row it quarantined
    before (a later ``--as-of``) leaves no trace of it in the quarantine. Idempotent: a
    batch already stored as it is makes no commit. Returns whether the table changed."""

    schema = layout.QUARANTINE_SCHEMA
    stamped = quarantine.reindex(columns=schema.names).astype({"row_number": "int64"})
    # stored now (a row stored before as it is keeps its time: the merge leaves it)
    stamped["quarantined_at"] = pd.Timestamp.now(tz="UTC").floor("us")
    stamped["aged_at"] = pd.Series(pd.NaT, index=stamped.index, dtype="datetime64[us, UTC]")
    rows = pa.Table.from_pandas(
        stamped,
        schema=schema,
        preserve_index=False,
    ).replace_schema_metadata(None)
    rows = rows.take(
        pc.sort_indices(rows, sort_keys=[("batch_id", "ascending"), ("row_number", "ascending")])
    )
    pairs = set(zip(rows["table_name"].to_pylist(), rows["batch_id"].to_pylist(), strict=True))
    pairs |= {(str(t), str(b)) for t, b in batches or ()}
    if not pairs:
        return False
    batch_ids = pa.array(sorted({b for _, b in pairs}), pa.string())
    if counts is not None:
        counts.update(inserted=0, updated=0, deleted=0)
    layout.check_not_legacy(lake_dir, layout.QUARANTINE)
    with layout.writer_lock(lake_dir, layout.QUARANTINE) as path:
        if not rows.num_rows and not layout.is_delta(path):
            return False  # nothing stored, nothing to store
        dt = ensure_quarantine_schema(open_or_create(path, None, history_days), history_days)
        try:
            return _write_quarantine(dt, rows, source, pairs, batch_ids, run_id, counts)
        finally:
            if counts is not None:
                counts["version"] = int(dt.version())


def _write_quarantine(
    dt: Any,
    rows: pa.Table,
    source: str,
    pairs: set[tuple[str, str]],
    batch_ids: pa.Array,
    run_id: str | None,
    counts: dict[str, int] | None,
) -> bool:
    """:func:`write_quarantine`'s commit, under the quarantine's writer lock."""
    from deltalake import write_deltalake

    files = _files(dt)
    if files.num_rows:
        files = files.filter(pc.equal(files.column("partition.source"), source))
    writer = writer_properties()
    props = _commit_props(",".join(batch_ids.to_pylist()), run_id)
    if not _may_hold(files, "batch_id", batch_ids).any():
        if not rows.num_rows:
            return False
        write_deltalake(
            dt,
            rows,
            mode="append",
            partition_by=list(layout.QUARANTINE_PARTITIONS),
            writer_properties=writer,
            commit_properties=props,
        )
        if counts is not None:
            counts["inserted"] = rows.num_rows
        return True

    def scope(alias: str) -> str:
        """The stored rows of these batches (of this source)."""
        return (
            f"{alias}source = {_sql_text(source)} AND ("
            + " OR ".join(
                f"({alias}table_name = {_sql_text(t)} AND {alias}batch_id = {_sql_text(b)})"
                for t, b in sorted(pairs)
            )
            + ")"
        )

    if not rows.num_rows:  # every row of the batches accepted now
        done = dt.delete(scope(""), writer_properties=writer, commit_properties=props)
        if counts is not None:
            counts["deleted"] = int(done.get("num_deleted_rows") or 0)
        return bool(done.get("num_deleted_rows"))
    ids = ", ".join(_sql_text(b) for b in batch_ids.to_pylist())
    on = (
        f"t.source = {_sql_text(source)} AND t.batch_id IN ({ids}) AND "
        "t.table_name = s.table_name AND t.batch_id = s.batch_id "
        "AND t.row_number = s.row_number"
    )
    differs = " OR ".join(
        f'(t."{c}" IS DISTINCT FROM s."{c}")'
        for c in ("file_name", "reason", "message", "original")
    )
    metrics = (
        dt.merge(
            rows,
            on,
            source_alias="s",
            target_alias="t",
            writer_properties=writer,
            commit_properties=props,
        )
        .when_matched_update_all(predicate=differs)
        .when_not_matched_insert_all()
        .when_not_matched_by_source_delete(predicate=scope("t."))
        .execute()
    )
    if counts is not None:
        counts["inserted"] = int(metrics["num_target_rows_inserted"])
        counts["updated"] = int(metrics["num_target_rows_updated"])
        counts["deleted"] = int(metrics["num_target_rows_deleted"])
    return bool(
        metrics["num_target_rows_inserted"]
        or metrics["num_target_rows_updated"]
        or metrics["num_target_rows_deleted"]
    )


def resolve_quarantine(
    lake_dir: Path,
    source: str,
    table_name: str,
    batch_ids: Sequence[str],
    *,
    reasons: Sequence[str],
    resolved_by: str,
    run_id: str | None = None,
    history_days: int = DEFAULT_HISTORY_DAYS,
) -> tuple[int, int | None]:
    """Remove from the open quarantine the rows of ``source``'s ``table_name`` keyed by
    ``batch_ids`` whose reason is one of ``reasons``: problems a later write
    resolved (the stream: a reading quarantined ``future_timestamp`` and accepted once its
    time had come). One DELETE commit naming ``resolved_by`` (the resolving batch,
    :data:`BATCH_KEY`, prefixed ``resolved-by:``) and ``run_id``; the removed rows stay in
    the quarantine's history (change data feed, ``history_days``; maintenance keeps it no
    longer than the personal-data retention, riskwarn.lake.aging), as a re-ingest's rows
    accepted now do. Returns (rows removed, the quarantine's version after it; None: no
    quarantine table)."""
    if not batch_ids or not reasons:
        return 0, None
    layout.check_not_legacy(lake_dir, layout.QUARANTINE)
    with layout.writer_lock(lake_dir, layout.QUARANTINE) as path:
        if not layout.is_delta(path):
            return 0, None
        dt = open_or_create(path, None, history_days)
        ids = ", ".join(_sql_text(b) for b in sorted(set(batch_ids)))
        why = ", ".join(_sql_text(r) for r in sorted(set(reasons)))
        where = (
            f"source = {_sql_text(source)} AND table_name = {_sql_text(table_name)} "
            f"AND batch_id IN ({ids}) AND reason IN ({why})"
        )
        done = dt.delete(
            where,
            writer_properties=writer_properties(),
            commit_properties=_commit_props(f"resolved-by:{resolved_by}", run_id),
        )
        return int(done.get("num_deleted_rows") or 0), int(dt.version())
