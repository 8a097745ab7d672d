"""`riskwarn ingest` of the six public datasets with their committed mapping files.

Counts must reconcile exactly, and accepted counts equal ../shared/data/README.md's row
counts except for rows the quarantine explains (asserted here with the numbers measured).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from riskwarn.cli import main
from riskwarn.lake import read_quarantine, read_table

pytestmark = pytest.mark.realdata
CONFIGS = Path(__file__).parents[1] / "configs" / "sources"

# mapping, file, README rows, quarantine that explains the difference
CASES = {
    "hongkong_landslides": ("hongkong/landslides_1984_2014.csv", 8695, {}),
    # 1900-02-29 (not a leap year) carries '***': impossible date, kept in the quarantine
    "hongkong_rainfall": (
        "hongkong/hko_daily_rainfall_1884_2014.csv",
        45231,
        {"impossible_date:observed_at": 1},
    ),
    "threegorges_displacement": ("threegorges/displacement_monthly.csv", 890, {}),
    "threegorges_rainfall": ("threegorges/rainfall_daily.csv", 4384, {}),
    "portland_calls": ("portland/portland_cfs_2016_aug_sep.csv.gz", 37818, {}),
}


def _ingest(capsys: pytest.CaptureFixture[str], mapping: str, *files: Path) -> list[dict]:
    code = main(
        [
            "ingest",
            "--no-store",
            "--json",
            "--as-of",
            "2026-01-01",
            "--source",
            str(CONFIGS / f"{mapping}.yaml"),
            *map(str, files),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("mapping", sorted(CASES))
def test_real_dataset_reconciles(
    mapping: str, shared_data: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rel, readme_rows, explained = CASES[mapping]
    [r] = _ingest(capsys, mapping, shared_data / rel)
    assert r["read"] == readme_rows
    assert r["read"] == r["accepted"] + r["quarantined"] + r["duplicates"]
    assert r["reasons"] == explained
    assert r["accepted"] == readme_rows - sum(explained.values())
    assert r["duplicates"] == 0
    table = read_table(home / "lake", r["table_name"], sources=[mapping])
    assert len(table) == r["accepted"]
    q = read_quarantine(home / "lake", sources=[mapping])
    assert len(q) == r["quarantined"]


def test_chicago_slice_keeps_exact_duplicates(
    shared_data: Path, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with gzip.open(
        shared_data / "chicago/aggravated_assaults_2010_2017.csv.gz", "rt", encoding="utf-8"
    ) as fh:
        lines = [next(fh) for _ in range(5001)]
    data_rows = lines[1:]
    n_dupes = len(data_rows) - len(set(data_rows))
    sliced = tmp_path / "chicago_slice.csv.gz"
    with gzip.open(sliced, "wt", encoding="utf-8") as out:
        out.writelines(lines)
    [r] = _ingest(capsys, "chicago", sliced)
    assert (r["read"], r["accepted"], r["quarantined"], r["duplicates"]) == (5000, 5000, 0, 0)
    table = read_table(home / "lake", "incidents")
    assert (table["record_id"].str.endswith("#2")).sum() == n_dupes
    assert table["occurred_at"].min().isoformat() == "2010-01-01T06:05:00+00:00"  # 00:05 CST
    [again] = _ingest(capsys, "chicago", sliced)
    assert again["unchanged"] == 5000 and again["new"] == 0


def test_hongkong_details(
    shared_data: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(capsys, "hongkong_rainfall", shared_data / "hongkong/hko_daily_rainfall_1884_2014.csv")
    rain = read_table(home / "lake", "sensor_readings")
    trace = rain[rain["quality"] == "trace"]
    assert len(trace) == 6171 and (trace["value"] == 0.0).all()
    assert rain["value"].max() == pytest.approx(534.1)  # 1926-07-19, the wettest day in the file
    _ingest(capsys, "hongkong_landslides", shared_data / "hongkong/landslides_1984_2014.csv")
    slides = read_table(home / "lake", "hazard_events")
    assert slides["lon"].between(113.8, 114.5).all() and slides["lat"].between(22.13, 22.6).all()
    assert slides["deaths"].sum() == 8 * 1 + 4 * 2 + 5
    assert (slides["time_precision"] == "day").all()


def test_portland_disputes_are_public_order(
    shared_data: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingest(capsys, "portland_calls", shared_data / "portland/portland_cfs_2016_aug_sep.csv.gz")
    calls = read_table(home / "lake", "incidents")
    proxies = calls[
        calls["category"].isin(
            ["unwanted_person", "civil_civil_problem", "noise_disturbance", "threat_cold"]
        )
    ]
    assert len(proxies) == 4188 + 472 + 918 + 494
    assert (proxies["category_group"] == "public_order").all()
    assert (calls["category_group"] == "public_order").sum() >= 11036
