"""Why a cell, case or site scored high: SHAP contributions in plain words.

* :func:`contributions`: XGBoost's exact tree SHAP values (``pred_contribs=True``), one
  column per feature plus ``bias``; they sum to the raw margin of each row.
* :func:`global_importance`: mean absolute contribution per feature.
* :func:`explain_rows`: the top factors raising each prediction, each as a sentence
  built from the feature's description template (``riskwarn.features.catalog.FEATURES``,
  ``name -> template`` with ``{value}``); unknown features fall back to ``name = value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

# model-side inputs (the baselines' scores stacked as features, see hotspot_backtest)
MODEL_FEATURES: dict[str, str] = {
    "hist_count_all": "{value:g} events in this cell over all recorded history",
    "hist_kde": "a dense cluster of past events around this cell (kernel density {value:.1f})",
    "hist_prospective": "recent events nearby, weighted by closeness in space and time "
    "({value:.1f})",
}


def feature_descriptions() -> dict[str, str]:
    """Description templates: the feature catalogue plus the model's stacked inputs."""
    out: dict[str, str] = dict(MODEL_FEATURES)
    try:
        from riskwarn.features.catalog import FEATURES
    except ImportError:
        return out
    for name, entry in dict(FEATURES).items():
        if isinstance(entry, str):
            out[name] = entry
        elif isinstance(entry, Mapping):
            out[name] = str(entry.get("template") or entry.get("description") or name)
        else:
            text = getattr(entry, "template", None) or getattr(entry, "description", None)
            out[name] = str(text or name)
    return out


def contributions(
    booster: xgb.Booster, frame: pd.DataFrame, features: list[str], best_iteration: int
) -> pd.DataFrame:
    """Per-row SHAP contributions to the raw margin (columns: features + ``bias``)."""
    dm = xgb.DMatrix(frame[features].to_numpy(np.float32), feature_names=features)
    values = booster.predict(dm, pred_contribs=True, iteration_range=(0, best_iteration + 1))
    return pd.DataFrame(values, columns=[*features, "bias"], index=frame.index)


def global_importance(contribs: pd.DataFrame) -> pd.Series:
    """Mean |SHAP| per feature, largest first."""
    imp = contribs.drop(columns="bias").abs().mean().sort_values(ascending=False)
    return imp.rename("mean_abs_shap")


def describe(name: str, value: float, templates: Mapping[str, str]) -> str:
    """One feature value as a sentence from its template."""
    template = templates.get(name)
    if template:
        try:
            return template.format(value=value)
        except (KeyError, IndexError, ValueError):
            return f"{template} ({value:g})"
    return f"{name} = {value:g}"


def explain_rows(
    contribs: pd.DataFrame,
    frame: pd.DataFrame,
    templates: Mapping[str, str] | None = None,
    top_n: int = 3,
) -> list[dict[str, Any]]:
    """Top risk-raising factors of each row: ``{"factors": [...], "sentence": str}``."""
    templates = feature_descriptions() if templates is None else templates
    feats = [c for c in contribs.columns if c != "bias"]
    values = contribs[feats].to_numpy()
    order = np.argsort(-values, axis=1)[:, :top_n]
    out = []
    for i, idx in enumerate(order):
        factors = []
        for j in idx:
            if values[i, j] <= 0:
                break
            name = feats[j]
            v = float(frame[name].iloc[i])
            factors.append(
                {
                    "feature": name,
                    "value": v,
                    "contribution": float(values[i, j]),
                    "text": describe(name, v, templates),
                }
            )
        sentence = (
            "Higher risk mainly because: " + "; ".join(f["text"] for f in factors) + "."
            if factors
            else "No factor raises the risk above the usual level."
        )
        out.append({"factors": factors, "sentence": sentence})
    return out
