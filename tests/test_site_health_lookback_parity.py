"""Train and serve through one look-back, for every column of the site table (not only
the model inputs of tests/test_site_lookback_parity.py): the sensor-health columns
(``drift_flag``, ``spikes_removed_7d``, ``share_missing_*``, ``dead_sensor_flag``) at an
origin are the same from every reading (training) and from the ``serving_lookback_days``
read before it (serving: ``read_recent_readings``, the nowcast and the stream).

Review finding (h-drift): the drift flag of a reading tests the median of the
``drift_recent_days`` (7) before it against the ``drift_reference_days`` (30) before
those, and the origin takes the flag of a sensor's last reading up to 7 days old: it
reads readings up to 7 + 30 + 7 = 44 days back, and serving read 35. A piezometer read
every 3 days whose pressure rose 5 kPa was flagged in training (10 readings in the
reference window) and not when served (9 of them in the 35 days: fewer than
``drift_min_readings``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.frames import site_frame
from models.geohazard_sites import HISTORY_DEPENDENT
from riskwarn import domains
from riskwarn.serving_frames import serving_lookback_days, site_model_frame
from riskwarn.settings import Settings

TZ = "Asia/Shanghai"
START = pd.Timestamp("2024-05-01T00:10Z")
SHIFT_DAY = 60  # the piezometer's pressure rises 5 kPa from this day on


def _city() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Site ``s1``: piezometer p1 read every 3 days (100 kPa, noise 0.2, +5 kPa from day
    60) and an hourly GNSS; site ``s2``: an hourly water level stepping 1 m on day 60."""
    rng = np.random.default_rng(7)
    parts = []
    for sid, quantity, every_h, base, step in (
        ("p1", "pore_pressure_kpa", 72, 100.0, 5.0),
        ("w2", "water_level_m", 1, 20.0, 1.0),
        ("g1", "displacement_mm", 1, 0.0, 0.0),
    ):
        t_idx = pd.date_range(START, START + pd.Timedelta(days=80), freq=f"{every_h}h")
        t = np.asarray((t_idx - START).total_seconds() / 86400.0)
        noise = rng.normal(0, 0.2 if step else 0.05, len(t))
        value = base + np.where(t >= SHIFT_DAY, step, 0.0) + noise
        if quantity == "displacement_mm":
            value = 0.5 * t + noise
        parts.append(
            pd.DataFrame(
                {
                    "sensor_id": sid,
                    "observed_at": t_idx,
                    "value": value,
                    "quantity": quantity,
                    "interval_s": 0,
                    "quality": "good",
                }
            )
        )
    readings = pd.concat(parts, ignore_index=True)
    readings["interval_s"] = readings["interval_s"].astype("Int64")
    sites = pd.DataFrame(
        {
            "source": "test",
            "record_id": ["s1", "s2"],
            "name": ["A", "B"],
            "hazard_type": "landslide",
            "lon": [116.1, 116.2],
            "lat": 30.8,
            "admin_code": None,
            "slope_class": pd.array([4, 3], dtype="Int64"),
            "people_threatened": pd.array([50, 20], dtype="Int64"),
            "volume_m3": 1e4,
        }
    )
    sensors = pd.DataFrame(
        {
            "source": "test",
            "record_id": ["p1", "w2", "g1"],
            "site_id": ["s1", "s2", "s1"],
            "sensor_type": ["piezometer", "water_level", "gnss"],
            "lon": [116.1, 116.2, 116.1],
            "lat": 30.8,
            "installed_at": pd.Timestamp("2023-01-01", tz="UTC"),
        }
    )
    return sites, sensors, readings


@pytest.mark.parametrize(
    ("domain", "origins"),
    [
        # local midnights (16:00 UTC) from day 55 to day 79: before, across and after the
        # piezometer's rise reaching its last reading's recent window
        ("geohazard", pd.date_range("2024-06-24T16:00Z", "2024-07-18T16:00Z", freq="1D")),
        ("geohazard_hourly", pd.date_range("2024-07-02T00:00Z", "2024-07-10T00:00Z", freq="6h")),
    ],
)
def test_every_column_of_the_site_table_is_the_same_from_the_serving_read(
    domain: str, origins: pd.DatetimeIndex
) -> None:
    """Every column but the history-dependent ones (left out of the model because they
    depend on how far back the record goes), at every origin: training's frame (every
    reading) equals serving's (the default ``serving_lookback_days`` before the origin).
    Fails on the old code: ``drift_flag`` of ``s1`` 1 in training, 0 served, from the
    origin after the piezometer's second raised reading (the 35-day read held 9 of its
    10 reference readings)."""
    sites, sensors, readings = _city()
    lookback = pd.Timedelta(days=serving_lookback_days(Settings()))
    no_events = pd.DataFrame(
        {"occurred_at": pd.Series([], dtype="datetime64[ns, UTC]"), "site_id": []}
    )
    dom = domains.get(domain)
    train = site_frame(dom, readings, sensors, sites, no_events, origins, TZ, with_rules=True)
    cols = [
        c
        for c in train.columns
        if c not in {"origin", "site_id", *HISTORY_DEPENDENT} and not c.startswith("label_")
    ]
    assert {"drift_flag", "spikes_removed_7d", "share_missing_168h"} <= set(cols)
    # the piezometer's rise is flagged (and only after it)
    s1 = train.loc[train["site_id"] == "s1"].set_index("origin")["drift_flag"]
    assert s1.max() == 1.0 and s1.min() == 0.0, s1
    diffs: dict[str, list[str]] = {}
    for o in origins:
        window = readings.loc[
            (readings["observed_at"] >= o - lookback) & (readings["observed_at"] < o)
        ]
        served = site_model_frame(sites, sensors, window, o, domain, TZ).set_index("unit_id")
        rows = train.loc[train["origin"] == o].set_index("site_id")
        assert set(rows.index) == set(served.index)
        for c in cols:
            a = rows[c].astype(float)
            b = served[c].reindex(rows.index).astype(float)
            same = np.isclose(a, b, rtol=1e-6, atol=0.0, equal_nan=True)
            for site in rows.index[~same]:
                diffs.setdefault(c, []).append(f"{o} {site}: {a[site]} vs {b[site]}")
    assert not diffs, f"training and serving differ: { {c: v[:3] for c, v in diffs.items()} }"
