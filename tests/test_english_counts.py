"""English sentences say "1 event", not "1 events" (a reader saw "1 events in this cell")."""

from __future__ import annotations

import pytest

from features.catalog import describe, fill_template
from riskwarn.reasons import count_evidence_reason


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (1, "1 event in this cell in the last 7 days"),
        (1.0, "1 event in this cell in the last 7 days"),
        (2, "2 events in this cell in the last 7 days"),
        (0.1, "0.1 events in this cell in the last 7 days"),
        (21, "21 events in this cell in the last 7 days"),
        (0, "0 events in this cell in the last 7 days"),
    ],
)
def test_a_count_of_one_is_singular(value: float, words: str) -> None:
    assert describe("count_7d", value, "en") == words


def test_every_noun_and_only_exact_ones() -> None:
    assert fill_template("{value:g} days and 1 times", "en", value=1) == "1 day and 1 time"
    assert fill_template("{value:.3f} events per day", "en", value=1) == "1.000 events per day"
    assert fill_template("{value:,d} events", "en", value=1001) == "1,001 events"
    assert fill_template("{value:g} events", "zh", value=1) == "1 events"  # not English


def test_count_evidence_reason() -> None:
    one = count_evidence_reason(1, 3)
    assert one is not None
    assert one["en"] == "1 event in this cell in the last 7 days, 3 in the last 28 days."
    two = count_evidence_reason(2, None)
    assert two is not None and two["en"].startswith("2 events in this cell")
