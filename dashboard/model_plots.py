"""The models page's training plots and model card in the reader's language.

Training logs its importance and reliability plots as PNGs with English matplotlib text
and, since issue 12, the data behind them (``plots/importance.json``: feature id -> mean
|SHAP|, largest first; ``plots/reliability.json``: quantile bins with the mean predicted
probability, the observed rate and the row count; :data:`models.registry.PLOT_DATA`).
:func:`importance_chart` and :func:`reliability_chart` draw that data with Altair, axis
titles in the page's language and features named with the feature catalog's words (the
words the evidence uses). :func:`card_markdown` writes the model card in Chinese from what
the run logged (``metrics.json``, ``features.json``, params, ``gate.json``); the English
page keeps training's ``model_card.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

from dashboard.i18n import fmt_date, fmt_int, t
from dashboard.verdicts import (
    champion_of,
    champion_words,
    check_words,
    judged_failures,
    method_name,
    unjudged_checks,
)

PLOT_JSON = {"importance": "plots/importance.json", "reliability": "plots/reliability.json"}
"""The plots the page redraws from their data, and where training logs that data."""


def feature_label(name: str, lang: str) -> str:
    """A feature id as a short label in ``lang``: the catalogue's label, as the warnings'
    evidence names the feature ("Events in this cell, last 7 days" / "近 7 天本网格事件数":
    :func:`features.catalog.short_label`); for an entry without a label in ``lang``, its
    sentence with the value left open ("… events …"); an uncatalogued id as given."""
    from features.catalog import GROUP_ZH, fill_template, lookup, short_label

    label = short_label(name, lang)
    if label is not None:
        return label
    found = lookup(name)
    if found is None:
        return name
    info, parts = found
    template = re.sub(r"\{value[^}]*\}", "…", info.template_for(lang))
    words = {
        k: (GROUP_ZH.get(v, v) if lang == "zh" and k == "group" else v.replace("_", " "))
        for k, v in parts.items()
    }
    try:
        text = fill_template(template, lang, **words)
    except (KeyError, ValueError, IndexError):
        return name
    return re.sub(r"\s+", " ", text).strip()


LABEL_FONT_PX = 11  # the importance chart's feature names
LABEL_LINE_EM = 19.0  # one line of a name, in ems of that font (CJK 1 em, Latin about 0.6)
LABEL_LIMIT_PX = int((LABEL_LINE_EM + 2) * LABEL_FONT_PX)  # a line (and its closing marks) fits


def text_em(text: str) -> float:
    """Width of ``text`` in ems of a sans font: CJK characters 1, others 0.6 (the map's
    estimate, :func:`dashboard.map_layout.text_box_px`)."""
    return sum(1.0 if ord(ch) >= 0x2E80 else 0.6 for ch in text)


OPENING = "（(“《"  # never at a line's end
CLOSING = "）)”》，。、；：,.;:…"  # never at a line's start


def wrap_label(text: str, line_em: float = LABEL_LINE_EM) -> list[str]:
    """``text`` in lines of at most ``line_em`` ems, broken between words (Latin) or
    between characters (CJK; a run of digits or Latin letters such as "20:00-05:00" is
    never split). Nothing is dropped: the lines put back together are the text."""
    tokens = re.findall(r"[\u2e80-\uffff]|[^\u2e80-\uffff\s]+|\s+", text.strip())
    lines: list[str] = []
    line = ""
    for tok in tokens:
        full = line and not line.isspace() and text_em((line + tok).rstrip()) > line_em
        if full and tok not in CLOSING:  # a closing mark stays on its line
            carry = line[-1] if line[-1] in OPENING else ""  # an opening one goes down
            lines.append(line[: len(line) - len(carry)].rstrip())
            line = carry + ("" if tok.isspace() else tok)
        else:
            line += tok
    if line.strip():
        lines.append(line.rstrip())
    return lines or [text]


def importance_frame(data: Mapping[str, Any], lang: str) -> pd.DataFrame:
    """``plots/importance.json`` as rows: feature in words (``feature``, whole; ``label``,
    wrapped in lines joined by newlines, made unique with the id when two features read
    the same), mean |SHAP|."""
    bars = [b for b in data.get("features") or [] if isinstance(b, Mapping)]
    ids = [str(b["feature"]) for b in bars]
    words = [feature_label(i, lang) for i in ids]
    seen = pd.Series(words).duplicated(keep=False).tolist() if words else []
    labels = [
        "\n".join(wrap_label(f"{w} ({i})" if dup else w))
        for w, i, dup in zip(words, ids, seen, strict=True)
    ]
    return pd.DataFrame(
        {
            "feature": words,
            "label": labels,
            "value": [float(b["value"]) for b in bars],
        },
        columns=["feature", "label", "value"],
    )


def importance_chart(data: Mapping[str, Any], lang: str) -> alt.Chart:
    """Horizontal bars of mean |SHAP|, largest on top, features in the page's words.

    Each name is written whole, wrapped over lines (``labelExpr`` splits the label at its
    newlines): cut at 300 px with "…", long names lost the words that tell features apart
    (two read "… age-weighted past events around this cell (half-life one…"). The tooltip
    gives the name on one line."""
    frame = importance_frame(data, lang)
    what, who = t("plot_importance_x", lang), t("plot_feature", lang)
    lines = max((label.count("\n") + 1 for label in frame["label"]), default=1)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=what),
            y=alt.Y(
                "label:N",
                title=None,
                sort=list(frame["label"]),
                axis=alt.Axis(
                    labelExpr="split(datum.label, '\\n')",
                    labelLimit=LABEL_LIMIT_PX,
                    labelFontSize=LABEL_FONT_PX,
                    labelOverlap=False,
                ),
            ),
            tooltip=[
                alt.Tooltip("feature:N", title=who),
                alt.Tooltip("value:Q", title=what, format=".3f"),
            ],
        )
        # every label drawn, none skipped: a band holds the longest name's lines
        .properties(height=max(160, (LABEL_FONT_PX + 3) * lines * len(frame) + 8 * len(frame)))
    )


def reliability_frame(data: Mapping[str, Any]) -> pd.DataFrame:
    """``plots/reliability.json``'s bins as rows (mean predicted, observed rate, count)."""
    bins = [b for b in data.get("bins") or [] if isinstance(b, Mapping)]
    return pd.DataFrame(
        {
            "predicted": [float(b["mean_predicted"]) for b in bins],
            "observed": [float(b["observed_rate"]) for b in bins],
            "count": [int(b.get("count", 0)) for b in bins],
        },
        columns=["predicted", "observed", "count"],
    )


def observed_over_expected(data: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """``(observed, expected)`` events of ``plots/reliability.json``'s bins (each bin's
    observed rate and mean predicted probability times its rows): what the backtest saw
    against what the model's probabilities summed to. None without bins or expectation."""
    frame = reliability_frame(data or {})
    observed = float((frame["observed"] * frame["count"]).sum())
    expected = float((frame["predicted"] * frame["count"]).sum())
    return (observed, expected) if len(frame) and expected > 0 else None


def reliability_chart(data: Mapping[str, Any], lang: str) -> alt.LayerChart:
    """Observed rate against mean predicted probability per bin, with the diagonal of a
    perfectly calibrated model; titles in the page's language."""
    frame = reliability_frame(data)
    top = float(max(frame["predicted"].max(), frame["observed"].max(), 0.01)) if len(frame) else 1
    px, oy, n = t("plot_predicted", lang), t("plot_observed", lang), t("plot_rows", lang)
    diagonal = (
        alt.Chart(pd.DataFrame({"predicted": [0.0, top], "observed": [0.0, top]}))
        .mark_line(strokeDash=[4, 4], color="#555555")
        .encode(x="predicted:Q", y="observed:Q")
    )
    points = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("predicted:Q", title=px, axis=alt.Axis(format="%")),
            y=alt.Y("observed:Q", title=oy, axis=alt.Axis(format="%")),
            tooltip=[
                alt.Tooltip("predicted:Q", title=px, format=".1%"),
                alt.Tooltip("observed:Q", title=oy, format=".1%"),
                alt.Tooltip("count:Q", title=n, format=","),
            ],
        )
    )
    return (diagonal + points).properties(height=320)


# ----------------------------------------------------------------------------- model card


def _f(value: Any, digits: int) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{x:.{digits}f}" if math.isfinite(x) else "—"


def _ci(pair: Any, digits: int) -> str:
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return f"［{_f(pair[0], digits)}，{_f(pair[1], digits)}］"
    return ""


def _day(text: Any) -> str:
    day = pd.to_datetime(text, errors="coerce", utc=True) if text else None
    return "—" if day is None or pd.isna(day) else fmt_date(day, "zh", "UTC")


def _family(methods: Mapping[str, Any]) -> str | None:
    values = [v for v in methods.values() if isinstance(v, Mapping)]
    if not values:
        return None
    if any("pai@0.05" in v for v in values):
        return "hotspot"
    if any("tss" in v for v in values):
        return "site"
    if any("average_precision" in v for v in values):
        return "case"
    return None


def _table(family: str, methods: Mapping[str, Any], total: Any = "—") -> list[str]:
    """The per-method table; ``total``: the case window's escalations (the flagged
    columns' denominator)."""
    rows = [(k, v) for k, v in methods.items() if isinstance(v, Mapping)]
    if family == "hotspot":
        head = "| 方法 | 命中效率 PAI@5%［95% 置信区间］ | 命中率（前 5% 面积） | AUC |"
        rows.sort(key=lambda kv: -float(kv[1].get("pai@0.05", float("-inf"))))
        body = [
            f"| {method_name(k, 'zh')} | {_f(v.get('pai@0.05'), 2)} {_ci(v.get('pai@0.05_ci'), 2)}"
            f" | {_f(v.get('hit_rate@0.05'), 3)} | {_f(v.get('auc'), 3)} |"
            for k, v in rows
        ]
        sep = "|---|---|---|---|"
    elif family == "site":
        head = (
            "| 方法 | AUC［95% 置信区间］ | 平均精确率 | 真技巧评分 | 检出率 | 空报率 "
            "| 已预警的失稳 | 提前时间中位数（小时） |"
        )
        body = [
            f"| {method_name(k, 'zh')} | {_f(v.get('auc'), 3)} {_ci(v.get('auc_ci'), 3)}"
            f" | {_f(v.get('average_precision'), 3)} | {_f(v.get('tss'), 2)}"
            f" | {_f(v.get('pod'), 2)} | {_f(v.get('far'), 2)}"
            f" | {v.get('failures_warned', '—')}/{v.get('failures', '—')}"
            f" | {_f(v.get('median_lead_time_h'), 1)} |"
            for k, v in sorted(rows)
        ]
        sep = "|---|---|---|---|---|---|---|---|"
    else:
        shares = [
            s for s in ("0.1", "0.2") if any(f"escalations_flagged@{s}" in v for _, v in rows)
        ]
        head = "| 方法 | AUC（按样本） | 平均精确率（按样本） | 布里尔分数（按样本） |" + "".join(
            f" 已标出的升级案件（前 {float(s):.0%}） |" for s in shares
        )
        body = [
            f"| {method_name(k, 'zh')} | {_f(v.get('auc'), 3)}"
            f" | {_f(v.get('average_precision'), 3)} | {_f(v.get('brier'), 4)} |"
            + "".join(
                f" {_f(v.get(f'escalations_flagged@{s}'), 0)}/{total}"
                f"（{_f(v.get(f'escalation_recall@{s}'), 2)}） |"
                for s in shares
            )
            for k, v in sorted(rows)
        ]
        sep = "|---|---|---|---|" + "---|" * len(shares)
    return [head, sep, *body]


def _gate_line(gate: Mapping[str, Any] | None, tz: str = "UTC", metric: str | None = None) -> str:
    if not gate or "passed" not in gate:
        return "上线门槛：未记录。"
    champ = champion_of(gate)
    said = champion_words(champ, "zh", tz)
    if gate.get("passed"):
        return "上线门槛：通过。" + (said or "")
    failed = judged_failures(gate)
    line = (
        "上线门槛：未通过（" + "；".join(check_words(c, "zh", metric) for c in failed) + "）。"
        if failed
        else ""
    )
    unjudged = unjudged_checks(gate)
    if champ is not None and champ.get("reason") == "champion_out_of_sample":
        line += str(said)
        unjudged = [c for c in unjudged if c.get("reason") != "champion_out_of_sample"]
    elif said:
        line += said
    if unjudged:
        line += (
            "上线门槛：**无法评判**（回测期内没有可供比较的失稳，既未证明优于简单方法，也未证明更差），"
            "因此未自动启用；如需启用，请由人工填写理由强制启用（记入审计日志），"
            "或待数据中出现失稳后重新训练。"
        )
    return line


LIMITED_ZH = {
    "training_history": "再向前会使首次训练缺少失稳样本，未能达到目标",
    "max_eval_days": "已达最长回测期上限，未能达到目标",
    "data": "数据中没有更多失稳，未能达到目标",
}

TASK_ZH = {
    "hotspot": "任务：按未来 {h} 天内至少发生 1 起事件的可能，为各网格排序；输出校准后的概率"
    "和原始分数。",
    "case": "任务：估计一件尚未升级的在办纠纷在起算日后 30 天内升级（信访、暴力或诉讼）的概率；"
    "按调解失败次数和当事人历史单调。",
    "site": "任务：估计监测点在预报期内发生失稳的概率；以位移速率为先验，按降雨和位移单调。",
}
LIMITS_ZH = {
    "hotspot": "局限：只用起算日之前的历史特征；定位吸附到街区，小于约 100 米的网格没有意义；"
    "引导巡逻的预测可能反过来影响记录。",
    "case": "局限：不使用任何个人字段（姓名、电话、身份证号）；当事人只在特征生成时以化名关联。",
    "site": "局限：失稳事件很少，置信区间宽；依赖所读历史长度的特征不作输入。",
}


def card_markdown(
    domain: str,
    version: str,
    metrics: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    features: list[str] | None,
    gate: Mapping[str, Any] | None,
    tz: str = "UTC",
) -> str | None:
    """The model card in Chinese from what the run logged; None when the run lacks the
    facts (no per-method table in ``metrics.json``): the page then shows training's
    English ``model_card.md`` with a note."""
    methods = (metrics or {}).get("methods")
    family = _family(methods) if isinstance(methods, Mapping) else None
    if metrics is None or family is None or not isinstance(methods, Mapping):
        return None
    from riskwarn import domains

    try:
        horizon = domains.get(domain).horizon_days
    except (KeyError, ValueError):
        horizon = 7
    lines = [f"#### 模型说明：{t(f'domain_{domain}', 'zh')}模型 第 {version} 版", ""]
    facts = [TASK_ZH[family].format(h=horizon)]
    facts.append("模型：XGBoost 梯度提升树。")
    data = (
        f"数据版本 `{params['data_version']}`" if params.get("data_version") else "数据版本未记录"
    )
    if params.get("trained_until"):
        data += f"；训练数据截至 {_day(params['trained_until'])}"
    if params.get("n_train_rows"):
        data += f"；训练样本 {fmt_int(float(params['n_train_rows']), 'zh')} 行"
    facts.append(data + "。")
    if family == "hotspot":
        facts.append(
            f"评估：滚动起算日回测 {_day(params.get('eval_start'))} 至 {_day(params.get('eval_end'))}，"
            f"{metrics.get('n_origins', '—')} 个起算日，每个起算日评分 "
            f"{_cells_span(metrics)} 个网格（网格自其首个已知事件起评分）；窗口内每起事件都计入"
            f"（起算日未评分网格中 {_f(metrics.get('events_outside_area', 0), 0)} 起，"
            f"对所有方法都算未命中）。"
        )
        x = methods.get("xgboost") or {}
        facts.append(
            f"校准：布里尔分数 {_f(x.get('brier'), 4)}，期望校准误差 {_f(x.get('ece'), 4)}。"
        )
    elif family == "site":
        facts.append(
            f"评估：滚动起算日，{metrics.get('n_origins', '—')} 个起算日，"
            f"{metrics.get('n_days', '—')} 天 × {metrics.get('n_sites', '—')} 个监测点，"
            f"基础发生率 {_f(metrics.get('base_rate'), 5)}。"
        )
        win = metrics.get("eval_window") or {}
        if win:
            words = (
                f"回测期 {_day(win.get('eval_start'))} 至 {_day(win.get('eval_end'))}，"
                f"监测点失稳 {win.get('eval_failures', '—')} 起"
            )
            extended = str(win.get("eval_window_extended_for") or "none")
            if extended != "none":
                words += (
                    f"；为纳入至少 {extended.rpartition('=')[2]} 起失稳，"
                    f"由 {_day(win.get('eval_default_start'))} 起向前延伸"
                )
            limited = str(win.get("eval_window_limited_by") or "none")
            if limited != "none":
                words += "；" + LIMITED_ZH.get(limited, limited)
            facts.append(words + "。")
    else:
        facts.append(
            f"评估：按周滚动起算日，{metrics.get('n_origins', '—')} 个起算日，"
            f"基础升级率（按样本）{_f(metrics.get('base_rate'), 3)}。"
        )
        if "escalations" in metrics:
            facts.append(
                f"每件升级都计入：从未评分的升级案件 {metrics.get('escalations_never_scored', '—')}"
                f" 件（共 {metrics['escalations']} 件；升级前任何一个周起算日都没有该案件的样本："
                "在两个起算日之间受理并升级，或结案后才升级）。AUC、平均精确率和布里尔分数按"
                "“案件 × 起算日”样本计算，不含这些案件；“已标出的升级案件”统计回测期内升级的案件"
                "在升级前 30 天内的某个起算日排在在办案件前 10% / 20% 的件数，从未评分的案件对"
                "所有方法都算未标出。"
            )
        else:
            facts.append(
                "AUC、平均精确率和布里尔分数按“案件 × 起算日”样本计算（没有样本的升级案件不在其中；"
                "本次训练未统计这些案件）。"
            )
    facts.append(_gate_line(gate, tz, (metrics or {}).get("headline")))
    table = _table(family, methods, metrics.get("escalations", "—"))
    lines += [f"- {f}" for f in facts] + ["", *table, ""]
    if features:
        words = "；".join(dict.fromkeys(feature_label(f, "zh") for f in features))
        lines.append(f"特征（{len(features)} 项）：{words}。")
        lines.append("")
    lines.append(LIMITS_ZH[family])
    return "\n".join(lines)


def _cells_span(metrics: Mapping[str, Any]) -> str:
    """The fewest and most cells scored at one origin ("1,466-1,654"), or the area's size
    for a run before the per-origin area (2026-12-06)."""
    from dashboard.i18n import fmt_int

    span = metrics.get("active_cells_per_origin")
    if isinstance(span, list | tuple) and len(span) == 2:
        lo, hi = (fmt_int(int(v), "zh") for v in span)
        return lo if lo == hi else f"{lo}-{hi}"
    return fmt_int(metrics.get("n_active_cells"), "zh")
