"""A record sent twice with different content: the same lake whatever the micro-batching
(attack review of 2026-12-07).

Before: in one micro-batch both messages (the good one too) were quarantined
``duplicate_id_conflict``; two seconds apart the second silently replaced the first; and
``observed_at`` was cut to the source's whole seconds, so two readings 0.7 s apart were
one record. Now a later message of a record is a correction in arrival order, in one
micro-batch as across two (the earlier version kept in the lake's history, as a file's
correction in a later batch), and a time finer than the source's format is quarantined
``finer_than_source``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.stream.validate import Message
from testkit.stream_helpers import displacement_message, free_port, stream_consumer

T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)


def _message(sensor: str, at: datetime, value: float) -> Message:
    return displacement_message(sensor, at, value)


MESSAGES = [
    _message("G0", T0, 1.0),
    _message("G1", T0, 5.0),
    _message("G0", T0, 2.0),  # a correction of the first
    _message("G0", T0, 2.0),  # redelivered: a duplicate
    _message("G2", T0, 1.0),
    _message("G2", T0 + timedelta(milliseconds=700), 3.0),  # 0.7 s later: not one record
    _message("G3", T0, 1.0),
    _message("G3", T0, 4.0),
    _message("G3", T0, 1.0),  # back to the first version: refused, as across batches
]


COUNTERS = ("received", "accepted", "corrections", "duplicates", "quarantined", "new_in_lake")
# what the nine messages store: G0, G1, G2, G3 new; G0 and G3 corrected once; G0's
# redelivery a duplicate; G2's 0.7 s and G3's revert quarantined
STORED = {
    "received": 9,
    "accepted": 6,
    "corrections": 2,
    "duplicates": 1,
    "quarantined": 2,
    "new_in_lake": 4,
}


def _status(home: Path, batches: list[list[int]]) -> dict[str, int | None]:
    """The stream's status counters after ``batches`` (from its status file)."""
    _run(home, batches)
    s = json.loads((home / "run" / "stream.status.json").read_text())
    return {k: s.get(k) for k in COUNTERS}


def _run(home: Path, batches: list[list[int]]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    from riskwarn import lake

    c = stream_consumer(home, free_port(), store_url=f"sqlite:///{home / 's.db'}")
    try:
        for b in batches:
            c.process([MESSAGES[i] for i in b])
        c._write_status()
    finally:
        c.store_lock.release()
        c.instance_lock.release()
        c.store.close()
    got = lake.read_table(home / "lake", "sensor_readings", ["simcity"])
    q = lake.read_quarantine(home / "lake", ["simcity"])
    keyed = sorted(zip(q["batch_id"], q["reason"], strict=True))
    # a row the lake refused at the write is keyed by its micro-batch: compare reasons
    return got[["record_id", "sensor_id", "observed_at", "value"]], [
        (k if k.startswith("mqtt:") and len(k) == 45 else "batch", r) for k, r in keyed
    ]


@pytest.mark.parametrize(
    "batches",
    [
        [[0, 1, 2, 3, 4, 5, 6, 7, 8]],
        [[0, 1], [2, 3, 4], [5, 6, 7, 8]],
        [[0, 1, 2, 3, 4, 5, 6, 7], [8]],
    ],
)
def test_the_lake_and_quarantine_do_not_depend_on_the_micro_batching(
    tmp_path: Path, batches: list[list[int]]
) -> None:
    one_by_one, q_one = _run(tmp_path / "one", [[i] for i in range(len(MESSAGES))])
    got, q = _run(tmp_path / "batched", batches)
    pd.testing.assert_frame_equal(got, one_by_one)
    assert q == q_one
    values = dict(zip(got["sensor_id"], got["value"], strict=True))
    assert values == {"G0": 2.0, "G1": 5.0, "G2": 1.0, "G3": 4.0}
    reasons = sorted(r for _, r in q)
    assert reasons == ["finer_than_source", "reverts_correction"]
    assert MESSAGES[5].key in {k for k, _ in q}


def test_the_earlier_version_is_kept_in_the_lake_history(tmp_path: Path) -> None:
    from riskwarn import lake

    _run(tmp_path, [[0, 2]])
    v = lake.table_version(tmp_path / "lake", "sensor_readings")
    assert v is not None
    first = lake.read_table(tmp_path / "lake", "sensor_readings", ["simcity"], version=v - 1)
    now = lake.read_table(tmp_path / "lake", "sensor_readings", ["simcity"])
    assert list(first["value"]) == [1.0] and list(now["value"]) == [2.0]


@pytest.mark.parametrize(
    "batches",
    [
        [[0, 1, 2, 3, 4, 5, 6, 7, 8]],
        [[0, 1], [2, 3, 4], [5, 6, 7, 8]],
        [[0, 1, 2, 3, 4, 5, 6, 7], [8]],
        [[i] for i in range(9)],
    ],
)
def test_the_status_counts_what_was_stored_whatever_the_micro_batching(
    tmp_path: Path, batches: list[list[int]]
) -> None:
    """A correction is counted a correction (stored), an exact repeat a duplicate, a
    refused revert quarantined: in one micro-batch as across several. Before (no
    ``corrections`` at all): in one micro-batch 4 accepted, 4 duplicates (the two
    superseded versions among them) and 1 quarantined (the revert the lake refused was
    not counted); in three, 4 or 5 accepted and 3 duplicates; one by one 7 accepted (the
    redelivery too) and 0 duplicates."""
    got = _status(tmp_path, batches)
    assert got == STORED
    assert got["received"] == got["accepted"] + got["duplicates"] + got["quarantined"]


def test_the_status_line_says_corrections_and_duplicates(tmp_path: Path) -> None:
    from riskwarn.stream.status import status_line

    _run(tmp_path, [list(range(9))])
    line = status_line(tmp_path / "run" / "stream.status.json")
    assert "9 received, 6 accepted (2 corrections), 1 duplicates, 2 quarantined," in line, line
