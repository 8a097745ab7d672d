"""The monitored-site model against the rules it replaces (issue 15.3), on synthetic rows.

Monotone in rain and movement, thresholds from training rows only, and on a site type
where it does not beat the velocity rule it defers to the rule and says so.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models.geohazard_sites import (
    INCREASING,
    LABEL,
    fit_site_model,
    run_site_backtest,
    site_config,
)
from models.registry import RiskModel
from models.site_fit import split_training_rows

FEATURES = [
    "rain_24h_mm",
    "rain_72h_mm",
    "api_mm",
    "velocity_mm_per_day",
    "acceleration_mm_per_day2",
    "inverse_velocity_day_per_mm",
]
TYPES = ["hazard_type_landslide", "hazard_type_rockfall"]


def _rows(n_origins: int, n_sites: int, seed: int, rockfall_rain: float = 1.0) -> pd.DataFrame:
    """Site x day rows: failures follow movement and antecedent rain; sites alternate
    between two types; on rockfall sites rain matters ``rockfall_rain`` times as much."""
    rng = np.random.default_rng(seed)
    origins = pd.date_range("2024-01-01", periods=n_origins, freq="D", tz="UTC")
    n = n_origins * n_sites
    rows = pd.DataFrame(
        {
            "origin": np.repeat(origins, n_sites),
            "site_id": np.tile([f"s{i:03d}" for i in range(n_sites)], n_origins),
        }
    )
    rock = np.tile(np.arange(n_sites) % 2 == 1, n_origins)
    v = rng.normal(0.0, 3.0, n)
    fast = rng.random(n) < 0.02
    v[fast] = rng.lognormal(2.5, 0.7, int(fast.sum()))
    rows["velocity_mm_per_day"] = v
    rows["acceleration_mm_per_day2"] = rng.normal(0.0, 1.0, n)
    rows["inverse_velocity_day_per_mm"] = np.where(v > 0, 1.0 / np.maximum(v, 1e-9), np.nan)
    rows["rain_24h_mm"] = rng.gamma(0.5, 10.0, n)
    rows["rain_72h_mm"] = rows["rain_24h_mm"] + rng.gamma(0.5, 20.0, n)
    rows["api_mm"] = rng.gamma(1.0, 40.0, n)
    rows["effective_rain_3d_mm"] = rows["rain_72h_mm"] * 0.8
    rows["caine_exceedance"] = rows["rain_24h_mm"] / 30.0
    rows["guzzetti_exceedance"] = rows["rain_72h_mm"] / 20.0
    rows["tangent_angle_deg"] = np.degrees(np.arctan(v / 0.5))
    rain_effect = np.where(rock, rockfall_rain, 1.0) * (rows["api_mm"].to_numpy() - 40.0) / 20.0
    z = -8.0 + 1.2 * np.arcsinh(v) + rain_effect
    rows[LABEL] = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    rows["label_count"] = rows[LABEL]
    rows[TYPES[0]] = (~rock).astype(float)
    rows[TYPES[1]] = rock.astype(float)
    return rows


@pytest.fixture(scope="module")
def fitted():
    rows = _rows(150, 60, seed=1)
    cfg = replace(site_config("geohazard"), min_tree_failures=5, max_rounds=80)
    refit = rows["origin"].max() + pd.Timedelta(days=1)
    model, _ = fit_site_model(rows, FEATURES, cfg, refit)
    assert model.trees > 0 and rows[LABEL].sum() > 50
    return model, rows


@pytest.mark.parametrize("col", [c for c in FEATURES if c.startswith(INCREASING)])
def test_raising_rain_or_velocity_never_lowers_a_sites_probability(fitted, col) -> None:
    model, rows = fitted
    probe = rows.sample(400, random_state=3).reset_index(drop=True)
    base = model.predict_proba(probe)
    for factor, add in ((1.5, 0.0), (1.0, 5.0), (3.0, 50.0)):
        more = probe.copy()
        more[col] = np.where(more[col] > 0, more[col] * factor, more[col]) + add
        assert np.all(model.predict_proba(more) >= base - 1e-12), (col, factor, add)


def test_thresholds_come_from_training_rows_only() -> None:
    """Moving the evaluation window, or changing everything after a refit origin, leaves the
    thresholds chosen at that refit unchanged."""
    table = _rows(120, 30, seed=5)
    cfg = replace(site_config("geohazard"), min_tree_failures=5, refit_every_days=10, max_rounds=40)
    days = pd.DatetimeIndex(sorted(table["origin"].unique()))
    short = run_site_backtest(table, days[80:100], cfg).fits
    longer = run_site_backtest(table, days[80:], cfg).fits
    cols = [c for c in short.columns if c.startswith("threshold_")]
    pd.testing.assert_frame_equal(short[cols], longer.loc[: len(short) - 1, cols])
    # the evaluation years rewritten (labels and inputs after day 80): same thresholds
    later = table["origin"] >= days[80]
    changed = table.copy()
    changed.loc[later, LABEL] = 1 - changed.loc[later, LABEL]
    changed.loc[later, "velocity_mm_per_day"] *= -3.0
    moved = run_site_backtest(changed, days[80:100], cfg).fits
    assert moved.loc[0, cols].tolist() == short.loc[0, cols].tolist()


def test_site_type_where_the_model_loses_defers_to_the_velocity_rule() -> None:
    # rain helps on landslide sites; on rockfall sites rain works the other way, so trees
    # that learn "more rain, more risk" rank rockfall failures below the velocity alone
    rows = _rows(200, 80, seed=11, rockfall_rain=-1.0)
    cfg = replace(site_config("geohazard"), min_tree_failures=5)
    refit = rows["origin"].max() + pd.Timedelta(days=1)
    model, _ = fit_site_model(rows, FEATURES, cfg, refit)
    assert model.trees > 0
    assert model.deferred == ("hazard_type_rockfall",)
    assert set(TYPES) <= set(model.features)  # serving passes the site type in
    rock = rows[rows[TYPES[1]] > 0].head(200)
    assert model.prior is not None
    np.testing.assert_allclose(model.raw(rock), model.prior.margin(rock))
    land = rows[rows[TYPES[0]] > 0].head(200)
    assert not np.allclose(model.raw(land), model.prior.margin(land))
    # explanations add up to the margin and say the model deferred, in both languages
    c = model.contributions(rock)
    assert np.allclose(c.sum(axis=1), model.raw(rock), atol=1e-4)
    fast = rock.loc[[rock["velocity_mm_per_day"].idxmax()]]
    (row,) = RiskModel(model, "geohazard").explain(fast)
    assert "defers to the displacement-velocity rule" in row["reason"]["en"]
    assert "位移速率规则" in row["reason"]["zh"]
    (other,) = RiskModel(model, "geohazard").explain(land.head(1))
    assert "defers" not in other["reason"]["en"]


def test_many_failures_split_by_site_groups_few_by_time() -> None:
    rows = _rows(60, 40, seed=7)
    cfg = site_config("geohazard")
    assert rows[LABEL].sum() >= cfg.site_split_min_failures
    fit, es, cal = split_training_rows(rows, cfg)
    sites = [set(p["site_id"]) for p in (fit, es, cal)]
    assert not (sites[0] & sites[1]) and not (sites[1] & sites[2]) and not (sites[0] & sites[2])
    assert all(p[LABEL].sum() > 0 for p in (fit, es, cal))
    assert len(fit) + len(es) + len(cal) == len(rows)
    # a few failures: periods of time, as before (oldest rows fit, latest calibrate)
    few = rows.copy()
    keep = few.index[few[LABEL] == 1][:5]
    few[LABEL] = 0
    few.loc[keep, LABEL] = 1
    fit, es, cal = split_training_rows(few, cfg)
    assert fit["origin"].max() < es["origin"].min() <= es["origin"].max() < cal["origin"].min()
