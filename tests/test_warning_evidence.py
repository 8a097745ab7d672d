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
    ev = unit_evidence("cell", _cell_frame())["c1"]
    assert [r["events"] for r in ev["events_before"]] == [3, 2, 4]
    assert ev["events_by_category_28d"] == [{"category": "theft", "events": 6}]
    _facts, tables = views.evidence_frames({"model": "riskwarn-incidents v1", **ev})
    assert set(tables) == {"events_before", "events_by_category_28d"}
    weeks = review.evidence_table(tables["events_before"], lang)
    period = {"en": "1–7 days before", "zh": "此前第 1–7 天"}[lang]
    assert weeks.iloc[0].tolist() == [period, "3"]


# a dispute case's warning as scored on 2026-12-06 (tests/test_case_site_models.py's toy
# cases; the reviewer's demo case alike): the model's top inputs in its reason, among
# its facts, and again as a ``top_inputs`` table
CASE_REASONS = [
    {
        "en": "Model probability 84.7% over the next 30 days (level II orange).",
        "zh": "模型预测未来 30 天内的概率为 84.7%（橙色，II级）。",
    },
    {
        "en": "Higher risk mainly because: the dispute has been open 14 days; 46 disputes "
        "opened in this or neighbouring cells in the last 30 days; 3 days since the last "
        "mediation.",
        "zh": "风险偏高的主要原因：纠纷已立案 14 天；近 30 天本网格及相邻网格新增 46 起纠纷；"
        "距上次调解已 3 天。",
    },
]
CASE_FRAME = pd.DataFrame(
    {
        "unit_id": ["D-1"],
        "age_days": [13.81],
        "days_since_last_mediation": [2.73],
        "n_mediations": [4.0],
        "n_failed_mediations": [2.0],
        "n_parties": [2.0],
        "nearby_disputes_30d": [46.0],
        "nearby_escalations_30d": [8.0],
        "party_prior_disputes": [15.0],
        "party_prior_escalations": [2.0],
    }
)
STORED_TOP_INPUTS = [
    {
        "input": {"en": "the dispute has been open … days", "zh": "纠纷已立案 … 天"},
        "value": {"en": "14", "zh": "14"},
    },
    {
        "input": {
            "en": "… disputes opened in this or neighbouring cells in the last 30 days",
            "zh": "近 30 天本网格及相邻网格新增 … 起纠纷",
        },
        "value": {"en": "46", "zh": "46"},
    },
    {
        "input": {"en": "… days since the last mediation", "zh": "距上次调解已 … 天"},
        "value": {"en": "3", "zh": "3"},
    },
]


def _page_words(evidence: dict, lang: str) -> list[str]:
    """Every label of the warning page's Evidence section (facts and table cells)."""
    facts, tables = views.evidence_frames(evidence)
    words = [label for label, _ in review.evidence_fact_rows(facts, lang)]
    for frame in tables.values():
        shown = review.evidence_table(frame, lang)
        words += [str(v) for v in shown.to_numpy().ravel()]
    return words


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_case_shows_the_models_top_inputs_once(lang: str) -> None:
    """Review of 2026-12-06: a dispute case's page listed the model's top inputs in its
    reason, among its facts and again in a top-inputs table. Now the reason names them
    (why) and the facts table holds each once (what): no second table."""
    ev = {"model": "riskwarn-dispute_cases v1", **unit_evidence("case", CASE_FRAME)["D-1"]}
    assert "top_inputs" not in ev
    stored = {**ev, "top_inputs": STORED_TOP_INPUTS}  # a warning scored before the fix
    reason = views.warning_reason_lines({"reasons": CASE_REASONS, "evidence": stored}, lang)
    assert any(("mainly because" if lang == "en" else "主要原因") in r for r in reason)
    for evidence in (ev, stored):
        words = _page_words(evidence, lang)
        open_days = {"en": "Days the dispute has been open", "zh": "纠纷已立案天数"}[lang]
        assert words.count(open_days) == 1, words
        assert not any("…" in w for w in words), words
        near = {
            "en": "Disputes opened in this or neighbouring cells, last 30 days",
            "zh": "近 30 天本网格及相邻网格新增纠纷数",
        }[lang]
        assert words.count(near) == 1, words


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
