"""Stage 2, map (pure): mapping rules -> canonical columns plus a first reason per row.

Each column rule (``null_values`` -> ``extract`` -> ``map`` -> ``normalize`` -> parse)
runs on whole columns, and on the distinct values only when a column repeats them.
Also the raw-row helpers the later stages share: content hashes, the sanitized row
(dropped / personal columns removed, pseudonyms in place) and its JSON.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from riskwarn.contracts import TABLES, UTC_TS, Table
from riskwarn.ingest.fastparse import TIME_RANGE, fixed_width_times, plain_numbers
from riskwarn.ingest.location import check_area as _check_area
from riskwarn.ingest.location import map_xy as _map_xy
from riskwarn.ingest.raw_rows import (
    PERSONAL_MASK,
    allowed_columns,
    content_hash,
    geometry_columns,
    personal_values,
    row_sha1,
    sanitize_raw,
    stored_json,
)
from riskwarn.ingest.records import Factorized
from riskwarn.sources import Area, ColumnRule, SourceMapping


def _shape(text: str) -> str:
    return re.sub(r"\d+", "9", text)


def _format_shapes(formats: list[str]) -> set[str]:
    sample = datetime(2000, 10, 10, 10, 10, 10)
    return {_shape(sample.strftime(f)) for f in formats}


def _outside(parsed: pd.Series) -> pd.Series:
    """Mask of the parsed times (any unit; naive, or aware and compared in UTC) outside
    :data:`~riskwarn.ingest.fastparse.TIME_RANGE`: the row's reason is then
    ``out_of_range_date:<col>``."""
    values = parsed
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.notna() & ((values < TIME_RANGE[0]) | (values >= TIME_RANGE[1]))


def _naive_times(text: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """``pd.to_datetime(text, format=fmt, errors="coerce")`` as datetime64[ns], with
    the times outside :data:`TIME_RANGE` set to NaT, and the mask of those."""
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    outside = _outside(parsed)
    if outside.any():
        parsed = parsed.where(~outside)
    return parsed.astype("datetime64[ns]"), outside


def _date_kinds(
    text: pd.Series, bad: pd.Series, outside: pd.Series, shapes: set[str], kind: pd.Series
) -> None:
    """Reason kind of each ``bad`` time: out of range, else impossible (the format's
    shape) or unparseable."""
    impossible = text[bad].map(lambda v: _shape(str(v).strip()) in shapes)
    kind[bad] = np.where(impossible, "impossible_date", "unparseable_date")
    kind[bad & outside] = "out_of_range_date"


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
    return _normalize(s, rule.normalize)


def _normalize(s: pd.Series, how: str | None) -> pd.Series:
    if how and s.notna().any():
        t = s.where(s.isna(), s.astype(str).str.strip())
        if how == "snake_case":
            t = t.str.lower().str.replace(r"[^0-9a-z]+", "_", regex=True).str.strip("_")
        elif how == "lower":
            t = t.str.lower()
        elif how == "upper":
            t = t.str.upper()
        s = t
    return s


# canonical columns whose `map` is the source's whole vocabulary: a value the map does
# not know is quarantined (`unmapped_category:<col>`), not stored as the raw text
CATEGORY_COLUMNS = frozenset({"category", "category_group"})
# clock skew tolerated between a report time and the event time (reported_at may be
# up to this much before occurred_at): docs/ingestion.md, "reported before occurred"
REPORT_SKEW = pd.Timedelta(hours=1)


def _unmapped(values: pd.Series, rule: ColumnRule) -> np.ndarray:
    """Rows whose value is neither a key of ``rule.map`` mapped nor one of its canonical
    values (a source that already sends ``other`` is fine)."""
    known = rule.map or {}
    targets = _normalize(pd.Series([str(v) for v in known.values()], dtype=object), rule.normalize)
    return (values.notna() & ~values.astype(object).isin(set(targets))).to_numpy(dtype=bool)


def reported_before_occurred(out: pd.DataFrame, tz: str) -> pd.Series:
    """Rows whose ``reported_at`` is before ``occurred_at`` by more than
    :data:`REPORT_SKEW`. Both are compared as times only when both carry one
    (``time_precision`` minute or hour, and a report time that is not exactly local
    midnight, i.e. not a date-only value); otherwise the report is compared with the
    start of the event's local day, so a date-only value never raises it on the day
    of the event (docs/ingestion.md)."""
    rep, occ = out["reported_at"], out["occurred_at"]
    both = rep.notna() & occ.notna()
    if not both.any():
        return pd.Series(False, index=out.index)
    local_rep = rep.dt.tz_convert(tz)
    rep_dated = (local_rep == local_rep.dt.normalize()) & both
    timed = out["time_precision"].isin(("minute", "hour")) & ~rep_dated
    occ_day = occ.dt.tz_convert(tz).dt.normalize().dt.tz_convert("UTC")
    ref = occ.where(timed, occ_day)
    return (both & (rep < ref - REPORT_SKEW)).fillna(False)


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
        return _parse_number(text, present, dtype, rule, kind)
    # timestamps
    text = s.where(present, None).astype(object)
    outside = pd.Series(False, index=s.index)
    if rule.formats:
        parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        for fmt in rule.formats:
            todo = parsed.isna() & present
            if not todo.any():
                break
            parsed[todo], out = _naive_times(text[todo], fmt)
            outside[todo] |= out
        result = _localize(parsed, tz, ambiguous)
        shapes = _format_shapes(rule.formats)
    else:
        result, outside = _parse_iso(text, tz, ambiguous)
        shapes = {"9999-99-99", "9999-99-99 99:99", "9999-99-99 99:99:99", "9999-99-99T99:99:99"}
    bad = present & result.isna()
    if bad.any():
        _date_kinds(text, bad, outside, shapes, kind)
    return result, bad, kind


def _parse_number(
    text: pd.Series, present: pd.Series, dtype: str, rule: ColumnRule, kind: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Numbers of stripped texts (NaN where missing), as :func:`_parse` gives them."""
    num = plain_numbers(text) if ARROW_NUMBERS else None  # plain decimals: Arrow's cast
    if num is None:
        num = pd.to_numeric(text, errors="coerce")
    bad = present & num.isna()
    if rule.scale is not None:
        num = num * rule.scale
    # inf, -inf (and a finite number scaled past the float range) is no reading: its
    # own reason, never stored (a day's rain summed over it would be inf)
    infinite = num.notna() & ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():
        num = num.where(~infinite)
        bad = bad | infinite
    outside = None
    if dtype == "int":
        num, frac, outside = _whole_numbers(num, text, exact=rule.scale is None)
        bad = bad | frac | outside
    kind[bad] = "unparseable_number"
    if outside is not None and outside.any():
        kind[outside] = "out_of_range_number"
    if infinite.any():
        kind[infinite] = "non_finite_value"
    return num, bad, kind


# the values of an integer column (the lake's int64)
INT_RANGE = (-(2**63), 2**63 - 1)
_FLOAT_EXACT = 2.0**53  # a float64 holds every whole number below this, and no fraction above


def _whole_numbers(
    num: pd.Series, text: pd.Series, *, exact: bool
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The parsed numbers ``num`` of an integer column as Int64, and the masks of those
    that are not whole (``1.5``: left to ``unparseable_number``) and of the whole ones
    outside :data:`INT_RANGE` (``out_of_range_number``; the Int64 cast raised on them and
    ended the whole file's ingest). A number of magnitude 2**53 or more (a float has no
    digits left for its units there) is read again from its ``text`` (``exact``, when
    no ``scale`` changed it) with :class:`~decimal.Decimal`: ``9223372036854775807`` is
    in range, ``9223372036854775808`` is not, and an in-range one keeps its every digit."""
    index = num.index
    if pd.api.types.is_signed_integer_dtype(num.dtype):  # pandas read int64: all exact
        none = pd.Series(np.zeros(len(num), dtype=bool), index=index)
        return num.astype("Int64"), none, none
    values = num.to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(values)
    big = present & (np.abs(values) >= _FLOAT_EXACT)
    frac = present & ~big & (values != np.floor(values))
    small = present & ~big & ~frac
    out = pd.Series(np.where(small, values, np.nan), index=index).astype("Int64")
    outside = np.zeros(len(values), dtype=bool)
    if big.any():
        at = np.flatnonzero(big)
        whole: list[int | None] = []
        for i in at.tolist():
            number = _exact_number(text.iloc[i], values[i]) if exact else Decimal(values[i])
            if number != number.to_integral_value():
                frac[i] = True
            elif not INT_RANGE[0] <= number <= INT_RANGE[1]:
                outside[i] = True
            else:
                whole.append(int(number))
                continue
            whole.append(None)
        out.iloc[at] = pd.array(whole, dtype="Int64")
    return out, pd.Series(frac, index=index), pd.Series(outside, index=index)


def _exact_number(text: Any, value: float) -> Decimal:
    """The number a text holds, digit for digit (``value``, pandas' float of it, when
    :class:`~decimal.Decimal` does not read the text as a finite number)."""
    try:
        number = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return Decimal(value)
    return number if number.is_finite() else Decimal(value)


def _parse_arrow_number(
    series: pd.Series, dtype: str, rule: ColumnRule, nulls: set[str]
) -> tuple[pd.Series, pd.Series, pd.Series] | None:
    """:func:`_prepare_text` + :func:`_parse` of a number column read as Arrow text
    (CSV) by a rule with no ``extract`` / ``map`` / ``normalize``, without turning every
    value into a Python object and back: the same null texts, the same stripped text
    handed to the same ``pd.to_numeric``. None when the column or rule is not such."""
    if dtype not in ("float", "int") or rule.extract or rule.map or rule.normalize:
        return None
    if not (isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow"):
        return None
    null = _null_mask(series, nulls | set(rule.null_values)).to_numpy(dtype=bool)
    present = pd.Series(~null, index=series.index)
    text = series.str.strip().where(present)
    kind = pd.Series("", index=series.index, dtype=object)
    return _parse_number(text, present, dtype, rule, kind)


def _parse_arrow_time(
    series: pd.Series, dtype: str, rule: ColumnRule, nulls: set[str], tz: str, ambiguous: bool
) -> tuple[pd.Series, pd.Series, pd.Series] | None:
    """:func:`_prepare_text` + :func:`_parse` of a time column read as Arrow text (CSV)
    by a rule with ``formats`` and no ``extract`` / ``map`` / ``normalize``: the rows in
    the first format's exact fixed-width shape are read by
    :func:`~riskwarn.ingest.fastparse.fixed_width_times`, only the others go through
    pandas as before (format by format). None when the column or rule is not such."""
    if dtype != UTC_TS or not rule.formats or rule.extract or rule.map or rule.normalize:
        return None
    null = _null_mask(series, nulls | set(rule.null_values)).to_numpy(dtype=bool)
    first = fixed_width_times(series, ~null, rule.formats[0])
    if first is None:
        return None
    present = pd.Series(~null, index=series.index)
    kind = pd.Series("", index=series.index, dtype=object)
    parsed = pd.Series(first, index=series.index)
    outside = pd.Series(False, index=series.index)
    for fmt in rule.formats:
        todo = parsed.isna() & present
        if not todo.any():
            break
        text = series[todo].astype(object)
        parsed[todo], out = _naive_times(text, fmt)
        outside[todo] |= out
    result = _localize(parsed, tz, ambiguous)
    bad = present & result.isna()
    if bad.any():
        _date_kinds(series.astype(object), bad, outside, _format_shapes(rule.formats), kind)
    return result, bad, kind


def _localize(naive: pd.Series, tz: str, ambiguous: bool) -> pd.Series:
    """Local wall times -> UTC (DST gaps shift forward; ambiguous hours per mapping)."""
    values = pd.DatetimeIndex(naive.astype("datetime64[ns]"))
    amb = np.full(len(values), ambiguous)
    local = values.tz_localize(tz, ambiguous=amb, nonexistent="shift_forward")
    return pd.Series(local.tz_convert("UTC"), index=naive.index)


def _parse_iso(text: pd.Series, tz: str, ambiguous: bool) -> tuple[pd.Series, pd.Series]:
    """ISO 8601 times; naive ones are local to ``tz``, ones with an offset keep it.
    Also the mask of the times outside :data:`TIME_RANGE` (left NaT)."""
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
        outside = (_outside(parsed) & naive) | (_outside(local) & ~naive)
        aware = parsed.where(naive & ~outside).astype(UTC_TS)
        local = local.where(~naive & ~outside).astype("datetime64[ns]")
        return aware.where(naive, _localize(local, tz, ambiguous)), outside
    outside = _outside(parsed)
    if outside.any():
        parsed = parsed.where(~outside)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").astype(UTC_TS), outside
    return _localize(parsed.astype("datetime64[ns]"), tz, ambiguous), outside


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
    mapping: SourceMapping,
    name: str,
    rule: ColumnRule,
    raw: pd.DataFrame,
    table: Table,
    memo: dict[Any, Any] | None = None,
    factorized: dict[str, Factorized] | None = None,
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Values of canonical column ``name``, per-row reason ('' = fine; an empty array
    when no row has one) and the mask of rows with a reason (read the reasons only
    where it is set). ``memo`` keeps parsed times between the chunks of a file;
    ``factorized`` holds source columns the reader already factorized."""
    dtype = table.field(name).dtype
    nulls = set(mapping.null_values)
    ambiguous = mapping.ambiguous_time == "daylight"
    reason = np.empty(0, dtype=object)  # allocated when a row gets a reason
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
        for col, series in inputs:
            v, bad, kind = _prepare_and_parse(
                series,
                dtype,
                rule,
                nulls,
                mapping.timezone,
                ambiguous,
                memo,
                (name, col),
                None if rule.template or factorized is None else factorized.get(col),
            )
            new = bad.to_numpy(dtype=bool) & ~has
            if new.any():
                if not len(reason):
                    reason = np.full(len(raw), "", dtype=object)
                reason[new] = kind.to_numpy(dtype=object)[new] + ":" + name
                has |= new
            any_bad |= bad
            values = v if values is None else values.where(values.notna(), v)
        assert values is not None
        if has.any():
            keep = values.isna().to_numpy(dtype=bool) & any_bad.to_numpy(dtype=bool)
            reason[~keep] = ""
            has &= keep
    else:
        values = _typed_const(None, dtype, len(raw), raw.index, mapping.timezone)
    if rule.map and name in CATEGORY_COLUMNS and dtype == "str":
        new = _unmapped(values, rule) & ~has
        if new.any():
            if not len(reason):
                reason = np.full(len(raw), "", dtype=object)
            reason[new] = f"unmapped_category:{name}"
            has |= new
    for cond in reversed(rule.when):
        hit = raw[cond.column].isin(cond.values)
        if hit.any():
            const = _typed_const(cond.value, dtype, len(raw), raw.index, mapping.timezone)
            values = values.where(~hit, const) if cond.value is not None else values.where(~hit)
            if len(reason):
                reason[hit.to_numpy(dtype=bool)] = ""
            has &= ~hit.to_numpy(dtype=bool)
    if rule.default is not None:
        values = values.where(
            values.notna() | has,
            _typed_const(rule.default, dtype, len(raw), raw.index, mapping.timezone),
        )
    return values, reason, has


def _prepare_and_parse(
    series: pd.Series,
    dtype: str,
    rule: ColumnRule,
    nulls: set[str],
    tz: str,
    ambiguous: bool,
    memo: dict[Any, Any] | None = None,
    key: Any = None,
    factorized: Factorized | None = None,
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """:func:`_prepare_text` + :func:`_parse` of one source column.

    Both are value-by-value functions, so when the column repeats its values (sensor
    ids, flags, the shared 10-minute times) they run on the distinct values only and
    the results are spread back by code: same output, a fraction of the work. Times
    parsed with the mapping's formats (value by value) are also remembered in ``memo``
    under ``key`` for the next chunks of the file, which repeat them."""
    # (a sample of the first rows cannot tell: sensor-major readings show a month of
    # distinct times in their first rows, and repeat them for every sensor)
    if factorized is not None:  # the reader's codes: the same distinct texts
        codes, uniq = factorized
    elif _mostly_distinct(series):  # times to the minute, coordinates: no gain
        fast = _parse_arrow_number(series, dtype, rule, nulls) if FAST_NUMBERS else None
        if fast is None and ARROW_TIMES:
            fast = _parse_arrow_time(series, dtype, rule, nulls, tz, ambiguous)
        if fast is not None:
            return fast
        return _parse(_prepare_text(series, rule, nulls), dtype, rule, tz, ambiguous)
    else:
        codes, uniq = pd.factorize(series, use_na_sentinel=False)
    if len(uniq) > _DISTINCT_SHARE * len(series):  # ids, coordinates: no gain
        text = _prepare_text(series, rule, nulls)
        return _parse(text, dtype, rule, tz, ambiguous)
    distinct = pd.Series(uniq, dtype=object)

    def parse(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        return _parse(_prepare_text(values, rule, nulls), dtype, rule, tz, ambiguous)

    if memo is not None and dtype == UTC_TS and rule.formats:
        v, bad, kind = _remembered(memo, key, distinct, parse)
    else:
        v, bad, kind = parse(distinct)
    if not bad.any():  # the usual case: no row has a reason, spread no reason kinds
        none = pd.Series(np.zeros(len(series), dtype=bool), index=series.index)
        return v.take(codes).set_axis(series.index), none, none
    return (
        v.take(codes).set_axis(series.index),
        bad.take(codes).set_axis(series.index),
        kind.take(codes).set_axis(series.index),
    )


def _remembered(
    memo: dict[Any, Any],
    key: Any,
    distinct: pd.Series,
    parse: Callable[[pd.Series], tuple[pd.Series, pd.Series, pd.Series]],
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``parse(distinct)`` (a value-by-value function of distinct values), computed only
    for the values not in ``memo[key]`` from earlier chunks, then remembered (up to
    :data:`_MEMO_VALUES` values per column)."""
    seen = memo.get(key)
    if seen is None:
        seen = (pd.Index([], dtype=object), *parse(distinct.iloc[:0]))
    at = seen[0].get_indexer(distinct)
    new = at < 0
    if new.any():
        fresh = distinct[new].reset_index(drop=True)
        parsed = parse(fresh)
        if len(seen[0]) + len(fresh) > _MEMO_VALUES:
            return parse(distinct)
        seen = (
            seen[0].append(pd.Index(fresh, dtype=object)),
            *(pd.concat([a, b], ignore_index=True) for a, b in zip(seen[1:], parsed, strict=True)),
        )
        memo[key] = seen
        at = seen[0].get_indexer(distinct)
    return tuple(part.take(at).reset_index(drop=True) for part in seen[1:])  # type: ignore[return-value]


def _mostly_distinct(series: pd.Series) -> bool:
    """Whether evenly spaced rows of a long column are nearly all distinct, so that
    factorizing the whole column (to evaluate it on its distinct values) would not pay.
    Only a shortcut: both ways of evaluating a column give the same values."""
    n = len(series)
    if n < 4 * _SAMPLE_ROWS:
        return False
    sample = series.iloc[:: n // _SAMPLE_ROWS]
    return bool(sample.nunique(dropna=False) > _SAMPLE_DISTINCT * len(sample))


_MEMO_VALUES = 200_000  # distinct times remembered per column and file
# number columns of CSV text parsed by _parse_arrow_number; False: the old path (kept for
# the equivalence tests, tests/test_ingest_arrow_csv.py)
FAST_NUMBERS = True
# plain decimals by Arrow's cast, fixed-width times by NumPy (riskwarn.ingest.fastparse);
# False: pandas for every value (the old path, kept for the equivalence tests)
ARROW_NUMBERS = True
ARROW_TIMES = True
_SAMPLE_ROWS = 5_000  # rows looked at by _mostly_distinct
_SAMPLE_DISTINCT = 0.9  # share of distinct values in that sample
_DISTINCT_SHARE = 0.5  # evaluate on distinct values when they are at most this share


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


def _record_ids(
    raw: pd.DataFrame,
    columns: list[str],
    nulls: set[str],
    factorized: dict[str, Factorized] | None = None,
) -> tuple[pd.Series, np.ndarray]:
    """The source's id columns (stripped text) joined with ``|`` ('' where one of them is
    empty or a null value) and the mask of those empty ids, in one pass of Arrow kernels.
    A column in ``factorized`` is stripped and checked on its distinct texts only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts, empty = [], np.zeros(len(raw), dtype=bool)
    null_set = pa.array(sorted(nulls), pa.string())
    for c in columns:
        coded = factorized.get(c) if factorized is not None else None
        if coded is not None:
            text = pa.array(coded[1], pa.string())
        else:
            text = pa.array(raw[c].astype(str), from_pandas=True)  # NaN -> null, like astype(str)
            if isinstance(text, pa.ChunkedArray):
                text = text.combine_chunks()
        text = pc.utf8_trim_whitespace(text.cast(pa.string()))
        is_empty = np.asarray(
            pc.fill_null(pc.is_in(text, value_set=null_set), False).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        if coded is not None:  # spread the distinct values' results back to the rows
            text = text.take(pa.array(coded[0]))
            is_empty = is_empty[coded[0]]
        empty |= is_empty
        parts.append(text)
    joined = pc.binary_join_element_wise(*parts, "|") if len(parts) > 1 else parts[0]
    # the usual chunk has no empty id: spare copying every id once more
    rid = pc.if_else(pa.array(empty), "", joined) if empty.any() else joined
    return pd.Series(rid, index=raw.index, dtype="str"), empty


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
    rows: np.ndarray | None = None,
    occurrences: Counter[str] | None = None,
    city_area: Area | None = None,
    plain_text: bool = False,
    with_hash: bool = True,
    memo: dict[Any, Any] | None = None,
    factorized: dict[str, Factorized] | None = None,
    admin_codes: frozenset[str] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Map one all-text chunk onto the canonical table (pure).

    Returns the canonical candidates (all rows, with helper columns ``_row`` (1-based data
    row number: ``rows``, or counted from ``first_row``), ``_hash`` (64-bit hash of the
    sanitized raw row) and ``_original`` (its stored form, :func:`stored_json`, filled
    only for rows already rejected here, to save memory)) and a Series of the first
    reason per row ('' = no problem found yet).
    ``occurrences`` carries identical-row counts across chunks for content-hash ids;
    ``city_area`` (the city's configured area) rejects located rows outside it;
    ``plain_text`` (the reader found no NUL byte and no over-long value) skips that check.
    ``with_hash=False`` leaves ``_hash`` out: the caller hashes the few rows whose id
    repeats later (:func:`row_hashes`), which spares hashing every row. ``memo`` (one
    dict per file, shared by its chunks) keeps parsed times from chunk to chunk.
    ``factorized`` (:attr:`RawChunk.factorized`) spares factorizing those columns again.
    A phone or ID number in an id or text column (:func:`personal_text_columns`) is
    ``personal_data:<column>``; with ``admin_codes`` (the admin units' codes, for the
    tables in :data:`ADMIN_CODE_TABLES`) an ``admin_code`` not among them is
    ``unknown_admin_code`` (a known code is never taken for personal data).
    """
    table = TABLES[mapping.table]
    raw = raw.reset_index(drop=True)
    raw.columns = [str(c) for c in raw.columns]
    clean = sanitize_raw(mapping, raw, pseudonym_key)
    out = pd.DataFrame(index=raw.index)
    if rows is None:
        rows = np.arange(first_row, first_row + len(raw), dtype="int64")
    out["_row"] = np.asarray(rows, dtype="int64")
    # 64-bit content hash (deterministic) for duplicate detection within the batch; the
    # sha1 ids of id-less sources are computed below only where needed
    if with_hash:
        out["_hash"] = content_hash(clean, _id_columns(mapping))
    reason_arr = np.full(len(raw), "", dtype=object)
    has = np.zeros(len(raw), dtype=bool)  # reason_arr != ''

    missing = [c for c in mapping.source_columns if c not in raw.columns]
    missing += [c for cols in mapping.pseudonymise.values() for c in cols if c not in raw.columns]
    if missing:
        out["source"] = mapping.name
        out["record_id"] = ""
        out["_original"] = stored_json(mapping, clean)
        every = np.ones(len(raw), dtype=bool)
        why = np.full(len(raw), f"missing_column:{missing[0]}", dtype=object)
        return out, reason_codes(why, every, raw.index)

    def flag(mask: pd.Series | np.ndarray, code: str) -> None:
        m = np.asarray(pd.Series(mask).fillna(False), dtype=bool) & ~has
        if m.any():
            reason_arr[m] = code
            has[m] = True

    if not plain_text:
        _check_text(mapping, raw, flag)
    _check_personal(mapping, raw, flag, admin_codes, factorized)
    out["source"] = mapping.name
    if mapping.id:
        rid, empty = _record_ids(
            raw, mapping.id.columns, set(mapping.null_values) | {""}, factorized
        )
        bad_id = _bad_ids(rid, empty, mapping.id_format)
        # a value that is not an id is never kept, not even on a quarantined row; its
        # reason is given last, so a row's other problems (a time in the id that is no
        # time) keep their own reasons, and its id is masked whatever the reason
        out["record_id"] = rid.where(~bad_id, "") if bad_id.any() else rid
        flag(empty, "missing_id")
    else:
        bad_id = np.zeros(len(raw), dtype=bool)
        sha = row_sha1(clean)
        seen = occurrences if occurrences is not None else Counter()
        occ = sha.groupby(sha).cumcount() + 1 + sha.map(lambda h: seen.get(h, 0))
        seen.update(sha.tolist())
        out["record_id"] = sha + "#" + occ.astype(str)

    for name, rule in mapping.columns.items():
        values, why, why_has = _apply_rule(mapping, name, rule, raw, table, memo, factorized)
        out[name] = values
        w = why_has & ~has
        if w.any():
            reason_arr[w] = why[w]
            has[w] = True
    for name, cols in mapping.pseudonymise.items():
        out[name] = _join_nonempty(clean, cols)
    if "admin_code" in out:
        # a code Excel turned into a number (3.40825E+8): its digits are lost
        flag(_scientific(out["admin_code"]), "scientific_notation:admin_code")
    if admin_codes is not None and table.name in ADMIN_CODE_TABLES and "admin_code" in out:
        code = out["admin_code"]
        known = code.isin(admin_codes).to_numpy(dtype=bool)
        flag(code.notna().to_numpy(dtype=bool) & ~known, "unknown_admin_code")

    if mapping.x and mapping.y:
        _map_xy(mapping, raw, out, flag)
    if "lon" in out.columns and "lat" in out.columns:
        _check_area(mapping, out, flag)
        if city_area is not None:
            both = out["lon"].notna() & out["lat"].notna()
            flag(both & ~city_area.contains(out["lon"], out["lat"]), "outside_city_area")

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
    if table.name == "incidents":  # not hazard_events: a call about a moving slope
        # may come before it fails (36 Hong Kong landslides: docs/ingestion.md)
        flag(reported_before_occurred(out, mapping.timezone), "reported_before_occurred")
    if mapping.value_range is not None and "value" in table.columns:
        _check_range(out["value"], *mapping.value_range, pd.Series(True, index=out.index), flag)
    for quantity, (lo, hi) in mapping.value_ranges.items():
        _check_range(out["value"], lo, hi, out["quantity"] == quantity, flag)
    flag(bad_id, "bad_record_id")
    out = out.drop(columns=[c for c in ("_swap_lon", "_swap_lat") if c in out.columns])
    reason = reason_codes(reason_arr, has, raw.index)
    bad = pd.Series(has, index=raw.index)
    out["_original"] = pd.Series(None, index=out.index, dtype=object)
    if bad.any():
        kept = clean[bad]
        if bad_id.any() and mapping.id is not None:  # whatever the row's first reason
            masked = bad_id[has]
            kept = kept.assign(
                **{
                    c: kept[c].astype(object).where(~masked, PERSONAL_MASK)
                    for c in mapping.id.columns
                    if c in kept.columns
                }
            )
        out.loc[bad, "_original"] = stored_json(mapping, kept)
    return out, reason


def _bad_ids(rid: pd.Series, empty: np.ndarray, fmt: str | None) -> np.ndarray:
    """Mask of the non-empty record ids that do not match ``fmt`` (:attr:`IdSpec.format`)
    in full; none without a format. Arrow's RE2 over every id."""
    if fmt is None or not len(rid):
        return np.zeros(len(rid), dtype=bool)
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(rid, pa.string(), from_pandas=True)
    hit = pc.match_substring_regex(text, f"^(?:{fmt})$").to_numpy(zero_copy_only=False)
    return ~np.asarray(hit, dtype=bool) & ~empty


_SCIENTIFIC = r"^\s*[+-]?[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]+\s*$"


def _scientific(codes: pd.Series) -> np.ndarray:
    """Codes written in scientific notation (``3.40825E+8``, ``3.40825e+11``)."""
    if not codes.notna().any():
        return np.zeros(len(codes), dtype=bool)
    hit = codes.astype("str").str.match(_SCIENTIFIC)
    return hit.fillna(False).to_numpy(dtype=bool)


def _check_range(
    v: pd.Series, lo: float, hi: float, rows: pd.Series, flag: Callable[[pd.Series, str], None]
) -> None:
    """Values of ``rows`` outside ``[lo, hi]``: ``negative_value`` (below a range that
    starts at 0 or above), ``below_range``, ``absurd_value``."""
    rows = rows.fillna(False).astype(bool)
    flag(rows & (v < lo) & (v < 0) & (lo >= 0), "negative_value")
    flag(rows & (v < lo), "below_range")
    flag(rows & (v > hi), "absurd_value")


def reason_codes(reasons: np.ndarray, has: np.ndarray, index: pd.Index) -> pd.Series:
    """Per-row reasons as a categorical Series (integer codes; category ``""`` = no
    reason): ``reasons`` is read only where ``has`` is set, so the usual all-clean chunk
    costs no string work, and later stages test "has a reason" on the codes."""
    codes = np.zeros(len(has), dtype=np.int32)
    cats: list[str] = [""]
    if has.any():
        sub, uniq = pd.factorize(reasons[has])
        cats += [str(u) for u in uniq]
        codes[has] = sub + 1
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=index)


def row_hashes(mapping: SourceMapping, raw: pd.DataFrame, pseudonym_key: str) -> np.ndarray:
    """The ``_hash`` :func:`map_chunk` gives these raw rows (64-bit content hash of the
    sanitized row), for rows whose hash was left out (``with_hash=False``)."""
    raw = raw.reset_index(drop=True)
    raw.columns = [str(c) for c in raw.columns]
    return content_hash(sanitize_raw(mapping, raw, pseudonym_key), _id_columns(mapping))


def _id_columns(mapping: SourceMapping) -> list[str]:
    """The raw columns the record id is built from (stripped there: :func:`_record_ids`)."""
    return list(mapping.id.columns) if mapping.id is not None else []


# tables whose admin_code must be the code of a known admin unit (the lake's admin_units)
# when the lake holds any: every table with an admin_code (a dispute, an incident, a
# hazard site is placed in its community or township through it, and a code typed wrong,
# mangled by Excel, or a name and phone number typed into it would be stored as a place)
ADMIN_CODE_TABLES = frozenset(n for n, t in TABLES.items() if "admin_code" in t.columns)


# the official code lists (the civil affairs bureau's admin units, the city's grid): their
# ids and the codes they refer to are codes by definition (15-digit grid or village codes
# may have the shape of an old ID number), not checked for personal data
CODE_LIST_FIELDS = {"admin_units": ("parent_id",), "grid_cells": ("admin_id",)}


def personal_text_columns(mapping: SourceMapping) -> list[str]:
    """The source columns checked for phone and ID numbers at ingest: the id columns and
    the columns read into text fields (category, admin code, name, ...), minus those
    pseudonymised or dropped, those read into a geometry (WKT), the ids and codes of
    the official code lists (:data:`CODE_LIST_FIELDS`), and minus id columns also read into a number or time field
    (a reading's time: a phone number there is no time and is quarantined anyway)."""
    table = TABLES[mapping.table]
    text: list[str] = []
    other: set[str] = set()
    codes = CODE_LIST_FIELDS.get(table.name, ())
    for name, rule in mapping.columns.items():
        cols = rule.sources + rule.template_columns
        if name in codes:
            other.update(cols)
        elif table.field(name).dtype == "str":
            text += cols
        else:
            other.update(cols)
    ids = [c for c in (mapping.id.columns if mapping.id else []) if c not in other]
    if codes:  # an official code list: its ids are the codes
        ids = []
    skip = {c for cols in mapping.pseudonymise.values() for c in cols} | set(mapping.drop)
    skip |= geometry_columns(mapping)
    return [c for c in dict.fromkeys(ids + text) if c not in skip]


def _check_personal(
    mapping: SourceMapping,
    raw: pd.DataFrame,
    flag: Callable[[pd.Series, str], None],
    admin_codes: frozenset[str] | None,
    factorized: dict[str, Factorized] | None,
) -> None:
    """Rows with a phone or ID number (:func:`~riskwarn.ingest.raw_rows.personal_values`)
    in one of :func:`personal_text_columns`: ``personal_data:<column>``. A value of the
    admin code's column that is a known admin code is not looked at."""
    admin_rule = mapping.columns.get("admin_code")
    admin_cols = set(admin_rule.sources) if admin_rule is not None else set()
    for col in personal_text_columns(mapping):
        if col not in raw.columns:
            continue
        coded = factorized.get(col) if factorized is not None else None
        if coded is not None:  # the reader's distinct texts: look at those only
            codes, uniq = coded
            hit_uniq = personal_values(pd.Series(uniq, dtype=object))
            if admin_codes and col in admin_cols:
                hit_uniq &= ~pd.Series(uniq, dtype=object).astype(str).str.strip().isin(
                    admin_codes
                ).to_numpy(dtype=bool)
            at = np.asarray(codes)
            hit = np.zeros(len(at), dtype=bool)
            hit[at >= 0] = hit_uniq[at[at >= 0]]
        else:
            values = raw[col]
            hit = personal_values(values)
            if admin_codes and col in admin_cols and hit.any():
                hit &= ~values.astype(str).str.strip().isin(admin_codes).to_numpy(dtype=bool)
        flag(hit, f"personal_data:{col}")


def _check_text(
    mapping: SourceMapping, raw: pd.DataFrame, flag: Callable[[pd.Series, str], None]
) -> None:
    """NUL bytes and values over ``limits.max_field_chars`` in the columns that are read
    or kept (:func:`allowed_columns`); unmapped columns are never stored."""
    import pyarrow as pa
    import pyarrow.compute as pc

    limit = mapping.limits.max_field_chars
    for col in [c for c in raw.columns if c in allowed_columns(mapping)]:
        text = pa.array(raw[col], type=pa.string(), from_pandas=True)
        nul = pc.match_substring(text, "\x00").to_numpy(zero_copy_only=False)
        flag(np.asarray(nul, dtype=bool), f"nul_byte:{col}")
        long = pc.greater(pc.utf8_length(text), limit).to_numpy(zero_copy_only=False)
        flag(np.asarray(long, dtype=bool), f"field_too_long:{col}")
