"""Skill of city-wide nowcasts: per-level contingency scores, previous-day warnings, and
paired CIs of the model minus the best rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.nowcast_skill import best_rule, day_skill, nowcast_skill, severity_skill, top_k_share


def test_levels_and_previous_day_warnings_by_hand() -> None:
    counts = np.array([0, 0, 3, 0, 12, 0, 0, 1])
    frame = pd.DataFrame(
        {
            "score": [0.1, 0.2, 0.8, 0.3, 0.9, 0.1, 0.2, 0.4],
            "p_any": [0.1, 0.2, 0.8, 0.3, 0.9, 0.1, 0.2, 0.4],
            "p_major": [0.0, 0.0, 0.1, 0.0, 0.5, 0.0, 0.0, 0.0],
            "level": [0, 1, 3, 2, 4, 0, 0, 1],
            "level_prev_day": [0, 0, 1, 3, 2, 4, 0, 0],
        }
    )
    s = day_skill(counts, frame, major_threshold=10)
    a = s["any"]
    assert a["auc"] == 1.0
    # orange or above: warned days 2 and 4, both with landslides; day 7 missed
    assert a["pod@orange"] == pytest.approx(2 / 3) and a["far@orange"] == 0.0
    assert a["warned_days_per_year@orange"] == pytest.approx(2 * 365.25 / 8)
    # the previous day's level on the three landslide days: 1, 2, 0
    assert a["pod_prev_day@blue"] == pytest.approx(2 / 3)
    assert a["pod_prev_day@yellow"] == pytest.approx(1 / 3)
    assert a["pod_prev_day@orange"] == 0.0
    m = s["major"]
    assert m["pod@red"] == 1.0 and m["tss@red"] == 1.0 and m["csi@red"] == 1.0
    assert m["brier"] == pytest.approx(np.mean((frame["p_major"] - (counts >= 10)) ** 2))


def test_best_rule_is_the_lowest_for_brier_and_far() -> None:
    assert best_rule({"a": 0.1, "b": 0.2}, "brier") == "a"
    assert best_rule({"a": 0.1, "b": 0.2}, "far@red") == "a"
    assert best_rule({"a": 0.1, "b": 0.2, "c": float("nan")}, "tss@red") == "b"


def test_paired_cis_against_the_best_rule_never_an_ex_post_reference() -> None:
    rng = np.random.default_rng(4)
    dates = pd.date_range("2010-01-01", "2012-12-31", freq="D")
    rain = rng.gamma(0.4, 30, len(dates))
    n = rng.poisson(0.003 * rain**1.4)
    rows = []
    for method, noise in (("xgboost", 3.0), ("caine", 25.0), ("guzzetti", 40.0), ("oracle", 0.0)):
        s = rain + rng.normal(0, noise, len(dates)) if noise else n + 0.0
        p = 1 / (1 + np.exp(-(s - 30) / 10))
        lvl = np.digitize(s, [20, 40, 60, 80])
        rows.append(
            pd.DataFrame(
                {"date": dates.date, "method": method, "score": s, "p_any": p, "p_major": p / 4}
            ).assign(level=lvl, level_prev_day=np.r_[0, lvl[:-1]])
        )
    res = nowcast_skill(
        pd.concat(rows), pd.Series(n, index=dates), 5, exclude_from_rules=("oracle",), n_boot=60
    )
    assert res["n_blocks"] == 36 and res["n_days"] == len(dates)
    d = res["model_minus_best"]["any"]["auc"]
    assert d["rule"] == "caine" and d["diff"] > 0 and d["ci"][0] > 0
    assert all(v["rule"] != "oracle" for v in res["model_minus_best"]["any"].values())
    ci = res["methods"]["xgboost"]["any"]["auc"]["ci"]
    assert ci[0] <= res["methods"]["xgboost"]["any"]["auc"]["value"] <= ci[1]


def test_severity_orders_the_extremes_by_hand() -> None:
    """Two scores with the same AUC on major days: only the one that puts the worst day on
    top has a high Spearman on the major days and the larger share on its top days."""
    counts = np.array([0, 0, 1, 2, 292, 114, 57, 12, 0, 3])
    good = np.array([0.1, 0.2, 0.3, 0.4, 9.0, 8.0, 7.0, 6.0, 0.0, 0.5])
    bad = np.array([0.1, 0.2, 0.3, 0.4, 6.0, 7.0, 8.0, 9.0, 0.0, 0.5])  # extremes reversed
    g, b = severity_skill(counts, good, 10), severity_skill(counts, bad, 10)
    assert g["spearman"] == pytest.approx(1.0) and b["spearman"] == pytest.approx(-1.0)
    total = counts.sum()
    assert top_k_share(counts, good, 1) == pytest.approx(292 / total)
    assert top_k_share(counts, bad, 1) == pytest.approx(12 / total)
    assert top_k_share(counts, good, 4) == top_k_share(counts, bad, 4)
    # ties at the k-th score share the remaining places: two days tied for places 1-2, k=1
    assert top_k_share(np.array([4, 2, 0]), np.array([1.0, 1.0, 0.0]), 1) == pytest.approx(0.5)
    frame = pd.DataFrame(
        {"score": bad, "p_any": 0.5, "p_major": 0.1, "level": 0, "level_prev_day": 0}
    )
    s = day_skill(counts, frame, 10)["severe"]
    assert s == pytest.approx(b, nan_ok=True) and "share_top@red" in s


def test_severity_paired_ci_against_each_rule() -> None:
    """A model that flattens severity above a cap (as a label cap does) and lifts the days
    after a storm loses on severity to the rule, and the paired month-block CI says so."""
    rng = np.random.default_rng(5)
    dates = pd.date_range("2000-01-01", "2009-12-31", freq="D")
    rain = rng.gamma(0.5, 40, len(dates))
    n = rng.poisson(0.001 * rain**2)
    after = np.r_[0, n[:-1]]
    rows = []
    for method, s in (("xgboost", np.minimum(rain, 60.0) + 2.0 * after), ("rain_72h", rain + 0.0)):
        rows.append(
            pd.DataFrame(
                {"date": dates.date, "method": method, "score": s, "p_any": 0.3, "p_major": 0.1}
            ).assign(level=0, level_prev_day=0)
        )
    res = nowcast_skill(pd.concat(rows), pd.Series(n, index=dates), 10, n_boot=100)
    sev = res["methods"]["xgboost"]["severe"]
    assert sev["spearman"]["value"] < res["methods"]["rain_72h"]["severe"]["spearman"]["value"]
    d = res["model_minus_best"]["severe"]["share_top@10"]
    assert d["rule"] == "rain_72h" and d["diff"] < 0 and d["ci"][1] < 0
    r = res["model_minus_rule"]["rain_72h"]["severe"]["spearman"]
    assert r["diff"] < 0 and r["ci"][0] <= r["diff"] <= r["ci"][1]


def test_model_minus_each_rule_is_paired_for_every_metric() -> None:
    """Every row of the skill table, not only severity, is paired against each rule by name
    (the rule the model replaces and the best severity rule may not be a metric's best)."""
    rng = np.random.default_rng(7)
    dates = pd.date_range("2000-01-01", "2004-12-31", freq="D")
    rain = rng.gamma(0.5, 40, len(dates))
    n = rng.poisson(0.001 * rain**2)
    rows = [
        pd.DataFrame(
            {"date": dates.date, "method": m, "score": s, "p_any": p, "p_major": p / 5}
        ).assign(level=np.digitize(s, np.quantile(s, [0.6, 0.8, 0.9, 0.97])), level_prev_day=0)
        for m, s, p in (
            ("xgboost", rain + rng.normal(0, 5, len(dates)), np.clip(rain / 100, 0, 1)),
            ("effective_rain", rain * 0.5, np.full(len(dates), 0.3)),
            ("rain_72h", np.sqrt(rain), np.full(len(dates), 0.3)),
        )
    ]
    res = nowcast_skill(pd.concat(rows), pd.Series(n, index=dates), 10, n_boot=50)
    point = res["methods"]
    for rule in ("effective_rain", "rain_72h"):
        by = res["model_minus_rule"][rule]
        assert set(by) == {"any", "major", "severe"}
        for target in ("any", "major", "severe"):
            keys = {k for k in point["xgboost"][target] if not k.startswith("warned_days")}
            assert set(by[target]) == keys
            for k, d in by[target].items():
                want = point["xgboost"][target][k]["value"] - point[rule][target][k]["value"]
                assert d["diff"] == pytest.approx(want, nan_ok=True)
    d = res["model_minus_rule"]["effective_rain"]["any"]["brier"]
    assert d["diff"] < 0 and d["ci"][0] <= d["diff"] <= d["ci"][1]
