"""A whole number past int64 in an integer column is one quarantined row, not a crash
(attack review C, 2026-12-06, finding 2).

One disputes row with 当事人数 = 99999999999999999999999 (or 9223372036854775808, or
1e20) ended ``riskwarn ingest`` with ``TypeError: cannot safely cast non-equivalent
float64 to int64`` (exit 1): none of the file's other rows was stored, and a landing
file failed every run. Now that row is ``out_of_range_number:<col>`` (the message says
the column, the int64 range and the value), the rest is stored; every integer column of
every mapping takes the same path. Whole numbers of 2**53 and more in range are read
again from their text, so they are stored digit for digit.

Also (finding 3): a header that names a column the mapping reads twice (the second
纠纷类型 disagreeing with the first) quarantines the whole file as ``duplicate_column``;
before, pandas read the second as ``纠纷类型.1`` ("extra columns ignored") and the first
was stored whatever the second said.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from riskwarn.contracts import TABLES
from riskwarn.ingest import ingest_files, read_and_validate
from riskwarn.ingest.mapping import map_chunk
from riskwarn.lake import read_quarantine, read_table
from riskwarn.settings import Settings
from riskwarn.sources import SourceMapping, load_mapping, parse_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "configs" / "sources"
AS_OF = datetime(2024, 6, 1, tzinfo=UTC)
KEY = "test-only-key-" + "0" * 32
INT64 = "-9223372036854775808 to 9223372036854775807"
PAST_INT64 = ["99999999999999999999999", "9223372036854775808", "1e20", "-9223372036854775809"]

DIS_HEADER = (
    "案件编号,登记时间,纠纷类型,所属社区代码,网格编码,经度,纬度,甲方姓名,甲方联系电话,"
    "甲方身份证号,乙方姓名,乙方联系电话,乙方身份证号,当事人数,涉及金额（元）,纠纷简述,登记人"
)


def _disputes(n: int) -> list[str]:
    t0 = datetime(2023, 1, 1)
    return [
        f"MD{i:08d},{t0 + timedelta(minutes=11 * i):%Y-%m-%d %H:%M:%S},"
        f"{['邻里纠纷', '债务纠纷'][i % 2]},3408{i % 40:08d},G{i},116.{i:06d},"
        f"30.{i * 37 % 10**6:06d},张{i % 9},138{i:08d},3408{i:014d},李{i % 5},139{i:08d},"
        f"3408{i + 7:014d},{2 + i % 3},{i * 10.5},邻里吵架{i},王五"
        for i in range(n)
    ]


def _with(rows: list[str], row: int, column: str, value: str) -> list[str]:
    at = DIS_HEADER.split(",").index(column)
    out = list(rows)
    fields = out[row - 1].split(",")
    fields[at] = value
    out[row - 1] = ",".join(fields)
    return out


def _write(path: Path, rows: list[str], header: str = DIS_HEADER) -> Path:
    path.write_bytes((header + "\n" + "\n".join(rows) + "\n").encode("gb18030"))
    return path


@pytest.mark.parametrize("value", PAST_INT64)
def test_one_count_past_int64_is_quarantined_and_the_file_stored(
    tmp_path: Path, value: str
) -> None:
    """199 rows, row 151's 当事人数 past int64: 198 stored, 1 quarantined with a message
    naming the column, the range and the value; a second ingest changes nothing."""
    mapping = load_mapping(SOURCES / "sim_disputes.yaml")
    path = _write(tmp_path / "disputes.csv", _with(_disputes(199), 151, "当事人数", value))
    settings = Settings(home=tmp_path / "home", pseudonym_key=KEY)
    [report] = ingest_files(mapping, [path], settings, as_of=AS_OF)
    assert (report["read"], report["accepted"], report["quarantined"]) == (199, 198, 1)
    assert report["reasons"] == {"out_of_range_number:n_parties": 1}
    assert len(read_table(settings.lake_dir, "disputes")) == 198
    [q] = read_quarantine(settings.lake_dir).itertuples(index=False)
    assert q.row_number == 151
    assert "'n_parties'" in q.message and INT64 in q.message
    assert q.message.endswith(f"; value: {value}")
    assert json.loads(q.original)["当事人数"] == value
    [again] = ingest_files(mapping, [path], settings, as_of=AS_OF)
    assert (again["new"], again["updated"], again["quarantined"]) == (0, 0, 1)
    assert len(read_quarantine(settings.lake_dir)) == 1


def test_whole_numbers_near_the_int64_bounds_are_exact_or_quarantined() -> None:
    """``interval_s`` (no upper bound in the contract): a column with a blank and a
    fraction in it is parsed through floats, whose 53 bits cannot hold these numbers;
    they are read again from their text. 1.5 stays ``unparseable_number``."""
    m = load_mapping(SOURCES / "sim_sensor_readings.yaml")
    values = [
        "600",
        "1.5",
        "9007199254740993",  # 2**53 + 1: a float would store ...992
        "9223372036854775807",  # int64's largest: a float rounds it to 2**63, past it
        "9223372036854775808",
        "1e20",
        "12345678901234567890.5",
        "",
    ]
    n = len(values)
    raw = pd.DataFrame(
        {
            "设备编号": ["SB00001"] * n,
            "采集时间": [f"2023-06-01 00:{i:02d}:00" for i in range(n)],
            "采样间隔": values,
            "监测项": ["雨量"] * n,
            "数值": ["1.0"] * n,
            "数据状态": ["正常"] * n,
        }
    ).astype(object)
    out, why = map_chunk(m, raw, pseudonym_key=KEY, as_of=AS_OF)
    assert [str(r) for r in why] == [
        "",
        "unparseable_number:interval_s",
        "",
        "",
        "out_of_range_number:interval_s",
        "out_of_range_number:interval_s",
        "unparseable_number:interval_s",
        "missing_value:interval_s",
    ]
    assert str(out["interval_s"].dtype) == "Int64"
    assert out["interval_s"].iloc[2] == 9007199254740993
    assert out["interval_s"].iloc[3] == 2**63 - 1
    assert out["interval_s"].iloc[4:7].isna().all()


def test_every_integer_column_of_every_mapping_quarantines_a_number_past_int64() -> None:
    """Each mapping, each rule reading one source column into an integer field: a whole
    number past int64 there is never a value, and the row has a reason (another
    column's reason may come first in these made-up rows of "1")."""
    checked = []
    for path in sorted(SOURCES.glob("*.yaml")):
        m = load_mapping(path)
        table = TABLES[m.table]
        cols = [
            (n, r.sources[0])
            for n, r in m.columns.items()
            if len(r.sources) == 1 and table.field(n).dtype == "int"
        ]
        for name, col in cols:
            every = m.source_columns + [c for cs in m.pseudonymise.values() for c in cs]
            for big in PAST_INT64:
                raw = pd.DataFrame({c: ["1", "1"] for c in every})
                raw.loc[1, col] = big
                out, why = map_chunk(m, raw.astype(object), pseudonym_key=KEY, as_of=AS_OF)
                assert pd.isna(out[name].iloc[1]), (path.name, name, big)
                assert str(why.iloc[1]) != "", (path.name, name, big)
                if str(why.iloc[0]) == "":  # the row of "1" passes: big is its only fault
                    assert str(why.iloc[1]) == f"out_of_range_number:{name}", (path.name, big)
            checked.append(f"{path.stem}.{name}")
    # deaths, injuries (2 mappings), population (2), n_parties, slope_class,
    # people_threatened, severity, interval_s
    assert len(checked) >= 10, checked


def test_a_parquet_integer_past_int64_is_quarantined(tmp_path: Path) -> None:
    """Parquet's uint64 (18446744073709551615) and a float 1e20 in the count column."""
    mapping = parse_mapping(
        yaml.safe_dump(
            {
                **yaml.safe_load((SOURCES / "sim_disputes.yaml").read_text(encoding="utf-8")),
                "format": "parquet",
            },
            allow_unicode=True,
        )
    )
    rows = [r.split(",") for r in _disputes(5)]
    frame = pd.DataFrame(rows, columns=DIS_HEADER.split(","))
    counts = pa.array([2, 3, 2**64 - 1, 4, 2], pa.uint64())
    table = pa.Table.from_pandas(frame.drop(columns=["当事人数"]), preserve_index=False)
    pq.write_table(table.append_column("当事人数", counts), tmp_path / "d.parquet")
    batch = read_and_validate(mapping, tmp_path / "d.parquet", pseudonym_key=KEY, as_of=AS_OF)
    assert (len(batch.accepted), batch.reasons) == (4, {"out_of_range_number:n_parties": 1})
    assert batch.quarantine["message"].iloc[0].endswith("; value: 18446744073709551615")


# -- a column named twice ---------------------------------------------------------------


def _refused(batch: object, name: str) -> None:
    assert (batch.read, len(batch.accepted), batch.reasons) == (1, 0, {"duplicate_column": 1})  # type: ignore[attr-defined]
    text = batch.quarantine["message"].iloc[0]  # type: ignore[attr-defined]
    assert f"column '{name}' appears 2 times" in text and "ambiguous" in text


def test_a_read_column_named_twice_refuses_the_whole_file(tmp_path: Path) -> None:
    mapping = load_mapping(SOURCES / "sim_disputes.yaml")
    rows = [r + ",劳资纠纷" for r in _disputes(5)]  # the second 纠纷类型 disagrees
    path = _write(tmp_path / "dup.csv", rows, DIS_HEADER + ",纠纷类型")
    batch = read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF)
    _refused(batch, "纠纷类型")
    assert "columns 3, 18" in batch.quarantine["message"].iloc[0]
    # through the lake: one quarantine record, nothing stored
    settings = Settings(home=tmp_path / "home", pseudonym_key=KEY)
    [report] = ingest_files(mapping, [path], settings, as_of=AS_OF)
    assert (report["read"], report["quarantined"], report["accepted"]) == (1, 1, 0)
    assert read_quarantine(settings.lake_dir)["reason"].tolist() == ["duplicate_column"]


def test_a_pseudonymised_column_twice_too_but_not_an_unread_or_dropped_one(
    tmp_path: Path,
) -> None:
    mapping = load_mapping(SOURCES / "sim_disputes.yaml")
    assert "甲方身份证号" in {c for cs in mapping.pseudonymise.values() for c in cs}
    rows = [r + ",3408" for r in _disputes(5)]
    path = _write(tmp_path / "id.csv", rows, DIS_HEADER + ",甲方身份证号")
    _refused(read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF), "甲方身份证号")
    # a column the mapping does not mention (twice), a dropped one named again: extra
    for extra, values in ((",备注,备注", ",x,y"), (",甲方联系电话", ",x")):
        path = _write(
            tmp_path / "extra.csv", [r + values for r in _disputes(5)], DIS_HEADER + extra
        )
        batch = read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF)
        assert (len(batch.accepted), batch.reasons) == (5, {}), extra
        assert any(m.startswith("extra columns ignored") for m in batch.messages), extra


def test_a_parquet_column_named_twice_refuses_the_whole_file(tmp_path: Path) -> None:
    mapping: SourceMapping = parse_mapping(
        yaml.safe_dump(
            {
                **yaml.safe_load((SOURCES / "sim_disputes.yaml").read_text(encoding="utf-8")),
                "format": "parquet",
            },
            allow_unicode=True,
        )
    )
    rows = [r.split(",") for r in _disputes(5)]
    names = DIS_HEADER.split(",")
    arrays = [pa.array([r[i] for r in rows]) for i in range(len(names))]
    arrays.append(pa.array(["劳资纠纷"] * 5))
    pq.write_table(pa.table(arrays, names=[*names, "纠纷类型"]), tmp_path / "dup.parquet")
    batch = read_and_validate(mapping, tmp_path / "dup.parquet", pseudonym_key=KEY, as_of=AS_OF)
    _refused(batch, "纠纷类型")


def test_the_new_reasons_have_words_in_both_languages() -> None:
    from dashboard import views

    for code in ("out_of_range_number:n_parties", "duplicate_column", "validation_failed"):
        zh, en = views.quarantine_reason(code, "zh"), views.quarantine_reason(code, "en")
        assert zh != views.quarantine_reason("something_new", "zh"), code
        assert en != views.quarantine_reason("something_new", "en"), code
