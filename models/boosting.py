"""The training block the case and site models share: logistic trees, stopped early.

:func:`fit_logistic_trees` grows XGBoost trees (``binary:logistic``, log loss) on the fit
slice with the given monotone constraints, stops them early on a later slice and
returns them as an uncalibrated :class:`models.backtest.FittedModel` (or a subclass):
each model then calibrates on its own latest slice (:mod:`models.case_models`: Platt;
:mod:`models.site_fit`: Platt shrunk towards the identity). Slicing, the velocity prior
(a ``base_margin``) and calibration stay with the models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import xgboost as xgb

from models.backtest import FittedModel

Model = TypeVar("Model", bound=FittedModel)
Margin = Callable[[pd.DataFrame], np.ndarray]


def logistic_params(
    params: Iterable[tuple[str, Any]], monotone_constraints: str, **overrides: Any
) -> dict[str, Any]:
    """XGBoost parameters of a logistic model: ``params`` (a config's pairs), then the
    objective, the early-stopping metric and the constraints, then ``overrides``."""
    return {
        **dict(params),
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "monotone_constraints": monotone_constraints,
        **overrides,
    }


def labelled_matrix(
    frame: pd.DataFrame, features: Sequence[str], label: str, base_margin: Margin | None = None
) -> xgb.DMatrix:
    """``frame``'s features (float32) and label; the trees start from ``base_margin(frame)``
    when given (else from XGBoost's base score)."""
    names = list(features)
    x = frame[names].to_numpy(np.float32)
    d = xgb.DMatrix(x, label=frame[label].to_numpy(np.float32), feature_names=names)
    if base_margin is not None:
        d.set_base_margin(base_margin(frame))
    return d


def fit_logistic_trees(
    fit: pd.DataFrame,
    es: pd.DataFrame,
    features: Sequence[str],
    params: Mapping[str, Any],
    *,
    label: str,
    max_rounds: int,
    early_stopping_rounds: int | None,
    trained_until: pd.Timestamp,
    base_margin: Margin | None = None,
    model_class: type[Model],
    **fields: Any,
) -> Model:
    """Trees grown on ``fit``, stopped early on ``es`` (log loss), as an uncalibrated model.

    ``early_stopping_rounds=None``: exactly ``max_rounds`` rounds, ``es`` unused (the
    best iteration is the last). ``params`` as from :func:`logistic_params`. ``model_class``:
    :class:`FittedModel` or a subclass, ``fields`` its extra fields. Its ``calibrator`` is None until the caller
    fits one.
    """
    xgb_params = dict(params)  # the dict trained with is the one the model keeps
    train = labelled_matrix(fit, features, label, base_margin)
    if early_stopping_rounds is None:
        booster = xgb.train(xgb_params, train, num_boost_round=max_rounds)
        booster.best_iteration = max_rounds - 1
    else:
        booster = xgb.train(
            xgb_params,
            train,
            num_boost_round=max_rounds,
            evals=[(labelled_matrix(es, features, label, base_margin), "es")],
            early_stopping_rounds=early_stopping_rounds,
            verbose_eval=False,
        )
    return model_class(
        booster=booster,
        calibrator=None,  # type: ignore[arg-type]
        features=list(features),
        params=xgb_params,
        best_iteration=int(booster.best_iteration),
        trained_until=trained_until,
        n_train_rows=len(fit),
        **fields,
    )
