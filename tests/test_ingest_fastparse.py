"""The Arrow/NumPy shortcuts for numbers and times of CSV text (riskwarn.ingest.fastparse)
give exactly what pandas gives on every value they take, and leave the rest to pandas.
The whole-file comparison (old path vs new, lake included, with bad rows) is in
tests/test_ingest_arrow_csv.py."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from riskwarn.ingest.fastparse import fixed_width_times, plain_numbers

TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def _text(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype=TEXT)


def _plain(rnd: random.Random) -> str:
    whole = str(rnd.randrange(10 ** rnd.randrange(1, 9)))
    sign = "-" if rnd.random() < 0.3 else ""
    if rnd.random() < 0.3:
        return sign + whole
    frac = "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(1, 16 - len(whole))))
    return f"{sign}{whole}.{frac}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plain_numbers_equal_pandas(seed: int) -> None:
    rnd = random.Random(seed)
    values: list[str | None] = [_plain(rnd) for _ in range(100_000)]
    values += ["0", "-0", "-0.0", "0.000", "007", "116.915793", "30.1", "999999999999999"]
    values += ["0.1", "0.2", "0.3", "1.005", "2.675", "9007199254740.99", "123456789.012345"]
    for with_null in (False, True):
        text = _text(values + ([None] if with_null else []))
        fast = plain_numbers(text)
        assert fast is not None
        slow = pd.to_numeric(text, errors="coerce")
        pd.testing.assert_series_equal(fast, slow, check_exact=True)
        a, b = fast.to_numpy(dtype=float), slow.to_numpy(dtype=float)
        assert (np.signbit(a) == np.signbit(b)).all()  # -0 stays -0


def test_whole_numbers_stay_integers_as_in_pandas() -> None:
    for values in (["1", "-2", "007"], ["1", None], ["1", "2.0"]):
        text = _text(values)
        fast = plain_numbers(text)
        assert fast is not None
        pd.testing.assert_series_equal(fast, pd.to_numeric(text, errors="coerce"))


@pytest.mark.parametrize(
    "odd",
    [
        "+1",
        "1.",
        ".5",
        "1e5",
        "inf",
        "nan",
        "0x1E",
        " 1",
        "1 ",
        "",
        "１２",
        "1,5",
        "--1",
        "1.2.3",
        "-",
        "1-2",
        "1..2",
        "-.5",
        "5-",
        "1/2",
        "1.2.",
        "-1.",
        "1234567890123456",  # 16 digits
        "0.1234567890123456",
    ],
)
def test_other_numbers_are_left_to_pandas(odd: str) -> None:
    assert plain_numbers(_text(["1.5", odd, "2"])) is None


def test_not_arrow_text_is_left_to_pandas() -> None:
    assert plain_numbers(pd.Series(["1", "2"], dtype=object)) is None
    assert plain_numbers(_text([])) is None
    assert plain_numbers(_text([None, None])) is None


FMT = "%Y-%m-%d %H:%M:%S"


def _check_times(values: list[str | None], fmt: str = FMT) -> np.ndarray:
    """Rows done by the shortcut equal pandas'; returns the mask of rows done."""
    text = _text(values)
    present = text.notna().to_numpy()
    fast = fixed_width_times(text, present, fmt)
    assert fast is not None
    done = ~np.isnat(fast)
    slow = pd.to_datetime(text[done].astype(object), format=fmt, errors="coerce")
    assert slow.notna().all()
    assert (slow.to_numpy(dtype="datetime64[ns]") == fast[done]).all()
    return done


def test_fixed_width_times_equal_pandas_over_the_range() -> None:
    rnd = random.Random(5)
    start = datetime(1678, 1, 1)
    span = int((datetime(2261, 12, 31, 23, 59, 59) - start).total_seconds())
    values = [
        (start + timedelta(seconds=rnd.randrange(span))).strftime(FMT) for _ in range(100_000)
    ]
    values += ["2024-02-29 00:00:00", "2000-02-29 23:59:59", "1678-01-01 00:00:00"]
    values += ["2261-12-31 23:59:59", "1970-01-01 00:00:00", "1969-12-31 23:59:59"]
    done = _check_times(values)
    assert done.all()


@pytest.mark.parametrize(
    "odd",
    [
        "2023-02-29 00:00:00",  # not a leap year
        "1900-02-29 00:00:00",
        "2023-04-31 00:00:00",
        "2023-00-10 00:00:00",
        "2023-13-10 00:00:00",
        "2023-01-00 00:00:00",
        "2023-01-01 24:00:00",
        "2023-01-01 23:60:00",
        "2023-01-01 23:59:60",
        "1677-12-31 23:59:59",  # outside the years taken
        "2262-01-01 00:00:00",
        "1500-01-01 00:00:00",
        "2023-1-01 00:00:000",  # right width, wrong shape
        " 2023-01-01 00:00:00",
        "2023-01-01 00:00:00 ",
        "2023-01-01T00:00:00",
        "2023/01/01 00:00:00",
        "２０２３-01-01 00:00:00",
        "2023-01-01 00:00",
        "2023-01-01",
        "",
        "2023-01-01 0a:00:00",
        "2023-01-01 0/:00:00",  # a byte just below '0'
        "2023-01-01 0::00:00",  # a byte just above '9'
    ],
)
def test_other_times_are_left_to_pandas(odd: str) -> None:
    done = _check_times(["2023-05-06 07:08:09", odd, None, "2023-05-06 07:08:10"])
    assert done.tolist() == [True, False, False, True]


def test_rows_not_present_are_not_done() -> None:
    text = _text(["2023-05-06 07:08:09", "2023-05-06 07:08:10"])
    out = fixed_width_times(text, np.array([True, False]), FMT)
    assert out is not None and (~np.isnat(out)).tolist() == [True, False]


@pytest.mark.parametrize("fmt", ["%d/%m/%Y %H:%M", "%Y%m%d", "%Y-%m-%d", "%m.%d.%Y_%H"])
def test_other_fixed_width_formats(fmt: str) -> None:
    rnd = random.Random(7)
    start = datetime(1990, 1, 1)
    values = [
        (start + timedelta(minutes=rnd.randrange(30_000_000))).strftime(fmt) for _ in range(5_000)
    ]
    assert _check_times([*values, "99/99/9999 99:99", None], fmt)[: len(values)].all()


@pytest.mark.parametrize(
    "fmt", ["%Y-%m-%d %H:%M:%S.%f", "%d %b %Y", "%y-%m-%d", "%Y-%m", "%Y年%m月%d日"]
)
def test_formats_not_taken(fmt: str) -> None:
    assert fixed_width_times(_text(["x"]), np.array([True]), fmt) is None


def test_not_arrow_text_is_not_taken() -> None:
    assert fixed_width_times(pd.Series(["x"], dtype=object), np.array([True]), FMT) is None
