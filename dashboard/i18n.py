"""Labels, numbers and dates in the reader's language (Chinese by default, English by switch).

Every text the dashboard shows goes through :func:`t`; every number, percentage and time
through the ``fmt_*`` helpers, so switching the language switches all of them. Times are
stored in UTC and shown in ``Settings.display_tz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import pandas as pd

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"

LEVELS: tuple[str, ...] = ("red", "orange", "yellow", "blue")
LEVEL_RANK: dict[str, int] = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
LEVEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "orange": (255, 127, 14),
    "yellow": (240, 200, 30),
    "blue": (31, 119, 180),
    "none": (200, 205, 210),
}
LEVEL_HEX: dict[str, str] = {k: "#{:02x}{:02x}{:02x}".format(*v) for k, v in LEVEL_COLOURS.items()}

TEXT: dict[str, dict[str, str]] = {
    # app frame
    "app_title": {"zh": "市域风险预警", "en": "City Risk Early Warning"},
    "language": {"zh": "语言", "en": "Language"},
    "signed_in_as": {"zh": "当前用户：{name}（{role}）", "en": "Signed in as {name} ({role})"},
    "sign_out": {"zh": "退出登录", "en": "Sign out"},
    "sign_in": {"zh": "登录", "en": "Sign in"},
    "sign_in_sso": {"zh": "使用单位账号登录", "en": "Sign in with your organisation account"},
    "username": {"zh": "用户名", "en": "Username"},
    "password": {"zh": "密码", "en": "Password"},
    "bad_login": {"zh": "用户名或密码错误。", "en": "Wrong username or password."},
    "no_users": {
        "zh": "未找到用户文件 {path}。请运行 `riskwarn dashboard --demo-users` 生成演示账号。",
        "en": "No users file at {path}. Run `riskwarn dashboard --demo-users` for demo accounts.",
    },
    "refused": {
        "zh": "您的角色（{role}）无权访问此页面。",
        "en": "Your role ({role}) may not open this page.",
    },
    "no_data": {"zh": "暂无已发布的数据。", "en": "No published data yet."},
    "updated": {"zh": "数据更新于 {at}", "en": "Data as of {at}"},
    "section_leaders": {"zh": "领导驾驶舱", "en": "Leaders"},
    "section_panels": {"zh": "研判处置", "en": "Panels"},
    "section_science": {"zh": "模型与数据", "en": "Models & data"},
    # roles
    "role_leader": {"zh": "领导", "en": "Leader"},
    "role_reviewer": {"zh": "评估专家", "en": "Reviewer"},
    "role_data_scientist": {"zh": "数据科学家", "en": "Data scientist"},
    "role_admin": {"zh": "管理员", "en": "Administrator"},
    # pages
    "page_overview": {"zh": "本周风险总览", "en": "This week's risk"},
    "page_warnings": {"zh": "预警研判", "en": "Warnings review"},
    "page_disputes": {"zh": "矛盾纠纷案件", "en": "Dispute cases"},
    "page_geohazard": {"zh": "地质灾害隐患点", "en": "Geohazard sites"},
    "page_models": {"zh": "模型与数据质量", "en": "Models & data quality"},
    # domains
    "domain_incidents": {"zh": "治安案事件", "en": "Public-security incidents"},
    "domain_incidents_daily": {"zh": "治安案事件（日）", "en": "Incidents (daily)"},
    "domain_disputes": {"zh": "矛盾纠纷", "en": "Civil disputes"},
    "domain_dispute_cases": {"zh": "纠纷案件升级", "en": "Dispute escalation"},
    "domain_geohazard": {"zh": "地质灾害", "en": "Geohazards"},
    "domain_geohazard_hourly": {"zh": "地质灾害（小时）", "en": "Geohazards (hourly)"},
    # levels and states
    "level_red": {"zh": "红色（I级）", "en": "Red (I)"},
    "level_orange": {"zh": "橙色（II级）", "en": "Orange (II)"},
    "level_yellow": {"zh": "黄色（III级）", "en": "Yellow (III)"},
    "level_blue": {"zh": "蓝色（IV级）", "en": "Blue (IV)"},
    "level_none": {"zh": "无预警", "en": "No warning"},
    "state_new": {"zh": "待研判", "en": "New"},
    "state_accepted": {"zh": "已确认", "en": "Accepted"},
    "state_adjusted": {"zh": "已调整", "en": "Adjusted"},
    "state_dismissed": {"zh": "已撤销", "en": "Dismissed"},
    "all": {"zh": "全部", "en": "All"},
    # trends
    "trend_emerging": {"zh": "新出现", "en": "Emerging"},
    "trend_intensifying": {"zh": "加剧", "en": "Intensifying"},
    "trend_persistent": {"zh": "持续", "en": "Persistent"},
    "trend_diminishing": {"zh": "减弱", "en": "Diminishing"},
    # overview
    "kpi_warnings": {"zh": "有效预警", "en": "Active warnings"},
    "kpi_red": {"zh": "红色预警", "en": "Red warnings"},
    "kpi_pending": {"zh": "待研判", "en": "Awaiting review"},
    "kpi_hot_mean": {"zh": "热点平均概率·{domain}", "en": "Hotspot mean · {domain}"},
    "map_title": {"zh": "本周热点预测：{domain}", "en": "This week's hotspot forecast: {domain}"},
    "map_caption": {
        "zh": "格网按预警等级着色；线条为县（区）和乡镇（街道）界线。离线底图。",
        "en": "Cells coloured by warning level; lines are county and township boundaries. "
        "Offline map.",
    },
    "counts_title": {"zh": "各县（区）预警数量", "en": "Warnings by county and level"},
    "trend_title": {"zh": "近几周趋势", "en": "Trend over recent weeks"},
    "trend_y": {"zh": "前 {n} 热点平均风险概率", "en": "Mean probability, top {n} places"},
    "top_places": {"zh": "重点关注地区", "en": "Places to watch"},
    "top_place_line": {
        "zh": "<b>{place}</b> · {n} 处 · 最高 {prob} · {trend}",
        "en": "<b>{place}</b> · warnings: {n} · up to {prob} · {trend}",
    },
    "hotspot_labels": {"zh": "热点变化", "en": "How hotspots changed"},
    "week_of": {"zh": "{date} 当周", "en": "Week of {date}"},
    "domain": {"zh": "领域", "en": "Domain"},
    "county": {"zh": "县（区）", "en": "County"},
    "township": {"zh": "乡镇（街道）", "en": "Township"},
    "level": {"zh": "等级", "en": "Level"},
    "count": {"zh": "数量", "en": "Count"},
    "state": {"zh": "状态", "en": "State"},
    "score": {"zh": "风险分", "en": "Score"},
    "probability": {"zh": "概率", "en": "Probability"},
    "place": {"zh": "位置", "en": "Place"},
    "valid": {"zh": "有效期", "en": "Valid"},
    "trend": {"zh": "变化", "en": "Trend"},
    "origin": {"zh": "预测起点", "en": "Forecast origin"},
    # review
    "queue": {"zh": "预警队列（按等级和风险排序）", "en": "Queue (by level and score)"},
    "queue_top": {
        "zh": "显示排名前 {n} 条，共 {total} 条；可按领域、县（区）、状态筛选。",
        "en": "Showing the top {n} of {total}; filter by domain, county or state.",
    },
    "filters": {"zh": "筛选", "en": "Filters"},
    "pick_warning": {"zh": "选择预警", "en": "Warning"},
    "reasons": {"zh": "预警理由", "en": "Reasons"},
    "evidence": {"zh": "证据", "en": "Evidence"},
    "place_history": {"zh": "该地历史风险", "en": "History of this place"},
    "trail": {"zh": "研判记录（只增不改）", "en": "Decision trail (append-only)"},
    "decide": {"zh": "研判决定", "en": "Decision"},
    "action": {"zh": "处置", "en": "Action"},
    "action_accept": {"zh": "确认", "en": "Accept"},
    "action_adjust": {"zh": "调整等级", "en": "Adjust level"},
    "action_dismiss": {"zh": "撤销", "en": "Dismiss"},
    "new_level": {"zh": "调整为", "en": "New level"},
    "reason": {"zh": "理由（必填）", "en": "Reason (required)"},
    "reason_col": {"zh": "理由", "en": "Reason"},
    "submit": {"zh": "提交", "en": "Submit"},
    "reason_required": {"zh": "请填写理由。", "en": "A reason is required."},
    "choose_action": {"zh": "请选择处置方式。", "en": "Choose an action."},
    "choose_level": {"zh": "请选择调整后的等级。", "en": "Choose the new level."},
    "same_level": {
        "zh": "调整后的等级与当前等级相同。如认可当前等级，请选择“确认”。",
        "en": "The new level is the current level. To confirm it, choose Accept.",
    },
    "will_record": {"zh": "将记录：{decision}", "en": "Will be recorded: {decision}"},
    "adjust_to": {"zh": "调整为{level}", "en": "adjust to {level}"},
    "form_for": {"zh": "针对预警 {id}", "en": "For warning {id}"},
    "saved": {
        "zh": "已保存：预警 {id}，{action}（第 {version} 版）",
        "en": "Saved: warning {id}, {action} (version {version})",
    },
    "col_id": {"zh": "编号", "en": "ID"},
    "unit_col": {"zh": "对象", "en": "Subject"},
    "unit_cell": {"zh": "网格 {id}", "en": "Cell {id}"},
    "unit_case": {"zh": "案件 {id}", "en": "Case {id}"},
    "unit_site": {"zh": "隐患点 {id}", "en": "Site {id}"},
    "unit_site_named": {"zh": "隐患点 {id}（{name}）", "en": "Site {id} ({name})"},
    "unit_other": {"zh": "{id}", "en": "{id}"},
    "valid_to": {"zh": "有效至", "en": "Valid until"},
    "valid_range": {"zh": "有效期：{start} 至 {end}", "en": "Valid: {start} to {end}"},
    "coordinates": {"zh": "中心坐标 {lat}, {lon}", "en": "Centre {lat}, {lon}"},
    "locator_map": {"zh": "在地图上查看", "en": "Show on the map"},
    "stale": {
        "zh": "该预警已被 {reviewer} 于 {at} 研判（{action}，理由：{reason}）。您的决定未保存，"
        "请查看后重新决定。",
        "en": "{reviewer} already decided this warning at {at} ({action}, reason: {reason}). "
        "Your decision was not saved; review it and decide again.",
    },
    "read_only": {
        "zh": "您的角色只读，不能提交研判。",
        "en": "Your role is read-only here; you cannot submit decisions.",
    },
    "reviewer": {"zh": "研判人", "en": "Reviewer"},
    "reviewed_at": {"zh": "时间", "en": "Time"},
    "from_level": {"zh": "原等级", "en": "From"},
    "to_level": {"zh": "新等级", "en": "To"},
    "version": {"zh": "版本", "en": "Version"},
    "lead_time": {"zh": "提前量 {h}", "en": "lead time {h}"},
    "empty_queue": {"zh": "没有符合条件的预警。", "en": "No warnings match."},
    # disputes
    "disputes_intro": {
        "zh": "未结案件按升级风险排序；当事人仅以匿名编号显示。",
        "en": "Open cases ranked by escalation risk; parties appear only as pseudonymous ids.",
    },
    "case": {"zh": "案件编号", "en": "Case id"},
    "escalation_risk": {"zh": "30天内升级概率", "en": "Escalation risk (30 days)"},
    "explanation": {"zh": "说明", "en": "Explanation"},
    # geohazard
    "site": {"zh": "隐患点", "en": "Site"},
    "current_level": {"zh": "当前等级", "en": "Current level"},
    "rain": {"zh": "降雨量（毫米/日）", "en": "Rain (mm/day)"},
    "displacement": {"zh": "累计位移（毫米）", "en": "Cumulative displacement (mm)"},
    "velocity": {"zh": "位移速率（毫米/日）", "en": "Velocity (mm/day)"},
    "tangent": {"zh": "切线角（度）", "en": "Tangent angle (degrees)"},
    "thresholds": {
        "zh": "阈值线：45° 注意，80° 橙色，85° 红色",
        "en": "Threshold lines: 45° attention, 80° orange, 85° red",
    },
    "health": {"zh": "数据健康", "en": "Data health"},
    "sensors_online": {"zh": "在线传感器", "en": "Sensors online"},
    "gaps": {"zh": "数据缺口", "en": "Gaps"},
    "spikes": {"zh": "异常跳变", "en": "Spikes"},
    "no_sensor_data": {"zh": "湖仓中暂无该点的传感器数据。", "en": "No sensor data for this site."},
    # a chart that would be blank or a flat zero line is replaced by one of these sentences
    "rain_zero": {
        "zh": "{start}至{end}无降雨：雨量计记录为 0 毫米。",
        "en": "No rain from {start} to {end}: the rain gauge recorded 0 mm.",
    },
    "rain_missing": {
        "zh": "无降雨数据：该点没有雨量计读数。",
        "en": "No rain data: there are no rain-gauge readings for this site.",
    },
    "displacement_zero": {
        "zh": "{start}至{end}无位移：位移传感器记录为 0 毫米。",
        "en": "No displacement from {start} to {end}: the sensors recorded 0 mm.",
    },
    "displacement_missing": {
        "zh": "无位移数据：该点没有位移传感器读数。",
        "en": "No displacement data: there are no displacement readings for this site.",
    },
    "velocity_zero": {
        "zh": "{start}至{end}位移速率为 0：未监测到变形。",
        "en": "No movement from {start} to {end}: velocity 0 mm/day.",
    },
    "velocity_no_displacement": {
        "zh": "无法计算位移速率：该点没有位移读数。",
        "en": "Velocity not available: no displacement readings for this site.",
    },
    "velocity_too_few_readings": {
        "zh": "无法计算位移速率：位移读数不足（至少需要两天）。",
        "en": "Velocity not available: too few displacement readings (two days needed).",
    },
    "tangent_no_displacement": {
        "zh": "无法计算切线角：该点没有位移读数。",
        "en": "Tangent angle not available: no displacement readings for this site.",
    },
    "tangent_too_few_readings": {
        "zh": "无法计算切线角：位移读数不足，算不出速率（至少需要两天）。",
        "en": "Tangent angle not available: too few displacement readings for a velocity "
        "(two days needed).",
    },
    "tangent_no_steady_creep": {
        "zh": "无法计算切线角：前 {days} 天没有稳定蠕变（速率不大于 0），缺少归一化基准。",
        "en": "Tangent angle not available: no steady creep in the first {days} days "
        "(velocity not above 0), so there is no baseline to compare with.",
    },
    "online": {"zh": "在线", "en": "online"},
    "offline": {"zh": "离线", "en": "offline"},
    "col_sensor_id": {"zh": "传感器", "en": "Sensor"},
    "col_sensor_type": {"zh": "类型", "en": "Type"},
    "col_last_seen": {"zh": "最近数据", "en": "Last reading"},
    "col_online": {"zh": "状态", "en": "Status"},
    "col_gaps": {"zh": "缺口", "en": "Gaps"},
    "col_spikes": {"zh": "跳变", "en": "Spikes"},
    "sensor_rain_gauge": {"zh": "雨量计", "en": "Rain gauge"},
    "sensor_gnss": {"zh": "GNSS 位移", "en": "GNSS"},
    "sensor_crack_meter": {"zh": "裂缝计", "en": "Crack meter"},
    "sensor_tilt": {"zh": "倾角计", "en": "Tilt"},
    "sensor_soil_moisture": {"zh": "土壤含水率", "en": "Soil moisture"},
    "sensor_piezometer": {"zh": "渗压计", "en": "Piezometer"},
    "sensor_reservoir_gauge": {"zh": "水位计", "en": "Water level"},
    "open_cases": {"zh": "未结案件", "en": "Open cases"},
    "duplicates": {"zh": "重复记录", "en": "Duplicates"},
    "table_incidents": {"zh": "案事件", "en": "Incidents"},
    "table_disputes": {"zh": "纠纷", "en": "Disputes"},
    "table_dispute_events": {"zh": "纠纷事件", "en": "Dispute events"},
    "table_sensor_readings": {"zh": "传感器读数", "en": "Sensor readings"},
    "table_sensors": {"zh": "传感器", "en": "Sensors"},
    "table_hazard_sites": {"zh": "隐患点", "en": "Hazard sites"},
    "table_hazard_events": {"zh": "灾害事件", "en": "Hazard events"},
    "table_admin_units": {"zh": "行政区划", "en": "Admin units"},
    "table_grid_cells": {"zh": "网格", "en": "Grid cells"},
    # models
    "champion": {"zh": "当前服役模型", "en": "Champion model"},
    "no_champion": {"zh": "尚未登记服役模型。", "en": "No champion registered yet."},
    "mlflow_run": {"zh": "在 MLflow 中查看运行", "en": "Open the run in MLflow"},
    "metrics_vs_baselines": {"zh": "回测指标与基线对比", "en": "Backtest metrics vs baselines"},
    "metric": {"zh": "指标", "en": "Metric"},
    "value": {"zh": "数值", "en": "Value"},
    "plots": {"zh": "图表", "en": "Plots"},
    "data_quality": {"zh": "数据质量", "en": "Data quality"},
    "ingest_counts": {"zh": "每日接入记录数", "en": "Records ingested per day"},
    "quarantine": {"zh": "隔离原因", "en": "Quarantine reasons"},
    "no_batches": {"zh": "暂无接入记录。", "en": "No ingest batches yet."},
    "retrain": {"zh": "重新训练", "en": "Retrain"},
    "retrain_go": {"zh": "触发重新训练", "en": "Trigger retrain"},
    "airflow_down": {
        "zh": "无法连接 Airflow（{url}），暂不能触发重新训练。",
        "en": "Airflow at {url} is not reachable, so a retrain cannot be triggered now.",
    },
    "airflow_run": {"zh": "运行 {run}：{state}", "en": "Run {run}: {state}"},
    "refresh": {"zh": "刷新进度", "en": "Refresh progress"},
    "version_label": {"zh": "版本 {v}", "en": "version {v}"},
    "registered": {"zh": "登记于 {at}", "en": "registered {at}"},
}

ROLE_KEYS = {
    "leader": "role_leader",
    "reviewer": "role_reviewer",
    "data_scientist": "role_data_scientist",
    "admin": "role_admin",
}

# Official English forms of the demo city's county names (DOMAIN.md).
PLACE_NAMES_EN: dict[str, str] = {
    "大观区": "Daguan District",
    "迎江区": "Yingjiang District",
    "宜秀区": "Yixiu District",
    "桐城市": "Tongcheng City",
    "潜山市": "Qianshan City",
    "怀宁县": "Huaining County",
    "太湖县": "Taihu County",
    "宿松县": "Susong County",
    "望江县": "Wangjiang County",
    "岳西县": "Yuexi County",
}


def t(key: str, lang: str, **kwargs: Any) -> str:
    """The text ``key`` in ``lang`` with ``kwargs`` filled in (the key itself if unknown)."""
    entry = TEXT.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**kwargs) if kwargs else text


def level_label(level: str | None, lang: str) -> str:
    """``'red'`` -> ``'红色（I级）'`` / ``'Red (I)'``."""
    return t(f"level_{level or 'none'}", lang)


def place_name(name: str | None, lang: str) -> str:
    """A place name in ``lang`` (known county names are translated; others shown as given)."""
    if not name:
        return "—"
    if lang == "en":
        for zh, en in PLACE_NAMES_EN.items():
            name = name.replace(zh, en)
    return name


def fmt_int(value: float | int | None, lang: str) -> str:
    """Thousands-separated integer; Chinese uses 万 for ten thousands and more."""
    if value is None or pd.isna(value):
        return "—"
    v = round(float(value))
    if lang == "zh" and abs(v) >= 100_000:
        return f"{v / 10_000:,.1f}万"
    return f"{v:,d}"


def fmt_float(value: float | None, lang: str, digits: int = 2) -> str:
    """A decimal number with ``digits`` places."""
    if value is None or pd.isna(value):
        return "—"
    return f"{float(value):,.{digits}f}"


def fmt_pct(value: float | None, lang: str, digits: int = 1) -> str:
    """A share (0..1) as a percentage."""
    if value is None or pd.isna(value):
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def fmt_delta(value: float | int, lang: str) -> str:
    """A signed change, e.g. ``+3`` or ``-2``."""
    v = round(float(value))
    return f"{v:+d}"


def to_local(ts: Any, tz: str) -> pd.Timestamp | None:
    """A UTC (or naive-as-UTC) timestamp converted to ``tz``."""
    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return None
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert(tz)


def fmt_datetime(ts: Any, lang: str, tz: str) -> str:
    """A time in the display zone: ``2026年11月27日 18:30`` / ``27 Nov 2026 18:30``."""
    local = to_local(ts, tz)
    if local is None:
        return "—"
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b %Y %H:%M}"


def fmt_date(ts: Any, lang: str, tz: str) -> str:
    """A date in the display zone: ``11月27日`` / ``27 Nov``, with the year when not this one."""
    local = to_local(ts, tz)
    if local is None:
        return "—"
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{local.day} {local:%b %Y}"


def fmt_day(ts: Any, lang: str, tz: str) -> str:
    """A short day label in the display zone: ``11月23日`` / ``23 Nov``."""
    local = to_local(ts, tz)
    if local is None:
        return "—"
    return f"{local.month}月{local.day}日" if lang == "zh" else f"{local.day} {local:%b}"


def fmt_hours(hours: float | None, lang: str) -> str:
    """A duration in hours."""
    if hours is None or pd.isna(hours):
        return "—"
    return f"{float(hours):.0f} 小时" if lang == "zh" else f"{float(hours):.0f} h"


def localise_frame(
    frame: pd.DataFrame,
    lang: str,
    tz: str,
    *,
    columns: Mapping[str, str],
    times: tuple[str, ...] = (),
    levels: tuple[str, ...] = (),
    states: tuple[str, ...] = (),
    pcts: tuple[str, ...] = (),
    places: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A display copy of ``frame``: chosen columns, values formatted, headers translated.

    ``columns`` maps source column -> text key of its header, in display order.
    """
    out = frame.loc[:, [c for c in columns if c in frame.columns]].copy()
    for c in times:
        if c in out:
            out[c] = [fmt_datetime(v, lang, tz) for v in out[c]]
    for c in levels:
        if c in out:
            out[c] = [level_label(v, lang) if isinstance(v, str) else "—" for v in out[c]]
    for c in states:
        if c in out:
            out[c] = [t(f"state_{v}", lang) for v in out[c]]
    for c in pcts:
        if c in out:
            out[c] = [fmt_pct(v, lang) for v in out[c]]
    for c in places:
        if c in out:
            out[c] = [place_name(v, lang) for v in out[c]]
    return out.rename(columns={c: t(k, lang) for c, k in columns.items()})


def now_label(now: datetime, lang: str, tz: str) -> str:
    """'Data as of ...' line."""
    return t("updated", lang, at=fmt_datetime(now, lang, tz))
