"""The warning page's "history of this place" for hourly site warnings (review r92 S2):
hours of one day kept apart, and a sensor-rules-only place (no probability) not plotted
as an axis of 0%."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.views import place_history_series


def _hist(probability):
    origins = pd.to_datetime(
        ["2023-07-01T03:00Z", "2023-07-01T04:00Z", "2023-07-01T05:00Z"], utc=True
    )
    return pd.DataFrame({"origin": origins, "probability": probability, "score": [1.0, 0.5, 1.0]})


def test_hourly_origins_keep_their_hours_and_sensor_only_plots_the_score():
    chart, kind = place_history_series(_hist([np.nan, np.nan, np.nan]), "en", "Asia/Shanghai")
    assert kind == "score"
    assert chart["when"].is_unique and len(chart) == 3  # 11:00, 12:00, 13:00 local
    assert chart["when"].str.contains("11:00").any()
    assert chart["value"].tolist() == [1.0, 0.5, 1.0]
    chart, kind = place_history_series(_hist([0.002, np.nan, 0.004]), "zh", "Asia/Shanghai")
    assert kind == "probability" and chart["value"].tolist() == [0.002, 0.004]


def test_daily_origins_are_labelled_by_day():
    hist = pd.DataFrame(
        {
            "origin": pd.to_datetime(["2026-11-20T16:00Z", "2026-11-27T16:00Z"], utc=True),
            "probability": [0.1, 0.2],
            "score": [0.1, 0.2],
        }
    )
    chart, kind = place_history_series(hist, "en", "Asia/Shanghai")
    assert kind == "probability" and not chart["when"].str.contains(":").any()
