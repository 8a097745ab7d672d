"""Scoring with the MLflow champion: idempotent runs, loud failure, nowcast, exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.registry import ChampionUnavailable
from riskwarn import lake
from riskwarn.nowcast import nowcast_geohazard
from riskwarn.pipeline import publish_exports
from riskwarn.scoring import score_domain
from riskwarn.serving_frames import cell_scoring_frame
from riskwarn.settings import Settings
from riskwarn.store import Store

# the transparent champion and its lake are shared with scripts/*_check.sh
from scripts.check_champion import ORIGIN, CountModel
from scripts.check_champion import adopt_champion as _adopt_champion
from scripts.check_champion import incidents as _incidents
from scripts.check_champion import register as _register

__all__ = ["ORIGIN", "CountModel", "_adopt_champion", "_incidents", "_register"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> str:
    """One MLflow registry (SQLite + local artefacts) with an incidents champion."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    _register(uri, (root / "artifacts").as_uri(), "incidents", "count_28d")
    return uri


@pytest.fixture
def scored_home(settings: Settings, registry: str):
    settings = settings.model_copy(update={"mlflow_tracking_uri": registry})
    lake.upsert(settings.lake_dir, "incidents", "test", _incidents(), batch_id="b1")
    frame = cell_scoring_frame(settings, "incidents", ORIGIN)
    assert "count_28d" in frame.columns
    store = Store.from_settings(settings)
    store.upgrade()
    _adopt_champion(registry, store, "incidents")
    return settings, store, frame


def _content(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    f = store.published_forecasts("incidents").drop(columns=["created_at"], errors="ignore")
    w = store.warnings(domain="incidents").drop(columns=["created_at", "updated_at"])
    return f.reset_index(drop=True), w.reset_index(drop=True)


def test_rerun_same_origin_leaves_tables_identical(scored_home):
    settings, store, frame = scored_home
    assert len(frame) == 12
    run_id = score_domain(settings, "incidents", ORIGIN, store=store)
    assert run_id == "incidents:20240310T1600Z"
    f1, w1 = _content(store)
    assert len(f1) == 12
    assert f1["rank"].tolist() == list(range(1, 13))
    # busier cells score higher, and some of them are warned
    assert f1["probability"].is_monotonic_decreasing
    assert len(w1) >= 3
    assert set(w1["state"]) == {"new"}
    assert w1["level"].iloc[0] == "red"
    assert all(len(r) >= 2 for r in w1["reasons"])  # probability + evidence sentence
    assert score_domain(settings, "incidents", ORIGIN, store=store) == run_id
    f2, w2 = _content(store)
    pd.testing.assert_frame_equal(f1, f2)
    pd.testing.assert_frame_equal(w1, w2)
    runs = store.runs("incidents")
    assert runs["run_id"].tolist() == [run_id]
    assert runs["status"].tolist() == ["published"]


def test_hysteresis_uses_previous_day(scored_home):
    settings, store, _ = scored_home
    score_domain(settings, "incidents", ORIGIN, store=store)
    day2 = ORIGIN + pd.Timedelta(days=1)
    score_domain(settings, "incidents", day2, store=store)
    w = store.warnings(domain="incidents", published_only=False)
    assert set(pd.to_datetime(w["origin"], utc=True)) == {ORIGIN, day2}
    assert store.published_run("incidents")["run_id"] == "incidents:20240311T1600Z"
    # re-running day 1 afterwards (a backfill) keeps day 2 served and day 1 unchanged
    before = w.loc[pd.to_datetime(w["origin"], utc=True) == ORIGIN, ["warning_id", "level"]]
    score_domain(settings, "incidents", ORIGIN, store=store)
    assert store.published_run("incidents")["run_id"] == "incidents:20240311T1600Z"
    w2 = store.warnings(domain="incidents", published_only=False)
    after = w2.loc[pd.to_datetime(w2["origin"], utc=True) == ORIGIN, ["warning_id", "level"]]
    pd.testing.assert_frame_equal(
        before.sort_values("warning_id").reset_index(drop=True),
        after.sort_values("warning_id").reset_index(drop=True),
    )


def test_missing_champion_fails_loudly_and_keeps_served_run(scored_home, tmp_path, monkeypatch):
    settings, store, _ = scored_home
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    run_id = score_domain(settings, "incidents", ORIGIN, store=store)
    f1, w1 = _content(store)
    empty_registry = settings.model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'empty.db'}"}
    )
    with pytest.raises(ChampionUnavailable, match=r"riskwarn-incidents@champion"):
        score_domain(empty_registry, "incidents", ORIGIN + pd.Timedelta(days=1), store=store)
    unreachable = settings.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9"})
    with pytest.raises(ChampionUnavailable):
        score_domain(unreachable, "incidents", ORIGIN + pd.Timedelta(days=1), store=store)
    assert store.published_run("incidents")["run_id"] == run_id
    f2, w2 = _content(store)
    pd.testing.assert_frame_equal(f1, f2)
    pd.testing.assert_frame_equal(w1, w2)
    assert store.runs("incidents")["run_id"].tolist() == [run_id]


def test_a_publish_is_audited_once_with_every_detail(scored_home):
    """``score_domain`` audited ``publish_run`` itself after ``Store.publish_run`` had
    (two entries per publish); now one, the store's, with the scoring's details."""
    settings, store, _ = scored_home
    run_id = score_domain(settings, "incidents", ORIGIN, store=store)
    log = store.audit_log(limit=100_000)
    entries = log[(log["action"] == "publish_run") & (log["object_id"] == run_id)]
    assert len(entries) == 1, entries
    details = entries["details"].iloc[0]
    run = store.published_run("incidents")
    assert details["domain"] == "incidents" and details["status"] == "published"
    assert details["model_version"] == run["model_version"] is not None
    assert details["data_version"] == run["data_version"]
    assert details["n_forecasts"] == 12 and details["n_warnings"] >= 3


def test_publish_exports_csv_and_geojson_are_reproducible(scored_home):
    settings, store, _ = scored_home
    score_domain(settings, "incidents", ORIGIN, store=store)
    (folder,) = publish_exports(settings)
    first = {p.name: p.read_bytes() for p in sorted(settings.exports_dir.rglob("*.*"))}
    assert set(first) == {"forecasts.csv", "warnings.csv", "forecasts.geojson"}
    geo = json.loads(first["forecasts.geojson"])
    assert len(geo["features"]) == 12
    assert geo["features"][0]["properties"]["level"] == "red"
    exported = pd.read_csv(f"{folder}/forecasts.csv")
    assert len(exported) == 12
    # the json columns are JSON text (review A, stop 41: a Python repr in forecasts.csv;
    # a cell's forecast carries no explanation: the case domain's test checks that column)
    frame = pd.read_csv(f"{folder}/warnings.csv")
    for col in ("reasons", "evidence"):
        assert len(frame[col].dropna()), col
        assert all(isinstance(json.loads(c), list | dict) for c in frame[col].dropna()), col
    publish_exports(settings)
    again = {p.name: p.read_bytes() for p in sorted(settings.exports_dir.rglob("*.*"))}
    assert again == first


def test_exports_hold_one_run_even_when_a_publish_lands_between_reads(scored_home, monkeypatch):
    """The next run is published (really, through score_domain) right after the served
    run has been read: the export folder named after a run holds only that run's rows."""
    settings, store, _ = scored_home
    first = score_domain(settings, "incidents", ORIGIN, store=store)
    real_run = Store.published_run
    published_next: list[str] = []

    def run_then_publish_next(self, domain):
        run = real_run(self, domain)
        if not published_next:
            later = ORIGIN + pd.Timedelta(days=1)
            published_next.append(score_domain(settings, "incidents", later, store=store))
        return run

    monkeypatch.setattr(Store, "published_run", run_then_publish_next)
    real_run_of_snapshot = Store.published_snapshot

    def snapshot_then_publish_next(self, domain):
        snap = real_run_of_snapshot(self, domain)
        if not published_next:
            later = ORIGIN + pd.Timedelta(days=1)
            published_next.append(score_domain(settings, "incidents", later, store=store))
        return snap

    monkeypatch.setattr(Store, "published_snapshot", snapshot_then_publish_next)
    (folder,) = publish_exports(settings, only=("incidents",))
    assert published_next and published_next[0] != first
    run_in_name = first.replace(":", "_")
    assert folder.endswith(run_in_name)
    assert set(pd.read_csv(f"{folder}/forecasts.csv")["run_id"]) == {first}
    warned = pd.read_csv(f"{folder}/warnings.csv")
    assert len(warned) and set(warned["run_id"]) == {first}
    geo = json.loads((Path(folder) / "forecasts.geojson").read_text(encoding="utf-8"))
    assert len(geo["features"]) == 12


# --------------------------------------------------------------------------- nowcast


def _ten_minutes(origin: pd.Timestamp) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The 30 days of 10-minute times before ``origin`` and their age in days."""
    idx = pd.date_range(
        origin - pd.Timedelta(days=30), origin - pd.Timedelta("10min"), freq="10min"
    )
    return idx, np.asarray((idx - idx[0]).total_seconds() / 86400.0)


def _to_failure(origin: pd.Timestamp, rng: np.random.Generator) -> pd.Series:
    """10-minute displacement (mm) accelerating to failure at ``origin + 4 h``."""
    idx, t = _ten_minutes(origin)
    span = (origin + pd.Timedelta(hours=4) - idx[0]).total_seconds() / 86400.0
    return pd.Series(1.0 * t - 20.0 * np.log(1.0 - t / span) + rng.normal(0, 0.2, len(t)), idx)


def _site_lake(
    settings: Settings,
    sensors: dict[str, tuple[str, str]],
    displacement: dict[str, pd.Series],
    rain: pd.DatetimeIndex | None = None,
) -> None:
    """Sites s1, s2, ... (one per site named in ``sensors``, 0.1 degree apart) with their
    sensors (``id -> (site, type)``), each displacement sensor's series, and with ``rain``
    a 10-minute gauge ``r1`` at s1 (0.5 mm each) into the lake."""
    site_ids = sorted({site for site, _ in sensors.values()})
    lon = {s: round(116.1 + 0.1 * i, 6) for i, s in enumerate(site_ids)}
    sites = pd.DataFrame(
        {
            "source": "test",
            "record_id": site_ids,
            "name": [chr(ord("A") + i) for i in range(len(site_ids))],
            "hazard_type": "landslide",
            "lon": [lon[s] for s in site_ids],
            "lat": 30.8,
            "admin_code": None,
            "slope_class": pd.array([4, 3, 3][: len(site_ids)], dtype="Int64"),
            "people_threatened": pd.array([50, 20, 10][: len(site_ids)], dtype="Int64"),
            "volume_m3": 1e4,
        }
    )
    if rain is not None:
        sensors = {**sensors, "r1": ("s1", "rain_gauge")}
    sensor_table = pd.DataFrame(
        {
            "source": "test",
            "record_id": list(sensors),
            "site_id": [site for site, _ in sensors.values()],
            "sensor_type": [kind for _, kind in sensors.values()],
            "lon": [lon[site] for site, _ in sensors.values()],
            "lat": 30.8,
            "installed_at": pd.Timestamp("2023-01-01", tz="UTC"),
        }
    )
    parts = [
        pd.DataFrame({"sensor_id": sid, "observed_at": v.index, "value": v.to_numpy()})
        for sid, v in displacement.items()
    ]
    readings = pd.concat(parts, ignore_index=True).assign(quantity="displacement_mm", interval_s=0)
    if rain is not None:
        gauge = pd.DataFrame(
            {"sensor_id": "r1", "observed_at": rain, "value": 0.5, "quantity": "rain_mm"}
        ).assign(interval_s=600)
        readings = pd.concat([readings, gauge], ignore_index=True)
    readings = readings.assign(
        source="test",
        record_id=[f"r{i}" for i in range(len(readings))],
        quality="good",
        interval_s=readings["interval_s"].astype("Int64"),
    )
    lake.upsert(settings.lake_dir, "hazard_sites", "test", sites, batch_id="s")
    lake.upsert(settings.lake_dir, "sensors", "test", sensor_table, batch_id="s")
    lake.upsert(settings.lake_dir, "sensor_readings", "test", readings, batch_id="r")


def _geohazard_lake(settings: Settings, origin: pd.Timestamp) -> None:
    """Three sites: s1 accelerating to failure at ``origin + 4 h``, s2 steady, s3 dead GNSS."""
    idx, t = _ten_minutes(origin)
    rng = np.random.default_rng(0)
    accel = _to_failure(origin, rng)
    steady = pd.Series(1.0 * t + rng.normal(0, 0.2, len(t)), idx)
    dead = steady[idx < origin - pd.Timedelta(days=3)]
    sensors = {"g1": ("s1", "gnss"), "g2": ("s2", "gnss"), "g3": ("s3", "gnss")}
    _site_lake(settings, sensors, {"g1": accel, "g2": steady, "g3": dead}, rain=idx)


def test_nowcast_sensor_rules_without_model(settings):
    origin = pd.Timestamp("2024-07-10T12:00Z")
    _geohazard_lake(settings, origin)
    store = Store.from_settings(settings)
    store.upgrade()
    run_id = nowcast_geohazard(settings, origin, store=store)
    assert run_id == "geohazard_hourly:20240710T1200Z"
    w = store.warnings(domain="geohazard_hourly").set_index("unit_id")
    assert w.loc["s1", "level"] == "red"
    assert any(
        "inverse-velocity failure forecast" in (r if isinstance(r, str) else r["en"])
        for r in w.loc["s1", "reasons"]
    )
    assert 0 < w.loc["s1", "lead_time_hours"] < 24
    assert w.loc["s1", "evidence"]["rain_24h_mm"] == pytest.approx(72.0)
    # what each source said (the geohazard page's why): the rules' red, no model level
    assert w.loc["s1", "evidence"]["rules_level"] == "red"
    assert w.loc["s1", "evidence"]["model_level"] is None
    assert w.loc["s3", "evidence"]["rules_level"] is None
    # the dead sensor is flagged, not read as "no movement"
    assert w.loc["s3", "level"] == "blue"
    assert w.loc["s3", "evidence"]["sensor_health"] == "dead"
    assert any(
        "not as no movement" in (r if isinstance(r, str) else r["en"])
        for r in w.loc["s3", "reasons"]
    )
    assert "s2" not in w.index
    f = store.published_forecasts("geohazard_hourly")
    assert len(f) == 3 and f["probability"].isna().all()
    log = store.audit_log()
    assert "model_unavailable" in set(log["action"])
    # idempotent
    before = store.warnings(domain="geohazard_hourly").drop(columns=["created_at", "updated_at"])
    nowcast_geohazard(settings, origin, store=store)
    after = store.warnings(domain="geohazard_hourly").drop(columns=["created_at", "updated_at"])
    pd.testing.assert_frame_equal(before, after)


# --------------------------------------------------------------------------- export times

_TIME_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")
_EXPORT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def _strings(value: Any) -> list[str]:
    """Every string inside ``value`` (JSON text in a CSV cell is opened)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                return [value, *_strings(json.loads(value))]
            except ValueError:
                return [value]
        return [value]
    return []


def test_every_time_in_the_exports_is_iso_8601_utc_z(scored_home):
    """Review S13: forecasts.csv wrote '2024-03-10 16:00:00+00:00', the GeoJSON
    '2024-03-10T16:00:00+00:00', the warnings' evidence other forms: one format now,
    ISO 8601 in UTC with 'Z' (docs/serving-store.md, "Exports")."""
    settings, store, _ = scored_home
    score_domain(settings, "incidents", ORIGIN, store=store)
    origin = pd.Timestamp("2024-07-10T12:00Z")
    _geohazard_lake(settings, origin)
    nowcast_geohazard(settings, origin, store=store)
    folders = publish_exports(settings)
    assert len(folders) == 2
    times: dict[str, set[str]] = {}
    for folder in folders:
        for path in Path(folder).iterdir():
            if path.suffix == ".csv":
                cells = pd.read_csv(path, dtype=str, keep_default_na=False).to_numpy().ravel()
                found = [s for c in cells for s in _strings(c)]
            else:
                found = _strings(json.loads(path.read_text(encoding="utf-8")))
            for s in found:
                if _TIME_LIKE.match(s) and not s.startswith(("{", "[")):
                    times.setdefault(path.name, set()).add(s)
    assert set(times) >= {"forecasts.csv", "warnings.csv", "forecasts.geojson"}, times
    bad = {
        name: sorted(v for v in vals if not _EXPORT_TIME.match(v))[:5]
        for name, vals in times.items()
    }
    assert not any(bad.values()), bad
