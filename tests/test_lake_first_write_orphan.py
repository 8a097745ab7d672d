"""A write killed during a table's FIRST ingest leaves no orphan file (an attacker's
review, finding 4).

The first write of a table commits twice under one writer lock: the table's creation
(version 0), then its rows (version 1). Killed between the two, it left the rows' Parquet
file in the table, referenced by no commit; ``remove_uncommitted`` compared the log's
version (0) with the marker's (-1), took the write for committed and kept the file, and
``riskwarn lake sweep`` did not look at the lake's writer markers at all ("nothing to
remove"). Now the files of the commits since the marker are read from the log and any
other file the write made goes; the sweep cleans up after dead writers too.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskwarn.contracts import TABLES
from riskwarn.lake import layout
from riskwarn.lake.write import DEFAULT_HISTORY_DAYS, open_or_create


class _Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so the writer lock does not clean up."""


def _killed_first_write(lake_dir: Path) -> Path:
    """Create the table (v0) and write a data file, then die before its commit."""
    table = TABLES["incidents"]
    orphan = None
    with pytest.raises(_Killed), layout.writer_lock(lake_dir, "incidents") as path:
        open_or_create(path, table, DEFAULT_HISTORY_DAYS)
        part = path / "source=simcity" / "year=2023" / "month=0"
        part.mkdir(parents=True)
        orphan = part / "part-00000-dead.zstd.parquet"
        pq.write_table(pa.table({"x": [1]}), orphan)
        raise _Killed
    assert orphan is not None and orphan.exists()
    assert (lake_dir / layout.LOCKS / "incidents.writing").exists()
    return orphan


def test_sweep_removes_the_orphan_of_a_killed_first_write(tmp_path: Path) -> None:
    orphan = _killed_first_write(tmp_path)
    removed = layout.sweep_dead_writes(tmp_path)
    assert removed == [orphan] and not orphan.exists()
    assert (tmp_path / "incidents" / "_delta_log" / f"{0:020d}.json").exists()  # v0 kept
    assert not (tmp_path / layout.LOCKS / "incidents.writing").exists()


def test_the_next_write_removes_it_too(tmp_path: Path) -> None:
    orphan = _killed_first_write(tmp_path)
    with layout.writer_lock(tmp_path, "incidents"):
        assert not orphan.exists()


def test_sweep_leaves_a_live_write_alone(tmp_path: Path) -> None:
    orphan = _killed_first_write(tmp_path)
    import fcntl
    import os

    fd = os.open(tmp_path / layout.LOCKS / "incidents.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a writer at work
        assert layout.sweep_dead_writes(tmp_path) == []
        assert orphan.exists()
    finally:
        os.close(fd)
