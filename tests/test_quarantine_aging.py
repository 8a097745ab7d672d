"""The quarantine ages like the archive: ``RISKWARN_ARCHIVE_PERSONAL_DAYS`` (helper pii3,
2026-12-08).

A name typed into a column the mapping reads (周伯通 as the dispute type, 黄药师 as the
amount, 洪七公 as the date) cannot be told from a word, and the quarantine keeps the
row's original so that a data steward can correct the export. It kept it until the lake
was rebuilt; the Delta log kept its first and last original as file statistics as long as
the log. Now the log keeps no statistics of originals, and after the days a row's
original is aged in place (its text masked; the row, its file, row number, reason, case
number, known category codes and numbers kept), the superseded copies vacuumed: the
name is in no file of the home. Checked through the real CLI (``riskwarn ingest``,
``riskwarn lake maintain``) and for the stream's rows (their topic is the sender's text).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskwarn.cli import main
from riskwarn.lake import read_quarantine
from riskwarn.sources import load_mapping
from tests.conftest import TEST_PSEUDONYM_KEY

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "configs" / "sources" / "sim_disputes.yaml"
HEADER = (
    "案件编号,登记时间,纠纷类型,所属社区代码,网格编码,经度,纬度,甲方姓名,甲方联系电话,"
    "甲方身份证号,乙方姓名,乙方联系电话,乙方身份证号,当事人数,涉及金额（元）,纠纷简述,登记人"
)
NAMES = ("周伯通", "黄药师", "洪七公", "欧阳锋")


def _row(case: str, kind: str = "邻里纠纷", amount: str = "", when: str = "") -> str:
    when = when or "2023-12-20 09:23:00"
    return (
        f"{case},{when},{kind},340882004002,x,116.685853,30.814632,曾敏,13241835768,"
        f"340822195105078924,陈浩,18254388542,34080219760415819X,2,{amount},z,李林"
    )


def _every_file(folder: Path) -> str:
    """The text of every file under ``folder``: Parquet files (the data, the change data
    feed, checkpoints) decoded, SQLite databases dumped, the rest as bytes."""
    out = []
    for d, _, files in os.walk(folder):
        for f in files:
            p = Path(d) / f
            if f.endswith(".parquet"):
                out.append(pq.read_table(p).to_pandas().to_json(force_ascii=False))
            elif f.endswith(".db"):
                db = sqlite3.connect(p)
                try:
                    for (t,) in db.execute("select name from sqlite_master where type='table'"):
                        out.append(str(db.execute(f'select * from "{t}"').fetchall()))
                finally:
                    db.close()
            else:
                out.append(p.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def _backdate(lake: Path, days: int) -> None:
    """The quarantine's rows as if stored ``days`` days ago (the wall clock of the CLI
    cannot be moved: the rows' stored time is)."""
    from deltalake import DeltaTable

    DeltaTable(str(lake / "_quarantine")).update(
        updates={"quarantined_at": f"quarantined_at - INTERVAL '{days} days'"}
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKWARN_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)
    monkeypatch.setenv("RISKWARN_ARCHIVE_PERSONAL_DAYS", "30")
    return tmp_path / "home"


def test_names_in_read_columns_leave_the_quarantine_after_the_days_the_rows_stay(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "disputes.csv"
    rows = [
        _row("PX0001"),
        _row("PX0002", kind="周伯通"),  # unmapped_category
        _row("PX0003", amount="黄药师"),  # unparseable_number
        _row("PX0004", when="洪七公"),  # unparseable_date
        _row("PX0009", kind="欧阳锋"),  # the last case number: the file's largest original
    ]
    data.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="gb18030")
    assert main(["ingest", "--source", str(MAPPING), str(data)]) == 0
    capsys.readouterr()
    lake = home / "lake"
    before = read_quarantine(lake).set_index("row_number")
    assert len(before) == 4
    # never in the Delta log, which is kept longer than the data (statistics)
    log_text = "".join(p.read_text() for p in (lake / "_quarantine" / "_delta_log").glob("*"))
    for name in NAMES:
        assert name not in log_text, name
    # kept for the steward while the days run: the original as typed, a known time
    assert "周伯通" in before.at[2, "original"]
    assert before["quarantined_at"].notna().all() and before["aged_at"].isna().all()

    assert main(["lake", "maintain"]) == 0  # young rows: not aged
    assert "quarantine: aged" not in capsys.readouterr().out
    assert "周伯通" in read_quarantine(lake).set_index("row_number").at[2, "original"]

    _backdate(lake, 31)
    assert main(["lake", "maintain"]) == 0
    out = capsys.readouterr().out
    assert "quarantine: aged 4 row(s) stored more than 30 days ago" in out
    everything = _every_file(home)
    for name in NAMES:
        assert name not in everything, name
    after = read_quarantine(lake).set_index("row_number")
    # no record lost: the same rows, files, reasons, messages' words
    assert list(after.index) == list(before.index)
    assert (after["reason"] == before["reason"]).all()
    assert (after["file_name"] == "disputes.csv").all()
    assert after["aged_at"].notna().all()
    aged = {n: json.loads(after.at[n, "original"]) for n in after.index}
    assert aged[2]["纠纷类型"] == "***" and aged[2]["案件编号"] == "PX0002"
    assert aged[3]["涉及金额（元）"] == "***" and aged[3]["纠纷类型"] == "邻里纠纷"
    assert aged[4]["登记时间"] == "***" and aged[3]["登记时间"] == "2023-12-20 09:23:00"
    assert aged[2]["经度"] == "116.685853" and aged[2]["当事人数"] == "2"
    assert aged[2]["甲方身份证号"] == "***"  # a pseudonym: a person, however keyed
    assert set(aged[2]) == set(json.loads(before.at[2, "original"]))  # which were given
    from deltalake import DeltaTable

    config = DeltaTable(str(lake / "_quarantine")).metadata().configuration
    assert config["delta.logRetentionDuration"] == "interval 30 days"

    assert main(["lake", "maintain", "--json"]) == 0  # a re-run ages nothing more
    assert json.loads(capsys.readouterr().out)["quarantine"]["aged"] == 0


def test_a_quarantine_without_stored_times_is_aged_from_the_first_run(tmp_path: Path) -> None:
    """A quarantine written before the times were kept (its eight columns)."""
    from deltalake import write_deltalake

    from riskwarn.lake.aging import age_quarantine

    lake = tmp_path / "lake"
    old = pa.table(
        {
            "source": ["simcity"],
            "table_name": ["disputes"],
            "batch_id": ["b1"],
            "file_name": ["disputes.csv"],
            "row_number": pa.array([2], pa.int64()),
            "reason": ["unmapped_category:category"],
            "message": ["'category' is not in the mapping's `map`"],
            "original": ['{"案件编号":"PX0002","纠纷类型":"周伯通"}'],
        }
    )
    write_deltalake(
        str(lake / "_quarantine"),
        old,
        partition_by=["source", "table_name"],
        configuration={"delta.enableChangeDataFeed": "true"},
    )
    first = pd.Timestamp("2026-12-08T00:00:00Z")
    assert read_quarantine(lake)["quarantined_at"].isna().all()  # readable as it was
    done = age_quarantine(lake, 30, now=first)
    assert (done["aged"], done["stamped"]) == (0, 1)
    assert read_quarantine(lake).at[0, "quarantined_at"] == first
    assert age_quarantine(lake, 30, now=first + pd.Timedelta(days=29))["aged"] == 0
    assert age_quarantine(lake, 30, now=first + pd.Timedelta(days=31))["aged"] == 1
    assert "周伯通" not in _every_file(lake)
    row = read_quarantine(lake).iloc[0]
    assert json.loads(row["original"]) == {"案件编号": "***", "纠纷类型": "***"}
    assert row["reason"] == "unmapped_category:category" and row["row_number"] == 2


def test_the_stream_quarantine_ages_too_its_topic_included(tmp_path: Path) -> None:
    from riskwarn.ingest.write import write_batch
    from riskwarn.lake.aging import age_quarantine
    from riskwarn.stream.validate import Message, validate_messages

    mapping = load_mapping(ROOT / "configs/sources/sim_sensor_readings.yaml")
    topic = "riskwarn/v1/readings/simcity/_/SB1"
    payload = (
        '{"sensor_id":"SB1","observed_at":"2023-06-01T00:00:00+08:00","interval_s":600,'
        '"quantity":"rain_mm","value":"周伯通","quality":"good"}'
    )
    msgs = [
        Message(f"{topic}/欧阳锋", payload.replace("周伯通", "1.0").encode()),  # bad_topic
        Message(topic, payload.encode()),  # wrong_type, a name as the value
    ]
    now = datetime(2026, 12, 8, tzinfo=UTC)
    mb = validate_messages(mapping, msgs, as_of=datetime(2024, 1, 1, tzinfo=UTC), batch_id="t")
    lake = tmp_path / "lake"
    write_batch(lake, mb.batch, mapping.partition, run_id="stream:simcity")
    stored = read_quarantine(lake)
    assert len(stored) == 2 and "欧阳锋" in "".join(stored["file_name"])
    done = age_quarantine(lake, 1, now=pd.Timestamp(now) + pd.Timedelta(days=400))
    assert done["aged"] == 2
    text = _every_file(lake)
    for name in ("周伯通", "欧阳锋"):
        assert name not in text, name
    aged = read_quarantine(lake).set_index("reason")
    assert aged.at["bad_topic", "file_name"] == f"{topic}/***"
    assert set(aged.index) == set(stored["reason"])


@pytest.mark.parametrize(
    "value",
    ["2", "12,000.50", "2023-12-20 09:23:00", "116.685853", "-3.5", "08:30", "340882004002"],
)
def test_an_aged_value_keeps_numbers_dates_and_times(value: str) -> None:
    from riskwarn.lake.aging import aged_value

    assert aged_value(value) == value


@pytest.mark.parametrize(
    "value",
    ["周伯通", "Zhou Botong", "邻里纠纷", "81cccae1109dc36e", "1234567890123456", "洪七公 2023"],
)
def test_an_aged_value_masks_what_could_spell_a_name(value: str) -> None:
    from riskwarn.lake.aging import aged_value

    assert aged_value(value) == "***"


def test_an_aged_message_masks_its_value_and_keeps_its_words() -> None:
    from riskwarn.lake.aging import aged_message, aged_topic

    msg = "'n_parties' is a whole number outside the range; value: 张三 99"
    assert aged_message(msg) == "'n_parties' is a whole number outside the range; value: ***"
    assert aged_message("'amount_cny' is not a number") == "'amount_cny' is not a number"
    assert aged_topic("riskwarn/v1/readings/simcity/_/SB1/张三***") == (
        "riskwarn/v1/readings/simcity/_/SB1/***"
    )
