"""Where the lake's Delta tables live, their schemas and partitions, the writer lock, errors.

Layout under ``lake_dir`` (docs/design.md, "The lake")::

    <table>/                 one Delta table per canonical table, all sources in it
        _delta_log/          the commits (JSON) and checkpoints: the table's versions
        source=<s>/year=<YYYY>/month=<M>/part-*.parquet    tables with an event time
        source=<s>/part-*.parquet                          static tables
        _change_data/        change data feed (pre/post images of corrections)
    _quarantine/             Delta table of rejected rows, source=<s>/table_name=<t>/
    _legacy_history/<table>/ superseded rows carried over from the old Parquet lake
    _export_times/<table>/   per record, the newest export (--extracted-at) that carried it
    _locks/<table>.lock      the writer lock of a table (flock), .writing = write under way
    _locks/ingest-<table>.lock  held by an ingest from its store intent to its store record
    _locks/queue-<table>--<source>/  tickets of the ingests of a table and source, in the
                             order they started (ingest_queue)

Partition columns are lake layout, not data: ``year`` (UTC) and ``month`` (1-12, or 0
for sources partitioned by year). Times are stored as Delta ``timestamp`` (microseconds,
UTC): Delta has no nanosecond type that other engines read.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pyarrow as pa

from riskwarn.contracts import TABLES, UTC_TS, Table

log = logging.getLogger(__name__)

QUARANTINE = "_quarantine"
LEGACY_HISTORY = "_legacy_history"
EXPORT_TIMES = "_export_times"
LOCKS = "_locks"
TIME_PARTITIONS = ("source", "year", "month")
STATIC_PARTITIONS = ("source",)
QUARANTINE_PARTITIONS = ("source", "table_name")
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
        # when the row was stored (a write that changes its content stores it anew), and
        # when its original was aged (riskwarn.lake.aging): null until then
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
        ("aged_at", pa.timestamp("us", tz="UTC")),
    ]
)
# the quarantine's columns whose statistics (min/max) the Delta log may keep: never the
# original or the message, whose text may hold what a person typed (a name), and which
# the log would keep as long as the log (riskwarn.lake.aging)
QUARANTINE_STATS_COLUMNS = (
    "batch_id",
    "file_name",
    "row_number",
    "reason",
    "quarantined_at",
    "aged_at",
)
TS = pa.timestamp("us", tz="UTC")
_ARROW = {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), UTC_TS: TS}
_TICK_NS = 10_000_000  # 10 ms: above the coarse file-system clock's tick
_LOG_FILE = re.compile(r"^\d{20}\.(json|checkpoint\.parquet|crc)$|^_last_checkpoint$")


class LakeError(RuntimeError):
    """A lake operation that cannot be done; the message is one line for the user."""


class LegacyLakeError(LakeError):
    """The lake folder holds the old Parquet layout, which must be converted first."""


def table_dir(lake_dir: Path, name: str) -> Path:
    """Folder of a Delta table (a canonical table name, ``_quarantine``, ...)."""
    return Path(lake_dir) / name


def partition_columns(table: Table) -> tuple[str, ...]:
    return TIME_PARTITIONS if table.time_column else STATIC_PARTITIONS


def delta_schema(table: Table) -> pa.Schema:
    """The Arrow schema of a canonical table's Delta table (data columns, then partitions)."""
    fields = [(f.name, _ARROW[f.dtype]) for f in table.fields]
    if table.time_column:
        fields += [("year", pa.int32()), ("month", pa.int32())]
    return pa.schema(fields)


def export_times_name(table_name: str) -> str:
    """The Delta table keeping, per record of ``table_name``, the newest export that
    carried it (``riskwarn.lake.write``, "export times"); written only under the
    table's own writer lock."""
    return f"{EXPORT_TIMES}/{table_name}"


def export_times_schema(table: Table) -> pa.Schema:
    """Schema of a table's export-times index: per ``(source, record_id)`` the time of
    the newest export that carried the record (``extracted_at``), whether the stored
    content is that export's (``from_export``: false after a batch without an export
    time, or a deliberately stored older row, changed it), that export's batch id, and
    the record's partition columns (the index is partitioned as the table)."""
    fields = [
        ("source", pa.string()),
        ("record_id", pa.string()),
        ("extracted_at", TS),
        ("from_export", pa.bool_()),
        ("batch_id", pa.string()),
    ]
    if table.time_column:
        fields += [("year", pa.int32()), ("month", pa.int32())]
    return pa.schema(fields)


def is_delta(path: Path) -> bool:
    return (path / "_delta_log").is_dir()


def legacy_tables(lake_dir: Path) -> list[str]:
    """Tables of ``lake_dir`` still in the old Parquet layout (``part.parquet`` files
    under ``source=*`` folders, no ``_delta_log``), including ``_history``/``_quarantine``."""
    found = []
    for name in [*TABLES, QUARANTINE, "_history"]:
        path = table_dir(lake_dir, name)
        if path.is_dir() and not is_delta(path) and any(path.glob("**/part.parquet")):
            found.append(name)
    return found


def check_not_legacy(lake_dir: Path, name: str) -> None:
    """Refuse to read or write a table that is still in the old Parquet layout."""
    path = table_dir(lake_dir, name)
    if path.is_dir() and not is_delta(path) and any(path.glob("source=*")):
        raise LegacyLakeError(
            f"the lake at {lake_dir} has the old Parquet layout ({name}/source=*/.../"
            "part.parquet, no _delta_log); convert it once with `riskwarn lake migrate` "
            "(the old folder is kept beside it)"
        )


def describe_os_error(exc: BaseException) -> str:
    """A short reason for a failed write (full disk, read-only, permissions, ...)."""
    text = str(exc)
    codes = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system"}
    if isinstance(exc, OSError) and exc.errno in codes:
        return codes[exc.errno]
    for code, reason in codes.items():
        if os.strerror(code).lower() in text.lower() or f"os error {code})" in text:
            return reason
    if isinstance(exc, PermissionError) or "Permission denied" in text:
        return "permission denied"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first[:300]


def lock_name(name: str) -> str:
    """File name of a table's lock (``_legacy_history/incidents`` -> ``_legacy_history__incidents``)."""
    return name.replace("/", "__")


@contextmanager
def writer_lock(lake_dir: Path, name: str) -> Iterator[Path]:
    """Hold the table's writer lock (an exclusive ``flock``, released by the kernel if the
    process dies) for one write, and mark the write with ``<name>.writing``.

    If a previous writer died mid-write (its ``.writing`` marker is still there), the files
    it left that no commit references are removed first. A write that fails is cleaned up
    the same way, and the failure becomes a one-line :class:`LakeError`.
    """
    locks = Path(lake_dir) / LOCKS
    try:
        locks.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(locks / f"{lock_name(name)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LakeError(f"cannot write the lake at {lake_dir}: {describe_os_error(exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        marker = locks / f"{lock_name(name)}.writing"
        if marker.exists():
            remove_uncommitted(table_dir(lake_dir, name), marker)
        try:
            _write_marker(marker, _version(table_dir(lake_dir, name)))
        except OSError as exc:
            marker.unlink(missing_ok=True)
            raise LakeError(
                f"cannot write the lake at {lake_dir}: {describe_os_error(exc)}"
            ) from None
        try:
            with native_stderr_held() as held:
                yield table_dir(lake_dir, name)
        except LakeError:
            remove_uncommitted(table_dir(lake_dir, name), marker)
            raise
        except Exception as exc:
            remove_uncommitted(table_dir(lake_dir, name), marker)
            if isinstance(exc, (OSError, *_delta_errors())):
                log.debug("native output of the failed write: %s", held.get("text", ""))
                raise LakeError(
                    f"cannot write {name} in the lake at {lake_dir}: {describe_os_error(exc)}"
                ) from exc
            raise
        marker.unlink(missing_ok=True)
    finally:
        os.close(fd)


@contextmanager
def ingest_lock(lake_dir: Path, table_name: str) -> Iterator[None]:
    """Hold the ingest lock of a canonical table (an exclusive ``flock``, released by the
    kernel if the process dies) from an ingest's intent in the serving store, through its
    lake commits, to its record in the store (docs/ingestion.md, "A crash between the lake
    and the store"). Whoever holds it and finds an intent of this table still open knows
    its run is dead. Taken before the table's writer lock, never inside it."""
    locks = Path(lake_dir) / LOCKS
    try:
        locks.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(locks / f"ingest-{lock_name(table_name)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LakeError(f"cannot write the lake at {lake_dir}: {describe_os_error(exc)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # no time limit (an ingest of a big file holds it for minutes): say who waits
            log.warning(
                "waiting for another ingest of %s in %s to finish (lock %s)",
                table_name,
                lake_dir,
                locks / f"ingest-{lock_name(table_name)}.lock",
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


_TICKET = re.compile(r"^(\d{12})-\d+\.lock$")


def _earlier_tickets(queue: Path, mine: int) -> list[tuple[int, Path]]:
    found = []
    for entry in queue.iterdir():
        m = _TICKET.match(entry.name)
        if m is not None and int(m.group(1)) < mine:
            found.append((int(m.group(1)), entry))
    return sorted(found)


@contextmanager
def ingest_queue(lake_dir: Path, table_name: str, source: str) -> Iterator[dict[str, float]]:
    """Run ingests of one table and source in the order they started: an ingest takes a
    numbered ticket before it reads its first file and waits until every ingest holding
    an earlier ticket has ended (committed, failed or died), then holds its own until it
    ends. So the later-started of two exports of the same records is applied last, and
    the content-only rule "the later arrival wins" means the later start (attack review
    2026-12-07: a correction file started after a full export committed first, and the
    older full export, committing after it, rolled the corrections back with no word).

    A ticket is a file ``_locks/queue-<table>--<source>/<number>-<pid>.lock`` that its
    ingest holds an exclusive ``flock`` on (released by the kernel if the process dies,
    so a dead ingest never blocks the queue), numbered and published under the short
    lock ``queue.lock`` (numbers in the order of publication, whatever the clocks say).
    Waiting is a shared ``flock`` on each earlier ticket in turn. Taken before the
    table's ingest lock and writer lock, holding nothing while it waits; another
    source's ingests of the table are not held (their records differ). Yields
    ``{"waited": seconds}``. A lake whose ``_locks`` cannot be written is not queued:
    the ingest goes on and its write fails as before."""
    queue = Path(lake_dir) / LOCKS / f"queue-{lock_name(table_name)}--{lock_name(source)}"
    state = {"waited": 0.0}
    try:
        fd, mine, ticket = _take_ticket(queue)
    except OSError as exc:
        log.warning("ingest of %s not queued (%s)", table_name, describe_os_error(exc))
        fd, mine, ticket = -1, 0, None
    try:
        start = time.monotonic()
        for _, earlier in _earlier_tickets(queue, mine) if ticket is not None else []:
            _wait_for(earlier, table_name, source)
        state["waited"] = time.monotonic() - start
        yield state
    finally:
        if ticket is not None:
            with suppress(OSError):
                ticket.unlink()
            os.close(fd)


def _take_ticket(queue: Path) -> tuple[int, int, Path]:
    """A new ticket of ``queue``, held: its descriptor, number and path."""
    queue.mkdir(parents=True, exist_ok=True, mode=0o700)
    guard = os.open(queue / "queue.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        numbers = [int(m.group(1)) for e in queue.iterdir() if (m := _TICKET.match(e.name))]
        mine = max(numbers, default=0) + 1
        ticket = queue / f"{mine:012d}-{os.getpid()}.lock"
        temp = queue / f".{ticket.name}.{time.time_ns()}"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(temp, ticket)  # visible only once held
        except OSError:
            os.close(fd)
            with suppress(OSError):
                temp.unlink()
            raise
        return fd, mine, ticket
    finally:
        os.close(guard)  # releases the guard


def _wait_for(earlier: Path, table_name: str, source: str) -> None:
    """Wait until the ingest holding ticket ``earlier`` has ended (or died)."""
    try:
        other = os.open(earlier, os.O_RDONLY)
    except FileNotFoundError:  # it ended meanwhile
        return
    try:
        try:
            fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning(
                "waiting for an ingest of %s (source %s) started earlier to finish (ticket "
                "%s): ingests of one table and source are applied in the order they started",
                table_name,
                source,
                earlier.name,
            )
            fcntl.flock(other, fcntl.LOCK_SH)
        with suppress(FileNotFoundError):  # a dead ingest's ticket: its lock is free
            earlier.unlink()
    finally:
        os.close(other)


def _delta_errors() -> tuple[type[Exception], ...]:
    from deltalake import exceptions

    return (exceptions.DeltaError, exceptions.DeltaProtocolError, exceptions.TableNotFoundError)


@contextmanager
def native_stderr_held() -> Iterator[dict[str, str]]:
    """Hold what native code (delta-rs' Rust threads) writes to file descriptor 2 during a
    write: a failed write (full disk) makes its worker threads print panics there, which
    would bury the one-line error. Replayed to stderr when the write succeeds; on failure
    the caller logs it at debug level."""
    held: dict[str, str] = {}
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        ok = False
        try:
            yield held
            ok = True
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace")
            held["text"] = text
            if ok and text:
                sys.stderr.write(text)


def _version(path: Path) -> int:
    """The latest committed version of a Delta table (-1: no table yet), from its log."""
    log_dir = path / "_delta_log"
    if not log_dir.is_dir():
        return -1
    versions = [int(p.name[:20]) for p in log_dir.iterdir() if re.match(r"^\d{20}\.json$", p.name)]
    if versions:
        return max(versions)
    from deltalake import DeltaTable  # only checkpoints left: ask the library

    return int(DeltaTable(str(path)).version())


def _write_marker(marker: Path, version: int) -> None:
    """Write the ``.writing`` marker: the version before the write and the time from which
    files count as this write's. That time is set a little after the marker's own mtime
    and the write waits for it, so files of the previous commit, written just before and
    perhaps stamped with the same coarse file-system tick, can never count as this write's."""
    marker.write_text(f"{version}")
    since = marker.stat().st_mtime_ns + _TICK_NS
    marker.write_text(f"{version} {since}")
    while time.time_ns() < since + _TICK_NS:
        time.sleep(0.002)


def sweep_dead_writes(lake_dir: Path) -> list[Path]:
    """Clean up after every writer that died mid-write (its ``.writing`` marker left, its
    lock free): the files no commit references are removed (:func:`remove_uncommitted`),
    as the table's next write would do. A table being written now is left alone.
    Returns what was removed (``riskwarn lake sweep``, the lake_maintenance DAG)."""
    locks = Path(lake_dir) / LOCKS
    removed: list[Path] = []
    for marker in sorted(locks.glob("*.writing")) if locks.is_dir() else []:
        stem = marker.name[: -len(".writing")]
        try:
            fd = os.open(locks / f"{stem}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live writer holds it
                continue
            if marker.exists():
                removed += remove_uncommitted(table_dir(lake_dir, stem.replace("__", "/")), marker)
        finally:
            os.close(fd)
    return removed


def remove_uncommitted(path: Path, marker: Path) -> list[Path]:
    """Remove what a failed or killed write left in the table at ``path``.

    ``marker`` was written (holding the version then) just before the write began, under
    the writer lock, so every file modified since is this write's. If no commit followed,
    all of them go; if the commit happened, only temporary files (object-store staging
    names with ``#``, non-log files in ``_delta_log``) go. Returns what was removed.
    """
    try:
        version, since = (int(v) for v in marker.read_text().split())
    except (OSError, ValueError):  # a marker cut short: nothing was written after it
        marker.unlink(missing_ok=True)
        return []
    committed = _version(path) > version
    # the files the commits since the marker refer to: a write may commit more than once
    # under one lock (the first ingest creates the table, v0, then appends its rows, v1);
    # killed between the two, its data file is in no commit and goes too
    referenced = _referenced_since(path, version) if committed else set()
    removed: list[Path] = []
    if path.is_dir():
        for root, _dirs, files in os.walk(path):
            in_log = Path(root).name == "_delta_log"
            for fname in files:
                p = Path(root) / fname
                try:
                    if p.stat().st_mtime_ns < since:
                        continue
                except FileNotFoundError:
                    continue
                temporary = "#" in fname or (in_log and not _LOG_FILE.match(fname))
                orphan = (
                    committed and not in_log and p.relative_to(path).as_posix() not in referenced
                )
                if temporary or orphan or (not committed and not in_log):
                    p.unlink(missing_ok=True)
                    removed.append(p)
        if not committed and version < 0 and not any(path.glob("_delta_log/*")):
            _remove_empty_dirs(path)
    _remove_empty_dirs(path, keep_root=True)
    marker.unlink(missing_ok=True)
    return removed


def _referenced_since(path: Path, version: int) -> set[str]:
    """Relative paths of the data and change files (``add``, ``cdc``) that the log's
    commits after ``version`` refer to."""
    import json
    from urllib.parse import unquote

    out: set[str] = set()
    for entry in (path / "_delta_log").glob("*.json"):
        if not _LOG_FILE.match(entry.name) or int(entry.name[:20]) <= version:
            continue
        with suppress(OSError):
            for line in entry.read_text(encoding="utf-8").splitlines():
                with suppress(ValueError):
                    action = json.loads(line)
                    for kind in ("add", "cdc"):
                        if isinstance(action.get(kind), dict) and "path" in action[kind]:
                            out.add(unquote(str(action[kind]["path"])))
    return out


def _remove_empty_dirs(path: Path, keep_root: bool = False) -> None:
    if not path.is_dir():
        return
    for root, _dirs, _files in sorted(os.walk(path), key=lambda t: -len(t[0])):
        if keep_root and Path(root) == path:
            continue
        with suppress(OSError):
            os.rmdir(root)


# commit metadata keys of the lake's Delta commits (riskwarn.lake.write writes them)
BATCH_KEY = "riskwarn.batch_id"
# the ingest run that made a commit (a fresh id per run of a batch) and, on a table's
# commits, how many commits and rows (new + updated) the run planned there
# (riskwarn.lake.history.run_commits)
RUN_KEY = "riskwarn.run_id"
PLAN_KEY = "riskwarn.table_commits"
ROWS_KEY = "riskwarn.rows_written"
# the as_of (ISO UTC) of the ingest that made a commit: from then on its corrections were
# known (riskwarn.lake.history.record_versions); commits without it: their timestamp
AS_OF_KEY = "riskwarn.as_of"
# the time the export of a table commit's batch was made (ISO UTC; riskwarn ingest
# --extracted-at): a row of an export made before it does not replace what it wrote
# (riskwarn.lake.write, "older_extract"); commits without it: the export's time unknown
EXTRACTED_KEY = "riskwarn.extracted_at"
