"""Temporary spill folders and the per-domain training lock (docs/operations.md, "Training's
temporary spill").

A training spills ``sensor_readings`` to a folder of its own (3.1 GB on the city). A
process killed with ``kill -9`` (or by the OOM killer, or with its Airflow worker) cannot
remove it, so every spill folder says who owns it the only way that survives a crash: an
exclusive ``flock`` on its ``owner.lock``, held by the owning process for its whole life
and released by the kernel when that process ends, however it ends. The next training
(:func:`sweep`, called before each spill) removes every folder under the same parent
whose lock it can take: their owners are gone. A folder whose lock is held is never
removed, whatever its recorded pid says: two hosts may share the parent (a pid says
nothing about another host's processes), a held lock does (over NFS the lock is a
byte-range lock the server keeps while the owner's lease lives).

Names under the parent, so that a sweep never races a folder being created or removed:

* ``.new-*``: being created; it becomes ``spill-*`` (one ``rename``) only once its owner
  holds the lock, and the rename fails if a sweep took it first (the creator retries);
* ``spill-*``: in use by the process holding its lock, or abandoned (lock free);
* ``.gone-*``: being removed (renamed so by the lock's holder): anyone may remove it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riskwarn.settings import Settings

log = logging.getLogger(__name__)

LIVE, NEW, GONE = "spill-", ".new-", ".gone-"
LOCK = "owner.lock"


def spill_parent(settings: Settings) -> Path:
    """Where trainings spill: ``Settings.spill_dir`` or ``<home>/tmp/spill``."""
    return Path(settings.spill_dir) if settings.spill_dir else settings.home / "tmp" / "spill"


def _owner(purpose: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": now.isoformat(),
        "for": purpose,
    }


def _write_owner(fd: int, purpose: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_owner(purpose), sort_keys=True).encode(), 0)


def _read_owner(fd: int) -> dict[str, Any]:
    try:
        got = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


def _size(folder: Path) -> int:
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


@dataclass
class SpillFolder:
    """A spill folder of this process; :meth:`close` removes it and releases its lock."""

    path: Path
    fd: int

    def close(self) -> None:
        if self.fd < 0:
            return
        gone = self.path.with_name(GONE + uuid.uuid4().hex)
        try:
            os.rename(self.path, gone)  # still locked: no sweep touches it meanwhile
        except FileNotFoundError:
            gone = self.path
        shutil.rmtree(gone, ignore_errors=True)
        os.close(self.fd)
        self.fd = -1


def claim(parent: Path, purpose: str) -> SpillFolder:
    """A new spill folder under ``parent``, owned (locked) by this process until closed."""
    parent.mkdir(parents=True, exist_ok=True)
    for _ in range(20):
        new = Path(tempfile.mkdtemp(prefix=NEW, dir=parent))
        try:
            fd = os.open(new / LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:  # a sweep removed the empty folder first
            continue
        try:
            if not _try_lock(fd):  # a sweep holds it for a moment: it will remove the folder
                os.close(fd)
                continue
            _write_owner(fd, purpose)
            path = parent / (LIVE + new.name[len(NEW) :])
            os.rename(new, path)  # fails if a sweep took the folder before the lock
        except FileNotFoundError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            shutil.rmtree(new, ignore_errors=True)
            raise
        return SpillFolder(path, fd)
    raise RuntimeError(f"could not create a spill folder under {parent}")


def sweep(parent: Path) -> list[dict[str, Any]]:
    """Remove the spill folders under ``parent`` whose owner is gone (their lock is free).

    Returns one dict per folder removed (``name``, ``bytes`` and the owner it recorded:
    ``host``, ``pid``, ``started``, ``for``) and logs each. A folder whose lock is held
    is left alone."""
    removed: list[dict[str, Any]] = []
    try:
        entries = sorted(parent.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        name = entry.name
        if name.startswith(GONE):  # its remover died or is at it: either way, dead
            size = _size(entry)
            shutil.rmtree(entry, ignore_errors=True)
            removed.append({"name": name, "bytes": size})
            continue
        if not name.startswith((LIVE, NEW)):
            continue
        try:
            fd = os.open(entry / LOCK, os.O_RDWR)
        except FileNotFoundError:
            if name.startswith(NEW):  # created, its lock not yet: empty, or not for long
                with contextlib.suppress(OSError):
                    os.rmdir(entry)
            continue
        except OSError:
            continue
        try:
            if not _try_lock(fd):
                continue  # its owner lives (here or on another host sharing the folder)
            owner = _read_owner(fd)
            gone = parent / (GONE + uuid.uuid4().hex)
            try:
                os.rename(entry, gone)
            except FileNotFoundError:
                continue
            size = _size(gone)
            shutil.rmtree(gone, ignore_errors=True)
            removed.append({"name": name, "bytes": size, **owner})
        finally:
            os.close(fd)
    for r in removed:
        log.warning(
            "removed abandoned spill folder %s under %s (%.1f MB) left by host %s pid %s "
            "(started %s, %s): its owner ended without removing it",
            r["name"],
            parent,
            r["bytes"] / 1e6,
            r.get("host", "?"),
            r.get("pid", "?"),
            r.get("started", "?"),
            r.get("for", "?"),
        )
    return removed


class TrainingBusy(RuntimeError):
    """The domain is already being trained on this home: a second training is refused."""


@contextlib.contextmanager
def training_lock(settings: Settings, domain: str) -> Iterator[None]:
    """Hold ``<home>/run/train-<domain>.lock`` (``flock``) while ``domain`` trains.

    :class:`TrainingBusy` at once if another process holds it: two trainings of one domain
    would gate against the same champion and the later would replace the earlier's
    version without ever being compared with it. Released by the kernel if the process
    dies, so a crash never blocks the next training."""
    folder = settings.home / "run"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"train-{domain}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _try_lock(fd):
            owner = _read_owner(fd)
            raise TrainingBusy(
                f"{domain} is already being trained on this home (host {owner.get('host', '?')}"
                f", pid {owner.get('pid', '?')}, started {owner.get('started', '?')}): a "
                "second training at once is refused (it would gate against the same champion "
                "and the later would replace the earlier without being compared with it); run "
                "it again when that one has ended"
            )
        _write_owner(fd, f"training {domain}")
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def setup_lock(settings: Settings) -> Iterator[None]:
    """Hold ``<home>/run/setup.lock`` (waiting for it) while a training opens the stores.

    Two trainings starting together on a new home would both create ``mlflow.db``'s tables
    (MLflow runs every migration on an empty database: the later fails with ``duplicate
    column name``) and upgrade the serving store at once; under this lock they take turns."""
    folder = settings.home / "run"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "setup.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
