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
* **Geohazard sensor rules** (:func:`displacement_kinematics`, :func:`sensor_levels`,
  :func:`sensor_health`): improved tangent angle and Fukuzono inverse-velocity
  failure forecasts from cumulative displacement. Orange and red need *sustained,
  tertiary* acceleration (velocity rising over several consecutive steps and 1/v
  falling along a line); a seasonal step (one or two fast steps that then stop) is
  capped at yellow. A red sensor rule wins whatever the model says. A dead or
  gappy sensor is flagged as such and never read as "no movement".

:func:`build_warnings` turns scored units plus levels into rows of the serving-store
``warnings`` table (reasons, evidence, lead time, state ``new``), and :func:`roll_up`
counts them per township or county.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskwarn.domains import LevelPolicy
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


@dataclass(frozen=True)
class SensorRules:
    """Thresholds of the displacement rules (DOMAIN.md; all tunable).

    Tangent-angle bands: >= ``attention_deg`` blue (45° = steady creep, "attention"),
    >= ``yellow_deg`` yellow (a 5° margin above steady creep so that measurement noise
    around 45° does not raise yellow), >= ``orange_deg`` orange, >= ``red_deg`` red; orange/red only with tertiary
    (sustained) acceleration over ``n_accel`` consecutive steps with the inverse
    velocity falling along a line (R^2 >= ``min_inv_r2``). Inverse-velocity failure
    forecasts within ``red_failure_hours`` give red, within ``orange_failure_hours``
    orange.
    """

    attention_deg: float = 45.0
    yellow_deg: float = 50.0
    orange_deg: float = 80.0
    red_deg: float = 85.0
    n_accel: int = 4
    min_inv_r2: float = 0.8
    red_failure_hours: float = 24.0
    orange_failure_hours: float = 72.0
    steady_window_steps: int = 12
    smooth_steps: int = 1
    convexity_tol: float = 0.1
    min_steady_velocity_mm_per_day: float = 0.01


def displacement_kinematics(
    displacement_mm: pd.Series,
    step: str | pd.Timedelta,
    rules: SensorRules | None = None,
) -> pd.DataFrame:
    """Causal kinematics of one cumulative-displacement series.

    ``displacement_mm`` is indexed by UTC time. The series is sampled at the end of
    each ``step`` (last reading in the step, gaps left as NaN) and every row uses
    only readings up to its own time. Columns: ``displacement_mm``,
    ``velocity_mm_per_day`` (over the last ``smooth_steps`` steps), ``steady_velocity_mm_per_day`` (median
    absolute velocity over the previous ``steady_window_steps`` steps, before the
    current accelerating run), ``tangent_angle_deg`` (improved tangent angle
    arctan(v / v_steady)), ``accel_steps`` (consecutive steps of rising velocity),
    ``inv_velocity_r2`` and ``failure_in_hours`` (Fukuzono: linear fit of 1/v over the
    last ``n_accel`` + 1 steps extrapolated to 1/v = 0; NaN unless tertiary),
    ``tertiary`` (sustained acceleration: at least ``n_accel`` consecutive rising
    steps, 1/v falling along a line, and the growth ratio v_t / v_{t-1} not falling,
    as in hyperbolic pre-failure creep; a seasonal step's growth saturates).
    """
    rules = rules or SensorRules()
    offset = pd.tseries.frequencies.to_offset(step)
    s = displacement_mm.dropna().sort_index()
    if isinstance(offset, pd.offsets.Tick):  # fixed steps: sample at the step's end
        sampled = s.resample(offset, label="right", closed="right").last()
    else:  # calendar steps (monthly data): one sample per period
        sampled = s.resample(offset).last()
    t_days = (sampled.index - sampled.index[0]).total_seconds() / 86400.0 if len(sampled) else []
    t = pd.Series(np.asarray(t_days, dtype=float), index=sampled.index)
    known = sampled.notna()
    dt = t.where(known).ffill().diff()
    # velocity between consecutive available samples
    m = max(int(rules.smooth_steps), 1)
    d_prev = sampled.ffill().shift(m)
    t_prev = t.where(known).ffill().shift(m)
    velocity = (sampled - d_prev) / (t - t_prev)
    velocity = velocity.where(known)
    del dt
    rising = velocity.diff() > 0
    run_id = (~rising).cumsum()
    accel_steps = rising.astype(int).groupby(run_id).cumsum()
    # steady velocity: median |v| over the window before the current rising run
    n = rules.steady_window_steps
    steady_all = velocity.abs().rolling(n, min_periods=max(3, n // 3)).median()
    lag = accel_steps.clip(lower=0).to_numpy() + 1
    pos = np.arange(len(velocity)) - lag
    steady_vals = np.where(pos >= 0, steady_all.to_numpy()[np.clip(pos, 0, None)], np.nan)
    steady = pd.Series(steady_vals, index=velocity.index).clip(
        lower=rules.min_steady_velocity_mm_per_day
    )
    tangent = np.degrees(np.arctan2(velocity, steady))
    # Fukuzono inverse velocity over the last n_accel + 1 samples
    k = rules.n_accel + 1
    inv_v = 1.0 / velocity.where(velocity > 0)
    mean_t = t.rolling(k).mean()
    mean_iv = inv_v.rolling(k).mean()
    cov = (t * inv_v).rolling(k).mean() - mean_t * mean_iv
    var_t = (t * t).rolling(k).mean() - mean_t**2
    var_iv = (inv_v * inv_v).rolling(k).mean() - mean_iv**2
    slope = cov / var_t
    r2 = (cov**2 / (var_t * var_iv)).where(var_iv > 0)
    intercept = mean_iv - slope * mean_t
    t_fail = -intercept / slope
    # Fukuzono/Voight tertiary creep: 1/v linear in t, so log v is convex (the step-to-step
    # growth ratio keeps rising). A seasonal step saturates: its growth ratio falls.
    log_v = np.log(velocity.where(velocity > 0))
    convex = log_v.diff().diff() >= -rules.convexity_tol
    tertiary = (accel_steps >= rules.n_accel) & (slope < 0) & (r2 >= rules.min_inv_r2) & convex
    failure_hours = ((t_fail - t) * 24.0).where(tertiary & (t_fail >= t))
    return pd.DataFrame(
        {
            "displacement_mm": sampled,
            "velocity_mm_per_day": velocity,
            "steady_velocity_mm_per_day": steady,
            "tangent_angle_deg": tangent,
            "accel_steps": accel_steps.astype(int),
            "inv_velocity_r2": r2,
            "failure_in_hours": failure_hours,
            "tertiary": tertiary.astype(bool),
        }
    )


def sensor_levels(kinematics: pd.DataFrame, rules: SensorRules | None = None) -> pd.DataFrame:
    """Sensor-rule level per row of :func:`displacement_kinematics` output (vectorised).

    Returns ``sensor_level_rank`` (0..4), ``sensor_red`` (a hard red rule fired) and
    ``sensor_reason`` (one sentence, '' when nothing fired).
    """
    rules = rules or SensorRules()
    k = kinematics
    a = k["tangent_angle_deg"].fillna(-90.0)
    fail_h = k["failure_in_hours"]
    tert = k["tertiary"].fillna(False).astype(bool)
    angle_rank = np.select(
        [
            a >= rules.red_deg,
            a >= rules.orange_deg,
            a >= rules.yellow_deg,
            a >= rules.attention_deg,
        ],
        [4, 3, 2, 1],
        0,
    )
    # without sustained acceleration a fast step is at most yellow
    angle_rank = np.where(tert, angle_rank, np.minimum(angle_rank, 2))
    fail_rank = np.select(
        [fail_h <= rules.red_failure_hours, fail_h <= rules.orange_failure_hours], [4, 3], 0
    )
    rank = np.maximum(angle_rank, fail_rank)
    red = rank == 4
    reasons = []
    for ang, fh, t_, r, ar in zip(a, fail_h, tert, rank, angle_rank, strict=True):
        if r == 0:
            reasons.append("")
            continue
        parts = [f"improved tangent angle {ang:.1f}°"]
        if t_:
            parts.append("sustained (tertiary) acceleration")
            if not math.isnan(fh):
                parts.append(f"inverse-velocity failure forecast in {fh:.0f} h")
        elif ar >= 2 and ang >= rules.orange_deg:
            parts.append(
                "a step without sustained acceleration (seasonal-step rule: capped at yellow)"
            )
        reasons.append("Displacement: " + ", ".join(parts) + ".")
    return pd.DataFrame(
        {"sensor_level_rank": rank.astype(int), "sensor_red": red, "sensor_reason": reasons},
        index=kinematics.index,
    )


@dataclass(frozen=True)
class HealthRules:
    """When a sensor counts as dead, gappy, flat or spiky over the look-back window."""

    expected_interval_s: int = 600
    dead_after_hours: float = 6.0
    max_missing_share: float = 0.3
    flat_min_readings: int = 12
    spike_mad_factor: float = 20.0
    max_spike_share: float = 0.05


def sensor_health(
    readings: pd.DataFrame,
    origin: pd.Timestamp,
    window_hours: float = 24.0,
    rules: HealthRules | None = None,
    sensors: pd.Series | None = None,
) -> pd.DataFrame:
    """Health of each sensor over ``[origin - window, origin)`` from long-form readings.

    ``readings`` has ``sensor_id``, ``observed_at`` (UTC) and ``value``; ``sensors``
    optionally lists every sensor expected to report (those with no reading at all are
    'dead'). Returns one row per sensor: ``n_readings``, ``missing_share``,
    ``hours_since_last``, ``spike_share``, ``status`` ('ok'|'dead'|'flat'|'gappy'|
    'spiky') and ``health_note`` (a sentence; '' when ok). A dead sensor says so; its
    silence is never evidence of stability.
    """
    rules = rules or HealthRules()
    start = origin - pd.Timedelta(hours=window_hours)
    w = readings.loc[(readings["observed_at"] >= start) & (readings["observed_at"] < origin)]
    w = w.sort_values(["sensor_id", "observed_at"])
    expected = max(int(window_hours * 3600 / rules.expected_interval_s), 1)
    diffs = w.groupby("sensor_id")["value"].diff()
    mad = diffs.abs().groupby(w["sensor_id"]).transform("median")
    spike = diffs.abs() > rules.spike_mad_factor * mad.clip(lower=1e-6)
    g = w.assign(_spike=spike, _valid=w["value"].notna()).groupby("sensor_id")
    stats = pd.DataFrame(
        {
            "n_readings": g["_valid"].sum(),
            "last_at": g["observed_at"].max(),
            "value_std": g["value"].std(),
            "spike_share": g["_spike"].mean(),
        }
    )
    ids = pd.Index(sensors.unique() if sensors is not None else stats.index, name="sensor_id")
    stats = stats.reindex(ids.union(stats.index))
    stats["n_readings"] = stats["n_readings"].fillna(0).astype(int)
    stats["spike_share"] = stats["spike_share"].fillna(0.0)
    stats["missing_share"] = (1.0 - stats["n_readings"] / expected).clip(0.0, 1.0)
    stats["hours_since_last"] = (origin - stats["last_at"]).dt.total_seconds() / 3600.0
    dead = stats["hours_since_last"].isna() | (stats["hours_since_last"] > rules.dead_after_hours)
    flat = (stats["n_readings"] >= rules.flat_min_readings) & (stats["value_std"].fillna(0) == 0)
    gappy = stats["missing_share"] > rules.max_missing_share
    spiky = stats["spike_share"] > rules.max_spike_share
    stats["status"] = np.select(
        [dead, flat, gappy, spiky], ["dead", "flat", "gappy", "spiky"], "ok"
    )
    stats["health_note"] = [
        ""
        if st == "ok"
        else (sensor_health_reason(str(sid), st, hs, ms, ss, window_hours) or {"en": ""})["en"]
        for sid, st, hs, ms, ss in zip(
            stats.index,
            stats["status"],
            stats["hours_since_last"],
            stats["missing_share"],
            stats["spike_share"],
            strict=True,
        )
    ]
    return stats.drop(columns=["last_at", "value_std"]).reset_index()


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


def sensor_rule_reason(
    level_rank: int,
    tangent_angle_deg: float,
    failure_in_hours: float,
    tertiary: bool,
    rules: SensorRules | None = None,
) -> dict[str, str] | None:
    """The displacement rule that set a site's level, as a bilingual reason item.

    ``{"en": ..., "zh": ...}`` (the warning ``reasons`` contract); None when no rule
    fired. A red rule says that it holds whatever the model says.
    """
    rules = rules or SensorRules()
    if level_rank <= 0:
        return None
    a = float(tangent_angle_deg)
    en = [f"improved tangent angle {a:.1f}°"]
    zh = [f"改进切线角 {a:.0f}°"]
    if tertiary and a >= rules.red_deg:
        en[0] += f" (>= {rules.red_deg:.0f}° red threshold)"
        zh[0] += f"，已超过 {rules.red_deg:.0f}° 红色阈值"
    elif tertiary and a >= rules.orange_deg:
        en[0] += f" (>= {rules.orange_deg:.0f}° orange threshold)"
        zh[0] += f"，已超过 {rules.orange_deg:.0f}° 橙色阈值"
    if tertiary:
        en.append("sustained (tertiary) acceleration")
        zh.append("持续加速（加速变形阶段）")
        if not math.isnan(failure_in_hours):
            en.append(f"inverse-velocity failure forecast in {failure_in_hours:.0f} h")
            zh.append(f"速度倒数法预测 {failure_in_hours:.0f} 小时后失稳")
    elif a >= rules.orange_deg:
        en.append("a step without sustained acceleration (seasonal-step rule: capped at yellow)")
        zh.append("单次位移台阶、无持续加速（季节性台阶规则：最高黄色）")
    text_en = "Displacement: " + ", ".join(en) + "."
    text_zh = "位移监测：" + "，".join(zh) + "。"
    if level_rank >= 4:
        text_en += " Hard sensor rule: red whatever the model says."
        text_zh += "触发传感器硬规则：无论模型结果如何均为红色预警。"
    elif level_rank == 3:
        text_en += " Sensor rule: at least orange whatever the model says."
        text_zh += "触发传感器规则：无论模型结果如何至少为橙色预警。"
    return {"en": text_en, "zh": text_zh}


def sensor_health_reason(
    sensor_id: str,
    status: str,
    hours_since_last: float,
    missing_share: float,
    spike_share: float,
    window_hours: float = 24.0,
) -> dict[str, str] | None:
    """A sensor-health problem as a bilingual reason item (None when the sensor is ok).

    The English text is :func:`sensor_health`'s ``health_note``.
    """
    if status == "ok":
        return None
    # no reading at all in the health window: the silence is at least that long
    silent = pd.isna(hours_since_last)
    since = f"in the last {window_hours:.0f} h" if silent else f"for {hours_since_last:.1f} h"
    since_zh = (
        f"过去 {window_hours:.0f} 小时内未上传任何"
        if silent
        else f"已 {hours_since_last:.1f} 小时未上传"
    )
    texts = {
        "dead": (
            f"Sensor {sensor_id} has sent no reading {since} — treated as unknown, "
            "not as no movement.",
            f"传感器 {sensor_id} {since_zh}数据——按状态未知处理，不视为无位移。",
        ),
        "flat": (
            f"Sensor {sensor_id} reports a constant value — likely stuck; treated as unknown.",
            f"传感器 {sensor_id} 读数恒定不变——疑似卡滞，按状态未知处理。",
        ),
        "gappy": (
            f"Sensor {sensor_id} missed {missing_share:.0%} of its readings in the last "
            f"{window_hours:.0f} h.",
            f"传感器 {sensor_id} 过去 {window_hours:.0f} 小时缺测 {missing_share:.0%}。",
        ),
        "spiky": (
            f"Sensor {sensor_id} shows spikes in {spike_share:.0%} of its readings "
            "(removed before use).",
            f"传感器 {sensor_id} 有 {spike_share:.0%} 的读数为异常跳点（已剔除）。",
        ),
    }
    en, zh = texts.get(
        status, (f"Sensor {sensor_id}: {status}.", f"传感器 {sensor_id}：{status}。")
    )
    return {"en": en, "zh": zh}


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


def probability_reason(probability: float, horizon_hours: float, rank: int) -> dict[str, str]:
    """The model-probability reason of a warning in English and Chinese."""
    return {
        "en": f"Model probability {probability:.0%} over the next {horizon_hours:.0f} h "
        f"(level {LEVEL_ROMAN[rank]} {LEVEL_NAMES[rank]}).",
        "zh": f"模型预测未来 {horizon_hours:.0f} 小时内的概率为 {probability:.0%}"
        f"（{LEVEL_COLOUR_ZH[rank]}，{LEVEL_ROMAN[rank]}级）。",
    }


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
) -> pd.DataFrame:
    """Rows of the ``warnings`` table for every unit with ``level_rank`` >= 1.

    ``levels`` has ``unit_id``, ``probability``, ``score``, ``level_rank`` and
    optionally ``county_code``, ``township_code``, ``held``, ``capped``,
    ``sensor_reason``, ``health_note``, ``failure_in_hours``. ``explanations`` maps a
    unit to its explanation sentences (models explain; each a plain string or a
    bilingual ``{"en": ..., "zh": ...}``, as every item of ``reasons``), ``evidence`` to a
    JSON-able summary. Lead time: the inverse-velocity time to failure where a sensor
    forecasts one, otherwise the forecast horizon (the warning covers
    [origin, origin + horizon)). Sorted by level then probability, descending.
    """
    explanations = explanations or {}
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
        if p is not None and not pd.isna(p):
            reasons.append(probability_reason(float(p), ctx.horizon_hours, rank))
        reasons.extend(explanations.get(r.unit_id, []))
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
