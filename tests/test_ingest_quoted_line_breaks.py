"""A quoted CSV value may hold line breaks (RFC 4180), whatever the mapping says: a quote
opened on a line and closed on a later line makes its lines ONE record, and the lines
inside the quotes are never read as records of their own.

Before the fix (review of 2026-12-06), without ``newlines_in_values`` the line that
opened the quote was quarantined alone (``unclosed_quote``) and the lines after it were
read again on their own: the text after a line break in a dropped free-text column
(``纠纷简述``) of a valid CSV (Python's ``csv.writer``) became a lake record of its own,
a forged new dispute or an overwrite of a real one (category, amount, parties), the real
record was lost to quarantine and ``read`` counted one record too many. A quote that
does not close within ``limits.max_record_lines`` lines / ``limits.max_line_bytes``, or
by the end of the file, still breaks its first line only, so one bad line deep in a big
file does not take the rest of it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from riskwarn.cli import main
from riskwarn.ingest import lines, read_and_validate
from riskwarn.lake import read_quarantine, read_table
from riskwarn.sources import load_mapping, parse_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "configs" / "sources" / "sim_disputes.yaml"
AS_OF = datetime(2024, 1, 1, tzinfo=UTC)
HEADER = [
    "案件编号", "登记时间", "纠纷类型", "所属社区代码", "网格编码", "经度", "纬度",
    "甲方姓名", "甲方联系电话", "甲方身份证号", "乙方姓名", "乙方联系电话", "乙方身份证号",
    "当事人数", "涉及金额（元）", "纠纷简述", "登记人",
]  # fmt: skip


def _row(case: str, text: str = "双方争吵", kind: str = "邻里纠纷", n: int = 2) -> list[str]:
    """A dispute row (made-up names, phones and ID numbers)."""
    return [
        case, "2023-03-05 10:00:00", kind, "340826001004", "340826001004005", "116.055557",
        "30.15154", "甲某", "13800000001", "110101199001010011", "乙某", "13800000002",
        "110101199001010022", str(n), "100", text, "丙某",
    ]  # fmt: skip


def _forged(case: str) -> str:
    """A whole dispute line as the text after a line break in a free-text value."""
    cells = [
        case, "2023-03-06 09:00:00", "征地拆迁纠纷", "340826001004", "g", "116.05", "30.15",
        "a", "b", "111111111111111111", "d", "e", "222222222222222222", "9", "999999", "x",
    ]  # fmt: skip
    return ",".join(cells)


def _write(path: Path, rows: list[list[str]], lineterminator: str = "\r\n") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator)  # quotes what needs it
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("gb18030"))
    return path


def _ingest(home: Path, path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> dict:
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    code = main(["ingest", "--json", "--as-of", "2024-01-01", "--source", str(SOURCE), str(path)])
    out, err = capsys.readouterr()
    [report] = json.loads(out)
    assert code == 0, err
    assert report["reconciled"]
    return report


def test_text_after_a_line_break_is_not_a_new_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The reviewer's nl.csv: a forged dispute inside a quoted description."""
    rows = [_row("MDQ0001", "双方争吵\n" + _forged("MDFORGED1")), _row("MDQ0002")]
    path = _write(tmp_path / "nl.csv", rows, lineterminator="\n")
    home = tmp_path / "home"
    report = _ingest(home, path, monkeypatch, capsys)
    assert (report["read"], report["accepted"], report["quarantined"]) == (2, 2, 0)
    lake = read_table(home / "lake", "disputes")
    assert sorted(lake["record_id"]) == ["MDQ0001", "MDQ0002"]
    assert lake["category"].tolist() == ["neighbour", "neighbour"]
    assert lake["n_parties"].tolist() == [2, 2]
    assert lake["amount_cny"].tolist() == [100.0, 100.0]
    assert any("1 record of several lines" in m for m in report["messages"]), report


def test_text_after_a_line_break_does_not_overwrite_a_real_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The reviewer's nl2.csv: a free text that names an existing case id."""
    home = tmp_path / "home"
    first = _write(tmp_path / "a.csv", [_row("MD202301010002", kind="婚姻家庭纠纷")])
    _ingest(home, first, monkeypatch, capsys)
    before = read_table(home / "lake", "disputes")
    attack = _row("MDQ0003", "双方争吵\r\n" + _forged("MD202301010002"))
    report = _ingest(home, _write(tmp_path / "nl2.csv", [attack]), monkeypatch, capsys)
    assert (report["read"], report["accepted"], report["quarantined"]) == (1, 1, 0)
    assert (report["new"], report["updated"]) == (1, 0)
    lake = read_table(home / "lake", "disputes").set_index("record_id")
    real = lake.loc["MD202301010002"]
    old = before.set_index("record_id").loc["MD202301010002"]
    for col in ("category", "n_parties", "amount_cny", "party_ids"):
        assert real[col] == old[col], col
    assert real["category"] == "family_marriage"


@pytest.mark.parametrize("block", [lines.BLOCK_BYTES, 97])  # 97: records cross blocks
def test_a_genuine_multi_line_description_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, block: int
) -> None:
    """Descriptions of several lines (quotes, commas, CRLF inside) are read whole; the
    quarantine and the row numbers after them do not shift."""
    monkeypatch.setattr(lines, "BLOCK_BYTES", block)
    text = '第一行，"引号"\r\n第二行, 逗号\n\n第四行'
    rows = [_row(f"MD{i:04d}") for i in range(300)]
    rows[10] = _row("MD0010", text)
    rows[200] = _row("MD0200", "一\n二\n三", n=3)
    rows[250] = _row("MD0250")[:-2]  # a short line: bad_line, where it is
    home = tmp_path / "home"
    report = _ingest(home, _write(tmp_path / "ml.csv", rows), monkeypatch, capsys)
    assert (report["read"], report["accepted"], report["quarantined"]) == (300, 299, 1)
    lake = read_table(home / "lake", "disputes").set_index("record_id")
    assert lake.loc["MD0200", "n_parties"] == 3
    q = read_quarantine(home / "lake")
    assert q["reason"].tolist() == ["bad_line"]
    assert q["row_number"].tolist() == [251]  # the 251st record
    # physical line: header 1, row i at i + 2, +3 after row 10, +2 after row 200
    assert json.loads(q["original"].iloc[0])["line"] == 250 + 2 + 3 + 2


NO_ID_YAML = """
name: lines
table: incidents
x: lon
y: lat
columns:
  occurred_at: {from: t, format: "%Y-%m-%d %H:%M"}
  time_precision: {const: minute}
  category: {const: theft}
  category_group: {const: property}
  admin_code: {from: district}
"""


def _good(i: int) -> str:
    return f"2023-05-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d},106.{i % 1000:03d},29.5,D{i}\n"


@pytest.mark.parametrize("multi", [False, True], ids=["line_mapping", "newlines_in_values"])
def test_unclosed_quotes_deep_in_a_big_file_and_at_its_end(tmp_path: Path, multi: bool) -> None:
    """A quote that never closes breaks its own line only (bounded by max_record_lines),
    deep in a 60,000-row file and 5 lines before its end; every other line is stored.
    Before, with ``newlines_in_values`` the 5 lines after a quote still open at the end
    of the file were dropped uncounted."""
    yaml = NO_ID_YAML + ("newlines_in_values: true\n" if multi else "")
    rows = [_good(i) for i in range(60_000)]
    rows[45_000] = '2023-05-01 10:00,106.5,29.5,"D open\n'
    rows[59_994] = '2023-05-01 10:00,106.5,29.5,"D open at the end\n'
    path = tmp_path / "big.csv"
    path.write_text("t,lon,lat,district\n" + "".join(rows), encoding="utf-8")
    batch = read_and_validate(parse_mapping(yaml), path, pseudonym_key="k" * 32, as_of=AS_OF)
    assert batch.read == 60_000
    assert len(batch.accepted) == 59_998
    assert batch.reasons == {"unclosed_quote": 2}
    assert batch.quarantine["row_number"].tolist() == [45_001, 59_995]
    details = [json.loads(o)["detail"] for o in batch.quarantine["original"]]
    assert "does not close within limits.max_record_lines = 100 lines" in details[0]
    assert "is still open at the end of the file" in details[1]


def test_a_multi_line_record_with_the_wrong_fields_is_one_bad_record(tmp_path: Path) -> None:
    """A quoted span that closes on a record of the wrong shape is quarantined whole
    (one record, its lines named), never read again line by line."""
    rows = [_good(i) for i in range(10)]
    rows[3] = '2023-05-01 10:00,106.5,29.5,"D\n' + _good(99).rstrip("\n") + '",extra\n'
    path = tmp_path / "wrong.csv"
    path.write_text("t,lon,lat,district\n" + "".join(rows), encoding="utf-8")
    for yaml in (NO_ID_YAML, NO_ID_YAML + "newlines_in_values: true\n"):
        batch = read_and_validate(parse_mapping(yaml), path, pseudonym_key="k" * 32, as_of=AS_OF)
        assert batch.read == 10
        assert len(batch.accepted) == 9
        assert batch.reasons == {"bad_line": 1}
        original = json.loads(batch.quarantine["original"].iloc[0])
        assert original["line"] == 5
        assert "one record of lines 5-6" in original["detail"]


def test_the_mapping_loads() -> None:
    assert not load_mapping(SOURCE).newlines_in_values  # the lines above need no flag
