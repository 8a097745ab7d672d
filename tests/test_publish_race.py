"""Two writers of the same run in two processes (issue 13.1): nobody reports a lie.

Realistic trigger: a manual ``riskwarn score`` while the DAG scores the same day, or
an Airflow retry while the zombie attempt is still running. Each writer stages, fills
and publishes the same ``run_id`` with its own content (writer A's scores and
warnings differ from B's), so the served rows tell whose attempt was published.

Whatever the interleaving, the served run must be one writer's complete attempt
(all its forecasts and all its warnings), and a writer may only report "published"
if it is its own attempt that is served; the other one must get an error.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.store import Store, run_id_for

DOMAIN = "incidents"
ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)
RUN_ID = run_id_for(DOMAIN, ORIGIN)
N_FORECASTS = 300
N_WARNINGS = 10
SCORE_OFFSET = {"A": 0.0, "B": 1000.0}
WAIT_S = 120


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        value = f"sqlite:///{tmp_path / 'serving.db'}"
    else:
        value = request.getfixturevalue("pg_url")
    store = Store(value)
    store.upgrade()
    store.close()
    return value


def forecasts(name: str) -> pd.DataFrame:
    ts = pd.Timestamp(ORIGIN)
    return pd.DataFrame(
        {
            "unit_type": "cell",
            "unit_id": [f"c{i:04d}" for i in range(N_FORECASTS)],
            "valid_to": ts + pd.Timedelta(days=7),
            "score": [SCORE_OFFSET[name] + N_FORECASTS - i for i in range(N_FORECASTS)],
            "rank": range(1, N_FORECASTS + 1),
        }
    )


def warnings(name: str) -> pd.DataFrame:
    ts = pd.Timestamp(ORIGIN)
    return pd.DataFrame(
        {
            "unit_type": "cell",
            "unit_id": [f"c{i:04d}" for i in range(N_WARNINGS)],
            "valid_from": ts,
            "valid_to": ts + pd.Timedelta(days=7),
            "level": "red",
            "score": [SCORE_OFFSET[name] + N_WARNINGS - i for i in range(N_WARNINGS)],
            "reasons": [["test"]] * N_WARNINGS,
        }
    )


def stage(store: Store) -> str:
    return store.stage_run(
        {"run_id": RUN_ID, "domain": DOMAIN, "origin": ORIGIN, "horizon_hours": 168}
    )


def attempt(out: Any, name: str, step: str, call: Any) -> None:
    """Run one store call and report its outcome: ('ok', result) or ('error', type, text)."""
    try:
        result = call()
        out.put((name, step, "ok", str(result)))
    except Exception as exc:
        out.put((name, step, "error", f"{type(exc).__name__}: {exc}"))


def slow_statements(store: Store, seconds: float) -> None:
    """Sleep after every SQL statement of this store: a loaded database server."""
    from sqlalchemy import event

    event.listen(store.engine, "after_cursor_execute", lambda *_: time.sleep(seconds))


def restager_publisher(url: str, name: str, events: dict[str, Any], out: Any) -> None:
    """Writer A fills the run, waits until B has re-staged it and written its forecasts
    (not yet its warnings), then publishes."""
    try:
        store = Store(url)
        stage(store)
        store.write_forecasts(RUN_ID, forecasts(name))
        store.write_warnings(RUN_ID, warnings(name))
        events["a_filled"].set()
        events["b_forecasts"].wait(WAIT_S)
        attempt(out, name, "publish", lambda: store.publish_run(RUN_ID))
        events["a_done"].set()
        store.close()
    except Exception:
        out.put((name, "crash", "error", traceback.format_exc()))


def restager_filler(url: str, name: str, events: dict[str, Any], out: Any) -> None:
    """Writer B re-stages the same run while A's attempt is filled, then finishes its own."""
    try:
        store = Store(url)
        events["a_filled"].wait(WAIT_S)
        stage(store)
        store.write_forecasts(RUN_ID, forecasts(name))
        events["b_forecasts"].set()
        events["a_done"].wait(WAIT_S)
        attempt(out, name, "warnings", lambda: store.write_warnings(RUN_ID, warnings(name)))
        attempt(out, name, "publish", lambda: store.publish_run(RUN_ID))
        store.close()
    except Exception:
        out.put((name, "crash", "error", traceback.format_exc()))


def racing_publisher(url: str, name: str, events: dict[str, Any], out: Any) -> None:
    """Fill the run (A first, then B), then both publish at the same instant on a slow server."""
    try:
        store = Store(url)
        if name == "B":
            events["a_filled"].wait(WAIT_S)
        stage(store)
        store.write_forecasts(RUN_ID, forecasts(name))
        store.write_warnings(RUN_ID, warnings(name))
        events["a_filled" if name == "A" else "b_filled"].set()
        events["b_filled"].wait(WAIT_S)
        slow_statements(store, 0.3)
        events["start"].wait(WAIT_S)
        attempt(out, name, "publish", lambda: store.publish_run(RUN_ID))
        store.close()
    except Exception:
        out.put((name, "crash", "error", traceback.format_exc()))


def run_pair(url: str, target: Any, *, barrier: bool = False) -> dict[tuple[str, str], Any]:
    ctx = mp.get_context("spawn")
    events: dict[str, Any] = {
        k: ctx.Event() for k in ("a_filled", "b_filled", "b_forecasts", "a_done")
    }
    events["start"] = ctx.Barrier(2) if barrier else ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=target[n], args=(url, n, events, out)) for n in ("A", "B")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(WAIT_S)
    alive = [p.name for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert not alive, f"writers did not finish within {WAIT_S} s"
    outcomes: dict[tuple[str, str], Any] = {}
    while True:
        try:
            name, step, status, detail = out.get(timeout=1)
        except queue.Empty:
            break
        assert step != "crash", detail
        outcomes[(name, step)] = (status, detail)
    return outcomes


def served(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = Store(url)
    snap = store.published_snapshot(DOMAIN)
    store.close()
    return snap["forecasts"], snap["warnings"]


def whose(frame: pd.DataFrame) -> set[str]:
    """Which writer's content the served rows are (by their score offset)."""
    return {"B" if s >= SCORE_OFFSET["B"] else "A" for s in frame["score"]}


def check_one_complete_attempt(url: str, outcomes: dict[tuple[str, str], Any]) -> None:
    f, w = served(url)
    assert len(f) == N_FORECASTS, f"{len(f)} forecasts served, {outcomes}"
    assert len(w) == N_WARNINGS, f"{len(w)} warnings served (all red), {outcomes}"
    owners = whose(f) | whose(w)
    assert len(owners) == 1, f"served rows mix writers {owners}: {outcomes}"
    published = {n for (n, step), (status, _) in outcomes.items() if step == "publish"}
    reported = {n for n in published if outcomes[(n, "publish")] == ("ok", "published")}
    assert reported <= owners, f"{reported - owners} reported 'published' over {owners}'s rows"
    assert reported, f"nobody published: {outcomes}"


def test_publish_while_the_run_is_restaged_serves_one_complete_attempt(url: str) -> None:
    outcomes = run_pair(url, {"A": restager_publisher, "B": restager_filler})
    check_one_complete_attempt(url, outcomes)
    status, detail = outcomes[("A", "publish")]
    assert status == "error" and "re-staged" in detail, detail


@pytest.mark.postgres
def test_two_publishers_at_once_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    store.upgrade()
    store.close()
    outcomes = run_pair(pg_url, {"A": racing_publisher, "B": racing_publisher}, barrier=True)
    check_one_complete_attempt(pg_url, outcomes)
