"""Four-level warning logic (pure: frames and parameters in, frames out).

Levels follow China's scheme (docs/design.md, ../shared/DOMAIN.md):
``level_rank`` 1 blue (IV), 2 yellow (III), 3 orange (II), 4 red (I); 0 = no warning.

Three pieces:

* **Probability levels with hysteresis** (:func:`assign_levels`): a unit is raised to
  level k when its calibrated probability reaches ``raise_at[k]``; once at level k it
  stays there until the probability falls below the lower ``hold_at[k]``, so levels
  do not flap from one run to the next.
* **Capacity** (:func:`apply_capacity`): panels are finite, so at most N orange+red
  warnings per county per week; the lowest-probability extras drop to yellow.
* **Geohazard sensor rules** live in :mod:`riskwarn.sensor_rules` (their names are
  importable from here too); :func:`combine_geohazard_levels` puts model and sensor
  levels together (a red sensor rule wins whatever the model says; a dead or gappy
  sensor is flagged and never read as "no movement").

:func:`build_warnings` turns scored units plus levels into rows of the serving-store
``warnings`` table (reasons, evidence, lead time, state ``new``), and :func:`roll_up`
counts them per township or county.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskwarn import domains
from riskwarn.domains import LevelPolicy
from riskwarn.sensor_rules import (  # noqa: F401  (moved there; names kept here)
    DISPLACEMENT_TYPES,
    NOWCAST_RULES,
    HealthRules,
    SensorRules,
    displacement_kinematics,
    sensor_health,
    sensor_health_reason,
    sensor_levels,
    sensor_rule_reason,
)
from riskwarn.store.models import WARNING_CONTENT

LEVEL_NAMES: dict[int, str] = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
LEVEL_ROMAN: dict[int, str] = {1: "IV", 2: "III", 3: "II", 4: "I"}
LEVEL_RANKS: dict[str, int] = {v: k for k, v in LEVEL_NAMES.items()}

# The warning columns a scoring run writes (the store's content columns, less the run id
# the store adds) and the review state every new warning starts in.
WARNING_COLUMNS = [c for c in WARNING_CONTENT if c != "run_id"] + ["state"]


def level_name(rank: int) -> str | None:
    """'blue'..'red' for ranks 1..4, None for 0."""
    return LEVEL_NAMES.get(int(rank))


def probability_levels(probability: pd.Series, thresholds: tuple[float, ...]) -> pd.Series:
    """Highest rank k (1..4) with ``probability >= thresholds[k-1]``; 0 below all; NaN -> 0."""
    p = probability.to_numpy(dtype=float)
    ranks = np.zeros(len(p), dtype=int)
    for k, t in enumerate(thresholds, start=1):
        ranks = np.where(np.nan_to_num(p, nan=-1.0) >= t, k, ranks)
    return pd.Series(ranks, index=probability.index, name="level_rank")


def assign_levels(
    scores: pd.DataFrame,
    policy: LevelPolicy,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Levels from ``scores[unit_id, probability]`` with hysteresis against ``previous``.

    ``previous`` has ``unit_id`` and ``level_rank`` of the last run (may be empty).
    A unit's level is the larger of its raise level and the highest rank at or below
    its previous rank whose hold threshold it still meets. Returns ``scores`` with
    ``level_rank`` (int), ``raised_rank`` and ``held`` (True where hysteresis kept a
    level the raise thresholds alone would not).
    """
    out = scores.copy()
    raised = probability_levels(out["probability"], policy.raise_at)
    holdable = probability_levels(out["probability"], policy.hold_at)
    if previous is not None and len(previous):
        prev = (
            out["unit_id"]
            .map(previous.set_index("unit_id")["level_rank"])
            .fillna(0)
            .astype(int)
            .to_numpy()
        )
    else:
        prev = np.zeros(len(out), dtype=int)
    held_rank = np.minimum(prev, holdable.to_numpy())
    # a level the model may not hold (``policy.holds``) falls to the next one below it
    # that it may: the hold never keeps a level the model was not fitted to warn at
    floor = np.zeros(5, dtype=int)
    for rank in range(1, 5):
        floor[rank] = rank if policy.holds[rank - 1] else floor[rank - 1]
    held_rank = floor[held_rank]
    level = np.maximum(raised.to_numpy(), held_rank)
    out["raised_rank"] = raised.to_numpy()
    out["level_rank"] = level
    out["held"] = level > raised.to_numpy()
    return out


def apply_capacity(
    levels: pd.DataFrame,
    max_high_per_county: int | None,
    already_issued: Mapping[str, int] | None = None,
    protected: pd.Series | None = None,
) -> pd.DataFrame:
    """Keep at most ``max_high_per_county`` orange+red per county (minus ``already_issued``).

    Extras (lowest probability first; ties by unit_id) drop to yellow and get
    ``capped`` = True. Rows in ``protected`` (a boolean Series, e.g. a red sensor rule)
    are never capped. Units without a county share one pool keyed ''.
    """
    out = levels.copy()
    out["capped"] = False
    if max_high_per_county is None or out.empty:
        return out
    used = dict(already_issued or {})
    prot = (
        protected.reindex(out.index).fillna(False).astype(bool)
        if protected is not None
        else pd.Series(False, index=out.index)
    )
    county = out.get("county_code", pd.Series("", index=out.index)).fillna("").astype(str)
    high = (out["level_rank"] >= 3) & ~prot
    order = (
        out.assign(_county=county, _p=out["probability"].fillna(-1.0))
        .loc[high]
        .sort_values(
            ["_county", "level_rank", "_p", "unit_id"], ascending=[True, False, False, True]
        )
    )
    order["_n"] = order.groupby("_county").cumcount() + 1
    counties = order["_county"].to_numpy(dtype=object)
    # protected high warnings in the county use up capacity first
    n_prot = (prot & (out["level_rank"] >= 3)).groupby(county).sum().to_dict()
    allowed = pd.Series(
        [max(max_high_per_county - used.get(c, 0), 0) - int(n_prot.get(c, 0)) for c in counties],
        index=order.index,
        dtype="int64",
    )
    drop = order.index[order["_n"] > allowed]
    out.loc[drop, "level_rank"] = 2
    out.loc[drop, "capped"] = True
    return out


# --------------------------------------------------------------------------- geohazard


def combine_geohazard_levels(
    model_levels: pd.DataFrame,
    sensor: pd.DataFrame,
) -> pd.DataFrame:
    """Combine model levels with sensor rules and health per site.

    ``model_levels``: ``unit_id``, ``probability``, ``level_rank`` (from
    :func:`assign_levels`). ``sensor``: ``unit_id``, ``sensor_level_rank``,
    ``sensor_red``, ``sensor_reason``, ``health_status`` ('ok' or a problem) and
    ``health_note``. The level is the larger of the two; a site whose sensors are all
    unhealthy gets at least blue so the problem reaches a person. Adds
    ``sensor_red`` (protects from capacity) and ``sensor_flag`` (health problem).
    """
    m = model_levels.merge(sensor, on="unit_id", how="left")
    m["sensor_level_rank"] = m["sensor_level_rank"].fillna(0).astype(int)
    m["sensor_red"] = m["sensor_red"].fillna(False).astype(bool)
    m["sensor_reason"] = m["sensor_reason"].fillna("")
    m["health_status"] = m["health_status"].fillna("ok")
    m["health_note"] = m["health_note"].fillna("")
    m["sensor_flag"] = m["health_status"] != "ok"
    level = np.maximum(m["level_rank"].to_numpy(), m["sensor_level_rank"].to_numpy())
    level = np.where(m["sensor_flag"], np.maximum(level, 1), level)
    m["level_rank"] = level.astype(int)
    return m


MODEL_UNAVAILABLE_REASON: dict[str, str] = {
    "en": "Model unavailable: this warning comes from the sensor rules only.",
    "zh": "模型不可用：本预警仅依据传感器规则。",
}


# --------------------------------------------------------------------------- warnings rows


def warning_id(domain: str, unit_id: str, valid_from: pd.Timestamp) -> str:
    """Deterministic id ``{domain}:{unit_id}:{valid_from:%Y%m%dT%H%MZ}`` (STORE_API.md)."""
    ts = pd.Timestamp(valid_from)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return f"{domain}:{unit_id}:{ts:%Y%m%dT%H%MZ}"


LEVEL_COLOUR_ZH: dict[int, str] = {1: "蓝色", 2: "黄色", 3: "橙色", 4: "红色"}
HELD_REASON: dict[str, str] = {
    "en": "Kept at this level by hysteresis (was higher in the previous run).",
    "zh": "因滞回规则保持在此等级（上一期等级更高）。",
}
CAPPED_REASON: dict[str, str] = {
    "en": "Lowered to yellow: the county's weekly orange/red capacity is used.",
    "zh": "已降为黄色：本县本周橙色/红色预警名额已用完。",
}


def pct_text(share: float, digits: int = 1) -> str:
    """A share (0..1) as a percentage with ``digits`` decimals: the one rule of the
    warning header (``dashboard.i18n.fmt_pct``) and the reasons, so a yellow at p = 0.0012
    reads "0.1%" in both (whole percents printed "0%" beside the header's "0.1%")."""
    return f"{float(share) * 100:.{digits}f}%"


def horizon_words(horizon_hours: float) -> dict[str, str]:
    """A forecast horizon in words: whole days as days ("30 days" / "30 天": a dispute
    case's 720 h read as hours), one day and anything else in hours ("24 h" / "24 小时")."""
    hours = float(horizon_hours)
    days = hours / 24
    if hours > 24 and days == int(days):
        n = int(days)
        return {"en": f"{n} day" + ("s" if n != 1 else ""), "zh": f"{n} 天"}
    return {"en": f"{hours:.0f} h", "zh": f"{hours:.0f} 小时"}


def probability_reason(
    probability: float,
    horizon_hours: float,
    rank: int,
    threshold: float | None = None,
    usual: float | None = None,
) -> dict[str, str]:
    """The model-probability reason of a warning in English and Chinese.

    ``threshold``: the model's own threshold of the level (a site model carries levels
    set in training, :func:`riskwarn.nowcast.level_sources`), said in the reason with the
    domain's threshold of that level (``usual``) it replaces: "0.9% ... (level II orange)"
    read as a contradiction where the domain's orange is 8% (review of 6 Dec 2026)."""
    hz = horizon_words(horizon_hours)
    if threshold is not None and np.isfinite(threshold):
        digits = 2 if threshold < 0.1 else 1
        p, th = pct_text(probability, digits), pct_text(threshold, digits)
        dom_en = f", not the domain's {pct_text(usual, 0)}" if usual else ""
        dom_zh = f"，而非本领域通用的 {pct_text(usual, 0)}" if usual else ""
        return {
            "en": f"Model probability {p} over the next {hz['en']}, at or above this "
            f"model's own {LEVEL_NAMES[rank]} threshold of {th} (set in training{dom_en}): "
            f"level {LEVEL_ROMAN[rank]} {LEVEL_NAMES[rank]}.",
            "zh": f"模型预测未来 {hz['zh']}内的概率为 {p}，达到本模型自身的"
            f"{LEVEL_COLOUR_ZH[rank]}阈值 {th}（训练时设定{dom_zh}）："
            f"{LEVEL_COLOUR_ZH[rank]}，{LEVEL_ROMAN[rank]}级。",
        }
    return {
        "en": f"Model probability {pct_text(probability)} over the next {hz['en']} "
        f"(level {LEVEL_ROMAN[rank]} {LEVEL_NAMES[rank]}).",
        "zh": f"模型预测未来 {hz['zh']}内的概率为 {pct_text(probability)}"
        f"（{LEVEL_COLOUR_ZH[rank]}，{LEVEL_ROMAN[rank]}级）。",
    }


def _model_below(evidence: Mapping[str, Any], rank: int) -> bool:
    """Whether a warning's evidence records what each source said
    (:func:`riskwarn.nowcast.level_sources`) and the model alone gave less than level
    ``rank``: then another source set the level."""
    if "model_level" not in evidence:
        return False
    return LEVEL_RANKS.get(str(evidence.get("model_level")), 0) < rank


def model_alone_reason(
    probability: float, horizon_hours: float, model_level: Any
) -> dict[str, str]:
    """The model-probability reason of a warning whose level another source set: what the
    model alone gave (its level, or below every threshold), never the warning's level."""
    k = LEVEL_RANKS.get(str(model_level), 0)
    hz = horizon_words(horizon_hours)
    en = f"level {LEVEL_ROMAN[k]} {LEVEL_NAMES[k]}" if k else "below every model threshold"
    zh = f"{LEVEL_COLOUR_ZH[k]}，{LEVEL_ROMAN[k]}级" if k else "未达模型任何阈值"
    return {
        "en": f"Model probability {pct_text(probability)} over the next {hz['en']} "
        f"(the model alone: {en}; another source set the level).",
        "zh": f"模型预测未来 {hz['zh']}内的概率为 {pct_text(probability)}"
        f"（仅模型：{zh}；预警等级由其他依据给出）。",
    }


def _own_threshold(evidence: Mapping[str, Any], rank: int) -> float | None:
    """The model's own threshold of level ``rank`` recorded in a warning's evidence
    (``model_threshold`` of :func:`riskwarn.nowcast.level_sources`), when the model set
    that level (its ``model_level`` is it); else None."""
    th, level = evidence.get("model_threshold"), evidence.get("model_level")
    if th is None or level != LEVEL_NAMES.get(rank):
        return None
    return float(th)


def _domain_threshold(domain: str, rank: int) -> float | None:
    """The domain's own raise threshold of level ``rank`` (riskwarn.domains), or None."""
    try:
        return float(domains.get(domain).levels.raise_at[rank - 1])
    except (KeyError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class WarningContext:
    """Run-level facts a warning row needs."""

    domain: str
    unit_type: str
    origin: pd.Timestamp
    horizon_hours: float
    extra_evidence: dict[str, Any] = field(default_factory=dict)


def build_warnings(
    levels: pd.DataFrame,
    ctx: WarningContext,
    explanations: Mapping[str, list[Any]] | None = None,
    evidence: Mapping[str, dict[str, Any]] | None = None,
    model_explanations: Mapping[str, list[Any]] | None = None,
) -> pd.DataFrame:
    """Rows of the ``warnings`` table for every unit with ``level_rank`` >= 1.

    ``levels`` has ``unit_id``, ``probability``, ``score``, ``level_rank`` and
    optionally ``county_code``, ``township_code``, ``held``, ``capped``,
    ``sensor_reason``, ``health_note``, ``failure_in_hours``. ``explanations`` maps a
    unit to its explanation sentences (models explain; each a plain string or a
    bilingual ``{"en": ..., "zh": ...}``, as every item of ``reasons``), ``evidence`` to a
    JSON-able summary. ``model_explanations``: the model's own sentences, after the
    others. The reason that set the level comes first: the model probability where the
    model set it; where the evidence records what each source said
    (:func:`riskwarn.nowcast.level_sources`) and the model alone gave less, the other
    sources' reasons (``explanations``, the one that set the level first) and then what
    the model alone gave (:func:`model_alone_reason`). Lead time: the inverse-velocity time to failure where a sensor
    forecasts one, otherwise the forecast horizon (the warning covers
    [origin, origin + horizon)). Sorted by level then probability, descending.
    """
    explanations = explanations or {}
    model_explanations = model_explanations or {}
    evidence = evidence or {}
    w = levels.loc[levels["level_rank"] >= 1].copy()
    origin = pd.Timestamp(ctx.origin)
    origin = origin.tz_localize("UTC") if origin.tzinfo is None else origin.tz_convert("UTC")
    valid_to = origin + pd.Timedelta(hours=ctx.horizon_hours)
    for col in ("county_code", "township_code"):
        if col not in w:
            w[col] = None
    rows = []
    for r in w.itertuples(index=False):
        rank = int(r.level_rank)
        p = getattr(r, "probability", np.nan)
        reasons: list[Any] = []  # each a plain string or {"en": ..., "zh": ...}
        unit_ev = evidence.get(r.unit_id, {})
        if p is not None and not pd.isna(p):
            own = _own_threshold(unit_ev, rank)
            usual = _domain_threshold(ctx.domain, rank) if own is not None else None
            reasons.append(probability_reason(float(p), ctx.horizon_hours, rank, own, usual))
        if reasons and _model_below(unit_ev, rank):
            # another source set the level (a sensor rule, a fault, the hold): its reason
            # first; the model's says what the model alone gave, after them
            reasons = []
            alone = model_alone_reason(float(p), ctx.horizon_hours, unit_ev.get("model_level"))
            reasons.extend([*explanations.get(r.unit_id, []), alone])
        else:
            reasons.extend(explanations.get(r.unit_id, []))
        reasons.extend(model_explanations.get(r.unit_id, []))
        for col in ("sensor_reason", "health_note"):
            text = getattr(r, col, "")
            if isinstance(text, str) and text:
                reasons.append(text)
        if bool(getattr(r, "held", False)):
            reasons.append(dict(HELD_REASON))
        if bool(getattr(r, "capped", False)):
            reasons.append(dict(CAPPED_REASON))
        fail_h = getattr(r, "failure_in_hours", np.nan)
        lead = (
            float(fail_h)
            if fail_h is not None and not pd.isna(fail_h)
            else float(ctx.horizon_hours)
        )
        ev = {**ctx.extra_evidence, **evidence.get(r.unit_id, {})}
        if bool(getattr(r, "sensor_flag", False)):
            ev["sensor_health"] = getattr(r, "health_status", "unknown")
        score = getattr(r, "score", p)
        rows.append(
            {
                "warning_id": warning_id(ctx.domain, str(r.unit_id), origin),
                "domain": ctx.domain,
                "unit_type": ctx.unit_type,
                "unit_id": str(r.unit_id),
                "origin": origin,
                "valid_from": origin,
                "valid_to": valid_to,
                "level": LEVEL_NAMES[rank],
                "level_rank": rank,
                "probability": None if p is None or pd.isna(p) else float(p),
                "score": None if score is None or pd.isna(score) else float(score),
                "reasons": reasons,
                "evidence": ev,
                "lead_time_hours": lead,
                "county_code": r.county_code,
                "township_code": r.township_code,
                "state": "new",
            }
        )
    out = pd.DataFrame(rows, columns=WARNING_COLUMNS)
    if out.empty:
        return out
    return out.sort_values(
        ["level_rank", "probability", "unit_id"], ascending=[False, False, True], na_position="last"
    ).reset_index(drop=True)


def roll_up(warnings: pd.DataFrame, by: str = "county_code") -> pd.DataFrame:
    """Warnings counted per admin unit (``county_code`` or ``township_code``) and level.

    Returns one row per unit: ``n_blue`` .. ``n_red``, ``n_total``, ``max_level_rank``
    and ``max_level``.
    """
    if by not in ("county_code", "township_code"):
        raise ValueError("roll up by county_code or township_code")
    cols = [f"n_{name}" for name in LEVEL_NAMES.values()]
    if warnings.empty:
        return pd.DataFrame(columns=[by, *cols, "n_total", "max_level_rank", "max_level"])
    w = warnings.assign(**{by: warnings[by].fillna("unknown")})
    counts = pd.crosstab(w[by], w["level_rank"]).reindex(columns=[1, 2, 3, 4], fill_value=0)
    counts.columns = cols
    counts["n_total"] = counts[cols].sum(axis=1)
    counts["max_level_rank"] = w.groupby(by)["level_rank"].max()
    counts["max_level"] = counts["max_level_rank"].map(LEVEL_NAMES)
    return (
        counts.reset_index()
        .sort_values(["max_level_rank", "n_total", by], ascending=[False, False, True])
        .reset_index(drop=True)
    )
