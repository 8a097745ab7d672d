"""The ingest journal: a batch's lake commits and its record in the serving store, kept
in agreement through a crash between the two (docs/ingestion.md, "A crash between the
lake and the store").

A run of a batch, holding the table's ingest lock (:func:`~riskwarn.ingest.write.ingest_lock`)
from the first step to the last:

1. closes the batch's open intents left by dead runs (:meth:`StoreJournal.begin`): an
   intent still open while the lock is held belongs to a run that died; the commits it
   made (found in the lake by its run id, after the versions its intent noted) are
   recorded now, once, as that run's (counts from its intent and the commits' metrics,
   ``recovered`` in the audit entry); if it made none, its intent is closed as
   ``ingest_interrupted``;
2. appends its own intent (``ingest_started``: run id, the counts known before the write,
   the lake's versions) to the store's audit log;
3. writes the lake, every commit carrying the run id;
4. records the batch (``ingest_batches`` + the ``ingest_batch`` audit entry with the
   run id) in one transaction (:meth:`StoreJournal.finish`).

A ``kill -9`` between 3 and 4 leaves the intent open; the next run of the batch records
the dead run's commits before its own, so the store says which run added the rows, once,
and its counts agree with the lake.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from riskwarn.ingest.validate import Batch
from riskwarn.ingest.write import (
    commits_of_run,
    lake_versions,
    quarantined_rows,
    refused_reasons,
)

log = logging.getLogger(__name__)

KILL_BEFORE_RECORD = "RISKWARN_INGEST_KILL_BEFORE_RECORD"


class IngestStore(Protocol):
    """What the journal needs of the serving store (:class:`riskwarn.store.Store`)."""

    def begin_ingest(self, intent: dict[str, Any], actor: str = ...) -> None: ...

    def open_ingests(self, batch_id: str) -> list[dict[str, Any]]: ...

    def close_ingest(
        self,
        batch_id: str,
        run_id: str,
        details: dict[str, Any],
        actor: str = ...,
        *,
        action: str = ...,
    ) -> bool: ...

    def ingest_batch(self, batch_id: str) -> dict[str, Any] | None: ...

    def audit(
        self, actor: str, action: str, object_type: str, object_id: str, details: dict[str, Any]
    ) -> None: ...

    def record_ingest_batch(
        self,
        report: dict[str, Any],
        actor: str = ...,
        *,
        run_id: str | None = None,
        recovered: dict[str, Any] | None = None,
    ) -> bool: ...


FIXED_COUNTS = ("read", "accepted", "quarantined", "duplicates")


class RecordFailed(RuntimeError):
    """The batch is in the lake but its record in the serving store failed (the store
    went down after the lake commits). A re-run of the same file records the run's lake
    commits (:meth:`StoreJournal.settle`); nothing is stored twice."""

    def __init__(self, report: dict[str, Any], cause: BaseException) -> None:
        self.report = report
        self.cause = cause
        super().__init__(
            f"{report['file_name']}: stored in the lake (new {report['new']}, updated "
            f"{report['updated']}, quarantined {report['quarantined']}) but not recorded in "
            f"the serving store ({type(cause).__name__}: "
            f"{str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ''}); "
            "re-run the same ingest once the store is reachable: it records these rows "
            "(nothing is stored twice)"
        )


class StoreJournal:
    """Records each batch of an ingest in the serving store (see the module docstring)."""

    def __init__(self, store: IngestStore, lake_dir: Path, actor: str = "pipeline") -> None:
        self.store = store
        self.lake_dir = Path(lake_dir)
        self.actor = actor

    def begin(self, batch: Batch, as_of: datetime) -> tuple[str, list[str]]:
        """Recover the batch's dead runs, then note this run's intent. Returns the new run
        id and one message per recovered run. The caller holds the ingest lock."""
        notes = self.settle(batch.batch_id)
        run_id = uuid.uuid4().hex
        intent: dict[str, Any] = {
            "run_id": run_id,
            "batch_id": batch.batch_id,
            "source": batch.source,
            "file_name": batch.file_name,
            "table_name": batch.table_name,
            "read": int(batch.read),
            "accepted": len(batch.accepted),
            "quarantined": len(batch.quarantine),
            "duplicates": int(batch.duplicates),
            "reasons": {str(k): int(v) for k, v in dict(batch.reasons).items()},
            "ingested_at": as_of.astimezone(UTC).isoformat(),
            "lake": str(self.lake_dir.resolve()),
            "lake_versions": lake_versions(self.lake_dir, batch.table_name),
        }
        self.store.begin_ingest(intent, actor=self.actor)
        return run_id, notes

    def recorded(self, batch_id: str) -> dict[str, Any] | None:
        """The store's record of ``batch_id`` (an earlier ingest of the same file with
        the same mapping), or None. The caller holds the ingest lock."""
        return self.store.ingest_batch(batch_id)

    def finish(
        self, run_id: str, report: dict[str, Any], before: dict[str, Any] | None = None
    ) -> list[str]:
        """Record this run's batch (once; the caller still holds the ingest lock).

        ``before``: the batch's record from an earlier ingest (:meth:`recorded`). Then
        this run was a re-ingest, which changed no stored record (``stale`` rows were
        not applied): a run that changed nothing closes its intent as ``ingest_skipped``
        and leaves the record as it is; one that did (new rows, a changed quarantine)
        adds its new rows to the record's counts, never replacing what the earlier runs
        stored. Returns messages for the report."""
        crash_point(KILL_BEFORE_RECORD)
        row = {k: v for k, v in report.items() if k not in ("messages", "stale")}
        if before is None:
            self.store.record_ingest_batch(row, self.actor, run_id=run_id)
            return []
        stale = int(report.get("stale", 0))
        first = f"{before['file_name']} was already ingested ({_when(before['ingested_at'])})"
        notes = []
        if stale:
            notes.append(
                f"{stale} row(s) differ from the lake's record and were not applied (stale: "
                "a re-ingested file never reverts a later correction)"
            )
        same = all(int(before[k]) == int(report[k]) for k in FIXED_COUNTS)
        if same and not int(report["new"]) and not int(report["updated"]):
            self.store.close_ingest(
                report["batch_id"],
                run_id,
                {
                    "file_name": report["file_name"],
                    "stored": "nothing (already ingested)",
                    "stale": stale,
                    "ingested_at": _when(report["ingested_at"]),
                },
                actor=self.actor,
                action="ingest_skipped",
            )
            return [f"{first}: skipped, nothing changed", *notes]
        accepted = int(report["accepted"])
        new = min(int(before["new"]) + int(report["new"]), accepted)
        # only a re-ingest with --allow-revert updates stored records (report["updated"])
        updated = min(int(before["updated"]) + int(report["updated"]), accepted - new)
        row.update(new=new, updated=updated, unchanged=accepted - new - updated)
        row["ingested_at"] = before["ingested_at"]
        self.store.record_ingest_batch(row, self.actor, run_id=run_id)
        left = (
            f"{report['updated']} stored record(s) updated (--allow-revert)"
            if int(report["updated"])
            else "stored records left as they are"
        )
        return [f"{first}: re-ingested, {report['new']} new row(s) added; {left}", *notes]

    def reverts_applied(self, run_id: str, report: dict[str, Any]) -> None:
        """Audit a run that restored superseded versions of records (``--allow-revert``):
        an ``ingest_revert_applied`` entry (who: the journal's actor; when: the ingest
        time; the run, file and count)."""
        self.store.audit(
            self.actor,
            "ingest_revert_applied",
            "ingest_batch",
            str(report["batch_id"]),
            {
                "run_id": run_id,
                "file_name": report["file_name"],
                "table_name": report["table_name"],
                "source": report["source"],
                "reverts_applied": int(report["reverts_applied"]),
                "ingested_at": _when(report["ingested_at"]),
            },
        )

    def settle(self, batch_id: str) -> list[str]:
        """Record or close every open intent of ``batch_id`` (the caller holds the ingest
        lock, so their runs are over: dead, or this process's own failed write)."""
        lake = str(self.lake_dir.resolve())
        # only this lake's runs: a store shared by several lakes holds others' intents,
        # whose runs this lock says nothing about
        mine = [i for i in self.store.open_ingests(batch_id) if i.get("lake") == lake]
        return [n for n in map(self._recover, mine) if n]

    def _recover(self, intent: dict[str, Any]) -> str:
        """Record (or close) the open intent of a run that died; returns a message."""
        run_id, batch_id = str(intent["run_id"]), str(intent["batch_id"])
        versions = dict(intent.get("lake_versions") or {})
        commits = commits_of_run(self.lake_dir, str(intent["table_name"]), versions, run_id)
        table, quarantine = commits["table"], commits["quarantine"]
        started = f"run {run_id[:12]} of {intent['file_name']} ({intent.get('ingested_at')})"
        if not table:
            # the quarantine is written before the table (riskwarn.ingest.write): a run
            # with no table commit stored none of its rows, at most its quarantine, which
            # the re-run writes again as it is (idempotent); the re-run records the batch
            self.store.close_ingest(
                batch_id,
                run_id,
                {
                    "file_name": intent["file_name"],
                    "stored": (
                        "its quarantine only (no table commit)"
                        if quarantine
                        else "nothing (no lake commit)"
                    ),
                },
                actor=self.actor,
            )
            log.warning(
                "%s ended before its table commit: %s",
                started,
                "only its quarantine stored" if quarantine else "nothing stored",
            )
            return ""
        planned = max((c["planned"] or 0 for c in table), default=0)
        planned_rows = max((c["rows"] or 0 for c in table), default=0)
        new = sum(c["inserted"] for c in table)
        updated = sum(c["updated"] for c in table)
        # a run killed between its two table commits stored only the first: the rows of
        # the other are not stored (the re-run stores them and reports them as new)
        not_stored = 0 if len(table) >= planned else planned_rows - new - updated
        unchanged = int(intent["accepted"]) - planned_rows
        # the quarantine is written before the table (since 2026-12-07; a run of the code
        # before wrote it after the table, and if killed between the two stored its rows
        # but not its quarantine): count what the quarantine holds of the batch
        quarantined = quarantined_rows(
            self.lake_dir, str(intent["source"]), str(intent["table_name"]), batch_id
        )
        quarantine_missing = max(int(intent["quarantined"]) - quarantined, 0)
        # rows the lake refused at the write (reverts of a correction, rows of an older
        # export) left the accepted rows the intent counted for the quarantine
        # (riskwarn.ingest.write)
        moved = max(quarantined - int(intent["quarantined"]), 0)
        refused = (
            refused_reasons(
                self.lake_dir, str(intent["source"]), str(intent["table_name"]), batch_id
            )
            if moved
            else {}
        )
        complete = not not_stored and not quarantine_missing
        report: dict[str, Any] = {
            **{k: intent[k] for k in ("batch_id", "source", "file_name", "table_name")},
            **{k: int(intent[k]) for k in FIXED_COUNTS},
            "accepted": int(intent["accepted"]) - moved,
            "quarantined": int(intent["quarantined"]) - quarantine_missing + moved,
            "new": new,
            "updated": updated,
            "unchanged": unchanged - moved,
            # read = accepted + quarantined + duplicates + not_stored: the rows its
            # quarantine commit did not store are counted, not lost from the sum
            "not_stored": quarantine_missing,
            "reasons": _with_moved(dict(intent.get("reasons") or {}), refused),
            "ingested_at": datetime.fromisoformat(str(intent["ingested_at"])),
        }
        recovered = {
            "by": self.actor,
            "at": datetime.now(UTC).isoformat(),
            "table_versions": [c["version"] for c in table],
            "quarantine_versions": [c["version"] for c in quarantine],
            "table_commits_planned": planned,
            "complete": complete,
            "not_stored": not_stored,
            "quarantine_not_stored": quarantine_missing,
            "note": (
                "the run stopped after its lake commits and before its record in the store "
                "(killed, or the store failed when it recorded the batch)"
            ),
        }
        self.store.record_ingest_batch(
            report, str(intent.get("actor") or self.actor), run_id=run_id, recovered=recovered
        )
        what = f"new {new}, updated {updated}"
        if not_stored:
            what += f", {not_stored} rows of its second commit not stored"
        if quarantine_missing:
            what += f", {quarantine_missing} quarantined rows not stored (its quarantine commit)"
        log.warning(
            "%s stopped after its lake commits without its record in the store (killed, or "
            "the store failed); recorded now: %s",
            started,
            what,
        )
        return (
            f"recorded an earlier {started} that stopped after its lake commit "
            f"(versions {recovered['table_versions'] or recovered['quarantine_versions']}): "
            f"{what}"
        )


def _with_moved(reasons: dict[str, Any], refused: dict[str, int]) -> dict[str, Any]:
    """The intent's quarantine reasons plus the rows the write refused (counted from the
    lake's quarantine by reason: the intent was written before the write decided them)."""
    for reason, n in refused.items():
        reasons[reason] = int(reasons.get(reason, 0)) + int(n)
    return reasons


def _when(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def crash_point(variable: str) -> None:
    """Test hook (tests/test_ingest_crash_record.py): with ``RISKWARN_TESTING`` set and
    ``variable`` naming a file that does not exist yet, create it and SIGKILL this
    process. Without ``RISKWARN_TESTING`` it does nothing (a variable left in a production
    environment must not kill an ingest)."""
    marker = os.environ.get(variable)
    if not os.environ.get("RISKWARN_TESTING") or not marker or os.path.exists(marker):
        return
    with open(marker, "w") as fh:
        fh.write(str(os.getpid()))
        fh.flush()
        os.fsync(fh.fileno())
    os.kill(os.getpid(), signal.SIGKILL)
