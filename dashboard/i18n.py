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
    "kpi_hot_mean": {"zh": "热点平均风险", "en": "Hotspot risk (mean)"},
    "kpi_hot_mean_help": {
        "zh": "{domain}：风险最高的 {n} 个网格的平均概率；箭头为与上周相比的变化（百分点）。",
        "en": "{domain}: mean probability of the {n} riskiest cells; the arrow is the change "
        "from last week (percentage points).",
    },
    "map_title": {"zh": "本周热点预测：{domain}", "en": "This week's hotspot forecast: {domain}"},
    "map_caption": {
        "zh": "格网按预警等级着色；线条为县（区）和乡镇（街道）界线。离线底图。",
        "en": "Cells coloured by warning level; lines are county and township boundaries. "
        "Offline map.",
    },
    # maps (dashboard/maps.py)
    "colour_red": {"zh": "红色", "en": "red"},
    "colour_orange": {"zh": "橙色", "en": "orange"},
    "colour_yellow": {"zh": "黄色", "en": "yellow"},
    "colour_blue": {"zh": "蓝色", "en": "blue"},
    "map_count_level": {"zh": "{level} {n} 处", "en": "{level}: {n}"},
    "map_cell_detail": {
        "zh": "概率 {prob} · 网格 {unit}",
        "en": "probability {prob} · cell {unit}",
    },
    "map_scale": {"zh": "{km} 公里", "en": "{km} km"},
    "map_legend_note": {
        "zh": "方块：预警网格；底色：乡镇（街道）内最高等级；地名后数字：预警数",
        "en": "Squares: warned cells; shading: highest level in the township; number after "
        "a name: its warnings",
    },
    "map_legend_note_sites": {
        "zh": "圆点：隐患点（灰色为无预警）；底色：乡镇（街道）内最高等级；地名后数字：预警数",
        "en": "Dots: hazard sites (grey: no warning); shading: highest level in the township; "
        "number after a name: its warnings",
    },
    "model_note_forced": {
        "zh": "依据模型第 {v} 版：**未通过上线门槛**，由 {actor} 强制启用，结果仅供参考。",
        "en": "Model version {v}: **failed its promotion gate**, promoted by force by {actor}; "
        "read with caution.",
    },
    "model_note_passed": {
        "zh": "依据模型第 {v} 版：已通过上线门槛。",
        "en": "Model version {v}: passed its promotion gate.",
    },
    "model_note_manual": {
        "zh": "依据模型第 {v} 版：由 {actor} 人工启用。",
        "en": "Model version {v}: promoted by hand by {actor}.",
    },
    "model_note_plain": {"zh": "依据模型第 {v} 版。", "en": "Model version {v}."},
    "model_note_help": {
        "zh": "上线门槛：模型须在回测中明显优于每一种简单方法，且概率校准合格。详见“模型与数据质量”页。",
        "en": "The promotion gate: the model must clearly beat every simple method in the "
        "backtest and be calibrated. See the Models & data quality page.",
    },
    "map_click_hint": {
        "zh": "点击地图上的方块或乡镇，查看该处的预警。",
        "en": "Click a square or a township on the map to see its warnings.",
    },
    "map_pick_title": {"zh": "{place}：{n} 条预警", "en": "{place}: {n} warnings"},
    "map_pick_none": {"zh": "{place}：本周无预警。", "en": "{place}: no warning this week."},
    "map_open_review": {
        "zh": "在预警研判中查看：{place}",
        "en": "Open in warnings review: {place}",
    },
    "unit": {"zh": "网格/编号", "en": "Cell / id"},
    "valid_until": {"zh": "有效至", "en": "Valid until"},
    "wall_enter": {"zh": "大屏模式", "en": "Wall-screen mode"},
    "wall_leave": {"zh": "退出大屏", "en": "Leave wall-screen mode"},
    "wall_refreshed": {
        "zh": "刷新于 {at}，每 {s} 秒自动刷新",
        "en": "Refreshed {at}; refreshes every {s} s",
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
    # all sites at a glance (pages/geohazard.py)
    "sites_title": {
        "zh": "全部监测隐患点：当前等级与判定依据",
        "en": "All monitored sites: level and why",
    },
    "sites_summary": {
        "zh": "共 {n} 个隐患点（{at}）：{counts}。",
        "en": "{n} sites ({at}): {counts}.",
    },
    "sites_pick_hint": {
        "zh": "点击地图上的隐患点或列表中的一行，在下方查看该点的监测曲线。",
        "en": "Click a site on the map or a row of the list to see its readings below.",
    },
    "site_detail": {"zh": "单点详情", "en": "One site in detail"},
    "why": {"zh": "判定依据", "en": "Why"},
    "hazard_type": {"zh": "灾害类型", "en": "Hazard"},
    "people_threatened": {"zh": "威胁人数", "en": "People at risk"},
    "why_model": {"zh": "模型预测（概率 {p}）", "en": "model (probability {p})"},
    "why_sensor_rule": {
        "zh": "传感器规则：切线角 {angle}°，位移速率 {v} 毫米/日（{sensor}）",
        "en": "sensor rule: tangent angle {angle}°, {v} mm/day ({sensor})",
    },
    "why_sensor_health": {"zh": "传感器异常：{faults}", "en": "sensor fault: {faults}"},
    "why_rules_only": {
        "zh": "仅按传感器规则（模型不可用）",
        "en": "sensor rules only (model unavailable)",
    },
    "why_review": {"zh": "研判专家调整为{level}", "en": "set to {level} by a reviewer"},
    "why_none": {"zh": "未达预警阈值", "en": "below every threshold"},
    "fault_dead": {"zh": "无数据", "en": "silent"},
    "fault_flat": {"zh": "读数卡滞", "en": "stuck"},
    "fault_gappy": {"zh": "缺测严重", "en": "gappy"},
    "fault_spiky": {"zh": "跳变频繁", "en": "spiky"},
    "fault_no_sensor": {"zh": "无位移传感器", "en": "no displacement sensor"},
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
    "retrain_confirm": {
        "zh": "确认重新训练“{domain}”吗？Airflow 将回测并训练一个新版本，通常需要几分钟到几十分钟；"
        "新版本只有通过上线门槛才会自动启用，未通过则当前服役模型不变。",
        "en": "Retrain {domain}? Airflow will backtest and train a new version, which usually "
        "takes minutes to tens of minutes; the new version serves only if it passes the "
        "promotion gate, otherwise the serving model stays.",
    },
    "retrain_yes": {"zh": "确认，开始训练", "en": "Yes, start training"},
    "retrain_no": {"zh": "取消", "en": "Cancel"},
    "retrain_refused": {
        "zh": "Airflow 拒绝了这次训练请求：{error}",
        "en": "Airflow refused the retrain: {error}",
    },
    "retrain_no_answer": {
        "zh": "暂时无法获取训练进度（{error}），稍后自动重试。",
        "en": "No progress from Airflow right now ({error}); trying again shortly.",
    },
    "retrain_status": {
        "zh": "**{domain}** 重新训练（{at} 发起）：{state}，已用时 {took}。",
        "en": "**{domain}** retrain (requested {at}): {state}, {took} so far.",
    },
    "retrain_task": {"zh": "步骤", "en": "Step"},
    "task_domains": {"zh": "确定训练领域", "en": "Choose the domains"},
    "task_train": {"zh": "回测、训练与门槛检查", "en": "Backtest, train and gate"},
    "retrain_failed": {
        "zh": "训练失败，当前服役模型不变。请在 Airflow 中查看日志。",
        "en": "The training failed; the serving model is unchanged. See the logs in Airflow.",
    },
    "retrain_no_result": {
        "zh": "训练已结束，但没有取得结果（版本与门槛）。请在 MLflow 中查看。",
        "en": "The training ended without a result (version and gate); see MLflow.",
    },
    "retrain_result_pass": {
        "zh": "训练完成：新版本 {v} **通过**上线门槛，{promoted}。",
        "en": "Done: new version {v} **passes** the gate and {promoted}.",
    },
    "retrain_result_fail": {
        "zh": "训练完成：新版本 {v} **未通过**上线门槛，{promoted}。",
        "en": "Done: new version {v} **fails** the gate and {promoted}.",
    },
    "retrain_promoted": {"zh": "已启用为服役模型", "en": "now serves"},
    "retrain_not_promoted": {"zh": "当前服役模型保持不变", "en": "the serving model is unchanged"},
    "af_none": {"zh": "未开始", "en": "not started"},
    "af_queued": {"zh": "排队中", "en": "queued"},
    "af_scheduled": {"zh": "已排程", "en": "scheduled"},
    "af_running": {"zh": "运行中", "en": "running"},
    "af_success": {"zh": "已完成", "en": "finished"},
    "af_failed": {"zh": "失败", "en": "failed"},
    "af_up_for_retry": {"zh": "等待重试", "en": "waiting to retry"},
    "af_up_for_reschedule": {"zh": "等待重新调度", "en": "waiting to reschedule"},
    "af_upstream_failed": {"zh": "上游失败", "en": "upstream failed"},
    "af_skipped": {"zh": "已跳过", "en": "skipped"},
    "af_deferred": {"zh": "等待中", "en": "deferred"},
    "af_removed": {"zh": "已移除", "en": "removed"},
    "af_restarting": {"zh": "重启中", "en": "restarting"},
    "version_label": {"zh": "版本 {v}", "en": "version {v}"},
    "registered": {"zh": "登记于 {at}", "en": "registered {at}"},
    # models page: verdicts (dashboard/verdicts.py)
    "verdicts_title": {"zh": "各领域服役模型结论", "en": "Verdict on each serving model"},
    "verdicts_intro": {
        "zh": "上线门槛：模型须在回测中明显优于每一种简单方法（差值的 95% 置信区间全部大于 0），"
        "且预测概率与实际发生率相符（校准误差不超过上限）。",
        "en": "The promotion gate: in the backtest the model must beat every simple method "
        "clearly (the 95% confidence interval of the difference above 0) and its probabilities "
        "must match observed rates (calibration error within the bound).",
    },
    "vd_title": {
        "zh": "{domain} · 服役模型第 {v} 版",
        "en": "{domain} · serving model version {v}",
    },
    "vd_status_pass": {"zh": "通过上线门槛", "en": "Passes its gate"},
    "vd_status_fail": {"zh": "未通过上线门槛", "en": "Fails its gate"},
    "vd_status_unknown": {"zh": "未记录门槛结果", "en": "No gate result recorded"},
    "vd_status_forced": {"zh": "，被强制启用", "en": ", promoted by force"},
    "vd_versus_better": {
        "zh": "回测中模型的{metric}为 {model}，最好的简单方法“{base}”为 {base_value}："
        "模型高 {abs}（差值的 95% 置信区间 {lo} 至 {hi}），**明显优于**该方法。",
        "en": "In the backtest the model's {metric} is {model}; the best simple method, "
        "{base}, reaches {base_value}: the model is higher by {abs} (95% CI of the "
        "difference {lo} to {hi}), **clearly better**.",
    },
    "vd_versus_worse": {
        "zh": "回测中模型的{metric}为 {model}，最好的简单方法“{base}”为 {base_value}："
        "模型低 {abs}（差值的 95% 置信区间 {lo} 至 {hi}），**明显不如**该方法。",
        "en": "In the backtest the model's {metric} is {model}; the best simple method, "
        "{base}, reaches {base_value}: the model is lower by {abs} (95% CI of the "
        "difference {lo} to {hi}), **clearly worse**.",
    },
    "vd_versus_tie": {
        "zh": "回测中模型的{metric}为 {model}，最好的简单方法“{base}”为 {base_value}："
        "两者相差 {diff}（95% 置信区间 {lo} 至 {hi}，包含 0），**与该方法没有明显差别**。",
        "en": "In the backtest the model's {metric} is {model}; the best simple method, "
        "{base}, reaches {base_value}: the difference is {diff} (95% CI {lo} to {hi}, "
        "which includes 0), **no clear difference**.",
    },
    "vd_model_only": {
        "zh": "回测中模型的{metric}为 {model}（未记录与简单方法的比较）。",
        "en": "In the backtest the model's {metric} is {model} (no comparison recorded).",
    },
    "vd_rank": {
        "zh": "在 {n} 种可实际使用的方法中排第 {rank}（不计事后上限）。",
        "en": "Rank {rank} of {n} usable methods (ex-post ceilings not counted).",
    },
    "vd_below_chance": {
        "zh": "AUC 为 {auc}，低于 0.5：模型的排序**比随机还差**。",
        "en": "Its AUC of {auc} is below 0.5: the model ranks **worse than chance**.",
    },
    "vd_gate_pass": {
        "zh": "门槛检查全部通过：优于每一种简单方法，且概率校准合格。",
        "en": "Every gate check passed: better than each simple method, and calibrated.",
    },
    "vd_gate_failed": {"zh": "未通过的门槛检查：{checks}。", "en": "Gate checks failed: {checks}."},
    "vd_gate_unknown": {
        "zh": "该版本训练时未记录门槛结果。",
        "en": "No gate result was recorded when this version was trained.",
    },
    "vd_fail_worse": {
        "zh": "不如“{other}”（差 {diff}，区间 {lo} 至 {hi}）",
        "en": "worse than {other} ({diff}, CI {lo} to {hi})",
    },
    "vd_fail_tie": {
        "zh": "未能明显优于“{other}”（差 {diff}，区间 {lo} 至 {hi}）",
        "en": "not clearly better than {other} ({diff}, CI {lo} to {hi})",
    },
    "vd_fail_calibration": {
        "zh": "概率校准误差 {ece} 超过上限 {bound}（预测概率与实际发生率不符）",
        "en": "calibration error {ece} above the bound {bound} (probabilities do not match "
        "observed rates)",
    },
    "vd_fail_unscored": {
        "zh": "无法与此前的服役模型比较",
        "en": "could not be compared with the previous serving model",
    },
    "vd_trained": {
        "zh": "训练于 {at}，使用 {until} 之前的数据（{data}）；{window}。",
        "en": "Trained {at} on data before {until} ({data}); {window}.",
    },
    "vd_rows": {"zh": "训练样本 {n} 行", "en": "{n} training rows"},
    "vd_features": {"zh": "{n} 个输入特征", "en": "{n} inputs"},
    "vd_data_version": {"zh": "数据版本 {dv}", "en": "data version {dv}"},
    "vd_window": {"zh": "回测期 {start} 至 {end}", "en": "backtest {start} to {end}"},
    "vd_origins": {"zh": "回测 {n} 个预测起点", "en": "backtest over {n} forecast origins"},
    "vd_forced": {
        "zh": "**该版本未通过门槛，由 {actor} 于 {at} 强制启用**，理由：“{reason}”。",
        "en": "**This version failed its gate and was promoted by force** by {actor} on {at}; "
        'reason: "{reason}".',
    },
    "vd_promoted": {"zh": "由 {actor} 于 {at} 启用。", "en": "Promoted by {actor} on {at}."},
    "vd_promoted_auto": {
        "zh": "通过门槛后由训练流程于 {at} 自动启用。",
        "en": "Promoted automatically by the training run on {at}, after passing its gate.",
    },
    "vd_meaning_pass": {
        "zh": "含义：该领域的预警依据一个达标的模型，它在回测中稳定优于简单方法。",
        "en": "What this means: this domain's warnings come from a model that met the "
        "standard; it beat the simple methods in the backtest.",
    },
    "vd_meaning_fail": {
        "zh": "含义：该领域的预警依据一个**未达标**的模型，其排序并不比“{base}”等简单方法更可靠，"
        "研判时应审慎对待模型给出的风险分。",
        "en": "What this means: this domain's warnings come from a model **below the "
        "standard**; it ranks places no better than simple methods such as {base}, so treat "
        "its scores with caution.",
    },
    "vd_meaning_unknown": {
        "zh": "含义：无法判断该模型是否达标，请重新训练以记录门槛结果。",
        "en": "What this means: whether this model meets the standard is unknown; retrain it "
        "to record a gate result.",
    },
    "vd_no_champion": {
        "zh": "{domain}：尚未登记服役模型。",
        "en": "{domain}: no serving model yet.",
    },
    "mlflow_version": {
        "zh": "在 MLflow 中查看该模型版本",
        "en": "Open the model version in MLflow",
    },
    "metric_pai_at_0_05": {"zh": "命中效率 PAI@5%（随机为 1）", "en": "PAI@5% (random = 1)"},
    "metric_average_precision": {"zh": "平均精确率（AP）", "en": "average precision (AP)"},
    "metric_auc": {"zh": "排序能力 AUC（随机为 0.5）", "en": "AUC (chance = 0.5)"},
    "method_xgboost": {"zh": "模型（XGBoost）", "en": "the model (XGBoost)"},
    "method_long_run": {"zh": "长期历史计数", "en": "long-run counts"},
    "method_kde": {"zh": "核密度热点", "en": "kernel density hotspots"},
    "method_prospective": {"zh": "前瞻热点（ProMap）", "en": "prospective hotspots (ProMap)"},
    "method_last_period": {"zh": "上期计数", "en": "last period's counts"},
    "method_category_rate": {"zh": "同类纠纷升级率", "en": "escalation rate of the category"},
    "method_failed_mediations": {"zh": "调解失败次数", "en": "failed mediations"},
    "method_caine": {"zh": "Caine 雨强-历时阈值", "en": "Caine rainfall threshold"},
    "method_guzzetti": {"zh": "Guzzetti 雨强-历时阈值", "en": "Guzzetti rainfall threshold"},
    "method_effective_rain": {"zh": "有效降雨量", "en": "effective rainfall"},
    "method_sensor_rules": {
        "zh": "传感器规则（切线角与速率）",
        "en": "sensor rules (tangent angle and velocity)",
    },
    "method_tangent_angle": {"zh": "改进切线角", "en": "improved tangent angle"},
    "method_velocity": {"zh": "位移速率", "en": "displacement velocity"},
    "method_champion": {"zh": "此前的服役模型", "en": "the previous serving model"},
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
