"""bench/compare_windows.py: two runs' evaluation windows paired by origin."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import compare_windows as cw

from models.metrics import hotspot_windows


def _windows(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    origins = pd.date_range("2025-01-06", periods=12, freq="7D", tz="UTC")
    cells = np.arange(400)
    frame = pd.DataFrame([(o, c) for o in origins for c in cells], columns=["origin", "cell"])
    truth = np.tile(rng.gamma(0.5, 1.0, len(cells)), len(origins))
    frame["label_count"] = rng.poisson(truth)
    out = []
    for method, s in (("kde", 0), ("xgboost", seed)):
        noise = np.random.default_rng(100 + s).normal(0, 0.5, len(frame))
        scored = frame.assign(score=truth + noise)
        out.append(hotspot_windows(scored).assign(method=method))
    return pd.concat(out, ignore_index=True)


def test_a_run_against_itself_differs_by_zero_and_another_model_is_paired(
    tmp_path: Path,
) -> None:
    ref, cand = tmp_path / "ref.windows.parquet", tmp_path / "cand.windows.parquet"
    _windows(1).to_parquet(ref, index=False)
    _windows(2).to_parquet(cand, index=False)
    assert cw.main([str(ref), str(ref), "--out", str(tmp_path / "same.json")]) == 0
    same = json.loads((tmp_path / "same.json").read_text())
    for d in same["candidate_minus_reference"].values():
        assert d["diff"] == 0 and d["ci"] == [0, 0]
    assert cw.main([str(ref), str(cand), "--out", str(tmp_path / "diff.json")]) == 0
    res = json.loads((tmp_path / "diff.json").read_text())
    assert res["baselines_identical"] == {"kde": True}
    assert res["origins"] == 12
    d = res["candidate_minus_reference"]["pai@0.05"]
    assert d["diff"] == d["candidate"] - d["reference"] or np.isclose(
        d["diff"], d["candidate"] - d["reference"]
    )
    assert d["ci"][0] <= d["diff"] <= d["ci"][1]
