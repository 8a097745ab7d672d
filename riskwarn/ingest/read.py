"""Stage 1, read: CSV / CSV.gz / Parquet files into all-text chunks.

File-level problems (empty file, not a table, wrong encoding or delimiter) raise
:class:`FileProblem` with a one-line message; malformed lines are collected for the
quarantine. See docs/ingestion.md, "What happens to a file".
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskwarn.ingest.fastparse import TIME_RANGE
from riskwarn.ingest.lines import (
    MANY_UNDECODABLE,
    CsvRecords,
    ascii_compatible,
    other_encoding,
)
from riskwarn.ingest.records import (
    Factorized,
    FileChanged,
    FileProblem,
    RawChunk,
    repeated_column,
)
from riskwarn.sources import SourceMapping

_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"


def file_batch_id(mapping: SourceMapping, path: Path) -> str:
    """sha256 of the mapping content and the file bytes: the same file + mapping = same id."""
    h = hashlib.sha256(mapping_digest(mapping).encode())
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# what a file's stat says about its version: (device, inode, size, mtime_ns, ctime_ns)
FileSignature = tuple[int, int, int, int, int]


def file_signature(path: Path) -> FileSignature:
    """The stat fields that change when a file is rewritten, appended to, truncated (size,
    mtime, ctime) or replaced by a rename (device, inode)."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def refuse_if_changed(
    mapping: SourceMapping, path: Path, before: FileSignature, batch_id: str
) -> None:
    """Raise :class:`FileChanged` unless ``path`` is the file that was read: the same
    :func:`file_signature` as ``before`` (taken before its first byte was read) and the
    same bytes as ``batch_id`` was hashed from (:func:`file_batch_id`, which a rewrite
    of the same size within one timestamp tick of the file system would pass the stat
    check with). Called once every read of the file is done, before anything of it is
    written."""
    try:
        after = file_signature(path)
    except FileNotFoundError:
        raise FileChanged(str(path), "removed or renamed") from None
    if after != before:
        _dev, ino, size, *_ = before
        if after[1] != ino:
            what = f"replaced by another file, inode {ino} -> {after[1]}"
        elif after[2] != size:
            what = f"size {size} -> {after[2]} bytes"
        else:
            what = "written to: its modification or change time moved"
        raise FileChanged(str(path), what)
    if file_batch_id(mapping, path) != batch_id:
        raise FileChanged(str(path), "its bytes now differ from those read")


def mapping_digest(mapping: SourceMapping) -> str:
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
            "head": data[:16].decode("latin-1"),  # enough for a format's magic bytes
            "sha256_head": hashlib.sha256(data).hexdigest(),
        },
        ensure_ascii=False,
    )


def detect_text(
    mapping: SourceMapping, head: bytes, size: int, path: Path | None = None
) -> tuple[str, str, list[str]]:
    """Encoding and delimiter for a CSV whose first bytes are ``head``; raises FileProblem.

    The head obeys the rule the rest of the file does (:meth:`CsvRecords._undecodable`):
    a few undecodable lines are corruption, left in the declared encoding to be
    quarantined line by line as ``bad_encoding``. The encoding is detected instead only
    when every non-ASCII line of the head fails, at least :data:`MANY_UNDECODABLE` of
    them or the header line among them (it decides the columns), and the whole file
    (``path``, when given) decodes in the detected encoding."""
    messages: list[str] = []
    if not head.strip():
        raise FileProblem("empty_file", "empty file: no header and no rows")
    encoding = mapping.encoding
    if head.startswith(codecs.BOM_UTF8) and encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # Excel-style byte-order mark: not part of the first column name
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        text = ""
        if _head_is_corrupt(mapping, head, encoding):
            text = head.decode(encoding, errors="replace")
        else:
            from charset_normalizer import from_bytes

            best = from_bytes(head).best()
            if best is None:
                raise FileProblem(
                    "not_a_table",
                    "not a table: bytes are not text in any known encoding",
                    _summary(head, size),
                ) from None
            if path is not None and not _file_is_in(path, mapping, encoding, best.encoding):
                text = head.decode(encoding, errors="replace")  # corruption after all
            else:
                encoding = best.encoding
                text = str(best)
                messages.append(
                    f"wrong encoding: file is not {mapping.encoding}; "
                    f"detected and decoded as {encoding}"
                )
    printable = sum((ch.isprintable() and ch != "\ufffd") or ch in "\r\n\t" for ch in text[:4000])
    if text and printable / min(len(text), 4000) < 0.9:
        what = "contains binary (NUL) bytes" if "\x00" in text else "is not readable text"
        raise FileProblem("not_a_table", f"not a table: the file {what}", _summary(head, size))
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


def _head_is_corrupt(mapping: SourceMapping, head: bytes, encoding: str) -> bool:
    """Whether the undecodable bytes of ``head`` (which fails in ``encoding``) are
    corruption in a file that is in ``encoding``: a non-ASCII line of the head decodes,
    or fewer than :data:`MANY_UNDECODABLE` lines fail, the header line is not one of
    them and, in a file shorter than the head, not every record does (a 4-row GBK
    file). A last line cut by the sniff is left out (it may end inside a character)."""
    lines = head.splitlines(keepends=True)
    if len(head) >= _SNIFF_BYTES and lines and not lines[-1].endswith((b"\n", b"\r")):
        lines = lines[:-1]
    failing, header_fails, seen = 0, False, 0
    for line in lines:
        blank = not line.strip()
        header = seen == mapping.skip_rows and not blank
        if not blank or seen < mapping.skip_rows:
            seen += 1
        if line.isascii():
            continue
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            failing += 1
            header_fails = header_fails or header
            continue
        return True  # a non-ASCII line in the encoding: the file is in it
    every_record = len(head) < _SNIFF_BYTES and failing == seen - mapping.skip_rows - 1
    return failing < MANY_UNDECODABLE and not header_fails and not every_record


def _file_is_in(path: Path, mapping: SourceMapping, declared: str, detected: str) -> bool:
    """Whether the whole file is in ``detected`` rather than ``declared``: for an
    ASCII-based ``detected``, no non-ASCII line of the file decodes in ``declared`` and
    the whole file decodes in ``detected`` (:func:`other_encoding`); for another (UTF-16,
    UTF-32) the whole file decodes in it."""
    if not ascii_compatible(detected):
        return first_undecodable(path, detected) is None
    limit = mapping.limits.max_file_bytes
    return other_encoding(path, declared, limit, candidate=detected, min_failing=1) is not None


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


def _texts(uniq: pd.Series) -> np.ndarray:
    """Each distinct value's text ('' for a null; NaN bits: never used). A zoned time
    outside :data:`~riskwarn.ingest.fastparse.TIME_RANGE` is printed in UTC: pandas
    cannot print a local date past 9999-12-31, and prints old local mean time offsets
    with seconds (``+08:05:43``), which no parser reads back; in UTC it is read, and
    quarantined as ``out_of_range_date``."""
    if isinstance(uniq.dtype, pd.DatetimeTZDtype):
        utc = uniq.dt.tz_convert("UTC")
        naive = utc.dt.tz_localize(None)
        far = ((naive < TIME_RANGE[0]) | (naive >= TIME_RANGE[1])).to_numpy(dtype=bool)
        if far.any():
            texts = uniq.where(~far).astype(str).fillna("").to_numpy(dtype=object)
            texts[far] = utc[far].astype(str).to_numpy(dtype=object)
            return texts
    return uniq.astype(str).fillna("").to_numpy(dtype=object)


def stringify(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed frame (Parquet / SQL) -> all-text frame as a CSV would give ('' = null), vectorised.

    Times become ``YYYY-MM-DD HH:MM:SS[+offset]`` (parsed as ISO unless the mapping gives
    a format); booleans ``True``/``False``; numbers their shortest repr. Each column's
    distinct values are formatted once and spread back by their codes (the 10-minute
    readings repeat sensor ids, times and flags many times)."""
    return stringify_factorized(frame)[0]


def stringify_factorized(
    frame: pd.DataFrame, *, typed: bool = False
) -> tuple[pd.DataFrame, dict[str, Factorized]]:
    """:func:`stringify`, plus each text column factorized: ``(codes, distinct texts)``
    such that ``distinct[codes]`` is the column and the distinct texts are unique (what
    ``pd.factorize(text, use_na_sentinel=False)`` gives, up to the order of the codes).
    The map stage uses them instead of factorizing the text again. A column whose
    distinct values are most of its rows (ids, measured values) is left out: the map
    stage does not evaluate it value by value anyway.

    ``typed`` (the typed path of Parquet sources): a factorized column is returned as a
    ``pandas.Categorical`` of those distinct texts instead of one text per row. Its
    values are the same texts (``astype(object)``, ``astype(str)``, ``isin``, JSON), but
    no value is printed more than once and no per-row string is built: the map stage
    reads such a column through its codes only."""
    import pyarrow

    out = {}
    cats: dict[str, pd.Categorical] = {}
    factorized: dict[str, Factorized] = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):  # Parquet dictionaries: codes as is
            codes = s.cat.codes.to_numpy()
            uniq = pd.Series(s.cat.categories, dtype=s.cat.categories.dtype)
        else:
            codes, uniq = _factorize_exact(s)
        labels = _texts(uniq)
        labels = np.append(labels, "")
        at = np.where(codes < 0, len(uniq), codes)
        if len(labels) <= len(frame) // 2:
            # equal texts of different values (a dictionary's "" and a null) share a code
            merged, distinct = pd.factorize(labels)
            factorized[str(col)] = (merged[at], np.asarray(distinct, dtype=object))
            if typed:
                cats[str(col)] = pd.Categorical.from_codes(
                    factorized[str(col)][0], categories=pd.Index(distinct, dtype=object)
                )
                continue
        out[str(col)] = pyarrow.array(labels, pyarrow.string()).take(at)
    text_frame = pyarrow.table(out).to_pandas()  # Arrow-backed strings, like read_csv's
    if typed:
        parts = {str(c): cats[str(c)] if str(c) in cats else text_frame[str(c)] for c in frame}
        text_frame = pd.DataFrame(parts, index=pd.RangeIndex(len(frame)))
    return text_frame.set_axis(frame.index), factorized


def read_raw_chunks(
    mapping: SourceMapping, path: Path, messages: list[str], *, typed: bool = False
) -> Iterator[RawChunk]:
    """All-text chunks of a CSV/CSV.gz/Parquet file; file-level problems raise FileProblem.

    ``typed`` (Parquet only): columns that repeat their values come as categoricals of
    their texts (:func:`stringify_factorized`), printed once per distinct value; chunks
    with a NUL byte or an over-long value stay all text."""
    if not path.exists():
        raise FileProblem("file_not_found", f"file not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise FileProblem("empty_file", "empty file: 0 bytes")
    if mapping.format == "parquet" or path.suffix == ".parquet":
        yield from _parquet_chunks(mapping, path, size, typed=typed)
        return
    head = _head_bytes(path)
    encoding, delimiter, msgs = detect_text(mapping, head, size, path)
    messages.extend(msgs)
    records: CsvRecords | None = None
    try:
        records = CsvRecords(mapping, path, encoding, delimiter)
        yield from records.chunks()
        messages.extend(records.notes)
    except UnicodeDecodeError:
        header_failed = records is not None and records.header_undecodable
        raise FileProblem(
            "bad_encoding", _undecodable_text(path, encoding, len(head), header_failed)
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FileProblem(
            "not_a_table", f"not a readable gzip file: {_first_line(exc)}", _summary(b"", size)
        ) from None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise FileProblem(
            "not_a_table", f"not a table: {_first_line(exc)}", _summary(_head_bytes(path), size)
        ) from None


def _undecodable_text(path: Path, encoding: str, head_len: int, header_failed: bool) -> str:
    """Why a file is ``bad_encoding`` as a whole, saying what decided it: its header
    line (it names the columns: nothing can be read without it), wherever it is; else
    the first undecodable byte, and whether it lies beyond the first ``head_len`` bytes
    the encoding was sniffed from (only then "beyond": before 2026-12-05 the message
    said so for a bad header on line 1 too)."""
    where = first_undecodable(path, encoding)
    at = "" if where is None else f" (first undecodable byte at offset {where[0]}, line {where[1]})"
    if header_failed:
        return (
            f"cannot decode the header line as {encoding}{at}: the header names the "
            "columns, so no row can be read"
        )
    if where is not None and where[0] < head_len:
        return f"cannot decode the file as {encoding} within its first {head_len} bytes{at}"
    return f"cannot decode the file as {encoding} beyond its first {head_len} bytes{at}"


def first_undecodable(path: Path, encoding: str) -> tuple[int, int] | None:
    """The 0-based byte offset (of the gunzipped data for a .gz file) and the 1-based
    line (the header is line 1) of the first byte not decodable in ``encoding``, or None
    if the whole file decodes. Reads the file again: only called once decoding failed."""
    decoder = codecs.getincrementaldecoder(encoding)()
    done = lines = 0  # bytes handed to the decoder, line ends decoded
    fh: Any = gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")  # noqa: SIM115
    with fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            pending = decoder.getstate()[0]  # bytes of an unfinished character
            try:
                lines += decoder.decode(block).count("\n")
            except UnicodeDecodeError as exc:
                data = pending + block
                start = done - len(pending)  # file offset of data[0]
                before = data[: exc.start].decode(encoding, errors="replace")
                return start + exc.start, lines + before.count("\n") + 1
            done += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return done - len(exc.object) + exc.start, lines + 1
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _plain_text(batch: Any, max_chars: int) -> bool:
    """No NUL byte and no value over ``max_chars`` in the batch's text columns (checked
    on a dictionary column's distinct values only)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for column in batch.columns:
        values = column.dictionary if pa.types.is_dictionary(column.type) else column
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue  # numbers and times print short and without NUL
        if pc.any(pc.match_substring(values, "\x00")).as_py():
            return False
        longest = pc.max(pc.utf8_length(values)).as_py()
        if longest is not None and longest > max_chars:
            return False
    return True


def _parquet_chunks(
    mapping: SourceMapping, path: Path, size: int, *, typed: bool = False
) -> Iterator[RawChunk]:
    """A Parquet file in batches of ``chunk_rows``, after checking its metadata against
    the mapping's limits (columns, rows, uncompressed bytes)."""
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
    limits, meta = mapping.limits, pf.metadata
    if meta.num_columns > limits.max_columns:
        raise FileProblem(
            "too_many_columns",
            f"too many columns: {meta.num_columns} (limits.max_columns = {limits.max_columns})",
        )
    if meta.num_rows > limits.max_rows:
        raise FileProblem(
            "too_many_rows",
            f"too many rows: {meta.num_rows} (limits.max_rows = {limits.max_rows})",
        )
    repeated = repeated_column(pf.schema_arrow.names, mapping.read_columns)
    if repeated is not None:
        raise repeated
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > limits.max_file_bytes:
        raise FileProblem(
            "too_large",
            f"file too large: {unpacked / 2**20:.0f} MB uncompressed "
            f"(limits.max_file_mb = {limits.max_file_mb:g})",
        )
    start = 1
    try:
        for rb in pf.iter_batches(batch_size=mapping.chunk_rows):
            rows = np.arange(start, start + rb.num_rows, dtype=np.int64)
            start += rb.num_rows
            plain = _plain_text(rb, limits.max_field_chars)
            text, factorized = stringify_factorized(rb.to_pandas(), typed=typed and plain)
            yield RawChunk(text, rows, [], plain_text=plain, factorized=factorized)
    except (pyarrow_mod.ArrowInvalid, OSError) as exc:
        raise FileProblem(
            "not_a_table", f"not a table: unreadable Parquet data ({_first_line(exc)})"
        ) from None
