"""A writer and readers in separate processes, and two reviewers racing, on both backends.

The writer (the pipeline) stages, writes and publishes runs of a few hundred rows
in a loop, re-publishes an earlier run and tries to publish an empty one, while
reader processes (the dashboard) read the served forecasts and warnings. No process
may fail or time out, and every read must be one whole published run. Then the two
readers review the same warning at the same instant: exactly one wins, the other
gets StaleWarningError with the winner's decision, and both attempts are on record.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.store import StaleWarningError, Store, run_id_for, warning_id_for

DOMAIN = "incidents"
# the reviewers race on a warning of another domain's run, published once: the writer's
# runs replace the incidents warnings, on which no decision is taken any more
# (ReplacedWarningError, docs/serving-store.md)
REVIEWED = "dispute_hotspots"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
DURATION_S = 3.0
JOIN_TIMEOUT_S = 60


def n_forecasts(k: int) -> int:
    """Rows of run k: distinct per run, so a partial read cannot pass as another run."""
    return 200 + 7 * (k % 20)


def n_warnings(k: int) -> int:
    return 10 + (k % 5)


def origin_of(k: int) -> datetime:
    return BASE + timedelta(days=k)


def expected_counts(run_id: str) -> tuple[int, int]:
    k = (datetime.strptime(run_id.split(":")[1], "%Y%m%dT%H%MZ").replace(tzinfo=UTC) - BASE).days
    return n_forecasts(k), n_warnings(k)


def write_run(store: Store, k: int, domain: str = DOMAIN) -> str:
    """Stage, fill and publish run k of ``domain`` (deterministic content)."""
    origin = origin_of(k)
    run_id = store.stage_run(
        {
            "run_id": run_id_for(domain, origin),
            "domain": domain,
            "origin": origin,
            "horizon_hours": 24,
            "model_name": "riskwarn-incidents",
            "model_version": "1",
        }
    )
    n, m = n_forecasts(k), n_warnings(k)
    ts = pd.Timestamp(origin)
    store.write_forecasts(
        run_id,
        pd.DataFrame(
            {
                "unit_type": "cell",
                "unit_id": [f"c{i:04d}" for i in range(n)],
                "valid_to": ts + pd.Timedelta(days=1),
                "score": [float(n - i) for i in range(n)],
                "rank": range(1, n + 1),
                "explanation": [{"sentences": [f"cell {i}"]} for i in range(n)],
            }
        ),
    )
    store.write_warnings(
        run_id,
        pd.DataFrame(
            {
                "unit_type": "cell",
                "unit_id": [f"c{i:04d}" for i in range(m)],
                "valid_from": ts,
                "valid_to": ts + pd.Timedelta(days=1),
                "level": ["red", "orange", "yellow", "blue"] * (m // 4) + ["blue"] * (m % 4),
                "score": [float(m - i) for i in range(m)],
                "reasons": [["test"]] * m,
            }
        ),
    )
    store.publish_run(run_id)
    return run_id


def writer(url: str, start: Any, out: Any) -> None:
    """Publish runs 1, 2, ... for DURATION_S; some steps re-run an earlier run or fail one."""
    try:
        store = Store(url)
        store.published_run(DOMAIN)  # connect before the start line
        start.wait(timeout=JOIN_TIMEOUT_S)
        stop_at = time.time() + DURATION_S
        published, k, failed = 0, 1, 0
        while time.time() < stop_at or published < 3 or failed < 1:  # slow machine: do both
            if k % 5 == 0:  # a failing run: staged, never filled, publish refused
                run_id = store.stage_run(
                    {
                        "run_id": f"{DOMAIN}:failed{k}",
                        "domain": DOMAIN,
                        "origin": origin_of(1000 + k),
                        "horizon_hours": 24,
                    }
                )
                try:
                    store.publish_run(run_id)
                except ValueError:
                    failed += 1
            elif k % 7 == 0:
                write_run(store, k - 1)  # re-run the interval being served (a retry)
            else:
                write_run(store, k)
                published += 1
            k += 1
        store.close()
        out.put(("writer", {"published": published, "failed": failed}))
    except Exception:
        out.put(("error", traceback.format_exc()))


def reader(url: str, name: str, start: Any, race: Any, out: Any) -> None:
    """Read the served run for DURATION_S, then race the other reader to review a warning.

    Reports every read as (run_ids, rows, table, duplicated unit ids) and the review
    outcome: ("won", new version) or ("stale", reviewer of the decision that came first).
    """
    try:
        store = Store(url)
        store.published_run(DOMAIN)
        start.wait(timeout=JOIN_TIMEOUT_S)
        stop_at = time.time() + DURATION_S
        seen: list[tuple[str, int, str, int]] = []
        while time.time() < stop_at:
            # one snapshot: run, forecasts and warnings of the same run
            snap = store.published_snapshot(DOMAIN)
            run_id = snap["run"]["run_id"]
            for table in ("forecasts", "warnings"):
                frame = snap[table]
                ids = ",".join(sorted(set(frame["run_id"]) | {run_id}))
                seen.append((ids, len(frame), table, int(frame["unit_id"].duplicated().sum())))
            # separate calls: each one is a whole run (possibly different runs)
            for table, frame in (
                ("forecasts", store.published_forecasts(DOMAIN)),
                ("warnings", store.warnings(domain=DOMAIN)),
            ):
                ids = ",".join(sorted(set(frame["run_id"])))
                seen.append((ids, len(frame), table, int(frame["unit_id"].duplicated().sum())))
        outcome = review_at_once(store, name, race)
        store.close()
        out.put(("reader", seen, name, outcome))
    except Exception:
        out.put(("error", traceback.format_exc()))


def review_at_once(store: Store, name: str, race: Any) -> tuple[str, Any]:
    """Review the run-0 warning of REVIEWED at version 1, released together with the
    other reviewer."""
    wid = warning_id_for(REVIEWED, "c0000", origin_of(0))
    store.get_warning(wid)  # a warm connection, so both reach the UPDATE together
    race.wait(timeout=JOIN_TIMEOUT_S)
    try:
        if name == "alice":
            result = store.review_warning(wid, "adjust", "alice's call", name, 1, level="orange")
        else:
            result = store.review_warning(wid, "dismiss", "bob's call", name, 1)
    except StaleWarningError as exc:
        return ("stale", exc.current["last_review"]["reviewer"])
    return ("won", result["version"])


def collect(procs: list[Any], out: Any, n: int) -> list[tuple]:
    results = []
    deadline = time.time() + JOIN_TIMEOUT_S
    while len(results) < n:
        try:
            results.append(out.get(timeout=max(0.1, deadline - time.time())))
        except queue.Empty:
            break
    for p in procs:
        p.join(timeout=max(0.1, deadline - time.time()))
        if p.is_alive():
            p.kill()
            p.join()
    errors = [r for r in results if r[0] == "error"]
    assert not errors, "\n".join(str(e[-1]) for e in errors)
    assert len(results) == n, f"only {len(results)} of {n} processes reported (timeout)"
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return results


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


@pytest.mark.timeout(180)
def test_writer_readers_and_racing_reviewers_in_separate_processes(url: str) -> None:
    """One spawn session per backend (importing pandas is the slow part): three processes."""
    store = Store(url)
    store.upgrade()
    write_run(store, 0)  # something is served before readers start
    write_run(store, 0, REVIEWED)  # the reviewers' warning, in force throughout
    ctx = mp.get_context("spawn")
    out, start, race = ctx.Queue(), ctx.Barrier(3), ctx.Barrier(2)  # start once imported
    procs = [ctx.Process(target=writer, args=(url, start, out))]
    procs += [
        ctx.Process(target=reader, args=(url, name, start, race, out)) for name in ("alice", "bob")
    ]
    for p in procs:
        p.start()
    results = collect(procs, out, len(procs))

    # the writer finished and readers only ever saw whole published runs
    stats = next(r[1] for r in results if r[0] == "writer")
    assert stats["published"] >= 3 and stats["failed"] >= 1, stats
    reads = [read for r in results if r[0] == "reader" for read in r[1]]
    assert len(reads) >= 8
    for run_ids, n, table, dups in reads:
        assert "," not in run_ids and run_ids, f"a read mixed runs or was empty: {run_ids!r}"
        n_f, n_w = expected_counts(run_ids)
        assert n == (n_f if table == "forecasts" else n_w), f"partial {table} of {run_ids}: {n}"
        assert dups == 0
    assert len({r[0] for r in reads}) >= 2, "readers never saw the writer publish"
    run = store.published_run(DOMAIN)
    assert run is not None and len(store.published_forecasts(DOMAIN)) == run["n_rows"]
    assert store.runs(DOMAIN)["status"].value_counts().get("published") == 1

    # the two reviewers: exactly one won; the other was shown the winner's decision
    outcomes = {r[2]: r[3] for r in results if r[0] == "reader"}
    won = [name for name, o in outcomes.items() if o[0] == "won"]
    stale = [name for name, o in outcomes.items() if o[0] == "stale"]
    assert len(won) == 1 and len(stale) == 1, outcomes
    winner, loser = won[0], stale[0]
    assert outcomes[winner] == ("won", 2)
    assert outcomes[loser] == ("stale", winner)
    wid = warning_id_for(REVIEWED, "c0000", origin_of(0))
    assert store.warning_reviews(wid)["reviewer"].tolist() == [winner]
    log = store.audit_log()
    trail = log[log["object_id"] == wid]
    assert sorted(zip(trail["actor"], trail["action"], strict=True)) == sorted(
        [
            (winner, "review_adjust" if winner == "alice" else "review_dismiss"),
            (loser, "review_rejected"),
        ]
    )
    assert store.get_warning(wid)["version"] == 2
    store.close()
