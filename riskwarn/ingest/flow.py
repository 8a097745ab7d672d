"""The file-level flow: read -> map -> validate -> write, one file (or SQL source) at a time."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskwarn.contracts import TABLES, conform
from riskwarn.ingest.mapping import map_chunk, row_hashes
from riskwarn.ingest.raw_rows import PERSONAL_MASK, original_json
from riskwarn.ingest.read import (
    file_batch_id,
    file_signature,
    mapping_digest,
    read_raw_chunks,
    refuse_if_changed,
    stringify,
)
from riskwarn.ingest.records import BadRecord, FileProblem, RawChunk
from riskwarn.ingest.validate import QUARANTINE_COLUMNS, Batch, finish_batch, reason_message
from riskwarn.ingest.write import ingest_lock, ingest_queue, store_batch
from riskwarn.redact import PERSONAL_KINDS, mask_personal
from riskwarn.sources import Area, SourceMapping

if TYPE_CHECKING:
    from riskwarn.ingest.journal import StoreJournal

log = logging.getLogger(__name__)

# CSV files hash only the rows whose id repeats, read again (most files have none) instead
# of every row while mapping; False: every row (the old path, kept for the equivalence
# tests, tests/test_ingest_arrow_csv.py)
CSV_HASH_LATER = True


def _file_problem_batch(
    mapping: SourceMapping, problem: FileProblem, batch_id: str, file_name: str
) -> Batch:
    table = TABLES[mapping.table]
    empty = conform(pd.DataFrame(columns=table.columns), table)
    if problem.reason == "empty_file":
        return Batch(
            batch_id,
            mapping.name,
            table.name,
            file_name,
            0,
            empty,
            pd.DataFrame(columns=QUARANTINE_COLUMNS),
            0,
            [problem.message],
        )
    q = pd.DataFrame(
        [
            [
                mapping.name,
                table.name,
                batch_id,
                file_name,
                0,
                problem.reason,
                problem.message,
                problem.original,
            ]
        ],
        columns=QUARANTINE_COLUMNS,
    )
    q["row_number"] = q["row_number"].astype("int64")
    return Batch(
        batch_id,
        mapping.name,
        table.name,
        file_name,
        1,
        empty,
        q,
        0,
        [f"{problem.message} (whole file quarantined as one record)"],
    )


def _bad_records_quarantine(
    mapping: SourceMapping, bad: list[BadRecord], batch_id: str, file_name: str
) -> pd.DataFrame:
    q = pd.DataFrame(
        [
            [
                mapping.name,
                mapping.table,
                batch_id,
                file_name,
                b.row,
                b.reason,
                f"{reason_message(b.reason)} ({b.detail}; line {b.line})",
                b.original,
            ]
            for b in bad
        ],
        columns=QUARANTINE_COLUMNS,
    )
    q["row_number"] = q["row_number"].astype("int64")
    return q


def extra_columns_line(mapping: SourceMapping, columns: Sequence[Any], extra: list[Any]) -> str:
    """The note on the columns ``extra`` of a file's header ``columns`` that the mapping
    does not know. Their names are listed only when the header has every column the
    mapping reads: else the "header" may be a data row (an export without its header
    line), whose values (a party's name, phone and ID number) were printed by the CLI
    and kept in the report before 2026-12-07; a name holding a phone or ID number is
    masked (``***``) either way."""
    have = {str(c) for c in columns}
    needed = [*mapping.source_columns, *(c for cs in mapping.pseudonymise.values() for c in cs)]
    if any(c not in have for c in needed):
        return (
            f"{len(extra)} extra column(s) ignored, not named: the header lacks columns the "
            "mapping reads, so the first line may be a data row rather than a header"
        )
    words = {kind: PERSONAL_MASK for kind in PERSONAL_KINDS}
    return f"extra columns ignored: {', '.join(mask_personal(str(c), words) for c in extra)}"


def validate_chunks(
    mapping: SourceMapping,
    chunks: Iterator[RawChunk],
    *,
    pseudonym_key: str,
    as_of: datetime,
    batch_id: str,
    file_name: str,
    messages: list[str],
    progress: Callable[[int], None] | None = None,
    reread: Callable[[], Iterator[RawChunk]] | None = None,
    city_area: Area | None = None,
    hash_later: bool = False,
    admin_codes: frozenset[str] | None = None,
) -> Batch:
    """Map every chunk, then finish the batch (shared by files and SQL).

    ``reread`` gives the chunks again; it is used to fetch the original content of rows
    rejected after mapping (duplicate conflicts, spikes, contract failures), and with
    ``hash_later`` (Parquet; CSV with :data:`CSV_HASH_LATER`) the content hashes of the rows whose id
    repeats, instead of hashing every row while mapping."""
    parts: list[pd.DataFrame] = []
    why: list[pd.Series] = []
    bad: list[BadRecord] = []
    occ: Counter[str] = Counter()
    memo: dict[Any, Any] = {}  # parsed times shared by the file's chunks
    hash_later = hash_later and reread is not None
    read = 0
    extra_reported = False
    for chunk in chunks:
        if not extra_reported:
            extra = [
                c
                for c in chunk.frame.columns
                if str(c) not in mapping.known_columns and not str(c).startswith("Unnamed:")
            ]
            if extra:
                messages.append(extra_columns_line(mapping, chunk.frame.columns, extra))
            extra_reported = True
        if len(chunk.frame):
            cand, reason = map_chunk(
                mapping,
                chunk.frame,
                pseudonym_key=pseudonym_key,
                as_of=as_of,
                rows=chunk.rows,
                occurrences=occ,
                city_area=city_area,
                plain_text=chunk.plain_text,
                with_hash=not hash_later,  # else only rows whose id repeats are hashed
                memo=memo,
                factorized=chunk.factorized,
                admin_codes=admin_codes,
            )
            parts.append(cand)
            why.append(reason)
        bad.extend(chunk.bad)
        n = len(chunk.frame) + len(chunk.bad)
        read += n
        if progress is not None:
            progress(n)
    extra_q = _bad_records_quarantine(mapping, bad, batch_id, file_name) if bad else None
    if not read:
        messages.append("no data rows (header only)")
    if not parts:
        table = TABLES[mapping.table]
        candidates = pd.DataFrame(columns=[*table.columns, "_row", "_hash", "_original"])
        reasons = pd.Series([], dtype=object)
    else:
        candidates = pd.concat(parts, ignore_index=True)
        reasons = _concat_reasons(why)
        parts.clear()  # the chunks are now in `candidates`: do not hold them twice
        why.clear()
    fetch = fetch_hashes = None
    if reread is not None:

        def fetch(rows: set[int]) -> dict[int, str]:
            return fetch_raw_rows(mapping, reread(), rows, pseudonym_key)

        def fetch_hashes(rows: np.ndarray) -> np.ndarray:
            return fetch_row_hashes(mapping, reread(), rows, pseudonym_key)

    return finish_batch(
        mapping,
        candidates,
        reasons,
        read=read,
        batch_id=batch_id,
        file_name=file_name,
        messages=messages,
        extra_quarantine=extra_q,
        fetch_originals=fetch,
        fetch_hashes=fetch_hashes,
    )


def _concat_reasons(parts: list[pd.Series]) -> pd.Series:
    """The chunks' reasons as one Series; categorical chunks stay integer codes."""
    if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
        from pandas.api.types import union_categoricals

        return pd.Series(union_categoricals([p.array for p in parts]))
    return pd.concat([p.astype(object) for p in parts], ignore_index=True)


def fetch_row_hashes(
    mapping: SourceMapping, chunks: Iterator[RawChunk], rows: np.ndarray, key: str
) -> np.ndarray:
    """The content hashes (:func:`~riskwarn.ingest.mapping.row_hashes`) of the given
    1-based data rows, in the order of ``rows``, read again from the chunks."""
    wanted = np.unique(rows)
    found_rows: list[np.ndarray] = []
    found: list[np.ndarray] = []
    last = int(wanted[-1]) if len(wanted) else 0
    for chunk in chunks:
        hit = np.isin(chunk.rows, wanted)
        if hit.any():
            found_rows.append(chunk.rows[hit])
            found.append(row_hashes(mapping, chunk.frame.reset_index(drop=True).loc[hit], key))
        if len(chunk.rows) and chunk.rows[-1] >= last:
            break
    have = np.concatenate(found_rows) if found_rows else np.array([], dtype=np.int64)
    hashes = np.concatenate(found) if found else np.array([], dtype=np.uint64)
    at = pd.Index(have).get_indexer(rows)
    if (at < 0).any():
        raise RuntimeError("rows vanished when the file was read again")
    return hashes[at]


def fetch_raw_rows(
    mapping: SourceMapping, chunks: Iterator[RawChunk], rows: set[int], key: str
) -> dict[int, str]:
    """Stored-form JSON (:func:`~riskwarn.ingest.mapping.original_json`) of the given
    1-based data rows, read again from the chunks; stops after the last one."""
    found: dict[int, str] = {}
    wanted = np.fromiter(rows, dtype=np.int64, count=len(rows))
    last = int(wanted.max()) if len(wanted) else 0
    for chunk in chunks:
        hit = np.isin(chunk.rows, wanted)
        if hit.any():
            sub = chunk.frame.reset_index(drop=True).loc[hit]
            sub.columns = [str(c) for c in sub.columns]
            text = original_json(mapping, sub, key)
            found.update(zip(chunk.rows[hit].tolist(), text.tolist(), strict=True))
        if len(chunk.rows) and chunk.rows[-1] >= last:
            break
    return found


def read_and_validate(
    mapping: SourceMapping,
    path: str | Path,
    *,
    pseudonym_key: str,
    as_of: datetime,
    progress: Callable[[int], None] | None = None,
    city_area: Area | None = None,
    admin_codes: frozenset[str] | None = None,
) -> Batch:
    """Read one file and validate it; file-level problems become quarantine + message.
    ``admin_codes``: the known admin units' codes (:func:`known_admin_codes`).

    A file that changed while it was read (its stat or its bytes differ afterwards from
    before its first byte was read) raises :class:`~riskwarn.ingest.records.FileChanged`
    and nothing of it is written: the rows read may mix two versions of it, under the
    batch id of neither (docs/ingestion.md, "A file that changed while it was read")."""
    p = Path(path)
    before = file_signature(p) if p.exists() else None
    batch_id = (
        file_batch_id(mapping, p)
        if before is not None
        else hashlib.sha256(str(p).encode()).hexdigest()
    )
    messages: list[str] = []

    def reread() -> Iterator[RawChunk]:
        return read_raw_chunks(mapping, p, [])

    parquet = mapping.format == "parquet" or p.suffix == ".parquet"
    try:
        batch = validate_chunks(
            mapping,
            # typed Parquet path: repeated values printed once, kept as codes; the
            # re-read (originals, content hashes of repeated ids) stays all text. CSV
            # too hashes only the rows whose id repeats, read again (most files have none)
            read_raw_chunks(mapping, p, messages, typed=parquet),
            pseudonym_key=pseudonym_key,
            as_of=as_of,
            batch_id=batch_id,
            file_name=p.name,
            messages=messages,
            progress=progress,
            reread=reread,
            city_area=city_area,
            hash_later=parquet or CSV_HASH_LATER,
            admin_codes=admin_codes,
        )
    except FileProblem as problem:  # a truncation while reading may look like one
        batch = _file_problem_batch(mapping, problem, batch_id, p.name)
    except Exception:  # "rows vanished when the file was read again": say why
        if before is not None:
            refuse_if_changed(mapping, p, before, batch_id)
        raise
    if before is not None:
        refuse_if_changed(mapping, p, before, batch_id)
    return batch


def read_sql_and_validate(
    mapping: SourceMapping,
    *,
    pseudonym_key: str,
    as_of: datetime,
    url: str | None = None,
    city_area: Area | None = None,
    admin_codes: frozenset[str] | None = None,
) -> Batch:
    """Read the mapping's SQL source (table or query) with SQLAlchemy and validate it."""
    import sqlalchemy as sa

    if mapping.sql is None:
        raise ValueError(f"mapping {mapping.name!r} has no sql section")
    engine = sa.create_engine(url or mapping.sql.url)
    try:
        table_name = mapping.sql.table or ""
        query = mapping.sql.query or sa.select(sa.text("*")).select_from(sa.table(table_name))
        with engine.connect() as conn:
            frame = pd.read_sql(sa.text(query) if isinstance(query, str) else query, conn)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"cannot read SQL source of {mapping.name!r}: {first}") from None
    finally:
        engine.dispose()
    raw = stringify(frame)
    name = f"sql:{mapping.sql.table or 'query'}"
    h = hashlib.sha256(mapping_digest(mapping).encode())
    h.update(raw.to_csv(index=False).encode())
    messages: list[str] = []
    chunk = RawChunk(raw, np.arange(1, len(raw) + 1, dtype=np.int64), [])
    return validate_chunks(
        mapping,
        iter([chunk]),
        pseudonym_key=pseudonym_key,
        as_of=as_of,
        batch_id=h.hexdigest(),
        file_name=name,
        messages=messages,
        reread=lambda: iter([chunk]),
        city_area=city_area,
        admin_codes=admin_codes,
    )


def known_admin_codes(lake_dir: Path, mapping: SourceMapping) -> frozenset[str] | None:
    """The codes (record ids) of the admin units in the lake, which a mapping of a table in
    :data:`~riskwarn.ingest.mapping.ADMIN_CODE_TABLES` reading ``admin_code`` is checked
    against: those of the mapping's own source (city) when the lake holds any; else, for
    disputes, those of every source (as before 2026-12-06). None (no check) for other
    mappings and while the lake holds no such admin unit (a city ingests its admin units
    first: docs/ingestion.md); another city's districts are not its admin units."""
    from riskwarn import lake
    from riskwarn.ingest.mapping import ADMIN_CODE_TABLES

    if mapping.table not in ADMIN_CODE_TABLES or "admin_code" not in mapping.columns:
        return None
    units = lake.read_table(lake_dir, "admin_units", columns=["source", "record_id"])
    if not len(units):
        return None
    own = units.loc[units["source"] == mapping.name, "record_id"]
    if len(own):
        return frozenset(own.dropna().astype(str))
    if mapping.table == "disputes":
        return frozenset(units["record_id"].dropna().astype(str))
    return None


def city_area(settings: Any) -> Area | None:
    """The city's configured area (``Settings.city_area``), or None when not set."""
    from riskwarn.settings import city_box

    text = getattr(settings, "city_area", "")
    if not text:
        return None
    min_lon, min_lat, max_lon, max_lat = city_box(text)
    return Area(min_lon=min_lon, max_lon=max_lon, min_lat=min_lat, max_lat=max_lat)


def store_and_record(
    batch: Batch,
    lake_dir: Path,
    as_of: datetime,
    mapping: SourceMapping,
    journal: StoreJournal | None,
    allow_revert: bool = False,
    extracted_at: datetime | None = None,
) -> dict[str, Any]:
    """Write a batch into the lake and, with a ``journal``, record it in the serving store:
    under the table's ingest lock, the journal's intent, the lake commits (marked with the
    run id) and the record (:mod:`riskwarn.ingest.journal`). Runs of the batch that died
    between their lake commits and their record are recorded first (their messages are
    added to the report).

    A row that would restore a superseded version of its record is quarantined
    (:func:`~riskwarn.ingest.write.write_batch`); ``allow_revert`` (``riskwarn ingest
    --allow-revert``) applies it, even from a file already ingested, and says so in the
    report with who and when (and in the audit log, ``ingest_revert_applied``).
    ``extracted_at``: when the export was made (``riskwarn ingest --extracted-at``); a
    row that would change a record a later export wrote is quarantined the same way."""
    if journal is None:
        report = store_batch(
            batch,
            lake_dir,
            as_of,
            mapping.partition,
            ids_carry_time=mapping.ids_carry_time,
            allow_revert=allow_revert,
            extracted_at=extracted_at,
        )
        return _note_reverts_applied(report, None, as_of)
    with ingest_lock(lake_dir, batch.table_name):
        run_id, notes = journal.begin(batch, as_of)
        # the same file (and mapping) ingested before: never revert a stored record,
        # unless the operator asks to (--allow-revert)
        before = journal.recorded(batch.batch_id)

        def file_name_of(batch_id: str) -> str | None:
            rec = journal.recorded(batch_id)
            return None if rec is None else str(rec.get("file_name") or "") or None

        try:
            report = store_batch(
                batch,
                lake_dir,
                as_of,
                mapping.partition,
                ids_carry_time=mapping.ids_carry_time,
                run_id=run_id,
                corrections=before is None or allow_revert,
                allow_revert=allow_revert,
                file_names=file_name_of,
                extracted_at=extracted_at,
            )
        except BaseException:
            # a failed write (full disk) may have made a commit before failing: record
            # what it stored now, or close its intent, rather than leave it to the re-run
            try:
                journal.settle(batch.batch_id)
            except Exception:
                log.exception("could not settle the failed run %s of %s", run_id, batch.file_name)
            raise
        try:
            notes = [*journal.finish(run_id, report, before), *notes]
            if report.get("reverts_applied"):
                journal.reverts_applied(run_id, report)
        except Exception as exc:  # the store went down after the lake commits
            from riskwarn.ingest.journal import RecordFailed

            raise RecordFailed(report, exc) from exc
    report["messages"] = [*report["messages"], *notes]
    return _note_reverts_applied(report, journal, as_of)


def _note_reverts_applied(
    report: dict[str, Any], journal: StoreJournal | None, as_of: datetime
) -> dict[str, Any]:
    """Add to the report who restored superseded versions and when (``--allow-revert``)."""
    n = int(report.get("reverts_applied", 0))
    if n:
        import getpass

        who = journal.actor if journal is not None else getpass.getuser()
        report["messages"] = [
            *report["messages"],
            f"{n} row(s) restored a superseded version of their record (--allow-revert, by "
            f"{who}, ingest time {as_of.astimezone(UTC).isoformat()}); counted as updated",
        ]
    return report


def stored_nothing(report: dict[str, Any]) -> bool:
    """Whether a file's batch stored no record because every row it read was quarantined
    (``accepted`` 0, ``quarantined`` > 0; duplicates of quarantined rows aside). An empty
    file (read 0) is not such a batch: it had nothing to store. ``riskwarn ingest``
    exits with :data:`EXIT_ALL_QUARANTINED` and the landing DAG's task fails on it
    (docs/ingestion.md, "A file that stored nothing")."""
    return int(report["accepted"]) == 0 and int(report["quarantined"]) > 0


EXIT_ALL_QUARANTINED = 3


def stored_nothing_line(report: dict[str, Any], lake_dir: Path) -> str:
    """One line for a :func:`stored_nothing` batch: the file, the quarantine count with
    its reasons and where the rows are (no row content: originals may hold places)."""
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report["reasons"].items()))
    n = int(report["quarantined"])
    return (
        f"{report['file_name']}: nothing stored, all {n} row{'s' if n != 1 else ''} "
        f"quarantined ({reasons}); see the quarantine of batch {report['batch_id'][:16]} "
        f"(source {report['source']}) in {Path(lake_dir) / '_quarantine'} or the "
        f"dashboard's Models & data quality page"
    )


def ingest_files(
    mapping: SourceMapping,
    files: Sequence[str | Path],
    settings: Any,
    *,
    as_of: datetime,
    progress: Callable[[int], None] | None = None,
    on_report: Callable[[dict[str, Any]], None] | None = None,
    journal: StoreJournal | None = None,
    allow_revert: bool = False,
    extracted_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Read, validate and upsert each file into ``settings.lake_dir``; one report per file.

    With a ``journal`` each file's batch is recorded in the serving store as soon as it
    is in the lake, in the writer thread (:func:`store_and_record`), so a later failure
    leaves the earlier files recorded. ``on_report`` gets each file's report once it is
    stored (and recorded); with the writer thread that is after the next file is
    validated, or at the end.
    A lake that cannot be written raises :class:`riskwarn.lake.LakeError` (one line)."""
    from riskwarn.keys import pseudonym_key_for

    key = pseudonym_key_for(settings, mapping)  # refuses personal fields without a key
    with ingest_queue(settings.lake_dir, TABLES[mapping.table].name, mapping.name) as queued:
        reports = _ingest_files(
            mapping,
            files,
            settings,
            key,
            as_of=as_of,
            progress=progress,
            on_report=_noting_wait(on_report, queued),
            journal=journal,
            allow_revert=allow_revert,
            extracted_at=extracted_at,
        )
    return reports


def _noting_wait(
    on_report: Callable[[dict[str, Any]], None] | None, queued: dict[str, float]
) -> Callable[[dict[str, Any]], None]:
    """``on_report``, after adding to the report how long the ingest waited for an
    earlier-started one of its table and source (:func:`ingest_queue`), if it did."""

    def note(report: dict[str, Any]) -> None:
        if queued["waited"] >= 0.5:
            report["messages"] = [*report["messages"], _waited_line(queued["waited"])]
        if on_report is not None:
            on_report(report)

    return note


def _waited_line(seconds: float) -> str:
    return (
        f"waited {seconds:.0f} s for an ingest of the same table and source started "
        "earlier: ingests of one table and source are applied in the order they started"
    )


def _ingest_files(
    mapping: SourceMapping,
    files: Sequence[str | Path],
    settings: Any,
    key: str,
    *,
    as_of: datetime,
    progress: Callable[[int], None] | None,
    on_report: Callable[[dict[str, Any]], None],
    journal: StoreJournal | None,
    allow_revert: bool,
    extracted_at: datetime | None,
) -> list[dict[str, Any]]:
    """:func:`ingest_files`, its ticket of the ingest queue held."""
    import pyarrow

    area = city_area(settings)
    admin = known_admin_codes(settings.lake_dir, mapping)
    reports: list[dict[str, Any]] = []
    # A file's lake write (delta-rs and pyarrow, which release the GIL) runs in one
    # writer thread while the next file is read and validated: commits stay one at a
    # time and in file order, reports come in file order, and at most two files' rows
    # are held (the one being written, the one being validated).
    pending: Future[dict[str, Any]] | None = None

    def _store(batch: Batch) -> dict[str, Any]:
        try:
            return store_and_record(
                batch, settings.lake_dir, as_of, mapping, journal, allow_revert, extracted_at
            )
        finally:
            # hold no file's rows longer than needed: drop the batch and hand Arrow's
            # freed buffers back to the OS
            del batch
            pyarrow.default_memory_pool().release_unused()

    def _collect(done: Future[dict[str, Any]]) -> None:
        reports.append(done.result())  # a LakeError of that file is raised here
        on_report(reports[-1])

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-write") as writer:
        try:
            for f in files:
                batch = read_and_validate(
                    mapping,
                    f,
                    pseudonym_key=key,
                    as_of=as_of,
                    progress=progress,
                    city_area=area,
                    admin_codes=admin,
                )
                if pending is not None:
                    _collect(pending)
                    pending = None
                pending = writer.submit(_store, batch)
                del batch
            if pending is not None:
                _collect(pending)
                pending = None
        except BaseException:
            # a failure while reading the next file: the file being written still ends
            # (and is reported) before the error goes on, as without the writer thread
            if pending is not None and pending.exception() is None:
                _collect(pending)
            raise
    return reports


def ingest_sql(
    mapping: SourceMapping,
    settings: Any,
    *,
    as_of: datetime,
    url: str | None = None,
    journal: StoreJournal | None = None,
    allow_revert: bool = False,
    extracted_at: datetime | None = None,
) -> dict[str, Any]:
    """Read the mapping's SQL source, validate and upsert it into the lake (recorded
    through ``journal`` as :func:`ingest_files` does)."""
    from riskwarn.keys import pseudonym_key_for

    key = pseudonym_key_for(settings, mapping)  # refuses personal fields without a key
    with ingest_queue(settings.lake_dir, TABLES[mapping.table].name, mapping.name) as queued:
        batch = read_sql_and_validate(
            mapping,
            pseudonym_key=key,
            as_of=as_of,
            url=url,
            city_area=city_area(settings),
            admin_codes=known_admin_codes(settings.lake_dir, mapping),
        )
        report = store_and_record(
            batch, settings.lake_dir, as_of, mapping, journal, allow_revert, extracted_at
        )
    _noting_wait(None, queued)(report)
    return report


def now_utc() -> datetime:
    """The ingest time; read only at entry points and passed down as ``as_of``."""
    return datetime.now(UTC)
