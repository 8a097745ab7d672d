"""Synthetic hotspot events and a small training configuration, shared by the tests
(tests/test_backtest.py, tests/test_registry.py, ...) and bench/screenshot_home.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.backtest import ModelConfig
from riskwarn.geo import unproject

TZ = "America/Chicago"
CRS = "EPSG:32616"
# a quick training for registry and dashboard tests (one grid point, few rounds)
SMALL_TRAINING = ModelConfig(
    train_window_days=210,
    es_origins=3,
    cal_origins=3,
    max_rounds=30,
    early_stopping_rounds=10,
    grid=({"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 1.0},),
)


def synthetic_events(seed: int = 0, n_cells: int = 15, days: int = 500) -> pd.DataFrame:
    """Events on a small grid: persistent hotspots of different rates plus noise."""
    rng = np.random.default_rng(seed)
    cx = 1800 + np.arange(n_cells)
    cy = 18400 + np.arange(n_cells)
    gx, gy = np.meshgrid(cx, cy)
    rate = np.exp(rng.normal(-3.0, 1.0, gx.size))  # events per cell per day
    start = pd.Timestamp("2015-01-01", tz=TZ)
    counts = rng.poisson(np.outer(np.ones(days), rate))
    d_idx, c_idx = np.nonzero(counts)
    reps = counts[d_idx, c_idx]
    d_idx, c_idx = np.repeat(d_idx, reps), np.repeat(c_idx, reps)
    t = (
        start
        + pd.to_timedelta(d_idx, unit="D")
        + pd.to_timedelta(rng.integers(0, 86400, d_idx.size), unit="s")
    )
    x = (gx.ravel()[c_idx] + rng.random(c_idx.size)) * 250.0
    y = (gy.ravel()[c_idx] + rng.random(c_idx.size)) * 250.0
    lon, lat = unproject(x, y, CRS)
    return pd.DataFrame(
        {
            "occurred_at": pd.DatetimeIndex(t).tz_convert("UTC"),
            "lon": lon,
            "lat": lat,
            "category_group": "violent",
            "admin_code": np.where(x < (1800 + n_cells / 2) * 250.0, "west", "east"),
        }
    )
