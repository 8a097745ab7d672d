"""Rolling-origin backtest: no leakage, time-ordered splits, outputs for every cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.backtest import (
    ModelConfig,
    run_model_backtest,
    split_by_time,
    training_rows,
)
from models.hotspot_backtest import (
    HotspotBacktestSpec,
    run_hotspot_backtest,
    scores_for_output,
)
from riskwarn.geo import unproject
from testkit.synthetic_hotspots import CRS, TZ, synthetic_events

SMALL = ModelConfig(
    train_window_days=210,
    es_origins=3,
    cal_origins=3,
    max_rounds=40,
    early_stopping_rounds=10,
    refit_every_days=28,
    grid=({"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 1.0},),
)
# the least model a backtest test can fit (tests of what the frame holds, not of skill)
TINY = ModelConfig(
    train_window_days=120,
    es_origins=3,
    cal_origins=3,
    max_rounds=10,
    early_stopping_rounds=5,
    grid=({"max_depth": 2, "learning_rate": 0.3, "min_child_weight": 1.0},),
)


@pytest.fixture(scope="module")
def result():
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-01-01"),
        end=pd.Timestamp("2016-03-31"),
        model=SMALL,
    )
    return run_hotspot_backtest(synthetic_events(), spec)


def test_every_active_cell_scored_for_every_origin_and_method(result) -> None:
    scores = result.scores
    n_cells = len(result.cells)
    per = scores.groupby(["method", "origin"]).size()
    assert (per == n_cells).all()
    assert set(scores["method"]) == {
        "xgboost",
        "last_period",
        "long_run",
        "kde",
        "prospective",
        "ceiling",
        "ceiling_loo",
    }
    assert scores.groupby("method")["origin"].nunique().eq(13).all()
    xgb = scores[scores["method"] == "xgboost"]["score"]
    assert xgb.between(0, 1).all()  # a calibrated probability
    out = scores_for_output(scores, TZ)
    assert list(out.columns) == ["origin", "cell_x", "cell_y", "method", "score"]
    assert str(out["origin"].iloc[0]) == "2016-01-01"


def test_model_beats_random_and_metrics_complete(result) -> None:
    m = result.metrics["methods"]
    assert m["xgboost"]["pai@0.05"] > 2.0
    assert m["ceiling"]["pai@0.05"] >= m["long_run"]["pai@0.05"]
    for key in ("hit_rate@0.01", "pai@0.2", "pei@0.1", "auc", "average_precision", "brier", "ece"):
        assert np.isfinite(m["xgboost"][key]), key
    lo, hi = m["xgboost"]["pai@0.05_ci"]
    assert lo <= m["xgboost"]["pai@0.05"] <= hi
    assert "gap_closed_share" in result.metrics
    by_admin = {r["admin_code"]: r for r in result.metrics["calibration_by_admin"]}
    assert set(by_admin) == {"west", "east"}
    assert all(0 <= r["ece"] < 0.2 and r["n"] > 0 for r in by_admin.values())


def test_refits_only_see_completed_labels(result) -> None:
    fits = result.model.fits
    assert (fits["last_label_end"] <= fits["refit_origin"]).all()
    assert len(fits) == 4  # 13 weekly origins, monthly refits (one across the DST change)


def _frame(n_origins: int = 30, n_cells: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    origins = pd.date_range("2020-01-06", periods=n_origins, freq="7D", tz="UTC")
    rows = []
    base = rng.gamma(1.0, 1.0, n_cells)
    for o in origins:
        lam = base * 0.5
        rows.append(
            pd.DataFrame(
                {
                    "origin": o,
                    "cell_x": np.arange(n_cells),
                    "cell_y": 0,
                    "count_28d": rng.poisson(lam * 4).astype(float),
                    "noise": rng.random(n_cells),
                    "label_count": rng.poisson(lam),
                }
            )
        )
    f = pd.concat(rows, ignore_index=True)
    f["label_any"] = (f["label_count"] > 0).astype(int)
    return f


def test_training_rows_respect_label_windows() -> None:
    f = _frame()
    origin = f["origin"].unique()[20]
    rows = training_rows(f, origin, ModelConfig(horizon_days=7))
    assert (rows["origin"] + pd.Timedelta(days=7) <= origin).all()
    assert rows["origin"].max() == origin - pd.Timedelta(days=7)
    fit, es, cal = split_by_time(rows, 3, 2)
    assert fit["origin"].max() < es["origin"].min() <= es["origin"].max() < cal["origin"].min()


def test_training_rows_daily_origins_keep_only_closed_label_windows() -> None:
    """Daily origins with a 7-day horizon: the six origins just before the refit origin
    have label windows still open at it, so they are not training rows (frames spaced one
    horizon apart cannot tell "label window ended" from "origin before the refit")."""
    origins = pd.date_range("2024-03-01", periods=40, freq="1D", tz="UTC")
    f = pd.DataFrame(
        {
            "origin": np.repeat(origins, 2),
            "cell_x": np.tile([0, 1], len(origins)),
            "cell_y": 0,
            "label_count": 1,
        }
    )
    refit = origins[30]
    rows = training_rows(f, refit, ModelConfig(horizon_days=7, train_window_days=60, tz="UTC"))
    assert rows["origin"].max() == refit - pd.Timedelta(days=7)
    assert not rows["origin"].between(refit - pd.Timedelta(days=6), refit).any()
    assert len(rows) == 2 * 24  # origins 0 .. 23: their windows end by origin 30


def test_future_labels_cannot_change_a_forecast() -> None:
    """Scrambling every label not yet complete at an origin leaves its forecast unchanged."""
    f = _frame()
    origins = sorted(f["origin"].unique())
    evals = origins[22:24]
    cfg = ModelConfig(
        horizon_days=7,
        es_origins=3,
        cal_origins=3,
        max_rounds=20,
        refit_every_days=100,
        grid=({"max_depth": 2, "learning_rate": 0.3, "min_child_weight": 1.0},),
    )
    a = run_model_backtest(f, evals, ["count_28d", "noise"], cfg).scores
    g = f.copy()
    late = g["origin"] + pd.Timedelta(days=7) > evals[0]
    g.loc[late, "label_count"] = np.random.default_rng(9).poisson(3.0, late.sum())
    g["label_any"] = (g["label_count"] > 0).astype(int)
    b = run_model_backtest(g, evals, ["count_28d", "noise"], cfg).scores
    pd.testing.assert_frame_equal(a, b)
    # and the check can fail: scrambling completed labels does change it
    h = f.copy()
    early = h["origin"] + pd.Timedelta(days=7) <= evals[0]
    h.loc[early, "label_count"] = np.random.default_rng(9).poisson(3.0, early.sum())
    h["label_any"] = (h["label_count"] > 0).astype(int)
    c = run_model_backtest(h, evals, ["count_28d", "noise"], cfg).scores
    assert not np.allclose(a["score"], c["score"])


def test_daily_forecasts_with_weekly_training_origins() -> None:
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-01-01"),
        end=pd.Timestamp("2016-01-10"),
        horizon_days=1,
        step_days=1,
        train_step_days=7,
        model=SMALL,
    )
    res = run_hotspot_backtest(synthetic_events(seed=5, n_cells=8), spec)
    xgb_scores = res.scores[res.scores["method"] == "xgboost"]
    assert xgb_scores["origin"].nunique() == 10
    assert (res.model.fits["last_label_end"] <= res.model.fits["refit_origin"]).all()
    assert res.metrics["methods"]["xgboost"]["n_windows"] == 10


def test_an_event_in_a_never_seen_cell_is_a_miss_that_lowers_hit_rate() -> None:
    """Every event of a window counts (open_cp, published comparisons): one in a cell with
    no earlier event lies outside the active area, so no method can flag it; it must lower
    every method's hit rate, not vanish from the count."""
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS, cell_size_m=250, tz=TZ, start=pd.Timestamp("2016-01-01"),
        end=pd.Timestamp("2016-01-10"), horizon_days=1, step_days=1, train_step_days=7,
        model=SMALL,
    )  # fmt: skip
    ev = synthetic_events(seed=5, n_cells=8)
    lon, lat = unproject(np.array([1830.5 * 250.0]), np.array([18430.5 * 250.0]), CRS)
    new = pd.DataFrame(
        {
            "occurred_at": [pd.Timestamp("2016-01-03 12:00", tz=TZ).tz_convert("UTC")],
            "lon": lon, "lat": lat, "category_group": "violent", "admin_code": "east",
        }
    )  # fmt: skip
    before = run_hotspot_backtest(ev, spec).metrics
    after = run_hotspot_backtest(pd.concat([ev, new], ignore_index=True), spec).metrics
    for name, b in before["methods"].items():
        a = after["methods"][name]
        assert a["hit_rate@0.05"] < b["hit_rate@0.05"], name
        assert a["events"] == b["events"] + 1, name
        assert a["events_active_area"] == b["events"], name
        # the cell is far from every active cell: the forecasts are the same, one more miss
        assert a["hit_rate@0.05"] == pytest.approx(
            b["hit_rate@0.05"] * b["events"] / a["events"]
        ), name
        assert a["hit_rate_active_area@0.05"] == pytest.approx(b["hit_rate@0.05"]), name
    assert after["events_outside_area"] == 1 and before["events_outside_area"] == 0


def test_late_reports_reach_no_forecast_made_before_they_arrived():
    """An event that occurred before an origin but was reported after it is unknown there:
    every model input and baseline at that origin is as if the event did not exist."""
    from features.cells import active_cells, assign_cells
    from models.hotspot_backtest import build_model_frame

    ev = synthetic_events(seed=3, n_cells=8, days=300)
    rng = np.random.default_rng(0)
    delay = np.where(rng.random(len(ev)) < 0.3, rng.integers(1, 40, len(ev)), 0)
    ev["reported_at"] = ev["occurred_at"] + pd.to_timedelta(delay, unit="D")
    ev = assign_cells(ev, CRS, 250).dropna(subset=["cell_x", "cell_y"])
    ev = ev.astype({"cell_x": "int64", "cell_y": "int64"})
    origin = pd.DatetimeIndex([pd.Timestamp("2015-09-01", tz=TZ).tz_convert("UTC")])
    late = (ev["occurred_at"] < origin[0]) & (ev["reported_at"] >= origin[0])
    assert late.sum() > 10
    cells = active_cells(ev, pd.Timestamp("2015-03-01", tz="UTC"))
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS, cell_size_m=250, tz=TZ, start=pd.Timestamp("2015-09-01"),
        end=pd.Timestamp("2015-09-01"), model=SMALL,
    )  # fmt: skip
    with_late = build_model_frame(ev, cells, origin, spec)
    without = build_model_frame(ev[~late], cells, origin, spec)
    hist = [c for c in with_late.columns if c.startswith("hist_")]
    assert hist and with_late[hist].abs().sum().sum() > 0
    pd.testing.assert_frame_equal(with_late, without)
