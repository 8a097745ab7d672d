"""A site domain whose data hold no failure in any training rows is *not trained*, with
its reason, instead of failing the run (issue 18.3: both geohazard domains failed the
city's full-day rebuild with 3 reading months)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.gate import NothingToLearn
from models.geohazard_sites import LABEL, run_site_backtest, site_config


def _table(failures: bool) -> pd.DataFrame:
    origins = pd.date_range("2025-10-01", periods=40, freq="D", tz="UTC")
    rows = pd.DataFrame(
        {
            "origin": np.repeat(origins, 3),
            "site_id": np.tile(["a", "b", "c"], len(origins)),
            "rain_24h_mm": np.linspace(0.0, 10.0, 3 * len(origins)),
        }
    )
    rows[LABEL] = 0
    if failures:
        rows.loc[rows.index[-5], LABEL] = 1
    return rows


def test_no_failure_in_any_training_rows_is_nothing_to_learn() -> None:
    table = _table(failures=False)
    evals = list(pd.DatetimeIndex(table["origin"].unique())[-10:])
    with pytest.raises(NothingToLearn, match="0 failure row") as info:
        run_site_backtest(table, evals, site_config("geohazard"))
    assert "2025-10-01 .. 2025-11-09" in str(info.value)
    assert info.value.zh is not None and "0 行失稳记录" in info.value.zh  # for the dashboard
    assert isinstance(info.value, ValueError)  # `riskwarn train` still says it as an error


def test_the_pipeline_reports_not_trained_and_keeps_the_champion(tmp_path, monkeypatch) -> None:
    from riskwarn import pipeline
    from riskwarn.settings import Settings

    def no_failures(*_a, **_k):
        raise NothingToLearn("no evaluation origin has a failure in its training rows: x")

    monkeypatch.setattr(pipeline, "_train_sites", no_failures)
    out = pipeline.train_domain(
        Settings(home=tmp_path / "home"), "geohazard", pd.Timestamp("2026-01-01", tz="UTC")
    )
    assert out["not_trained"].startswith("no evaluation origin has a failure")
    assert out["gate"].startswith("not trained: ")
    assert out["version"] is None and out["mlflow_run_id"] is None and not out["promoted"]
    assert out["champion_before"] is None


def test_other_errors_still_fail_the_run(tmp_path, monkeypatch) -> None:
    from riskwarn import pipeline
    from riskwarn.settings import Settings

    def broken(*_a, **_k):
        raise ValueError("no sensor readings or sites to train geohazard on")

    monkeypatch.setattr(pipeline, "_train_sites", broken)
    with pytest.raises(ValueError, match="no sensor readings"):
        pipeline.train_domain(
            Settings(home=tmp_path / "home"), "geohazard", pd.Timestamp("2026-01-01", tz="UTC")
        )
