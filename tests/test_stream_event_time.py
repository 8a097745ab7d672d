"""The stream's warnings live in event time (real SQLite and PostgreSQL stores).

A run's origin is the step end of the readings it was evaluated from and each warning
is valid for 24 h after its own site's step end, so a replayed stream (readings of
weeks ago) leaves no warning in force once a live stream publishes, and a replayed
round published after a live one is stored as superseded instead of being served over
it. Before, the origin was the publishing wall clock: the replay's warnings stayed in
force for a day after the replay and mixed with the live ones, and a replayed round
replaced the live run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.store import Store
from riskwarn.stream.publish import DOMAIN, HORIZON_HOURS, Publisher
from riskwarn.stream.state import SiteLevel
from testkit.stream_helpers import MOSQUITTO

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


def step(pub: Publisher, ranks: dict[str, int], at: pd.Timestamp) -> str | None:
    """One evaluated round: each site's level at the step ending at ``at``."""
    levels = {s: SiteLevel(s, r, [REASON], "ok", float("nan"), {}, at) for s, r in ranks.items()}
    return pub.publish(levels, pub.changes(levels))


def in_force(store: Store) -> list[str]:
    """The stream's sites with a warning in force, by the dashboard's own rule."""
    from dashboard import queries

    snap = queries.snapshot(store.url)
    return sorted(queries.warnings(snap, domain=DOMAIN)["unit_id"].astype(str))


def test_a_replayed_stream_then_a_live_one_are_judged_by_event_time(store: Store) -> None:
    live = pd.Timestamp.now(tz="UTC").floor("h") - H  # the live stream's last step end
    old = live - pd.Timedelta(days=20)  # a replay of readings three weeks old
    pub = Publisher(store)

    # the replay: R goes yellow, then red
    step(pub, {"R": 2}, old)
    replayed = step(pub, {"R": 4}, old + H)
    run = store.published_run(DOMAIN)
    assert run["run_id"] == replayed
    assert pd.Timestamp(run["origin"]) == old + H  # event time, not the wall clock
    r = store.warnings(domain=DOMAIN).set_index("unit_id").loc["R"]
    assert pd.Timestamp(r["origin"]) == old + H
    assert pd.Timestamp(r["valid_to"]) == old + H + pd.Timedelta(hours=HORIZON_HOURS)
    assert r["evidence"]["observed_to"] == (old + H).isoformat()  # nothing after the origin

    # the live stream: L goes red at its own (recent) step end and is served
    live_run = step(pub, {"L": 4}, live)
    assert pub.last_status == "published"
    run = store.published_run(DOMAIN)
    assert (run["run_id"], pd.Timestamp(run["origin"])) == (live_run, live)
    # the replay's red expired three weeks ago (event time): only L is in force
    assert in_force(store) == ["L"]

    # more of the replay after the live run: older than what is served, so it is stored
    # as superseded and not served over the live run
    late = step(pub, {"R": 3}, old + 2 * H)
    assert late is not None and pub.last_status == "superseded"
    runs = store.runs(DOMAIN).set_index("run_id")
    assert runs.loc[late, "status"] == "superseded"
    assert store.published_run(DOMAIN)["run_id"] == live_run
    served = store.warnings(domain=DOMAIN).set_index("unit_id")
    assert served.loc["L", "run_id"] == live_run and served.loc["L", "level"] == "red"
    assert in_force(store) == ["L"]

    # the live stream goes on: L lowered an hour later; the replayed R rides along in the
    # snapshot with its own event time (expired), never in force
    again = step(pub, {"L": 3}, live + H)
    assert pub.last_status == "published"
    assert store.published_run(DOMAIN)["run_id"] == again
    served = store.warnings(domain=DOMAIN).set_index("unit_id")
    assert pd.Timestamp(served.loc["R", "valid_to"]) == old + 2 * H + pd.Timedelta(hours=24)
    assert pd.Timestamp(served.loc["L", "origin"]) == live + H
    assert in_force(store) == ["L"]
    # after a restart the publisher carries on from the store: no change seen again
    restarted = Publisher(store)
    assert (
        restarted.changes({"L": SiteLevel("L", 3, [REASON], "ok", float("nan"), {}, live + H)})
        == []
    )


def test_a_restart_after_a_superseded_round_numbers_runs_after_it(store: Store) -> None:
    """The superseded replayed round has a greater run id than the served live run; after
    a restart the next live round must get a new id, not the superseded run's (that would
    re-publish it and withdraw the replayed warning it holds)."""
    live = pd.Timestamp.now(tz="UTC").floor("h") - H
    pub = Publisher(store)
    served = step(pub, {"L": 4}, live)
    late = step(pub, {"R": 4}, live - pd.Timedelta(days=20))
    assert pub.last_status == "superseded" and served is not None and late is not None
    assert late > served
    restarted = Publisher(store)
    again = step(restarted, {"L": 3}, live)
    assert again is not None and again > late
    assert restarted.last_status == "published"
    runs = store.runs(DOMAIN).set_index("run_id")["status"].to_dict()
    assert runs == {served: "superseded", late: "superseded", again: "published"}
    assert store.warnings(withdrawn=True).empty


def test_a_live_site_late_by_an_hour_is_served_at_once(store: Store) -> None:
    """A gateway flushing an hour late: its step is older than the served run but its red
    is still valid at the served time, so the round joins the served snapshot at once
    (run origin the served origin, the warning with its own event time). Before, it was
    stored superseded and served only with the next round of some site: in a stream that
    then went quiet, a known red never reached the dashboard."""
    live = pd.Timestamp.now(tz="UTC").floor("h") - 2 * H
    pub = Publisher(store)
    step(pub, {"A": 3}, live + H)
    step(pub, {"B": 4}, live)  # B's step of an hour before, late
    assert pub.last_status == "published"
    assert in_force(store) == ["A", "B"]
    assert pd.Timestamp(store.published_run(DOMAIN)["origin"]) == live + H  # not older
    b = store.warnings(domain=DOMAIN).set_index("unit_id").loc["B"]
    assert pd.Timestamp(b["origin"]) == live  # its own event time
    assert pd.Timestamp(b["valid_to"]) == live + pd.Timedelta(hours=24)
    step(pub, {"A": 4}, live + 2 * H)
    assert pub.last_status == "published"
    assert in_force(store) == ["A", "B"]
    # late by more than a warning's validity (a replay): stored superseded, not served
    step(pub, {"C": 4}, live - pd.Timedelta(hours=30))
    assert pub.last_status == "superseded"
    assert in_force(store) == ["A", "B"]


def test_a_level_held_for_two_days_stays_in_force(store: Store) -> None:
    """A site evaluated at red every hour for 48 h with no change anywhere: its warning
    is published again (new origin and valid_to) once its validity ends within 12 h of
    the step, so it never expires on the dashboard; nothing else is published and the
    warning (its id, its episode start) stays one. Before, only a level change anywhere
    published a round and the red expired 24 h after it was raised."""
    refresh_before = pd.Timedelta(hours=12)  # riskwarn.stream.publish.REFRESH_BEFORE
    start = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=48)
    pub = Publisher(store)
    assert step(pub, {"S": 4, "Q": 0}, start) is not None
    [wid] = store.warnings(domain=DOMAIN)["warning_id"].tolist()
    published = []
    for h in range(1, 49):
        at = start + h * H
        if step(pub, {"S": 4, "Q": 0}, at) is not None:
            published.append(h)
        w = store.warnings(domain=DOMAIN).set_index("unit_id").loc["S"]
        assert pd.Timestamp(w["valid_to"]) - at > refresh_before - H, h  # never near its end
    assert published == [12, 24, 36, 48]  # a round each 12 h of event time, no more
    w = store.warnings(domain=DOMAIN).set_index("unit_id").loc["S"]
    assert (w["warning_id"], pd.Timestamp(w["valid_from"])) == (wid, start)
    assert pd.Timestamp(w["origin"]) == start + 48 * H
    assert in_force(store) == ["S"]  # judged at the wall clock, two days after the raise


def levels_at(ranks: dict[str, int], at: pd.Timestamp) -> dict[str, SiteLevel]:
    return {s: SiteLevel(s, r, [REASON], "ok", float("nan"), {}, at) for s, r in ranks.items()}


def test_a_live_red_after_an_expired_replayed_red_is_a_new_episode(store: Store) -> None:
    """A replay's red (dismissed by the panel) rides in the served snapshot with its own,
    expired, event times once a live stream publishes. A later live red at that site is
    compared against no level (an expired warning is no level): a new episode with a new
    id, a new start and a fresh review, delivered. Before, it was compared against the
    stale red: no change (nothing delivered) and the refresh served it under the replay's
    id, episode start and 'dismissed' review; the stale red also scored 4 in the live
    run's forecasts (test below)."""
    live = pd.Timestamp.now(tz="UTC").floor("h") - 3 * H
    old = live - pd.Timedelta(days=20)
    pub = Publisher(store)
    step(pub, {"R": 4}, old)  # the replay
    stale = store.warnings(domain=DOMAIN).iloc[0]
    store.review_warning(
        str(stale["warning_id"]),
        action="dismiss",
        reason="replay test, not real",
        reviewer="panel",
        expected_version=int(stale["version"]),
    )
    step(pub, {"L": 1}, live)  # the live stream, another site
    assert pub.last_status == "published"
    assert in_force(store) == ["L"]
    # the live site R: back at no warning (nothing to end), then red
    assert pub.changes(levels_at({"R": 0}, live + H)) == []
    assert not pub.due_refresh(levels_at({"R": 4}, live + H))
    red = levels_at({"R": 4, "L": 1}, live + H)
    restarted = Publisher(store)  # the same judgement after a restart
    [change] = pub.changes(red)
    assert restarted.changes(red) == [change]
    assert (change.site_id, change.change, change.notify) == ("R", "new", True)
    assert change.warning_id != stale["warning_id"]
    restarted.publish(red, [change])
    assert restarted.last_status == "published"
    r = store.warnings(domain=DOMAIN).set_index("unit_id").loc["R"]
    assert r["warning_id"] == change.warning_id
    assert pd.Timestamp(r["valid_from"]) == live + H  # the live episode's start
    assert r["state"] == "new"  # a fresh review, not the replay's dismissal
    assert in_force(store) == ["L", "R"]
    f = store.published_forecasts(DOMAIN).set_index("unit_id")["score"]
    assert f.to_dict() == {"L": 1.0, "R": 4.0}
    assert store.warnings(withdrawn=True).empty


def test_a_superseded_replayed_red_is_not_scored_in_the_next_live_run(store: Store) -> None:
    """A replay after a live stream: its red reaches the served snapshot with the next
    live round, expired; the live run's forecast for its site is no level, not the
    replay's red valid until tomorrow."""
    live = pd.Timestamp.now(tz="UTC").floor("h") - 3 * H
    pub = Publisher(store)
    step(pub, {"L": 1}, live)
    step(pub, {"R": 4}, live - pd.Timedelta(days=20))
    assert pub.last_status == "superseded"
    step(pub, {"L": 2}, live + H)
    assert pub.last_status == "published"
    f = store.published_forecasts(DOMAIN).set_index("unit_id")
    assert f["score"].to_dict() == {"L": 2.0, "R": 0.0}
    assert in_force(store) == ["L"]


def test_a_restarted_consumer_holds_no_expired_replayed_level(store: Store, tmp_path: Path) -> None:
    """After a restart the consumer's hysteresis starts from the served warnings in
    force, not from an expired replayed red carried in the snapshot: seeded, that red
    held the site at red on its first live steps (lowered only after
    ``lower_after_steps`` hours), which is now a new episode and delivered."""
    from testkit.stream_helpers import stream_consumer

    live = pd.Timestamp.now(tz="UTC").floor("h") - 3 * H
    pub = Publisher(store)
    step(pub, {"R": 4}, live - pd.Timedelta(days=20))  # the replay
    step(pub, {"L": 3}, live)  # the live stream
    assert set(Publisher(store).served) == {"L", "R"}  # R rides along, expired
    c = stream_consumer(tmp_path, 1, store_url=store.url)  # constructed, not connected
    try:
        assert {site: h.rank for site, h in c.state.held.items()} == {"L": 3}
    finally:
        c.store_lock.release()
        c.instance_lock.release()


def test_run_ids_sort_in_publishing_order_past_9999_publishes_at_one_origin(
    store: Store,
) -> None:
    """After ``~9999`` the counter gets one more ``~`` per digit (``~~10000``), so the ids
    still sort as strings and ``Store.last_run_id`` (the SQL max) is the newest; a restart
    numbers after it. Before, ``~10000`` sorted before ``~9999``: the store's last id was
    ``~9999`` and a restart reused ``~10000`` (a re-publication of that run)."""
    t = pd.Timestamp.now(tz="UTC").floor("h") - H
    pub = Publisher(store)
    base = step(pub, {"A": 4}, t)
    assert base is not None
    pub.last_run_id = f"{base}~9998"  # as after 9,998 publishes at this origin
    ids = [step(pub, {"A": 3}, t), step(pub, {"A": 4}, t)]
    assert ids == sorted(ids) and store.last_run_id(DOMAIN) == ids[-1]
    restarted = Publisher(store)
    ids.append(step(restarted, {"A": 3}, t))
    assert ids == sorted(ids) and len(set(ids)) == 3  # no id reused after the restart
    assert store.last_run_id(DOMAIN) == ids[-1]
    assert ids == [f"{base}~9999", f"{base}~~10000", f"{base}~~10001"]
    assert store.published_run(DOMAIN)["run_id"] == ids[-1]
    assert store.warnings(withdrawn=True).empty


def test_run_counters_sort_as_strings() -> None:
    from riskwarn.stream.publish import run_counter

    assert [run_counter(n) for n in (1, 9999, 10000, 99999, 100000)] == [
        "~0001",
        "~9999",
        "~~10000",
        "~~99999",
        "~~~100000",
    ]
    counters = [run_counter(n) for n in (1, 2, 9, 10, 999, 9998, 9999, 10000, 10001, 123456)]
    assert counters == sorted(counters)


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")
def test_consumer_replay_then_live_then_replay_over_a_real_broker(
    settings: Any, broker: Any
) -> None:
    """The real consumer on a private broker and a real lake and store: a replayed
    failing slope (readings three weeks old), then a live one (readings up to now), then
    another replayed one. The served run's origin is the readings' time; only the live
    slope's warning is in force; the second replay is stored as superseded runs and never
    served over the live run. On the code before, every run's origin was the wall clock:
    the first replay's red was still in force beside the live one, and the second
    replay's runs replaced the live run."""
    from testkit.stream_helpers import Running, slope_readings, stream_consumer, wait_for
    from tests.test_stream import _publish

    now = pd.Timestamp.now(tz="UTC").floor("10min")
    replay1 = slope_readings("GR1", start=now - pd.Timedelta(days=40), step="10min", seed=2)
    replay2 = slope_readings("GR2", start=now - pd.Timedelta(days=41), step="10min", seed=3)
    live = slope_readings(
        "GL1", start=now - pd.Timedelta(days=18) + pd.Timedelta(hours=3), step="10min", seed=1
    )
    live = live.loc[live["observed_at"] <= now]  # up to now: 3 h before its failure
    st = Store(settings.resolved_store_url)
    consumer = stream_consumer(
        settings.home,
        broker.port,
        store_url=settings.resolved_store_url,
        lake_dir=settings.lake_dir,
        client_id="rw-event-time",
    )
    with Running(consumer) as c:

        def warned(site: str) -> bool:
            return c.settled() and c.publisher.served.get(site, {}).get("level_rank", 0) >= 3

        _publish(broker, replay1, site="HR1")
        wait_for(lambda: warned("HR1"), 180)
        run = st.published_run(DOMAIN)
        assert pd.Timestamp(run["origin"]) <= replay1["observed_at"].max() + H  # event time

        _publish(broker, live, site="HL1")
        wait_for(lambda: warned("HL1") and c.inbox.qsize() == 0, 180)
        wait_for(c.settled, 60)
        live_run = st.published_run(DOMAIN)
        origin = pd.Timestamp(live_run["origin"])
        assert now - pd.Timedelta(hours=24) < origin <= now
        hl1 = st.warnings(domain=DOMAIN).set_index("unit_id").loc["HL1"]
        assert pd.Timestamp(hl1["origin"]) <= origin  # nothing after the run's origin
        assert in_force(st) == ["HL1"]

        _publish(broker, replay2, site="HR2")
        wait_for(lambda: warned("HR2") and c.inbox.qsize() == 0, 180)
        wait_for(c.settled, 60)
    runs = st.runs(DOMAIN)
    later = runs.loc[pd.to_datetime(runs["origin"], utc=True) < now - pd.Timedelta(days=20)]
    assert len(later) and st.published_run(DOMAIN)["run_id"] == live_run["run_id"]
    hr2 = runs.loc[runs["run_id"] > live_run["run_id"], "status"]
    assert len(hr2) and set(hr2) == {"superseded"}
    assert in_force(st) == ["HL1"]
    st.close()
