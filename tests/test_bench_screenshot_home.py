"""bench/screenshot_home.py on a tiny home: the dashboard's home gets a trained champion
in its own MLflow (HOME/mlflow.db) and the script prints the figures the docs cite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import screenshot_home


def test_the_home_gets_a_trained_champion_and_the_figures_are_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from models import registry as reg

    home = tmp_path / "home"
    args = ["--home", str(home), "--demo-cells", "40", "--weeks", "2", "--cases", "4"]
    assert screenshot_home.main([*args, "--cells", "4", "--n-boot", "50"]) == 0
    out = capsys.readouterr().out
    assert "home " in out and "40 cells, 2 weeks, 4 cases" in out
    assert " features; gate " in out
    assert "gate check calibration: " in out and "ECE " in out
    client = reg.configure(f"sqlite:///{home / 'mlflow.db'}")
    version = reg.champion_version(client, "incidents")
    assert version is not None and f"champion: v{version}" in out
    assert (home / "serving.db").exists() and (home / "users.yaml").exists()
