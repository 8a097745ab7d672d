"""Ingests of one table and source are applied in the order they started (attack review
2026-12-07, F4): a full export started first and a correction file started after it,
both without ``--extracted-at``. Before, the correction file (small, read fast) committed
first, then the full export committed and rolled the three corrections back with no
warning (both reports "reconciled"). Now the later-started ingest waits, before it reads,
for the earlier one to end (:func:`riskwarn.lake.layout.ingest_queue`), says so, and is
applied last: the corrections stay. Two real processes, a real lake and store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from riskwarn.lake import layout, read_table
from riskwarn.store import Store
from testkit.ingest_helpers import SIM_INCIDENTS, sim_incidents_file

pytestmark = pytest.mark.timeout(600)

# the CLI, its first file's read held until the test says go (the full export, "slow")
_HELD_READ = """
import sys, time
from pathlib import Path
import riskwarn.ingest.flow as flow
real = flow.read_and_validate
started, go = Path(sys.argv[1]), Path(sys.argv[2])
def held(*args, **kwargs):
    started.touch()
    deadline = time.monotonic() + 300
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return real(*args, **kwargs)
flow.read_and_validate = held
from riskwarn.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _severity(home: Path) -> dict[str, int]:
    t = read_table(home / "lake", "incidents")
    return {str(k): int(v) for k, v in zip(t["record_id"], t["severity"], strict=True)}


def test_a_correction_started_after_a_full_export_is_applied_after_it(tmp_path: Path) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'serving.db'}"
    Store(url).upgrade()
    full = sim_incidents_file(tmp_path / "full.csv", dict.fromkeys(range(200), 1))
    corr = sim_incidents_file(tmp_path / "corr.csv", {0: 2, 1: 2, 2: 2, 999: 1})
    env = {**os.environ, "RISKWARN_HOME": str(home), "RISKWARN_STORE_URL": url}
    args = ["ingest", "--json", "--as-of", "2024-06-01", "--source", str(SIM_INCIDENTS)]
    started, go = tmp_path / "a.started", tmp_path / "a.go"
    err_b = tmp_path / "b.err"
    a = subprocess.Popen(
        [sys.executable, "-c", _HELD_READ, str(started), str(go), *args, str(full)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not started.exists():  # the full export's ingest is reading
            assert a.poll() is None, a.communicate()[1][-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with err_b.open("w") as err_fh:
            b = subprocess.Popen(
                [sys.executable, "-m", "riskwarn.cli", *args, str(corr)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=err_fh,
                text=True,
            )
            # the correction either ends (before the fix: it did not wait) or waits
            while b.poll() is None and "waiting for an ingest" not in err_b.read_text():
                assert time.monotonic() < deadline, err_b.read_text()[-2000:]
                time.sleep(0.05)
            waited = b.poll() is None
            if waited:  # its report names a wait of 0.5 s or more: make it one
                time.sleep(1.0)
            go.touch()  # the full export's read goes on
            out_b, _ = b.communicate(timeout=300)
        out_a, err_a = a.communicate(timeout=300)
    finally:
        go.touch()
        a.kill() if a.poll() is None else None
    assert a.returncode == 0, err_a[-2000:]
    assert b.returncode == 0, err_b.read_text()[-2000:]
    [rep_a], [rep_b] = json.loads(out_a), json.loads(out_b)
    # before: the corrections were rolled back to the full export's severity 1
    assert {k: v for k, v in _severity(home).items() if k <= "JQ00000002"} == {
        "JQ00000000": 2,
        "JQ00000001": 2,
        "JQ00000002": 2,
    }
    assert waited  # before: the correction ingest did not wait
    assert (rep_a["new"], rep_a["updated"]) == (200, 0)
    assert (rep_b["new"], rep_b["updated"]) == (1, 3)  # applied last, as a correction
    assert any("started earlier" in m for m in rep_b["messages"]), rep_b["messages"]
    assert "started earlier" in err_b.read_text()
    queue = home / "lake" / layout.LOCKS / "queue-incidents--simcity"
    assert [p.name for p in queue.iterdir()] == ["queue.lock"]  # no ticket left behind


def test_waiters_go_in_ticket_order_and_a_dead_ingests_ticket_blocks_nothing(
    tmp_path: Path,
) -> None:
    """Three ingests queued behind a fourth enter in the order they took their tickets;
    a ticket left by a killed ingest (its file there, its ``flock`` released by the
    kernel) is passed and removed."""
    lake = tmp_path / "lake"
    queue = lake / layout.LOCKS / "queue-incidents--simcity"
    queue.mkdir(parents=True)
    (queue / f"{7:012d}-999999.lock").touch()  # a dead ingest's ticket
    entered: list[str] = []
    release = threading.Event()

    def ingest(name: str, hold: threading.Event | None = None) -> None:
        with layout.ingest_queue(lake, "incidents", "simcity") as queued:
            entered.append(name)
            if hold is not None:
                hold.wait(timeout=60)
            assert queued["waited"] >= 0

    def tickets() -> int:
        return sum(1 for p in queue.iterdir() if p.name[0].isdigit())

    first = threading.Thread(target=ingest, args=("first", release))
    first.start()
    while entered != ["first"]:
        time.sleep(0.01)
    assert not (queue / f"{7:012d}-999999.lock").exists()  # passed and removed
    threads = [first]
    for n, name in enumerate(["second", "third", "fourth"]):
        t = threading.Thread(target=ingest, args=(name,))
        t.start()
        threads.append(t)
        while tickets() < n + 2:  # its ticket is taken
            time.sleep(0.01)
    time.sleep(0.2)
    assert entered == ["first"]  # the others wait
    release.set()
    for t in threads:
        t.join(timeout=60)
    assert entered == ["first", "second", "third", "fourth"]
    assert tickets() == 0


def test_another_source_of_the_table_is_not_held(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    done: list[float] = []

    def other() -> None:
        with layout.ingest_queue(lake, "incidents", "othercity") as queued:
            done.append(queued["waited"])

    with layout.ingest_queue(lake, "incidents", "simcity"):
        t = threading.Thread(target=other)
        t.start()
        t.join(timeout=30)
        assert len(done) == 1 and done[0] < 5  # entered while simcity's ingest runs
