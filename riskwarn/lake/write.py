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

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskwarn.contracts import TABLES, Table
from riskwarn.lake import layout

log = logging.getLogger(__name__)

WRITER = {"compression": "ZSTD", "compression_level": 3}
BATCH_KEY = "riskwarn.batch_id"


def table_config(history_days: int) -> dict[str, str]:
    """Delta table properties: change data feed on, versions kept ``history_days`` days."""
    return {
        "delta.enableChangeDataFeed": "true",
        "delta.logRetentionDuration": f"interval {int(history_days)} days",
        "delta.deletedFileRetentionDuration": f"interval {int(history_days)} days",
    }


DEFAULT_HISTORY_DAYS = 365


def to_arrow_batch(frame: pd.DataFrame, table: Table, grain: str) -> pa.Table:
    """Canonical rows as an Arrow table of the Delta schema, with the partition columns."""
    schema = layout.delta_schema(table)
    cols: dict[str, pa.Array] = {}
    for f in table.fields:
        values = frame[f.name] if f.name in frame.columns else pd.Series(None, index=frame.index)
        arr = pa.array(values, from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
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
    """``(a.year = Y AND a.month IN (...)) OR ...`` for (year, month) pairs."""
    by_year: dict[int, list[int]] = {}
    for y, m in sorted(parts):
        by_year.setdefault(y, []).append(m)
    terms = [
        f"({alias}.year = {y} AND {alias}.month IN ({', '.join(str(m) for m in ms)}))"
        for y, ms in by_year.items()
    ]
    return "(" + " OR ".join(terms) + ")"


def _files(dt: Any) -> pa.Table:
    """The current files of a Delta table with partition values and statistics."""
    return pa.table(dt.get_add_actions(flatten=True))


def _may_hold(files: pa.Table, key: str, values: pa.Array) -> np.ndarray:
    """Per file: whether its ``key`` min/max statistics may contain one of ``values``.

    The log's string statistics are truncated (a shorter min, a max raised in its last
    character), which keeps them bounds; a file without statistics may hold anything."""
    n = files.num_rows
    lo_name, hi_name = f"min.{key}", f"max.{key}"
    if n == 0 or lo_name not in files.column_names or hi_name not in files.column_names:
        return np.ones(n, dtype=bool)
    ids = np.sort(np.asarray(pc.unique(values.cast(pa.string())).to_pylist(), dtype=object))
    out = np.ones(n, dtype=bool)
    los, his = files.column(lo_name).to_pylist(), files.column(hi_name).to_pylist()
    for i, (lo, hi) in enumerate(zip(los, his, strict=True)):
        if lo is None or hi is None:
            continue
        first = np.searchsorted(ids, lo, side="left")
        last = np.searchsorted(ids, hi + "\U0010ffff", side="right")
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
        configuration=table_config(history_days),
    )


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
) -> dict[str, int]:
    """Upsert validated canonical rows by ``(source, record_id)`` in one Delta commit.

    New ids are inserted; a record whose content differs from the stored one is updated
    (the old version stays in the table's history); an identical record is left alone,
    and a batch that changes nothing makes no commit at all (the table keeps its version
    and every file). Returns the counts new / updated / unchanged.
    """
    table = TABLES[table_name]
    if accepted.empty:
        return {"new": 0, "updated": 0, "unchanged": 0}
    if accepted["source"].ne(source).any():
        raise ValueError(f"rows of another source than {source!r} in upsert")
    batch = to_arrow_batch(accepted, table, grain)
    batch = batch.take(pc.sort_indices(batch, sort_keys=[("record_id", "ascending")]))
    if pc.count_distinct(batch["record_id"]).as_py() != batch.num_rows:
        raise ValueError(f"duplicate record ids in a batch of {source!r} for {table_name}")
    layout.check_not_legacy(lake_dir, table_name)
    with layout.writer_lock(lake_dir, table_name) as path:
        dt = open_or_create(path, table, history_days)
        return _merge(dt, batch, table, source, batch_id, ids_carry_time)


def _commit_props(batch_id: str) -> Any:
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata={BATCH_KEY: batch_id})


def _merge(
    dt: Any, batch: pa.Table, table: Table, source: str, batch_id: str, ids_carry_time: bool
) -> dict[str, int]:
    from deltalake import WriterProperties, write_deltalake

    n = batch.num_rows
    parts, any_stored = _candidates(_files(dt), batch, source, table, ids_carry_time)
    writer = WriterProperties(**WRITER)  # type: ignore[arg-type]
    if not any_stored:
        write_deltalake(
            dt,
            batch,
            mode="append",
            partition_by=list(layout.partition_columns(table)),
            writer_properties=writer,
            commit_properties=_commit_props(batch_id),
        )
        return {"new": n, "updated": 0, "unchanged": 0}
    on = f"t.source = {_sql_text(source)} AND t.record_id = s.record_id"
    if parts:
        on += " AND " + _partition_filter("t", parts)
    data = [c for c in table.columns if c not in ("source", "record_id")]
    differs = " OR ".join(f'(t."{c}" IS DISTINCT FROM s."{c}")' for c in data)
    metrics = (
        dt.merge(
            batch,
            on,
            source_alias="s",
            target_alias="t",
            writer_properties=writer,
            commit_properties=_commit_props(batch_id),
        )
        .when_matched_update_all(predicate=differs)
        .when_not_matched_insert_all()
        .execute()
    )
    new, updated = int(metrics["num_target_rows_inserted"]), int(metrics["num_target_rows_updated"])
    log.info("merged %d rows into %s: %d new, %d updated", n, table.name, new, updated)
    return {"new": new, "updated": updated, "unchanged": n - new - updated}


def write_quarantine(
    lake_dir: Path,
    source: str,
    quarantine: pd.DataFrame,
    *,
    history_days: int = DEFAULT_HISTORY_DAYS,
) -> bool:
    """Upsert quarantined rows keyed by ``(batch_id, row_number)``; idempotent (a batch
    already stored as it is makes no commit). Returns whether the table changed."""
    from deltalake import WriterProperties, write_deltalake

    if quarantine.empty:
        return False
    schema = layout.QUARANTINE_SCHEMA
    rows = pa.Table.from_pandas(
        quarantine[schema.names].astype({"row_number": "int64"}),
        schema=schema,
        preserve_index=False,
    ).replace_schema_metadata(None)
    rows = rows.take(
        pc.sort_indices(rows, sort_keys=[("batch_id", "ascending"), ("row_number", "ascending")])
    )
    batch_ids = pc.unique(rows["batch_id"])
    layout.check_not_legacy(lake_dir, layout.QUARANTINE)
    with layout.writer_lock(lake_dir, layout.QUARANTINE) as path:
        dt = open_or_create(path, None, history_days)
        files = _files(dt)
        if files.num_rows:
            files = files.filter(pc.equal(files.column("partition.source"), source))
        writer = WriterProperties(**WRITER)  # type: ignore[arg-type]
        props = _commit_props(",".join(batch_ids.to_pylist()))
        if not _may_hold(files, "batch_id", batch_ids).any():
            write_deltalake(
                dt,
                rows,
                mode="append",
                partition_by=list(layout.QUARANTINE_PARTITIONS),
                writer_properties=writer,
                commit_properties=props,
            )
            return True
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
            .execute()
        )
        return bool(metrics["num_target_rows_inserted"] or metrics["num_target_rows_updated"])
