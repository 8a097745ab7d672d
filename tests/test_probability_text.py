"""Small probabilities read the same in a warning's reasons (en, zh) as in its header
(review r92 D5b: "Model probability 0%" beside a header of "0.2%")."""

from __future__ import annotations

import pytest

from dashboard.i18n import fmt_pct
from riskwarn import warnings as rw


@pytest.mark.parametrize("p", [0.0012, 0.0087, 0.002, 0.61])
def test_probability_reason_uses_the_header_rule(p):
    header = fmt_pct(p, "en")
    reason = rw.probability_reason(p, 24.0, 2)
    assert f"Model probability {header} over" in reason["en"]
    assert f"的概率为 {header}（" in reason["zh"]
    assert "概率为 0%" not in reason["zh"] and "probability 0% " not in reason["en"]


def test_stream_model_reason_uses_the_header_rule():
    import pandas as pd

    from riskwarn.stream.model import ModelScore, model_reason

    score = ModelScore(0.0012, 2, [], pd.Timestamp("2023-07-01T12:00Z"), "m v1")
    r = model_reason(score, 0, 24.0)
    assert "failure probability 0.1% over" in r["en"]
    assert "失稳概率 0.1%（" in r["zh"]
