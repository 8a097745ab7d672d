"""The metrics harness: hit rate / PAI / PEI with random tie-breaking, probabilities, warnings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import metrics as m


def _cell_order_captured(scores: np.ndarray, counts: np.ndarray, k: int) -> float:
    """What a naive harness does: stable sort, ties resolved by cell order."""
    order = np.argsort(-scores, kind="stable")
    return float(counts[order[:k]].sum())


def test_ties_are_broken_at_random_not_by_cell_order() -> None:
    # 10 cells all tied; the events sit in the first cells (cell order would "find" them)
    scores = np.zeros(10)
    counts = np.array([5, 3, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    k = 2
    got = m.expected_captured(scores, counts, k)
    # expectation under random tie-breaking: 8 events * 2/10
    assert got == pytest.approx(1.6)
    assert _cell_order_captured(scores, counts, k) == 8.0  # the biased answer differs
    # Monte Carlo over random orderings agrees with the exact expectation
    rng = np.random.default_rng(1)
    sims = []
    for _ in range(4000):
        perm = rng.permutation(10)
        sims.append(_cell_order_captured(scores[perm], counts[perm], k))
    assert np.mean(sims) == pytest.approx(got, abs=0.1)


def test_partial_tie_group_at_the_cut() -> None:
    scores = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    counts = np.array([1.0, 3.0, 0.0, 0.0, 9.0])
    # top 2: cell 0 fully + one of three tied cells (3 events / 3)
    assert m.expected_captured(scores, counts, 2) == pytest.approx(2.0)
    assert m.expected_captured(scores, counts, 4) == pytest.approx(4.0)
    assert m.expected_captured(scores, counts, 5) == pytest.approx(13.0)
    assert m.best_captured(counts, 2) == 12.0


def test_order_of_cells_does_not_change_the_result() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, 200).astype(float)
    counts = rng.poisson(1.0, 200).astype(float)
    perm = rng.permutation(200)
    for k in (1, 7, 50, 199):
        assert m.expected_captured(scores, counts, k) == pytest.approx(
            m.expected_captured(scores[perm], counts[perm], k)
        )


def test_pooled_hit_rate_pai_pei_perfect_and_random() -> None:
    n = 100
    counts = np.zeros(n)
    counts[:5] = [4, 3, 2, 1, 1]
    frame = pd.DataFrame(
        {
            "origin": pd.Timestamp("2020-01-01", tz="UTC"),
            "score": counts.copy(),
            "label_count": counts,
        }
    )
    w = m.hotspot_windows(frame)
    res = m.pooled_hotspot_metrics(w)
    assert res["hit_rate@0.05"] == pytest.approx(1.0)
    assert res["pai@0.05"] == pytest.approx(20.0)
    assert res["pei@0.05"] == pytest.approx(1.0)
    assert res["hit_rate@0.01"] == pytest.approx(4 / 11)
    # constant score = random: hit rate equals area share
    frame["score"] = 0.0
    res = m.pooled_hotspot_metrics(m.hotspot_windows(frame))
    assert res["hit_rate@0.1"] == pytest.approx(0.1)
    assert res["pai@0.2"] == pytest.approx(1.0)


def test_events_outside_the_scored_area_are_misses() -> None:
    """The standard count: a window's events in cells outside the scored area (no earlier
    event there) lower HR, PAI and PEI for every method; the active-area variant, labelled,
    leaves them out."""
    n = 100
    counts = np.zeros(n)
    counts[:5] = [4, 3, 2, 1, 1]
    origin = pd.Timestamp("2020-01-01", tz="UTC")
    frame = pd.DataFrame({"origin": origin, "score": counts.copy(), "label_count": counts})
    outside = pd.DataFrame({"origin": [origin], "label_count": [5.0]})
    w = m.hotspot_windows(frame, outside=outside)
    assert w["events"].iloc[0] == 16 and w["events_active_area"].iloc[0] == 11
    res = m.pooled_hotspot_metrics(w, active_area=True)
    assert res["hit_rate@0.05"] == pytest.approx(11 / 16)
    assert res["pai@0.05"] == pytest.approx(11 / 16 * 20)
    assert res["pei@0.05"] == pytest.approx(11 / 15)  # best 5 cells of all: 5+4+3+2+1
    assert res["hit_rate_active_area@0.05"] == pytest.approx(1.0)
    assert res["pei_active_area@0.05"] == pytest.approx(1.0)
    # the bootstrap statistic counts them too
    assert m.hotspot_statistic("hit_rate", 0.05)(w, None) == pytest.approx(11 / 16)
    assert "hit_rate_active_area@0.05" not in m.pooled_hotspot_metrics(w)
    # origins of another kind would silently drop the misses: refused
    with pytest.raises(ValueError, match="match no scored window"):
        m.hotspot_windows(frame, outside=outside.assign(origin=origin.date()))


def test_bootstrap_ci_contains_estimate_and_shrinks_with_more_windows() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for o in range(60):
        counts = rng.poisson(0.3, 300).astype(float)
        score = counts + rng.normal(0, 0.5, 300)
        rows.append(pd.DataFrame({"origin": o, "score": score, "label_count": counts}))
    w = m.hotspot_windows(pd.concat(rows))
    stat = m.pai_statistic(0.05)
    est = stat(w)
    lo, hi = m.bootstrap_ci(w, stat, n_boot=200)
    assert lo < est < hi
    lo10, hi10 = m.bootstrap_ci(w.iloc[:10], stat, n_boot=200)
    assert (hi10 - lo10) > (hi - lo)


def test_paired_bootstrap_detects_a_better_method() -> None:
    rng = np.random.default_rng(4)
    good, bad = [], []
    for o in range(40):
        counts = rng.poisson(0.3, 300).astype(float)
        good.append(pd.DataFrame({"origin": o, "score": counts, "label_count": counts}))
        bad.append(pd.DataFrame({"origin": o, "score": rng.random(300), "label_count": counts}))
    a = m.hotspot_windows(pd.concat(good))
    b = m.hotspot_windows(pd.concat(bad))
    d, lo, _hi = m.paired_bootstrap_diff(a, b, m.pai_statistic(0.05), n_boot=200)
    assert d > 0 and lo > 0


def test_probability_metrics_and_ece() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(20000)
    y = rng.random(20000) < p  # perfectly calibrated
    res = m.probability_metrics(y, p)
    assert res["ece"] < 0.02
    assert 0.7 < res["auc"] < 0.9
    assert res["brier"] == pytest.approx(np.mean((p - y) ** 2))
    over = m.probability_metrics(y, np.clip(p + 0.3, 0, 1))
    assert over["ece"] > 0.2
    curve = m.reliability_curve(y, p, n_bins=5)
    assert len(curve) == 5
    assert np.allclose(curve["observed_rate"], curve["mean_predicted"], atol=0.03)


def test_warning_metrics_contingency() -> None:
    warned = np.array([1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    event = np.array([1, 0, 1, 0, 1, 0, 0, 0], dtype=bool)
    r = m.warning_metrics(warned, event)
    assert r["pod"] == pytest.approx(2 / 3)
    assert r["far"] == pytest.approx(1 / 3)
    assert r["pofd"] == pytest.approx(1 / 5)
    assert r["tss"] == pytest.approx(2 / 3 - 1 / 5)
    assert r["csi"] == pytest.approx(2 / 4)
    assert r["warned_share"] == pytest.approx(3 / 8)


def test_best_threshold_tss_separates() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1])
    t = m.best_threshold_tss(y, p)
    assert 0.3 < t <= 0.8


def test_the_ece_noise_quantile_is_deterministic_for_a_fixed_seed() -> None:
    p = np.random.default_rng(3).beta(0.3, 30.0, 50_000)
    q = m.ece_noise_quantile(p, n_draws=200, seed=0)
    assert q == m.ece_noise_quantile(p, n_draws=200, seed=0)
    assert q == m.ece_noise_quantile(p.tolist(), n_draws=200, seed=0)
    assert q != m.ece_noise_quantile(p, n_draws=200, seed=1)
    assert 0 < q < 0.01
    assert np.isnan(m.ece_noise_quantile(np.array([])))
    with pytest.raises(ValueError):
        m.ece_noise_quantile(p, n_draws=0)


def test_the_ece_noise_draws_are_the_ece_of_bernoulli_labels_drawn_from_the_predictions() -> None:
    """The vectorised draws (rows sorted by bin, labels drawn in chunks, counts per bin)
    have the distribution of the plain loop: y* ~ Bernoulli(p), ECE(y*, p), same bins."""
    rng = np.random.default_rng(4)
    p = np.r_[rng.beta(0.5, 5.0, 40_000), rng.random(500)]  # several chunks at 400 draws
    fast = m.ece_noise_draws(p, n_draws=400, seed=2)
    slow = np.array([m.expected_calibration_error(rng.random(p.size) < p, p) for _ in range(400)])
    assert fast.shape == (400,)
    se = np.hypot(fast.std(), slow.std()) / np.sqrt(400)
    assert abs(fast.mean() - slow.mean()) < 4 * se
    assert np.quantile(fast, 0.95) == pytest.approx(np.quantile(slow, 0.95), rel=0.1)


def _hourly_site_labels(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """50 sites x 2,000 hourly origins, about 10 failures; an origin's label: a failure in
    its next 24 hours (so one failure makes the 24 origins before it positive), and its
    calibrated probability of that."""
    rng = np.random.default_rng(seed)
    hazard = rng.lognormal(np.log(1e-4), 0.5, (50, 1)) * np.ones((50, 2000 + 24))
    fail = rng.random(hazard.shape) < hazard
    window = np.lib.stride_tricks.sliding_window_view
    y = window(fail, 24, axis=1)[:, :2000].any(axis=2)
    p = 1 - np.exp(window(np.log1p(-hazard), 24, axis=1)[:, :2000].sum(axis=2))
    return y.ravel(), p.ravel()


def test_rows_per_event_covers_the_noise_of_overlapping_label_windows() -> None:
    """Hourly origins with a 24-hour horizon: positive rows come 24 to a failure, so the
    ECE of a calibrated model varies about sqrt(24) times more than independent labels
    would. With ``rows_per_event=24`` the 95 % quantile covers the calibrated model's ECE
    about 19 times in 20; with independent labels (1) it covers far fewer."""
    covered = {1: 0, 24: 0}
    for seed in range(20):
        y, p = _hourly_site_labels(seed)
        ece = m.expected_calibration_error(y, p)
        for rows in covered:
            covered[rows] += ece <= m.ece_noise_quantile(p, rows_per_event=rows)
    assert covered[24] >= 17
    assert covered[1] <= 12
