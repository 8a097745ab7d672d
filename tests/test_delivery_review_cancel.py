"""A warning the review panel dismissed is not paged, nor escalated (2026-12-06).

A red change queued while the webhook gateway was down was sent after the panel had
dismissed its warning ("sensor fault, false alarm"), and escalated to the next contact
40 minutes later; on the catch-up path an expired change was put back to pending and
sent after a dismissal. The sender, the requeue and the escalation judged only the
warning's validity. Now one predicate (``riskwarn.store.deliveries.review_stops_paging``)
asks whether the panel still wants the warning paged at the change's level: not when it
dismissed it, or adjusted it below that level; an adjust up never suppresses. The claim
judges it in its transaction (the row is recorded ``cancelled``, audited
``delivery_cancelled`` with who decided and when), the requeue leaves such rows
expired, the escalation adds nothing. SQLite and PostgreSQL; a real local webhook
receiver; the store's clock is moved by the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import Webhook

DOMAIN = "geohazard_stream"


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

    def __call__(self) -> Any:
        return self.now.to_pydatetime()


def _cfg(hook: Webhook, contacts: tuple[str, ...] = ("duty-1", "boss", "director")) -> Any:
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    return DeliveryConfig(
        contacts={c: Contact(c, webhook=True) for c in contacts},
        default=list(contacts),
        webhook_url=hook.url,
        webhook_secret="s" * 32,
        escalate_after_minutes=30,
    )


def _wid(site: str, start: pd.Timestamp) -> str:
    from riskwarn import warnings as rw

    return rw.warning_id(DOMAIN, site, start)


def _publish(
    store: Any,
    run: str,
    at: pd.Timestamp,
    levels: dict[str, int],
    deliveries: list[Any],
    ids: dict[str, str] | None = None,
) -> str:
    """A stream run whose origin (event time) is ``at`` with a warning per site of
    ``levels`` (site -> level rank; id ``ids[site]``, the episode's, when given) and
    ``deliveries`` logged in its transaction, as the consumer publishes a change."""
    from riskwarn import warnings as rw

    run_id = f"{DOMAIN}:{run}"
    sites = sorted(levels)
    store.stage_run(
        {"run_id": run_id, "domain": DOMAIN, "origin": at.to_pydatetime(), "horizon_hours": 24.0}
    )
    store.write_forecasts(
        run_id,
        pd.DataFrame(
            {
                "unit_type": ["site"] * len(sites),
                "unit_id": sites,
                "origin": [at] * len(sites),
                "valid_to": [at + pd.Timedelta(hours=24)] * len(sites),
                "score": [float(levels[s]) for s in sites],
            }
        ),
    )
    frame = pd.DataFrame(
        {
            "unit_id": sites,
            "probability": [None] * len(sites),
            "level_rank": [levels[s] for s in sites],
        }
    )
    warnings = rw.build_warnings(frame, rw.WarningContext(DOMAIN, "site", at, 24.0))
    for site, wid in (ids or {}).items():
        warnings.loc[warnings["unit_id"] == site, "warning_id"] = wid
    store.write_warnings(run_id, warnings)
    return str(store.publish_run(run_id, actor="stream", deliveries=deliveries))


def _change(site: str, start: pd.Timestamp, from_rank: int, to_rank: int, at: Any = None) -> Any:
    from riskwarn.stream.publish import LevelChange

    return LevelChange(site, _wid(site, start), from_rank, to_rank, start if at is None else at)


def _review(store: Any, wid: str, action: str, reason: str, level: str | None = None) -> None:
    (version,) = store.warnings(domain=DOMAIN).set_index("warning_id").loc[[wid], "version"]
    store.review_warning(wid, action, reason, "panel-lead", int(version), level=level)


def _cancelled_audit(store: Any) -> list[dict[str, Any]]:
    return [
        e
        for i in store.deliveries()["delivery_id"]
        for e in store.audit_entries("delivery", str(i), ("delivery_cancelled",))
    ]


def _steps(store: Any) -> list[tuple[str, int, str]]:
    d = store.deliveries()
    return list(zip(d["contact_id"], d["escalation_step"].astype(int), d["status"], strict=True))


def test_a_dismissed_red_queued_in_an_outage_is_cancelled_not_sent_nor_escalated(
    url: str,
) -> None:
    """The reviewer's reproduction: a red change queued while the webhook returns 503;
    the panel dismisses the warning; with the gateway back the sender used to send it
    (and escalate it 40 minutes later). Now it is recorded cancelled, audited with who
    dismissed it and when, never sent, never escalated, never offered for
    acknowledgement."""
    from riskwarn.store import NeverSentError, Store
    from riskwarn.stream.delivery import deliver_due, delivery_rows, escalate

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook)
        start = clock.now - pd.Timedelta(hours=1)
        red = _change("H1", start, 0, 4)
        assert (
            _publish(store, "first", start, {"H1": 4}, delivery_rows(cfg, red, [])) == "published"
        )
        assert deliver_due(store, cfg)["retry"] == 1  # the gateway is down
        _review(store, red.warning_id, "dismiss", "sensor fault, false alarm")
        dismissed_at = clock.now
        hook.status = 200
        clock.now += pd.Timedelta(minutes=5)
        counts = deliver_due(store, cfg)
        assert hook.received == [], "paged for a dismissed warning"
        assert counts == {
            "sent": 0,
            "retry": 0,
            "failed": 0,
            "expired": 0,
            "superseded": 0,
            "unpaged": 0,
            "cancelled": 1,
            "maybe_sent": 0,
        }
        clock.now += pd.Timedelta(minutes=40)
        assert escalate(store, cfg, now=clock.now.to_pydatetime()) == 0
        assert deliver_due(store, cfg)["sent"] == 0 and hook.received == []
    assert _steps(store) == [("duty-1", 0, "cancelled")]
    assert store.deliveries()["attempts"].tolist() == [1]  # the failed attempt stays logged
    (entry,) = _cancelled_audit(store)
    assert entry["actor"] == "stream"
    details = entry["details"]
    assert details["review"] == "dismissed" and details["review_action"] == "dismiss"
    assert details["reviewed_by"] == "panel-lead"
    assert pd.Timestamp(details["reviewed_at"]) == dismissed_at
    assert details["delivery_key"] == red.key and details["to_level"] == "red"
    assert details["contact_id"] == "duty-1" and details["escalation_step"] == 0
    with pytest.raises(NeverSentError, match="cancelled by review"):  # nobody was told
        store.acknowledge_delivered(red.warning_id, "duty-1")
    store.close()


def test_a_red_sent_then_dismissed_stops_its_escalation(url: str) -> None:
    """A red sent to the duty officer is escalated to the next contact after 30 minutes
    unacknowledged; while that escalation waits for the gateway the panel dismisses the
    warning: the queued escalation is cancelled, not sent, and no further step is added
    (it used to page the boss and then the director)."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, delivery_rows, escalate

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        start = clock.now - pd.Timedelta(hours=1)
        red = _change("H1", start, 0, 4)
        _publish(store, "first", start, {"H1": 4}, delivery_rows(cfg, red, []))
        assert deliver_due(store, cfg)["sent"] == 1  # paged before any review: right
        clock.now += pd.Timedelta(minutes=31)
        assert escalate(store, cfg, now=clock.now.to_pydatetime()) == 1  # to the boss
        hook.status = 503
        assert deliver_due(store, cfg)["retry"] == 1
        _review(store, red.warning_id, "dismiss", "sensor fault, false alarm")
        hook.status = 200
        clock.now += pd.Timedelta(minutes=5)
        counts = deliver_due(store, cfg)
        paged = [m["contact_id"] for m in hook.bodies()]
        assert paged == ["duty-1"], f"escalated after the dismissal: {paged}"
        assert counts["cancelled"] == 1
        clock.now += pd.Timedelta(hours=1)
        assert escalate(store, cfg, now=clock.now.to_pydatetime()) == 0
        assert deliver_due(store, cfg)["sent"] == 0
        assert [m["contact_id"] for m in hook.bodies()] == ["duty-1"]
    assert _steps(store) == [("duty-1", 0, "sent"), ("boss", 1, "cancelled")]
    (entry,) = _cancelled_audit(store)
    assert entry["details"]["escalation_step"] == 1 and entry["details"]["contact_id"] == "boss"
    store.close()


def test_the_escalation_of_a_sent_red_asks_the_review_first(url: str) -> None:
    """A red sent, then dismissed before its escalation is due: nothing is added."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, delivery_rows, escalate

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        start = clock.now - pd.Timedelta(hours=1)
        red = _change("H1", start, 0, 4)
        _publish(store, "first", start, {"H1": 4}, delivery_rows(cfg, red, []))
        assert deliver_due(store, cfg)["sent"] == 1
        _review(store, red.warning_id, "adjust", "one sensor only", level="orange")
        clock.now += pd.Timedelta(minutes=40)
        assert escalate(store, cfg, now=clock.now.to_pydatetime()) == 0  # set below red
    assert _steps(store) == [("duty-1", 0, "sent")]
    store.close()


def test_an_adjust_below_the_change_cancels_it_and_an_adjust_up_still_pages(url: str) -> None:
    """Site H1 went orange, then red, both queued while the gateway was down; the panel
    sets it to orange: the red change is cancelled, the orange one is still sent (the
    panel wants orange). Site H2's orange the panel raised to red: not suppressed, sent
    as logged. Site H3's red set to yellow (a level nobody is paged for): cancelled."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, delivery_rows

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook, ("duty-1",))
        start = clock.now - pd.Timedelta(hours=2)
        later = start + pd.Timedelta(hours=1)
        h1_orange, h2_orange = _change("H1", start, 0, 3), _change("H2", start, 0, 3)
        h3_red = _change("H3", start, 0, 4)
        rows = [r for c in (h1_orange, h2_orange, h3_red) for r in delivery_rows(cfg, c, [])]
        ids = {"H1": h1_orange.warning_id, "H2": h2_orange.warning_id, "H3": h3_red.warning_id}
        _publish(store, "first", start, {"H1": 3, "H2": 3, "H3": 4}, rows, ids)
        h1_red = _change("H1", start, 3, 4, at=later)
        _publish(
            store, "second", later, {"H1": 4, "H2": 3, "H3": 4}, delivery_rows(cfg, h1_red, []), ids
        )
        # the net change: H1's orange is superseded by its red (pending), the rest retry
        first = deliver_due(store, cfg)
        assert (first["retry"], first["superseded"]) == (3, 1), first
        _review(store, h1_red.warning_id, "adjust", "one sensor only", level="orange")
        _review(store, h2_orange.warning_id, "adjust", "slope moving fast", level="red")
        _review(store, h3_red.warning_id, "adjust", "dry season, stable", level="yellow")
        hook.status = 200
        clock.now += pd.Timedelta(minutes=10)
        counts = deliver_due(store, cfg)
        # H1's red cancelled: the orange it superseded is judged again, sent next loop
        again = deliver_due(store, cfg)
        assert deliver_due(store, cfg)["sent"] == 0
        sent = sorted((m["site_id"], m["change"], m["to_level"]) for m in hook.bodies())
    assert sent == [("H1", "new", "orange"), ("H2", "new", "orange")], sent
    assert counts["sent"] + again["sent"] == 2 and counts["cancelled"] == 2, (counts, again)
    d = store.deliveries().set_index("delivery_key")
    assert d.loc[h1_red.key, "status"] == "cancelled" and d.loc[h3_red.key, "status"] == "cancelled"
    assert d.loc[h1_orange.key, "status"] == "sent"
    (back,) = store.audit_entries(
        "delivery", str(d.loc[h1_orange.key, "delivery_id"]), ("delivery_rejudged",)
    )
    assert back["details"]["cancelled"] == h1_red.key
    reasons = {e["details"]["delivery_key"]: e["details"] for e in _cancelled_audit(store)}
    assert reasons[h1_red.key]["review"] == "adjusted_below"
    assert reasons[h1_red.key]["reviewed_level"] == "orange"
    assert reasons[h3_red.key]["reviewed_level"] == "yellow"
    store.close()


def test_a_dismissal_between_the_read_and_the_send_is_honoured(url: str) -> None:
    """The sender read the row as due; the panel dismissed the warning in the instant
    before its claim (another session): the claim, which judges the review in its own
    transaction, records it cancelled instead of handing it out for sending."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import delivery_rows

    clock = Clock()
    sender, panel = Store(url, clock=clock), Store(url, clock=clock)
    sender.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        start = clock.now - pd.Timedelta(hours=1)
        red = _change("H1", start, 0, 4)
        _publish(sender, "first", start, {"H1": 4}, delivery_rows(cfg, red, []))
        (due,) = sender.due_deliveries()
        _review(panel, red.warning_id, "dismiss", "false alarm")
        outcome, row = sender.claim_delivery(due["delivery_id"])
        assert outcome == "cancelled" and row is not None
        assert sender.claim_delivery(due["delivery_id"]) == ("gone", None)
    assert sender.deliveries()["status"].tolist() == ["cancelled"]
    sender.close()
    panel.close()


def test_the_catch_up_does_not_requeue_a_dismissed_warning_until_it_is_reinstated(
    url: str,
) -> None:
    """A red change the stream caught up on late (30 h ago: logged expired); the panel
    dismisses the warning; the held level published again (in force until tomorrow)
    used to put the change back to pending and page it. Now it stays expired (no
    ``delivery_requeued``). The panel reinstates the warning (accept): the next
    publication requeues it and it is sent once."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, delivery_rows

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook, ("duty-1",))
        start = clock.now - pd.Timedelta(hours=30)
        red = _change("H1", start, 0, 4)
        ids = {"H1": red.warning_id}
        _publish(store, "old", start, {"H1": 4}, delivery_rows(cfg, red, []), ids)
        assert store.deliveries()["status"].tolist() == ["expired"]
        _review(store, red.warning_id, "dismiss", "false alarm")
        _publish(store, "catchup", clock.now - pd.Timedelta(hours=1), {"H1": 4}, [], ids)
        assert store.deliveries()["status"].tolist() == ["expired"]
        assert deliver_due(store, cfg)["sent"] == 0 and hook.received == []
        i = str(store.deliveries()["delivery_id"].iloc[0])
        assert store.audit_entries("delivery", i, ("delivery_requeued",)) == []
        _review(store, red.warning_id, "accept", "checked on site: it is moving")
        _publish(store, "catchup2", clock.now - pd.Timedelta(minutes=30), {"H1": 4}, [], ids)
        assert deliver_due(store, cfg)["sent"] == 1
        assert [m["delivery_key"] for m in hook.bodies()] == [red.key]
    assert len(store.audit_entries("delivery", i, ("delivery_requeued",))) == 1
    store.close()


def test_a_requeued_change_dismissed_before_its_send_is_cancelled(url: str) -> None:
    """The reviewer's catch-up reproduction: an expired change put back to pending by a
    catch-up publication, then the warning dismissed: not sent, cancelled."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, delivery_rows

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook, ("duty-1",))
        start = clock.now - pd.Timedelta(hours=30)
        red = _change("H1", start, 0, 4)
        ids = {"H1": red.warning_id}
        _publish(store, "old", start, {"H1": 4}, delivery_rows(cfg, red, []), ids)
        _publish(store, "catchup", clock.now - pd.Timedelta(hours=1), {"H1": 4}, [], ids)
        assert store.deliveries()["status"].tolist() == ["pending"]
        _review(store, red.warning_id, "dismiss", "false alarm")
        _publish(store, "catchup2", clock.now - pd.Timedelta(minutes=30), {"H1": 4}, [], ids)
        counts = deliver_due(store, cfg)
        assert hook.received == [] and counts["sent"] == 0 and counts["cancelled"] == 1
    assert store.deliveries()["status"].tolist() == ["cancelled"]
    store.close()


def test_cancelled_deliveries_are_shown_in_the_alarm_log_and_status_in_both_languages(
    url: str, tmp_path: Path
) -> None:
    """The dashboard's alarm log lists a cancelled change (``webhook:duty-1 cancelled``,
    Chinese 复核后取消发送), marks it cancelled and never sent (not open, not offered
    for acknowledgement) and its caption says why, in English and Chinese;
    ``riskwarn stream --status`` counts the cancelled deliveries."""
    pytest.importorskip("streamlit")
    from dashboard.views import alarm_log_caption, alarm_outcome
    from riskwarn.store import Store
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import deliver_due, delivery_rows
    from riskwarn.stream.status import status_line

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook, ("duty-1",))
        start = clock.now - pd.Timedelta(hours=1)
        red = _change("H1", start, 0, 4)
        _publish(store, "first", start, {"H1": 4}, delivery_rows(cfg, red, []))
        _review(store, red.warning_id, "dismiss", "false alarm")
        done = deliver_due(store, cfg)
    log = alarm_log(store.deliveries(), store.acknowledgements()).set_index("delivery_key")
    store.close()
    assert log.loc[red.key, "sent"] == "webhook:duty-1 cancelled"
    assert log.loc[red.key, "cancelled"] and log.loc[red.key, "expired"]
    assert alarm_outcome(log.loc[red.key, "sent"], "zh") == "webhook:duty-1 复核后取消发送"
    en, zh = (alarm_log_caption(log.reset_index(), lang) for lang in ("en", "zh"))
    assert en.startswith("No orange/red warning change was sent")  # before: "The latest 0"
    assert "no red change waits for an acknowledgement." in en
    assert "1 change was cancelled by review (the panel dismissed its warning" in en
    assert "never sent (every delivery expired" not in en
    assert "另有 1 次变化的推送因复核取消、未发送" in zh and "已过期" not in zh
    path = tmp_path / "status.json"
    path.write_text(
        json.dumps(
            {
                "pid": 0,
                "running": False,
                "source": "demo",
                "broker": "127.0.0.1:1883",
                "received": 1,
                "accepted": 1,
                "quarantined": 0,
                "queued": 0,
                "sensors": 1,
                "warned_sites": 1,
                "level_changes": 1,
                "deliveries_logged": 1,
                "deliveries_cancelled": done["cancelled"],
                "last_write_at": None,
                "updated_at": "2026-12-06T02:00:00+00:00",
            }
        )
    )
    line = status_line(path)
    assert "1 deliveries (1 cancelled by review, not sent / 复核后取消发送);" in line
