"""The site training's fast paths give what the slow computations they replace gave.

Each fast path is compared with the computation it replaced, kept here as the reference,
on random inputs with ties, NaN, infinities and one-class rows (docs/benchmarks.md, "A full
day on the city simulation (issue 18.3)": where the hourly site training's CPU went).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import metrics as m


def _old_best_threshold_tss(y: np.ndarray, p: np.ndarray) -> float:
    """``best_threshold_tss`` before the fast path: one pass over the rows per candidate."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    cands = np.unique(p)
    if cands.size > 200:
        cands = np.unique(np.quantile(p, np.linspace(0, 1, 201)))
    best, best_t = -np.inf, float(cands[-1]) if cands.size else 0.5
    for t in cands:
        tss = m.warning_metrics(p >= t, y)["tss"]
        if np.isfinite(tss) and tss > best:
            best, best_t = tss, float(t)
    return best_t


def _random_case(rng: np.random.Generator, i: int) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(0, 500))
    y = rng.random(n) < rng.choice([0.0, 0.01, 0.2, 0.7, 1.0])
    p = rng.random(n)
    if i % 3 == 0:
        p = np.round(p, 1)  # many ties
    for j, value in ((5, np.nan), (7, np.inf), (11, -np.inf)):
        if i % j == 0 and n:
            p[rng.random(n) < 0.1] = value
    return y, p


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # np.quantile of infinities
def test_tss_at_thresholds_is_warning_metrics_tss_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for i in range(600):
        y, p = _random_case(rng, i)
        ts = np.r_[np.unique(p), rng.random(5), np.nan, -np.inf, np.inf]
        want = np.array([m.warning_metrics(p >= t, y)["tss"] for t in ts])
        got = m.tss_at_thresholds(y, p, ts)
        assert np.array_equal(got, want, equal_nan=True), i
        # and so the threshold chosen is the old loop's
        want_t, got_t = _old_best_threshold_tss(y, p), m.best_threshold_tss(y, p)
        assert got_t == want_t or (np.isnan(got_t) and np.isnan(want_t)), i
    # more than 200 distinct values: the 201 quantiles as candidates
    rng = np.random.default_rng(1)
    y = rng.random(20_000) < 0.01
    p = rng.random(20_000) + y * 0.3
    assert m.best_threshold_tss(y, p) == _old_best_threshold_tss(y, p)


def test_no_signal_low_by_group_is_the_per_group_value() -> None:
    from models.geohazard_sites import _no_signal_low, _no_signal_low_by_group

    rng = np.random.default_rng(2)
    for i in range(300):
        counts = rng.integers(1, 30, int(rng.integers(1, 12)))
        score = rng.normal(0.0, 5.0, int(counts.sum()))
        score[rng.random(score.size) < 0.2] = np.nan
        score[rng.random(score.size) < 0.05 * (i % 2)] = -np.inf
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        if i % 4 == 0:  # a group with no signal at all
            score[starts[0] : starts[0] + counts[0]] = np.nan
        want = np.concatenate([_no_signal_low(g) for g in np.split(score, starts[1:])])
        assert np.array_equal(_no_signal_low_by_group(score, starts), want), i


def _site_rows(seed: int) -> pd.DataFrame:
    """Synthetic site x hour rows with every baseline's column (some NaN, one origin with
    no velocity at all), sites missing at some origins, rows not in origin order."""
    from models.geohazard_sites import (
        BASELINE_COLUMNS,
        INVERSE_VELOCITY_COLUMNS,
        LABEL,
        RULE_COLUMN,
    )

    rng = np.random.default_rng(seed)
    origins = pd.date_range("2024-06-01", periods=240, freq="h", tz="UTC")
    rows = pd.DataFrame(
        {
            "origin": np.repeat(origins, 40),
            "site_id": np.tile([f"s{i:02d}" for i in range(40)], len(origins)),
        }
    )
    rows = rows[rng.random(len(rows)) > 0.1]  # sites missing at some origins
    n = len(rows)
    v = rng.normal(0.0, 3.0, n)
    fast = rng.random(n) < 0.02
    v[fast] = rng.lognormal(3.0, 0.5, int(fast.sum()))
    for col in [*BASELINE_COLUMNS.values(), *INVERSE_VELOCITY_COLUMNS]:
        x = rng.gamma(0.5, 10.0, n)
        x[rng.random(n) < 0.1] = np.nan
        rows[col] = x
    rows["displacement_age_days"] = rows["displacement_age_days"] / 100.0  # mostly fresh
    v[rng.random(n) < 0.05] = np.nan
    rows["velocity_mm_per_day"] = v
    rows.loc[rows["origin"] == origins[200], "velocity_mm_per_day"] = np.nan
    rows[RULE_COLUMN] = rng.integers(0, 5, n).astype(np.float32)
    rows["hazard_type_landslide"] = (rows["site_id"] < "s20").astype(float)
    rows["hazard_type_rockfall"] = 1.0 - rows["hazard_type_landslide"]
    p = 1.0 / (1.0 + np.exp(-(-6.0 + 1.5 * np.arcsinh(np.nan_to_num(v, nan=0.0)))))
    rows[LABEL] = (rng.random(n) < p).astype(int)
    return rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # any row order


def _old_scores(table, origins, model, thresholds, levels) -> pd.DataFrame:
    """The backtest's per-origin scoring loop before the stretches (the reference)."""
    from models.geohazard_sites import LABEL, baseline_scores, levels_of

    by_origin = dict(tuple(table.groupby("origin", sort=True)))
    out = []
    for origin in origins:
        rows = by_origin[origin]
        raw = model.raw(rows)
        methods = {"xgboost": model.calibrator.predict(raw), **baseline_scores(rows)}
        for name, score in methods.items():
            level = levels_of(score, levels[name])
            out.append(
                pd.DataFrame(
                    {
                        "origin": origin,
                        "site_id": rows["site_id"].to_numpy(),
                        "method": name,
                        "score": score,
                        "raw": raw if name == "xgboost" else np.nan,
                        "threshold": thresholds[name],
                        "warned": score >= thresholds[name],
                        "level": level,
                        "orange": level >= 3,
                        "label": rows[LABEL].to_numpy(int),
                    }
                )
            )
    return pd.concat(out, ignore_index=True)


def test_a_stretch_of_origins_scores_like_the_per_origin_loop() -> None:
    from dataclasses import replace

    from models.geohazard_sites import (
        _score_stretch,
        baseline_scores,
        fit_site_model,
        site_config,
        site_features,
    )
    from models.site_levels import level_thresholds

    table = _site_rows(seed=5)
    cfg = replace(site_config("geohazard_hourly"), min_tree_failures=1, min_type_failures=1)
    refit = pd.Timestamp("2024-06-08T00:00Z")
    train = table[table["origin"] + pd.Timedelta(hours=24) <= refit]
    features = [c for c in site_features(table) if c != "label_any"]
    model, t_model = fit_site_model(train, features, cfg, refit)
    assert model.trees > 0  # the trees' margins, not the prior's alone
    thresholds = {"xgboost": t_model}
    levels = {"xgboost": [0.001, 0.01, 0.05, 0.2]}
    for name, s in baseline_scores(train).items():
        thresholds[name] = float(np.quantile(s, 0.9))
        levels[name] = level_thresholds(s, [0.3, 0.2, 0.1, 0.05])
    later = sorted(table.loc[table["origin"] >= refit, "origin"].unique())
    by_origin = table.groupby("origin", sort=True).indices
    for stretch in (later[:1], later[:7], later):
        want = _old_scores(table, stretch, model, thresholds, levels)
        got = _score_stretch(table, by_origin, list(stretch), model, thresholds, levels)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert want["score"].nunique() > 100 and want["warned"].any() and want["level"].max() == 4


@pytest.mark.parametrize("unique_index", [True, False])
def test_fit_site_model_slices_one_prediction_like_predicting_each_slice(
    unique_index: bool,
) -> None:
    """The fit predicts every training row once and slices it: the deferred types, the
    calibrator, the levels and the threshold are those of predicting each slice anew."""
    from dataclasses import replace

    from models.geohazard_sites import (
        LABEL,
        RULE_COLUMN,
        fit_shrunk_platt,
        fit_site_model,
        site_config,
        site_features,
    )
    from models.site_fit import site_types_to_defer, split_training_rows
    from models.site_levels import level_thresholds, rule_level_shares, served_level_thresholds

    table = _site_rows(seed=7)
    cfg = replace(site_config("geohazard_hourly"), min_tree_failures=1, min_type_failures=1)
    refit = pd.Timestamp("2024-06-09T00:00Z")
    train = table[table["origin"] + pd.Timedelta(hours=24) <= refit]
    if not unique_index:  # labels repeat: the slices are predicted each on their own
        train = train.set_axis(np.arange(len(train)) // 2)
    features = [c for c in site_features(table) if c != LABEL]
    model, threshold = fit_site_model(train, features, cfg, refit)
    assert model.trees > 0
    rows = train.sort_values("origin", kind="stable")
    _, es, cal = split_training_rows(rows, cfg)
    later = pd.concat([es, cal])
    deferred = model.deferred
    model.deferred = ()  # as the fit judged the site types: nothing deferred yet
    raw_later = model.raw(later)
    assert site_types_to_defer(model, later, cfg) == deferred
    assert site_types_to_defer(model, later, cfg, raw=raw_later) == deferred
    model.deferred = deferred
    platt = fit_shrunk_platt(model.raw(cal), cal[LABEL].to_numpy()).model
    assert platt.coef_[0, 0] == model.calibrator.model.coef_[0, 0]
    assert platt.intercept_[0] == model.calibrator.model.intercept_[0]
    shares = rule_level_shares(rows[RULE_COLUMN].to_numpy(float))
    pick = later if later[LABEL].sum() > 0 else rows
    # the rate thresholds on every training row, then fitted for the served level on the
    # rows the trees were not grown on (models.site_levels.served_level_thresholds)
    rates = level_thresholds(model.predict_proba(rows), shares)
    assert model.level_thresholds == tuple(
        served_level_thresholds(
            model.predict_proba(pick),
            pick[LABEL].to_numpy(),
            pick[RULE_COLUMN].to_numpy(float),
            rates,
            cfg.served_levels_far,
            cfg.served_levels_from,
            pick["site_id"].astype(str).to_numpy(),
            cfg.served_levels_far_confidence,
            cfg.served_levels_far_confidence_from,
        )
    )
    assert threshold == m.best_threshold_tss(pick[LABEL].to_numpy(), model.predict_proba(pick))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_deferral_auc_is_ranking_metrics_auc_without_average_precision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deferral compares AUCs only: it gets ``ranking_metrics``' AUC bit for bit (one
    class: NaN) and never computes the average precision it used to throw away."""
    from models.site_fit import _auc

    rng = np.random.default_rng(3)
    cases = [_random_case(rng, i) for i in range(200)]
    cases = [(y, p) for y, p in cases if np.isfinite(p).all()]  # scikit-learn refuses NaN
    want = [m.ranking_metrics(y, p)["auc"] for y, p in cases]

    def no_average_precision(*args: object, **kwargs: object) -> float:
        raise AssertionError("average precision computed for the deferral")

    monkeypatch.setattr(m, "average_precision_score", no_average_precision)
    got = [_auc(y, p) for y, p in cases]
    assert np.array_equal(np.array(got), np.array(want), equal_nan=True)
    assert sum(np.isnan(w) for w in want) > 5 and sum(np.isfinite(w) for w in want) > 50


class _CountingNumpy:
    """numpy, counting the calls of some of its functions (the sizes of their first
    argument), to say how many passes over the rows a fast path makes."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.calls: dict[str, list[int]] = {name: [] for name in names}

    def __getattr__(self, name: str) -> object:
        real = getattr(np, name)
        if name not in self.calls:
            return real

        def counted(a: object, *args: object, **kwargs: object) -> object:
            self.calls[name].append(int(np.size(a)))
            return real(a, *args, **kwargs)

        return counted


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # quantiles of infinities
def test_level_thresholds_take_every_share_from_one_quantile_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The four levels' thresholds are the per-share quantiles bit for bit (NaN, infinities,
    ties, a zero share, no rows), from one partition of the scores instead of four."""
    from models import site_levels

    rng = np.random.default_rng(4)
    for i in range(400):
        _, p = _random_case(rng, i)
        shares = sorted(rng.choice([0.0, 0.001, 0.01, 0.2, 0.5, 1.0, 1.5], 4), reverse=True)
        want = [site_levels.rate_threshold(p, s) for s in shares]
        got = site_levels.rate_thresholds(p, shares)
        assert np.array_equal(np.array(got), np.array(want), equal_nan=True), i
        th = list(np.maximum.accumulate(np.asarray(want, dtype=float)))
        assert np.array_equal(
            np.array(site_levels.level_thresholds(p, shares)),
            np.array(site_levels.untie_levels(th)),
            equal_nan=True,
        ), i
    counting = _CountingNumpy(("quantile",))
    monkeypatch.setattr(site_levels, "np", counting)
    site_levels.level_thresholds(rng.random(1000), [0.3, 0.2, 0.1, 0.05])
    assert counting.calls["quantile"] == [1000]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # np.quantile of infinities
def test_best_threshold_tss_sorts_the_rows_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidates, the quantiles and the non-events' counts come from one sort of every
    row's score (the old threshold bit for bit, both zeros and NaN included); the
    non-events are not sorted apart, nor the candidates found by sorting again."""
    rng = np.random.default_rng(6)
    for i in range(300):
        y, p = _random_case(rng, i)
        if i % 4 == 1 and p.size:  # both zeros: np.unique keeps the first after its sort
            p[rng.random(p.size) < 0.2] = rng.choice([0.0, -0.0])
        want = _old_best_threshold_tss(y, p)
        got = m.best_threshold_tss(y, p)
        assert got == want or (np.isnan(got) and np.isnan(want)), i
        assert np.signbit(got) == np.signbit(want), i
        ordered = np.sort(p)
        if not (ordered == 0).any():
            assert np.array_equal(m._unique_of_sorted(ordered), np.unique(p), equal_nan=True), i
    y = rng.random(20_000) < 0.01
    p = rng.random(20_000) + y * 0.3
    counting = _CountingNumpy(("sort", "unique", "quantile"))
    monkeypatch.setattr(m, "np", counting)
    assert m.best_threshold_tss(y, p) == _old_best_threshold_tss(y, p)
    # one sort of every row, one of the events; np.unique only of the 201 quantiles
    assert sorted(counting.calls["sort"]) == sorted([20_000, int(y.sum())])
    assert counting.calls["unique"] == [201]
