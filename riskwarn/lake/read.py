"""Reading the lake: the one reader of its Delta tables.

Every module that needs lake data reads it here: :func:`read_table` (a frame of canonical
columns, sorted by key, optionally some sources, columns and a time window), :func:`scan`
(the same as Arrow) or :func:`connect` (DuckDB views over the tables' Arrow datasets,
for SQL). Time windows and column lists are pushed down: the Delta log's partition values
and per-file min/max statistics skip the files outside the window, and only the asked
columns are decoded. A read sees one committed version of each table (snapshot
isolation): a write in progress is never half visible.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from riskwarn.contracts import TABLES, Table, conform
from riskwarn.lake import layout


def delta_table(lake_dir: Path, name: str, version: int | None = None) -> Any | None:
    """The Delta table ``name`` of the lake (at ``version``), or None if it has none yet."""
    from deltalake import DeltaTable

    layout.check_not_legacy(lake_dir, name)
    path = layout.table_dir(lake_dir, name)
    if not layout.is_delta(path):
        return None
    return DeltaTable(str(path), version=version)


def table_version(lake_dir: Path, name: str) -> int | None:
    """The table's current version (None: no table yet); it changes with every commit."""
    dt = delta_table(lake_dir, name)
    return None if dt is None else int(dt.version())


def latest_time(lake_dir: Path, name: str) -> pd.Timestamp | None:
    """The newest event time of table ``name`` (UTC), from the Delta log's per-file
    statistics (no data file is read); None without the table, rows or a time column."""
    tbl = TABLES[name]
    dt = delta_table(lake_dir, name) if tbl.time_column else None
    if dt is None:
        return None
    column = f"max.{tbl.time_column}"
    actions = pa.table(dt.get_add_actions(flatten=True))
    if column not in actions.column_names or actions.num_rows == 0:
        return None
    newest = pc.max(actions[column]).as_py()
    if newest is None:
        return None
    stamp = pd.Timestamp(newest)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def sources(lake_dir: Path, name: str, version: int | None = None) -> list[str]:
    """The sources holding rows in table ``name`` (at ``version``), sorted; [] without the
    table. Read from the Delta log alone: ``source`` is every canonical table's first
    partition column, so the current files' partition values name the sources present
    (a file the log counts no record in is skipped). No data file is opened: the cost
    follows the table's file count, not its rows (scoring asks at every run,
    :func:`riskwarn.scoring.served_sources`)."""
    dt = delta_table(lake_dir, name, version)
    if dt is None:
        return []
    if "source" not in dt.metadata().partition_columns:  # (every lake table has it)
        got = dt.to_pyarrow_dataset().to_table(columns=["source"])
        return sorted({str(x) for x in pc.unique(got["source"]).to_pylist() if x is not None})
    files = pa.table(dt.get_add_actions(flatten=True))
    if not files.num_rows:
        return []
    if "num_records" in files.column_names:  # null: not counted, kept
        n = files["num_records"]
        files = files.filter(pc.or_kleene(pc.is_null(n), pc.greater(n, 0)))
    values = pc.unique(files["partition.source"]).to_pylist()
    return sorted({str(x) for x in values if x is not None})


def dataset(lake_dir: Path, name: str, version: int | None = None) -> pads.Dataset | None:
    """The table as an Arrow dataset (files carry their partition values and statistics,
    so filters skip files), or None if the table does not exist yet."""
    dt = delta_table(lake_dir, name, version)
    return None if dt is None else dt.to_pyarrow_dataset()


def _ts(value: Any) -> pa.Scalar:
    t = pd.Timestamp(value)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return pa.scalar(t.to_pydatetime(), type=layout.TS)


def row_filter(
    table: Table,
    sources: Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    where: dict[str, Sequence[Any]] | None = None,
    cast_strings: bool = False,
) -> pc.Expression | None:
    """An Arrow filter: ``source IN sources``, ``start <= time < end``, ``col IN values``.

    The time window also names the ``year`` partitions it spans, so files of other years
    are skipped from their partition values alone. ``cast_strings``: each ``where`` column
    of string values is compared as ``string`` (for the files a Delta MERGE wrote with
    ``string_view``: :func:`batches`); such a term no longer prunes by statistics."""
    terms: list[pc.Expression] = []
    if sources:
        terms.append(pc.field("source").isin(list(sources)))
    if (start is not None or end is not None) and table.time_column is None:
        raise ValueError(f"{table.name} has no event time to window on")
    col = pc.field(table.time_column) if table.time_column else None
    if start is not None and col is not None:
        terms += [col >= _ts(start), pc.field("year") >= pd.Timestamp(start).year - 1]
    if end is not None and col is not None:
        terms += [col < _ts(end), pc.field("year") <= pd.Timestamp(end).year + 1]
    for name, values in (where or {}).items():
        field = pc.field(name)
        if cast_strings and name in _string_terms({name: values}):
            field = field.cast(pa.string())
        terms.append(field.isin(list(values)))
    if not terms:
        return None
    out = terms[0]
    for t in terms[1:]:
        out = out & t
    return out


def scan(
    lake_dir: Path,
    table: str,
    sources: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    *,
    start: datetime | pd.Timestamp | str | None = None,
    end: datetime | pd.Timestamp | str | None = None,
    where: dict[str, Sequence[Any]] | None = None,
    version: int | None = None,
) -> pa.Table:
    """Rows of a canonical table as Arrow (canonical columns, or ``columns``), filtered by
    sources, the half-open time window ``[start, end)`` and ``where`` (column -> values);
    ``version``: as of that table version (time travel; default the latest)."""
    tbl = TABLES[table]
    cols = list(columns or tbl.columns)
    row_filter(tbl, sources, start, end, where)  # a window on a table without time raises
    ds = dataset(lake_dir, table, version=version)
    if ds is None:
        return layout.delta_schema(tbl).empty_table().select(cols)
    schema = pa.schema([ds.schema.field(c) for c in cols])
    return pa.Table.from_batches(list(batches(ds, tbl, cols, sources, start, end, where)), schema)


def _string_terms(where: dict[str, Sequence[Any]] | None) -> list[str]:
    """The ``where`` columns compared with string values."""
    return sorted(n for n, v in (where or {}).items() if any(isinstance(x, str) for x in v))


def batches(
    ds: pads.Dataset,
    table: Table,
    columns: Sequence[str],
    sources: Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    where: dict[str, Sequence[Any]] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The record batches of ``ds`` that :func:`row_filter` selects (strings as ``string``).

    deltalake (>= 1.4) writes a MERGE's files with strings as ``string_view`` (delta-rs
    issue 4579), and Arrow cannot compare ``string_view`` with a string in a filter
    (``ArrowNotImplementedError: ... (string, string_view)``). The files left after the
    partition values' pruning are split by what they store: the plain ones are filtered
    as usual (statistics skip row groups), the MERGE's ones with their string terms cast
    to ``string`` (every row group read, filtered batch by batch: memory stays bounded)."""
    flt = row_filter(table, sources, start, end, where)
    strings = _string_terms(where)
    if not strings:
        yield from ds.scanner(columns=list(columns), filter=flt).to_batches()
        return
    plain: list[Any] = []
    views: list[Any] = []
    for frag in ds.get_fragments(filter=flt):  # partition values only
        phys = frag.physical_schema
        stored = [phys.field(n).type for n in strings if n in phys.names]
        (views if any(pa.types.is_string_view(t) for t in stored) else plain).append(frag)
    fmt, fs = ds.format, ds.filesystem  # type: ignore[attr-defined]
    if plain:
        part = pads.FileSystemDataset(plain, ds.schema, fmt, fs)
        yield from part.scanner(columns=list(columns), filter=flt).to_batches()
    if views:
        cast = row_filter(table, sources, start, end, where, cast_strings=True)
        part = pads.FileSystemDataset(views, ds.schema, fmt, fs)
        yield from part.scanner(columns=list(columns), filter=cast).to_batches()


def read_table(
    lake_dir: Path,
    table: str,
    sources: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    *,
    start: datetime | pd.Timestamp | str | None = None,
    end: datetime | pd.Timestamp | str | None = None,
    where: dict[str, Sequence[Any]] | None = None,
    version: int | None = None,
    order_by: Sequence[str] = (),
) -> pd.DataFrame:
    """A canonical table as a frame with canonical dtypes, sorted by key: all of it, or
    some ``sources``, ``columns``, the time window ``[start, end)`` (on the table's event
    time, UTC) and ``where`` (column -> allowed values); ``version``: as of that table
    version (a Dask worker reads the version its client pinned). ``order_by``: sorted by
    these columns first (ascending, nulls last), then by key: in one sort, the order a
    stable sort by ``order_by`` of the key-sorted frame gives."""
    tbl = TABLES[table]
    cols = list(columns or tbl.columns)
    keys = [k for k in [*tbl.key, *order_by] if k not in cols]
    got = scan(
        lake_dir,
        table,
        sources,
        [*cols, *dict.fromkeys(keys)],
        start=start,
        end=end,
        where=where,
        version=version,
    )
    return sorted_frame(got, table, cols, order_by)


def sorted_frame(
    got: pa.Table, table: str, columns: Sequence[str], order_by: Sequence[str] = ()
) -> pd.DataFrame:
    """Scanned rows of ``table`` (``columns`` and its key columns) as :func:`read_table`
    returns them: sorted by ``order_by`` then key, canonical dtypes, ``columns`` only."""
    tbl = TABLES[table]
    sort_keys = [(k, "ascending") for k in sort_columns(got, [*order_by, *tbl.key])]
    got = got.take(pc.sort_indices(got, sort_keys=sort_keys))
    return canonical_frame(got, table, columns)


def sort_columns(got: pa.Table, columns: Sequence[str]) -> list[str]:
    """``columns`` without its leading columns that hold one value in every row (no null):
    Arrow's stable sort by the rest puts the rows in the same order, and a sort by one
    column is much cheaper than by several (the lake's key ``(source, record_id)`` of a
    single source: by ``record_id`` alone). The last column always stays."""
    cols = list(columns)
    while len(cols) > 1:
        col = got.column(cols[0])
        if col.null_count or len(col) == 0:
            break
        if pc.count_distinct(col).as_py() != 1:
            break
        cols.pop(0)
    return cols


def canonical_frame(got: pa.Table, table: str, columns: Sequence[str]) -> pd.DataFrame:
    """Scanned rows of ``table`` as a frame of canonical dtypes, ``columns`` only (in the
    rows' order)."""
    tbl = TABLES[table]
    frame = got.to_pandas()
    return conform(frame.reindex(columns=tbl.columns), tbl)[list(columns)].reset_index(drop=True)


def scan_pieces(
    lake_dir: Path,
    table: str,
    columns: Sequence[str] | None = None,
    *,
    start: datetime | pd.Timestamp | str | None = None,
    end: datetime | pd.Timestamp | str | None = None,
    where: dict[str, Sequence[Any]] | None = None,
    version: int | None = None,
    rows_per_piece: int = 2_000_000,
) -> Iterator[pa.Table]:
    """The rows :func:`scan` returns, streamed as Arrow tables of about ``rows_per_piece``
    rows, in no particular order (nothing if the table does not exist yet)."""
    tbl = TABLES[table]
    cols = list(columns or tbl.columns)
    ds = dataset(lake_dir, table, version=version)
    if ds is None:
        return
    pending: list[pa.RecordBatch] = []
    n = 0
    for batch in batches(ds, tbl, cols, None, start, end, where):
        if batch.num_rows:
            pending.append(batch)
            n += batch.num_rows
        if n >= rows_per_piece:
            yield pa.Table.from_batches(pending)
            pending, n = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def read_quarantine(lake_dir: Path, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """Quarantined rows (optionally of some sources), sorted by source, table, batch, row."""
    ds = dataset(lake_dir, layout.QUARANTINE)
    names = layout.QUARANTINE_SCHEMA.names
    if ds is None:
        return layout.QUARANTINE_SCHEMA.empty_table().to_pandas()
    flt = pc.field("source").isin(list(sources)) if sources else None
    have = set(ds.schema.names)
    got = ds.to_table(columns=[n for n in names if n in have], filter=flt)
    for n in names:  # a quarantine from before its times were kept (2026-12-08): null
        if n not in have:
            field = layout.QUARANTINE_SCHEMA.field(n)
            got = got.append_column(field, pa.nulls(got.num_rows, field.type))
    got = got.select(names)
    keys = ("source", "table_name", "batch_id", "row_number")
    got = got.take(pc.sort_indices(got, sort_keys=[(k, "ascending") for k in keys]))
    return got.to_pandas()


def read_open_quarantine(
    lake_dir: Path,
    source: str,
    table_name: str,
    reasons: Sequence[str],
    batch_prefix: str = "",
    columns: Sequence[str] = ("batch_id", "original"),
) -> pd.DataFrame:
    """The open quarantine rows of ``source``'s ``table_name`` whose reason is one of
    ``reasons`` (and whose batch id starts with ``batch_prefix``), with ``columns`` only.
    The partitions (source, table) skip other files, the reason filter is applied while
    the files are scanned (batch by batch: memory is the matches', not the quarantine's);
    :func:`read_quarantine` reads every row and column of the source and sorts them (the
    stream's start-up read before 2026-12-08, bench/bench_stream_future_quarantine.py)."""
    ds = dataset(lake_dir, layout.QUARANTINE)
    cols = list(columns)
    if ds is None or not reasons:
        return layout.QUARANTINE_SCHEMA.empty_table().select(cols).to_pandas()
    flt = (
        (pc.field("source") == source)
        & (pc.field("table_name") == table_name)
        & pc.field("reason").isin(list(reasons))
    )
    if batch_prefix:
        flt &= pc.starts_with(pc.field("batch_id"), batch_prefix)
    return ds.to_table(columns=cols, filter=flt).to_pandas()


def connect(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per lake table present (plus
    ``quarantine``) over its current version; filters and projections are pushed down to
    the Arrow dataset. Views have the canonical columns plus the partition columns."""
    con = duckdb.connect()
    for name, view in [*((n, n) for n in TABLES), (layout.QUARANTINE, "quarantine")]:
        dt = delta_table(lake_dir, name)
        if dt is not None:
            con.register(view, _duckdb_dataset(dt))
    return con


def _duckdb_dataset(dt: Any) -> pads.Dataset:
    """The table's Arrow dataset with strings as ``string_view``: DuckDB pushes string
    filters down as string_view literals, which Arrow cannot compare with ``string``."""
    fields = dt.to_pyarrow_dataset().schema
    schema = pa.schema(
        [pa.field(f.name, pa.string_view() if f.type == pa.string() else f.type) for f in fields]
    )
    return dt.to_pyarrow_dataset(schema=schema)
