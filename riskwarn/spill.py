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


def default_parent() -> Path:
    """The parent of a process that was given none (serving's model downloads, a training
    outside :func:`riskwarn.pipeline.train_domain`): ``<system temp>/riskwarn-spill-<uid>``,
    one per account (a service account never meets another's folder), created 0700 and
    refused (RuntimeError) if it is not this account's own private folder."""
    parent = Path(tempfile.gettempdir()) / f"riskwarn-spill-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        parent.mkdir(mode=0o700)
    st = os.lstat(parent)
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise RuntimeError(
            f"{parent} is not a private folder of this account (uid {os.getuid()}): "
            "refusing to put temporary files there; remove it or set RISKWARN_SPILL_DIR"
        )
    return parent


_PARENT: list[Path] = []  # the parent set by the training running in this process


def current_parent() -> Path:
    """Where this process's temporary folders go (:func:`owned_tempdir`): the training's
    spill parent while one runs here (:func:`using_parent`), else :func:`default_parent`."""
    return _PARENT[-1] if _PARENT else default_parent()


@contextlib.contextmanager
def using_parent(parent: Path) -> Iterator[None]:
    """Make ``parent`` :func:`current_parent` meanwhile (a training: its spill parent)."""
    _PARENT.append(Path(parent))
    try:
        yield
    finally:
        _PARENT.pop()


@contextlib.contextmanager
def owned_tempdir(purpose: str, parent: Path | None = None) -> Iterator[Path]:
    """A temporary folder owned (locked) by this process, removed on exit; if the process
    is killed first, the next :func:`sweep` of its parent removes it."""
    folder = claim(parent or current_parent(), purpose)
    try:
        yield folder.path
    finally:
        folder.close()


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


# --------------------------------------------------------------------------- processes


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22),
    "" if there is no such process (or no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def process_identity(pid: int | None = None) -> dict[str, str]:
    """Who a process is, in a form that outlives it: host name, boot id, pid and the pid's
    start time (a pid reused after the process died has another start time)."""
    pid = os.getpid() if pid is None else pid
    return {
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "pid": str(pid),
        "pid_start": _pid_start(pid),
    }


def process_state(identity: dict[str, str]) -> tuple[str, str]:
    """``("alive" | "gone" | "unknown", why)`` of the process ``identity`` names.

    "gone" only on proof: the same host and boot and no process with that pid and start
    time, or the same host restarted since (another boot id). Another host's process, or
    an identity without start time or boot id, is "unknown": a pid says nothing there."""
    host, pid = identity.get("host", ""), identity.get("pid", "")
    boot, start = identity.get("boot_id", ""), identity.get("pid_start", "")
    if not host or not pid.isdigit():
        return "unknown", "no owner recorded"
    if host != socket.gethostname():
        return "unknown", f"owned by host {host} (its processes cannot be seen from here)"
    here = _boot_id()
    if not boot or not here or not start:
        return "unknown", f"host {host} pid {pid}: no boot id or start time to compare"
    if boot != here:
        return "gone", f"host {host} has restarted since pid {pid} started"
    now = _pid_start(int(pid))
    if now == start:
        return "alive", f"host {host} pid {pid} still runs"
    if now:
        return "gone", f"pid {pid} on host {host} is another process now (the owner ended)"
    return "gone", f"pid {pid} on host {host} no longer runs"


_HELD: dict[str, str] = {}  # domain -> the training lock this process holds for it


def held_training_lock(domain: str) -> str | None:
    """The training lock (``<home>/run/train-<domain>.lock``, resolved) this process holds
    for ``domain``, None if it holds none."""
    return _HELD.get(domain)


# Folders that riskwarn made in the system's temporary folder before they had an owner
# (tempfile.TemporaryDirectory / mkdtemp): nothing says whether their process lives.
LEGACY_PREFIXES = ("riskwarn-readings-", "riskwarn-xgb-", "riskwarn-champion-", "riskwarn-model-")


def legacy_leftovers(tmp: Path | None = None) -> list[dict[str, Any]]:
    """The ``riskwarn-readings-*`` / ``riskwarn-xgb-*`` / ``riskwarn-champion-*`` /
    ``riskwarn-model-*`` folders in the system's temporary folder (made without an owner
    by earlier versions, or by one still running): name, bytes, last modified (UTC).
    Reported, never removed: nothing proves their process gone."""
    tmp = Path(tmp or tempfile.gettempdir())
    out: list[dict[str, Any]] = []
    try:
        entries = sorted(tmp.iterdir())
    except OSError:
        return out
    for entry in entries:
        if not entry.name.startswith(LEGACY_PREFIXES):
            continue
        try:
            if not entry.is_dir() or entry.is_symlink():
                continue
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        modified = dt.datetime.fromtimestamp(mtime, dt.UTC).replace(microsecond=0)
        out.append({"path": str(entry), "bytes": _size(entry), "modified": modified.isoformat()})
    return out


def sweep_all(settings: Settings) -> dict[str, Any]:
    """What the ``lake_maintenance`` DAG's ``sweep_temporary`` task and ``riskwarn lake
    sweep`` do: :func:`sweep` the home's spill parent (:func:`spill_parent`),
    :func:`default_parent` and ``<system temp>/riskwarn-spill`` (the default parent of
    an untold training before), and report :func:`legacy_leftovers`; also remove the
    lake files of writes killed before their commit
    (:func:`riskwarn.lake.layout.sweep_dead_writes`). Returns ``removed`` (one dict per
    folder removed), ``legacy`` and ``uncommitted`` (paths); logs each legacy folder at
    WARNING."""
    removed: list[dict[str, Any]] = []
    before = Path(tempfile.gettempdir()) / "riskwarn-spill"  # the default before (owned folders)
    for parent in dict.fromkeys([spill_parent(settings), default_parent(), before]):
        removed += [{**r, "parent": str(parent)} for r in sweep(parent)]
    from riskwarn.lake.layout import sweep_dead_writes

    uncommitted = [str(p) for p in sweep_dead_writes(settings.lake_dir)]
    for p in uncommitted:
        log.info("removed %s: written by a lake write that was killed before its commit", p)
    legacy = legacy_leftovers()
    for item in legacy:
        log.warning(
            "%s (%.1f MB, last modified %s) was left by riskwarn in the temporary folder "
            "without an owner (an earlier version, or one still running): not removed; "
            "remove it by hand once no training or scoring of that version runs",
            item["path"],
            item["bytes"] / 1e6,
            item["modified"],
        )
    return {"removed": removed, "legacy": legacy, "uncommitted": uncommitted}


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
        _HELD[domain] = str((folder / f"train-{domain}.lock").resolve())
        try:
            yield
        finally:
            _HELD.pop(domain, None)
    finally:
        os.close(fd)


class AliasBusy(RuntimeError):
    """Another process kept moving the model's champion alias longer than we waited."""


@contextlib.contextmanager
def alias_lock(
    folder: Path, model: str, wait_s: float, purpose: str | None = None
) -> Iterator[None]:
    """Hold ``<folder>/alias-<model>.lock`` (``flock``) while the champion alias of
    ``model`` moves (the promote/rollback history read-modify-write, audit, alias move),
    or while a backup dumps the serving store and MLflow (``purpose``: what the holder
    does, as its owner record and another waiter's message say).

    A second holder waits for the first up to ``wait_s`` seconds (a move takes seconds: it
    downloads the version's files to digest them), then :class:`AliasBusy` naming the
    holder. Released by the kernel if the process dies, as the training lock."""
    import time

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"alias-{model}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                owner = _read_owner(fd)
                what = owner.get("for") or "another promote or rollback"
                raise AliasBusy(
                    f"{model}: its champion alias lock is held ({what}: host "
                    f"{owner.get('host', '?')}, pid {owner.get('pid', '?')}, started "
                    f"{owner.get('started', '?')}) and was not released within {wait_s:g} s: "
                    "not done; run it again when that one has ended"
                )
            time.sleep(0.1)
        _write_owner(fd, purpose or f"another promote or rollback, moving {model}@champion")
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


@contextlib.contextmanager
def archive_purge_lock(settings: Settings) -> Iterator[None]:
    """Hold ``<home>/run/archive-purge.lock`` (``flock``) while the personal archive is
    purged (:func:`riskwarn.pipeline.purge_personal_archive`: ``riskwarn lake maintain``,
    the ``lake_maintenance`` DAG).

    A second purge started meanwhile waits for the first (one warning naming it), then
    lists the archive afresh: what the first removed is gone, not an error of the second,
    and each folder is audited by one run only. No time limit, as the ingest and table
    writer locks the same maintenance waits for; released by the kernel if the holder
    dies, so a crash never blocks the next run."""
    folder = settings.home / "run"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "archive-purge.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _try_lock(fd):
            owner = _read_owner(fd)
            log.warning(
                "archive retention: waiting for another purge of the archive to finish "
                "(%s; host %s, pid %s, started %s); what it removes is not removed again",
                owner.get("for", "riskwarn lake maintain"),
                owner.get("host", "?"),
                owner.get("pid", "?"),
                owner.get("started", "?"),
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        _write_owner(fd, "riskwarn lake maintain or the lake_maintenance DAG")
        yield
    finally:
        os.close(fd)
