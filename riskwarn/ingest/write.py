"""Stage 4, write: hand a validated batch to the lake.

:func:`write_batch` is the whole interface between ingestion and the lake: the accepted
rows (canonical columns and dtypes, sorted by key) are upserted by ``(source,
record_id)`` and the quarantine rows replace the batch's (by ``(batch_id,
row_number)``, rows no longer quarantined removed); the lake answers
with the counts ``new`` / ``updated`` / ``unchanged``. How the lake stores them is its
own business (:mod:`riskwarn.lake`); this is the only module of ingestion that calls it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskwarn.ingest.validate import QUARANTINE_COLUMNS, Batch, reason_message

log = logging.getLogger(__name__)

# the quarantine reasons of the rows the lake refuses at the write (the same names as
# riskwarn.lake.write's, not imported here so as not to load the lake with ingestion): a
# row that would put back a superseded version of its record, one from an export older
# than the newest export that carried the record
REVERT_REASON = "reverts_correction"
OLDER_REASON = "older_extract"
REFUSED_REASONS = (REVERT_REASON, OLDER_REASON)


def write_batch(
    lake_dir: Path,
    batch: Batch,
    grain: str = "year",
    *,
    ids_carry_time: bool = False,
    run_id: str | None = None,
    as_of: datetime | None = None,
    corrections: bool = True,
    allow_revert: bool = False,
    file_names: Callable[[str], str | None] | None = None,
    extracted_at: datetime | None = None,
    on_quarantine: Callable[[int], None] | None = None,
    versions: dict[str, int] | None = None,
) -> dict[str, int]:
    """Upsert the batch's accepted rows and its quarantine into the lake.
    ``corrections=False``: a re-ingest of a recorded batch, which never changes a stored
    record (``stale`` counts the rows it did not apply).

    A row the lake refuses (:func:`riskwarn.lake.upsert`: its content equals a version
    its record had and a later commit superseded, a revert of a correction; or, with
    ``extracted_at``, the export's time, it would change a record a later export wrote)
    is not applied: it leaves ``batch.accepted`` for ``batch.quarantine`` (reason
    :data:`REVERT_REASON` or :data:`OLDER_REASON`, its row number and original), counted
    in neither ``updated`` nor ``unchanged`` (docs/ingestion.md, "An older version sent
    again"). The batch's quarantine is written before its table commit (under the
    table's writer lock): a crash between the two leaves the table as it was and the
    re-run refuses and quarantines the same rows, once. ``allow_revert``: apply such rows
    as corrections (an operator's deliberate choice; ``reverts_applied`` counts them).
    A re-ingest (``corrections=False``) quarantines again the rows its earlier run
    quarantined so. ``file_names``: batch id -> file name (the serving store's record),
    to name the file that superseded (or wrote) the version in the message.
    ``on_quarantine`` is called, once the quarantine is written, with how many of its rows
    the lake's quarantine did not hold by their key (the stream counts a message quarantined
    once so: a retry after a failed table commit finds its first try's rows held, and
    the caller adds the calls up). ``versions`` (given: filled in) gets, per table this
    write opened (the batch's table, ``quarantine``), its version after the write: every
    commit carrying ``run_id`` up to it is in the counts returned and reported (the
    stream's durable counts, :mod:`riskwarn.stream.ledger`).

    ``grain`` and ``ids_carry_time`` come from the mapping (``partition``,
    :attr:`SourceMapping.ids_carry_time`). Returns ``{"new", "updated", "unchanged"}``
    (their sum is ``len(batch.accepted)``). ``run_id`` marks every lake commit of this
    write (the ingest run, :mod:`riskwarn.ingest.journal`); ``as_of`` (the ingest's time)
    marks its table commits: the time from which its corrections were known."""
    from riskwarn import lake

    held = () if corrections else _held_reverts(lake_dir, batch)

    def before_commit(refused: list[dict[str, Any]]) -> None:
        if refused:
            _quarantine_reverts(batch, refused, file_names)
        # the batch's whole quarantine (rows a re-ingest now accepts leave it), before
        # the table commit: idempotent, so a re-run after a crash stores it once
        counts: dict[str, int] = {}
        lake.write_quarantine(
            lake_dir,
            batch.source,
            batch.quarantine,
            batches=[(batch.table_name, batch.batch_id)],
            run_id=run_id,
            counts=counts,
        )
        if on_quarantine is not None:
            on_quarantine(int(counts.get("inserted", 0)))
        if versions is not None and "version" in counts:
            versions["quarantine"] = int(counts["version"])

    try:
        if batch.accepted.empty:
            before_commit([])
            result: dict[str, int] = {}
        else:
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
                refuse_reverts=not allow_revert,
                held_ids=held,
                extracted_at=extracted_at,
                before_commit=before_commit,
                versions=versions,
            )
    except lake.LakeError as exc:  # full disk, read-only: one line, naming the file
        raise lake.LakeError(f"{batch.file_name}: {exc}") from None
    keys = ("new", "updated", "unchanged", "stale", "reverts_applied")
    return {k: int(result.get(k, 0)) for k in keys}


def _held_reverts(lake_dir: Path, batch: Batch) -> list[str]:
    """The record ids of the batch's rows that its earlier run quarantined as reverts
    (:data:`REFUSED_REASONS`): a re-ingest quarantines them again rather than count them
    ``stale`` and drop them from the quarantine."""
    if batch.accepted_rows is None or not len(batch.accepted):
        return []
    import pyarrow.compute as pc

    from riskwarn.lake.layout import QUARANTINE
    from riskwarn.lake.read import dataset

    ds = dataset(lake_dir, QUARANTINE)
    if ds is None:
        return []
    flt = (
        (pc.field("source") == batch.source)
        & (pc.field("table_name") == batch.table_name)
        & (pc.field("batch_id") == batch.batch_id)
        & pc.field("reason").isin(list(REFUSED_REASONS))
    )
    rows = ds.to_table(columns=["row_number"], filter=flt)["row_number"].to_numpy()
    if not len(rows):
        return []
    mine = np.isin(batch.accepted_rows, rows)
    return [str(x) for x in batch.accepted["record_id"].to_numpy()[mine]]


def revert_message(info: dict[str, Any], file_name: str | None) -> str:
    """The quarantine message of one refused row (English; the dashboard shows the
    reason's name in Chinese too): :func:`riskwarn.lake.write.refusal_message`."""
    from riskwarn.lake.write import refusal_message

    return refusal_message(info, file_name)


def _quarantine_reverts(
    batch: Batch,
    reverts: Sequence[dict[str, Any]],
    file_names: Callable[[str], str | None] | None,
) -> None:
    """Move the rows the lake refused as reverts from ``batch.accepted`` to
    ``batch.quarantine`` (reason :data:`REVERT_REASON` or :data:`OLDER_REASON`), with their row number and
    original: the row read again from the file (its stored form, as every quarantined
    row), else the canonical row as JSON (already pseudonymised)."""
    info = {str(r["record_id"]): r for r in reverts}
    ids = batch.accepted["record_id"].astype(str)
    moved = ids.isin(set(info)).to_numpy()
    rows_of = batch.accepted_rows
    sub = batch.accepted.loc[moved]
    if rows_of is not None:
        row_numbers = rows_of[moved].astype(np.int64)
    else:  # a batch built without its rows: number them after the file's rows
        start = batch.read + 1
        row_numbers = np.arange(start, start + len(sub), dtype=np.int64)
    originals: dict[int, str] = {}
    if batch.fetch_originals is not None and rows_of is not None:
        originals = batch.fetch_originals(set(row_numbers.tolist()))
    names: dict[str, str | None] = {}
    messages, texts = [], []
    reasons: list[str] = []
    for rid, n, (_, row) in zip(
        sub["record_id"].astype(str), row_numbers.tolist(), sub.iterrows(), strict=True
    ):
        reasons.append(str(info[rid].get("reason") or REVERT_REASON))
        by = str(info[rid].get("superseded_by") or info[rid].get("written_by") or "")
        if by not in names:
            names[by] = file_names(by) if (file_names is not None and by) else None
        messages.append(revert_message(info[rid], names[by]))
        text = originals.get(int(n))
        if not text:
            text = json.dumps(
                {k: (None if pd.isna(v) else str(v)) for k, v in row.items()},
                ensure_ascii=False,
            )
        texts.append(text)
    batch_ids: Any = batch.batch_id
    files: Any = batch.file_name
    stored_numbers = row_numbers
    if batch.row_keys is not None and rows_of is not None:  # keyed as the batch says
        keys = [batch.row_keys(int(n)) for n in row_numbers.tolist()]
        batch_ids = [k for k, _ in keys]
        files = [f for _, f in keys]
        stored_numbers = np.ones(len(keys), dtype=np.int64)
    q = pd.DataFrame(
        {
            "source": batch.source,
            "table_name": batch.table_name,
            "batch_id": batch_ids,
            "file_name": files,
            "row_number": pd.Series(stored_numbers, dtype="int64"),
            "reason": reasons,
            "message": messages,
            "original": texts,
        },
        columns=QUARANTINE_COLUMNS,
    )
    batch.accepted = batch.accepted.loc[~moved].reset_index(drop=True)
    if rows_of is not None:
        batch.accepted_rows = rows_of[~moved]
    batch.quarantine = pd.concat([batch.quarantine, q], ignore_index=True)
    for reason in REFUSED_REASONS:
        mine = q["reason"].to_numpy() == reason
        if mine.any():
            batch.messages.append(
                f"{int(mine.sum())} row(s) quarantined [{reason}]: {reason_message(reason)} "
                f"(first: row {int(row_numbers[mine].min())})"
            )
            log.warning(
                "%s: %d row(s) not applied: they would roll their record back (quarantined as %s)",
                batch.file_name,
                int(mine.sum()),
                reason,
            )
    batch.check_invariant()


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
        "reverts_applied": int(written.get("reverts_applied", 0)),
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
    allow_revert: bool = False,
    file_names: Callable[[str], str | None] | None = None,
    extracted_at: datetime | None = None,
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
        allow_revert=allow_revert,
        file_names=file_names,
        extracted_at=extracted_at,
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


def ingest_queue(lake_dir: Path, table_name: str, source: str) -> Any:
    """The ingest queue of a table and source (:func:`riskwarn.lake.layout.ingest_queue`):
    its ingests run in the order they started."""
    from riskwarn.lake.layout import ingest_queue as queue

    return queue(lake_dir, table_name, source)


def refused_reasons(lake_dir: Path, source: str, table_name: str, batch_id: str) -> dict[str, int]:
    """How many rows of batch ``batch_id`` the lake's quarantine holds per reason the
    write decides (:data:`REFUSED_REASONS`)."""
    import pyarrow.compute as pc

    from riskwarn.lake.layout import QUARANTINE
    from riskwarn.lake.read import dataset

    ds = dataset(lake_dir, QUARANTINE)
    if ds is None:
        return {}
    flt = (
        (pc.field("source") == source)
        & (pc.field("table_name") == table_name)
        & (pc.field("batch_id") == batch_id)
        & pc.field("reason").isin(list(REFUSED_REASONS))
    )
    got = ds.to_table(columns=["reason"], filter=flt)["reason"].to_pylist()
    return {r: got.count(r) for r in REFUSED_REASONS if r in got}


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
