"""`python -m riskwarn.demo --help` prints what the demo does and stops: it took no
arguments and ran the whole demo (simulated a city into ./var, started Airflow) when
asked for help (attack review, 2026-12-07)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_help_prints_and_runs_nothing(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "RISKWARN_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "riskwarn.demo", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "RISKWARN_DEMO_NO_SERVE" in done.stdout
    assert not (tmp_path / "home").exists() and not (tmp_path / "var").exists()


def test_an_unknown_argument_is_refused_before_anything_runs(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "RISKWARN_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "riskwarn.demo", "--sizee", "city"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr
    assert not (tmp_path / "home").exists()
