"""Site features built by batch of sites equal one batch, and training reads the lake's
readings by batch (never the whole table at once: issue 18.3, 92 M readings on the city)."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskwarn import lake
from riskwarn.settings import Settings
from tests.conftest import TEST_PSEUDONYM_KEY

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small simulated city with 6 monitored sites and 3 rain gauges, in a lake."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.simulate import simulate

    root = tmp_path_factory.mktemp("batches")
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


def _inputs(city: Settings) -> tuple[pd.DataFrame, ...]:
    from models.geohazard_sites import READING_COLUMNS

    lake_dir = city.lake_dir
    readings = lake.read_table(lake_dir, "sensor_readings", columns=list(READING_COLUMNS))
    return (
        readings,
        lake.read_table(lake_dir, "sensors"),
        lake.read_table(lake_dir, "hazard_sites"),
        lake.read_table(lake_dir, "hazard_events"),
    )


@pytest.mark.parametrize("domain", ["geohazard", "geohazard_hourly"])
def test_site_table_by_batches_equals_one_batch(city: Settings, domain: str) -> None:
    from features.geohazard import site_batches
    from models.geohazard_sites import build_site_table, site_config, step_origins

    readings, sensors, sites, events = _inputs(city)
    config = site_config(domain, tz=city.display_tz)
    first = readings["observed_at"].min() + pd.Timedelta(days=2)
    origins = step_origins(first, readings["observed_at"].max(), config)
    whole = build_site_table(readings, sensors, sites, events, origins, config)
    assert whole["velocity_mm_per_day"].notna().any() and whole["rain_24h_mm"].notna().any()
    for n in (1, 2, 4):
        assert len(site_batches(sensors, sites, [], n)) >= 2
        batched = build_site_table(
            readings, sensors, sites, events, origins, config, batch_sensors=n
        )
        pd.testing.assert_frame_equal(batched, whole, check_exact=True)


def test_training_reads_the_readings_by_batch_never_whole(
    city: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training path never reads the whole table into one frame (before the batches it
    did, and failed on the city with MemoryError): the features ask for a few sensors'
    readings at a time."""
    from models import geohazard_sites
    from riskwarn import pipeline

    total = lake.scan(city.lake_dir, "sensor_readings", columns=["record_id"]).num_rows
    real_read = lake.read_table
    whole: list[int] = []
    batches: list[tuple[int, int]] = []

    def recording_read(lake_dir: Path, table: str, *a: Any, **k: Any) -> pd.DataFrame:
        frame = real_read(lake_dir, table, *a, **k)
        if table == "sensor_readings":
            whole.append(len(frame))
        return frame

    real_batch = getattr(pipeline, "LakeReadings", None)

    class Stop(Exception):
        pass

    real_build = geohazard_sites.build_site_table

    def build_then_stop(*a: Any, **k: Any) -> Any:
        real_build(*a, **k)
        raise Stop

    monkeypatch.setattr(lake, "read_table", recording_read)
    monkeypatch.setattr(geohazard_sites, "build_site_table", build_then_stop)
    monkeypatch.setattr(geohazard_sites, "TRAIN_BATCH_SENSORS", 3, raising=False)
    if real_batch is not None:
        real_batch_read = real_batch.read

        def recording_batch(self: Any, sensor_ids: Any) -> pd.DataFrame:
            frame = real_batch_read(self, sensor_ids)
            batches.append((len(list(sensor_ids)), len(frame)))
            return frame

        monkeypatch.setattr(real_batch, "read", recording_batch)
    with pytest.raises(Stop):
        pipeline.train_domain(city, "geohazard", "2023-08-31T00:00Z")
    assert all(rows < total for rows in whole), "sensor_readings read whole"
    assert len(batches) >= 3
    for n_ids, rows in batches:
        assert n_ids <= 6 and rows < total  # a batch: 3 sensors + its gauges
    assert sum(rows for _, rows in batches) > 0


def test_lake_readings_equal_the_whole_frame_and_clean_up(city: Settings, tmp_path: Path) -> None:
    """The summary of the pieces equals the whole frame's; each batch read from the spilled
    files equals the lake read of those sensors; closing removes the spilled files."""
    from models.geohazard_sites import READING_COLUMNS, ReadingsSummary
    from riskwarn.pipeline import LakeReadings

    end = pd.Timestamp("2023-08-01T00:00Z")
    cols = list(READING_COLUMNS)
    whole = lake.read_table(city.lake_dir, "sensor_readings", columns=cols)
    expected = ReadingsSummary.of_frame(whole.loc[whole["observed_at"] < end])
    ids = sorted(whole["sensor_id"].unique())
    with LakeReadings(
        city.lake_dir, end, READING_COLUMNS, rows_per_piece=5_000, spill_dir=tmp_path
    ) as pieces:
        assert expected.rows > 20_000  # several pieces
        assert pieces.summary() == expected
        assert len(list(tmp_path.iterdir())) == 1
        for batch in (ids[:1], ids[1:4], ids[4:], ["no such sensor"]):
            direct = lake.read_table(
                city.lake_dir, "sensor_readings", columns=cols, end=end, where={"sensor_id": batch}
            )
            pd.testing.assert_frame_equal(pieces.read(batch), direct, check_exact=True)
        # no sensor at all (a batch of sites without sensors): no rows, same columns
        pd.testing.assert_frame_equal(pieces.read([]), direct, check_exact=True)
    assert list(tmp_path.iterdir()) == []
