"""The boosters' ``max_bin`` as a bench/backtest knob (``models.backtest.with_max_bin``,
``riskwarn backtest incidents --max-bin``): it changes ``max_bin`` and nothing else, and
without it the model's own default stays."""

from __future__ import annotations

import pytest

from models.backtest import ModelConfig, with_max_bin


def test_with_max_bin_changes_only_max_bin() -> None:
    base = ModelConfig(train_window_days=364)
    got = with_max_bin(base, 64)
    assert got.base_params["max_bin"] == 64
    assert {k: v for k, v in got.base_params.items() if k != "max_bin"} == {
        k: v for k, v in base.base_params.items() if k != "max_bin"
    }
    assert got.train_window_days == 364 and got.grid == base.grid
    assert base.base_params["max_bin"] == ModelConfig().base_params["max_bin"]  # not mutated
    assert with_max_bin(base, None) is base
    with pytest.raises(ValueError):
        with_max_bin(base, 1)


def test_backtest_max_bin_reaches_the_boosters_only(shared_data, tmp_path) -> None:
    """`riskwarn backtest incidents --max-bin 4` grows other boosters (other xgboost
    scores) on the same data; the baselines' scores stay the same; --max-bin 1 is refused."""
    import pandas as pd

    from riskwarn.cli import main
    from tests.conftest import ROOT
    from tests.test_backtest_cli import chicago_slice

    events = chicago_slice(shared_data, tmp_path)
    scores = {}
    for name, extra in (("default", []), ("bins4", ["--max-bin", "4"])):
        out = tmp_path / name
        rc = main(
            [
                "backtest", "incidents", "--source", str(ROOT / "configs/sources/chicago.yaml"),
                "--events", str(events), "--cell-size", "250", "--crs", "EPSG:32616",
                "--start", "2016-01-01", "--end", "2016-01-07", "--refit-days", "28",
                "--max-cells", "400", "--train-window-days", "120", "--out", str(out), *extra,
            ]
        )  # fmt: skip
        assert rc == 0
        scores[name] = pd.read_parquet(out / "scores.parquet").set_index(
            ["method", "origin", "cell_x", "cell_y"]
        )["score"]
    a, b = scores["default"], scores["bins4"]
    base = [m for m in a.index.get_level_values("method").unique() if m != "xgboost"]
    assert a.loc[base].equals(b.loc[base])
    assert not a.loc["xgboost"].equals(b.loc["xgboost"])
    rc = main(
        [
            "backtest", "incidents", "--source", str(ROOT / "configs/sources/chicago.yaml"),
            "--events", str(events), "--start", "2016-01-01", "--end", "2016-01-07",
            "--max-bin", "1", "--out", str(tmp_path / "o"),
        ]
    )  # fmt: skip
    assert rc == 2
