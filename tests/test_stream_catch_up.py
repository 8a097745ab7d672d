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
    assert "Of these, 1 warnings started and ended while the stream caught up" in (
        alarm_log_caption(alarms, "en")
    )
    assert "其中 1 个预警在追赶积压数据期间发布并解除，未推送" in alarm_log_caption(alarms, "zh")


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
        "1 not paged: ended before it could be sent / 未推送：发送前已解除)"
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
