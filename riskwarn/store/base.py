"""The store's core: connections, schema migrations, ingest counts and the audit log."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from riskwarn.filemodes import create_private_file
from riskwarn.redact import redact, redact_value
from riskwarn.store.models import AuditLog, IngestBatch
from riskwarn.store.sql import (
    LOCK_SPACES,
    Transaction,
    clean_json,
    frame_of,
    make_engine,
    table_of,
    upsert,
    utc,
)

if TYPE_CHECKING:
    from riskwarn.settings import Settings

log = logging.getLogger(__name__)

VERSION_TABLE = "riskwarn_alembic_version"
INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL SQLSTATE
INGEST_COUNTS = ("read", "accepted", "new", "updated", "unchanged", "quarantined", "duplicates")
# audit actions on an ingest batch: a run's intent (before its lake commits), its record,
# and the closing of an intent whose run died before it stored anything
INGEST_STARTED = "ingest_started"
INGEST_RECORDED = "ingest_batch"
INGEST_INTERRUPTED = "ingest_interrupted"
# a re-ingest of a recorded batch that changed nothing (the batch's record is kept)
INGEST_SKIPPED = "ingest_skipped"


class SchemaPermissionError(RuntimeError):
    """This database role may not create or change the schema (only the owner may)."""


class UnknownRevisionError(RuntimeError):
    """The store is at a schema revision this code does not ship: migrated by a newer
    riskwarn (and the code rolled back since) or by hand. Nothing may migrate it."""

    revision: str | None = None  # the store's revision, for pages that name it


def os_actor() -> str:
    """``os:<account>``: the operating-system account running this process, from its
    uid (not ``$USER``, which the caller sets): the audit actor of CLI commands that
    have no authenticated user of their own (ingest, backup, restore), and the
    ``run_by`` of ``riskwarn stream ack``. A uid with no account name (a container
    started with ``--user 12345``, OpenShift's random uid: no passwd entry) is
    ``os:uid=<n>``; a failed lookup never stops the command (review 2026-12-06: ack,
    ingest, backup and restore died with KeyError)."""
    import os
    import pwd

    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except (KeyError, OSError, ValueError, OverflowError):
        name = ""
    return f"os:{name}" if name else f"os:uid={uid}"


class StoreBase:
    """The serving store at a SQLAlchemy URL (SQLite file or PostgreSQL): the shared core."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._clock = clock or (lambda: datetime.now(UTC))
        # run_id -> token of the runs this store staged and has not published yet
        self._staging_tokens: dict[str, str] = {}
        # the deliveries the last publish_run logged: new pending, new expired
        self.last_deliveries: dict[str, int] = {"pending": 0, "expired": 0}
        # PostgreSQL: the role the server authenticated this store's connections as
        # (``session_user``), read at the first audit entry; "" on SQLite (no users)
        self._db_user: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The store at ``settings.resolved_store_url``."""
        return cls(settings.resolved_store_url)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- the champion alias lock ---------------------------------------------------------

    @contextmanager
    def alias_move_lock(
        self, model: str, wait_s: float, purpose: str | None = None
    ) -> Iterator[None]:
        """Hold the serving store's lock of ``model``'s champion alias while it moves: every
        home, host and process moving it through this store takes turns, whatever its
        own ``<home>/run`` holds (two homes sharing one MLflow and one store each took its
        own file lock, and one recorded the other's move in flight as interrupted).

        PostgreSQL: a session advisory lock on a connection of its own (released by the
        server when the process dies); SQLite: ``flock`` of ``<database>.locks/alias-<model>.lock``
        beside the database file (released by the kernel); an in-memory database: none.
        Waits up to ``wait_s`` seconds, then ``riskwarn.spill.AliasBusy``."""
        import time

        from riskwarn.spill import AliasBusy
        from riskwarn.spill import alias_lock as file_lock

        holder = purpose or f"another promote or rollback, moving {model}@champion"
        if self.engine.dialect.name != "postgresql":
            database = self.engine.url.database
            if not database or database == ":memory:":
                yield
                return
            folder = Path(database).with_name(Path(database).name + ".locks")
            with file_lock(folder, model, wait_s, holder):
                yield
            return
        key = {"space": LOCK_SPACES["alias"], "key": model}
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            deadline = time.monotonic() + wait_s
            take = sa.text("SELECT pg_try_advisory_lock(:space, hashtext(:key))")
            while not conn.execute(take, key).scalar():
                if time.monotonic() >= deadline:
                    pid = conn.execute(
                        sa.text(
                            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND "
                            "classid = :space AND objid = hashtext(:key)::oid AND granted"
                        ),
                        key,
                    ).scalar()
                    raise AliasBusy(
                        f"{model}: its champion alias lock in the serving store is held "
                        f"(PostgreSQL backend pid {pid if pid is not None else '?'}) and was "
                        f"not released within {wait_s:g} s: not done; run it again when "
                        "that one has ended"
                    )
                time.sleep(0.1)
            yield
        finally:
            conn.invalidate()  # the session ends, and its lock with it (never pooled, held)
            conn.close()

    # -- connections -------------------------------------------------------------------

    def _write(self) -> Any:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        conn = self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        return Transaction(conn)

    def _read(self) -> Any:
        """A read-only connection; each statement sees one consistent snapshot."""
        return self.engine.connect()

    def _now(self) -> datetime:
        return utc(self._clock())

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

    def upgrade(self, revision: str = "head", *, force: bool = False) -> str | None:
        """Apply the Alembic migrations up to ``revision`` (idempotent); return the new revision.

        When the database is already there nothing runs, so roles that may not change
        the schema (the pipeline's, the dashboard's) can call it. ``force`` runs Alembic
        anyway; on PostgreSQL every Alembic run ends by re-applying the roles' grants
        (``riskwarn.store.roles``), so ``riskwarn db upgrade`` uses it. A new SQLite file
        is created with mode 0600. Raises :class:`SchemaPermissionError` when this
        role may not migrate.
        """
        from alembic import command

        target = self.head_revision() if revision == "head" else revision
        current = self.known_revision()
        if current == target and not force:
            return current
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            create_private_file(Path(database))
        try:
            with self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
                command.upgrade(self._alembic_config(conn), revision)
                conn.commit()
        except sa.exc.ProgrammingError as exc:
            if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
                raise
            raise SchemaPermissionError(
                f"database role {self.engine.url.username!r} may not change the serving "
                f"store's schema (at {current or 'none'}, this version needs {target}): run "
                "`riskwarn db upgrade` with the owner role's URL (docs/serving-store.md, roles)"
            ) from None
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

    def known_revision(self) -> str | None:
        """:meth:`current_revision`, checked to be one this code ships; raises
        :class:`UnknownRevisionError` (one line: what it means and what to do) when not."""
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        current = self.current_revision()
        if current is None:
            return None
        script = ScriptDirectory.from_config(self._alembic_config())
        try:
            if script.get_revision(current) is not None:
                return current
        except CommandError:  # "Can't locate revision identified by ..."
            pass
        unknown = UnknownRevisionError(
            f"the serving store is at schema revision {current!r}, which this version of "
            f"riskwarn does not know (its newest is {script.get_current_head()!r}): it was "
            "migrated by a newer riskwarn? Run that version, or restore a backup of the "
            "store taken at this version's revision; nothing was changed"
        )
        unknown.revision = current
        raise unknown

    def head_revision(self) -> str | None:
        """The newest revision shipped with this package."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    # -- ingest and audit --------------------------------------------------------------

    def record_ingest_batch(
        self,
        report: Mapping[str, Any],
        actor: str = "pipeline",
        *,
        run_id: str | None = None,
        recovered: Mapping[str, Any] | None = None,
    ) -> bool:
        """Insert or replace the counts of one ingested file (key ``batch_id``), and append
        an ``ingest_batch`` entry to the audit log in the same transaction.

        ``ingest_batches`` holds each file's latest ingest (its counts must agree with the
        lake and quarantine as they are now); the audit log keeps every run: who, when,
        its counts and the counts it replaced, so the run that added a file's rows keeps
        its record after an unchanged re-run ("new 0, unchanged N").

        ``run_id``: the ingest run (its intent, :meth:`begin_ingest`); a run already
        recorded is not recorded again (returns False), so a run is recorded once (a run
        whose intent was closed as interrupted is still recorded: it did store).
        ``recovered``: this is the record of a run that died after its lake commits and
        before its record, rebuilt from its intent and the lake's commits by a later run
        (:mod:`riskwarn.ingest.journal`); kept in the entry's details."""
        missing = {"batch_id", "source", "file_name", "table_name", "ingested_at"} - set(report)
        missing |= set(INGEST_COUNTS) - set(report)
        if missing:
            raise ValueError(f"ingest report lacks {sorted(missing)}")
        row: dict[str, Any] = {
            "batch_id": str(report["batch_id"]),
            "source": str(report["source"]),
            "file_name": str(report["file_name"]),
            "table_name": str(report["table_name"]),
            "reasons": clean_json(dict(report.get("reasons") or {})),
            "ingested_at": utc(report["ingested_at"]),
        }
        row.update({k: int(report[k]) for k in INGEST_COUNTS})
        t = table_of(IngestBatch)
        with self._write() as conn:
            if run_id is not None and run_id in self._closed_runs(
                conn, row["batch_id"], (INGEST_RECORDED,)
            ):
                return False
            before = (
                conn.execute(sa.select(t).where(t.c.batch_id == row["batch_id"])).mappings().first()
            )
            upsert(conn, t, [row], ["batch_id"])
            details: dict[str, Any] = {
                k: row[k] for k in ("source", "file_name", "table_name", *INGEST_COUNTS)
            }
            if "not_stored" in report:  # a recovered run's rows its lake never got
                details["not_stored"] = int(report["not_stored"])
            details["ingested_at"] = row["ingested_at"].isoformat()
            details["replaced"] = (
                None
                if before is None
                else {
                    "ingested_at": utc(before["ingested_at"]).isoformat(),
                    **{k: int(before[k]) for k in INGEST_COUNTS},
                }
            )
            if run_id is not None:
                details["run_id"] = run_id
            if recovered is not None:
                details["recovered"] = dict(recovered)
            self._audit(conn, actor, INGEST_RECORDED, "ingest_batch", row["batch_id"], details)
        return True

    def begin_ingest(self, intent: Mapping[str, Any], actor: str = "pipeline") -> None:
        """Append the intent of ingest run ``intent["run_id"]`` of batch
        ``intent["batch_id"]`` (an ``ingest_started`` audit entry) before its lake commits:
        its counts known before the write and the lake's versions then. It stays open
        until the run is recorded (:meth:`record_ingest_batch` with its ``run_id``) or
        closed (:meth:`close_ingest`); :meth:`open_ingests` lists the open ones."""
        for key in ("run_id", "batch_id"):
            if not intent.get(key):
                raise ValueError(f"ingest intent lacks {key!r}")
        with self._write() as conn:
            self._audit(
                conn, actor, INGEST_STARTED, "ingest_batch", str(intent["batch_id"]), intent
            )

    def open_ingests(self, batch_id: str) -> list[dict[str, Any]]:
        """The intents of ``batch_id`` neither recorded nor closed, oldest first: each
        the intent's details plus ``actor`` and ``at``."""
        with self._read() as conn:
            entries = self._ingest_entries(conn, batch_id)
        closed = {
            (e["details"] or {}).get("run_id") for e in entries if e["action"] != INGEST_STARTED
        }
        return [
            {**(e["details"] or {}), "actor": e["actor"], "at": e["at"]}
            for e in entries
            if e["action"] == INGEST_STARTED and (e["details"] or {}).get("run_id") not in closed
        ]

    def close_ingest(
        self,
        batch_id: str,
        run_id: str,
        details: Mapping[str, Any],
        actor: str = "pipeline",
        *,
        action: str = INGEST_INTERRUPTED,
    ) -> bool:
        """Close the open intent of a run that stored nothing (``ingest_interrupted``, or
        ``ingest_skipped``: a re-ingest of a recorded batch that changed nothing); False
        if the run was already recorded or closed."""
        if action not in (INGEST_INTERRUPTED, INGEST_SKIPPED):
            raise ValueError(f"not a closing action: {action!r}")
        with self._write() as conn:
            if run_id in self._closed_runs(conn, batch_id):
                return False
            self._audit(
                conn,
                actor,
                action,
                "ingest_batch",
                batch_id,
                {**details, "run_id": run_id},
            )
        return True

    def _ingest_entries(self, conn: Connection, batch_id: str) -> list[dict[str, Any]]:
        """The audit entries of one batch's ingest runs, oldest first."""
        t = table_of(AuditLog)
        stmt = (
            sa.select(t.c.action, t.c.actor, t.c.at, t.c.details)
            .where(
                t.c.object_type == "ingest_batch",
                t.c.object_id == batch_id,
                t.c.action.in_(
                    (INGEST_STARTED, INGEST_RECORDED, INGEST_INTERRUPTED, INGEST_SKIPPED)
                ),
            )
            .order_by(t.c.id)
        )
        return [dict(r) for r in conn.execute(stmt).mappings()]

    def _closed_runs(
        self,
        conn: Connection,
        batch_id: str,
        actions: tuple[str, ...] = (INGEST_RECORDED, INGEST_INTERRUPTED, INGEST_SKIPPED),
    ) -> set[str]:
        """Run ids of ``batch_id`` with an entry of ``actions`` (default: recorded or
        closed), in ``conn``'s transaction."""
        return {
            str((e["details"] or {}).get("run_id"))
            for e in self._ingest_entries(conn, batch_id)
            if e["action"] in actions and (e["details"] or {}).get("run_id")
        }

    def ingest_batch(self, batch_id: str) -> dict[str, Any] | None:
        """The record of one ingested batch (``ingest_batches`` row), or None."""
        t = table_of(IngestBatch)
        with self._read() as conn:
            row = conn.execute(sa.select(t).where(t.c.batch_id == batch_id)).mappings().first()
        return None if row is None else dict(row)

    def ingest_batches(self) -> pd.DataFrame:
        """Every recorded ingest batch, newest first."""
        t = table_of(IngestBatch)
        with self._read() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.ingested_at.desc(), t.c.batch_id))
            return frame_of(rows.mappings().all(), list(t.c))

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
        """Append an audit entry in ``conn``'s transaction; passwords are masked (13.13).
        On PostgreSQL the details also name ``db_user``: the database role the server
        authenticated the writing connection as (``session_user``, e.g. ``alice`` of
        ``postgresql://alice@host/db``), whatever ``actor`` says (an OS account, a
        typed ``--by``): the one name in the entry the database itself vouches for."""
        details = dict(details or {})
        db_user = self._session_user(conn)
        if db_user:
            details["db_user"] = db_user
        conn.execute(
            sa.insert(table_of(AuditLog)).values(
                at=self._now(),
                actor=redact(actor),
                action=action,
                object_type=object_type,
                object_id=redact(str(object_id)),
                details=redact_value(clean_json(details)),
            )
        )

    def _session_user(self, conn: Connection) -> str:
        """The database role of this store's connections (PostgreSQL), else ""."""
        if self._db_user is None:
            if conn.dialect.name == "postgresql":
                self._db_user = str(conn.execute(sa.text("SELECT session_user")).scalar_one())
            else:
                self._db_user = ""
        return self._db_user

    def audit_entries(
        self, object_type: str, object_id: str, actions: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        """Audit entries of one object with one of ``actions``, newest first (as dicts)."""
        t = table_of(AuditLog)
        stmt = (
            sa.select(t)
            .where(
                t.c.object_type == object_type,
                t.c.object_id == object_id,
                t.c.action.in_(actions),
            )
            .order_by(t.c.id.desc())
        )
        with self._read() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def audit_log(self, limit: int = 1000) -> pd.DataFrame:
        """The newest ``limit`` audit entries, newest first."""
        t = table_of(AuditLog)
        with self._read() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(limit))
            return frame_of(rows.mappings().all(), list(t.c))
