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

4. Tests of what no test held (mutation survivors): ``deliver_due`` counting a claimed
   row that expired as ``maybe_sent`` (M18); ``run_by`` in ``acknowledge_rejected``
   (M36); ``riskwarn stream --contacts`` paging in RISKWARN_PAGING_LANG (M05); the
   Chinese catch-up page's "此前未推送" line (M07).

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

REASON = {"en": "Displacement rising.", "zh": "位移持续增大。"}


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


def _cfg(*ids: str) -> Any:
    """Contacts ``ids`` (default a, then b) by the webhook; escalation after 15 min."""
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    ids = ids or ("a", "b")
    return DeliveryConfig(
        contacts={i: Contact(i, webhook=True) for i in ids},
        default=list(ids),
        webhook_url="http://127.0.0.1:9/none",
        webhook_secret="s" * 32,
        escalate_after_minutes=15,
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
    from riskwarn.stream.delivery import enqueue

    cfg = _cfg("a")
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
    from riskwarn.stream.delivery import enqueue

    cfg = _cfg("a")
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
    from riskwarn.i18n import DEFAULT_DISPLAY_TZ, fmt_datetime_zone
    from riskwarn.stream.delivery import enqueue

    cfg = _cfg("a")
    orange, red = _changes(clock)
    enqueue(store, cfg, orange, [REASON])
    enqueue(store, cfg, red, [REASON])
    rows = _rows(store)
    store.record_attempt(rows[orange.key]["delivery_id"], ok=True)
    store.acknowledge_delivered(orange.warning_id, "officer-a", delivery_key=orange.key)
    # in the display zone, named (since 2026-12-06; before, UTC ISO: tests/test_paging_words.py)
    at_en = fmt_datetime_zone(clock.now, "en", DEFAULT_DISPLAY_TZ)
    at_zh = fmt_datetime_zone(clock.now, "zh", DEFAULT_DISPLAY_TZ)
    with pytest.raises(NotSentYetError) as info:
        store.acknowledge_delivered(orange.warning_id, "officer-b")
    en, zh = info.value.said("en"), info.value.said("zh")
    assert en == (
        f"warning {orange.warning_id} has nothing left to acknowledge: change {red.key} "
        "(queued, not sent yet) not received by anyone yet; already acknowledged: change "
        f"{orange.key} by officer-a at {at_en} (via cli); nothing recorded"
    )  # old: "has no change sent yet", officer-a's acknowledgement not named
    assert zh == (
        f"预警 {orange.warning_id} 暂无可签收的变化：变化 {red.key}（排队待发送，尚未送达）"
        f"尚无人收到；已签收：变化 {orange.key} 已由 officer-a 于 {at_zh} 签收（途径：命令行）；"
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


# 4. what no test held (mutation survivors M18, M36, M07, M05)


def test_a_claim_never_recorded_whose_warning_ended_counts_as_maybe_sent(
    store: Store, clock: Clock
) -> None:
    """M18: the sender died inside the send of a red; it was not back before the
    warning ended: the row is recorded expired, counted ``maybe_sent`` (not among the
    rows never sent)."""
    from riskwarn.stream.delivery import deliver_due, enqueue

    at = clock.now - pd.Timedelta(hours=1)
    red = LevelChange("H1", f"{DOMAIN}:H1:{at:%Y%m%dT%H%MZ}", 0, 4, at)
    assert enqueue(store, _cfg("duty-1"), red, [REASON]) == 1
    (row,) = store.due_deliveries()
    assert store.claim_delivery(row["delivery_id"])[0] == "claimed"  # then SIGKILL
    clock.now += pd.Timedelta(days=2)  # past the lease and the warning's validity
    counts = deliver_due(store, _cfg("duty-1"))
    assert counts["maybe_sent"] == 1 and counts["expired"] == 0, counts
    assert store.deliveries()["status"].tolist() == ["expired"]


def test_a_refused_acknowledgement_audits_who_ran_the_command(store: Store, clock: Clock) -> None:
    """M36: ``run_by`` in the ``acknowledge_rejected`` entry, as in the accepted one."""
    from riskwarn.store.deliveries import NotSentYetError
    from riskwarn.stream.delivery import enqueue

    at = clock.now - pd.Timedelta(hours=1)
    red = LevelChange("H1", f"{DOMAIN}:H1:{at:%Y%m%dT%H%MZ}", 0, 4, at)
    assert enqueue(store, _cfg("duty-1"), red, [REASON]) == 1  # queued: nothing to acknowledge yet
    with pytest.raises(NotSentYetError):
        store.acknowledge_delivered(red.warning_id, "duty-1", run_by="os:operator")
    (entry,) = store.audit_entries("warning", red.warning_id, ("acknowledge_rejected",))
    assert entry["details"]["run_by"] == "os:operator"
    assert entry["details"]["not_sent_yet"] == [red.key]


def test_the_chinese_catch_up_page_names_the_levels_not_sent_in_chinese(
    store: Store, clock: Clock
) -> None:
    """M07: an orange and then a red queued through an outage; the red is sent as the
    net change and its page says the orange was not sent before, in the paging
    language."""
    from riskwarn.i18n import DEFAULT_DISPLAY_TZ, fmt_datetime_zone
    from riskwarn.stream.delivery import enqueue, page_text

    at = clock.now - pd.Timedelta(hours=2)
    wid = f"{DOMAIN}:H1:{at:%Y%m%dT%H%MZ}"
    orange = LevelChange("H1", wid, 0, 3, at)
    red = LevelChange("H1", wid, 3, 4, at + pd.Timedelta(hours=1))
    for change in (orange, red):
        assert enqueue(store, _cfg("duty-1"), change, [REASON]) == 1
    rows = {r["delivery_key"]: r for r in store.due_deliveries()}
    outcome, claimed = store.claim_delivery(rows[red.key]["delivery_id"])
    assert outcome == "claimed" and claimed is not None
    (missed,) = claimed["message"]["not_sent"]
    zh = page_text(claimed["message"], "zh")
    tz = DEFAULT_DISPLAY_TZ  # times in the display zone, named (tests/test_paging_words.py)
    start, end = (fmt_datetime_zone(missed[k], "zh", tz) for k in ("from", "to"))
    assert f"此前未推送（实时监测正在追赶积压数据）：橙色（II级），自 {start} 至 {end}。" in zh, zh
    assert "Not sent before" not in zh
    en = page_text(claimed["message"], "en")
    start = fmt_datetime_zone(missed["from"], "en", tz)
    assert f"Not sent before (the stream was catching up): Orange (II) from {start}" in en


def test_the_stream_command_pages_in_the_paging_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """M05: `riskwarn stream --contacts` hands the consumer a delivery configuration in
    RISKWARN_PAGING_LANG (the broker and the consumer replaced by stand-ins)."""
    from click.testing import CliRunner

    import riskwarn.commands.stream as command
    import riskwarn.stream.consumer as consumer
    from riskwarn.cli import cli

    seen: list[Any] = []

    class Consumer:
        refused = None

        def __init__(self, cfg: Any) -> None:
            seen.append(cfg)

        def run(self) -> None:
            pass

        def stop(self) -> None:
            pass

    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        "contacts:\n  duty-1: {webhook: true}\nroutes:\n  default: [duty-1]\n"
        "webhook: {url: 'http://127.0.0.1:9/none'}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(command, "_wait_for_broker", lambda *a, **k: None)
    monkeypatch.setattr(consumer, "StreamConsumer", Consumer)
    monkeypatch.setattr(command.signal, "signal", lambda *a: None)  # pytest's handlers kept
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_STORE_URL", f"sqlite:///{tmp_path / 'serving.db'}")
    monkeypatch.setenv("RISKWARN_MQTT_PASSWORD", "not-used-0123456789")
    monkeypatch.setenv("RISKWARN_WEBHOOK_SECRET", "s" * 32)
    for lang in ("en", "zh"):
        monkeypatch.setenv("RISKWARN_PAGING_LANG", lang)
        result = CliRunner().invoke(
            cli, ["stream", "--contacts", str(contacts), "--no-model"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert seen[-1].delivery.lang == lang
