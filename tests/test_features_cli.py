"""``riskwarn features build``: reads the lake, writes one partition per origin, idempotent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from riskwarn.cli import main


@pytest.fixture
def lake_with_incidents(rw_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lake = pytest.importorskip("riskwarn.lake")
    from riskwarn.settings import Settings

    rng = np.random.default_rng(1)
    n = 300
    occ = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 60 * 24 * 60, n), unit="min"
    )
    frame = pd.DataFrame(
        {
            "source": "t",
            "record_id": [f"r{i}" for i in range(n)],
            "occurred_at": occ,
            "reported_at": pd.NaT,
            "time_precision": "minute",
            "category": "theft",
            "category_group": "property",
            "severity": pd.NA,
            "lon": 117.05 + rng.normal(0, 0.01, n),
            "lat": 30.52 + rng.normal(0, 0.01, n),
            "admin_code": None,
            "location_type": None,
        }
    )
    settings = Settings(home=rw_home)
    lake.upsert(settings.lake_dir, "incidents", "t", frame, batch_id="b1")
    monkeypatch.setenv("RISKWARN_HOME", str(rw_home))
    return rw_home


def test_features_build_writes_partitions_idempotently(lake_with_incidents: Path, capsys):
    out = lake_with_incidents / "feat"
    args = [
        "features",
        "build",
        "incidents",
        "--start",
        "2024-02-01",
        "--end",
        "2024-02-03",
        "--out",
        str(out),
        "--crs",
        "EPSG:32650",
        "--tz",
        "Asia/Shanghai",
    ]
    assert main(args) == 0
    parts = sorted(out.glob("origin=*/part.parquet"))
    assert [p.parent.name for p in parts] == [
        "origin=2024-02-01",
        "origin=2024-02-02",
        "origin=2024-02-03",
    ]
    first = [p.read_bytes() for p in parts]
    frame = pd.read_parquet(parts[0])
    assert frame["origin"].nunique() == 1 and frame["count_28d"].sum() > 0
    assert main(args) == 0
    assert [p.read_bytes() for p in parts] == first  # a rebuild writes identical files


def test_features_build_user_errors(lake_with_incidents: Path):
    runner_args = ["features", "build", "incidents", "--start", "2024-02-03", "--end", "2024-02-01"]
    assert main(runner_args) == 2
    assert (
        main(["features", "build", "geohazard", "--start", "2024-02-01", "--end", "2024-02-01"])
        == 2
    )
    res = CliRunner().invoke(
        __import__("riskwarn.cli", fromlist=["cli"]).cli,
        ["features", "build", "nope", "--start", "x", "--end", "y"],
    )
    assert res.exit_code == 2
