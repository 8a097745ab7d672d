"""The file-level flow (issue 13.6, 13.7): landing files are ingested one at a time,
each recorded as soon as it is in the lake and then archived, a poison file among them
is quarantined and archived too, and records outside the city's configured area are
quarantined at ingest."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from riskwarn import pipeline
from riskwarn.ingest import ingest_files, landing
from riskwarn.lake import read_table
from riskwarn.settings import Settings
from riskwarn.sources import load_mapping

AS_OF = "2024-01-01T00:00:00Z"
MAPPING = """
name: poison
table: incidents
x: lon
y: lat
id: {columns: [case_id]}
columns:
  occurred_at: {from: t, format: "%Y-%m-%d %H:%M"}
  time_precision: {const: minute}
  category: {const: theft}
  category_group: {const: property}
  admin_code: {from: district}
"""
HEADER = "case_id,t,lon,lat,district\n"


def _rows(n: int, start: int = 0, lon: float = 116.5, lat: float = 30.5) -> str:
    return "".join(
        f"C{i},2023-05-01 {i % 24:02d}:00,{lon},{lat},D{i % 3}\n" for i in range(start, start + n)
    )


@pytest.fixture
def source(tmp_path: Path) -> tuple[Settings, Path, Path]:
    settings = Settings(home=tmp_path / "home")
    mapping = tmp_path / "poison.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    folder = settings.landing_dir / "poison"
    folder.mkdir(parents=True)
    (folder / "a_good.csv").write_text(HEADER + _rows(30), encoding="utf-8")
    whole = gzip.compress((HEADER + _rows(40_000, 100)).encode(), mtime=0)
    (folder / "b_cut.csv.gz").write_bytes(whole[: len(whole) // 2])  # a broken gzip stream
    (folder / "c_good.csv").write_text(HEADER + _rows(20, 50), encoding="utf-8")
    return settings, mapping, folder


def _batches(settings: Settings):
    from riskwarn.store import Store

    store = Store.from_settings(settings)
    store.upgrade()
    return store.ingest_batches().set_index("file_name")


def test_poison_file_is_quarantined_and_every_file_recorded_and_archived(source) -> None:
    settings, mapping, folder = source
    totals = pipeline.ingest_source(settings, mapping, AS_OF)
    assert (totals["files"], totals["archived"]) == (3, 3)
    assert (totals["read"], totals["accepted"], totals["quarantined"]) == (51, 50, 1)
    batches = _batches(settings)
    assert sorted(batches.index) == ["a_good.csv", "b_cut.csv.gz", "c_good.csv"]
    assert batches.loc["b_cut.csv.gz", "quarantined"] == 1
    assert len(read_table(settings.lake_dir, "incidents")) == 50
    assert landing.landing_files(folder) == []
    archived = settings.archive_dir / "poison" / "ingested=2024-01-01T000000Z"
    assert sorted(p.name for p in archived.iterdir()) == [
        "a_good.csv",
        "b_cut.csv.gz",
        "c_good.csv",
    ]
    # a re-run of the interval has nothing to do; a file delivered again changes nothing
    assert pipeline.ingest_source(settings, mapping, AS_OF)["files"] == 0
    (folder / "a_good.csv").write_text(HEADER + _rows(30), encoding="utf-8")
    again = pipeline.ingest_source(settings, mapping, AS_OF)
    assert (again["archived"], again["accepted"]) == (1, 30)
    assert len(_batches(settings)) == 3  # same batch id: the record is replaced
    assert len(read_table(settings.lake_dir, "incidents")) == 50
    # a different file under a name already archived keeps both
    (folder / "a_good.csv").write_text(HEADER + _rows(31), encoding="utf-8")
    pipeline.ingest_source(settings, mapping, AS_OF)
    assert len(list(archived.rglob("a_good.csv"))) == 2


def test_unexpected_failure_leaves_that_file_in_landing_only(
    source, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, mapping, folder = source
    real = landing.ingest_files

    def failing(mapping, files, settings, **kwargs):  # a bug that strikes one file
        if Path(files[0]).name == "c_good.csv":
            raise RuntimeError("simulated bug\nsecond line")
        return real(mapping, files, settings, **kwargs)

    monkeypatch.setattr(landing, "ingest_files", failing)
    with pytest.raises(landing.LandingFailed) as err:
        pipeline.ingest_source(settings, mapping, AS_OF)
    assert "c_good.csv: RuntimeError: simulated bug" in str(err.value)
    assert "\n" not in str(err.value)
    assert sorted(_batches(settings).index) == ["a_good.csv", "b_cut.csv.gz"]
    assert [p.name for p in landing.landing_files(folder)] == ["c_good.csv"]


def test_records_outside_the_city_area_are_quarantined(tmp_path: Path) -> None:
    mapping_path = tmp_path / "poison.yaml"
    mapping_path.write_text(MAPPING, encoding="utf-8")
    mapping = load_mapping(mapping_path)
    path = tmp_path / "two_cities.csv"
    # 10 rows in the city, 15 in Chicago (another city's extract in this home)
    path.write_text(HEADER + _rows(10) + _rows(15, 10, -87.6, 41.8), encoding="utf-8")
    settings = Settings(home=tmp_path / "home", city_area="115.7,29.6,117.4,31.3")
    [report] = ingest_files(mapping, [path], settings, as_of=datetime(2024, 1, 1, tzinfo=UTC))
    assert (report["accepted"], report["reasons"]) == (10, {"outside_city_area": 15})
    lake = read_table(settings.lake_dir, "incidents")
    assert lake["lon"].between(115.7, 117.4).all() and len(lake) == 10
    with pytest.raises(ValidationError, match="min_lon,min_lat,max_lon,max_lat"):
        Settings(city_area="116,31,115,30")
