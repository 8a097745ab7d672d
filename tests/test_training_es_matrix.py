"""The early-stopping rows of a hotspot booster are a plain DMatrix of their values
(issue 18.3: training time on the city), not a second quantile matrix with the fit
matrix's bins: XGBoost predicts their margins several times faster from the values, and
the margins, the stopping round and the boosters are the same."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import xgboost as xgb

import models.backtest as bt
import models.matrices as mx
from models.backtest import KEYS, ModelConfig, training_rows
from models.hotspot_backtest import build_model_frame
from tests.test_training_memory_path import SPEC, TZ, _frame, replace_window

HP = {"max_depth": 3, "learning_rate": 0.3, "min_child_weight": 1.0}


def _rows():
    frame, ev, cells, origins = _frame()
    frame = build_model_frame(ev, cells, origins, SPEC)
    features = [c for c in frame.columns if c not in KEYS and not c.startswith("label_")]
    config = replace_window(ModelConfig(horizon_days=7, tz=TZ, es_origins=4))
    return training_rows(frame, origins[-1], config), features, config, origins[-1]


def test_the_early_stopping_rows_are_plain_values_with_the_same_margins(monkeypatch) -> None:
    """The early-stopping rows are a plain DMatrix of their values (no second quantile
    matrix with the fit matrix's bins): the same margins every round, so the same
    stopping round and the same booster, byte for byte, with and without missing values."""
    rows, features, config, _ = _rows()
    rows = bt.sorted_by_origin(rows)
    fit, es, _ = bt.split_by_time(rows, config.es_origins, config.cal_origins)
    built: list[int] = []
    real = bt.quantile_dmatrix
    monkeypatch.setattr(bt, "quantile_dmatrix", lambda *a, **k: built.append(1) or real(*a, **k))
    for holes in (False, True):
        if holes:  # missing values in the fit and the early-stopping rows
            rng = np.random.default_rng(0)
            rows = rows.copy()
            for c in features[:5]:
                rows.loc[rng.random(len(rows)) < 0.3, c] = np.nan
            fit, es, _ = bt.split_by_time(rows, config.es_origins, config.cal_origins)
        for objective in ("rank:pairwise", "count:poisson"):
            cfg = replace(config, objective=objective, early_stopping_rounds=5, max_rounds=60)
            params = bt._xgb_params(cfg, HP, features, len(es))
            params.pop("eval_metric", None)
            params["disable_default_eval_metric"] = 1
            built.clear()
            new = bt.train_booster(params, fit, es, features, cfg)
            assert len(built) == 1  # the fit rows' quantile matrix only
            d_fit = real(fit, features, objective, params)
            d_es = mx.quantile_dmatrix(es, features, objective, params, ref=d_fit)
            old = bt._grow(params, d_fit, d_es, es, cfg)
            assert isinstance(bt.early_stopping_dmatrix(es, features, params), xgb.DMatrix)
            assert new.best_iteration == old.best_iteration
            assert new.save_raw("json") == old.save_raw("json")
            assert np.array_equal(
                new.predict(d_es, output_margin=True),
                new.predict(bt.early_stopping_dmatrix(es, features, params), output_margin=True),
            )
