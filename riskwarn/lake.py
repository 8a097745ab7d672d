"""The Parquet lake: partitioned, deterministic files with upsert and history.

Layout under ``lake_dir`` (docs/design.md)::

    <table>/source=<s>/year=<YYYY>/part.parquet    tables with an event time (UTC year)
    <table>/source=<s>/year=<YYYY>/month=<MM>/part.parquet   sources with ``partition: month``
    <table>/source=<s>/part.parquet                static tables
    _history/<table>/source=<s>/part.parquet       superseded versions of updated records
    _quarantine/source=<s>/part.parquet            rejected rows, keyed (batch_id, row_number)

Files are deterministic: rows sorted by key, an explicit Arrow schema, fixed writer
options and no key-value metadata (no timestamps, no pandas metadata). A file is only
rewritten when its bytes would change, so re-ingesting a file leaves every byte as it
was. Work is done one partition at a time so memory stays at about one partition
plus the incoming batch. A source whose mapping says ``partition: month`` (the city's
10-minute sensor readings: ~2.6M rows a month, ~30M a year, too many for a partition
rewrite in memory) is split by month inside the year; readers glob ``**/*.parquet`` so
this is transparent to them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskwarn.contracts import TABLES, UTC_TS, Table

log = logging.getLogger(__name__)

PART = "part.parquet"
HISTORY_EXTRA = "superseded_by_batch"
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("table_name", pa.string()),
        ("batch_id", pa.string()),
        ("file_name", pa.string()),
        ("row_number", pa.int64()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("original", pa.string()),
    ]
)
_ARROW = {
    "str": pa.string(),
    "float": pa.float64(),
    "int": pa.int64(),
    UTC_TS: pa.timestamp("ns", tz="UTC"),
}


def arrow_schema(table: Table, extra: tuple[tuple[str, pa.DataType], ...] = ()) -> pa.Schema:
    """The fixed Arrow schema of a canonical table's files."""
    return pa.schema([(f.name, _ARROW[f.dtype]) for f in table.fields] + list(extra))


def parquet_bytes(frame: pd.DataFrame, schema: pa.Schema) -> bytes:
    """Serialize deterministically: explicit schema, no metadata, fixed writer options."""
    tbl = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    tbl = tbl.replace_schema_metadata(None)
    buf = pa.BufferOutputStream()
    pq.write_table(
        tbl,
        buf,
        compression="zstd",
        compression_level=3,
        version="2.6",
        data_page_version="1.0",
        use_dictionary=True,
        write_statistics=True,
        row_group_size=1_000_000,
        store_schema=False,
    )
    return bytes(buf.getvalue().to_pybytes())


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless the file already holds exactly these bytes."""
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:  # a full disk must not leave a partial file behind
        tmp.unlink(missing_ok=True)
        raise
    return True


def conform(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Canonical dtypes (object strings with None, Int64, float64, UTC timestamps)."""
    from riskwarn.contracts import conform as _conform

    return _conform(frame, table)


def _table_dir(lake_dir: Path, table: str, source: str) -> Path:
    return Path(lake_dir) / table / f"source={source}"


def partition_label(table: Table, when: pd.Timestamp | None, grain: str = "year") -> str:
    """Partition folder(s) of a row: '' (static), 'year=YYYY' or 'year=YYYY/month=MM'."""
    if table.time_column is None or when is None:
        return ""
    if grain == "month":
        return f"year={when.year:04d}/month={when.month:02d}"
    return f"year={when.year:04d}"


def partition_labels(table: Table, frame: pd.DataFrame, grain: str = "year") -> pd.Series:
    """Vectorised :func:`partition_label` for a frame of the table."""
    if table.time_column is None:
        return pd.Series("", index=frame.index, dtype=object)
    t = frame[table.time_column]
    label = "year=" + t.dt.year.astype(str).str.zfill(4)
    if grain == "month":
        label = label + "/month=" + t.dt.month.astype(str).str.zfill(2)
    return label.astype(object)


def partition_path(lake_dir: Path, table: str, source: str, label: str) -> Path:
    """Path of one partition file (``label`` from :func:`partition_label`)."""
    base = _table_dir(lake_dir, table, source)
    return base / label / PART if label else base / PART


def _existing_partitions(lake_dir: Path, table: Table, source: str) -> dict[str, Path]:
    base = _table_dir(lake_dir, table.name, source)
    if table.time_column is None:
        p = base / PART
        return {"": p} if p.exists() else {}
    return {str(p.parent.relative_to(base)): p for p in sorted(base.glob(f"year=*/**/{PART}"))}


def _read_part(path: Path, table: Table) -> pd.DataFrame:
    if not path.exists():
        return conform(pd.DataFrame(columns=table.columns), table)
    return conform(pq.read_table(path).to_pandas(), table)


def to_arrow(values: pd.Series) -> pa.Array:
    """A column as an Arrow array (Arrow-backed strings without a copy; NaN -> null)."""
    arr = pa.array(values, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def sort_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Positions that sort ``frame`` by ``keys`` ascending, stable, nulls last: the order of
    ``frame.sort_values(keys, kind="stable")`` (strings by code point = UTF-8 bytes),
    computed by Arrow, which is much faster on string keys."""
    if len(frame) == 0:
        return np.array([], dtype=np.int64)
    tbl = pa.table({f"k{i}": to_arrow(frame[k]) for i, k in enumerate(keys)})
    order = pc.sort_indices(
        tbl, options=pc.SortOptions([(f"k{i}", "ascending", "at_end") for i in range(len(keys))])
    )
    return order.to_numpy()


def rows_equal(a: pd.DataFrame, b: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Row-by-row exact equality of two aligned frames (nulls equal nulls; floats and
    times compared by their bits, so ``-0.0`` differs from ``0.0``)."""
    eq = np.ones(len(a), dtype=bool)
    for c in columns:
        x, y = a[c], b[c]
        if x.dtype.kind in "mM" and y.dtype == x.dtype:
            same = x.array.asi8 == y.array.asi8  # NaT == NaT here
        elif x.dtype.kind == "f" and y.dtype == x.dtype:
            same = x.to_numpy().view("int64") == y.to_numpy().view("int64")
            if x.dtype.kind == "f":
                same |= np.isnan(x.to_numpy()) & np.isnan(y.to_numpy())
        else:
            xa, ya = to_arrow(x), to_arrow(y)
            if xa.type != ya.type:
                ya = ya.cast(xa.type)
            same = pc.or_(
                pc.fill_null(pc.equal(xa, ya), False), pc.and_(pc.is_null(xa), pc.is_null(ya))
            ).to_numpy(zero_copy_only=False)
        eq &= same
    return eq


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    order = sort_order(frame, keys)
    if not np.array_equal(order, np.arange(len(frame))):
        frame = frame.take(order)
    return frame.reset_index(drop=True)


def _ids_sorted(frame: pd.DataFrame) -> bool:
    """Whether a single-source frame is already in key order (strictly increasing ids)."""
    ids = to_arrow(frame["record_id"]).cast(pa.string())
    if len(ids) < 2 or ids.null_count:
        return len(ids) < 2
    return bool(pc.all(pc.greater(ids[1:], ids[:-1])).as_py())


def upsert(
    lake_dir: Path,
    table_name: str,
    source: str,
    accepted: pd.DataFrame,
    *,
    batch_id: str,
    grain: str = "year",
) -> dict[str, int]:
    """Upsert validated canonical rows by ``(source, record_id)``.

    New ids are added; a changed record replaces the stored one (which is appended to
    ``_history``); an unchanged record rewrites nothing. Returns counts new/updated/unchanged.
    """
    table = TABLES[table_name]
    keys = list(table.key)
    incoming = conform(accepted, table)
    if incoming.empty:
        return {"new": 0, "updated": 0, "unchanged": 0}
    if incoming["source"].ne(source).any():
        raise ValueError(f"rows of another source than {source!r} in upsert")
    ids = to_arrow(incoming["record_id"]).cast(pa.string())
    existing = _existing_partitions(lake_dir, table, source)
    labels = partition_labels(table, incoming, grain)
    affected: set[str] = set(labels.unique())
    others = [str(p) for label, p in existing.items() if label not in affected]
    if others:
        affected |= _partitions_holding(others, ids, _table_dir(lake_dir, table.name, source))
    known = np.zeros(len(incoming), dtype=bool)
    same = np.zeros(len(incoming), dtype=bool)
    superseded: list[pd.DataFrame] = []
    single = len(affected) == 1
    for label in sorted(affected):
        path = partition_path(lake_dir, table.name, source, label)
        old = _read_part(path, table)
        # position in `incoming` of each stored id (null = not in this batch)
        old_ids = to_arrow(old["record_id"]).cast(pa.string())
        if len(old) == len(ids) and pc.all(pc.equal(old_ids, ids)).as_py():
            hit = np.ones(len(old), dtype=bool)  # re-ingest: the same ids in the same order
            at = np.arange(len(old), dtype=np.int64)
        elif len(old):
            pos = pc.index_in(old_ids, value_set=ids)
            hit = pos.is_valid().to_numpy(zero_copy_only=False)
            at = pc.drop_null(pos).to_numpy().astype(np.int64)
        else:  # a new partition: nothing to look up
            hit = np.zeros(0, dtype=bool)
        if hit.any():
            stored = old if hit.all() else old[hit]
            same_rows = incoming if np.array_equal(at, np.arange(len(incoming))) else None
            equal = rows_equal(
                stored.reset_index(drop=True),
                (incoming.take(at) if same_rows is None else same_rows).reset_index(drop=True),
                table.columns,
            )
            known[at] = True
            same[at] = equal
            if not equal.all():
                superseded.append(old[hit][~equal])
            old = old[~hit]
        new_rows = incoming if single else incoming[(labels == label).to_numpy()]
        if len(old):
            merged = _sorted(pd.concat([old, new_rows], ignore_index=True), keys)
        elif _ids_sorted(new_rows):  # validated batches arrive sorted by key
            merged = new_rows.reset_index(drop=True)
        else:
            merged = _sorted(new_rows, keys)
        del old, new_rows
        if merged.empty:
            path.unlink(missing_ok=True)
            continue
        if write_if_changed(path, parquet_bytes(merged, arrow_schema(table))):
            log.info("wrote %s (%d rows)", path, len(merged))
        del merged
    if superseded:
        _append_history(lake_dir, table, source, pd.concat(superseded, ignore_index=True), batch_id)
    return {
        "new": int((~known).sum()),
        "updated": int((known & ~same).sum()),
        "unchanged": int(same.sum()),
    }


def _isin(values: pd.Series, value_set: pa.Array) -> pd.Series:
    """``values.isin(value_set)`` through Arrow's hash lookup (fast for big id sets)."""
    arr = pa.array(values.to_numpy(dtype=object), type=pa.string())
    mask = pc.is_in(arr, value_set=value_set).to_numpy(zero_copy_only=False)
    return pd.Series(mask, index=values.index, dtype=bool)


def _partitions_holding(paths: list[str], ids: pa.Array, base: Path) -> set[str]:
    """Labels of the partitions (among ``paths``) that hold any of ``ids``.

    Streams the ``record_id`` column one row group at a time and skips a row group
    whose min/max statistics lie outside the incoming ids' range, so memory stays at
    one row group plus the incoming id set however large the lake grows (a single
    DuckDB semi-join over every partition ran out of its 1 GB at 36 monthly partitions
    of 2.6M readings each).
    """
    ids = pc.unique(ids.cast(pa.string()))
    if len(ids) == 0:
        return set()
    lo, hi = (v.as_py() for v in pc.min_max(ids).values())

    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    found: set[str] = set()
    for path in paths:
        pf = pq.ParquetFile(path)
        col = pf.schema_arrow.get_field_index("record_id")
        for rg in range(pf.num_row_groups):
            stats = pf.metadata.row_group(rg).column(col).statistics
            has_range = stats is not None and stats.has_min_max and lo is not None
            if has_range and (text(stats.max) < lo or text(stats.min) > hi):
                continue  # no incoming id can lie in this row group
            got = pf.read_row_group(rg, columns=["record_id"]).column(0)
            if pc.any(pc.is_in(got.cast(pa.string()), value_set=ids)).as_py():
                found.add(str(Path(path).parent.relative_to(base)))
                break
    return found


def _append_history(
    lake_dir: Path, table: Table, source: str, old_rows: pd.DataFrame, batch_id: str
) -> None:
    path = Path(lake_dir) / "_history" / table.name / f"source={source}" / PART
    schema = arrow_schema(table, ((HISTORY_EXTRA, pa.string()),))
    rows = old_rows.copy()
    rows[HISTORY_EXTRA] = batch_id
    if path.exists():
        stored = pq.read_table(path).to_pandas()
        stored = pd.concat([conform(stored, table), stored[[HISTORY_EXTRA]]], axis=1)
        rows = pd.concat([stored, rows], ignore_index=True)
    rows = rows.drop_duplicates(["record_id", HISTORY_EXTRA], keep="last")
    write_if_changed(path, parquet_bytes(_sorted(rows, ["record_id", HISTORY_EXTRA]), schema))


def write_quarantine(lake_dir: Path, source: str, quarantine: pd.DataFrame) -> bool:
    """Upsert quarantined rows keyed by ``(batch_id, row_number)``; idempotent."""
    if quarantine.empty:
        return False
    path = Path(lake_dir) / "_quarantine" / f"source={source}" / PART
    rows = quarantine[QUARANTINE_SCHEMA.names].copy()
    if path.exists():
        rows = pd.concat([pq.read_table(path).to_pandas(), rows], ignore_index=True)
    rows["row_number"] = rows["row_number"].astype("int64")
    rows = rows.drop_duplicates(["batch_id", "row_number"], keep="last")
    return write_if_changed(
        path, parquet_bytes(_sorted(rows, ["batch_id", "row_number"]), QUARANTINE_SCHEMA)
    )


def _glob(lake_dir: Path, table: str) -> str:
    return str(Path(lake_dir) / table / "**" / "*.parquet")


def _has_files(lake_dir: Path, table: str) -> bool:
    return any((Path(lake_dir) / table).glob("**/*.parquet"))


def read_table(
    lake_dir: Path, table: str, sources: list[str] | None = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """A canonical table (optionally some sources / columns) as a frame sorted by key."""
    tbl = TABLES[table]
    cols = columns or tbl.columns
    if not _has_files(lake_dir, table):
        return conform(pd.DataFrame(columns=tbl.columns), tbl)[cols]
    con = duckdb.connect()
    try:
        sql = f"SELECT {', '.join(cols)} FROM read_parquet(?, hive_partitioning=false, union_by_name=true)"
        params: list[Any] = [_glob(lake_dir, table)]
        if sources:
            sql += f" WHERE source IN ({', '.join('?' for _ in sources)})"
            params += list(sources)
        frame = con.execute(sql, params).df()
    finally:
        con.close()
    frame = conform(frame.reindex(columns=tbl.columns), tbl)
    return _sorted(frame, list(tbl.key))[cols]


def read_quarantine(lake_dir: Path, sources: list[str] | None = None) -> pd.DataFrame:
    """All quarantined rows (optionally of some sources)."""
    paths = sorted((Path(lake_dir) / "_quarantine").glob(f"source=*/{PART}"))
    frames = [pq.read_table(p).to_pandas() for p in paths]
    if not frames:
        return QUARANTINE_SCHEMA.empty_table().to_pandas()
    q = pd.concat(frames, ignore_index=True)
    return q[q["source"].isin(sources)].reset_index(drop=True) if sources else q


def read_history(lake_dir: Path, table: str, source: str) -> pd.DataFrame:
    """Superseded versions of updated records of one table and source."""
    path = Path(lake_dir) / "_history" / table / f"source={source}" / PART
    if not path.exists():
        return pd.DataFrame(columns=[*TABLES[table].columns, HISTORY_EXTRA])
    return pq.read_table(path).to_pandas()


def connect(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per canonical table present in the lake
    (plus ``quarantine``), for ad-hoc SQL over the lake without loading it."""
    con = duckdb.connect()
    for name in TABLES:
        if _has_files(lake_dir, name):
            glob = _glob(lake_dir, name).replace("'", "''")
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}', hive_partitioning=true, union_by_name=true)"
            )
    if _has_files(lake_dir, "_quarantine"):
        glob = str(Path(lake_dir) / "_quarantine" / "**" / "*.parquet").replace("'", "''")
        con.execute(
            f"CREATE VIEW quarantine AS SELECT * FROM read_parquet('{glob}', union_by_name=true)"
        )
    return con
