"""A phone number in an MQTT topic stays out of the quarantine (helper pii2, 2026-12-07).

A message's topic is the sender's text: a device misconfigured with its owner's mobile
number as its sensor level, or a topic with a level too many that ends in one. The
quarantine kept the topic as sent in its ``file_name``, in a ``bad_topic`` message and
in the problem's original. Now a phone or ID number in it is masked (``***``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from riskwarn.sources import load_mapping
from riskwarn.stream.validate import Message, shown_topic, validate_messages

MAPPING = Path(__file__).resolve().parents[1] / "configs/sources/sim_sensor_readings.yaml"
ROOT = "riskwarn/v1/readings/simcity"
PAYLOAD = (
    '{"sensor_id":"SB1","observed_at":"2023-06-01T00:00:00+08:00","interval_s":600,'
    '"quantity":"rain_mm","value":1.0,"quality":"good"}'
)


def test_a_phone_number_in_a_topic_is_masked_in_the_quarantine() -> None:
    msgs = [
        Message(f"{ROOT}/_/SB1/张三13800138000", PAYLOAD.encode()),  # bad_topic
        Message(f"{ROOT}/_/1380 013 8000", PAYLOAD.replace("SB1", "1380 013 8000").encode()),
        Message(f"{ROOT}/_/SB1", PAYLOAD.replace("1.0", '"x"').encode()),  # wrong_type
    ]
    mapping = load_mapping(MAPPING)
    q = validate_messages(mapping, msgs, as_of=datetime(2024, 1, 1, tzinfo=UTC), batch_id="t")
    q = q.batch.quarantine.set_index("reason")
    assert set(q.index) == {"bad_topic", "personal_data:设备编号", "wrong_type"}
    text = q.to_json(force_ascii=False)
    text += " ".join(json.dumps(json.loads(o), ensure_ascii=False) for o in q["original"])
    for number in ("13800138000", "1380 013 8000"):
        assert number not in text
    assert q.loc["bad_topic", "file_name"] == f"{ROOT}/_/SB1/张三***"
    assert f"topic '{ROOT}/_/SB1/张三***' is not" in q.loc["bad_topic", "message"]
    assert q.loc["personal_data:设备编号", "file_name"] == f"{ROOT}/_/***"
    assert q.loc["wrong_type", "file_name"] == f"{ROOT}/_/SB1"  # an ordinary topic as sent


def test_a_topic_is_cut_at_200_characters() -> None:
    assert shown_topic("a" * 5000) == "a" * 200
