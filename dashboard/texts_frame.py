"""Dashboard texts, part 1: frame, roles, pages, levels, overview, maps, review, disputes (``key -> {"zh": ..., "en": ...}``).

:mod:`dashboard.i18n` merges the parts into ``TEXT``; read them through ``t``.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    # app frame
    "app_title": {"zh": "市域风险预警", "en": "City Risk Early Warning"},
    "language": {"zh": "语言", "en": "Language"},
    "signed_in_as": {"zh": "当前用户：{name}（{role}）", "en": "Signed in as {name} ({role})"},
    "signed_in_as_role": {"zh": "当前用户：{role}", "en": "Signed in as {role}"},
    "sign_out": {"zh": "退出登录", "en": "Sign out"},
    "sign_in": {"zh": "登录", "en": "Sign in"},
    "sign_in_sso": {"zh": "使用单位账号登录", "en": "Sign in with your organisation account"},
    "username": {"zh": "用户名", "en": "Username"},
    "password": {"zh": "密码", "en": "Password"},
    "bad_login": {"zh": "用户名或密码错误。", "en": "Wrong username or password."},
    "login_locked": {
        "zh": "该用户名连续登录失败次数过多，请于 {until} 后再试。",
        "en": "Too many failed sign-ins for this name: try again after {until}.",
    },
    "oidc_refused": {
        "zh": "该单位账号未通过邮箱验证或未分配角色，请联系管理员。",
        "en": "This account has no verified e-mail or no role assigned: ask an administrator.",
    },
    "session_idle": {
        "zh": "因 {minutes} 分钟无操作，已自动退出，请重新登录。",
        "en": "Signed out after {minutes} minutes without activity: please sign in again.",
    },
    "session_revoked": {
        "zh": "此会话已在其他页面退出登录，请重新登录。",
        "en": "This session was signed out elsewhere: please sign in again.",
    },
    "signout_unrecorded": {
        "zh": "已在此浏览器退出登录，但服务器未能记录本次退出（服务库暂时无法访问）："
        "此会话的 Cookie 副本在其他服务器上可能仍然有效，直至过期（自登录起最长 12 小时）。"
        "服务库恢复后本浏览器会自动补记；如担心 Cookie 已泄露，请联系管理员。",
        "en": "Signed out in this browser, but the server could not record the sign-out (the "
        "serving store did not answer): a copy of this session's cookie may still work on "
        "other servers until it expires (at most 12 hours after sign-in). This browser "
        "records it once the store answers again; if the cookie may have leaked, tell an "
        "administrator.",
    },
    "session_max": {
        "zh": "登录已满 12 小时，请重新登录。",
        "en": "Signed in for 12 hours, the longest a session lasts: please sign in again.",
    },
    "session_changed": {
        "zh": "您的账号已被删除或角色已变更，请重新登录。",
        "en": "Your account was removed or its role changed: please sign in again.",
    },
    "audit_down": {
        "zh": "无法写入审计日志，暂不能登录，请联系管理员。",
        "en": "The audit log cannot be written, so sign-in is unavailable: ask an administrator.",
    },
    "store_unknown_revision": {
        "zh": "服务库的结构版本 {revision} 不是本版本 riskwarn 所能识别的（可能由更新版本的 riskwarn 升级过）。"
        "页面不读取也不更改它：请运行与之匹配的 riskwarn 版本，或从备份恢复。",
        "en": "The serving store is at schema revision {revision}, which this riskwarn does not "
        "know (probably migrated by a newer riskwarn). The pages neither read nor change it: "
        "run the matching riskwarn version or restore a backup.",
    },
    "no_users": {
        "zh": "未找到用户文件 {path}。请运行 `riskwarn dashboard --demo-users` 生成演示账号。",
        "en": "No users file at {path}. Run `riskwarn dashboard --demo-users` for demo accounts.",
    },
    "users_file_broken": {
        "zh": "用户文件 {path} {problem}，在管理员修复之前无法登录。",
        "en": "The users file {path} {problem}: nobody can sign in until an administrator "
        "fixes it.",
    },
    "users_unreadable": {"zh": "无法读取", "en": "cannot be read"},
    "users_encoding": {"zh": "不是 UTF-8 文本", "en": "is not UTF-8 text"},
    "users_yaml": {"zh": "不是有效的 YAML", "en": "is not valid YAML"},
    "users_login": {
        "zh": "中有登录名含字母、数字和 . _ - + @ 以外的字符（或超过 128 个字符）：审核记录的审核人就是登录名",
        "en": (
            "has a login that is not letters, digits and . _ - + @ only (at most 128 "
            "characters): the login is who a review records"
        ),
    },
    "users_shape": {
        "zh": "的结构不对（应为含 users 与 oidc_roles 映射的映射）",
        "en": "is not a mapping with 'users' and 'oidc_roles' mappings",
    },
    "refused": {
        "zh": "您的角色（{role}）无权访问此页面。",
        "en": "Your role ({role}) may not open this page.",
    },
    "no_data": {"zh": "暂无已发布的数据。", "en": "No published data yet."},
    "no_data_home": {
        "zh": "本看板的工作目录 {home} 中还没有已发布的评分结果：请在该目录运行流水线"
        "（`make demo`），或将 RISKWARN_HOME 设为已有结果的工作目录后重新启动 "
        "`riskwarn dashboard`。",
        "en": "No published run in this dashboard's home, {home}: run the pipeline there "
        "(`make demo`), or restart `riskwarn dashboard` with RISKWARN_HOME set to the home "
        "that holds one.",
    },
    "updated": {"zh": "数据更新于 {at}", "en": "Data as of {at}"},
    "as_of": {
        "zh": "数据截至：最新事件 {event} · 最新传感器读数 {reading} · 最新预报起报 {origin}",
        "en": "Data as of: latest event {event} · latest reading {reading} · "
        "forecast origin {origin}",
    },
    # every page's dates and times are in the display zone; the command line writes UTC
    # ("created 2026-12-07T03:39Z"): said once per page, beside "Data as of"
    "times_zone": {
        "zh": "页面时间均为{zone}；命令行显示协调世界时（时间后带 `Z`）。",
        "en": "Times on this page are in {zone}; the command line writes UTC (a time ending in Z).",
    },
    "as_of_replay": {
        "zh": "（历史数据回放：各类预警按其自身最新起报时间判断是否仍有效）",
        "en": "(replay of past data: each domain's warnings in force are judged at its own "
        "latest origin)",
    },
    "case_state_none": {"zh": "未预警", "en": "No warning"},
    "place_unknown": {"zh": "未落入任何县区", "en": "Outside every district"},
    "case_no_explanation": {
        "zh": "评分时未保存该案件的解释（未达预警等级的案件，旧版评分不保存解释；重新评分后显示）。",
        "en": "The scoring run kept no explanation for this case (runs before this version "
        "kept explanations for warned cases only; the next scoring run adds it).",
    },
    "review_state": {"zh": "研判状态", "en": "Review state"},
    "section_leaders": {"zh": "领导驾驶舱", "en": "Leaders"},
    "section_panels": {"zh": "研判处置", "en": "Panels"},
    "section_science": {"zh": "模型与数据", "en": "Models & data"},
    # roles
    "role_leader": {"zh": "领导", "en": "Leader"},
    "role_reviewer": {"zh": "评估专家", "en": "Reviewer"},
    "role_data_scientist": {"zh": "数据科学家", "en": "Data scientist"},
    "role_admin": {"zh": "管理员", "en": "Administrator"},
    # pages: page_<key> comes from each page's own PAGE entry (dashboard/page_index.py)
    # domains
    "domain_incidents": {"zh": "治安案事件", "en": "Public-security incidents"},
    "domain_incidents_daily": {"zh": "治安案事件（日）", "en": "Incidents (daily)"},
    "domain_disputes": {"zh": "矛盾纠纷", "en": "Civil disputes"},
    "domain_dispute_cases": {"zh": "纠纷案件升级", "en": "Dispute escalation"},
    "domain_geohazard": {"zh": "地质灾害", "en": "Geohazards"},
    "domain_geohazard_hourly": {"zh": "地质灾害（小时）", "en": "Geohazards (hourly)"},
    "domain_geohazard_stream": {
        "zh": "地质灾害（实时监测）",
        "en": "Geohazards (real-time sensors)",
    },
    # levels and states
    # level_red ... level_none: riskwarn.paging_texts (the pages say them too)
    # one Chinese term per state: a reviewer's dismissal (judged not warranted) is 排除 /
    # 已排除; a publication's withdrawal (its re-run no longer raised it) is 撤回 / 已撤回.
    # The two read 已撤销 / 已撤回 before, one character apart.
    "state_new": {"zh": "待研判", "en": "New"},
    "state_accepted": {"zh": "已确认", "en": "Accepted"},
    "state_adjusted": {"zh": "已调整", "en": "Adjusted"},
    "state_dismissed": {"zh": "已排除", "en": "Dismissed"},
    "pick_dismissed": {"zh": "已排除（原{level}）", "en": "Dismissed (was {level})"},
    "state_withdrawn": {"zh": "已撤回", "en": "Withdrawn"},
    "all": {"zh": "全部", "en": "All"},
    # trends
    "trend_emerging": {"zh": "新出现", "en": "Emerging"},
    "trend_intensifying": {"zh": "加剧", "en": "Intensifying"},
    "trend_persistent": {"zh": "持续", "en": "Persistent"},
    "trend_diminishing": {"zh": "减弱", "en": "Diminishing"},
    # overview
    "kpi_warnings": {"zh": "有效预警", "en": "Active warnings"},
    # warnings whose validity ended before the week shown (views.split_stale)
    "kpi_stale": {
        "zh": "未计入本周：{parts}（该领域数据更新停在本周之前，为过期预警）。",
        "en": "Not counted this week: {parts} (stale: that domain's data stopped before this "
        "week).",
    },
    "kpi_stale_part": {
        "zh": "{n} 条{domain}预警，有效期止于 {at}",
        "en": "{n} {domain} warnings, valid until {at}",
    },
    "kpi_red": {"zh": "红色预警", "en": "Red warnings"},
    "kpi_red_help": {"zh": "按领域：{parts}", "en": "By domain: {parts}"},
    "red_off_maps": {  # the sites and cases are marked on the maps too (map_marks): listed
        "zh": "隐患点、纠纷案件红色预警（{n}）",  # here with a link to each
        "en": "Red warnings of sites and cases ({n})",
    },
    "red_off_maps_line": {  # the probability first: a narrow screen still shows it
        "zh": "概率 {prob} · {domain} · {place}",
        "en": "{prob} · {domain} · {place}",
    },
    # the wall screen's lines: no link, so the unit's id (a case's number as its source registers it, a site's)
    "red_off_maps_wall_line": {
        "zh": "{domain} · {unit} · {place} · 概率 {prob}",
        "en": "{domain} · {unit} · {place} · {prob}",
    },
    "red_off_maps_more": {
        "zh": "另有 {n} 条（见预警研判）",
        "en": "and {n} more (see Warnings review)",
    },
    # the overview's list past RED_OFF_MAPS_LINES: a link for roles that may open the
    # review page, plain words for the others (they cannot follow it)
    "red_off_maps_more_link": {
        "zh": "另有 {n} 条：在预警研判中查看",
        "en": "and {n} more: open Warnings review",
    },
    "red_off_maps_more_plain": {"zh": "另有 {n} 条", "en": "and {n} more"},
    "kpi_pending": {"zh": "待研判", "en": "Awaiting review"},
    # the KPI covers one domain (the first hotspot domain: incidents): its label says which
    "kpi_hot_mean": {"zh": "{domain}热点平均风险", "en": "Hotspot risk, {domain} (mean)"},
    # short labels of the domains the KPI may cover (the long name was cut at 1280 px)
    "kpi_hot_mean_incidents": {"zh": "治安热点平均风险", "en": "Incident hotspot risk"},
    "kpi_hot_mean_disputes": {"zh": "纠纷热点平均风险", "en": "Dispute hotspot risk"},
    # the bare percentage explained (user review, 2026-12-07: "48.4%" said nothing of what,
    # over which window, how counted): overview.kpi_help fills it
    "kpi_hot_mean_help": {
        "zh": "**含义**：本周预测中，{start}至{end}（{days} 天）内一个网格（{size} 米见方）"
        "发生至少一起{event}的概率，取概率最高的 {n} 个网格求平均。\n\n"
        "**计算方式**：每个网格的模型预测概率，取最高的 {n} 个相加后除以 {n}；"
        "不是事件数，也不是网格的占比。\n\n{arrow}",
        "en": "**What it is**: in this week's forecast, the chance that a cell ({size} m "
        "square) has at least one {event} from {start} to {end} ({days} days), averaged "
        "over the {n} cells with the highest chance.\n\n"
        "**How it is counted**: each cell's forecast probability from the model; the {n} "
        "highest are added up and divided by {n}. It is not a count of events, nor a share "
        "of cells.\n\n{arrow}",
    },
    # the arrow compares with the forecast a week before (trends.week_before), not the
    # previous origin: scoring runs daily, the previous origin is yesterday's
    "kpi_arrow_vs": {
        "zh": "**箭头**：与一周前 {date} 的预测（同样 {n} 个最高网格）相比的变化，单位为百分点。",
        "en": "**The arrow**: the change from the forecast of {date}, a week earlier (its "
        "{n} highest cells), in percentage points.",
    },
    "kpi_arrow_none": {
        "zh": "**箭头**：暂无：还没有一周前的预测可供比较。",
        "en": "**The arrow**: none yet: there is no forecast from a week earlier to compare with.",
    },
    # the arrow's own words name what it compares with ({d}: "+1.2 pp", first: its sign
    # sets the arrow's direction)
    # a week before has no forecast within 3 days (trends.missing_week): the hotspot
    # changes compare none either (one rule for the page)
    "kpi_arrow_gap": {
        "zh": "**箭头**：无：一周前（{day}）前后 3 天内没有预测（再早一期为 {older}），"
        "下方的热点变化同样不作比较。",
        "en": "**The arrow**: none: no forecast within 3 days of {day}, a week earlier (the "
        "one before is of {older}); the hotspot changes below compare none either.",
    },
    # the forecast compared with was made by another model version than this one's
    "kpi_arrow_version": {
        "zh": "该预测由模型版本 {then} 生成，本期为版本 {now}：变化中也包含换模型的影响。",
        "en": "That forecast was made by model version {then}, this one by {now}: the "
        "change includes the change of model.",
    },
    # under the hotspot KPI: the forecast its arrow compares with (a caption, not the arrow's
    # text: Streamlit draws the arrow's direction from the text's first character, and the
    # card cut "-0.4 个百分点（对比 12…" before the date)
    "kpi_delta_vs": {"zh": "箭头对比{date}的预测", "en": "Arrow: vs the forecast of {date}"},
    # what the KPI's probability is of, per domain (kpi_hot_mean_help's {event})
    "kpi_hot_event_incidents": {"zh": "治安事件", "en": "incident"},
    "kpi_hot_event_disputes": {"zh": "新纠纷", "en": "new dispute"},
    # the model behind the KPI failed its gate's calibration check (views.calibration_caveat)
    "kpi_uncalibrated": {
        "zh": "⚠ 模型未通过校准检验（ECE {ece}，上限 {bound}）：此百分比只可用于排序，不能当作概率。",
        "en": "⚠ The model failed its calibration check (ECE {ece}, bound {bound}): read this "
        "as a ranking, not a probability.",
    },
    "kpi_uncalibrated_plain": {
        "zh": "⚠ 模型未通过校准检验：此百分比只可用于排序，不能当作概率。",
        "en": "⚠ The model failed its calibration check: read this as a ranking, not a "
        "probability.",
    },
    "map_title": {"zh": "本周热点预测：{domain}", "en": "This week's hotspot forecast: {domain}"},
    "map_empty_below": {
        "zh": "本周没有网格达到预警等级，所以地图上没有色块：任一网格未来 7 天出现新事件（{domain}）的最高概率为 {p}，低于最低预警等级（蓝色）的门槛 {thr}。这是预测结果，不是数据缺失。",
        "en": "No cell reaches a warning level this week, so the map shows no squares: the "
        "highest chance of a new event ({domain}) in any cell in the next 7 days is {p}, "
        "below the lowest level's threshold (blue) of {thr}. This is the forecast, not "
        "missing data.",
    },
    "map_empty_other": {
        "zh": "本周没有生效的{domain}预警，所以地图上没有色块（最高预测概率 {p}，蓝色门槛 {thr}；预警可能已过期或被研判排除）。",
        "en": "No {domain} warning is in force, so the map shows no squares (highest forecast "
        "chance {p}, blue threshold {thr}; warnings may have expired or been dismissed).",
    },
    "map_legend_empty": {"zh": "本周无预警", "en": "No warning this week"},
    "map_legend_empty_cells": {"zh": "本周无预警网格", "en": "No warned cell this week"},
    "map_legend_empty_sites": {"zh": "目前所有隐患点均无预警", "en": "No site has a warning now"},
    "map_banner_empty": {"zh": "{domain}：本周无预警", "en": "{domain}: no warning this week"},
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
    # the overview's markers of warned places (dashboard/map_marks.py)
    "map_legend_site": {"zh": "预警隐患点", "en": "Warned hazard site"},
    "map_legend_case": {"zh": "预警纠纷案件（约 1 公里）", "en": "Warned dispute cases (~1 km)"},
    "map_mark_site": {"zh": "地质灾害隐患点：{why}", "en": "Geohazard site: {why}"},
    "map_mark_cases_square": {
        "zh": "有预警的纠纷案件 {n} 件（{counts}）；约 1 公里范围内，为保护当事人隐私不显示具体位置",
        "en": "Dispute cases with a warning: {n} ({counts}); within about 1 km, the exact "
        "location is not shown, to protect the people involved",
    },
    "map_mark_cases_town": {
        "zh": "有预警的纠纷案件 {n} 件（{counts}）；位于该乡镇（街道），不显示具体位置",
        "en": "Dispute cases with a warning: {n} ({counts}); in this township, the exact "
        "location is not shown",
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
    "model_note_unjudged": {
        "zh": "依据模型第 {v} 版：**未经上线门槛评判**，由 {actor} 强制启用，结果仅供参考。",
        "en": "Model version {v}: **never judged by its promotion gate**, promoted by force "
        "by {actor}; read with caution.",
    },
    "model_note_not_judged": {
        "zh": "依据模型第 {v} 版：**上线门槛无法评判**（回测期内无可比较的事件），由 {actor} "
        "强制启用，结果仅供参考。",
        "en": "Model version {v}: **its promotion gate could not judge it** (no event to "
        "compare on in the backtest), promoted by force by {actor}; read with caution.",
    },
    "model_note_passed": {
        "zh": "依据模型第 {v} 版：已通过上线门槛。",
        "en": "Model version {v}: passed its promotion gate.",
    },
    # a site model that failed against the sensor rules (views.model_note with its gate):
    # its probabilities shown beside levels it did not set (user review of 6 Dec 2026)
    "model_note_rules": {
        "zh": "回测中该模型不如传感器规则：每个隐患点的等级取模型与传感器规则中较高者，"
        "模型概率未达其阈值时，等级即由传感器规则给出。",
        "en": "In the backtest it did worse than the sensor rules: a site's level is the "
        "higher of the model's and the sensor rules', so wherever the model's probability "
        "stays below its thresholds the levels follow the sensor rules.",
    },
    "model_note_manual": {
        "zh": "依据模型第 {v} 版：由 {actor} 人工启用。",
        "en": "Model version {v}: promoted by hand by {actor}.",
    },
    "model_note_plain": {"zh": "依据模型第 {v} 版。", "en": "Model version {v}."},
    # what scoring would serve now, when it is not the map's model (model_reads.serving_model)
    "model_note_refused": {
        "zh": "注意：MLflow 的冠军别名（第 {alias} 版）与系统的上线记录（{recorded}）不一致，"
        "下一次评分将拒绝使用它，本图保持不变。",
        "en": "Note: MLflow's champion alias (version {alias}) and riskwarn's record "
        "({recorded}) disagree: the next scoring run refuses it, and this map stays.",
    },
    # the champion passes the alias check but scoring refuses it over its training data
    # end (dashboard.verdicts.serving_refusal): not the live model; {why} is the refusal
    "model_note_data_end": {
        "zh": "注意：下一次评分不会使用模型第 {v} 版，本图保持不变，直到问题修复。{why}",
        "en": "Note: the next scoring run does not use model version {v}, and this map "
        "stays until it is fixed. {why}",
    },
    "model_note_next": {
        "zh": "下一次评分将使用模型第 {v} 版。",
        "en": "The next scoring run uses model version {v}.",
    },
    "champ_refused": {
        "zh": "MLflow 的冠军别名指向第 {alias} 版，但系统的上线记录为：{recorded}。评分拒绝使用它，"
        "目前没有在用的模型（最近一次发布的结果继续有效）。",
        "en": "MLflow's champion alias points at version {alias}, but riskwarn's record says "
        "{recorded}: scoring refuses it, so no model is served (the last published runs stay).",
    },
    "champ_recorded_v": {"zh": "第 {v} 版", "en": "version {v}"},
    "champ_recorded_none": {"zh": "从未记录任何上线", "en": "no promotion at all"},
    "champ_recorded_same": {
        "zh": "同一版本，但门槛标签或模型文件已被改动",
        "en": "the same version, but its gate tag or model files changed",
    },
    "model_note_unversioned": {
        "zh": "本图的评分不来自已登记的模型版本（例如基线方法或测试数据）。",
        "en": "These scores come from no registered model version (e.g. a baseline or test data).",
    },
    # a hotspot model whose own backtest PAI at the headline share is below 1 (its top
    # share held fewer than that share of all events; dashboard.verdicts.
    # below_random_notice): beside every map of its forecast, with the run's own chance
    # reference (a random choice of the scored cells: events_active_area / events, not 1)
    "hotspot_below_random": {
        "zh": "回测中，该预测排名最高的 {share} 区域内出现的{noun}少于随机挑选同样数量的评分网格"
        "（{pai}；随机挑选在此为 {ref}，而非 1：{n} 起{noun}中有 {out} 起（{pct}）发生在此前"
        "没有{noun}记录的网格，任何网格预测都无法对其排名）：**它不能说明{noun}会发生在哪里**。"
        "请勿把“本周无预警”或概率低理解为风险低。",
        "en": "In its backtest the top {share} of the area this forecast ranked highest held "
        "fewer {noun} than as many of the scored cells chosen at random ({pai}; a random "
        "choice scores {ref} here, not 1: {out} of {n} {noun} ({pct}) fell in cells with no "
        "earlier {noun}, which no cell forecast ranks): **it does not show where {noun} will "
        "happen**. Do not read “no warning this week” or a low chance as low risk.",
    },
    "hotspot_not_above_random": {
        "zh": "回测中，该预测排名最高的 {share} 区域内出现的{noun}并不可靠地多于随机挑选同样数量的"
        "评分网格（{pai}；随机挑选在此为 {ref}，而非 1：{n} 起{noun}中有 {out} 起（{pct}）发生"
        "在此前没有{noun}记录的网格，任何网格预测都无法对其排名）：**它不能可靠地说明{noun}会"
        "发生在哪里**。请勿把“本周无预警”或概率低理解为风险低。",
        "en": "In its backtest the top {share} of the area this forecast ranked highest did "
        "not reliably hold more {noun} than as many of the scored cells chosen at random "
        "({pai}; "
        "a random choice scores {ref} here, not 1: {out} of {n} {noun} ({pct}) fell in cells "
        "with no earlier {noun}, which no cell forecast ranks): **it does not reliably show "
        "where {noun} will happen**. Do not read “no warning this week” or a low chance as "
        "low risk.",
    },
    "hotspot_coverage": {
        "zh": "回测中，该预测排名最高的 {share} 区域内出现的{noun}不到全部{noun}的 {share}（{pai}；"
        "随机挑选同样数量的评分网格在此为 {ref}）：{n} 起{noun}中有 {out} 起（{pct}）发生在此前"
        "没有{noun}记录的网格，任何网格预测都无法对其排名。**它不能说明大多数{noun}会发生在哪里**。"
        "请勿把“本周无预警”或概率低理解为风险低。",
        "en": "In its backtest the top {share} of the area this forecast ranked highest held "
        "fewer than {share} of all {noun} ({pai}; as many of the scored cells chosen at random "
        "score {ref} here): {out} of {n} {noun} ({pct}) fell in cells with no earlier {noun}, "
        "which no cell forecast ranks. **It does not show where most {noun} will happen**. "
        "Do not read “no warning this week” or a low chance as low risk.",
    },
    # a run that does not record events_active_area: no chance reference (not 1)
    "hotspot_below_share": {
        "zh": "回测中，该预测排名最高的 {share} 区域内出现的{noun}不到全部{noun}的 {share}（{pai}，"
        "低于 1）：**它不能说明{noun}会发生在哪里**。请勿把“本周无预警”或概率低理解为风险低。",
        "en": "In its backtest the top {share} of the area this forecast ranked highest held "
        "fewer than {share} of all {noun} ({pai}, below 1): **it does not show where {noun} "
        "will happen**. Do not read “no warning this week” or a low chance as low risk.",
    },
    "hotspot_pai": {"zh": "PAI 为 {value}", "en": "PAI {value}"},
    "hotspot_pai_ci": {
        "zh": "PAI 为 {value}，95% 置信区间 {lo}–{hi}",
        "en": "PAI {value}, 95% CI {lo}–{hi}",
    },
    # civil disputes by community (dashboard.community_panel), beside the disputes map
    "comm_title": {
        "zh": "本周纠纷可能集中的村/社区",
        "en": "Communities where disputes are most likely this week",
    },
    "comm_caption": {
        "zh": "全市 {total} 个村/社区中排名前 {n} 的（前 5%），{start} 起 7 天。排序规则：各村/社区"
        "常住人口占全市的比例 × 全市至今的纠纷发生率。滚动回测中，这一规则排名前 5% 的村/社区"
        "集中的纠纷明显多于随机挑选同样数量的村/社区，而模型没有超过它，因此这里展示规则而非模型。纠纷多登记在"
        "居民所在处，很少在同一 250 米网格内重复发生，网格地图不能说明纠纷会发生在哪里；请按村/社区看。",
        "en": "The top {n} of the city's {total} communities (top 5%), for the 7 days from "
        "{start}. Ranked by each community's share of the city's residents times the city's "
        "dispute rate so far. In its rolling backtest the top 5% of communities by this rule "
        "held clearly more disputes than as many communities picked at random, and the "
        "model did not beat it, so the rule is shown here, not the model. Disputes are "
        "registered where people live and rarely twice in one 250 m cell: the cell map does "
        "not show where disputes will happen; read them by community.",
    },
    "comm_method": {
        "zh": "排序方法：{method}（第 {version} 版），由评分流程于 {written} 发布到服务库；"
        "这是村/社区回测中胜出的规则，不是模型。",
        "en": "Ranked by {method} (version {version}), published to the serving store by "
        "the scoring run on {written}: the rule that won the community backtest, not a "
        "model.",
    },
    # the stored method name (community_runs.method) as the page names it
    "comm_method_population_rate": {
        "zh": "人口占比规则",
        "en": "the population-share rule",
    },
    "comm_none": {
        "zh": "{start} 起这一周的村/社区纠纷排名尚未发布（评分流程在发布纠纷预测时一并发布），"
        "目前还没有任何一周的排名。",
        "en": "No community ranking has been published for the week from {start} (the "
        "scoring run publishes it with the disputes forecast), nor for any week yet.",
    },
    "comm_none_latest": {
        "zh": "{start} 起这一周的村/社区纠纷排名尚未发布（评分流程在发布纠纷预测时一并发布）。"
        "最近一次发布的是 {latest} 起的一周，不在此展示，以免当作本周的排名。",
        "en": "No community ranking has been published for the week from {start} (the "
        "scoring run publishes it with the disputes forecast). The newest published one "
        "is for the week from {latest}; it is not shown here as this week's.",
    },
    "comm_rank": {"zh": "排名", "en": "Rank"},
    "comm_community": {"zh": "村/社区", "en": "Community"},
    "comm_township": {"zh": "乡镇/街道", "en": "Township"},
    "comm_county": {"zh": "县区", "en": "County"},
    "comm_expected": {"zh": "本周预计纠纷数", "en": "Expected disputes this week"},
    "comm_last_4w": {"zh": "近 4 周纠纷", "en": "Disputes, last 4 weeks"},
    "comm_last_52w": {"zh": "近 52 周纠纷", "en": "Disputes, last 52 weeks"},
    "hotspot_noun": {"zh": "事件", "en": "events"},
    "hotspot_noun_disputes": {"zh": "纠纷", "en": "disputes"},
    "hotspot_noun_incidents": {"zh": "案事件", "en": "incidents"},
    "model_note_help": {  # {rule}: dashboard.verdicts.gate_rule of the page's domain
        "zh": "上线门槛：模型在回测中须{rule}，且概率校准合格。详见“模型与数据质量”页。",
        "en": "The promotion gate: in the backtest the model must {rule}, and be calibrated. "
        "See the Models & data quality page.",
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
    # the overview's "is it rising": observed weeks (the serving store's observed_weeks,
    # written by the publish step) then this week's forecast, one chart per domain
    "observed_title": {
        "zh": "风险在上升吗？近 {n} 周实际发生与本周预测",
        "en": "Is it rising? The last {n} weeks observed, then this week's forecast",
    },
    "observed_domain_cells": {
        "zh": "**{domain}**：每周发生过至少一起的网格（250 米）数（此前已有记录、预测所覆盖的网格）",
        "en": "**{domain}**: 250 m cells with at least one, per week (cells with an earlier "
        "one: those a forecast covers)",
    },
    "observed_domain_sites": {
        "zh": "**{domain}**：每周发生灾情的监测点数",
        "en": "**{domain}**: monitored sites with a recorded failure, per week",
    },
    "observed_y_cells": {"zh": "网格数", "en": "cells"},
    "observed_y_sites": {"zh": "监测点数", "en": "sites"},
    # the chart's y axis does not start at 0 (views.observed_y_domain): said in a caption
    # under it (in the axis title it was cut at 390 px)
    "observed_y_from": {
        "zh": "纵轴从 {low} 起，不从 0 起。",
        "en": "The y axis starts at {low}, not 0.",
    },
    "observed_kind": {"zh": "类别", "en": "Series"},
    "observed_kind_observed": {"zh": "实际发生", "en": "Observed"},
    "observed_kind_forecast": {"zh": "本周预测", "en": "This week's forecast"},
    # the forecast point scaled by the backtest's observed / expected (views.observed_series)
    "observed_kind_forecast_adjusted": {
        "zh": "本周预测（按回测校正）",
        "en": "This week's forecast, adjusted",
    },
    "observed_adjusted": {
        "zh": "预测点已按模型回测校正：各网格概率之和为 {raw} 个；该模型回测中有事件的网格周为 {obs} 个，"
        "而其概率合计预期 {exp} 个（× {ratio}），校正后为 {adj} 个，与实线各周的实际数可比。"
        "地图与预警仍使用模型的原始概率。",
        "en": "The forecast point is adjusted by the model's backtest: its probabilities sum "
        "to {raw} cells, and in its backtest {obs} cell-weeks had one where its "
        "probabilities expected {exp} (× {ratio}); adjusted, {adj} cells, like for like "
        "with the weeks observed. The map and the warnings use the model's probabilities "
        "as they are.",
    },
    "observed_week": {"zh": "周起始日", "en": "Week starting"},
    "observed_events": {"zh": "事件数（全部网格）", "en": "Events (all cells)"},
    "observed_caption": {
        "zh": "实线：各周实际发生（数据截至预测起点 {origin}，之后的事件不计入）。虚线与空心点：本周预测，即预计发生至少一起的网格数（各网格概率之和）。预测只覆盖此前已有记录的网格，网格的首次事件不在任何预测之内，因此各周也只计此前已有记录的网格（悬停可见当周全部事件数）。每个领域单独一个纵轴。",
        "en": "Solid: what was observed each week (data up to the forecast origin, {origin}; "
        "nothing after it is counted). Dashed, hollow point: this week's forecast, the "
        "number of cells expected to have at least one (the sum of the cells' "
        "probabilities). A forecast covers only cells with an earlier record, so a "
        "cell's first one is in no forecast and each week counts only cells with an "
        "earlier record too (hover: every event of the week). Each domain has its own axis.",
    },
    "observed_caption_sites": {
        "zh": "截至该领域最近一次评估（{origin}）的各周实际灾情；监测点预测为逐点未来 24 小时，见地质灾害页面。",
        "en": "Failures observed each week up to the domain's latest run ({origin}); the "
        "site forecast is per site for the next 24 hours: see the geohazard page.",
    },
    "observed_off": {
        "zh": "注意：本周预测（{fc} 个网格）超出近 {n} 周实际的范围（每周 {lo} 至 {hi} 个）：可能是真实变化，也可能是模型的概率与实际发生不符。解读升降前请先在“模型与数据质量”页面检查该模型的校准。",
        "en": "Note: this week's forecast ({fc} cells) is outside the range of the {n} weeks "
        "observed ({lo} to {hi} a week): a real change, or the model's probabilities not "
        "matching what keeps happening. Check the model's calibration on the models page "
        "before reading a rise or fall into it.",
    },
    # the run is scored and served, its observed weeks not yet written (riskwarn score
    # alone: the publish DAG writes them after scoring)
    "observed_pending": {
        "zh": "本期预测（起点 {origin}）之前各周的实际发生尚未统计：评分之后由发布步骤"
        "统计写入，此前不画图。",
        "en": "The weeks observed before this forecast (origin {origin}) are not counted "
        "yet: the publish step (the publish DAG) counts them after scoring; no chart "
        "until then.",
    },
    "top_places": {"zh": "重点关注地区", "en": "Places to watch"},
    "no_places_to_watch": {
        "zh": "本周没有地区有预警。",
        "en": "No place has a warning this week.",
    },
    # the hotspot trend follows (" · 升温") only when the place has one: a place without
    # enough history says nothing about it (it read "· —")
    "top_place_line": {
        "zh": "<b>{place}</b> · {n} 处 · 最高 {prob}",
        "en": "<b>{place}</b> · warnings: {n} · up to {prob}",
    },
    "hotspot_labels": {"zh": "热点变化", "en": "How hotspots changed"},
    # weeks are weekly-spaced forecasts (trends.weekly_origins): daily runs of one week
    # count once
    "hotspot_history_short": {
        "zh": "历史不足，暂不判断热点变化：已有 {n} 周的预报（至少需要相隔一周的 2 期）。",
        "en": "Not enough history yet: forecasts of {weeks} (changes need 2, a week apart).",
    },
    # a week before has no forecast within 3 days (trends.missing_week): neither the
    # arrow nor the changes compare with the older one
    "hotspot_week_missing": {
        "zh": "一周前（{day}）前后 3 天内没有预测，本期不判断热点变化（再早一期为 {older}），"
        "上方箭头同样不作比较。",
        "en": "No forecast within 3 days of {day}, a week before this one (the one before "
        "is of {older}): no change is told here, nor by the arrow above.",
    },
    # the domain has no published forecast at all
    "hotspot_no_forecast": {
        "zh": "该领域尚无已发布的预测，无从比较。",
        "en": "No forecast of this domain is published: nothing to compare.",
    },
    # forecasts compared that another model version made (a retraining, a rollback)
    "hotspot_versions": {
        "zh": "本期预测由模型版本 {now} 生成；{dates} 的预测由其他版本生成（{versions}），"
        "变化中也包含换模型的影响。",
        "en": "This forecast is model version {now}'s; those of {dates} are another "
        "version's ({versions}): the changes include the change of model.",
    },
    "hotspot_compared": {
        "zh": "本期预测对比一周前及更早的预测：{dates}。",
        "en": "This forecast against those a week apart before it: {dates}.",
    },
    "hotspot_none": {
        "zh": "近几周没有地点达到蓝色预警概率并位列前 20，无热点。",
        "en": "No place reached the blue warning probability in the top 20 in recent "
        "weeks: no hotspots.",
    },
    # the forecast's 7 days (daily scoring: the origin may be any weekday)
    "week_of": {"zh": "{date}至{end}当周", "en": "Week of {date} – {end}"},
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
    # the queue's and the trail's data grid, behind the wrapped table (review.frame_table)
    "table_grid": {
        "zh": "表格视图：排序、搜索、下载",
        "en": "Table view: sort, search, download CSV",
    },
    "decide": {"zh": "研判决定", "en": "Decision"},
    "action": {"zh": "处置", "en": "Action"},
    "action_accept": {"zh": "确认", "en": "Accept"},
    "action_adjust": {"zh": "调整等级", "en": "Adjust level"},
    "action_dismiss": {"zh": "排除", "en": "Dismiss"},
    # a recorded dismissal with the level it set aside (review.action_words)
    "dismiss_was": {"zh": "排除（原{level}）", "en": "Dismiss (was {level})"},
    # a warning's events written by a publication (in its trail beside the decisions)
    "event_withdraw_warning": {"zh": "撤回", "en": "Withdrawn"},
    "event_warning_raised_again": {"zh": "重新发出", "en": "Raised again"},
    "withdrawn_why": {
        "zh": "{run} 重算后不再发出该预警",
        "en": "not raised by the re-run of {run}",
    },
    "event_warning_content_changed": {"zh": "内容更新", "en": "Content changed"},
    "content_changed_why": {
        "zh": "{run} 更新了该预警的内容（概率、理由、依据或有效期），需重新研判",
        "en": "{run} changed what it says (probability, reasons, evidence or validity): "
        "needs a fresh review",
    },
    "raised_again_why": {
        "zh": "{run} 再次发出该预警，需重新研判",
        "en": "raised again by {run}: needs a fresh review",
    },
    "withdrawn_note": {
        "zh": "该预警已于 {at} 撤回（{why}），不再生效，不能再研判；研判记录保留如下。",
        "en": "This warning was withdrawn at {at} ({why}). It is not in force and takes "
        "no decision; its trail is kept below.",
    },
    "open_withdrawn": {
        "zh": "您打开的预警“{label}”已于 {at} 撤回（{why}），不再生效，不能再研判。"
        "系统没有替您打开其他预警：请在上方选择要研判的预警。",
        "en": "The warning you had open, “{label}”, was withdrawn at {at} ({why}). It is "
        "not in force and takes no decision. No other warning was opened in its place: "
        "choose the warning to review above.",
    },
    "link_unknown": {
        "zh": "链接中的预警“{label}”不存在。系统没有替您打开其他预警：请在上方选择要研判的预警。",
        "en": "The link names a warning, “{label}”, that does not exist. No other warning "
        "was opened in its place: choose the warning to review above.",
    },
    "link_not_in_queue": {
        "zh": "链接中的预警“{label}”现已不在生效期内（已过期，或属于较早一期），不在研判队列中。"
        "系统没有替您打开其他预警：请在上方选择要研判的预警。",
        "en": "The warning in the link, “{label}”, is not in force now (it expired, or is "
        "from an earlier run), so it is not in the review queue. No other warning was "
        "opened in its place: choose the warning to review above.",
    },
    # the open warning left the queue (someone else decided it, the filters changed with a
    # decision started on it, or it fell below the queue's first rows): kept open, said so
    "open_left_filter": {
        "zh": "您打开的预警“{label}”已不符合当前的筛选条件（现为{state}），不在上方队列中。",
        "en": "The warning you had open, “{label}”, no longer matches the filters (it is "
        "now {state}), so it is not in the queue above.",
    },
    "open_left_rows": {
        "zh": "您打开的预警“{label}”已排在队列前 {n} 条之后，不在上方队列中。",
        "en": "The warning you had open, “{label}”, is no longer among the first {n} of "
        "the queue above.",
    },
    "open_left_lapsed": {
        "zh": "您打开的预警“{label}”已不在生效期内（已过期，或所属一期已被较新的一期取代），"
        "不在上方队列中。",
        "en": "The warning you had open, “{label}”, is no longer in force (it expired, or "
        "a newer run replaced its run), so it is not in the queue above.",
    },
    "open_left_decided": {
        "zh": "{reviewer} 已于 {at} 研判该预警（{action}，理由：{reason}）。",
        "en": "{reviewer} decided it at {at} ({action}, reason: {reason}).",
    },
    "open_left_kept": {
        "zh": "它仍在此打开，直到您另选预警；系统没有替您打开其他预警。",
        "en": "It stays open here until you choose another warning; none was opened in its place.",
    },
    "pick_left_queue": {"zh": "（不在当前队列中）", "en": " (not in the queue now)"},
    "draft_not_saved": {
        "zh": "您对它填写的决定未保存。",
        "en": "The decision you had started on it was not saved.",
    },
    "pick_placeholder": {"zh": "请选择预警", "en": "Choose a warning"},
    "stale_withdrawn": {
        "zh": "该预警已于 {at} 撤回（{why}）。您的决定未保存。",
        "en": "This warning was withdrawn at {at} ({why}). Your decision was not saved.",
    },
    # a decision on a warning whose run a newer published run replaced (the store's
    # ReplacedWarningError): nothing saved, the served run's warning for the place named
    "stale_replaced": {
        "zh": "该预警已被 {at} 发布的新一轮预测取代（{run}），不再生效；同一对象的现行预警为 "
        "{new}（{level}）。您的决定未保存，请打开新预警后研判。",
        "en": "This warning was replaced by the newer run issued at {at} ({run}) and is no "
        "longer in force; the warning in force for the same place is {new} ({level}). "
        "Your decision was not saved: open the new warning to decide.",
    },
    "stale_replaced_none": {
        "zh": "该预警已被 {at} 发布的新一轮预测取代（{run}），不再生效；新一轮对同一对象未发出"
        "预警。您的决定未保存。",
        "en": "This warning was replaced by the newer run issued at {at} ({run}) and is no "
        "longer in force; that run raised no warning for the same place. Your decision was "
        "not saved.",
    },
    "open_replacement": {"zh": "打开新预警 {id}", "en": "Open the new warning {id}"},
    "new_level": {"zh": "调整为", "en": "New level"},
    "reason": {"zh": "理由（必填）", "en": "Reason (required)"},
    "reason_col": {"zh": "理由", "en": "Reason"},
    # a phone or ID number in a reason recorded before such reasons were refused (a
    # review's, a model promotion's or rollback's): masked where shown or exported
    # (text.shown_reason), the record itself unchanged
    "masked_phone": {"zh": "[电话已隐去]", "en": "[phone removed]"},
    "masked_id_number": {"zh": "[身份证号已隐去]", "en": "[ID number removed]"},
    "submit": {"zh": "提交", "en": "Submit"},
    "reason_required": {"zh": "请填写理由。", "en": "A reason is required."},
    # riskwarn.review_text.reason_problem (the store refuses the same)
    "reason_too_long": {
        "zh": "理由过长：最多 2000 个字符，请精简后再提交。",
        "en": "The reason is too long: at most 2,000 characters. Please shorten it.",
    },
    "reason_control": {
        "zh": "理由中含有不可显示的控制字符或格式字符（如从右到左等文字方向控制符），"
        "请删除后再提交。",
        "en": "The reason holds a control or invisible format character (such as a "
        "right-to-left override) that cannot be shown. Please remove it.",
    },
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
    "saved_accept": {  # an accept says the level it kept or gave (review.saved_words)
        "zh": "已保存：预警 {id}，{action}，现为{level}（第 {version} 版）",
        "en": "Saved: warning {id}, {action}: now at level {level} (version {version})",
    },
    # what the form says before submit: the decision and the level after it
    # (dashboard.review.outcome_words)
    "will_record_outcome": {
        "zh": "将记录：{decision}——{outcome}",
        "en": "Will be recorded: {decision} — {outcome}",
    },
    "outcome_stays": {"zh": "预警保持{level}", "en": "the warning stays at level {level}"},
    "outcome_returns": {
        "zh": "预警恢复为系统发出时的等级{level}",
        "en": "the warning returns to level {level} as raised by the system",
    },
    "outcome_dismissed_by": {"zh": "；此前已被 {who} 排除", "en": "; it was dismissed by {who}"},
    "outcome_not_restored": {
        "zh": "（排除前为{level}，不会恢复；如需该等级，请选择“调整等级”）",
        "en": " (before the dismissal it was at {level}, which is not restored: for that "
        "level, choose Adjust level)",
    },
    "outcome_changes": {
        "zh": "预警由{old}改为{new}",
        "en": "the warning goes from {old} to {new}",
    },
    "outcome_dismissed_to": {
        "zh": "已排除的预警以{level}恢复",
        "en": "the dismissed warning returns at level {level}",
    },
    "outcome_dismiss": {
        "zh": "预警将不再有生效等级（已排除）",
        "en": "the warning will have no level in force (dismissed)",
    },
    "outcome_stays_dismissed": {"zh": "预警仍为已排除", "en": "the warning stays dismissed"},
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
    "case_area": {
        "zh": "约 1 公里方格（中心约 {lat}, {lon}）；为保护当事人隐私，案件不显示具体位置",
        "en": "Within a 1 km square (centre about {lat}, {lon}); a case's exact location "
        "is not shown, to protect the people involved",
    },
    "locator_map": {"zh": "在地图上查看", "en": "Show on the map"},
    "stale": {
        "zh": "该预警已被 {reviewer} 于 {at} 研判（{action}，理由：{reason}）。您的决定未保存。"
        "如需重新决定，请先点击“基于当前决定重新研判”；在此之前本表单不能提交。",
        "en": "{reviewer} already decided this warning at {at} ({action}, reason: {reason}). "
        "Your decision was not saved. To decide again, first press “Review again with the "
        "current decision”; until then this form cannot be submitted.",
    },
    # the deciding reviewer is the one reading (another tab or window of theirs): said
    # so, not as if someone else decided (user review of 6 Dec 2026)
    "stale_self": {
        "zh": "您已在另一个标签页或窗口中于 {at} 研判了该预警（{action}，理由：{reason}）。本次决定未保存。"
        "如需重新决定，请先点击“基于当前决定重新研判”；在此之前本表单不能提交。",
        "en": "You already decided this warning (in another tab or window) at {at} ({action}, "
        "reason: {reason}). This decision was not saved. To decide again, first press "
        "“Review again with the current decision”; until then this form cannot be submitted.",
    },
    "submit_in_conflict": {
        "zh": "未保存：该预警在您打开后已有变化（见上方）。请先点击“基于当前决定重新研判”。",
        "en": "Not saved: this warning changed since you opened it (see above). First "
        "press “Review again with the current decision”.",
    },
    "stale_content": {
        "zh": "该预警的内容在您打开后已更新（新的发布改变了等级、概率、理由或依据）。您的决定未保存。"
        "请先点击“基于当前决定重新研判”查看新内容；在此之前本表单不能提交。",
        "en": "This warning's content changed after you opened it (a new publication changed "
        "its level, probability, reasons or evidence). Your decision was not saved. Press "
        "“Review again with the current decision” to see the new content; until then this "
        "form cannot be submitted.",
    },
    "review_again": {"zh": "基于当前决定重新研判", "en": "Review again with the current decision"},
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
    # a warning's lead_time_hours that is its forecast horizon (views.lead_words)
    "horizon_time": {"zh": "预测时长 {h}", "en": "horizon {h}"},
    "empty_queue": {"zh": "没有符合条件的预警。", "en": "No warnings match."},
    # disputes
    # the model scores only the open cases not escalated yet (features.disputes); those
    # already escalated are counted and listed apart (the run's "unscored")
    "disputes_intro": {
        "zh": "预测起点 {origin} 时共有 {total} 件未结案件：{scored} 件尚未升级，按 30 天内升级概率排序；"
        "{escalated} 件已升级（信访、公安或诉讼），不再评分，列于表格下方。当事人仅以匿名编号显示。",
        "en": "{total} cases were open at the forecast origin, {origin}: the {scored} not yet escalated "
        "are ranked by their risk of escalating within 30 days; the {escalated} that already "
        "escalated (petition, police or court) are not scored and are listed below the table. "
        "Parties appear only as pseudonymous ids.",
    },
    "disputes_intro_unknown": {
        "zh": "预测起点 {origin} 时尚未升级的未结案件按 30 天内升级概率排序；已升级的案件不再评分，本期运行未记录其数量。"
        "当事人仅以匿名编号显示。",
        "en": "Open cases not yet escalated at the forecast origin, {origin}, ranked by their risk of escalating within 30 days; "
        "cases that already escalated are not scored, and this run did not record how many "
        "there are. Parties appear only as pseudonymous ids.",
    },
    "cases_scored": {"zh": "未结且尚未升级", "en": "Open, not yet escalated"},
    "cases_escalated": {"zh": "未结且已升级", "en": "Open, already escalated"},
    "cases_escalated_help": {
        "zh": "预测起点前已升级的未结案件：不评分，列于表格下方。",
        "en": "Open cases that escalated before the forecast origin: not scored, listed "
        "below the table.",
    },
    "cases_escalated_list": {
        "zh": "已升级的未结案件（{n} 件，不评分）",
        "en": "Open cases that already escalated ({n}, not scored)",
    },
    "cases_escalated_note": {
        "zh": "这些案件已进入信访、公安或诉讼程序；模型只评估尚未升级的案件是否会升级。",
        "en": "These cases are already in the petition, police or court workflow; the model "
        "only estimates whether a case not yet escalated will escalate.",
    },
    "case": {"zh": "案件编号", "en": "Case id"},
    "escalation_risk": {"zh": "30天内升级概率", "en": "Escalation risk (30 days)"},
    "explanation": {"zh": "说明", "en": "Explanation"},
}
