"""Supervision of the real-time consumer (scripts/supervise.py under scripts/services.sh):
a consumer that stops without ``down`` (``kill -9``, a crash, a refused sign-in at its
start) is started again with backoff; a crash loop stops the restarts and says so in
``services.sh status``; ``down`` leaves no process; a supervisor that is killed leaves one
consumer, not two, after ``up`` again. Real Mosquitto (riskwarn's own configuration, from
``services.sh`` in a scratch home or ``Broker(auth=True)``), real processes, free ports.

On the code before, nothing restarted a stopped consumer (docs/streaming.md, "Nothing
restarts a consumer that stops"), ``status`` said only running/stopped, and a consumer
whose password came from ``RISKWARN_MQTT_PASSWORD`` retried a rotated one for ever.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import (
    MOSQUITTO,
    Broker,
    Running,
    Webhook,
    free_port,
    slope_readings,
    smtp_server,
    stream_consumer,
    wait_for,
)
from tests.test_stream import MAPPING, ROOT, _failing_slope, _in_force, _lake, _publish

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")

SCRIPT = ROOT / "scripts" / "services.sh"
SUPERVISE = ROOT / "scripts" / "supervise.py"


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    b = Broker(tmp_path / "broker", auth=True)
    b.start()
    yield b
    b.stop()


def _env(home: Path, port: int, **extra: str) -> dict[str, str]:
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_MQTT_PORT": str(port), **extra}
    for name in (
        "RISKWARN_STORE_URL",
        "RISKWARN_MLFLOW_TRACKING_URI",
        "RISKWARN_AIRFLOW_DB_URL",
        "RISKWARN_MQTT_PASSWORD",
        "RISKWARN_MQTT_USER",
    ):
        env.pop(name, None)
    return env


def _services(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    got = subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert got.returncode == 0, got.stdout + got.stderr
    return got.stdout


def _status_of(env: dict[str, str], name: str) -> str:
    lines = [ln for ln in _services(env, "status").splitlines() if ln.startswith(f"{name} ")]
    assert len(lines) == 1, lines
    return lines[0]


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _live(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _processes_of(home: Path) -> list[int]:
    """Live processes started for ``home`` (its RISKWARN_HOME in their environment)."""
    mark = f"RISKWARN_HOME={home}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if mark in environ and _live(int(entry)):
                found.append(int(entry))
    return found


def _consumers(home: Path) -> list[int]:
    out = []
    for pid in _processes_of(home):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"stream" in cmd and not any(b"supervise.py" in c for c in cmd):
            out.append(pid)
    return out


def _state(home: Path) -> dict[str, Any]:
    path = home / "run" / "stream.status.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _publish_readings(home: Path, port: int, readings: pd.DataFrame) -> int:
    """Publish as the gateway account of ``home``'s passwords file; the count acknowledged."""
    from riskwarn.stream.auth import read_passwords
    from riskwarn.stream.replay import Tally, connect, publish_readings

    password = read_passwords(home)["gateway"]
    client = connect("127.0.0.1", port, username="gateway", password=password)
    tally = Tally()
    try:
        for _ in publish_readings(client, "simcity", readings, {"G0": "H1"}, tally=tally):
            pass
    finally:
        client.loop_stop()
        client.disconnect()
    return tally.published


def _readings(n: int, hours_ago: int) -> pd.DataFrame:
    start = pd.Timestamp.now(tz="UTC").floor("10min") - pd.Timedelta(hours=hours_ago)
    return slope_readings("G0", start=start, steady_days=99, failure_after_days=0.5).head(n)


def test_killed_consumer_is_restarted_and_down_leaves_no_process(tmp_path: Path) -> None:
    """``services.sh up mosquitto stream``; ``kill -9`` of the consumer: it is started
    again and receives readings, ``status`` says restarts 1 and SIGKILL. Then the
    supervisor itself is killed (the consumer keeps running) and ``up stream`` again: one
    consumer (watched by the new supervisor), not two. ``down``: no process of the home
    is left. On the code before, the killed consumer stayed down."""
    home, port = tmp_path / "home", free_port()
    env = _env(home, port)
    run = home / "run"
    try:
        _services(env, "up", "mosquitto", "stream")
        wait_for(lambda: _state(home).get("connected"), 180, 1)
        first = _pid(run / "stream.pid")
        assert first is not None and _state(home)["pid"] == first
        assert _publish_readings(home, port, _readings(6, hours_ago=10)) == 6
        wait_for(lambda: _state(home)["received"] >= 6, 60, 0.5)

        os.kill(first, signal.SIGKILL)
        # back, signed in, and receiving (bounded: the backoff is 1 s, the start takes
        # what an import of riskwarn takes on this machine)
        wait_for(
            lambda: (s := _state(home)).get("pid") not in (None, first) and s["connected"],
            180,
            1,
        )
        second = _state(home)["pid"]
        assert _pid(run / "stream.pid") == second
        later = _readings(5, hours_ago=5)
        assert _publish_readings(home, port, later) == len(later)
        # the home's totals across restarts (riskwarn.stream.ledger)
        wait_for(lambda: _state(home)["received"] >= 6 + len(later), 60, 0.5)
        line = _status_of(env, "stream")
        assert line.startswith(f"stream running (pid {second}, supervisor pid"), line
        assert "restarts 1" in line and "killed by SIGKILL" in line, line
        print(line)
        assert _consumers(home) == [second]

        # the supervisor is killed: its consumer runs on, unsupervised, and says so
        supervisor = _pid(run / "stream.supervisor.pid")
        assert supervisor is not None
        os.kill(supervisor, signal.SIGKILL)
        wait_for(lambda: not _live(supervisor), 10, 0.1)
        line = _status_of(env, "stream")
        assert "UNSUPERVISED" in line and f"pid {second}" in line, line
        # up again: the new supervisor watches that consumer, it starts no second one
        _services(env, "up", "stream")
        new_supervisor = _pid(run / "stream.supervisor.pid")
        assert new_supervisor not in (None, supervisor)
        wait_for(lambda: "watching pid" in (home / "logs" / "stream.log").read_text(), 30, 0.5)
        time.sleep(3)  # a second consumer would be starting now
        assert _consumers(home) == [second]
        assert _state(home)["pid"] == second and _state(home)["connected"]
        line = _status_of(env, "stream")
        assert line.startswith(f"stream running (pid {second}, supervisor pid {new_supervisor}")
    finally:
        _services(env, "down", "stream", "mosquitto", timeout=180)
    assert _processes_of(home) == [], _processes_of(home)
    assert "stream stopped" in _services(env, "status")
    assert not list(run.glob("*.pid")), list(run.iterdir())
    log = (home / "logs" / "stream.log").read_text()
    assert "killed by SIGKILL" in log and "restarting in 1 s" in log, log[-3000:]


def test_consumer_refused_at_start_ends_in_a_crash_loop(tmp_path: Path) -> None:
    """A wrong password for ``stream`` in the secrets file: the consumer stops at its
    start (exit 2, one line); the supervisor starts it again after 1 s, then 2 s, and at
    the third exit (``RISKWARN_SUPERVISE_MAX_EXITS=3``) stops restarting it: ``status``
    says CRASH-LOOP with the exit code and the consumer's error line, the supervisor has
    ended (nothing left to spin) and no further start comes. On the code before, the
    refused consumer was never started again and ``status`` said only "stopped"."""
    home, port = tmp_path / "home", free_port()
    env = _env(home, port, RISKWARN_SUPERVISE_MAX_EXITS="3")
    run, log_path = home / "run", home / "logs" / "stream.log"
    try:
        _services(env, "up", "mosquitto")
        secrets = home / "secrets" / "mqtt_passwords.json"
        passwords = json.loads(secrets.read_text())
        wrong = "wrong-password-" + "x" * 20
        secrets.write_text(json.dumps({**passwords, "stream": wrong}))  # broker not reloaded
        _services(env, "up", "stream")
        supervisor = _pid(run / "stream.supervisor.pid")
        assert supervisor is not None
        wait_for(lambda: "CRASH-LOOP" in _status_of(env, "stream"), 300, 1)
        line = _status_of(env, "stream")
        assert line.startswith("stream CRASH-LOOP: 3 exits within 300 s, not restarted"), line
        assert "restarts 2" in line and "exit code 2" in line, line
        assert "refused the sign-in as 'stream': Not authorized" in line, line
        assert wrong not in line and "scripts/services.sh up stream" in line, line
        print(line)
        assert not (run / "stream.supervisor.pid").exists() and _consumers(home) == []
        log = log_path.read_text()
        assert log.count("supervise stream: started pid") == 3, log[-3000:]
        assert "restarting in 1 s" in log and "restarting in 2 s" in log, log[-3000:]
        assert "a crash loop: not restarting it" in log
        assert wrong not in log
        # no further start: the supervisor, the only thing that starts the consumer, has
        # ended (waited for, where a 5 s sleep looked for a fourth start before)
        wait_for(lambda: not _live(supervisor), 30, 0.2)
        assert log_path.read_text().count("supervise stream: started pid") == 3
        broker = {_pid(run / "mosquitto.supervisor.pid"), _pid(run / "mosquitto.pid")}
        assert set(_processes_of(home)) == broker, (_processes_of(home), broker)
    finally:
        _services(env, "down", "stream", "mosquitto", timeout=180)
    assert _processes_of(home) == []
    assert "stream stopped" in _services(env, "status")


def test_password_from_the_environment_stops_after_refusals(settings: Any, broker: Broker) -> None:
    """The consumer's password from the environment (no passwords file to re-read) and
    the password rotated while it runs: it cannot ever sign in again, so it stops after
    ``ENV_PASSWORD_REFUSALS`` refusals in a row with one line naming
    ``RISKWARN_MQTT_PASSWORD`` (``riskwarn stream`` then exits 2 and its supervisor shows
    the crash loop). On the code before it retried for ever (``refused`` stayed None)."""
    from riskwarn.stream import consumer as module

    consumer = stream_consumer(
        settings.home,
        broker.port,
        store_url=settings.resolved_store_url,
        lake_dir=settings.lake_dir,
        password_from="RISKWARN_MQTT_PASSWORD or ...",
        reconnect_max_s=1,  # paho's backoff 1, 1, 1, 1 s (the default: 1, 2, 4, 8 s)
        **broker.login("stream"),
    )
    with Running(consumer) as c:
        done = subprocess.run(
            [sys.executable, "-m", "riskwarn.stream.auth", "rotate", "stream"],
            env={**os.environ, "RISKWARN_HOME": str(broker.home)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        wait_for(lambda: c.refused is not None, 120, 0.5)
        wait_for(lambda: not c.counters.connected, 10, 0.1)
    text = consumer.refused
    assert f"refused {module.ENV_PASSWORD_REFUSALS} times in a row" in text, text
    assert "RISKWARN_MQTT_PASSWORD" in text and "Not authorized" in text, text
    assert consumer.counters.failing["broker sign-in"] == text


def test_supervised_kill9_before_publish_publishes_red_once(
    settings: Any, broker: Broker, pg_url: str, tmp_path: Path
) -> None:
    """The consumer under scripts/supervise.py SIGKILLs itself between the red's
    evaluation and its publish (test hook of tests/test_stream_crash.py); no one restarts
    it by hand: the supervisor does, and the red is published once and delivered once.
    Its state says 1 restart after SIGKILL; SIGTERM to the supervisor (``down``) stops
    both. On the code before, there was no supervisor (nothing published the red)."""
    from riskwarn.store import Store
    from riskwarn.stream.publish import DOMAIN

    first, second = _in_force(*_failing_slope())  # delivered: its warning is in force
    total = len(first) + len(second)
    marker = tmp_path / "killed"
    run, log = settings.home / "run", tmp_path / "stream.log"
    run.mkdir(parents=True, exist_ok=True)
    with smtp_server() as (smtp_port, mails), Webhook() as hook:
        contacts = tmp_path / "contacts.json"
        contacts.write_text(
            json.dumps(
                {
                    "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "riskwarn@test"},
                    "webhook": {"url": hook.url, "secret_env": "RW_SUPERVISE_SECRET"},
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
            "RW_SUPERVISE_SECRET": "supervise-webhook-secret-0123456789abcdef",
            "RISKWARN_TESTING": "1",
            "RISKWARN_STREAM_KILL_BEFORE_PUBLISH": str(marker),
            **broker.env("stream"),
        }
        cmd = [sys.executable, str(SUPERVISE), "run", "stream", "--run", str(run)]
        cmd += ["--log", str(log), "--", sys.executable, "-m", "riskwarn.cli", "stream"]
        cmd += ["--port", str(broker.port), "--source", str(MAPPING), "--contacts", str(contacts)]
        cmd += ["--no-model", "--batch-s", "0.2", "--client-id", "rw-supervised"]
        store = Store(pg_url)
        store.upgrade()

        def red_runs() -> int:
            hist = store.forecast_history(DOMAIN, unit_id="H1")
            ranks = [0.0, *hist.sort_values("origin", kind="stable")["score"].tolist()]
            return sum(1 for a, b in itertools.pairwise(ranks) if b == 4.0 != a)

        def served() -> str | None:
            w = store.warnings(domain=DOMAIN)
            w = w.loc[w["unit_id"] == "H1"]
            return None if w.empty else str(w["level"].iloc[0])

        def supervisor_state() -> dict[str, Any]:
            path = run / "stream.supervisor.json"
            return json.loads(path.read_text()) if path.exists() else {}

        with log.open("ab") as out:
            sup = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)
        try:
            wait_for(lambda: _state(settings.home).get("connected"), 180)
            killed = _state(settings.home)["pid"]
            _publish(broker, first)
            wait_for(
                lambda: (
                    (s := _state(settings.home))["received"] >= len(first) and s["backlog"] == 0
                ),
                300,
            )
            assert served() != "red" and not marker.exists()
            _publish(broker, second)
            # evaluated red, killed itself before publishing it; the supervisor restarts it
            wait_for(lambda: marker.exists(), 400, 0.5)
            wait_for(lambda: served() == "red", 300, 0.5)
            wait_for(lambda: len(mails) >= 1 and len(hook.received) >= 1, 120)
            time.sleep(5)  # a second copy would come now
            state = supervisor_state()
            assert state["state"] == "running" and state["restarts"] == 1, state
            assert state["last_exit"]["signal"] == "SIGKILL", state
            assert state["pid"] != killed and _live(state["pid"])
            restarted = state["pid"]
        finally:
            sup.send_signal(signal.SIGTERM)
            code = sup.wait(60)
            store_red = red_runs()
            store.close()
    assert code == 0 and not _live(restarted)
    assert supervisor_state()["state"] == "stopped"
    assert store_red == 1  # published once
    assert len(mails) == 1 and len(hook.received) == 1  # delivered once
    lake = _lake(settings)
    assert len(lake) == total and lake["record_id"].is_unique


def test_status_gives_the_ports_the_services_were_started_with(tmp_path: Path) -> None:
    """``status`` printed the ports of the caller's environment (1884 while the broker
    listened on another): now the port recorded at ``up`` (``run/NAME.port``). ``up
    mosquitto`` leaves Airflow's metadata DB alone (it migrated it at every ``up``: an
    Airflow import, 4-5 s, in each of this suite's broker and MLflow starts)."""
    home, port, other = tmp_path / "home", free_port(), free_port()
    env = _env(home, port)
    try:
        _services(env, "up", "mosquitto")
        assert not (home / "airflow" / "airflow.db").exists()
        line = _status_of(_env(home, other), "mosquitto")
        assert line.startswith("mosquitto running") and f" {port};" in line, line
        assert str(other) not in line, line
    finally:
        _services(env, "down", "mosquitto", timeout=180)
    assert not (home / "run" / "mosquitto.port").exists()
