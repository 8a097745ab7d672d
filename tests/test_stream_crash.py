"""``kill -9`` of the consumer between a step's evaluation and its publish (issue 16), with
real processes, a real Mosquitto broker, PostgreSQL, a local SMTP server and a webhook.

The consumer SIGKILLs itself (test hook ``RISKWARN_STREAM_KILL_BEFORE_PUBLISH``, active
with ``RISKWARN_TESTING`` only) at the first publish that holds a delivered (orange/red)
change: the readings are in the lake and acknowledged, the red is evaluated, nothing of it
is in the serving store. After a restart, with no new reading sent, the red must be
published exactly once and delivered exactly once (one e-mail, one signed webhook); a
second restart publishes nothing.

Before the restart evaluated its warmed-up sites, the red waited for the slope's next
reading (up to 10 min in the field, never in this test): checked by running this test
with ``self.state.backlog = set(touched)`` removed from ``_warm_up``, where it fails
waiting for the red. (Since then the restart replays every step after each site's
cursor, ``StreamConsumer._replay``; the second test here is the case the newest-step-only
re-evaluation lost: readings of the step after the red already in the lake.)
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.sources import load_mapping
from testkit.stream_helpers import MOSQUITTO, Broker, Webhook, smtp_server, wait_for
from tests.test_stream import (
    FAIL,
    MAPPING,
    ROOT,
    _batch_file,
    _failing_slope,
    _in_force,
    _lake,
    _publish,
)

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")

SECRET = "crash-publish-webhook-secret-0123456789abcdef"


def test_kill9_between_evaluation_and_publish_publishes_and_delivers_once(
    settings: Any, broker: Broker, pg_url: str, tmp_path: Path
) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
    from riskwarn.stream.publish import DOMAIN

    first, second = _in_force(*_failing_slope())  # delivered: its warning is in force
    total = len(first) + len(second)
    marker = tmp_path / "killed"
    status = settings.home / "run" / "stream.status.json"
    with smtp_server() as (smtp_port, mails), Webhook() as hook:
        contacts = tmp_path / "contacts.json"
        contacts.write_text(
            json.dumps(
                {
                    "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "riskwarn@test"},
                    "webhook": {"url": hook.url, "secret_env": "RW_CRASH_PUB_SECRET"},
                    "escalate_after_minutes": 600,
                    "retry_base_s": 0.2,
                    "contacts": {"duty-1": {"email": "duty1@example.test", "webhook": True}},
                    "routes": {"default": ["duty-1"]},
                }
            )
        )
        env = {
            **os.environ,
            "RISKWARN_HOME": str(settings.home),
            "RISKWARN_STORE_URL": pg_url,
            "RW_CRASH_PUB_SECRET": SECRET,
            "RISKWARN_TESTING": "1",
            "RISKWARN_STREAM_KILL_BEFORE_PUBLISH": str(marker),
        }
        cmd = [sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)]
        cmd += ["--source", str(MAPPING), "--contacts", str(contacts), "--no-model"]
        cmd += ["--batch-s", "0.2", "--client-id", "rw-crash"]

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

        def state() -> dict[str, Any]:
            return json.loads(status.read_text())

        store = Store(pg_url)
        store.upgrade()

        def red_runs() -> int:
            """Published snapshots in which H1 turned red (score = level rank)."""
            hist = store.forecast_history(DOMAIN, unit_id="H1")
            ranks = [0.0, *hist.sort_values("origin", kind="stable")["score"].tolist()]
            return sum(1 for a, b in itertools.pairwise(ranks) if b == 4.0 != a)

        def served() -> str | None:
            w = store.warnings(domain=DOMAIN)
            w = w.loc[w["unit_id"] == "H1"]
            return None if w.empty else str(w["level"].iloc[0])

        proc = start()
        procs = [proc]
        try:
            wait_for(lambda: status.exists() and state()["connected"], 180)
            _publish(broker, first)
            wait_for(lambda: state()["received"] >= len(first) and state()["backlog"] == 0, 300)
            assert served() != "red" and not marker.exists()
            _publish(broker, second)
            # evaluated red, killed itself before publishing it
            assert proc.wait(400) == -signal.SIGKILL
            assert marker.read_text() == "H1:4"
            assert served() != "red" and red_runs() == 0
            assert store.deliveries().empty and not mails and not hook.received
            # restart; no reading is sent again
            proc = start()
            procs.append(proc)
            wait_for(lambda: served() == "red", 180, 0.5)
            wait_for(lambda: len(mails) >= 1 and len(hook.received) >= 1, 120)
            time.sleep(5)  # a second copy would come now
            assert proc.poll() is None  # the hook fires once
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
            # and once more: the served red is read back, nothing is published again
            proc = start()
            procs.append(proc)
            wait_for(lambda: state()["pid"] == proc.pid and state()["connected"], 180)
            wait_for(lambda: state()["backlog"] == 0 and state()["sensors"] == 1, 120)
            time.sleep(3)
            assert state()["level_changes"] == 0
            log = store.deliveries()
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    p.wait(30)
            store_red = red_runs()
            store.close()
    assert store_red == 1  # published once
    assert len(mails) == 1 and len(hook.received) == 1  # delivered once
    headers, body = hook.received[0]
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert json.loads(body)["to_level"] == "red"
    assert len(log) == 2 and set(log["status"]) == {"sent"} and log["attempts"].tolist() == [1, 1]
    lake = _lake(settings)
    assert len(lake) == total and lake["record_id"].is_unique  # each reading once


SLOPE_START = pd.Timestamp("2026-11-01", tz="UTC")
# step T before the shift: 2026-11-17 18:00, 30 h before FAIL (the slope's first red with
# every step read as [end - 1 h, end), riskwarn.sensor_rules.rule_times_ns; when the
# stream's steps ended on their on-the-hour reading T was 2026-11-18 07:00).
# test_the_red_then_lower_slope_reads_red_at_t_then_yellow measures it from the data.
RED_AT = FAIL - pd.Timedelta(hours=30)


def _red_then_lower_slope(
    room: pd.Timedelta | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Slope seed 2 failing at FAIL: the rules (no hysteresis) read yellow at most up to
    2026-11-17 17:00, **red at 18:00 (step T)**, yellow at 19:00 (T+1) and on to 11-18
    10:00, red again from 11:00. Two parts: up to 7 h before T (yellow at most), then up
    to 19:50 (T+1 is the newest complete step; 20:00 is not evaluated). ``room``: how long
    after the newest reading must still be in the past (a test that publishes the
    readings that follow, moved by the same shift)."""
    from testkit.stream_helpers import slope_readings

    r = slope_readings("G1", start=SLOPE_START, step="10min", seed=2)
    cut = RED_AT - pd.Timedelta(hours=7)
    first = r.loc[r["observed_at"] < cut]
    second = r.loc[(r["observed_at"] >= cut) & (r["observed_at"] <= cut + pd.Timedelta("8h50min"))]
    red_at = RED_AT
    # moved by whole hours so that the newest reading (and ``room`` after it) falls within
    # the last hour: T is then within the last 2 h 50 min (4 h 10 min with 80 min of
    # room), its warning in force now and for over 19 h more, so its messages are sent
    # (one that ended is logged expired, never sent). Moved by whole days before, T was
    # always the same hour UTC (then 07:00): run between 07:00 and 10:10 UTC the readings
    # were in the future (quarantined; CI on 52713d1 and 0c36ca9), and run in the minutes before 07:00 UTC
    # the warning ended while the test ran
    now = pd.Timestamp.now(tz="UTC")
    shift = (now - second["observed_at"].max() - (room or pd.Timedelta(0))).floor("1h")
    first, second = (p.assign(observed_at=p["observed_at"] + shift) for p in (first, second))
    return first, second, red_at + shift


def test_the_red_then_lower_slope_reads_red_at_t_then_yellow() -> None:
    """The premise of the tests below, from the data: the first part reads yellow at most,
    the second reads red at T and yellow at T+1 (its newest complete step) before
    hysteresis, and T+1 is served red (held)."""
    from testkit.stream_helpers import stream_levels

    first, second, red_at = _red_then_lower_slope()
    levels = stream_levels(pd.concat([first, second]), {"G1": "H1"})
    start = second["observed_at"].min()
    assert max(raw for t, (_, raw) in levels.items() if t < start) <= 2
    assert max(raw for t, (_, raw) in levels.items() if t < red_at) <= 2
    assert levels[red_at] == (4, 4)
    assert levels[red_at + pd.Timedelta(hours=1)] == (4, 2)
    assert max(levels) == red_at + pd.Timedelta(hours=1)


def test_restart_replays_every_step_after_the_last_published(
    settings: Any, broker: Broker, pg_url: str, tmp_path: Path
) -> None:
    """The consumer evaluates red at step T and is killed before publishing it; the
    readings of T+1 are durably in the lake (written by the consumer from the same burst,
    and in any case by the hourly batch ingest of the same readings while it is down: the
    same upsert), and T+1 alone reads yellow. After a restart the red of T must be
    published once, with T's step time and the rules' reasons, and delivered once; T+1
    then holds it (hysteresis); a third start publishes nothing.

    On the code before the fix the restart evaluated only the newest step (T+1: yellow,
    against the served level, yellow or none): no red, the red was never published nor delivered
    (checked: waiting for the red times out)."""
    from riskwarn.ingest import ingest_files
    from riskwarn.store import Store
    from riskwarn.stream.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
    from riskwarn.stream.publish import DOMAIN

    first, second, red_at = _red_then_lower_slope()
    total = len(first) + len(second)
    marker = tmp_path / "killed"
    status = settings.home / "run" / "stream.status.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    with smtp_server() as (smtp_port, mails), Webhook() as hook:
        contacts = tmp_path / "contacts.json"
        contacts.write_text(
            json.dumps(
                {
                    "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "riskwarn@test"},
                    "webhook": {"url": hook.url, "secret_env": "RW_CRASH_PUB_SECRET"},
                    "escalate_after_minutes": 600,
                    "retry_base_s": 0.2,
                    "contacts": {"duty-1": {"email": "duty1@example.test", "webhook": True}},
                    "routes": {"default": ["duty-1"]},
                }
            )
        )
        env = {
            **os.environ,
            "RISKWARN_HOME": str(settings.home),
            "RISKWARN_STORE_URL": pg_url,
            "RW_CRASH_PUB_SECRET": SECRET,
            "RISKWARN_TESTING": "1",
            "RISKWARN_STREAM_KILL_BEFORE_PUBLISH": str(marker),
        }
        cmd = [sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)]
        cmd += ["--source", str(MAPPING), "--contacts", str(contacts), "--no-model"]
        cmd += ["--batch-s", "1.0", "--client-id", "rw-crash-replay"]

        def start(n: int) -> subprocess.Popen[bytes]:
            with (logs / f"{n}.log").open("wb") as err:
                return subprocess.Popen(
                    cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err
                )

        def state() -> dict[str, Any]:
            return json.loads(status.read_text())

        store = Store(pg_url)
        store.upgrade()

        def red_runs() -> int:
            hist = store.forecast_history(DOMAIN, unit_id="H1")
            ranks = [0.0, *hist.sort_values("origin", kind="stable")["score"].tolist()]
            return sum(1 for a, b in itertools.pairwise(ranks) if b == 4.0 != a)

        def warning() -> dict[str, Any] | None:
            w = store.warnings(domain=DOMAIN)
            w = w.loc[w["unit_id"] == "H1"]
            return None if w.empty else w.iloc[0].to_dict()

        def served() -> str | None:
            w = warning()
            return None if w is None else str(w["level"])

        proc = start(1)
        procs = [proc]
        try:
            wait_for(lambda: status.exists() and state()["connected"], 180)
            _publish(broker, first)
            wait_for(lambda: state()["received"] >= len(first) and state()["backlog"] == 0, 300)
            assert served() != "red" and not marker.exists()
            _publish(broker, second)  # one burst: T and T+1 (and the readings after T+1)
            assert proc.wait(400) == -signal.SIGKILL  # evaluated red at T, killed
            assert marker.read_text() == "H1:4"
            assert served() != "red" and red_runs() == 0
            assert store.deliveries().empty and not mails and not hook.received
            # while it is down the hourly batch ingest stores the same readings: T+1 is in
            # the lake whatever part of the burst the consumer had written
            ingest_files(
                load_mapping(MAPPING),
                [_batch_file(second, tmp_path / "second.parquet")],
                settings,
                as_of=datetime.now(UTC),
            )
            newest = _lake(settings)["observed_at"].max()
            assert newest >= red_at + pd.Timedelta(hours=1)  # T+1 complete in the lake
            # restart; no reading is sent again
            proc = start(2)
            procs.append(proc)
            wait_for(lambda: served() == "red", 180, 0.5)
            wait_for(lambda: len(mails) >= 1 and len(hook.received) >= 1, 120)
            wait_for(lambda: state()["pid"] == proc.pid and state()["backlog"] == 0, 120)
            time.sleep(5)  # a second copy would come now
            w = warning()
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
            # and once more: nothing is published again
            proc = start(3)
            procs.append(proc)
            wait_for(lambda: state()["pid"] == proc.pid and state()["connected"], 180)
            wait_for(lambda: state()["backlog"] == 0 and state()["sensors"] == 1, 120)
            time.sleep(3)
            assert state()["level_changes"] == 0
            log = store.deliveries()
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    p.wait(30)
            store_red = red_runs()
            store.close()
    # the red of step T, published once with its own step time and the rules' reasons
    assert store_red == 1
    assert w is not None and w["level"] == "red"
    assert pd.Timestamp(w["evidence"]["observed_to"]) == red_at  # T's, not T+1's
    assert pd.Timestamp(w["valid_from"]) < red_at  # raised inside the yellow episode
    assert any("Held at" in str(r) for r in w["reasons"]) is False
    assert any("angle" in str(r.get("en", "")) for r in w["reasons"]), w["reasons"]
    # ... delivered once, as the change of step T
    assert len(mails) == 1 and len(hook.received) == 1
    headers, body = hook.received[0]
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    msg = json.loads(body)
    assert msg["to_level"] == "red" and pd.Timestamp(msg["at"]) == red_at
    assert len(log) == 2 and set(log["status"]) == {"sent"} and log["attempts"].tolist() == [1, 1]
    assert {pd.Timestamp(t) for t in log["changed_at"]} == {red_at}
    # the restart said how many steps it replayed (T and T+1), the third start none
    assert "replayed 2 step(s)" in (logs / "2.log").read_text()
    assert "replayed 0 step(s)" in (logs / "3.log").read_text()
    lake = _lake(settings)
    assert len(lake) == total and lake["record_id"].is_unique


@pytest.mark.parametrize("testing", [False, True])
def test_kill_hook_needs_riskwarn_testing(tmp_path: Path, testing: bool) -> None:
    """``RISKWARN_STREAM_KILL_BEFORE_PUBLISH`` alone (one variable left in a production
    environment) does nothing: the hook fires only with ``RISKWARN_TESTING`` set too
    (failed before the fix: the process was SIGKILLed without it)."""
    marker = tmp_path / "killed"
    code = (
        "import pandas as pd\n"
        "from riskwarn.stream.publish import LevelChange\n"
        "from riskwarn.stream.runtime import crash_point\n"
        "crash_point([LevelChange('H1', 'w1', 0, 4, pd.Timestamp('2026-11-18', tz='UTC'))])\n"
        "print('alive')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RISKWARN_TESTING"}
    env["RISKWARN_STREAM_KILL_BEFORE_PUBLISH"] = str(marker)
    if testing:
        env["RISKWARN_TESTING"] = "1"
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True)
    if testing:
        assert r.returncode == -signal.SIGKILL and marker.read_text() == "H1:4"
    else:
        assert r.returncode == 0 and r.stdout.strip() == b"alive", r.stderr
        assert not marker.exists()


def test_a_replay_that_fails_part_way_falls_back_to_the_newest_step(
    settings: Any, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The restart replays H1 from its cursor (17:00): step T = 18:00 (red) is evaluated,
    then the replay raises before the hour of T+1 = 19:00 is added. The per-sensor state
    must not stay partial (readings up to 18:50, T+1 never evaluated until new readings
    come): it is rebuilt from the lake and H1 evaluated at its newest step (T+1) as a
    restart did before the replay, hysteresis seeded from the red about to be served (so
    T+1's yellow holds it, not lowers it); the error is logged by class and location, not
    by its message. On the code before: the state held readings up to 18:50 and H1's
    last evaluated step stayed T (checked: fails)."""
    import logging

    from riskwarn.ingest import ingest_files
    from riskwarn.store import Store
    from riskwarn.stream import consumer as consumer_mod
    from riskwarn.stream.cursor import save_cursor
    from riskwarn.stream.publish import DOMAIN, Publisher
    from testkit.stream_helpers import Running, stream_consumer

    first, second, red_at = _red_then_lower_slope()
    readings = pd.concat([first, second], ignore_index=True)
    ingest_files(
        load_mapping(MAPPING),
        [_batch_file(readings, tmp_path / "readings.parquet")],
        settings,
        as_of=datetime.now(UTC),
    )
    run = settings.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "stream.sites.json").write_text(json.dumps({"G1": "H1"}))
    save_cursor(run / "stream.cursor.json", {"H1": (red_at - pd.Timedelta(hours=1)).value})
    newest = _lake(settings)["observed_at"].max()
    newest_step = newest.floor("1h")
    assert newest_step == red_at + pd.Timedelta(hours=1)  # T+1 complete in the lake

    real = consumer_mod.replay_rounds
    raised: list[int] = []

    def failing(*a: Any) -> Any:
        gen = real(*a)
        yield next(gen)  # what the history completes (nothing: the cursor is at 17:00)
        yield next(gen)  # the hour of T: red
        raised.append(1)
        raise RuntimeError("replay bug at G1 reading 12.3456 mm")

    # T's red stays pending (not served) until the fallback ran: its hysteresis seed must
    # come from the pending round, not from the store (deterministic, no race)
    real_publish = Publisher.publish
    gate = threading.Event()

    def held_publish(self: Any, *a: Any, **kw: Any) -> Any:
        assert gate.wait(60)
        return real_publish(self, *a, **kw)

    monkeypatch.setattr(consumer_mod, "replay_rounds", failing)
    monkeypatch.setattr(Publisher, "publish", held_publish)
    with (
        caplog.at_level(logging.INFO, logger="riskwarn.stream.consumer"),
        Running(
            stream_consumer(
                settings.home,
                broker.port,
                store_url=settings.resolved_store_url,
                lake_dir=settings.lake_dir,
                client_id="rw-replay-fails",
            )
        ) as c,
    ):
        wait_for(lambda: bool(raised), 60)
        wait_for(lambda: "fell back to the newest step" in caplog.text, 60)
        assert not c.publisher.served  # T's red not published yet
        st = c.state
        assert st.sensors["G1"].last_ns == newest.value  # every stored reading in the state
        assert st.evaluated_origin["H1"] == newest_step.value  # T+1 evaluated
        assert st.site_levels["H1"].observed_to == newest_step
        assert st.site_levels["H1"].level_rank == 4  # T+1's yellow holds T's red
        gate.set()
        wait_for(c.settled, 60)
        assert c.replay_left == 0 and not c.replay_sites and "publishing" not in c.counters.failing
    store = Store(settings.resolved_store_url)
    w = store.warnings(domain=DOMAIN)
    store.close()
    assert w["unit_id"].tolist() == ["H1"] and w["level"].tolist() == ["red"]
    assert pd.Timestamp(w.iloc[0]["evidence"]["observed_to"]) == red_at  # T's red, kept
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "replaying the steps after the cursor failed (RuntimeError, at " in text, text
    assert "fell back to the newest step of 1 site(s)" in text, text
    assert "12.3456" not in text and not any(r.exc_info for r in caplog.records)


def test_a_rebuild_whose_evaluation_fails_too_keeps_the_readings_and_shows_it(
    settings: Any, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """As above, and evaluating the rebuilt state raises too. The rebuilt state must not
    be thrown away for an empty one (origin_of needs 24 h of readings per sensor: no site
    would be evaluated for a day, silently): it keeps every stored reading, and
    ``--status`` shows FAILING replay. On the code before: the state was empty
    (origin_of H1 None, G1 not in it) and nothing in the status (checked: fails)."""
    import logging

    from riskwarn.ingest import ingest_files
    from riskwarn.stream import consumer as consumer_mod
    from riskwarn.stream.cursor import save_cursor
    from riskwarn.stream.state import SensorStates
    from riskwarn.stream.status import status_line
    from testkit.stream_helpers import Running, stream_consumer

    first, second, red_at = _red_then_lower_slope()
    readings = pd.concat([first, second], ignore_index=True)
    ingest_files(
        load_mapping(MAPPING),
        [_batch_file(readings, tmp_path / "readings.parquet")],
        settings,
        as_of=datetime.now(UTC),
    )
    run = settings.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "stream.sites.json").write_text(json.dumps({"G1": "H1"}))
    save_cursor(run / "stream.cursor.json", {"H1": (red_at - pd.Timedelta(hours=1)).value})
    newest = _lake(settings)["observed_at"].max()

    real = consumer_mod.replay_rounds
    real_eval = SensorStates.evaluate_within
    raised: list[int] = []

    def failing(*a: Any) -> Any:
        gen = real(*a)
        yield next(gen)
        yield next(gen)  # the hour of T: red
        raised.append(1)
        raise RuntimeError("replay bug at G1 reading 12.3456 mm")

    def failing_eval(self: Any, *a: Any, **kw: Any) -> Any:
        if raised:
            raised.append(2)
            raise RuntimeError("evaluation bug at G1 reading 12.3456 mm")
        return real_eval(self, *a, **kw)

    real_read = consumer_mod.StreamConsumer._stored_readings
    settled_mid_rebuild: list[bool] = []

    def slow_read(self: Any, sites: Any) -> Any:  # the rebuild's lake read takes a while
        if raised:
            time.sleep(1)  # T's red is published meanwhile
            settled_mid_rebuild.append(self.settled())
        return real_read(self, sites)

    monkeypatch.setattr(consumer_mod, "replay_rounds", failing)
    monkeypatch.setattr(SensorStates, "evaluate_within", failing_eval)
    monkeypatch.setattr(consumer_mod.StreamConsumer, "_stored_readings", slow_read)
    with (
        caplog.at_level(logging.INFO, logger="riskwarn.stream.consumer"),
        Running(
            stream_consumer(
                settings.home,
                broker.port,
                store_url=settings.resolved_store_url,
                lake_dir=settings.lake_dir,
                client_id="rw-replay-rebuild-fails",
            )
        ) as c,
    ):
        wait_for(lambda: 2 in raised, 60)
        wait_for(lambda: "replay" in c.counters.failing, 60)
        st = c.state
        assert "G1" in st.sensors and st.sensors["G1"].last_ns == newest.value
        assert st.origin_of("H1") == newest.floor("1h").value  # evaluated with new readings
        assert "RuntimeError" in c.counters.failing["replay"]
        assert settled_mid_rebuild == [False]  # not settled while the fallback rebuilds
        wait_for(lambda: "FAILING replay" in status_line(run / "stream.status.json"), 30)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "evaluating the rebuilt per-sensor state failed (RuntimeError, at " in text, text
    assert "fell back to the newest step" not in text, text
    assert "12.3456" not in text


def test_a_rebuild_whose_lake_read_fails_keeps_the_replayed_state_and_shows_it(
    settings: Any, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The replay raises part way and the fallback's lake read raises too: the state the
    replay built (readings up to the failure) is kept, not replaced by an empty one, and
    ``--status`` shows FAILING replay; the log names the error's class, not its message.
    (The branch of _replay_failed the test above does not reach.)"""
    import logging

    from riskwarn.ingest import ingest_files
    from riskwarn.stream import consumer as consumer_mod
    from riskwarn.stream.cursor import save_cursor
    from riskwarn.stream.status import status_line
    from testkit.stream_helpers import Running, stream_consumer

    first, second, red_at = _red_then_lower_slope()
    readings = pd.concat([first, second], ignore_index=True)
    ingest_files(
        load_mapping(MAPPING),
        [_batch_file(readings, tmp_path / "readings.parquet")],
        settings,
        as_of=datetime.now(UTC),
    )
    run = settings.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "stream.sites.json").write_text(json.dumps({"G1": "H1"}))
    save_cursor(run / "stream.cursor.json", {"H1": (red_at - pd.Timedelta(hours=1)).value})

    real = consumer_mod.replay_rounds
    raised: list[int] = []

    def failing(*a: Any) -> Any:
        gen = real(*a)
        yield next(gen)
        yield next(gen)  # the hour of T: red
        raised.append(1)
        raise RuntimeError("replay bug at G1 reading 12.3456 mm")

    real_read = consumer_mod.StreamConsumer._stored_readings

    def failing_read(self: Any, sites: Any) -> Any:
        if raised:
            raised.append(2)
            raise OSError("lake unreadable at G1 reading 12.3456 mm")
        return real_read(self, sites)

    monkeypatch.setattr(consumer_mod, "replay_rounds", failing)
    monkeypatch.setattr(consumer_mod.StreamConsumer, "_stored_readings", failing_read)
    with (
        caplog.at_level(logging.INFO, logger="riskwarn.stream.consumer"),
        Running(
            stream_consumer(
                settings.home,
                broker.port,
                store_url=settings.resolved_store_url,
                lake_dir=settings.lake_dir,
                client_id="rw-replay-read-fails",
            )
        ) as c,
    ):
        wait_for(lambda: 2 in raised, 60)
        wait_for(lambda: "replay" in c.counters.failing, 60)
        st = c.state
        assert "G1" in st.sensors and st.sensors["G1"].last_ns >= red_at.value - 3_600_000_000_000
        assert st.origin_of("H1") is not None  # evaluable: not an empty state
        assert "OSError" in c.counters.failing["replay"]
        wait_for(lambda: "FAILING replay" in status_line(run / "stream.status.json"), 30)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "rebuilding the per-sensor state failed too (" in text, text
    assert "OSError" in text, text
    assert "12.3456" not in text


def test_failing_replay_clears_once_new_steps_evaluate_its_sites(
    settings: Any, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above (the replay raises after T's hour, the fallback's lake read too): the
    status says ``FAILING replay since <t>: OSError; 1 site(s) not evaluated yet``. Then
    G1 reports again over the broker (20:00 to 21:10): H1's new steps are evaluated, so
    the consumer is healthy again and the FAILING line must give way to ``replay
    recovered at <time> (failing since <t>: OSError; 1 site(s) evaluated by new steps)``.
    On the code before: FAILING replay stayed until a restart (checked: fails, timeout
    waiting for the recovery)."""
    from riskwarn.ingest import ingest_files
    from riskwarn.stream import consumer as consumer_mod
    from riskwarn.stream.cursor import save_cursor
    from riskwarn.stream.status import status_line
    from testkit.stream_helpers import Running, slope_readings, stream_consumer

    first, second, red_at = _red_then_lower_slope(room=pd.Timedelta("80min"))
    readings = pd.concat([first, second], ignore_index=True)
    ingest_files(
        load_mapping(MAPPING),
        [_batch_file(readings, tmp_path / "readings.parquet")],
        settings,
        as_of=datetime.now(UTC),
    )
    run = settings.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "stream.sites.json").write_text(json.dumps({"G1": "H1"}))
    save_cursor(run / "stream.cursor.json", {"H1": (red_at - pd.Timedelta(hours=1)).value})
    # the same slope, moved by the hours the two parts were moved (T within the last day)
    r = slope_readings("G1", start=SLOPE_START + (red_at - RED_AT), step="10min", seed=2)
    end = second["observed_at"].max()
    later = r.loc[(r["observed_at"] > end) & (r["observed_at"] <= end + pd.Timedelta("80min"))]

    real = consumer_mod.replay_rounds
    raised: list[int] = []

    def failing(*a: Any) -> Any:
        gen = real(*a)
        yield next(gen)
        yield next(gen)  # the hour of T: red
        raised.append(1)
        raise RuntimeError("replay bug at G1 reading 12.3456 mm")

    real_read = consumer_mod.StreamConsumer._stored_readings

    def failing_read(self: Any, sites: Any) -> Any:
        if raised:
            raised.append(2)
            raise OSError("lake unreadable at G1 reading 12.3456 mm")
        return real_read(self, sites)

    monkeypatch.setattr(consumer_mod, "replay_rounds", failing)
    monkeypatch.setattr(consumer_mod.StreamConsumer, "_stored_readings", failing_read)
    status = run / "stream.status.json"
    with Running(
        stream_consumer(
            settings.home,
            broker.port,
            store_url=settings.resolved_store_url,
            lake_dir=settings.lake_dir,
            client_id="rw-replay-recovers",
        )
    ) as c:
        line = wait_for(lambda: "FAILING replay" in (t := status_line(status)) and t, 60)
        assert "OSError; 1 site(s) not evaluated yet" in line, line
        wait_for(c.settled, 60)
        before = c.state.evaluated_origin["H1"]
        _publish(broker, later)
        wait_for(lambda: c.state.evaluated_origin["H1"] > before, 30)  # new steps evaluated
        wait_for(c.settled, 30)
        line = wait_for(lambda: "replay recovered at" in (t := status_line(status)) and t, 30)
        assert "FAILING replay" not in line, line
        assert "(failing since " in line and "OSError; 1 site(s) evaluated by new steps)" in line
        assert c.counters.failing == {}
    assert "12.3456" not in status.read_text()


def _consumer_behind(settings: Any, broker: Broker, lags: dict[str, int]) -> Any:
    """A consumer (not running: its methods are called directly) whose state holds 5 days
    of readings of one sensor per site (G<k> of H<k>, the failing slope's steady creep),
    each site evaluated up to ``lags[site]`` hourly steps before its newest complete one,
    as a failed replay whose fallback's lake read failed too leaves it (``FAILING replay
    since ...: OSError``, the sites in ``lags`` left)."""
    from testkit.stream_helpers import slope_readings, stream_consumer

    c = stream_consumer(
        settings.home,
        broker.port,
        store_url=settings.resolved_store_url,
        lake_dir=settings.lake_dir,
        client_id="rw-replay-behind",
    )
    start = pd.Timestamp("2026-11-01", tz="UTC")
    for k, site in enumerate(sorted(lags), 1):
        r = slope_readings(f"G{k}", start=start, step="10min", seed=k)
        c.state.add(r.loc[r["observed_at"] < start + pd.Timedelta(days=5)], {f"G{k}": site})
        newest = c.state.origin_of(site)
        assert newest is not None
        c.state.evaluated_origin[site] = newest - lags[site] * 3_600_000_000_000
    c.counters.failing["replay"] = "since 2026-12-04T15:00:00+00:00: OSError"
    c._replay_unevaluated(set(lags))
    return c


def _release(c: Any) -> None:
    c.store_lock.release()
    c.instance_lock.release()


def test_failing_replay_stays_until_its_sites_have_no_step_left(
    settings: Any, broker: Broker
) -> None:
    """H1, H2, H3 are 1, 2, 3 steps behind. The time budget lets each pass evaluate one
    round (one step of each due site; the rest waits in the backlog, as
    ``evaluate_within`` leaves it when the budget runs out): after the first round every
    site has been evaluated once, but H2 and H3 still have steps due, so FAILING replay
    must stay (2, then 1 site(s) not evaluated yet) and clear only after the third round.
    On the code before: 'replay recovered' after the first round (checked: fails)."""
    c = _consumer_behind(settings, broker, {"H1": 1, "H2": 2, "H3": 3})
    try:
        assert c.counters.failing["replay"].endswith("OSError; 3 site(s) not evaluated yet")
        left = []
        for _ in range(3):
            st = c.state
            done = st.evaluate(st.due({"H1", "H2", "H3"}))  # one round ...
            st.backlog = set(st.due(set(done)))  # ... then the budget ran out
            c._replay_caught_up(set(done))
            left.append(c.counters.failing.get("replay", ""))
        assert left[0].endswith("; 2 site(s) not evaluated yet"), left
        assert left[1].endswith("; 1 site(s) not evaluated yet"), left
        assert left[2] == "", left
        assert c.state.backlog == set()
        rec = c.counters.recovered["replay"]
        assert rec.endswith(
            "(failing since 2026-12-04T15:00:00+00:00: OSError; 3 site(s) evaluated by new steps)"
        ), rec
    finally:
        _release(c)


def test_replay_recovery_counts_every_site_it_left(settings: Any, broker: Broker) -> None:
    """H1, H2, H3 one step behind each, evaluated by three successive evaluation passes
    (``_evaluate``, the live path, one site each): the recovery must say '3 site(s)
    evaluated by new steps'. On the code before it said '1 site(s)' (the number left
    before the last pass; checked: fails)."""
    c = _consumer_behind(settings, broker, {"H1": 1, "H2": 1, "H3": 1})
    try:
        for site in ("H1", "H2", "H3"):
            assert "replay" in c.counters.failing
            c._evaluate({site})
            assert c.state._next_origin(site) is None
        assert "replay" not in c.counters.failing
        rec = c.counters.recovered["replay"]
        assert rec.endswith("OSError; 3 site(s) evaluated by new steps)"), rec
    finally:
        _release(c)


@pytest.mark.parametrize(
    "body",
    [b'{"G-PRIVATE": "H-PRI', b'["G-PRIVATE"]', b'{"G-PRIVATE": 7}', b"\xff\xfe"],
    ids=["truncated", "a list", "a number", "not UTF-8"],
)
def test_a_corrupt_sites_map_does_not_stop_the_consumer(
    settings: Any, broker: Broker, caplog: Any, body: bytes
) -> None:
    """A truncated or corrupt run/stream.sites.json is ignored with a warning naming the
    file, not its contents (as a corrupt cursor is): the consumer starts without warming
    up. On the code before: json.loads raised in the constructor (checked: fails)."""
    import logging

    from testkit.stream_helpers import Running, stream_consumer

    run = settings.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    path = run / "stream.sites.json"
    path.write_bytes(body)
    with (
        caplog.at_level(logging.WARNING, logger="riskwarn.stream.cursor"),
        Running(
            stream_consumer(
                settings.home,
                broker.port,
                store_url=settings.resolved_store_url,
                lake_dir=settings.lake_dir,
                client_id="rw-corrupt-sites",
            )
        ) as c,
    ):
        assert c.known_sites == {} and len(c.state) == 0
    assert str(path) in caplog.text and "corrupt" in caplog.text
    assert "PRIVATE" not in caplog.text


def test_the_replay_adds_a_sensor_whose_readings_all_come_after_the_cursor(
    settings: Any, broker: Broker, tmp_path: Path
) -> None:
    """G2 (of H1, in run/stream.sites.json) has readings only in the hours after H1's
    cursor, none in the history window: the replay must add them (the site map comes
    from the saved file, as the warm-up's does), not drop them because the warmed
    state's map lacks G2. On the code before: G2 not in the state (checked: fails)."""
    from riskwarn.ingest import ingest_files
    from riskwarn.stream.cursor import save_cursor
    from testkit.stream_helpers import Running, slope_readings, stream_consumer

    first, second, red_at = _red_then_lower_slope()
    g2 = slope_readings("G2", start=SLOPE_START + (red_at - RED_AT), step="10min", seed=3)
    g2 = g2.loc[(g2["observed_at"] >= red_at) & (g2["observed_at"] <= second["observed_at"].max())]
    assert len(g2)
    readings = pd.concat([first, second, g2], ignore_index=True)
    ingest_files(
        load_mapping(MAPPING),
        [_batch_file(readings, tmp_path / "readings.parquet")],
        settings,
        as_of=datetime.now(UTC),
    )
    run = settings.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "stream.sites.json").write_text(json.dumps({"G1": "H1", "G2": "H1"}))
    save_cursor(run / "stream.cursor.json", {"H1": (red_at - pd.Timedelta(hours=1)).value})
    with Running(
        stream_consumer(
            settings.home,
            broker.port,
            store_url=settings.resolved_store_url,
            lake_dir=settings.lake_dir,
            client_id="rw-replay-new-sensor",
        )
    ) as c:
        wait_for(c.settled, 60)
        assert "G2" in c.state.sensors
        assert c.state.sensors["G2"].last_ns == g2["observed_at"].max().value
