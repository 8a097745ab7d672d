"""A streamed reading a little ahead of the consumer's clock (attack review of 2026-12-07).

The stream validated with ``as_of`` = now and the mapping's ``max_future_hours`` (0): a
reading whose device clock ran 30 s ahead of the server was quarantined
``future_timestamp:observed_at``. Now the consumer accepts readings up to
``clock_skew_s`` (default :data:`riskwarn.stream.runtime.CLOCK_SKEW_S`, 5 min) ahead,
with their own time, and quarantines later ones as before; the nowcast at origin T
still reads no reading at or after T."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from riskwarn.stream.validate import Message
from testkit.stream_helpers import displacement_message, free_port, stream_consumer


def _message(sensor: str, at: datetime, value: float = 1.0) -> Message:
    return displacement_message(sensor, at, value)


def test_a_reading_minutes_ahead_is_accepted_and_the_nowcast_origin_never_reads_it(
    settings: Any, tmp_path: Path
) -> None:
    from riskwarn import lake
    from riskwarn.commands.stream import stream
    from riskwarn.serving_frames import read_recent_readings
    from riskwarn.stream.runtime import CLOCK_SKEW_S

    assert CLOCK_SKEW_S == 300.0
    [opt] = [p for p in stream.params if p.name == "clock_skew_s"]
    assert opt.default == CLOCK_SKEW_S  # the CLI's default is the consumer's
    home = settings.home
    c = stream_consumer(
        home, free_port(), store_url=f"sqlite:///{tmp_path / 's.db'}", lake_dir=settings.lake_dir
    )
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        ahead = [
            _message("G1", now + timedelta(seconds=30)),
            _message("G2", now + timedelta(minutes=4)),
        ]
        far = _message("G3", now + timedelta(minutes=10))
        c.process([*ahead, far])  # no broker: the acknowledgements go nowhere
        assert (c.counters.accepted, c.counters.quarantined) == (2, 1)
        stored = lake.read_table(settings.lake_dir, "sensor_readings", ["simcity"])
        assert sorted(stored["sensor_id"]) == ["G1", "G2"]
        # each with its own (device) time: the record id is the extract's
        got = stored.set_index("sensor_id")["observed_at"]
        assert got["G1"] == pd.Timestamp(now + timedelta(seconds=30))
        q = lake.read_quarantine(settings.lake_dir, ["simcity"])
        assert list(q["reason"]) == ["future_timestamp:observed_at"]
        # the nowcast at the hour after the server's clock, or at the reading's own second,
        # reads no reading at or after its origin
        origin = pd.Timestamp(now + timedelta(seconds=30))
        seen = read_recent_readings(settings, origin, 1)
        assert (seen["observed_at"] < origin).all() and "G1" not in set(seen["sensor_id"])
    finally:
        c.store_lock.release()
        c.instance_lock.release()
