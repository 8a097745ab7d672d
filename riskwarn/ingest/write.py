"""Stage 4, write: hand a validated batch to the lake.

:func:`write_batch` is the whole interface between ingestion and the lake: the accepted
rows (canonical columns and dtypes, sorted by key) are upserted by ``(source,
record_id)`` and the quarantine rows replace the batch's (by ``(batch_id,
row_number)``, rows no longer quarantined removed); the lake answers
with the counts ``new`` / ``updated`` / ``unchanged``. How the lake stores them is its
own business (:mod:`riskwarn.lake`); this is the only module of ingestion that calls it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riskwarn.ingest.validate import Batch


def write_batch(
    lake_dir: Path,
    batch: Batch,
    grain: str = "year",
    *,
    ids_carry_time: bool = False,
    run_id: str | None = None,
    as_of: datetime | None = None,
    corrections: bool = True,
) -> dict[str, int]:
    """Upsert the batch's accepted rows and its quarantine into the lake.
    ``corrections=False``: a re-ingest of a recorded batch, which never changes a stored
    record (``stale`` counts the rows it did not apply).

    ``grain`` and ``ids_carry_time`` come from the mapping (``partition``,
    :attr:`SourceMapping.ids_carry_time`). Returns ``{"new", "updated", "unchanged"}``
    (their sum is ``len(batch.accepted)``). ``run_id`` marks every lake commit of this
    write (the ingest run, :mod:`riskwarn.ingest.journal`); ``as_of`` (the ingest's time)
    marks its table commits: the time from which its corrections were known."""
    from riskwarn import lake

    try:
        result = lake.upsert(
            lake_dir,
            batch.table_name,
            batch.source,
            batch.accepted,
            batch_id=batch.batch_id,
            grain=grain,
            ids_carry_time=ids_carry_time,
            run_id=run_id,
            as_of=as_of,
            corrections=corrections,
        )
        # the batch's whole quarantine: rows a re-ingest now accepts leave it
        lake.write_quarantine(
            lake_dir,
            batch.source,
            batch.quarantine,
            batches=[(batch.table_name, batch.batch_id)],
            run_id=run_id,
        )
    except lake.LakeError as exc:  # full disk, read-only: one line, naming the file
        raise lake.LakeError(f"{batch.file_name}: {exc}") from None
    return {k: int(result.get(k, 0)) for k in ("new", "updated", "unchanged", "stale")}


def batch_report(batch: Batch, written: dict[str, int], as_of: datetime) -> dict[str, Any]:
    """The report of one stored batch (dict, JSON-friendly apart from ``ingested_at``)."""
    accepted, quarantined = len(batch.accepted), len(batch.quarantine)
    assert batch.read == accepted + quarantined + batch.duplicates, (
        "read != accepted + quarantined + duplicates"
    )
    stale = int(written.get("stale", 0))
    assert accepted == written["new"] + written["updated"] + written["unchanged"] + stale, (
        "accepted != new + updated + unchanged + stale"
    )
    return {
        "batch_id": batch.batch_id,
        "source": batch.source,
        "file_name": batch.file_name,
        "table_name": batch.table_name,
        "read": batch.read,
        "accepted": accepted,
        "new": written["new"],
        "updated": written["updated"],
        "unchanged": written["unchanged"],
        "stale": stale,
        "quarantined": quarantined,
        "duplicates": batch.duplicates,
        "reasons": batch.reasons,
        "messages": batch.messages,
        "ingested_at": as_of.astimezone(UTC),
    }


def store_batch(
    batch: Batch,
    lake_dir: Path,
    as_of: datetime,
    grain: str = "year",
    *,
    ids_carry_time: bool = False,
    run_id: str | None = None,
    corrections: bool = True,
) -> dict[str, Any]:
    """Write a batch into the lake (:func:`write_batch`) and return its report."""
    written = write_batch(
        lake_dir,
        batch,
        grain,
        ids_carry_time=ids_carry_time,
        run_id=run_id,
        as_of=as_of,
        corrections=corrections,
    )
    return batch_report(batch, written, as_of)


def lake_versions(lake_dir: Path, table_name: str) -> dict[str, int | None]:
    """The current versions of the batch's table and of the quarantine (None: no table)."""
    from riskwarn import lake
    from riskwarn.lake.layout import QUARANTINE

    return {
        "table": lake.table_version(lake_dir, table_name),
        "quarantine": lake.table_version(lake_dir, QUARANTINE),
    }


def commits_of_run(
    lake_dir: Path, table_name: str, versions: dict[str, Any], run_id: str
) -> dict[str, list[dict[str, Any]]]:
    """The lake commits ingest run ``run_id`` made on the batch's table and on the
    quarantine after ``versions`` (:func:`lake_versions` taken before the run wrote)."""
    from riskwarn import lake
    from riskwarn.lake.layout import QUARANTINE

    return {
        "table": lake.run_commits(lake_dir, table_name, versions.get("table"), run_id),
        "quarantine": lake.run_commits(lake_dir, QUARANTINE, versions.get("quarantine"), run_id),
    }


def ingest_lock(lake_dir: Path, table_name: str) -> Any:
    """The table's ingest lock (:func:`riskwarn.lake.layout.ingest_lock`)."""
    from riskwarn.lake.layout import ingest_lock as lock

    return lock(lake_dir, table_name)


def quarantined_rows(lake_dir: Path, source: str, table_name: str, batch_id: str) -> int:
    """How many rows of batch ``batch_id`` the lake's quarantine holds now."""
    import pyarrow.compute as pc

    from riskwarn.lake.layout import QUARANTINE
    from riskwarn.lake.read import dataset

    ds = dataset(lake_dir, QUARANTINE)
    if ds is None:
        return 0
    flt = (
        (pc.field("source") == source)
        & (pc.field("table_name") == table_name)
        & (pc.field("batch_id") == batch_id)
    )
    return int(ds.count_rows(filter=flt))
