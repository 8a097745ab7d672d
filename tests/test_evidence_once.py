"""Each evidence value is shown once on the warning page (review r92 S1: "0.0 mm of rain
in the last 24 hours" beside a value column repeating "0.0")."""

from __future__ import annotations

import pytest

from dashboard import review


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_evidence_rows_show_each_value_once(lang):
    facts = {"rain_24h_mm": 37.8, "rain_3d_mm": 72.0, "events_last_7d": 9, "weird_key": 1.5}
    rows = dict(review.evidence_fact_rows(facts, lang))
    assert len(rows) == len(facts)
    for label, value in rows.items():
        shown = f"{label} {value}"
        for v in ("37.8", "72.0", "1.5"):
            assert shown.count(v) <= 1, (label, value)
    # a key with its own words keeps its value column; a catalogued sentence has none
    word = review.evidence_word("rain_24h_mm", lang)
    assert rows[word] == "37.8"
    sentence = next(lbl for lbl in rows if "72.0" in lbl)
    assert rows[sentence] == ""
    assert rows["weird_key"] == "1.5"
