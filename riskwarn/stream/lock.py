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

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any


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
