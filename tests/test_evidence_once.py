"""Each evidence value is shown once on the warning page (review r92 S1: "0.0 mm of rain
in the last 24 hours" beside a value column repeating "0.0"), and in the value column
(review 2026-12-06: "72.0 mm of rain in the last 3 days" left the Value cell empty, at
every width; now "… mm of rain in the last 3 days" | "72.0")."""

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
    sentence = {"en": "… mm of rain in the last 3 days", "zh": "近 3 天降雨 … 毫米"}[lang]
    assert rows[sentence] == "72.0"  # the value in the value column, not in the label
    assert all(value != "" for value in rows.values()), rows
    assert rows["weird_key"] == "1.5"


@pytest.mark.parametrize(
    ("lang", "label", "value"),
    [("en", "about … yuan in dispute", "20,000"), ("zh", "涉及金额约 …元", "2万")],
)
def test_a_catalogued_value_keeps_the_sentences_own_format(lang, label, value):
    assert review.evidence_fact_rows({"log_amount_cny": 4.3}, lang) == [(label, value)]
