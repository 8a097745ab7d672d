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


def _run(home: Path, batches: list[list[int]]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    from riskwarn import lake

    c = stream_consumer(home, free_port(), store_url=f"sqlite:///{home / 's.db'}")
    try:
        for b in batches:
            c.process([MESSAGES[i] for i in b])
    finally:
        c.store_lock.release()
        c.instance_lock.release()
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
