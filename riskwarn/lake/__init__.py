"""The lake: one Delta Lake table per canonical table (delta-rs), read through Arrow.

Write side (:mod:`riskwarn.lake.write`): :func:`upsert` (MERGE by ``(source,
record_id)``, one commit, under the table's writer lock) and :func:`write_quarantine`.
Read side (:mod:`riskwarn.lake.read`): :func:`read_table`, :func:`scan` (:func:`scan_pieces`:
the same rows streamed in pieces), :func:`connect`
(DuckDB), :func:`read_quarantine`, :func:`table_version`, :func:`sources` (the sources a
table holds, from its Delta log). A record's versions:
:func:`record_history`; a table with the versions of its corrected records:
:func:`read_versions` (:func:`read_known`: before a time, what training and serving
read). Upkeep (compaction, vacuum, checkpoints, snapshots) in
:mod:`riskwarn.lake.maintenance`; converting the old Parquet layout in
:mod:`riskwarn.lake.migrate`. Layout and locks: :mod:`riskwarn.lake.layout`.
"""

from __future__ import annotations

from riskwarn.lake.arrow import sort_order, to_arrow
from riskwarn.lake.history import (
    oldest_logged_version,
    read_known,
    read_versions,
    record_history,
    run_commits,
)
from riskwarn.lake.layout import QUARANTINE_SCHEMA, LakeError, LegacyLakeError
from riskwarn.lake.read import (
    connect,
    dataset,
    latest_time,
    read_open_quarantine,
    read_quarantine,
    read_table,
    row_filter,
    scan,
    sources,
    table_version,
)
from riskwarn.lake.write import resolve_quarantine, upsert, write_quarantine

__all__ = [
    "QUARANTINE_SCHEMA",
    "LakeError",
    "LegacyLakeError",
    "connect",
    "dataset",
    "latest_time",
    "oldest_logged_version",
    "read_known",
    "read_open_quarantine",
    "read_quarantine",
    "read_table",
    "read_versions",
    "record_history",
    "resolve_quarantine",
    "row_filter",
    "run_commits",
    "scan",
    "sort_order",
    "sources",
    "table_version",
    "to_arrow",
    "upsert",
    "write_quarantine",
]
