"""The multi-city suite's mapping files ingest their city's file, and the backtest runs on
a slice of each (real data in ../shared/data; skipped when a file is absent)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.backtest import ModelConfig
from models.hotspot_backtest import HotspotBacktestSpec, run_hotspot_backtest
from riskwarn.ingest import read_and_validate
from riskwarn.sources import load_mapping
from tests.conftest import ROOT

FILES = {
    "cincinnati_burglary": "cincinnati/burglary_2016_2018.csv.gz",
    "vancouver_thefts": "vancouver/thefts_2020.csv.gz",
    "portland_calls": "portland/portland_cfs_2016_aug_sep.csv.gz",
}
SMALL = ModelConfig(
    train_window_days=84,
    es_origins=3,
    cal_origins=2,
    max_rounds=30,
    early_stopping_rounds=10,
    grid=({"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 1.0},),
)


def _read(shared_data: Path, mapping: str):
    path = shared_data / FILES[mapping]
    if not path.exists():
        pytest.skip(f"{path} is absent")
    m = load_mapping(ROOT / "configs" / "sources" / f"{mapping}.yaml")
    batch = read_and_validate(m, path, pseudonym_key=b"k" * 32, as_of=datetime.now(UTC))
    return m, batch, path


def test_an_id_repeated_on_purpose_keeps_its_first_row(tmp_path: Path) -> None:
    """``id.repeats: first``: an id seen again with other content is the same record (the
    first valid row kept, the others counted as duplicates); by default both versions are
    quarantined as a conflict."""
    csv = tmp_path / "b.csv"
    csv.write_text(
        "incident_no,offense_date,offense,longitude,latitude\n"
        "7,2018-13-45T10:00:00Z,BURGLARY,-84.5000,39.1000\n"  # bad date: not the record
        "7,2018-01-02T10:00:00Z,BURGLARY,-84.5001,39.1001\n"
        "7,2018-01-02T10:00:00Z,BURGLARY,-84.5009,39.1009\n"
        "8,2018-01-03T11:00:00Z,BURGLARY,-84.4000,39.2000\n"
        "7,2018-01-02T10:00:00Z,BURGLARY,-84.5001,39.1001\n"
    )
    text = (ROOT / "configs" / "sources" / "cincinnati_burglary.yaml").read_text()
    both = {"first": text, "conflict": text.replace(", repeats: first", "")}
    assert both["first"] != both["conflict"]
    counts, accepted = {}, {}
    for kind, body in both.items():
        path = tmp_path / f"{kind}.yaml"
        path.write_text(body)
        batch = read_and_validate(
            load_mapping(path), csv, pseudonym_key=b"k" * 32, as_of=datetime.now(UTC)
        )
        counts[kind], accepted[kind] = batch.counts, batch.accepted.set_index("record_id")
    assert counts["first"]["read"] == 5 and counts["first"]["accepted"] == 2
    assert counts["first"]["duplicates"] == 2 and counts["first"]["quarantined"] == 1
    assert accepted["first"].loc["7", "lon"] == pytest.approx(-84.5001)
    assert counts["conflict"]["reasons"]["duplicate_id_conflict"] == 2
    assert counts["conflict"]["duplicates"] == 1  # the exact repeat of row 2
    assert list(accepted["conflict"].index) == ["8"]


def test_cincinnati_counts_each_incident_once_at_its_utc_time(shared_data: Path) -> None:
    """incident_no repeats (one row per victim/offence, each with its own jittered place):
    the incident is one event, its first row kept, the repeats counted as duplicates;
    'NA' places are missing (kept without coordinates); offense_date is UTC ('...Z')."""
    _, batch, path = _read(shared_data, "cincinnati_burglary")
    raw = pd.read_csv(path, dtype=str)  # pandas reads NA as missing too
    incidents = raw.drop_duplicates("incident_no", keep="first")
    assert batch.counts["read"] == len(raw)
    assert batch.counts["accepted"] == len(incidents) == len(batch.accepted)
    assert batch.counts["duplicates"] == len(raw) - len(incidents)
    assert batch.counts["quarantined"] == 0
    acc = batch.accepted.set_index("record_id").sort_index()
    first = incidents.set_index("incident_no").sort_index()
    assert list(acc.index) == list(first.index)
    assert np.allclose(acc["lon"], first["longitude"].astype(float), equal_nan=True)
    assert acc["lon"].isna().sum() == first["longitude"].isna().sum() > 0
    expected = pd.to_datetime(first["offense_date"], utc=True)
    assert (acc["occurred_at"] == expected.to_numpy()).all()


def test_vancouver_local_time_parts_and_utm_metres(shared_data: Path) -> None:
    from pyproj import Transformer

    _, batch, path = _read(shared_data, "vancouver_thefts")
    raw = pd.read_csv(path)
    assert batch.counts["read"] == len(raw) == batch.counts["accepted"]
    acc = batch.accepted
    local = pd.to_datetime(
        raw[["YEAR", "MONTH", "DAY", "HOUR", "MINUTE"]].rename(columns=str.lower)
    ).dt.tz_localize("America/Vancouver", ambiguous="NaT", nonexistent="NaT")
    lon, lat = Transformer.from_crs("EPSG:26910", "EPSG:4326", always_xy=True).transform(
        raw["X"].to_numpy(), raw["Y"].to_numpy()
    )
    # every row kept at its local time and its UTM place (compared as multisets of (time,
    # lon); rows in the DST changes' ambiguous or missing hour are left out of the check)
    got = pd.DataFrame({"t": acc["occurred_at"], "lon": acc["lon"].round(6)}).value_counts()
    want = pd.DataFrame({"t": local.dt.tz_convert("UTC"), "lon": np.round(lon, 6)})
    want = want[want["t"].notna()].value_counts()
    assert len(want) > 0.99 * len(got)
    assert (want <= got.reindex(want.index, fill_value=0)).all()
    # the file's first row, 2020-01-01 00:00 local (PST, UTC-8), is stored at 08:00 UTC
    assert (acc["occurred_at"] == pd.Timestamp("2020-01-01 08:00", tz="UTC")).any()
    assert 49.19 < float(np.median(lat)) < 49.32


@pytest.mark.parametrize(
    ("mapping", "crs", "start", "horizon"),
    [
        ("cincinnati_burglary", "EPSG:32616", "2018-01-01", 7),
        ("vancouver_thefts", "EPSG:26910", "2020-07-01", 7),
        ("portland_calls", "EPSG:32610", "2016-09-01", 1),
    ],
)
def test_backtest_runs_on_a_slice_of_each_city(
    shared_data: Path, mapping: str, crs: str, start: str, horizon: int
) -> None:
    m, batch, _ = _read(shared_data, mapping)
    first = pd.Timestamp(start)
    last = first + pd.Timedelta(days=2 * horizon)
    end_utc = (last + pd.Timedelta(days=horizon + 1)).tz_localize(m.timezone).tz_convert("UTC")
    events = batch.accepted[batch.accepted["occurred_at"] < end_utc]
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=crs, cell_size_m=250, tz=m.timezone, start=first, end=last,
        horizon_days=horizon, step_days=horizon, train_step_days=min(horizon, 7),
        model=SMALL if horizon == 7 else ModelConfig(**{**SMALL.__dict__, "train_window_days": 21}),
        max_cells=150,
    )  # fmt: skip
    res = run_hotspot_backtest(events, spec)
    assert res.scores.groupby(["method", "origin"]).size().eq(150).all()
    assert res.scores["origin"].nunique() == 3
    x = res.metrics["methods"]["xgboost"]
    assert x["events"] > 0 and np.isfinite(x["pai@0.05"]) and np.isfinite(x["auc"])
    assert {"long_run", "kde", "ceiling_loo"} <= set(res.metrics["methods"])
