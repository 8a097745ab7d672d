"""Each evidence value is shown once on the warning page (review r92 S1: "0.0 mm of rain
in the last 24 hours" beside a value column repeating "0.0"), and in the value column
(review 2026-12-06: "72.0 mm of rain in the last 3 days" left the Value cell empty, at
every width; then "… mm of rain in the last 3 days" | "72.0", a sentence with a gap; now the
catalogue's label, "Rain, last 3 days (mm)" | "72.0", review 2026-12-06: "已调解 … 次 | 6")."""

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
    # a key with its own words keeps its value column; a catalogued feature its label
    word = review.evidence_word("rain_24h_mm", lang)
    assert rows[word] == "37.8"
    label = {"en": "Rain, last 3 days (mm)", "zh": "近 3 天降雨（毫米）"}[lang]
    assert rows[label] == "72.0"  # the value in the value column, not in the label
    assert not any("…" in label for label in rows), rows
    assert all(value != "" for value in rows.values()), rows
    assert rows["weird_key"] == "1.5"


@pytest.mark.parametrize(
    ("lang", "label", "value"),
    [("en", "Amount in dispute, about (yuan)", "20,000"), ("zh", "涉及金额约（元）", "2万")],
)
def test_a_catalogued_value_keeps_the_sentences_own_format(lang, label, value):
    assert review.evidence_fact_rows({"log_amount_cny": 4.3}, lang) == [(label, value)]


CASE = {  # a dispute case's facts as riskwarn.evidence stores them (the demo's case)
    "category": "neighbour",
    "age_days": 13.81,
    "days_since_last_mediation": 2.73,
    "n_mediations": 6,
    "n_failed_mediations": 2,
    "n_parties": 2,
    "nearby_disputes_30d": 46,
    "nearby_escalations_30d": 8,
    "party_prior_disputes": 15,
    "party_prior_escalations": 2,
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_case_fact_reads_as_a_label_beside_its_value(lang):
    """Review of 2026-12-06: "已调解 … 次 | 6", a sentence with a gap beside the value."""
    rows = dict(review.evidence_fact_rows(CASE, lang))
    assert len(rows) == len(CASE)
    assert not any("…" in label for label in rows), rows
    mediations = {"en": "Mediation attempts so far", "zh": "已调解次数"}[lang]
    assert rows[mediations] == "6"
    open_days = {"en": "Days the dispute has been open", "zh": "纠纷已立案天数"}[lang]
    assert rows[open_days] == "14"
    near = {
        "en": "Disputes opened in this or neighbouring cells, last 30 days",
        "zh": "近 30 天本网格及相邻网格新增纠纷数",
    }[lang]
    assert rows[near] == "46"
    assert all(value for value in rows.values()), rows


def test_every_catalogued_feature_has_a_label_in_both_languages():
    """A top input or fact of any model reads as a label beside its value (a feature
    without a label would fall back to its whole sentence)."""
    from features import derived
    from features.catalog import FEATURES, describe_parts

    for name, info in FEATURES.items():
        if "{" in name:
            continue  # a pattern: its concrete names are listed too
        for lang in ("en", "zh"):
            assert info.label_for(lang), (name, lang)
            label, value = describe_parts(name, 1.0, lang) or ("", "")
            assert label and value and "{" not in label and "…" not in label, (name, lang)
    assert all(d.info.label and d.info.label_zh for d in derived.DERIVED)
