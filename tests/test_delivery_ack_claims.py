"""`riskwarn stream ack` and claims of deliveries (review 2026-12-06).

1. `ack W` without a key acknowledged a red change whose send was in flight (claimed,
   its lease still running): ``possibly_sent`` is true for a live claim. An officer
   acknowledging the orange page they got also acknowledged the red nobody had yet;
   when that send failed and later succeeded, its escalation never started. Now a claim
   inside its lease is left open without a key (named in ``left``, as a queued change);
   only a claim whose lease ran out with no outcome counts as possibly heard.
2. The "may have been heard" mark was lost: claim 1 reached the officer and the sender
   was killed; the lease ran out, claim 2's send failed (HTTP 503) and
   ``record_attempt`` overwrote ``last_error``. `ack W` then said nothing was sent, and
   once a later change superseded it `ack --key` was refused as "never sent" and the
   alarm log said "superseded" (never sent). Now the re-claim sets the row's
   ``maybe_heard`` (migration 0011), which no later outcome clears.
3. Refused because nothing acknowledgeable is left (a change still queued), `ack` said
   "no change sent yet" and hid that another change was sent and acknowledged by
   someone: it now names who acknowledged it and when (en and zh).

SQLite and PostgreSQL; the store's clock is moved by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.store import Store
from riskwarn.store.deliveries import CLAIM_LEASE_S, NotSentYetError
from riskwarn.stream.publish import DOMAIN, LevelChange

REASON = {"en": "x", "zh": "x"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    return str(request.getfixturevalue("pg_url"))


class Clock:
    """The store's clock, moved by the test (the wall clock in service)."""

    def __init__(self) -> None:
        self.now = pd.Timestamp.now(tz="UTC").floor("s")

    def __call__(self) -> datetime:
        return self.now.to_pydatetime()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[Store]:
    s = Store(url, clock=clock)
    s.upgrade()
    yield s
    s.close()


def _cfg(**kw: Any) -> Any:
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    return DeliveryConfig(
        contacts={"a": Contact("a", webhook=True), "b": Contact("b", webhook=True)},
        default=["a", "b"],
        webhook_url="http://127.0.0.1:9/none",
        webhook_secret="s" * 32,
        escalate_after_minutes=15,
        **kw,
    )


def _changes(clock: Clock) -> tuple[LevelChange, LevelChange]:
    """H1 new orange 40 minutes ago, raised to red 35 minutes ago (both in force)."""
    at = clock.now - pd.Timedelta(minutes=40)
    wid = f"{DOMAIN}:H1:{at:%Y%m%dT%H%MZ}"
    return LevelChange("H1", wid, 0, 3, at), LevelChange(
        "H1", wid, 3, 4, at + pd.Timedelta(minutes=5)
    )


def _rows(store: Store) -> dict[str, dict[str, Any]]:
    return {r["delivery_key"]: r for r in store.due_deliveries()}


# 1. a send in flight is not acknowledged without a key


def test_ack_without_a_key_leaves_a_red_being_sent_open(store: Store, clock: Clock) -> None:
    from riskwarn.stream.delivery import enqueue, escalate

    cfg = _cfg()
    orange, red = _changes(clock)
    enqueue(store, cfg, orange, [REASON])
    enqueue(store, cfg, red, [REASON])
    rows = _rows(store)
    store.record_attempt(rows[orange.key]["delivery_id"], ok=True)
    assert store.claim_delivery(rows[red.key]["delivery_id"])[0] == "claimed"  # POST under way
    done = store.acknowledge_delivered(orange.warning_id, "officer-a")
    assert [k for _, k in done] == [orange.key]  # old: the red as well
    assert done.left == {red.key: ["pending"]}
    assert not store.acknowledged(red.key)
    # that POST fails; the retry gets through
    store.record_attempt(rows[red.key]["delivery_id"], ok=False, error="HTTP 503", retry_at=clock())
    assert store.claim_delivery(rows[red.key]["delivery_id"])[0] == "claimed"
    store.record_attempt(rows[red.key]["delivery_id"], ok=True)
    # nobody acknowledged the red: contact b is paged after escalate_after_minutes
    later = clock.now.to_pydatetime() + timedelta(minutes=30)
    assert escalate(store, cfg, now=later) == 1  # old: 0


def test_ack_without_a_key_takes_a_claim_whose_lease_ran_out(store: Store, clock: Clock) -> None:
    """The sender died inside its send and the lease ran out with no outcome: the red may
    have been heard, so `ack` without a key takes it (at least once)."""
    from riskwarn.stream.delivery import enqueue

    cfg = _cfg()
    orange, red = _changes(clock)
    enqueue(store, cfg, orange, [REASON])
    enqueue(store, cfg, red, [REASON])
    rows = _rows(store)
    store.record_attempt(rows[orange.key]["delivery_id"], ok=True)
    assert store.claim_delivery(rows[red.key]["delivery_id"])[0] == "claimed"
    clock.now += pd.Timedelta(seconds=CLAIM_LEASE_S + 1)
    done = store.acknowledge_delivered(orange.warning_id, "officer-a")
    assert sorted(k for _, k in done) == sorted([orange.key, red.key]) and done.left == {}


def test_a_red_being_sent_alone_is_refused_without_a_key_and_taken_by_its_key(
    store: Store, clock: Clock
) -> None:
    from riskwarn.stream.delivery import enqueue

    cfg = _cfg()
    _, red = _changes(clock)
    enqueue(store, cfg, red, [REASON])
    (row,) = [r for r in store.due_deliveries() if r["contact_id"] == "a"]
    assert store.claim_delivery(row["delivery_id"])[0] == "claimed"
    with pytest.raises(NotSentYetError):  # old: acknowledged
        store.acknowledge_delivered(red.warning_id, "officer-a")
    done = store.acknowledge_delivered(red.warning_id, "officer-a", delivery_key=red.key)
    assert [k for _, k in done] == [red.key]


# 2. a claim whose outcome was never recorded stays "may have been heard"


def _claimed_twice_then_failed(store: Store, clock: Clock, row: dict[str, Any]) -> None:
    """Claim 1 reaches the officer, the sender is killed; the lease runs out; claim 2's
    send fails (HTTP 503), retried later."""
    assert store.claim_delivery(row["delivery_id"])[0] == "claimed"
    clock.now += pd.Timedelta(seconds=CLAIM_LEASE_S + 10)
    assert store.claim_delivery(row["delivery_id"])[0] == "claimed"
    store.record_attempt(row["delivery_id"], ok=False, error="HTTP 503", retry_at=clock())


def test_a_failed_retry_keeps_the_earlier_unrecorded_claim_heard(
    store: Store, clock: Clock
) -> None:
    from riskwarn.store.deliveries import possibly_sent
    from riskwarn.stream.delivery import Contact, DeliveryConfig, enqueue

    cfg = DeliveryConfig(
        contacts={"a": Contact("a", webhook=True)},
        default=["a"],
        webhook_url="http://127.0.0.1:9/none",
        webhook_secret="s" * 32,
    )
    _, red = _changes(clock)
    enqueue(store, cfg, red, [REASON])
    (row,) = store.due_deliveries()
    _claimed_twice_then_failed(store, clock, row)
    (now,) = store.deliveries(red.warning_id).to_dict("records")
    assert now["last_error"] == "HTTP 503" and now["status"] == "pending"
    assert possibly_sent(now)  # old: False (the first claim forgotten)
    done = store.acknowledge_delivered(red.warning_id, "officer-a")  # old: NotSentYetError
    assert [k for _, k in done] == [red.key]


def test_a_superseded_change_whose_first_claim_was_lost_can_be_acknowledged(
    store: Store, clock: Clock
) -> None:
    """Then the red is lowered to orange: the orange is paged as "lowered" from the red
    the officer may have heard (old: "new", the red forgotten), the red's row is
    superseded-maybe-sent on the alarm log (old: superseded, never sent) and `ack --key`
    takes it (old: refused, never sent)."""
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import Contact, DeliveryConfig, enqueue

    cfg = DeliveryConfig(
        contacts={"a": Contact("a", webhook=True)},
        default=["a"],
        webhook_url="http://127.0.0.1:9/none",
        webhook_secret="s" * 32,
    )
    at = clock.now - pd.Timedelta(minutes=40)
    wid = f"{DOMAIN}:H1:{at:%Y%m%dT%H%MZ}"
    red = LevelChange("H1", wid, 0, 4, at)
    enqueue(store, cfg, red, [REASON])
    (row,) = store.due_deliveries()
    _claimed_twice_then_failed(store, clock, row)
    lowered = LevelChange("H1", wid, 4, 3, at + pd.Timedelta(minutes=20))
    enqueue(store, cfg, lowered, [REASON])
    rows = _rows(store)
    outcome, claimed = store.claim_delivery(rows[lowered.key]["delivery_id"])
    assert outcome == "claimed" and claimed is not None
    assert (claimed["change"], claimed["from_level"]) == ("lowered", "red")  # old: new, None
    assert store.claim_delivery(rows[red.key]["delivery_id"])[0] == "superseded"
    d = store.deliveries(wid)
    log = alarm_log(d, store.acknowledgements()).set_index("delivery_key")
    assert log.loc[red.key, "sent"] == "webhook:a superseded-maybe-sent (1 attempt)"
    assert not log.loc[red.key, "expired"]
    done = store.acknowledge_delivered(wid, "officer-a", delivery_key=red.key)
    assert [k for _, k in done] == [red.key]  # old: NeverSentError


# 3. the refusal names who acknowledged the change already sent


def test_not_sent_yet_names_who_acknowledged_the_sent_change(
    store: Store,
    clock: Clock,
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    from riskwarn.cli import main
    from riskwarn.stream.delivery import Contact, DeliveryConfig, enqueue

    cfg = DeliveryConfig(
        contacts={"a": Contact("a", webhook=True)},
        default=["a"],
        webhook_url="http://127.0.0.1:9/none",
        webhook_secret="s" * 32,
    )
    orange, red = _changes(clock)
    enqueue(store, cfg, orange, [REASON])
    enqueue(store, cfg, red, [REASON])
    rows = _rows(store)
    store.record_attempt(rows[orange.key]["delivery_id"], ok=True)
    store.acknowledge_delivered(orange.warning_id, "officer-a", delivery_key=orange.key)
    at = clock.now.isoformat(timespec="seconds")
    with pytest.raises(NotSentYetError) as info:
        store.acknowledge_delivered(orange.warning_id, "officer-b")
    en, zh = info.value.said("en"), info.value.said("zh")
    assert en == (
        f"warning {orange.warning_id} has nothing left to acknowledge: change {red.key} "
        "(queued, not sent yet) not received by anyone yet; already acknowledged: change "
        f"{orange.key} by officer-a at {at} (via cli); nothing recorded"
    )  # old: "has no change sent yet", officer-a's acknowledgement not named
    assert zh == (
        f"预警 {orange.warning_id} 暂无可签收的变化：变化 {red.key}（排队待发送，尚未送达）"
        f"尚无人收到；已签收：变化 {orange.key} 已由 officer-a 于 {at} 签收（途径：cli）；"
        "本次未记录"
    )
    # the command says it too, in the paging language
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_STORE_URL", url)
    for lang, said in (("en", "by officer-a at"), ("zh", "已由 officer-a 于")):
        monkeypatch.setenv("RISKWARN_PAGING_LANG", lang)
        assert main(["stream", "ack", orange.warning_id, "--by", "officer-b"]) == 2
        err = capsys.readouterr().err
        assert said in err and red.key in err, err
    assert len(store.acknowledgements(orange.warning_id)) == 1
