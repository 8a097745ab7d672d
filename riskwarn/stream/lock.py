"""One ``riskwarn stream`` per riskwarn home: an exclusive ``flock`` on
``$RISKWARN_HOME/run/stream.lock``, held for the consumer's life.

Two consumers of one home would either take the broker session from each other in a
loop (same client id: the broker drops the older connection, which reconnects and drops
the newer one, ...) or, with different client ids, both receive every reading and
publish every level change twice. The kernel releases the lock when the process ends,
however it ends (``kill -9`` included), so a crash never leaves a stale lock behind; the
file's content (pid, source, broker, client id, start time) only names the holder in
the second consumer's message.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any


def advisory_lock_holder(conn: Any, key: int) -> str | None:
    """The application name of the session that holds advisory lock ``key`` in this
    connection's database (None if none does or it set no name).

    ``pg_locks`` lists every database's locks and advisory locks are per database, so the
    lookup keeps to the current one: another installation (or test) on the same server
    holding the same key in its own database is not this store's holder."""
    import sqlalchemy as sa

    row = conn.execute(
        sa.text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
        ),
        {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
    ).first()
    return str(row[0]) if row and row[0] else None


class AlreadyRunning(RuntimeError):
    """Another consumer holds this home's stream lock."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        pid = holder.get("pid", "?")
        labels = {
            "source": "source",
            "broker": "broker",
            "client_id": "client id",
            "since": "since",
        }
        what = ", ".join(
            f"{label} {holder[k]}" for k, label in labels.items() if holder.get(k) is not None
        )
        super().__init__(
            f"another riskwarn stream is already running for this riskwarn home "
            f"(pid {pid}{', ' + what if what else ''}; it holds {path}). Not starting a "
            "second one: on one broker the two would take the MQTT session from each other "
            "or process every reading twice. Stop the running one first (make down, or "
            f"kill {pid}); `riskwarn stream --status` shows it."
        )


class InstanceLock:
    """The exclusive lock of one stream consumer (acquire once, release at the end)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self, **holder: Any) -> None:
        """Take the lock or raise :class:`AlreadyRunning` (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            try:
                other = json.loads(f.read() or "{}")
            except ValueError:
                other = {}
            f.close()
            raise AlreadyRunning(self.path, other if isinstance(other, dict) else {}) from None
        info = {
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            **holder,
        }
        f.seek(0)
        f.truncate()
        f.write(json.dumps(info))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None


class StoreTaken(RuntimeError):
    """Another consumer publishes to this serving store (for this source)."""


class StoreLock:
    """One consumer per serving store and source, whatever its home: two homes sharing a
    PostgreSQL store (``RISKWARN_STORE_URL``) would each publish every level change and
    each send its messages. PostgreSQL: a session advisory lock on a connection of its own,
    held for the consumer's life (named in ``pg_stat_activity``'s application name); SQLite:
    an ``flock`` beside the database file (its real path: symlinks resolved). Released when the process ends, ``kill -9``
    included. (A PostgreSQL connection cut by an outage drops the lock: a consumer started
    during the outage would not be refused.)"""

    def __init__(self, url: str, source: str) -> None:
        self.url = url
        self.source = source
        self._conn: Any = None
        self._engine: Any = None
        self._file: InstanceLock | None = None

    def _key(self) -> int:
        digest = hashlib.sha256(f"riskwarn stream:{self.source}".encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1  # 0 <= key < 2**63

    def acquire(self, **holder: Any) -> None:
        import sqlalchemy as sa

        u = sa.engine.make_url(self.url)
        if u.get_backend_name() == "sqlite":
            if u.database and u.database != ":memory:":
                # named after the file's real path: the same database reached through a
                # symlink or a relative path (from another working directory) is one lock
                real = os.path.realpath(u.database)
                lock = InstanceLock(Path(f"{real}.stream-{self.source}.lock"))
                try:
                    lock.acquire(**holder)
                except AlreadyRunning as exc:
                    pid = exc.holder.get("pid", "?")
                    raise StoreTaken(self._message(f"pid {pid}", str(lock.path))) from None
                self._file = lock
            return
        if u.get_backend_name() != "postgresql":
            return
        name = f"riskwarn-stream pid={os.getpid()} host={socket.gethostname()}"[:63]
        self._engine = sa.create_engine(
            self.url, poolclass=sa.pool.NullPool, connect_args={"application_name": name}
        )
        conn = self._engine.connect()
        key = self._key()
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        if not got:
            holder_name = advisory_lock_holder(conn, key)
            conn.close()
            self._engine.dispose()
            other = holder_name or "another process"
            raise StoreTaken(self._message(other, f"PostgreSQL advisory lock {key}"))
        self._conn = conn

    def _message(self, holder: Any, where: str) -> str:
        return (
            f"another riskwarn stream already publishes source {self.source} to this serving "
            f"store ({holder}; it holds {where}). Not starting a second one: both would "
            "publish every level change and send every message twice. Stop the other one "
            "first (make down in its home), or give this one its own store."
        )

    def release(self) -> None:
        if self._file is not None:
            self._file.release()
            self._file = None
        if self._conn is not None:
            # the session ends: PostgreSQL drops its advisory lock (already cut in an
            # outage: the lock went with it)
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
            self._engine.dispose()
