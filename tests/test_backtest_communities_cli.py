"""``riskwarn backtest communities``: the community backtest of the docs' figure as a
documented command (model against the rules, paired differences with CIs and the verdict
words of models.metrics.paired_verdict), from the home's lake."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.metrics import paired_verdict
from riskwarn import lake
from riskwarn.cli import main

TZ = "Asia/Shanghai"


def _lake(home: Path, weeks: int = 20) -> None:
    codes = [f"C{i:02d}" for i in range(40)]
    units = pd.DataFrame(
        {
            "source": "t",
            "record_id": ["K", "T1", "T2", *codes],
            "name": ["county", "town 1", "town 2", *[f"community {c}" for c in codes]],
            "level": ["county", "township", "township", *["community"] * len(codes)],
            "parent_id": [None, "K", "K", *["T1" if i % 2 else "T2" for i in range(len(codes))]],
            "population": [None, None, None, *[500 + 300 * i for i in range(len(codes))]],
        }
    )
    lake.upsert(home / "lake", "admin_units", "t", units, batch_id="u")
    rng = np.random.default_rng(5)
    start = pd.Timestamp("2024-01-01", tz=TZ).tz_convert("UTC")
    pop = units["population"].iloc[3:].to_numpy(float)
    n = weeks * 40
    at = start + pd.to_timedelta(rng.uniform(0, weeks * 7 * 24, n), unit="h")
    d = pd.DataFrame(
        {
            "source": "t",
            "record_id": [f"D{i:05d}" for i in range(n)],
            "opened_at": at.round("min"),
            "category": "neighbour",
            "lon": 116.5,
            "lat": 30.5,
            "admin_code": rng.choice(codes, n, p=pop / pop.sum()),
            "party_ids": None,
            "n_parties": 2,
            "amount_cny": None,
        }
    )
    lake.upsert(home / "lake", "disputes", "t", d, batch_id="d")


def test_the_command_prints_the_model_against_the_rules_with_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _lake(home)
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    out = tmp_path / "out"
    args = ["backtest", "communities", "--eval-weeks", "3", "--rounds", "5", "--n-boot", "200"]
    assert main([*args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 weekly origins" in text and "40 communities" in text
    assert "population_rate (served)" in text and "ceiling (ex post)" in text
    assert "model minus each rule" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["served"] == "population_rate"
    rows = metrics["comparisons"]
    assert {r["against"] for r in rows} == {"last_4w", "long_run", "population_rate"}
    for r in rows:  # the words are paired_verdict's, lower is better for deviance and Brier
        higher = r["metric"].startswith("hit_rate")
        assert r["verdict"] == paired_verdict(r["diff"], r["lo"], r["hi"], higher)
        assert r["verdict"] in text
        line = f"{r['diff']:+.5f} [{r['lo']:+.5f}, {r['hi']:+.5f}]"
        assert line in text, line
    assert (out / "windows.parquet").is_file()
    # re-running gives the same figures
    assert main([*args]) == 0
    again = capsys.readouterr().out
    assert again.splitlines() == text.splitlines()[:-1]  # all but "-> out"


def test_the_command_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    assert main(["backtest", "communities"]) == 2
    assert "no community in the lake's admin_units" in capsys.readouterr().err
    _lake(home, weeks=8)
    assert main(["backtest", "communities", "--eval-weeks", "26"]) == 2
    assert "too few for 26 evaluation weeks" in capsys.readouterr().err
    assert main(["backtest", "communities", "--offset", "cells"]) == 2
    assert "--offset 'cells'" in capsys.readouterr().err
