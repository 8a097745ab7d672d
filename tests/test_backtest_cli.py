"""`riskwarn backtest incidents` end to end on a small slice of the Chicago data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskwarn.cli import main
from tests.conftest import ROOT


def chicago_slice(shared_data: Path, tmp_path: Path) -> Path:
    """Chicago assaults from June 2015 to January 2016, as a gzipped extract."""
    raw = pd.read_csv(shared_data / "chicago" / "aggravated_assaults_2010_2017.csv.gz")
    raw = raw[(raw["date"] >= "2015-06-01") & (raw["date"] < "2016-01-29")]
    events = tmp_path / "slice.csv.gz"
    with gzip.open(events, "wt") as fh:
        raw.to_csv(fh, index=False)
    return events


def test_backtest_incidents_cli_on_a_chicago_slice(shared_data: Path, tmp_path: Path) -> None:
    events = chicago_slice(shared_data, tmp_path)
    out = tmp_path / "out"
    rc = main(
        [
            "backtest", "incidents", "--source", str(ROOT / "configs/sources/chicago.yaml"),
            "--events", str(events), "--cell-size", "250", "--crs", "EPSG:32616",
            "--horizon-days", "7", "--step-days", "7", "--start", "2016-01-01",
            "--end", "2016-01-21", "--refit-days", "28", "--max-cells", "400", "--out", str(out),
            "--train-window-days", "120",
        ]
    )  # fmt: skip
    assert rc == 0
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns) == ["origin", "cell_x", "cell_y", "method", "score"]
    assert scores.groupby(["method", "origin"]).size().eq(400).all()
    assert sorted(scores["origin"].astype(str).unique()) == [
        "2016-01-01", "2016-01-08", "2016-01-15"
    ]  # fmt: skip
    assert {
        "xgboost", "long_run", "kde", "prospective", "last_period", "ceiling", "ceiling_loo"
    } == set(scores["method"])  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    # A smoke test of the CLI on three weekly windows, not a skill benchmark (that is
    # bench/bench_backtest.py and bench/bench_cities.py): the model must rank better than
    # chance. Measured here: PAI@5% 1.44 [1.03, 2.20] (long_run 2.17, kde 1.25).
    assert metrics["methods"]["xgboost"]["pai@0.05"] > 1.0
    assert metrics["methods"]["xgboost"]["pai@0.05_ci"][0] > 0.0
    assert metrics["n_origins"] == 3
    # the busiest 400 cells only (a test restriction, labelled): events elsewhere not counted
    assert "busiest cells" in metrics["active_area"]
    outside = pd.read_parquet(out / "events_outside_area.parquet")
    assert list(outside.columns) == ["origin", "cell_x", "cell_y", "label_count"]
    assert outside.empty and metrics["events_outside_area"] == 0


def test_backtest_cli_user_errors(tmp_path: Path, capsys) -> None:
    f = tmp_path / "e.csv"
    f.write_text("date\n")
    rc = main(
        [
            "backtest", "incidents", "--source", str(ROOT / "configs/sources/chicago.yaml"),
            "--events", str(f), "--start", "2016-02-01", "--end", "2016-01-01",
            "--out", str(tmp_path / "o"),
        ]
    )  # fmt: skip
    assert rc == 2
    assert "--end is before --start" in capsys.readouterr().err
    rc = main(["backtest", "incidents", "--source", str(ROOT / "configs/sources/chicago.yaml"),
               "--events", str(f), "--start", "2016-01-01", "--end", "2016-02-01",
               "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2


@pytest.mark.parametrize("cmd", [["promote", "incidents"], ["rollback", "incidents"]])
def test_registry_cli_needs_a_reason(cmd: list[str], capsys) -> None:
    assert main(cmd) == 2


def test_backtest_geohazard_cli_on_hong_kong(shared_data: Path, tmp_path: Path) -> None:
    """`riskwarn backtest geohazard` on one Hong Kong year: the issue's outputs, and a day's
    nowcast unchanged when every landslide and every rain reading from a later day is
    removed."""
    hk = shared_data / "hongkong"
    raw = pd.read_csv(hk / "landslides_1984_2014.csv", dtype=str, na_values=["-"])
    fail = pd.to_datetime(raw["FAILDATE"], format="%d/%m/%Y", errors="coerce")
    call = pd.to_datetime(raw["CALLDATE"], format="%d/%m/%Y", errors="coerce")
    known = np.maximum(fail.fillna(call), call.fillna(fail))
    cut = tmp_path / "known_before_july.csv"
    raw[known < "2012-07-01"].to_csv(cut, index=False, na_rep="-")
    rain = pd.read_csv(hk / "hko_daily_rainfall_1884_2014.csv", skiprows=2, dtype=str)
    rain_day = pd.to_datetime(  # the file holds an invalid 1900-02-29 (quarantined): keep it
        rain.iloc[:, :3].astype(int).set_axis(["year", "month", "day"], axis=1), errors="coerce"
    )
    head = (hk / "hko_daily_rainfall_1884_2014.csv").read_text(encoding="utf-8").splitlines()[:2]
    rain_cut = tmp_path / "rain_to_june.csv"
    rain_cut.write_text(
        "\n".join(head) + "\n" + rain[~(rain_day >= "2012-07-01")].to_csv(index=False)
    )
    outs = {}
    for name, events, rainfall in (
        ("all", hk / "landslides_1984_2014.csv", hk / "hko_daily_rainfall_1884_2014.csv"),
        ("cut", cut, rain_cut),
    ):
        outs[name] = tmp_path / name
        rc = main(
            [
                "backtest", "geohazard",
                "--source", str(ROOT / "configs/sources/hongkong_landslides.yaml"),
                "--events", str(events),
                "--rainfall-source", str(ROOT / "configs/sources/hongkong_rainfall.yaml"),
                "--rainfall", str(rainfall),
                "--cell-size", "1000", "--crs", "EPSG:2326", "--horizon-days", "1",
                "--start", "2012-01-01", "--end", "2012-12-31", "--train-start", "2004-01-01",
                "--out", str(outs[name]),
            ]
        )  # fmt: skip
        assert rc == 0
    city = pd.read_parquet(outs["all"] / "citywide.parquet")
    assert list(city.columns) == [
        "date", "method", "score", "expected_landslides", "p_any", "p_major", "level",
        "level_prev_day", "n_events",
    ]  # fmt: skip
    assert set(city["method"]) == {"xgboost", "caine", "guzzetti", "effective_rain", "rain_72h"}
    assert city.groupby("method").size().eq(366).all()
    assert city[["p_any", "p_major"]].stack().between(0, 1).all()
    assert set(city["level"].unique()) <= {0, 1, 2, 3, 4}
    scores = pd.read_parquet(outs["all"] / "scores.parquet")
    assert list(scores.columns) == ["origin", "cell_x", "cell_y", "method", "score"]
    metrics = json.loads((outs["all"] / "metrics.json").read_text())
    assert metrics["methods"]["xgboost"]["any"]["auc"] > 0.65
    assert {t["method"] for t in metrics["thresholds"]} == set(city["method"])
    assert metrics["cell_hit_rates_on_event_days"]
    cut_city = pd.read_parquet(outs["cut"] / "citywide.parquet")
    cols = ["date", "method", "score", "expected_landslides", "p_any", "p_major", "level"]
    early = pd.to_datetime(city["date"]) < "2012-07-01"
    assert (pd.to_datetime(cut_city["date"]) < "2012-07-01").all()
    pd.testing.assert_frame_equal(
        city.loc[early, cols].reset_index(drop=True), cut_city[cols].reset_index(drop=True)
    )


def test_study_area_cells_are_every_cell_centred_inside() -> None:
    from shapely.geometry import box

    from features.cells import cells_in_area
    from riskwarn.geo import project

    area = box(-87.70, 41.85, -87.68, 41.87)  # about 1.7 km x 2.2 km of Chicago
    cells = cells_in_area(area, 250, "EPSG:32616")
    x0, y0 = project([-87.70, -87.68], [41.85, 41.87], "EPSG:32616")
    assert 40 <= len(cells) <= 80 and not cells.duplicated().any()
    cx = (cells["cell_x"].to_numpy() + 0.5) * 250
    cy = (cells["cell_y"].to_numpy() + 0.5) * 250
    assert (cx > x0.min() - 50).all() and (cx < x0.max() + 50).all()
    assert (cy > y0.min() - 50).all() and (cy < y0.max() + 50).all()


def test_backtest_with_a_study_area_scores_every_cell_inside_it(
    shared_data: Path, tmp_path: Path
) -> None:
    """A city's polygon defines the area: every cell centred in it is scored, including
    cells that never had an event."""
    from shapely.geometry import box

    from features.cells import cells_in_area

    events = chicago_slice(shared_data, tmp_path)
    area = box(-87.72, 41.85, -87.66, 41.90)
    (tmp_path / "area.geojson").write_text(
        json.dumps({"type": "Feature", "geometry": area.__geo_interface__, "properties": {}})
    )
    out = tmp_path / "out"
    rc = main(
        [
            "backtest", "incidents", "--source", str(ROOT / "configs/sources/chicago.yaml"),
            "--events", str(events), "--cell-size", "250", "--crs", "EPSG:32616",
            "--start", "2016-01-01", "--end", "2016-01-21", "--refit-days", "28",
            "--train-window-days", "120", "--study-area", str(tmp_path / "area.geojson"),
            "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    expected = cells_in_area(area, 250, "EPSG:32616")
    scores = pd.read_parquet(out / "scores.parquet")
    per = scores[scores["method"] == "xgboost"].groupby("origin").size()
    assert per.eq(len(expected)).all()
    got = scores[["cell_x", "cell_y"]].drop_duplicates().sort_values(["cell_x", "cell_y"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_active_cells"] == len(expected)
    assert metrics["active_area"].startswith("study area")
    # a study area that is not a polygon is the user's to fix
    (tmp_path / "line.wkt").write_text("LINESTRING (-87.7 41.8, -87.6 41.9)")
    rc = main(
        [
            "backtest", "incidents", "--source", str(ROOT / "configs/sources/chicago.yaml"),
            "--events", str(events), "--start", "2016-01-01", "--end", "2016-01-21",
            "--study-area", str(tmp_path / "line.wkt"), "--out", str(tmp_path / "o2"),
        ]
    )  # fmt: skip
    assert rc == 2


def test_backtest_dispute_hotspots_from_a_disputes_mapping(tmp_path: Path) -> None:
    """`riskwarn backtest disputes` takes a disputes extract (opened_at) and writes the
    same outputs; windows that run past the data's last day are named in metrics.json."""
    import datetime as dt

    from riskwarn.simulate import simulate

    sim = tmp_path / "sim"
    simulate(
        sim, "small", seed=5, start=dt.date(2024, 1, 1), days=240, n_incidents=500,
        n_disputes=6_000, n_sites=3, n_rain_gauges=2, sensor_offset_days=5, sensor_days=2,
        township_scale=0.2,
    )  # fmt: skip
    out = tmp_path / "out"
    rc = main(
        [
            "backtest", "disputes", "--source", str(ROOT / "configs/sources/sim_disputes.yaml"),
            "--events", str(sim / "extracts" / "disputes.csv"), "--cell-size", "500",
            "--crs", "EPSG:32650", "--start", "2024-08-05", "--end", "2024-08-26",
            "--refit-days", "28", "--train-window-days", "140", "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns) == ["origin", "cell_x", "cell_y", "method", "score"]
    assert {"xgboost", "long_run", "kde", "prospective", "last_period"} <= set(scores["method"])
    assert scores["origin"].astype(str).nunique() == 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_origins"] == 4 and metrics["windows_past_data_end"] == ["2024-08-26"]
