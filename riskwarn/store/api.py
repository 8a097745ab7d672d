"""The serving-store API: the one way riskwarn reads and writes forecasts, warnings and audit.

See ``helpers/STORE_API``-style contract in ``docs/serving-store.md``. In short:

* a scoring run is *staged* (``stage_run``), filled (``write_forecasts``,
  ``write_warnings``) into staging tables, then *published* in one transaction
  (``publish_run``); readers only ever read published runs, so they never see a
  partial or empty run, and a failed run leaves the last published one in service;
* ids are deterministic, so re-running a scoring interval rewrites the same rows;
* review decisions use optimistic concurrency (``review_warning``) and are appended
  to ``warning_reviews`` and ``audit_log``, which the database keeps append-only.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from riskwarn.store.models import (
    LEVELS,
    REVIEW_ACTIONS,
    WARNING_CONTENT,
    AuditLog,
    Forecast,
    ForecastRun,
    IngestBatch,
    Publication,
    RiskWarning,
    StagedForecast,
    StagedRun,
    StagedWarning,
    UTCDateTime,
    WarningReview,
)

if TYPE_CHECKING:
    from riskwarn.settings import Settings

log = logging.getLogger(__name__)

VERSION_TABLE = "riskwarn_alembic_version"
SQLITE_BUSY_TIMEOUT_MS = 30_000
RUN_KEYS = (
    "run_id",
    "domain",
    "origin",
    "horizon_hours",
    "model_name",
    "model_version",
    "data_version",
    "airflow_run_id",
)
INGEST_COUNTS = ("read", "accepted", "new", "updated", "unchanged", "quarantined", "duplicates")
FORECAST_REQUIRED = ("unit_type", "unit_id", "valid_to", "score")
WARNING_REQUIRED = ("unit_type", "unit_id", "valid_from", "valid_to", "level")
STATE_OF_ACTION = {"accept": "accepted", "adjust": "adjusted", "dismiss": "dismissed"}


class StaleWarningError(Exception):
    """A review was based on an outdated version of the warning.

    ``current`` is the warning as it is now (``Store.get_warning``), including
    ``last_review``: the decision that came first.
    """

    def __init__(self, current: dict[str, Any], expected_version: int) -> None:
        last = current.get("last_review") or {}
        who = f" by {last['reviewer']} ({last['action']})" if last else ""
        super().__init__(
            f"warning {current['warning_id']} changed{who}: version {current['version']} "
            f"is current, the review was based on version {expected_version}"
        )
        self.current = current
        self.expected_version = expected_version


def run_id_for(domain: str, origin: datetime) -> str:
    """The deterministic run id ``domain:YYYYmmddTHHMMZ`` of a scoring interval."""
    return f"{domain}:{_utc(origin):%Y%m%dT%H%MZ}"


def warning_id_for(domain: str, unit_id: str, valid_from: datetime) -> str:
    """The deterministic warning id ``domain:unit_id:YYYYmmddTHHMMZ``."""
    return f"{domain}:{unit_id}:{_utc(valid_from):%Y%m%dT%H%MZ}"


def _utc(value: Any) -> datetime:
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


def _clean_json(value: Any) -> Any:
    """NaN/inf -> None recursively (PostgreSQL's JSON rejects them); keeps everything else."""
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, Mapping):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _clean_json(value.item())
    if hasattr(value, "tolist"):
        return _clean_json(value.tolist())
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


def _records(frame: pd.DataFrame, table: sa.Table) -> list[dict[str, Any]]:
    """Frame rows as plain-Python dicts typed for ``table`` (NaN/NA -> None)."""
    out: list[dict[str, Any]] = []
    cols = [c for c in frame.columns if c in table.c]
    obj = frame[cols].astype(object).where(frame[cols].notna(), None)
    for row in obj.to_dict("records"):
        out.append({k: _coerce(table.c[k], v) for k, v in row.items()})
    return out


def _coerce(column: sa.Column[Any], value: Any) -> Any:
    if isinstance(column.type, sa.JSON):
        return _clean_json(value)
    if value is None:
        return None
    if isinstance(column.type, sa.Integer):
        return int(value)
    if isinstance(column.type, sa.Float):
        return float(value)
    if isinstance(column.type, sa.String):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return _utc(value)
    return value


def _frame(rows: Sequence[Any], columns: Iterable[sa.ColumnElement[Any] | str]) -> pd.DataFrame:
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


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


class Store:
    """The serving store at a SQLAlchemy URL (SQLite file or PostgreSQL)."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store at ``settings.resolved_store_url``."""
        return cls(settings.resolved_store_url)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- connections -------------------------------------------------------------------

    def _write(self) -> Any:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        conn = self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        return _Transaction(conn)

    def _read(self) -> Any:
        """A read-only connection; each statement sees one consistent snapshot."""
        return self.engine.connect()

    def _now(self) -> datetime:
        return _utc(self._clock())

    # -- schema ------------------------------------------------------------------------

    def _alembic_config(self, connection: Connection | None = None) -> Any:
        from alembic.config import Config

        package = resources.files("riskwarn.store")
        cfg = Config(str(package / "alembic.ini"))
        cfg.set_main_option("script_location", str(Path(str(package)) / "migrations"))
        cfg.set_main_option("version_table", VERSION_TABLE)
        if connection is not None:
            cfg.attributes["connection"] = connection
        return cfg

    def upgrade(self, revision: str = "head") -> str | None:
        """Apply the Alembic migrations up to ``revision`` (idempotent); return the new revision."""
        from alembic import command

        if self.engine.dialect.name == "sqlite" and self.engine.url.database:
            Path(self.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        with self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            command.upgrade(self._alembic_config(conn), revision)
            conn.commit()
        return self.current_revision()

    def current_revision(self) -> str | None:
        """The schema revision of the database (None before the first upgrade)."""
        from alembic.runtime.migration import MigrationContext

        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and not Path(database).exists():
            return None  # do not create an empty file just to look
        with self._read() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return ctx.get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision shipped with this package."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    # -- ingest and audit --------------------------------------------------------------

    def record_ingest_batch(self, report: Mapping[str, Any]) -> None:
        """Insert or replace the counts of one ingested file (key ``batch_id``)."""
        missing = {"batch_id", "source", "file_name", "table_name", "ingested_at"} - set(report)
        missing |= set(INGEST_COUNTS) - set(report)
        if missing:
            raise ValueError(f"ingest report lacks {sorted(missing)}")
        row: dict[str, Any] = {
            "batch_id": str(report["batch_id"]),
            "source": str(report["source"]),
            "file_name": str(report["file_name"]),
            "table_name": str(report["table_name"]),
            "reasons": _clean_json(dict(report.get("reasons") or {})),
            "ingested_at": _utc(report["ingested_at"]),
        }
        row.update({k: int(report[k]) for k in INGEST_COUNTS})
        with self._write() as conn:
            _upsert(conn, _table(IngestBatch), [row], ["batch_id"])

    def ingest_batches(self) -> pd.DataFrame:
        """Every recorded ingest batch, newest first."""
        t = _table(IngestBatch)
        with self._read() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.ingested_at.desc(), t.c.batch_id))
            return _frame(rows.mappings().all(), list(t.c))

    def audit(
        self, actor: str, action: str, object_type: str, object_id: str, details: dict[str, Any]
    ) -> None:
        """Append one entry to the audit log."""
        with self._write() as conn:
            self._audit(conn, actor, action, object_type, object_id, details)

    def _audit(
        self,
        conn: Connection,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        details: Mapping[str, Any] | None,
    ) -> None:
        conn.execute(
            sa.insert(_table(AuditLog)).values(
                at=self._now(),
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=str(object_id),
                details=_clean_json(dict(details or {})),
            )
        )

    def audit_log(self, limit: int = 1000) -> pd.DataFrame:
        """The newest ``limit`` audit entries, newest first."""
        t = _table(AuditLog)
        with self._read() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(limit))
            return _frame(rows.mappings().all(), list(t.c))

    # -- forecast runs -----------------------------------------------------------------

    def stage_run(self, run: Mapping[str, Any]) -> str:
        """Start (or restart) writing a run; discards rows staged earlier under its id.

        The run's published rows, if any, stay in service until ``publish_run``.
        """
        missing = {"run_id", "domain", "origin", "horizon_hours"} - set(run)
        if missing:
            raise ValueError(f"run lacks {sorted(missing)}")
        meta: dict[str, Any] = {k: run.get(k) for k in RUN_KEYS}
        run_id = str(meta["run_id"])
        meta["run_id"] = run_id
        meta["origin"] = _utc(meta["origin"])
        meta["horizon_hours"] = float(meta["horizon_hours"])
        for key in ("model_name", "model_version", "data_version", "airflow_run_id"):
            meta[key] = None if meta[key] is None else str(meta[key])
        now = self._now()
        with self._write() as conn:
            self._discard_staged(conn, run_id)
            conn.execute(sa.insert(_table(StagedRun)).values(**meta, staged_at=now))
            runs = _table(ForecastRun)
            exists = conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
            if exists is None:  # visible to operators as 'staging' until published
                conn.execute(
                    sa.insert(runs).values(**meta, status="staging", n_rows=0, created_at=now)
                )
        log.info("staged run %s", run_id)
        return run_id

    @staticmethod
    def _discard_staged(conn: Connection, run_id: str) -> None:
        for model in (StagedForecast, StagedWarning, StagedRun):
            t = _table(model)
            conn.execute(sa.delete(t).where(t.c.run_id == run_id))

    def _staged_run(self, conn: Connection, run_id: str) -> dict[str, Any]:
        t = _table(StagedRun)
        row = conn.execute(sa.select(t).where(t.c.run_id == run_id)).mappings().first()
        if row is None:
            raise ValueError(f"run {run_id!r} is not staged: call stage_run first")
        return dict(row)

    def write_forecasts(self, run_id: str, frame: pd.DataFrame) -> int:
        """Add forecast rows to a staged run; return the number of rows written."""
        missing = set(FORECAST_REQUIRED) - set(frame.columns)
        if missing:
            raise ValueError(f"forecast frame lacks columns {sorted(missing)}")
        table = _table(StagedForecast)
        with self._write() as conn:
            run = self._staged_run(conn, run_id)
            rows = _records(frame, table)
            for row in rows:
                row["run_id"] = run_id
                row.setdefault("domain", run["domain"])
                row["origin"] = row.get("origin") or run["origin"]
                row["domain"] = row["domain"] or run["domain"]
                if row["domain"] != run["domain"]:
                    raise ValueError(f"forecast of domain {row['domain']!r} in run {run_id!r}")
            if rows:
                conn.execute(sa.insert(table), rows)
        return len(rows)

    def write_warnings(self, run_id: str, frame: pd.DataFrame) -> int:
        """Add warnings to a staged run; ``warning_id`` and ``level_rank`` are derived if absent."""
        missing = set(WARNING_REQUIRED) - set(frame.columns)
        if missing:
            raise ValueError(f"warning frame lacks columns {sorted(missing)}")
        table = _table(StagedWarning)
        with self._write() as conn:
            run = self._staged_run(conn, run_id)
            rows = _records(frame, table)
            for row in rows:
                row["run_id"] = run_id
                row["domain"] = row.get("domain") or run["domain"]
                row["origin"] = row.get("origin") or run["origin"]
                if row["level"] not in LEVELS:
                    raise ValueError(f"unknown warning level {row['level']!r}")
                rank = LEVELS[row["level"]]
                if row.get("level_rank") not in (None, rank):
                    raise ValueError(
                        f"level {row['level']} has level_rank {rank}, not {row['level_rank']}"
                    )
                row["level_rank"] = rank
                row["warning_id"] = row.get("warning_id") or warning_id_for(
                    row["domain"], row["unit_id"], row["valid_from"]
                )
            if rows:
                conn.execute(sa.insert(table), rows)
        return len(rows)

    def publish_run(self, run_id: str, actor: str = "pipeline") -> str:
        """Serve a staged run, atomically; return its status ('published' or 'superseded').

        In one transaction: the staged rows replace any earlier rows of the run, the
        warnings are upserted, the run becomes 'published', the domain's previous run
        'superseded' and ``publications[domain]`` points at it. A run older than the
        one served (a backfill) is stored as 'superseded' and does not replace it.
        Publishing an already published run with nothing staged does nothing.
        Raises ValueError for a run with no forecasts (the served run stays).
        """
        with self._write() as conn:
            runs = _table(ForecastRun)
            staged_meta = _table(StagedRun)
            meta_row = (
                conn.execute(sa.select(staged_meta).where(staged_meta.c.run_id == run_id))
                .mappings()
                .first()
            )
            if meta_row is None:
                done = conn.execute(
                    sa.select(runs.c.status).where(runs.c.run_id == run_id)
                ).scalar_one_or_none()
                if done in ("published", "superseded"):
                    return str(done)
                raise ValueError(f"run {run_id!r} is not staged: call stage_run first")
            meta = dict(meta_row)
            staged_at = meta.pop("staged_at")
            sf = _table(StagedForecast)
            n_rows = conn.execute(
                sa.select(sa.func.count()).select_from(sf).where(sf.c.run_id == run_id)
            ).scalar_one()
            if n_rows == 0:
                raise ValueError(f"run {run_id!r} has no forecasts: not publishing it")
            now = self._now()
            domain = meta["domain"]
            if conn.dialect.name == "postgresql":  # one publisher per domain at a time
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"riskwarn.publish:{domain}"},
                )
            pub = _table(Publication)
            current = conn.execute(
                sa.select(pub.c.run_id, runs.c.origin)
                .join(runs, runs.c.run_id == pub.c.run_id)
                .where(pub.c.domain == domain)
            ).first()
            becomes_current = current is None or current.origin <= meta["origin"]
            status = "published" if becomes_current else "superseded"

            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id)
                .values(**meta, status=status, n_rows=n_rows, published_at=now)
            )
            self._move_forecasts(conn, run_id)
            n_warn = self._merge_warnings(conn, run_id, now, becomes_current)
            if becomes_current:
                if current is not None and current.run_id != run_id:
                    conn.execute(
                        sa.update(runs)
                        .where(runs.c.run_id == current.run_id)
                        .values(status="superseded")
                    )
                _upsert(
                    conn,
                    pub,
                    [{"domain": domain, "run_id": run_id, "published_at": now}],
                    ["domain"],
                )
            self._discard_staged(conn, run_id)
            self._audit(
                conn,
                actor,
                "publish_run",
                "forecast_run",
                run_id,
                {
                    "status": status,
                    "n_forecasts": n_rows,
                    "n_warnings": n_warn,
                    "staged_at": staged_at.isoformat(),
                    "replaced": None if current is None else current.run_id,
                },
            )
        log.info("run %s %s (%d forecasts, %d warnings)", run_id, status, n_rows, n_warn)
        return status

    @staticmethod
    def _move_forecasts(conn: Connection, run_id: str) -> None:
        f, sf = _table(Forecast), _table(StagedForecast)
        cols = [c.name for c in f.columns]
        conn.execute(sa.delete(f).where(f.c.run_id == run_id))
        conn.execute(
            sa.insert(f).from_select(
                cols, sa.select(*(sf.c[c] for c in cols)).where(sf.c.run_id == run_id)
            )
        )

    @staticmethod
    def _merge_warnings(conn: Connection, run_id: str, now: datetime, is_current: bool) -> int:
        """Upsert the run's staged warnings into ``warnings``; return how many it has.

        New warnings start as state 'new', version 1. An existing warning whose level
        changed is reset to 'new' with its version bumped (it needs a fresh review);
        otherwise only its content is refreshed and its review state/version kept.
        Unchanged warnings are not touched (a re-run rewrites nothing).
        """
        w, sw = _table(RiskWarning), _table(StagedWarning)
        staged = conn.execute(sa.select(sw).where(sw.c.run_id == run_id)).mappings().all()
        existing = {
            r["warning_id"]: dict(r)
            for r in conn.execute(
                sa.select(w)
                .join(sw, sw.c.warning_id == w.c.warning_id)
                .where(sw.c.run_id == run_id)
            ).mappings()
        }
        inserts: list[dict[str, Any]] = []
        for row in staged:
            new = {k: row[k] for k in WARNING_CONTENT}
            old = existing.get(new["warning_id"])
            if old is None:
                inserts.append(
                    {
                        **new,
                        "state": "new",
                        "reviewed_level": None,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            if not is_current and old["run_id"] != run_id:
                continue  # a backfilled older run never overrides a newer run's warning
            if all(old[k] == new[k] for k in WARNING_CONTENT):
                continue
            values: dict[str, Any] = {**new, "updated_at": now}
            if old["level"] != new["level"]:
                values.update(state="new", reviewed_level=None, version=w.c.version + 1)
            conn.execute(sa.update(w).where(w.c.warning_id == new["warning_id"]).values(**values))
        if inserts:
            conn.execute(sa.insert(w), inserts)
        return len(staged)

    def runs(self, domain: str | None = None) -> pd.DataFrame:
        """Every run (staging, published, superseded), newest origin first."""
        t = _table(ForecastRun)
        stmt = sa.select(t).order_by(t.c.origin.desc(), t.c.run_id)
        if domain is not None:
            stmt = stmt.where(t.c.domain == domain)
        with self._read() as conn:
            return _frame(conn.execute(stmt).mappings().all(), list(t.c))

    @staticmethod
    def _published_run_stmt(domain: str) -> sa.Select[Any]:
        runs, pub = _table(ForecastRun), _table(Publication)
        return (
            sa.select(runs).join(pub, pub.c.run_id == runs.c.run_id).where(pub.c.domain == domain)
        )

    @staticmethod
    def _published_forecasts_stmt(domain: str) -> sa.Select[Any]:
        f, pub = _table(Forecast), _table(Publication)
        return (
            sa.select(f)
            .join(pub, sa.and_(pub.c.run_id == f.c.run_id, pub.c.domain == f.c.domain))
            .where(pub.c.domain == domain)
            .order_by(f.c.rank, f.c.unit_id)
        )

    def published_run(self, domain: str) -> dict[str, Any] | None:
        """The run served for ``domain`` (its ``forecast_runs`` row), or None."""
        with self._read() as conn:
            row = conn.execute(self._published_run_stmt(domain)).mappings().first()
        return None if row is None else dict(row)

    def published_forecasts(self, domain: str) -> pd.DataFrame:
        """The forecasts of the run served for ``domain`` (one statement: one snapshot)."""
        with self._read() as conn:
            rows = conn.execute(self._published_forecasts_stmt(domain)).mappings().all()
        return _frame(rows, list(_table(Forecast).c))

    def published_snapshot(self, domain: str) -> dict[str, Any]:
        """The served run, its forecasts and its warnings, read from one database snapshot.

        Separate calls to ``published_forecasts`` and ``warnings`` can straddle a
        publish (each is whole, but they may belong to different runs); this cannot.
        Returns ``{"run": dict | None, "forecasts": DataFrame, "warnings": DataFrame}``.
        """
        conn = self.engine.connect()
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn:  # SQLite: one deferred read transaction = one WAL snapshot
            run = conn.execute(self._published_run_stmt(domain)).mappings().first()
            forecasts = conn.execute(self._published_forecasts_stmt(domain)).mappings().all()
            warnings = conn.execute(self._warnings_stmt(domain, None, None, True)).mappings().all()
        return {
            "run": None if run is None else dict(run),
            "forecasts": _frame(forecasts, list(_table(Forecast).c)),
            "warnings": _frame(warnings, [*_table(RiskWarning).c, "effective_level"]),
        }

    def forecast_history(
        self, domain: str, unit_id: str | None = None, since: datetime | None = None
    ) -> pd.DataFrame:
        """Forecasts of every published or superseded run of ``domain``, oldest origin first."""
        f = _table(Forecast)
        stmt = sa.select(f).where(f.c.domain == domain).order_by(f.c.origin, f.c.rank, f.c.unit_id)
        if unit_id is not None:
            stmt = stmt.where(f.c.unit_id == str(unit_id))
        if since is not None:
            stmt = stmt.where(f.c.origin >= _utc(since))
        with self._read() as conn:
            return _frame(conn.execute(stmt).mappings().all(), list(f.c))

    # -- warnings and reviews ------------------------------------------------------------

    @staticmethod
    def _warnings_stmt(
        domain: str | None, county: str | None, state: str | None, published_only: bool
    ) -> sa.Select[Any]:
        w, pub = _table(RiskWarning), _table(Publication)
        effective = sa.case(
            (w.c.state == "dismissed", sa.null()),
            else_=sa.func.coalesce(w.c.reviewed_level, w.c.level),
        ).label("effective_level")
        stmt = sa.select(w, effective)
        if published_only:
            stmt = stmt.join(pub, sa.and_(pub.c.run_id == w.c.run_id, pub.c.domain == w.c.domain))
        if domain is not None:
            stmt = stmt.where(w.c.domain == domain)
        if county is not None:
            stmt = stmt.where(w.c.county_code == county)
        if state is not None:
            stmt = stmt.where(w.c.state == state)
        return stmt.order_by(w.c.level_rank.desc(), w.c.score.desc(), w.c.warning_id)

    def warnings(
        self,
        domain: str | None = None,
        county: str | None = None,
        state: str | None = None,
        published_only: bool = True,
    ) -> pd.DataFrame:
        """Warnings ranked by level and score, with ``effective_level`` (the reviewed level
        where adjusted or accepted, else the raised level; None once dismissed).

        ``published_only`` keeps the warnings of each domain's served run; otherwise
        every warning ever published (history).
        """
        with self._read() as conn:
            rows = conn.execute(self._warnings_stmt(domain, county, state, published_only))
            return _frame(rows.mappings().all(), [*_table(RiskWarning).c, "effective_level"])

    def get_warning(self, warning_id: str) -> dict[str, Any]:
        """One warning with ``effective_level`` (as in :meth:`warnings`) and ``last_review``
        (dict or None); KeyError if it does not exist."""
        with self._read() as conn:
            return self._get_warning(conn, warning_id)

    @staticmethod
    def _get_warning(conn: Connection, warning_id: str) -> dict[str, Any]:
        w, r = _table(RiskWarning), _table(WarningReview)
        row = conn.execute(sa.select(w).where(w.c.warning_id == warning_id)).mappings().first()
        if row is None:
            raise KeyError(f"no warning {warning_id!r}")
        last = (
            conn.execute(
                sa.select(r)
                .where(r.c.warning_id == warning_id)
                .order_by(r.c.review_id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        effective = None if row["state"] == "dismissed" else row["reviewed_level"] or row["level"]
        return {
            **dict(row),
            "effective_level": effective,
            "last_review": None if last is None else dict(last),
        }

    def review_warning(
        self,
        warning_id: str,
        action: str,
        reason: str,
        reviewer: str,
        expected_version: int,
        level: str | None = None,
    ) -> dict[str, Any]:
        """Accept, adjust or dismiss a warning seen at ``expected_version``; return it updated.

        The update only applies if the warning is still at ``expected_version``;
        otherwise the attempt is written to the audit log as 'review_rejected' and
        StaleWarningError carries the current warning and its last review.
        ValueError (nothing written) for an unknown action, an empty reason or reviewer,
        a level given with anything but 'adjust', and an 'adjust' without a level or to
        the level the warning already has (confirming a level is an 'accept').
        """
        if action not in REVIEW_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(REVIEW_ACTIONS)}, not {action!r}")
        if not reason or not reason.strip():
            raise ValueError("a review needs a reason")
        if not reviewer or not reviewer.strip():
            raise ValueError("a review needs a reviewer")
        if action == "adjust" and level not in LEVELS:
            raise ValueError(f"'adjust' needs a level in {', '.join(LEVELS)}, not {level!r}")
        if action != "adjust" and level is not None:
            raise ValueError(f"only 'adjust' takes a level; {action!r} was given {level!r}")
        w = _table(RiskWarning)
        now = self._now()
        with self._write() as conn:
            current = self._get_warning(conn, warning_id)  # KeyError if unknown
            from_level = current["reviewed_level"] or current["level"]
            same_level = level == from_level and current["state"] != "dismissed"
            if action == "adjust" and same_level and current["version"] == expected_version:
                raise ValueError(
                    f"warning {warning_id} is already {level}: an 'adjust' must change the "
                    "level (use 'accept' to confirm it)"
                )
            to_level = {"accept": from_level, "adjust": level, "dismiss": None}[action]
            updated = conn.execute(
                sa.update(w)
                .where(w.c.warning_id == warning_id, w.c.version == int(expected_version))
                .values(
                    state=STATE_OF_ACTION[action],
                    reviewed_level=to_level,
                    version=w.c.version + 1,
                    updated_at=now,
                )
            ).rowcount
            attempt = {
                "action": action,
                "level": level,
                "reason": reason,
                "expected_version": int(expected_version),
            }
            if updated == 0:
                stale = self._get_warning(conn, warning_id)
                self._audit(
                    conn,
                    reviewer,
                    "review_rejected",
                    "warning",
                    warning_id,
                    {
                        **attempt,
                        "current_version": stale["version"],
                        "current_state": stale["state"],
                    },
                )
            else:
                conn.execute(
                    sa.insert(_table(WarningReview)).values(
                        warning_id=warning_id,
                        action=action,
                        from_level=from_level,
                        to_level=to_level,
                        reason=reason.strip(),
                        reviewer=reviewer,
                        reviewed_at=now,
                        warning_version=int(expected_version) + 1,
                    )
                )
                self._audit(conn, reviewer, f"review_{action}", "warning", warning_id, attempt)
                result = self._get_warning(conn, warning_id)
        if updated == 0:
            raise StaleWarningError(stale, int(expected_version))
        log.info("warning %s %s by %s", warning_id, action, reviewer)
        return result

    def warning_reviews(self, warning_id: str | None = None) -> pd.DataFrame:
        """The append-only review trail, oldest first."""
        r = _table(WarningReview)
        stmt = sa.select(r).order_by(r.c.review_id)
        if warning_id is not None:
            stmt = stmt.where(r.c.warning_id == warning_id)
        with self._read() as conn:
            return _frame(conn.execute(stmt).mappings().all(), list(r.c))


class _Transaction:
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


def _upsert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
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
