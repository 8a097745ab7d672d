"""Two publishers of one origin's community ranking at once, and one killed mid-publish.

Realistic triggers: a manual ``riskwarn score disputes`` while the DAG's ``communities``
task publishes the same origin, an Airflow retry while the zombie attempt still runs,
the box losing power (or the OOM killer) in the middle of the transaction. On SQLite and
on the PostgreSQL server at 127.0.0.1, whatever the interleaving: one ``community_runs``
row per origin, its rankings one publisher's whole ranking (never a mix, never twice),
each caller told what happened to its own rows (``published`` / ``replaced`` /
``unchanged``), one audit entry per write; a publisher killed inside its transaction
leaves no trace and nothing locked, and the retry publishes once.

The overlap is forced: publisher A stops inside its transaction (the store's clock is
read there) until publisher B has started its publish; on PostgreSQL the test also sees
B wait on A's lock.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from riskwarn.settings import Settings
from riskwarn.store import Store, community_run_id
from tests.test_community_publish import ORIGIN, RUN, _count, ranking
from tests.test_community_publish import lake_settings as lake_settings  # the fixture

WAIT_S = 120
RUN_ID = community_run_id(ORIGIN)


def _frame(which: str) -> pd.DataFrame:
    return ranking() if which == "A" else ranking(3, shift=1.0)


def _publish(url: str, which: str, hold: Any, inside: Any, release: Any, out: Any) -> None:
    """Publish ``which``'s ranking; with ``hold``, stop at the ``hold``-th read of the
    store's clock (inside the transaction) until ``release`` is set."""
    calls = {"n": 0}

    def clock() -> datetime:
        calls["n"] += 1
        if hold and calls["n"] == hold:
            inside.set()
            if release is None:  # to be killed here
                while True:
                    time.sleep(1)
            release.wait(WAIT_S)
        return datetime.now(UTC)

    store = Store(url, clock=clock)
    try:
        status = store.publish_community_ranking({**RUN, "airflow_run_id": which}, _frame(which))
        out.put((which, status))
    except Exception as exc:  # reported, not swallowed: the test shows it
        out.put((which, f"error: {type(exc).__name__}: {exc}"))
    finally:
        store.close()


def _advisory_waiters(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _race(url: str, first: str, second: str) -> list[tuple[str, str]]:
    """``first`` publishes and stops inside its transaction; ``second`` then publishes;
    ``first`` goes on. Return (who, answer) of each, the first's first."""
    ctx = mp.get_context("spawn")
    out, inside, release = ctx.Queue(), ctx.Event(), ctx.Event()
    a = ctx.Process(target=_publish, args=(url, first, 1, inside, release, out))
    a.start()
    assert inside.wait(WAIT_S), "the first publisher never reached its transaction"
    b = ctx.Process(target=_publish, args=(url, second, 0, None, None, out))
    b.start()
    if url.startswith("postgresql"):  # B queues on A's transaction lock
        deadline = time.monotonic() + WAIT_S
        while _advisory_waiters(url) < 1 and b.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _advisory_waiters(url) == 1, "the second publisher did not wait on the first"
    else:  # B is inside BEGIN IMMEDIATE's busy wait (30 s): give it time to get there
        time.sleep(2)
    release.set()
    answers = [out.get(timeout=WAIT_S) for _ in range(2)]
    for p in (a, b):
        p.join(WAIT_S)
        assert p.exitcode == 0
    return [answers[i] for i in ((0, 1) if answers[0][0] == first else (1, 0))]


def _entries(store: Store) -> list[dict[str, Any]]:
    log = store.audit_log()
    mine = log[log["action"] == "publish_community_ranking"].sort_values("id")
    return [{**d, "object_id": o} for d, o in zip(mine["details"], mine["object_id"], strict=True)]


def _fresh(store_url: str) -> Store:
    s = Store(store_url)
    s.upgrade()
    return s


@pytest.mark.timeout(300)
def test_two_publishers_of_the_same_ranking_store_it_once(store_url: str) -> None:
    store = _fresh(store_url)
    answers = _race(store_url, "A", "A")
    # the first writes, the second finds the same content and writes nothing
    assert sorted(status for _, status in answers) == ["published", "unchanged"]
    run, rows = store.community_ranking(ORIGIN)
    assert run is not None and run["replaced_at"] is None and run["n_communities"] == 4
    assert _count(store, "community_runs") == 1 and _count(store, "community_rankings") == 4
    pd.testing.assert_series_equal(
        rows["expected"], ranking()["expected"], check_names=False, check_index=False
    )
    assert [e["status"] for e in _entries(store)] == ["published"]
    store.close()


@pytest.mark.timeout(300)
def test_two_publishers_of_other_rankings_each_told_what_became_of_theirs(
    store_url: str,
) -> None:
    store = _fresh(store_url)
    answers = _race(store_url, "A", "B")
    # A wrote first (it held the lock); B's other ranking replaced it, and both know it
    assert answers == [("A", "published"), ("B", "replaced")]
    run, rows = store.community_ranking(ORIGIN)
    assert run is not None and run["airflow_run_id"] == "B" and run["replaced_at"] is not None
    assert run["n_communities"] == 3 == len(rows)
    assert _count(store, "community_runs") == 1 and _count(store, "community_rankings") == 3
    assert rows["expected"].tolist() == pytest.approx(_frame("B")["expected"].tolist())
    entries = _entries(store)
    assert [e["status"] for e in entries] == ["published", "replaced"]
    assert {e["object_id"] for e in entries} == {RUN_ID}
    # the trail chains: what B replaced is what A published
    assert entries[1]["content_hash_before"] == entries[0]["content_hash"]
    assert run["content_hash"].startswith(entries[1]["content_hash"])
    store.close()


def _kill_inside(url: str, which: str, hold: int) -> None:
    ctx = mp.get_context("spawn")
    out, inside = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_publish, args=(url, which, hold, inside, None, out))
    proc.start()
    assert inside.wait(WAIT_S), "the publisher never reached its transaction"
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    assert out.empty()


@pytest.mark.timeout(300)
def test_kill_9_of_a_first_publish_leaves_nothing_and_the_retry_publishes_once(
    store_url: str,
) -> None:
    store = _fresh(store_url)
    # killed at the audit entry's clock: run row and rankings written, nothing committed
    _kill_inside(store_url, "A", hold=2)
    assert store.community_ranking(ORIGIN)[0] is None
    assert _count(store, "community_rankings") == 0 and _entries(store) == []
    # nothing left locked (a lock outliving its holder would hang here: the timeout says)
    assert store.publish_community_ranking(RUN, ranking()) == "published"
    assert _count(store, "community_runs") == 1 and _count(store, "community_rankings") == 4
    assert [e["status"] for e in _entries(store)] == ["published"]
    store.close()


@pytest.mark.timeout(300)
def test_kill_9_of_a_replace_keeps_the_published_ranking_whole(store_url: str) -> None:
    store = _fresh(store_url)
    assert store.publish_community_ranking(RUN, ranking()) == "published"
    before, rows_before = store.community_ranking(ORIGIN)
    # killed with the old rankings deleted, the new ones and the run's update written
    _kill_inside(store_url, "B", hold=2)
    after, rows_after = store.community_ranking(ORIGIN)
    assert after == before and after is not None and after["replaced_at"] is None
    pd.testing.assert_frame_equal(rows_after, rows_before)
    assert [e["status"] for e in _entries(store)] == ["published"]
    assert store.publish_community_ranking(RUN, _frame("B")) == "replaced"
    assert store.publish_community_ranking(RUN, _frame("B")) == "unchanged"
    assert _count(store, "community_rankings") == 3
    assert [e["status"] for e in _entries(store)] == ["published", "replaced"]
    store.close()


# -- the publish step of two processes on a new serving store -----------------------------


def _publish_step(settings: Settings, out: Any, start: Any) -> None:
    from riskwarn.pipeline import publish_communities

    start.wait(WAIT_S)
    try:
        out.put(publish_communities(settings, ORIGIN))
    except Exception as exc:
        out.put(f"error: {type(exc).__name__}: {exc}")


@pytest.mark.timeout(300)
def test_two_publish_steps_on_a_new_store_publish_once(lake_settings: Settings) -> None:
    """The DAG's task and a manual run on a store no step has migrated yet: both create
    the schema (``Store.upgrade``) and publish the same ranking."""
    ctx = mp.get_context("spawn")
    out, start = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=_publish_step, args=(lake_settings, out, start)) for _ in "ab"]
    for p in procs:
        p.start()
    answers = sorted(out.get(timeout=WAIT_S) for _ in procs)
    for p in procs:
        p.join(WAIT_S)
    assert answers == ["published", "unchanged"]
    store = Store.from_settings(lake_settings)
    assert _count(store, "community_runs") == 1 and _count(store, "community_rankings") == 3
    assert [e["status"] for e in _entries(store)] == ["published"]
    store.close()
