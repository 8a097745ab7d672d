"""One bad MQTT message never stops the stream consumer (attack review C, 2026-12-06,
finding 1).

A reading with ``interval_s`` = 1e20 (finite, whole, past int64) raised ``TypeError:
cannot safely cast non-equivalent float64 to int64`` in the batch rules' Int64 cast;
``StreamConsumer.process`` did not catch it, so the consumer stopped, and neither that
reading nor the good ones after it were stored (nor acknowledged). A ``value`` sent as a
JSON integer of 400 digits raised ``OverflowError`` in the payload check the same way.
Now such readings are quarantined with the batch rules' reasons, and a message whose
validation raises for any other reason (a bug; injected here) is quarantined as
``validation_failed``, written with its micro-batch and acknowledged after that, while
the other readings are stored and evaluated.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn.sources import load_mapping
from riskwarn.stream.payload import topic_for
from riskwarn.stream.validate import Message, validate_messages
from testkit.stream_helpers import MOSQUITTO, Running, slope_readings, stream_consumer, wait_for

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "configs" / "sources" / "sim_sensor_readings.yaml"
AS_OF = datetime(2024, 1, 1, tzinfo=UTC)
SECRET = "text-of-the-error-that-may-quote-a-reading"


def _message(sensor: str, minute: int, interval: str = "600", value: str = "1.0") -> Message:
    payload = (
        f'{{"sensor_id":"{sensor}","observed_at":"2023-06-01T00:{minute:02d}:00+08:00",'
        f'"interval_s":{interval},"quantity":"rain_mm","value":{value},"quality":"good"}}'
    )
    return Message(topic_for("simcity", None, sensor), payload.encode())


POISON = {  # interval_s / value as sent (JSON text) -> the reason
    ("1e20", "1.0"): "out_of_range_number:interval_s",
    ("100000000000000000000", "1.0"): "out_of_range_number:interval_s",
    ("-9223372036854775809", "1.0"): "out_of_range_number:interval_s",
    ("600", "1" + "0" * 400): "non_finite_value:value",  # OverflowError in decode before
}


def test_numbers_past_the_columns_are_quarantined_with_the_batch_reasons() -> None:
    m = load_mapping(MAPPING)
    msgs = [_message("SB00001", 0)]
    msgs += [_message("SB00001", i + 1, iv, v) for i, (iv, v) in enumerate(POISON)]
    msgs.append(_message("SB00001", 9, "9223372036854775807"))  # int64's largest: a value
    batch = validate_messages(m, msgs, as_of=AS_OF, batch_id="t").batch
    assert batch.accepted["interval_s"].tolist() == [600, 2**63 - 1]
    q = batch.quarantine
    assert sorted(q["reason"]) == sorted(POISON.values())
    assert set(q["batch_id"]) == {msgs[i].key for i in range(1, 5)}  # keyed by message
    ranged = q.loc[q["reason"] == "out_of_range_number:interval_s", "message"]
    assert ranged.str.contains("9223372036854775807").all()
    assert sorted(ranged.str.rpartition("; value: ")[2]) == sorted(
        ["-9223372036854775809", "100000000000000000000", "1e+20"]
    )


def _fail_for(monkeypatch: pytest.MonkeyPatch, sensor: str) -> None:
    """A fault no rule foresaw: turning ``sensor``'s readings into raw rows raises."""
    from riskwarn.stream import validate

    real = validate.raw_row

    def raw_row(mapping: Any, reading: dict[str, Any], inverse: Any = None) -> dict[str, str]:
        if reading.get("sensor_id") == sensor:
            raise RuntimeError(SECRET)
        return real(mapping, reading, inverse)

    monkeypatch.setattr(validate, "raw_row", raw_row)


def test_a_message_whose_validation_raises_is_quarantined_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from riskwarn.stream.validate import validate_guarded

    _fail_for(monkeypatch, "BUG01")
    m = load_mapping(MAPPING)
    good = [_message("SB00001", i) for i in range(9)]
    msgs = [*good[:4], _message("BUG01", 0), *good[4:], _message("SB00001", 30, "1e20")]
    mb = validate_guarded(m, msgs, as_of=AS_OF, batch_id="t")
    assert len(mb.batch.accepted) == 9 and mb.messages == mb.batch.read == 11
    q = mb.batch.quarantine.set_index("reason")
    assert sorted(q.index) == ["out_of_range_number:interval_s", "validation_failed"]
    failed = q.loc["validation_failed"]
    assert failed["batch_id"] == msgs[4].key and failed["row_number"] == 1
    assert "RuntimeError" in failed["message"] and SECRET not in failed["message"]
    assert '"sha256"' in failed["original"] and "BUG01" in failed["original"]  # its topic
    assert mb.batch.accepted["record_id"].is_monotonic_increasing


# -- the consumer against a real broker -----------------------------------------------


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")
def test_poison_messages_are_quarantined_acked_and_the_consumer_goes_on(
    settings: Any, broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskwarn import lake
    from riskwarn.stream.replay import connect, publish_readings

    _fail_for(monkeypatch, "BUG01")
    start = pd.Timestamp.now(tz="UTC").floor("10min") - pd.Timedelta(hours=6)
    good = slope_readings("S0", start=start, steady_days=99, failure_after_days=0.25, step="10min")
    t = (start - pd.Timedelta(minutes=5)).isoformat()

    def payload(sensor: str, interval: str, value: str = "1.0") -> str:
        return (
            f'{{"sensor_id":"{sensor}","observed_at":"{t}","interval_s":{interval},'
            f'"quantity":"displacement_mm","value":{value},"quality":"good"}}'
        )

    poison = [
        ("S0", payload("S0", "1e20")),
        ("S0", payload("S0", "100000000000000000000")),
        ("S0", payload("S0", "600", "1" + "0" * 400)),
        ("BUG01", payload("BUG01", "600")),
    ]

    def consumer_() -> Any:
        return stream_consumer(
            settings.home,
            broker.port,
            store_url=settings.resolved_store_url,
            lake_dir=settings.lake_dir,
            client_id="rw-poison",
        )

    consumer = consumer_()
    with Running(consumer) as c:
        client = connect("127.0.0.1", broker.port)
        try:
            for sensor, text in poison:  # first, each in a micro-batch with good ones
                client.publish(topic_for("simcity", "H0", sensor), text, qos=1).wait_for_publish(10)
            for _ in publish_readings(client, "simcity", good, {"S0": "H0"}):
                pass
        finally:
            client.loop_stop()
            client.disconnect()
        wait_for(lambda: c.counters.received >= len(good) + len(poison), 60)
        wait_for(c.settled, 60)
        assert not c.stopping.is_set()
        assert (c.counters.accepted, c.counters.quarantined) == (len(good), len(poison))
        # evaluated: the state reached the newest good reading
        assert c.state.newest_ns == good["observed_at"].max().value
    assert len(lake.read_table(settings.lake_dir, "sensor_readings", ["simcity"])) == len(good)
    q = lake.read_quarantine(settings.lake_dir, ["simcity"])
    assert sorted(q["reason"]) == [
        "non_finite_value:value",
        "out_of_range_number:interval_s",
        "out_of_range_number:interval_s",
        "validation_failed",
    ]
    assert not q["message"].str.contains(SECRET).any()
    # acknowledged once stored: the broker has nothing to send again to this client id
    with Running(consumer_()) as c2:
        probe = connect("127.0.0.1", broker.port)  # a marker after anything redelivered
        probe.publish(
            topic_for("simcity", "H0", "S0"), payload("S0", "600"), qos=1
        ).wait_for_publish(10)
        probe.loop_stop()
        probe.disconnect()
        # a redelivery comes on connecting, before the probe: give both time to arrive
        # (the counts are the home's totals across restarts: riskwarn.stream.ledger)
        total = len(good) + len(poison)
        wait_for(lambda: c2.counters.received >= total + 1, 30)
        time.sleep(1.0)
        assert c2.counters.received == total + 1 and c2.counters.duplicates == 0
