"""`riskwarn stream` command lines an operator types: `ack` with and without --key and
for a warning that does not exist (D8), and the broker commands with no broker on the
port (D9), on the real store and a real (private) Mosquitto broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.cli import main

WARNING = "geohazard_stream:H1:20261118T1400Z"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
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
        LevelChange("H1", WARNING, 2, 4, pd.Timestamp("2026-11-18T14:00Z")),
        LevelChange("H1", WARNING, 3, 4, pd.Timestamp("2026-11-18T16:00Z")),
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
    # again: nothing open, nothing recorded twice
    assert main(["stream", "ack", WARNING, "--by", "duty-1"]) == 0
    assert "already acknowledged" in capsys.readouterr().out
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
