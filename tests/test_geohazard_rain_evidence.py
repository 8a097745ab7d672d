"""Rain on the geohazard path: the nowcast's evidence, the site model's features and the
dashboard's site page read a site's rain from the same gauge (its own, else the nearest:
:func:`features.geohazard.site_gauges`) through one function
(:func:`features.geohazard.site_rain`), and say "unknown" where there is no gauge or no
reading, never 0 mm.

Before, the nowcast's evidence read only gauges whose site id was the site's. The
simulation's gauges (as the demo city's) carry no site id, so every warning said 0.0 mm
of rain in the last 24 h while the model's own feature, from the nearest gauge, saw
tens of millimetres (reviewer finding D2).
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskwarn import lake
from riskwarn.settings import Settings
from tests.conftest import TEST_PSEUDONYM_KEY

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = pd.Timestamp("2023-07-12T00:00Z")  # the day after the wettest day of the run


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small simulated city: 6 monitored sites, 3 rain gauges without site id."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.simulate import simulate

    root = tmp_path_factory.mktemp("rain")
    sim = root / "sim"
    simulate(
        sim, "small", seed=7, start=dt.date(2023, 5, 1), days=120, n_incidents=500,
        n_disputes=100, n_sites=6, n_rain_gauges=3, sensor_offset_days=40, sensor_days=60,
        township_scale=0.2,
    )  # fmt: skip
    settings = Settings(home=root / "home", pseudonym_key=TEST_PSEUDONYM_KEY)
    for table in ("hazard_sites", "sensors", "sensor_readings", "hazard_events"):
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{table}.yaml")
        files = sorted(p for p in (sim / "extracts").rglob(f"{table}.*") if p.is_file())
        ingest_files(mapping, files, settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    return settings


def _tables(city: Settings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from models.geohazard_sites import READING_COLUMNS

    return (
        lake.read_table(city.lake_dir, "sensor_readings", columns=list(READING_COLUMNS)),
        lake.read_table(city.lake_dir, "sensors"),
        lake.read_table(city.lake_dir, "hazard_sites"),
        lake.read_table(city.lake_dir, "hazard_events"),
    )


def _model_rain(city: Settings, origin: pd.Timestamp) -> pd.Series:
    """The hourly site model's ``rain_24h_mm`` per site at ``origin`` (training's builder)."""
    from models.geohazard_sites import build_site_table, site_config

    readings, sensors, sites, events = _tables(city)
    config = site_config("geohazard_hourly", tz=city.display_tz)
    table = build_site_table(readings, sensors, sites, events, [origin], config)
    return table.set_index("site_id")["rain_24h_mm"].astype(float)


def _nearest_gauge_sum(city: Settings, site: str, origin: pd.Timestamp) -> float:
    """By hand: the 24 h rain before ``origin`` of the rain gauge nearest to ``site``."""
    readings, sensors, sites, _ = _tables(city)
    gauges = sensors.loc[sensors["sensor_type"] == "rain_gauge"]
    s = sites.set_index("record_id").loc[site]
    cos = np.cos(np.deg2rad(sites["lat"].mean()))
    d2 = ((gauges["lon"] - s["lon"]) * cos) ** 2 + (gauges["lat"] - s["lat"]) ** 2
    gauge = gauges["record_id"].iloc[int(np.argmin(d2.to_numpy()))]
    r = readings.loc[(readings["sensor_id"] == gauge) & (readings["quality"] != "missing")]
    end = r["observed_at"] + pd.to_timedelta(r["interval_s"].astype(float), unit="s")
    inside = (end > origin - pd.Timedelta(hours=24)) & (end <= origin)
    return float(r.loc[inside, "value"].sum())


def test_nowcast_rain_evidence_is_the_models_nearest_gauge_rain(city: Settings) -> None:
    from riskwarn.nowcast import nowcast_geohazard
    from riskwarn.store import Store

    _, sensors, sites, _ = _tables(city)
    gauges = sensors.loc[sensors["sensor_type"] == "rain_gauge"]
    assert len(gauges) == 3 and gauges["site_id"].isna().all()  # as in the simulation
    model = _model_rain(city, ORIGIN)
    assert model.notna().all() and (model > 1.0).any()
    for site in sites["record_id"]:
        assert model[site] == pytest.approx(_nearest_gauge_sum(city, site, ORIGIN), abs=0.01)
    store = Store.from_settings(city)
    store.upgrade()
    nowcast_geohazard(city, ORIGIN, store=store)
    w = store.warnings(domain="geohazard_hourly").set_index("unit_id")
    assert len(w) >= 1
    for site, ev in w["evidence"].items():
        # the evidence is the model's own input (rounded to 0.1 mm), never a 0.0 stand-in
        assert ev["rain_24h_mm"] == pytest.approx(model[site], abs=0.05), site
    assert any(ev["rain_24h_mm"] > 1.0 for ev in w["evidence"])


def test_rain_evidence_of_every_site_and_nothing_after_the_origin(city: Settings) -> None:
    from riskwarn import serving_frames as sf
    from riskwarn.nowcast import rain_evidence

    readings, sensors, sites, _ = _tables(city)
    model = _model_rain(city, ORIGIN)
    served = sf.read_recent_readings(city, ORIGIN, 35)
    got = rain_evidence(sites, sensors, served, ORIGIN)
    assert got == {s: round(float(v), 1) for s, v in model.items()}
    # readings of the whole run, after the origin too (and one that starts 5 minutes
    # before it but ends 5 minutes after it): the evidence does not move
    late = (
        readings.loc[readings["quantity"] == "rain_mm"]
        .iloc[:1]
        .assign(observed_at=ORIGIN - pd.Timedelta(minutes=5), value=500.0, interval_s=600)
    )
    assert rain_evidence(sites, sensors, pd.concat([readings, late]), ORIGIN) == got


def test_no_gauge_or_no_reading_is_unknown_never_zero(city: Settings) -> None:
    from riskwarn import serving_frames as sf
    from riskwarn.nowcast import rain_evidence

    _, sensors, sites, _ = _tables(city)
    served = sf.read_recent_readings(city, ORIGIN, 35)
    no_gauges = sensors.loc[sensors["sensor_type"] != "rain_gauge"]
    assert rain_evidence(sites, no_gauges, served, ORIGIN) == dict.fromkeys(
        sites["record_id"], None
    )
    # gauges that went silent two days before the origin: unknown, not "no rain"
    silent = served.loc[
        (served["quantity"] != "rain_mm") | (served["observed_at"] < ORIGIN - pd.Timedelta(days=2))
    ]
    assert rain_evidence(sites, sensors, silent, ORIGIN) == dict.fromkeys(sites["record_id"], None)


def test_site_page_reads_the_nearest_gauge(city: Settings) -> None:
    """The dashboard's site page lists, besides the site's own sensors, the gauge the model
    and the evidence read (the simulation's gauges have no site id: before, none)."""
    pytest.importorskip("streamlit")
    from dashboard import lake_reads

    _, sensors, sites, _ = _tables(city)
    gauges = sensors.loc[sensors["sensor_type"] == "rain_gauge"].set_index("record_id")
    cos = np.cos(np.deg2rad(sites["lat"].mean()))
    for site in sites.itertuples():
        d2 = ((gauges["lon"] - site.lon) * cos) ** 2 + (gauges["lat"] - site.lat) ** 2
        listed = lake_reads.site_sensors(str(city.lake_dir), site.record_id)
        assert list(listed.loc[listed["sensor_type"] == "rain_gauge", "record_id"]) == [d2.idxmin()]
        own = set(sensors.loc[sensors["site_id"] == site.record_id, "record_id"])
        assert own <= set(listed["record_id"])
