"""Upkeep of the lake's Delta tables: compaction, vacuum, checkpoints, snapshots.

:func:`maintain` is what the ``lake_maintenance`` DAG runs (daily): per table, under its
writer lock, set the retention properties from the settings, compact small files
(``optimize.compact``: a data-less commit, invisible to the change data feed), vacuum
files no version younger than the retention needs (and files a killed writer left), write
a checkpoint and drop expired log entries. :func:`snapshot` copies a consistent lake for
backups.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from riskwarn.contracts import TABLES
from riskwarn.lake import layout
from riskwarn.lake.write import (
    ensure_quarantine_schema,
    export_times_config,
    quarantine_config,
    table_config,
    writer_properties,
)

log = logging.getLogger(__name__)


def lake_tables(lake_dir: Path) -> list[str]:
    """Names of the Delta tables in the lake (canonical tables, quarantine, legacy history)."""
    names = [n for n in [*TABLES, layout.QUARANTINE] if layout.is_delta(Path(lake_dir) / n)]
    legacy = Path(lake_dir) / layout.LEGACY_HISTORY
    if legacy.is_dir():
        names += [
            f"{layout.LEGACY_HISTORY}/{p.name}"
            for p in sorted(legacy.iterdir())
            if layout.is_delta(p)
        ]
    return names


def maintain_table(
    lake_dir: Path,
    name: str,
    history_days: int,
    target_file_mb: int,
    quarantine_days: int | None = None,
) -> dict[str, Any]:
    """Compact, vacuum and checkpoint one table; returns what was done. The quarantine
    keeps its history (old versions, the log) ``quarantine_days`` at most (the archive's
    personal-data retention): they hold the originals as they were before a row was
    aged or removed (riskwarn.lake.aging)."""
    from deltalake import DeltaTable

    if name == layout.QUARANTINE and quarantine_days is not None:
        history_days = min(history_days, quarantine_days)
    with layout.writer_lock(lake_dir, name) as path:
        dt = DeltaTable(str(path))
        if name == layout.QUARANTINE:
            dt = ensure_quarantine_schema(dt, history_days)
        wanted = (
            export_times_config(history_days)
            if name.startswith(layout.EXPORT_TIMES + "/")
            else quarantine_config(history_days)
            if name == layout.QUARANTINE
            else table_config(history_days)
        )
        current = dt.metadata().configuration
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if changed:
            dt.alter.set_table_properties(changed)
        compact = dt.optimize.compact(
            target_size=target_file_mb * 1024 * 1024,
            writer_properties=writer_properties(),
        )
        dt = DeltaTable(str(path))
        removed = dt.vacuum(
            retention_hours=history_days * 24,
            dry_run=False,
            enforce_retention_duration=False,
            full=True,
        )
        dt.create_checkpoint()
        dt.cleanup_metadata()
        return {
            "table": name,
            "version": int(DeltaTable(str(path)).version()),
            "files_compacted": int(compact.get("numFilesRemoved", 0)),
            "files_written": int(compact.get("numFilesAdded", 0)),
            "files_vacuumed": len(removed),
            "properties_set": sorted(changed),
        }


def maintain(
    lake_dir: Path,
    history_days: int,
    target_file_mb: int = 128,
    quarantine_days: int | None = None,
) -> list[dict[str, Any]]:
    """:func:`maintain_table` for every table of the lake (the quarantine's history kept
    ``quarantine_days`` at most)."""
    layout_errors = layout.legacy_tables(lake_dir)
    if layout_errors:
        layout.check_not_legacy(lake_dir, layout_errors[0])
    # the tables' export-times indexes too (not in lake_tables: all_writers_held takes
    # the tables' locks, under which alone an index is written)
    indexes = [
        layout.export_times_name(n)
        for n in TABLES
        if layout.is_delta(Path(lake_dir) / layout.export_times_name(n))
    ]
    return [
        maintain_table(lake_dir, n, history_days, target_file_mb, quarantine_days)
        for n in [*lake_tables(lake_dir), *indexes]
    ]


def writer_lock_order(names: list[str]) -> list[str]:
    """The order in which one process may hold several writer locks: the data tables
    first, the quarantine last. An upsert that refuses rows holds its table's lock and
    then takes the quarantine's (its refusals are written before its table commit), so
    a holder of every lock must take them in that order too. Sorted by name, the
    quarantine ("_quarantine") came first: a backup's snapshot holding it and waiting
    for "incidents" while an ingest held "incidents" and waited for it deadlocked both
    (attack review, 2026-12-07)."""
    return sorted(names, key=lambda n: (n == layout.QUARANTINE, n))


@contextmanager
def all_writers_held(lake_dir: Path) -> Iterator[None]:
    """Hold every table's writer lock (in :func:`writer_lock_order`): no commit happens
    meanwhile."""
    with ExitStack() as stack:
        for name in writer_lock_order(lake_tables(lake_dir)):
            stack.enter_context(layout.writer_lock(lake_dir, name))
        yield


def snapshot(lake_dir: Path, dest: Path) -> dict[str, Any]:
    """Copy the lake to ``dest`` (which must not exist) as one consistent state.

    Writers are held off while the copy is made. Data files are never modified once
    written, so they are hard-linked when ``dest`` is on the same file system (instant,
    no extra space) and copied otherwise; each table's ``_delta_log`` is always copied.
    Restore = move the snapshot into place as ``<home>/lake`` while nothing runs."""
    lake_dir, dest = Path(lake_dir), Path(dest)
    if dest.exists():
        raise layout.LakeError(f"snapshot destination {dest} already exists")
    counts = {"linked": 0, "copied": 0}
    with all_writers_held(lake_dir):
        for root, dirs, files in os.walk(lake_dir):
            rel = Path(root).relative_to(lake_dir)
            if rel.parts[:1] == (layout.LOCKS,):
                dirs[:] = []
                continue
            (dest / rel).mkdir(parents=True, exist_ok=True, mode=0o700)
            in_log = "_delta_log" in rel.parts
            for fname in files:
                src, dst = Path(root) / fname, dest / rel / fname
                if not in_log:
                    try:
                        os.link(src, dst)
                        counts["linked"] += 1
                        continue
                    except OSError:
                        pass
                shutil.copy2(src, dst)
                counts["copied"] += 1
    return {"dest": str(dest), **counts}
