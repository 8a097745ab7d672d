"""The file-level flow (issue 13.6, 13.7): landing files are ingested one at a time,
each recorded as soon as it is in the lake and then archived, a poison file among them
is quarantined and archived too, and records outside the city's configured area are
quarantined at ingest."""

from __future__ import annotations

import gzip
import os
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


def test_poison_file_is_quarantined_and_every_file_recorded_and_archived(
    source, caplog: pytest.LogCaptureFixture
) -> None:
    settings, mapping, folder = source
    # the poison file stored nothing: the run fails (one line naming it) after every
    # file was stored, recorded and archived (docs/ingestion.md)
    with caplog.at_level("WARNING"), pytest.raises(landing.LandingStoredNothing) as err:
        pipeline.ingest_source(settings, mapping, AS_OF)
    assert str(err.value).startswith("1 of 3 file(s) of poison stored nothing")
    assert str(err.value).endswith(": b_cut.csv.gz") and "\n" not in str(err.value)
    warned = [r.getMessage() for r in caplog.records if "nothing stored" in r.getMessage()]
    assert warned == [
        f"landing/poison/b_cut.csv.gz: nothing stored, all 1 row quarantined (not_a_table 1); "
        f"see the quarantine of batch {_batches(settings).loc['b_cut.csv.gz', 'batch_id'][:16]} "
        f"(source poison) in {settings.lake_dir / '_quarantine'} or the dashboard's "
        "Models & data quality page"
    ]
    totals = err.value.totals
    assert totals["stored_nothing"] == ["b_cut.csv.gz"]
    assert (totals["files"], totals["archived"]) == (3, 3)
    assert (totals["read"], totals["accepted"], totals["quarantined"]) == (51, 50, 1)
    batches = _batches(settings)
    assert sorted(batches.index) == ["a_good.csv", "b_cut.csv.gz", "c_good.csv"]
    assert batches.loc["b_cut.csv.gz", "quarantined"] == 1
    assert len(read_table(settings.lake_dir, "incidents")) == 50
    assert landing.landing_files(folder) == []
    # one folder: the interval end and this run's archive time (the retention's age)
    [archived] = (settings.archive_dir / "poison").glob("ingested=2024-01-01T000000Z_archived=*")
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
    # a different file under a name already archived keeps both (in this run's folder,
    # or beside it in a sub-folder when both runs archived within one second)
    (folder / "a_good.csv").write_text(HEADER + _rows(31), encoding="utf-8")
    pipeline.ingest_source(settings, mapping, AS_OF)
    kept = archived.parent.rglob("a_good.csv")
    assert len({p.read_bytes() for p in kept}) == 2


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
    assert str(err.value).endswith("; 1 stored nothing, all their rows quarantined: b_cut.csv.gz")
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


def _lake_rows(settings: Settings) -> int:
    try:
        return len(read_table(settings.lake_dir, "incidents"))
    except Exception:  # no table yet
        return 0


def test_a_file_still_being_written_waits_for_the_next_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """D6: a file appended to during the run is neither ingested nor archived; the next
    run, once it stopped changing, ingests it whole."""
    import threading
    import time

    settings = Settings(home=tmp_path / "home", landing_settle_seconds=1.0)
    mapping = tmp_path / "poison.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    folder = settings.landing_dir / "poison"
    folder.mkdir(parents=True)
    path = folder / "slow.csv"
    path.write_text(HEADER + _rows(500), encoding="utf-8")
    done = threading.Event()

    def writer() -> None:  # keeps appending for ~3 s, as a slow upload does
        for k in range(15):
            with path.open("a", encoding="utf-8") as f:
                f.write(_rows(100, 500 + 100 * k))
            time.sleep(0.2)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        first = pipeline.ingest_source(settings, mapping, AS_OF)
    finally:
        thread.join()
    assert done.is_set()
    assert [p.name for p in landing.landing_files(folder)] == ["slow.csv"]
    assert _lake_rows(settings) == 0
    assert "slow.csv is still being written" in caplog.text
    assert (first["files"], first["archived"], first["still_changing"]) == (0, 0, ["slow.csv"])
    second = pipeline.ingest_source(settings, mapping, AS_OF)  # waits until it settled
    assert (second["archived"], second["accepted"]) == (1, 2000)
    assert (
        _lake_rows(settings)
        == 2000
        == len(
            next(
                path.parent.parent.parent.joinpath("archive", "poison").glob(
                    "ingested=2024-01-01T000000Z_archived=*/slow.csv"
                )
            )
            .read_text()
            .splitlines()
        )
        - 1
    )


def test_a_file_written_to_while_it_is_read_stays_in_landing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D6, the second check: a writer that resumes while the file is being read (after it
    looked settled) leaves it in landing; the next run reads it whole."""
    settings = Settings(home=tmp_path / "home", landing_settle_seconds=0)
    mapping = tmp_path / "poison.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    folder = settings.landing_dir / "poison"
    folder.mkdir(parents=True)
    path = folder / "resumed.csv"
    path.write_text(HEADER + _rows(300), encoding="utf-8")
    real = landing.ingest_files
    calls = []

    def read_then_writer_resumes(mapping, files, settings, **kwargs):
        reports = real(mapping, files, settings, **kwargs)
        if not calls:
            with path.open("a", encoding="utf-8") as f:
                f.write(_rows(200, 300))
        calls.append(1)
        return reports

    monkeypatch.setattr(landing, "ingest_files", read_then_writer_resumes)
    first = pipeline.ingest_source(settings, mapping, AS_OF)
    assert [p.name for p in landing.landing_files(folder)] == ["resumed.csv"]
    assert (first["accepted"], first["archived"], first["still_changing"]) == (
        300,
        0,
        ["resumed.csv"],
    )
    second = pipeline.ingest_source(settings, mapping, AS_OF)
    assert (second["archived"], second["accepted"]) == (1, 500)
    assert _lake_rows(settings) == 500
    assert landing.landing_files(folder) == []


def test_sub_folders_and_special_files_are_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """D7: a sub-folder of a landing folder is never read, and each run says so, in the
    task log and in the returned report (also when it is the folder's only entry)."""
    settings = Settings(home=tmp_path / "home", landing_settle_seconds=0)
    mapping = tmp_path / "poison.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    folder = settings.landing_dir / "poison"
    (folder / "2023 batch").mkdir(parents=True)
    (folder / "2023 batch" / "adv.csv").write_text(HEADER + _rows(5), encoding="utf-8")
    alone = pipeline.ingest_source(settings, mapping, AS_OF)
    assert "not read" in caplog.text and "2023 batch/" in caplog.text
    assert (alone["files"], alone["not_read"]) == (0, ["2023 batch/"])
    os.mkfifo(folder / "pipe.csv")
    (folder / "ok.csv").write_text(HEADER + _rows(5), encoding="utf-8")
    caplog.clear()
    totals = pipeline.ingest_source(settings, mapping, AS_OF)
    assert (totals["archived"], totals["accepted"]) == (1, 5)
    assert totals["not_read"] == ["2023 batch/", "pipe.csv (not a regular file)"]
    assert "pipe.csv (not a regular file)" in caplog.text


def test_a_file_sharing_no_column_with_the_mapping_is_quarantined_and_archived(
    source, caplog: pytest.LogCaptureFixture
) -> None:
    # review 2026-12-05: such a file crashed its ingest (ValueError) and so stayed in
    # landing, failing every run; it is a poison file like the others
    settings, mapping, folder = source
    (folder / "b_cut.csv.gz").unlink()
    (folder / "b_wrong_header.csv").write_text("foo,bar\n1,2\n3,4\n", encoding="utf-8")
    with caplog.at_level("WARNING"), pytest.raises(landing.LandingStoredNothing) as err:
        pipeline.ingest_source(settings, mapping, AS_OF)
    assert str(err.value).endswith(": b_wrong_header.csv")
    totals = err.value.totals
    assert (totals["files"], totals["archived"], totals["quarantined"]) == (3, 3, 2)
    assert landing.landing_files(folder) == []
    [archived] = (settings.archive_dir / "poison").glob("ingested=2024-01-01T000000Z_archived=*")
    assert "b_wrong_header.csv" in {p.name for p in archived.iterdir()}
    assert _batches(settings).loc["b_wrong_header.csv", "quarantined"] == 2
    # the next run has nothing left to fail on
    assert pipeline.ingest_source(settings, mapping, AS_OF)["files"] == 0


def test_the_export_time_comes_from_the_file_name(tmp_path: Path, caplog) -> None:
    """``extracted=YYYY-MM-DDTHHMMSSZ`` in a landing file's name is its export time (the
    report lists it; a file without one is listed and warned about, and ingested as
    before); a name whose stamp is unusable stays in landing and fails the run naming
    it. The older export landing after the newer one is refused row by row (the DAG's
    own test: tests/test_dags.py)."""
    assert landing.export_time("inc_extracted=2024-03-31T000000Z.csv.gz") == datetime(
        2024, 3, 31, tzinfo=UTC
    )
    assert landing.export_time("inc-2024-03-31.csv") is None
    assert landing.export_time("preextracted=2024-03-31T000000Z.csv") is None
    for bad in ("a_extracted=2024-03-31.csv", "a_extracted=2024-02-30T000000Z.csv"):
        with pytest.raises(landing.BadExportTime, match="is not YYYY-MM-DDTHHMMSSZ"):
            landing.export_time(bad)
    two = "a_extracted=2024-03-31T000000Z_extracted=2024-04-01T000000Z.csv"
    with pytest.raises(landing.BadExportTime, match="2 different export times"):
        landing.export_time(two)
    with pytest.raises(landing.BadExportTime, match="after this run's clock"):
        landing.export_time("a_extracted=2024-03-31T000000Z.csv", datetime(2024, 3, 1, tzinfo=UTC))

    settings = Settings(home=tmp_path / "home", landing_settle_seconds=0)
    mapping = tmp_path / "poison.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    folder = settings.landing_dir / "poison"
    folder.mkdir(parents=True)
    (folder / "a_extracted=2024-01-31T000000Z.csv").write_text(HEADER + _rows(3), "utf-8")
    (folder / "b.csv").write_text(HEADER + _rows(3, 10), "utf-8")
    (folder / "c_extracted=2024-01-31.csv").write_text(HEADER + _rows(3, 20), "utf-8")
    with caplog.at_level("WARNING"), pytest.raises(landing.LandingFailed) as err:
        pipeline.ingest_source(settings, mapping, AS_OF)
    assert "c_extracted=2024-01-31.csv: the name's export time" in str(err.value)
    assert [p.name for p in folder.iterdir()] == ["c_extracted=2024-01-31.csv"]
    assert len(read_table(settings.lake_dir, "incidents")) == 6
    assert any("1 file(s) give no export time in their name" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    (folder / "c_extracted=2024-01-31.csv").rename(folder / "c_extracted=2024-01-31T000000Z.csv")
    totals = pipeline.ingest_source(settings, mapping, AS_OF)
    assert totals["extracted_at"] == {
        "c_extracted=2024-01-31T000000Z.csv": "2024-01-31T00:00:00+00:00"
    }
    assert totals["no_export_time"] == []
    assert (totals["archived"], len(read_table(settings.lake_dir, "incidents"))) == (1, 9)


@pytest.mark.parametrize("when", ["before", "during", "after"])
def test_a_file_another_run_archived_is_not_reported_failed(
    source, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Two runs over one landing folder (a second landing run, or `riskwarn ingest` of a
    file in it): a file the other run archived while this one had it listed was reported
    "failed and stays in landing" (gone before or while read) or crashed the run at the
    archive move (gone after this run stored it). Attack review 2026-12-07."""
    settings, mapping, folder = source
    (folder / "b_cut.csv.gz").unlink()  # only good files here
    real = landing.ingest_files
    elsewhere = settings.home / "taken"
    elsewhere.mkdir()

    def racing(mapping, files, settings, **kwargs):  # the other run takes c_good.csv
        path = Path(files[0])
        if path.name != "c_good.csv":
            return real(mapping, files, settings, **kwargs)
        if when == "before":
            path.rename(elsewhere / path.name)
            return real(mapping, files, settings, **kwargs)  # the file is gone: it raises
        report = real(mapping, files, settings, **kwargs)
        path.rename(elsewhere / path.name)
        if when == "during":
            raise FileNotFoundError(str(path))
        return report

    monkeypatch.setattr(landing, "ingest_files", racing)
    totals = pipeline.ingest_source(settings, mapping, AS_OF)  # no LandingFailed, no crash
    assert totals["taken_by_another_run"] == ["c_good.csv"]
    assert totals["archived"] == 1 and landing.landing_files(folder) == []
    assert totals["still_changing"] == []
    stored = 50 if when == "after" else 30
    assert totals["accepted"] == stored
    assert len(read_table(settings.lake_dir, "incidents")) == (30 if when == "before" else 50)
