"""Re-ingesting a batch replaces its quarantine: a row the first ingest quarantined as
``future_timestamp`` (``max_future_hours: 0``) and a later ``--as-of`` accepts leaves
the quarantine, in the same commit, so lake + quarantine + duplicates == read and the
store's counts are the lake's.

Before the fix the quarantine MERGE only inserted and updated: the row stayed in the
quarantine of its batch (7 rows there, 6 in the store's record) while it was in the lake.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.lake import read_quarantine, read_table
from riskwarn.lake.read import table_version

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)
FUTURE = 7  # rows 0..6 in the future of the first --as-of, row 7 in 2022


def _row(i: int, when: str) -> str:
    return (
        f"JQ{i:08d},{when},{when},精确到分,侵财类,盗窃,1,116.{i:06d},30.{i:06d},"
        f"3408{i:08d},住宅小区,某某派出所"
    )


def _counts(home: Path) -> tuple[int, int]:
    lake_dir = home / "lake"
    return len(read_table(lake_dir, "incidents")), len(read_quarantine(lake_dir))


def _ingest(as_of: str, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ingest", "--as-of", as_of, "--source", str(SOURCE), str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "read = accepted + quarantined + duplicates: OK" in out


def test_reingest_replaces_the_batch_quarantine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    rows = [_row(i, f"2024-06-0{1 + i} 10:00:00") for i in range(FUTURE)]
    rows += [_row(FUTURE, "2022-05-01 10:00:00")] * 2  # one exact duplicate
    path = tmp_path / "inc.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    read, duplicates = len(rows), 1
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    def store_row() -> dict[str, int]:
        [rec] = Store.from_settings(load_settings()).ingest_batches().to_dict("records")
        return rec

    _ingest("2024-01-01T00:00", path, capsys)
    lake_rows, quarantined = _counts(home)
    assert (lake_rows, quarantined) == (1, FUTURE)
    assert set(read_quarantine(home / "lake")["reason"]) == {"future_timestamp:occurred_at"}
    assert lake_rows + quarantined + duplicates == read

    # the same file, a later as-of: every row is accepted and the quarantine is emptied
    _ingest("2024-12-01T00:00", path, capsys)
    lake_rows, quarantined = _counts(home)
    assert (lake_rows, quarantined) == (FUTURE + 1, 0)
    assert lake_rows + quarantined + duplicates == read
    rec = store_row()
    assert (rec["accepted"], rec["quarantined"], rec["duplicates"]) == (
        lake_rows,
        quarantined,
        duplicates,
    )

    # part of it: as of 2024-06-04 the rows of 06-04 10:00 and later are still ahead
    _ingest("2024-06-04T00:00", path, capsys)
    q = read_quarantine(home / "lake")
    assert sorted(q["row_number"]) == [4, 5, 6, 7]
    assert store_row()["quarantined"] == len(q)
    # rows the lake accepted before stay there (the lake is keyed by record, not by
    # file: a record is never withdrawn by re-validating a file, docs/ingestion.md)
    assert _counts(home)[0] == FUTURE + 1

    # fewer of them (one MERGE: two rows stay, two leave), then the same again: no commit
    _ingest("2024-06-06T00:00", path, capsys)
    assert sorted(read_quarantine(home / "lake")["row_number"]) == [6, 7]
    version = table_version(home / "lake", "quarantine")
    _ingest("2024-06-06T00:00", path, capsys)
    assert table_version(home / "lake", "quarantine") == version
    assert store_row()["quarantined"] == 2
