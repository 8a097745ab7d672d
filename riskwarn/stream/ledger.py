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

The run id names the writer (since 2026-12-08): ``stream:<source>@<writer>``, ``writer`` a
random id the ledger keeps (made with it). Two homes writing one source into one lake
each read back their own commits only; with the one tag ``stream:<source>`` of before,
each added the other's commits at its next start. A ledger written before (no writer)
reads its uncounted commits under the old tag once, then takes a writer id.

The ledger says whether its consumer ``closed`` it (stopped cleanly: every commit of the
run counted). A consumer that did not, whose uncounted commits the lake's log no longer
holds (Delta log entries removed by lake maintenance after ``lake_history_days``, or a
table replaced by an older copy), cannot know what they stored: the ledger is marked
``incomplete`` since its last save (kept; the status says it in English and Chinese)
rather than under-count in silence.
"""

from __future__ import annotations

import json
import logging
import uuid
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


def run_id(source: str, writer: str | None = None) -> str:
    """The run id of every lake commit of the stream consumer of ``source`` whose ledger
    names ``writer`` (None: the one tag of every home before 2026-12-08)."""
    return f"stream:{source}" if writer is None else f"stream:{source}@{writer}"


def new_writer() -> str:
    """A writer id for a new ledger (random: two homes never share one by chance)."""
    return uuid.uuid4().hex[:12]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Ledger:
    """The durable totals and the table versions they cover (see the module docstring)."""

    path: Path
    source: str
    since: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    versions: dict[str, int] = field(default_factory=dict)
    writer: str | None = None
    closed: bool = False  # saved by a consumer that stopped cleanly
    saved_at: str | None = None
    # {"since", "tables": {name: why}}: commits the counts may miss (module docstring)
    incomplete: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        return run_id(self.source, self.writer)

    def covered(self, versions: dict[str, int]) -> None:
        """The writes answered ``versions``: every commit of the run up to them is counted."""
        for name, v in versions.items():
            self.versions[name] = max(int(v), self.versions.get(name, -1))

    def save(self) -> None:
        """Write atomically. Raises OSError."""
        saved_at = _now()
        body = {
            "version": 2,
            "source": self.source,
            "writer": self.writer,
            "since": self.since,
            "counts": self.counts,
            "lake_versions": self.versions,
            "closed": self.closed,
            "saved_at": saved_at,
            "incomplete": self.incomplete,
        }
        write_durably(self.path, json.dumps(body))
        self.saved_at = saved_at

    def close(self) -> None:
        """Saved by a consumer stopping cleanly (every commit of its run counted): a
        later gap in the lake's log is none of its commits. Raises OSError."""
        self.closed = True
        self.save()


def _read(path: Path, source: str) -> Ledger | None:
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict) or raw.get("source") != source:
            raise TypeError("not this source's ledger")
        counts = {k: int(raw["counts"].get(k, 0)) for k in COUNTS}
        versions = {str(k): int(v) for k, v in raw["lake_versions"].items()}
        writer = raw.get("writer")
        incomplete = raw.get("incomplete")
        saved_at = raw.get("saved_at") or datetime.fromtimestamp(
            path.stat().st_mtime, UTC
        ).isoformat(timespec="seconds")  # a ledger of before 2026-12-08: its file's time
        return Ledger(
            path,
            source,
            str(raw["since"]),
            counts,
            versions,
            writer=None if writer is None else str(writer),
            closed=bool(raw.get("closed", False)),
            saved_at=str(saved_at),
            incomplete=incomplete if isinstance(incomplete, dict) else None,
        )
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning(
            "the stream's counts %s are unreadable (%s): counting again from now",
            path,
            type(exc).__name__,
        )
        return None


def log_gap(lake_dir: Path, name: str, after: int | None, closed: bool = False) -> str | None:
    """Why the counts and table ``name`` may disagree (None: they agree): a table older
    than the ``after`` the counts cover (replaced by an older copy: a restore), or, for a
    ledger not ``closed``, commits after ``after`` its Delta log no longer holds (entries
    removed by lake maintenance: the oldest entry left is later than ``after`` + 1)."""
    from riskwarn import lake

    if after is None:
        return None
    current = lake.table_version(lake_dir, name)
    if current is None:
        return None if after < 0 else f"{name}: the table is gone (the counts cover v{after})"
    if current < after:
        return (
            f"{name}: the table is at v{current}, before the v{after} the counts cover "
            "(replaced by an older copy?)"
        )
    if closed:  # every commit of its run counted: a gap holds none of them
        return None
    oldest = lake.oldest_logged_version(lake_dir, name)
    if current > after and oldest is not None and oldest > after + 1:
        return (
            f"{name}: the lake's log no longer holds v{after + 1}-v{oldest - 1} "
            "(removed by lake maintenance after lake_history_days)"
        )
    return None


def open_ledger(path: Path, lake_dir: Path, source: str, table: str) -> tuple[Ledger, int]:
    """The ledger of ``source``'s consumer with the run's commits it does not cover added
    (a consumer killed between a lake write and its ledger); a new one (from now, at the
    tables' current versions) without a readable file. Returns it and how many rows the
    log added. Marked incomplete when the log cannot say (module docstring); saved, as
    not closed, before it is returned."""
    from riskwarn import lake

    ledger = _read(path, source)
    added = 0
    if ledger is None:
        ledger = Ledger(path, source, _now(), writer=new_writer())
        for name in (table, QUARANTINE):
            v = lake.table_version(lake_dir, _lake_name(name))
            ledger.versions[name] = -1 if v is None else v
    else:
        rid = ledger.run_id  # a ledger of before 2026-12-08: the old tag, read once
        c = ledger.counts
        gaps = {  # not closed: its last commits may be uncounted; can the log say?
            name: why
            for name in (table, QUARANTINE)
            if (
                why := log_gap(lake_dir, _lake_name(name), ledger.versions.get(name), ledger.closed)
            )
        }
        if gaps:
            since = ledger.saved_at or ledger.since
            if ledger.incomplete is None:
                ledger.incomplete = {"since": since, "tables": gaps}
            log.error(
                "the stream's counts are incomplete since %s: %s; rows a consumer "
                "killed before counting them stored then may be missing from the counts "
                "(kept in run/stream.counts.json; delete it, consumer stopped, to count "
                "again from the next start)",
                ledger.incomplete["since"],
                "; ".join(gaps.values()),
            )
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
        if ledger.writer is None:  # from now on its own tag (module docstring)
            ledger.writer = new_writer()
    ledger.closed = False
    ledger.save()
    return ledger, added


def status_counts(ledger: Ledger) -> dict[str, Any]:
    """The status file's counts (received = accepted + duplicates + quarantined)."""
    c = ledger.counts
    return {
        **c,
        "received": c["accepted"] + c["duplicates"] + c["quarantined"],
        "counts_since": ledger.since,
        "counts_incomplete": ledger.incomplete,
    }
