"""The stream's counts across restarts: what it stored, once (``run/stream.counts.json``).

Users read the status's ``accepted`` / ``quarantined`` / ``duplicates`` as what the stream
has received; before 2026-12-07 they were the running consumer's, from zero at each start.
Now they are durable, and exact through a ``kill -9`` at any point:

* every lake commit of the consumer carries its run id (:func:`run_id`, the lake's
  :data:`~riskwarn.lake.layout.RUN_KEY`): the readings table's commits, the quarantine's
  and the removal of a resolved quarantine row;
* after each micro-batch, before its messages are acknowledged, the ledger is written
  atomically (:func:`~riskwarn.stream.cursor.write_durably`): the totals with, per table,
  the version up to which every commit of the run is in them (the versions the writes
  answered);
* at start the commits of the run after those versions (a micro-batch written by a
  consumer killed before its ledger was) are read from the tables' Delta logs
  (:func:`riskwarn.lake.run_commits`) and their rows added: readings inserted (new),
  updated (corrections), quarantine rows inserted (quarantined) and removed
  (``resolved``, :mod:`riskwarn.stream.consumer`). Their messages were not acknowledged:
  the broker delivers them again and they count as duplicates then, as any redelivery.

So a reading or a quarantined message is counted stored once, by whichever consumer
finds it first (its own write's answer, or the log after a crash), and never again.
``duplicates`` (nothing stored) is kept in the ledger only: the messages of a micro-batch
killed before its ledger was written count when they are delivered again.
``received`` = ``accepted`` + ``duplicates`` + ``quarantined``. ``since``: when this home's
consumer first counted (a home from before the ledger: counted from then on, the lake's
earlier rows not in it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riskwarn.stream.cursor import write_durably

log = logging.getLogger(__name__)

QUARANTINE = "quarantine"
COUNTS = ("accepted", "corrections", "new_in_lake", "quarantined", "duplicates", "resolved")


def _lake_name(name: str) -> str:
    """The lake's own name of a table the ledger names (the quarantine's is private)."""
    from riskwarn.lake.layout import QUARANTINE as LAKE_QUARANTINE

    return LAKE_QUARANTINE if name == QUARANTINE else name


def run_id(source: str) -> str:
    """The run id of every lake commit of the stream consumer of ``source``."""
    return f"stream:{source}"


@dataclass
class Ledger:
    """The durable totals and the table versions they cover (see the module docstring)."""

    path: Path
    source: str
    since: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    versions: dict[str, int] = field(default_factory=dict)

    def covered(self, versions: dict[str, int]) -> None:
        """The writes answered ``versions``: every commit of the run up to them is counted."""
        for name, v in versions.items():
            self.versions[name] = max(int(v), self.versions.get(name, -1))

    def save(self) -> None:
        """Write atomically. Raises OSError."""
        body = {
            "version": 1,
            "source": self.source,
            "since": self.since,
            "counts": self.counts,
            "lake_versions": self.versions,
        }
        write_durably(self.path, json.dumps(body))


def _read(path: Path, source: str) -> Ledger | None:
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict) or raw.get("source") != source:
            raise TypeError("not this source's ledger")
        counts = {k: int(raw["counts"].get(k, 0)) for k in COUNTS}
        versions = {str(k): int(v) for k, v in raw["lake_versions"].items()}
        return Ledger(path, source, str(raw["since"]), counts, versions)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning(
            "the stream's counts %s are unreadable (%s): counting again from now",
            path,
            type(exc).__name__,
        )
        return None


def open_ledger(path: Path, lake_dir: Path, source: str, table: str) -> tuple[Ledger, int]:
    """The ledger of ``source``'s consumer with the run's commits it does not cover added
    (a consumer killed between a lake write and its ledger); a new one (from now, at the
    tables' current versions) without a readable file. Returns it and how many rows the
    log added. Saved before it is returned."""
    from riskwarn import lake

    ledger = _read(path, source)
    added = 0
    if ledger is None:
        ledger = Ledger(path, source, datetime.now(UTC).isoformat(timespec="seconds"))
        for name in (table, QUARANTINE):
            v = lake.table_version(lake_dir, _lake_name(name))
            ledger.versions[name] = -1 if v is None else v
    else:
        rid = run_id(source)
        c = ledger.counts
        for name in (table, QUARANTINE):
            after = ledger.versions.get(name)
            for commit in lake.run_commits(lake_dir, _lake_name(name), after, rid):
                if name == QUARANTINE:
                    c["quarantined"] += commit["inserted"]
                    c["resolved"] += commit["deleted"]
                    added += commit["inserted"] + commit["deleted"]
                else:
                    c["new_in_lake"] += commit["inserted"]
                    c["corrections"] += commit["updated"]
                    c["accepted"] += commit["inserted"] + commit["updated"]
                    added += commit["inserted"] + commit["updated"]
                ledger.covered({name: commit["version"]})
        if added:
            log.warning(
                "%d row(s) stored by a consumer stopped before it counted them are counted "
                "now, from the lake's log (their messages, delivered again, count as "
                "duplicates)",
                added,
            )
    ledger.save()
    return ledger, added


def status_counts(ledger: Ledger) -> dict[str, Any]:
    """The status file's counts (received = accepted + duplicates + quarantined)."""
    c = ledger.counts
    return {
        **c,
        "received": c["accepted"] + c["duplicates"] + c["quarantined"],
        "counts_since": ledger.since,
    }
