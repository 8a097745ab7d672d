"""Topic layout and payload of sensor readings over MQTT (pure; docs/streaming.md).

One topic per sensor, under its site::

    riskwarn/v1/readings/<source>/<site_id>/<sensor_id>

(``_`` for a sensor without a site, e.g. an area rain gauge). A site level is an id as
the lake's ids are (:data:`SITE_ID_FORMAT`, the default id format of ingestion: ASCII
letters and digits, then also ``_ . : -``) and neither level is longer than
:data:`MAX_ID_CHARS` (the serving store's ``unit_id``): any other topic is quarantined
``bad_topic`` (before 2026-12-07 a 200-character site level was accepted, and every
publish of the stream's snapshot then failed on PostgreSQL). The payload is one JSON
object with the fields of the ``sensor_readings`` contract (``riskwarn contracts``):
``sensor_id``, ``observed_at`` (ISO 8601 with its UTC offset), ``interval_s``,
``quantity``, ``value``, ``quality``; optionally ``sent_at`` (the device's send time,
ISO 8601, used only to measure latency). ``source`` and ``record_id`` are not sent: the
source is the topic's, the record id is the batch path's (:mod:`riskwarn.stream.validate`).
Messages are published with QoS 1.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TOPIC_ROOT = "riskwarn/v1/readings"
NO_SITE = "_"
QOS = 1
FIELDS = ("sensor_id", "observed_at", "interval_s", "quantity", "value", "quality")
REQUIRED = ("sensor_id", "observed_at", "quantity")
MAX_PAYLOAD_BYTES = 4096
# the longest site or sensor id a topic may carry: the serving store's forecasts.unit_id
# and warnings.unit_id are String(128) (riskwarn/store/models.py; tested equal)
MAX_ID_CHARS = 128
# a site level's id format: ingestion's default id format (riskwarn.sources.DEFAULT_ID_FORMAT,
# the format of the lake's hazard_sites ids) without "/" (a topic separator); a sensor's
# own id is checked by its source's record id format (bad_record_id), like a file's
SITE_ID_FORMAT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def topic_id_problem(site_id: str | None, sensor_id: str) -> str | None:
    """Why a topic's site or sensor level cannot be an id (one line), or None."""
    for what, part in (("site", site_id), ("sensor", sensor_id)):
        if part is not None and len(part) > MAX_ID_CHARS:
            return f"{what} id of {len(part)} characters (at most {MAX_ID_CHARS})"
    if site_id is not None and not SITE_ID_FORMAT.fullmatch(site_id):
        return (
            "site id is not an id (ASCII letters and digits, then also _ . : -; "
            f"{len(site_id)} characters)"
        )
    return None


def topic_for(source: str, site_id: str | None, sensor_id: str) -> str:
    """The topic of one sensor's readings (ValueError if a level cannot be one)."""
    problem = topic_id_problem(None if site_id in (None, "", NO_SITE) else site_id, sensor_id)
    if problem is not None:
        raise ValueError(problem)
    for part in (source, site_id or NO_SITE, sensor_id):
        if not part or any(c in part for c in "/+#") or "\x00" in part:
            raise ValueError(f"{part!r} cannot be a topic level")
    return f"{TOPIC_ROOT}/{source}/{site_id or NO_SITE}/{sensor_id}"


def subscription(source: str) -> str:
    """The consumer's subscription: every site and sensor of ``source``."""
    return f"{TOPIC_ROOT}/{source}/+/+"


@dataclass(frozen=True)
class Topic:
    source: str
    site_id: str | None
    sensor_id: str


def parse_topic(topic: str) -> Topic | None:
    """The source, site and sensor of a reading topic; None if it is not one."""
    root = TOPIC_ROOT + "/"
    if not topic.startswith(root):
        return None
    parts = topic[len(root) :].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    source, site, sensor = parts
    return Topic(source, None if site == NO_SITE else site, sensor)


def encode(reading: dict[str, Any], sent_at: datetime | None = None) -> bytes:
    """The JSON payload of one reading (the contract's fields; ``observed_at`` ISO 8601)."""
    out: dict[str, Any] = {}
    for f in FIELDS:
        v = reading.get(f)
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise ValueError(f"{f} must carry its UTC offset")
            v = v.isoformat()
        elif v is not None and hasattr(v, "isoformat"):
            v = v.isoformat()
        elif v is not None and hasattr(v, "item"):  # numpy scalars
            v = v.item()
        out[f] = v
    if sent_at is not None:
        out["sent_at"] = sent_at.isoformat()
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()


class PayloadProblem(ValueError):
    """A message that is not a reading (reason code + one-line message)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def decode(topic: str, payload: bytes) -> tuple[Topic, dict[str, Any]]:
    """Topic and reading fields of a message; :class:`PayloadProblem` if it is not one.

    Only the message's shape is checked here (JSON object, the contract's fields with
    JSON types that can hold them, the sensor of the topic); what the values mean (dates,
    quantities, ranges, future times) is checked by batch ingest's rules."""
    where = parse_topic(topic)
    if where is None:
        raise PayloadProblem(
            "bad_topic", f"topic {topic[:200]!r} is not {TOPIC_ROOT}/<source>/<site>/<sensor>"
        )
    problem = topic_id_problem(where.site_id, where.sensor_id)
    if problem is not None:
        raise PayloadProblem("bad_topic", problem)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadProblem(
            "payload_too_large", f"payload of {len(payload)} bytes (max {MAX_PAYLOAD_BYTES})"
        )
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PayloadProblem("not_json", "the payload is not UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise PayloadProblem("not_object", "the payload is not a JSON object")
    missing = [f for f in REQUIRED if obj.get(f) in (None, "")]
    if missing:
        raise PayloadProblem("missing_value", f"required field(s) {', '.join(missing)} missing")
    for f in ("sensor_id", "observed_at", "quantity", "quality"):
        if obj.get(f) is not None and not isinstance(obj[f], str):
            raise PayloadProblem("wrong_type", f"{f} must be a string, not {type(obj[f]).__name__}")
    for f in ("value", "interval_s"):
        v = obj.get(f)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise PayloadProblem("wrong_type", f"{f} must be a number, not {type(v).__name__}")
        # NaN/Infinity (not JSON) or 1e400; a JSON integer is finite however long (and
        # math.isfinite raised OverflowError on one past the float range): a whole
        # number past the column's range is the batch rules' out_of_range_number
        if isinstance(v, float) and not math.isfinite(v):
            raise PayloadProblem("not_finite", f"{f} is not a finite number")
    if obj["sensor_id"] != where.sensor_id:
        raise PayloadProblem("topic_mismatch", "sensor_id differs from the topic's sensor")
    obs = obj["observed_at"]
    try:
        t = datetime.fromisoformat(obs)
    except ValueError:
        raise PayloadProblem("unparseable_date", "observed_at is not ISO 8601") from None
    if t.tzinfo is None:
        raise PayloadProblem("missing_offset", "observed_at has no UTC offset")
    return where, {f: obj.get(f) for f in (*FIELDS, "sent_at")}
