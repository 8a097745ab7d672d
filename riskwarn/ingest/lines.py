"""Stage 1, read: a CSV or CSV.gz file as records.

A CSV record is a line, except that a quoted value may hold line breaks (RFC 4180, for
every mapping): a quote open at a line's end joins the next lines to it until it closes,
and those lines are ONE record (kept, or quarantined whole with the number of its first
line, a ``detail`` naming all its lines), never records of their own. A quote that does
not close within ``limits.max_record_lines`` lines and ``limits.max_line_bytes`` bytes,
or by the end of the file, breaks its first line alone (``unclosed_quote``) and the lines
after it are read on their own, so one broken line does not take the rest of the file.
Every record is counted once, wherever it is: a record with the wrong number of fields,
a broken quote or a line of more than ``limits.max_line_bytes`` bytes becomes a
:class:`BadRecord` (quarantined with its physical line number, length and sha256, never
its text, which may hold columns the mapping does not mention). Blank lines (only
spaces, tabs and line ends) are not records, as for pandas. ``newlines_in_values: true``
only sends every line through Python's ``csv`` (the general path).

The file is streamed in blocks of whole lines and parsed in chunks of at most
``chunk_rows`` records and :data:`CHUNK_BYTES` bytes, so memory is bounded by a chunk,
however long a line or large a file (``limits.max_file_mb`` after decompression,
``limits.max_rows`` records). Lines are checked on whole blocks with NumPy (fields =
delimiters + 1 where a line has no quote; lines with quotes go through Python's ``csv``
one by one); the lines that pass are parsed by ``pyarrow.csv`` when a chunk of them holds
no quote and no NUL byte, else by pandas' C parser behind the header line, so their
values are exactly what ``pandas.read_csv`` gives for them.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskwarn.ingest.records import BadRecord, FileProblem, RawChunk, repeated_column
from riskwarn.sources import SourceMapping

BLOCK_BYTES = 4 * 1024 * 1024  # read at a time
CHUNK_BYTES = 32 * 1024 * 1024  # text parsed at a time
_BLANK = b" \t\r\n"
_PROBE = "\n\r\t ,;|\"'"  # characters that must be single ASCII bytes in the encoding
_UTF8_NAMES = ("utf-8", "utf8", "utf-8-sig")  # Arrow reads these bytes as they are
# plain line bodies are parsed by pyarrow.csv (see CsvRecords._arrow_frame); False: by
# pandas' C parser always (the old path, kept for the equivalence tests)
USE_ARROW = True
# lines undecodable in the file's encoding that make it look like another one: with this
# many or more, no other non-ASCII line decodable, and the whole file decodable in the
# encoding charset-normalizer finds on them, the file is read in that one (reported)
MANY_UNDECODABLE = 10
# columns the mapping only drops are left out of the Arrow parse (never converted, never
# in the frame); False: every column (the old path, kept for the equivalence tests)
SKIP_DROPPED = True


@dataclass(frozen=True)
class _TooLong:
    length: int  # bytes
    sha256: str  # of its first limits.max_line_bytes bytes


class _BoundedBytes(io.RawIOBase):
    """A binary stream that raises :class:`FileProblem` past ``limit`` bytes read."""

    def __init__(self, inner: Any, limit: int, limit_mb: float) -> None:
        self._inner = inner
        self._limit = limit
        self._limit_mb = limit_mb
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = int(self._inner.readinto(buffer))
        self.count += n
        if self.count > self._limit:
            raise FileProblem(
                "too_large",
                f"file too large: more than limits.max_file_mb = {self._limit_mb:g} MB "
                "after decompression",
            )
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


class _Utf8(io.RawIOBase):
    """Text of another encoding (UTF-16, UTF-32) re-encoded as UTF-8 bytes."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._pending) < len(buffer):
            more = self._text.read(1 << 16)
            if not more:
                break
            self._pending += more.encode("utf-8", "surrogatepass")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._text.close()
        super().close()


class _SkipBom(io.RawIOBase):
    """A binary stream without the UTF-8 byte-order mark its first bytes may hold."""

    def __init__(self, inner: io.RawIOBase) -> None:
        self._inner = inner
        self._head: bytes | None = None  # the first bytes, not yet given; None: unread

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head is None:
            head = b""
            while len(head) < len(codecs.BOM_UTF8):
                more = self._inner.read(len(codecs.BOM_UTF8) - len(head))
                if not more:
                    break
                head += more
            self._head = b"" if head == codecs.BOM_UTF8 else head
        n = min(len(buffer), len(self._head))
        if n:  # the first bytes, and as many more as the first read asks for (the
            # first read decides the file's line ends: LineEnds)
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            if n == len(buffer) or self._head:
                return n
            return n + int(self._inner.readinto(memoryview(buffer)[n:]) or 0)
        return int(self._inner.readinto(buffer) or 0)

    def close(self) -> None:
        self._inner.close()
        super().close()


def only_dropped(mapping: SourceMapping) -> set[str]:
    """Columns under ``drop`` that the mapping does not also read, pseudonymise or keep
    (``not_personal``): no stage looks at their values (:func:`~riskwarn.ingest.raw_rows.sanitize_raw`
    removes them first), so the Arrow parse leaves them out."""
    pseud = {c for cols in mapping.pseudonymise.values() for c in cols}
    return set(mapping.drop) - set(mapping.source_columns) - pseud - set(mapping.not_personal)


def ascii_compatible(encoding: str) -> bool:
    """Whether line ends, delimiters and quotes are single ASCII bytes in ``encoding``."""
    try:
        return _PROBE.encode(encoding) == _PROBE.encode("ascii")
    except (UnicodeError, LookupError):
        return False


def other_encoding(
    path: Path,
    encoding: str,
    max_bytes: int,
    *,
    candidate: str | None = None,
    min_failing: int = MANY_UNDECODABLE,
) -> str | None:
    """The encoding a file is in when it is not in ``encoding``: every line holding a
    non-ASCII byte fails in ``encoding``, at least ``min_failing`` of them, and the whole
    file decodes in ``candidate`` (default: what charset-normalizer finds on those
    lines), an ASCII-based encoding (so the all-ASCII lines read the same). Reads the
    file (gunzipped for .gz) once or twice; None: keep ``encoding``."""
    from charset_normalizer import from_bytes

    failing, sample, seen = 0, bytearray(), 0
    gz = path.name.endswith(".gz")
    fh: Any = gzip.open(path, "rb") if gz else path.open("rb")  # noqa: SIM115
    with fh:
        for line in iter(lambda: fh.readline(1 << 20), b""):
            seen += len(line)
            if seen > max_bytes:
                return None
            if line.isascii():
                continue
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                failing += 1
                if len(sample) < 1 << 18:
                    sample += line
                continue
            return None  # a non-ASCII line in the file's encoding: it is that one
    if failing < max(min_failing, 1):
        return None
    if candidate is None:
        best = from_bytes(bytes(sample)).best()
        if best is None:
            return None
        candidate = str(best.encoding)
    if not ascii_compatible(candidate):
        return None
    decoder = codecs.getincrementaldecoder(candidate)()
    fh = gzip.open(path, "rb") if gz else path.open("rb")  # noqa: SIM115
    try:
        with fh:
            for data in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(data)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return candidate


def is_utf8(encoding: str) -> bool:
    """Whether ``encoding`` names UTF-8, with or without a byte-order mark."""
    return encoding.lower().replace("_", "-") in _UTF8_NAMES


def open_bytes(path: Path, encoding: str, mapping: SourceMapping) -> tuple[io.RawIOBase, str]:
    """The file's bytes (gunzipped when named .gz, bounded by ``limits.max_file_mb``) and
    their encoding: as is, or re-encoded as UTF-8 when the encoding is not ASCII-based.

    UTF-8 (``utf-8-sig`` included: what :func:`~riskwarn.ingest.read.detect_text` gives a
    ``utf-8`` file that starts with a byte-order mark, Excel's "CSV UTF-8") is read as
    ``utf-8`` bytes, line by line, with the file's first three bytes dropped when they
    are the mark. ``utf-8-sig`` is not ASCII-based by :func:`ascii_compatible` (it encodes
    the mark first), and before 2026-12-07 took the re-encoding stream, where one
    undecodable byte anywhere made the whole file one ``bad_encoding`` record."""
    gz = path.name.endswith(".gz")
    inner: Any = gzip.open(path, "rb") if gz else path.open("rb")  # noqa: SIM115
    bounded = _BoundedBytes(inner, mapping.limits.max_file_bytes, mapping.limits.max_file_mb)
    if is_utf8(encoding):
        return _SkipBom(bounded), "utf-8"
    if ascii_compatible(encoding):
        return bounded, encoding
    text = io.TextIOWrapper(io.BufferedReader(bounded), encoding=encoding, newline="")
    return _Utf8(text), "utf-8"


@dataclass
class LineEnds:
    """The file's line ends, decided by its first one (:func:`first_line_end_is_lone_cr`):
    ``lone_cr`` True for a file whose lines end in a lone ``\\r`` (old Mac exports; then
    ``\\n``, ``\\r\\n`` and ``\\r`` all end a line, as before), False for a file of ``\\n``
    or ``\\r\\n`` line ends, where a ``\\r`` not followed by ``\\n`` is not a line end but a
    stray byte inside the line (its record is quarantined whole as ``carriage_return``);
    None until the first bytes are read."""

    lone_cr: bool | None = None


def first_line_end_is_lone_cr(data: bytes) -> bool:
    """Whether ``data`` (the file's first bytes) is of lone-``\\r`` line ends: its first
    line end is a ``\\r`` not followed by ``\\n``, and it holds more lone ``\\r`` than
    ``\\n`` (a stray ``\\r`` in the header line of a ``\\n`` file is not a line end)."""
    cr, lf = data.find(b"\r"), data.find(b"\n")
    if cr < 0 or (0 <= lf < cr) or data[cr + 1 : cr + 2] == b"\n":
        return False
    # a final \r may be the first half of a \r\n cut by the read: not counted
    lone = data.count(b"\r") - data.count(b"\r\n") - data.endswith(b"\r")
    return lone > data.count(b"\n")


def stray_cr(line: bytes) -> int:
    """Offset in ``line`` of its first ``\\r`` that does not end it (``\\r\\n`` at its end, or
    a final ``\\r``, is a line end), or -1."""
    body = line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\r") else line
    return body.find(b"\r")


def _terminators(a: np.ndarray, lone_cr: bool = True) -> np.ndarray:
    """Positions just after each line end (``\\n``, ``\\r\\n`` or, with ``lone_cr``, a lone
    ``\\r``)."""
    if not lone_cr:
        return np.flatnonzero(a == 10) + 1
    term = a == 10
    cr = np.flatnonzero(a == 13)
    if len(cr):
        nxt = np.minimum(cr + 1, len(a) - 1)
        lone = cr[(cr + 1 >= len(a)) | (a[nxt] != 10)]
        term[lone] = True
    return np.flatnonzero(term) + 1


def blocks(
    stream: io.RawIOBase, max_line: int, ends: LineEnds | None = None
) -> Iterator[bytes | _TooLong]:
    """Blocks of whole lines (the last one may lack its line end at the end of the file);
    a line longer than ``max_line`` bytes is consumed in bounded pieces and given as its
    length and the sha256 of its first ``max_line`` bytes. ``ends`` is set from the first
    bytes read (:class:`LineEnds`; without it, a lone ``\\r`` ends a line)."""
    ends = ends if ends is not None else LineEnds(lone_cr=True)
    carry = b""
    eof = False
    while not eof:
        data = stream.read(BLOCK_BYTES) or b""
        eof = not data
        if ends.lone_cr is None and data:
            ends.lone_cr = first_line_end_is_lone_cr(data)
        buf = carry + data
        # the last line end; a final \r may still be followed by \n in the next read
        cut = buf.rfind(b"\n") + 1
        if ends.lone_cr:
            cut = max(cut, buf.rfind(b"\r", 0, max(len(buf) - 1, 0)) + 1)
        if eof:
            cut = len(buf)
        if cut:
            yield buf[:cut]
        carry = buf[cut:]
        if len(carry) > max_line:
            h = hashlib.sha256(carry[:max_line])
            n = len(carry)
            carry = b""
            while True:
                data = stream.read(BLOCK_BYTES) or b""
                found = [data.find(b"\n"), data.find(b"\r") if ends.lone_cr else -1]
                at = [i for i in found if i >= 0]
                if not data or at:
                    end = min(at) + 1 if at else 0
                    if end and data[end - 1 : end + 1] == b"\r\n":
                        end += 1
                    n += end
                    carry = data[end:]
                    eof = not data
                    break
                n += len(data)
            yield _TooLong(n, h.hexdigest())


def split_record(lines: list[str], delimiter: str) -> tuple[list[str], int]:
    """Fields of the record that starts at ``lines[0]`` and the number of lines it takes;
    ``len(lines) + 1`` lines means a quote is still open at the end of ``lines``."""
    reader = csv.reader([*lines, ""], delimiter=delimiter)
    try:
        fields = next(reader)
    except StopIteration:  # only blank text
        return [], len(lines)
    return fields, reader.line_num


@dataclass(frozen=True)
class _Tail:
    """The file's last line when it has no line end (see :meth:`CsvRecords.chunks`)."""

    line: bytes


@dataclass
class _Chunk:
    """Good records (byte ranges of their blocks) and bad records of one chunk."""

    pieces: list[bytes] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)
    n_good: int = 0
    n_bytes: int = 0
    sizes: list[int] = field(default_factory=list)  # bytes of each piece's longest record
    longest: int = 0  # bytes of the longest good record


class CsvRecords:
    """Records of one CSV file, read as :class:`RawChunk` s (see the module docstring)."""

    def __init__(self, mapping: SourceMapping, path: Path, encoding: str, delimiter: str):
        self.mapping = mapping
        self.path = path
        self.encoding = encoding
        self.delimiter = delimiter
        self.limits = mapping.limits
        self.records = 0  # records so far (good and bad)
        self.lines = 0  # physical lines so far
        self.header = b""
        self.header_line = 0  # its physical line number
        self.header_undecodable = False  # the header line failed in the encoding
        self.ncols = 0
        self._decoder = codecs.getincrementaldecoder(encoding)
        self._names: pd.Index | None = None  # pandas' column names of the header
        # lines of a record with an open quote: (line number, bytes, undecodable byte)
        self._pending: list[tuple[int, bytes, int | None]] = []
        self.multiline = 0  # records of more than one physical line
        self.line_ends = LineEnds()  # decided by the file's first line end
        # NumPy checks of whole blocks (line-oriented CSV with single-byte delimiters);
        # otherwise every line goes through Python
        self._fast = not mapping.newlines_in_values and len(delimiter.encode()) == 1
        self.notes: list[str] = []  # messages for the batch, given at the end of the file
        self.undecodable = 0  # lines quarantined as bad_encoding
        self.first_undecodable = 0  # physical line of the first
        self._non_ascii_ok = False  # a non-ASCII byte was decoded in the file's encoding
        self._other_tried = False  # another encoding was looked for (once per file)
        csv.field_size_limit(max(csv.field_size_limit(), self.limits.max_line_bytes + 1))

    # ------------------------------------------------------------------ driver

    def chunks(self) -> Iterator[RawChunk]:
        stream, self.encoding = open_bytes(self.path, self.encoding, self.mapping)
        self._decoder = codecs.getincrementaldecoder(self.encoding)
        with stream:
            chunk = _Chunk()
            tail = b""  # the file's last line when it has no line end (a cut file?)
            for item in self._blocks_cut_tail(stream):
                if isinstance(item, _Tail):
                    tail = item.line
                    continue
                if not self.header:
                    item = self._take_header(item)
                    if not self.header:
                        continue
                for part in self._records(item):
                    chunk = yield from self._add(chunk, part)
            if tail and not self.header:  # the header itself is the file's last line
                item = self._take_header(tail)
                tail = b""
                for part in self._records(item):
                    chunk = yield from self._add(chunk, part)
            if not self.header:
                raise FileProblem("empty_file", "empty file: no header and no rows")
            if tail:
                chunk = yield from self._add(chunk, self._unterminated(tail))
            for part in self._flush_pending():
                chunk = yield from self._add(chunk, part)
            yield self._parse(chunk)
        if self.multiline:
            self.notes.append(
                f"{self.multiline} record{'s' if self.multiline > 1 else ''} of several lines "
                "(a quoted value holds a line break; RFC 4180): read counts records, "
                f"{self.records} record{'s' if self.records > 1 else ''} in {self.lines} physical "
                "lines (header included)"
            )
        if self.undecodable:
            self.notes.append(
                f"{self.undecodable} line{'s' if self.undecodable > 1 else ''} undecodable "
                f"as {self.encoding} (first at line {self.first_undecodable}): "
                "quarantined as bad_encoding"
            )

    def _blocks_cut_tail(self, stream: io.RawIOBase) -> Iterator[bytes | _TooLong | _Tail]:
        """:func:`blocks`, except that a last line without a line end (and not blank) is
        split off the last block and given alone as a :class:`_Tail`, unless the mapping
        says the source's exports may end so (``last_line_may_lack_line_end``)."""
        items = blocks(stream, self.limits.max_line_bytes, self.line_ends)
        if self.mapping.last_line_may_lack_line_end:
            yield from items
            return
        prev: bytes | _TooLong | None = None
        for item in items:
            if prev is not None:
                yield prev
            prev = item
        if prev is None:
            return
        if isinstance(prev, _TooLong) or prev.endswith((b"\n", b"\r")):
            yield prev  # a too-long line is quarantined as line_too_long anyway
            return
        a = np.frombuffer(prev, dtype=np.uint8)
        ends = _terminators(a, bool(self.line_ends.lone_cr))
        cut = int(ends[-1]) if len(ends) else 0
        if not prev[cut:].strip(_BLANK):  # trailing blanks: not a record
            yield prev
            return
        if cut:
            yield prev[:cut]
        yield _Tail(prev[cut:])

    def _unterminated(self, line: bytes) -> _Chunk:
        """The file's last line, without a line end: the file may be cut (an export still
        being written or copied), so its last record may be cut inside its last value
        (``116.2`` for ``116.222222``) and is quarantined as ``unterminated_last_line``,
        never read. A record that a quote still open joins it to is quarantined whole."""
        self.lines += 1
        first = self._pending[0][0] if self._pending else self.lines
        text = b"".join(b for _, b, _ in self._pending) + line
        self._pending = []
        self.records += 1
        if self.lines > first:
            self.multiline += 1
        detail = f"no line end after the last line's {len(line)} bytes"
        if self.lines > first:
            detail += (
                f"; one record of lines {first}-{self.lines} (a quoted value holds a line break)"
            )
        bad = BadRecord(
            self.records,
            first,
            "unterminated_last_line",
            detail,
            len(text),
            hashlib.sha256(text).hexdigest(),
        )
        return _Chunk(bad=[bad])

    def _add(self, chunk: _Chunk, part: _Chunk) -> Generator[RawChunk, None, _Chunk]:
        """Add one block's records to the chunk; emit full chunks (``chunk_rows`` good
        records or :data:`CHUNK_BYTES`), cutting ``part`` where needed."""
        if self.records > self.limits.max_rows:
            raise FileProblem(
                "too_many_rows",
                f"too many rows: more than limits.max_rows = {self.limits.max_rows}",
            )
        chunk.bad.extend(part.bad)
        # a block's pieces may go to several chunks: each chunk's longest record is that
        # of its own pieces (else a chunk cut from the middle of a block would pass as
        # plain text and skip the field_too_long check)
        for piece, rows, size in zip(part.pieces, part.rows, part.sizes, strict=True):
            chunk.longest = max(chunk.longest, size)
            chunk.pieces.append(piece)
            chunk.rows.append(rows)
            chunk.n_good += len(rows)
            chunk.n_bytes += len(piece)
            if chunk.n_good >= self.mapping.chunk_rows or chunk.n_bytes >= CHUNK_BYTES:
                yield self._parse(chunk)
                chunk = _Chunk()
        return chunk

    # ------------------------------------------------------------------ header

    def _take_header(self, item: bytes | _TooLong) -> bytes | _TooLong:
        """Skip ``skip_rows`` lines and blank lines, keep the header; returns the rest."""
        if isinstance(item, _TooLong):
            self.lines += 1
            if self.lines <= self.mapping.skip_rows:
                return b""
            raise FileProblem(
                "too_many_columns",
                f"header line too long: {item.length} bytes "
                f"(limits.max_line_bytes = {self.limits.max_line_bytes})",
            )
        a = np.frombuffer(item, dtype=np.uint8)
        ends = _terminators(a, bool(self.line_ends.lone_cr))
        if not len(ends) or ends[-1] != len(a):
            ends = np.append(ends, len(a))
        start = 0
        for end in ends.tolist():
            line = item[start:end]
            self.lines += 1
            start = end
            if self.lines <= self.mapping.skip_rows or not line.strip(_BLANK):
                continue
            if stray_cr(line) >= 0:
                raise FileProblem(
                    "not_a_table",
                    "not a table: the header line holds a carriage return (\\r) inside it",
                )
            try:
                text = self._text(line)
            except UnicodeDecodeError:  # the whole file fails: the header names the columns
                self.header_undecodable = True
                raise
            fields, taken = split_record([text], self.delimiter)
            if taken > 1:
                raise FileProblem("not_a_table", "not a table: the header line opens a quote")
            if len(fields) > self.limits.max_columns:
                raise FileProblem(
                    "too_many_columns",
                    f"too many columns: {len(fields)} in the header "
                    f"(limits.max_columns = {self.limits.max_columns})",
                )
            repeated = repeated_column(fields, self.mapping.read_columns)
            if repeated is not None:
                raise repeated
            self.header = line if line.endswith((b"\n", b"\r")) else line + b"\n"
            self.header_line = self.lines
            self._non_ascii_ok = not line.isascii()  # it decoded (split_record above)
            self.ncols = len(fields)
            return item[end:]
        return b""

    def _text(self, line: bytes) -> str:
        return self._decoder().decode(line, final=True)

    # ------------------------------------------------------------------ records

    def _records(self, item: bytes | _TooLong) -> Iterator[_Chunk]:
        if isinstance(item, _TooLong):
            yield from self._flush_pending(at_end=False)
            self.lines += 1
            self.records += 1
            detail = f"{item.length} bytes (limits.max_line_bytes = {self.limits.max_line_bytes})"
            yield _Chunk(
                bad=[
                    BadRecord(
                        self.records, self.lines, "line_too_long", detail, item.length, item.sha256
                    )
                ]
            )
            return
        if not item:
            return
        if not self._fast:
            yield self._block_general(item)
            return
        while item:
            if self._pending:  # a quoted value runs on from the last block
                part, item = self._block_open(item)
            else:
                part, item = self._block_fast(item)
            yield part

    def _block_open(self, block: bytes) -> tuple[_Chunk, bytes]:
        """Lines of ``block`` through :meth:`_feed` one by one while a quote is open;
        returns them and the rest of the block (from the line after the quote closes)."""
        a = np.frombuffer(block, dtype=np.uint8)
        lone_cr = bool(self.line_ends.lone_cr)
        ends = _terminators(a) if lone_cr and b"\r" in block else np.flatnonzero(a == 10) + 1
        if not len(ends) or ends[-1] != len(a):
            ends = np.append(ends, len(a))
        out = _Chunk()
        start = 0
        for end in ends.tolist():
            line = block[start:end]
            start = end
            self.lines += 1
            bad: int | None = None
            if not line.isascii():
                try:
                    self._text(line)
                except UnicodeDecodeError as exc:
                    bad = exc.start + 1
            self._feed(self.lines, line, out, bad)
            if not self._pending:
                break
        return out, block[start:]

    def _block_fast(self, block: bytes) -> tuple[_Chunk, bytes]:
        """Line-oriented CSV, ASCII-based encoding: every line checked with NumPy, lines
        with quotes one by one with ``csv``. The block is read up to the first line whose
        quote is still open at its end; that line starts a record of several lines
        (:meth:`_feed`) and the rest of the block is returned."""
        if b'"' not in block:
            return self._block_lines(block), b""
        cut, parsed = self._first_open_quote(block)
        if cut is not None:
            head, (start, end) = block[: cut[0]], cut
            out = self._block_lines(head, parsed) if head else _Chunk()
            self.lines += 1
            line = block[start:end]
            bad: int | None = None
            try:
                self._text(line)
            except UnicodeDecodeError as exc:
                bad = exc.start + 1
            self._feed(self.lines, line, out, bad)
            return out, block[end:]
        return self._block_lines(block, parsed), b""

    def _first_open_quote(
        self, block: bytes
    ) -> tuple[tuple[int, int] | None, dict[int, tuple[int, int]]]:
        """Byte range of the first line of ``block`` that has a quote still open at its
        end (Python's ``csv``, undecodable bytes replaced), or None; and the lines with a
        quote before it, parsed: their start -> (fields, lines taken), for
        :meth:`_block_lines` (each line is parsed once, as before)."""
        parsed: dict[int, tuple[int, int]] = {}
        lone_cr = bool(self.line_ends.lone_cr)
        pos = block.find(b'"')
        while pos >= 0:
            nl = block.rfind(b"\n", 0, pos)
            start = nl + 1
            if lone_cr:
                start = max(start, block.rfind(b"\r", 0, pos) + 1)
            end = block.find(b"\n", pos)
            if lone_cr:
                cr = block.find(b"\r", pos)
                if cr >= 0 and (end < 0 or cr < end - 1):
                    end = cr
            end = len(block) if end < 0 else end + 1
            try:
                got, taken = split_record([self._lenient(block[start:end])], self.delimiter)
            except csv.Error:  # a stray \r: carriage_return (in _block_lines)
                got, taken = [], 0
            if taken > 1:
                return (start, end), parsed
            parsed[start] = (len(got), taken)
            pos = block.find(b'"', end)
        return None, parsed

    def _block_lines(
        self, block: bytes, parsed: dict[int, tuple[int, int]] | None = None
    ) -> _Chunk:
        """:meth:`_block_fast` on lines where no quote stays open past a line end
        (``parsed``: lines with quotes already parsed, by start offset)."""
        a = np.frombuffer(block, dtype=np.uint8)
        has_cr = b"\r" in block
        lone_cr = bool(self.line_ends.lone_cr)
        ends = _terminators(a) if has_cr and lone_cr else np.flatnonzero(a == 10) + 1
        if not len(ends) or ends[-1] != len(a):
            ends = np.append(ends, len(a))
        starts = np.concatenate([[0], ends[:-1]])

        bounds = np.append(starts, len(a))

        def per_line(byte: int) -> np.ndarray:
            # occurrences of ``byte`` per line: positions counted between line starts
            # (no line is empty, so this is what reduceat over the mask gives)
            return np.diff(np.searchsorted(np.flatnonzero(a == byte), bounds)).astype(np.int64)

        undecodable = np.zeros(len(ends), dtype=np.int64)  # 1-based byte of the first
        for i, at in self._undecodable(block, a, starts, ends).items():
            undecodable[i] = at
        fields = per_line(ord(self.delimiter)) + 1
        quotes = per_line(ord('"')) if b'"' in block else np.zeros(len(ends), dtype=np.int64)
        # a \r that ends no line (not before a \n, not the file's last byte): its line is
        # one record, quarantined whole (never split, never parsed)
        strays = np.zeros(len(ends), dtype=np.int64)
        if has_cr and not lone_cr:
            cr = np.flatnonzero(a == 13)
            cr = cr[(cr + 1 < len(a)) & (a[np.minimum(cr + 1, len(a) - 1)] != 10)]
            strays = np.diff(np.searchsorted(cr, bounds)).astype(np.int64)
        # blank lines (only spaces, tabs, line ends) are not records; a line with a
        # delimiter is not blank unless the delimiter is itself a space or a tab
        if self.delimiter in " \t" or self.ncols == 1:
            space = (a == 32) | (a == 9) | (a == 13) | (a == 10)
            filled = np.add.reduceat(space.view(np.uint8), starts, dtype=np.int64) < ends - starts
        else:
            filled = np.ones(len(ends), dtype=bool)
            for i in np.flatnonzero(fields == 1).tolist():
                filled[i] = bool(block[starts[i] : ends[i]].strip(_BLANK))
        line_no = self.lines + 1 + np.arange(len(ends))
        self.lines += len(ends)
        record = filled.cumsum() + self.records
        self.records = int(record[-1]) if len(record) else self.records
        good = filled & (quotes == 0) & (fields == self.ncols) & (strays == 0) & (undecodable == 0)
        # a line that starts with U+FEFF (a file's BOM, here mid-file: files joined)
        bom = np.zeros(len(ends), dtype=bool)
        if codecs.BOM_UTF8 in block and self._utf8:
            room = np.flatnonzero(starts + 3 <= len(a))
            first = starts[room]
            hit = (a[first] == 0xEF) & (a[first + 1] == 0xBB) & (a[first + 2] == 0xBF)
            bom[room[hit]] = True
            good &= ~bom
        # the header line again (two exports joined with ``cat``): never a row
        header = np.zeros(len(ends), dtype=bool)
        for i in self._header_again(block, starts):
            header[i] = True
        good &= ~header
        out = _Chunk()
        for i in np.flatnonzero(filled & ~good).tolist():
            line = block[starts[i] : ends[i]]
            n, why = int(fields[i]), "bad_line"
            if header[i]:
                out.bad.append(
                    self._bad(int(record[i]), int(line_no[i]), "repeated_header", n, line)
                )
                continue
            if bom[i] and not undecodable[i]:
                out.bad.append(self._bad(int(record[i]), int(line_no[i]), "bom_in_line", n, line))
                continue
            if undecodable[i]:
                out.bad.append(
                    self._bad(
                        int(record[i]), int(line_no[i]), "bad_encoding", int(undecodable[i]), line
                    )
                )
                continue
            if strays[i]:
                out.bad.append(
                    self._bad(int(record[i]), int(line_no[i]), "carriage_return", n, line)
                )
                continue
            if quotes[i]:
                known = parsed.get(int(starts[i])) if parsed else None
                if known is None:
                    got, taken = split_record([self._text(line)], self.delimiter)
                    known = (len(got), taken)
                n, taken = known
                why = "unclosed_quote" if taken > 1 else "bad_line"
                if why == "bad_line" and n == self.ncols:
                    good[i] = True
                    continue
            out.bad.append(self._bad(int(record[i]), int(line_no[i]), why, n, line))
        # good lines as runs of consecutive lines (one run when the block is clean)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], good.astype(np.int8), [0]])))
        sizes = ends - starts
        for first, stop in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            out.pieces.append(block[starts[first] : ends[stop - 1]])
            out.rows.append(record[first:stop].astype(np.int64))
            out.sizes.append(int(sizes[first:stop].max()))
        return out

    def _block_general(self, block: bytes) -> _Chunk:
        """Every line in Python: records may span lines (``newlines_in_values``), or the
        encoding / delimiter is not a single ASCII byte."""
        a = np.frombuffer(block, dtype=np.uint8)
        ends = _terminators(a, bool(self.line_ends.lone_cr))
        if not len(ends) or ends[-1] != len(a):
            ends = np.append(ends, len(a))
        starts = np.concatenate([[0], ends[:-1]])
        undecodable = self._undecodable(block, a, starts, ends)
        out = _Chunk()
        start = 0
        for i, end in enumerate(ends.tolist()):
            self.lines += 1
            self._feed(self.lines, block[start:end], out, undecodable.get(i))
            start = end
        return out

    def _undecodable(
        self, block: bytes, a: np.ndarray, starts: np.ndarray, ends: np.ndarray
    ) -> dict[int, int]:
        """Lines of ``block`` (by index) not decodable in the file's encoding: the 1-based
        byte of the line where decoding fails. An all-ASCII block is not decoded (every
        encoding read here is ASCII-based), others once whole, line by line only when
        that fails. The first failure of a file whose non-ASCII lines all fail may switch
        the file's encoding (:meth:`_other_encoding`)."""
        if not len(a) or int(a.max()) < 128:
            return {}
        try:
            block.decode(self.encoding)
        except UnicodeDecodeError:
            pass
        else:
            self._non_ascii_ok = True
            return {}
        if not self._other_tried:
            self._other_tried = True
            other = None if self._non_ascii_ok else self._other_encoding()
            if other is not None:
                self.notes.append(
                    f"wrong encoding: file is not {self.encoding} beyond its first bytes "
                    f"({MANY_UNDECODABLE} or more lines undecodable); detected and decoded "
                    f"as {other}"
                )
                self.encoding = other
                self._decoder = codecs.getincrementaldecoder(other)
                return self._undecodable(block, a, starts, ends)
        bad: dict[int, int] = {}
        for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            line = block[s:e]
            if line.isascii():
                continue
            try:
                line.decode(self.encoding)
            except UnicodeDecodeError as exc:
                bad[i] = exc.start + 1
        return bad

    def _other_encoding(self) -> str | None:
        """The encoding the file is in when it is not in the one sniffed from its head
        (:func:`other_encoding`; no line before this block held a non-ASCII byte, or it
        would have decoded). Only called when a line failed."""
        return other_encoding(self.path, self.encoding, self.limits.max_file_bytes)

    def _flush_pending(self, at_end: bool = True) -> Iterator[_Chunk]:
        """End of the file (or a line too long): a quote still open breaks its first line
        (``unclosed_quote``); the lines after it are read again on their own."""
        if self._pending:
            out = _Chunk()
            while self._pending:
                for n, b, u in self._break_open_quote(out, at_end=at_end):
                    self._feed(n, b, out, u)
            yield out

    def _lenient(self, line: bytes) -> str:
        """The line's text for finding its quotes and delimiters: an undecodable byte
        becomes U+FFFD (never a quote, delimiter or line end in an ASCII-based encoding)."""
        return self._decoder(errors="replace").decode(line, final=True)

    def _feed(self, line_no: int, line: bytes, out: _Chunk, undecodable: int | None = None) -> None:
        """One physical line. A quote open at a line's end (RFC 4180: a quoted value may
        hold line breaks) joins the next lines to it until it closes: the lines are
        ONE record, kept whole or quarantined whole, never read as records of their own
        (issue: a line break in a free-text value made the text after it a record).
        Only a quote that does not close within ``limits.max_record_lines`` lines and
        ``limits.max_line_bytes`` bytes (or by the end of the file) breaks its first line
        alone as ``unclosed_quote``: the export is broken there, and the lines after it
        are read on their own (one bad line never takes the rest of the file)."""
        todo = [(line_no, line, undecodable)]
        while todo:
            line_no, line, undecodable = todo.pop(0)
            if not self._pending and not line.strip(_BLANK):
                continue
            if undecodable is not None and not self._pending:
                # a record of its own unless a quote opens in it and stays open
                try:
                    _, taken = split_record([self._lenient(line)], self.delimiter)
                except csv.Error:
                    taken = 1
                if taken <= 1:
                    self.records += 1
                    out.bad.append(
                        self._bad(self.records, line_no, "bad_encoding", undecodable, line)
                    )
                    continue
            self._pending.append((line_no, line, undecodable))
            texts = [self._lenient(b) for _, b, _ in self._pending]
            try:
                fields, taken = split_record(texts, self.delimiter)
            except csv.Error:  # a \r inside an unquoted value (quoted, it is text)
                self._close_span(out, "carriage_return", 0)
                continue
            if taken <= len(self._pending):  # the record is complete
                self._close_span(out, None, len(fields))
                continue
            size = sum(len(b) for _, b, _ in self._pending)
            if (
                len(self._pending) >= self.limits.max_record_lines
                or size > self.limits.max_line_bytes
            ):
                todo[:0] = self._break_open_quote(out)

    def _close_span(self, out: _Chunk, reason: str | None, nfields: int) -> None:
        """The pending lines are one complete record: kept when it has the header's
        number of fields and decodes, else quarantined whole (one record, its first
        line's number, ``detail`` naming all its lines)."""
        first = self._pending[0][0]
        last = self._pending[-1][0]
        text = b"".join(b for _, b, _ in self._pending)
        bad_byte = next((u for _, _, u in self._pending if u is not None), None)
        if bad_byte is not None:  # the byte within its line, and which line
            at = next(n for n, _, u in self._pending if u is not None)
        self._pending = []
        self.records += 1
        if last > first:
            self.multiline += 1
        if reason is None and bad_byte is not None:
            reason, nfields = "bad_encoding", bad_byte
        if reason is None and last == first and self._is_header(text):
            reason = "repeated_header"
        if reason is None and self._starts_with_bom(text):
            reason = "bom_in_line"
        if reason is None and nfields != self.ncols:
            reason = "bad_line"
        if reason is None:
            out.pieces.append(text)
            out.rows.append(np.array([self.records], dtype=np.int64))
            out.sizes.append(len(text))
            return
        bad = self._bad(self.records, first, reason, nfields, text)
        if last > first:
            where = f" (line {at})" if reason == "bad_encoding" else ""
            bad = replace(
                bad,
                detail=f"{bad.detail}{where}; one record of lines {first}-{last} "
                "(a quoted value holds a line break)",
            )
        out.bad.append(bad)

    def _break_open_quote(
        self, out: _Chunk, at_end: bool = False
    ) -> list[tuple[int, bytes, int | None]]:
        """The quote opened on the first pending line does not close within a record that
        fits (or by the end of the file): that line is bad; returns the lines after it,
        to be read again on their own."""
        (first, line, _), rest = self._pending[0], self._pending[1:]
        self._pending = []
        self.records += 1
        bad = self._bad(self.records, first, "unclosed_quote", 0, line)
        if at_end:
            why = "is still open at the end of the file"
        else:
            why = (
                f"does not close within limits.max_record_lines = "
                f"{self.limits.max_record_lines} lines and limits.max_line_bytes = "
                f"{self.limits.max_line_bytes} bytes"
            )
        out.bad.append(
            replace(
                bad,
                detail=f"a quote opens in line {first} and {why}; the next lines "
                "are read on their own",
            )
        )
        return rest

    @property
    def _utf8(self) -> bool:
        return is_utf8(self.encoding)

    def _starts_with_bom(self, text: bytes) -> bool:
        """The record starts with U+FEFF: a byte-order mark in the middle of the file
        (another file's start joined on). Quarantined as ``bom_in_line``, never read: pandas
        keeps U+FEFF in the first value, which is invisible and made a second record
        ``'\ufeffJQ…'`` beside the real ``'JQ…'`` (review of 2026-12-06); stripping it
        would silently alter the record, and a joined file may have lost more."""
        if text.startswith(codecs.BOM_UTF8):
            return self._utf8 or self._lenient(text[:4]).startswith("\ufeff")
        return self._lenient(text[:8]).startswith("\ufeff")

    def _header_body(self) -> bytes:
        return self.header.rstrip(b"\r\n")

    def _is_header(self, line: bytes) -> bool:
        """``line`` is the header line again, byte for byte up to its line end (``\n``,
        ``\r\n`` or ``\r``), or after a byte-order mark (a joined Excel export)."""
        body = line.rstrip(b"\r\n")
        if body.startswith(codecs.BOM_UTF8) and self._utf8:
            body = body[len(codecs.BOM_UTF8) :]
        return bool(body) and body == self._header_body()

    def _header_again(self, block: bytes, starts: np.ndarray) -> list[int]:
        """Indexes of the lines of ``block`` (line starts ``starts``) that are the header
        line again (:meth:`_is_header`): a line end followed by the header's bytes, found
        with ``bytes.find``, so a block without one costs a scan or two."""
        body = self._header_body()
        if not body:
            return []
        at = {0} if block.startswith((body, codecs.BOM_UTF8 + body)) else set()
        ends = (b"\n", b"\r") if self.line_ends.lone_cr else (b"\n",)
        for end in ends:
            for head in (body, codecs.BOM_UTF8 + body):
                pos = block.find(end + head)
                while pos >= 0:
                    at.add(pos + 1)
                    pos = block.find(end + head, pos + 1)
        found = []
        for start in sorted(at):
            i = int(np.searchsorted(starts, start))
            if i < len(starts) and int(starts[i]) == start:
                stop = int(starts[i + 1]) if i + 1 < len(starts) else len(block)
                if self._is_header(block[start:stop]):
                    found.append(i)
        return found

    def _bad(self, record: int, line_no: int, reason: str, nfields: int, text: bytes) -> BadRecord:
        if reason == "repeated_header":
            detail = f"the same bytes as the header (line {self.header_line})"
        elif reason == "bom_in_line":
            detail = (
                "the line starts with U+FEFF (a byte-order mark in the middle of the "
                "file: another file joined on?); not read, it would be a different id"
            )
        elif reason == "unclosed_quote":
            detail = "a quote opens and does not close"
        elif reason == "carriage_return":
            detail = f"the first \\r at byte {stray_cr(text) + 1} of {len(text)}"
        elif reason == "bad_encoding":  # nfields: the byte where decoding fails
            detail = f"not {self.encoding}: undecodable byte at byte {nfields} of {len(text)}"
            self.undecodable += 1
            self.first_undecodable = self.first_undecodable or line_no
        else:
            detail = f"{nfields} fields, the header has {self.ncols}"
        return BadRecord(
            record, line_no, reason, detail, len(text), hashlib.sha256(text).hexdigest()
        )

    # ------------------------------------------------------------------ parse

    def _parse(self, chunk: _Chunk) -> RawChunk:
        frame = self._arrow_frame(chunk.pieces) if USE_ARROW else None
        if frame is None:
            body = b"".join(p if p.endswith((b"\n", b"\r")) else p + b"\n" for p in chunk.pieces)
            frame = self._pandas_frame(self.header + body)
        rows = np.concatenate(chunk.rows) if chunk.rows else np.array([], dtype=np.int64)
        if len(frame) != len(rows):
            raise FileProblem(
                "not_a_table",
                f"not a table: the CSV parser read {len(frame)} rows from {len(rows)} checked "
                "records (please report this file)",
            )
        plain = chunk.longest <= self.limits.max_field_chars and not any(
            b"\x00" in p for p in chunk.pieces
        )
        return RawChunk(frame, rows, chunk.bad, plain_text=plain)

    def _pandas_frame(self, text: bytes, nrows: int | None = None) -> pd.DataFrame:
        return pd.read_csv(
            io.BytesIO(text),
            sep=self.delimiter,
            encoding=self.encoding,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            engine="c",
            nrows=nrows,
        )

    def _arrow_frame(self, pieces: list[bytes]) -> pd.DataFrame | None:
        """The frame :meth:`_pandas_frame` gives for the header + ``pieces`` (runs of
        checked lines, parsed one by one and not joined), parsed by
        ``pyarrow.csv`` (several times faster, and no Python string per value), or None
        where the two parsers could differ: then pandas parses it, as before.

        Only plain bodies qualify: no quote character (every field is the text between
        two delimiters, checked line by line above to be ``ncols`` fields), no NUL
        byte, a single-byte delimiter. The column names are pandas' own, read from the
        header line alone. Every line of the pieces has been decoded in the file's
        encoding already (:meth:`_undecodable`; a line that is not is quarantined as
        ``bad_encoding``), so a piece in another encoding is decoded here only to give
        Arrow UTF-8, and a UTF-8 piece is not checked again (Arrow checks UTF-8 only in
        the columns it reads). A piece that starts with
        U+FEFF is left to pandas too: Arrow drops it as a file's BOM, pandas keeps it as
        text (pieces follow the header, so it is never the file's)."""
        if not pieces:
            return None
        if len(self.delimiter.encode()) != 1 or self.delimiter in '"\r\n':
            return None
        if any(b'"' in p or b"\x00" in p for p in pieces):
            return None
        if self._names is None:
            self._names = self._pandas_frame(self.header, nrows=0).columns
        names = self._names
        if len(names) != self.ncols:
            return None
        import pyarrow as pa

        generated = [f"c{i}" for i in range(self.ncols)]
        unread = only_dropped(self.mapping) if SKIP_DROPPED else set()
        keep = [i for i in range(self.ncols) if str(names[i]) not in unread]
        if self.encoding.lower().replace("_", "-") not in _UTF8_NAMES:
            try:  # whole lines: no character spans two pieces
                pieces = [p.decode(self.encoding).encode("utf-8") for p in pieces]
            except (UnicodeError, LookupError):
                return None
        if any(p.startswith(codecs.BOM_UTF8) for p in pieces):
            return None
        try:
            tables = [self._arrow_table(p, generated, [generated[i] for i in keep]) for p in pieces]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        table = pa.concat_tables(tables)
        dtype = pd.StringDtype("pyarrow", na_value=np.nan)
        frame = pd.DataFrame(
            {j: pd.array(table.column(j), dtype=dtype) for j in range(len(keep))},
            index=pd.RangeIndex(table.num_rows),
        )
        frame.columns = names[keep]
        return frame

    def _arrow_table(self, piece: bytes, generated: list[str], include: list[str]) -> Any:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        return pacsv.read_csv(
            pa.BufferReader(piece),
            read_options=pacsv.ReadOptions(
                column_names=generated,
                use_threads=False,
                block_size=max(1 << 22, 2 * self.limits.max_line_bytes + 2),
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter,
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(generated, pa.large_string()),
                include_columns=include,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
