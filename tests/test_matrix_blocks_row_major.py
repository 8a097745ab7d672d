"""The fit matrices' blocks are handed to XGBoost row-major (issue 18.3, the CPU of
``train incidents``' fit matrices).

XGBoost's data iterators reference a block's array as given, and pandas'
``frame[features].to_numpy(np.float32)`` is column-major (a transposed view), so XGBoost's
sketch and bin pages read it with a stride of a whole column per value: about a quarter
more CPU than from a row-major copy (docs/benchmarks.md). The blocks are now row-major with
the same values, so the cuts, the bins and the boosters are the ones the column-major
blocks gave (compared here byte for byte, in memory and external memory, with missing
values).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

import models.backtest as bt
import models.matrices as mx
from models.backtest import ModelConfig


def _frame() -> tuple[pd.DataFrame, list[str], int]:
    rng = np.random.default_rng(11)
    n_origins, n_cells, n_feat = 24, 300, 7
    origin = np.repeat(pd.date_range("2024-01-01", periods=n_origins, freq="7D", tz="UTC"), n_cells)
    x = rng.gamma(1.0, 2.0, size=(n_origins * n_cells, n_feat))
    x[rng.random(x.shape) < 0.15] = np.nan
    features = [f"count_{i}" for i in range(n_feat)]
    frame = pd.DataFrame(x, columns=features).assign(
        origin=origin,
        cell_x=np.tile(np.arange(n_cells), n_origins),
        cell_y=0,
        label_count=rng.poisson(np.nan_to_num(x[:, 0]) * 0.3).astype(np.int32),
    )
    # mixed dtypes, as the model frames have (float64, float32, int)
    frame["count_1"] = frame["count_1"].astype(np.float32)
    frame["count_2"] = np.nan_to_num(frame["count_2"]).round().astype(np.int64)
    frame["label_any"] = (frame["label_count"] > 0).astype(np.int8)
    return frame, features, n_cells


def _blocks(frame: pd.DataFrame, features: list[str], objective: str, rows: int) -> list[Any]:
    """Every block :class:`models.matrices.OriginBlocks` hands to XGBoost, in order."""
    got: list[dict[str, Any]] = []
    it = mx.OriginBlocks(frame, features, objective, rows)
    while it.next(lambda **kw: got.append(kw)):
        pass
    return got


def test_blocks_are_row_major_with_the_values_of_the_frame() -> None:
    frame, features, n_cells = _frame()
    blocks = _blocks(frame, features, "rank:pairwise", 5 * n_cells)
    assert len(blocks) == 5
    assert all(b["data"].flags["C_CONTIGUOUS"] and b["data"].dtype == np.float32 for b in blocks)
    whole = np.concatenate([b["data"] for b in blocks])
    np.testing.assert_array_equal(whole, frame[features].to_numpy(np.float32))


class _ColumnMajorBlocks(mx.OriginBlocks):
    """The blocks as they were before: ``to_numpy(np.float32)``'s column-major array."""

    def next(self, input_data: Callable[..., None]) -> bool:
        def column_major(**kw: Any) -> None:
            kw["data"] = np.asfortranarray(kw["data"])
            assert not kw["data"].flags["C_CONTIGUOUS"]
            input_data(**kw)

        return super().next(column_major)


ROW_MAJOR = mx.OriginBlocks


def test_row_major_blocks_give_the_cuts_and_boosters_of_column_major_ones(monkeypatch) -> None:
    frame, features, n_cells = _frame()
    fit, es = frame.iloc[: 20 * n_cells], frame.iloc[20 * n_cells :]
    for objective in ("rank:pairwise", "count:poisson"):
        cfg = ModelConfig(objective=objective, max_rounds=20, early_stopping_rounds=5)
        params = bt._xgb_params(cfg, cfg.grid[1], features, n_cells)
        params.pop("eval_metric", None)
        params["disable_default_eval_metric"] = 1
        for external in (False, True):
            monkeypatch.setattr(mx, "EXTERNAL_MEMORY_VALUES", 1 if external else 1 << 25)
            boosters, cuts = [], []
            for blocks in (ROW_MAJOR, _ColumnMajorBlocks):
                monkeypatch.setattr(mx, "OriginBlocks", blocks)
                d = mx.quantile_dmatrix(fit, features, objective, params, block_rows=3 * n_cells)
                assert isinstance(d, xgb.ExtMemQuantileDMatrix) == external
                cuts.append(d.get_quantile_cut())
                d_es = bt.early_stopping_dmatrix(es, features, params)
                boosters.append(bt._grow(params, d, d_es, es, cfg))
            for a, b in zip(cuts[0], cuts[1], strict=True):
                np.testing.assert_array_equal(a, b)
            assert boosters[0].best_iteration == boosters[1].best_iteration
            assert boosters[0].save_raw("json") == boosters[1].save_raw("json")
