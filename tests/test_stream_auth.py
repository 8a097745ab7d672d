"""riskwarn's MQTT broker signs every client in and gives each account only its part.

On the old code ``scripts/mosquitto.conf.in`` said ``allow_anonymous true`` and had no
ACL: anyone on the host could publish fake readings (landed in the lake, turned into
geohazard warnings) or subscribe to every reading. Now (riskwarn.stream.auth) the
broker takes no anonymous client and no wrong password; the gateway account may only
publish to the reading topics (not read them, not publish elsewhere); the consumer
account ``stream`` may only read them. Every test runs a real Mosquitto with riskwarn's
own generated configuration (by ``scripts/services.sh`` itself, or by the same renderer
through ``testkit.stream_helpers.Broker(auth=True)``).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import (
    MOSQUITTO,
    Broker,
    Running,
    free_port,
    slope_readings,
    stream_consumer,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "services.sh"
MAPPING = ROOT / "configs" / "sources" / "sim_sensor_readings.yaml"
READING = "riskwarn/v1/readings/simcity/H1/G0"

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker", auth=True, gateways=("gw-north", "gw-south"))
    b.start()
    yield b
    b.stop()


def _client(port: int, user: str | None = None, password: str | None = None, v5: bool = False):  # type: ignore[no-untyped-def]
    """A started paho client and the broker's CONNACK reason (None: no answer in 10 s):
    riskwarn's own sign-in wait (:func:`riskwarn.stream.auth.open_client`)."""
    from riskwarn.stream.auth import open_client

    return open_client("127.0.0.1", port, username=user, password=password, v5=v5)


def _close(client: Any) -> None:
    from riskwarn.stream.auth import close_client

    close_client(client)


def _refused(port: int, user: str | None = None, password: str | None = None) -> str:
    """The CONNACK reason of a sign-in the broker must refuse ('' if it accepted it)."""
    client, rc = _client(port, user, password)
    _close(client)
    assert rc is not None, "the broker did not answer"
    return "" if not rc.is_failure else str(rc)


def _subscriber(port: int, user: str, password: str, topic: str) -> tuple[Any, list[str]]:
    got: list[str] = []
    client, rc = _client(port, user, password)
    assert rc is not None and not rc.is_failure, rc
    client.on_message = lambda _c, _u, m: got.append(f"{m.topic} {m.payload.decode()}")
    done = threading.Event()
    client.on_subscribe = lambda *_: done.set()
    client.subscribe(topic, qos=1)
    assert done.wait(10)
    return client, got


def _puback(port: int, user: str, password: str, topic: str, payload: str | bytes) -> str:
    """The PUBACK reason (MQTT 5: the broker says whether it took the message)."""
    client, rc = _client(port, user, password, v5=True)
    assert rc is not None and not rc.is_failure, rc
    acked = threading.Event()
    reason: list[Any] = []

    def on_publish(_c: Any, _u: Any, _mid: Any, rc: Any, _p: Any) -> None:
        reason.append(rc)
        acked.set()

    client.on_publish = on_publish
    client.publish(topic, payload.encode() if isinstance(payload, str) else payload, qos=1)
    assert acked.wait(10), "no PUBACK"
    _close(client)
    return str(reason[0])


def test_services_script_starts_the_broker_with_accounts_only(tmp_path: Path) -> None:
    """``scripts/services.sh up mosquitto stream``: the broker it starts refuses anonymous
    clients and wrong passwords, takes the two accounts, and keeps only hashes in the
    files Mosquitto reads (the passwords themselves: secrets file, 0600); the consumer
    it starts signs in with the password from the secrets file."""
    home, port = tmp_path / "home", free_port()
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_MQTT_PORT": str(port)}
    for name in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI", "RISKWARN_AIRFLOW_DB_URL"):
        env.pop(name, None)
    try:
        up = subprocess.run(
            ["bash", str(SCRIPT), "up", "mosquitto", "stream"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert up.returncode == 0, up.stdout + up.stderr
        assert "mosquitto answers" in up.stdout, up.stdout

        conf = (home / "run" / "mosquitto.conf").read_text()
        assert "allow_anonymous false" in conf.splitlines()
        passwords = json.loads((home / "secrets" / "mqtt_passwords.json").read_text())
        assert set(passwords) == {"stream", "gateway"}
        hashed = (home / "secrets" / "mosquitto.passwd").read_text()
        for user, password in passwords.items():
            assert len(password) >= 20
            assert password not in conf and password not in hashed
            assert f"{user}:$7$" in hashed  # PBKDF2-SHA512, mosquitto_passwd's hash
        for f in (home / "secrets").iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f

        assert "Not authorized" in _refused(port)  # anonymous
        assert _refused(port, "gateway", "wrong-password-0123456789")
        assert _refused(port, "stream", passwords["gateway"])  # another account's password
        assert _refused(port, "intruder", "x" * 24)
        assert _refused(port, "gateway", passwords["gateway"]) == ""
        assert _refused(port, "stream", passwords["stream"]) == ""

        status = home / "run" / "stream.status.json"
        wait_for(lambda: status.exists() and json.loads(status.read_text())["connected"], 180, 1)

        # rotate the consumer's password: the broker services.sh started (its pid file)
        # re-reads its accounts, the running consumer signs in again with the new one
        rotated = subprocess.run(
            [sys.executable, "-m", "riskwarn.stream.auth", "rotate", "stream"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        pid = (home / "run" / "mosquitto.pid").read_text().strip()
        assert rotated.returncode == 0 and f"(pid {pid}) re-reads" in rotated.stdout, rotated
        wait_for(lambda: _refused(port, "stream", passwords["stream"]), 10, 0.5)
        log_path = home / "logs" / "stream.log"
        wait_for(lambda: "signed in again as 'stream'" in log_path.read_text(), 60, 1)
        wait_for(lambda: json.loads(status.read_text())["connected"], 30, 1)
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "down", "stream", "mosquitto"],
            env=env,
            capture_output=True,
            timeout=120,
        )
    log = (home / "logs" / "stream.log").read_text()
    assert "connected to 127.0.0.1" in log, log[-2000:]
    # one line for the refused sign-in after the rotation, none before it
    assert log.count("refused the sign-in") == 1, log[-2000:]


def test_services_script_refuses_a_broker_it_did_not_start(tmp_path: Path) -> None:
    """Something riskwarn did not start answers on ``RISKWARN_MQTT_PORT`` (here an
    anonymous Mosquitto, like this host's system one on 1883): ``up`` refuses it (one
    line on stderr, non-zero exit) and does not start the consumer, which would send the
    ``stream`` password there; ``RISKWARN_MQTT_EXTERNAL=1`` does not cure an anonymous one.
    On the old code ``up`` only warned and started ``stream`` against it."""
    foreign = Broker(tmp_path / "foreign", auth=False)
    foreign.start()
    home = tmp_path / "home"
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_MQTT_PORT": str(foreign.port)}
    for name in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI", "RISKWARN_AIRFLOW_DB_URL"):
        env.pop(name, None)
    try:
        for external in ("0", "1"):
            up = subprocess.run(
                ["bash", str(SCRIPT), "up", "mosquitto", "stream"],
                env={**env, "RISKWARN_MQTT_EXTERNAL": external},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert up.returncode != 0, up.stdout + up.stderr
            assert f"127.0.0.1:{foreign.port}" in up.stderr and "not using it" in up.stderr
            assert "stream not started" in up.stderr, up.stderr
            assert not (home / "run" / "stream.pid").exists(), up.stdout
            assert not (home / "run" / "mosquitto.pid").exists(), up.stdout
        # RISKWARN_MQTT_EXTERNAL=1 and something that is no MQTT broker: refused too
        import socket

        with socket.socket() as mute:
            mute.bind(("127.0.0.1", 0))
            mute.listen()
            up = subprocess.run(
                ["bash", str(SCRIPT), "up", "stream"],
                env={
                    **env,
                    "RISKWARN_MQTT_EXTERNAL": "1",
                    "RISKWARN_MQTT_PORT": str(mute.getsockname()[1]),
                    # it never answers: 2 s to find that out, not the default 10
                    "RISKWARN_MQTT_PROBE_WAIT_S": "2",
                },
                capture_output=True,
                text=True,
                timeout=300,
            )
        assert up.returncode != 0 and "no MQTT answer" in up.stderr, up.stdout + up.stderr
        assert "within 2 s" in up.stderr, up.stderr
        assert not (home / "run" / "stream.pid").exists(), up.stdout
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "down", "stream", "mosquitto"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        foreign.stop()


def _signs_in(hashed_line: str, password: str) -> bool:
    """Whether ``password`` matches a ``mosquitto_passwd`` line (``user:$7$iter$salt$hash``,
    PBKDF2-SHA512): what the broker checks at sign-in."""
    import base64
    import hashlib

    _, _, iterations, salt, digest = hashed_line.split(":", 1)[1].split("$")
    got = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt), int(iterations), 64
    )
    return got == base64.b64decode(digest)


def test_broker_files_written_at_once_by_two_processes_stay_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes writing the broker files of one (new) home at the same time (two
    ``services.sh up``, an ``add-gateway`` beside a start): no error, and the hashed file
    lets every account of the passwords file sign in. On the old code they shared one
    fixed temp file and could each create different passwords. ``mosquitto_passwd -U``
    runs under umask 077 (its plaintext backup ``<file>.tmp`` took the caller's umask)."""
    home = tmp_path / "home"
    code = (
        "import sys; from pathlib import Path; from riskwarn.stream.auth import "
        "write_broker_files\nfor _ in range(15): write_broker_files(Path(sys.argv[1]))"
    )
    env = {**os.environ, "RISKWARN_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(home)],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    from riskwarn.stream import auth

    passwords = auth.read_passwords(home)
    lines = dict(
        (line.split(":", 1)[0], line) for line in auth.passwd_file(home).read_text().split()
    )
    assert set(lines) == set(passwords) == {"stream", "gateway"}
    for user, password in passwords.items():
        assert _signs_in(lines[user], password), user
    assert sorted(p.name for p in auth.secrets_dir(home).iterdir() if "passwd" in p.name) == [
        "mosquitto.passwd"
    ]

    # mosquitto_passwd's own umask
    seen = tmp_path / "umask"
    wrapper = tmp_path / "mosquitto_passwd"
    wrapper.write_text(f'#!/bin/sh\numask >{seen}\nexec {auth.MOSQUITTO_PASSWD} "$@"\n')
    wrapper.chmod(0o700)
    monkeypatch.setattr(auth, "MOSQUITTO_PASSWD", str(wrapper))
    old = os.umask(0o022)
    try:
        auth.write_broker_files(home)
    finally:
        os.umask(old)
    assert seen.read_text().strip() == "0077"


def test_auth_command_errors_are_one_line(tmp_path: Path) -> None:
    """``python -m riskwarn.stream.auth``: a missing ``mosquitto_passwd``, an unknown
    account to rotate, a bad account name and ``add-gateway stream`` (it would hand out
    the reading account) each end with one ``error:`` line and exit 2, no traceback; a
    corrupt passwords file is named by the clients instead of being read as 'no
    password'. On the old code: tracebacks, ``add-gateway stream`` accepted, and the
    corrupt file silently ignored."""
    import click

    from riskwarn.settings import Settings
    from riskwarn.stream.auth import client_credentials, passwords_file

    home = tmp_path / "home"
    env = {**os.environ, "RISKWARN_HOME": str(home)}
    cases = [
        (
            ["conf", "1884", str(tmp_path / "data")],
            {"MOSQUITTO_PASSWD": "/nonexistent/mp"},
            "not found",
        ),
        (["rotate", "UNKNOWN"], {}, "no MQTT account 'UNKNOWN'"),
        (["add-gateway", "bad name"], {}, "is not an account name"),
        (["add-gateway", "stream"], {}, "consumer's (reading) account"),
    ]
    for argv, extra, expected in cases:
        done = subprocess.run(
            [sys.executable, "-m", "riskwarn.stream.auth", *argv],
            env={**env, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (argv, done.stderr)
        assert lines[0].startswith("error: ") and expected in lines[0], (argv, lines)

    passwords_file(home).write_text("{not json")
    with pytest.raises(click.ClickException, match=r"mqtt_passwords\.json") as raised:
        client_credentials(Settings(home=home), "stream")
    assert "\n" not in raised.value.format_message()


def _dropped_over_311(port: int, user: str, password: str, topic: str, payload: bytes) -> bool:
    """Publish over MQTT 3.1.1 (no reason codes) and wait for the broker's answer: True
    if it closed the connection after the PUBACK, which is how Mosquitto 2.0.11 refuses a
    3.1.1 client's publish the ACL denies (the PUBACK itself says nothing); False if it
    kept the connection 3 s (took the message)."""
    client, rc = _client(port, user, password)
    assert rc is not None and not rc.is_failure, rc
    closed = threading.Event()
    client.on_disconnect = lambda *_: closed.set()
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(10)
    assert info.is_published(), "no PUBACK: the publish never reached the broker"
    dropped = closed.wait(3)
    _close(client)
    return dropped


def test_each_account_can_do_only_its_part(broker: Broker) -> None:
    """gateway: publishes readings, cannot read them, cannot publish elsewhere; stream:
    reads readings, cannot publish (not even a reading). Each refused publish is checked
    as the broker's refusal (MQTT 5 PUBACK 'Not authorized'; over MQTT 3.1.1 the broker
    closing the connection after its PUBACK): on the old test the 3.1.1 step published
    unconnected-checked and slept, so it passed even if nothing was sent."""
    port = broker.port
    gw, st = broker.login("gateway"), broker.login("stream")
    assert _refused(port) and _refused(port, "stream", "not-the-password-0123")

    # the consumer account reads the readings (asks for everything: gets only readings)
    reader, read = _subscriber(port, st["username"], st["password"], "#")
    # a gateway account asks for the readings too: it must get none (its own account:
    # one account's second connection would close the first, use_username_as_clientid)
    north = broker.login("gw-north")
    spy, spied = _subscriber(port, north["username"], north["password"], "riskwarn/v1/readings/#")
    try:
        assert _puback(port, gw["username"], gw["password"], READING, "gateway") == "Success"
        wait_for(lambda: any(m.endswith(" gateway") for m in read), 10)

        # not authorized, and nobody gets them
        for topic in ("riskwarn/v1/status/x", "riskwarn/v1/readings/simcity/H1", "other"):
            assert _puback(port, gw["username"], gw["password"], topic, "elsewhere") == (
                "Not authorized"
            ), topic
    finally:
        _close(reader)  # signing in as 'stream' below would close it (one client per account)
    try:
        # the consumer account publishes a reading: refused by the broker (MQTT 5: PUBACK
        # 'Not authorized'; MQTT 3.1.1, the consumer's protocol: sent, then the
        # connection closed)
        assert _puback(port, st["username"], st["password"], READING, "forged") == (
            "Not authorized"
        )
        assert _dropped_over_311(port, st["username"], st["password"], READING, b"forged-311")

        reader, read2 = _subscriber(port, st["username"], st["password"], "#")
        assert _puback(port, gw["username"], gw["password"], READING, "last") == "Success"
        wait_for(lambda: any(m.endswith(" last") for m in read2), 10)
        assert read == [f"{READING} gateway"] and read2 == [f"{READING} last"], (read, read2)
        assert spied == []
    finally:
        _close(reader)
        _close(spy)


def test_no_retained_reading_reaches_a_new_consumer_session(broker: Broker) -> None:
    """``retain_available false``: a retained reading a gateway publishes is not kept for
    the next consumer session to subscribe (on the old conf it was re-delivered to
    every new subscriber)."""
    port = broker.port
    gw, st = broker.login("gateway"), broker.login("stream")
    client, rc = _client(port, gw["username"], gw["password"])
    assert rc is not None and not rc.is_failure, rc
    info = client.publish(READING, b"retained", qos=1, retain=True)
    info.wait_for_publish(timeout=5)  # the broker may drop the client instead of a PUBACK
    time.sleep(0.5)
    _close(client)
    reader, read = _subscriber(port, st["username"], st["password"], "riskwarn/v1/readings/#")
    try:
        assert _puback(port, gw["username"], gw["password"], READING, "marker") == "Success"
        wait_for(lambda: any(m.endswith(" marker") for m in read), 10)
        assert read == [f"{READING} marker"], read
    finally:
        _close(reader)


def test_gateway_readings_land_through_the_consumer_and_nothing_else(
    settings: Any, broker: Broker
) -> None:
    """End to end with the right accounts: readings the gateway account publishes land
    in the lake through ``riskwarn stream`` signed in as ``stream``; a reading the
    consumer account tries to publish does not."""

    from riskwarn import lake
    from riskwarn.stream.payload import encode, topic_for
    from riskwarn.stream.replay import connect, publish_readings

    start = pd.Timestamp.now(tz="UTC").floor("10min") - pd.Timedelta(hours=8)
    readings = slope_readings("G0", start=start, steady_days=99, failure_after_days=0.3)
    # the consumer's own account cannot inject a reading (another sensor, G9): signed
    # in (the connection is waited for), the broker answers the publish with "Not
    # authorized" (MQTT 5 PUBACK), so the check cannot pass by never sending it. Before
    # the consumer starts: a second client of the account 'stream' would close the
    # consumer's connection (the broker's client id is the account name)
    st = broker.login("stream")
    reading = {
        "sensor_id": "G9",
        "observed_at": start.to_pydatetime(),
        "interval_s": 600,
        "quantity": "displacement_mm",
        "value": 99.0,
        "quality": "good",
    }
    forged = _puback(
        broker.port,
        st["username"],
        st["password"],
        topic_for("simcity", "H1", "G9"),
        encode(reading),
    )
    assert forged == "Not authorized", forged
    consumer = stream_consumer(
        settings.home,
        broker.port,
        store_url=settings.resolved_store_url,
        lake_dir=settings.lake_dir,
        **broker.login("stream"),
    )
    with Running(consumer) as c:
        client = connect("127.0.0.1", broker.port, **broker.login("gateway"))
        try:
            for _ in publish_readings(client, "simcity", readings, {"G0": "H1"}):
                pass
        finally:
            client.loop_stop()
            client.disconnect()
        wait_for(lambda: c.counters.accepted >= len(readings), 60)
        time.sleep(1.0)
        assert c.counters.received == len(readings)
    got = lake.read_table(settings.lake_dir, "sensor_readings", ["simcity"])
    assert len(got) == len(readings) and set(got["sensor_id"]) == {"G0"}


def test_refused_sign_in_stops_with_one_line(settings: Any, broker: Broker) -> None:
    """A wrong or missing password: the consumer stops with the broker's CONNACK reason
    in one line (``riskwarn stream``: ``error: ...``, exit 2) instead of reconnecting forever; the
    publisher's connect raises it."""
    from riskwarn.stream.auth import BrokerRefused
    from riskwarn.stream.replay import connect

    with pytest.raises(BrokerRefused, match=r"refused the sign-in as 'gateway': Not authorized"):
        connect("127.0.0.1", broker.port, username="gateway", password="wrong-0123456789")
    with pytest.raises(BrokerRefused, match=r"refused the sign-in without a user name"):
        connect("127.0.0.1", broker.port)

    # in process, no credentials at all: run() returns, the status says why
    consumer = stream_consumer(
        settings.home, broker.port, store_url=settings.resolved_store_url, client_id="rw-anon"
    )
    runner = threading.Thread(target=consumer.run, daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "the consumer kept reconnecting"
    assert consumer.refused and "Not authorized" in consumer.refused
    status = json.loads((settings.home / "run" / "stream.status.json").read_text())
    assert status["running"] is False and "Not authorized" in status["failing"]["broker sign-in"]

    # the command, with a wrong password
    env = {
        **os.environ,
        "RISKWARN_HOME": str(settings.home),
        "RISKWARN_MQTT_PASSWORD": "wrong-0123456789",
    }
    env.pop("RISKWARN_MQTT_USER", None)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)),
            *("--source", str(MAPPING), "--no-model", "--client-id", "rw-wrong"),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]  # riskwarn.cli: user errors exit 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: MQTT broker 127.0.0.1:{broker.port} refused the sign-in as ")
    assert "'stream': Not authorized" in last and "RISKWARN_MQTT_PASSWORD" in last
    assert "Traceback" not in done.stderr
    assert "wrong-0123456789" not in done.stderr  # the password is never printed


def test_probe_tells_an_anonymous_broker(tmp_path: Path, broker: Broker) -> None:
    """``scripts/services.sh`` does not start its own broker when one answers on the
    port; it warns when that one takes anonymous clients (like the old conf)."""
    from riskwarn.stream.auth import anonymous_accepted

    assert anonymous_accepted("127.0.0.1", broker.port) is False
    assert anonymous_accepted("127.0.0.1", free_port(), timeout_s=2) is None
    open_broker = Broker(tmp_path / "open", auth=False)
    open_broker.start()
    try:
        assert anonymous_accepted("127.0.0.1", open_broker.port) is True
        env = {**os.environ, "RISKWARN_HOME": str(tmp_path / "home")}
        probe = subprocess.run(
            [sys.executable, "-m", "riskwarn.stream.auth", "probe", str(open_broker.port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 1 and "accepts anonymous clients" in probe.stderr
    finally:
        open_broker.stop()


def _publish_as(broker: Broker, role: str, readings: pd.DataFrame) -> int:
    """Publish ``readings`` (sensor G0 at site H1) signed in as ``role``; the count the
    broker acknowledged."""
    from riskwarn.stream.replay import Tally, connect, publish_readings

    client = connect("127.0.0.1", broker.port, **broker.login(role))
    tally = Tally()
    try:
        for _ in publish_readings(client, "simcity", readings, {"G0": "H1"}, tally=tally):
            pass
    finally:
        _close(client)
    return tally.published


def _readings(n: int, hours_ago: int = 8) -> pd.DataFrame:
    start = pd.Timestamp.now(tz="UTC").floor("10min") - pd.Timedelta(hours=hours_ago)
    return slope_readings("G0", start=start, steady_days=99, failure_after_days=0.3).head(n)


def test_a_gateway_cannot_take_the_consumers_session(
    settings: Any, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway account connecting with the consumer's client id ``riskwarn-stream``
    (clean session): on the old conf the broker gave it the consumer's session, so it
    kicked the running consumer off (each reconnect of one kicked the other) and, while
    the consumer was down, wiped the session with the readings queued for it. Now
    (``use_username_as_clientid true``) its client id is its account name: the running
    consumer stays connected, and the readings queued while it is down reach it when it
    comes back."""
    import logging

    from riskwarn.stream.auth import open_client

    caplog.set_level(logging.INFO, logger="riskwarn.stream.consumer")
    # two gateway accounts of their own (the publisher below is 'gateway': one account's
    # second connection would close its first)
    thief_ids = {"gw-north": "riskwarn-stream", "gw-south": "stream"}

    def consumer() -> Any:
        return stream_consumer(
            settings.home,
            broker.port,
            store_url=settings.resolved_store_url,
            lake_dir=settings.lake_dir,
            client_id="riskwarn-stream",  # the default of `riskwarn stream`
            **broker.login("stream"),
        )

    first = _readings(5, hours_ago=10)
    with Running(consumer()) as c:
        # the thief keeps its connection (paho reconnects it if the broker drops it)
        thieves = [
            open_client("127.0.0.1", broker.port, client_id=cid, **broker.login(account))
            for account, cid in thief_ids.items()
        ]
        try:
            assert all(rc is not None and not rc.is_failure for _, rc in thieves)
            time.sleep(3.0)
            assert c.counters.connected
            assert _publish_as(broker, "gateway", first) == len(first)
            wait_for(lambda: c.counters.received >= len(first), 30)
        finally:
            for client, _ in thieves:
                _close(client)
        kicked = [r.getMessage() for r in caplog.records if "disconnected from" in r.getMessage()]
        assert kicked == [], kicked  # (before the consumer's own disconnect at its stop)

    # the consumer is down: its persistent session queues what the gateway publishes
    later = _readings(6, hours_ago=5)
    assert _publish_as(broker, "gateway", later) == len(later)
    for account, cid in thief_ids.items():  # clean session: would wipe the session
        client, rc = open_client("127.0.0.1", broker.port, client_id=cid, **broker.login(account))
        assert rc is not None and not rc.is_failure, rc
        _close(client)
    with Running(consumer()) as c:
        # the counts are the stream's totals, each reading stored once (they survive a
        # restart: docs/streaming.md): the queued six on top of the first five
        total = len(first) + len(later)
        wait_for(lambda: c.counters.received >= total, 30)
        time.sleep(1.0)
        assert c.counters.received == total


def test_publishing_counts_only_what_the_broker_acknowledged(broker: Broker) -> None:
    """A publisher signed in as the consumer's account (the old shared
    ``RISKWARN_MQTT_USER``): the broker refuses each reading. On the old code
    ``publish_readings`` counted them all as published (MQTT 3.1.1: no reason code was
    checked); now the first refused PUBACK raises :class:`PublishRefused` with one line
    and nothing is counted. As a gateway every reading is counted once acknowledged."""
    from riskwarn.stream.replay import PublishRefused

    readings = _readings(3)
    with pytest.raises(PublishRefused) as refused:
        _publish_as(broker, "stream", readings)
    line = str(refused.value)
    assert "\n" not in line
    # Mosquitto 2.0.11 sends the PUBACK "Not authorized" and closes the connection; with
    # more readings in flight the client's next write can fail first, so the publisher
    # may see the closed connection before that PUBACK (docs/streaming.md): either way
    # one line, nothing counted
    if "refused the reading" in line:
        assert f"refused the reading published to {READING} as 'stream': Not authorized" in line
        assert "RISKWARN_MQTT_GATEWAY_USER" in line
    else:
        assert "closed the connection" in line and f"published to {READING} as 'stream'" in line
    assert "0 reading(s) acknowledged before it" in line
    assert _publish_as(broker, "gateway", readings) == len(readings)


@pytest.fixture(scope="module")
def sim_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated city (``riskwarn simulate --size small``, about 15 s)."""
    out = tmp_path_factory.mktemp("sim")
    done = subprocess.run(
        [sys.executable, "-m", "riskwarn.cli", "simulate", "--size", "small", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_replay_command_signs_in_as_a_gateway_and_fails_on_a_refused_reading(
    sim_city: Path, broker: Broker
) -> None:
    """``riskwarn stream replay``: with the consumer's variables set (the old shared
    ``RISKWARN_MQTT_USER`` / ``_PASSWORD`` = stream) it signs in as the gateway account
    (``RISKWARN_MQTT_GATEWAY_*``, else the passwords file), says so in one line, and
    every reading it counts reaches a subscriber; given the consumer's account as its own
    (``RISKWARN_MQTT_GATEWAY_USER=stream``) it ends with one ``error:`` line, exit 2 and no
    "published" count. On the old code it signed in as stream and printed "published N
    readings" while the broker dropped each one."""
    sensors = pd.read_csv(sim_city / "extracts" / "sensors.csv", dtype=str)
    site = sensors["隐患点编号"].dropna().iloc[0]  # the first sensor's site (hazard site id)
    base = [
        *(sys.executable, "-m", "riskwarn.cli", "stream", "--port", str(broker.port)),
        *("replay", "--sim", str(sim_city), "--site", site),
        *("--start", "2023-06-01T00:00:00", "--end", "2023-06-01T06:00:00"),
    ]
    env = {**os.environ, "RISKWARN_HOME": str(broker.home)}
    for name in ("RISKWARN_MQTT_GATEWAY_USER", "RISKWARN_MQTT_GATEWAY_PASSWORD"):
        env.pop(name, None)
    st = broker.login("stream")
    reader, read = _subscriber(broker.port, st["username"], st["password"], "riskwarn/v1/#")
    try:
        done = subprocess.run(
            base,
            env={**env, **broker.env("stream")},  # RISKWARN_MQTT_USER/PASSWORD = stream's
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "publishing signs in as 'gateway'" in done.stderr, done.stderr[-2000:]
        published = int(done.stdout.split("published ", 1)[1].split()[0])
        assert published > 0 and "acknowledged by the broker" in done.stdout, done.stdout
        wait_for(lambda: len(read) >= published, 30)
        assert len(read) == published
    finally:
        _close(reader)

    done = subprocess.run(
        base,
        env={
            **env,
            "RISKWARN_MQTT_GATEWAY_USER": "stream",
            "RISKWARN_MQTT_GATEWAY_PASSWORD": st["password"],
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, (done.stdout, done.stderr[-2000:])
    assert "published" not in done.stdout, done.stdout
    last = done.stderr.strip().splitlines()[-1]
    # Mosquitto 2.0.11 here either answers the refused publish with PUBACK "Not
    # authorized" or drops the connection before any PUBACK ("Bad socket read/write" in
    # its log; seen in the full suite and alone, 2026-12-04): both must end in one error
    # line naming the broker and the account, exit 2 and no "published" count
    where = f"error: MQTT broker 127.0.0.1:{broker.port} "
    assert last.startswith(where + "refused the reading") or last.startswith(
        where + "closed the connection"
    ), last
    assert "as 'stream'" in last and "Traceback" not in done.stderr
    if "refused the reading" in last:
        assert "as 'stream': Not authorized" in last
    assert st["password"] not in done.stderr


def test_rotate_reloads_the_broker_and_the_running_consumer_keeps_receiving(
    settings: Any, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """``python -m riskwarn.stream.auth rotate stream`` while a consumer runs: the broker
    riskwarn started (its pid file) re-reads its accounts at once (SIGHUP; the old
    password is refused, no restart) and drops the consumer's connection; the consumer,
    refused with its old password, re-reads the passwords file, signs in with the new
    one and keeps receiving, with one log line. On the old code the broker kept the old
    password until a restart, and the consumer stopped at its first refused reconnect."""
    import logging

    from riskwarn.stream.auth import passwords_file, read_passwords

    caplog.set_level(logging.INFO, logger="riskwarn.stream.consumer")
    old = broker.login("stream")["password"]
    consumer = stream_consumer(
        settings.home,
        broker.port,
        store_url=settings.resolved_store_url,
        lake_dir=settings.lake_dir,
        password_file=passwords_file(broker.home),
        **broker.login("stream"),
    )
    first, later = _readings(4, hours_ago=10), _readings(5, hours_ago=5)
    with Running(consumer) as c:
        assert _publish_as(broker, "gateway", first) == len(first)
        wait_for(lambda: c.counters.received >= len(first), 30)
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "riskwarn.stream.auth", "rotate", "stream"],
            env={**os.environ, "RISKWARN_HOME": str(broker.home)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert f"the broker (pid {broker.proc.pid}) re-reads" in done.stdout, done.stdout  # type: ignore[union-attr]
        new = read_passwords(broker.home)["stream"]
        assert new != old
        # the broker took the new password without a restart (a refused sign-in does not
        # touch the consumer's session; signing in as stream would take it over)
        wait_for(lambda: _refused(broker.port, "stream", old), 10, 0.5)
        wait_for(lambda: c.counters.connected and c.password == new, 60, 0.2)
        assert _publish_as(broker, "gateway", later) == len(later)
        wait_for(lambda: c.counters.received >= len(first) + len(later), 30)
        back_s = time.monotonic() - t0
        assert consumer.refused is None and "broker sign-in" not in c.counters.failing
    lines = [r.getMessage() for r in caplog.records if "refused the sign-in" in r.getMessage()]
    assert len(lines) == 1 and "re-reading the password from" in lines[0], lines
    assert old not in lines[0] and new not in lines[0]
    print(f"rotate -> consumer receiving again: {back_s:.1f} s")


def test_reload_signals_only_this_homes_broker(tmp_path: Path, broker: Broker) -> None:
    """A pid file left behind whose pid now names a ``mosquitto_sub`` (its name starts
    with "mosquitto") or another home's broker: reload/rotate must not signal it. On the
    old code the name check took both: SIGHUP killed the operator's ``mosquitto_sub`` and
    reloaded the other broker, and the command said this home's broker re-read its
    accounts."""
    from riskwarn.stream.auth import broker_pid_file, reload_broker

    other = Broker(tmp_path / "other", auth=True)
    other.start()
    sub = subprocess.Popen(
        [
            str(Path(MOSQUITTO).parent.parent / "bin" / "mosquitto_sub"),
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-t",
            "riskwarn/v1/readings/#",
            "-u",
            "stream",
            "-P",
            broker.login("stream")["password"],
            "-i",
            "stream",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        assert sub.poll() is None, "mosquitto_sub did not start"
        pid_file = broker_pid_file(other.home)
        for pid in (sub.pid, broker.proc.pid):  # type: ignore[union-attr]
            pid_file.write_text(f"{pid}\n")
            said = reload_broker(other.home)
            assert said.startswith("no broker started by riskwarn runs for this home"), said
        time.sleep(0.5)
        assert sub.poll() is None, "SIGHUP went to mosquitto_sub"
        # this home's own broker is still found and signalled
        pid_file.write_text(f"{other.proc.pid}\n")  # type: ignore[union-attr]
        assert f"the broker (pid {other.proc.pid}) re-reads" in reload_broker(other.home)  # type: ignore[union-attr]
    finally:
        sub.terminate()
        sub.wait(10)
        other.stop()


def test_acked_publisher_survives_more_readings_than_message_ids(broker: Broker) -> None:
    """MQTT message ids wrap at 65,535. A caller that publishes more than that before
    calling ``check`` (bench_stream.py's slope tail, a broker slow to acknowledge) used
    to get two pending readings with one id: the first took the second's PUBACK and the
    second then 'was not acknowledged', a spurious PublishRefused (and a refused reading
    could be counted with a later one's success). The publisher counts in time by itself."""
    from riskwarn.stream.auth import close_client
    from riskwarn.stream.replay import AckedPublisher, connect

    out = AckedPublisher(connect("127.0.0.1", broker.port, **broker.login("gateway")))
    try:
        n = 66_000
        for i in range(n):
            out.publish(READING, b'{"i": %d}' % i)
        assert out.settle() == n
    finally:
        close_client(out.client)


def test_broker_start_closes_a_passwords_file_open_to_others(tmp_path: Path) -> None:
    """The plaintext passwords file restored or copied with mode 0644 into a secrets
    folder open to others (0755): every account's password readable by any user of the
    host. On the old code a broker start (``auth conf``, as ``services.sh up``), rotate or
    reload left it so (only the folder got a warning); now it is made 0600."""
    from riskwarn.stream.auth import ensure_passwords, passwords_file, secrets_dir

    home = tmp_path / "home"
    ensure_passwords(home)
    secrets_dir(home).chmod(0o755)
    passwords_file(home).chmod(0o644)
    done = subprocess.run(
        [sys.executable, "-m", "riskwarn.stream.auth", "conf", "1883", str(tmp_path / "data")],
        env={**os.environ, "RISKWARN_HOME": str(home)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(passwords_file(home).stat().st_mode) == 0o600
