"""`riskwarn stream` command lines an operator types: `ack` with and without --key and
for a warning that does not exist (D8), and the broker commands with no broker on the
port (D9), on the real store and a real (private) Mosquitto broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.cli import main

# two hours ago: the warning is in force (one that ended is not delivered)
AT = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=2)
WARNING = f"geohazard_stream:H1:{AT:%Y%m%dT%H%MZ}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    monkeypatch.setenv("RISKWARN_PAGING_LANG", "en")  # `ack`'s English wording is checked
    for var in ("RISKWARN_STORE_URL", "RISKWARN_MQTT_PORT"):
        monkeypatch.delenv(var, raising=False)
    return home


def _two_red_changes_sent(home: Path, tmp_path: Path):
    from riskwarn.settings import Settings
    from riskwarn.store import Store
    from riskwarn.stream.delivery import enqueue, load_config
    from riskwarn.stream.publish import LevelChange

    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "escalate_after_minutes: 15\n"
        "contacts:\n"
        "  duty-1: {email: duty1@example.test}\n"
        "  duty-2: {email: duty2@example.test}\n"
        "routes: {sites: {H1: [duty-1, duty-2]}}\n"
    )
    cfg = load_config(contacts)
    store = Store.from_settings(Settings(home=home))
    store.upgrade()
    changes = [
        LevelChange("H1", WARNING, 2, 4, AT),
        LevelChange("H1", WARNING, 3, 4, AT + pd.Timedelta(hours=2)),
    ]
    for change in changes:
        assert enqueue(store, cfg, change, [{"en": "red", "zh": "红色"}]) == 1
    for row in store.due_deliveries():
        store.record_attempt(row["delivery_id"], ok=True)
    return store, cfg, changes


def _acks_audited(store, warning_id: str) -> int:
    return len(store.audit_entries("warning", warning_id, ("acknowledge_warning",)))


def test_ack_without_key_stops_escalation_of_every_change(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from riskwarn.stream.delivery import escalate

    store, cfg, changes = _two_red_changes_sent(home, tmp_path)
    assert main(["stream", "ack", WARNING, "--by", "duty-1"]) == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    assert escalate(store, cfg, now=later) == 0  # nobody else is called
    out = capsys.readouterr().out
    assert all(f"change {c.key}" in out for c in changes)
    acks = store.acknowledgements(WARNING)
    assert sorted(acks["delivery_key"]) == sorted(c.key for c in changes)
    assert _acks_audited(store, WARNING) == 2
    # again: nothing open, nothing recorded twice; refused, naming who was first
    assert main(["stream", "ack", WARNING, "--by", "duty-2"]) == 2
    err = capsys.readouterr().err
    assert "already acknowledged" in err and "by duty-1" in err
    assert len(store.acknowledgements(WARNING)) == 2
    store.close()


def test_ack_with_key_acknowledges_that_change_only(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from riskwarn.stream.delivery import escalate

    store, cfg, changes = _two_red_changes_sent(home, tmp_path)
    assert main(["stream", "ack", WARNING, "--key", changes[0].key, "--by", "duty-1"]) == 0
    later = datetime.now(UTC) + timedelta(hours=2)
    assert escalate(store, cfg, now=later) == 1  # the other change goes on to duty-2
    assert main(["stream", "ack", WARNING, "--key", "nope", "--by", "duty-1"]) != 0
    assert "no delivered change 'nope'" in capsys.readouterr().err
    assert len(store.acknowledgements(WARNING)) == 1
    store.close()


def test_ack_of_an_unknown_warning_fails_and_records_nothing(
    home: Path, capsys: pytest.CaptureFixture
) -> None:
    from riskwarn.settings import Settings
    from riskwarn.store import Store

    assert main(["stream", "ack", "nope", "--by", "me"]) != 0
    captured = capsys.readouterr()
    assert "acknowledged nope" not in captured.out
    assert "no delivery of warning 'nope'" in captured.err
    assert "nothing acknowledged" in captured.err
    store = Store.from_settings(Settings(home=home))
    assert store.acknowledgements("nope").empty
    assert _acks_audited(store, "nope") == 0
    store.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _riskwarn(args: list[str], env: dict[str, str], timeout: float = 120):
    import os
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "riskwarn")
    return subprocess.run(
        [exe, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )


def test_replay_with_no_broker_one_line_and_the_env_port(home: Path, tmp_path: Path) -> None:
    """D9: nothing on the port: one line naming host:port, exit 2, no traceback; the port
    comes from RISKWARN_MQTT_PORT (as scripts/services.sh), an explicit --port wins."""
    sim = tmp_path / "sim"
    sim.mkdir()
    env_port, flag_port = _free_port(), _free_port()
    env = {"RISKWARN_HOME": str(home), "RISKWARN_MQTT_PORT": str(env_port)}
    got = _riskwarn(["stream", "replay", "--sim", str(sim)], env)
    assert "Traceback" not in got.stderr
    assert got.returncode == 2
    assert got.stderr.strip().splitlines() == [
        f"error: cannot reach the MQTT broker at 127.0.0.1:{env_port}: Connection refused "
        "(start it: scripts/services.sh up mosquitto; the port comes from --port, else "
        "RISKWARN_MQTT_PORT, else 1884)"
    ]
    got = _riskwarn(["stream", "--port", str(flag_port), "replay", "--sim", str(sim)], env)
    assert got.returncode == 2 and f"127.0.0.1:{flag_port}:" in got.stderr


def test_consumer_with_no_broker_exits_with_one_line(home: Path) -> None:
    """D9: the consumer used to run silently with nothing on the port. It waits
    ``--connect-wait-s`` (default 30 s) for a broker, then stops: 2 s here (the old code
    ran on until the subprocess timeout)."""
    port = _free_port()
    env = {"RISKWARN_HOME": str(home), "RISKWARN_MQTT_PORT": str(port)}
    got = _riskwarn(["stream", "--connect-wait-s", "2", "--no-model"], env, timeout=60)
    assert got.returncode == 2 and "Traceback" not in got.stderr
    assert (
        got.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot reach the MQTT broker at 127.0.0.1:{port}: Connection refused")
    )
    assert "waiting up to 2 s" in got.stderr  # it waited, as long as it was told
