"""Re-ingesting an older file never reverts a later correction (an attacker's review,
finding 2).

``xa.csv`` stores a record, ``xb.csv`` corrects its severity, ``xa.csv`` again: before
the fix the third ingest reported ``updated 1``, made a lake commit putting the old
severity back, and replaced xa.csv's record in ``ingest_batches`` (new 100 -> new 0,
updated 1). Now a file already ingested (same batch id: same bytes, same mapping) is
recognised: stored records are left as they are, the differing row is reported as
``stale`` (not applied), no lake commit is made, the batch's record keeps its counts
and the run is closed as ``ingest_skipped`` in the audit log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.lake import read_table
from riskwarn.lake.read import table_version

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)


def _row(i: int, severity: int) -> str:
    return (
        f"JQ{i:08d},2023-05-01 10:00:00,2023-05-01 10:05:00,精确到分,侵财类,盗窃,{severity},"
        f"116.{i:06d},30.{i:06d},3408{i:08d},住宅小区,某某派出所"
    )


def _ingest(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["ingest", "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_reingesting_an_older_file_reverts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    xa, xb = tmp_path / "xa.csv", tmp_path / "xb.csv"
    xa.write_text(HEADER + "\n" + "\n".join(_row(i, 1) for i in range(5)) + "\n", "utf-8")
    rows = [_row(i, 1) for i in range(5)]
    rows[2] = _row(2, 3)  # the correction
    xb.write_text(HEADER + "\n" + "\n".join(rows) + "\n", "utf-8")
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    _ingest(xa, capsys)
    _ingest(xb, capsys)
    lake_dir = home / "lake"
    version = table_version(lake_dir, "incidents")
    out = _ingest(xa, capsys)
    assert "stale 1" in out and "already ingested" in out and "skipped" in out
    assert table_version(lake_dir, "incidents") == version  # no lake commit
    t = read_table(lake_dir, "incidents").set_index("record_id")
    assert int(t.loc["JQ00000002", "severity"]) == 3  # the correction stands
    store = Store.from_settings(load_settings())
    recs = store.ingest_batches().set_index("file_name")
    assert (int(recs.loc["xa.csv", "new"]), int(recs.loc["xa.csv", "updated"])) == (5, 0)
    assert (store.audit_log()["action"] == "ingest_skipped").sum() == 1
    # and once more: still nothing changes, and the record is still xa's first
    out = _ingest(xa, capsys)
    assert "skipped" in out
    assert table_version(lake_dir, "incidents") == version
