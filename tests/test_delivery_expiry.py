"""Deliveries of warnings no longer in force are never sent (2026-12-05).

A home with contacts that replayed old readings queued e-mails and webhooks for
warnings whose validity had ended, and the sender sent them: a duty officer was paged
for a warning no longer in force. Now the store logs such a delivery ``expired`` (never
pending), a queued one whose warning ends while it waits becomes ``expired`` when it
comes due instead of being sent, and each is audited (``delivery_expired``). A warning
whose level held and was published again (a later ``valid_to`` in the store) is still in
force: its queued message goes out. "Now" is the store's clock (the wall clock), never
the readings' time. SQLite and PostgreSQL; a real local webhook receiver.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import Webhook

DOMAIN = "geohazard_stream"
# deliver_due's counts of rows not sent for the officer's sake (since 2026-12-06)
NOT_SENT = {"superseded": 0, "unpaged": 0, "cancelled": 0, "maybe_sent": 0}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


class Clock:
    """The store's clock, moved by the test (the wall clock in service)."""

    def __init__(self) -> None:
        self.now = pd.Timestamp.now(tz="UTC").floor("s")

    def __call__(self) -> datetime:
        return self.now.to_pydatetime()


def _cfg(hook: Webhook) -> Any:
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    return DeliveryConfig(
        contacts={"duty-1": Contact("duty-1", webhook=True)},
        default=["duty-1"],
        webhook_url=hook.url,
        webhook_secret="s" * 32,
    )


def _publish(
    store: Any, run: str, at: pd.Timestamp, deliveries: list[Any], wid: str | None = None
) -> str:
    """A stream run with a red warning at H1 whose origin (event time) is ``at`` (id
    ``wid``: the episode's, as the stream keeps it), and ``deliveries`` logged in its
    transaction, as the consumer publishes a change."""
    from riskwarn import warnings as rw

    run_id = f"{DOMAIN}:{run}"
    store.stage_run(
        {"run_id": run_id, "domain": DOMAIN, "origin": at.to_pydatetime(), "horizon_hours": 24.0}
    )
    valid_to = at + pd.Timedelta(hours=24)
    store.write_forecasts(
        run_id,
        pd.DataFrame(
            {
                "unit_type": ["site"],
                "unit_id": ["H1"],
                "origin": [at],
                "valid_to": [valid_to],
                "score": [4.0],
            }
        ),
    )
    levels = pd.DataFrame({"unit_id": ["H1"], "probability": [None], "level_rank": [4]})
    ctx = rw.WarningContext(DOMAIN, "site", at, 24.0)
    warnings = rw.build_warnings(levels, ctx)
    if wid is not None:
        warnings["warning_id"] = wid
    store.write_warnings(run_id, warnings)
    return str(store.publish_run(run_id, actor="stream", deliveries=deliveries))


def _red(at: pd.Timestamp, episode: pd.Timestamp | None = None) -> Any:
    from riskwarn import warnings as rw
    from riskwarn.stream.publish import LevelChange

    wid = rw.warning_id(DOMAIN, "H1", episode if episode is not None else at)
    return LevelChange("H1", wid, 0, 4, at)


def _expired_audit(store: Any) -> list[dict[str, Any]]:
    d = store.deliveries()
    return [
        e
        for i in d["delivery_id"]
        for e in store.audit_entries("delivery", str(i), ("delivery_expired",))
    ]


def test_replayed_change_is_logged_expired_and_never_sent(url: str) -> None:
    """A replay of last month's readings publishes a red change 30 days old (event
    time): its deliveries are logged expired in the publishing transaction, audited,
    and the sender sends nothing."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, delivery_rows

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        old = _red(clock.now - pd.Timedelta(days=30))
        rows = delivery_rows(cfg, old, [{"en": "red", "zh": "红色"}])
        assert (
            rows and rows[0]["message"]["valid_to"] == (old.at + pd.Timedelta(hours=24)).isoformat()
        )
        assert _publish(store, "replayed", old.at, rows) == "published"
        d = store.deliveries()
        assert d["status"].tolist() == ["expired"] and d["attempts"].tolist() == [0]
        assert store.due_deliveries() == []
        assert deliver_due(store, cfg) == {
            "sent": 0,
            "retry": 0,
            "failed": 0,
            "expired": 0,
            **NOT_SENT,
        }
        assert hook.received == []
    (entry,) = _expired_audit(store)
    assert entry["actor"] == "stream"
    assert entry["details"]["found"] == "logging"
    assert entry["details"]["delivery_key"] == old.key
    assert entry["details"]["in_force_until"] == (old.at + pd.Timedelta(hours=24)).isoformat()
    # the same change published again (a restart) adds nothing, audits nothing more
    assert store.enqueue_deliveries(rows) == 0
    assert len(store.deliveries()) == 1 and len(_expired_audit(store)) == 1
    store.close()


def test_queued_delivery_whose_warning_ended_is_expired_not_sent(url: str) -> None:
    """A red change queued while in force whose warning ends while it waits (the
    gateway was down for a day): when it comes due it is recorded expired, audited,
    and not sent; the log keeps its failed attempts."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, enqueue

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook)
        change = _red(clock.now - pd.Timedelta(hours=1))
        assert enqueue(store, cfg, change, []) == 1
        assert deliver_due(store, cfg)["retry"] == 1  # the gateway is down
        hook.status = 200
        clock.now += pd.Timedelta(hours=24)  # the warning ended an hour ago
        assert deliver_due(store, cfg) == {
            "sent": 0,
            "retry": 0,
            "failed": 0,
            "expired": 1,
            **NOT_SENT,
        }
        assert deliver_due(store, cfg)["expired"] == 0  # once
        assert hook.received == []  # (the receiver keeps only what it took: 200)
    d = store.deliveries()
    assert d["status"].tolist() == ["expired"] and d["attempts"].tolist() == [1]
    (entry,) = _expired_audit(store)
    assert entry["details"]["found"] == "sending"
    assert entry["details"]["channel"] == "webhook" and entry["details"]["contact_id"] == "duty-1"
    store.close()


def test_warning_published_again_keeps_its_queued_message_in_force(url: str) -> None:
    """A red level that held is published again with a later ``valid_to``: its change,
    a day old, is still in force by the store's warning and is sent."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, delivery_rows

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook)
        start = clock.now - pd.Timedelta(hours=2)
        change = _red(start)
        assert _publish(store, "first", start, delivery_rows(cfg, change, [])) == "published"
        assert deliver_due(store, cfg)["retry"] == 1
        # the level holds: the stream publishes the warning again 20 h later
        _publish(store, "refresh", start + pd.Timedelta(hours=20), [], change.warning_id)
        hook.status = 200
        clock.now += pd.Timedelta(hours=30)  # past the change's own validity
        w = store.warnings(domain=DOMAIN)
        assert w["warning_id"].tolist() == [change.warning_id]
        counts = deliver_due(store, cfg)
        assert counts["sent"] == 1 and counts["expired"] == 0, counts
        assert len(hook.received) == 1  # the receiver keeps what it took (200)
    assert store.deliveries()["status"].tolist() == ["sent"]
    assert _expired_audit(store) == []
    store.close()


def test_the_alarm_log_shows_an_expired_change_as_not_open_in_both_languages(url: str) -> None:
    """The dashboard's alarm log lists a replayed change with its outcome 'expired'
    (Chinese: 已过期未发送) and marks it expired: nobody got it, so it is not counted
    open nor offered for acknowledgement (dashboard/pages/geohazard.py)."""
    from dashboard.views import alarm_outcome
    from riskwarn.store import Store
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import enqueue

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        old, live = _red(clock.now - pd.Timedelta(days=30)), _red(clock.now)
        assert enqueue(store, cfg, old, []) == 0  # logged expired: nothing queued
        assert enqueue(store, cfg, live, []) == 1
    log = alarm_log(store.deliveries(), store.acknowledgements()).set_index("delivery_key")
    store.close()
    assert log.loc[old.key, "sent"] == "webhook:duty-1 expired" and log.loc[old.key, "expired"]
    assert log.loc[live.key, "sent"] == "webhook:duty-1 pending"
    assert not log.loc[live.key, "expired"]
    assert alarm_outcome(log.loc[old.key, "sent"], "zh") == "webhook:duty-1 已过期未发送"
    assert alarm_outcome(log.loc[old.key, "sent"], "en") == "webhook:duty-1 expired"
    two = "email:duty-1 sent, webhook:duty-1 retrying (2 attempts)"
    assert alarm_outcome(two, "zh") == "email:duty-1 已送达，webhook:duty-1 重试中（已尝试 2 次）"


def test_a_change_never_sent_is_not_acknowledged_by_the_cli_nor_the_dashboard(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A replayed change whose every delivery expired unsent (nobody was told) is not
    offered by the dashboard; `riskwarn stream ack` acknowledged it anyway (exit 0, an
    acknowledgement of a message nobody got). Now the store refuses it for every path:
    one `error:` line, exit 2, nothing recorded, the refusal audited; a change in force
    beside it is acknowledged as before."""
    from riskwarn.cli import main
    from riskwarn.store import Store
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import enqueue

    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    monkeypatch.setenv("RISKWARN_PAGING_LANG", "en")  # the English wording is checked
    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        old, live = _red(clock.now - pd.Timedelta(days=30)), _red(clock.now)
        assert enqueue(store, cfg, old, []) == 0  # logged expired: never sent
        assert enqueue(store, cfg, live, []) == 1
    log = alarm_log(store.deliveries(), store.acknowledgements()).set_index("delivery_key")
    assert log.loc[old.key, "expired"] and not log.loc[live.key, "expired"]
    for argv in (["--key", old.key], []):  # the change named, or every change of it
        assert main(["stream", "ack", old.warning_id, *argv, "--by", "duty-1"]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1, err
        assert err.startswith(f"error: warning {old.warning_id} was never sent"), err
        assert old.key in err and "nothing recorded" in err
    # in force and sent: acknowledged as before (a change still queued is not: nobody
    # received it, tests/test_stream_paging_language.py)
    for row in store.due_deliveries():
        store.record_attempt(row["delivery_id"], ok=True)
    assert main(["stream", "ack", live.warning_id, "--by", "duty-1"]) == 0
    assert f"acknowledged {live.warning_id} change {live.key}" in capsys.readouterr().out
    from dashboard import queries
    from riskwarn.store import NeverSentError

    with pytest.raises(NeverSentError):  # the dashboard's path: the same refusal
        queries.acknowledge_alarm(url, old.warning_id, old.key, "officer-a")
    assert store.acknowledgements(old.warning_id).empty
    rejected = store.audit_entries("warning", old.warning_id, ("acknowledge_rejected",))
    assert [e["details"]["never_sent"] for e in rejected] == [[old.key]] * 3
    assert sorted(e["actor"] for e in rejected) == ["duty-1", "duty-1", "officer-a"]
    store.close()


def test_a_delivery_that_expires_after_it_was_read_as_due_is_never_sent(url: str) -> None:
    """The sender read a red change's delivery as due and in force; its warning ended in
    the instant before the send (an earlier row's send took that long). It used to be
    sent all the same; now the send claims the row only while the warning is in force
    (one transaction with the check), so it is recorded expired, audited, not sent."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, enqueue

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    read_due = store.due_deliveries

    def due_then_time_passes(limit: int = 100) -> list[dict[str, Any]]:
        rows = read_due(limit)  # read while in force ...
        clock.now += pd.Timedelta(hours=2)  # ... and the warning ends before the send
        return rows

    with Webhook() as hook:
        cfg = _cfg(hook)
        change = _red(clock.now - pd.Timedelta(hours=23))  # in force one more hour
        assert enqueue(store, cfg, change, []) == 1
        store.due_deliveries = due_then_time_passes  # type: ignore[method-assign]
        counts = deliver_due(store, cfg)
        assert hook.received == [], "sent after its warning ended"
        assert counts == {"sent": 0, "retry": 0, "failed": 0, "expired": 1, **NOT_SENT}
    assert store.deliveries()["status"].tolist() == ["expired"]
    (entry,) = _expired_audit(store)
    assert entry["details"]["found"] == "sending"
    store.close()


def test_a_claimed_delivery_is_sent_by_one_sender_only(url: str) -> None:
    """Two senders (two store connections) claim the same due row: one gets it, the
    other finds it gone; a sender that dies after claiming leaves it due again after
    the lease."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, enqueue

    clock = Clock()
    a, b = Store(url, clock=clock), Store(url, clock=clock)
    a.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        assert enqueue(a, cfg, _red(clock.now - pd.Timedelta(hours=1)), []) == 1
        (due,) = a.due_deliveries()
        outcome, row = a.claim_delivery(due["delivery_id"], lease_s=60)
        assert outcome == "claimed" and row is not None
        assert b.claim_delivery(due["delivery_id"]) == ("gone", None)
        assert b.due_deliveries() == []  # the claimer's for the lease
        clock.now += pd.Timedelta(seconds=61)  # the claimer died without recording
        assert deliver_due(b, cfg)["sent"] == 1 and len(hook.received) == 1
    assert a.deliveries()["status"].tolist() == ["sent"]
    a.close()
    b.close()
