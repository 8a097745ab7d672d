"""The grid points of one refit grow their boosters on one pair of matrices (issue 18.3:
training time) and get the boosters, trials and scores they got from matrices of their
own, byte for byte."""

from __future__ import annotations

from models.backtest import (
    KEYS,
    ModelConfig,
    SharedMatrices,
    choose_hyperparameters,
    train_booster,
    training_rows,
)
from models.hotspot_backtest import build_model_frame
from tests.test_training_memory_path import SPEC, TZ, _frame, replace_window

GRID = (
    {"max_depth": 3, "learning_rate": 0.1, "min_child_weight": 1.0},
    {"max_depth": 5, "learning_rate": 0.1, "min_child_weight": 5.0},
    {"max_depth": 2, "learning_rate": 0.3, "min_child_weight": 1.0},
)


def test_the_grid_on_shared_matrices_equals_the_grid_on_its_own_matrices(monkeypatch) -> None:
    import models.backtest as bt

    frame, ev, cells, origins = _frame()
    frame = build_model_frame(ev, cells, origins, SPEC)
    features = [c for c in frame.columns if c not in KEYS and not c.startswith("label_")]
    config = replace_window(
        ModelConfig(
            horizon_days=7, tz=TZ, max_rounds=25, early_stopping_rounds=5, grid=GRID, es_origins=4
        )
    )
    rows = training_rows(frame, origins[-1], config)
    built = []
    real = bt.quantile_dmatrix
    monkeypatch.setattr(bt, "quantile_dmatrix", lambda *a, **k: built.append(1) or real(*a, **k))
    shared, hp_s, trials_s = choose_hyperparameters(rows, features, config, origins[-1])
    assert len(built) == 1  # one fit matrix for the three grid points
    own, hp_o, trials_o = choose_hyperparameters(rows, features, config, origins[-1], train_booster)
    assert len(built) == 1 + len(GRID)
    assert hp_s == hp_o and trials_s == trials_o
    assert shared.booster.save_raw("json") == own.booster.save_raw("json")
    assert shared.blend == own.blend
    assert (shared.predict_proba(rows) == own.predict_proba(rows)).all()


def test_other_rows_get_new_matrices() -> None:
    frame, ev, cells, origins = _frame()
    frame = build_model_frame(ev, cells, origins, SPEC)
    features = [c for c in frame.columns if c not in KEYS and not c.startswith("label_")]
    config = ModelConfig(horizon_days=7, tz=TZ, max_rounds=10, early_stopping_rounds=3)
    shared = SharedMatrices()
    params = {"max_bin": 64, "nthread": 1, "objective": "rank:pairwise", "seed": 0}
    params["disable_default_eval_metric"] = 1
    one = frame[frame["origin"].isin(origins[:10])]
    two = frame[frame["origin"].isin(origins[5:15])]
    for fit, es in (
        (one.iloc[: len(one) // 2], one.iloc[len(one) // 2 :]),
        (two.iloc[: len(two) // 2], two.iloc[len(two) // 2 :]),
    ):
        a = shared(params, fit, es, features, config)
        b = train_booster(params, fit, es, features, config)
        assert a.save_raw("json") == b.save_raw("json")
