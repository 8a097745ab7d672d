"""Two duty officers acknowledge the same red alarm at the same moment (two concurrent
transactions on PostgreSQL).

What a duty officer expects: the alarm is acknowledged (no escalation to the next
contact) and the log says who took it. Both officers did acknowledge it, each in good
faith, so both acknowledgements are kept (``warning_acks`` is append-only and audited:
an acknowledgement is a statement by a person, never merged away or overwritten), and
the dashboard's alarm log shows both names with the first time. Not "exactly one": a
lost second acknowledgement would hide that two people are acting on the same alarm.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd


def test_two_officers_acknowledge_at_once_both_recorded_no_escalation(
    pg_url: str, tmp_path: Path
) -> None:
    from riskwarn.store import Store
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import enqueue, escalate, load_config
    from riskwarn.stream.publish import LevelChange

    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "escalate_after_minutes: 15\n"
        "contacts:\n"
        "  duty-1: {email: duty1@example.test}\n"
        "  duty-2: {email: duty2@example.test}\n"
        "  duty-3: {email: duty3@example.test}\n"
        "routes: {sites: {H1: [duty-1, duty-2, duty-3]}}\n"
    )
    cfg = load_config(contacts)
    store = Store(pg_url)
    store.upgrade()
    change = LevelChange(
        "H1", "geohazard_stream:H1:20261118T1400Z", 2, 4, pd.Timestamp("2026-11-18T14:00Z")
    )
    assert enqueue(store, cfg, change, [{"en": "red", "zh": "红色"}]) == 1
    (row,) = store.due_deliveries()
    store.record_attempt(row["delivery_id"], ok=True)  # sent to duty-1

    officers = ["officer-a", "officer-b"]
    stores = [Store(pg_url) for _ in officers]
    barrier = threading.Barrier(len(officers))
    got: dict[str, Any] = {}

    def ack(i: int) -> None:
        barrier.wait()
        try:
            got[officers[i]] = stores[i].acknowledge(
                change.warning_id, officers[i], delivery_key=change.key, via="dashboard"
            )
        except Exception as exc:  # recorded: the assertion below names it
            got[officers[i]] = exc

    threads = [threading.Thread(target=ack, args=(i,)) for i in range(len(officers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(isinstance(v, int) for v in got.values()), got
    acks = store.acknowledgements(change.warning_id)
    assert sorted(acks["acknowledged_by"]) == officers  # both kept, once each
    assert set(acks["delivery_key"]) == {change.key}
    assert store.acknowledged(change.key)
    # long past the escalation time: nobody else is called
    later = datetime.now(UTC) + timedelta(hours=2)
    assert escalate(store, cfg, now=later) == 0
    log = store.deliveries()
    assert list(log["contact_id"]) == ["duty-1"]
    # the dashboard's alarm log: both names, the first time
    shown = alarm_log(log, acks)
    (line,) = shown.to_dict("records")
    assert sorted(line["acknowledged_by"].split(", ")) == officers
    assert line["acknowledged_at"] == pd.to_datetime(acks["acknowledged_at"], utc=True).min()
    # audited: one audit event per acknowledgement
    audited = store.audit_entries("warning", change.warning_id, ("acknowledge_warning",))
    assert sorted(e["actor"] for e in audited) == officers
    for s in [store, *stores]:
        s.close()
