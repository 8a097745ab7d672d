"""The export-times index when a month is sent again (bench/bench_export_times.py: a city
readings month re-sent with a later export time peaked at 4.4-4.5 GB, over issue 18.2's
4 GB, and left the index at 4x its size).

A re-export carries every record of the month, so every index entry of the month's
partitions changes. Before the fix the index was MERGEd entry by entry: the rewritten
partition came out of the join unsorted (3x larger) and the replaced file stayed on disk
with the table's history (365 days). Now a partition whose entries are all rewritten is
replaced in one commit with the entries in record_id order, and the files a rewrite of
the index replaced are vacuumed at once (the index is read only under its table's writer
lock). The entries must stay exact: after a full re-send, a re-send with one correction,
a one-record correction, an untimed correction, a record moving to another month, and a
kill -9 around the index's rewrite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from riskwarn import lake
from riskwarn.contracts import INCIDENTS, SENSOR_READINGS, conform
from riskwarn.lake import layout
from riskwarn.lake.history import read_versions
from riskwarn.lake.read import table_version

pytestmark = pytest.mark.timeout(300)

T1 = datetime(2023, 2, 1, 2, 0, tzinfo=UTC)
T2 = datetime(2023, 2, 8, 2, 0, tzinfo=UTC)
T3 = datetime(2023, 2, 15, 2, 0, tzinfo=UTC)
T4 = datetime(2023, 2, 22, 2, 0, tzinfo=UTC)


def _readings(n: int = 240, bump: dict[int, float] | None = None) -> pd.DataFrame:
    """``n`` readings of January 2023 (the first ones on Dec 31 UTC: two partitions),
    ids carrying their time as the city's readings mapping makes them."""
    times = pd.date_range("2022-12-31 23:00", periods=n, freq="10min", tz="UTC")
    values = [float(i % 7) for i in range(n)]
    for i, v in (bump or {}).items():
        values[i] = v
    frame = pd.DataFrame(
        {
            "source": "s",
            "record_id": [f"dev1|{t:%Y-%m-%dT%H:%M}|rain" for t in times],
            "sensor_id": "dev1",
            "observed_at": times,
            "interval_s": 600,
            "quantity": "rain",
            "value": values,
            "quality": "good",
        }
    )
    return conform(frame.sample(frac=1.0, random_state=1), SENSOR_READINGS)  # any order


def _send(lake_dir: Path, frame: pd.DataFrame, batch: str, at: datetime | None) -> dict[str, int]:
    return lake.upsert(
        lake_dir,
        "sensor_readings",
        "s",
        frame,
        batch_id=batch,
        grain="month",
        ids_carry_time=True,
        extracted_at=at,
    )


def _index_dir(lake_dir: Path, table: str = "sensor_readings") -> Path:
    return layout.table_dir(lake_dir, layout.export_times_name(table))


def _index(lake_dir: Path, table: str = "sensor_readings") -> pd.DataFrame:
    t = DeltaTable(str(_index_dir(lake_dir, table))).to_pyarrow_table()
    return t.to_pandas().sort_values("record_id").reset_index(drop=True)


def _index_files_are_the_live_ones(
    lake_dir: Path, table: str = "sensor_readings", *, in_order: bool = True
) -> None:
    """Every data file of the index on disk is one of its current version, and
    (``in_order``: the partitions were replaced whole) each is in record_id order. A MERGE
    of a few entries (a partial rewrite) puts the updated entries first."""
    path = _index_dir(lake_dir, table)
    live = set(DeltaTable(str(path)).file_uris())
    on_disk = {str(p) for p in path.rglob("*.parquet") if "_delta_log" not in p.parts}
    assert {Path(p).name for p in on_disk} == {Path(p).name for p in live}
    for p in on_disk if in_order else ():
        flat = pq.read_table(p, columns=["record_id"])["record_id"].combine_chunks()
        assert len(flat) < 2 or pc.all(pc.greater(flat[1:], flat[:-1])).as_py(), p


def _entries_are(index: pd.DataFrame, expect: dict[str, tuple[datetime, str, bool]]) -> None:
    assert index["record_id"].is_unique
    got = {
        r: (pd.Timestamp(a).to_pydatetime(), str(b), bool(f))
        for r, a, b, f in zip(
            index["record_id"],
            index["extracted_at"],
            index["batch_id"],
            index["from_export"],
            strict=True,
        )
    }
    assert got == expect


def test_a_month_sent_again_replaces_its_entries_sorted_and_leaves_no_old_file(
    tmp_path: Path,
) -> None:
    month = _readings()
    ids = sorted(month["record_id"])
    assert _send(tmp_path, month, "jan", T1)["new"] == len(ids)
    # the same month again, a later export: every entry now names it
    got = _send(tmp_path, month, "jan-again", T2)
    assert (got["new"], got["updated"], got["unchanged"]) == (0, 0, len(ids))
    index = _index(tmp_path)
    _entries_are(index, {r: (T2, "jan-again", True) for r in ids})
    # each entry in its record's partition (Dec 31 UTC readings in December)
    dec = index["record_id"].str.startswith("dev1|2022-12-31")
    assert set(zip(index["year"][dec], index["month"][dec], strict=True)) == {(2022, 12)}
    assert set(zip(index["year"][~dec], index["month"][~dec], strict=True)) == {(2023, 1)}
    # before the fix: the MERGE's rewritten file plus the replaced one on disk
    _index_files_are_the_live_ones(tmp_path)
    # the same file with the same export time: no commit in the table nor in the index
    versions = (
        table_version(tmp_path, "sensor_readings"),
        DeltaTable(str(_index_dir(tmp_path))).version(),
    )
    again = _send(tmp_path, month, "jan-again", T2)
    assert (again["new"], again["updated"]) == (0, 0)
    assert versions == (
        table_version(tmp_path, "sensor_readings"),
        DeltaTable(str(_index_dir(tmp_path))).version(),
    )


def test_a_month_sent_again_with_one_correction_keeps_the_history(tmp_path: Path) -> None:
    month = _readings()
    ids = sorted(month["record_id"])
    _send(tmp_path, month, "jan", T1)
    fixed = _readings(bump={100: 99.0})
    rid = str(fixed.loc[fixed["value"] == 99.0, "record_id"].iloc[0])
    got = _send(tmp_path, fixed, "jan-fix", T2)
    assert (got["new"], got["updated"], got["unchanged"]) == (0, 1, len(ids) - 1)
    _entries_are(_index(tmp_path), {r: (T2, "jan-fix", True) for r in ids})
    _index_files_are_the_live_ones(tmp_path)
    # the correction kept the record's earlier version
    versions = read_versions(tmp_path, "sensor_readings")
    mine = versions[versions["record_id"] == rid].sort_values("value")
    assert mine["value"].tolist() == [float(100 % 7), 99.0]
    # then one record corrected alone (a MERGE of one entry): the others keep T2
    one = fixed[fixed["record_id"] == rid].assign(value=98.0)
    assert _send(tmp_path, one, "one", T3)["updated"] == 1
    expect = {r: (T2, "jan-fix", True) for r in ids} | {rid: (T3, "one", True)}
    _entries_are(_index(tmp_path), expect)
    _index_files_are_the_live_ones(tmp_path, in_order=False)
    # untimed, it is applied and its entry says its content is no longer T3's export's
    assert _send(tmp_path, one.assign(value=97.0), "untimed", None)["updated"] == 1
    expect[rid] = (T3, "one", False)
    _entries_are(_index(tmp_path), expect)
    # an export older than T3 is refused for it, naming T3's batch
    older = _send(tmp_path, one.assign(value=96.0), "old", T2)
    assert older.get("reverted") == 1
    [q] = lake.read_quarantine(tmp_path).to_dict("records")
    assert q["reason"] == "older_extract" and "batch one" in q["message"]
    # the whole month re-sent by T4's export: all entries T4, from that export
    month_now = fixed.assign(value=lambda f: f["value"].where(f["record_id"] != rid, 97.0))
    got = _send(tmp_path, month_now, "jan-t4", T4)
    assert (got["updated"], got["unchanged"]) == (0, len(ids))
    _entries_are(_index(tmp_path), {r: (T4, "jan-t4", True) for r in ids})
    _index_files_are_the_live_ones(tmp_path)


def _incidents(ids: list[str], days: list[str]) -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "source": "t",
                "record_id": ids,
                "occurred_at": pd.to_datetime(days, utc=True),
                "time_precision": "minute",
                "category": "a",
                "category_group": "violent",
                "lon": 106.5,
                "lat": 29.5,
            }
        ),
        INCIDENTS,
    )


def test_a_record_moving_to_another_month_keeps_one_entry(tmp_path: Path) -> None:
    def send(frame: pd.DataFrame, batch: str, at: datetime) -> dict[str, int]:
        return lake.upsert(
            tmp_path, "incidents", "t", frame, batch_id=batch, grain="month", extracted_at=at
        )

    june = [f"r{i}" for i in range(6)]
    send(_incidents(june, ["2023-06-10 12:00"] * 6), "june", T1)
    send(_incidents(["j1", "j2"], ["2023-07-10 12:00"] * 2), "july", T1)
    # June again, r5 now dated in July: its entry moves, July's others stay
    days = ["2023-06-10 12:00"] * 5 + ["2023-07-02 12:00"]
    assert send(_incidents(june, days), "june2", T2)["updated"] == 1
    index = _index(tmp_path, "incidents")
    _entries_are(
        index,
        {r: (T2, "june2", True) for r in june} | {r: (T1, "july", True) for r in ("j1", "j2")},
    )
    at = index.set_index("record_id")
    assert (int(at.loc["r5", "year"]), int(at.loc["r5", "month"])) == (2023, 7)
    assert {int(at.loc[r, "month"]) for r in june[:5]} == {6}
    _index_files_are_the_live_ones(tmp_path, "incidents", in_order=False)
    # June and July both sent again: both partitions replaced whole
    both = _incidents([*june, "j1", "j2"], days + ["2023-07-10 12:00"] * 2)
    assert send(both, "both", T3)["unchanged"] == 8
    _entries_are(
        _index(tmp_path, "incidents"), {r: (T3, "both", True) for r in [*june, "j1", "j2"]}
    )
    _index_files_are_the_live_ones(tmp_path, "incidents")


# a re-send (one correction in the month) killed at the index's rewrite: as it starts
# (nothing of it committed) or right after its commit (before the replaced files are
# vacuumed and before the table commit)
_KILLED = """
import os, signal, sys
from pathlib import Path
import deltalake
def kill(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
if sys.argv[1] == "before":
    write = deltalake.write_deltalake
    def killing(table, *args, **kwargs):
        if "_export_times" in str(getattr(table, "table_uri", table)):
            kill()
        return write(table, *args, **kwargs)
    deltalake.write_deltalake = killing
    deltalake.DeltaTable.merge = kill
else:
    deltalake.DeltaTable.vacuum = kill
sys.path.insert(0, {tests!r})
import test_lake_export_times_resend as t
t._send(Path(sys.argv[2]), t._readings(bump={{7: 50.0}}), "again", t.T2)
"""


@pytest.mark.parametrize("where", ["before", "after"])
def test_kill_9_at_the_index_rewrite_then_the_rerun_is_exact(tmp_path: Path, where: str) -> None:
    month = _readings()
    ids = sorted(month["record_id"])
    _send(tmp_path, month, "jan", T1)
    before = lake.read_table(tmp_path, "sensor_readings").sort_values("record_id")
    script = _KILLED.format(tests=str(Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", script, where, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    # the table as it was and readable; the index readable, exact for one export or other
    now = lake.read_table(tmp_path, "sensor_readings").sort_values("record_id")
    pd.testing.assert_frame_equal(now.reset_index(drop=True), before.reset_index(drop=True))
    index = _index(tmp_path)
    assert index["record_id"].tolist() == ids
    stamp = {"before": (T1, "jan"), "after": (T2, "again")}[where]
    stamps = zip(index["extracted_at"], index["batch_id"], strict=True)
    assert {(pd.Timestamp(a).to_pydatetime(), str(b)) for a, b in stamps} == {stamp}
    # the re-run: exact, and once more: no commit
    fixed = _readings(bump={7: 50.0})
    got = _send(tmp_path, fixed, "again", T2)
    assert (got["new"], got["updated"], got["unchanged"]) == (0, 1, len(ids) - 1)
    _entries_are(_index(tmp_path), {r: (T2, "again", True) for r in ids})
    stored = lake.read_table(tmp_path, "sensor_readings").set_index("record_id")["value"]
    assert stored.to_dict() == fixed.set_index("record_id")["value"].to_dict()
    version = table_version(tmp_path, "sensor_readings")
    index_version = DeltaTable(str(_index_dir(tmp_path))).version()
    again = _send(tmp_path, fixed, "again", T2)
    assert (again["new"], again["updated"]) == (0, 0)
    assert table_version(tmp_path, "sensor_readings") == version
    assert DeltaTable(str(_index_dir(tmp_path))).version() == index_version
