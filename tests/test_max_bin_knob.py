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
