"""A failed page is tried again only while it is still the warning's news for its
contact (review 2026-12-06 of the failed-delivery retries).

* HIGH: a failed escalation (the boss's webhook down) was tried again until its own
  ``valid_to`` (24 h) whatever happened to the warning: the warning ended, the end was
  paged to duty-1, the gateway came back, and the boss got "escalated -> red" about a
  warning that had ended. The net-change judgement ran for step-0 rows only. Now a
  failed or pending escalation whose warning has a later change is recorded
  ``superseded`` (at the retry and at the claim) and ``escalate`` does not pass such a
  change on. So for a first page: a red that never reached duty-1 is not sent after the
  warning ended before they heard of it.
* MEDIUM: ``Store.failed_deliveries`` (the status line) and the dashboard's banner
  counted failures that are never tried again (acknowledged via the next contact, the
  warning ended, paging stopped by review); such a failure is said as final in the
  alarm log instead (``Store.final_failures``), in English and Chinese.
* MEDIUM: ``retry_failed`` and ``failed_deliveries`` judged every failed row ever in
  Python on each sender loop; the failures of warnings long ended are left out in SQL.
* LOW: two senders logging the same escalation at once on PostgreSQL: the second raised
  IntegrityError (select, then insert); now ``INSERT ... ON CONFLICT DO NOTHING``.

SQLite and PostgreSQL; a real webhook receiver and SMTP server (testkit); the store's
clock is moved by the test.
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import Webhook, smtp_server
from tests.test_delivery_failed import DOMAIN, Clock, _cfg, _fail_out, _publish, _queued, url

__all__ = ["url"]  # the SQLite/PostgreSQL fixture


def _two_contacts(hook: Webhook, port: int) -> Any:
    """duty-1 by e-mail (a live SMTP server), the boss by the webhook; 3 attempts."""
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    return DeliveryConfig(
        contacts={
            "duty-1": Contact("duty-1", email="d1@example.test"),
            "boss": Contact("boss", webhook=True),
        },
        default=["duty-1", "boss"],
        smtp_port=port,
        webhook_url=hook.url,
        webhook_secret="s" * 32,
        escalate_after_minutes=30,
        retry_base_s=0.0,
        max_attempts=3,
        timeout_s=5.0,
    )


def _change(start: pd.Timestamp, from_rank: int, to_rank: int, minutes: float) -> Any:
    """A change of H1's warning that started at ``start``, ``minutes`` after its
    start."""
    from riskwarn import warnings as rw
    from riskwarn.stream.publish import LevelChange

    wid = rw.warning_id(DOMAIN, "H1", start)
    return LevelChange("H1", wid, from_rank, to_rank, start + pd.Timedelta(minutes=minutes))


def _log(store: Any, cfg: Any, change: Any, run: str) -> None:
    from riskwarn.stream.delivery import delivery_rows

    rows = delivery_rows(cfg, change, [{"en": "x", "zh": "x"}])
    _publish(store, run, change.at, change.to_rank, rows)


def _rows(store: Any) -> list[tuple[str, int, str, str]]:
    d = store.deliveries()
    return list(
        zip(
            d["contact_id"],
            d["escalation_step"].astype(int),
            d["change"],
            d["status"],
            strict=True,
        )
    )


def test_a_failed_escalation_is_not_retried_after_its_warning_ended(url: str) -> None:
    """The reviewer's reproduction: red sent to duty-1, not acknowledged, escalated to
    the boss, whose webhook answers 503 until the page is failed; the warning ends and
    the end is paged to duty-1; the gateway comes back. The boss used to get "escalated
    -> red" 15 minutes later (and every 10 minutes while failing, for 24 h). Now the
    boss's row is superseded by the end, audited, and nothing goes to the boss."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, escalate

    clock = Clock()
    start = clock.now - pd.Timedelta(hours=1)
    store = Store(url, clock=clock)
    store.upgrade()
    with smtp_server() as (port, mails), Webhook(status=503) as hook:
        cfg = _two_contacts(hook, port)
        red = _change(start, 0, 4, 0)
        _log(store, cfg, red, "first")
        assert deliver_due(store, cfg)["sent"] == 1
        clock.now += pd.Timedelta(minutes=31)
        assert escalate(store, cfg, now=clock()) == 1
        for _ in range(3):
            deliver_due(store, cfg)
            clock.now += pd.Timedelta(minutes=1)
        assert _rows(store) == [("duty-1", 0, "new", "sent"), ("boss", 1, "escalated", "failed")]
        assert len(store.failed_deliveries()) == 1  # tried again while news
        ended = _change(start, 4, 0, 40)
        _log(store, cfg, ended, "second")
        assert deliver_due(store, cfg)["sent"] == 1  # the end, to duty-1
        assert store.failed_deliveries().empty  # not to be tried again: no banner
        hook.status = 200
        for _ in range(3):
            clock.now += pd.Timedelta(minutes=15)
            deliver_due(store, cfg)
            assert escalate(store, cfg, now=clock()) == 0
        assert hook.bodies() == [], "the boss was paged a red that had ended"
        assert len(mails) == 2
    assert _rows(store) == [
        ("duty-1", 0, "new", "sent"),
        ("boss", 1, "escalated", "superseded"),
        ("duty-1", 0, "ended", "sent"),
    ]
    boss = int(store.deliveries()["delivery_id"][1])
    (entry,) = store.audit_entries("delivery", str(boss), ("delivery_superseded",))
    assert entry["details"]["superseded_by"] == ended.key
    assert entry["details"]["escalation_step"] == 1 and entry["details"]["attempts"] == 3
    assert store.audit_entries("delivery", str(boss), ("delivery_retried",)) == []
    store.close()


def test_a_pending_escalation_is_not_sent_once_its_warning_was_lowered(url: str) -> None:
    """The escalation is queued (not sent yet: the sender is busy) when the red is
    lowered to orange: its claim records it superseded by the lowering (the old claim
    judged escalations by their own validity only and sent the boss the red)."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, escalate

    clock = Clock()
    start = clock.now - pd.Timedelta(hours=1)
    store = Store(url, clock=clock)
    store.upgrade()
    with smtp_server() as (port, mails), Webhook() as hook:
        cfg = _two_contacts(hook, port)
        _log(store, cfg, _change(start, 0, 4, 0), "first")
        assert deliver_due(store, cfg)["sent"] == 1
        clock.now += pd.Timedelta(minutes=31)
        assert escalate(store, cfg, now=clock()) == 1
        lowered = _change(start, 4, 3, 40)
        _log(store, cfg, lowered, "second")
        counts = deliver_due(store, cfg)
        assert hook.bodies() == []
        assert counts["superseded"] == 1 and counts["sent"] == 1
        assert len(mails) == 2  # duty-1: the red, then the lowering
    assert _rows(store) == [
        ("duty-1", 0, "new", "sent"),
        ("boss", 1, "escalated", "superseded"),
        ("duty-1", 0, "lowered", "sent"),
    ]
    store.close()


def test_a_red_is_not_escalated_once_its_warning_changed_since(url: str) -> None:
    """Red sent to duty-1 and not acknowledged; 20 minutes later it is lowered to
    orange (sent to duty-1). At the escalation delay the boss is not paged the red (was:
    one row added, the boss paged a level that is over); an orange delivered is not
    escalated either."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, escalate

    clock = Clock()
    start = clock.now - pd.Timedelta(hours=1)
    store = Store(url, clock=clock)
    store.upgrade()
    with smtp_server() as (port, _mails), Webhook() as hook:
        cfg = _two_contacts(hook, port)
        _log(store, cfg, _change(start, 0, 4, 0), "first")
        assert deliver_due(store, cfg)["sent"] == 1
        _log(store, cfg, _change(start, 4, 3, 20), "second")
        assert deliver_due(store, cfg)["sent"] == 1
        clock.now += pd.Timedelta(minutes=31)
        assert escalate(store, cfg, now=clock()) == 0, "a red lowered since was escalated"
        assert hook.bodies() == []
    store.close()


def test_a_first_page_that_failed_is_not_sent_after_its_warning_ended_unheard(url: str) -> None:
    """duty-1's gateway is down: the red fails; the warning ends before duty-1 heard of
    it (the end is not paged: ``unpaged``); the gateway comes back. The retried red used
    to be sent after the end (the claim did not count a later change not paged); now
    it is superseded at the retry and nothing is sent."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due

    clock = Clock()
    start = clock.now - pd.Timedelta(hours=1)
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook, duty1_email=False)
        _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
        _log(store, cfg, _change(start, 4, 0, 40), "second")
        assert deliver_due(store, cfg)["unpaged"] == 1
        hook.status = 200
        clock.now += pd.Timedelta(minutes=15)
        deliver_due(store, cfg)
        assert hook.bodies() == [], "a red was paged after its warning ended"
    assert _rows(store) == [("duty-1", 0, "new", "superseded"), ("duty-1", 0, "ended", "unpaged")]
    store.close()


@pytest.mark.parametrize("case", ["acknowledged", "ended", "stopped"])
def test_a_failure_not_tried_again_is_final_not_delivery_failed(url: str, case: str) -> None:
    """duty-1 not reached (failed). Then: the boss, paged in their place, acknowledges
    (the reviewer's reproduction); or 3 days pass (the warning ended 2 days ago); or the
    panel dismisses the warning. The failure is not tried again, so neither the status
    line's count (``failed_deliveries``) nor the dashboard's red banner counts it (both
    did, the banner for ever); the alarm log says it is final and why, in both
    languages."""
    pytest.importorskip("streamlit")
    from dashboard.views import alarm_log_failed, alarm_outcome
    from riskwarn.store import Store
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import deliver_due, escalate

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        red = _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
        assert len(store.failed_deliveries()) == 1 and store.final_failures() == {}
        if case == "acknowledged":
            clock.now += pd.Timedelta(minutes=30)
            escalate(store, cfg, now=clock())
            assert deliver_due(store, cfg)["sent"] == 1
            store.acknowledge_delivered(red.warning_id, "boss", delivery_key=red.key)
            clock.now += pd.Timedelta(hours=2)
        elif case == "ended":
            clock.now += pd.Timedelta(days=3)
        else:
            (version,) = store.warnings(domain=DOMAIN)["version"]
            store.review_warning(red.warning_id, "dismiss", "false alarm", "lead", int(version))
    assert store.retry_failed() == []
    assert store.failed_deliveries().empty
    (duty1,) = store.deliveries().query("contact_id == 'duty-1'")["delivery_id"]
    assert store.final_failures() == {int(duty1): case}
    log = alarm_log(store.deliveries(), store.acknowledgements(), final=store.final_failures())
    row = log.set_index("delivery_key").loc[red.key]
    assert not row["failed"]
    assert alarm_log_failed(log, "en") is None and alarm_log_failed(log, "zh") is None
    tag = str(row["sent"]).split(", ")[0]
    assert tag.startswith(f"email:duty-1 failed-{case} (")
    why = {
        "acknowledged": ("the change was acknowledged", "该变化已有人签收"),
        "ended": ("the warning is no longer in force", "预警已不在有效期内"),
        "stopped": ("the review panel stopped its paging", "审核已停止该预警的推送"),
    }[case]
    en, zh = alarm_outcome(tag, "en"), alarm_outcome(tag, "zh")
    assert en.startswith(f"email:duty-1 not reached (not tried again: {why[0]})")
    assert zh.startswith(f"email:duty-1 未送达（{why[1]}，不再重试）")
    if case == "acknowledged":  # the acknowledgements alone tell this one
        plain = alarm_log(store.deliveries(), store.acknowledgements())
        assert not plain.set_index("delivery_key").loc[red.key, "failed"]
    store.close()


def test_the_failures_of_warnings_long_ended_are_not_judged_each_loop(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 failed rows of warnings that ended two months ago (as a long-running
    service collects): ``retry_failed`` and ``failed_deliveries`` (the sender calls them
    every loop) judge none of them in Python (they read each and judged its validity:
    3,000 judgements per call; the reviewer measured 3.5 s per call for 20,000 rows);
    ``final_failures`` says they ended. One failure in force is still retried."""
    import sqlalchemy as sa

    import riskwarn.store.deliveries as deliveries
    from riskwarn.store import Store
    from riskwarn.store.models import Delivery
    from riskwarn.store.sql import table_of

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    old = (clock.now - pd.Timedelta(days=60)).to_pydatetime()
    msg = {"warning_id": "w", "site_id": "H1", "at": old.isoformat(), "change": "new"}
    rows = [
        {
            "delivery_key": f"k{i}",
            "warning_id": f"w{i}",
            "domain": DOMAIN,
            "unit_id": "H1",
            "change": "new",
            "to_level": "red",
            "channel": "email",
            "contact_id": "duty-1",
            "escalation_step": 0,
            "message": {**msg, "valid_to": (old + pd.Timedelta(hours=24)).isoformat()},
            "changed_at": old,
            "status": "failed",
            "attempts": 8,
            "last_error": "ConnectionRefusedError",
            "created_at": old,
            "next_attempt_at": old,
        }
        for i in range(3000)
    ]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(table_of(Delivery)), rows)
    engine.dispose()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook, duty1_email=False)
        _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
    judged = []
    until = deliveries._until
    monkeypatch.setattr(
        deliveries, "_until", lambda row, held: judged.append(1) or until(row, held)
    )
    clock.now += pd.Timedelta(minutes=11)
    assert len(store.failed_deliveries()) == 1
    assert len(store.retry_failed()) == 1  # the one in force
    assert len(judged) <= 4, f"{len(judged)} failed rows judged in Python"
    final = store.final_failures()
    assert len(final) == 3000 and set(final.values()) == {"ended"}
    store.close()


def test_two_senders_logging_one_escalation_at_once_both_succeed(url: str) -> None:
    """The reviewer's race: two stores enqueue the same escalation rows at the same
    instant, 40 times. On PostgreSQL the second used to raise IntegrityError (9 of 40
    races in the review, most here); now neither fails and each row is logged once."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import delivery_rows
    from riskwarn.stream.publish import LevelChange

    clock = Clock()
    a, b = Store(url, clock=clock), Store(url, clock=clock)
    a.upgrade()
    errors: list[str] = []
    added: list[int] = []
    with Webhook() as hook:
        cfg = _cfg(hook)
        red = _queued(a, cfg, clock)
        for i in range(40):
            change = LevelChange("H1", red.warning_id, 0, 4, red.at + pd.Timedelta(seconds=i))
            rows = delivery_rows(cfg, change, [{"en": "x", "zh": "x"}], step=1)
            barrier = threading.Barrier(2)

            def go(store: Any, rows: Any = rows, barrier: Any = barrier) -> None:
                barrier.wait()
                try:
                    added.append(store.enqueue_deliveries(rows))
                except Exception as exc:  # what the race raised
                    errors.append(type(exc).__name__)

            threads = [threading.Thread(target=go, args=(s,)) for s in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert errors == [], f"{len(errors)} of 40 races failed: {errors[:1]}"
    assert sum(added) == 40
    d = a.deliveries()
    assert len(d) == 41 and not d.duplicated(["delivery_key", "channel", "contact_id"]).any()
    a.close()
    b.close()


def _row(i: int, minutes: int, to_level: str | None, status: str, **kw: Any) -> dict[str, Any]:
    """A delivery row of warning W (as :func:`later_change` reads one)."""
    base = pd.Timestamp("2026-01-05 08:00", tz="UTC")
    return {
        "delivery_id": i,
        "delivery_key": f"k{i}",
        "warning_id": "W",
        "escalation_step": 0,
        "contact_id": "duty-1",
        "channel": "webhook",
        "status": status,
        "to_level": to_level,
        "changed_at": (base + pd.Timedelta(minutes=minutes)).to_pydatetime(),
        "message": None,
        **kw,
    }


def test_a_failed_red_never_heard_is_superseded_by_a_return_to_the_orange_heard() -> None:
    """duty-1 heard orange; the raise to red failed (gateway down); the warning went back
    to orange, recorded unpaged "unchanged" (the net change from the orange heard is none).
    The red is stale: tried again it would page "raised to red" about an orange warning.
    Only a return to the failed row's own level (a dip and back) leaves it the news."""
    from riskwarn.store.deliveries import later_change

    unchanged = {"unpaged": "unchanged", "heard": "k1", "heard_level": "orange"}
    heard = _row(1, 0, "orange", "sent")
    red = _row(2, 10, "red", "failed")
    back = _row(3, 20, "orange", "unpaged", message=unchanged)
    assert later_change(red, [heard, red, back]) == back
    # a dip and back to the failed row's level: it is still the news
    dip_back = _row(3, 20, "red", "unpaged", message={**unchanged, "heard_level": "red"})
    assert later_change(red, [heard, red, dip_back]) is None


def test_a_first_page_is_not_superseded_by_an_escalation_to_the_same_contact() -> None:
    """duty-1 is paged at step 0 and also named at step 1 (an escalation of a later
    change): for a step-0 row only step-0 peers count (the officer's net change), so the
    escalation does not supersede the first page; a later step-0 change to them does."""
    from riskwarn.store.deliveries import later_change

    first = _row(1, 0, "red", "failed")
    escalation = _row(2, 10, "red", "pending", escalation_step=1)
    assert later_change(first, [first, escalation]) is None
    lowered = _row(3, 20, "orange", "pending")
    assert later_change(first, [first, escalation, lowered]) == lowered
