"""The site model's reading-spacing guard (``riskwarn.nowcast.serve_site_model``), pure.

A displacement sensor read far less often than the model's training sensors (e.g. a
monthly survey point under the hourly model) is left out of the model; a site left with
no such sensor gets no model probability, and its reasons say why. The Three Gorges
points served end to end: tests/test_geohazard_site_models.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn.nowcast import serve_site_model
from riskwarn.sensor_rules import MODEL_SPACING_FACTOR, spacing_hours_at, spacing_text

ORIGIN = pd.Timestamp("2024-07-10T12:00Z")


def _lake() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """a: a 10-minute GNSS; b: a 10-minute GNSS and a monthly survey point; c: monthly only;
    d: a 6-hourly crack meter; e: no displacement sensor."""
    sites = pd.DataFrame({"record_id": list("abcde")})
    sensors = pd.DataFrame(
        {
            "record_id": ["ga", "gb", "mb", "mc", "cd"],
            "site_id": list("abbcd"),
            "sensor_type": ["gnss", "gnss", "gnss", "gnss", "crack_meter"],
        }
    )
    ten = pd.date_range(ORIGIN - pd.Timedelta(days=35), ORIGIN, freq="10min", inclusive="left")
    six = pd.date_range(ORIGIN - pd.Timedelta(days=35), ORIGIN, freq="6h", inclusive="left")
    month = pd.DatetimeIndex([ORIGIN - pd.Timedelta(days=33), ORIGIN - pd.Timedelta(days=3)])
    parts = [
        pd.DataFrame({"sensor_id": s, "observed_at": t, "value": np.arange(len(t), dtype=float)})
        for s, t in (("ga", ten), ("gb", ten), ("mb", month), ("mc", month), ("cd", six))
    ]
    readings = pd.concat(parts, ignore_index=True).assign(quantity="displacement_mm")
    readings.loc[readings["sensor_id"] == "cd", "quantity"] = "crack_width_mm"
    return sites, sensors, readings


def test_spacing_is_the_median_gap_between_readings() -> None:
    _, _, readings = _lake()
    at = pd.DatetimeIndex([ORIGIN])
    gaps = spacing_hours_at(readings, at).iloc[0]
    assert gaps["ga"] == 1 / 6 and gaps["cd"] == 6 and gaps["mc"] == 30 * 24
    assert np.isnan(spacing_hours_at(readings.iloc[:1], at).iloc[0, 0])  # one reading: unknown
    # only the window before the origin counts: three days later the first monthly reading
    # (33 days before ORIGIN) has left the 35-day window
    later = spacing_hours_at(readings, pd.DatetimeIndex([ORIGIN + pd.Timedelta(days=3)]))
    assert np.isnan(later.iloc[0]["mc"])
    assert spacing_text(30 * 24) == ("~30 days", "约 30 天")


def test_monthly_sensor_is_refused_by_the_hourly_model_and_the_reasons_say_so() -> None:
    sites, sensors, readings = _lake()
    out = serve_site_model(None, sites, sensors, readings, ORIGIN, "geohazard_hourly", "UTC")
    out = out.set_index("unit_id")
    assert MODEL_SPACING_FACTOR == 4.0  # hourly model: at most 4 h between readings
    assert out["model_applicable"].to_dict() == {
        "a": True,
        "b": True,  # its 10-minute GNSS is read; the survey point is left out
        "c": False,
        "d": False,  # 6-hourly: beyond 4 h
        "e": True,  # no displacement sensor: rain only, as before
    }
    assert out.loc["c", "spacing_hours"] == 720.0
    (c,) = out.loc["c", "reason_items"]
    assert c["en"].startswith("Model not applicable: sensor mc (readings every ~30 days)")
    assert "sensor rules" in c["en"] and "模型不适用" in c["zh"]
    (b,) = out.loc["b", "reason_items"]
    assert b["en"].startswith("Sensor mb (readings every ~30 days) not used by the model")
    assert out.loc["a", "reason_items"] == [] and out.loc["e", "reason_items"] == []
    assert out["probability"].isna().all()  # no champion here


def test_daily_model_accepts_six_hourly_readings_but_not_monthly() -> None:
    sites, sensors, readings = _lake()
    out = serve_site_model(None, sites, sensors, readings, ORIGIN, "geohazard", "UTC")
    out = out.set_index("unit_id")
    assert out["model_applicable"].to_dict() == {
        "a": True,
        "b": True,
        "c": False,
        "d": True,  # 6 h <= 4 days
        "e": True,
    }
