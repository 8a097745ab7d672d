"""The case model's CI resamples whole cases (review of 2026-12-06, F2).

A dispute stays open over several weekly origins and one escalation (30-day window) is
the label of several of its rows. ``models.case_models`` resampled origins: a case's
rows fell into different draws as if independent, and the CI the gate reads (``lo > 0``
to beat the failed-mediation rule) came out about 2.7 times too narrow on the simulated
city. Now every row of a case is drawn together (``case_bootstrap_diff``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.verdicts import check_words, comparisons, resampled_line
from models.case_models import case_bootstrap_diff, evaluate_case_methods
from models.gate import gate

N_CASES = 60


def _scores(n_origins: int, seed: int = 3) -> pd.DataFrame:
    """``N_CASES`` cases, each open (with the same scores and label) at ``n_origins``
    weekly origins: every origin repeats the same cases."""
    rng = np.random.default_rng(seed)
    y = (rng.random(N_CASES) < 0.35).astype(int)
    model = y + rng.normal(0, 0.8, N_CASES)
    rule = y + rng.normal(0, 1.2, N_CASES)
    origins = pd.date_range("2023-07-02T16:00Z", periods=n_origins, freq="7D")
    frames = [
        pd.DataFrame(
            {
                "origin": o,
                "dispute_id": [f"d{i:03d}" for i in range(N_CASES)],
                "method": method,
                "score": score,
                "label": y,
            }
        )
        for o in origins
        for method, score in (("xgboost", model), ("failed_mediations", rule))
    ]
    return pd.concat(frames, ignore_index=True)


def test_a_case_repeated_at_four_origins_gives_the_ci_of_the_case_alone() -> None:
    """Rows of one case are not new evidence: four origins repeating the same 60 cases give
    exactly the CI of one origin (same seed, the same cases drawn); the origin bootstrap
    gave a CI of zero width here (every draw held every case)."""
    one = evaluate_case_methods(_scores(1), n_boot=300)["model_minus_baseline"]
    four = evaluate_case_methods(_scores(4), n_boot=300)["model_minus_baseline"]
    lo, hi = four["failed_mediations"]["ci"]
    assert hi - lo > 0.05
    assert four["failed_mediations"]["ci"] == pytest.approx(one["failed_mediations"]["ci"])
    assert four["failed_mediations"]["diff"] == pytest.approx(one["failed_mediations"]["diff"])
    assert four["failed_mediations"]["resampled"] == "cases"
    assert four["failed_mediations"]["n_clusters"] == N_CASES


def test_the_draw_is_seeded_and_rejects_unpaired_rows() -> None:
    s = _scores(2)
    a, b = s[s["method"] == "xgboost"], s[s["method"] == "failed_mediations"]
    assert case_bootstrap_diff(a, b, n_boot=50, seed=7) == case_bootstrap_diff(
        a, b, n_boot=50, seed=7
    )
    with pytest.raises(ValueError, match="same rows"):
        case_bootstrap_diff(a, b.iloc[1:], n_boot=10)


def test_the_gate_and_the_dashboard_say_what_was_resampled() -> None:
    comp = {"diff": 0.077, "ci": [-0.01, 0.146], "resampled": "cases", "n_clusters": 507}
    res = gate({"failed_mediations": comp}, 0.01)
    (check,) = (c for c in res.checks if c["check"] == "beats failed_mediations")
    assert not check["ok"]
    assert check["detail"].endswith("(bootstrap over 507 cases)")
    assert (check["resampled"], check["n_clusters"]) == ("cases", 507)
    (c,) = comparisons({"checks": res.checks}, {})
    assert "507" in (resampled_line(c, "en") or "") and "whole cases" in (
        resampled_line(c, "en") or ""
    )
    assert "按案件整体重抽样" in (resampled_line(c, "zh") or "")
    assert "whole cases" in check_words(check, "en", "average_precision")
    assert "按案件整体重抽样" in check_words(check, "zh", "average_precision")
    # a comparison that does not say (hotspot windows, an old gate.json): no sentence
    old = gate({"failed_mediations": {"diff": 0.077, "ci": [0.05, 0.1]}}, 0.01)
    (c_old,) = comparisons({"checks": old.checks}, {})
    assert resampled_line(c_old, "en") is None
    assert "bootstrap over" not in old.checks[0]["detail"]


def test_the_champion_check_says_what_was_resampled() -> None:
    from dashboard.verdicts import champion_words
    from models.gate import ChampionComparison, champion_check

    c = ChampionComparison(
        version="3",
        trained_through="2023-09-01T00:00:00+00:00",
        recipe_same=False,
        n_origins=8,
        window_origins=16,
        n_events=40,
        diff=0.05,
        ci=[0.01, 0.09],
        resampled="cases",
        n_clusters=212,
    )
    check = champion_check(c)
    assert check["ok"] and "(bootstrap over 212 cases)" in check["detail"]
    assert "whole cases (212 cases" in (champion_words(check, "en", "UTC") or "")
    assert "按案件整体重抽样" in (champion_words(check, "zh", "UTC") or "")
