"""Every escalation of the case backtest is counted (review of 2026-12-06, revB).

A case opened and escalated between two weekly origins has no row at any origin: the
row metrics (AP, AUC) of ``models.case_models.evaluate_case_methods`` never saw it (17 of
222 escalations on the simulated city, seed 7). Now the report says how many escalations
no row scored ("escalations never scored: N of M") and the event measure (escalated cases
flagged in the top 10 % / 20 % of open cases at an origin before the escalation) counts
them as misses for every method, as the hotspot backtest counts events outside the scored
area.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import model_plots, verdicts
from features.disputes import DisputeCaseParams, build_dispute_case_features
from models.case_models import (
    _flag_probability,
    case_model_card,
    escalations_in_window,
    evaluate_case_methods,
    first_escalations,
    gate_counts,
)
from models.gate import gate

T = pd.Timestamp
ORIGINS = pd.DatetimeIndex([T("2025-01-06", tz="UTC") + pd.Timedelta(days=7 * i) for i in range(4)])

DISPUTES = pd.DataFrame(
    {
        "record_id": ["A", "B", "C", "D", "E"],
        "opened_at": pd.to_datetime(
            [
                "2025-01-01 00:00",  # A: open at the first two origins, escalates on 01-15
                "2025-01-07 12:00",  # B: opened and escalated between 01-06 and 01-13
                "2025-01-01",  # C, D, E: never escalate
                "2025-01-02",
                "2025-01-03",
            ],
            utc=True,
            format="ISO8601",
        ),
        "category": ["neighbour"] * 5,
        "cell_x": [1, 2, 3, 4, 5],
        "cell_y": [1, 1, 1, 1, 1],
    }
)
EVENTS = pd.DataFrame(
    {
        "dispute_id": ["A", "B", "C"],
        "event_at": pd.to_datetime(["2025-01-15", "2025-01-09", "2025-01-20"], utc=True),
        "event_type": ["escalated_petition", "escalated_violence", "mediation_failed"],
    }
)


def _rows() -> pd.DataFrame:
    """The case x origin rows the feature builder makes of the tiny city."""
    table = build_dispute_case_features(DISPUTES, EVENTS, ORIGINS, DisputeCaseParams(tz="UTC"))
    return table[["origin", "dispute_id", "label_escalation"]].rename(
        columns={"label_escalation": "label"}
    )


def _scores() -> pd.DataFrame:
    """The model ranks case A first at every origin, the rule ranks it last."""
    rows = _rows()
    model = np.where(rows["dispute_id"] == "A", 0.9, 0.1)
    rule = np.where(rows["dispute_id"] == "A", 0.0, 1.0)
    return pd.concat(
        [
            rows.assign(method="xgboost", score=model),
            rows.assign(method="failed_mediations", score=rule),
        ],
        ignore_index=True,
    )


def _metrics() -> dict:
    window = escalations_in_window(first_escalations(DISPUTES, EVENTS), ORIGINS, 7)
    return evaluate_case_methods(_scores(), n_boot=20, escalations=window)


def test_the_case_opened_and_escalated_between_origins_has_no_row() -> None:
    rows = _rows()
    assert "B" not in set(rows["dispute_id"])
    assert set(rows.loc[rows["label"] == 1, "dispute_id"]) == {"A"}
    window = escalations_in_window(first_escalations(DISPUTES, EVENTS), ORIGINS, 7)
    assert sorted(window["dispute_id"]) == ["A", "B"]


def test_the_report_counts_the_escalation_no_row_scored() -> None:
    m = _metrics()
    assert (m["escalations"], m["escalations_never_scored"]) == (2, 1)
    # the row metrics are as they were: over rows, B in none of them
    assert m["methods"]["xgboost"]["average_precision"] == pytest.approx(1.0)


def test_recall_counts_it_as_a_miss_for_every_method_and_a_scored_case_as_found() -> None:
    x, rule = _metrics()["methods"]["xgboost"], _metrics()["methods"]["failed_mediations"]
    # 4 open cases at 01-06 and 01-13 (A, C, D, E): top 10 % is 1 case, top 20 % is 1
    # the model flagged A (scored before its escalation): found; B: missed
    assert x["escalations_flagged@0.1"] == pytest.approx(1.0)
    assert x["escalation_recall@0.1"] == pytest.approx(0.5)
    # the rule ranked A last: found by neither origin; B: missed as well
    assert rule["escalations_flagged@0.1"] == pytest.approx(0.0)
    assert rule["escalation_recall@0.2"] == pytest.approx(0.0)


def test_ties_at_the_cut_count_their_expected_share() -> None:
    p = _flag_probability(np.array([0.9, 0.5, 0.5, 0.5, 0.1]), 2)
    assert p == pytest.approx([1.0, 1 / 3, 1 / 3, 1 / 3, 0.0])


def test_gate_card_and_dashboard_say_the_count() -> None:
    m = _metrics()
    comps = {b: {**c, **gate_counts(m, b)} for b, c in m["model_minus_baseline"].items()}
    g = gate(comps, 0.0)
    detail = next(c["detail"] for c in g.checks if c["check"] == "beats failed_mediations")
    assert "1 of 2 escalations never scored" in detail
    assert "model 1, failed_mediations 0 of 2" in detail
    card = case_model_card("dispute_cases", m, g, ["n_failed_mediations"])
    assert "escalations never scored: 1 of 2" in card
    assert "AP (rows)" in card and "| xgboost |" in card and "1/2 (0.50)" in card
    zh = model_plots.card_markdown("dispute_cases", "3", m, {}, None, g.record())
    assert zh is not None
    assert "从未评分的升级案件 1 件（共 2 件" in zh and "平均精确率（按样本）" in zh
    assert "1/2（0.50）" in zh
    champion = {"version": "3", "gate_tag": g.status, "params": {"eval_origins": "4"}}
    v = verdicts.verdict("dispute_cases", champion, g.record(), m, None)
    en = "\n".join(verdicts.verdict_lines(v, "en", "UTC"))
    zh_lines = "\n".join(verdicts.verdict_lines(v, "zh", "UTC"))
    assert "escalations never scored: 1 of 2" in en
    assert "升级案件 2 件，其中 1 件从未评分" in zh_lines
