"""Dashboard texts, part 2: geohazard, models and verdicts (``key -> {"zh": ..., "en": ...}``).

:mod:`dashboard.i18n` merges the parts into ``TEXT``; read them through ``t``.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    # geohazard
    "site": {"zh": "隐患点", "en": "Site"},
    "current_level": {"zh": "当前等级", "en": "Current level"},
    "rain": {"zh": "降雨量（毫米/日）", "en": "Rain (mm/day)"},
    "displacement": {"zh": "累计位移（毫米）", "en": "Cumulative displacement (mm)"},
    "velocity": {"zh": "位移速率（毫米/日）", "en": "Velocity (mm/day)"},
    "tangent": {"zh": "切线角（度）", "en": "Tangent angle (degrees)"},
    "angle_stat_median": {"zh": "日中位数", "en": "daily median"},
    "angle_stat_max": {"zh": "日最高值", "en": "daily highest hour"},
    "thresholds": {
        "zh": "预警规则每小时计算的改进切线角，按位移传感器逐日显示：实线为当日中位数，虚线为当日最高值；"
        "阈值线：{blue}° 蓝色，{yellow}° 黄色，{orange}° 橙色，{red}° 红色（橙色、红色还需持续加速）",
        "en": "The improved tangent angle the warning rules compute each hour, per "
        "displacement sensor and day: solid line the day's median, dotted line its highest "
        "hour; lines: {blue}° blue, {yellow}° yellow, {orange}° orange, {red}° red "
        "(orange and red also need sustained acceleration)",
    },
    "health": {"zh": "数据健康", "en": "Data health"},
    "health_at": {
        "zh": "按 {at} 判定（与实时预警的断线规则相同：{hours} 小时无读数即离线）。",
        "en": "As of {at} (the nowcast's dead-sensor rule: no reading for {hours} h is offline).",
    },
    "unit_mm": {"zh": "毫米", "en": "mm"},
    "unit_mm_per_day": {"zh": "毫米/日", "en": "mm/day"},
    "alarm_log": {
        "zh": "实时预警推送与签收",
        "en": "Real-time alarms: deliveries and acknowledgements",
    },
    # counts: dashboard.i18n.t_count picks the _one (and _zero) text when there is one
    "alarm_log_note_expired": {
        "zh": "另有 {n} 次变化未发送（预警已不再有效而过期、并入其后的变化，或对值班人员无新变化而未推送），不计入上述数字。",
        "en": " {n} changes were never sent (expired: the warning was no longer in force; "
        "merged into a later change; or not paged: nothing new for the officer) and are "
        "not counted above.",
    },
    "alarm_log_note_expired_one": {
        "zh": "另有 {n} 次变化未发送（预警已不再有效而过期、并入其后的变化，或对值班人员无新变化而未推送），不计入上述数字。",
        "en": " {n} change was never sent (expired: the warning was no longer in force; "
        "merged into a later change; or not paged: nothing new for the officer) and is "
        "not counted above.",
    },
    # not paged, by why (riskwarn.store.deliveries.UNPAGED_WHY); {parts}: the clauses below
    "alarm_log_note_unpaged": {
        "zh": "其中未推送（见下表）：{parts}。",
        "en": " Of these, not paged (listed below): {parts}.",
    },
    "alarm_unpaged_ended": {
        "zh": "{n} 次变化在值班人员获知该预警前预警已解除（追赶积压数据，或网关在整个过程中不可用）",
        "en": "{n} ended before the officer heard of the warning (a backlog being caught "
        "up, or a gateway down throughout)",
    },
    "alarm_unpaged_below": {
        "zh": "{n} 次变化在值班人员获知该预警前已降至橙色以下（预警仍有效）",
        "en": "{n} fell below orange before the officer heard of the warning (still in force)",
    },
    "alarm_unpaged_unchanged": {
        "zh": "{n} 次变化回到上次推送给值班人员的等级（其间的起伏未推送）",
        "en": "{n} back at the level last sent to the officer (the change between was not sent)",
    },
    "alarm_log_note": {
        "zh": "最近 {n} 次橙色/红色预警变化的推送（邮件、短信网关），及谁在何时签收；未签收的红色预警：{open}。",
        "en": "The latest {n} orange/red warning changes sent (e-mail, messaging gateway), and "
        "who acknowledged them when; red changes not acknowledged: {open}.",
    },
    "alarm_log_note_one": {
        "zh": "最近 {n} 次橙色/红色预警变化的推送（邮件、短信网关），及谁在何时签收；未签收的红色预警：{open}。",
        "en": "The one orange/red warning change sent (e-mail, messaging gateway), and who "
        "acknowledged it when; red changes not acknowledged: {open}.",
    },
    "alarm_log_note_zero": {
        "zh": "尚无橙色/红色预警变化经邮件、短信网关推送，没有待签收的红色预警。",
        "en": "No orange/red warning change was sent (e-mail, messaging gateway): no red "
        "change waits for an acknowledgement.",
    },
    "alarm_not_acked": {"zh": "未签收", "en": "not acknowledged"},
    # who acknowledged, for roles that do not acknowledge alarms (no staff names)
    "alarm_acked_by_staff": {"zh": "已签收（值班人员）", "en": "acknowledged (duty staff)"},
    # the outcome of each delivery (riskwarn.stream.alarm_log; English as the log writes it)
    "alarm_status_sent": {"zh": "已送达", "en": "sent"},
    "alarm_status_pending": {"zh": "待发送", "en": "pending"},
    "alarm_status_retrying": {"zh": "重试中", "en": "retrying"},
    "alarm_status_failed": {"zh": "发送失败（未送达）", "en": "FAILED (not reached)"},
    # a failed delivery not tried again (Store.final_failures): final, said with why
    "alarm_status_failed-acknowledged": {
        "zh": "未送达（该变化已有人签收，不再重试）",
        "en": "not reached (not tried again: the change was acknowledged)",
    },
    "alarm_status_failed-ended": {
        "zh": "未送达（预警已不在有效期内，不再重试）",
        "en": "not reached (not tried again: the warning is no longer in force)",
    },
    "alarm_status_failed-stopped": {
        "zh": "未送达（审核已停止该预警的推送，不再重试）",
        "en": "not reached (not tried again: the review panel stopped its paging)",
    },
    "alarm_status_failed-superseded": {
        "zh": "未送达（预警其后已有变化，不再重试）",
        "en": "not reached (not tried again: a later change of the warning replaces it)",
    },
    # a change whose delivery failed after every retry (riskwarn.stream.alarm_log "failed"):
    # said above the log, in red; {what}: "site · level · channel:contact" of each
    "alarm_log_failed": {
        "zh": "{n} 次橙色/红色预警变化多次重试仍未送达值班人员：{what}。已转由路由中的下一位联系人接收"
        "（若路由中还有下一位，并注明前一位未能送达；路由中最后一位联系人之后无人可再转交），"
        "预警有效期内将继续重试。请检查邮件服务器或短信网关。",
        "en": "{n} orange/red warning changes could not be delivered after every retry: "
        "{what}. The next contact of the route is paged in their place, if the route has "
        "one (told who could not be reached; after its last contact there is nobody "
        "further to escalate to), and the failed deliveries are tried again while the warning is "
        "in force. Check the mail server or messaging gateway.",
    },
    "alarm_log_failed_one": {
        "zh": "{n} 次橙色/红色预警变化多次重试仍未送达值班人员：{what}。已转由路由中的下一位联系人接收"
        "（若路由中还有下一位，并注明前一位未能送达；路由中最后一位联系人之后无人可再转交），"
        "预警有效期内将继续重试。请检查邮件服务器或短信网关。",
        "en": "{n} orange/red warning change could not be delivered after every retry: "
        "{what}. The next contact of the route is paged in their place, if the route has "
        "one (told who could not be reached; after its last contact there is nobody "
        "further to escalate to), and the failed delivery is tried again while the warning is in "
        "force. Check the mail server or messaging gateway.",
    },
    "alarm_status_expired": {"zh": "已过期未发送", "en": "expired"},
    # not sent after a catch-up (riskwarn.store.deliveries._net_change)
    "alarm_status_superseded": {
        "zh": "未单独发送（并入其后的变化）",
        "en": "not sent (merged into a later change)",
    },
    "alarm_status_unpaged": {
        "zh": "未推送（发送前已解除）",
        "en": "not paged (ended before it could be sent)",
    },
    "alarm_status_unpaged-below": {
        "zh": "未推送（获知前已降至橙色以下）",
        "en": "not paged (below orange before anyone heard of it)",
    },
    "alarm_status_unpaged-unchanged": {
        "zh": "未推送（已回到上次推送的等级）",
        "en": "not paged (back at the level last sent)",
    },
    # claimed for sending, its outcome never recorded (the sender died), then recorded
    # not sent (riskwarn.stream.alarm_log): it may have reached the officer
    "alarm_status_superseded-maybe-sent": {
        "zh": "可能已送达（发送结果未记录），之后并入其后的变化",
        "en": "may have been sent (its outcome was not recorded), then merged into a later change",
    },
    "alarm_status_unpaged-maybe-sent": {
        "zh": "可能已送达（发送结果未记录），之后未再推送",
        "en": "may have been sent (its outcome was not recorded), not paged again",
    },
    "alarm_status_expired-maybe-sent": {
        "zh": "可能已送达（发送结果未记录），之后已过期",
        "en": "may have been sent (its outcome was not recorded), then expired",
    },
    "alarm_status_cancelled-maybe-sent": {
        "zh": "可能已送达（发送结果未记录），之后复核后取消",
        "en": "may have been sent (its outcome was not recorded), then cancelled by review",
    },
    # the review panel dismissed the warning or set it below the change's level
    "alarm_status_cancelled": {"zh": "复核后取消发送", "en": "cancelled"},
    "alarm_log_note_cancelled": {
        "zh": "另有 {n} 次变化的推送因复核取消、未发送（复核组已排除该预警，或将其调低到该变化的等级以下），也不再升级通知。",
        "en": " {n} changes were cancelled by review (the panel dismissed their warning or "
        "set it below their level): their queued deliveries were neither sent nor escalated.",
    },
    "alarm_log_note_cancelled_one": {
        "zh": "另有 {n} 次变化的推送因复核取消、未发送（复核组已排除该预警，或将其调低到该变化的等级以下），也不再升级通知。",
        "en": " {n} change was cancelled by review (the panel dismissed its warning or set "
        "it below its level): its queued deliveries were neither sent nor escalated.",
    },
    "alarm_attempts": {"zh": "（已尝试 {n} 次）", "en": " ({n} attempts)"},
    # alarm_change_<change>: riskwarn.paging_texts (the pages say them too)
    "alarm_col_changed_at": {"zh": "变化时间", "en": "Changed at"},
    "alarm_col_unit_id": {"zh": "隐患点", "en": "Site"},
    "alarm_col_change": {"zh": "变化", "en": "Change"},
    "alarm_col_from_level": {"zh": "原等级", "en": "From"},
    "alarm_col_to_level": {"zh": "新等级", "en": "To"},
    "alarm_col_sent": {"zh": "推送（渠道:联系人 状态）", "en": "Sent (channel:contact status)"},
    "alarm_col_first_sent_at": {"zh": "首次送达", "en": "First sent"},
    "alarm_col_escalated": {"zh": "升级次数", "en": "Escalations"},
    "alarm_col_acknowledged_by": {"zh": "签收人", "en": "Acknowledged by"},
    "alarm_col_acknowledged_at": {"zh": "签收时间", "en": "Acknowledged at"},
    "alarm_col_warning_id": {"zh": "预警编号", "en": "Warning"},
    "alarm_ack": {"zh": "签收预警（值班人员）", "en": "Acknowledge an alarm (duty officer)"},
    "alarm_ack_pick": {"zh": "未签收的预警变化", "en": "Alarm not acknowledged yet"},
    "alarm_ack_button": {"zh": "签收", "en": "Acknowledge"},
    "alarm_ack_done": {
        "zh": "已签收：{what}（{who}，{when}）。红色预警不再逐级上报。",
        "en": "Acknowledged: {what} ({who}, {when}). A red alarm is no longer escalated.",
    },
    "alarm_ack_none": {"zh": "所有推送的预警均已签收。", "en": "Every alarm sent is acknowledged."},
    "alarm_ack_refused": {
        "zh": "未签收：{what} 已由 {who} 于 {when} 签收，本次未记录。",
        "en": "Not recorded: {what} was already acknowledged by {who} at {when}.",
    },
    # {why}: the alarm_never_sent_<status> texts of its deliveries (NeverSentError.statuses)
    "alarm_ack_never_sent": {
        "zh": "未签收：{what} 从未推送给任何人（{why}），无需签收，本次未记录。",
        "en": "Not recorded: {what} was never sent to anyone ({why}), so there is nothing "
        "to acknowledge.",
    },
    # alarm_never_sent_<status>: riskwarn.paging_texts (`riskwarn stream ack` says them too)
    "alarm_ack_unknown": {
        "zh": "未签收：推送记录中已无该预警变化，本次未记录。",
        "en": "Not recorded: the delivery log no longer has this warning change.",
    },
    "sensors_online": {"zh": "在线传感器", "en": "Sensors online"},
    "gaps": {"zh": "数据缺口", "en": "Gaps"},
    "spikes": {"zh": "异常跳变", "en": "Spikes"},
    # what the site's "gaps / spikes" figure counts (dashboard.sensors.sensor_health; the
    # page reads the last {days} days of data): a bare "0 / 18" had no unit or window
    "gaps_spikes_help": {
        "zh": "本站全部传感器近 {days} 天数据中的计数。数据缺口：相邻两次读数的间隔超过该传感器"
        "常规间隔的 3 倍；异常跳变：读数偏离其滚动中位数过多，或被数据源标记为可疑（雨量仅计负值"
        "或单次超过 100 毫米）。",
        "en": "Counted over the last {days} days of data, all sensors of this site. A gap: two "
        "readings further apart than 3 times the sensor's usual step; a spike: a reading far "
        "from its rolling median, or flagged suspect by the source (rain: only negative "
        "readings or over 100 mm in one).",
    },
    "no_sensor_data": {"zh": "湖仓中暂无该点的传感器数据。", "en": "No sensor data for this site."},
    # a chart that would be blank or a flat zero line is replaced by one of these sentences
    "rain_zero": {
        "zh": "{start}至{end}无降雨：雨量计记录为 0 毫米。",
        "en": "No rain from {start} to {end}: the rain gauge recorded 0 mm.",
    },
    "rain_missing": {
        "zh": "降雨量未知：该点的雨量计（自有或最近的）近期没有读数。",
        "en": "Rain unknown: the site's rain gauge (its own or the nearest) sent no "
        "recent reading.",
    },
    "rain_no_gauge": {
        "zh": "降雨量未知：该点及其附近没有雨量计。",
        "en": "Rain unknown: there is no rain gauge at or near this site.",
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
        "zh": "点击地图上的隐患点（或表格视图中的一行，或在下方选择），查看该点的监测曲线。",
        "en": "Click a site on the map (or a row of the table view, or pick it below) to see "
        "its readings below.",
    },
    "table_grid_pick": {
        "zh": "表格视图：排序、搜索、下载、点选隐患点",
        "en": "Table view: sort, search, download CSV, pick a site",
    },
    "site_detail": {"zh": "单点详情", "en": "One site in detail"},
    "why": {"zh": "判定依据", "en": "Why"},
    "hazard_type": {"zh": "灾害类型", "en": "Hazard"},
    "people_threatened": {"zh": "威胁人数", "en": "People at risk"},
    "why_model": {"zh": "模型预测（概率 {p}）", "en": "model (probability {p})"},
    "why_sensor_rule": {
        "zh": "传感器规则：切线角 {angle}°，近 6 小时位移速率 {v} 毫米/日（{sensor}）",
        "en": "sensor rule: tangent angle {angle}°, {v} mm/day over the last 6 h ({sensor})",
    },
    # a velocity inside the sensor's noise gives at most blue (riskwarn.sensor_rules, the
    # yellow noise gate): said, or a flat slope read "44.4 mm/day" (review of 6 Dec 2026)
    "why_sensor_rule_noise": {
        "zh": "传感器规则：切线角 {angle}°，但位移速率在传感器噪声范围内（近 6 小时 {v} 毫米/日"
        "未持续超过噪声下限，不视为真实位移），最高蓝色（{sensor}）",
        "en": "sensor rule: tangent angle {angle}°, but the velocity is within the sensor's "
        "noise ({v} mm/day over the last 6 h, not above its noise floor for long enough to "
        "count as movement): at most blue ({sensor})",
    },
    # the same with the noise floor of those 6-h velocities (the warning's evidence since
    # 6 Dec 2026): "44.4 mm/day" beside a chart within +-2 mm/day read as a wrong number
    "why_sensor_rule_noise_floor": {
        "zh": "传感器规则：切线角 {angle}°，但位移速率在传感器噪声范围内（近 6 小时 {v} 毫米/日，"
        "该 6 小时速率的噪声下限为 {floor} 毫米/日，未持续超过，不视为真实位移），最高蓝色（{sensor}）",
        "en": "sensor rule: tangent angle {angle}°, but the velocity is within the sensor's "
        "noise ({v} mm/day over the last 6 h against a noise floor of {floor} mm/day for "
        "6-h velocities, not above it for long enough to count as movement): at most blue "
        "({sensor})",
    },
    # under the velocity chart: its line is a 5-day mean of daily steps, the rules' a 6-h
    # velocity (sensors.rule_velocities), so the two figures differ by design
    "velocity_chart_note": {
        "zh": "曲线为日位移量的 {days} 日滑动平均。传感器规则使用近 {h} 小时位移速率，噪声大得多：{items}。",
        "en": "The line: daily steps averaged over {days} days. The sensor rules read the "
        "velocity over the last {h} h, far noisier: {items}.",
    },
    "velocity_chart_item": {
        "zh": "{sensor} 最新为 {v} 毫米/日（噪声下限 {floor} 毫米/日）",
        "en": "{sensor} last {v} mm/day (noise floor {floor} mm/day)",
    },
    "why_sensor_health": {"zh": "传感器异常：{faults}", "en": "sensor fault: {faults}"},
    # the site model's own thresholds (set in training), not the domain's 2/8/25/50 %: said
    # so, or "0.87%" beside an orange level read as a contradiction (review of 6 Dec 2026)
    "why_model_threshold": {
        "zh": "模型预测：概率 {p}，达到本模型自身的{level}阈值 {threshold}（训练时设定，不采用领域通用阈值）",
        "en": "model: probability {p}, at or above this model's own {level} threshold of "
        "{threshold} (set in training; the domain's thresholds do not apply)",
    },
    "why_sensor_fault_level": {
        "zh": "传感器异常使预警等级提升（位移情况未知）：{faults}",
        "en": "raised by a sensor fault (movement unknown): {faults}",
    },
    "why_held": {
        "zh": "维持前期等级：已连续 {n} 个时段低于该等级，需持续平稳后才降级",
        "en": "kept at the earlier level: {n} steps below it so far, lowered only after a "
        "sustained calm",
    },
    # the review page's first reason: the source that set the level (views.warning_reason_lines)
    "src_first": {"zh": "预警等级{level}{source}。", "en": "Level {level} {source}."},
    "src_model": {
        "zh": "由模型给出：概率 {p} ≥ 模型{level}阈值 {threshold}",
        "en": "set by the model: probability {p} ≥ its {level} threshold {threshold}",
    },
    "src_rule_angle": {
        "zh": "由传感器规则给出（{sensor}）：切线角 {value}° ≥ {level}阈值 {threshold}°",
        "en": "set by a sensor rule ({sensor}): tangent angle {value}° ≥ {level} threshold "
        "{threshold}°",
    },
    "src_rule_failure": {
        "zh": "由传感器规则给出（{sensor}）：速度倒数法预测 {value} 小时后失稳 ≤ {level}阈值 "
        "{threshold} 小时",
        "en": "set by a sensor rule ({sensor}): inverse-velocity failure forecast in {value} h "
        "≤ {level} threshold {threshold} h",
    },
    "src_rule_plain": {"zh": "由传感器规则给出", "en": "set by the sensor rules"},
    "src_held": {
        "zh": "为维持前期等级：已连续 {n} 个时段低于该等级，需持续平稳后才降级",
        "en": "held from earlier runs: {n} steps below it so far, lowered only after a "
        "sustained calm",
    },
    "src_fault": {
        "zh": "由传感器异常给出（位移情况未知）：{faults}",
        "en": "set by a sensor fault (movement unknown): {faults}",
    },
    "src_model_alone": {
        "zh": "模型预测未来 {h}内的概率为 {p}（模型单独给出：{level}）。",
        "en": "Model probability {p} over the next {h} (the model alone: {level}).",
    },
    "src_model_none": {"zh": "未达模型任何阈值", "en": "below every model threshold"},
    "level_word_red": {"zh": "红色", "en": "red"},
    "level_word_orange": {"zh": "橙色", "en": "orange"},
    "level_word_yellow": {"zh": "黄色", "en": "yellow"},
    "level_word_blue": {"zh": "蓝色", "en": "blue"},
    "why_also": {"zh": "；另：{note}", "en": "; also {note}"},
    "why_rules_only": {
        "zh": "仅按传感器规则（模型不可用）",
        "en": "sensor rules only (model unavailable)",
    },
    "why_review": {"zh": "研判专家调整为{level}", "en": "set to {level} by a reviewer"},
    "why_none": {"zh": "未达预警阈值", "en": "below every threshold"},
    "why_expired": {"zh": "预警已于 {at} 过期", "en": "warning expired at {at}"},
    "why_stale": {
        "zh": "无最新评估（最近一次起报 {at}）",
        "en": "no current assessment (latest run {at})",
    },
    "why_not_scored": {"zh": "本次评估未覆盖该点", "en": "not scored in the latest run"},
    "sites_stale": {
        "zh": "最近一次评估起报于 {at}，距今 {age}，已超出其预报时效：以下等级不代表当前状况。",
        "en": "The latest run is from {at}, {age} ago, past its horizon: the levels below "
        "are not current.",
    },
    "map_legend_stale_sites": {
        "zh": "评估数据已过时，无法判断当前预警",
        "en": "Data out of date: no current levels",
    },
    "why_stream": {"zh": "实时监测：{reasons}", "en": "real-time sensors: {reasons}"},
    # the site detail's probability, with what set the level beside it (views.probability_note)
    "prob_from": {"zh": "{level}自 {threshold} 起", "en": "{level} from {threshold}"},
    "prob_set_by_sensor_rule": {"zh": "等级由传感器规则给出", "en": "level set by a sensor rule"},
    "prob_set_by_sensor_health": {
        "zh": "等级由传感器异常给出",
        "en": "level set by a sensor fault",
    },
    "prob_set_by_held": {"zh": "等级为维持前期等级", "en": "level held from earlier runs"},
    "prob_set_by_review": {"zh": "等级由研判专家调整", "en": "level set by a reviewer"},
    "prob_set_by_stream": {"zh": "等级由实时监测给出", "en": "level set by the real-time sensors"},
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
    "duplicates": {"zh": "重复记录", "en": "Duplicates"},
    # quarantine reasons (riskwarn.ingest.validate codes, "head:field")
    "qr_missing_column": {"zh": "缺少必需列", "en": "Missing column"},
    "qr_missing_value": {"zh": "必填值为空", "en": "Missing value"},
    "qr_missing_id": {"zh": "编号为空", "en": "Missing id"},
    "qr_bad_record_id": {
        "zh": "编号不符合数据源约定的格式（编号已隐去）",
        "en": "Id does not match the source's id format (id masked)",
    },
    "qr_unparseable_date": {"zh": "日期格式无法识别", "en": "Unreadable date"},
    "qr_unparseable_time": {"zh": "时间格式无法识别", "en": "Unreadable time"},
    "qr_impossible_date": {"zh": "日期不存在", "en": "Impossible date"},
    "qr_out_of_range_date": {"zh": "时间超出支持范围", "en": "Time out of supported range"},
    "qr_unparseable_number": {"zh": "数值无法识别", "en": "Unreadable number"},
    "qr_unparseable_coordinates": {"zh": "坐标无法识别", "en": "Unreadable coordinates"},
    "qr_non_finite_value": {"zh": "数值为无穷大", "en": "Infinite number"},
    "qr_out_of_range_number": {"zh": "整数超出范围", "en": "Whole number out of range"},
    "qr_validation_failed": {"zh": "校验出错（系统故障）", "en": "Validation failed (a fault)"},
    "qr_duplicate_column": {"zh": "表头列名重复", "en": "Column named twice"},
    "qr_incomplete_coordinates": {"zh": "坐标不完整", "en": "Incomplete coordinates"},
    "qr_future_timestamp": {"zh": "时间晚于接入时间", "en": "Time in the future"},
    "qr_outside_area": {"zh": "位置在辖区外", "en": "Outside the area"},
    "qr_outside_city_area": {"zh": "位置在市域外", "en": "Outside the city"},
    "qr_swapped_lon_lat": {"zh": "经纬度疑似颠倒", "en": "Lon/lat swapped"},
    "qr_negative_value": {"zh": "读数为负", "en": "Negative reading"},
    "qr_below_range": {"zh": "读数低于量程", "en": "Below range"},
    "qr_absurd_value": {"zh": "读数超出量程", "en": "Above range"},
    "qr_spike": {"zh": "孤立跳变", "en": "Spike"},
    "qr_duplicate_id_conflict": {"zh": "同一编号内容冲突", "en": "Conflicting duplicate id"},
    "qr_bad_line": {"zh": "字段个数不符", "en": "Wrong number of fields"},
    "qr_unclosed_quote": {"zh": "引号未闭合", "en": "Unclosed quote"},
    "qr_line_too_long": {"zh": "行过长", "en": "Line too long"},
    "qr_carriage_return": {"zh": "行内含回车符", "en": "Carriage return inside a line"},
    "qr_bom_in_line": {
        "zh": "行首含字节顺序标记（BOM）",
        "en": "Byte-order mark (BOM) at line start",
    },
    "qr_repeated_header": {"zh": "文件中间重复出现表头行", "en": "Header line repeated"},
    "qr_unterminated_last_line": {
        "zh": "末行无换行（文件可能被截断）",
        "en": "Last line without line end (file may be cut)",
    },
    "qr_bad_encoding": {"zh": "字符编码无法识别", "en": "Undecodable bytes"},
    "qr_not_a_table": {"zh": "文件不是表格", "en": "Not a table"},
    "qr_file_not_found": {"zh": "文件不存在", "en": "File not found"},
    "qr_too_large": {"zh": "文件过大", "en": "File too large"},
    "qr_too_many_rows": {"zh": "行数超限", "en": "Too many rows"},
    "qr_too_many_columns": {"zh": "列数超限", "en": "Too many columns"},
    "qr_unmapped_category": {"zh": "类别未在映射中", "en": "Unmapped category"},
    "qr_reported_before_occurred": {"zh": "报案时间早于发生时间", "en": "Reported before occurred"},
    "qr_bad_topic": {"zh": "消息主题不合规", "en": "Bad message topic"},
    "qr_topic_mismatch": {"zh": "消息的传感器与主题不符", "en": "Sensor differs from the topic's"},
    "qr_site_mismatch": {"zh": "传感器所属站点不符", "en": "Sensor under another site"},
    "qr_finer_than_source": {"zh": "时间精度超出数据源格式", "en": "Time finer than the source's"},
    "qr_wrong_source": {"zh": "主题的数据源不符", "en": "Topic of another source"},
    "qr_payload_too_large": {"zh": "消息过大", "en": "Message too large"},
    "qr_not_json": {"zh": "消息不是 JSON", "en": "Message is not JSON"},
    "qr_not_object": {"zh": "消息不是 JSON 对象", "en": "Message is not a JSON object"},
    "qr_wrong_type": {"zh": "字段类型不符", "en": "Wrong field type"},
    "qr_not_finite": {"zh": "数值为无穷大或非数值", "en": "Infinite or NaN number"},
    "qr_missing_offset": {"zh": "时间缺少时区", "en": "Time without time zone"},
    "qr_nul_byte": {"zh": "含空字节", "en": "NUL bytes"},
    "qr_field_too_long": {"zh": "字段过长", "en": "Field too long"},
    "qr_schema": {"zh": "未通过数据契约检查", "en": "Contract check failed"},
    "qr_personal_data": {
        "zh": "含个人信息（电话或身份证号）",
        "en": "Personal data (phone or ID number)",
    },
    "qr_unknown_admin_code": {"zh": "区划代码不在已知区划中", "en": "Unknown admin code"},
    "qr_scientific_notation": {
        "zh": "代码被表格软件转成科学计数法",
        "en": "Code in scientific notation (spreadsheet)",
    },
    "qr_reverts_correction": {
        "zh": "恢复已被更正的旧版本（未应用）",
        "en": "Would undo a correction (older version, not applied)",
    },
    "qr_older_extract": {
        "zh": "来自更早的导出，记录已有更新版本（未应用）",
        "en": "From an older export than the record's stored version (not applied)",
    },
    "qr_other": {"zh": "其他原因", "en": "Other"},
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
    "champion_gone": {
        "zh": "riskwarn 登记的服役模型 v{v} 在 MLflow 中已不存在（版本或其 champion 别名被删除）："
        "当前没有模型服役；请晋升一个版本或回滚。",
        "en": "riskwarn's recorded champion v{v} no longer exists in MLflow (the version or "
        "its champion alias was deleted): nothing serves; promote a version or roll back.",
    },
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
    "retrain_starting": {
        "zh": "正在请求 Airflow 开始训练……",
        "en": "Asking Airflow to start the retrain…",
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
    "retrain_result_not_judged": {
        "zh": "训练完成：新版本 {v} **无法由上线门槛评判**（不是未通过），{promoted}。",
        "en": "Done: new version {v} **could not be judged** by the gate (not a failure) "
        "and {promoted}.",
    },
    "retrain_not_trained": {
        "zh": "训练结束：**未训练**新模型，当前服役模型保持不变。原因：{reason}。",
        "en": "Done: **not trained**, the serving model is unchanged. Why: {reason}.",
    },
    "retrain_not_trained_why": {
        "zh": "数据中还没有可供模型学习的内容（详见 Airflow 日志）",
        "en": "the data hold nothing a model could learn from yet (see the Airflow log)",
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
    # the gate's rule per model family (dashboard/verdicts.py: gate_intro, gate_rule,
    # from models.gate.BASELINE_RULE; the hotspot models' baseline check is
    # non-inferiority, not "beat clearly": a CI of [-0.014, +0.509] passes it)
    "verdicts_intro": {
        "zh": "上线门槛（回测中）：{rules}。新配方的模型还须明显优于在用模型（同一配方的更新：不差于它），"
        "且预测概率与实际发生率相符（校准误差不超过上限：基准发生率的一半，或按同样预测完全校准的"
        "模型仅因偶然 20 次中才有 1 次超过的误差，取较大者，且不超过固定上限）。",
        "en": "The promotion gate, in the backtest: {rules}. A model of a new recipe must also "
        "beat the serving model clearly (a refresh of the same recipe: be no worse than it), "
        "and its probabilities must match observed rates (calibration error within the bound: "
        "half the base rate, or the error a perfectly calibrated model with these predictions "
        "exceeds by chance only 1 time in 20, if larger; never above a fixed cap).",
    },
    "gate_group": {"zh": "{domains}须{rule}", "en": "{domains} must {rule}"},
    "gate_rule_not_worse": {
        "zh": "在 PAI@1%、5%、10% 上不差于最好的简单方法（仅当差值的 95% 置信区间整体低于 0 时不通过）",
        "en": "do no worse than the best simple method at PAI@1%, 5% and 10% (a check fails "
        "only if the 95% confidence interval of the difference lies wholly below 0)",
    },
    "gate_rule_beats": {
        "zh": "明显优于每一种简单方法（差值的 95% 置信区间全部大于 0）",
        "en": "beat every simple method clearly (the 95% confidence interval of the "
        "difference above 0)",
    },
    "gate_rule_other": {"zh": "通过其门槛的每一项检查", "en": "pass each check of its gate"},
    "gate_rule_levels": {
        "zh": "，且在每个预警等级上的真技巧评分（检出率减无失稳时的报警率）不差于传感器规则"
        "（逐小时临报：按实际发布的等级评判，含滞后与保持）",
        "en": ", and at every warning level do no worse than the sensor rules (true skill "
        "statistic: detection rate minus false-alarm rate, the hourly nowcast's levels as "
        "published, with hysteresis and hold)",
    },
    "vd_title": {
        "zh": "{domain} · 服役模型第 {v} 版",
        "en": "{domain} · serving model version {v}",
    },
    "vd_status_pass": {"zh": "通过上线门槛", "en": "Passes its gate"},
    "vd_status_fail": {"zh": "未通过上线门槛", "en": "Fails its gate"},
    "vd_status_unknown": {"zh": "未记录门槛结果", "en": "No gate result recorded"},
    "vd_status_not_judged": {"zh": "上线门槛无法评判", "en": "Could not be judged by its gate"},
    "vd_status_forced": {"zh": "，被强制启用", "en": ", promoted by force"},
    # the badge names the version the rollback went back to (it read ", rolled back to")
    "vd_status_rolled_back": {
        "zh": "，经回滚恢复为第 {v} 版",
        "en": ", rolled back to version {v}",
    },
    "vd_refused_title": {
        "zh": "{domain} · 冠军别名指向第 {v} 版，但未获服役",
        "en": "{domain} · the champion alias points at version {v}, which is not served",
    },
    "vd_status_refused": {"zh": "与 riskwarn 记录不符", "en": "Disagrees with riskwarn's record"},
    "vd_refused": {
        "zh": "系统拒绝用它评分（与评分时的核验相同）：{reason}",
        "en": "riskwarn refuses to score with it (the check scoring makes): {reason}",
    },
    # as `riskwarn score` says it (riskwarn.commands.score.served_note): with a published
    # run of the domain, or none
    "vd_refused_meaning": {
        "zh": "含义：在数据科学人员用命令行重新启用（提升）一个版本之前，该领域不会产生新的评分；"
        "最近一次发布的结果继续有效。",
        "en": "What this means: nothing new is scored for this domain until a version is "
        "promoted with `riskwarn promote`; the last published run stays served.",
    },
    "vd_refused_meaning_unpublished": {
        "zh": "含义：在数据科学人员用命令行重新启用（提升）一个版本之前，该领域不会产生新的评分；"
        "该领域尚无已发布的结果，目前没有任何评分在用。",
        "en": "What this means: nothing new is scored for this domain until a version is "
        "promoted with `riskwarn promote`; no run of it is published yet, so nothing is "
        "served for it.",
    },
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
    "vd_versus_tie_below": {
        "zh": "回测中模型的{metric}为 {model}，最好的简单方法“{base}”为 {base_value}："
        "两者相差 {diff}（95% 置信区间 {lo} 至 {hi}，包含 0）：**持平，点估计偏低**"
        "（模型的点估计低于该方法，但差别未超出噪声）。",
        "en": "In the backtest the model's {metric} is {model}; the best simple method, "
        "{base}, reaches {base_value}: the difference is {diff} (95% CI {lo} to {hi}, "
        "which includes 0): **tie, point below** (the model is behind it on the point "
        "estimate, not beyond noise).",
    },
    "vd_gate_point_below": {
        "zh": "以下检查按门槛规则（差距未超出噪声即不算更差）通过，但模型的点估计偏低"
        "（持平，点估计偏低）：{checks}。",
        "en": "These checks passed under the gate's rule (not worse beyond noise) while "
        "the model is behind on the point estimate (tie, point below): {checks}.",
    },
    "vd_point_below_check": {
        "zh": "{metric}对“{other}”：{diff}（区间 {lo} 至 {hi}）",
        "en": "{metric} against {other}: {diff} (CI {lo} to {hi})",
    },
    "vd_point_below_champion": {"zh": "当前上线版本", "en": "the serving champion"},
    # the case model's CI (models.case_models.case_bootstrap_diff): whole cases resampled
    "vd_ci_resampled_cases": {
        "zh": "置信区间按案件整体重抽样得出（{n} 个案件；同一案件在各个预测起点上的记录一起抽取，"
        "因为一个案件会连续数周处于未结状态，一次升级会被多个起点计为标签）。",
        "en": "The CI resamples whole cases ({n} cases; a case's rows at every forecast "
        "origin are drawn together, since a case stays open for weeks and one escalation "
        "is the label of several origins).",
    },
    # a hotspot model's sources (riskwarn train --source): its inputs and the events its
    # hit rates / PAI count (metrics.json counted_on_sources, params sources)
    "vd_sources_every": {
        "zh": "用全部来源训练；命中率与 PAI 按全部来源（{counted}）的事件计算。",
        "en": "Trained on every source; its hit rates and PAI count the events of every "
        "source ({counted}).",
    },
    "vd_sources_some": {
        "zh": "仅用来源 {inputs} 训练（输入只取自这些来源，上线打分亦然）；命中率与 PAI "
        "按全部来源（{counted}）的事件计算：其他来源报告、落在其不打分网格中的事件计为未命中。",
        "en": "Trained on the source(s) {inputs} only (its inputs come from them, when served "
        "too); its hit rates and PAI count the events of every source ({counted}): events "
        "of the others in cells it does not score are misses.",
    },
    "vd_sources_own": {
        "zh": "仅用来源 {inputs} 训练；命中率与 PAI 只计这些来源的事件，未计其他来源的事件"
        "（2026-12-07 之前训练的模型如此计算）。",
        "en": "Trained on the source(s) {inputs} only; its hit rates and PAI count only "
        "their events, not the other sources' (as models trained before 2026-12-07 were "
        "counted).",
    },
    "vd_champion_sources": {
        "zh": "两者按全部来源（{counted}）的事件比较，各用自己上线时的输入打分：本模型取自"
        "{mine}，v{v} 取自{theirs}。",
        "en": "Both were compared on the events of every source ({counted}), each scored "
        "from its own serving inputs: this model from {mine}, v{v} from {theirs}.",
    },
    # a source in the lake the champion was not trained on: left out of its scoring
    # (riskwarn.scoring.served_sources)
    "vd_trained_on": {
        "zh": "训练所用记录的来源：{names}（上线打分只读这些来源）。",
        "en": "Trained on the records of: {names} (scored on these sources alone).",
    },
    "vd_not_served": {
        "zh": "未用于打分：{names}（湖中有此来源，但该模型只用 {served} 训练，打分时只读这些来源；"
        "要用上它须训练新模型）。",
        "en": "Not served: {names} (in the lake, but this model was trained on {served} "
        "only and is scored on it alone; train a new model to use it).",
    },
    "vd_sources_all_words": {"zh": "全部来源", "en": "every source"},
    "vd_sources_list_words": {"zh": "来源 {names}", "en": "the source(s) {names}"},
    "vd_model_only": {
        "zh": "回测中模型的{metric}为 {model}（未记录与简单方法的比较）。",
        "en": "In the backtest the model's {metric} is {model} (no comparison recorded).",
    },
    "vd_rank": {
        "zh": "在 {n} 种可实际使用的方法中排第 {rank}（不计事后上限）。",
        "en": "Rank {rank} of {n} usable methods (ex-post ceilings not counted).",
    },
    "vd_rank_below_random": {
        "zh": "在 {n} 种可实际使用的方法中排第 {rank}（不计事后上限）；但这只是在低于随机水平的"
        "方法之间排名，并不说明模型好用。",
        "en": "Rank {rank} of {n} usable methods (ex-post ceilings not counted), but among "
        "methods below the random reference: the rank does not make the model useful.",
    },
    # the run's chance reference (dashboard.verdicts.reference_words): a random choice of
    # the scored cells scores events_active_area / events, not 1 (every event counts)
    "vd_random_reference": {
        "zh": "随机参照：随机挑选 {share} 的评分网格，{metric}在此为 {ref}，而非 1：每起事件都计入，"
        "{n} 起中有 {out} 起（{pct}）发生在此前没有事件的网格（评分区域之外），任何网格预测"
        "都无法对其排名。",
        "en": "Chance reference: choosing {share} of the scored cells at random scores "
        "{metric} {ref} here, not 1: every event counts, and {out} of {n} ({pct}) fell in "
        "cells with no earlier event, outside the scored area, which no cell forecast ranks.",
    },
    "vd_random_reference_all": {
        "zh": "随机参照：随机挑选 {share} 的评分网格，{metric}为 {ref}（所有事件都在评分网格内）。",
        "en": "Chance reference: choosing {share} of the scored cells at random scores "
        "{metric} {ref} (every event fell in a scored cell).",
    },
    # under the models page's metrics table (verdicts.table_ci_words): a run before
    # 2026-12-07 drew the table's CI (500 resamples) apart from the gate's (1000)
    "vd_table_ci_differs": {
        "zh": "门槛检查与本表对同一比较给出的 95% 置信区间不同：{pairs}。二者来自同一回测的两次"
        "独立自助抽样（本表 500 次，门槛 1000 次；该次训练早于 2026-12-07，此后两者相同）；"
        "上方结论与门槛判定依据门槛的区间。",
        "en": "The gate and this table give different 95% CIs for the same comparison: "
        "{pairs}. Both resample the same backtest, in separate bootstrap draws (this table "
        "500, the gate 1000; a run before 2026-12-07, since when both are the same); the "
        "verdict above and the gate used the gate's.",
    },
    "vd_table_ci_pair": {
        "zh": "模型减“{other}”：门槛 {gate_lo} 至 {gate_hi}，本表 {lo} 至 {hi}",
        "en": "the model minus {other}: gate {gate_lo} to {gate_hi}, table {lo} to {hi}",
    },
    "vd_random_times": {
        "zh": "模型约为随机的 {times} 倍。",
        "en": "The model scores {times} times that.",
    },
    "vd_coverage_most": {
        "zh": "**多数事件发生在任何网格预测都无法指向的地方**：限制该模型的是覆盖范围，而不是排序。",
        "en": "**Most events fall where no cell forecast can point**: coverage, not the "
        "ranking, limits this model.",
    },
    "vd_below_random": {
        "zh": "{metric}为 {model}，**低于随机水平**（随机挑选同样比例的评分网格在此为 {ref}）："
        "模型约为随机的 1/{times}。",
        "en": "Its {metric} of {model} is **below random** (choosing the same share of the "
        "scored cells at random scores {ref} here): about {times} times worse than chance.",
    },
    "vd_below_random_zero": {
        "zh": "{metric}为 {model}，**低于随机水平**（随机挑选同样比例的评分网格在此为 {ref}）。",
        "en": "Its {metric} of {model} is **below random** (choosing the same share of the "
        "scored cells at random scores {ref} here).",
    },
    "vd_base_below_random": {
        "zh": "最好的简单方法“{base}”（{base_value}）同样低于随机水平。",
        "en": "The best simple method, {base} ({base_value}), is below random too.",
    },
    "vd_below_chance": {
        "zh": "AUC 为 {auc}，低于 0.5：模型的排序**比随机还差**。",
        "en": "Its AUC of {auc} is below 0.5: the model ranks **worse than chance**.",
    },
    "vd_gate_pass": {
        # the rule as the gate applies it (verdicts.gate_rule): a hotspot model passes by
        # doing no worse than the simple methods, not by beating each (review of 2026-12-07)
        "zh": "门槛检查全部通过：{rule}；概率校准合格。",
        "en": "Every gate check passed: the model had to {rule}; its probabilities are calibrated.",
    },
    "vd_gate_failed": {"zh": "未通过的门槛检查：{checks}。", "en": "Gate checks failed: {checks}."},
    "vd_gate_not_judged": {
        "zh": "**门槛无法评判**：{why}，模型与简单方法的比较无从计算——既未证明更好，也未证明更差。"
        "因此未自动启用。如需启用，请由人工在命令行强制启用并填写理由（记入审计日志），"
        "或待数据中出现失稳后重新训练。",
        "en": "**The gate could not judge it**: {why}, so no comparison with the simple "
        "methods could be computed: it was shown neither better nor worse. It was therefore "
        "not promoted automatically. To use it, promote it by hand with a reason (`riskwarn "
        "promote {domain} VERSION --force --reason ...`, audited), or retrain once the data "
        "hold failures.",
    },
    "vd_not_judged_window": {
        "zh": "回测期 {start} 至 {end} 内监测点失稳 {n} 起",
        "en": "{n} site failure(s) in the backtest {start} to {end}",
    },
    "vd_not_judged_generic": {
        "zh": "回测期内没有可供比较的事件",
        "en": "the backtest window held no event to compare on",
    },
    "vd_eval_failures": {
        "zh": "回测期内监测点失稳 {n} 起",
        "en": "{n} site failure(s) in the backtest",
    },
    "vd_escalations_never_scored": {
        "zh": "升级案件 {m} 件，其中 {n} 件从未评分（在两个周起算日之间受理并升级，或结案后才升级："
        "不在任何样本中，平均精确率不计入，“已标出的升级案件”对所有方法都算未标出）",
        "en": "escalations never scored: {n} of {m} (opened and escalated between two weekly "
        "origins, or escalated after closing: in no row, so not in the average precision; "
        "misses for every method in the escalations flagged)",
    },
    "vd_eval_extended": {
        "zh": "为纳入至少 {want} 起失稳，回测期由 {default} 起向前延伸",
        "en": "the backtest reaches back from {default} to hold at least {want} failures",
    },
    "vd_eval_limited_training_history": {
        "zh": "再向前会使首次训练缺少失稳样本，未能达到 {want} 起",
        "en": "it could not reach {want}: further back the first refit would have no "
        "failure to learn from",
    },
    "vd_eval_limited_max_eval_days": {
        "zh": "已达最长回测期上限，未能达到 {want} 起",
        "en": "it could not reach {want} within the longest backtest allowed",
    },
    "vd_eval_limited_data": {
        "zh": "数据中没有更多失稳，未能达到 {want} 起",
        "en": "the data hold no more failures to reach {want}",
    },
    "vd_gate_unknown": {
        "zh": "该版本训练时未记录门槛结果。",
        "en": "No gate result was recorded when this version was trained.",
    },
    "vd_fail_worse": {
        "zh": "不如“{other}”（差 {diff}，区间 {lo} 至 {hi}）",
        "en": "worse than {other} ({diff}, CI {lo} to {hi})",
    },
    "vd_fail_worse_at": {
        "zh": "在{metric}上不如“{other}”（差 {diff}，区间 {lo} 至 {hi}）",
        "en": "worse than {other} at {metric} ({diff}, CI {lo} to {hi})",
    },
    "vd_fail_tie": {
        "zh": "未能明显优于“{other}”（差 {diff}，区间 {lo} 至 {hi}）",
        "en": "not clearly better than {other} ({diff}, CI {lo} to {hi})",
    },
    "vd_fail_tie_at": {
        "zh": "在{metric}上未能明显优于“{other}”（差 {diff}，区间 {lo} 至 {hi}）",
        "en": "not clearly better than {other} at {metric} ({diff}, CI {lo} to {hi})",
    },
    "vd_fail_calibration": {
        "zh": "概率校准误差 {ece} 超过上限 {bound}（预测概率与实际发生率不符）",
        "en": "calibration error {ece} above the bound {bound} (probabilities do not match "
        "observed rates)",
    },
    "vd_fail_calibration_noise": {
        "zh": "概率校准误差 {ece} 超过上限 {bound}：预测概率与实际发生率不符，且超出偶然所能解释的范围"
        "（上限取“基准发生率的 {ratio} 倍”与“按同样预测完全校准的模型仅因事件的偶然性，"
        "20 次中才有 1 次超过的误差”中的较大者，最多 {cap}）",
        "en": "calibration error {ece} above the bound {bound}: probabilities do not match "
        "observed rates, beyond what chance explains (the bound is the larger of {ratio} x "
        "the base rate and the error a perfectly calibrated model with these predictions "
        "exceeds by chance only 1 time in 20; at most {cap})",
    },
    "vd_fail_older_data": {
        "zh": "训练数据只到 {mine}，早于此前的服役模型（第 {v} 版，数据到 {through}）："
        "用较旧数据训练的模型不会自动取代较新的模型（如需有意回退，须人工填写理由强制启用）",
        "en": "trained on data to {mine}, older than the previous serving model's (v{v}, data "
        "to {through}): an older model never replaces a newer one automatically (a deliberate "
        "rollback is promoted by hand with a reason)",
    },
    "vd_fail_unscored": {
        "zh": "无法与此前的服役模型比较",
        "en": "could not be compared with the previous serving model",
    },
    "vd_trained": {
        "zh": "训练于 {at}，使用 {until} 之前的数据（{data}）；{window}。",
        "en": "Trained {at} on data before {until} ({data}); {window}.",
    },
    # scoring refuses the serving version at every origin over its training data end
    # (models.registry.data_end): why and what fixes it; English shows scoring's own line
    "vd_data_end_refused": {
        "zh": "**评分在任何预测起点都拒绝使用该版本**：{why}",
        "en": "**Scoring refuses this version at every forecast origin**: {why}",
    },
    "vd_data_end_unknown": {
        "zh": "无法确认第 {v} 版训练数据的截止时间（版本标签 riskwarn.trained_through 与其 MLflow "
        "运行都没有记录，可能是手工登记或由旧版 riskwarn 登记），因此无法判断预测是否落在训练数据之内。"
        "修复：在 MLflow 界面为该版本加上标签 riskwarn.trained_through（训练数据截止时间，ISO UTC），"
        "再执行 `riskwarn promote {domain} {v} --force --reason ...` 重新启用以记录；"
        "或启用一个由 riskwarn 训练的版本。",
        "en": "the training data end of version {v} is not recorded (neither its "
        "riskwarn.trained_through tag nor its MLflow run says it): whether a forecast is "
        "in-sample cannot be told. Fix: tag the version riskwarn.trained_through (the end "
        "of its training data, ISO UTC) in the MLflow UI, then "
        "`riskwarn promote {domain} {v} --force --reason ...` to record it; or promote a "
        "version trained by riskwarn.",
    },
    "vd_data_end_run_gone": {
        "zh": "无法确认第 {v} 版训练数据的截止时间：其 MLflow 运行已被删除并清理（mlflow gc），"
        "版本上也没有 riskwarn.trained_through 标签。请启用或回滚到一个运行仍保留的版本。",
        "en": "the training data end of version {v} cannot be read: its MLflow run is gone "
        "(deleted, collected by mlflow gc) and the version has no riskwarn.trained_through "
        "tag. Promote or roll back to a version whose run is kept.",
    },
    "vd_data_end_edited": {
        "zh": "第 {v} 版现在显示的训练数据截止时间为 {read}，但启用时系统记录的是 {recorded}："
        "其 riskwarn.trained_through 标签在启用后被改动。请把标签改回，或重新启用以记录新的时间。",
        "en": "version {v}'s training data end reads {read} now, but riskwarn recorded "
        "{recorded} when it was promoted: its riskwarn.trained_through tag was edited since. "
        "Set the tag back, or promote it again to record the new end.",
    },
    "vd_data_end_unreadable_recorded": {
        "zh": "第 {v} 版的训练数据截止时间现在无法读取，但启用时系统记录的是 {recorded}。"
        "请在 MLflow 界面按记录为该版本加回 riskwarn.trained_through 标签。",
        "en": "version {v}'s training data end cannot be read now, but riskwarn recorded "
        "{recorded} when it was promoted. Tag the version riskwarn.trained_through as "
        "recorded in the MLflow UI.",
    },
    "vd_data_end_unrecorded": {
        "zh": "第 {v} 版现在带有训练数据截止时间 {read}，但启用时无法读取、系统没有记录："
        "该标签是启用后加上的。请执行 `riskwarn promote {domain} {v} --reason ...` 重新启用以记录。",
        "en": "version {v} now carries a training data end ({read}) that riskwarn did not "
        "record when it was promoted (none could be read then): the tag was set since. "
        "Promote it again to record it: `riskwarn promote {domain} {v} --reason ...`.",
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
    "vd_forced_unjudged": {
        "zh": "**该版本未经上线门槛评判，由 {actor} 于 {at} 强制启用**，理由：“{reason}”。",
        "en": "**This version was never judged by its gate and was promoted by force** by "
        '{actor} on {at}; reason: "{reason}".',
    },
    "vd_forced_stale": {
        "zh": "**该版本的门槛是{against}评判的，从未与它替换的第 {serving} 版比较；由 {actor} 于 "
        "{at} 强制启用**，理由：“{reason}”。",
        "en": "**Its gate passed {against}, never against version {serving} it replaced: "
        'promoted by force** by {actor} on {at}; reason: "{reason}".',
    },
    "vd_stale_none": {"zh": "在没有在用模型时", "en": "with no model serving"},
    "vd_stale_version": {"zh": "对照第 {v} 版", "en": "against version {v}"},
    "vd_promoted": {"zh": "由 {actor} 于 {at} 启用。", "en": "Promoted by {actor} on {at}."},
    "vd_rolled_back": {
        "zh": "由 {actor} 于 {at} 回滚至该版本，理由：“{reason}”。",
        "en": 'Rolled back to this version by {actor} on {at}; reason: "{reason}".',
    },
    "vd_promoted_auto": {
        "zh": "通过门槛后由训练流程于 {at} 自动启用。",
        "en": "Promoted automatically by the training run on {at}, after passing its gate.",
    },
    "vd_meaning_pass": {
        # the standard is its family's gate rule (a hotspot model need not beat the simple
        # methods, only do no worse): the comparison itself is the next line
        "zh": "含义：该领域的预警依据一个在回测中达到其门槛标准的模型（与最好的简单方法的比较见下一条）。",
        "en": "What this means: this domain's warnings come from a model that met its gate's "
        "standard in the backtest (the comparison with the best simple method is the next "
        "line).",
    },
    "vd_meaning_fail": {
        "zh": "含义：该领域的预警依据一个**未达标**的模型，其排序并不比“{base}”等简单方法更可靠，"
        "研判时应审慎对待模型给出的风险分。",
        "en": "What this means: this domain's warnings come from a model **below the "
        "standard**; it ranks places no better than simple methods such as {base}, so treat "
        "its scores with caution.",
    },
    "vd_meaning_not_judged": {
        "zh": "含义：回测无法判断该模型是否优于简单方法（并非未通过）；它不会自动启用。",
        "en": "What this means: the backtest could not tell whether this model beats the "
        "simple methods (this is not a failure); it is not promoted automatically.",
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
    # its chance reference is the run's own (verdicts.reference_words), not 1
    "metric_pai_at_0_05": {"zh": "命中效率 PAI@5%", "en": "PAI@5%"},
    "metric_pai_at_0_01": {"zh": "命中效率 PAI@1%", "en": "PAI@1%"},
    "metric_pai_at_0_1": {"zh": "命中效率 PAI@10%", "en": "PAI@10%"},
    "metric_average_precision": {"zh": "平均精确率（AP）", "en": "average precision (AP)"},
    "metric_auc": {"zh": "排序能力 AUC（随机为 0.5）", "en": "AUC (chance = 0.5)"},
    # the site models' gate: TSS at each warning level against the sensor rules
    # (models.gate.level_check, metric "tss@<level>")
    "metric_tss_at_blue": {
        "zh": "蓝色预警等级的真技巧评分 TSS（检出率减无失稳时的报警率）",
        "en": "TSS at the blue level (detection rate minus false-alarm rate on non-events)",
    },
    "metric_tss_at_yellow": {
        "zh": "黄色预警等级的真技巧评分 TSS（检出率减无失稳时的报警率）",
        "en": "TSS at the yellow level (detection rate minus false-alarm rate on non-events)",
    },
    "metric_tss_at_orange": {
        "zh": "橙色预警等级的真技巧评分 TSS（检出率减无失稳时的报警率）",
        "en": "TSS at the orange level (detection rate minus false-alarm rate on non-events)",
    },
    "metric_tss_at_red": {
        "zh": "红色预警等级的真技巧评分 TSS（检出率减无失稳时的报警率）",
        "en": "TSS at the red level (detection rate minus false-alarm rate on non-events)",
    },
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
    "method_inverse_velocity": {"zh": "速率倒数法", "en": "inverse velocity"},
    "method_ceiling": {"zh": "事后上限", "en": "ex-post ceiling"},
    "method_ceiling_loo": {"zh": "事后上限（留一）", "en": "ex-post ceiling (leave-one-out)"},
    "method_run": {"zh": "整次运行", "en": "whole run"},
    "method_champion": {"zh": "此前的服役模型", "en": "the previous serving model"},
    "plot_importance": {
        "zh": "特征重要性：各特征对模型输出的平均贡献（平均 |SHAP|，取前 15 项；训练时生成，图内为英文）",
        "en": "Feature importance: each feature's mean contribution to the model's output "
        "(mean |SHAP|, top 15)",
    },
    "plot_reliability": {
        "zh": "可靠性图：横轴为预测概率，纵轴为实际发生频率，点越贴近虚线对角线，概率越可信"
        "（训练时生成，图内为英文）",
        "en": "Reliability: predicted probability (x) against observed frequency (y); the "
        "closer to the dashed diagonal, the more the probabilities can be trusted",
    },
    "plot_hit_rate_curve": {
        "zh": "命中率曲线：预警面积占比越大，命中的事件越多；同一面积下越高越好",
        "en": "Hit rate against the share of area flagged, one line per method; higher is better",
    },
    "plot_area_flagged": {"zh": "预警面积占比（%）", "en": "Area flagged (%)"},
    "plot_hit_rate": {"zh": "命中率", "en": "Hit rate"},
    "plot_method": {"zh": "方法", "en": "Method"},
    # a decision the panel took on an earlier run's warning of the same place
    # (Store.earlier_decisions; docs/dashboard.md, "Decisions on earlier runs")
    "earlier_did_accept": {"zh": "采纳（{level}）", "en": "accepted at {level}"},
    "earlier_did_adjust": {"zh": "调整为{level}", "en": "adjusted to {level}"},
    "earlier_did_dismiss": {"zh": "排除（原{level}）", "en": "dismissed (was {level})"},
    "earlier_marker": {
        "zh": "{at}已研判：{reviewer}{did}",
        "en": "decided on {at}: {did} by {reviewer}",
    },
    # {old}: the level the panel judged the risk at (an adjustment's, a dismissal's set
    # aside), not the level raised then: an orange adjusted down to yellow, orange again
    "earlier_rose": {
        "zh": "现为{new}，高于当时研判的{old}",
        "en": "now {new}, above the {old} judged then",
    },
    "col_earlier": {"zh": "此前研判", "en": "Earlier decision"},
    "earlier_note": {
        "zh": "此地此前的研判（上一轮预警 {id}）：{marker}，理由：{reason}",
        "en": "Earlier decision on this place (earlier run's warning {id}): {marker}, "
        "reason: {reason}",
    },
    "earlier_rose_note": {
        "zh": "该预警现为{new}，高于该研判当时判定的{old}：请重新研判（不提供“沿用此前研判”）。",
        "en": "This warning is {new}, above the {old} that decision judged the risk at: "
        'review it afresh (no "Same decision as before").',
    },
    "earlier_same": {"zh": "沿用此前研判", "en": "Same decision as before"},
    "earlier_same_help": {
        "zh": "以您的名义填入同样的决定和引用此前研判的理由（可修改）；提交后才记录。",
        "en": "Fills in the same decision and a reason quoting the earlier one (editable) "
        "as yours; nothing is recorded until you submit.",
    },
    "earlier_reason": {
        "zh": "同{at}对上一轮预警 {id} 的研判（{reviewer}）：{reason}",
        "en": "Same as the decision of {at} on the earlier run's warning {id} "
        "({reviewer}): {reason}",
    },
    "kpi_pending_split": {
        "zh": "其中 {earlier} 条此前已在同级或更高等级研判过，{fresh} 条为新",
        "en": "{earlier} decided on an earlier run at the same or higher level, {fresh} new",
    },
}
