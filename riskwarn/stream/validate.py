"""Readings from MQTT through batch ingest's own rules (pure apart from the clock passed in).

Each payload (:mod:`riskwarn.stream.payload`) is turned back into the raw row the
source's extract would hold (the inverse of its mapping file: ``observed_at`` into the
source's time zone and first time format, ``quantity``/``quality`` back to the source's
codes), and a micro-batch of such rows goes through :func:`riskwarn.ingest.validate_chunks`,
the same mapping, contract and quarantine rules as a file. So a reading gets the same
``record_id`` whether it arrives by MQTT or in the hourly extract, and the lake's upsert
by ``(source, record_id)`` holds it once.

Quarantine rows of the stream are keyed by the message (``batch_id`` = ``mqtt:`` + the
SHA-256 of topic and payload, ``row_number`` 1), so a message redelivered after a crash
lands on its own quarantine row again instead of a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from riskwarn.ingest import QUARANTINE_COLUMNS, Batch, RawChunk, reason_message, validate_chunks
from riskwarn.sources import SourceMapping
from riskwarn.stream.payload import FIELDS, PayloadProblem, decode


@dataclass(frozen=True)
class Message:
    """One MQTT message as received (``mid`` for the manual acknowledgement)."""

    topic: str
    payload: bytes
    mid: int = 0
    received_at: float = 0.0  # time.time() at arrival

    @property
    def key(self) -> str:
        """Stable id of the message content (the quarantine's batch id)."""
        h = hashlib.sha256(self.topic.encode())
        h.update(b"\x00")
        h.update(self.payload)
        return "mqtt:" + h.hexdigest()[:40]


def _inverses(mapping: SourceMapping) -> dict[str, dict[Any, str]]:
    return {
        name: {v: k for k, v in (rule.map or {}).items()} for name, rule in mapping.columns.items()
    }


def raw_row(
    mapping: SourceMapping,
    reading: dict[str, Any],
    inverse: dict[str, dict[Any, str]] | None = None,
) -> dict[str, str]:
    """The source's raw (all-text) row for one decoded reading (``inverse``: the
    mapping's code maps inverted, :func:`_inverses`, passed in for speed)."""
    tz = ZoneInfo(mapping.timezone)
    inverse = inverse or _inverses(mapping)
    row: dict[str, str] = {}
    for name in FIELDS:
        rule = mapping.columns.get(name)
        if rule is None or not isinstance(rule.from_, str):
            continue
        v = reading.get(name)
        if v is None:
            text = ""
        elif name == "observed_at" and rule.formats:
            t = datetime.fromisoformat(str(v))
            # 9999-12-31 / 0001-01-01 may have no local time in Python's range: then its
            # own wall time goes on (far outside the lake's time range either way), to be
            # quarantined as out_of_range_date by the batch rules
            with contextlib.suppress(OverflowError):
                t = t.astimezone(tz)
            # (%Y of a year before 1000 is not zero-padded by the C library)
            text = t.strftime(rule.formats[0].replace("%Y", f"{t.year:04d}"))
        elif rule.map:
            text = str(inverse[name].get(v, v))
        elif isinstance(v, float) and v.is_integer() and name == "interval_s":
            text = str(int(v))
        else:
            text = str(v)
        row[rule.from_] = text
    return row


def _problem_rows(
    mapping: SourceMapping, bad: list[tuple[Message, PayloadProblem]]
) -> pd.DataFrame:
    rows = [
        [
            mapping.name,
            mapping.table,
            m.key,
            m.topic[:200],
            1,
            p.reason,
            p.message,
            json.dumps(
                {
                    "topic": m.topic[:200],
                    "bytes": len(m.payload),
                    "sha256": hashlib.sha256(m.payload).hexdigest(),
                }
            ),
        ]
        for m, p in bad
    ]
    q = pd.DataFrame(rows, columns=QUARANTINE_COLUMNS)
    q["row_number"] = q["row_number"].astype("int64")
    return q


@dataclass
class MicroBatch:
    """A validated micro-batch: the batch (accepted + quarantine) and, per accepted row,
    the site of its topic and the device's send time (for latency)."""

    batch: Batch
    sites: dict[str, str | None]  # sensor_id -> site_id (from the topics)
    sent_at: dict[str, float]  # record_id -> epoch seconds (when the payload says)
    messages: int


def validate_messages(
    mapping: SourceMapping,
    messages: Sequence[Message],
    *,
    as_of: datetime,
    batch_id: str,
    pseudonym_key: str = "",
) -> MicroBatch:
    """Validate a micro-batch of messages with batch ingest's rules.

    Messages that are not readings (not JSON, wrong types, wrong topic ...) are
    quarantined here with their reason; the rest go through
    :func:`riskwarn.ingest.validate_chunks` as rows 1..n of one chunk. The quarantine's
    ``batch_id``/``row_number`` are then set per message (see the module docstring)."""
    good: list[tuple[Message, dict[str, Any]]] = []
    bad: list[tuple[Message, PayloadProblem]] = []
    sites: dict[str, str | None] = {}
    for m in messages:
        try:
            where, reading = decode(m.topic, m.payload)
            if where.source != mapping.name:
                raise PayloadProblem(
                    "wrong_source", f"topic of source {where.source!r}, not {mapping.name!r}"
                )
        except PayloadProblem as p:
            bad.append((m, p))
            continue
        good.append((m, reading))
        sites[where.sensor_id] = where.site_id
    inverse = _inverses(mapping)
    raw = pd.DataFrame([raw_row(mapping, r, inverse) for _, r in good], dtype=object)
    if raw.empty:
        raw = pd.DataFrame(columns=mapping.source_columns, dtype=object)
    for col in raw.columns:
        raw[col] = raw[col].astype(object)
    rows = np.arange(1, len(good) + 1, dtype=np.int64)
    chunk = RawChunk(raw, rows, [])
    batch = validate_chunks(
        mapping,
        iter([chunk]),
        pseudonym_key=pseudonym_key,
        as_of=as_of,
        batch_id=batch_id,
        file_name="mqtt",
        messages=[],
        reread=lambda: iter([chunk]),
    )
    q = batch.quarantine
    if len(q):  # one quarantine row per message, keyed by the message
        by_row = {i + 1: m for i, (m, _) in enumerate(good)}
        q = q.copy()
        q["batch_id"] = [by_row[int(r)].key for r in q["row_number"]]
        q["file_name"] = [by_row[int(r)].topic[:200] for r in q["row_number"]]
        q["row_number"] = np.int64(1)
    if bad:
        q = pd.concat([q, _problem_rows(mapping, bad)], ignore_index=True)
        q["row_number"] = q["row_number"].astype("int64")
    # the same message twice in a micro-batch (redelivered) is one quarantine row
    twice = q.duplicated(["batch_id", "row_number"]).to_numpy()
    batch.duplicates += int(twice.sum())
    batch.quarantine = q.loc[~twice].reset_index(drop=True)
    batch.read = len(messages)
    batch.check_invariant()
    sent: dict[str, float] = {}
    stamped = [
        (r["sensor_id"], r["observed_at"], r["quantity"], r["sent_at"])
        for _, r in good
        if r.get("sent_at")
    ]
    if len(batch.accepted) and stamped:
        keys = ["sensor_id", "observed_at", "quantity"]
        times = pd.DataFrame(stamped, columns=[*keys, "sent_at"])
        times["observed_at"] = pd.to_datetime(
            times["observed_at"], utc=True, format="ISO8601", errors="coerce"
        )
        times["sent_at"] = pd.to_datetime(
            times["sent_at"], utc=True, format="ISO8601", errors="coerce"
        )
        times = times.dropna().drop_duplicates(keys, keep="last")
        acc = batch.accepted[["record_id", *keys]].copy()
        acc["observed_at"] = acc["observed_at"].dt.as_unit("ns")
        times["observed_at"] = times["observed_at"].dt.as_unit("ns")
        both = acc.merge(times, on=keys, how="inner")
        epoch = both["sent_at"].dt.as_unit("ns").astype("int64").to_numpy() / 1e9
        sent = dict(zip(both["record_id"].astype(str), epoch.tolist(), strict=True))
    return MicroBatch(batch, sites, sent, len(messages))


def quarantine_reason_text(code: str) -> str:
    """Human text of a stream quarantine reason (the batch's texts for the batch's codes)."""
    return reason_message(code)
