"""Ingestion: read an extract, map it onto a canonical table, validate, quarantine, write.

One module per stage (see docs/ingestion.md):

1. :mod:`~riskwarn.ingest.read` (:func:`read_raw_chunks`): CSV / CSV.gz / Parquet into
   all-text chunks; file-level problems (empty file, not a table, wrong encoding or
   delimiter, bad lines) become one-line messages, never tracebacks.
2. :mod:`~riskwarn.ingest.mapping` (:func:`map_chunk`, pure): mapping rules -> canonical
   columns, plus per-row reasons (unparseable/impossible dates, future timestamps,
   coordinates outside the area or swapped, values outside ``value_range``, missing
   required values).
3. :mod:`~riskwarn.ingest.validate` (:func:`finish_batch`, pure): duplicate ids, sensor
   spikes, contract validation (pandera, lazy, for small batches; for large ones
   vectorised masks derived from the same contract Fields, cross-checked by pandera on a
   sample), the count invariant ``read == accepted + quarantined + duplicates``.
4. :mod:`~riskwarn.ingest.write` (:func:`store_batch`): the batch handed to the lake
   (upsert + quarantine); the only module that calls :mod:`riskwarn.lake`.

:mod:`~riskwarn.ingest.flow` runs the stages for each file (or SQL source);
:mod:`~riskwarn.ingest.journal` records each batch in the serving store so that a run
killed between its lake commit and its record is recorded by the next run of its file.
Everything works on whole columns (value-by-value rules run once per distinct value);
see "Performance" in docs/ingestion.md.

Record ids: the source's id columns joined with ``|``; where a source has no id,
``sha1(raw row) + '#' + n`` where ``n`` numbers identical raw rows within the file
(1, 2, ...). Exact duplicate rows are therefore all kept (Chicago has 111) and
re-ingesting the same file yields the same ids.
"""

from __future__ import annotations

from riskwarn.contracts import conform
from riskwarn.ingest.flow import (
    fetch_raw_rows,
    ingest_files,
    ingest_sql,
    now_utc,
    read_and_validate,
    read_sql_and_validate,
    validate_chunks,
)
from riskwarn.ingest.mapping import map_chunk
from riskwarn.ingest.raw_rows import content_hash, original_json, pseudonym, sanitize_raw
from riskwarn.ingest.read import detect_text, file_batch_id, read_raw_chunks
from riskwarn.ingest.records import BadRecord, FileChanged, FileProblem, RawChunk
from riskwarn.ingest.validate import (
    QUARANTINE_COLUMNS,
    Batch,
    finish_batch,
    reason_message,
)
from riskwarn.ingest.write import batch_report, store_batch, write_batch
from riskwarn.sources import load_mapping

__all__ = [
    "QUARANTINE_COLUMNS",
    "BadRecord",
    "Batch",
    "FileChanged",
    "FileProblem",
    "RawChunk",
    "batch_report",
    "conform",
    "content_hash",
    "detect_text",
    "fetch_raw_rows",
    "file_batch_id",
    "finish_batch",
    "ingest_files",
    "ingest_sql",
    "load_mapping",
    "map_chunk",
    "now_utc",
    "original_json",
    "pseudonym",
    "read_and_validate",
    "read_raw_chunks",
    "read_sql_and_validate",
    "reason_message",
    "sanitize_raw",
    "store_batch",
    "validate_chunks",
    "write_batch",
]
