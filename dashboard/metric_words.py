"""Backtest metric ids in plain words, English and Chinese, and the order a reader wants.

Training logs its metrics to MLflow under ids such as ``pai_at_0.05_ci_lo``,
``far_orange``, ``levels.velocity.3.mean_lead_h`` or
``model_minus_baseline_tss.caine.ci_hi`` (models/*_evaluation.py, models/site_levels.py).
:func:`metric_words` words them compositionally: a base metric, then what qualifies it
(share of the area, active area, orange or above, 95% CI bound), then its unit; the dotted
compounds name their method (:func:`dashboard.verdicts.method_name`) and warning level
(rank 1..4 = blue..red, "k or above": models.site_levels counts a level-k warning as any
level >= k). Acronyms (PAI, AUC, TSS...) stay in Chinese with Chinese words around them.
An id it cannot parse is returned as it is.
"""

from __future__ import annotations

import re

from dashboard.i18n import LEVEL_RANK, level_label
from dashboard.verdicts import method_name

# base metric -> (English, Chinese)
BASE: dict[str, tuple[str, str]] = {
    "pai": ("PAI", "命中效率 PAI"),
    "pei": ("PEI", "预测效率 PEI"),
    "hit_rate": ("hit rate", "命中率"),
    "auc": ("AUC", "排序能力 AUC"),
    "average_precision": ("average precision", "平均精确率"),
    "tss": ("TSS", "真技巧评分 TSS"),
    "pod": ("POD", "检出率 POD"),
    "far": ("FAR", "空报率 FAR"),
    "csi": ("CSI", "临界成功指数 CSI"),
    "brier": ("Brier score", "Brier 评分"),
    "ece": ("ECE", "期望校准误差 ECE"),
    "warned_share": ("share of rows warned", "预警占比"),
    "base_rate": ("base rate", "基础发生率"),
    "mean_lead_time": ("mean lead time", "平均提前时间"),
    "median_lead_time": ("median lead time", "提前时间中位数"),
    "gap_closed_share": (
        "share of the gap to the ex-post ceiling closed",
        "弥合与事后上限差距的比例",
    ),
    "gap_closed_share_loo": (
        "share of the gap to the leave-one-out ceiling closed",
        "弥合与留一事后上限差距的比例",
    ),
    "events": ("events", "事件数"),
    "events_active_area": ("events in the active area", "活跃区域内事件数"),
    "events_outside_area": ("events outside the scored area", "评分区域外事件数"),
    "escalations": ("escalated cases in the window (every one)", "回测期内升级案件数（全部）"),
    "escalations_never_scored": (
        "escalated cases never scored (in no row)",
        "从未评分的升级案件数（不在任何样本中）",
    ),
    "failures": ("failures", "失稳事件数"),
    "failures_warned": ("failures warned", "已预警的失稳事件数"),
    "final_threshold": ("final threshold", "最终阈值"),
    "threshold_last_fit": ("threshold of the last fit", "最近一次拟合的阈值"),
    "refits": ("refits", "重新拟合次数"),
    "n_active_cells": ("active grid cells", "活跃网格数"),
    "n_cells": ("grid cells", "网格数"),
    "n_days": ("days", "天数"),
    "n_origins": ("forecast origins", "预报起点数"),
    "n_rows": ("rows scored", "评分样本数"),
    "n_sites": ("sites", "监测点数"),
    "n_windows": ("backtest windows", "回测窗口数"),
}
# per-level metrics (levels.<method>.<k>.<m>) -> (English, Chinese, unit)
LEVEL_METRIC: dict[str, tuple[str, str, str]] = {
    "failures": ("failures", "失稳事件数", ""),
    "warned": ("failures warned", "已预警的失稳事件数", ""),
    "warned_share": ("share of rows warned", "预警占比", ""),
    "pod_rows": ("POD (rows)", "检出率 POD（按样本）", ""),
    "far_rows": ("FAR (rows)", "空报率 FAR（按样本）", ""),
    "mean_lead_h": ("mean lead time (h, 0 if not warned)", "平均提前时间（小时，未预警计 0）", ""),
    "median_lead_warned_h": ("median lead time of those warned", "已预警者提前时间中位数", "h"),
}
STAGES: dict[str, tuple[str, str]] = {
    "features": ("features", "特征"),
    "model": ("model", "模型"),
    "baselines": ("baselines", "基线方法"),
    "metrics": ("metrics", "指标"),
    "total": ("total", "合计"),
}
UNITS = {"h": ("h", "小时"), "s": ("s", "秒")}
BOUNDS = {"ci_lo": ("95% CI low", "95% 置信区间下限"), "ci_hi": ("95% CI high", "95% 置信区间上限")}
RANK_LEVEL = {rank: level for level, rank in LEVEL_RANK.items()}
_AT = re.compile(r"^(pai|pei|hit_rate)(_active_area)?_at_([0-9.]+)$")
# the case model's event measure (models.case_models.escalation_recall)
_FLAGGED = re.compile(r"^(escalations_flagged|escalation_recall)_at_([0-9]*\.?[0-9]+)$")
FLAGGED: dict[str, tuple[str, str]] = {
    "escalations_flagged": ("escalated cases flagged", "已标出的升级案件数"),
    "escalation_recall": ("share of escalated cases flagged", "升级案件标出率"),
}
_MODEL = {"en": "the model", "zh": "模型"}


def _say(name: str, quals: list[str], unit: str, lang: str) -> str:
    """``name`` with its qualifiers and unit: "name, q1, q2 (h)" / "名称（q1，q2，小时）"."""
    u = UNITS[unit][lang == "zh"] if unit else ""
    if lang == "zh":
        inner = [q for q in quals if q] + ([u] if u else [])
        return name + (f"（{'，'.join(inner)}）" if inner else "")
    return ", ".join([name, *quals]) + (f" ({u})" if u else "")


def _level(k: str, lang: str) -> str | None:
    level = RANK_LEVEL.get(int(k)) if k.isdigit() else None
    if level is None:
        return None
    if lang == "zh":  # "橙色（II级）" -> "橙色及以上"; red is the top level
        word = level_label(level, lang).split("（")[0]
        return word if level == "red" else word + "及以上"
    word = level_label(level, lang).split(" (")[0].lower()
    return word if level == "red" else word + " or above"


def _plain(metric: str, lang: str) -> str | None:
    """A flat metric id (no dots) in words, or None."""
    zh = lang == "zh"
    quals: list[str] = []
    bound = next((b for b in BOUNDS if metric.endswith("_" + b)), None)
    if bound:
        metric = metric.removesuffix("_" + bound)
    unit = ""
    if metric.endswith("_h") and metric.removesuffix("_h") in (
        "mean_lead_time",
        "median_lead_time",
        "mean_lead_time_orange",
        "median_lead_time_orange",
    ):
        metric, unit = metric.removesuffix("_h"), "h"
    if metric.endswith("_orange"):
        metric = metric.removesuffix("_orange")
        quals.append(_level("3", lang) or "")
    flagged = _FLAGGED.match(metric)
    if flagged and not bound:
        pct = f"{float(flagged.group(2)) * 100:g}%"
        name = FLAGGED[flagged.group(1)][zh]
        qual = f"在办案件前 {pct}" if zh else f"top {pct} of the open cases at an origin"
        return _say(name, [qual], unit, lang)
    at = _AT.match(metric)
    if at:
        base, active, share = at.groups()
        if not re.fullmatch(r"[0-9]*\.?[0-9]+", share):
            return None
        pct = f"{float(share) * 100:g}%"
        if zh:
            quals.insert(0, f"{'活跃区域' if active else '全域'}前 {pct} 面积")
        else:
            quals.insert(0, f"at {pct} of the {'active ' if active else ''}area")
        metric = base
    if metric not in BASE:
        return None
    if bound:
        quals.append(BOUNDS[bound][zh])
    return _say(BASE[metric][zh], quals, unit, lang)


def headline_short(headline: str | None, lang: str) -> str:
    """The headline metric of ``metrics.json`` (``pai@0.05``, ``auc``, ``average_precision``)
    in short words ("PAI@5%", "AUC", "AP"); unknown: "the headline metric" / "主指标"."""
    if isinstance(headline, str):
        pai = re.fullmatch(r"pai@([0-9]*\.?[0-9]+)", headline)
        if pai:
            return f"PAI@{float(pai.group(1)) * 100:g}%"
        if headline in HEADLINE_SHORT:
            return HEADLINE_SHORT[headline]
    return "主指标" if lang == "zh" else "the headline metric"


HEADLINE_SHORT = {"auc": "AUC", "average_precision": "AP", "tss": "TSS", "brier": "Brier"}


def metric_words(metric: str, lang: str, headline: str | None = None) -> str:
    """A backtest metric id in plain words of ``lang`` (``zh`` or ``en``); unknown ids as given.
    ``headline``: the run's headline metric (``metrics.json``), named in the model-minus-
    baseline rows.

    >>> metric_words("pai_at_0.05_ci_lo", "en")
    'PAI, at 5% of the area, 95% CI low'
    """
    zh = lang == "zh"
    parts = metric.split(".")
    head = parts[0]
    words: str | None = None
    if head == "timings_s" and len(parts) == 2 and parts[1].removesuffix("_s") in STAGES:
        stage = STAGES[parts[1].removesuffix("_s")][zh]
        words = _say("耗时：" + stage if zh else f"time: {stage}", [], "s", lang)
    elif head == "levels" and len(parts) == 4 and parts[3] in LEVEL_METRIC:
        level = _level(parts[2], lang)
        en, cn, unit = LEVEL_METRIC[parts[3]]
        if level:
            who = method_name(parts[1], lang)
            words = _say(f"{who}·{level}：{cn}" if zh else f"{who}, {level}: {en}", [], unit, lang)
    elif head == "lead_model_minus" and len(parts) == 4:
        level, who = _level(parts[2], lang), method_name(parts[1], lang)
        if level and parts[3] == "n":
            words = (
                f"比较的失稳事件数（模型对{who}，{level}）"
                if zh
                else f"failures compared, the model vs {who}, {level}"
            )
        elif level and parts[3] in ("diff", *BOUNDS):
            quals = [level] + ([BOUNDS[parts[3]][zh]] if parts[3] in BOUNDS else [])
            name = (
                f"平均提前时间差：模型减{who}" if zh else f"mean lead time, the model minus {who}"
            )
            words = _say(name, quals, "h", lang)
    elif head in ("model_minus_baseline", "model_minus_baseline_tss") and len(parts) == 3:
        if parts[2] in ("diff", *BOUNDS):
            what = "TSS" if head.endswith("_tss") else headline_short(headline, lang)
            who = method_name(parts[1], lang)
            quals = [what] + ([BOUNDS[parts[2]][zh]] if parts[2] in BOUNDS else [])
            name = f"模型减{who}" if zh else f"the model minus {who}"
            words = name + (f"（{'，'.join(quals)}）" if zh else f" ({', '.join(quals)})")
    elif len(parts) == 1 or _AT.match(metric.split("_ci_")[0]) or _FLAGGED.match(metric):
        words = _plain(metric, lang)
    if words is None:
        return metric
    return words[0].upper() + words[1:] if not zh else words


# reading order of the flat metrics: ranking, warning skill, lead, calibration, counts
_ORDER = [
    "pai",
    "pei",
    "hit_rate",
    "auc",
    "average_precision",
    "tss",
    "pod",
    "far",
    "csi",
    "warned_share",
    "mean_lead_time",
    "median_lead_time",
    "brier",
    "ece",
    "gap_closed_share",
    "gap_closed_share_loo",
    "base_rate",
    "final_threshold",
    "threshold_last_fit",
]
_GROUPS = ["", "model_minus_baseline", "model_minus_baseline_tss", "levels", "lead_model_minus"]


def metric_order(metric: str) -> tuple[object, ...]:
    """Sort key: headline metrics first (each share of area in rising order, its CI after
    it), then comparisons with other methods, per-level figures, counts, timings."""
    head = metric.split(".")[0]
    if head in _GROUPS[1:]:
        return (
            _GROUPS.index(head),
            metric.replace("ci_lo", "diff~1").replace("ci_hi", "diff~2"),
            0.0,
            0,
        )
    if "." in metric and not _AT.match(metric.split("_ci_")[0]) and not _FLAGGED.match(metric):
        return (len(_GROUPS) + 1, metric, 0.0, 0)  # timings, anything new and dotted
    bound = next((i + 1 for i, b in enumerate(BOUNDS) if metric.endswith("_" + b)), 0)
    stem = metric.split("_ci_")[0]
    at = _AT.match(stem)
    share = float(at.group(3)) if at and re.fullmatch(r"[0-9]*\.?[0-9]+", at.group(3)) else 0.0
    if at:
        key = f"{_ORDER.index(at.group(1)):02d}{1 if at.group(2) else 0}"
        return (0, key, share, bound)
    base = stem.removesuffix("_h").removesuffix("_orange")
    if base in _ORDER:
        return (0, f"{_ORDER.index(base):02d}0{stem}", share, bound)
    return (len(_GROUPS), stem, share, bound)
