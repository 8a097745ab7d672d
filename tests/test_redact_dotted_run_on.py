"""A dotted phone or ID number run on with another number (helper pii3, 2026-12-08).

The run-on search of 2026-12-07 (``redact._inner_spans``) took a part of a longer run
only when its groups were parted by one kind of separator other than a dot, and never
one attached to its neighbour by a dot ("a decimal's half"): ``room 5.138.0013.8000``
and ``138.0013.8000.5`` kept their phone number, ``5.110101.19900307.4514`` its ID
number. A run of three dots is no decimal: the part in a grouping people write with dots
(:data:`riskwarn.redact._DOTTED`) is found now. A run with a single dot is a decimal and
never a phone number (``1.3800138000`` was one). The second list is the ordinary numbers
(amounts, dates, case numbers, coordinates, versions, IPs) that must stay as they are."""

from __future__ import annotations

import pytest

from riskwarn.redact import personal_spans

FOUND = [
    ("room 5.138.0013.8000", "138.0013.8000", "phone"),
    ("房间5.138.0013.8000", "138.0013.8000", "phone"),
    ("138.0013.8000.5", "138.0013.8000", "phone"),
    ("5.138.0013.8000.6", "138.0013.8000", "phone"),
    ("0.138.0013.8000", "138.0013.8000", "phone"),
    ("5.110101.19900307.4514", "110101.19900307.4514", "id_number"),
    # found before too: kept in the list
    ("5 138.0013.8000", "138.0013.8000", "phone"),
    ("room 5 1380 013 8000", "1380 013 8000", "phone"),
    ("5-138-0013-8000", "138-0013-8000", "phone"),
    ("5 110101 19900307 4514", "110101 19900307 4514", "id_number"),
    ("2024-06-03 1380 013 8000", "1380 013 8000", "phone"),
]

ORDINARY = [
    "amount 1,380,013.80",
    "1.380.013.800",
    "12 138.50 0013",
    "2023.12.19 138",
    "case 2023 1380 0138",
    "13.80 0138 0000",
    "lat 30.1380 lon 116.0013",
    "116.39,39.90",
    "192.168.10.100",
    "10.138.0013.80",
    "version 5.138.0013",
    "1380 — 1390 — 120",
    "MD20231219 0001",
    "ratio 1.38.0013",
    "138.00 138.00",
    "price 138.0013",
    "3.1380013800",
    "1.3800138000",  # a decimal (a phone number's digits after '1.'): was one
    "5.13800138000",
    "13800138000.5",
    "13.8 0013 8000",
]


@pytest.mark.parametrize(("text", "number", "kind"), FOUND)
def test_a_dotted_number_run_on_with_another_is_found(text: str, number: str, kind: str) -> None:
    spans = personal_spans(text)
    assert [(text[s:e], k) for s, e, k in spans] == [(number, kind)]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_numbers_are_not_personal_data(text: str) -> None:
    assert personal_spans(text) == []
