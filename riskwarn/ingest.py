"""Ingestion: read an extract, map it onto a canonical table, validate, quarantine, upsert.

Pipeline per file (or SQL source), see docs/ingestion.md:

1. read   (:func:`read_raw_chunks`): CSV / CSV.gz / Parquet / SQL into all-text frames;
   file-level problems (empty file, not a table, wrong encoding or delimiter, bad lines)
   become one-line messages, never tracebacks.
2. map    (:func:`map_chunk`, pure): mapping rules -> canonical columns, plus per-row
   reasons (unparseable/impossible dates, future timestamps, coordinates outside the
   area or swapped, values outside ``value_range``, missing required values).
3. finish (:func:`finish_batch`, pure): duplicate ids, sensor spikes, contract validation
   (pandera, lazy, for small batches; for large ones vectorised masks derived from the
   same contract Fields, cross-checked by pandera on a sample; failure cases become
   per-row reasons), the count invariant ``read == accepted + quarantined + duplicates``.

Everything works on whole columns (value-by-value rules run once per distinct value);
see "Performance" in docs/ingestion.md.
4. store  (:func:`ingest_files`): lake upsert (:mod:`riskwarn.lake`) and quarantine.

Record ids: the source's id columns joined with ``|``; where a source has no id,
``sha1(raw row) + '#' + n`` where ``n`` numbers identical raw rows within the file
(1, 2, ...). Exact duplicate rows are therefore all kept (Chicago has 111) and
re-ingesting the same file yields the same ids.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import hmac
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from riskwarn import geo
from riskwarn.contracts import TABLES, UTC_TS, Table, pandera_schema
from riskwarn.sources import ColumnRule, SourceMapping, load_mapping, looks_personal

__all__ = [
    "Batch",
    "FileProblem",
    "finish_batch",
    "ingest_files",
    "ingest_sql",
    "load_mapping",
    "map_chunk",
    "read_and_validate",
]

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
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"


class FileProblem(Exception):
    """A whole file cannot be read as a table (reason code + one-line message)."""

    def __init__(self, reason: str, message: str, original: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.original = original


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


# --------------------------------------------------------------------------- reading


def file_batch_id(mapping: SourceMapping, path: Path) -> str:
    """sha256 of the mapping content and the file bytes: the same file + mapping = same id."""
    h = hashlib.sha256(_mapping_digest(mapping).encode())
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mapping_digest(mapping: SourceMapping) -> str:
    return mapping.content_sha256 or hashlib.sha256(mapping.model_dump_json().encode()).hexdigest()


def _head_bytes(path: Path, n: int = _SNIFF_BYTES) -> bytes:
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(n)
        except (OSError, EOFError) as exc:
            raise FileProblem("not_a_table", f"not a readable gzip file ({exc})") from None
    with path.open("rb") as fh:
        return fh.read(n)


def _summary(data: bytes, size: int) -> str:
    return json.dumps(
        {
            "size_bytes": size,
            "head": data[:120].decode("latin-1"),
            "sha256_head": hashlib.sha256(data).hexdigest(),
        },
        ensure_ascii=False,
    )


def detect_text(mapping: SourceMapping, head: bytes, size: int) -> tuple[str, str, list[str]]:
    """Encoding and delimiter for a CSV whose first bytes are ``head``; raises FileProblem."""
    messages: list[str] = []
    if not head.strip():
        raise FileProblem("empty_file", "empty file: no header and no rows")
    if b"\x00" in head:
        raise FileProblem(
            "not_a_table", "not a table: the file contains binary (NUL) bytes", _summary(head, size)
        )
    encoding = mapping.encoding
    if head.startswith(codecs.BOM_UTF8) and encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # Excel-style byte-order mark: not part of the first column name
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(head).best()
        if best is None:
            raise FileProblem(
                "not_a_table",
                "not a table: bytes are not text in any known encoding",
                _summary(head, size),
            ) from None
        encoding = best.encoding
        text = str(best)
        messages.append(
            f"wrong encoding: file is not {mapping.encoding}; detected and decoded as {encoding}"
        )
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text[:4000])
    if text and printable / min(len(text), 4000) < 0.9:
        raise FileProblem(
            "not_a_table", "not a table: the file is not readable text", _summary(head, size)
        )
    lines = text.splitlines()
    header = lines[mapping.skip_rows] if len(lines) > mapping.skip_rows else ""
    delimiter = mapping.delimiter
    if delimiter not in header:
        counts = {d: header.count(d) for d in _DELIMITERS if d != delimiter}
        best_d = max(counts, key=lambda d: counts[d])
        if counts[best_d] > 0:
            messages.append(
                f"wrong delimiter: expected {mapping.delimiter!r}, file uses {best_d!r}; read with {best_d!r}"
            )
            delimiter = best_d
    return encoding, delimiter, messages


def _csv_chunks(
    mapping: SourceMapping, path: Path, encoding: str, delimiter: str, bad: list[list[str]]
) -> Iterator[pd.DataFrame]:
    kwargs: dict[str, Any] = {
        "sep": delimiter,
        "encoding": encoding,
        "dtype": str,
        "keep_default_na": False,
        "na_filter": False,
        "skiprows": mapping.skip_rows,
        "compression": "infer",
    }
    try:
        # fast path: C engine; a malformed line raises and we re-read with the python engine
        yield from pd.read_csv(path, chunksize=mapping.chunk_rows, engine="c", **kwargs)
        return
    except pd.errors.ParserError:
        pass

    def keep_bad(fields: list[str]) -> None:
        bad.append(fields)
        return None

    frame = pd.read_csv(path, engine="python", on_bad_lines=keep_bad, **kwargs)
    yield frame


def _factorize_exact(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes and distinct values of a column such that equal codes always print the same
    text. Missing values get code -1. Floats are factorized on their bit patterns
    (``0.0`` / ``-0.0``); Python objects (SQL results: ``Decimal('1.0')`` equals
    ``Decimal('1.00')`` but prints differently) and other types are not merged at all."""
    dtype = s.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        bits = s.to_numpy().view(f"i{dtype.itemsize}")
        codes, uniq_bits = pd.factorize(bits)
        codes = np.where(s.isna().to_numpy(), -1, codes)
        return codes, pd.Series(uniq_bits.view(dtype), dtype=dtype)
    if (isinstance(dtype, np.dtype) and dtype.kind in "iubmM") or isinstance(
        dtype, pd.DatetimeTZDtype | pd.StringDtype
    ):
        codes, uniq = pd.factorize(s)
        return codes, pd.Series(uniq, dtype=dtype)
    codes = np.where(s.isna().to_numpy(), -1, np.arange(len(s)))
    return codes, s.reset_index(drop=True)


def _stringify(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed frame (Parquet / SQL) -> all-text frame as a CSV would give ('' = null), vectorised.

    Times become ``YYYY-MM-DD HH:MM:SS[+offset]`` (parsed as ISO unless the mapping gives
    a format); booleans ``True``/``False``; numbers their shortest repr. Each column's
    distinct values are formatted once and spread back by their codes (the 10-minute
    readings repeat sensor ids, times and flags many times)."""
    import pyarrow

    out = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):  # Parquet dictionaries: codes as is
            codes = s.cat.codes.to_numpy()
            uniq = pd.Series(s.cat.categories, dtype=s.cat.categories.dtype)
        else:
            codes, uniq = _factorize_exact(s)
        labels = uniq.astype(str).fillna("").to_numpy(dtype=object)  # NaN bits: never used
        text = pyarrow.array(np.append(labels, ""), pyarrow.string())
        out[str(col)] = text.take(np.where(codes < 0, len(uniq), codes))
    text_frame = pyarrow.table(out).to_pandas()  # Arrow-backed strings, like read_csv's
    return text_frame.set_axis(frame.index)


def read_raw_chunks(
    mapping: SourceMapping, path: Path, messages: list[str], bad: list[list[str]]
) -> Iterator[pd.DataFrame]:
    """All-text chunks of a CSV/CSV.gz/Parquet file; file-level problems raise FileProblem."""
    if not path.exists():
        raise FileProblem("file_not_found", f"file not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise FileProblem("empty_file", "empty file: 0 bytes")
    if mapping.format == "parquet" or path.suffix == ".parquet":
        import pyarrow as pyarrow_mod
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (pyarrow_mod.ArrowInvalid, OSError) as exc:
            raise FileProblem(
                "not_a_table",
                f"not a table: not a readable Parquet file ({exc})",
                _summary(_head_bytes(path), size),
            ) from None
        for rb in pf.iter_batches(batch_size=mapping.chunk_rows):
            yield _stringify(rb.to_pandas())
        return
    encoding, delimiter, msgs = detect_text(mapping, _head_bytes(path), size)
    messages.extend(msgs)
    try:
        yield from _csv_chunks(mapping, path, encoding, delimiter, bad)
    except pd.errors.EmptyDataError:
        raise FileProblem("empty_file", "empty file: no header and no rows") from None
    except UnicodeDecodeError:
        raise FileProblem(
            "bad_encoding",
            f"cannot decode the file as {encoding} beyond its first {_SNIFF_BYTES} bytes",
        ) from None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise FileProblem(
            "not_a_table", f"not a table: {first}", _summary(_head_bytes(path), size)
        ) from None


# --------------------------------------------------------------------------- mapping (pure)


def pseudonym(value: str, key: str) -> str:
    """Keyed pseudonym: HMAC-SHA256(key, value), hex, first 16 characters."""
    return hmac.new(key.encode(), value.strip().encode(), hashlib.sha256).hexdigest()[:16]


def _shape(text: str) -> str:
    return re.sub(r"\d+", "9", text)


def _format_shapes(formats: list[str]) -> set[str]:
    sample = datetime(2000, 10, 10, 10, 10, 10)
    return {_shape(sample.strftime(f)) for f in formats}


def _null_mask(s: pd.Series, nulls: set[str]) -> pd.Series:
    return s.isna() | s.isin(nulls) | (s.str.strip() == "")


def _prepare_text(s: pd.Series, rule: ColumnRule, nulls: set[str]) -> pd.Series:
    s = s.astype(object).where(~_null_mask(s.astype(str), nulls | set(rule.null_values)), None)
    if rule.extract:
        ext = s.str.extract(rule.extract, expand=False)
        s = ext.where(ext.notna(), s)
    if rule.map:
        mapped = s.map(lambda v: rule.map.get(v, v) if v is not None else None)  # type: ignore[union-attr]
        s = mapped.astype(object)
    if rule.normalize and s.notna().any():
        t = s.where(s.isna(), s.astype(str).str.strip())
        if rule.normalize == "snake_case":
            t = t.str.lower().str.replace(r"[^0-9a-z]+", "_", regex=True).str.strip("_")
        elif rule.normalize == "lower":
            t = t.str.lower()
        elif rule.normalize == "upper":
            t = t.str.upper()
        s = t
    return s


def _parse(
    s: pd.Series, dtype: str, rule: ColumnRule, tz: str, ambiguous: bool
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Typed values, mask of unparseable inputs and a per-row reason kind."""
    present = s.notna()
    kind = pd.Series("", index=s.index, dtype=object)
    if dtype == "str":
        return (
            s.astype("str"),  # Arrow-backed strings; None -> NaN
            pd.Series(False, index=s.index),
            kind,
        )
    if dtype in ("float", "int"):
        if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
            text = s.astype("str").str.strip()  # vectorised (Arrow); nulls stay null
        else:  # mapped non-text values (numbers from a `map`) pass through as they are
            text = s.where(present, None).map(
                lambda v: v if v is None or not isinstance(v, str) else v.strip()
            )
        num = pd.to_numeric(text, errors="coerce")
        bad = present & num.isna()
        if rule.scale is not None:
            num = num * rule.scale
        if dtype == "int":
            frac = num.notna() & (num != np.floor(num))
            bad = bad | frac
            num = num.where(~frac)
            num = num.round().astype("Int64")
        kind[bad] = "unparseable_number"
        return num, bad, kind
    # timestamps
    text = s.where(present, None).astype(object)
    if rule.formats:
        parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        for fmt in rule.formats:
            todo = parsed.isna() & present
            if not todo.any():
                break
            parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        result = _localize(parsed, tz, ambiguous)
        shapes = _format_shapes(rule.formats)
    else:
        result = _parse_iso(text, tz, ambiguous)
        shapes = {"9999-99-99", "9999-99-99 99:99", "9999-99-99 99:99:99", "9999-99-99T99:99:99"}
    bad = present & result.isna()
    if bad.any():
        impossible = text[bad].map(lambda v: _shape(str(v).strip()) in shapes)
        kind[bad] = np.where(impossible, "impossible_date", "unparseable_date")
    return result, bad, kind


def _localize(naive: pd.Series, tz: str, ambiguous: bool) -> pd.Series:
    """Local wall times -> UTC (DST gaps shift forward; ambiguous hours per mapping)."""
    values = pd.DatetimeIndex(naive.astype("datetime64[ns]"))
    amb = np.full(len(values), ambiguous)
    local = values.tz_localize(tz, ambiguous=amb, nonexistent="shift_forward")
    return pd.Series(local.tz_convert("UTC"), index=naive.index)


def _parse_iso(text: pd.Series, tz: str, ambiguous: bool) -> pd.Series:
    """ISO 8601 times; naive ones are local to ``tz``, ones with an offset keep it."""
    present = text.notna()
    try:
        parsed = pd.to_datetime(text.where(present, None), format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # mixed naive / offset values: parse one by one
        parsed = pd.to_datetime(
            text.where(present, None), format="ISO8601", errors="coerce", utc=True
        )
        naive = (
            text.where(present, "").astype(str).str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
        )
        local = pd.to_datetime(
            text.where(present & ~naive, None), format="ISO8601", errors="coerce"
        )
        return parsed.where(naive, _localize(local, tz, ambiguous))
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").astype(UTC_TS)
    return _localize(parsed.astype("datetime64[ns]"), tz, ambiguous)


def _typed_const(value: Any, dtype: str, n: int, index: pd.Index, tz: str) -> pd.Series:
    if dtype == UTC_TS:
        ts = pd.Timestamp(value)
        ts = ts.tz_localize(tz) if ts.tzinfo is None else ts
        return pd.Series(ts.tz_convert("UTC"), index=index, dtype=UTC_TS)
    if dtype == "int":
        return pd.Series(value, index=index, dtype="Int64")
    if dtype == "float":
        return pd.Series(value, index=index, dtype=float)
    return pd.Series(None if value is None else str(value), index=index, dtype=object)


def _apply_rule(
    mapping: SourceMapping, name: str, rule: ColumnRule, raw: pd.DataFrame, table: Table
) -> tuple[pd.Series, pd.Series]:
    """Values of canonical column ``name`` and per-row reason ('' = fine)."""
    dtype = table.field(name).dtype
    nulls = set(mapping.null_values)
    ambiguous = mapping.ambiguous_time == "daylight"
    reason = np.full(len(raw), "", dtype=object)
    has = np.zeros(len(raw), dtype=bool)  # reason != ''
    if rule.const is not None:
        values = _typed_const(rule.const, dtype, len(raw), raw.index, mapping.timezone)
    elif rule.sources or rule.template:
        if rule.template:
            inputs = [(rule.template, _render_template(rule.template, raw, nulls))]
        else:
            inputs = [(col, raw[col]) for col in rule.sources]
        values = None
        any_bad = pd.Series(False, index=raw.index)
        for _col, series in inputs:
            v, bad, kind = _prepare_and_parse(
                series, dtype, rule, nulls, mapping.timezone, ambiguous
            )
            new = bad.to_numpy(dtype=bool) & ~has
            if new.any():
                reason[new] = kind.to_numpy(dtype=object)[new] + ":" + name
                has |= new
            any_bad |= bad
            values = v if values is None else values.where(values.notna(), v)
        assert values is not None
        keep = values.isna().to_numpy(dtype=bool) & any_bad.to_numpy(dtype=bool)
        reason[~keep] = ""
        has &= keep
    else:
        values = _typed_const(None, dtype, len(raw), raw.index, mapping.timezone)
    for cond in reversed(rule.when):
        hit = raw[cond.column].isin(cond.values)
        if hit.any():
            const = _typed_const(cond.value, dtype, len(raw), raw.index, mapping.timezone)
            values = values.where(~hit, const) if cond.value is not None else values.where(~hit)
            reason[hit.to_numpy(dtype=bool)] = ""
            has &= ~hit.to_numpy(dtype=bool)
    if rule.default is not None:
        values = values.where(
            values.notna() | has,
            _typed_const(rule.default, dtype, len(raw), raw.index, mapping.timezone),
        )
    return values, pd.Series(reason, index=raw.index, dtype=object)


def _prepare_and_parse(
    series: pd.Series, dtype: str, rule: ColumnRule, nulls: set[str], tz: str, ambiguous: bool
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """:func:`_prepare_text` + :func:`_parse` of one source column.

    Both are value-by-value functions, so when the column repeats its values (sensor
    ids, flags, the shared 10-minute times) they run on the distinct values only and
    the results are spread back by code: same output, a fraction of the work."""
    head = series.iloc[:_SAMPLE_ROWS]
    if len(series) > _SAMPLE_ROWS and head.nunique(dropna=False) > _DISTINCT_SHARE * len(head):
        codes, uniq = None, []  # mostly distinct values (ids, coordinates): no gain
    else:
        codes, uniq = pd.factorize(series, use_na_sentinel=False)
    if codes is None or len(uniq) > _DISTINCT_SHARE * len(series):
        text = _prepare_text(series, rule, nulls)
        return _parse(text, dtype, rule, tz, ambiguous)
    distinct = pd.Series(uniq, dtype=object)
    text = _prepare_text(distinct, rule, nulls)
    v, bad, kind = _parse(text, dtype, rule, tz, ambiguous)
    return (
        v.take(codes).set_axis(series.index),
        bad.take(codes).set_axis(series.index),
        kind.take(codes).set_axis(series.index),
    )


_DISTINCT_SHARE = 0.5  # evaluate on distinct values when they are at most this share
_SAMPLE_ROWS = 5000  # rows looked at first to guess whether a column repeats its values


def _render_template(template: str, raw: pd.DataFrame, nulls: set[str]) -> pd.Series:
    import string

    out = pd.Series("", index=raw.index, dtype=object)
    missing = pd.Series(False, index=raw.index)
    for literal, fld, _, _ in string.Formatter().parse(template):
        out = out + literal
        if fld:
            col = raw[fld].astype(str)
            missing |= col.str.strip().isin(nulls | {""})
            out = out + col.str.strip()
    return out.where(~missing, None)


def _row_hashes(raw: pd.DataFrame) -> pd.Series:
    """sha1 of each raw row (values joined with the unit separator), vectorised."""
    if not len(raw.columns):
        return pd.Series("", index=raw.index, dtype=object)
    cols = [raw[c].astype(str) for c in raw.columns]
    joined = cols[0].str.cat(cols[1:], sep="\x1f") if len(cols) > 1 else cols[0]
    return pd.Series(
        [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in joined], index=raw.index, dtype=object
    )


def content_hash(raw: pd.DataFrame) -> np.ndarray:
    """64-bit hash of each row's values (uint64), computed by DuckDB's ``hash`` over an
    Arrow view of the frame (multi-threaded, row order kept). Used only inside one batch
    to tell exact repeats of an id from conflicting versions, never stored."""
    if not len(raw) or not len(raw.columns):
        return np.zeros(len(raw), dtype="uint64")
    import duckdb
    import pyarrow as pa

    cols = {f"c{i}": pa.array(raw[c], from_pandas=True) for i, c in enumerate(raw.columns)}
    rows = pa.table(cols)  # noqa: F841 (read by DuckDB's replacement scan)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        h = con.execute(f"SELECT hash({', '.join(cols)}) AS h FROM rows").fetchnumpy()["h"]
    finally:
        con.close()
    return np.asarray(h, dtype="uint64")


def _row_json(raw: pd.DataFrame) -> pd.Series:
    """JSON object of each raw row (column -> text), vectorised through pandas' writer."""
    if raw.empty:
        return pd.Series([], index=raw.index, dtype=object)
    text = raw.astype(object).to_json(orient="records", lines=True, force_ascii=False)
    return pd.Series(text.rstrip("\n").split("\n"), index=raw.index, dtype=object)


def sanitize_raw(mapping: SourceMapping, raw: pd.DataFrame, key: str) -> pd.DataFrame:
    """The raw row as it may be stored: dropped and personal-looking columns removed,
    pseudonymised columns replaced by their pseudonyms."""
    pseud = {c for cols in mapping.pseudonymise.values() for c in cols}
    keep = [
        c
        for c in raw.columns
        if c not in mapping.drop
        and (c in pseud or c in mapping.not_personal or not looks_personal(str(c)))
    ]
    out = raw[keep].copy()
    for c in pseud & set(keep):
        codes, uniq = pd.factorize(out[c], use_na_sentinel=False)  # HMAC once per value
        pseudonyms = np.array(
            [pseudonym(v, key) if isinstance(v, str) and v.strip() else "" for v in uniq],
            dtype=object,
        )
        out[c] = pd.Series(pseudonyms[codes], index=out.index, dtype=object)
    return out


def _join_nonempty(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Row-wise ``';'.join`` of the non-empty values of ``cols`` (None when all are empty)."""
    joined = np.full(len(frame), "", dtype=object)
    for c in cols:
        v = frame[c].fillna("").to_numpy(dtype=object)
        both = (joined != "") & (v != "")
        joined = np.where(joined == "", v, joined)
        joined[both] = joined[both] + ";" + v[both]
    out = pd.Series(joined, index=frame.index, dtype=object)
    return out.where(out != "", None)


def map_chunk(
    mapping: SourceMapping,
    raw: pd.DataFrame,
    *,
    pseudonym_key: str,
    as_of: datetime,
    first_row: int = 1,
    occurrences: Counter[str] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Map one all-text chunk onto the canonical table (pure).

    Returns the canonical candidates (all rows, with helper columns ``_row`` (1-based data
    row number), ``_hash`` (64-bit hash of the sanitized raw row) and ``_original`` (its
    JSON, filled only for rows already rejected here, to save memory)) and a Series of
    the first reason per row ('' = no problem found yet).
    ``occurrences`` carries identical-row counts across chunks for content-hash ids.
    """
    table = TABLES[mapping.table]
    raw = raw.reset_index(drop=True)
    raw.columns = [str(c) for c in raw.columns]
    clean = sanitize_raw(mapping, raw, pseudonym_key)
    out = pd.DataFrame(index=raw.index)
    out["_row"] = np.arange(first_row, first_row + len(raw), dtype="int64")
    # 64-bit content hash (deterministic) for duplicate detection within the batch; the
    # sha1 ids of id-less sources are computed below only where needed
    out["_hash"] = content_hash(clean)
    reason_arr = np.full(len(raw), "", dtype=object)
    has = np.zeros(len(raw), dtype=bool)  # reason_arr != ''

    missing = [c for c in mapping.source_columns if c not in raw.columns]
    missing += [c for cols in mapping.pseudonymise.values() for c in cols if c not in raw.columns]
    if missing:
        out["source"] = mapping.name
        out["record_id"] = ""
        out["_original"] = _row_json(clean)
        return out, pd.Series(f"missing_column:{missing[0]}", index=raw.index, dtype=object)

    def flag(mask: pd.Series | np.ndarray, code: str) -> None:
        m = np.asarray(pd.Series(mask).fillna(False), dtype=bool) & ~has
        if m.any():
            reason_arr[m] = code
            has[m] = True

    out["source"] = mapping.name
    if mapping.id:
        parts = [raw[c].astype(str).str.strip() for c in mapping.id.columns]
        empty = pd.concat([p.isin(set(mapping.null_values) | {""}) for p in parts], axis=1).any(
            axis=1
        )
        rid = parts[0]
        for p in parts[1:]:
            rid = rid + "|" + p
        out["record_id"] = rid.where(~empty, "")
        flag(empty, "missing_id")
    else:
        sha = _row_hashes(clean)
        seen = occurrences if occurrences is not None else Counter()
        occ = sha.groupby(sha).cumcount() + 1 + sha.map(lambda h: seen.get(h, 0))
        seen.update(sha.tolist())
        out["record_id"] = sha + "#" + occ.astype(str)

    for name, rule in mapping.columns.items():
        values, why = _apply_rule(mapping, name, rule, raw, table)
        out[name] = values
        w = (why != "").to_numpy(dtype=bool) & ~has
        if w.any():
            reason_arr[w] = why.to_numpy(dtype=object)[w]
            has[w] = True
    for name, cols in mapping.pseudonymise.items():
        out[name] = _join_nonempty(clean, cols)

    if mapping.x and mapping.y:
        _map_xy(mapping, raw, out, flag)
    if "lon" in out.columns and "lat" in out.columns:
        _check_area(mapping, out, flag)

    for f in table.fields:
        if f.name not in out.columns:
            out[f.name] = _typed_const(None, f.dtype, len(raw), raw.index, "UTC")
        if f.dtype == UTC_TS:
            limit = pd.Timestamp(as_of).tz_convert("UTC") + pd.Timedelta(
                hours=mapping.max_future_hours
            )
            flag(out[f.name] > limit, f"future_timestamp:{f.name}")
        if not f.nullable:
            flag(out[f.name].isna(), f"missing_value:{f.name}")
    if mapping.value_range is not None and "value" in table.columns:
        lo, hi = mapping.value_range
        v = out["value"]
        flag((v < lo) & (v < 0) & (lo >= 0), "negative_value")
        flag(v < lo, "below_range")
        flag(v > hi, "absurd_value")
    out = out.drop(columns=[c for c in ("_swap_lon", "_swap_lat") if c in out.columns])
    reason = pd.Series(reason_arr, index=raw.index, dtype=object)
    bad = pd.Series(has, index=raw.index)
    out["_original"] = pd.Series(None, index=out.index, dtype=object)
    if bad.any():
        out.loc[bad, "_original"] = _row_json(clean[bad])
    return out, reason


def _map_xy(
    mapping: SourceMapping,
    raw: pd.DataFrame,
    out: pd.DataFrame,
    flag: Callable[[pd.Series, str], None],
) -> None:
    nulls = set(mapping.null_values) | {""}
    xs = raw[mapping.x].astype(str).str.strip()  # type: ignore[index]
    ys = raw[mapping.y].astype(str).str.strip()  # type: ignore[index]
    x = pd.to_numeric(xs.where(~xs.isin(nulls)), errors="coerce")
    y = pd.to_numeric(ys.where(~ys.isin(nulls)), errors="coerce")
    flag((~xs.isin(nulls) & x.isna()) | (~ys.isin(nulls) & y.isna()), "unparseable_coordinates")
    if mapping.crs.upper() in ("EPSG:4326", "WGS84"):
        out["lon"], out["lat"] = x.astype(float), y.astype(float)
        out["_swap_lon"], out["_swap_lat"] = y.astype(float), x.astype(float)
    else:
        lon, lat = geo.unproject(x.to_numpy(float), y.to_numpy(float), mapping.crs)
        slon, slat = geo.unproject(y.to_numpy(float), x.to_numpy(float), mapping.crs)
        out["lon"], out["lat"] = lon, lat
        out["_swap_lon"], out["_swap_lat"] = slon, slat


def _check_area(
    mapping: SourceMapping, out: pd.DataFrame, flag: Callable[[pd.Series, str], None]
) -> None:
    lon = pd.to_numeric(out["lon"], errors="coerce").astype(float)
    lat = pd.to_numeric(out["lat"], errors="coerce").astype(float)
    out["lon"], out["lat"] = lon, lat
    flag(lon.isna() != lat.isna(), "incomplete_coordinates")
    if mapping.area is None:
        return
    both = lon.notna() & lat.notna()
    inside = mapping.area.contains(lon, lat)
    slon = out.get("_swap_lon", lat)
    slat = out.get("_swap_lat", lon)
    swapped = mapping.area.contains(slon, slat)
    flag(both & ~inside & swapped, "swapped_lon_lat")
    flag(both & ~inside, "outside_area")


# --------------------------------------------------------------------------- batch (pure)


def _spikes(cand: pd.DataFrame, max_jump: float) -> pd.Series:
    """Isolated outliers: beyond ``max_jump`` from both neighbours in the same direction."""
    from riskwarn.lake import sort_order

    # series = (sensor, quantity) as one integer code (any order of series will do: only
    # the order within a series matters); nulls never belong to a series
    sid, _ = pd.factorize(cand["sensor_id"])
    qty, quantities = pd.factorize(cand["quantity"])
    series = np.where((sid < 0) | (qty < 0), -1, sid.astype(np.int64) * (len(quantities) + 1) + qty)
    frame = pd.DataFrame(
        {"series": series, "t": cand["observed_at"], "row": cand["_row"].to_numpy()}
    )
    order = sort_order(frame, ["series", "t", "row"])
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


def _sort_order(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    from riskwarn.lake import sort_order

    return sort_order(frame, keys)


def _schema_reasons(frame: pd.DataFrame, table: Table) -> pd.Series:
    """Per-row contract failures (``schema:<col>:<check>``, '' = fine).

    Small frames go through pandera (``contracts.pandera_schema``) as a whole. Large ones
    (over ``_PANDERA_ROWS``) are checked with vectorised masks derived from the same
    ``Field`` definitions (:func:`_contract_reasons`); pandera then validates a sample (the
    first rows plus rows the masks rejected) and, should its verdict on the sample differ
    from the masks', the whole frame goes through pandera after all."""
    if len(frame) <= _PANDERA_ROWS:
        return _pandera_reasons(frame, table)
    fast = _contract_reasons(frame, table)
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


def _contract_reasons(frame: pd.DataFrame, table: Table) -> pd.Series:
    """The checks of ``contracts.pandera_schema`` as vectorised masks, in pandera's
    reporting order (key uniqueness, then per field: nullability, allowed values, min,
    max); a row's first failure is its reason. ``frame`` has the canonical dtypes."""
    checks: list[tuple[np.ndarray, str]] = []
    key = list(table.key)
    checks.append((_duplicated_rows(frame[key]), f"schema:{key[0]}:multiple_fields_uniqueness"))
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
    reason = np.full(len(frame), "", dtype=object)
    has = np.zeros(len(frame), dtype=bool)
    for mask, code in checks:
        new = mask & ~has
        reason[new] = code
        has |= new
    return pd.Series(reason, index=frame.index, dtype=object)


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
    "unparseable_date": "'{arg}' is not a date in the mapping's format",
    "impossible_date": "'{arg}' has the right format but is not a real date",
    "unparseable_number": "'{arg}' is not a number",
    "unparseable_coordinates": "x/y are not numbers",
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
    "schema": "contract check failed: {arg}",
}


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
) -> Batch:
    """Duplicates, spikes and contract validation over a whole file's candidates.

    Pure apart from ``fetch_originals`` (row numbers -> raw JSON), used for rows rejected
    at this stage whose original content was not kept in memory."""
    table = TABLES[mapping.table]
    cand = candidates.reset_index(drop=True)
    reasons = reasons.reset_index(drop=True).astype(object)
    flagged = (reasons != "").to_numpy(dtype=bool, copy=True)  # in step with `reasons`
    duplicate = pd.Series(False, index=cand.index)
    ok = pd.Series(~flagged, index=cand.index)
    if mapping.id is not None and ok.any():
        # only rows whose id hash repeats can be duplicates or conflicts: the exact
        # comparison runs on those few rows
        okv = ok.to_numpy()
        repeated = np.zeros(len(cand), dtype=bool)
        repeated[okv] = _repeats(content_hash(cand.loc[okv, ["record_id"]]))
        sub = cand.loc[repeated, ["record_id", "_hash"]]
        same = sub.duplicated(["record_id", "_hash"], keep="first")
        duplicate[same[same].index] = True
        distinct = sub[~same]
        conflict_ids = distinct["record_id"][distinct["record_id"].duplicated(keep=False)]
        conflict = (
            repeated & cand["record_id"].isin(set(conflict_ids)).to_numpy() & ~duplicate.to_numpy()
        )
        reasons[conflict] = "duplicate_id_conflict"
        flagged |= conflict
    ok = pd.Series(~flagged, index=cand.index) & ~duplicate
    if mapping.spike is not None and table.name == "sensor_readings" and ok.any():
        spike = _spikes(cand[ok], mapping.spike.max_jump)
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
    schema_why = _schema_reasons(accepted, table)
    bad = schema_why[schema_why != ""]
    reasons[bad.index] = bad
    flagged[bad.index] = True
    ok = pd.Series(~flagged, index=cand.index) & ~duplicate
    accepted = _rows(accepted, ok.loc[accepted.index])
    accepted = _take(accepted, _sort_order(accepted, list(table.key))).reset_index(drop=True)

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
            "message": reasons[rejected.index].map(reason_message),
            "original": rejected["_original"],
        },
        columns=QUARANTINE_COLUMNS,
    )
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
    )
    batch.check_invariant()
    return batch


_CANONICAL_DTYPES = {"str": "str", "float": "float64", "int": "Int64", UTC_TS: UTC_TS}


def conform(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Cast a frame to the table's canonical dtypes (``str``, ``Int64``, ``float64``, UTC).

    A frame that already has exactly these columns and dtypes is returned as is (no copy)."""
    if list(frame.columns) == table.columns and all(
        str(frame[f.name].dtype) == _CANONICAL_DTYPES[f.dtype] for f in table.fields
    ):
        return frame
    out = pd.DataFrame(index=frame.index)
    for f in table.fields:
        s = (
            frame[f.name]
            if f.name in frame.columns
            else pd.Series(None, index=frame.index, dtype=object)
        )
        if f.dtype == "str":
            s = s.astype("str")  # pandas' Arrow-backed strings: compact; NaN = null
        elif f.dtype == UTC_TS:
            s = pd.to_datetime(s, utc=True).astype(UTC_TS)
        elif f.dtype == "int":
            s = pd.to_numeric(s).astype("Int64")
        else:
            s = pd.to_numeric(s).astype("float64")
        out[f.name] = s
    return out


# --------------------------------------------------------------------------- IO edges


def _file_problem_batch(
    mapping: SourceMapping, problem: FileProblem, batch_id: str, file_name: str
) -> Batch:
    table = TABLES[mapping.table]
    empty = conform(pd.DataFrame(columns=table.columns), table)
    if problem.reason == "empty_file":
        return Batch(
            batch_id,
            mapping.name,
            table.name,
            file_name,
            0,
            empty,
            pd.DataFrame(columns=QUARANTINE_COLUMNS),
            0,
            [problem.message],
        )
    q = pd.DataFrame(
        [
            [
                mapping.name,
                table.name,
                batch_id,
                file_name,
                0,
                problem.reason,
                problem.message,
                problem.original,
            ]
        ],
        columns=QUARANTINE_COLUMNS,
    )
    q["row_number"] = q["row_number"].astype("int64")
    return Batch(
        batch_id,
        mapping.name,
        table.name,
        file_name,
        1,
        empty,
        q,
        0,
        [f"{problem.message} (whole file quarantined as one record)"],
    )


def _bad_lines_quarantine(
    mapping: SourceMapping, bad: list[list[str]], start_row: int, batch_id: str, file_name: str
) -> pd.DataFrame:
    rows = [
        [
            mapping.name,
            mapping.table,
            batch_id,
            file_name,
            start_row + i,
            "bad_line",
            reason_message("bad_line") + f" ({len(fields)} fields)",
            json.dumps(fields, ensure_ascii=False),
        ]
        for i, fields in enumerate(bad)
    ]
    q = pd.DataFrame(rows, columns=QUARANTINE_COLUMNS)
    q["row_number"] = q["row_number"].astype("int64")
    return q


def validate_chunks(
    mapping: SourceMapping,
    chunks: Iterator[pd.DataFrame],
    *,
    pseudonym_key: str,
    as_of: datetime,
    batch_id: str,
    file_name: str,
    messages: list[str],
    bad: list[list[str]],
    progress: Callable[[int], None] | None = None,
    reread: Callable[[], Iterator[pd.DataFrame]] | None = None,
) -> Batch:
    """Map every chunk, then finish the batch (shared by files and SQL).

    ``reread`` gives the chunks again; it is used to fetch the original content of rows
    rejected after mapping (duplicate conflicts, spikes, contract failures)."""
    parts: list[pd.DataFrame] = []
    why: list[pd.Series] = []
    occ: Counter[str] = Counter()
    read = 0
    extra_reported = False
    for chunk in chunks:
        if not extra_reported:
            extra = [
                c
                for c in chunk.columns
                if str(c) not in mapping.known_columns and not str(c).startswith("Unnamed:")
            ]
            if extra:
                messages.append(f"extra columns ignored: {', '.join(map(str, extra))}")
            extra_reported = True
        cand, reason = map_chunk(
            mapping,
            chunk,
            pseudonym_key=pseudonym_key,
            as_of=as_of,
            first_row=read + 1,
            occurrences=occ,
        )
        parts.append(cand)
        why.append(reason)
        read += len(chunk)
        if progress is not None:
            progress(len(chunk))
    extra_q = None
    if bad:
        extra_q = _bad_lines_quarantine(mapping, bad, read + 1, batch_id, file_name)
        messages.append(
            f"{len(bad)} malformed line(s) quarantined as bad_line (row numbers follow the good rows)"
        )
        read += len(bad)
    if not parts:
        messages.append("no data rows (header only)")
        table = TABLES[mapping.table]
        candidates = pd.DataFrame(columns=[*table.columns, "_row", "_hash", "_original"])
        reasons = pd.Series([], dtype=object)
    else:
        candidates = pd.concat(parts, ignore_index=True)
        reasons = pd.concat(why, ignore_index=True)
        parts.clear()  # the chunks are now in `candidates`: do not hold them twice
        why.clear()
    fetch = None
    if reread is not None:

        def fetch(rows: set[int]) -> dict[int, str]:
            return fetch_raw_rows(mapping, reread(), rows, pseudonym_key)

    return finish_batch(
        mapping,
        candidates,
        reasons,
        read=read,
        batch_id=batch_id,
        file_name=file_name,
        messages=messages,
        extra_quarantine=extra_q,
        fetch_originals=fetch,
    )


def fetch_raw_rows(
    mapping: SourceMapping, chunks: Iterator[pd.DataFrame], rows: set[int], key: str
) -> dict[int, str]:
    """Sanitized JSON of the given 1-based data rows, read again from the chunks."""
    found: dict[int, str] = {}
    start = 1
    for chunk in chunks:
        wanted = [r - start for r in rows if start <= r < start + len(chunk)]
        if wanted:
            sub = chunk.reset_index(drop=True).iloc[sorted(wanted)]
            sub.columns = [str(c) for c in sub.columns]
            text = _row_json(sanitize_raw(mapping, sub, key))
            found.update({start + int(i): t for i, t in text.items()})
        start += len(chunk)
    return found


def read_and_validate(
    mapping: SourceMapping,
    path: str | Path,
    *,
    pseudonym_key: str,
    as_of: datetime,
    progress: Callable[[int], None] | None = None,
) -> Batch:
    """Read one file and validate it; file-level problems become quarantine + message."""
    p = Path(path)
    batch_id = (
        file_batch_id(mapping, p) if p.exists() else hashlib.sha256(str(p).encode()).hexdigest()
    )
    messages: list[str] = []
    bad: list[list[str]] = []

    def reread() -> Iterator[pd.DataFrame]:
        return read_raw_chunks(mapping, p, [], [])

    try:
        return validate_chunks(
            mapping,
            read_raw_chunks(mapping, p, messages, bad),
            pseudonym_key=pseudonym_key,
            as_of=as_of,
            batch_id=batch_id,
            file_name=p.name,
            messages=messages,
            bad=bad,
            progress=progress,
            reread=reread,
        )
    except FileProblem as problem:
        return _file_problem_batch(mapping, problem, batch_id, p.name)


def read_sql_and_validate(
    mapping: SourceMapping, *, pseudonym_key: str, as_of: datetime, url: str | None = None
) -> Batch:
    """Read the mapping's SQL source (table or query) with SQLAlchemy and validate it."""
    import sqlalchemy as sa

    if mapping.sql is None:
        raise ValueError(f"mapping {mapping.name!r} has no sql section")
    engine = sa.create_engine(url or mapping.sql.url)
    try:
        table_name = mapping.sql.table or ""
        query = mapping.sql.query or sa.select(sa.text("*")).select_from(sa.table(table_name))
        with engine.connect() as conn:
            frame = pd.read_sql(sa.text(query) if isinstance(query, str) else query, conn)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"cannot read SQL source of {mapping.name!r}: {first}") from None
    finally:
        engine.dispose()
    raw = _stringify(frame)
    name = f"sql:{mapping.sql.table or 'query'}"
    h = hashlib.sha256(_mapping_digest(mapping).encode())
    h.update(raw.to_csv(index=False).encode())
    messages: list[str] = []
    return validate_chunks(
        mapping,
        iter([raw]),
        pseudonym_key=pseudonym_key,
        as_of=as_of,
        batch_id=h.hexdigest(),
        file_name=name,
        messages=messages,
        bad=[],
        reread=lambda: iter([raw]),
    )


def store_batch(
    batch: Batch, lake_dir: Path, as_of: datetime, grain: str = "year"
) -> dict[str, Any]:
    """Upsert a batch into the lake and return its report (dict, JSON-friendly)."""
    from riskwarn import lake

    result = lake.upsert(
        lake_dir,
        batch.table_name,
        batch.source,
        batch.accepted,
        batch_id=batch.batch_id,
        grain=grain,
    )
    lake.write_quarantine(lake_dir, batch.source, batch.quarantine)
    report = {
        "batch_id": batch.batch_id,
        "source": batch.source,
        "file_name": batch.file_name,
        "table_name": batch.table_name,
        "read": batch.read,
        "accepted": len(batch.accepted),
        "new": result["new"],
        "updated": result["updated"],
        "unchanged": result["unchanged"],
        "quarantined": len(batch.quarantine),
        "duplicates": batch.duplicates,
        "reasons": batch.reasons,
        "messages": batch.messages,
        "ingested_at": as_of.astimezone(UTC),
    }
    accepted, quarantined = len(batch.accepted), len(batch.quarantine)
    assert batch.read == accepted + quarantined + batch.duplicates, (
        "read != accepted + quarantined + duplicates"
    )
    assert accepted == result["new"] + result["updated"] + result["unchanged"], (
        "accepted != new + updated + unchanged"
    )
    return report


def ingest_files(
    mapping: SourceMapping,
    files: Sequence[str | Path],
    settings: Any,
    *,
    as_of: datetime,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Read, validate and upsert each file into ``settings.lake_dir``; one report per file."""
    import pyarrow

    reports = []
    for f in files:
        batch = read_and_validate(
            mapping, f, pseudonym_key=settings.pseudonym_key, as_of=as_of, progress=progress
        )
        reports.append(store_batch(batch, settings.lake_dir, as_of, mapping.partition))
        # hold one file's rows at a time: drop this batch before reading the next file and
        # hand Arrow's freed buffers back to the OS
        del batch
        pyarrow.default_memory_pool().release_unused()
    return reports


def ingest_sql(
    mapping: SourceMapping, settings: Any, *, as_of: datetime, url: str | None = None
) -> dict[str, Any]:
    """Read the mapping's SQL source, validate and upsert it into the lake."""
    batch = read_sql_and_validate(
        mapping, pseudonym_key=settings.pseudonym_key, as_of=as_of, url=url
    )
    return store_batch(batch, settings.lake_dir, as_of, mapping.partition)


def now_utc() -> datetime:
    """The ingest time; read only at entry points and passed down as ``as_of``."""
    return datetime.now(UTC)
