"""Catalogue entries of the geohazard site and city-wide rain features.

Part of the feature catalogue (:mod:`features.catalog` assembles ``PATTERNS`` from it):
add an entry here for every new site or city-wide input of a model.
"""

from __future__ import annotations

from features.feature_info import BEFORE, FeatureInfo

_B = BEFORE
SITE_PATTERNS: dict[str, FeatureInfo] = {
    "rain_{n}h_mm": FeatureInfo(
        "{value:.1f} mm of rain in the last {n} hours",
        "mm",
        "readings before the origin",
        "geohazard",
        zh="近 {n} 小时降雨 {value:.1f} 毫米",
    ),
    "rain_{n}d_mm": FeatureInfo(
        "{value:.1f} mm of rain in the last {n} days",
        "mm",
        "readings before the origin",
        "geohazard",
        zh="近 {n} 天降雨 {value:.1f} 毫米",
    ),
    "api_mm": FeatureInfo(
        "antecedent precipitation index {value:.1f} mm",
        "mm",
        "all readings before the origin",
        "geohazard",
        zh="前期降雨指数 {value:.1f} 毫米",
    ),
    "effective_rain_3d_mm": FeatureInfo(
        "{value:.1f} mm effective rain over the last 3 days (decayed)",
        "mm",
        "readings of the last 4 days",
        "geohazard",
        zh="近 3 天有效降雨（衰减累计）{value:.1f} 毫米",
    ),
    "rain_24h_pct_rank": FeatureInfo(
        "the last 24 h of rain ranks at the {value:.0%} point of this site's history",
        "share",
        "this site's history before the origin",
        "geohazard",
        zh="近 24 小时降雨量处于本点历史的 {value:.0%} 分位",
    ),
    "rain_24h_vs_p99": FeatureInfo(
        "the last 24 h brought {value:.1f}x this site's 99th-percentile daily rain",
        "ratio",
        "this site's history before the origin",
        "geohazard",
        zh="近 24 小时降雨是本点 99 百分位日雨量的 {value:.1f} 倍",
    ),
    "caine_exceedance": FeatureInfo(
        "rain intensity reached {value:.1f}x the Caine threshold",
        "ratio",
        "readings of the last 72 h",
        "geohazard",
        zh="降雨强度达到 Caine 阈值的 {value:.1f} 倍",
    ),
    "guzzetti_exceedance": FeatureInfo(
        "rain intensity reached {value:.1f}x the Guzzetti threshold",
        "ratio",
        "readings of the last 72 h",
        "geohazard",
        zh="降雨强度达到 Guzzetti 阈值的 {value:.1f} 倍",
    ),
    "velocity_mm_per_day": FeatureInfo(
        # the model's input: GNSS displacement over the last 24 h (SiteFeatureParams
        # .velocity_window_days), the fastest GNSS of the site; not the sensor rules'
        # velocity in a warning's evidence (last 6 hourly steps, any displacement sensor)
        "the slope (GNSS) moved {value:.2f} mm per day over the last 24 h",
        "mm/day",
        "displacement readings before the origin",
        "geohazard",
        zh="坡体（GNSS）近 24 小时位移速率每天 {value:.2f} 毫米",
    ),
    "acceleration_mm_per_day2": FeatureInfo(
        "movement is changing by {value:.3f} mm/day per day",
        "mm/day²",
        "displacement readings before the origin",
        "geohazard",
        zh="位移速率每天变化 {value:.3f} 毫米/天",
    ),
    "tangent_angle_deg": FeatureInfo(
        "improved tangent angle {value:.0f}° (45° = steady creep)",
        "degrees",
        "displacement readings before the origin",
        "geohazard",
        zh="改进切线角 {value:.0f}°（45° 为匀速蠕变）",
    ),
    "inverse_velocity_day_per_mm": FeatureInfo(
        "inverse velocity {value:.2f} day/mm",
        "day/mm",
        "displacement readings before the origin",
        "geohazard",
        zh="速度倒数 {value:.2f} 天/毫米",
    ),
    "fukuzono_hours_to_failure": FeatureInfo(
        "the inverse-velocity trend reaches zero in {value:.0f} hours",
        "hours",
        "the last displacement readings before the origin",
        "geohazard",
        zh="速度倒数趋势将在 {value:.0f} 小时后归零",
    ),
    "steady_velocity_mm_per_day": FeatureInfo(
        "long-run creep {value:.2f} mm per day",
        "mm/day",
        "all displacement readings before the origin",
        "geohazard",
        zh="长期蠕变速率每天 {value:.2f} 毫米",
    ),
    "displacement_age_days": FeatureInfo(
        "the last displacement reading is {value:.1f} days old",
        "days",
        "displacement readings before the origin",
        "geohazard",
        zh="最近一次位移读数已过去 {value:.1f} 天",
    ),
    "share_missing_{n}h": FeatureInfo(
        "{value:.0%} of expected sensor readings missing in the last {n} hours",
        "share",
        "readings before the origin",
        "geohazard",
        zh="近 {n} 小时应有的传感器读数缺失 {value:.0%}",
    ),
    "spikes_removed_7d": FeatureInfo(
        "{value:g} spikes removed from sensor data in the last 7 days",
        "readings",
        "readings before the origin",
        "geohazard",
        zh="近 7 天从传感器数据中剔除 {value:g} 个尖峰",
    ),
    "drift_flag": FeatureInfo(
        "a sensor's level shifted in the last 7 days: {value:yesno}; check it against the "
        "site's other sensors",
        "0/1",
        "readings before the origin",
        "geohazard",
        zh="有传感器读数近 7 天出现整体偏移：{value:yesno}，请与该点其他传感器对照",
    ),
    "dead_sensor_flag": FeatureInfo(
        "a sensor sent nothing in the last hours: {value:yesno}",
        "0/1",
        "readings before the origin",
        "geohazard",
        zh="有传感器近几小时无数据：{value:yesno}",
    ),
    "sensor_rule_level": FeatureInfo(
        "the sensor rules' warning level here is {value:g} (0 none, 1 blue - 4 red)",
        "0-4",
        "readings before the origin (a dead sensor's last level for 6 hours)",
        "geohazard",
        zh="传感器规则预警等级为 {value:g}（0 无，1 蓝色至 4 红色）",
    ),
    "slope_class": FeatureInfo(
        "slope class {value:g} (1 gentle - 5 very steep)",
        "class",
        "static site data",
        "geohazard",
        zh="坡度等级 {value:g}（1 平缓 - 5 极陡）",
    ),
    "people_threatened": FeatureInfo(
        "{value:,.0f} people live in the threatened area",
        "persons",
        "static site data",
        "geohazard",
        zh="受威胁区域内居住 {value:,.0f} 人",
    ),
    "hazard_type_{group}": FeatureInfo(
        "a {group} site: {value:yesno}",
        "0/1",
        "static site data",
        "geohazard",
        zh="{group}隐患点：{value:yesno}",
    ),
    "rain_day_mm": FeatureInfo(
        "{value:.1f} mm of rain today",
        "mm",
        "rain up to the end of the day (nowcast)",
        "citywide",
        zh="今日降雨 {value:.1f} 毫米",
    ),
    "rain_2d_antecedent_mm": FeatureInfo(
        "{value:.1f} mm of rain on the two days before",
        "mm",
        "rain of the two previous days",
        "citywide",
        zh="前两天降雨 {value:.1f} 毫米",
    ),
    "rain_day_pct_rank": FeatureInfo(
        "today's rain ranks at the {value:.0%} point of all earlier days",
        "share",
        "rain history before the day",
        "citywide",
        zh="今日降雨量处于以往各日的 {value:.0%} 分位",
    ),
    "rain_day_vs_p99": FeatureInfo(
        "today's rain is {value:.1f}x the 99th-percentile day of earlier years",
        "ratio",
        "rain history before the day",
        "citywide",
        zh="今日降雨是往年 99 百分位日雨量的 {value:.1f} 倍",
    ),
    "landslides_{n}d": FeatureInfo(
        "{value:g} landslides city-wide in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "citywide",
        zh="近 {n} 天全市发生 {value:g} 起滑坡",
    ),
}
