"""Reason text of a warning: why a unit is at its level, in English and Chinese.

Each reason is a bilingual ``{"en": ..., "zh": ...}`` item (or, from older models, an
English sentence). The model's own explanation (SHAP factors through the feature
catalogue's templates, :func:`models.explain.explain_rows`) comes first; without one,
the unit's recent event counts are the evidence. The sensor rules' sentences are made by
:mod:`riskwarn.warnings`; the nowcast (:mod:`riskwarn.nowcast`) puts them together.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from models.registry import Champion

log = logging.getLogger(__name__)


def count_evidence_reason(n7: int | None, n28: int | None) -> dict[str, str] | None:
    """Recent event counts of a cell as one reason in English and Chinese (None if none)."""
    en, zh = [], []
    if n7 is not None:
        en.append(f"{n7:,d} event{'' if n7 == 1 else 's'} in this cell in the last 7 days")
        zh.append(f"近 7 天本网格发生 {n7:,d} 起事件")
    if n28 is not None:
        en.append(f"{n28:,d} in the last 28 days")
        zh.append(f"近 28 天 {n28:,d} 起")
    if not en:
        return None
    return {"en": ", ".join(en).capitalize() + ".", "zh": "，".join(zh) + "。"}


def evidence_sentences(frame: pd.DataFrame) -> dict[str, list[dict[str, str]]]:
    """Plain-language evidence from count features when no model explanation is available
    (each a bilingual ``{"en": ..., "zh": ...}`` reason)."""
    out: dict[str, list[dict[str, str]]] = {}
    col7 = next((c for c in frame.columns if c.endswith("_7d") and c.startswith("count")), None)
    col28 = next((c for c in frame.columns if c.endswith("_28d") and c.startswith("count")), None)
    for r in frame.itertuples(index=False):
        reason = count_evidence_reason(
            int(getattr(r, col7)) if col7 else None, int(getattr(r, col28)) if col28 else None
        )
        out[str(r.unit_id)] = [reason] if reason else []
    return out


def explanation_reason(row: Mapping[str, Any]) -> Any:
    """The reason of one ``explain`` row: ``{"en", "zh"}`` when it has both, else the sentence."""
    if row.get("sentence_zh"):
        return {"en": row["sentence"], "zh": row["sentence_zh"]}
    return row["sentence"]


def model_explanations(champion: Champion, frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Explanation sentences from models when it offers them (bilingual
    ``{"en", "zh"}`` reasons), else count evidence."""
    python_model = champion.python_model()
    try:
        rows = python_model.explain(frame)
        return {
            str(u): [explanation_reason(r)] for u, r in zip(frame["unit_id"], rows, strict=True)
        }
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        log.info("no model explanations for %s (%s); using count evidence", champion.domain, exc)
        return evidence_sentences(frame)


def site_model_reasons(champion: Champion, frame: pd.DataFrame) -> dict[str, list[Any]]:
    """The champion's explanation per site ({} if it offers none): the bilingual
    ``reason`` of :func:`models.explain.explain_rows`, else its English sentence."""
    python_model = champion.python_model()
    try:
        rows = python_model.explain(frame)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        log.info("no model explanations for %s (%s)", champion.domain, exc)
        return {}
    return {
        str(u): [r.get("reason") or r["sentence"]] if r.get("factors") or r.get("deferred") else []
        for u, r in zip(frame["unit_id"], rows, strict=True)
    }
