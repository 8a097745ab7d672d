"""`riskwarn backtest incidents` end to end on a small slice of the Chicago data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from riskwarn.cli import main
from tests.conftest import ROOT


def test_backtest_incidents_cli_on_a_chicago_slice(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "chicago" / "aggravated_assaults_2010_2017.csv.gz"
    raw = pd.read_csv(src)
    raw = raw[(raw["date"] >= "2015-06-01") & (raw["date"] < "2016-01-29")]
    events = tmp_path / "slice.csv.gz"
    with gzip.open(events, "wt") as fh:
        raw.to_csv(fh, index=False)
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
    assert metrics["methods"]["xgboost"]["pai@0.05"] > 1.5
    assert metrics["n_origins"] == 3


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
