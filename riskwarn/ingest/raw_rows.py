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
from typing import Any

import numpy as np
import pandas as pd

from riskwarn.sources import SourceMapping, looks_personal

ORIGINAL_VALUE_CHARS = 1000  # a longer value is cut in the quarantine's original


def pseudonym(value: str, key: str) -> str:
    """Keyed pseudonym: HMAC-SHA256(key, value), hex, first 16 characters."""
    return hmac.new(key.encode(), value.strip().encode(), hashlib.sha256).hexdigest()[:16]


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
        i.update(v.strip().encode())
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


def content_hash(raw: pd.DataFrame) -> np.ndarray:
    """64-bit hash of each row's values (uint64), computed by DuckDB's ``hash`` over an
    Arrow view of the frame (multi-threaded, row order kept). Used only inside one batch
    to tell exact repeats of an id from conflicting versions, never stored."""
    if not len(raw) or not len(raw.columns):
        return np.zeros(len(raw), dtype="uint64")
    import duckdb
    import pyarrow as pa

    cols = {f"c{i}": _arrow_column(raw[c]) for i, c in enumerate(raw.columns)}
    rows = pa.table(cols)  # noqa: F841 (read by DuckDB's replacement scan)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        h = con.execute(f"SELECT hash({', '.join(cols)}) AS h FROM rows").fetchnumpy()["h"]
    finally:
        con.close()
    return np.asarray(h, dtype="uint64")


def _arrow_column(values: pd.Series) -> Any:
    """A column for :func:`content_hash`: an all-missing text column is typed as text, so
    a row hashes the same whichever rows it is hashed with."""
    import pyarrow as pa

    arr = pa.array(values, from_pandas=True)
    return arr.cast(pa.string()) if pa.types.is_null(arr.type) else arr


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
    """:func:`original_json` of rows already through :func:`sanitize_raw`."""
    allowed = allowed_columns(mapping)
    kept = clean[[c for c in clean.columns if c in allowed]]
    cut = {}
    for c in kept.columns:
        s = kept[c]
        n = s.str.len()
        if (n > ORIGINAL_VALUE_CHARS).any():
            long = n > ORIGINAL_VALUE_CHARS
            tail = " [cut: " + n.astype("Int64").astype(str) + " characters]"
            cut[c] = s.where(~long, s.str.slice(0, ORIGINAL_VALUE_CHARS) + tail)
    if cut:
        kept = kept.assign(**cut)
    return row_json(kept)
