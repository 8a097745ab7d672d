"""A reviewer's reading of the demo as a leader and a panel member (6 Dec 2026): the words
that misled, each checked in en and zh (pure functions; no browser)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from dashboard import views

HOLD = (0.02, 0.08, 0.25, 0.5)

# the demo's warning of site DZ3408250007 as stored (flat readings, a last-reading spike)
NOISY_REASONS = [
    {
        "en": "Model probability 0.2% over the next 24 h (level IV blue).",
        "zh": "模型预测未来 24 小时内的概率为 0.2%（蓝色，IV级）。",
    },
    {
        "en": "Displacement: improved tangent angle 78.3°, velocity within the sensor's noise "
        "(not above its noise floor for 2 consecutive steps: at most blue).",
        "zh": "位移监测：改进切线角 78°，速度在传感器噪声范围内（未连续 2 个时段超过噪声下限："
        "最高蓝色）。",
    },
]
NOISY_EVIDENCE: dict[str, Any] = {
    "model_level": None,
    "model_threshold": None,
    "rules_level": "blue",
    "sensors": [
        {
            "sensor_id": "SB00015",
            "status": "ok",
            "readings_24h": 144,
            "tangent_angle_deg": 78.3,
            "velocity_mm_per_day": 44.4,
        }
    ],
}


@pytest.mark.parametrize(
    ("lang", "caveat"),
    [("en", "within the sensor's noise"), ("zh", "传感器噪声范围内")],
)
def test_site_why_keeps_the_rules_noise_caveat(lang: str, caveat: str) -> None:
    kind, facts = views.site_why("blue", 0.0017, NOISY_EVIDENCE, HOLD, None, NOISY_REASONS)
    words = views.site_why_words(kind, facts, lang)
    assert kind == "sensor_rule" and "SB00015" in words
    assert caveat in words, words
    assert ("at most blue" if lang == "en" else "最高蓝色") in words


def test_noise_caveat_from_the_evidence_and_only_when_the_rule_says_so() -> None:
    ev = {**NOISY_EVIDENCE, "sensors": [{**NOISY_EVIDENCE["sensors"][0], "within_noise": True}]}
    kind, facts = views.site_why("blue", 0.0017, ev, HOLD)
    assert "within the sensor's noise" in views.site_why_words(kind, facts, "en")
    # a real movement (the rule's reason without the gate's sentence): no caveat
    moving = {**NOISY_EVIDENCE, "rules_level": "yellow"}
    reasons = [{"en": "Displacement: improved tangent angle 78.3°.", "zh": "位移监测。"}]
    kind, facts = views.site_why("yellow", 0.0017, moving, HOLD, None, reasons)
    for lang, caveat in (("en", "noise"), ("zh", "噪声")):
        words = views.site_why_words(kind, facts, lang)
        assert "44.4" in words and caveat not in words


def _gate(ok: bool, judged: bool = True) -> dict[str, Any]:
    calib = {"check": "calibration", "ok": ok, "ece": 0.0178, "bound": 0.01134812971584524}
    if not judged:
        calib["judged"] = False
    return {"checks": [{"check": "not worse than kde at PAI@1%", "ok": False}, calib]}


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "ranking, not a probability"), ("zh", "只可用于排序，不能当作概率")],
)
def test_kpi_says_when_its_model_failed_calibration(lang: str, words: str) -> None:
    caveat = views.calibration_caveat(_gate(ok=False), lang)
    assert caveat is not None and words in caveat and "0.0178" in caveat and "0.0113" in caveat
    # passed, not judged, or no gate: nothing new beside the number
    assert views.calibration_caveat(_gate(ok=True), lang) is None
    assert views.calibration_caveat(_gate(ok=False, judged=False), lang) is None
    assert views.calibration_caveat(None, lang) is None


DEAD = {
    "en": "Sensor SB00014 has sent no reading in the last 24 h — treated as unknown, not as "
    "no movement.",
    "zh": "传感器 SB00014 过去 24 小时内未上传任何数据——按状态未知处理，不视为无位移。",
}


def test_site_warning_opens_with_the_reason_that_set_its_level() -> None:
    """A blue set by a dead sensor (the model alone below every threshold) opens with the
    fault, in the stored reasons and on the review page; the model's probability follows,
    saying what the model alone gave, never "(level IV blue)"."""
    import pandas as pd

    from riskwarn import warnings as rw

    levels = pd.DataFrame(
        {"unit_id": ["DZ1", "DZ2"], "probability": [5.8e-7, 0.6], "level_rank": [1, 3]}
    )
    ctx = rw.WarningContext("geohazard_hourly", "site", pd.Timestamp("2023-08-31 16:00Z"), 24.0)
    ev = {
        "DZ1": {"model_level": None, "model_threshold": None, "rules_level": None},
        "DZ2": {"model_level": "orange", "model_threshold": 0.25, "rules_level": None},
    }
    out = rw.build_warnings(levels, ctx, {"DZ1": [DEAD], "DZ2": []}, evidence=ev)
    out = out.set_index("unit_id")
    fault = out.at["DZ1", "reasons"]
    assert fault[0] == DEAD
    assert "level IV blue" not in str(fault) and "蓝色，IV级" not in str(fault)
    assert "the model alone: below every model threshold" in fault[1]["en"]
    assert "仅模型：未达模型任何阈值" in fault[1]["zh"]
    # the model's own sentences follow its probability
    rain = {"en": "Rain.", "zh": "降雨。"}
    got = rw.build_warnings(
        levels, ctx, {"DZ1": [DEAD]}, evidence=ev, model_explanations={"DZ1": [rain]}
    )
    assert list(got.loc[got["unit_id"] == "DZ1", "reasons"].iloc[0])[1:] == [fault[1], rain]
    # the model set the orange: its probability first, as before
    assert out.at["DZ2", "reasons"][0]["en"].startswith("Model probability 60.0%")
    # the review page: the fault's level line first, then the stored reasons
    row = out.loc["DZ1"].to_dict()
    for lang, word in (("en", "sensor fault"), ("zh", "传感器异常")):
        lines = views.warning_reason_lines(row, lang)
        assert word in lines[0] and "SB00014" in lines[1]


def test_review_header_says_horizon_when_the_lead_time_is_the_horizon() -> None:
    case = {
        "lead_time_hours": 720.0,
        "valid_from": "2024-01-01T00:00Z",
        "valid_to": "2024-01-31T00:00Z",
    }
    # in days, as the case's reason says it ("over the next 30 days"): the header read
    # "horizon 720 h" above that reason (review of 2026-12-06)
    assert views.lead_words(case, "en") == "horizon 30 days"
    assert views.lead_words(case, "zh") == "预测时长 30 天"
    # an inverse-velocity failure forecast inside a 24 h warning is a lead time
    slope = {**case, "lead_time_hours": 9.0, "valid_to": "2024-01-02T00:00Z"}
    assert views.lead_words(slope, "en") == "lead time 9 h"
    assert views.lead_words(slope, "zh") == "提前量 9 小时"
    day = {**case, "lead_time_hours": 24.0, "valid_to": "2024-01-02T00:00Z"}
    assert views.lead_words(day, "en") == "horizon 24 h"  # one day: as the reasons say it
    assert views.lead_words({**slope, "lead_time_hours": 48.0}, "zh") == "提前量 2 天"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_review_header_and_reason_word_the_horizon_alike(lang: str) -> None:
    """The header's horizon and the first reason's, for every domain's horizon."""
    from riskwarn import domains
    from riskwarn.warnings import horizon_words, probability_reason

    for d in domains.DOMAINS.values():
        h = float(d.horizon_hours)
        w = {"lead_time_hours": h, "valid_from": "2024-01-01T00:00Z"}
        w["valid_to"] = (pd.Timestamp(w["valid_from"]) + pd.Timedelta(hours=h)).isoformat()
        words = horizon_words(h)[lang]
        assert words in probability_reason(0.5, h, 1)[lang]
        assert views.lead_words(w, lang).endswith(" " + words), (d.name, words)


@pytest.mark.parametrize(
    ("lang", "said"), [("en", "over the next 2 days (the model alone"), ("zh", "未来 2 天内")]
)
def test_the_model_alone_line_words_whole_days_in_days(lang: str, said: str) -> None:
    w = {
        "level": "orange",
        "probability": 0.2,
        "lead_time_hours": 48.0,
        "reasons": [
            {"en": "Model probability 20.0% over the next 2 days (level IV blue).", "zh": "x"},
        ],
        "evidence": {"model_level": "blue", "model_threshold": 0.1, "rules_level": "orange"},
    }
    lines = views.warning_reason_lines(w, lang)
    assert said in lines[1], lines


def test_warnings_that_ended_before_the_week_shown_are_not_active_in_it() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "warning_id": ["g1", "g2", "i1"],
            "domain": ["geohazard_hourly", "geohazard_hourly", "incidents"],
            "valid_to": ["2023-09-01T16:00Z", "2023-09-01T15:00Z", "2024-01-08T00:00Z"],
        }
    )
    active, stale = views.split_stale(frame, pd.Timestamp("2024-01-01T00:00Z"))
    assert list(active["warning_id"]) == ["i1"] and len(stale) == 2
    en = views.stale_words(stale, "en", "Asia/Shanghai")
    zh = views.stale_words(stale, "zh", "Asia/Shanghai")
    assert en is not None and "Not counted this week" in en and "2 " in en and "2023" in en
    assert zh is not None and "未计入本周" in zh and "2 条" in zh and "2023" in zh
    assert views.stale_words(stale.iloc[0:0], "en", "Asia/Shanghai") is None


def test_is_it_rising_axis_fits_the_weeks_and_keeps_the_forecast_inside() -> None:
    import pandas as pd

    observed = pd.DataFrame(
        {
            "week_start": pd.date_range("2023-11-06", periods=8, freq="7D", tz="UTC"),
            "week_end": pd.date_range("2023-11-13", periods=8, freq="7D", tz="UTC"),
            "units": [301, 312, 295, 320, 330, 290, 305, 318],
            "events": [400] * 8,
        }
    )
    for lang, words in (("en", "The y axis starts at"), ("zh", "纵轴从")):
        series = views.observed_series(observed, 322.4, lang, "Asia/Shanghai")
        spec = views.observed_chart(series, lang, "cells", "#4c78a8").to_dict()
        y = spec["layer"][0]["encoding"]["y"]
        low, high = y["scale"]["domain"]
        assert 250 <= low < 290 and 330 < high <= 360, (low, high)  # not 0..330
        # said in a caption under the chart: in the axis title it was cut at 390 px
        # (review revA, tests/test_observed_axis.py)
        assert words in (views.observed_axis_note(series, lang) or "")
        assert y["title"] == "cells"
        assert spec["layer"][0]["encoding"]["x"]["scale"]["padding"] >= 1
    # a few events a week: from 0, and the title does not say otherwise
    few = observed.assign(units=[2, 5, 0, 3, 4, 1, 6, 2])
    spec = views.observed_chart(
        views.observed_series(few, 3.0, "en", "Asia/Shanghai"), "en", "cells", "#4c78a8"
    ).to_dict()
    y = spec["layer"][0]["encoding"]["y"]
    assert y["scale"]["domain"][0] == 0 and y["title"] == "cells"
