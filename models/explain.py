"""Why a cell, case or site scored high: SHAP contributions in plain words.

* :func:`contributions`: XGBoost's exact tree SHAP values (``pred_contribs=True``), one
  column per feature plus ``bias``; they sum to the raw margin of each row.
* :func:`global_importance`: mean absolute contribution per feature.
* :func:`explain_rows`: the top factors raising each prediction, each as a sentence
  from the feature catalogue (:func:`features.catalog.describe`, which matches every
  concrete name against the catalogue's patterns, ``lr_smooth_hl1y_s2`` included: the
  one wording path the models page and ``docs/features.md`` use too); a caller's own
  ``name -> template`` map (with ``{value}``) comes first; a feature the catalogue does
  not know falls back to ``name = value`` (the value rounded).
  Every sentence comes in English (``sentence``, ``text``) and Chinese (``sentence_zh``,
  ``text_zh``, from the catalogue's ``zh`` templates); ``reason`` is the pair as the
  warnings' reasons carry it, ``{"en": ..., "zh": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from features import catalog, derived
from features.catalog import FEATURES, fill_template

SENTENCE = {
    "en": (
        "Higher risk mainly because: ",
        "; ",
        ".",
        "No factor raises the risk above the usual level.",
    ),
    "zh": ("风险偏高的主要原因：", "；", "。", "没有因素使风险高于常态。"),
}


def feature_descriptions(lang: str = "en") -> dict[str, str]:
    """Description templates in ``lang`` ('en' or 'zh') of every catalogued feature (the
    baselines' stacked scores included) and every derived input."""
    out: dict[str, str] = {}
    entries = {**FEATURES, **{d.name: d.info for d in derived.DERIVED}}
    for name, entry in entries.items():
        if isinstance(entry, str):
            out[name] = entry
        elif isinstance(entry, Mapping):
            text = entry.get("zh") if lang == "zh" else None
            out[name] = str(text or entry.get("template") or entry.get("description") or name)
        else:
            text = getattr(entry, "zh", None) if lang == "zh" else None
            text = text or getattr(entry, "template", None) or getattr(entry, "description", None)
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


def _fill(template: str, value: float, lang: str) -> str:
    return fill_template(template, lang, value=value)


def describe(
    name: str, value: float, templates: Mapping[str, str] | None = None, lang: str = "en"
) -> str:
    """One feature value as a sentence in ``lang`` (numbers in its style): from
    ``templates`` if it has ``name``, else from the feature catalogue
    (:func:`features.catalog.describe`, patterns included). A reader saw
    "lr_smooth_hl1y_s2 = 27.2608" in every incident warning: the reasons matched a fixed
    list of expanded names only, which lacked the catalogue's ``s2`` variant."""
    template = (templates or {}).get(name)
    if template:
        try:
            return _fill(template, value, lang)
        except (KeyError, IndexError, ValueError):
            return f"{template} ({catalog.plain_number(value)})"
    return catalog.describe(name, value, lang)


# a site's movement features are read at each sensor's last reading before the origin
# (features.geohazard: "displacement_age_days" says how old it is); a factor named from a
# reading older than this says so, so a silent sensor's last surge is not read as now
MOVEMENT_FEATURES = (
    "velocity_mm_per_day",
    "acceleration_mm_per_day2",
    "steady_velocity_mm_per_day",
    "tangent_angle_deg",
    "inverse_velocity_day_per_mm",
    "fukuzono_hours_to_failure",
)
MOVEMENT_STALE_DAYS = 1.0
AS_OF = {
    "en": " (as of the last displacement reading, {d:.1f} days before this run)",
    "zh": "（截至 {d:.1f} 天前的最近一次位移读数）",
}


def sentence(texts: list[str], lang: str) -> str:
    """The factors' texts as one sentence in ``lang``."""
    lead, sep, end, none = SENTENCE.get(lang, SENTENCE["en"])
    return lead + sep.join(texts) + end if texts else none


def explain_rows(
    contribs: pd.DataFrame,
    frame: pd.DataFrame,
    templates: Mapping[str, str] | None = None,
    top_n: int = 3,
    templates_zh: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Top risk-raising factors of each row, in English and Chinese.

    Each row: ``{"factors": [{feature, value, contribution, text, text_zh}], "sentence":
    str, "sentence_zh": str, "reason": {"en": sentence, "zh": sentence_zh}}``. Texts
    come from ``templates`` / ``templates_zh`` where they name the feature, else from the
    catalogue (:func:`describe`); a feature the catalogue does not know is written
    ``name = value``.
    """
    feats = [c for c in contribs.columns if c != "bias"]
    values = contribs[feats].to_numpy()
    age = (
        pd.to_numeric(frame["displacement_age_days"], errors="coerce").to_numpy(float)
        if "displacement_age_days" in frame
        else np.full(len(frame), np.nan)
    )
    order = np.argsort(-values, axis=1)[:, :top_n]
    out = []
    for i, idx in enumerate(order):
        factors = []
        for j in idx:
            if values[i, j] <= 0:
                break
            name = feats[j]
            v = float(frame[name].iloc[i])
            stale = name in MOVEMENT_FEATURES and bool(age[i] > MOVEMENT_STALE_DAYS)
            en_as_of = AS_OF["en"].format(d=age[i]) if stale else ""
            zh_as_of = AS_OF["zh"].format(d=age[i]) if stale else ""
            factors.append(
                {
                    "feature": name,
                    "value": v,
                    "contribution": float(values[i, j]),
                    "text": describe(name, v, templates) + en_as_of,
                    "text_zh": describe(name, v, templates_zh, "zh") + zh_as_of,
                }
            )
        en = sentence([f["text"] for f in factors], "en")
        zh = sentence([f["text_zh"] for f in factors], "zh")
        out.append(
            {"factors": factors, "sentence": en, "sentence_zh": zh, "reason": {"en": en, "zh": zh}}
        )
    return out
