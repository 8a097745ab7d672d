"""Numbers and times of CSV text columns by Arrow kernels and NumPy (issue 18.2).

Both functions are shortcuts for the pandas calls of :mod:`riskwarn.ingest.mapping` and
give exactly what those give, on the values they take; every other value is left to
pandas (the caller's old path), value by value where that is possible:

* :func:`plain_numbers` -- ``pd.to_numeric(text, errors="coerce")`` of Arrow-backed text
  whose present values are all plain decimals (``-?digits[.digits]``, at most
  :data:`PLAIN_DIGITS` digits). For such a text pandas' parser accumulates the digits
  exactly in a double and divides once by an exact power of ten (one correctly rounded
  operation), and Arrow's cast rounds correctly too: the same double. As pandas does,
  integers only and no missing value give int64, anything else float64.
* :func:`fixed_width_times` -- naive times of texts in a format of zero-padded fields
  (``%Y %m %d %H %M %S`` and literal ASCII separators): a text qualifies when it has
  exactly the format's shape, byte by byte, and its fields form a real time in the
  years :data:`YEARS` (within pandas' nanosecond range). Such a text is the one way the
  format prints that time, and pandas parses it to that time. The rest (other shapes,
  30 February, hour 24, padding blanks) is for pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PLAIN_DIGITS = 15  # digits of a plain decimal: below 2**53, so accumulated exactly
_PLAIN = r"^-?[0-9]+(?:\.[0-9]+)?$"
YEARS = (1678, 2261)  # inside pandas' datetime64[ns] range (1677-09-21 .. 2262-04-11)
# The times the lake holds, [start, end): pandas' datetime64[ns] reaches 1677-09-21
# 00:12:43 .. 2262-04-11 23:47:16; a day inside it on each side, so that a naive local
# time in range stays in range once converted to UTC (offsets are under 24 hours).
TIME_RANGE = (pd.Timestamp("1677-09-22 00:00:00"), pd.Timestamp("2262-04-11 00:00:00"))
_FIELDS = {"%Y": 4, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2}
_LITERALS = set(b"-/:. T_")


def _arrow_text(values: pd.Series) -> pa.Array | None:
    """The Arrow string array behind an Arrow-backed text Series (one chunk), or None."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return None
    arr = pa.array(values.array, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr


def plain_numbers(text: pd.Series) -> pd.Series | None:
    """``pd.to_numeric(text, errors="coerce")`` when every present value of the
    Arrow-backed ``text`` is a plain decimal of at most :data:`PLAIN_DIGITS` digits
    (else None: the caller asks pandas)."""
    arr = _arrow_text(text)
    if arr is None or len(arr) == 0 or arr.null_count == len(arr):
        return None
    if not _all_plain(arr):
        return None
    if arr.null_count == 0 and not pc.any(pc.match_substring(arr, ".")).as_py():
        values = pc.cast(arr, pa.int64()).to_numpy()
    else:
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        values = np.asarray(values, dtype=np.float64)
    return pd.Series(values, index=text.index, name=text.name)


_NUMBER_BYTES = np.zeros(256, dtype=bool)
_NUMBER_BYTES[list(b"-.0123456789")] = True


def _all_plain(arr: pa.Array) -> bool:
    """Whether every valid value is ``-?digits(.digits)?`` (:data:`_PLAIN`) of at most
    :data:`PLAIN_DIGITS` digits, by byte counts instead of a regular expression: only
    the bytes ``-.0-9``; a ``-`` only first, a ``.`` at most once and between digits."""
    if arr.null_count:
        arr = arr.drop_null()
    n = len(arr)
    size = pc.binary_length(arr)
    if not n or pc.max(size).as_py() > PLAIN_DIGITS + 2 or pc.min(size).as_py() < 1:
        return False  # (a longer text has more digits or is not plain)
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=off_type)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    if not _NUMBER_BYTES[data].all():
        return False

    def count(flags: pa.Array) -> int:
        return int(pc.sum(flags).as_py() or 0)

    signed, dotted = pc.starts_with(arr, "-"), pc.match_substring(arr, ".")
    minus, dots = count(signed), count(dotted)
    if int(np.count_nonzero(data == 45)) != minus or int(np.count_nonzero(data == 46)) != dots:
        return False  # a "-" not first, or two "." in a value
    if minus or dots:  # digits = bytes - sign - point
        i32 = pa.int32()
        digits = pc.subtract(size, pc.add(pc.cast(signed, i32), pc.cast(dotted, i32)))
        if pc.max(digits).as_py() > PLAIN_DIGITS:
            return False
    elif pc.max(size).as_py() > PLAIN_DIGITS:
        return False
    for edge in (pc.starts_with(arr, "."), pc.starts_with(arr, "-."), pc.ends_with(arr, ".")):
        if pc.any(edge).as_py():
            return False
    return not pc.any(pc.equal(arr, "-")).as_py()


def _layout(fmt: str) -> list[tuple[str, int, int]] | None:
    """``(directive or literal byte, start, width)`` per part of a fixed-width format,
    or None when the format has another directive or a non-ASCII literal."""
    parts: list[tuple[str, int, int]] = []
    pos = i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            d = fmt[i : i + 2]
            if d not in _FIELDS:
                return None
            parts.append((d, pos, _FIELDS[d]))
            pos += _FIELDS[d]
            i += 2
        else:
            b = fmt[i].encode("utf-8")
            if len(b) != 1 or b[0] not in _LITERALS:
                return None
            parts.append((fmt[i], pos, 1))
            pos += 1
            i += 1
    if sum(1 for p in parts if p[0] == "%Y") != 1 or any(
        sum(1 for p in parts if p[0] == d) > 1 for d in _FIELDS
    ):
        return None
    if not all(any(p[0] == d for p in parts) for d in ("%Y", "%m", "%d")):
        return None
    return parts


def fixed_width_times(text: pd.Series, present: np.ndarray, fmt: str) -> np.ndarray | None:
    """Naive times (datetime64[ns], NaT where not done) of the rows of the Arrow-backed
    ``text`` that are ``present`` and have exactly the shape of the fixed-width ``fmt``
    with a real time in :data:`YEARS`; None when ``text`` or ``fmt`` is not such. A row
    left NaT is for pandas."""
    layout = _layout(fmt)
    arr = _arrow_text(text)
    if layout is None or arr is None:
        return None
    width = layout[-1][1] + layout[-1][2]
    n = len(arr)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if n == 0:
        return out
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=off_type)[arr.offset : arr.offset + n + 1]
    data = arr.buffers()[2]
    if data is None:
        return out
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = offsets[:-1].astype(np.int64)
    ok = (np.diff(offsets) == width) & np.asarray(present, dtype=bool)
    if arr.null_count:
        ok &= np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(ok)
    if not len(rows):
        return out
    if len(rows) == n and starts[-1] - starts[0] == (n - 1) * width:
        grid = buf[starts[0] : starts[0] + n * width].reshape(n, width)  # contiguous
    else:
        grid = buf[starts[rows][:, None] + np.arange(width)]
    cols = np.ascontiguousarray(grid.T)  # one row per byte position: fast NumPy steps
    # the shape, byte by byte: digits where the format has a field, its literal elsewhere
    good = np.ones(len(rows), dtype=bool)
    f = {}
    for part, start, w in layout:
        if part in _FIELDS:
            value = np.zeros(len(rows), dtype=np.int32)
            for k in range(start, start + w):
                digit = cols[k] - np.uint8(48)  # bytes below '0' wrap round to > 9
                good &= digit <= 9
                value *= 10
                value += digit
            f[part] = value
        else:
            good &= cols[start] == ord(part)
    zero = np.zeros(len(rows), dtype=np.int32)
    y, m, d, hh, mm, ss = (f.get(k, zero) for k in _FIELDS)
    good &= (y >= YEARS[0]) & (y <= YEARS[1]) & (m >= 1) & (m <= 12)
    month = np.where(good, (y - YEARS[0]) * 12 + m - 1, 0)
    first, length = _months()
    good &= (d >= 1) & (d <= length[month]) & (hh < 24) & (mm < 60) & (ss < 60)
    secs = (first[month] + d - 1) * 86400 + (hh * 3600 + mm * 60 + ss)
    done = rows[good]
    out[done] = (secs[good] * 1_000_000_000).astype("datetime64[ns]")
    return out


_MONTHS: tuple[np.ndarray, np.ndarray] | None = None


def _months() -> tuple[np.ndarray, np.ndarray]:
    """Days from 1970-01-01 to the first of each month of :data:`YEARS`, and the
    months' lengths (NumPy's calendar, built once)."""
    global _MONTHS
    if _MONTHS is None:
        starts = np.arange(
            np.datetime64(f"{YEARS[0]}-01"), np.datetime64(f"{YEARS[1] + 1}-02"), dtype="M8[M]"
        )
        days = starts.astype("M8[D]").astype(np.int64)
        _MONTHS = (days[:-1], np.diff(days))
    return _MONTHS
