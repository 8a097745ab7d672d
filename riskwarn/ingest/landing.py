"""The landing folder: files waiting for ingestion, and their archive once processed.

``<home>/landing/<source>/`` holds the files a source delivers. :func:`ingest_landing`
takes them one at a time: read, validate, write to the lake, record the batch (the
caller's ``journal``), then move the file to
``<home>/archive/<source>/ingested=<ingest time>/<original name>``. A file that cannot
be read as a table is quarantined like any other batch and archived too, so it is never
retried; a file whose ingestion fails unexpectedly stays in landing, the others go on,
and the failure is raised at the end (one line per file).
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskwarn.ingest.flow import ingest_files
from riskwarn.sources import SourceMapping

if TYPE_CHECKING:
    from riskwarn.ingest.journal import StoreJournal

log = logging.getLogger(__name__)

COUNTS = ("read", "accepted", "quarantined", "duplicates")


class LandingFailed(RuntimeError):
    """Some landing files could not be ingested (they stay in landing); one line each."""


def landing_files(folder: Path) -> list[Path]:
    """Files waiting in ``folder`` (sorted, so runs are deterministic)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def archive_folder(archive_dir: Path, source: str, as_of: datetime) -> Path:
    """``<archive>/<source>/ingested=<YYYY-MM-DDTHHMMSSZ>`` for files ingested at ``as_of``."""
    stamp = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    return archive_dir / source / f"ingested={stamp}"


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
) -> dict[str, int]:
    """Ingest, record and archive each file of ``folder``; returns summed counts.

    ``journal`` records each batch in the serving store right after it is in the lake
    (:mod:`riskwarn.ingest.journal`) and before the file leaves landing, so a crash at any
    point leaves the file in landing and its re-run is idempotent (same batch id); a run
    killed between its lake commit and its record is recorded by that re-run."""
    files = landing_files(folder)
    totals = {"files": len(files), "archived": 0, **dict.fromkeys(COUNTS, 0)}
    failed: list[str] = []
    archive = archive_folder(settings.archive_dir, folder.name, as_of)
    for path in files:
        try:
            [report] = ingest_files(mapping, [path], settings, as_of=as_of, journal=journal)
        except Exception as exc:  # one file's failure must not stop the others
            log.exception("ingest of %s failed; it stays in landing", path)
            failed.append(f"{path.name}: {type(exc).__name__}: {_first_line(exc)}")
            continue
        archive_file(path, archive, report["batch_id"])
        totals["archived"] += 1
        for key in COUNTS:
            totals[key] += int(report[key])
    if failed:
        raise LandingFailed(
            f"{len(failed)} of {len(files)} file(s) of {folder.name} failed and stay in "
            f"landing (the others were ingested and archived): {'; '.join(failed)}"
        )
    return totals


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
