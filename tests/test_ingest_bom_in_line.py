"""A byte-order mark in the middle of a CSV file (another file's start joined on) is not
read as text (review of 2026-12-06, attack C2): pandas kept U+FEFF in the first value,
the line was accepted with record id ``'\\ufeffJQ…'``, and the clean file sent next added
the real ``'JQ…'`` as a new record: the lake held one incident twice and the report said
OK. Now such a line is quarantined as ``bom_in_line`` (never silently altered), and the
clean file then stores the record once. Both CSV paths: the vectorised line check (plain
files) and the line-by-line one (a quoted value holds a line break)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riskwarn.cli import main
from riskwarn.lake import read_quarantine, read_table

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_incidents.yaml"
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)
BOM = "\ufeff"


def _row(i: int, unit: str = "某某派出所") -> str:
    return (
        f"JQ{i:08d},2023-05-{1 + i % 28:02d} 10:00:00,2023-05-{1 + i % 28:02d} 10:00:00,"
        f"精确到分,侵财类,盗窃,1,116.{i:06d},30.{i:06d},3408{i:08d},住宅小区,{unit}"
    )


def _ingest(home: Path, path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> dict:
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    main(["ingest", "--json", "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)])
    out, _ = capsys.readouterr()
    [report] = json.loads(out)
    assert report["reconciled"]
    return report


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("multiline", [False, True], ids=["plain", "quoted_line_break"])
def test_a_mid_file_bom_line_is_quarantined_and_the_clean_file_adds_it_once(
    tmp_path: Path, eol: str, multiline: bool, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    rows = [_row(i) for i in range(10)]
    if multiline:  # a quoted value with a line break: records are read line by line
        rows[2] = _row(2, unit='"某某\n派出所"')
    bad = list(rows)
    bad[5] = BOM + rows[5]
    home = tmp_path / "home"
    first = tmp_path / "bad.csv"
    first.write_bytes((eol.join([HEADER, *bad]) + eol).encode())
    report = _ingest(home, first, monkeypatch, capsys)
    assert report["reasons"] == {"bom_in_line": 1}
    assert (report["read"], report["accepted"], report["quarantined"]) == (10, 9, 1)
    lake = read_table(home / "lake", "incidents")
    assert not any(BOM in r for r in lake["record_id"])
    q = read_quarantine(home / "lake")
    assert q["reason"].tolist() == ["bom_in_line"]
    clean = tmp_path / "clean.csv"
    clean.write_bytes((eol.join([HEADER, *rows]) + eol).encode())
    _ingest(home, clean, monkeypatch, capsys)
    lake = read_table(home / "lake", "incidents")
    assert sorted(lake["record_id"]) == [f"JQ{i:08d}" for i in range(10)]


def test_the_files_own_bom_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    path = tmp_path / "inc.csv"
    path.write_bytes(("\n".join([BOM + HEADER, *(_row(i) for i in range(5))]) + "\n").encode())
    report = _ingest(tmp_path / "home", path, monkeypatch, capsys)
    assert (report["accepted"], report["quarantined"]) == (5, 0)
