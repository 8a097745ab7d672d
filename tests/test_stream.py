"""The streaming path against a real Mosquitto broker (started by the test on a free
port): publish -> lake -> warning -> e-mail (aiosmtpd) and signed webhook; exactly once
with the batch path; malformed payloads quarantined; kill -9 and broker restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import (
    MOSQUITTO,
    Broker,
    Running,
    Webhook,
    slope_readings,
    smtp_server,
    stream_consumer,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "configs" / "sources" / "sim_sensor_readings.yaml"

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """riskwarn's own broker configuration: accounts and ACL, no anonymous client (the
    consumer signs in as ``stream``, the publishers as ``gateway``)."""
    b = Broker(tmp_path / "broker", auth=True)
    b.start()
    yield b
    b.stop()


def _mapping() -> Any:
    from riskwarn.sources import load_mapping

    return load_mapping(MAPPING)


def _consumer(settings: Any, broker: Broker, **kw: Any) -> Any:
    return stream_consumer(
        settings.home,
        broker.port,
        store_url=settings.resolved_store_url,
        lake_dir=settings.lake_dir,
        **broker.login("stream"),
        **kw,
    )


def _publish(broker: Broker, readings: pd.DataFrame, site: str = "H1") -> None:
    from riskwarn.stream.replay import connect, publish_readings

    client = connect("127.0.0.1", broker.port, **broker.login("gateway"))
    try:
        sites = {s: site for s in readings["sensor_id"].unique()}
        for _ in publish_readings(client, "simcity", readings, sites):
            pass
    finally:
        client.loop_stop()
        client.disconnect()


def _lake(settings: Any) -> pd.DataFrame:
    from riskwarn import lake

    return lake.read_table(settings.lake_dir, "sensor_readings", ["simcity"])


def _steady(n: int, sensors: int = 1, start: pd.Timestamp | None = None) -> pd.DataFrame:
    start = start or pd.Timestamp(datetime.now(UTC)).floor("10min") - pd.Timedelta(
        minutes=10 * n + 60
    )
    parts = [
        slope_readings(
            f"G{i}", start=start, steady_days=99, failure_after_days=n / 144, step="10min", seed=i
        )
        for i in range(sensors)
    ]
    return pd.concat(parts, ignore_index=True)


FAIL = pd.Timestamp("2026-11-19", tz="UTC")
# The first hour at which the rules read the failing slope (seed 0, 10-min readings) red:
# 2026-11-18 00:00, 24 h before FAIL (yellow at most before it; red is raised at once, then
# held by hysteresis). Measured from the data by test_the_failing_slope_turns_red_at_
# red_hour: with every step read as [end - 1 h, end) (the one step convention of the site
# models, the nowcast and the stream, riskwarn.sensor_rules.rule_times_ns) the first red
# is at 00:00; the stream's steps used to end on their on-the-hour reading, and it was
# 11:00 (the parts then ran to 14:00).
RED_HOUR = FAIL - pd.Timedelta(hours=24)


def _failing_slope() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A slope failing at FAIL, in two parts: up to a day before its first red hour
    (RED_HOUR: yellow at most), then up to that hour (the newest reading, so the newest
    step evaluated is the red one; the stream evaluates each hour end as the nowcast does,
    and catches up hour by hour on the second part). The readings after it are left out:
    the slope reads yellow again from 01:00 to 06:00, orange 07:00-09:00 and red from
    10:00, which would publish (and deliver) more changes than the single red these
    tests follow."""
    r = slope_readings("G1", start=pd.Timestamp("2026-11-01", tz="UTC"), step="10min")
    first = r.loc[r["observed_at"] < RED_HOUR - pd.Timedelta(days=1)]
    second = r.loc[
        (r["observed_at"] >= RED_HOUR - pd.Timedelta(days=1)) & (r["observed_at"] <= RED_HOUR)
    ]
    return first, second


def _in_force(*parts: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """``parts`` moved by whole hours so that the red hour (``RED_HOUR``, the newest
    reading) falls within the last hour: its warning is in force now and for 23 h more, so
    its messages are sent (those of a warning that ended, as the slope's of November
    would be, are recorded expired). Moved by whole days before, the red hour fell
    anywhere in the last day (always 14:00 UTC then): run just before 14:00 UTC, its
    warning ended while the test ran, and its messages were logged expired."""
    shift = (pd.Timestamp.now(tz="UTC") - RED_HOUR).floor("1h")
    return tuple(p.assign(observed_at=p["observed_at"] + shift) for p in parts)


def test_the_failing_slope_turns_red_at_red_hour() -> None:
    """The premise of the tests that publish ``_failing_slope``: its first part reads
    yellow at most, its second turns red at its newest step, RED_HOUR, and at no step
    before it (so exactly one red change is published and delivered)."""
    from testkit.stream_helpers import stream_levels

    first, second = _failing_slope()
    levels = stream_levels(pd.concat([first, second]), {"G1": "H1"})
    assert max(levels) == RED_HOUR and levels[RED_HOUR] == (4, 4)
    before = [raw for t, (_, raw) in levels.items() if t < RED_HOUR]
    assert max(before) == 2  # yellow at most, and yellow is reached (the slope moves)
    assert max(raw for t, (_, raw) in levels.items() if t < second["observed_at"].min()) <= 2


def _batch_file(readings: pd.DataFrame, path: Path) -> Path:
    """The same readings as the simulated city's monthly extract (batch path)."""
    local = readings["observed_at"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    pd.DataFrame(
        {
            "设备编号": readings["sensor_id"],
            "采集时间": local.astype("datetime64[s]"),
            "采样间隔": readings["interval_s"],
            "监测项": "累计位移",
            "数值": readings["value"],
            "数据状态": "正常",
        }
    ).to_parquet(path, index=False)
    return path


# -- pure ------------------------------------------------------------------------------


def test_payload_round_trip_and_problems() -> None:
    from riskwarn.stream.payload import PayloadProblem, decode, encode, parse_topic, topic_for

    t = topic_for("simcity", "H1", "G1")
    assert t == "riskwarn/v1/readings/simcity/H1/G1"
    assert parse_topic(topic_for("simcity", None, "R1")).site_id is None
    obs = datetime(2026, 12, 1, 8, tzinfo=UTC)
    where, r = decode(
        t,
        encode(
            {"sensor_id": "G1", "observed_at": obs, "quantity": "displacement_mm", "value": 1.0}
        ),
    )
    assert where.site_id == "H1" and r["observed_at"] == obs.isoformat()
    bad = {
        b"\xff\xfe": "not_json",
        b"[1]": "not_object",
        b'{"sensor_id": "G1", "quantity": "displacement_mm"}': "missing_value",
        b'{"sensor_id": "G1", "observed_at": "2026-12-01T08:00:00+00:00", "quantity": "displacement_mm", "value": "1.0"}': "wrong_type",
        b'{"sensor_id": "G2", "observed_at": "2026-12-01T08:00:00+00:00", "quantity": "displacement_mm"}': "topic_mismatch",
        b'{"sensor_id": "G1", "observed_at": "2026-12-01 08:00", "quantity": "displacement_mm"}': "missing_offset",
        b'{"sensor_id": "G1", "observed_at": "yesterday", "quantity": "displacement_mm"}': "unparseable_date",
    }
    for payload, reason in bad.items():
        with pytest.raises(PayloadProblem) as exc:
            decode(t, payload)
        assert exc.value.reason == reason, payload


def test_stream_ids_are_the_batch_ids(settings: Any, tmp_path: Path) -> None:
    """A reading validated from MQTT gets the record id batch ingest gives it in a file."""
    from riskwarn.ingest import read_and_validate
    from riskwarn.stream.payload import encode, topic_for
    from riskwarn.stream.validate import Message, validate_messages

    readings = _steady(20)
    now = datetime.now(UTC)
    msgs = [
        Message(topic_for("simcity", "H1", r.sensor_id), encode(r._asdict()))
        for r in readings.itertuples(index=False)
    ]
    streamed = validate_messages(_mapping(), msgs, as_of=now, batch_id="t").batch.accepted
    batch = read_and_validate(
        _mapping(), _batch_file(readings, tmp_path / "r.parquet"), pseudonym_key="", as_of=now
    ).accepted
    pd.testing.assert_frame_equal(streamed.reset_index(drop=True), batch.reset_index(drop=True))


# -- against the broker ---------------------------------------------------------------


def test_exactly_once_by_stream_and_by_batch_file(
    settings: Any, broker: Broker, tmp_path: Path
) -> None:
    from riskwarn.ingest import ingest_files

    readings = _steady(300, sensors=2)
    first, second = readings.iloc[:400], readings.iloc[200:]
    # the batch file holds readings 0..399 and arrives first; the stream brings 200..599
    ingest_files(
        _mapping(), [_batch_file(first, tmp_path / "a.parquet")], settings, as_of=datetime.now(UTC)
    )
    with Running(_consumer(settings, broker)) as c:
        _publish(broker, second)
        wait_for(lambda: c.counters.received >= len(second), 30)
    lake = _lake(settings)
    assert len(lake) == len(readings) and lake["record_id"].is_unique
    # ... and the hourly DAG then ingests a file with all of them: nothing new
    rep = ingest_files(
        _mapping(),
        [_batch_file(readings, tmp_path / "all.parquet")],
        settings,
        as_of=datetime.now(UTC),
    )
    assert rep[0]["new"] == 0 and rep[0]["updated"] == 0 and rep[0]["unchanged"] == len(readings)
    assert len(_lake(settings)) == len(readings)


def test_malformed_storm_is_quarantined_with_reasons(settings: Any, broker: Broker) -> None:
    import paho.mqtt.client as mqtt

    from riskwarn import lake
    from riskwarn.stream.payload import encode, topic_for

    good = _steady(30)
    # whole seconds, as the source's times (a fraction is finer_than_source)
    now = datetime.now(UTC).replace(microsecond=0)
    future = now + timedelta(days=400)
    with Running(_consumer(settings, broker)) as c:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        gateway = broker.login("gateway")
        client.username_pw_set(gateway["username"], gateway["password"])
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        t = topic_for("simcity", "H1", "G0")
        storm = [
            b"\x00\x01garbage",
            b"{not json",
            b'{"sensor_id": "G0", "observed_at": 5, "quantity": "displacement_mm"}',
            b'{"sensor_id": "G0", "observed_at": "2026-12-01T08:00:00+00:00", "quantity": "displacement_mm", "value": [1]}',
            encode(
                {
                    "sensor_id": "G0",
                    "observed_at": future,
                    "interval_s": 600,
                    "quantity": "displacement_mm",
                    "value": 1.0,
                }
            ),
            encode(
                {
                    "sensor_id": "G0",
                    "observed_at": now - timedelta(hours=1),
                    "interval_s": 600,
                    "quantity": "temperature",
                    "value": 1.0,
                }
            ),
            encode(
                {
                    "sensor_id": "G0",
                    "observed_at": now - timedelta(hours=1),
                    "interval_s": -5,
                    "quantity": "displacement_mm",
                    "value": 1.0,
                }
            ),
        ] * 20
        infos = [client.publish(t, p, qos=1) for p in storm]
        infos.append(
            client.publish("riskwarn/v1/readings/simcity/H1", b"{}", qos=1)
        )  # not our topic
        for i in infos:
            i.wait_for_publish(10)
        client.loop_stop()
        client.disconnect()
        _publish(broker, good)
        wait_for(lambda: c.counters.received >= len(storm) + len(good), 30)
        assert c.counters.accepted == len(good)
    q = lake.read_quarantine(settings.lake_dir, ["simcity"])
    reasons = set(q["reason"].str.split(":").str[0])
    assert {"not_json", "wrong_type", "future_timestamp", "schema"} <= reasons, reasons
    assert len(q) == 7  # identical messages share one quarantine row (keyed by content)
    assert q["message"].str.len().gt(0).all()
    assert len(_lake(settings)) == len(good)


def test_publish_to_email_and_signed_webhook(settings: Any, broker: Broker, tmp_path: Path) -> None:
    """A failing slope's readings -> stored -> red warning published -> e-mail received
    by a local SMTP server and a webhook whose HMAC signature verifies; acknowledgement;
    an unacknowledged red escalates to the next contact."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import (
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        deliver_due,
        escalate,
        load_config,
        verify,
    )
    from riskwarn.stream.publish import DOMAIN

    secret = "test-webhook-secret-0123456789abcdef"
    os.environ["RW_TEST_HOOK_SECRET"] = secret
    first, second = _in_force(*_failing_slope())
    readings = pd.concat([first, second])
    with smtp_server() as (smtp_port, mails), Webhook() as hook:
        contacts = tmp_path / "contacts.yaml"
        contacts.write_text(
            json.dumps(
                {
                    "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "riskwarn@test"},
                    "webhook": {"url": hook.url, "secret_env": "RW_TEST_HOOK_SECRET"},
                    # the consumer escalates on its own every 10 s: with 0 min it could add
                    # the duty-2 delivery before the checks below (CI saw a 'pending' row);
                    # 60 min here, and the test escalates with a clock 2 h ahead itself
                    "escalate_after_minutes": 60,
                    "retry_base_s": 0.1,
                    "contacts": {
                        "duty-1": {"email": "duty1@example.test", "webhook": True},
                        "duty-2": {"email": "duty2@example.test"},
                    },
                    "routes": {"sites": {"H1": ["duty-1", "duty-2"]}},
                }
            )
        )
        cfg = load_config(contacts, lang="en")  # the pages' words are checked below
        with Running(_consumer(settings, broker, delivery=cfg)) as c:
            _publish(broker, first)
            wait_for(lambda: c.counters.received >= len(first), 60)
            _publish(broker, second)
            wait_for(lambda: c.counters.received >= len(readings), 60)
            # every hour of the 18 days is evaluated (as the nowcast would): ~400 steps
            wait_for(lambda: c.counters.deliveries_logged >= 2, 400)
            store = Store(settings.resolved_store_url)
            w = store.warnings(domain=DOMAIN)
            assert list(w["unit_id"]) == ["H1"] and w["level"].iloc[0] == "red"
            assert any("tangent angle" in r["en"] for r in w["reasons"].iloc[0])
            wait_for(lambda: len(mails) >= 1 and len(hook.received) >= 1, 30)
        assert len(_lake(settings)) == len(readings)
        mail = mails[0]
        assert mail.rcpt_tos == ["duty1@example.test"]
        assert b"site H1" in mail.content and b"red" in mail.content
        headers, body = hook.received[0]
        assert verify(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert not verify(
            "another-secret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]
        )
        msg = json.loads(body)
        assert msg["to_level"] == "red" and msg["contact_id"] == "duty-1"
        assert "@" not in json.dumps(msg)  # no address in what the gateway gets
        log = store.deliveries()
        assert set(log["status"]) == {"sent"} and len(log) == 2  # e-mail + webhook, once each
        assert not log["message"].astype(str).str.contains("@").any()
        # red not acknowledged within the escalation time: the next contact gets it, once
        later = datetime.now(UTC) + timedelta(hours=2)
        assert escalate(store, cfg) == 0  # not yet: 60 min have not passed
        assert escalate(store, cfg, now=later) == 1 and escalate(store, cfg, now=later) == 0
        deliver_due(store, cfg)
        assert [m.rcpt_tos for m in mails][-1] == ["duty2@example.test"]
        key = log["delivery_key"].iloc[0]
        store.acknowledge(w["warning_id"].iloc[0], "duty-2", delivery_key=key, via="test")
        acks = store.acknowledgements(w["warning_id"].iloc[0])
        assert list(acks["acknowledged_by"]) == ["duty-2"]
        store.close()


def test_store_unavailable_holds_no_reading_back(settings: Any, broker: Broker) -> None:
    """The serving store locked by another writer: readings keep reaching the lake, the
    level change waits and is published once the store answers again."""
    import sqlite3

    from riskwarn.store import Store
    from riskwarn.stream.publish import DOMAIN

    first, second = _failing_slope()
    readings = pd.concat([first, second])
    with Running(_consumer(settings, broker)) as c:
        _publish(broker, first)
        wait_for(lambda: c.counters.received >= len(first), 60)
        # evaluated too (the first part's own change, yellow at most, counted before the
        # store is locked: read before it, it was counted while locked: CI 7c279ef)
        wait_for(c.settled, 120)
        db = sqlite3.connect(settings.home / "serving.db", isolation_level=None, timeout=1)
        db.execute("BEGIN EXCLUSIVE")  # no other writer until this ends
        try:
            changes = c.counters.level_changes
            _publish(broker, second)
            wait_for(lambda: c.counters.received >= len(readings), 60)
            assert len(_lake(settings)) == len(readings)
            assert c.counters.level_changes == changes
        finally:
            db.execute("ROLLBACK")
            db.close()
        wait_for(lambda: c.counters.level_changes > changes, 400)
        wait_for(c.settled, 400)
    store = Store(settings.resolved_store_url)
    assert store.warnings(domain=DOMAIN)["unit_id"].tolist() == ["H1"]
    store.close()


def test_webhook_retries_with_backoff_then_delivers(settings: Any, tmp_path: Path) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.delivery import Contact, DeliveryConfig, deliver_due, enqueue
    from riskwarn.stream.publish import LevelChange

    store = Store(settings.resolved_store_url)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = DeliveryConfig(
            contacts={"c1": Contact("c1", webhook=True)},
            default=["c1"],
            webhook_url=hook.url,
            webhook_secret="s" * 32,
            retry_base_s=0.2,
            max_attempts=5,
        )
        now = pd.Timestamp.now(tz="UTC")  # in force: an ended warning is not delivered
        change = LevelChange("H9", "geohazard_stream:H9:x", 0, 3, now)
        assert enqueue(store, cfg, change, []) == 1
        assert enqueue(store, cfg, change, []) == 0  # de-duplicated: one message per change
        assert deliver_due(store, cfg)["retry"] == 1
        assert deliver_due(store, cfg)["retry"] == 0  # not due yet (back-off)
        hook.status = 200
        wait_for(lambda: deliver_due(store, cfg)["sent"] == 1, 5, 0.1)
        assert len(hook.received) == 1
    d = store.deliveries()
    assert d["attempts"].iloc[0] == 2 and d["status"].iloc[0] == "sent"
    assert d["last_error"].iloc[0] is None
    store.close()


def _run_cli(settings: Any, broker: Broker) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RISKWARN_HOME": str(settings.home), **broker.env("stream")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "riskwarn.cli",
            "stream",
            "--port",
            str(broker.port),
            "--client-id",
            "rw-kill-test",
            "--batch-s",
            "0.2",
            "--source",
            str(MAPPING),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill9_and_broker_restart_lose_and_double_nothing(settings: Any, broker: Broker) -> None:
    readings = _steady(100, sensors=10)  # 1,000 readings
    proc = _run_cli(settings, broker)
    status = settings.home / "run" / "stream.status.json"
    try:
        wait_for(lambda: status.exists() and json.loads(status.read_text())["connected"], 180)
        pub = threading.Thread(target=_publish, args=(broker, readings))
        pub.start()
        wait_for(lambda: json.loads(status.read_text())["received"] > 0, 30, 0.02)
        proc.send_signal(signal.SIGKILL)  # mid-stream
        proc.wait(10)
        pub.join(60)
        broker.stop()  # and the broker restarts, with the unacknowledged messages on disk
        broker.start()
        proc = _run_cli(settings, broker)
        wait_for(
            lambda: (s := json.loads(status.read_text()))["pid"] == proc.pid and s["connected"],
            180,
            0.05,
        )
        broker.stop()  # a broker restart while the consumer runs: it reconnects by itself
        broker.start()
        wait_for(lambda: len(_lake(settings)) >= len(readings), 180, 1.0)
        out = subprocess.run(
            [sys.executable, "-m", "riskwarn.cli", "stream", "--status"],
            env={**os.environ, "RISKWARN_HOME": str(settings.home)},
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout
        assert out.startswith("stream running") and out[-1] == "\n" and out.count("\n") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    lake = _lake(settings)
    assert len(lake) == len(readings) and lake["record_id"].is_unique
