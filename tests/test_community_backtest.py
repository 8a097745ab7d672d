"""The community-level weekly disputes forecast (features/communities.py,
models/community_backtest.py): leakage by construction, every dispute counted, every
method on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.communities import BASELINES, CommunityParams, community_week_rows
from models.community_backtest import (
    CEILING,
    MODEL,
    CommunityBacktest,
    CommunityModelConfig,
    area_captured,
    check_same_rows,
    method_windows,
    offset_baseline,
    paired_comparison,
    pooled,
    run_community_backtest,
)

TZ = "Asia/Shanghai"
START = pd.Timestamp("2023-01-02", tz=TZ)  # a Monday, local
N_WEEKS = 20
CONFIG = CommunityModelConfig(rounds=15, nthread=1)


def units(n: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "admin_code": [f"C{i:03d}" for i in range(n)],
            "township_code": [f"T{i // 6}" for i in range(n)],
            "county_code": ["K0"] * n,
            "population": rng.integers(500, 8000, n).astype(float),
            "area_km2": rng.uniform(0.5, 20, n),
        }
    )


def disputes(u: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Poisson registrations by population over N_WEEKS weeks, at local office hours; a
    few with no community code and one with a code of no community."""
    rng = np.random.default_rng(seed)
    rate = u["population"].to_numpy() / u["population"].sum() * 12 / 7  # ~12 a week
    rows = []
    for day in range(N_WEEKS * 7):
        n = rng.poisson(rate)
        for i in np.flatnonzero(n):
            for _ in range(n[i]):
                at = START + pd.Timedelta(days=day, minutes=int(rng.integers(510, 1050)))
                rows.append((at.tz_convert("UTC"), u["admin_code"].iloc[i]))
    d = pd.DataFrame(rows, columns=["opened_at", "admin_code"])
    d.loc[d.index[::40], "admin_code"] = None
    d.loc[d.index[7], "admin_code"] = "NOT-A-COMMUNITY"
    d["record_id"] = [f"MD{i:05d}" for i in range(len(d))]
    return d


def weekly(first: int, last: int) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        [(START + pd.Timedelta(weeks=w)).tz_convert("UTC") for w in range(first, last)]
    )


EVAL = weekly(10, N_WEEKS - 1)
TRAIN = weekly(4, N_WEEKS - 1)


def test_nothing_built_for_an_origin_changes_when_later_data_change() -> None:
    u = units()
    d = disputes(u)
    cut = EVAL[3]  # origins up to and including it must not see anything from it on
    before = run_community_backtest(d, u, EVAL, TRAIN, config=CONFIG)
    later = d["opened_at"] >= cut
    assert later.sum() > 50
    changed = d.copy()
    rng = np.random.default_rng(9)
    # later disputes moved to other communities, some dropped, a burst added in one
    changed.loc[later, "admin_code"] = rng.permutation(changed.loc[later, "admin_code"].to_numpy())
    changed = changed.drop(changed.index[later.to_numpy()][::3])
    burst = pd.DataFrame(
        {
            "opened_at": [cut + pd.Timedelta(hours=h) for h in range(1, 60)],
            "admin_code": "C005",
            "record_id": [f"X{h}" for h in range(1, 60)],
        }
    )
    changed = pd.concat([changed, burst], ignore_index=True)
    after = run_community_backtest(changed, u, EVAL, TRAIN, config=CONFIG)
    cols = [MODEL, *BASELINES]
    a = before.scores[before.scores["origin"] <= cut].reset_index(drop=True)
    b = after.scores[after.scores["origin"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(a[cols], b[cols])
    # and the perturbation does reach the later origins (the test can see a leak)
    la = before.scores[before.scores["origin"] > cut][MODEL].to_numpy()
    lb = after.scores[after.scores["origin"] > cut][MODEL].to_numpy()
    assert not np.allclose(la, lb)
    # the feature rows themselves, not only the scores
    fa = community_week_rows(d, u, EVAL[:4]).rows.drop(columns="label_count")
    fb = community_week_rows(changed, u, EVAL[:4]).rows.drop(columns="label_count")
    pd.testing.assert_frame_equal(fa, fb)


def test_a_correction_known_after_the_origin_does_not_reach_it() -> None:
    """A dispute before the origin moved to another community by a correction ingested
    after it: the origin's features and model see the record as it was."""
    u = units()
    d = disputes(u)
    nat = pd.Series(pd.NaT, index=d.index, dtype="datetime64[ns, UTC]")
    d = d.assign(known_from=nat, known_to=nat)
    cut = EVAL[3]
    early = d.index[(d["opened_at"] < cut - pd.Timedelta(days=3)) & d["admin_code"].notna()][-30:]
    fixed = d.loc[early].assign(admin_code="C000", known_from=cut + pd.Timedelta(days=1))
    versioned = d.copy()
    versioned.loc[early, "known_to"] = cut + pd.Timedelta(days=1)
    versioned = pd.concat([versioned, fixed], ignore_index=True)
    plain = run_community_backtest(
        d.drop(columns=["known_from", "known_to"]), u, EVAL, TRAIN, config=CONFIG
    )
    corrected = run_community_backtest(versioned, u, EVAL, TRAIN, config=CONFIG)
    at = plain.scores["origin"] <= cut
    cols = [MODEL, *BASELINES]
    pd.testing.assert_frame_equal(
        plain.scores.loc[at, cols].reset_index(drop=True),
        corrected.scores.loc[at, cols].reset_index(drop=True),
    )
    late = ~at & (plain.scores["admin_code"] == "C000")
    assert (corrected.scores.loc[late, "long_run"] > plain.scores.loc[late, "long_run"]).all()


def test_every_dispute_of_a_week_is_counted() -> None:
    u = units()
    d = disputes(u)
    bt = run_community_backtest(d, u, EVAL, TRAIN, config=CONFIG)
    w = method_windows(bt)
    end = EVAL[-1] + pd.Timedelta(days=7)
    in_eval = d[(d["opened_at"] >= EVAL[0]) & (d["opened_at"] < end)]
    no_unit = (~in_eval["admin_code"].isin(u["admin_code"])).sum()
    assert no_unit > 0  # the test data hold disputes in no community
    for _, g in w.groupby("method"):
        assert g["events"].sum() == len(in_eval)
    # those in no community are misses for every method, the ceiling too
    s = pooled(w).set_index("method")
    assert s.loc[CEILING, "hit_rate@0.1"] < 1.0
    assert set(s.index) == {MODEL, *BASELINES, CEILING}


def test_a_baseline_scored_on_other_rows_is_refused() -> None:
    u = units()
    bt = run_community_backtest(disputes(u), u, EVAL[:3], TRAIN, config=CONFIG)
    check_same_rows(bt.scores, bt.methods)  # as built: the same rows
    missing = bt.scores.copy()
    missing.loc[missing.index[5], "last_4w"] = np.nan  # a row the baseline did not score
    with pytest.raises(ValueError, match="last_4w"):
        method_windows(CommunityBacktest(missing, bt.outside, bt.methods))
    fewer = bt.scores.drop(bt.scores.index[3])  # one community fewer at one origin
    with pytest.raises(ValueError, match="different sets"):
        method_windows(CommunityBacktest(fewer, bt.outside, bt.methods))
    twice = pd.concat([bt.scores, bt.scores.iloc[[0]]])
    with pytest.raises(ValueError, match="twice"):
        method_windows(CommunityBacktest(twice, bt.outside, bt.methods))
    w = method_windows(bt)
    other_weeks = w[~((w["method"] == "long_run") & (w["origin"] == EVAL[0]))]
    with pytest.raises(ValueError, match="different weeks"):
        paired_comparison(other_weeks, MODEL, "long_run", n_boot=10)


def test_hit_rate_by_count_and_by_area_on_a_small_week() -> None:
    """Four communities, three disputes in them and one in none."""
    origin = EVAL[0]
    scores = pd.DataFrame(
        {
            "origin": origin,
            "admin_code": ["a", "b", "c", "d"],
            "label_count": [2.0, 1.0, 0.0, 0.0],
            "area_km2": [1.0, 3.0, 4.0, 2.0],
            "m": [4.0, 1.0, 3.0, 0.5],
        }
    )
    bt = CommunityBacktest(
        scores, pd.DataFrame({"origin": [origin], "outside_count": [1.0]}), ["m"]
    )
    w = method_windows(bt, fractions=(0.25, 0.5))
    row = w.iloc[0]
    assert row["events"] == 4  # the one in no community counts
    assert row["captured@0.25"] == 2  # community a
    assert row["area_share@0.25"] == pytest.approx(0.1)
    assert row["captured@0.5"] == 2  # a and c
    # a quarter of the area (2.5 km2): a (1 km2) then 1.5 of c's 4 km2 (no dispute)
    assert row["captured_area@0.25"] == pytest.approx(2.0)
    assert (
        area_captured(np.array([1.0, 1.0]), np.array([2.0, 0.0]), np.array([1.0, 1.0]), 0.5) == 1.0
    )
    s = pooled(w, fractions=(0.25,)).iloc[0]
    assert s["pai@0.25"] == pytest.approx(0.5 / 0.25)
    assert s["pai_area@0.25"] == pytest.approx(0.5 / 0.1)


def test_rows_cover_every_community_at_every_origin() -> None:
    u = units()
    built = community_week_rows(disputes(u), u, EVAL, CommunityParams())
    assert len(built.rows) == len(EVAL) * len(u)
    assert built.rows.groupby("origin")["admin_code"].nunique().eq(len(u)).all()
    assert list(built.outside["origin"]) == list(EVAL)


def test_the_offset_is_the_baseline_that_fitted_the_past_best() -> None:
    y = np.array([0.0, 1.0, 3.0, 0.0])
    train = pd.DataFrame(
        {
            "label_count": y,
            "last_4w": [2.0, 0.0, 0.0, 2.0],  # wrong way round
            "long_run": [0.5, 0.5, 0.5, 0.5],  # flat
            "population_rate": [0.1, 1.0, 2.8, 0.1],  # close
        }
    )
    assert offset_baseline(train, "best") == "population_rate"
    assert offset_baseline(train, "long_run") == "long_run"
    assert offset_baseline(train, None) is None
