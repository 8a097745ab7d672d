"""The feature catalog: what each feature means, in words a panel can read.

``PATTERNS`` maps a feature name (or a pattern with ``{group}``, ``{n}`` or ``{h}``
placeholders) to a :class:`FeatureInfo`; ``FEATURES`` adds the concrete names for the
usual parameter values (``count_7d``, ``count_violent_28d``, ...). ``describe(name, value)`` fills the template
for one prediction, e.g. ``"4 events in this cell in the last 7 days"``; the model's
explanation sentences and ``docs/features.md`` are both built from it.

Every entry has a Chinese template (``zh``) next to the English one, with the same
placeholders; ``describe(name, value, "zh")`` fills it, naming categories in Chinese
(:data:`GROUP_ZH`) and writing large counts the Chinese way (``12.3万``).
"""

from __future__ import annotations

import math
import re
import string
from itertools import product

from features import derived
from features.catalog_sites import SITE_PATTERNS
from features.feature_info import BEFORE, FeatureInfo
from riskwarn.contracts import DISPUTE_CATEGORIES, HAZARD_TYPES, INCIDENT_GROUPS

GROUP_ZH: dict[str, str] = {
    "property": "侵财",
    "fraud": "诈骗",
    "violent": "暴力",
    "serious_violent": "严重暴力",
    "public_order": "治安秩序",
    "traffic": "交通",
    "other": "其他",
    "neighbour": "邻里",
    "family_marriage": "婚姻家庭",
    "land_homestead": "土地宅基地",
    "labour_wage": "劳资",
    "property_management": "物业",
    "debt": "债务",
    "medical": "医疗",
    "demolition_relocation": "征地拆迁",
    "landslide": "滑坡",
    "rockfall": "崩塌",
    "debris_flow": "泥石流",
    "collapse": "塌陷",
    # location categories of incidents (the long-memory composition inputs)
    "street": "街面",
    "residence": "住宅",
    "education": "学校",
    "open_space": "公共开放空间",
    "retail": "商业场所",
    "leisure": "娱乐休闲场所",
    "transportation": "交通场站",
    "vehicle": "车辆内",
}
"""Chinese names of the incident groups, dispute categories and hazard types."""


_B = BEFORE
PATTERNS: dict[str, FeatureInfo] = {
    # cell x origin (incidents, dispute hotspots)
    "count_{n}d": FeatureInfo(
        "{value:g} events in this cell in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
        zh="近 {n} 天本网格发生 {value:g} 起事件",
        label="events in this cell, last {n} days",
        label_zh="近 {n} 天本网格事件数",
    ),
    "count_{group}_{n}d": FeatureInfo(
        "{value:g} {group} events in this cell in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
        zh="近 {n} 天本网格发生 {value:g} 起{group}类事件",
        label="{group} events in this cell, last {n} days",
        label_zh="近 {n} 天本网格{group}类事件数",
    ),
    "decayed_count_hl{h}d": FeatureInfo(
        "{value:.1f} recent events in this cell, weighted by age (half-life {h} days)",
        "events",
        f"all {_B}",
        "cells",
        zh="本网格近期事件按时间衰减加权为 {value:.1f} 起（半衰期 {h} 天）",
        label="recent events in this cell, weighted by age (half-life {h} days)",
        label_zh="本网格近期事件按时间衰减加权数（半衰期 {h} 天）",
    ),
    "near_repeat_{n}d": FeatureInfo(
        "{value:g} events in this cell or the 8 around it in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
        zh="近 {n} 天本网格及周边 8 个网格发生 {value:g} 起事件",
        label="events in this cell and the 8 around it, last {n} days",
        label_zh="近 {n} 天本网格及周边 8 个网格事件数",
    ),
    "ring1_count_{n}d": FeatureInfo(
        "{value:g} events in the 8 neighbouring cells in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
        zh="近 {n} 天周边 8 个相邻网格发生 {value:g} 起事件",
        label="events in the 8 neighbouring cells, last {n} days",
        label_zh="近 {n} 天周边 8 个相邻网格事件数",
    ),
    "ring2_count_{n}d": FeatureInfo(
        "{value:g} events in the second ring of 16 cells around in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
        zh="近 {n} 天外圈 16 个网格发生 {value:g} 起事件",
        label="events in the second ring of 16 cells around, last {n} days",
        label_zh="近 {n} 天外圈 16 个网格事件数",
    ),
    "longrun_rate_per_day": FeatureInfo(
        "{value:.3f} events per day here on average since records began",
        "events/day",
        f"all {_B}",
        "cells",
        zh="有记录以来本地平均每天 {value:.3f} 起事件",
        label="events per day here on average since records began",
        label_zh="有记录以来本地日均事件数",
    ),
    "rate_ratio_7d_vs_longrun": FeatureInfo(
        "the last 7 days ran at {value:.1f}x this cell's usual rate",
        "ratio",
        f"all {_B}",
        "cells",
        zh="近 7 天的发生率是本网格常态的 {value:.1f} 倍",
        label="rate of the last 7 days, times this cell's usual rate",
        label_zh="近 7 天发生率相对本网格常态的倍数",
    ),
    "trend_7d_vs_91d": FeatureInfo(
        "the last 7 days ran at {value:.1f}x the rate of the last 91 days",
        "ratio",
        f"{_B}, last 91 days",
        "cells",
        zh="近 7 天的发生率是近 91 天的 {value:.1f} 倍",
        label="rate of the last 7 days, times that of the last 91 days",
        label_zh="近 7 天发生率相对近 91 天的倍数",
    ),
    "trend_28d_vs_365d": FeatureInfo(
        "the last 28 days ran at {value:.1f}x the rate of the last year",
        "ratio",
        f"{_B}, last 365 days",
        "cells",
        zh="近 28 天的发生率是近一年的 {value:.1f} 倍",
        label="rate of the last 28 days, times that of the last year",
        label_zh="近 28 天发生率相对近一年的倍数",
    ),
    "days_since_last": FeatureInfo(
        "{value:g} days since the last event in this cell",
        "days",
        f"all {_B}",
        "cells",
        zh="距本网格上一起事件已 {value:g} 天",
        label="days since the last event in this cell",
        label_zh="距本网格上一起事件的天数",
    ),
    # the baselines' own scores, stacked as model inputs (models/hotspot_backtest.py)
    "hist_count_all": FeatureInfo(
        "{value:g} events in this cell over all recorded history",
        "events",
        f"all {_B}",
        "cells",
        zh="本网格有记录以来共发生 {value:g} 起事件",
        label="events in this cell over all recorded history",
        label_zh="本网格有记录以来事件总数",
    ),
    "hist_kde": FeatureInfo(
        "a dense cluster of past events around this cell (kernel density {value:.1f})",
        "kernel density",
        f"all {_B} around the cell",
        "cells",
        zh="本网格周边历史事件密集（核密度 {value:.1f}）",
        label="density of past events around this cell (kernel density)",
        label_zh="本网格周边历史事件核密度",
    ),
    "hist_prospective": FeatureInfo(
        "recent events nearby, weighted by closeness in space and time ({value:.1f})",
        "weighted events",
        f"{_B} around the cell, last 56 days (the baseline's default window)",
        "cells",
        zh="附近近期事件较多（按时空距离加权 {value:.1f}）",
        label="recent events nearby, weighted by closeness in space and time",
        label_zh="附近近期事件数（按时空距离加权）",
    ),
    "population_persons": FeatureInfo(
        "{value:,.0f} residents in this cell",
        "persons",
        "static reference data",
        "cells",
        zh="本网格常住人口 {value:,.0f} 人",
        label="residents in this cell",
        label_zh="本网格常住人口（人）",
    ),
    "count_365d_per_1k_persons": FeatureInfo(
        "{value:.1f} events per 1,000 residents in the last year",
        "events per 1,000 persons",
        f"{_B}, last 365 days",
        "cells",
        zh="近一年每千名居民发生 {value:.1f} 起事件",
        label="events per 1,000 residents, last year",
        label_zh="近一年每千名居民事件数",
    ),
    # long-memory inputs of the hotspot model (models.extra_features)
    "lr_count_all": FeatureInfo(
        "{value:g} events in this cell over all recorded history",
        "events",
        f"all {_B}",
        "cells",
        zh="本网格有记录以来共发生 {value:g} 起事件",
        label="events in this cell over all recorded history",
        label_zh="本网格有记录以来事件总数",
    ),
    "lr_count_{n}y": FeatureInfo(
        "{value:g} events in this cell in the last {n} years",
        "events",
        f"{_B}, last {{n}} years",
        "cells",
        zh="近 {n} 年本网格发生 {value:g} 起事件",
        label="events in this cell, last {n} years",
        label_zh="近 {n} 年本网格事件数",
    ),
    "lr_season_{n}y": FeatureInfo(
        "{value:g} events in this cell in the same weeks {n} year(s) earlier",
        "events",
        f"{_B}: the forecast weeks {{n}} year(s) earlier, +-14 days",
        "cells",
        zh="{n} 年前同期本网格发生 {value:g} 起事件",
        label="events in this cell in the same weeks {n} year(s) earlier",
        label_zh="{n} 年前同期本网格事件数",
    ),
    "lr_season_share": FeatureInfo(
        "the same weeks of the last two years hold {value:.0%} of this cell's events",
        "share",
        f"all {_B}",
        "cells",
        zh="过去两年同期的事件占本网格全部事件的 {value:.0%}",
        label="share of this cell's events in the same weeks of the last two years",
        label_zh="过去两年同期事件占本网格全部事件的比例",
    ),
    "lr_decayed_hl{n}d": FeatureInfo(
        "{value:.1f} events in this cell, weighted by age (half-life {n} days)",
        "events",
        f"all {_B}",
        "cells",
        zh="本网格历史事件按时间衰减加权为 {value:.1f} 起（半衰期 {n} 天）",
        label="events in this cell, weighted by age (half-life {n} days)",
        label_zh="本网格历史事件按时间衰减加权数（半衰期 {n} 天）",
    ),
    "lr_smooth_all_s{n}": FeatureInfo(
        "{value:.1f} past events around this cell (all history, smoothed over about {n} cells)",
        "events",
        f"all {_B}",
        "cells",
        zh="本网格周边（约 {n} 个网格范围）历史事件平滑后为 {value:.1f} 起",
        label="past events around this cell (all history, smoothed over about {n} cells)",
        label_zh="本网格周边（约 {n} 个网格范围）历史事件平滑数",
    ),
    "lr_smooth_hl1y_s{n}": FeatureInfo(
        "{value:.1f} age-weighted past events around this cell (half-life one year, "
        "smoothed over about {n} cells)",
        "events",
        f"all {_B}",
        "cells",
        zh="本网格周边（约 {n} 个网格范围）历史事件按时间衰减（半衰期一年）平滑后为 {value:.1f} 起",
        label="age-weighted past events around this cell (half-life one year, smoothed over about {n} cells)",
        label_zh="本网格周边（约 {n} 个网格范围）历史事件按时间衰减（半衰期一年）平滑数",
    ),
    "lr_count_loc_{group}": FeatureInfo(
        "{value:g} events in this cell at {group} locations over all history",
        "events",
        f"all {_B}",
        "cells",
        zh="本网格历史上发生在{group}的事件共 {value:g} 起",
        label="events in this cell at {group} locations over all history",
        label_zh="本网格历史上发生在{group}的事件数",
    ),
    "lr_share_loc_{group}": FeatureInfo(
        "{value:.0%} of this cell's events happened at {group} locations",
        "share",
        f"all {_B}",
        "cells",
        zh="本网格 {value:.0%} 的事件发生在{group}",
        label="share of this cell's events at {group} locations",
        label_zh="本网格发生在{group}的事件比例",
    ),
    "lr_count_night": FeatureInfo(
        "{value:g} events in this cell at night (20:00-05:00) over all history",
        "events",
        f"all {_B}",
        "cells",
        zh="本网格历史上夜间（20:00-05:00）发生 {value:g} 起事件",
        label="events in this cell at night (20:00-05:00) over all history",
        label_zh="本网格历史上夜间（20:00-05:00）事件数",
    ),
    "lr_share_night": FeatureInfo(
        "{value:.0%} of this cell's events happened at night (20:00-05:00)",
        "share",
        f"all {_B}",
        "cells",
        zh="本网格 {value:.0%} 的事件发生在夜间（20:00-05:00）",
        label="share of this cell's events at night (20:00-05:00)",
        label_zh="本网格夜间（20:00-05:00）事件比例",
    ),
    "cal_day_of_week": FeatureInfo(
        "the window starts on weekday {value:g} (0 = Monday)",
        "0-6",
        "the calendar",
        "all",
        zh="预测窗口从星期 {value:g} 开始（0 = 星期一）",
        label="weekday the window starts on (0 = Monday)",
        label_zh="预测窗口起始星期（0 = 星期一）",
    ),
    "cal_month": FeatureInfo(
        "the window starts in month {value:g}",
        "1-12",
        "the calendar",
        "all",
        zh="预测窗口从 {value:g} 月开始",
        label="month the window starts in",
        label_zh="预测窗口起始月份",
    ),
    "cal_day_of_year": FeatureInfo(
        "day {value:g} of the year",
        "1-366",
        "the calendar",
        "all",
        zh="一年中的第 {value:g} 天",
        label="day of the year",
        label_zh="一年中的第几天",
    ),
    "cal_holiday_days_in_window": FeatureInfo(
        "{value:g} public holiday days fall in the forecast window",
        "days",
        "the holiday calendar",
        "all",
        zh="预测窗口内有 {value:g} 天法定节假日",
        label="public holiday days in the forecast window",
        label_zh="预测窗口内法定节假日天数",
    ),
    "cal_spring_festival_in_window": FeatureInfo(
        "the Spring Festival falls in the forecast window: {value:yesno}",
        "0/1",
        "the holiday calendar",
        "all",
        zh="预测窗口内有春节：{value:yesno}",
        label="Spring Festival in the forecast window",
        label_zh="预测窗口内有春节",
    ),
    "cal_days_to_next_holiday": FeatureInfo(
        "{value:g} days to the next public holiday",
        "days",
        "the holiday calendar",
        "all",
        zh="距下一个法定节假日还有 {value:g} 天",
        label="days to the next public holiday",
        label_zh="距下一个法定节假日的天数",
    ),
    # dispute case x origin
    "age_days": FeatureInfo(
        "the dispute has been open {value:.0f} days",
        "days",
        "the case's own record",
        "disputes",
        zh="纠纷已立案 {value:.0f} 天",
        label="days the dispute has been open",
        label_zh="纠纷已立案天数",
    ),
    "days_since_last_mediation": FeatureInfo(
        "{value:.0f} days since the last mediation",
        "days",
        "the case's events before the origin",
        "disputes",
        zh="距上次调解已 {value:.0f} 天",
        label="days since the last mediation",
        label_zh="距上次调解天数",
    ),
    "n_mediations": FeatureInfo(
        "{value:g} mediation attempts so far",
        "attempts",
        "the case's events before the origin",
        "disputes",
        zh="已调解 {value:g} 次",
        label="mediation attempts so far",
        label_zh="已调解次数",
    ),
    "n_failed_mediations": FeatureInfo(
        "{value:g} failed mediations so far",
        "attempts",
        "the case's events before the origin",
        "disputes",
        zh="已调解失败 {value:g} 次",
        label="failed mediations so far",
        label_zh="调解失败次数",
    ),
    "n_parties": FeatureInfo(
        "{value:g} parties",
        "persons",
        "the case record",
        "disputes",
        zh="当事方 {value:g} 个",
        label="parties",
        label_zh="当事方数",
    ),
    "log_amount_cny": FeatureInfo(
        "about {value:log10_yuan} yuan in dispute",
        "log10 CNY",
        "the case record",
        "disputes",
        zh="涉及金额约 {value:log10_yuan}元",
        label="amount in dispute, about (yuan)",
        label_zh="涉及金额约（元）",
    ),
    "party_prior_disputes": FeatureInfo(
        "the parties had {value:g} earlier disputes",
        "disputes",
        "other cases of the same pseudonymous parties opened before the origin",
        "disputes",
        zh="当事方此前有 {value:g} 起纠纷",
        label="earlier disputes of the parties",
        label_zh="当事方此前纠纷数",
    ),
    "party_prior_escalations": FeatureInfo(
        "the parties' earlier disputes escalated {value:g} times",
        "escalations",
        "escalation events of the same parties before the origin",
        "disputes",
        zh="当事方此前的纠纷升级过 {value:g} 次",
        label="escalations of the parties' earlier disputes",
        label_zh="当事方此前纠纷升级次数",
    ),
    "nearby_disputes_{n}d": FeatureInfo(
        "{value:g} disputes opened in this or neighbouring cells in the last {n} days",
        "disputes",
        f"{_B}, last {{n}} days",
        "disputes",
        zh="近 {n} 天本网格及相邻网格新增 {value:g} 起纠纷",
        label="disputes opened in this or neighbouring cells, last {n} days",
        label_zh="近 {n} 天本网格及相邻网格新增纠纷数",
    ),
    "nearby_escalations_{n}d": FeatureInfo(
        "{value:g} escalations in this or neighbouring cells in the last {n} days",
        "escalations",
        f"{_B}, last {{n}} days",
        "disputes",
        zh="近 {n} 天本网格及相邻网格有 {value:g} 起纠纷升级",
        label="escalations in this or neighbouring cells, last {n} days",
        label_zh="近 {n} 天本网格及相邻网格纠纷升级数",
    ),
    "category_{group}": FeatureInfo(
        "a {group} dispute: {value:yesno}",
        "0/1",
        "the case record",
        "disputes",
        zh="{group}类纠纷：{value:yesno}",
        label="a {group} dispute",
        label_zh="{group}类纠纷",
    ),
    "cal_season": FeatureInfo(
        "season {value:g} (0 winter, 1 spring, 2 summer, 3 autumn)",
        "0-3",
        "the calendar",
        "disputes",
        zh="季节 {value:g}（0 冬、1 春、2 夏、3 秋）",
        label="season (0 winter, 1 spring, 2 summer, 3 autumn)",
        label_zh="季节（0 冬、1 春、2 夏、3 秋）",
    ),
    "already_escalated": FeatureInfo(
        "the case already escalated before: {value:yesno}",
        "0/1",
        "the case's events before the origin",
        "disputes",
        zh="该案此前已升级：{value:yesno}",
        label="case already escalated before",
        label_zh="该案此前已升级",
    ),
    # geohazard sites and city-wide rain (features/catalog_sites.py)
    **SITE_PATTERNS,
}

_PLACEHOLDER = re.compile(r"\{(group|n|h)\}")
_VALUES = {
    "n": ("1", "3", "6", "7", "14", "15", "24", "28", "30", "72", "90", "91", "168", "360", "365"),
    "h": ("3", "14", "60"),
    "group": tuple(
        dict.fromkeys((*INCIDENT_GROUPS, *DISPUTE_CATEGORIES, *HAZARD_TYPES, "landslide"))
    ),
}

# other sources near the cell (features.context, issue 17.3): kind -> (en, zh)
CONTEXT_KINDS: dict[str, tuple[str, str]] = {
    "dispute_new": ("new disputes registered", "新登记矛盾纠纷"),
    "dispute_failed": ("failed dispute mediations", "调解未成功的纠纷"),
    "dispute_escalated": ("dispute escalations (petition, violence, litigation)", "纠纷升级"),
    "dispute_repeat": ("new disputes with a party of an earlier dispute", "重复当事人的新纠纷"),
    "calls_dispute": ("dispute-like calls (disturbance, noise, threat ...)", "纠纷类警情"),
}
for _kind, (_en, _zh) in CONTEXT_KINDS.items():
    PATTERNS[f"ctx_{_kind}_{{n}}d"] = FeatureInfo(
        f"{{value:g}} {_en} in this cell in the last {{n}} days",
        "records",
        "the other source's records known before the origin, last {n} days",
        "cells",
        zh=f"近 {{n}} 天本网格{_zh} {{value:g}} 起",
        label=f"{_en} in this cell, last {{n}} days",
        label_zh=f"近 {{n}} 天本网格{_zh}数",
    )
    PATTERNS[f"ctx_{_kind}_{{n}}d_ring"] = FeatureInfo(
        f"{{value:g}} {_en} in the 8 neighbouring cells in the last {{n}} days",
        "records",
        "the other source's records known before the origin, last {n} days",
        "cells",
        zh=f"近 {{n}} 天周边 8 个网格{_zh} {{value:g}} 起",
        label=f"{_en} in the 8 neighbouring cells, last {{n}} days",
        label_zh=f"近 {{n}} 天周边 8 个网格{_zh}数",
    )


def _expand(patterns: dict[str, FeatureInfo]) -> dict[str, FeatureInfo]:
    """Concrete names for the usual parameter values, so exact-name look-ups work too."""
    out: dict[str, FeatureInfo] = {}
    for key, info in patterns.items():
        names = _PLACEHOLDER.findall(key)
        if not names:
            continue
        for combo in product(*(_VALUES[ph] for ph in names)):
            name, template, lookback, zh = key, info.template, info.lookback, info.zh
            label, label_zh = info.label, info.label_zh
            for ph, v in zip(names, combo, strict=True):
                token = "{" + ph + "}"
                name = name.replace(token, v)
                template = template.replace(token, v.replace("_", " "))
                label = label.replace(token, v.replace("_", " "))
                lookback = lookback.replace(token, v)
                zh = zh.replace(token, GROUP_ZH.get(v, v) if ph == "group" else v)
                label_zh = label_zh.replace(token, GROUP_ZH.get(v, v) if ph == "group" else v)
            out[name] = FeatureInfo(
                template, info.unit, lookback, info.domain, zh, label=label, label_zh=label_zh
            )
    return out


FEATURES: dict[str, FeatureInfo] = {
    **_expand(PATTERNS),
    **PATTERNS,
    **{d.name: d.info for d in derived.DERIVED},
}
"""Every feature: the patterns of ``PATTERNS`` plus their concrete names for usual values,
and the derived inputs of :mod:`features.derived` (looked up there at call time too)."""


def _pattern(key: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(key)
    regex = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            regex += {"group": r"(?P<group>[a-z_]+?)", "n": r"(?P<n>\d+)", "h": r"(?P<h>[\d.]+)"}[
                part
            ]
    return re.compile(f"^{regex}$")


def lookup(name: str) -> tuple[FeatureInfo, dict[str, str]] | None:
    """The catalog entry of a concrete feature name and the values of its placeholders.

    Placeholder values are raw (``labour_wage``); :func:`describe` words them per language.
    """
    info = derived.derived_info(name)
    if info is not None:
        return info, {}
    if name in PATTERNS:
        return PATTERNS[name], {}
    for key, info in PATTERNS.items():
        if "{" in key:
            m = _pattern(key).match(name)
            if m:
                return info, {k: v for k, v in m.groupdict().items() if v is not None}
    return None


class _Formatter(string.Formatter):
    """The templates' own number styles, in the reader's language:

    * ``{value:yesno}``: a 0/1 flag as a word, "yes" / "no" (是 / 否); a reader saw "(1)";
    * ``{value:log10_yuan}``: a log10 amount (``log_amount_cny``) as the amount in yuan, 2
      significant digits (4.3 -> "20,000"; Chinese "2万" from 10,000 on); a reader saw
      "about 4.3 (log10 CNY)";
    * ``{value:g}`` (the counts' style) of a value that is not whole: at most 2 decimals
      (:func:`plain_number`), never "27.2608";
    * Chinese only: thousands-grouped values of 100,000 or more in 万 (``123,456`` ->
      ``12.3万``), as the dashboard writes counts.
    """

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def format_field(self, value: object, format_spec: str) -> str:
        zh = self.lang == "zh"
        if format_spec == "g" and isinstance(value, float):
            return plain_number(value)
        if format_spec == "yesno" and isinstance(value, int | float):
            on = float(value) >= 0.5
            return ("是" if on else "否") if zh else ("yes" if on else "no")
        if format_spec == "log10_yuan" and isinstance(value, int | float):
            return _yuan(10 ** float(value), zh)
        if (
            zh
            and isinstance(value, int | float)
            and "," in format_spec
            and abs(float(value)) >= 100_000
        ):
            return f"{float(value) / 10_000:,.1f}万"
        return super().format_field(value, format_spec)


def plain_number(value: float) -> str:
    """A number for people: whole numbers as they are ("4"), others rounded to 2 decimals
    ("27.26", "0.05"), tiny ones to 2 significant digits ("0.00047"), never "27.2608"."""
    v = float(value)
    if not math.isfinite(v) or v == int(v) or abs(v) >= 1e6:
        return f"{v:g}"
    if abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{round(v, 2):g}"


def _yuan(amount: float, zh: bool) -> str:
    """An amount in yuan rounded to 2 significant digits ("20,000"; Chinese "2万",
    "1.5万", "3,200"); large ones in words, never in exponent notation: from a million
    "3.4 million", "1.2 billion", "340,000 trillion"; Chinese from 1亿 (10^8) "3.4亿",
    from 1万亿 (10^12) "34万亿" (a reader saw "3.4e+13万元")."""
    if not math.isfinite(amount) or amount <= 0:
        return "0"
    digits = 1 - math.floor(math.log10(amount))
    rounded = round(amount, digits)
    if zh:
        for unit, word in ((1e12, "万亿"), (1e8, "亿"), (1e4, "万")):
            if rounded >= unit:
                return f"{_plain(rounded / unit)}{word}"
    else:
        for unit, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
            if rounded >= unit:
                return f"{_plain(rounded / unit)} {word}"
    return f"{rounded:,.0f}" if rounded >= 1 else f"{rounded:g}"


def _plain(value: float) -> str:
    """A positive number of at most 2 significant digits (after division by a unit), in
    plain digits with thousands separators: 3.4 -> "3.4", 20 -> "20", 340000 -> "340,000"."""
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return text


_FORMAT = {"en": _Formatter("en"), "zh": _Formatter("zh")}


def fill_template(template: str, lang: str, **values: object) -> str:
    """``template.format(**values)`` with the templates' number styles (:class:`_Formatter`:
    flags as yes/no, log10 amounts in yuan, Chinese 万) in ``lang``; English nouns after
    a count of exactly 1 in the singular ("1 event", "in the last 1 day")."""
    text = _FORMAT["zh" if lang == "zh" else "en"].format(template, **values)
    return text if lang == "zh" else _ONE.sub(r"\1 \2", text)


# "1 events" -> "1 event": a count of exactly 1 (not 0.1, 21 or 1,001) before a plural
_ONE = re.compile(
    r"(?<![\d.,])(1) (event|time|day|case|year|reading|site|hour|week|month|dispute|"
    r"incident|cell|resident|landslide)s?\b(?![.,]\d)"
)


def _words(parts: dict[str, str], lang: str) -> dict[str, str]:
    if lang == "zh":
        return {k: GROUP_ZH.get(v, v) if k == "group" else v for k, v in parts.items()}
    return {k: v.replace("_", " ") for k, v in parts.items()}


def _in_days(template: str, parts: dict[str, str], lang: str) -> str:
    """``template`` with a window of ``{n}`` hours that is whole days past one worded in
    days ("rain_72h_mm": "in the last 3 days" / "近 3 天", not "72 hours"), as the reasons
    word a horizon (:func:`riskwarn.warnings.horizon_words`); else as it is."""
    n = parts.get("n", "")
    if not n.isdigit() or int(n) <= 24 or int(n) % 24:
        return template
    days = int(n) // 24
    if lang == "zh":
        return template.replace("{n} 小时", f"{days} 天")
    return template.replace("{n} hours", f"{days} days")


def describe(name: str, value: float, lang: str = "en") -> str:
    """A plain-words sentence for one feature value in ``lang`` ('en' or 'zh');
    the bare name if it is not catalogued."""
    found = lookup(name)
    if found is None:
        return f"{name} = {plain_number(value)}"
    info, parts = found
    words = _words(parts, lang)
    try:
        return fill_template(
            _in_days(info.template_for(lang), parts, lang), lang, value=value, **words
        )
    except (ValueError, KeyError):
        return f"{name} = {plain_number(value)}"


# a factor written by the old wording path, "lr_smooth_hl1y_s2 = 27.2608" (reasons are
# stored as text at scoring time, so warnings scored before the fix still carry them)
_RAW_FACTOR = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+) = (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\b")


def reword_raw(text: str, lang: str = "en") -> str:
    """``text`` with every catalogued ``name = value`` factor (as reasons stored before
    the one wording path carry them) replaced by :func:`describe`'s words in ``lang``;
    names the catalogue does not know stay as they are."""

    def words(m: re.Match[str]) -> str:
        if lookup(m.group(1)) is None:
            return m.group(0)
        return describe(m.group(1), float(m.group(2)), lang)

    return _RAW_FACTOR.sub(words, text) if " = " in text else text


def describe_parts(name: str, value: float, lang: str = "en") -> tuple[str, str] | None:
    """What the feature is and its value as :func:`describe`'s sentence writes it, for a
    table with a value column: the entry's label ("Rain, last 3 days (mm)", "72.0";
    "已调解次数", "6"; English capitalised), never the sentence with a gap where the value
    was ("已调解 … 次" | "6" read as a slip, review of 2026-12-06); None if ``name`` is not
    catalogued, its entry has no label in ``lang`` or its sentence does not hold the
    value exactly once."""
    found = lookup(name)
    if found is None:
        return None
    info, _parts = found
    template = info.template_for(lang)
    specs = [spec for _, field, spec, _ in string.Formatter().parse(template) if field == "value"]
    words = short_label(name, lang)
    if words is None or len(specs) != 1:
        return None
    try:
        shown = fill_template("{value:" + (specs[0] or "") + "}", lang, value=value)
    except (ValueError, KeyError):
        return None
    return (words, shown)


def short_label(name: str, lang: str = "en") -> str | None:
    """The catalogue's short label of a concrete feature in ``lang``, its placeholders
    filled ("Events in this cell, last 7 days"; "近 7 天本网格事件数"; English
    capitalised): what the evidence tables and the models page's importance chart call
    the feature. None if ``name`` is not catalogued or its entry has no label in ``lang``."""
    found = lookup(name)
    if found is None:
        return None
    info, parts = found
    label = info.label_for(lang)
    if not label:
        return None
    try:
        words = fill_template(_in_days(label, parts, lang), lang, **_words(parts, lang))
    except (ValueError, KeyError, IndexError):
        return None
    return words[:1].upper() + words[1:]


def catalog_markdown() -> str:
    """Markdown table of every catalogued feature (for docs/features.md)."""
    lines = [
        "| feature | meaning (template) | 中文模板 | unit | may look at | table |",
        "|---|---|---|---|---|---|",
    ]
    entries = {**PATTERNS, **{d.name: d.info for d in derived.DERIVED}}
    for key, info in entries.items():
        lines.append(
            f"| `{key}` | {info.template} | {info.zh} | {info.unit} | {info.lookback} "
            f"| {info.domain} |"
        )
    return "\n".join(lines)
