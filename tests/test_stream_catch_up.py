"""What a duty officer is paged for after the stream catches up a backlog (2026-12-06).

The consumer publishes a backlog of hourly steps (30 h ago to an hour ago) one round
at a time, the sender running between the rounds. Real SQLite and PostgreSQL stores, a
real local webhook receiver.

1. A red that starts and ends within the catch-up: its ``new`` expired (no longer in
   force, correctly), its ``ended`` was sent (in force by its own validity): the officer
   got "red ended" for a red never heard of. Now nothing is paged; the ``ended`` row is
   ``unpaged`` (audited ``delivery_unpaged``, with the episode) and the dashboard's alarm
   log shows it in both languages; it cannot be acknowledged (nobody got it).
2. A late step older than the data a warning was last built from (or within an episode
   that has ended) changed that warning: it moved its validity backwards, paged a
   "lowered" from stale data, or started a new red episode inside an ended one. Then
   (review, same day) the comparison was against the last step PUBLISHED, not the newest
   one judged (a held orange with no refresh due was ended, lowered or raised by a late
   step older than its newest), and the ended episode was forgotten on restart.
3. A warning back in force after a catch-up had every unsent change queued again: a
   catch-up going orange -> red -> orange sent three pages. Now the officer gets one,
   the net state (the latest change, relative to what the officer last heard, naming
   the levels not sent and when); the earlier rows are ``superseded`` (audited), not
   deleted. Escalation follows the one page sent; an acknowledged change is not resent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.store import Store
from riskwarn.stream.publish import DOMAIN, Publisher
from riskwarn.stream.state import SiteLevel
from testkit.stream_helpers import Webhook

REASON = {"en": "Displacement: improved tangent angle 86.0°.", "zh": "位移监测：改进切线角86.0°。"}
H = pd.Timedelta(hours=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'serving.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = Store(url)
    s.upgrade()
    yield s
    s.close()


def _cfg(hook: Webhook, contacts: tuple[str, ...] = ("duty-1",)) -> Any:
    from riskwarn.stream.delivery import Contact, DeliveryConfig

    return DeliveryConfig(
        contacts={c: Contact(c, webhook=True) for c in contacts},
        default=list(contacts),
        webhook_url=hook.url,
        webhook_secret="s" * 32,
    )


def _round(pub: Publisher, cfg: Any, ranks: dict[str, int], at: pd.Timestamp) -> list[Any]:
    """One evaluated round as the consumer publishes it (deliveries in the publishing
    transaction). Returns the changes."""
    from riskwarn.stream.delivery import delivery_rows

    levels = {s: SiteLevel(s, r, [REASON], "ok", float("nan"), {}, at) for s, r in ranks.items()}
    changes = pub.changes(levels)
    rows = [row for c in changes for row in delivery_rows(cfg, c, [REASON])]
    pub.publish(levels, changes, deliveries=rows)
    return changes


def _catch_up(store: Store, cfg: Any, pub: Publisher, rank_at: Any, now: pd.Timestamp) -> None:
    """Hourly steps from 30 h ago to an hour ago, site L at ``rank_at(k)`` (k hours
    ago), the sender's loop between the rounds."""
    from riskwarn.stream.delivery import deliver_due

    for k in range(30, 0, -1):
        _round(pub, cfg, {"L": rank_at(k)}, now - k * H)
        deliver_due(store, cfg)


def _received(hook: Webhook) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in hook.received]


def _audit(store: Store, actions: tuple[str, ...]) -> list[dict[str, Any]]:
    d = store.deliveries()
    return [e for i in d["delivery_id"] for e in store.audit_entries("delivery", str(i), actions)]


# 1. a red that starts and ends within the catch-up


def test_a_red_that_started_and_ended_during_a_catch_up_pages_nobody_and_is_shown(
    store: Store,
) -> None:
    from dashboard.views import alarm_outcome
    from riskwarn.store import NeverSentError
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _catch_up(store, cfg, pub, lambda k: 4 if 21 <= k <= 28 else 0, now)
        assert deliver_due(store, cfg)["sent"] == 0
        assert _received(hook) == [], "paged for a red the officer never heard of"
    d = store.deliveries()
    assert d[["change", "status"]].values.tolist() == [["new", "expired"], ["ended", "unpaged"]]
    wid = d["warning_id"].iloc[0]
    (entry,) = _audit(store, ("delivery_unpaged",))
    assert entry["details"]["delivery_key"] == d["delivery_key"].iloc[1]
    assert entry["details"]["not_sent"] == [
        {"level": "red", "from": (now - 28 * H).isoformat(), "to": (now - 20 * H).isoformat()}
    ]
    with pytest.raises(NeverSentError):  # nobody got it: nothing to acknowledge
        store.acknowledge_delivered(wid, "duty-1")
    log = alarm_log(store.deliveries(), store.acknowledgements()).set_index("change")
    assert log.loc["ended", "expired"] and log.loc["ended", "sent"] == "webhook:duty-1 unpaged"
    assert alarm_outcome(log.loc["ended", "sent"], "en") == (
        "webhook:duty-1 not paged (ended before it could be sent)"
    )
    assert alarm_outcome(log.loc["ended", "sent"], "zh") == "webhook:duty-1 未推送（发送前已解除）"
    from dashboard.views import alarm_log_caption

    alarms = alarm_log(store.deliveries(), store.acknowledgements())
    assert "Of these, not paged (listed below): 1 ended before the officer heard of" in (
        alarm_log_caption(alarms, "en")
    )
    assert "其中未推送（见下表）：1 次变化在值班人员获知该预警前预警已解除" in (
        alarm_log_caption(alarms, "zh")
    )


def test_the_status_line_counts_what_was_not_sent_after_a_catch_up(tmp_path: Path) -> None:
    """`riskwarn stream --status` counts the rows merged into a later change and the
    ends of warnings nobody was told of, apart, in English and Chinese."""
    from riskwarn.stream.status import status_line

    status = {
        "pid": 0,
        "running": False,
        "broker": "127.0.0.1:1883",
        "source": "demo",
        "received": 1,
        "accepted": 1,
        "quarantined": 0,
        "queued": 0,
        "sensors": 1,
        "warned_sites": 1,
        "level_changes": 5,
        "deliveries_logged": 3,
        "deliveries_logged_expired": 2,
        "deliveries_superseded": 2,
        "deliveries_unpaged": 1,
        "last_write_at": None,
        "updated_at": "2026-12-06T02:00:00+00:00",
    }
    path = tmp_path / "status.json"
    path.write_text(json.dumps(status))
    assert (
        "3 deliveries (+2 expired unsent; 2 merged into a later change / 并入其后的变化; "
        "1 not paged: ended or below orange before the officer heard of the warning, or "
        "back at the level last sent / "
        "未推送：值班人员获知前已解除或降至橙色以下，或已回到上次推送的等级)"
    ) in status_line(path)


# 2. a late step older than the warning's data


@pytest.mark.parametrize("late_rank", [4, 2])
def test_a_late_step_older_than_the_warnings_data_changes_nothing(
    store: Store, late_rank: int
) -> None:
    """Red at L from 14 h ago, published again (refresh) 1 h ago; then a late step of
    L from 8 h ago arrives (red again, or yellow) in a round where site M turns orange.
    L's warning keeps its times (before: rebuilt from the late step, its validity moved
    7 h back) and no "lowered" change of L is logged from the stale step."""
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 4}, now - 14 * H)
        _round(pub, cfg, {"L": 4}, now - H)  # a refresh: validity ends within 12 h
        before = store.warnings(domain=DOMAIN).set_index("unit_id").loc["L"]
        assert pd.Timestamp(before["valid_to"]) == now + 23 * H
        changes = _round(pub, cfg, {"L": late_rank, "M": 3}, now - 8 * H)
        assert [(c.site_id, c.change) for c in changes] == [("M", "new")]
        deliver_due(store, cfg)
        assert [(m["site_id"], m["change"]) for m in _received(hook)] == [
            ("L", "new"),
            ("M", "new"),
        ]
    after = store.warnings(domain=DOMAIN).set_index("unit_id").loc["L"]
    assert pd.Timestamp(after["valid_to"]) == now + 23 * H
    assert pd.Timestamp(after["origin"]) == now - H
    assert after["level"] == "red"


def test_a_late_step_inside_an_ended_episode_starts_no_new_one(store: Store) -> None:
    """Red at L from 6 h ago, ended 3 h ago; then a late red step of 4 h ago arrives:
    before, a new red episode ("new" paged) from data older than the end; now nothing."""
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 4}, now - 6 * H)
        deliver_due(store, cfg)
        _round(pub, cfg, {"L": 0}, now - 3 * H)
        deliver_due(store, cfg)
        assert _round(pub, cfg, {"L": 4}, now - 4 * H) == []
        deliver_due(store, cfg)
        assert [(m["site_id"], m["change"]) for m in _received(hook)] == [
            ("L", "new"),
            ("L", "ended"),
        ]
    assert store.warnings(domain=DOMAIN).empty


@pytest.mark.parametrize("restart", [False, True])
@pytest.mark.parametrize("late_rank", [0, 2, 4])
def test_a_late_step_older_than_an_unpublished_newer_step_changes_nothing(
    store: Store, tmp_path: Path, late_rank: int, restart: bool
) -> None:
    """Orange at L from 3 h ago, orange again 1 h ago (no refresh due: nothing
    published); then a step of 2 h ago arrives late. The newest data said orange:
    nothing changes. Before, a late level 0 paged "ended" and removed the warning, 2 paged
    "lowered", 4 paged "raised" (the publisher compared against the last step PUBLISHED,
    not the last one judged). ``restart``: the consumer restarts in between, its cursor
    (run/stream.cursor.json, the newest step handled per site) read back."""
    from riskwarn.stream.cursor import load_cursor, save_cursor
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 3}, now - 3 * H)
        assert (
            pub.publish({"L": SiteLevel("L", 3, [REASON], "ok", float("nan"), {}, now - H)}, [])
            is None
        )  # held, no refresh due: nothing published
        deliver_due(store, cfg)
        if restart:
            cursor = tmp_path / "stream.cursor.json"
            save_cursor(cursor, {"L": int((now - H).value)})  # what the consumer wrote
            pub = Publisher(store, seen=load_cursor(cursor))
        assert _round(pub, cfg, {"L": late_rank}, now - 2 * H) == []
        deliver_due(store, cfg)
        assert [(m["site_id"], m["change"]) for m in _received(hook)] == [("L", "new")]
    after = store.warnings(domain=DOMAIN).set_index("unit_id").loc["L"]
    assert after["level"] == "orange"
    assert pd.Timestamp(after["origin"]) == now - 3 * H


@pytest.mark.parametrize("cursor", [False, True])
def test_a_late_step_inside_an_ended_episode_starts_no_new_one_after_a_restart(
    store: Store, tmp_path: Path, cursor: bool
) -> None:
    """Red at L from 6 h ago, ended 3 h ago; the consumer restarts (a new Publisher);
    a late red step of 4 h ago arrives. Before, the ended window lived in memory only:
    the officer got new -> ended -> NEW red, and a red in force for 20 h from stale data.
    Now the window is read back from the store (the warning's episode start, its "ended"
    delivery's step), with or without the consumer's cursor."""
    from riskwarn.stream.cursor import load_cursor, save_cursor
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 4}, now - 6 * H)
        deliver_due(store, cfg)
        _round(pub, cfg, {"L": 0}, now - 3 * H)
        deliver_due(store, cfg)
        seen = None
        if cursor:
            path = tmp_path / "stream.cursor.json"
            save_cursor(path, {"L": int((now - 3 * H).value)})
            seen = load_cursor(path)
        pub = Publisher(store, seen=seen)  # the consumer restarts
        assert _round(pub, cfg, {"L": 4}, now - 4 * H) == []
        deliver_due(store, cfg)
        assert [(m["site_id"], m["change"]) for m in _received(hook)] == [
            ("L", "new"),
            ("L", "ended"),
        ]
    assert store.warnings(domain=DOMAIN).empty


def test_a_late_yellow_inside_an_ended_yellow_after_a_restart_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    """A yellow episode (no delivery row records its end): yellow from 6 h ago, ended 3 h
    ago, level 0 again 2 h ago; restarted with the consumer's cursor, a late yellow step of
    4 h ago starts no new yellow warning."""
    from riskwarn.stream.cursor import load_cursor, save_cursor

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 2}, now - 6 * H)
        _round(pub, cfg, {"L": 0}, now - 3 * H)
        _round(pub, cfg, {"L": 0}, now - 2 * H)
        path = tmp_path / "stream.cursor.json"
        save_cursor(path, {"L": int((now - 2 * H).value)})
        pub = Publisher(store, seen=load_cursor(path))
        assert _round(pub, cfg, {"L": 2}, now - 4 * H) == []
    assert store.warnings(domain=DOMAIN).empty


def test_the_consumer_judges_a_late_step_after_a_restart_as_before_it(
    store: Store, tmp_path: Path
) -> None:
    """The same through the consumer (its methods called directly, not running, no
    broker): orange at L from 3 h ago, held 1 h ago (no change, nothing published, the
    cursor moves); the consumer restarts; a late level-0 step of 2 h ago ends nothing.
    Fails if the consumer does not pass its cursor to the publisher, or does not record
    a round without a change as judged."""
    from testkit.stream_helpers import free_port, stream_consumer

    now = pd.Timestamp.now(tz="UTC").floor("h")
    home = tmp_path / "home"

    def level(rank: int, at: pd.Timestamp) -> dict[str, SiteLevel]:
        return {"L": SiteLevel("L", rank, [REASON], "ok", float("nan"), {}, at)}

    def consumer() -> Any:
        return stream_consumer(home, free_port(), store_url=store.url, client_id="rw-late")

    def release(c: Any) -> None:
        c.store.close()
        c.store_lock.release()
        c.instance_lock.release()

    c = consumer()
    try:
        for rank, at in ((3, now - 3 * H), (3, now - H)):
            assert c._publish(level(rank, at))
            c._handled(level(rank, at))
            assert c._save_cursor()
        assert c.counters.published_runs == 1  # the held orange published nothing
    finally:
        release(c)
    c = consumer()  # restarted
    try:
        assert c._publish(level(0, now - 2 * H))
        assert c.counters.level_changes == 0
    finally:
        release(c)
    after = store.warnings(domain=DOMAIN).set_index("unit_id").loc["L"]
    assert after["level"] == "orange"


# 3. a warning back in force after a catch-up: the net state, once


def test_a_catch_up_orange_red_orange_pages_the_net_state_once(store: Store) -> None:
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import deliver_due, escalate

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook, ("duty-1", "duty-2"))
        _catch_up(store, cfg, pub, lambda k: 4 if 19 <= k <= 24 else 3, now)
        assert deliver_due(store, cfg)["sent"] == 0
        (msg,) = _received(hook)
        assert (msg["change"], msg["from_level"], msg["to_level"]) == ("new", None, "orange")
        assert msg["not_sent"] == [
            {
                "level": "orange",
                "from": (now - 30 * H).isoformat(),
                "to": (now - 24 * H).isoformat(),
            },
            {"level": "red", "from": (now - 24 * H).isoformat(), "to": (now - 18 * H).isoformat()},
        ]
        # an orange page is not escalated
        assert escalate(store, cfg, now=datetime.now(UTC) + timedelta(hours=2)) == 0
    d = store.deliveries()
    assert d[["change", "to_level", "status"]].values.tolist() == [
        ["new", "orange", "superseded"],
        ["raised", "red", "superseded"],
        ["new", "orange", "sent"],  # the lowering, sent as what the officer now learns
    ]
    sup = _audit(store, ("delivery_superseded",))
    assert sorted(e["details"]["superseded_by"] for e in sup) == [d["delivery_key"].iloc[2]] * 2
    log = alarm_log(store.deliveries(), store.acknowledgements())
    assert log["expired"].tolist() == [False, True, True]  # newest first


@pytest.mark.parametrize("ack_first", [False, True])
def test_a_catch_up_orange_red_pages_red_once_and_escalation_follows_it(
    store: Store, ack_first: bool
) -> None:
    """Orange from 30 h ago, red from 24 h ago, held: one page ("new" red, naming the
    orange not sent), escalated once to the next contact when nobody acknowledges it;
    acknowledged (by the key of the page sent), never escalated nor resent."""
    from riskwarn.stream.delivery import deliver_due, escalate

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook, ("duty-1", "duty-2"))
        _catch_up(store, cfg, pub, lambda k: 4 if k <= 24 else 3, now)
        (msg,) = _received(hook)
        assert (msg["change"], msg["to_level"]) == ("new", "red")
        assert [x["level"] for x in msg["not_sent"]] == ["orange"]
        if ack_first:
            store.acknowledge_delivered(msg["warning_id"], "duty-1")
        later = datetime.now(UTC) + timedelta(hours=2)
        assert escalate(store, cfg, now=later) == (0 if ack_first else 1)
        assert escalate(store, cfg, now=later) == 0  # once
        deliver_due(store, cfg)
        got = [(m["change"], m["to_level"], m["delivery_key"]) for m in _received(hook)]
        want = [("new", "red", msg["delivery_key"])]
        if not ack_first:
            want.append(("escalated", "red", msg["delivery_key"]))
        assert got == want
        _round(pub, cfg, {"L": 4}, now)  # a refresh puts nothing back in the queue
        assert deliver_due(store, cfg)["sent"] == 0


# 4. found in review (2026-12-06): what the officer may have heard, and a dip and back


class Clock:
    """The store's clock: the wall clock moved on by ``off`` (a lease running out)."""

    off = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.off


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def clocked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Clock]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'serving.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    clock = Clock()
    s = Store(url, clock=clock)
    s.upgrade()
    yield s, clock
    s.close()


def test_a_change_claimed_by_a_sender_that_died_counts_as_heard_and_its_end_is_paged(
    clocked: tuple[Store, Clock],
) -> None:
    """A sender claims "new red", posts it and is killed before recording the send (its
    claim is all the store has). The red ends. While the claim's lease runs, the end
    waits (held); after it, the officer gets "ended": a change that may have been sent
    counts as heard (at least once). Before: "new" superseded, "ended" unpaged, the
    officer who got "new red" never heard it ended."""
    from riskwarn.store.deliveries import CLAIM_LEASE_S
    from riskwarn.stream.delivery import deliver_due

    store, clock = clocked
    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 4}, now - 2 * H)
        (due,) = store.due_deliveries()
        assert store.claim_delivery(due["delivery_id"])[0] == "claimed"  # then SIGKILL
        _round(pub, cfg, {"L": 0}, now - H)  # the red ends
        assert deliver_due(store, cfg)["sent"] == 0
        assert store.deliveries()["status"].tolist() == ["pending", "pending"], "held"
        clock.off = timedelta(seconds=CLAIM_LEASE_S + 10)  # the lease runs out
        deliver_due(store, cfg)
        assert deliver_due(store, cfg)["sent"] == 0
        got = [(m["change"], m["from_level"], m["to_level"]) for m in _received(hook)]
    assert got == [("ended", "red", None)]
    d = store.deliveries()
    assert d[["change", "status"]].values.tolist() == [["new", "superseded"], ["ended", "sent"]]


@pytest.mark.parametrize("ack", [False, True])
def test_a_dip_and_back_to_the_level_heard_pages_nothing(store: Store, ack: bool) -> None:
    """A "new red" sent; catch-up steps lower it to orange and raise it back to red, both
    unsent: the officer last heard red and it is red, so nothing is paged (the rows
    recorded not sent, the audit names the dip) and the red is escalated once, or not
    at all once acknowledged. Before: "raised orange -> red" paged, escalated again
    under its new key (also after the red was acknowledged)."""
    from riskwarn.stream.delivery import deliver_due, escalate

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook, ("duty-1", "duty-2"))
        _round(pub, cfg, {"L": 4}, now - 4 * H)
        deliver_due(store, cfg)
        (msg,) = _received(hook)
        if ack:
            store.acknowledge_delivered(msg["warning_id"], "duty-1")
        _round(pub, cfg, {"L": 3}, now - 3 * H)
        _round(pub, cfg, {"L": 4}, now - 2 * H)
        counts = deliver_due(store, cfg)
        assert (counts["sent"], counts["superseded"], counts["unpaged"]) == (0, 1, 1)
        assert _received(hook) == [msg]
        later = datetime.now(UTC) + timedelta(hours=3)
        assert escalate(store, cfg, now=later) == (0 if ack else 1)
        assert escalate(store, cfg, now=later) == 0
        deliver_due(store, cfg)
        got = [(m["change"], m["to_level"], m["delivery_key"]) for m in _received(hook)]
    want = [("new", "red", msg["delivery_key"])]
    if not ack:
        want.append(("escalated", "red", msg["delivery_key"]))
    assert got == want
    d = store.deliveries()
    assert d.loc[d["escalation_step"] == 0, ["change", "to_level", "status"]].values.tolist() == [
        ["new", "red", "sent"],
        ["lowered", "orange", "superseded"],
        ["raised", "red", "unpaged"],
    ]
    (entry,) = _audit(store, ("delivery_unpaged",))
    assert entry["details"]["unpaged"] == "unchanged"
    assert entry["details"]["heard"] == msg["delivery_key"]
    assert entry["details"]["not_sent"] == [
        {"level": "orange", "from": (now - 3 * H).isoformat(), "to": (now - 2 * H).isoformat()}
    ]


def test_a_red_never_heard_of_after_an_acknowledged_orange_is_not_paged_as_lowered(
    store: Store,
) -> None:
    """Orange sent and acknowledged; then red and back to orange, both queued: the
    officer last heard orange and it is orange. Before: "lowered red -> orange" for a
    red they never heard of."""
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook, ("duty-1", "duty-2"))
        _round(pub, cfg, {"L": 3}, now - 3 * H)
        deliver_due(store, cfg)
        (msg,) = _received(hook)
        store.acknowledge_delivered(msg["warning_id"], "duty-1")
        _round(pub, cfg, {"L": 4}, now - 2 * H)
        _round(pub, cfg, {"L": 3}, now - H)
        deliver_due(store, cfg)
        assert _received(hook) == [msg]
    d = store.deliveries()
    assert d["status"].tolist() == ["sent", "superseded", "unpaged"]
    # acknowledging either says why it was never sent (before: "expired ... no longer in
    # force" for both, a warning in force)
    from riskwarn.store import NeverSentError

    raised, lowered = d["delivery_key"].iloc[1], d["delivery_key"].iloc[2]
    with pytest.raises(NeverSentError, match="merged into a later change") as exc:
        store.acknowledge_delivered(msg["warning_id"], "duty-1", delivery_key=raised)
    assert f"change {lowered} carried the net state" in str(exc.value)
    assert "no longer in force" not in str(exc.value)
    # the dashboard says why in the page's language (before: "every delivery expired
    # unsent: the warning was no longer in force" for both, in either language)
    from dashboard.views import never_sent_refusal

    assert {k: set(v) for k, v in exc.value.statuses.items()} == {raised: {"superseded"}}
    zh = never_sent_refusal("L", exc.value.statuses, "zh")
    assert "已并入其后的变化" in zh and "过期" not in zh, zh
    with pytest.raises(NeverSentError, match="not paged: nothing new") as exc:
        store.acknowledge_delivered(msg["warning_id"], "duty-1", delivery_key=lowered)
    assert "no longer in force" not in str(exc.value)
    assert {k: set(v) for k, v in exc.value.statuses.items()} == {lowered: {"unpaged"}}
    en = never_sent_refusal("L", exc.value.statuses, "en")
    assert "not paged: nothing new for the officer" in en and "expired" not in en, en


def test_rows_superseded_within_a_later_changes_claim_are_counted(
    clocked: tuple[Store, Clock],
) -> None:
    """A "new red" failed once (retry in 60 s); "lowered orange" is logged and comes due
    first: its claim supersedes the red (the net change is "new orange"), and the
    sender's counts (so `stream --status`) include that row. Before: not counted."""
    from dataclasses import replace

    from riskwarn.stream.delivery import deliver_due

    store, clock = clocked
    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook(status=503) as hook:
        cfg = replace(_cfg(hook), retry_base_s=60.0)
        _round(pub, cfg, {"L": 4}, now - 2 * H)
        assert deliver_due(store, cfg)["retry"] == 1
        _round(pub, cfg, {"L": 3}, now - H)
        hook.status = 200
        clock.off = timedelta(seconds=120)  # both due, the orange first
        counts = deliver_due(store, cfg)
        (msg,) = _received(hook)
    assert (msg["change"], msg["to_level"]) == ("new", "orange")
    assert (counts["sent"], counts["superseded"]) == (1, 1), counts
    assert store.deliveries()["status"].tolist() == ["superseded", "sent"]


def test_the_alarm_log_says_why_a_change_was_not_paged_in_both_languages(store: Store) -> None:
    """Red then yellow, both queued (the warning still in force at yellow): the lowering
    is not paged because it fell below orange before anyone heard of the warning, not
    because it "ended"; and a dip and back to the level heard is said as such. Before:
    every unpaged row "ended before it could be sent", the caption "1 warnings started
    and ended while the stream caught up a backlog" (also for a gateway down)."""
    from dashboard.views import alarm_log_caption, alarm_outcome
    from riskwarn.stream.alarm_log import alarm_log
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 4}, now - 3 * H)
        _round(pub, cfg, {"L": 2}, now - 2 * H)  # yellow: still in force
        _round(pub, cfg, {"M": 4}, now - 4 * H)
        deliver_due(store, cfg)
        _round(pub, cfg, {"M": 3}, now - 3 * H)
        _round(pub, cfg, {"M": 4}, now - 2 * H)  # back at the red M's officer heard
        deliver_due(store, cfg)
        assert [m["site_id"] for m in _received(hook)] == ["M"]
    assert store.warnings(domain=DOMAIN).set_index("unit_id").loc["L", "level"] == "yellow"
    log = alarm_log(store.deliveries(), store.acknowledgements())
    said = {
        (r.unit_id, r.change): (alarm_outcome(r.sent, "en"), alarm_outcome(r.sent, "zh"))
        for r in log.itertuples()
    }
    assert said[("L", "lowered")] == (
        "webhook:duty-1 not paged (below orange before anyone heard of it)",
        "webhook:duty-1 未推送（获知前已降至橙色以下）",
    )
    assert said[("M", "raised")] == (
        "webhook:duty-1 not paged (back at the level last sent)",
        "webhook:duty-1 未推送（已回到上次推送的等级）",
    )
    en, zh = alarm_log_caption(log, "en"), alarm_log_caption(log, "zh")
    assert (
        "Of these, not paged (listed below): 1 fell below orange before the officer heard "
        "of the warning (still in force); 1 back at the level last sent to the officer"
    ) in en
    assert "ended" not in en.split("Of these")[1] and "warnings" not in en.split("Of these")[1]
    assert (
        "其中未推送（见下表）：1 次变化在值班人员获知该预警前已降至橙色以下（预警仍有效）；"
        "1 次变化回到上次推送给值班人员的等级"
    ) in zh
    assert "解除" not in zh.split("其中未推送")[1]


def test_a_row_another_sender_recorded_is_never_marked_again(store: Store) -> None:
    """The net change marks peers it read as pending; another sender (PostgreSQL, READ
    COMMITTED) may have recorded one sent since. Marking it superseded then must change
    nothing and audit nothing: a sent page stays sent."""
    from riskwarn.store.deliveries import _mark
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("h")
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 4}, now - H)
        assert deliver_due(store, cfg)["sent"] == 1
    (row,) = store.deliveries().to_dict("records")
    entries: list[Any] = []
    with store._write() as conn:
        done = _mark(conn, row, "superseded", lambda *a: entries.append(a), {})
    assert not done and entries == []
    assert store.deliveries()["status"].tolist() == ["sent"]
