"""A person's name typed into a case number (``MD202303010001张三``, ``张三``) is no id.
Before, a mapping had no id format, so the name was stored as the record id: in the lake,
in the features' keys, in every page that shows a case. Now a mapping's ``id.format``
(a regular expression every record id must match in full; required for the dispute
tables) sends such a row to the quarantine as ``bad_record_id``, with its id masked in
the quarantined original, and the name reaches neither the lake, the quarantine, the
command's output, the logs nor the dashboard's reason text (docs/ingestion.md, "Record
id format")."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.ingest import read_and_validate
from riskwarn.lake import read_quarantine, read_table
from riskwarn.sources import (
    DEFAULT_ID_FORMAT,
    ID_FORMAT_TABLES,
    MappingError,
    load_mapping,
    parse_mapping,
)

AS_OF = datetime(2024, 1, 1, tzinfo=UTC)
CONFIGS = Path(__file__).parents[1] / "configs" / "sources"
MAPPING = """
name: city_disputes
table: disputes
id: {columns: [案件编号], format: 'MD[0-9]{12,16}'}
timezone: Asia/Shanghai
drop: [甲方姓名]
columns:
  opened_at: {from: 登记时间, format: "%Y-%m-%d %H:%M"}
  category: {const: neighbour}
  n_parties: {const: 2}
"""
HEADER = "案件编号,登记时间,甲方姓名\n"
ROWS = (
    "MD202303010001,2023-03-01 09:00,赵一\n"
    "MD202303010002张三,2023-03-01 10:00,张三\n"  # a name appended to the number
    "李四,2023-03-01 11:00,李四\n"  # a name instead of the number
    "王五,2023-03-01 11:00\x00,王五\n"  # a name, and first a NUL byte in the time
    "MD202303010003,2023-03-01 12:00,钱二\n"
)
NAMES = ("张三", "李四", "王五")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    (tmp_path / "disputes.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "disputes.csv").write_text(HEADER + ROWS, encoding="utf-8")
    return tmp_path


def test_a_name_in_a_case_number_is_quarantined_and_masked(home: Path) -> None:
    mapping = load_mapping(home / "disputes.yaml")
    batch = read_and_validate(mapping, home / "disputes.csv", pseudonym_key="", as_of=AS_OF)
    assert sorted(batch.accepted["record_id"]) == ["MD202303010001", "MD202303010003"]
    # the row whose first problem is a NUL byte has a bad id too: masked all the same
    assert batch.reasons == {"bad_record_id": 2, "nul_byte:登记时间": 1}
    q = batch.quarantine.set_index("row_number")
    assert set(q.index) == {2, 3, 4}
    for row in (2, 3, 4):
        assert '"案件编号":"***"' in q.loc[row, "original"], q.loc[row, "original"]
    text = batch.accepted.to_json(force_ascii=False) + batch.quarantine.to_json(force_ascii=False)
    text += " ".join(batch.messages)
    for name in NAMES:
        assert name not in text


def test_the_command_stores_no_name_and_says_none(
    home: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    args = ["ingest", "--no-store", "--as-of", "2024-01-01", "--source"]
    with caplog.at_level(logging.DEBUG):
        assert main([*args, str(home / "disputes.yaml"), str(home / "disputes.csv")]) == 0
    out, err = capsys.readouterr()
    assert "quarantined bad_record_id: 2" in out
    lake = home / "home" / "lake"
    stored = read_table(lake, "disputes")
    quarantine = read_quarantine(lake)
    everything = (
        out
        + err
        + caplog.text
        + stored.to_json(force_ascii=False)
        + quarantine.to_json(force_ascii=False)
    )
    for name in NAMES:
        assert name not in everything
    assert sorted(stored["record_id"]) == ["MD202303010001", "MD202303010003"]
    assert "does not match the mapping's id.format" in " ".join(quarantine["message"])


def test_the_dashboard_names_the_reason_in_both_languages() -> None:
    from dashboard.views import quarantine_reason

    zh, en = quarantine_reason("bad_record_id", "zh"), quarantine_reason("bad_record_id", "en")
    assert zh == "编号不符合数据源约定的格式（编号已隐去）"
    assert en == "Id does not match the source's id format (id masked)"


def test_a_dispute_mapping_without_an_id_format_gets_the_default(home: Path) -> None:
    """Letters, digits and _ . : / - only: a Chinese name or a space is no id."""
    text = MAPPING.replace(", format: 'MD[0-9]{12,16}'", "")
    mapping = parse_mapping(text, "disputes.yaml")
    assert mapping.id is not None and mapping.id.format is None
    assert mapping.id_format == DEFAULT_ID_FORMAT
    batch = read_and_validate(mapping, home / "disputes.csv", pseudonym_key="", as_of=AS_OF)
    # "MD202303010002张三" and "李四" refused; the NUL row's id is masked as before
    assert batch.reasons == {"bad_record_id": 2, "nul_byte:登记时间": 1}
    stored = batch.quarantine.to_json(force_ascii=False)
    for name in NAMES:
        assert name not in stored
    incidents = parse_mapping(
        "name: x\ntable: incidents\nid: {columns: [n]}\ncolumns:\n"
        "  occurred_at: {from: t}\n  time_precision: {const: day}\n"
        "  category: {const: theft}\n  category_group: {const: property}\n",
        "x.yaml",
    )
    assert incidents.id_format is None  # other tables: any id unless the mapping gives one
    bad = MAPPING.replace("'MD[0-9]{12,16}'", "'MD[0-9'")
    with pytest.raises(MappingError, match=r"id\.format: not a regular expression \(RE2\)"):
        parse_mapping(bad, "disputes.yaml")


def test_every_shipped_mapping_with_an_id_declares_its_format() -> None:
    for path in sorted(CONFIGS.glob("*.yaml")):
        mapping = load_mapping(path)
        if mapping.id is not None:
            assert mapping.id.format, path.name
    assert {"disputes", "dispute_events"} <= ID_FORMAT_TABLES


@pytest.mark.parametrize(
    ("config", "good", "bad"),
    [
        ("sim_disputes", "MD202303010001", "MD202303010001张三"),
        ("sim_disputes", "MD202303010001", "Zhang San"),
        ("sim_dispute_events", "MD202303010001-002", "张三-002"),
        ("sim_incidents", "JQ2023030100012", "JQ张三"),
        ("sim_hazard_sites", "DZ3408250001", "张三家后山"),
        ("cincinnati_burglary", "COPY OF 189017411", "John Smith"),
        ("cincinnati_burglary", "17-000001", "张三"),
        ("hongkong_landslides", "MW2001/06/050", "Chan Tai Man"),
    ],
)
def test_the_shipped_formats_take_the_sources_ids_and_refuse_names(
    config: str, good: str, bad: str
) -> None:
    import re

    fmt = load_mapping(CONFIGS / f"{config}.yaml").id.format  # type: ignore[union-attr]
    assert fmt is not None
    assert re.fullmatch(fmt, good) and not re.fullmatch(fmt, bad)
