"""A page that fails past its retry budget is escalated and retried, not abandoned
(review 2026-12-06, high).

A red change whose page to the first contact failed through an outage longer than the
retry budget (default 8 attempts, 2 s doubling: about 4 minutes) ended ``failed``:
``escalate`` only looked at ``sent`` rows and ``requeue_in_force`` only at ``expired``
ones, so the red reached nobody, nobody was escalated and it was never tried again.
Now a change to orange or red that did not reach its contact counts as not
acknowledged: the next contact is paged on their own channel after
``escalate_after_minutes``, told who could not be reached; and the failed delivery is
tried again every ``retry_failed_after_minutes`` while its warning is in force (not
once acknowledged, not after a dismissal). ``riskwarn stream --status`` and the
dashboard's alarm log say so. SQLite and PostgreSQL; a real local webhook receiver, a
closed SMTP port; the store's clock is moved by the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from testkit.stream_helpers import Webhook, free_port

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


def _cfg(hook: Webhook, *, duty1_email: bool = True) -> Any:
    """duty-1 by e-mail (an SMTP port nothing listens on: every attempt fails) or by the
    webhook, then boss and director by the webhook; 3 attempts; escalation after 30 min."""
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    duty1 = Contact("duty-1", email="duty1@example.test") if duty1_email else None
    return DeliveryConfig(
        contacts={
            "duty-1": duty1 or Contact("duty-1", webhook=True),
            "boss": Contact("boss", webhook=True),
            "director": Contact("director", webhook=True),
        },
        default=["duty-1", "boss", "director"],
        smtp_port=free_port(),
        webhook_url=hook.url,
        webhook_secret="s" * 32,
        escalate_after_minutes=30,
        retry_base_s=0.0,
        max_attempts=3,
        timeout_s=5.0,
    )


def _publish(store: Any, run: str, at: pd.Timestamp, rank: int, deliveries: list[Any]) -> None:
    """A stream run at ``at`` (event time) with site H1's warning at ``rank`` and
    ``deliveries`` logged in its transaction, as the consumer publishes a change."""
    from riskwarn import warnings as rw

    run_id = f"{DOMAIN}:{run}"
    store.stage_run(
        {"run_id": run_id, "domain": DOMAIN, "origin": at.to_pydatetime(), "horizon_hours": 24.0}
    )
    store.write_forecasts(
        run_id,
        pd.DataFrame(
            {
                "unit_type": ["site"],
                "unit_id": ["H1"],
                "origin": [at],
                "valid_to": [at + pd.Timedelta(hours=24)],
                "score": [float(rank)],
            }
        ),
    )
    frame = pd.DataFrame({"unit_id": ["H1"], "probability": [None], "level_rank": [rank]})
    warnings = rw.build_warnings(frame, rw.WarningContext(DOMAIN, "site", at, 24.0))
    warnings["warning_id"] = rw.warning_id(DOMAIN, "H1", at)
    store.write_warnings(run_id, warnings)
    assert store.publish_run(run_id, actor="stream", deliveries=deliveries) == "published"


def _queued(store: Any, cfg: Any, clock: Clock, rank: int = 4) -> Any:
    """A change of H1 to ``rank`` an hour ago (in force), published with its page to
    duty-1."""
    from riskwarn import warnings as rw
    from riskwarn.stream.delivery import delivery_rows
    from riskwarn.stream.publish import LevelChange

    start = clock.now - pd.Timedelta(hours=1)
    change = LevelChange("H1", rw.warning_id(DOMAIN, "H1", start), 0, rank, start)
    _publish(store, "first", start, rank, delivery_rows(cfg, change, [{"en": "x", "zh": "x"}]))
    return change


def _fail_out(store: Any, cfg: Any, clock: Clock) -> None:
    """Send until duty-1's page is recorded failed (3 attempts, a minute apart)."""
    from riskwarn.stream.delivery import deliver_due

    outcomes = []
    for _ in range(3):
        counts = deliver_due(store, cfg)
        outcomes.append((counts["retry"], counts["failed"], counts["sent"]))
        clock.now += pd.Timedelta(minutes=1)
    assert outcomes == [(1, 0, 0), (1, 0, 0), (0, 1, 0)], outcomes


def _steps(store: Any) -> list[tuple[str, int, str]]:
    d = store.deliveries()
    return list(zip(d["contact_id"], d["escalation_step"].astype(int), d["status"], strict=True))


def test_a_red_that_fails_past_the_retry_budget_escalates_to_the_next_contact(url: str) -> None:
    """The reviewer's reproduction: duty-1's mail server refuses every attempt; the red
    ends failed. It used to page nobody, ever. Now after escalate_after_minutes the boss
    gets it on the webhook, told duty-1 could not be reached, once (two senders
    escalating at the same time add one row)."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, escalate

    clock = Clock()
    store, other = Store(url, clock=clock), Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        red = _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
        assert _steps(store) == [("duty-1", 0, "failed")]
        assert escalate(store, cfg, now=clock()) == 0  # not before the escalation delay
        clock.now += pd.Timedelta(minutes=30)
        added = escalate(store, cfg, now=clock()) + escalate(other, cfg, now=clock())
        assert added == 1, "a red that reached nobody was not escalated"
        assert deliver_due(other, cfg)["sent"] == 1
        assert deliver_due(store, cfg)["sent"] == 0
        (page,) = hook.bodies()
        clock.now += pd.Timedelta(minutes=5)
        assert escalate(store, cfg, now=clock()) == 0  # the boss has it: 30 min to answer
    assert page["contact_id"] == "boss" and page["change"] == "escalated"
    assert page["to_level"] == "red" and page["delivery_key"] == red.key
    assert page["unreached"] == [
        {"contact_id": "duty-1", "escalation_step": 0, "error": "ConnectionRefusedError"}
    ]
    assert _steps(store) == [("duty-1", 0, "failed"), ("boss", 1, "sent")]
    store.close()
    other.close()


def test_the_next_contact_that_fails_too_escalates_again_and_the_email_says_who(
    url: str,
) -> None:
    """Everyone by e-mail, the mail server down: duty-1 fails, the boss's escalation
    fails too, then the director is paged, the page naming both contacts not reached;
    the e-mail text says it."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import Contact, deliver_due, escalate, page_text

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        cfg.contacts["boss"] = Contact("boss", email="boss@example.test")
        _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
        clock.now += pd.Timedelta(minutes=30)
        assert escalate(store, cfg, now=clock()) == 1
        for _ in range(3):  # the boss's 3 attempts (duty-1's page is tried again too)
            deliver_due(store, cfg)
            clock.now += pd.Timedelta(minutes=1)
        assert _steps(store) == [("duty-1", 0, "failed"), ("boss", 1, "failed")]
        assert escalate(store, cfg, now=clock()) == 0
        clock.now += pd.Timedelta(minutes=30)
        assert escalate(store, cfg, now=clock()) == 1
        assert deliver_due(store, cfg)["sent"] == 1
        (page,) = hook.bodies()
    assert page["contact_id"] == "director" and page["escalation_step"] == 2
    assert [u["contact_id"] for u in page["unreached"]] == ["duty-1", "boss"]
    text = page_text(page, "en")
    assert "Could not be delivered to contact duty-1 (escalation step 0: " in text
    assert "Could not be delivered to contact boss (escalation step 1: " in text
    zh = page_text(page, "zh")
    assert "未能送达联系人 duty-1（升级第 0 级：" in zh
    assert "未能送达联系人 boss（升级第 1 级：" in zh
    assert "Could not be delivered" not in zh
    assert page["text"] == page_text(page, page["lang"])  # the webhook's text says it too
    store.close()


def test_a_failed_orange_goes_to_the_next_contact_once(url: str) -> None:
    """An orange that reached nobody goes to the next contact too (an orange delivered
    and not acknowledged is not escalated, as before: the boss has it, the director is
    not paged)."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due, escalate

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        _queued(store, cfg, clock, rank=3)
        _fail_out(store, cfg, clock)
        clock.now += pd.Timedelta(minutes=30)
        assert escalate(store, cfg, now=clock()) == 1
        assert deliver_due(store, cfg)["sent"] == 1
        clock.now += pd.Timedelta(hours=3)
        assert escalate(store, cfg, now=clock()) == 0
        assert [(m["contact_id"], m["to_level"]) for m in hook.bodies()] == [("boss", "orange")]
    store.close()


def test_a_failed_page_is_tried_again_after_the_outage_once(url: str) -> None:
    """duty-1's webhook gateway answers 503 past the retry budget: failed. Not tried
    again before retry_failed_after_minutes (10 by default); then, the gateway back, it
    is sent, once, whatever number of senders (two stores), audited delivery_retried."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due

    clock = Clock()
    store, other = Store(url, clock=clock), Store(url, clock=clock)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook, duty1_email=False)
        red = _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
        clock.now += pd.Timedelta(minutes=5)
        assert deliver_due(store, cfg)["sent"] == 0 and _steps(store)[0][2] == "failed"
        hook.status = 200
        clock.now += pd.Timedelta(minutes=6)
        sent = deliver_due(other, cfg)["sent"] + deliver_due(store, cfg)["sent"]
        assert sent == 1, "a failed red in force was never tried again"
        clock.now += pd.Timedelta(minutes=30)
        assert deliver_due(store, cfg)["sent"] + deliver_due(other, cfg)["sent"] == 0
        assert [(m["contact_id"], m["delivery_key"]) for m in hook.bodies()] == [
            ("duty-1", red.key)
        ]
    d = store.deliveries()
    assert d["status"].tolist() == ["sent"] and d["attempts"].tolist() == [4]
    (entry,) = store.audit_entries("delivery", str(d["delivery_id"][0]), ("delivery_retried",))
    assert entry["details"]["last_error"] == "HTTP 503" and entry["details"]["attempts"] == 3
    store.close()
    other.close()


def test_a_failed_page_still_failing_is_tried_once_per_interval(url: str) -> None:
    """Through a long outage the failed row gets one attempt every 10 minutes (not a
    new budget each time) and stays failed between."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import deliver_due

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook, duty1_email=False)
        _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
        tries = []
        for _ in range(3):
            clock.now += pd.Timedelta(minutes=10)
            tries.append(deliver_due(store, cfg)["failed"])
            tries.append(deliver_due(store, cfg)["failed"])
    assert tries == [1, 0, 1, 0, 1, 0]
    assert store.deliveries()["attempts"].tolist() == [6]
    assert store.deliveries()["status"].tolist() == ["failed"]
    store.close()


@pytest.mark.parametrize("case", ["acknowledged", "dismissed", "ended"])
def test_a_failed_page_acknowledged_dismissed_or_ended_is_not_tried_again(
    url: str, case: str
) -> None:
    """Not tried again: once someone acknowledged the change (the boss, paged in
    duty-1's place); once the panel dismissed the warning (nor escalated); once the
    warning is no longer in force."""
    from riskwarn.store import Store
    from riskwarn.stream.delivery import Contact, deliver_due, escalate

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook(status=503) as hook:
        cfg = _cfg(hook, duty1_email=False)
        cfg.contacts["boss"] = Contact("boss", email="boss@example.test")
        red = _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
        if case == "acknowledged":  # the boss got the escalation and acknowledged it
            clock.now += pd.Timedelta(minutes=30)
            assert escalate(store, cfg, now=clock()) == 1
            (row,) = store.due_deliveries()
            store.record_attempt(row["delivery_id"], ok=True)
            store.acknowledge_delivered(red.warning_id, "boss", delivery_key=red.key)
        elif case == "dismissed":
            (version,) = store.warnings(domain=DOMAIN)["version"]
            store.review_warning(red.warning_id, "dismiss", "false alarm", "lead", int(version))
        else:
            clock.now += pd.Timedelta(hours=24)
        hook.status = 200
        clock.now += pd.Timedelta(minutes=45)
        deliver_due(store, cfg)
        added = escalate(store, cfg, now=clock())
        deliver_due(store, cfg)
        assert hook.bodies() == []
    if case == "dismissed":
        assert added == 0  # nor escalated
    d = store.deliveries()
    assert d.loc[d["contact_id"] == "duty-1", "status"].tolist() == ["failed"]
    boss = {"acknowledged": ["sent"], "dismissed": [], "ended": ["expired"]}[case]
    assert d.loc[d["contact_id"] == "boss", "status"].tolist() == boss
    store.close()


def test_a_failed_red_is_shown_in_the_status_line_and_the_alarm_log_in_both_languages(
    url: str, tmp_path: Path
) -> None:
    """``riskwarn stream --status`` says DELIVERY FAILED with the count (red apart) in
    English and Chinese; the alarm log marks the change failed and the dashboard says,
    above the log, which site, level and contact were not reached and what is done."""
    pytest.importorskip("streamlit")
    from dashboard.views import alarm_log_failed, alarm_outcome
    from riskwarn.store import Store
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.status import status_line

    clock = Clock()
    store = Store(url, clock=clock)
    store.upgrade()
    with Webhook() as hook:
        cfg = _cfg(hook)
        red = _queued(store, cfg, clock)
        _fail_out(store, cfg, clock)
    failed = store.failed_deliveries()
    log = alarm_log(store.deliveries(), store.acknowledgements())
    clock.now += pd.Timedelta(hours=24)  # the warning ended: no longer in the status line
    assert store.failed_deliveries().empty and len(failed) == 1
    store.close()
    row = log.set_index("delivery_key").loc[red.key]
    assert row["failed"] and not row["expired"]
    assert row["sent"] == "email:duty-1 failed (3 attempts)"
    assert alarm_outcome(row["sent"], "en") == "email:duty-1 FAILED (not reached) (3 attempts)"
    assert alarm_outcome(row["sent"], "zh") == "email:duty-1 发送失败（未送达）（已尝试 3 次）"
    en, zh = alarm_log_failed(log, "en"), alarm_log_failed(log, "zh")
    assert en is not None and zh is not None
    assert en.startswith("1 orange/red warning change could not be delivered after every retry")
    assert "H1 · Red (I) · email:duty-1." in en and "The next contact of the route is paged" in en
    assert "H1 · 红色（I级） · email:duty-1。" in zh and "已转由路由中的下一位联系人接收" in zh
    assert alarm_log_failed(log.assign(failed=False), "en") is None
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
                "deliveries_failed": len(failed),
                "deliveries_failed_red": int((failed["to_level"] == "red").sum()),
                "last_write_at": None,
                "updated_at": "2026-12-06T02:00:00+00:00",
            }
        )
    )
    line = status_line(path)
    assert "; DELIVERY FAILED: 1 deliveries (1 red) did not reach their contact" in line
    assert "推送失败：1 条（红色 1 条）多次重试仍未送达" in line
