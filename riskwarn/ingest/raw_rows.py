"""The raw source row: what of it may be stored, and its fingerprints.

* What may be stored (:func:`original_json`, the quarantine's ``original``): an
  allow-list, the source columns the mapping mentions (read, pseudonymised or listed
  under ``not_personal``), never a column it does not mention, with pseudonymised
  columns replaced by their pseudonyms and values cut at :data:`ORIGINAL_VALUE_CHARS`.
* Fingerprints (:func:`sanitize_raw` -> :func:`content_hash`, the sha1 ids of id-less
  sources): over every column except dropped and personal-looking ones, as before the
  allow-list, so record ids stay what they were. Hashes are one-way; the 64-bit content
  hash is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from riskwarn.redact import personal_data
from riskwarn.sources import SourceMapping, looks_personal

ORIGINAL_VALUE_CHARS = 1000  # a longer value is cut in the quarantine's original

# An ID number as clerks type it: with spaces or hyphens between its groups
# ("340822 19510507 8924"), a lower-case check character x, full-width digits (Chinese
# input methods). Folded to the 18 (or old 15) plain characters with an upper-case X
# before the HMAC, so one person keeps one pseudonym (the party-history features count
# a party's earlier cases by it). A value that is not an ID number once folded (a name,
# a phone number) is only stripped at its ends, as before; a well-formed ID number is
# hashed as it always was, so stored pseudonyms do not change.
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}")
_ID_FOLD = str.maketrans(
    {**{chr(0xFF10 + i): str(i) for i in range(10)}, "Ｘ": "X", "ｘ": "X", "x": "X"}
)
_ID_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\uff0d]+")


def pseudonym_input(value: str) -> str:
    """The text a value's pseudonym is computed from: an ID number folded to its plain
    form (:data:`_ID_NUMBER`: separators removed, full-width digits and ``x`` as ``0-9``
    and ``X``), any other value stripped at its ends."""
    text = value.strip()
    if _ID_NUMBER.fullmatch(text):
        return text
    folded = _ID_SEPARATORS.sub("", text.translate(_ID_FOLD))
    return folded if _ID_NUMBER.fullmatch(folded) else text


def pseudonym(value: str, key: str) -> str:
    """Keyed pseudonym: HMAC-SHA256(key, value), hex, first 16 characters; the value as
    :func:`pseudonym_input` gives it (one ID number, however written, one pseudonym)."""
    return hmac.new(key.encode(), pseudonym_input(value).encode(), hashlib.sha256).hexdigest()[:16]


def pseudonyms(values: Any, key: str) -> list[str]:
    """:func:`pseudonym` of each value ('' for a missing or blank one), HMAC computed by
    hand (RFC 2104, as :mod:`hmac` does) from the key's inner and outer SHA-256 states,
    copied per value instead of set up again: a third of the cost per value."""
    kb = key.encode()
    if len(kb) > _SHA256_BLOCK:
        kb = hashlib.sha256(kb).digest()
    kb = kb.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(x ^ 0x36 for x in kb))
    outer = hashlib.sha256(bytes(x ^ 0x5C for x in kb))

    def one(v: Any) -> str:
        if not isinstance(v, str) or not v.strip():
            return ""
        i = inner.copy()
        i.update(pseudonym_input(v).encode())
        o = outer.copy()
        o.update(i.digest())
        return o.hexdigest()[:16]

    return [one(v) for v in values]


_SHA256_BLOCK = 64  # bytes


def row_sha1(raw: pd.DataFrame) -> pd.Series:
    """sha1 of each raw row (values joined with the unit separator), vectorised."""
    if not len(raw.columns):
        return pd.Series("", index=raw.index, dtype=object)
    cols = [raw[c].astype(str) for c in raw.columns]
    joined = cols[0].str.cat(cols[1:], sep="\x1f") if len(cols) > 1 else cols[0]
    return pd.Series(
        [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in joined], index=raw.index, dtype=object
    )


def content_hash(raw: pd.DataFrame, trimmed: Iterable[str] = ()) -> np.ndarray:
    """64-bit hash of each row's values (uint64), computed by DuckDB's ``hash`` over an
    Arrow view of the frame (multi-threaded, row order kept). Used only inside one batch
    to tell exact repeats of an id from conflicting versions, never stored.

    The columns in ``trimmed`` (the id columns) are hashed with leading and trailing
    Unicode white space removed, as the record id is built from them: two rows that
    differ only by a space or a no-break space after the id are one record repeated,
    not two conflicting versions of it."""
    if not len(raw) or not len(raw.columns):
        return np.zeros(len(raw), dtype="uint64")
    import duckdb
    import pyarrow as pa

    trim = set(trimmed)
    cols = {f"c{i}": _arrow_column(raw[c], trim=c in trim) for i, c in enumerate(raw.columns)}
    rows = pa.table(cols)  # noqa: F841 (read by DuckDB's replacement scan)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        h = con.execute(f"SELECT hash({', '.join(cols)}) AS h FROM rows").fetchnumpy()["h"]
    finally:
        con.close()
    return np.asarray(h, dtype="uint64")


def _arrow_column(values: pd.Series, *, trim: bool = False) -> Any:
    """A column for :func:`content_hash`: an all-missing text column is typed as text, so
    a row hashes the same whichever rows it is hashed with; ``trim``: text without its
    leading and trailing white space."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values, from_pandas=True)
    if pa.types.is_null(arr.type):
        return arr.cast(pa.string())
    if trim and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return pc.utf8_trim_whitespace(arr)
    return arr


def row_json(raw: pd.DataFrame) -> pd.Series:
    """JSON object of each raw row (column -> text), vectorised through pandas' writer.
    A frame with rows but no column (a file sharing no column with its mapping: nothing
    of it may be stored) gives ``{}`` for each row; ``raw.empty`` is True for it too, so
    rows and columns are tested apart."""
    if not len(raw):
        return pd.Series([], index=raw.index, dtype=object)
    if not len(raw.columns):
        return pd.Series("{}", index=raw.index, dtype=object)
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
        values = uniq.to_numpy(dtype=object) if hasattr(uniq, "to_numpy") else uniq
        pseud_values = np.array(pseudonyms(values, key), dtype=object)
        out[c] = pd.Series(pseud_values[codes], index=out.index, dtype=object)
    return out


def allowed_columns(mapping: SourceMapping) -> set[str]:
    """Source columns whose values may be stored: those the mapping mentions, minus ``drop``."""
    pseud = {c for cols in mapping.pseudonymise.values() for c in cols}
    return (set(mapping.source_columns) | pseud | set(mapping.not_personal)) - set(mapping.drop)


def original_json(mapping: SourceMapping, raw: pd.DataFrame, key: str) -> pd.Series:
    """The quarantine's ``original`` of each raw row: JSON of the allowed columns
    (:func:`allowed_columns`), pseudonyms in place, long values cut."""
    return stored_json(mapping, sanitize_raw(mapping, raw, key))


def stored_json(mapping: SourceMapping, clean: pd.DataFrame) -> pd.Series:
    """:func:`original_json` of rows already through :func:`sanitize_raw`: phone and ID
    numbers in any value but a pseudonym are masked (:func:`mask_values`), so a quarantined
    row keeps no personal data typed into a column meant for something else."""
    allowed = allowed_columns(mapping)
    pseud = {c for cols in mapping.pseudonymise.values() for c in cols}
    kept = clean[[c for c in clean.columns if c in allowed]]
    cut = {}
    geometry, coordinates = geometry_columns(mapping), coordinate_columns(mapping)
    for c in kept.columns:
        given = kept[c]
        if c in pseud or c in geometry:  # pseudonyms; WKT's long decimals look like numbers
            s = given
        else:
            s = mask_values(given, keep_decimals=c in coordinates)
        if s is not given:
            cut[c] = s
        n = s.str.len()
        if (n > ORIGINAL_VALUE_CHARS).any():
            long = n > ORIGINAL_VALUE_CHARS
            tail = " [cut: " + n.astype("Int64").astype(str) + " characters]"
            cut[c] = s.where(~long, s.str.slice(0, ORIGINAL_VALUE_CHARS) + tail)
    if cut:
        kept = kept.assign(**cut)
    return row_json(kept)


PERSONAL_MASK = "***"  # what a value holding a phone or ID number becomes in an original
# a value with fewer digits than this holds no phone or ID number (the shortest, a
# landline 010-2345678, has 10): the detector runs only on the others
_MIN_PERSONAL_DIGITS = 10
# what counts as a digit for that: ASCII and full-width digits and the Chinese numerals
# the detector reads as digits (a mobile written out: 一三八一二三四五六七八)
_DIGIT_CHARS = "[0-9\uff10-\uff19〇一二三四五六七八九零○]"


def personal_values(values: pd.Series) -> np.ndarray:
    """Mask of the values holding a phone or ID number (:func:`riskwarn.redact.personal_data`),
    found on the distinct values with at least :data:`_MIN_PERSONAL_DIGITS` digits (an
    Arrow count first: the usual code, category or name never reaches the detector)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(values):
        return np.zeros(0, dtype=bool)
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    if not len(uniq):
        return np.zeros(len(values), dtype=bool)
    text = pa.array([str(u) for u in uniq], type=pa.string())
    digits = pc.count_substring_regex(text, _DIGIT_CHARS).to_numpy(zero_copy_only=False)
    found = np.zeros(len(uniq), dtype=bool)
    for i in np.flatnonzero(digits >= _MIN_PERSONAL_DIGITS):
        found[i] = bool(personal_data(str(uniq[i])))
    out = np.zeros(len(values), dtype=bool)
    has = codes >= 0
    out[has] = found[codes[has]]
    return out


def geometry_columns(mapping: SourceMapping) -> set[str]:
    """Source columns read into a geometry (``*_wkt``): WKT's coordinates with many
    decimals (116.13812345678) have the shape of a phone number, and are none."""
    return {
        c
        for name, rule in mapping.columns.items()
        if name.endswith("_wkt")
        for c in rule.sources + rule.template_columns
    }


def coordinate_columns(mapping: SourceMapping) -> set[str]:
    """Source columns read into coordinates (lon, lat, the mapping's x and y)."""
    cols = {c for c in (mapping.x, mapping.y) if c}
    for name in ("lon", "lat"):
        rule = mapping.columns.get(name)
        if rule is not None:
            cols.update(rule.sources + rule.template_columns)
    return cols


def mask_values(values: pd.Series, keep_decimals: bool = False) -> pd.Series:
    """``values`` with each value holding a phone or ID number replaced as a whole by
    :data:`PERSONAL_MASK` (a name typed next to the number, "张三 13812345678", goes with
    it: names have no pattern to find them by); the same Series (not a copy) when no
    value holds one. ``keep_decimals``: a value with a decimal point is kept (a
    coordinate, 116.13812345678)."""
    hit = personal_values(values)
    if keep_decimals and hit.any():
        hit &= ~values.astype(str).str.contains(".", regex=False).to_numpy(dtype=bool)
    if not hit.any():
        return values
    return values.astype(object).where(~hit, PERSONAL_MASK)
