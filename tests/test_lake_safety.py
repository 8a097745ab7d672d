"""The lake under attack: concurrent writers (issue 13.4), kill -9 mid-upsert (13.5), a full
disk and a read-only lake (13.8)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskwarn import lake
from riskwarn.contracts import INCIDENTS, conform
from riskwarn.lake import layout

pytestmark = pytest.mark.timeout(600)

N_WRITERS = 11
ROWS = 10_000


def _incidents(ids: list[str], year_of: np.ndarray, category: str) -> pd.DataFrame:
    when = pd.to_datetime([f"{y}-03-01" for y in year_of], utc=True)
    return conform(
        pd.DataFrame(
            {
                "source": "sim",
                "record_id": ids,
                "occurred_at": when + pd.to_timedelta(np.arange(len(ids)) % 86_400, unit="s"),
                "time_precision": "second",
                "category": category,
                "category_group": "violent",
                "lon": 106.5,
                "lat": 29.5,
            }
        ),
        INCIDENTS,
    )


def _writer(lake_dir: str, i: int, start: mp.Barrier) -> dict[str, int]:
    ids = [f"w{i:02d}-{k:06d}" for k in range(ROWS)]
    frame = _incidents(ids, np.where(np.arange(ROWS) % 2 == 0, 2021, 2022), "x")
    q = pd.DataFrame(
        {
            "source": "sim",
            "table_name": "incidents",
            "batch_id": f"batch-{i}",
            "file_name": f"f{i}.csv",
            "row_number": np.arange(1, 101),
            "reason": "missing_id",
            "message": "m",
            "original": "{}",
        }
    )
    start.wait()
    counts = lake.upsert(Path(lake_dir), "incidents", "sim", frame, batch_id=f"batch-{i}")
    lake.write_quarantine(Path(lake_dir), "sim", q)
    return counts


def test_eleven_concurrent_ingests_store_every_reported_row_once(tmp_path: Path) -> None:
    """11 processes upsert 10,000 rows each into the same partitions of one source, and a
    quarantine batch each, at the same moment: every row reported new is stored once."""
    ctx = mp.get_context("forkserver")  # children fork from a server that imported once
    ctx.set_forkserver_preload(["riskwarn.lake", "tests.test_lake_safety"])
    with ctx.Manager() as manager:
        start = manager.Barrier(N_WRITERS)
        with ctx.Pool(N_WRITERS) as pool:
            results = pool.starmap(_writer, [(str(tmp_path), i, start) for i in range(N_WRITERS)])
    assert sum(r["new"] for r in results) == N_WRITERS * ROWS
    stored = lake.read_table(tmp_path, "incidents", columns=["record_id"])
    assert len(stored) == N_WRITERS * ROWS
    assert stored["record_id"].is_unique
    q = lake.read_quarantine(tmp_path)
    assert len(q) == N_WRITERS * 100
    assert not q.duplicated(["batch_id", "row_number"]).any()


_KILL_VICTIM = """
import sys, numpy as np
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_lake_safety import _incidents, _upd
from riskwarn import lake
lake.upsert(Path({lake!r}), "incidents", "sim", _upd(), batch_id="fix")
"""
N_KILL = 200_000


def _ids() -> list[str]:
    return [f"r{k:07d}" for k in range(N_KILL)]


def _orig() -> pd.DataFrame:
    return _incidents(_ids(), np.full(N_KILL, 2021), "x")


def _upd() -> pd.DataFrame:
    """Every record corrected; a tenth of them moved to the next year."""
    years = np.where(np.arange(N_KILL) % 10 == 0, 2022, 2021)
    return _incidents(_ids(), years, "y")


def test_kill_9_mid_upsert_leaves_a_consistent_table_and_the_rerun_is_exact(tmp_path: Path) -> None:
    lake.upsert(tmp_path, "incidents", "sim", _orig(), batch_id="orig")
    version = lake.table_version(tmp_path, "incidents")
    marker = tmp_path / layout.LOCKS / "incidents.writing"
    victim = _KILL_VICTIM.format(tests=str(Path(__file__).parent), lake=str(tmp_path))
    proc = subprocess.Popen([os.sys.executable, "-c", victim])
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():  # the writer holds the lock and has begun
            assert proc.poll() is None, "the writer ended before it began writing"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        table = tmp_path / "incidents"
        seen = {p for p in table.rglob("*.parquet")}
        while not ({p for p in table.rglob("*.parquet")} - seen) and proc.poll() is None:
            time.sleep(0.005)  # until its first new file appears: mid-write
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # readable, and exactly one version of every record: the old one (no commit happened)
    # or, had the commit won the race, the new one
    now = lake.read_table(tmp_path, "incidents", columns=["record_id", "category"])
    assert len(now) == N_KILL and now["record_id"].is_unique
    committed = lake.table_version(tmp_path, "incidents") != version
    assert set(now["category"]) == ({"y"} if committed else {"x"})
    # the dead writer's mark, for the next writer to clean up; a writer killed after its
    # commit may have removed it already (seen under load: the kill came after its cleanup)
    assert marker.exists() or committed
    # files of the killed write date from here (used only when no commit happened)
    since = int(marker.read_text().split()[1]) if marker.exists() else 0
    rerun = time.time_ns()
    # the re-run is complete and exact, and the history of a moved record is whole
    counts = lake.upsert(tmp_path, "incidents", "sim", _upd(), batch_id="fix")
    assert counts == (
        {"new": 0, "updated": 0, "unchanged": N_KILL}
        if committed
        else {"new": 0, "updated": N_KILL, "unchanged": 0}
    )
    assert not marker.exists()
    back = lake.read_table(tmp_path, "incidents")
    pd.testing.assert_frame_equal(back, _upd().reset_index(drop=True), check_exact=True)
    hist = lake.record_history(tmp_path, "incidents", "r0000010")
    assert hist["change"].tolist() == ["insert", "before", "after"]
    assert [t.year for t in hist["occurred_at"]] == [2021, 2021, 2022]
    if not committed:  # what the killed writer wrote, and no commit references, is gone
        left = [
            p
            for p in (tmp_path / "incidents").rglob("*")
            if p.is_file() and since <= p.stat().st_mtime_ns < rerun
        ]
        assert left == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_full_disk_gives_one_line_and_leaves_no_files(small_disk: Path) -> None:
    root = small_disk / "lake"
    lake.upsert(root, "incidents", "sim", _incidents(["a"], np.array([2021]), "x"), batch_id="a")
    before = _files(root)
    rng = np.random.default_rng(1)
    big = _incidents(
        [f"{rng.bytes(24).hex()}" for _ in range(120_000)], np.full(120_000, 2021), "x"
    )
    with pytest.raises(lake.LakeError) as err:
        lake.upsert(root, "incidents", "sim", big, batch_id="big")
    message = str(err.value)
    assert "\n" not in message and "no space left on device" in message, message
    assert {p for p in _files(root) if layout.LOCKS not in p.parts} == {
        p for p in before if layout.LOCKS not in p.parts
    }
    assert lake.read_table(root, "incidents")["record_id"].tolist() == ["a"]
    # and the lake takes the next (fitting) write normally
    more = _incidents(["b"], np.array([2021]), "x")
    assert lake.upsert(root, "incidents", "sim", more, batch_id="b")["new"] == 1


def test_read_only_lake_gives_one_line_and_still_reads(small_disk: Path) -> None:
    root = small_disk / "lake"
    lake.upsert(root, "incidents", "sim", _incidents(["a"], np.array([2021]), "x"), batch_id="a")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(lake.LakeError) as err:
        lake.upsert(
            root, "incidents", "sim", _incidents(["b"], np.array([2021]), "x"), batch_id="b"
        )
    assert "\n" not in str(err.value) and "read-only file system" in str(err.value)
    with pytest.raises(lake.LakeError, match="read-only file system"):
        lake.write_quarantine(
            root,
            "sim",
            pd.DataFrame(
                {
                    "source": ["sim"],
                    "table_name": "incidents",
                    "batch_id": "b",
                    "file_name": "f",
                    "row_number": [1],
                    "reason": "r",
                    "message": "m",
                    "original": "{}",
                }
            ),
        )
    assert lake.read_table(root, "incidents")["record_id"].tolist() == ["a"]


def test_ingest_command_on_a_read_only_lake_says_one_line(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskwarn.cli import main

    corpus = Path(__file__).parent / "corpus"
    monkeypatch.setenv("RISKWARN_HOME", str(small_disk / "home"))
    args = ["ingest", "--no-store", "--source", str(corpus / "incidents.yaml")]
    assert main([*args, str(corpus / "good.csv")]) == 0
    capsys.readouterr()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    assert main([*args, str(corpus / "extra_column.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "read-only file system" in err[0]
