"""Replaying the simulated city's readings (or one failing slope) into the broker.

The readings are read from the simulated extracts with batch ingest's own reader and
rules (so they carry the extract's times and get the batch path's record ids), joined
to their sensors' sites, and published in time order, one topic per sensor, QoS 1, at
``speed`` times real time (``speed`` 0: as fast as the broker takes them).

Publishers speak MQTT 5 so that the broker says, in each PUBACK, whether it took the
reading: only readings acknowledged with a success reason count as published; the first
refused one (e.g. "Not authorized": an account that may not publish readings) stops the
run with :class:`PublishRefused` (one line), as does a connection the broker closes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
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
    close_client,
    open_client,
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
    """A started publishing client (MQTT 5: PUBACKs carry the broker's reason; QoS 1 needs
    the network loop), signed in as ``username`` (a gateway account,
    :mod:`riskwarn.stream.auth`). Waits for the broker's answer
    (:func:`~riskwarn.stream.auth.open_client`): :class:`~riskwarn.stream.auth.BrokerRefused`
    (one line, the CONNACK reason) if it refuses the sign-in or does not answer."""

    def prepare(client: mqtt.Client) -> None:
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)

    client, reason = open_client(
        host,
        port,
        username=username,
        password=password,
        client_id=client_id,
        v5=True,
        timeout_s=timeout_s,
        prepare=prepare,
    )
    if reason is None or reason.is_failure:
        close_client(client)
        why = reason if reason is not None else f"no answer within {timeout_s:.0f} s"
        raise BrokerRefused(refusal_text(host, port, username, why, password_from))
    return client


def gateway_client(host: str, port: int, settings: Settings, client_id: str = "") -> mqtt.Client:
    """:func:`connect` with the publishers' credentials (``RISKWARN_MQTT_GATEWAY_USER`` /
    ``_PASSWORD``, :func:`riskwarn.stream.auth.client_credentials`)."""
    user, password = client_credentials(settings, GATEWAY_USER)
    return connect(
        host,
        port,
        client_id,
        username=user,
        password=password,
        password_from=password_hint(settings.home, GATEWAY_USER),
    )


class PublishRefused(RuntimeError):
    """The broker refused a published reading (PUBACK reason) or closed the connection
    before acknowledging it (one line)."""


NO_MATCHING_SUBSCRIBERS = 16  # PUBACK 0x10: taken, but no session subscribes to it


@dataclass
class Tally:
    """What the broker acknowledged: ``published`` (success reason codes) and, of those,
    ``unrouted`` (reason "No matching subscribers": no consumer session holds them)."""

    published: int = 0
    unrouted: int = 0


class _Acks:
    """PUBACKs by message id, and whether the connection was lost (network thread)."""

    def __init__(self, client: mqtt.Client) -> None:
        self.cond = threading.Condition()
        self.reasons: dict[int, Any] = {}
        self.lost: Any = None

        def on_publish(_c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
            with self.cond:
                self.reasons[mid] = rc
                self.cond.notify_all()

        def on_disconnect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            with self.cond:
                self.lost = rc
                self.cond.notify_all()

        client.on_publish = on_publish
        client.on_disconnect = on_disconnect


def _settle(
    client: mqtt.Client,
    acks: _Acks,
    pending: deque[tuple[int, str]],
    tally: Tally,
    timeout_s: float | None = 60.0,
) -> None:
    """Count the PUBACKs of ``pending`` (message id, topic), in order: all of them,
    waiting up to ``timeout_s``, or (``timeout_s`` None) those already in, without
    waiting. :class:`PublishRefused` at the first refused one, a lost connection or (when
    waiting) no answer."""
    where = f"MQTT broker {client.host}:{client.port}"
    who = f"as {client.username!r}" if client.username else "without a user name"
    with acks.cond:
        if timeout_s is not None:
            acks.cond.wait_for(
                lambda: acks.lost is not None or all(m in acks.reasons for m, _ in pending),
                timeout_s,
            )
        while pending:
            mid, topic = pending[0]
            rc = acks.reasons.pop(mid, None)
            if rc is None:
                if timeout_s is None and acks.lost is None:
                    return  # not acknowledged yet: counted at a later call
                why = (
                    f"closed the connection ({acks.lost})"
                    if acks.lost is not None
                    else f"did not acknowledge within {timeout_s:.0f} s"
                )
                raise PublishRefused(
                    f"{where} {why} before acknowledging the reading published to {topic} "
                    f"{who}; {tally.published} reading(s) acknowledged before it (the broker "
                    "closes a client whose publish it refuses, and one of two clients signed "
                    "in as the same account)"
                )
            if rc.is_failure:
                raise PublishRefused(
                    f"{where} refused the reading published to {topic} {who}: {rc} "
                    f"({tally.published} reading(s) acknowledged before it; publishing needs "
                    "a gateway account: RISKWARN_MQTT_GATEWAY_USER / "
                    "RISKWARN_MQTT_GATEWAY_PASSWORD; docs/streaming.md)"
                )
            pending.popleft()
            tally.published += 1
            if rc.value == NO_MATCHING_SUBSCRIBERS:
                tally.unrouted += 1


class AckedPublisher:
    """QoS-1 publishing on a client from :func:`connect` that counts only what the broker
    acknowledged with a success reason (``tally``): :meth:`publish` does not wait,
    :meth:`check` counts the PUBACKs already in (call it often: message ids wrap at
    65,535), :meth:`settle` waits for all of them; both raise :class:`PublishRefused` at
    the first refused reading."""

    def __init__(self, client: mqtt.Client, tally: Tally | None = None) -> None:
        self.client = client
        self.tally = tally if tally is not None else Tally()
        self.acks = _Acks(client)
        self.pending: deque[tuple[int, str]] = deque()

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=QOS)
        self.pending.append((info.mid, topic))
        if info.rc != mqtt.MQTT_ERR_SUCCESS:  # not connected any more: raises, says why
            with self.acks.cond:
                self.acks.lost = self.acks.lost or mqtt.error_string(info.rc)
            self.settle()

    def check(self) -> None:
        _settle(self.client, self.acks, self.pending, self.tally, None)

    def settle(self, timeout_s: float = 60.0) -> int:
        _settle(self.client, self.acks, self.pending, self.tally, timeout_s)
        return self.tally.published


def publish_readings(
    client: mqtt.Client,
    source: str,
    readings: pd.DataFrame,
    sites: dict[str, str | None],
    speed: float = 0.0,
    tally: Tally | None = None,
) -> Iterator[int]:
    """Publish readings in time order, QoS 1, on a client from :func:`connect`; yields the
    running count of readings the broker acknowledged with a success reason, every 1,000
    readings and at the end (``tally`` keeps the counts). Raises :class:`PublishRefused`
    at the first reading the broker refuses or does not acknowledge. ``speed`` > 0
    sleeps between readings so data time runs ``speed`` times real time."""
    out = AckedPublisher(client, tally)
    t0_data = None
    t0_wall = time.monotonic()
    for n, r in enumerate(readings[SENSOR_COLUMNS].itertuples(index=False), start=1):
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
        out.publish(topic, encode(reading, datetime.now(UTC)))
        if n % 1000 == 0:
            yield out.settle()
    yield out.settle()


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
) -> Tally:
    """Replay the simulated city (or one site) into the broker, signed in as the
    publishers' account (credentials from ``settings``, default :func:`load_settings`'s:
    :func:`gateway_client`); returns what the broker acknowledged (:class:`PublishRefused`
    at the first reading it refuses)."""
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
    tally = Tally()
    try:
        for _ in publish_readings(client, mapping.name, readings, sites, speed, tally):
            pass
        return tally
    finally:
        close_client(client)
