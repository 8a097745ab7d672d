"""A hotspot cell's or dispute case's warning carries evidence the panel can check
(reviewer's walk, 2026-12-06: the Evidence table had one row, "Model: ... version 1").

Built at scoring from the frame the model scored (riskwarn.evidence): a cell's events
week by week and by category before the origin, a case's facts, the model's top inputs.
"""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import review, views
from riskwarn.evidence import unit_evidence
from riskwarn.scoring import score_domain
from tests.test_scoring import ORIGIN, registry, scored_home  # noqa: F401 - fixtures


def test_a_scored_cell_warning_shows_its_weeks_as_the_model_saw_them(scored_home) -> None:  # noqa: F811
    settings, store, frame = scored_home
    score_domain(settings, "incidents", ORIGIN, store=store)
    w = store.warnings(domain="incidents")
    assert len(w) > 0
    seen = frame.set_index("unit_id")
    for row in w.itertuples():
        ev, cell = row.evidence, seen.loc[row.unit_id]
        assert ev["model"].startswith("riskwarn-incidents v")
        weeks = [r["events"] for r in ev["events_before"]]
        # 1-7, 8-28, 29-91 days before the origin: the frame's counts, differenced
        expected = [cell["count_7d"], cell["count_28d"] - cell["count_7d"]]
        expected.append(cell["count_91d"] - cell["count_28d"])
        assert weeks == [pytest.approx(float(x)) for x in expected], (weeks, expected)
        assert sum(weeks) == pytest.approx(float(cell["count_91d"]))
        assert ev["events_before"][1]["period"] == {
            "en": "8–28 days before",
            "zh": "此前第 8–28 天",
        }
    store.close()


def _cell_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit_id": ["c1"],
            "count_7d": [3.0],
            "count_14d": [5.0],
            "count_28d": [9.0],
            "count_theft_28d": [6.0],
            "count_fight_28d": [0.0],
            "count_fraud_7d": [2.0],
            "decayed_count_hl14d": [17.2],
        }
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_cell_evidence_reads_as_tables_in_words(lang: str) -> None:
    factors = {"c1": [{"feature": "decayed_count_hl14d", "value": 17.2, "contribution": 0.4}]}
    ev = unit_evidence("cell", _cell_frame(), factors)["c1"]
    assert [r["events"] for r in ev["events_before"]] == [3, 2, 4]
    assert ev["events_by_category_28d"] == [{"category": "theft", "events": 6}]
    _facts, tables = views.evidence_frames({"model": "riskwarn-incidents v1", **ev})
    assert set(tables) == {"events_before", "events_by_category_28d", "top_inputs"}
    weeks = review.evidence_table(tables["events_before"], lang)
    period = {"en": "1–7 days before", "zh": "此前第 1–7 天"}[lang]
    assert weeks.iloc[0].tolist() == [period, "3"]
    inputs = review.evidence_table(tables["top_inputs"], lang)
    assert inputs.iloc[0, 1] == "17.2"
    # the catalogue's label, its value in the value column (was the sentence with a gap)
    assert inputs.iloc[0, 0] == {
        "en": "Recent events in this cell, weighted by age (half-life 14 days)",
        "zh": "本网格近期事件按时间衰减加权数（半衰期 14 天）",
    }[lang]
    assert review.evidence_word("top_inputs", lang) != "top_inputs"


def test_case_evidence_holds_its_facts_and_no_personal_field() -> None:
    frame = pd.DataFrame(
        {
            "unit_id": ["D-1"],
            "age_days": [40.0],
            "n_mediations": [6.0],
            "n_failed_mediations": [2.0],
            "n_parties": [2.0],
            "party_prior_disputes": [13.0],
            "party_prior_escalations": [4.0],
            "nearby_disputes_30d": [3.0],
            "nearby_escalations_30d": [1.0],
            "category_neighbour": [1.0],
            "category_debt": [0.0],
            "log_amount_cny": [9.9],
        }
    )
    ev = unit_evidence("case", frame)["D-1"]
    assert ev["category"] == "neighbour"
    assert ev["party_prior_disputes"] == 13 and ev["n_mediations"] == 6
    assert ev["party_prior_escalations"] == 4 and ev["age_days"] == 40
    assert "log_amount_cny" not in ev and "top_inputs" not in ev
    rows = dict(review.evidence_fact_rows(ev, "zh"))
    assert rows["纠纷类别"] == "邻里"
    assert "13" in rows.values()
