"""Times outside the supported range (pandas' nanosecond timestamps, 1677-09-21 ..
2262-04-11) deep inside a file: that row is quarantined as ``out_of_range_date:<col>``,
every other row lands, and re-ingesting the file changes nothing.

Before the fix each of these files ended in ``OutOfBoundsDatetime`` (the MQTT payload
with year 9999 in ``OverflowError``) and nothing of the file was stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from riskwarn.ingest import ingest_files, read_and_validate
from riskwarn.ingest import mapping as mapping_mod
from riskwarn.ingest.validate import reason_message
from riskwarn.lake import read_quarantine, read_table
from riskwarn.lake.read import table_version
from riskwarn.settings import Settings
from riskwarn.sources import SourceMapping, parse_mapping

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "configs" / "sources"
AS_OF = datetime(2024, 6, 1, tzinfo=UTC)
KEY = "test-only-key-" + "0" * 32
PAST, FUTURE = "1500-01-01 10:00:00", "9999-12-31 23:59:59"


def _mapping(name: str, **overrides: Any) -> SourceMapping:
    spec = yaml.safe_load((SOURCES / name).read_text(encoding="utf-8"))
    spec.update(overrides)
    return parse_mapping(yaml.safe_dump(spec, allow_unicode=True))


def _times(n: int, minutes: int) -> list[str]:
    t0 = datetime(2023, 1, 1)
    return [(t0 + timedelta(minutes=minutes * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]


def _land(
    mapping: SourceMapping, path: Path, home: Path, bad: dict[int, str], table: str
) -> pd.DataFrame:
    """Ingest ``path`` twice into a lake under ``home``; check that the rows ``bad``
    (1-based row -> canonical column) and only they are quarantined as out of range and
    that the second ingest changes nothing. Returns the quarantine rows."""
    settings = Settings(home=home, pseudonym_key=KEY)
    [report] = ingest_files(mapping, [path], settings, as_of=AS_OF)
    assert report["quarantined"] == len(bad), report["reasons"]
    assert report["accepted"] == report["read"] - len(bad) - report["duplicates"]
    assert report["new"] == report["accepted"]
    codes = {f"out_of_range_date:{col}" for col in bad.values()}
    assert set(report["reasons"]) == codes
    lake = read_table(settings.lake_dir, table)
    assert len(lake) == report["accepted"]
    q = read_quarantine(settings.lake_dir).sort_values("row_number").reset_index(drop=True)
    assert q["row_number"].tolist() == sorted(bad)
    for row in q.itertuples(index=False):
        col = bad[int(row.row_number)]
        assert row.reason == f"out_of_range_date:{col}"
        assert row.message == reason_message(row.reason)
        assert "outside the supported time range" in row.message
    versions = (
        table_version(settings.lake_dir, table),
        table_version(settings.lake_dir, "quarantine"),
    )
    [again] = ingest_files(mapping, [path], settings, as_of=AS_OF)
    assert (again["new"], again["updated"], again["quarantined"]) == (0, 0, len(bad))
    assert again["batch_id"] == report["batch_id"]
    after = (
        table_version(settings.lake_dir, table),
        table_version(settings.lake_dir, "quarantine"),
    )
    assert after == versions
    assert len(read_table(settings.lake_dir, table)) == len(lake)
    assert len(read_quarantine(settings.lake_dir)) == len(q)
    return q


def test_message_names_the_supported_range() -> None:
    text = reason_message("out_of_range_date:occurred_at")
    assert "'occurred_at'" in text and "1677-09-22" in text and "2262-04-10" in text


# -- incidents CSV ------------------------------------------------------------------

INC_HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)


def _incidents(n: int) -> list[str]:
    times = _times(n, 7)
    return [
        f"JQ{i:08d},{times[i]},{times[i]},精确到分,侵财类,{['盗窃', '诈骗'][i % 2]},"
        f"{1 + i % 3},116.{i:06d},30.{i * 37 % 10**6:06d},3408{i % 50:08d},住宅小区,"
        f"某某派出所{i % 7}"
        for i in range(n)
    ]


@pytest.mark.parametrize("fast", [True, False])
def test_incidents_csv_out_of_range_deep_in_a_later_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """60,000 rows in chunks of 20,000: row 50,000 (third chunk) from the year 1500,
    row 55,000's report time 9999-12-31; the fast (NumPy) and the pandas time paths."""
    monkeypatch.setattr(mapping_mod, "ARROW_TIMES", fast)
    mapping = _mapping("sim_incidents.yaml", chunk_rows=20_000)
    rows = _incidents(60_000)
    for row, field, value in [
        (50_000, 1, PAST),
        (55_000, 2, FUTURE),
        (58_000, 1, "1677-09-21 12:00:00"),
    ]:
        f = rows[row - 1].split(",")
        f[field] = value
        rows[row - 1] = ",".join(f)
    path = tmp_path / "inc.csv"
    path.write_text(INC_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    bad = {50_000: "occurred_at", 55_000: "reported_at", 58_000: "occurred_at"}
    q = _land(mapping, path, tmp_path / "home", bad, "incidents")
    originals = [json.loads(o) for o in q["original"]]
    assert originals[0]["发案时间"] == PAST and originals[1]["报警时间"] == FUTURE
    assert all("处警单位" not in o for o in originals)  # dropped: never in the quarantine


# -- disputes (gb18030, personal data) ------------------------------------------------

DIS_HEADER = (
    "案件编号,登记时间,纠纷类型,所属社区代码,网格编码,经度,纬度,甲方姓名,甲方联系电话,"
    "甲方身份证号,乙方姓名,乙方联系电话,乙方身份证号,当事人数,涉及金额（元）,纠纷简述,登记人"
)


def test_disputes_gb18030_out_of_range_keeps_no_personal_data(tmp_path: Path) -> None:
    mapping = _mapping("sim_disputes.yaml", chunk_rows=10_000)
    times = _times(30_000, 11)
    rows = [
        f"MD{i:08d},{times[i]},{['邻里纠纷', '债务纠纷'][i % 2]},3408{i % 40:08d},G{i},"
        f"116.{i:06d},30.{i * 37 % 10**6:06d},张{i % 9},138{i:08d},3408{i:014d},李{i % 5},"
        f"139{i:08d},3408{i + 7:014d},{2 + i % 3},{i * 10.5},邻里吵架{i},王五"
        for i in range(30_000)
    ]
    for row, value in [(25_000, PAST), (29_990, FUTURE)]:
        f = rows[row - 1].split(",")
        f[1] = value
        rows[row - 1] = ",".join(f)
    path = tmp_path / "disputes.csv"
    path.write_bytes((DIS_HEADER + "\n" + "\n".join(rows) + "\n").encode("gb18030"))
    q = _land(
        mapping, path, tmp_path / "home", {25_000: "opened_at", 29_990: "opened_at"}, "disputes"
    )
    for text in q["original"]:
        original = json.loads(text)
        assert original["登记时间"] in (PAST, FUTURE)
        for personal in (
            "甲方姓名",
            "甲方联系电话",
            "乙方姓名",
            "乙方联系电话",
            "纠纷简述",
            "登记人",
        ):
            assert personal not in original
        assert "3408" not in (original.get("甲方身份证号") or "")  # pseudonymised, not the number
        assert not any("张" in str(v) or "138" in str(v)[:3] for v in original.values())


# -- dispute events CSV ---------------------------------------------------------------


def test_dispute_events_out_of_range(tmp_path: Path) -> None:
    mapping = _mapping("sim_dispute_events.yaml", chunk_rows=10_000)
    times = _times(40_000, 3)
    rows = [
        f"EV{i:08d},MD{i // 4:08d},{times[i]},{['受理登记', '结案'][i % 2]},调解员{i % 5},137{i:08d}"
        for i in range(40_000)
    ]
    for row, value in [(33_333, PAST), (39_999, FUTURE)]:
        f = rows[row - 1].split(",")
        f[2] = value
        rows[row - 1] = ",".join(f)
    path = tmp_path / "events.csv"
    path.write_text(
        "事件编号,案件编号,事件时间,事件类型,经办人,经办人电话\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    q = _land(
        mapping, path, tmp_path / "home", {33_333: "event_at", 39_999: "event_at"}, "dispute_events"
    )
    for text in q["original"]:
        assert not {"经办人", "经办人电话"} & set(json.loads(text))


# -- sensor readings: Parquet with a timestamp column, and a CSV source ----------------


@pytest.mark.parametrize("unit", ["us", "ms", "s"])
def test_sensor_readings_parquet_timestamp_column(tmp_path: Path, unit: str) -> None:
    """A Parquet timestamp column (not text) can hold the years 1500 and 9999."""
    n = 30_000
    ts = np.datetime64("2023-01-01T00:00:00", unit) + np.arange(n) * np.timedelta64(600, "s")
    ts = ts.astype(f"datetime64[{unit}]")
    ts[20_000 - 1] = np.datetime64("1500-01-01T10:00:00", unit)
    ts[25_000 - 1] = np.datetime64("9999-12-31T23:59:59", unit)
    table = pa.table(
        {
            "设备编号": [f"R{i % 3}" for i in range(n)],
            "采集时间": pa.array(ts, pa.timestamp(unit)),
            "采样间隔": np.full(n, 600, dtype=np.int64),
            "监测项": ["雨量"] * n,
            "数值": np.arange(n, dtype=np.float64) % 5,
            "数据状态": ["正常"] * n,
        }
    )
    path = tmp_path / "readings.parquet"
    pq.write_table(table, path, row_group_size=8_000)
    mapping = _mapping("sim_sensor_readings.yaml", chunk_rows=8_000)
    q = _land(
        mapping,
        path,
        tmp_path / "home",
        {20_000: "observed_at", 25_000: "observed_at"},
        "sensor_readings",
    )
    assert [json.loads(o)["采集时间"] for o in q["original"]] == [PAST, FUTURE]


def test_sensor_readings_csv_out_of_range(tmp_path: Path) -> None:
    """Three Gorges daily rainfall (CSV, date-only format)."""
    mapping = _mapping("threegorges_rainfall.yaml", chunk_rows=5_000)
    station = "Zigui County Meteorological Bureau, Shazhenxi station (沙镇溪站)"
    days = pd.date_range("1700-01-01", periods=20_000, freq="D").strftime("%Y-%m-%d").tolist()
    days[15_000 - 1], days[19_000 - 1] = "1500-01-01", "9999-12-31"
    rows = [f'"{station}",{d},{i % 7}.5' for i, d in enumerate(days)]
    path = tmp_path / "rain.csv"
    path.write_text("station,date,rain_mm\n" + "\n".join(rows) + "\n", encoding="utf-8")
    _land(
        mapping,
        path,
        tmp_path / "home",
        {15_000: "observed_at", 19_000: "observed_at"},
        "sensor_readings",
    )


def test_in_range_but_absurd_times_keep_the_existing_rules(tmp_path: Path) -> None:
    """No new policy: a time after ``as_of + max_future_hours`` stays
    ``future_timestamp`` (2200), a time long past (1900) is accepted as before (the Hong
    Kong rainfall series starts in 1884)."""
    mapping = _mapping("sim_dispute_events.yaml")
    rows = [
        "EV1,MD1,2023-05-01 10:00:00,结案,a,1",
        "EV2,MD2,1900-01-01 10:00:00,结案,a,1",
        "EV3,MD3,2200-01-01 10:00:00,结案,a,1",
        f"EV4,MD4,{FUTURE},结案,a,1",
    ]
    path = tmp_path / "events.csv"
    path.write_text(
        "事件编号,案件编号,事件时间,事件类型,经办人,经办人电话\n" + "\n".join(rows) + "\n"
    )
    batch = read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF)
    assert sorted(batch.accepted["record_id"]) == ["EV1", "EV2"]
    assert dict(zip(batch.quarantine["row_number"], batch.quarantine["reason"], strict=True)) == {
        3: "future_timestamp:event_at",
        4: "out_of_range_date:event_at",
    }


def test_times_near_the_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Naive local times within hours of pandas' bounds: converting them to UTC would
    leave the range, so the supported range stops a day inside it."""
    mapping = _mapping("sim_dispute_events.yaml")
    values = {
        "1677-09-21 00:30:00": "out_of_range_date:event_at",
        "1677-09-21 23:59:59": "out_of_range_date:event_at",
        "1677-09-22 00:00:00": "",
        "2262-04-10 23:59:59": "future_timestamp:event_at",
        "2262-04-11 00:00:00": "out_of_range_date:event_at",
        "2262-04-11 23:00:00": "out_of_range_date:event_at",
        "0001-01-01 00:00:00": "out_of_range_date:event_at",
    }
    rows = [f"EV{i},MD{i},{t},结案,a,1" for i, t in enumerate(values)]
    path = tmp_path / "events.csv"
    path.write_text(
        "事件编号,案件编号,事件时间,事件类型,经办人,经办人电话\n" + "\n".join(rows) + "\n"
    )
    for fast in (True, False):
        monkeypatch.setattr(mapping_mod, "ARROW_TIMES", fast)
        batch = read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF)
        got = dict(zip(batch.quarantine["row_number"], batch.quarantine["reason"], strict=True))
        assert {t: got.get(i + 1, "") for i, t in enumerate(values)} == values


def test_iso_times_out_of_range(tmp_path: Path) -> None:
    """A time rule without ``format`` (ISO 8601, with and without an offset)."""
    spec = yaml.safe_load((SOURCES / "sim_dispute_events.yaml").read_text(encoding="utf-8"))
    spec["columns"]["event_at"] = {"from": "事件时间"}  # no format: ISO 8601
    mapping = parse_mapping(yaml.safe_dump(spec, allow_unicode=True))
    values = {
        "2023-05-01T10:00:00": "",
        "2023-05-01T10:00:00+08:00": "",
        "1500-01-01T10:00:00": "out_of_range_date:event_at",
        "9999-12-31T23:59:59Z": "out_of_range_date:event_at",
        "1500-01-01T10:00:00+01:00": "out_of_range_date:event_at",
    }
    rows = [f"EV{i},MD{i},{t},结案,a,1" for i, t in enumerate(values)]
    path = tmp_path / "events.csv"
    path.write_text(
        "事件编号,案件编号,事件时间,事件类型,经办人,经办人电话\n" + "\n".join(rows) + "\n"
    )
    batch = read_and_validate(mapping, path, pseudonym_key=KEY, as_of=AS_OF)
    got = dict(zip(batch.quarantine["row_number"], batch.quarantine["reason"], strict=True))
    assert {t: got.get(i + 1, "") for i, t in enumerate(values)} == values


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York"])
def test_sensor_readings_parquet_zoned_timestamp_column(tmp_path: Path, zone: str) -> None:
    """A zoned Parquet timestamp column read as ISO 8601 (no ``format``): 9999-12-31
    23:59:59 UTC is the year 10000 in Shanghai, which pandas cannot print (the whole
    file used to end in ``NotImplementedError`` there)."""
    n = 3_000
    ts = np.datetime64("2023-01-01T00:00:00", "us") + np.arange(n) * np.timedelta64(600, "s")
    ts[2_000 - 1] = np.datetime64("1500-01-01T10:00:00", "us")
    ts[2_500 - 1] = np.datetime64("9999-12-31T23:59:59", "us")
    table = pa.table(
        {
            "设备编号": [f"R{i % 3}" for i in range(n)],
            "采集时间": pa.array(ts, pa.timestamp("us")).cast(pa.timestamp("us", tz=zone)),
            "采样间隔": np.full(n, 600, dtype=np.int64),
            "监测项": ["雨量"] * n,
            "数值": np.arange(n, dtype=np.float64) % 5,
            "数据状态": ["正常"] * n,
        }
    )
    path = tmp_path / "readings.parquet"
    pq.write_table(table, path, row_group_size=1_000)
    spec = yaml.safe_load((SOURCES / "sim_sensor_readings.yaml").read_text(encoding="utf-8"))
    spec["columns"]["observed_at"] = {"from": "采集时间"}  # ISO 8601 with the zone's offset
    spec["chunk_rows"] = 1_000
    mapping = parse_mapping(yaml.safe_dump(spec, allow_unicode=True))
    _land(
        mapping,
        path,
        tmp_path / "home",
        {2_000: "observed_at", 2_500: "observed_at"},
        "sensor_readings",
    )
