"""Convert a lake in the old Parquet layout (riskwarn before Delta) into Delta tables, once.

The old layout (``<table>/source=<s>/year=<Y>[/month=<M>]/part.parquet``, ``_history``,
``_quarantine``) is refused by every read and write (:func:`layout.check_not_legacy`)
until ``riskwarn lake migrate`` has run. The migration writes a new lake beside the old
one, checks that every table, source, quarantine and history row arrived, and only then
swaps the folders: the old lake is kept as ``lake.parquet-<UTC stamp>`` (delete it once
satisfied). A failed or interrupted migration leaves the old lake where it was.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from riskwarn.contracts import TABLES, conform
from riskwarn.lake import layout
from riskwarn.lake.write import DEFAULT_HISTORY_DAYS, upsert, write_quarantine

MIGRATION_BATCH = "migrated-from-parquet"


def _parts(base: Path) -> list[Path]:
    return sorted(base.glob("**/part.parquet"))


def _grain(path: Path) -> str:
    return "month" if any(p.startswith("month=") for p in path.parts) else "year"


def migrate(lake_dir: Path, history_days: int = DEFAULT_HISTORY_DAYS) -> dict[str, Any]:
    """Convert ``lake_dir`` (old layout) to Delta; returns rows per table and where the old
    lake was kept. Raises :class:`layout.LakeError` if there is nothing to convert or a
    count does not match."""
    lake_dir = Path(lake_dir)
    if not layout.legacy_tables(lake_dir):
        raise layout.LakeError(f"nothing to migrate: {lake_dir} has no old Parquet tables")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    staging = lake_dir.with_name(f"{lake_dir.name}.delta-migrating")
    shutil.rmtree(staging, ignore_errors=True)
    rows: dict[str, int] = {}
    for name, table in TABLES.items():
        base = lake_dir / name
        if layout.is_delta(base):
            raise layout.LakeError(f"{base} is already a Delta table; migrate a whole old lake")
        for source_dir in sorted(base.glob("source=*")):
            source = source_dir.name.split("=", 1)[1]
            for part in _parts(source_dir):
                frame = conform(pq.read_table(part).to_pandas(), table)
                frame = frame.assign(source=source)
                # ids were unique per source in the old lake, so each partition is appended
                upsert(
                    staging,
                    name,
                    source,
                    frame,
                    batch_id=MIGRATION_BATCH,
                    grain=_grain(part.relative_to(source_dir)),
                    ids_carry_time=True,
                    history_days=history_days,
                )
                rows[name] = rows.get(name, 0) + len(frame)
    for part in _parts(lake_dir / "_quarantine"):
        q = pq.read_table(part).to_pandas()
        for source, group in q.groupby("source", sort=True):
            write_quarantine(staging, str(source), group, history_days=history_days)
        rows[layout.QUARANTINE] = rows.get(layout.QUARANTINE, 0) + len(q)
    for name in TABLES:
        for part in _parts(lake_dir / "_history" / name):
            _append_legacy_history(staging, name, pq.read_table(part))
            rows[f"_history/{name}"] = (
                rows.get(f"_history/{name}", 0) + pq.read_metadata(part).num_rows
            )
    _check_counts(staging, rows)
    kept = lake_dir.with_name(f"{lake_dir.name}.parquet-{stamp}")
    lake_dir.rename(kept)
    staging.rename(lake_dir)
    return {"rows": rows, "old_lake_kept_at": str(kept)}


def _append_legacy_history(staging: Path, table: str, rows: pa.Table) -> None:
    from deltalake import write_deltalake

    path = staging / layout.LEGACY_HISTORY / table
    path.mkdir(parents=True, exist_ok=True)
    frame = rows.to_pandas()
    canon = conform(frame, TABLES[table])
    canon["superseded_by_batch"] = frame["superseded_by_batch"].astype(str)
    data = pa.Table.from_pandas(canon, preserve_index=False).replace_schema_metadata(None)
    ts = [i for i, f in enumerate(data.schema) if pa.types.is_timestamp(f.type)]
    for i in ts:
        data = data.set_column(
            i, data.schema.field(i).name, data.column(i).cast(layout.TS, safe=False)
        )
    write_deltalake(str(path), data, mode="append", partition_by=["source"])


def _check_counts(staging: Path, expected: dict[str, int]) -> None:
    from deltalake import DeltaTable

    for key, n in expected.items():
        if key.startswith("_history/"):
            path = staging / layout.LEGACY_HISTORY / key.split("/", 1)[1]
        else:
            path = staging / key
        got = DeltaTable(str(path)).count() if layout.is_delta(path) else 0
        if got != n:
            raise layout.LakeError(
                f"migration check failed for {key}: {n} rows in the old lake, {got} converted; "
                "the old lake is untouched"
            )


def describe(result: dict[str, Any]) -> str:
    lines = [f"  {k}: {v:,d} rows" for k, v in sorted(result["rows"].items())]
    return "\n".join(
        [
            "converted the lake to Delta tables:",
            *lines,
            f"old lake kept at {result['old_lake_kept_at']}",
        ]
    )
