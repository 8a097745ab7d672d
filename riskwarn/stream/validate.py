"""Readings from MQTT through batch ingest's own rules (pure apart from the clock passed in).

Each payload (:mod:`riskwarn.stream.payload`) is turned back into the raw row the
source's extract would hold (the inverse of its mapping file: ``observed_at`` into the
source's time zone and first time format, ``quantity``/``quality`` back to the source's
codes), and a micro-batch of such rows goes through :func:`riskwarn.ingest.validate_chunks`,
the same mapping, contract and quarantine rules as a file. So a reading gets the same
``record_id`` whether it arrives by MQTT or in the hourly extract, and the lake's upsert
by ``(source, record_id)`` holds it once.

Quarantine rows of the stream are keyed by the message (``batch_id`` = ``mqtt:`` + the
SHA-256 of topic and payload, ``row_number`` 1), also a row the lake refuses at the write
(``reverts_correction``), so a message redelivered after a crash or replayed lands on its
own quarantine row again instead of a new one, and is counted a duplicate
(:func:`stored_counts`: the lake's quarantine held its row).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from riskwarn.contracts import TABLES
from riskwarn.ingest import QUARANTINE_COLUMNS, Batch, RawChunk, reason_message, validate_chunks
from riskwarn.ingest.raw_rows import PERSONAL_MASK
from riskwarn.redact import PERSONAL_KINDS, mask_personal
from riskwarn.sources import SourceMapping
from riskwarn.stream.payload import FIELDS, PayloadProblem, decode

log = logging.getLogger(__name__)


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
        elif isinstance(v, float) and v.is_integer() and name == "interval_s" and abs(v) < 2**53:
            text = str(int(v))  # 600.0 -> 600; 1e20 stays 1e+20 (no float's 21 digits)
        else:
            text = str(v)
        row[rule.from_] = text
    return row


_PERSONAL_WORDS = {kind: PERSONAL_MASK for kind in PERSONAL_KINDS}


def shown_topic(topic: str) -> str:
    """A message's topic as the quarantine keeps it (its ``file_name``, and in a problem's
    message and original): at most 200 characters, a phone or ID number in it masked
    (``***``). A topic is the sender's text: before 2026-12-07 one with a phone number in
    a level (a device misconfigured with its owner's number, ``.../_/13800138000``)
    stayed in the quarantine as sent."""
    return mask_personal(topic[:1000], _PERSONAL_WORDS)[:200]


def _problem_rows(
    mapping: SourceMapping, bad: list[tuple[Message, PayloadProblem]]
) -> pd.DataFrame:
    rows = [
        [
            mapping.name,
            mapping.table,
            m.key,
            shown_topic(m.topic),
            1,
            p.reason,
            mask_personal(p.message, _PERSONAL_WORDS),  # may quote the topic
            json.dumps(
                {
                    "topic": shown_topic(m.topic),
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


def finer_than_source(mapping: SourceMapping, observed_at: Any) -> PayloadProblem | None:
    """The quarantine problem of a time the source's time format cannot hold (a fraction
    of a second where its format has whole seconds): its record id and extract would
    carry the time cut, and two readings of one sensor within that second would share
    one id (the later one a silent correction of the earlier). A file's time with a
    fraction is quarantined too (unparseable for that format). None: it holds it."""
    rule = mapping.columns.get("observed_at")
    if rule is None or not rule.formats:
        return None
    fmt = rule.formats[0]
    try:
        t = datetime.fromisoformat(str(observed_at))
        if t.microsecond == 0 and "%S" in fmt:
            return None  # whole seconds in a format with seconds: the usual case, fast
        t = t.astimezone(ZoneInfo(mapping.timezone))
        back = datetime.strptime(t.strftime(fmt), fmt)
    except (ValueError, OverflowError):  # out of range: the batch rules' reason
        return None
    if back == t.replace(tzinfo=None):
        return None
    return PayloadProblem(
        "finer_than_source",
        f"observed_at is finer than the source's times ({fmt!r}, e.g. a fraction of a "
        "second): stored cut, it would share its record id with another reading of that "
        "second",
    )


def _generations(mapping: SourceMapping, rows: list[dict[str, str]]) -> list[int]:
    """Per raw row (arrival order), the version of its record it is: 0 for the first,
    +1 each time the record's content changes from its previous row (an exact repeat is
    the same version: a duplicate). [] when the source has no id columns."""
    if mapping.id is None or not rows:
        return []
    cols = mapping.id.columns
    last: dict[tuple[str, ...], tuple[tuple[Any, ...], int]] = {}
    out = []
    for row in rows:
        key = tuple(row.get(c, "") for c in cols)
        content = tuple(sorted(row.items()))
        prev = last.get(key)
        if prev is None:
            gen = 0
        elif prev[0] == content:
            gen = prev[1]
        else:
            gen = prev[1] + 1
        last[key] = (content, gen)
        out.append(gen)
    return out


def register_sites(sensors: pd.DataFrame, source: str = "") -> dict[str, str | None]:
    """sensor id -> site id (None: registered without a site) of the lake's ``sensors``
    register (``record_id``, ``site_id``, ``source``), the table the site model places
    sensors by; a sensor registered by several sources: ``source``'s row."""
    if sensors is None or sensors.empty or "record_id" not in sensors:
        return {}
    rows = sensors
    if "source" in rows and source:  # the consumer's own source last: its row wins
        rows = rows.assign(_own=(rows["source"] == source)).sort_values("_own", kind="stable")
    out: dict[str, str | None] = {}
    for sid, site in zip(rows["record_id"], rows["site_id"], strict=True):
        out[str(sid)] = None if site is None or pd.isna(site) or site == "" else str(site)
    return out


def site_mismatch(
    register: dict[str, str | None] | None, sensor: str, site: str | None
) -> PayloadProblem | None:
    """The quarantine problem of a topic naming ``site`` for a registered ``sensor`` the
    register places elsewhere (an unregistered sensor: None, its topic's site is used)."""
    if not register or sensor not in register or register[sensor] == site:
        return None
    placed = register[sensor]
    return PayloadProblem(
        "site_mismatch",
        f"the topic names site {site or '_'!r}; the sensors register places this sensor at "
        f"{placed or 'no site'!r}",
    )


@dataclass
class MicroBatch:
    """A validated micro-batch: the batch (accepted + quarantine) and, per accepted row,
    the site of its topic and the device's send time (for latency)."""

    batch: Batch
    sites: dict[str, str | None]  # sensor_id -> site_id (from the topics)
    sent_at: dict[str, float]  # record_id -> epoch seconds (when the payload says)
    messages: int
    # the batches to write to the lake, in order, when the micro-batch held later versions
    # of a record (:func:`validate_messages`); empty: ``batch`` alone
    steps: list[Batch] = field(default_factory=list)

    @property
    def writes(self) -> list[Batch]:
        """What to write to the lake, in order (``batch`` is their merged view)."""
        return self.steps or [self.batch]


def validate_messages(
    mapping: SourceMapping,
    messages: Sequence[Message],
    *,
    as_of: datetime,
    batch_id: str,
    pseudonym_key: str = "",
    clock_skew_s: float = 0.0,
    register: dict[str, str | None] | None = None,
) -> MicroBatch:
    """Validate a micro-batch of messages with batch ingest's rules.

    ``register``: sensor -> site of the lake's ``sensors`` table (:func:`register_sites`):
    a registered sensor's message whose topic names another site (or ``_`` for a
    registered site) is quarantined ``site_mismatch``: the register is the one source of
    a registered sensor's site (the site model places it there too); an unregistered
    sensor is placed by its topic.

    ``as_of`` is the consumer's clock; a reading up to ``clock_skew_s`` seconds after it
    is not in the future (a device clock a little ahead of the server's: the consumer's
    :data:`riskwarn.stream.runtime.CLOCK_SKEW_S`), one later is quarantined
    ``future_timestamp:observed_at`` as a file's would be. The reading keeps its own time
    (its record id carries it, as in the source's extract).

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
            wrong_site = site_mismatch(register, where.sensor_id, where.site_id)
            if wrong_site is not None:
                raise wrong_site
            finer = finer_than_source(mapping, reading["observed_at"])
            if finer is not None:
                raise finer
        except PayloadProblem as p:
            bad.append((m, p))
            continue
        good.append((m, reading))
        sites[where.sensor_id] = where.site_id
    inverse = _inverses(mapping)
    kw: dict[str, Any] = {
        "as_of": as_of,
        "batch_id": batch_id,
        "pseudonym_key": pseudonym_key,
        "clock_skew_s": clock_skew_s,
        "register": register,
    }
    generations = _generations(mapping, [raw_row(mapping, r, inverse) for _, r in good])
    if generations and max(generations) > 0:
        # a later version of a record in this micro-batch: validated and written after
        # the earlier one, as if it came in the next micro-batch (module doc)
        parts = []
        for g in range(max(generations) + 1):
            msgs = [m for (m, _), k in zip(good, generations, strict=True) if k == g]
            if g == 0:
                msgs += [m for m, _ in bad]
            part = validate_messages(
                mapping, msgs, **{**kw, "batch_id": batch_id if g == 0 else f"{batch_id}~v{g}"}
            )
            parts.append(part)
        merged = _merged(mapping, parts)
        merged.batch.read = len(messages)
        merged.messages = len(messages)
        merged.batch.check_invariant()
        return merged
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
        as_of=as_of + timedelta(seconds=clock_skew_s),
        batch_id=batch_id,
        file_name="mqtt",
        messages=[],
        reread=lambda: iter([chunk]),
    )
    q = batch.quarantine
    by_row = {i + 1: m for i, (m, _) in enumerate(good)}
    # a row the lake refuses at the write (reverts_correction) is keyed by its message too
    batch.row_keys = lambda n: (by_row[n].key, shown_topic(by_row[n].topic))
    if len(q):  # one quarantine row per message, keyed by the message
        q = q.copy()
        q["batch_id"] = [by_row[int(r)].key for r in q["row_number"]]
        q["file_name"] = [shown_topic(by_row[int(r)].topic) for r in q["row_number"]]
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


# the quarantine reason of a message whose validation raised (a bug, or an input no rule
# foresaw): the message is quarantined and acknowledged, never the consumer stopped
FAILED_REASON = "validation_failed"


def _failure_text(exc: BaseException) -> str:
    """What a failed validation says: the error's class and the code lines it came from
    (innermost first), never its message (it may quote the reading)."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))
    return (
        f"validating this message raised {type(exc).__name__} ({where or '-'}): a fault of "
        "riskwarn's, not of the sender's; the message is kept here (topic, size and "
        "SHA-256) and the consumer went on with the others"
    )


def validate_guarded(
    mapping: SourceMapping,
    messages: Sequence[Message],
    *,
    as_of: datetime,
    batch_id: str,
    pseudonym_key: str = "",
    clock_skew_s: float = 0.0,
    register: dict[str, str | None] | None = None,
) -> MicroBatch:
    """:func:`validate_messages`, but no message can make it raise: when a micro-batch's
    validation raises, its halves are validated apart (again and again), and a single
    message whose validation raises is quarantined (:data:`FAILED_REASON`; the error's
    class and code lines in the message, in the log too). Its quarantine row is written
    with the micro-batch, and the consumer acknowledges the message only after that, as
    every quarantined message (one interval_s of 1e20 stopped the consumer before, and
    the readings after it were never stored). The halves are validated as batches of
    their own: a duplicate or spike rule sees the neighbours in its half only."""
    kw: dict[str, Any] = {
        "as_of": as_of,
        "batch_id": batch_id,
        "pseudonym_key": pseudonym_key,
        "clock_skew_s": clock_skew_s,
        "register": register,
    }
    try:
        return validate_messages(mapping, messages, **kw)
    except Exception as exc:
        if len(messages) > 1:
            half = len(messages) // 2
            parts = [
                validate_guarded(mapping, messages[:half], **kw),
                validate_guarded(mapping, messages[half:], **kw),
            ]
            return _merged(mapping, parts)
        text = _failure_text(exc)
        log.error("%s: %s: %s", mapping.name, messages[0].key if messages else "-", text)
        failed = validate_messages(mapping, [], **kw)
        problem = PayloadProblem(FAILED_REASON, text)
        q = pd.concat([failed.batch.quarantine, _problem_rows(mapping, [(messages[0], problem)])])
        failed.batch.quarantine = q.reset_index(drop=True)
        failed.batch.read = len(messages)
        failed.messages = len(messages)
        failed.batch.check_invariant()
        return failed


def _merged(mapping: SourceMapping, parts: list[MicroBatch]) -> MicroBatch:
    """One micro-batch of micro-batches validated apart: the accepted rows in the key's
    order (a reading twice, its last copy), the quarantine one row per message; with
    :attr:`MicroBatch.steps` (the parts' batches, written in order) when a record is in
    more than one part."""
    first = parts[0].batch
    table = TABLES[mapping.table]
    key = list(table.key)
    # each accepted row numbered across the parts (a part's rows after the earlier parts'
    # messages), with its message: a row the lake refuses at the write is keyed by its
    # message as in a micro-batch validated whole (Batch.row_keys)
    shown = [p.batch for p in parts if len(p.batch.accepted)] or [first]
    numbered = all(b.accepted_rows is not None and b.row_keys is not None for b in shown)
    message_of: dict[int, tuple[str, str]] = {}
    frames = []
    offset = 0
    for b in shown:
        frame = b.accepted
        if numbered and b.accepted_rows is not None and b.row_keys is not None:
            rows = b.accepted_rows.astype(np.int64)
            message_of.update({offset + int(n): b.row_keys(int(n)) for n in rows.tolist()})
            frame = frame.assign(_row=rows + offset)
        frames.append(frame)
        offset += b.read
    accepted = pd.concat(frames)
    twice = accepted.duplicated(key, keep="last").to_numpy()
    accepted = accepted.loc[~twice].sort_values(key, kind="stable").reset_index(drop=True)
    accepted_rows = None
    if numbered:
        accepted_rows = accepted["_row"].to_numpy(dtype=np.int64)
        accepted = accepted.drop(columns="_row")
    q = pd.concat([p.batch.quarantine for p in parts], ignore_index=True)
    again = q.duplicated(["batch_id", "row_number"]).to_numpy()
    q = q.loc[~again].reset_index(drop=True)
    q["row_number"] = q["row_number"].astype("int64")
    batch = Batch(
        batch_id=first.batch_id,
        source=first.source,
        table_name=first.table_name,
        file_name=first.file_name,
        read=sum(p.batch.read for p in parts),
        accepted=accepted,
        quarantine=q,
        duplicates=sum(p.batch.duplicates for p in parts) + int(twice.sum() + again.sum()),
        messages=[m for p in parts for m in p.batch.messages],
        accepted_rows=accepted_rows,
        row_keys=message_of.__getitem__ if numbered else None,
    )
    batch.check_invariant()
    sites: dict[str, str | None] = {}
    sent: dict[str, float] = {}
    for p in parts:
        sites.update(p.sites)
        sent.update(p.sent_at)
    # a record in several parts (a later version): each part written in order, so the
    # lake keeps the earlier one in the record's history as two micro-batches would
    steps = (
        [b for p in parts for b in p.writes] if twice.any() or any(p.steps for p in parts) else []
    )
    return MicroBatch(batch, sites, sent, sum(p.messages for p in parts), steps)


def stored_counts(mb: MicroBatch, written: Sequence[dict[str, int]]) -> dict[str, int]:
    """What a micro-batch stored, once written: ``written`` is
    :func:`riskwarn.ingest.write_batch`'s answer for each of :attr:`MicroBatch.writes`, in
    order, and the writes' batches are as the write left them (a row the lake refused,
    e.g. ``reverts_correction``, moved to their quarantine); each answer's
    ``quarantine_new`` (the consumer adds it: the calls of ``write_batch``'s
    ``on_quarantine``) is how many of that write's quarantine rows the lake's quarantine
    did not hold before (absent: all of them).

    ``new``: records the lake did not hold; ``corrections``: later versions of a record it
    held (an earlier message of this micro-batch included), its earlier version kept in the
    record's history; ``accepted``: the two together, what was stored; ``duplicates``:
    exact repeats (in the micro-batch, or of what the lake holds) and a message
    quarantined twice, in this micro-batch or before (the lake's quarantine held its row:
    a redelivery after a crash before the acknowledgement, a replay; as a redelivered
    stored reading is a duplicate, the lake answering ``unchanged``); ``quarantined``:
    messages quarantined, at validation or refused at the write, whose row the lake's
    quarantine did not hold. Their sum with ``duplicates`` is the messages read, and the
    same nine messages give the same counts in one micro-batch or in nine, and with any
    of them delivered again only ``duplicates`` grows (the merged
    :attr:`MicroBatch.batch` counts a superseded version as a duplicate: it is the
    micro-batch's view, not what was stored)."""
    new = sum(int(w.get("new", 0)) for w in written)
    corrections = sum(int(w.get("updated", 0)) for w in written)
    repeats = sum(int(w.get("unchanged", 0)) for w in written)
    seen: set[tuple[str, int]] = set()
    again = 0
    fresh = 0
    for b, w in zip(mb.writes, written, strict=True):
        q = b.quarantine
        keys = set(zip(q["batch_id"].astype(str), q["row_number"].astype(int), strict=True))
        # a message's quarantine row once (the lake keys it by message)
        again += len(keys & seen)
        seen |= keys
        fresh += int(w.get("quarantine_new", len(keys)))
    fresh = min(fresh, len(seen))
    return {
        "accepted": new + corrections,
        "new": new,
        "corrections": corrections,
        "duplicates": sum(b.duplicates for b in mb.writes) + repeats + again + len(seen) - fresh,
        "quarantined": fresh,
    }


def stored_rows(mb: MicroBatch) -> pd.DataFrame:
    """The readings the lake holds from a micro-batch, once written: each record's last
    version among :attr:`MicroBatch.writes` as the write left them (a row the lake refused,
    e.g. ``reverts_correction``, moved to their quarantine, is not here), in the key's
    order. What the stream's rules and site model may evaluate: the merged
    :attr:`MicroBatch.batch` holds a refused version too (the last message of a record),
    which the lake never served."""
    table = TABLES[mb.batch.table_name]
    key = list(table.key)
    parts = [b.accepted for b in mb.writes if len(b.accepted)]
    if not parts:
        return mb.batch.accepted.iloc[0:0].copy()
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    rows = rows.loc[~rows.duplicated(key, keep="last").to_numpy()]
    return rows.sort_values(key, kind="stable").reset_index(drop=True)


def quarantine_reason_text(code: str) -> str:
    """Human text of a stream quarantine reason (the batch's texts for the batch's codes)."""
    return reason_message(code)
