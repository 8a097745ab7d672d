"""The overview's "is it rising" charts at 390 px (review revA, 2026-12-06): the
incidents' y-axis title "cells (axis from 260)" was cut, and the civil disputes' 0-6 axis
showed the ticks "0" and "6" alone. The axis title is the unit alone, where the axis
starts is said in a caption under the chart, and the ticks are 3 to 5 whole numbers."""

from __future__ import annotations

import pandas as pd

from dashboard import views


def _series(units: list[int], expected: float, lang: str = "en") -> pd.DataFrame:
    n = len(units)
    observed = pd.DataFrame(
        {
            "week_start": pd.date_range("2023-11-06", periods=n, freq="7D", tz="UTC"),
            "week_end": pd.date_range("2023-11-13", periods=n, freq="7D", tz="UTC"),
            "units": units,
            "events": [10] * n,
        }
    )
    return views.observed_series(observed, expected, lang, "Asia/Shanghai")


def test_a_few_disputes_a_week_get_whole_number_ticks_and_a_short_title() -> None:
    series = _series([2, 5, 0, 3, 4, 1, 6, 2], 3.0)
    y = views.observed_chart(series, "en", "cells", "#4c78a8").to_dict()["layer"][0]["encoding"][
        "y"
    ]
    ticks = y["axis"]["values"]
    assert 3 <= len(ticks) <= 5 and ticks[0] == 0 and ticks[-1] >= 6, ticks
    assert all(isinstance(v, int) for v in ticks)
    assert y["scale"]["domain"] == [0, ticks[-1]] and y["title"] == "cells"
    assert views.observed_axis_note(series, "en") is None


def test_an_axis_not_from_zero_is_said_under_the_chart_not_in_its_title() -> None:
    for lang, said in (
        ("en", "The y axis starts at 280, not 0."),
        ("zh", "纵轴从 280 起，不从 0 起。"),
    ):
        series = _series([301, 312, 295, 320, 330, 290, 305, 318], 322.4, lang)
        spec = views.observed_chart(series, lang, "cells", "#4c78a8").to_dict()
        y = spec["layer"][0]["encoding"]["y"]
        assert y["title"] == "cells"  # short: "cells (axis from 26" was cut at 390 px
        low, _ = y["scale"]["domain"]
        assert y["axis"]["values"][0] == low == 280 and len(y["axis"]["values"]) >= 3
        assert views.observed_axis_note(series, lang) == said
