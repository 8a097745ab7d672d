"""A panel decision interrupted by ``kill -9`` of the process that was recording it.

The dashboard's process is killed while its decision's transaction is open (the
warning's UPDATE and the ``warning_reviews`` row written, the audit entry being
written, nothing committed). Afterwards, on SQLite and on the PostgreSQL server at
127.0.0.1: no trace of the half decision (no review row, no audit entry, the warning at
its old version and state), nothing left locked, and the same decision made again is
recorded exactly once, so a reviewer who retries after the restart does not record it
twice. A decision that had committed before the kill stays, once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from riskwarn.store import StaleWarningError, Store, warning_id_for
from tests.test_store_concurrency import DOMAIN, origin_of, write_run


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


def _decide_and_hang(url: str, wid: str, inside: Any) -> None:
    """Record a decision whose transaction stops before its commit (the store's clock is
    read again for the audit entry, inside the transaction: there it waits forever)."""
    calls = {"n": 0}

    def clock() -> datetime:
        calls["n"] += 1
        if calls["n"] == 2:  # the audit entry's time: UPDATE and review row are written
            inside.set()
            while True:
                time.sleep(1)
        return datetime.now(UTC)

    store = Store(url, clock=clock)
    store.review_warning(wid, "dismiss", "half a decision", "alice", expected_version=1)


@pytest.mark.timeout(180)
def test_kill_9_mid_decision_leaves_no_trace_and_the_retry_is_recorded_once(url: str) -> None:
    store = Store(url)
    store.upgrade()
    write_run(store, 0)
    wid = warning_id_for(DOMAIN, "c0000", origin_of(0))
    assert store.get_warning(wid)["version"] == 1

    ctx = mp.get_context("spawn")
    inside = ctx.Event()
    proc = ctx.Process(target=_decide_and_hang, args=(url, wid, inside))
    proc.start()
    assert inside.wait(120), "the decision never reached its transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL

    # no trace of the half decision
    after = Store(url)
    w = after.get_warning(wid)
    assert (w["version"], w["state"]) == (1, "new")
    assert after.warning_reviews(wid).empty
    assert after.audit_entries("warning", wid, ("review_dismiss", "review_rejected")) == []

    # nothing is left locked: the reviewer's retry goes through at once, exactly once
    started = time.monotonic()
    done = after.review_warning(wid, "dismiss", "a whole decision", "alice", expected_version=1)
    assert time.monotonic() - started < 20
    assert done["version"] == 2 and done["state"] == "dismissed"
    # the same submit again (a double click, a retry after the restart): refused, names it
    with pytest.raises(StaleWarningError, match="by alice"):
        after.review_warning(wid, "dismiss", "a whole decision", "alice", expected_version=1)
    reviews = after.warning_reviews(wid)
    assert reviews["reason"].tolist() == ["a whole decision"]
    assert [e["action"] for e in after.audit_entries("warning", wid, ("review_dismiss",))] == [
        "review_dismiss"
    ]
    for s in (store, after):
        s.close()
