"""The landing folder: files waiting for ingestion, and their archive once processed.

``<home>/landing/<source>/`` holds the files a source delivers. :func:`ingest_landing`
takes them one at a time: read, validate, write to the lake, record the batch (the
caller's ``journal``), then move the file to
``<home>/archive/<source>/ingested=<interval end>_archived=<archive time>/<original name>``
(the interval end is the ingest's data time; the archive time, the wall clock when the
run archived, is what the personal-data retention counts from). A file that cannot
be read as a table is quarantined like any other batch and archived too, so it is never
retried; a file whose ingestion fails unexpectedly stays in landing, the others go on,
and the failure is raised at the end (one line per file).

A file is taken only once it has stopped changing (:func:`settled_files`): its size and
mtime unchanged for ``settle_seconds`` (``RISKWARN_LANDING_SETTLE_SECONDS``), and
checked again after it was read; a file still being written is left in landing for the
next run, with a warning. Sub-folders and entries that are not regular files are never
read; each run warns naming them. The safe way to deliver is still to write under a
dot-name (or ``*.part``) and rename when complete (docs/ingestion.md).

A file's export time (when the department made the export) is read from its name,
``extracted=YYYY-MM-DDTHHMMSSZ`` (:func:`export_time`): a row of it that would change a
record which a later export wrote is quarantined as ``older_extract``
(:func:`riskwarn.lake.write.upsert`). A name without one is ingested as before (rows
compared by content only) and listed under ``no_export_time`` in the run's report; a
name whose stamp is not a valid UTC time, or is after the run's clock, stays in landing
and fails the run naming it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskwarn.ingest.flow import ingest_files, stored_nothing, stored_nothing_line
from riskwarn.ingest.records import FileChanged
from riskwarn.sources import SourceMapping

if TYPE_CHECKING:
    from riskwarn.ingest.journal import StoreJournal

log = logging.getLogger(__name__)

COUNTS = ("read", "accepted", "quarantined", "duplicates")


class LandingFailed(RuntimeError):
    """Some landing files could not be ingested (they stay in landing); one line each."""


class LandingStoredNothing(RuntimeError):
    """Some landing files stored nothing: every row of each was quarantined (they are
    archived like any other file, so a retry cannot help; the quarantine holds the rows).
    One line; ``totals`` is the run's report (:func:`ingest_landing`)."""

    def __init__(self, message: str, totals: dict[str, Any]) -> None:
        super().__init__(message)
        self.totals = totals


PART_SUFFIX = ".part"


def _waiting(p: Path) -> bool:
    """Not a hidden name nor one still being delivered (``*.part``)."""
    return not p.name.startswith(".") and not p.name.endswith(PART_SUFFIX)


def landing_files(folder: Path) -> list[Path]:
    """Regular files waiting in ``folder`` (sorted, so runs are deterministic); dot-names
    and ``*.part`` names are deliveries still being written."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _waiting(p) and _regular(p))


def _regular(p: Path) -> bool:
    try:
        return p.is_file()  # a link to a regular file is one too
    except OSError:
        return False


def unread_entries(folder: Path) -> list[str]:
    """Entries of ``folder`` never read: sub-folders (only the folder's own files are
    ingested) and anything not a regular file (a FIFO, a device, a socket, a broken
    link); each shown with a trailing ``/`` (folder) or ``(not a regular file)``."""
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if not _waiting(p) or _regular(p):
            continue
        out.append(f"{p.name}/" if p.is_dir() else f"{p.name} (not a regular file)")
    return out


def warn_unread(folder: Path) -> list[str]:
    """Log a warning naming :func:`unread_entries` of ``folder``; returns them."""
    unread = unread_entries(folder)
    if unread:
        log.warning(
            "landing/%s: %d entr%s not read (only regular files directly in the folder are "
            "ingested; move files out of sub-folders): %s",
            folder.name,
            len(unread),
            "y" if len(unread) == 1 else "ies",
            ", ".join(unread),
        )
    return unread


def _sig(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


def settled_files(
    files: list[Path],
    settle_seconds: float,
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[Path, tuple[int, int]], list[Path]]:
    """Split ``files`` into those that stopped changing and those still being written.

    A file whose mtime is ``settle_seconds`` old is settled. The others are looked at
    twice: the run waits until the youngest would be that old (at most
    ``settle_seconds``), then a file whose size and mtime did not move is settled, one
    that moved is still being written. Returns ``({settled file: (size, mtime_ns)},
    [still changing])``; the signature is checked again after the file is read."""
    first: dict[Path, tuple[int, int]] = {}
    young: list[Path] = []
    for p in files:
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        first[p] = _sig(st)
        if now() - st.st_mtime < settle_seconds:
            young.append(p)
    if young:
        newest = max(p.stat().st_mtime if p.exists() else 0.0 for p in young)
        sleep(min(settle_seconds, max(0.0, newest + settle_seconds - now())))
    changing = []
    for p in young:
        try:
            same = _sig(p.stat()) == first[p]
        except FileNotFoundError:
            same = False
        if not same:
            changing.append(p)
            del first[p]
    return first, changing


def changed_since(path: Path, sig: tuple[int, int]) -> bool:
    """Whether ``path`` changed (or went) since its signature ``sig`` was taken."""
    try:
        return _sig(path.stat()) != sig
    except FileNotFoundError:
        return True


STAMP = "%Y-%m-%dT%H%M%SZ"
ARCHIVED = "_archived="  # between the interval end and the archive time in a folder name


def archive_folder(archive_dir: Path, source: str, as_of: datetime, archived_at: datetime) -> Path:
    """``<archive>/<source>/ingested=<as_of>_archived=<archived_at>`` (both
    ``YYYY-MM-DDTHHMMSSZ``) for files ingested for the interval ending ``as_of`` and
    archived at ``archived_at`` (the wall clock of the run)."""
    stamp, at = (t.astimezone(UTC).strftime(STAMP) for t in (as_of, archived_at))
    return archive_dir / source / f"ingested={stamp}{ARCHIVED}{at}"


def archive_folder_times(name: str) -> tuple[datetime, datetime | None]:
    """The interval end and archive time an archive folder's name records; the archive
    time is None for a folder named ``ingested=<stamp>`` only (archived before
    2026-12-05). ValueError for any other name."""
    ingested, sep, archived = name.removeprefix("ingested=").partition(ARCHIVED)
    if not name.startswith("ingested="):
        raise ValueError(f"not an archive folder name: {name!r}")
    when = datetime.strptime(ingested, STAMP).replace(tzinfo=UTC)
    return when, datetime.strptime(archived, STAMP).replace(tzinfo=UTC) if sep else None


EXTRACTED = "extracted="  # before a file's export time in its name (STAMP)
_EXTRACTED_RE = re.compile(r"(?<![A-Za-z0-9])extracted=([^._]*)")
_STAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{6}Z")


class BadExportTime(ValueError):
    """A landing file's name gives an export time that cannot be used (one line)."""


def export_time(name: str, now: datetime | None = None) -> datetime | None:
    """The export time a landing file's name gives, ``extracted=YYYY-MM-DDTHHMMSSZ`` (UTC,
    the archive folders' stamp; e.g. ``incidents_extracted=2024-03-31T000000Z.csv.gz``),
    or None when the name gives none. Not the file's mtime: a copy or a transfer changes
    it, while the name travels with the file (and its rename into landing is atomic).
    :class:`BadExportTime` for a stamp that is not such a time, two different stamps,
    or a time after ``now`` (an export is never made in the future: a wrong zone or a
    typo would make every real later export look older)."""
    found = _EXTRACTED_RE.findall(name)
    if not found:
        return None
    times = set()
    for text in found:
        try:
            if not _STAMP_RE.fullmatch(text):
                raise ValueError(text)
            times.add(datetime.strptime(text, STAMP).replace(tzinfo=UTC))
        except ValueError:
            raise BadExportTime(
                f"the name's export time {EXTRACTED}{text!r} is not YYYY-MM-DDTHHMMSSZ (UTC, "
                f"e.g. {EXTRACTED}2024-03-31T000000Z); rename the file"
            ) from None
    if len(times) > 1:
        raise BadExportTime(
            f"the name gives {len(times)} different export times; rename the file with one"
        )
    [when] = times
    if now is not None and when > now:
        raise BadExportTime(
            f"the name's export time {when.strftime(STAMP)} is after this run's clock "
            f"{now.astimezone(UTC).strftime(STAMP)}; an export is never made in the future "
            f"(a wrong time zone?), rename the file"
        )
    return when


def archive_file(path: Path, folder: Path, batch_id: str) -> Path:
    """Move ``path`` into ``folder`` under its own name; a different file already there
    under that name keeps its place and this one goes into a sub-folder named by its batch."""
    target = folder / path.name
    if target.exists() or target.is_symlink():
        same = target.is_file() and _same_bytes(target, path)
        if not same:
            target = folder / batch_id[:16] / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    return target


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def ingest_landing(
    mapping: SourceMapping,
    folder: Path,
    settings: Any,
    *,
    as_of: datetime,
    journal: StoreJournal | None,
    archived_at: datetime | None = None,
) -> dict[str, Any]:
    """Ingest, record and archive each settled file of ``folder``; returns summed counts,
    ``still_changing`` (names left for the next run), ``not_read`` (sub-folders and
    other entries never read, :func:`unread_entries`), ``extracted_at`` (each file's
    export time from its name, :func:`export_time`, ISO) and ``no_export_time`` (the
    files whose name gives none: compared by content only, as before).

    ``journal`` records each batch in the serving store right after it is in the lake
    (:mod:`riskwarn.ingest.journal`) and before the file leaves landing, so a crash at any
    point leaves the file in landing and its re-run is idempotent (same batch id); a run
    killed between its lake commit and its record is recorded by that re-run.

    The archive folder names ``as_of`` and ``archived_at`` (default: the wall clock
    now, once per run): a backfill archiving an old interval's files today keeps them
    the whole retention from today (:func:`riskwarn.pipeline.purge_personal_archive`)."""
    unread = warn_unread(folder)
    sigs, changing = settled_files(landing_files(folder), settings.landing_settle_seconds)
    files = sorted(sigs)
    totals: dict[str, Any] = {"files": len(files), "archived": 0, **dict.fromkeys(COUNTS, 0)}
    totals["still_changing"] = [p.name for p in changing]
    totals["not_read"] = unread
    totals["stored_nothing"] = []
    totals["extracted_at"] = {}
    totals["no_export_time"] = []
    # files another run (a second landing run, or `riskwarn ingest` of the same file)
    # archived or moved while this run had them listed: not failures of this run
    totals["taken_by_another_run"] = []
    for path in changing:
        log.warning(
            "landing/%s/%s is still being written (size or mtime changed within %s s); "
            "left for the next run",
            folder.name,
            path.name,
            settings.landing_settle_seconds,
        )
    failed: list[str] = []
    archived_at = archived_at or datetime.now(UTC)  # a fact about this run, not the data
    archive = archive_folder(settings.archive_dir, folder.name, as_of, archived_at)
    for path in files:
        try:
            extracted_at = export_time(path.name, archived_at)
        except BadExportTime as exc:  # nothing read: it stays in landing until renamed
            log.error("landing/%s/%s: %s", folder.name, path.name, exc)
            failed.append(f"{path.name}: {exc}")
            continue
        if not path.exists():
            _taken(folder, path, totals, "before this run read it")
            continue
        if extracted_at is None:
            totals["no_export_time"].append(path.name)
        else:
            totals["extracted_at"][path.name] = extracted_at.isoformat()
        try:
            [report] = ingest_files(
                mapping, [path], settings, as_of=as_of, journal=journal, extracted_at=extracted_at
            )
        except FileChanged as exc:  # written to while it was read: nothing of it stored
            log.warning(
                "landing/%s/%s changed while it was read (%s); nothing of it was written, it "
                "stays in landing and the next run reads it whole",
                folder.name,
                path.name,
                exc.what,
            )
            totals["still_changing"].append(path.name)
            continue
        except Exception as exc:  # one file's failure must not stop the others
            if not path.exists():  # taken away while read: not this file's failure
                _taken(folder, path, totals, f"while this run read it ({type(exc).__name__})")
                continue
            log.exception("ingest of %s failed; it stays in landing", path)
            failed.append(f"{path.name}: {type(exc).__name__}: {_first_line(exc)}")
            continue
        gone = not path.exists()
        if gone and report["reasons"].get("file_not_found"):  # taken before it was read
            _taken(folder, path, totals, "before this run could read it")
            continue
        for key in COUNTS:  # in the lake and recorded, archived or not
            totals[key] += int(report[key])
        if stored_nothing(report):  # recorded and archived; the task fails at the end
            log.warning(
                "landing/%s/%s", folder.name, stored_nothing_line(report, settings.lake_dir)
            )
            totals["stored_nothing"].append(path.name)
        if gone:  # archived by another run after this one read it whole
            _taken(folder, path, totals, "after this run stored it (batch recorded once)")
            continue
        if changed_since(path, sigs[path]):  # written to while it was read
            log.warning(
                "landing/%s/%s changed while it was read; it stays in landing and the next "
                "run reads it whole (its rows so far are in the lake, batch %s)",
                folder.name,
                path.name,
                report["batch_id"],
            )
            totals["still_changing"].append(path.name)
            continue
        archive_file(path, archive, report["batch_id"])
        totals["archived"] += 1
    if totals["no_export_time"]:
        log.warning(
            "landing/%s: %d file(s) give no export time in their name (%sYYYY-MM-DDTHHMMSSZ): "
            "their rows are compared by content only, so an older export could roll a record "
            "back (docs/ingestion.md): %s",
            folder.name,
            len(totals["no_export_time"]),
            EXTRACTED,
            ", ".join(totals["no_export_time"]),
        )
    nothing = totals["stored_nothing"]
    also = (
        f"; {len(nothing)} stored nothing, all their rows quarantined: {', '.join(nothing)}"
        if nothing
        else ""
    )
    if failed:
        raise LandingFailed(
            f"{len(failed)} of {len(files)} file(s) of {folder.name} failed and stay in "
            f"landing (the others were ingested and archived): {'; '.join(failed)}{also}"
        )
    return totals


def _taken(folder: Path, path: Path, totals: dict[str, Any], when: str) -> None:
    """Note a file another run archived or moved away ``when``: its rows are in the lake
    once (a batch's id is its bytes' hash, so the two runs' batches are one record)."""
    log.warning(
        "landing/%s/%s was archived or moved by another run %s; nothing more to do for it here",
        folder.name,
        path.name,
        when,
    )
    totals["taken_by_another_run"].append(path.name)


def raise_if_stored_nothing(source: str, totals: dict[str, Any]) -> None:
    """Raise :class:`LandingStoredNothing` (one line) when a file of the run stored
    nothing because every row was quarantined; the run's other files are stored,
    recorded and archived."""
    nothing = totals.get("stored_nothing") or []
    if nothing:
        raise LandingStoredNothing(
            f"{len(nothing)} of {totals['files']} file(s) of {source} stored nothing, every "
            f"row quarantined (archived; the task log names the reasons and the quarantine; "
            f"the run stored {totals['accepted']} row(s) of the others): {', '.join(nothing)}",
            totals,
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
