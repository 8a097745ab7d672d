"""Replaying the simulated city's readings (or one failing slope) into the broker.

The readings are read from the simulated extracts with batch ingest's own reader and
rules (so they carry the extract's times and get the batch path's record ids), joined
to their sensors' sites, and published in time order, one topic per sensor, QoS 1, at
``speed`` times real time (``speed`` 0: as fast as the broker takes them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import paho.mqtt.client as mqtt
import pandas as pd

from riskwarn.ingest import RawChunk, validate_chunks
from riskwarn.ingest.read import stringify
from riskwarn.sources import SourceMapping, load_mapping
from riskwarn.stream.auth import (
    GATEWAY_USER,
    BrokerRefused,
    client_credentials,
    password_hint,
    refusal_text,
)
from riskwarn.stream.payload import QOS, encode, topic_for

if TYPE_CHECKING:
    from riskwarn.settings import Settings

SENSOR_COLUMNS = ["sensor_id", "observed_at", "interval_s", "quantity", "value", "quality"]


def sim_sensors(sim_dir: Path, sensors_mapping: SourceMapping) -> pd.DataFrame:
    """``record_id, site_id, sensor_type`` of the simulated sensors (batch rules)."""
    from riskwarn.ingest import read_and_validate

    batch = read_and_validate(
        sensors_mapping,
        sim_dir / "extracts" / "sensors.csv",
        pseudonym_key="",
        as_of=datetime.now(UTC),
    )
    return batch.accepted[["record_id", "site_id", "sensor_type"]]


def sim_readings(
    sim_dir: Path,
    mapping: SourceMapping,
    sensor_ids: list[str] | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Canonical readings of the simulated extracts (optionally some sensors, [start, end))."""
    files = sorted((sim_dir / "extracts" / "sensor_readings").glob("sensor_readings.*.parquet"))
    id_col = mapping.columns["sensor_id"].from_
    parts = []

    def again(chunk: RawChunk) -> Any:
        return lambda: iter([chunk])

    for f in files:
        raw = pd.read_parquet(f, filters=[(id_col, "in", sensor_ids)] if sensor_ids else None)
        if raw.empty:
            continue
        text = stringify(raw)
        chunk = RawChunk(text, np.arange(1, len(text) + 1, dtype=np.int64), [])
        batch = validate_chunks(
            mapping,
            iter([chunk]),
            pseudonym_key="",
            as_of=datetime.now(UTC),
            batch_id=f.name,
            file_name=f.name,
            messages=[],
            reread=again(chunk),
        )
        acc = batch.accepted
        if start is not None:
            acc = acc.loc[acc["observed_at"] >= start]
        if end is not None:
            acc = acc.loc[acc["observed_at"] < end]
        parts.append(acc)
    if not parts:
        return pd.DataFrame(columns=SENSOR_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values(
        ["observed_at", "sensor_id"], kind="stable"
    )


def connect(
    host: str,
    port: int,
    client_id: str = "",
    *,
    username: str | None = None,
    password: str | None = None,
    password_from: str = "",
    timeout_s: float = 30.0,
) -> mqtt.Client:
    """A started publishing client (QoS 1 needs the network loop), signed in as
    ``username`` (a gateway account, :mod:`riskwarn.stream.auth`). Waits for the broker's
    answer: :class:`~riskwarn.stream.auth.BrokerRefused` (one line, the CONNACK reason)
    if it refuses the sign-in or does not answer."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
    )
    if username:
        client.username_pw_set(username, password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    answered = threading.Event()
    reason: list[Any] = []

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        reason.append(rc)
        answered.set()

    client.on_connect = on_connect
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not answered.wait(timeout_s) or reason[0].is_failure:
        client.loop_stop()
        client.disconnect()
        why = reason[0] if reason else f"no answer within {timeout_s:.0f} s"
        raise BrokerRefused(refusal_text(host, port, username, why, password_from))
    client.on_connect = None
    return client


def gateway_client(host: str, port: int, settings: Settings, client_id: str = "") -> mqtt.Client:
    """:func:`connect` with the gateway account's credentials
    (:func:`riskwarn.stream.auth.client_credentials`)."""
    user, password = client_credentials(settings, GATEWAY_USER)
    return connect(
        host,
        port,
        client_id,
        username=user,
        password=password,
        password_from=password_hint(settings.home),
    )


def publish_readings(
    client: mqtt.Client,
    source: str,
    readings: pd.DataFrame,
    sites: dict[str, str | None],
    speed: float = 0.0,
) -> Iterator[int]:
    """Publish readings in time order; yields the running count every 1,000 readings.
    ``speed`` > 0 sleeps between readings so data time runs ``speed`` times real time."""
    t0_data = None
    t0_wall = time.monotonic()
    n = 0
    pending = []
    for r in readings[SENSOR_COLUMNS].itertuples(index=False):
        obs = pd.Timestamp(r.observed_at)
        if speed > 0:
            if t0_data is None:
                t0_data = obs
            wait = (obs - t0_data).total_seconds() / speed - (time.monotonic() - t0_wall)
            if wait > 0:
                time.sleep(wait)
        reading = dict(zip(SENSOR_COLUMNS, r, strict=True))
        reading["observed_at"] = obs.to_pydatetime()
        if pd.isna(reading["value"]):
            reading["value"] = None
        topic = topic_for(source, sites.get(str(r.sensor_id)), str(r.sensor_id))
        pending.append(client.publish(topic, encode(reading, datetime.now(UTC)), qos=QOS))
        n += 1
        if n % 1000 == 0:
            for info in pending:
                info.wait_for_publish(30)
            pending.clear()
            yield n
    for info in pending:
        info.wait_for_publish(30)
    yield n


def replay_sim(
    sim_dir: Path,
    *,
    host: str,
    port: int,
    readings_mapping: Path,
    sensors_mapping: Path,
    site: str | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    speed: float = 0.0,
    settings: Settings | None = None,
) -> int:
    """Replay the simulated city (or one site) into the broker, signed in as the gateway
    account (credentials from ``settings``, default :func:`load_settings`'s:
    :func:`gateway_client`); returns readings sent."""
    mapping = load_mapping(readings_mapping)
    sensors = sim_sensors(sim_dir, load_mapping(sensors_mapping))
    if site is not None:
        sensors = sensors.loc[sensors["site_id"] == site]
        if sensors.empty:
            raise ValueError(f"no sensor at site {site!r}")
    ids = sensors["record_id"].astype(str).tolist() if site is not None else None
    readings = sim_readings(sim_dir, mapping, ids, start, end)
    sites = dict(zip(sensors["record_id"].astype(str), sensors["site_id"], strict=True))
    from riskwarn.settings import load_settings

    client = gateway_client(host, port, settings or load_settings())
    try:
        sent = 0
        for sent in publish_readings(client, mapping.name, readings, sites, speed):  # noqa: B007
            pass
        return sent
    finally:
        client.loop_stop()
        client.disconnect()
