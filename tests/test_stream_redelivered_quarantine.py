"""A quarantined message delivered again is a duplicate, not quarantined again (helper
streamq, 2026-12-07).

The users' principle: report success only for what was really stored, once. A reading
redelivered (MQTT after a crash before the acknowledgement, or a replay) was already
counted a duplicate (the lake answers ``unchanged``), but a message the stream had
quarantined was counted ``quarantined`` again while the lake kept its one row (keyed by
the message); a revert the lake refused (``reverts_correction``) even got a second row,
keyed by the micro-batch. Now every quarantine row of the stream is keyed by its
message, and a message whose row the lake's quarantine already holds is counted a
duplicate, in a later micro-batch as after a restart of the consumer (the answer comes
from the lake, not from the consumer's memory). The counters over a redelivery equal
those without it, apart from ``duplicates``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from testkit.stream_helpers import free_port, stream_consumer
from tests.test_stream_versions import COUNTERS, MESSAGES, STORED

# the nine messages of tests/test_stream_versions.py: 1 is stored (G1), 5 is quarantined
# finer_than_source, 8 is G3's revert the lake refuses (reverts_correction)
AGAIN = [1, 5, 8]


def _consumer(home: Path) -> Any:
    return stream_consumer(home, free_port(), store_url=f"sqlite:///{home / 's.db'}")


def _close(c: Any) -> None:
    c.store_lock.release()
    c.instance_lock.release()
    c.store.close()


def _counts(c: Any) -> dict[str, int]:
    c._write_status()
    s = json.loads((c.cfg.status_path).read_text())
    return {k: s[k] for k in COUNTERS}


def _quarantine(home: Path) -> list[tuple[str, str]]:
    from riskwarn import lake

    q = lake.read_quarantine(home / "lake", ["simcity"])
    return sorted(zip(q["batch_id"], q["reason"], strict=True))


def _plus_duplicates(n: int) -> dict[str, int]:
    return {**STORED, "received": STORED["received"] + n, "duplicates": STORED["duplicates"] + n}


@pytest.mark.parametrize(
    "batches",
    [
        [list(range(9)), AGAIN],  # redelivered in a later micro-batch
        [[i] for i in range(9)] + [[i] for i in AGAIN],  # one by one
        [list(range(9)) + AGAIN],  # in the same micro-batch
        [[0, 1, 2, 3, 4, 5], [5, 6, 7, 8, 1], [8, 5]],
    ],
)
def test_a_redelivered_quarantined_message_counts_as_a_duplicate(
    tmp_path: Path, batches: list[list[int]]
) -> None:
    """Before: ``quarantined`` 4 where the lake holds 2 messages' rows in a later
    micro-batch or one by one (finer_than_source counted twice, the revert twice and
    stored twice)."""
    c = _consumer(tmp_path)
    try:
        for b in batches:
            c.process([MESSAGES[i] for i in b])
        got = _counts(c)
    finally:
        _close(c)
    again = sum(len(b) for b in batches) - len(MESSAGES)
    assert got == _plus_duplicates(again)
    assert got["received"] == got["accepted"] + got["duplicates"] + got["quarantined"]
    # one quarantine row per message, each keyed by its message
    assert _quarantine(tmp_path) == sorted(
        [(MESSAGES[5].key, "finer_than_source"), (MESSAGES[8].key, "reverts_correction")]
    )


def test_after_a_restart_the_redelivered_messages_are_duplicates(tmp_path: Path) -> None:
    """A consumer killed after its lake write and before the acknowledgement: the broker
    sends the micro-batch again to the next consumer (its counts are the home's totals,
    riskwarn.stream.ledger). What it counts comes from the lake: the stored reading and both quarantined messages are
    duplicates (before: 2 quarantined, and the revert's second row in the lake)."""
    first = _consumer(tmp_path)
    try:
        first.process(list(MESSAGES))
        before = _counts(first)
    finally:
        _close(first)
    assert before == STORED
    rows = _quarantine(tmp_path)
    second = _consumer(tmp_path)  # a new process's consumer: fresh counters, same lake
    try:
        second.process([MESSAGES[i] for i in AGAIN])
        after = _counts(second)
    finally:
        _close(second)
    # the counts are the home's totals since 2026-12-07 (tests/test_stream_durable_counts.py):
    # the second consumer's 3 messages added 3 duplicates to the first's
    assert after == _plus_duplicates(len(AGAIN))
    assert _quarantine(tmp_path) == rows


def test_a_write_retried_after_its_quarantine_was_stored_counts_it_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The micro-batch's quarantine is written before its table commit; when the commit
    fails the write is retried, and the retry finds the quarantine rows held: they were
    stored by this micro-batch's first try, not before, so they are counted quarantined
    (the consumer adds up the tries' answers)."""
    from riskwarn import lake

    real = lake.upsert
    failed: list[int] = []

    def upsert(*args: Any, **kw: Any) -> Any:
        if failed:
            return real(*args, **kw)
        before = kw["before_commit"]

        def then_fail(refused: list[dict[str, Any]]) -> None:
            before(refused)
            failed.append(1)
            raise OSError("the table commit failed")

        return real(*args, **{**kw, "before_commit": then_fail})

    monkeypatch.setattr(lake, "upsert", upsert)
    c = _consumer(tmp_path)
    try:
        c.process([MESSAGES[0], MESSAGES[5]])
        got = _counts(c)
    finally:
        _close(c)
    assert failed and c.counters.lake_retries == 1
    assert got["quarantined"] == 1 and got["duplicates"] == 0 and got["accepted"] == 1


def test_a_revert_in_a_micro_batch_validated_in_halves_is_keyed_by_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A micro-batch whose validation raised (one message no rule foresaw) is validated
    in halves and merged: the revert the lake refuses in it is keyed by its message too,
    so the micro-batch delivered again adds duplicates only."""
    from riskwarn.stream import validate
    from testkit.stream_helpers import displacement_message

    real = validate.raw_row

    def raw_row(mapping: Any, reading: dict[str, Any], inverse: Any = None) -> dict[str, str]:
        if reading.get("sensor_id") == "BUG01":
            raise RuntimeError("a fault no rule foresaw")
        return real(mapping, reading, inverse)

    monkeypatch.setattr(validate, "raw_row", raw_row)
    bug = displacement_message("BUG01", datetime.fromisoformat("2026-12-01T00:00:00+00:00"))
    c = _consumer(tmp_path)
    try:
        c.process([MESSAGES[6]])
        c.process([MESSAGES[7]])
        c.process([bug, MESSAGES[8]])
        once = _counts(c)
        c.process([bug, MESSAGES[8]])  # delivered again
        twice = _counts(c)
    finally:
        _close(c)
    assert (once["quarantined"], once["duplicates"]) == (2, 0)
    assert twice == {**once, "received": once["received"] + 2, "duplicates": 2}
    assert _quarantine(tmp_path) == sorted(
        [(bug.key, "validation_failed"), (MESSAGES[8].key, "reverts_correction")]
    )
