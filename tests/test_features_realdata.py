"""Features on real data (../shared/data via the mapping files; skipped when absent)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.calendar import local_midnights
from features.cells import active_cells, assign_cells
from features.geohazard import (
    SiteFeatureParams,
    build_citywide_rain_features,
    build_site_features,
    daily_rain_from_readings,
)
from features.incidents import CellFeatureParams, build_cell_features, feature_columns

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "sources"


def _load(shared: Path, mapping: str, file: str) -> pd.DataFrame:
    ingest = pytest.importorskip("riskwarn.ingest")
    batch = ingest.read_and_validate(
        ingest.load_mapping(CONFIGS / f"{mapping}.yaml"),
        shared / file,
        pseudonym_key="test",
        as_of=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return batch.accepted


@pytest.fixture(scope="module")
def chicago(shared_data: Path) -> pd.DataFrame:
    return _load(shared_data, "chicago", "chicago/aggravated_assaults_2010_2017.csv.gz")


def test_chicago_2016_weekly_cell_features(chicago):
    tz = "America/Chicago"
    ev = assign_cells(chicago, "EPSG:32616", 250).dropna(subset=["cell_x", "cell_y"])
    start = pd.Timestamp("2016-01-01", tz=tz).tz_convert("UTC")
    cells = active_cells(ev, start)
    assert 6000 < len(cells) < 7500  # about 6,600 active cells before 2016
    origins = local_midnights("2016-01-01", "2016-12-30", 7, tz)
    f = build_cell_features(
        ev,
        cells,
        origins,
        CellFeatureParams(tz=tz, horizon_days=7, groups=(), holiday_country="US"),
    )
    assert len(f) == len(origins) * len(cells)
    # labels = the assaults of 2016 that fall in active cells, each counted once (weekly windows tile 2016)
    in_2016 = ev[
        (ev["occurred_at"] >= origins[0]) & (ev["occurred_at"] < origins[-1] + pd.Timedelta(days=7))
    ]
    in_active = in_2016.merge(cells, on=["cell_x", "cell_y"])
    assert f["label_count"].sum() == len(in_active)
    # the 365-day count at the first origin equals the 2015 assaults in each cell
    first = f[f["origin"] == origins[0]]
    y2015 = ev[
        (ev["occurred_at"] >= origins[0] - pd.Timedelta(days=365))
        & (ev["occurred_at"] < origins[0])
    ]
    assert first["count_365d"].sum() == len(y2015.merge(cells, on=["cell_x", "cell_y"]))
    feats = f[feature_columns(f)]
    assert np.isfinite(feats.drop(columns=["days_since_last"]).to_numpy()).all()
    # past counts carry signal: cells busy in 2015 see more assaults in 2016
    top = first.nlargest(len(first) // 20, "count_365d")
    nxt = f.groupby(["cell_x", "cell_y"])["label_count"].sum()
    share = nxt.loc[list(zip(top["cell_x"], top["cell_y"], strict=True))].sum() / nxt.sum()
    assert share > 0.15  # 5% of the cells hold well over 5% of next year's assaults


def test_hongkong_citywide_and_cells(shared_data: Path):
    rain = _load(shared_data, "hongkong_rainfall", "hongkong/hko_daily_rainfall_1884_2014.csv")
    slides = _load(shared_data, "hongkong_landslides", "hongkong/landslides_1984_2014.csv")
    tz = "Asia/Hong_Kong"
    daily = daily_rain_from_readings(rain, tz)
    assert daily["date"].min() == pd.Timestamp("1884-03-01")
    dates = pd.date_range("2008-01-01", "2008-12-31")
    f = build_citywide_rain_features(daily, slides, dates)
    assert len(f) == 366
    day = f.set_index("date").loc[
        "2008-06-07"
    ]  # the June 2008 rainstorm: 300 mm, hundreds of slides
    assert day["rain_day_mm"] > 250 and day["rain_day_pct_rank"] > 0.99 and day["label_major"] == 1
    assert day["caine_exceedance"] > 1 and day["guzzetti_exceedance"] > 1
    wet = f[f["rain_day_mm"] > 50]["label_any"].mean()
    dry = f[f["rain_day_mm"] == 0]["label_any"].mean()
    assert wet > 2 * dry
    ev = assign_cells(slides, "EPSG:2326", 1000).dropna(subset=["cell_x", "cell_y"])
    start = pd.Timestamp("2008-01-01", tz=tz).tz_convert("UTC")
    cells = active_cells(ev, start)
    origins = local_midnights("2008-06-01", "2008-06-30", 1, tz)
    cf = build_cell_features(
        ev, cells, origins, CellFeatureParams(tz=tz, horizon_days=1, groups=())
    )
    assert len(cf) == 30 * len(cells)
    assert cf.loc[cf["origin"] == origins[6], "label_count"].sum() > 100  # 7 June 2008


def test_threegorges_displacement_features(shared_data: Path):
    disp = _load(shared_data, "threegorges_displacement", "threegorges/displacement_monthly.csv")
    rain = _load(shared_data, "threegorges_rainfall", "threegorges/rainfall_daily.csv")
    points = pd.read_csv(
        shared_data / "threegorges" / "displacement_monthly.csv", usecols=["landslide", "point"]
    )
    points = points.drop_duplicates()
    stations = rain["sensor_id"].unique().tolist()
    assert sorted(stations) == ["guizhou", "shazhenxi"]
    sensors = pd.concat(
        [
            pd.DataFrame(
                {
                    "record_id": points["point"],
                    "site_id": points["landslide"],
                    "sensor_type": "gnss",
                    "lon": np.nan,
                    "lat": np.nan,
                }
            ),
            pd.DataFrame(
                {
                    "record_id": ["shazhenxi", "guizhou"],
                    "site_id": ["Baishuihe", "Bazimen"],
                    "sensor_type": "rain_gauge",
                    "lon": [110.53, 110.75],
                    "lat": [30.99, 30.97],
                }
            ),
        ],
        ignore_index=True,
    )
    sites = pd.DataFrame(
        {
            "record_id": ["Baishuihe", "Bazimen"],
            "hazard_type": "landslide",
            "lon": [110.53, 110.75],
            "lat": [30.99, 30.97],
            "slope_class": [3, 3],
            "people_threatened": [np.nan, np.nan],
        }
    )
    no_events = pd.DataFrame(
        {"occurred_at": pd.DatetimeIndex([], tz="UTC"), "site_id": pd.Series([], dtype=str)}
    )
    tz = "Asia/Shanghai"
    origins = local_midnights("2008-01-01", "2012-12-01", 7, tz)
    readings = pd.concat([disp, rain], ignore_index=True)
    f = build_site_features(
        readings,
        sensors,
        sites,
        no_events,
        origins,
        # monthly surveys: a value rests on this month's reading and last month's, so the
        # kinematics look back two months and a half (the hourly city's default is 35 days,
        # serving's read; a city with monthly surveys configures both longer)
        SiteFeatureParams(
            step_hours=24,
            tz=tz,
            velocity_window_days=25,
            dead_after_hours=24 * 40,
            kinematics_lookback_days=75,
        ),
    )
    assert len(f) == 2 * len(origins)
    for col in ("velocity_mm_per_day", "steady_velocity_mm_per_day", "tangent_angle_deg"):
        assert f[col].notna().all() and np.isfinite(f[col]).all(), col
    # creeping slopes: mean creep of a few mm/day at most, and rain is seen at both sites
    assert f["steady_velocity_mm_per_day"].between(0, 5).all()
    assert (f.groupby("site_id")["rain_15d_mm"].max() > 50).all()
    assert f["label_any"].sum() == 0
