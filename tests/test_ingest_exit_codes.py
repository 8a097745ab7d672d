"""``riskwarn ingest``'s exit code (review S5): a file whose every row was quarantined
stored nothing, so the command must not end like a successful load. Exit 3 then, with one
``warning:`` line per such file on stderr naming the count, the reasons and where the rows
are; some rows quarantined is still 0 (the report counts them); an empty file is 0 (it
had nothing to store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.lake import read_quarantine, read_table

MAPPING = """
name: exits
table: incidents
x: lon
y: lat
id: {columns: [case_id]}
columns:
  occurred_at: {from: t, format: "%Y-%m-%d %H:%M"}
  time_precision: {const: minute}
  category: {const: theft}
  category_group: {const: property}
"""
HEADER = "case_id,t,lon,lat\n"
GOOD = "".join(f"G{i},2023-05-01 {i:02d}:00,116.5,30.5\n" for i in range(5))
BAD = "B1,2023-02-30 10:00,116.5,30.5\nB2,not a time,116.5,30.5\nB3,,116.5,30.5\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    (tmp_path / "exits.yaml").write_text(MAPPING, encoding="utf-8")
    return tmp_path


def _ingest(home: Path, *names: str, json_out: bool = False) -> int:
    args = ["ingest", "--no-store", "--as-of", "2024-01-01", "--source", str(home / "exits.yaml")]
    return main([*args, *(["--json"] if json_out else []), *(str(home / n) for n in names)])


def test_a_file_with_every_row_quarantined_exits_3_naming_the_quarantine(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "all_bad.csv").write_text(HEADER + BAD, encoding="utf-8")
    assert _ingest(home, "all_bad.csv") == 3
    out, err = capsys.readouterr()
    assert "quarantined 3, duplicates 0" in out  # the report is printed as before
    lake = home / "home" / "lake"
    [line] = err.splitlines()
    assert line.startswith(
        "warning: all_bad.csv: nothing stored, all 3 rows quarantined "
        "(impossible_date:occurred_at 1, missing_value:occurred_at 1, "
        "unparseable_date:occurred_at 1); see the quarantine of batch "
    )
    assert f"(source exits) in {lake / '_quarantine'}" in line
    assert len(read_quarantine(lake)) == 3
    assert len(read_table(lake, "incidents")) == 0
    # the same outcome on a re-run: the file still stored nothing
    assert _ingest(home, "all_bad.csv") == 3


def test_some_rows_quarantined_exits_0_and_reports_them(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "mixed.csv").write_text(HEADER + GOOD + BAD, encoding="utf-8")
    assert _ingest(home, "mixed.csv") == 0
    out, err = capsys.readouterr()
    assert "accepted 5 (new 5, updated 0, unchanged 0), quarantined 3" in out
    assert "warning" not in err
    assert _ingest(home, "mixed.csv") == 0  # re-ingest: accepted as unchanged


def test_one_file_of_several_storing_nothing_exits_3_the_others_stored(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "a_good.csv").write_text(HEADER + GOOD, encoding="utf-8")
    (home / "b_bad.csv").write_text(HEADER + BAD, encoding="utf-8")
    (home / "c_empty.csv").write_text("", encoding="utf-8")
    assert _ingest(home, "a_good.csv", "b_bad.csv", "c_empty.csv", json_out=True) == 3
    out, err = capsys.readouterr()
    reports = {r["file_name"]: r for r in json.loads(out)}
    assert {k: r["stored_nothing"] for k, r in reports.items()} == {
        "a_good.csv": False,
        "b_bad.csv": True,
        "c_empty.csv": False,  # read 0: nothing to store, nothing lost
    }
    assert [x.split(":")[1].strip() for x in err.splitlines()] == ["b_bad.csv"]
    assert len(read_table(home / "home" / "lake", "incidents")) == 5


def test_an_empty_file_alone_exits_0(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "empty.csv").write_text("", encoding="utf-8")
    assert _ingest(home, "empty.csv") == 0
    assert "empty file" in capsys.readouterr().out


def test_a_file_sharing_no_column_with_the_mapping_exits_3_not_a_traceback(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # review 2026-12-05: a header with no mapped column left a frame with rows and no
    # column, whose stored original crashed (ValueError, exit 1) before any report
    (home / "good.csv").write_text(HEADER + GOOD, encoding="utf-8")
    (home / "wrong_header.csv").write_text("foo,bar\n1,2\n3,4\n", encoding="utf-8")
    assert _ingest(home, "good.csv", "wrong_header.csv") == 3
    out, err = capsys.readouterr()
    # every file's outcome is reported: the good one stored, the other quarantined
    assert "good.csv -> incidents" in out and "accepted 5 (new 5" in out
    assert "wrong_header.csv -> incidents" in out and "quarantined 2" in out
    assert "Traceback" not in out + err
    [line] = err.splitlines()
    assert line.startswith("warning: wrong_header.csv: nothing stored, all 2 rows quarantined")
    lake = home / "home" / "lake"
    q = read_quarantine(lake)
    assert len(q) == 2
    assert all(str(r).startswith("missing_column:") for r in q["reason"])
    assert set(q["original"]) == {"{}"}  # foo and bar are not the mapping's: not stored
    assert len(read_table(lake, "incidents")) == 5
