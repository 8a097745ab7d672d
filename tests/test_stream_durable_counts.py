"""The stream's counts are what it stored, once, across restarts and ``kill -9``; a
reading quarantined ``future_timestamp`` and accepted later leaves no open quarantine
row (helper stream2, 2026-12-07).

Before: ``accepted`` / ``quarantined`` / ``duplicates`` (status file, ``riskwarn stream
--status``) were the running consumer's, from zero at each start, which users read as
what the stream had received; and a consumer killed after its lake write and before its
count left the stored rows counted by nobody (the next one counted the redelivered
messages duplicates). Now the counts are the home's totals (``run/stream.counts.json``,
:mod:`riskwarn.stream.ledger`): written with the versions of the lake commits they
cover before the messages are acknowledged, and at start the consumer's commits after
those versions are added from the lake's log. A quarantined future reading accepted
later is removed from the open quarantine (kept in its history), counted ``resolved``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from riskwarn.stream.validate import Message
from testkit.stream_helpers import (
    MOSQUITTO,
    Broker,
    displacement_message,
    free_port,
    stream_consumer,
    wait_for,
)
from tests.test_stream import MAPPING, ROOT

COUNTS = ("received", "accepted", "duplicates", "quarantined", "resolved")


def _send(broker: Broker, messages: list[Message]) -> None:
    from riskwarn.stream.replay import connect

    client = connect("127.0.0.1", broker.port, **broker.login("gateway"))
    try:
        for m in messages:
            client.publish(m.topic, m.payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")
def test_kill9_after_the_quarantine_write_counts_each_stored_row_once_across_restarts(
    settings: Any, broker: Broker, tmp_path: Path
) -> None:
    """A real consumer process SIGKILLs itself (test hook
    ``RISKWARN_STREAM_KILL_AFTER_QUARANTINE``) once a micro-batch's quarantine and readings
    are stored, before they are counted or acknowledged; the broker delivers that
    micro-batch again to the next process. Old code: the restarted consumer said 0
    accepted and 0 quarantined (its counters from zero, the redelivery all duplicates),
    and the micro-batch's rows were counted by no consumer."""
    from riskwarn import lake
    from riskwarn.stream.status import status_line

    marker = tmp_path / "killed"
    status = settings.home / "run" / "stream.status.json"
    env = {
        **os.environ,
        "RISKWARN_HOME": str(settings.home),
        **broker.env("stream"),
        "RISKWARN_TESTING": "1",
        "RISKWARN_STREAM_KILL_AFTER_QUARANTINE": str(marker),
    }
    cmd = [sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)]
    cmd += ["--source", str(MAPPING), "--no-model", "--batch-s", "1.0", "--client-id", "rw-dc"]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def state() -> dict[str, Any]:
        return dict(json.loads(status.read_text()))

    def counts() -> dict[str, int]:
        s = state()
        return {k: int(s[k]) for k in COUNTS}

    t0 = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    first = [displacement_message(f"G{i}", t0, 1.0) for i in range(5)]
    mixed = [
        displacement_message("G0", t0 + timedelta(minutes=10), 1.1),
        displacement_message("G1", t0 + timedelta(minutes=10), 1.1),
        # a fraction of a second the source's times cannot hold: quarantined
        displacement_message("G2", t0 + timedelta(minutes=10, milliseconds=500), 1.1),
    ]
    proc = start()
    procs = [proc]
    try:
        wait_for(lambda: status.exists() and state()["connected"], 180)
        _send(broker, first)
        wait_for(lambda: state()["accepted"] >= 5, 60, 0.2)
        assert not marker.exists()
        _send(broker, mixed)
        assert proc.wait(120) == -signal.SIGKILL  # stored, not counted, not acknowledged
        assert marker.exists()
        assert len(lake.read_quarantine(settings.lake_dir, ["simcity"])) == 1
        proc = start()
        procs.append(proc)
        wait_for(lambda: state()["pid"] == proc.pid and state()["connected"], 180)
        # the killed micro-batch is delivered again: its messages are duplicates
        wait_for(lambda: state()["duplicates"] >= 1 and state()["queued"] == 0, 60, 0.2)
        after_kill = counts()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        # a clean restart: the same totals, from the ledger
        proc = start()
        procs.append(proc)
        wait_for(lambda: state()["pid"] == proc.pid and state()["connected"], 180)
        assert counts() == after_kill
        _send(broker, [displacement_message("G9", t0, 2.0)])
        wait_for(lambda: state()["accepted"] >= 8, 60, 0.2)
        final = counts()
        line = status_line(status)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
    # stored once each: 7 readings and 1 quarantine row by the killed process, counted once
    assert (after_kill["accepted"], after_kill["quarantined"]) == (7, 1), after_kill
    assert 1 <= after_kill["duplicates"] <= len(mixed)  # the redelivered micro-batch
    assert after_kill["received"] == 7 + 1 + after_kill["duplicates"]
    assert final == {**after_kill, "received": after_kill["received"] + 1, "accepted": 8}
    assert len(lake.read_table(settings.lake_dir, "sensor_readings", ["simcity"])) == 8
    assert len(lake.read_quarantine(settings.lake_dir, ["simcity"])) == 1
    assert "since " in line and " 起累计" in line and f"{final['received']} received" in line


class _Clock:
    """The consumer's clock moved on by ``ahead`` (the readings' time has come)."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from riskwarn.stream import consumer

        ahead = self.ahead

        class Later(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.now(tz) + ahead

        monkeypatch.setattr(consumer, "datetime", Later)


def _consumer(home: Path) -> Any:
    return stream_consumer(home, free_port(), store_url=f"sqlite:///{home / 's.db'}")


def _close(c: Any) -> None:
    c.store_lock.release()
    c.instance_lock.release()
    c.store.close()


def _status(c: Any) -> dict[str, Any]:
    c._write_status()
    return dict(json.loads(c.cfg.status_path.read_text()))


def _again(m: Message, sent_at: datetime) -> Message:
    """The same reading sent again, its payload with a send time (another message)."""
    body = json.loads(m.payload)
    return Message(m.topic, json.dumps({**body, "sent_at": sent_at.isoformat()}).encode())


@pytest.mark.parametrize("same_payload", [True, False])
def test_a_future_reading_accepted_later_resolves_its_quarantine_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_payload: bool
) -> None:
    """Old code: the row stayed in the quarantine (the data-quality page's problem) after
    its reading was stored."""
    from riskwarn import lake

    now = datetime.now(UTC).replace(microsecond=0)
    future = displacement_message("G1", now + timedelta(minutes=30), 1.0)
    other = displacement_message("G2", now + timedelta(minutes=40), 1.0)  # stays future
    c = _consumer(tmp_path)
    try:
        c.process([future, other, displacement_message("G3", now, 1.0)])
        q = lake.read_quarantine(c.cfg.lake_dir, ["simcity"])
        assert sorted(q["reason"]) == ["future_timestamp:observed_at"] * 2
        _Clock(timedelta(minutes=35)).patch(monkeypatch)  # G1's time has come, not G2's
        c.process([future if same_payload else _again(future, now + timedelta(minutes=35))])
        got = _status(c)
    finally:
        _close(c)
    q = lake.read_quarantine(tmp_path / "lake", ["simcity"])
    assert list(q["batch_id"]) == [other.key]  # G1's row resolved, G2's still open
    stored = lake.read_table(tmp_path / "lake", "sensor_readings", ["simcity"])
    assert sorted(stored["sensor_id"]) == ["G1", "G3"]
    # quarantined once (stored then), accepted once, resolved: no open problem
    assert {k: got[k] for k in COUNTS} == {
        "received": 4,
        "accepted": 2,
        "duplicates": 0,
        "quarantined": 2,
        "resolved": 1,
    }
    # a restart keeps the counts and finds nothing more to resolve
    c = _consumer(tmp_path)
    try:
        assert {k: _status(c)[k] for k in COUNTS} == {k: got[k] for k in COUNTS}
    finally:
        _close(c)


def test_a_future_row_left_open_by_a_failed_resolve_is_resolved_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reading is stored but its row's removal failed (or the consumer died between
    the two): the next start finds the stored reading and resolves the row, once."""
    from riskwarn import lake

    now = datetime.now(UTC).replace(microsecond=0)
    future = displacement_message("G1", now + timedelta(minutes=30), 1.0)
    c = _consumer(tmp_path)
    try:
        c.process([future])
        _Clock(timedelta(minutes=35)).patch(monkeypatch)

        def fails(*_a: Any, **_k: Any) -> Any:
            raise OSError("the quarantine commit failed")

        with monkeypatch.context() as m:
            m.setattr(lake, "resolve_quarantine", fails, raising=False)
            c.process([future])
        assert len(lake.read_quarantine(tmp_path / "lake", ["simcity"])) == 1
    finally:
        _close(c)
    c = _consumer(tmp_path)
    try:
        got = _status(c)
    finally:
        _close(c)
    assert lake.read_quarantine(tmp_path / "lake", ["simcity"]).empty
    assert (got["accepted"], got["quarantined"], got["resolved"]) == (1, 1, 1)
