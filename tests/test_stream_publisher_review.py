"""The stream's publisher and its deliveries, judged by event time and the wall clock
(review of 2026-12-05, main 677df97). Real SQLite and PostgreSQL stores, a real local
webhook receiver.

1. A red raised while the consumer catches up a backlog (hourly steps from 30 h ago to
   an hour ago) is in force until tomorrow: its one change (``new``, red) was logged
   ``expired`` (past its own validity when logged, the later refreshes never revisited
   it) and nobody was paged, nor escalated to. Now a publication that leaves a warning
   in force queues its expired unsent changes again, and the sender sends each once.
2. Replayed old readings were judged against the live warning: a step 20 days older
   than a live red at level 0 was an "ended" change of the live warning, delivered, and
   the next live red a second "new" page. A superseded round now neither changes the
   served snapshot nor logs deliveries, and a step older than a warning's episode is not
   compared against it.
3. A restart more than a day after the last round seeded the hysteresis with the
   expired red: the first live step (raw level none) was held at red, a new red.
4. ``Store.last_run_id`` was the SQL ``max`` in the database's collation: on a
   PostgreSQL database with ICU's linguistic collation ``~9999`` sorts after
   ``~~10000`` and a restart reused a run id.
5. ``expire_deliveries`` read the warning of each pending row with one statement per
   row (the sender calls it every loop); a pending row from before migration 0008 (its
   message names ``at`` but no ``valid_to``) whose warning the store no longer holds was
   sent days later.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from riskwarn.store import Store
from riskwarn.stream.publish import DOMAIN, Publisher
from riskwarn.stream.state import SiteLevel
from testkit.stream_helpers import Webhook, slope_readings

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
    """One evaluated round as the consumer publishes it: the changes' deliveries logged in
    the publishing transaction. Returns the changes."""
    from riskwarn.stream.delivery import delivery_rows

    levels = {s: SiteLevel(s, r, [REASON], "ok", float("nan"), {}, at) for s, r in ranks.items()}
    changes = pub.changes(levels)
    rows = [row for c in changes for row in delivery_rows(cfg, c, [REASON])]
    pub.publish(levels, changes, deliveries=rows)
    return changes


def _received(hook: Webhook) -> list[tuple[str, str, str]]:
    import json

    out = []
    for _, body in hook.received:
        msg = json.loads(body)
        out.append((msg["warning_id"], msg["change"], msg["to_level"]))
    return out


# 1. a red raised during a catch-up


def test_a_red_raised_during_a_catch_up_pages_once_and_is_escalated(store: Store) -> None:
    """Site L red at every hourly step from 30 h ago to an hour ago, published step by
    step as a consumer catching up; the sender runs between the rounds. Its warning is
    in force until tomorrow: its ``new`` red change is sent once (logged expired at
    first, queued again when a refresh put the warning back in force, both audited), and
    escalated to the next contact when nobody acknowledges it."""
    from riskwarn.stream.delivery import deliver_due, escalate

    now = pd.Timestamp.now(tz="UTC").floor("h")
    with Webhook() as hook:
        cfg = _cfg(hook, ("duty-1", "duty-2"))
        pub = Publisher(store)
        for k in range(30, 0, -1):
            _round(pub, cfg, {"L": 4}, now - k * H)
            deliver_due(store, cfg)  # the sender's loop, between the catch-up's rounds
        (w,) = store.warnings(domain=DOMAIN).to_dict("records")
        assert pd.Timestamp(w["valid_to"]) > now  # in force until tomorrow
        assert _received(hook) == [(w["warning_id"], "new", "red")]  # paged once
        assert deliver_due(store, cfg)["sent"] == 0  # once
        d = store.deliveries()
        assert d[["change", "to_level", "status"]].values.tolist() == [["new", "red", "sent"]]
        acts = store.audit_entries(
            "delivery",
            str(d["delivery_id"].iloc[0]),
            ("delivery_expired", "delivery_requeued"),
        )
        assert [e["action"] for e in reversed(acts)] == ["delivery_expired", "delivery_requeued"]
        assert acts[0]["details"]["found"] == "requeued"
        # nobody acknowledged it: the next contact of the route gets it
        later = datetime.now(UTC) + timedelta(hours=2)
        assert escalate(store, cfg, now=later) == 1
        assert deliver_due(store, cfg)["sent"] == 1
        assert [m[1:] for m in _received(hook)] == [("new", "red"), ("escalated", "red")]


# 2. replayed old readings against the live warning


@pytest.mark.parametrize("replayed", [0, 3])
def test_a_replayed_step_older_than_the_live_red_pages_nobody(store: Store, replayed: int) -> None:
    """A live red is paged; then a step 20 days older (level none, or orange) is replayed:
    it is no change of the live warning (no "ended"/"lowered" page), the served snapshot
    keeps the live red, and the next live red step is no second "new" page."""
    from riskwarn.stream.delivery import deliver_due

    live = pd.Timestamp.now(tz="UTC").floor("h") - 2 * H
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        _round(pub, cfg, {"L": 4}, live)
        deliver_due(store, cfg)
        wid = pub.served["L"]["warning_id"]
        for c in _round(pub, cfg, {"L": replayed}, live - pd.Timedelta(days=20)):
            assert c.warning_id != wid, c
        deliver_due(store, cfg)
        assert pub.served["L"]["warning_id"] == wid
        assert _round(pub, cfg, {"L": 4}, live + H) == []
        deliver_due(store, cfg)
        assert _received(hook) == [(wid, "new", "red")]
    (w,) = store.warnings(domain=DOMAIN).query("unit_id == 'L'").to_dict("records")
    assert w["warning_id"] == wid and w["level"] == "red" and w["version"] == 1
    assert store.deliveries()["status"].tolist().count("sent") == 1


def test_a_superseded_round_inside_the_live_episode_tells_nobody(store: Store) -> None:
    """A red held for two days; then a step of 40 h ago is replayed at level none (after
    the episode's start but before the warning's latest data: no change of it, since
    2026-12-06) with a red at another site: the round is older than the served run by
    more than a day, stored superseded. Its "new" change is not logged (the audit counts
    it) nor sent, the served snapshot keeps the red, and the next live step is no new
    episode."""
    from riskwarn.stream.delivery import deliver_due

    live = pd.Timestamp.now(tz="UTC").floor("h") - 2 * H
    pub = Publisher(store)
    with Webhook() as hook:
        cfg = _cfg(hook)
        for k in (48, 36, 24, 12, 0):  # refreshed every 12 h: in force throughout
            _round(pub, cfg, {"L": 4}, live - k * H)
        deliver_due(store, cfg)
        wid = pub.served["L"]["warning_id"]
        # L's level there is older than the data its warning was last built from: no
        # change of it at all (since 2026-12-06, Publisher.stale; before, an "ended"
        # change the store superseded); site R's replayed red is the superseded round's
        changes = _round(pub, cfg, {"L": 0, "R": 4}, live - 40 * H)
        assert [(c.site_id, c.change) for c in changes] == [("R", "new")]
        assert pub.last_status == "superseded"
        deliver_due(store, cfg)
        assert pub.served["L"]["warning_id"] == wid
        assert _round(pub, cfg, {"L": 4}, live + H) == []
        deliver_due(store, cfg)
        assert _received(hook) == [(wid, "new", "red")]
    assert store.deliveries()["change"].tolist() == ["new"]
    run = store.runs(DOMAIN).query("status == 'superseded'")["run_id"]
    entries = [e for r in run for e in store.audit_entries("forecast_run", r, ("publish_run",))]
    assert [
        e["details"]["deliveries_not_logged"]
        for e in entries
        if e["details"]["status"] == "superseded"
    ] == [1]


# 3. a restart more than a day after the last round


START = pd.Timestamp("2026-11-01", tz="UTC")


@pytest.mark.parametrize(("last_round_before", "held"), [(72 * H, False), (3 * H, True)])
def test_a_restarted_consumer_seeds_only_levels_in_force_at_its_next_step(
    store: Store, tmp_path: Path, last_round_before: pd.Timedelta, held: bool
) -> None:
    """The last published round served H1 red; the consumer restarts (constructed as in
    service: its hysteresis seeded from the publisher) and its first step (2026-11-03
    23:00, the rules read no level) is 72 h later: the expired red is not held (no
    level, nothing delivered). A red 3 h old is held as before (hysteresis)."""
    from testkit.stream_helpers import stream_consumer

    step_end = pd.Timestamp("2026-11-03 23:00", tz="UTC")
    pub = Publisher(store)
    red_at = step_end - last_round_before
    last = {"H1": SiteLevel("H1", 4, [REASON], "ok", float("nan"), {}, red_at)}
    pub.publish(last, pub.changes(last))
    c = stream_consumer(tmp_path, 1, store_url=store.url)  # the restart, not connected
    try:
        r = slope_readings("G1", start=START, step="10min", seed=2)
        c.state.add(r.loc[r["observed_at"] < START + pd.Timedelta(days=3)], {"G1": "H1"})
        ((lv,),) = [list(rd.values()) for rd in c.state.evaluate_within(c.state.due({"H1"}), 60)]
        assert (lv.observed_to, lv.raw_rank) == (step_end, 0)
        if held:
            assert lv.level_rank == 4 and c.publisher.changes({"H1": lv}) == []
        else:
            assert lv.level_rank == 0
            assert [x for x in c.publisher.changes({"H1": lv}) if x.notify] == []
    finally:
        c.store_lock.release()
        c.instance_lock.release()


# 4. run ids on a PostgreSQL database with a linguistic (ICU) collation


@pytest.fixture
def icu_url() -> Iterator[str]:
    """A fresh PostgreSQL database whose default collation is ICU's root locale."""
    from tests.conftest import PG_ADMIN_URL

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"rw_test_icu_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'und' LOCALE 'C.UTF-8'"
        )
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.postgres
def test_run_ids_past_9999_on_an_icu_collated_database_are_never_reused(icu_url: str) -> None:
    store = Store(icu_url)
    store.upgrade()
    try:
        with store.engine.connect() as conn:  # the database sorts linguistically
            assert conn.execute(sa.text("SELECT '~9999' > '~~10000'")).scalar_one()
        t = pd.Timestamp.now(tz="UTC").floor("h") - H
        pub = Publisher(store)
        with Webhook() as hook:
            cfg = _cfg(hook)
            _round(pub, cfg, {"A": 4}, t)
            base = pub.last_run_id
            pub.last_run_id = f"{base}~9998"  # as after 9,998 publishes at this origin
            _round(pub, cfg, {"A": 3}, t)
            _round(pub, cfg, {"A": 4}, t)
            assert store.last_run_id(DOMAIN) == f"{base}~~10000"
            restarted = Publisher(store)
            _round(restarted, cfg, {"A": 3}, t)
        assert restarted.last_run_id == f"{base}~~10001"
        assert store.published_run(DOMAIN)["run_id"] == f"{base}~~10001"
        assert store.warnings(withdrawn=True).empty
    finally:
        store.close()


# 5. the sender's expiry pass


def test_expiry_pass_is_one_read_whatever_the_queue(store: Store) -> None:
    """200 pending deliveries in force: the sender's expiry pass reads them (with their
    warnings) in one statement and writes nothing; before, one statement per row."""
    from riskwarn.stream.delivery import Contact, DeliveryConfig, delivery_rows
    from riskwarn.stream.publish import LevelChange

    cfg = DeliveryConfig(
        contacts={"duty-1": Contact("duty-1", webhook=True)},
        default=["duty-1"],
        webhook_url="http://127.0.0.1:9/",
        webhook_secret="s" * 32,
    )
    at = pd.Timestamp.now(tz="UTC").floor("h") - H
    rows = [
        r
        for i in range(200)
        for r in delivery_rows(cfg, LevelChange(f"S{i}", f"{DOMAIN}:S{i}:x", 0, 4, at), [])
    ]
    assert store.enqueue_deliveries(rows) == 200
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        assert store.expire_deliveries() == []
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, statements


def test_a_pending_row_from_before_0008_ends_a_day_after_its_change(store: Store) -> None:
    """A pending row logged before migration 0008: its message names ``at`` (three days
    ago) and no ``valid_to``, and the store no longer holds its warning. It ends at
    ``at`` + 24 h: expired (audited), not sent. One whose ``at`` is an hour ago is sent."""
    from riskwarn.store.models import Delivery
    from riskwarn.store.sql import table_of
    from riskwarn.stream.delivery import deliver_due

    now = pd.Timestamp.now(tz="UTC").floor("s")
    d = table_of(Delivery)
    with Webhook() as hook:
        cfg = _cfg(hook)
        with store.engine.begin() as conn:
            for site, ago in (("OLD", pd.Timedelta(days=3)), ("NEW", H)):
                at = now - ago
                wid = f"{DOMAIN}:{site}:{at:%Y%m%dT%H%MZ}"
                conn.execute(
                    sa.insert(d).values(
                        delivery_key=f"k-{site}",
                        warning_id=wid,
                        domain=DOMAIN,
                        unit_id=site,
                        change="new",
                        from_level=None,
                        to_level="red",
                        channel="webhook",
                        contact_id="duty-1",
                        escalation_step=0,
                        status="pending",
                        attempts=0,
                        message={
                            "warning_id": wid,
                            "site_id": site,
                            "change": "new",
                            "from_level": None,
                            "to_level": "red",
                            "at": at.isoformat(),
                            "reasons": [],
                            "delivery_key": f"k-{site}",
                            "escalation_step": 0,
                        },
                        changed_at=at.to_pydatetime(),
                        created_at=at.to_pydatetime(),
                        next_attempt_at=at.to_pydatetime(),
                    )
                )
        counts = deliver_due(store, cfg)
        assert (counts["expired"], counts["sent"]) == (1, 1), counts
        assert [m[0].split(":")[1] for m in _received(hook)] == ["NEW"]
    got = store.deliveries().set_index("unit_id")["status"].to_dict()
    assert got == {"OLD": "expired", "NEW": "sent"}
    (i,) = store.deliveries().query("unit_id == 'OLD'")["delivery_id"]
    (entry,) = store.audit_entries("delivery", str(i), ("delivery_expired",))
    want = (now - pd.Timedelta(days=3) + pd.Timedelta(hours=24)).isoformat()
    assert entry["details"]["in_force_until"] == pd.Timestamp(want).isoformat()
