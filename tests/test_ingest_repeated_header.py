"""A header line repeated in the middle of a CSV (two exports joined with ``cat``) is
quarantined as ``repeated_header`` with its line number (attack review 2026-12-07, F5).
Before: the line had the header's number of fields, so it was read as a row and
quarantined under a misleading reason (``unparseable_date:occurred_at``, or
``unparseable_number:population`` for admin units). Both CSV paths (the NumPy line
check, and line by line when a quoted value holds a line break), ``\\n`` and ``\\r\\n``
line ends, and a second Excel export that starts with its own byte-order mark."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pytest

from riskwarn.cli import main
from riskwarn.lake import read_quarantine, read_table
from testkit.ingest_helpers import SIM_INCIDENTS, SIM_INCIDENTS_HEADER, sim_incident_row


def _ingest(home: Path, path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> dict[str, Any]:
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    argv = ["ingest", "--json", "--no-store", "--as-of", "2024-01-01"]
    assert main([*argv, "--source", str(SIM_INCIDENTS), str(path)]) == 0
    out, _ = capsys.readouterr()
    [report] = json.loads(out)
    assert report["reconciled"]
    return report


def _export(rows: range, eol: str, multiline: bool) -> bytes:
    lines = [sim_incident_row(i, 1) for i in rows]
    if multiline:  # a quoted value with a line break: the general path
        lines[1] = lines[1].replace("某某派出所", '"某某\n派出所"')
    return (eol.join([SIM_INCIDENTS_HEADER, *lines]) + eol).encode("utf-8")


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("multiline", [False, True], ids=["plain", "quoted_line_break"])
@pytest.mark.parametrize("bom", [False, True], ids=["no_bom", "excel_bom"])
def test_two_exports_joined_quarantine_the_second_header_as_repeated_header(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    eol: str,
    multiline: bool,
    bom: bool,
) -> None:
    mark = codecs.BOM_UTF8 if bom else b""
    first, second = _export(range(0, 10), eol, multiline), _export(range(10, 20), eol, False)
    path = tmp_path / "joined.csv"
    path.write_bytes(mark + first + mark + second)  # cat a.csv b.csv > joined.csv
    header_line = 1 + 10 + (1 if multiline else 0) + 1  # header, 10 rows, a line break
    report = _ingest(tmp_path / "home", path, monkeypatch, capsys)
    assert report["reasons"] == {"repeated_header": 1}  # before: unparseable_date:occurred_at
    assert (report["read"], report["accepted"], report["quarantined"]) == (21, 20, 1)
    [q] = read_quarantine(tmp_path / "home" / "lake").to_dict("records")
    assert q["reason"] == "repeated_header" and q["row_number"] == 11
    assert json.loads(q["original"])["line"] == header_line
    assert f"line {header_line})" in q["message"] and "header line again" in q["message"]
    assert "警情" not in q["original"]  # the line's text is not kept
    lake = read_table(tmp_path / "home" / "lake", "incidents")
    assert sorted(lake["record_id"]) == [f"JQ{i:08d}" for i in range(20)]


def test_only_the_header_itself_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A line that differs from the header by one byte (a space, a column renamed) is
    not a repeated header: it stays what it was (a row that fails validation)."""
    rows = [sim_incident_row(i, 1) for i in range(4)]
    near = SIM_INCIDENTS_HEADER.replace("发案时间", "发案时间 ")
    path = tmp_path / "near.csv"
    path.write_text("\n".join([SIM_INCIDENTS_HEADER, rows[0], near, *rows[1:]]) + "\n", "utf-8")
    report = _ingest(tmp_path / "home", path, monkeypatch, capsys)
    assert "repeated_header" not in report["reasons"]
    assert report["quarantined"] == 1 and report["accepted"] == 4


def test_the_reason_has_words_in_both_languages() -> None:
    from dashboard.views import quarantine_reason
    from riskwarn.ingest.validate import reason_message

    assert "header line again" in reason_message("repeated_header")
    assert quarantine_reason("repeated_header", "en") == "Header line repeated"
    assert quarantine_reason("repeated_header", "zh") == "文件中间重复出现表头行"
