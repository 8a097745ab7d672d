"""A dispute register exported without its header line (helper pii2, 2026-12-07).

The first data row is then read as the header: every row is quarantined
(``missing_column``), and the note on the columns the mapping does not know listed that
"header", i.e. a party's name, phone number and ID number, on the command's output and
in its ``--json`` report. Now such a note counts those columns without naming them; a
real header's unknown columns are still named (a phone or ID number in a name masked).
Checked end to end through the real CLI: its output, the quarantine, the lake, the
serving store and its audit log hold none of the row's personal data."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.ingest.flow import extra_columns_line
from riskwarn.lake import read_quarantine
from riskwarn.sources import load_mapping
from tests.conftest import TEST_PSEUDONYM_KEY

MAPPING = Path(__file__).resolve().parents[1] / "configs" / "sources" / "sim_disputes.yaml"
HEADER = (
    "案件编号,登记时间,纠纷类型,所属社区代码,网格编码,经度,纬度,甲方姓名,甲方联系电话,"
    "甲方身份证号,乙方姓名,乙方联系电话,乙方身份证号,当事人数,涉及金额（元）,纠纷简述,登记人"
)
PERSONAL = ("曾敏", "13241835768", "340822195105078924", "陈浩", "18254388542", "李林")


def _row(case: str) -> str:
    return (
        f"{case},2023-12-20 09:23:00,邻里纠纷,340882004002,x,116.685853,30.814632,曾敏,"
        "13241835768,340822195105078924,陈浩,18254388542,34080219760415819X,2,,z,李林"
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)
    return tmp_path


def _everything(home: Path, out: str, err: str, log: str) -> str:
    lake = home / "home" / "lake"
    text = out + err + log + read_quarantine(lake).to_json(force_ascii=False)
    db = sqlite3.connect(home / "home" / "serving.db")
    try:
        for (table,) in db.execute("select name from sqlite_master where type='table'"):
            text += " ".join(map(str, db.execute(f'select * from "{table}"').fetchall()))
    finally:
        db.close()
    return text


@pytest.mark.parametrize("as_json", [False, True])
def test_a_file_without_its_header_line_names_no_value_anywhere(
    home: Path,
    as_json: bool,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = home / "disputes.csv"
    data.write_text("\n".join(_row(f"PX000{i}") for i in range(1, 4)) + "\n", encoding="gb18030")
    args = ["ingest", *(["--json"] if as_json else []), "--source", str(MAPPING), str(data)]
    with caplog.at_level(logging.DEBUG):
        assert main(args) == 3  # every row quarantined: nothing stored
    out, err = capsys.readouterr()
    everything = _everything(home, out, err, caplog.text)
    for value in PERSONAL:
        assert value not in everything, value
    notes = json.loads(out)[0]["messages"] if as_json else out
    assert "16 extra column(s) ignored, not named" in str(notes)
    assert "missing_column:登记时间" in out


def test_a_real_header_still_names_its_unknown_columns(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = home / "disputes.csv"
    header = f"{HEADER},备注,联系13900001111"
    data.write_text(f"{header}\n{_row('PX0001')},x,y\n", encoding="gb18030")
    assert main(["ingest", "--source", str(MAPPING), str(data)]) == 0
    out, _ = capsys.readouterr()
    assert "note: extra columns ignored: 备注, 联系***" in out
    assert "13900001111" not in out


def test_the_note_names_unknown_columns_only_beside_every_column_read() -> None:
    mapping = load_mapping(MAPPING)
    header = [*HEADER.split(","), "备注"]
    assert extra_columns_line(mapping, header, ["备注"]) == "extra columns ignored: 备注"
    values = _row("PX0001").split(",")
    line = extra_columns_line(mapping, values, values)
    assert line.startswith("17 extra column(s) ignored, not named: the header lacks columns")
    assert not any(v in line for v in PERSONAL)
