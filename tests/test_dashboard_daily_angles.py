"""The geohazard site detail's tangent-angle chart (review revA, 2026-12-06) drew every
hourly angle as a line: three months of values swinging between 0 and 80 degrees from
hour to hour filled it as a solid blue block. It draws one value per sensor and local
day now (the other charts' step): the day's median, and its highest hour apart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import sensors


def test_hourly_angles_become_one_median_and_one_maximum_per_sensor_and_local_day() -> None:
    at = pd.date_range("2026-06-01 16:00", periods=72, freq="h", tz="UTC")  # 3 Shanghai days
    swing = np.where(np.arange(72) % 2 == 0, 5.0, 80.0)
    angles = pd.concat(
        [
            pd.DataFrame({"sensor_id": "S1", "at": at, "tangent_angle_deg": swing}),
            pd.DataFrame({"sensor_id": "S2", "at": at[:24], "tangent_angle_deg": 40.0}),
        ],
        ignore_index=True,
    )
    days = sensors.daily_angles(angles, "Asia/Shanghai")
    assert list(days.columns) == ["sensor_id", "day_local", "stat", "tangent_angle_deg"]
    wide = days.pivot_table(
        index=["sensor_id", "day_local"], columns="stat", values="tangent_angle_deg"
    ).reset_index()
    s1 = wide[wide["sensor_id"] == "S1"]
    assert list(s1["day_local"].dt.strftime("%Y-%m-%d")) == [
        "2026-06-02",
        "2026-06-03",
        "2026-06-04",
    ]
    assert (s1["median"] == 42.5).all() and (s1["max"] == 80.0).all()
    s2 = wide[wide["sensor_id"] == "S2"]
    assert s2[["median", "max"]].to_numpy().tolist() == [[40.0, 40.0]]
    assert len(days) == 2 * (3 + 1)  # one row per sensor, day and statistic: no hourly row
    assert sensors.daily_angles(angles.iloc[:0], "Asia/Shanghai").empty
