"""Three Gorges points served by the product (shared by bench/bench_threegorges.py and
tests/test_geohazard_site_models.py): a riskwarn home holding the monitoring points as
monitored sites, the rain gauges and a champion ``geohazard_hourly``; the small simulated
city's site model trained as the tests train it; the hourly nowcast run at given origins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ("none", "blue", "yellow", "orange", "red")
TRAINED_UNTIL = pd.Timestamp("2023-07-16T00:00Z")  # the small city's training cut-off


POINT_LON = {"Baishuihe": 110.535, "Bazimen": 110.76}  # approximate; only picks the gauge
GAUGES = pd.DataFrame(
    {"record_id": ["shazhenxi", "guizhou"], "lon": [110.53, 110.70], "lat": [30.97, 30.97]}
)


def threegorges_home(
    home: Path,
    readings: pd.DataFrame,
    rain: pd.DataFrame,
    landslide_of: dict[str, str],
    registry: str,
    version: str | None = None,
) -> Any:
    """A riskwarn home whose lake holds the points as monitored sites (one displacement
    sensor each) and the rain gauges, with ``version`` (default: ``registry``'s champion) of
    ``geohazard_hourly`` promoted in its store. Returns (settings, store)."""
    from models.registry import CHAMPION, configure, model_name, promote
    from riskwarn import lake
    from riskwarn.settings import Settings
    from riskwarn.store import Store

    settings = Settings(home=home, mlflow_tracking_uri=registry)
    home.mkdir(parents=True, exist_ok=True)
    points = sorted(readings["sensor_id"].astype(str).unique())
    lon = [POINT_LON.get(landslide_of.get(p, ""), 110.6) for p in points]
    sites = pd.DataFrame(
        {
            "source": "threegorges",
            "record_id": points,
            "name": points,
            "hazard_type": "landslide",
            "lon": lon,
            "lat": 30.98,
            "admin_code": None,
            "slope_class": pd.array([pd.NA] * len(points), dtype="Int64"),
            "people_threatened": pd.array([pd.NA] * len(points), dtype="Int64"),
            "volume_m3": float("nan"),
        }
    )
    installed = pd.Timestamp("2006-01-01", tz="UTC")
    sensors = pd.concat(
        [
            pd.DataFrame(
                {"record_id": points, "site_id": points, "sensor_type": "gnss", "lon": lon}
            ).assign(lat=30.98),
            GAUGES.assign(site_id=None, sensor_type="rain_gauge"),
        ],
        ignore_index=True,
    ).assign(source="threegorges", installed_at=installed)
    lake.upsert(settings.lake_dir, "hazard_sites", "threegorges", sites, batch_id="sites")
    lake.upsert(settings.lake_dir, "sensors", "threegorges", sensors, batch_id="sensors")
    for frame in (readings, rain):
        src = str(frame["source"].iloc[0])
        lake.upsert(settings.lake_dir, "sensor_readings", src, frame, batch_id=src)
    store = Store.from_settings(settings)
    store.upgrade()
    client = configure(registry)
    if version is None:  # the registry's champion
        version = client.get_model_version_by_alias(
            model_name("geohazard_hourly"), CHAMPION
        ).version
    promote(
        client, "geohazard_hourly", version, store=store, reason="Three Gorges bench", force=True
    )
    return settings, store


def train_small_site_model(root: Path) -> str:
    """The small simulated city's ``geohazard_hourly`` trained and made champion as
    tests/test_geohazard_site_models.py does (seed 3; readings before 2023-07-16)."""
    from datetime import UTC, datetime

    from models.geohazard_sites import site_config, train_site_domain
    from models.registry import configure, promote
    from riskwarn import lake
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.settings import Settings
    from riskwarn.simulate import simulate
    from riskwarn.store import Store

    as_of = TRAINED_UNTIL
    simulate(root / "sim", "small", seed=3)
    settings = Settings(home=root / "home")
    for name in ("hazard_sites", "sensors", "hazard_events", "sensor_readings"):
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{name}.yaml")
        files = sorted(f for f in (root / "sim" / "extracts").rglob(f"{name}.*") if f.is_file())
        ingest_files(mapping, files, settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    readings = lake.read_table(settings.lake_dir, "sensor_readings")
    events = lake.read_table(settings.lake_dir, "hazard_events")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = configure(uri)
    store = Store(f"sqlite:///{root / 'training-serving.db'}")
    store.upgrade()
    report = train_site_domain(
        readings.loc[readings["observed_at"] < as_of],
        lake.read_table(settings.lake_dir, "sensors"),
        lake.read_table(settings.lake_dir, "hazard_sites"),
        events.loc[events["occurred_at"] < as_of],
        client,
        domain="geohazard_hourly",
        tz="Asia/Shanghai",
        config=site_config("geohazard_hourly", eval_days=4, refit_every_days=2),
        n_boot=100,
        artifact_location=(root / "artifacts").as_uri(),
        store=store,
    )
    assert report.version is not None
    promote(client, "geohazard_hourly", report.version, store=store, reason="bench", force=True)
    store.close()
    return uri


def month_origins(readings: pd.DataFrame, tz: str, start: str, end: str) -> list[pd.Timestamp]:
    """The first whole UTC hour after each month's reading within [start, end)."""
    at = pd.DatetimeIndex(readings["observed_at"].unique()).sort_values()
    lo, hi = pd.Timestamp(start, tz=tz), pd.Timestamp(end, tz=tz)
    return [(t + pd.Timedelta(minutes=1)).tz_convert("UTC").ceil("h") for t in at if lo <= t < hi]


def served_levels(settings: Any, store: Any, origins: list[pd.Timestamp]) -> pd.DataFrame:
    """The nowcast's published level, probability and reasons per site at each origin
    (2007-2012: before the data end of any site model trained on the simulated or real
    sites, so served with ``allow_in_sample``: these points are not among its sites)."""
    from riskwarn.nowcast import nowcast_geohazard

    rows = []
    for origin in origins:
        nowcast_geohazard(settings, origin, store=store, allow_in_sample=True)
        f = store.published_forecasts("geohazard_hourly").set_index("unit_id")
        w = store.warnings(domain="geohazard_hourly")
        w = w.loc[w["origin"] == origin].set_index("unit_id")
        for unit, prob in f["probability"].items():
            reasons = w.loc[unit, "reasons"] if unit in w.index else []
            rows.append(
                {
                    "point": str(unit),
                    "origin": origin,
                    "level_rank": LEVELS.index(w.loc[unit, "level"]) if unit in w.index else 0,
                    "probability": None if prob is None or pd.isna(prob) else float(prob),
                    "reasons": [r if isinstance(r, str) else r["en"] for r in reasons],
                }
            )
    return pd.DataFrame(rows)


def read_threegorges(data: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], str]:
    """(displacement readings, rain readings, landslide of each point, time zone) read
    through their source mappings from ``data`` (../shared/data)."""
    from riskwarn.commands.backtest import read_source

    raw = data / "threegorges" / "displacement_monthly.csv"
    readings, tz = read_source(ROOT / "configs/sources/threegorges_displacement.yaml", raw)
    rain, _ = read_source(
        ROOT / "configs/sources/threegorges_rainfall.yaml",
        data / "threegorges" / "rainfall_daily.csv",
    )
    meta = pd.read_csv(raw, usecols=["landslide", "point"]).drop_duplicates()
    return readings, rain, dict(zip(meta["point"], meta["landslide"], strict=True)), tz
