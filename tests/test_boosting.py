"""The training block shared by the case and site models (models.boosting), on tiny data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models.backtest import FittedModel
from models.boosting import fit_logistic_trees, labelled_matrix, logistic_params

FEATURES = ["a", "b"]
PARAMS = (("max_depth", 2), ("learning_rate", 0.3), ("nthread", 1), ("seed", 0))
UNTIL = pd.Timestamp("2024-01-01", tz="UTC")


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * a - b)))).astype(int)
    return pd.DataFrame({"a": a, "b": b, "y": y, "noise": rng.normal(size=n)})


def test_logistic_params_put_objective_metric_constraints_then_overrides() -> None:
    p = logistic_params(PARAMS, "(1,0)", learning_rate=0.0)
    assert p == {
        "max_depth": 2,
        "learning_rate": 0.0,
        "nthread": 1,
        "seed": 0,
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "monotone_constraints": "(1,0)",
    }
    # an override keeps the key where the config put it (XGBoost reads the same order)
    assert list(p)[:4] == [k for k, _ in PARAMS]


def test_labelled_matrix_reads_only_the_features_and_the_base_margin() -> None:
    rows = _rows(50, 1)
    d = labelled_matrix(rows, FEATURES, "y", base_margin=lambda f: f["a"].to_numpy() * 0 + 0.5)
    assert d.feature_names == FEATURES and d.num_row() == 50
    np.testing.assert_array_equal(d.get_label(), rows["y"].to_numpy(np.float32))
    np.testing.assert_allclose(d.get_base_margin(), 0.5)
    assert labelled_matrix(rows, FEATURES, "y").get_base_margin().size == 0


def test_early_stopped_trees_equal_xgboost_trained_directly() -> None:
    """The shared function is the block the two models had: the same call to XGBoost."""
    fit, es = _rows(400, 2), _rows(150, 3)
    margin = lambda f: 0.1 * f["b"].to_numpy()  # noqa: E731
    params = logistic_params(PARAMS, "(1,-1)")
    model = fit_logistic_trees(
        fit, es, FEATURES, params, label="y", max_rounds=60, early_stopping_rounds=5,
        trained_until=UNTIL, base_margin=margin, model_class=FittedModel,
    )  # fmt: skip

    def dm(f: pd.DataFrame) -> xgb.DMatrix:
        d = xgb.DMatrix(f[FEATURES].to_numpy(np.float32), label=f["y"], feature_names=FEATURES)
        d.set_base_margin(margin(f))
        return d

    direct = xgb.train(
        dict(params), dm(fit), 60, evals=[(dm(es), "es")], early_stopping_rounds=5,
        verbose_eval=False,
    )  # fmt: skip
    assert model.best_iteration == direct.best_iteration < 59  # it did stop early
    test = _rows(100, 4)
    ours = model.booster.predict(dm(test), iteration_range=(0, model.best_iteration + 1))
    theirs = direct.predict(dm(test), iteration_range=(0, direct.best_iteration + 1))
    np.testing.assert_array_equal(ours, theirs)
    assert model.params == params and model.calibrator is None
    assert (model.n_train_rows, model.trained_until, model.features) == (400, UNTIL, FEATURES)


def test_without_early_stopping_every_round_counts_and_es_is_unused() -> None:
    fit = _rows(200, 5)
    params = logistic_params(PARAMS, "(0,0)", learning_rate=0.0)
    a = fit_logistic_trees(
        fit, _rows(80, 6), FEATURES, params, label="y", max_rounds=1,
        early_stopping_rounds=None, trained_until=UNTIL, model_class=FittedModel,
    )  # fmt: skip
    b = fit_logistic_trees(
        fit, fit.iloc[:0], FEATURES, params, label="y", max_rounds=1,
        early_stopping_rounds=None, trained_until=UNTIL, model_class=FittedModel,
    )  # fmt: skip
    assert a.best_iteration == b.best_iteration == 0
    np.testing.assert_array_equal(a.raw(fit), b.raw(fit))
    # learning rate 0: the one tree adds nothing, every row gets XGBoost's base score
    assert np.unique(a.raw(fit)).size == 1


@dataclass
class _Tagged(FittedModel):
    tag: str = ""


def test_the_model_class_and_its_extra_fields() -> None:
    model = fit_logistic_trees(
        _rows(200, 7), _rows(80, 8), FEATURES, logistic_params(PARAMS, "(0,0)"), label="y",
        max_rounds=5, early_stopping_rounds=2, trained_until=UNTIL, model_class=_Tagged,
        tag="x",
    )  # fmt: skip
    assert isinstance(model, _Tagged) and model.tag == "x"
    with pytest.raises(TypeError):
        fit_logistic_trees(
            _rows(50, 9), _rows(20, 10), FEATURES, logistic_params(PARAMS, "(0,0)"),
            label="y", max_rounds=2, early_stopping_rounds=1, trained_until=UNTIL,
            model_class=FittedModel, tag="x",
        )  # fmt: skip
