"""An MQTT reading whose time lies outside the supported range (pandas' nanosecond
timestamps) is quarantined with its reason; the other readings of the micro-batch pass.

Before the fix the whole micro-batch raised (``OutOfBoundsDatetime`` for the year 1500,
``OverflowError`` for 9999-12-31 converted to the source's time zone)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskwarn.ingest.validate import reason_message
from riskwarn.sources import load_mapping
from riskwarn.stream.payload import topic_for
from riskwarn.stream.validate import Message, validate_messages

MAPPING = Path(__file__).resolve().parents[1] / "configs" / "sources" / "sim_sensor_readings.yaml"
AS_OF = datetime(2024, 6, 1, tzinfo=UTC)


def _message(sensor: str, observed_at: str, value: float = 1.0) -> Message:
    body = {
        "sensor_id": sensor,
        "observed_at": observed_at,
        "quantity": "rain_mm",
        "value": value,
        "interval_s": 600,
        "quality": "good",
    }
    return Message(topic_for("simcity", "H1", sensor), json.dumps(body).encode())


@pytest.mark.parametrize(
    "observed_at",
    [
        "1500-01-01T10:00:00+00:00",
        "9999-12-31T23:59:59+00:00",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+00:00",
        "1677-09-21T00:00:00+00:00",
        "2262-04-11T12:00:00+08:00",
    ],
)
def test_out_of_range_reading_is_quarantined_and_the_others_pass(observed_at: str) -> None:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    good = [_message(f"R{i % 3}", (t0 + timedelta(minutes=10 * i)).isoformat()) for i in range(50)]
    bad = _message("R9", observed_at)
    msgs = [*good[:40], bad, *good[40:]]
    mb = validate_messages(load_mapping(MAPPING), msgs, as_of=AS_OF, batch_id="t")
    assert len(mb.batch.accepted) == 50
    q = mb.batch.quarantine
    assert len(q) == 1
    [row] = q.to_dict("records")
    assert row["reason"] == "out_of_range_date:observed_at"
    assert row["message"] == reason_message(row["reason"])
    assert row["batch_id"] == bad.key and row["row_number"] == 1
    # redelivered: the same quarantine row, nothing new
    again = validate_messages(load_mapping(MAPPING), [bad], as_of=AS_OF, batch_id="t")
    assert again.batch.quarantine[["batch_id", "row_number", "reason"]].to_dict("records") == [
        {"batch_id": bad.key, "row_number": 1, "reason": "out_of_range_date:observed_at"}
    ]
