"""Stage 3, validate (pure): duplicates, sensor spikes and the contract over a whole file.

:func:`finish_batch` turns the mapped candidates into a :class:`Batch` (accepted rows,
quarantine, duplicates) and asserts ``read == accepted + quarantined + duplicates``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from riskwarn.contracts import TABLES, Table, conform, pandera_schema
from riskwarn.ingest.raw_rows import content_hash
from riskwarn.lake import sort_order
from riskwarn.sources import SourceMapping

log = logging.getLogger(__name__)

QUARANTINE_COLUMNS = [
    "source",
    "table_name",
    "batch_id",
    "file_name",
    "row_number",
    "reason",
    "message",
    "original",
]


@dataclass
class Batch:
    """The outcome of reading + validating one file (before the lake upsert)."""

    batch_id: str
    source: str
    table_name: str
    file_name: str
    read: int
    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    duplicates: int
    messages: list[str] = field(default_factory=list)
    # the 1-based data row of each accepted row (None: not known) and a way to read rows'
    # stored-form originals again: a row the lake refuses at the write (a revert of a
    # correction, riskwarn.ingest.write) goes to the quarantine with its row and original
    accepted_rows: np.ndarray | None = field(default=None, repr=False)
    fetch_originals: Callable[[set[int]], dict[int, str]] | None = field(default=None, repr=False)
    # row number -> the (batch_id, file_name) a row the lake refuses is quarantined under,
    # row_number 1 (the stream: its message's key and topic, so a message redelivered in a
    # later micro-batch lands on its own row again); None: this batch's id, its row number
    row_keys: Callable[[int], tuple[str, str]] | None = field(default=None, repr=False)

    @property
    def reasons(self) -> dict[str, int]:
        counts = self.quarantine["reason"].value_counts()
        return {str(k): int(v) for k, v in sorted(counts.items())}

    @property
    def counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": len(self.accepted),
            "quarantined": len(self.quarantine),
            "duplicates": self.duplicates,
            "reasons": self.reasons,
        }

    def check_invariant(self) -> None:
        """``read == accepted + quarantined + duplicates`` (raises AssertionError otherwise)."""
        total = len(self.accepted) + len(self.quarantine) + self.duplicates
        if self.read != total:
            raise AssertionError(
                f"{self.file_name}: read {self.read} != accepted {len(self.accepted)} + "
                f"quarantined {len(self.quarantine)} + duplicates {self.duplicates}"
            )


def _spikes(cand: pd.DataFrame, max_jump: float) -> pd.Series:
    """Isolated outliers: beyond ``max_jump`` from both neighbours in the same direction."""
    series = _series_codes(cand["sensor_id"], cand["quantity"])
    order = _series_time_order(series, cand["observed_at"], cand["_row"].to_numpy())
    ser = series[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (ser[1:] == ser[:-1]) & (ser[1:] >= 0)
    v = cand["value"].to_numpy(dtype=float, na_value=np.nan)[order]
    prev = np.full(len(v), np.nan)
    nxt = np.full(len(v), np.nan)
    prev[1:] = np.where(same[1:], v[:-1], np.nan)
    nxt[:-1] = np.where(same[1:], v[1:], np.nan)
    with np.errstate(invalid="ignore"):
        up = (v - prev > max_jump) & (v - nxt > max_jump)
        down = (prev - v > max_jump) & (nxt - v > max_jump)
    spike = np.zeros(len(order), dtype=bool)
    spike[order] = up | down
    return pd.Series(spike, index=cand.index)


def _series_codes(sensor: pd.Series, quantity: pd.Series) -> np.ndarray:
    """Series = (sensor, quantity) as one integer code per row (any numbering of the
    series will do: only the order within a series matters); -1 where either is missing.

    Readings exported series by series hold each series in one run of rows: then the
    run number is the code, found by comparing neighbours (no factorizing of two text
    columns), once the runs' (sensor, quantity) pairs are checked to be distinct."""
    runs = _run_codes(sensor, quantity)
    if runs is not None:
        return runs
    sid, _ = pd.factorize(sensor)
    qty, quantities = pd.factorize(quantity)
    return np.where((sid < 0) | (qty < 0), -1, sid.astype(np.int64) * (len(quantities) + 1) + qty)


def _run_codes(sensor: pd.Series, quantity: pd.Series) -> np.ndarray | None:
    """Run numbers of equal (sensor, quantity) neighbours, or None when a value is
    missing or a pair comes back in a later run (then runs are not series)."""
    s = pyarrow.array(sensor, from_pandas=True)
    q = pyarrow.array(quantity, from_pandas=True)
    if len(s) < 2 or s.null_count or q.null_count:
        return None
    step = np.asarray(pc.or_(pc.not_equal(s[1:], s[:-1]), pc.not_equal(q[1:], q[:-1])), dtype=bool)
    starts = np.concatenate([[0], np.flatnonzero(step) + 1])
    pairs = pd.DataFrame(
        {"s": s.take(starts).to_pylist(), "q": q.take(starts).to_pylist()}, dtype=object
    )
    if pairs.duplicated().any():
        return None
    return np.concatenate([[0], np.cumsum(step, dtype=np.int64)])


def _series_time_order(series: np.ndarray, times: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Positions sorting by (series, time, row), stable, missing times last in their
    series: ``sort_order`` of those three columns, on integers (NumPy), and no sort at
    all when the rows already come in that order (readings exported sensor by sensor)."""
    t = np.array(pd.DatetimeIndex(times).asi8, dtype=np.int64)  # one unit for all rows
    t[times.isna().to_numpy(dtype=bool)] = np.iinfo(np.int64).max  # nulls last
    series = np.asarray(series, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    if len(series) > 1:
        s0, s1, t0, t1 = series[:-1], series[1:], t[:-1], t[1:]
        ahead = (s1 > s0) | ((s1 == s0) & ((t1 > t0) | ((t1 == t0) & (rows[1:] >= rows[:-1]))))
        if bool(ahead.all()):
            return np.arange(len(series))
    return np.lexsort((rows, t, series))


class _IdOrder:
    """The record ids sorted once (Arrow, stable, nulls last, missing ids equal to each
    other), to find repeated ids and the key order of any subset of the rows."""

    def __init__(self, ids: pd.Series) -> None:
        # dense ranks: equal ids (and all missing ones) share a rank; a stable argsort of
        # the ranks is the ids' stable sort order
        # the chunks as they come (one per read chunk): the in-order test needs no
        # combined copy of every id
        arr = pyarrow.array(ids, from_pandas=True)
        if arr.type == "null":  # no id at all (an empty batch, or every id missing)
            arr = arr.cast("string")
        # ids already in order (readings exported sensor by sensor, time by time): the
        # identity is the stable order and equal neighbours share a group
        if (
            len(arr) > 1
            and arr.null_count == 0
            and pc.all(pc.greater_equal(arr[1:], arr[:-1])).as_py()
        ):
            step = np.asarray(pc.not_equal(arr[1:], arr[:-1]), dtype=bool)
            self.order = np.arange(len(arr))
            self.group = np.concatenate([[1], 1 + np.cumsum(step, dtype=np.int64)])
            return
        if isinstance(arr, pyarrow.ChunkedArray):
            arr = arr.combine_chunks()
        rank = pc.rank(arr, tiebreaker="dense").to_numpy()
        self.order = np.argsort(rank, kind="stable")
        self.group = rank[self.order]  # per sorted position: equal ids, equal group

    def in_order(self, mask: np.ndarray) -> np.ndarray:
        """Positions of the rows in ``mask``, sorted by id."""
        return self.order[mask[self.order]]

    def repeated_within(self, mask: np.ndarray) -> np.ndarray:
        """Mask of the rows in ``mask`` whose id occurs more than once among them."""
        keep = mask[self.order]
        pos, grp = self.order[keep], self.group[keep]
        rep = np.zeros(len(pos), dtype=bool)
        same = grp[1:] == grp[:-1]
        rep[1:] |= same
        rep[:-1] |= same
        out = np.zeros(len(mask), dtype=bool)
        out[pos[rep]] = True
        return out


def _repeats(hashes: np.ndarray) -> np.ndarray:
    """Mask of the hashes that occur more than once (candidates for exact comparison)."""
    return pd.Series(hashes).duplicated(keep=False).to_numpy()


def _duplicated_rows(frame: pd.DataFrame) -> np.ndarray:
    """``frame.duplicated(keep=False)``, exact, comparing values only where hashes repeat."""
    repeated = _repeats(content_hash(frame))
    out = np.zeros(len(frame), dtype=bool)
    if repeated.any():
        out[repeated] = frame[repeated].duplicated(keep=False).to_numpy()
    return out


def _rows(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    """``frame.loc[mask]`` without copying when every row is kept (the usual case)."""
    return frame if bool(mask.all()) else frame.loc[mask]


def _take(frame: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """``frame.take(order)`` without copying when ``order`` is already the identity
    (extracts often come sorted by their id)."""
    if np.array_equal(order, np.arange(len(frame))):
        return frame
    return frame.take(order)


def _has_reason(reasons: pd.Series) -> np.ndarray:
    """``reasons != ""`` as a NumPy mask; on the codes when the reasons are categorical."""
    if isinstance(reasons.dtype, pd.CategoricalDtype):
        cats = reasons.cat.categories
        none = cats.get_indexer([""])[0]
        codes = reasons.cat.codes.to_numpy()
        return (codes != none) if none >= 0 else np.ones(len(codes), dtype=bool)
    return (reasons != "").to_numpy(dtype=bool, copy=True)


def _messages(reasons: pd.Series) -> pd.Series:
    """:func:`reason_message` of each reason, computed once per distinct reason."""
    text = {r: reason_message(r) for r in pd.unique(reasons.to_numpy(dtype=object))}
    return reasons.map(text)


def _schema_failures(
    frame: pd.DataFrame, table: Table, key_duplicated: np.ndarray | None = None
) -> pd.Series:
    """The rows of :func:`_schema_reasons` that fail, with their reasons (the mask is
    found on integer codes: the usual all-clean batch builds no per-row text)."""
    if len(frame) <= _PANDERA_ROWS:
        why = _pandera_reasons(frame, table)
        return why[(why != "").to_numpy(dtype=bool)]
    codes, cats = _contract_codes(frame, table, key_duplicated)
    has = codes > 0
    flagged = frame.index[has][:_PANDERA_ROWS]
    sample = frame.index[:_PANDERA_ROWS].union(flagged)
    sub = frame.loc[sample]
    if _pandera_reasons(sub, table).equals(_contract_reasons(sub, table)):
        return pd.Series(cats[codes[has]], index=frame.index[has], dtype=object)
    log.warning("contract masks disagree with pandera on a sample: validating all rows")
    why = _pandera_reasons(frame, table)
    return why[(why != "").to_numpy(dtype=bool)]


def _schema_reasons(
    frame: pd.DataFrame, table: Table, key_duplicated: np.ndarray | None = None
) -> pd.Series:
    """Per-row contract failures (``schema:<col>:<check>``, '' = fine).

    Small frames go through pandera (``contracts.pandera_schema``) as a whole. Large ones
    (over ``_PANDERA_ROWS``) are checked with vectorised masks derived from the same
    ``Field`` definitions (:func:`_contract_reasons`); pandera then validates a sample (the
    first rows plus rows the masks rejected) and, should its verdict on the sample differ
    from the masks', the whole frame goes through pandera after all. ``key_duplicated``
    (rows whose key repeats, when the caller knows) spares finding them again."""
    if len(frame) <= _PANDERA_ROWS:
        return _pandera_reasons(frame, table)
    fast = _contract_reasons(frame, table, key_duplicated)
    flagged = fast.index[(fast != "").to_numpy()][:_PANDERA_ROWS]
    sample = frame.index[:_PANDERA_ROWS].union(flagged)
    sub = frame.loc[sample]
    if _pandera_reasons(sub, table).equals(_contract_reasons(sub, table)):
        return fast
    log.warning("contract masks disagree with pandera on a sample: validating all rows")
    return _pandera_reasons(frame, table)


_PANDERA_ROWS = 20_000  # frames up to this size are validated by pandera row for row


def _pandera_reasons(frame: pd.DataFrame, table: Table) -> pd.Series:
    reason = pd.Series("", index=frame.index, dtype=object)
    try:
        pandera_schema(table).validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna()]
        for _, r in fc.iloc[::-1].iterrows():
            idx = r["index"]
            if idx in reason.index:
                reason[idx] = f"schema:{r['column']}:{str(r['check']).split('(')[0]}"
    return reason


def _contract_reasons(
    frame: pd.DataFrame, table: Table, key_duplicated: np.ndarray | None = None
) -> pd.Series:
    """The checks of ``contracts.pandera_schema`` as vectorised masks, in pandera's
    reporting order (key uniqueness, then per field: nullability, allowed values, min,
    max); a row's first failure is its reason. ``frame`` has the canonical dtypes."""
    codes, cats = _contract_codes(frame, table, key_duplicated)
    return pd.Series(cats[codes], index=frame.index, dtype=object)


def _contract_codes(
    frame: pd.DataFrame, table: Table, key_duplicated: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_contract_reasons` as integer codes into an array of reason texts
    (code 0 = ``""``, no failure)."""
    checks: list[tuple[np.ndarray, str]] = []
    key = list(table.key)
    dup = _duplicated_rows(frame[key]) if key_duplicated is None else key_duplicated
    checks.append((dup, f"schema:{key[0]}:multiple_fields_uniqueness"))
    for f in table.fields:
        s = frame[f.name]
        null = s.isna().to_numpy(dtype=bool)
        if not f.nullable:
            checks.append((null, f"schema:{f.name}:not_nullable"))
        if f.allowed is not None:
            allowed = ~s.isin(list(f.allowed)).to_numpy(dtype=bool)
            checks.append((allowed & ~null, f"schema:{f.name}:isin"))
        if f.min_value is not None:
            low = (s < f.min_value).fillna(False).to_numpy(dtype=bool)
            checks.append((low & ~null, f"schema:{f.name}:greater_than_or_equal_to"))
        if f.max_value is not None:
            high = (s > f.max_value).fillna(False).to_numpy(dtype=bool)
            checks.append((high & ~null, f"schema:{f.name}:less_than_or_equal_to"))
    texts = ["", *dict.fromkeys(code for _, code in checks)]
    at = {t: i for i, t in enumerate(texts)}
    codes = np.zeros(len(frame), dtype=np.int32)
    has = np.zeros(len(frame), dtype=bool)
    for mask, code in checks:
        new = mask & ~has
        if new.any():
            codes[new] = at[code]
            has |= new
    return codes, np.array(texts, dtype=object)


def _messages_for(quarantine: pd.DataFrame) -> list[str]:
    msgs = []
    for code, grp in quarantine.groupby("reason", sort=True):
        first = grp.iloc[0]
        msgs.append(
            f"{len(grp)} row(s) quarantined [{code}]: {first['message']} (first: row {first['row_number']})"
        )
    return msgs


_REASON_TEXT = {
    "missing_column": "the file lacks required column '{arg}'",
    "missing_value": "required value '{arg}' is empty",
    "missing_id": "the id column(s) are empty",
    "bad_record_id": (
        "the record id does not match the mapping's id.format (a name or other text typed "
        "into an id column is no id): the row is not stored, and its id is masked in its "
        "quarantined original; correct the id in the export and ingest the file again"
    ),
    "unparseable_date": "'{arg}' is not a date in the mapping's format",
    "impossible_date": "'{arg}' has the right format but is not a real date",
    "out_of_range_date": (
        "'{arg}' is outside the supported time range "
        "(1677-09-22 00:00:00 to 2262-04-10 23:59:59; pandas' nanosecond timestamps)"
    ),
    "unparseable_number": "'{arg}' is not a number",
    "unparseable_coordinates": "x/y are not numbers",
    "non_finite_value": "'{arg}' is not a finite number (inf or -inf)",
    "out_of_range_number": (
        "'{arg}' is a whole number outside the range of an integer column "
        "(-9223372036854775808 to 9223372036854775807, int64)"
    ),
    "incomplete_coordinates": "only one of lon/lat is given",
    "future_timestamp": "'{arg}' lies in the future of the ingest time",
    "outside_area": "the location is outside the configured area",
    "swapped_lon_lat": "lon and lat look swapped (swapped pair falls inside the area; not fixed)",
    "negative_value": "negative reading",
    "below_range": "reading below value_range",
    "absurd_value": "reading above value_range (absurd)",
    "spike": "isolated jump beyond the spike bound vs both neighbours",
    "duplicate_id_conflict": "the same id appears with different content in this file",
    "bad_line": "the line has the wrong number of fields",
    "unclosed_quote": (
        "a quote opens in the line and does not close within limits.max_record_lines lines "
        "and limits.max_line_bytes, or by the end of the file (a quoted value may hold line "
        "breaks; this one is broken): the line alone is quarantined, the next lines are "
        "read on their own"
    ),
    "line_too_long": "the line is longer than limits.max_line_bytes (not read)",
    "unterminated_last_line": (
        "the file's last line has no line end: the file may be cut (an export still being "
        "written or copied), its last value cut short; the record is not read: re-ingest the "
        "complete file (a source whose exports end without a line end sets "
        "last_line_may_lack_line_end in its mapping)"
    ),
    "carriage_return": (
        "a carriage return (\\r) inside the line, not at its end: the line is one record, "
        "quarantined whole (not split there, not read)"
    ),
    "bad_encoding": (
        "the line is not text in the file's encoding (an undecodable byte): the line is one "
        "record, quarantined whole (not read)"
    ),
    "bom_in_line": (
        "the line starts with U+FEFF, a byte-order mark in the middle of the file (another "
        "file joined on?): invisible, it would make a different id; the line is quarantined "
        "whole (not read): remove the mark and ingest the line again"
    ),
    "repeated_header": (
        "the line is the file's header line again (two exports joined into one file?): "
        "not a row; the records after it are read as usual"
    ),
    "nul_byte": "NUL byte(s) in the data",
    "field_too_long": "'{arg}' is longer than limits.max_field_chars",
    "outside_city_area": "the location is outside the city's configured area (city_area)",
    "schema": "contract check failed: {arg}",
    "personal_data": (
        "'{arg}' holds a phone or ID number (personal data): the row is not stored, and the "
        "number is masked in its quarantined original"
    ),
    "scientific_notation": (
        "'{arg}' is written in scientific notation (e.g. 3.40825E+8): a code a spreadsheet "
        "turned into a number, its digits lost; export the column as text and ingest again"
    ),
    "unknown_admin_code": (
        "admin_code is not the code of an admin unit in the lake (admin_units): ingest the "
        "admin units first, or correct the code, and ingest the file again"
    ),
    "unmapped_category": (
        "'{arg}' is not in the mapping's `map` (a category the mapping does not know: add "
        "it to the map, e.g. as `other`, and ingest the file again)"
    ),
    "reverts_correction": (
        "the row equals an earlier version of the record that a file ingested later "
        "corrected, and export times cannot order the two (one was ingested without "
        "--extracted-at): storing it would undo that correction, so it was not applied "
        "(ingest the file again with --allow-revert to restore that version deliberately)"
    ),
    "older_extract": (
        "the row comes from an export made before the newest export that carried the "
        "record (riskwarn ingest --extracted-at): storing it would roll the record "
        "back to older content, so it was not applied (ingest the file again with "
        "--allow-revert to store it deliberately)"
    ),
    "reported_before_occurred": (
        "reported_at is before occurred_at by more than the 1 h clock-skew tolerance "
        "(date-only values: the report is on an earlier local day than the event)"
    ),
}


# reasons whose message also says the row's value (from its original: masked and cut as
# every original), at most this many characters of it
VALUE_REASONS = frozenset({"out_of_range_number"})
_SHOWN_VALUE_CHARS = 40


def _say_values(mapping: SourceMapping, quarantine: pd.DataFrame) -> None:
    """Add the value to the message of each row whose reason is in :data:`VALUE_REASONS`
    (``'n_parties' is ... (-9223372036854775808 to ...); value: 1e20``)."""
    reasons = quarantine["reason"].astype(str)
    for i in reasons.index[reasons.str.startswith(tuple(f"{r}:" for r in VALUE_REASONS))]:
        rule = mapping.columns.get(reasons[i].partition(":")[2])
        if rule is None:
            continue
        try:
            original = json.loads(str(quarantine.at[i, "original"] or "{}"))
        except ValueError:
            continue
        if not isinstance(original, dict):
            continue
        given = [original.get(c) for c in rule.sources + rule.template_columns]
        text = next((str(v).strip() for v in given if v is not None and str(v).strip()), "")
        if text:
            if len(text) > _SHOWN_VALUE_CHARS:
                text = f"{text[:_SHOWN_VALUE_CHARS]}... ({len(text)} characters)"
            quarantine.at[i, "message"] = f"{quarantine.at[i, 'message']}; value: {text}"


def reason_message(code: str) -> str:
    """Human text for a reason code such as ``impossible_date:occurred_at``."""
    head, _, arg = code.partition(":")
    return _REASON_TEXT.get(head, head).format(arg=arg)


def finish_batch(
    mapping: SourceMapping,
    candidates: pd.DataFrame,
    reasons: pd.Series,
    *,
    read: int,
    batch_id: str,
    file_name: str,
    messages: list[str],
    extra_quarantine: pd.DataFrame | None = None,
    fetch_originals: Callable[[set[int]], dict[int, str]] | None = None,
    fetch_hashes: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Batch:
    """Duplicates, spikes and contract validation over a whole file's candidates.

    Pure apart from ``fetch_originals`` (row numbers -> raw JSON), used for rows rejected
    at this stage whose original content was not kept in memory, and ``fetch_hashes``
    (row numbers -> content hashes, :func:`~riskwarn.ingest.mapping.row_hashes`), used
    when the candidates come without ``_hash``."""
    table = TABLES[mapping.table]
    cand = candidates.reset_index(drop=True)
    reasons = reasons.reset_index(drop=True)
    flagged = _has_reason(reasons)  # in step with `reasons`
    reasons = reasons.astype(object)
    duplicate = pd.Series(False, index=cand.index)
    ok = pd.Series(~flagged, index=cand.index)
    ids = _IdOrder(cand["record_id"])  # one sort of the ids serves every id check below
    if mapping.id is not None and ok.any():
        # only rows whose id repeats can be duplicates or conflicts: the exact comparison
        # runs on those few rows (their content hashes are computed only now when the
        # mapping stage left them out)
        repeated = ids.repeated_within(ok.to_numpy())
        sub = cand.loc[repeated, [c for c in ("record_id", "_hash", "_row") if c in cand]]
        sub = sub.sort_values("_row", kind="stable")
        # an id repeated on purpose (`id.repeats: first`): the first row is the record
        same_on = ["record_id"] if mapping.id.repeats == "first" else ["record_id", "_hash"]
        if "_hash" not in sub and len(sub) and mapping.id.repeats != "first":
            if fetch_hashes is None:
                raise ValueError("candidates without _hash need fetch_hashes")
            sub["_hash"] = fetch_hashes(sub["_row"].to_numpy(dtype=np.int64))
        same = sub.duplicated(same_on, keep="first")
        duplicate[same[same].index] = True
        distinct = sub[~same]
        conflict_ids = distinct["record_id"][distinct["record_id"].duplicated(keep=False)]
        if len(conflict_ids):
            conflict = (
                repeated
                & cand["record_id"].isin(set(conflict_ids)).to_numpy()
                & ~duplicate.to_numpy()
            )
            reasons[conflict] = "duplicate_id_conflict"
            flagged |= conflict
    ok = pd.Series(~flagged, index=cand.index) & ~duplicate
    if mapping.spike is not None and table.name == "sensor_readings" and ok.any():
        spike = _spikes(_rows(cand, ok), mapping.spike.max_jump)
        idx = spike[spike].index
        if mapping.spike.action == "quarantine":
            reasons[idx] = "spike"
            flagged[idx] = True
        else:
            cand.loc[idx, "quality"] = "suspect"
            if len(idx):
                messages.append(f"{len(idx)} reading(s) flagged quality='suspect' (spike)")
    ok = pd.Series(~flagged, index=cand.index) & ~duplicate
    accepted = conform(_rows(cand, ok).reindex(columns=table.columns), table)
    # one source per batch: the key (source, record_id) repeats where the id does
    one_source = bool((accepted["source"] == mapping.name).all()) and list(table.key) == [
        "source",
        "record_id",
    ]
    key_dup = ids.repeated_within(ok.to_numpy())[accepted.index] if one_source else None
    bad = _schema_failures(accepted, table, key_dup)
    reasons[bad.index] = bad
    flagged[bad.index] = True
    ok = pd.Series(~flagged, index=cand.index) & ~duplicate
    accepted = _rows(accepted, ok.loc[accepted.index])
    if one_source:  # the ids' order restricted to the accepted rows (labels = positions)
        order = accepted.index.get_indexer(ids.in_order(ok.to_numpy()))
    else:
        order = sort_order(accepted, list(table.key))
    accepted = _take(accepted, order)
    accepted_rows = cand["_row"].to_numpy(dtype=np.int64)[accepted.index.to_numpy()]
    accepted = accepted.reset_index(drop=True)

    rejected = cand.loc[flagged].copy()
    lacking = rejected["_original"].isna()
    if lacking.any():
        found = (
            fetch_originals(set(rejected.loc[lacking, "_row"].tolist())) if fetch_originals else {}
        )
        rejected.loc[lacking, "_original"] = rejected.loc[lacking, "_row"].map(
            lambda r: found.get(int(r), "")
        )
    quarantine = pd.DataFrame(
        {
            "source": mapping.name,
            "table_name": table.name,
            "batch_id": batch_id,
            "file_name": file_name,
            "row_number": rejected["_row"].astype("int64"),
            "reason": reasons[rejected.index],
            "message": _messages(reasons[rejected.index]),
            "original": rejected["_original"],
        },
        columns=QUARANTINE_COLUMNS,
    )
    _say_values(mapping, quarantine)
    if extra_quarantine is not None and len(extra_quarantine):
        quarantine = pd.concat(
            [quarantine, extra_quarantine[QUARANTINE_COLUMNS]], ignore_index=True
        )
    quarantine = quarantine.reset_index(drop=True)
    batch = Batch(
        batch_id=batch_id,
        source=mapping.name,
        table_name=table.name,
        file_name=file_name,
        read=read,
        accepted=accepted,
        quarantine=quarantine,
        duplicates=int(duplicate.sum()),
        messages=messages + _messages_for(quarantine),
        accepted_rows=accepted_rows,
        fetch_originals=fetch_originals,
    )
    batch.check_invariant()
    return batch
