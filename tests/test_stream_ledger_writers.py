"""The stream's durable counts (:mod:`riskwarn.stream.ledger`) with another writer of the
same source in the lake, and with the lake's log cleaned after a crash (helper stream3,
2026-12-08), with real consumer processes SIGKILLed after their lake write and before
their count (test hook ``RISKWARN_STREAM_KILL_AFTER_QUARANTINE``), real brokers.

Before: every home's consumer tagged its commits ``stream:<source>``, so a consumer
restarted after a crash added the commits another home's consumer had made to the same
lake meanwhile; and a consumer whose uncounted commits lake maintenance had removed from
the Delta log (``lake_history_days``) under-counted in silence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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

COUNTS = ("received", "accepted", "duplicates", "quarantined")
needs_broker = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="no mosquitto")


def _send(broker: Broker, messages: list[Message]) -> None:
    from riskwarn.stream.replay import connect

    client = connect("127.0.0.1", broker.port, **broker.login("gateway"))
    try:
        for m in messages:
            client.publish(m.topic, m.payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


class Home:
    """A riskwarn home running ``riskwarn stream`` processes on ``broker``."""

    def __init__(self, home: Path, broker: Broker, name: str, kill_marker: Path) -> None:
        self.home, self.broker, self.name = home, broker, name
        self.status = home / "run" / "stream.status.json"
        self.env = {
            **os.environ,
            "RISKWARN_HOME": str(home),
            **broker.env("stream"),
            "RISKWARN_TESTING": "1",
            "RISKWARN_STREAM_KILL_AFTER_QUARANTINE": str(kill_marker),
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(self.broker.port)]
        cmd += ["--source", str(MAPPING), "--no-model", "--batch-s", "1.0"]
        cmd += ["--client-id", f"rw-{self.name}"]
        p = subprocess.Popen(
            cmd, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.procs.append(p)
        wait_for(lambda: self.state().get("pid") == p.pid and self.state()["connected"], 180)
        return p

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.status.read_text()))
        except (OSError, ValueError):
            return {}

    def counts(self) -> dict[str, int]:
        s = self.state()
        return {k: int(s[k]) for k in COUNTS}

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(60)


def _t0() -> datetime:
    return (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)


def _crash(home: Home, sensor: str) -> None:
    """5 readings counted, then a micro-batch of 2 readings and 1 quarantined message
    stored and the consumer SIGKILLed before counting or acknowledging it."""
    t0 = _t0()
    p = home.start()
    _send(home.broker, [displacement_message(f"{sensor}{i}", t0, 1.0) for i in range(5)])
    wait_for(lambda: home.state()["accepted"] >= 5, 60, 0.2)
    mixed = [
        displacement_message(f"{sensor}0", t0 + timedelta(minutes=10), 1.1),
        displacement_message(f"{sensor}1", t0 + timedelta(minutes=10), 1.1),
        # a fraction of a second the source's times cannot hold: quarantined
        displacement_message(f"{sensor}2", t0 + timedelta(minutes=10, milliseconds=500), 1.1),
    ]
    _send(home.broker, mixed)
    assert p.wait(120) == -signal.SIGKILL  # stored, not counted, not acknowledged


def _redelivered(home: Home) -> None:
    wait_for(lambda: home.state()["duplicates"] >= 1 and home.state()["queued"] == 0, 60, 0.2)
    time.sleep(2.5)  # the rest of the redelivered micro-batch, if split


@needs_broker
def test_two_homes_writing_one_source_into_one_lake_count_their_own_commits_only(
    settings: Any, broker: Broker, tmp_path: Path
) -> None:
    """Home A's consumer is killed after a write; home B (its own broker and store, the
    same lake) stores 4 readings; A restarted adds its own uncounted commits only. Old
    code: A counted B's 4 readings too (one tag ``stream:simcity`` for both): 11
    accepted where A stored 7."""
    from riskwarn import lake

    settings.lake_dir.mkdir(parents=True)
    home_b = tmp_path / "home-b"
    home_b.mkdir()
    (home_b / "lake").symlink_to(settings.lake_dir)  # one lake (a shared mount)
    broker_b = Broker(tmp_path / "broker-b")
    broker_b.start()
    a = Home(settings.home, broker, "a", tmp_path / "killed-a")
    b = Home(home_b, broker_b, "b", tmp_path / "killed-b")
    try:
        _crash(a, "G")
        b.start()
        _send(broker_b, [displacement_message(f"B{i}", _t0(), 2.0) for i in range(4)])
        wait_for(lambda: b.state()["accepted"] >= 4, 60, 0.2)
        b.stop()
        got_b = b.counts()
        a.start()
        _redelivered(a)
        got_a = a.counts()
        ledger = json.loads((settings.home / "run" / "stream.counts.json").read_text())
    finally:
        a.stop()
        b.stop()
        broker_b.stop()
    assert len(lake.read_table(settings.lake_dir, "sensor_readings", ["simcity"])) == 7 + 4
    assert (got_a["accepted"], got_a["quarantined"]) == (7, 1), got_a
    assert got_a["received"] == 7 + 1 + got_a["duplicates"]
    assert (got_b["accepted"], got_b["quarantined"], got_b["duplicates"]) == (4, 0, 0)
    writer = ledger["writer"]
    assert writer and ledger["lake_versions"]
    commits = lake.run_commits(
        settings.lake_dir, "sensor_readings", None, f"stream:simcity@{writer}"
    )
    assert sum(c["inserted"] for c in commits) == 7  # A's own, by its tag


def _age_log(lake_dir: Path, days: float) -> None:
    """Every file of the lake's Delta logs written ``days`` ago (a consumer down that
    long; delta-rs removes expired entries up to the first one not expired)."""
    then = time.time() - days * 86400
    for f in lake_dir.rglob("_delta_log/*"):
        os.utime(f, (then, then))


@needs_broker
def test_a_crash_whose_commits_lake_maintenance_removed_from_the_log_is_said(
    settings: Any, broker: Broker, tmp_path: Path
) -> None:
    """The consumer is killed after a write; it stays down longer than the lake's log
    retention and the maintenance DAG's run (lake.maintenance.maintain, 1 day) removes the
    log entries of its uncounted commits. Restarted, it cannot count them: the status
    says the counts are incomplete since its ledger's last save (en + zh), kept across a
    clean restart. Old code: 5 accepted, 0 quarantined where the lake holds 7 readings and
    1 quarantine row, nothing said."""
    from riskwarn import lake
    from riskwarn.lake.maintenance import maintain
    from riskwarn.stream.status import status_line

    a = Home(settings.home, broker, "a", tmp_path / "killed")
    counts_file = settings.home / "run" / "stream.counts.json"
    try:
        _crash(a, "G")
        saved_at = json.loads(counts_file.read_text()).get("saved_at")
        maintain(settings.lake_dir, history_days=1)  # the DAG's daily runs: a checkpoint,
        _age_log(settings.lake_dir, 3)  # then days later, the log entries before it expired
        maintain(settings.lake_dir, history_days=1)
        logged = sorted((settings.lake_dir / "sensor_readings" / "_delta_log").glob("*.json"))
        assert int(logged[0].name[:20]) > 2  # the killed micro-batch's commit is gone
        a.start()
        _redelivered(a)
        got = a.state()
        line = status_line(a.status)
        a.stop()
        a.start()  # a clean restart keeps the mark
        again = a.state()
    finally:
        a.stop()
    assert len(lake.read_table(settings.lake_dir, "sensor_readings", ["simcity"])) == 7
    assert got["accepted"] == 5  # the 2 readings of the killed micro-batch: not countable
    gap = got.get("counts_incomplete")
    assert gap and gap["since"] == saved_at, gap
    assert set(gap["tables"]) == {"sensor_readings", "quarantine"}, gap
    assert "removed by lake maintenance" in gap["tables"]["sensor_readings"]
    assert f"COUNTS INCOMPLETE since {saved_at}" in line, line
    assert f"自 {saved_at} 起计数不完整" in line, line
    assert again["counts_incomplete"] == gap


def test_a_ledger_of_before_the_writer_tag_adds_its_old_tag_commits_then_uses_its_own(
    tmp_path: Path,
) -> None:
    """A home whose consumer (old code: tag ``stream:simcity``) was killed after a write:
    the new consumer adds those commits once, then tags its commits with its writer id.
    Old code: no writer, the one tag."""
    from riskwarn import lake

    t0 = _t0()
    c = stream_consumer(tmp_path, free_port(), store_url=f"sqlite:///{tmp_path / 's.db'}")
    counts_file = tmp_path / "run" / "stream.counts.json"
    try:
        c.process([displacement_message(f"G{i}", t0, 1.0) for i in range(3)])
        body = json.loads(counts_file.read_text())
        old = {  # as the code of 2026-12-07 wrote it
            "version": 1,
            "source": "simcity",
            "since": body["since"],
            "counts": body["counts"],
            "lake_versions": body["lake_versions"],
        }
        c.run_id = "stream:simcity"  # the old consumer's tag: written, then killed
        c.process([displacement_message(f"G{i}", t0 + timedelta(minutes=10), 1.0) for i in (0, 1)])
    finally:
        c.store_lock.release()
        c.instance_lock.release()
        c.store.close()
    counts_file.write_text(json.dumps(old))
    c = stream_consumer(tmp_path, free_port(), store_url=f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert c.ledger.counts["accepted"] == 5  # 3 counted + 2 from the old tag's commits
        writer = c.ledger.writer
        assert writer and c.run_id == f"stream:simcity@{writer}"
        c.process([displacement_message("G9", t0, 1.0)])
    finally:
        c.store_lock.release()
        c.instance_lock.release()
        c.store.close()
    mine = lake.run_commits(tmp_path / "lake", "sensor_readings", None, f"stream:simcity@{writer}")
    assert sum(x["inserted"] for x in mine) == 1  # G9: under this home's new tag
    old_tag = lake.run_commits(tmp_path / "lake", "sensor_readings", None, "stream:simcity")
    assert sum(x["inserted"] for x in old_tag) == 2
    assert json.loads(counts_file.read_text())["counts"]["accepted"] == 6


@pytest.mark.parametrize("corrections", [False, True])
def test_a_write_that_committed_then_failed_counts_its_rows_once_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corrections: bool
) -> None:
    """A lake write whose commit is durable but whose call then fails (a post-commit
    step on a full disk) is retried: the retry finds the rows stored and answers
    ``unchanged``. The counts come from the lake's log then. Old code: the rows the first
    try stored were counted duplicates, 0 accepted (corrections: 0 corrections)."""
    from riskwarn import lake
    from riskwarn.stream import consumer as module

    real = module.write_batch
    tries: list[int] = []

    def commits_then_fails(*a: Any, **k: Any) -> Any:
        out = real(*a, **k)
        tries.append(1)
        if len(tries) == 1:
            raise OSError(28, "No space left on device")  # after the commit
        return out

    t0 = _t0()
    c = stream_consumer(tmp_path, free_port(), store_url=f"sqlite:///{tmp_path / 's.db'}")
    try:
        if corrections:
            c.process([displacement_message(f"G{i}", t0, 1.0) for i in range(3)])
        monkeypatch.setattr(module, "write_batch", commits_then_fails)
        value = 2.0 if corrections else 1.0
        c.process([displacement_message(f"G{i}", t0, value) for i in range(3)])
        got = dict(c.ledger.counts)
        on_disk = json.loads((tmp_path / "run" / "stream.counts.json").read_text())["counts"]
    finally:
        c.store_lock.release()
        c.instance_lock.release()
        c.store.close()
    assert len(tries) == 2  # retried once
    assert len(lake.read_table(tmp_path / "lake", "sensor_readings", ["simcity"])) == 3
    want = (6, 3, 0) if corrections else (3, 0, 0)
    assert (got["accepted"], got["corrections"], got["duplicates"]) == want, got
    assert on_disk == got


def test_a_lake_restored_from_an_older_copy_marks_the_counts(tmp_path: Path) -> None:
    """The counts cover versions the lake no longer has (restored from a copy taken
    before the last micro-batch), after a clean stop: said, not kept silently above what
    the lake holds. Old code: nothing said."""
    import shutil

    t0 = _t0()

    def consumer() -> Any:
        return stream_consumer(tmp_path, free_port(), store_url=f"sqlite:///{tmp_path / 's.db'}")

    def close(c: Any) -> None:
        c.store_lock.release()
        c.instance_lock.release()
        c.store.close()

    c = consumer()
    try:
        c.process([displacement_message(f"G{i}", t0, 1.0) for i in range(3)])
        shutil.copytree(tmp_path / "lake", tmp_path / "copy")
        c.process([displacement_message(f"G{i}", t0 + timedelta(minutes=10), 1.0) for i in (0, 1)])
        getattr(c.ledger, "close", c.ledger.save)()  # a clean stop (old code: a save)
    finally:
        close(c)
    shutil.rmtree(tmp_path / "lake")
    shutil.copytree(tmp_path / "copy", tmp_path / "lake")
    c = consumer()
    try:
        gap = getattr(c.ledger, "incomplete", None)
    finally:
        close(c)
    assert gap and "sensor_readings" in gap["tables"], gap
    assert "older copy" in gap["tables"]["sensor_readings"]
