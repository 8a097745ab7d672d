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
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.stream.validate import Message
from testkit.stream_helpers import (
    displacement_message,
    free_port,
    slope_readings,
    stream_consumer,
)

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
    # every row keyed by its message, a row the lake refused at the write too (before
    # 2026-12-07 evening: by its micro-batch, and a redelivery got a second row)
    keyed = sorted(zip(q["batch_id"], q["reason"], strict=True))
    return got[["record_id", "sensor_id", "observed_at", "value"]], keyed


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
    assert {k for k, _ in q} == {MESSAGES[5].key, MESSAGES[8].key}


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


# -- what the rules and the site model evaluate: what the lake stored --------------------


def _drain_into_state(c: Any) -> tuple[set[str], list[pd.DataFrame]]:
    """Hand every queued micro-batch to the consumer's state as its evaluation thread
    does (:meth:`StreamConsumer._add`: the sensor rules' state and the site model's
    window both take the handed readings); the sites touched and the readings handed."""
    touched: set[str] = set()
    handed: list[pd.DataFrame] = []
    while not c.handoffs.empty():
        h = c.handoffs.get_nowait()
        handed.append(h.accepted)
        touched |= c._add(h)
    return touched, handed


def _evaluated_run(
    home: Path, messages: list[Message], batches: list[list[int]]
) -> tuple[Any, set[str], list[pd.DataFrame], pd.DataFrame]:
    """The consumer after ``batches`` of ``messages`` (each micro-batch processed, then
    added to the state as the evaluation thread does) and the lake's readings."""
    from riskwarn import lake

    c = stream_consumer(home, free_port(), store_url=f"sqlite:///{home / 's.db'}")
    touched: set[str] = set()
    handed: list[pd.DataFrame] = []
    try:
        for b in batches:
            c.process([messages[i] for i in b])
            got, rows = _drain_into_state(c)
            touched |= got
            handed += rows
    finally:
        c.store_lock.release()
        c.instance_lock.release()
        c.store.close()
    stored = lake.read_table(home / "lake", "sensor_readings", ["simcity"])
    return c, touched, handed, stored


def _last_handed(handed: list[pd.DataFrame]) -> dict[tuple[str, pd.Timestamp], float]:
    """(sensor, time) -> the value the state holds after every handed micro-batch (the
    last handed version of each reading: what the site model's window keeps)."""
    out: dict[tuple[str, pd.Timestamp], float] = {}
    for rows in handed:
        for sid, at, v in zip(rows["sensor_id"], rows["observed_at"], rows["value"], strict=True):
            out[(str(sid), pd.Timestamp(at))] = float(v)
    return out


@pytest.mark.parametrize(
    "batches",
    [
        [[0, 1, 2, 3, 4, 5, 6, 7, 8]],
        [[0, 1], [2, 3, 4], [5, 6, 7, 8]],
        [[0, 1, 2, 3, 4, 5, 6, 7], [8]],
        [[i] for i in range(9)],
    ],
)
def test_the_state_evaluated_holds_what_the_lake_stored(
    tmp_path: Path, batches: list[list[int]]
) -> None:
    """The rules' state and the site model's input hold the lake's served values, never a
    version the lake refused. Before (readings handed to evaluation before the lake
    write, as validated), G3's refused revert to 1.0 was in both while the lake served
    4.0: in one micro-batch (the merged batch keeps a record's last message) and when the
    revert came in a micro-batch of its own."""
    c, _, handed, stored = _evaluated_run(tmp_path, MESSAGES, batches)
    lake_values = {
        (str(s), pd.Timestamp(t)): float(v)
        for s, t, v in zip(stored["sensor_id"], stored["observed_at"], stored["value"], strict=True)
    }
    assert lake_values[("G3", pd.Timestamp(T0))] == 4.0
    assert _last_handed(handed) == lake_values  # the site model's window (every quantity)
    end = pd.Timestamp(T0).value + 1
    for (sid, at), v in lake_values.items():  # the sensor rules' series
        t, vs = c.state.series_of(sid, end)
        assert dict(zip(t.tolist(), vs.tolist(), strict=True))[at.value] == v, sid
    assert c.state.series_of("G3", end)[1].tolist() == [4.0]


SLOPE_START = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=18, hours=1)).floor("h")


def _slope_messages() -> tuple[list[Message], dict[str, list[int]]]:
    """A slope's readings over 18 days: steady creep, and for its last 4 days a failing
    version (red by the sensor rules) corrected to the steady one, then the failing one
    sent again (a revert the lake refuses). The messages and their indices by kind:
    ``history`` (one version), ``failing``, ``steady`` (its correction), ``reverts``."""
    failing = slope_readings(
        "GS", start=SLOPE_START, steady_days=14, failure_after_days=18, step="10min"
    )
    steady = slope_readings(
        "GS", start=SLOPE_START, steady_days=30, failure_after_days=18, step="10min"
    )
    msgs: list[Message] = []
    kinds: dict[str, list[int]] = {"history": [], "failing": [], "steady": [], "reverts": []}
    later: list[Message] = []
    for at, fail, calm in zip(
        failing["observed_at"], failing["value"], steady["value"], strict=True
    ):
        t = at.to_pydatetime()
        if fail == calm:
            kinds["history"].append(len(msgs))
            msgs.append(displacement_message("GS", t, float(fail)))
            continue
        kinds["failing"].append(len(msgs))
        kinds["steady"].append(len(msgs) + 1)
        msgs += [
            displacement_message("GS", t, float(fail)),
            displacement_message("GS", t, float(calm)),
        ]
        later.append(displacement_message("GS", t, float(fail)))
    kinds["reverts"] = list(range(len(msgs), len(msgs) + len(later)))
    return msgs + later, kinds


@pytest.mark.parametrize("split", ["one micro-batch", "each version apart", "reverts apart"])
def test_no_warning_rests_on_a_reading_the_lake_refused(tmp_path: Path, split: str) -> None:
    """A slope's last 4 days first sent failing, corrected to steady creep, then the
    failing versions sent again: the lake refuses them (``reverts_correction``) and
    serves the steady slope, so the rules read it steady (no level above blue). Before,
    the refused failing versions were in the rules' state and its newest step evaluated
    red (raw rank 4) in one micro-batch and with each version in a micro-batch of its
    own. ("reverts apart" passed before too: a correction in a later micro-batch replaced
    only the hourly step readings of the state, not its recent readings, so the state
    held the failing version beside the stored steady one; the last check fails on that
    in "each version apart" with the consumer fixed alone.)"""
    msgs, k = _slope_messages()
    versions = [i for pair in zip(k["failing"], k["steady"], strict=True) for i in pair]
    batches = {
        "one micro-batch": [k["history"] + versions + k["reverts"]],
        "each version apart": [k["history"] + k["failing"], k["steady"], k["reverts"]],
        "reverts apart": [k["history"] + versions, k["reverts"]],
    }[split]
    c, touched, _, stored = _evaluated_run(tmp_path, msgs, batches)
    assert len(stored) == len(k["history"]) + len(k["steady"])
    assert len(k["reverts"]) > 500
    # every reading the rules read is the lake's version of it
    served = dict(
        zip(
            stored["observed_at"].dt.as_unit("ns").astype("int64").tolist(),
            stored["value"].tolist(),
            strict=True,
        )
    )
    t, v = c.state.series_of("GS", 2**62)
    assert len(t) > 100
    assert {ti: served[ti] for ti in t.tolist()} == dict(zip(t.tolist(), v.tolist(), strict=True))
    rounds = c.state.evaluate_within(c.state.due(touched), math.inf)
    ranks = [lv.raw_rank for levels in rounds for lv in levels.values()]
    assert ranks and max(ranks) <= 1, max(ranks)
