"""The hotspot backtest builds its frame as training and serving do: the other sources'
``ctx_*`` inputs are joined inside the one frame builder, before the derived features
(features/derived.py). The backtest joined them after its frame was built, so a derived
feature reading a ``ctx_*`` column saw none there and another value in serving
(reviewer's finding, 2026-12-06)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import derived
from features.cells import assign_cells
from features.context import call_context_points
from features.feature_info import FeatureInfo
from models.hotspot_backtest import HotspotBacktestSpec, build_model_frame, run_hotspot_backtest
from testkit.synthetic_hotspots import CRS, TZ, synthetic_events
from tests.test_backtest import TINY


def test_a_derived_feature_reads_the_context_alike_in_backtest_and_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = derived.DerivedFeature(
        "test_ctx_calls_plus_one",
        FeatureInfo(
            "{value:.0f} calls nearby, plus one",
            "calls",
            "calls known before the origin, last 7 days",
            "cells",
            zh="近 7 天附近警情数加一为 {value:.0f}",
        ),
        # .get: a frame without the context column reads 0 (what the old order gave)
        lambda f: f.get("ctx_calls_7d", pd.Series(0.0, index=f.index)) + 1.0,
    )
    monkeypatch.setattr(derived, "DERIVED", (*derived.DERIVED, entry))
    ev = synthetic_events(seed=5, n_cells=8, days=420)
    calls = assign_cells(ev.iloc[::3], CRS, 250).dropna(subset=["cell_x", "cell_y"])
    context = call_context_points(calls.astype({"cell_x": "int64", "cell_y": "int64"}), "calls")
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-01-01"),
        end=pd.Timestamp("2016-01-22"),
        model=TINY,
    )
    result = run_hotspot_backtest(ev, spec, context=context)
    assert "test_ctx_calls_plus_one" in result.features
    # serving's frame of the evaluation origins (the same builder, the same inputs)
    cells_ev = assign_cells(ev, CRS, 250).dropna(subset=["cell_x", "cell_y"])
    cells_ev = cells_ev.astype({"cell_x": "int64", "cell_y": "int64"})
    served = build_model_frame(cells_ev, result.cells, result.eval_origins, result.spec, context)
    bt = result.frame[result.frame["origin"].isin(result.eval_origins)].reset_index(drop=True)
    keys = ["origin", "cell_x", "cell_y"]
    served = served.sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(bt[keys], served[keys])
    col = "test_ctx_calls_plus_one"
    assert (served[col] > 1).any()  # the context is there to be read
    np.testing.assert_array_equal(bt[col].to_numpy(), served[col].to_numpy())
    np.testing.assert_array_equal(bt["ctx_calls_7d"].to_numpy(), served["ctx_calls_7d"].to_numpy())
