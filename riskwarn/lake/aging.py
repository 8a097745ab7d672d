"""The quarantine's originals aged like the archive: ``RISKWARN_ARCHIVE_PERSONAL_DAYS``.

A quarantined row keeps its ``original`` (the columns its mapping reads, phone and ID
numbers masked, riskwarn.ingest.raw_rows) so that a data steward can correct the export.
A **name** typed into a column that is read (``周伯通`` as the dispute type) has no
pattern to be found by, so it stays in that original. After ``days`` days (counted from
``quarantined_at``, the time the row was stored) :func:`age_quarantine` ages the row in
place, never deleting it (a record must not be lost; its reason and counts stay):

* every value of its original that could spell a name or stand for a person is ``***``:
  any value with a letter (Latin, Chinese, ...) and a pseudonym (16 hexadecimal
  characters), except the values of ``keep`` columns (the source's id columns: a case
  number, as the lake keeps it for every stored row) and the codes a mapping's ``map``
  knows (邻里纠纷: a category, no name); values of digits and ``.,:+-/``
  and spaces only (numbers, amounts, dates, times, coordinates) stay, unless they hold a
  phone or ID number (:func:`riskwarn.redact.personal_data`);
* the value its message may say (``; value: ...``) is aged the same way, and a phone or
  ID number in the message is masked;
* a stream row's ``file_name`` (its MQTT topic, the sender's text) keeps the levels
  that are ASCII identifiers, the others ``***`` (:func:`aged_topic`);
* ``aged_at`` is set; ``source``, ``table_name``, ``batch_id``, a file's ``file_name``,
  ``row_number``, ``reason`` and ``quarantined_at`` stay: which file, which row, which
  column, why.

The superseded copies (the files the aging rewrote, and the change data feed's
pre-images of the aged rows) are vacuumed in the same call, and the quarantine's log
keeps no statistics of its originals or messages (``riskwarn.lake.write.quarantine_config``):
what is aged is gone from the lake folder, not only from the current version. A row
stored before its time was kept (a quarantine from before 2026-12-08) is stamped with
the time of the first aging run that sees it, and aged ``days`` after that (as the
archive's folders without an archive time: kept longer when the age is unknown).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskwarn.lake import layout
from riskwarn.redact import PERSONAL_KINDS, mask_personal, personal_data

log = logging.getLogger(__name__)

AGED_MASK = "***"
AGING_RUN = "quarantine-aging"  # the run id of the aging commits (not the stream's)
# a value that can spell no name: digits, white space and the punctuation of numbers,
# dates and times (an amount 12,000.50, a date 2023-12-19, 08:30, -3.5, 116.39/39.90)
_NO_NAME = re.compile(r"[0-9\s.,:+\-/]*")
_PSEUDONYM = re.compile(r"[0-9a-f]{16}")
_VALUE = re.compile(r"; value: (?P<value>.*)$", re.DOTALL)
_MASKED = dict.fromkeys(PERSONAL_KINDS, AGED_MASK)
STREAM_BATCH = "mqtt:"  # the batch ids of the stream's rows, whose file_name is the topic
_QUOTED_PATH = re.compile(r"'([^'\s]*/[^']*)'")
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9_.\-+#*]*")


def aged_value(value: Any, keep: bool = False) -> Any:
    """One value of an original as an aged row keeps it (see the module docstring);
    ``keep``: a value of an id column."""
    if value is None:
        return None
    text = str(value)
    if not text.strip() or text == AGED_MASK:
        return value
    if personal_data(text):
        return AGED_MASK
    if keep:
        return value
    if _PSEUDONYM.fullmatch(text.strip()) or not _NO_NAME.fullmatch(text):
        return AGED_MASK
    return value


def aged_original(
    original: Any, keep: Mapping[str, Collection[str] | None] | None = None
) -> str | None:
    """The ``original`` JSON of an aged row: each value through :func:`aged_value`
    (the columns stay, so the steward sees which were given); a text that is not a JSON
    object is ``***`` whole. ``keep``: column -> the values of it that stay (the codes of
    the mapping's ``map``: 邻里纠纷 is a category, no name), None: any value (an id
    column)."""
    keep = keep or {}
    if original is None or (isinstance(original, float) and pd.isna(original)):
        return None
    text = str(original)
    if not text.strip():
        return text
    try:
        row = json.loads(text)
    except ValueError:
        return AGED_MASK
    if not isinstance(row, dict):
        return AGED_MASK

    def kept(column: str, value: Any) -> bool:
        if column not in keep:
            return False
        values = keep[column]
        return values is None or str(value) in values

    aged = {k: aged_value(v, keep=kept(k, v)) for k, v in row.items()}
    return json.dumps(aged, ensure_ascii=False, separators=(",", ":"))


def aged_message(message: Any) -> str | None:
    """The message of an aged row: the value it says (``; value: ...``) aged, a topic it
    quotes aged (:func:`aged_topic`), a phone or ID number in it masked; the reason's
    words stay."""
    if message is None or (isinstance(message, float) and pd.isna(message)):
        return None
    text = mask_personal(str(message), _MASKED)
    # a topic the message quotes (bad_topic: 'riskwarn/v1/.../张三' is not ...)
    text = _QUOTED_PATH.sub(lambda q: f"'{aged_topic(q.group(1))}'", text)
    m = _VALUE.search(text)
    if m is not None:
        text = text[: m.start("value")] + str(aged_value(m.group("value")))
    return text


def aged_topic(topic: Any) -> Any:
    """The ``file_name`` of an aged stream row (its MQTT topic, the sender's text): each
    level that is not an ASCII identifier (``张三``) is ``***``."""
    if not isinstance(topic, str):
        return topic
    levels = [
        lv if _TOPIC_LEVEL.fullmatch(lv) and not personal_data(lv) else AGED_MASK
        for lv in topic.split("/")
    ]
    return "/".join(levels)


def _drop_log_before_now(dt: Any, history_days: int) -> None:
    """Checkpoint the quarantine and remove its log entries before the checkpoint: the
    entries of a quarantine written before 2026-12-08 keep statistics of its originals
    (a file's first and last), and no version before now can be read any more (its files
    are vacuumed). The log's retention is set to 0 days for the removal, then back."""
    from deltalake import DeltaTable

    key = "delta.logRetentionDuration"
    keep = dt.metadata().configuration.get(key) or f"interval {int(history_days)} days"
    dt.alter.set_table_properties({key: "interval 0 days"})
    dt = DeltaTable(dt.table_uri)
    dt.create_checkpoint()
    dt.cleanup_metadata()
    dt = DeltaTable(dt.table_uri)
    dt.alter.set_table_properties({key: keep})


def age_quarantine(
    lake_dir: Path,
    days: int,
    *,
    keep: Mapping[tuple[str, str], Mapping[str, Collection[str] | None]] | None = None,
    now: pd.Timestamp | None = None,
    history_days: int = 365,
) -> dict[str, int]:
    """Age the quarantine's rows stored more than ``days`` days before ``now`` (see the
    module docstring); ``keep``: per ``(source, table_name)``, :func:`aged_original`'s
    ``keep`` (the id columns, the codes of the mapping's maps). Under the quarantine's writer lock, one MERGE commit (run id
    :data:`AGING_RUN`), then a vacuum of every file no longer in the table.

    Returns ``aged`` (rows aged now), ``stamped`` (rows without a stored time, given
    ``now``), ``vacuumed`` (files removed) and ``version`` (the quarantine's, -1 without
    one). Idempotent: a re-run ages nothing more and makes no commit."""
    from deltalake import DeltaTable

    from riskwarn.lake.write import _commit_props, ensure_quarantine_schema, writer_properties

    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = (now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")).floor("us")
    cutoff = now - pd.Timedelta(days=int(days))
    out = {"aged": 0, "stamped": 0, "vacuumed": 0, "version": -1}
    layout.check_not_legacy(lake_dir, layout.QUARANTINE)
    with layout.writer_lock(lake_dir, layout.QUARANTINE) as path:
        if not layout.is_delta(path):
            return out
        dt = ensure_quarantine_schema(DeltaTable(str(path)), history_days)
        keys = ["source", "table_name", "batch_id", "row_number"]
        # the keys and times first (the texts only of the rows to change); filtered after
        # the read: pushed down, the filter skips the files written before the column
        # was (their statistics say nothing of it)
        ds = dt.to_pyarrow_dataset()
        times = ds.to_table(columns=[*keys, "quarantined_at", "aged_at"])
        at = times["quarantined_at"]
        todo = pc.and_kleene(
            pc.is_null(times["aged_at"]),
            pc.or_kleene(pc.is_null(at), pc.less(at, pa.scalar(cutoff.to_pydatetime(), at.type))),
        )
        wanted = times.filter(todo).drop_columns(["aged_at", "quarantined_at"])
        if not wanted.num_rows:
            out["version"] = int(dt.version())
            return out
        batches = pc.field("batch_id").isin(pc.unique(wanted["batch_id"]))
        texts = ds.to_table(
            columns=[*keys, "file_name", "message", "original", "quarantined_at"], filter=batches
        )
        change = wanted.join(texts, keys=keys, join_type="inner").to_pandas()
        due_rows = change["quarantined_at"].notna().to_numpy(dtype=bool)
        change["quarantined_at"] = change["quarantined_at"].fillna(now)
        keep = keep or {}
        aged_o, aged_m = [], []
        for src, tab, orig, msg, is_due in zip(
            change["source"],
            change["table_name"],
            change["original"],
            change["message"],
            due_rows,
            strict=True,
        ):
            aged_o.append(aged_original(orig, keep.get((src, tab))) if is_due else orig)
            aged_m.append(aged_message(msg) if is_due else msg)
        change["original"], change["message"] = aged_o, aged_m
        stream = change["batch_id"].astype(str).str.startswith(STREAM_BATCH).to_numpy(dtype=bool)
        topics = stream & due_rows
        if topics.any():
            change.loc[topics, "file_name"] = change.loc[topics, "file_name"].map(aged_topic)
        change["aged_at"] = pd.Series(
            [now if d else pd.NaT for d in due_rows],
            index=change.index,
            dtype="datetime64[us, UTC]",
        )
        schema = pa.schema(
            [layout.QUARANTINE_SCHEMA.field(n) for n in [*keys, "file_name", "message", "original"]]
            + [
                layout.QUARANTINE_SCHEMA.field("quarantined_at"),
                layout.QUARANTINE_SCHEMA.field("aged_at"),
            ]
        )
        source = pa.Table.from_pandas(
            change[schema.names].astype({"row_number": "int64"}),
            schema=schema,
            preserve_index=False,
        )
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        dt.merge(
            source,
            on,
            source_alias="s",
            target_alias="t",
            writer_properties=writer_properties(),
            commit_properties=_commit_props("quarantine-aging", AGING_RUN),
        ).when_matched_update(
            {
                c: f"s.{c}"
                for c in ("file_name", "message", "original", "quarantined_at", "aged_at")
            },
            predicate="t.aged_at IS NULL",
        ).execute()
        out["aged"], out["stamped"] = int(due_rows.sum()), int((~due_rows).sum())
        dt = DeltaTable(str(path))
        if out["aged"]:
            # the files the merge replaced and its change data hold the originals as they
            # were: removed now, not after the table's history retention
            removed = dt.vacuum(
                retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True
            )
            out["vacuumed"] = len(removed)
            _drop_log_before_now(DeltaTable(str(path)), history_days)
        out["version"] = int(DeltaTable(str(path)).version())
    if out["aged"] or out["stamped"]:
        log.info(
            "quarantine: %d row(s) aged (stored more than %d days ago: their originals' "
            "text masked, the rows kept), %d given the time of this run (stored before "
            "times were kept), %d superseded file(s) removed",
            out["aged"],
            days,
            out["stamped"],
            out["vacuumed"],
        )
    return out
