"""SQL plumbing of the serving store: engines, transactions, upserts and row <-> frame conversion.

Nothing here knows about runs or warnings; the store's mixins (``base``, ``publishing``,
``reads``, ``reviews``) build on it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pandas.core.dtypes.cast import maybe_box_native
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from riskwarn.store.models import UTCDateTime

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Key spaces of the PostgreSQL advisory locks (first argument of the two-key form).
# "alias": a model's champion alias (Store.alias_move_lock, session-level)
LOCK_SPACES = {"run": 7_240_311, "domain": 7_240_312, "alias": 7_240_313}


def utc(value: Any) -> datetime:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes UTC-aware times")
    return ts.tz_convert("UTC").to_pydatetime()


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def clean_json(value: Any) -> Any:
    """NaN/inf -> None recursively (PostgreSQL's JSON rejects them); keeps everything else."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, Mapping):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return clean_json(value.item())
    if hasattr(value, "tolist"):
        return clean_json(value.tolist())
    return value


json_dumps = partial(
    json.dumps, sort_keys=True, ensure_ascii=False, allow_nan=False, default=_json_default
)


def make_engine(url: str) -> Engine:
    """An engine for the serving store.

    SQLite: WAL journal, ``busy_timeout`` 30 s and foreign keys on every connection;
    transactions are begun explicitly (``BEGIN`` or, for writers, ``BEGIN IMMEDIATE``
    so two writers queue on the busy timeout instead of failing on a stale snapshot).
    PostgreSQL: ``postgresql+psycopg://...``.
    """
    engine = sa.create_engine(url, json_serializer=json_dumps, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def lock_for_transaction(conn: Connection, space: str, key: str) -> None:
    """Hold the lock ``(space, key)`` until the transaction ends.

    PostgreSQL: an advisory transaction lock (taken before anything is read, so the
    transaction sees everything committed by the previous holder). SQLite needs none:
    writers begin with ``BEGIN IMMEDIATE`` and hold the database's one write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"),
            {"space": LOCK_SPACES[space], "key": key},
        )


def records_for(frame: pd.DataFrame, table: sa.Table) -> list[dict[str, Any]]:
    """Frame rows as plain-Python dicts typed for ``table`` (NaN/NA -> None).

    Each value is what :func:`_coerce` makes of it (after pandas' boxing of numpy
    scalars, as ``to_dict("records")`` boxes them), converted a column at a time: one
    choice of conversion per column instead of per value, and a time zone-aware column
    converted to UTC at once (a day's incidents run writes 126,475 forecast rows on the
    simulated city)."""
    cols = [c for c in frame.columns if c in table.c]
    if not cols:
        return [{} for _ in range(len(frame))]
    values = [_column_values(table.c[k], frame[k]) for k in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def _column_values(column: sa.Column[Any], raw: pd.Series) -> list[Any]:
    """:func:`_coerce` of every value of one column of a frame (NaN/NA -> None)."""
    ctype = column.type
    kind = raw.dtype.kind if isinstance(raw.dtype, np.dtype) else ""
    if isinstance(ctype, sa.Float) and kind == "f":  # Python floats, NaN -> None
        return [None if v != v else v for v in raw.tolist()]
    if isinstance(ctype, sa.Integer) and kind in ("i", "u"):  # Python ints, never missing
        return raw.tolist()
    if isinstance(raw.dtype, pd.DatetimeTZDtype) and not isinstance(
        ctype, sa.JSON | sa.Integer | sa.Float | sa.String
    ):  # every value a Timestamp or NaT
        stamps = raw.dt.tz_convert("UTC").dt.to_pydatetime()
        return [None if na else v for v, na in zip(stamps, raw.isna().tolist(), strict=True)]
    obj = raw.astype(object).where(raw.notna(), None)
    boxed = list(map(maybe_box_native, obj.to_numpy()))
    if isinstance(ctype, sa.JSON):
        return [clean_json(v) for v in boxed]
    if isinstance(ctype, sa.Integer):
        return [None if v is None else int(v) for v in boxed]
    if isinstance(ctype, sa.Float):
        return [None if v is None else float(v) for v in boxed]
    if isinstance(ctype, sa.String):
        return [None if v is None else str(v) for v in boxed]
    return [utc(v) if isinstance(v, pd.Timestamp) else v for v in boxed]


def _coerce(column: sa.Column[Any], value: Any) -> Any:
    if isinstance(column.type, sa.JSON):
        return clean_json(value)
    if value is None:
        return None
    if isinstance(column.type, sa.Integer):
        return int(value)
    if isinstance(column.type, sa.Float):
        return float(value)
    if isinstance(column.type, sa.String):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return utc(value)
    return value


def frame_of(rows: Sequence[Any], columns: Iterable[sa.ColumnElement[Any] | str]) -> pd.DataFrame:
    """Rows as a DataFrame; timestamp columns as ``datetime64[ns, UTC]`` even when empty."""
    cols = list(columns)
    names = [c if isinstance(c, str) else c.key for c in cols]
    frame = pd.DataFrame([dict(r) for r in rows], columns=names)
    for col, name in zip(cols, names, strict=True):
        if isinstance(col, str):
            continue
        if isinstance(col.type, UTCDateTime):
            frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[ns, UTC]")
        elif isinstance(col.type, sa.Float):
            frame[name] = frame[name].astype("float64")
        elif isinstance(col.type, sa.Integer):
            nullable = frame[name].isna().any() or col.nullable
            frame[name] = frame[name].astype("Int64" if nullable else "int64")
    return frame


def table_of(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


class Transaction:
    """Context manager: a connection in a transaction, committed on success, closed always."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        self.conn.begin()
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()


def upsert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - only the two supported backends
        raise NotImplementedError(conn.dialect.name)
    for row in rows:
        stmt = insert(table).values(**row)
        update = {k: stmt.excluded[k] for k in row if k not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update))
