"""Temporary folders left by a process killed with ``kill -9`` are removed by the daily
sweep (the ``lake_maintenance`` DAG's ``sweep_temporary`` task, ``riskwarn lake sweep``),
never one in use: real processes, real SIGKILL (riskwarn.spill, docs/operations.md).

The folders here are XGBoost's external-memory pages (models.matrices: the city's
incidents training writes them; before, into ``$TMPDIR/riskwarn-xgb-*``, left for ever by
a killed training) of a process that builds the matrix and then waits: one is killed,
one lives on and trains on its matrix after the sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_PSEUDONYM_KEY

ROOT = Path(__file__).resolve().parents[1]

OWNER = """
import sys, time
from pathlib import Path
import numpy as np, pandas as pd
import xgboost as xgb
import models.matrices as mx
mx.EXTERNAL_MEMORY_VALUES = 1  # the city's path (an external-memory matrix), small rows
marker, go = Path(sys.argv[1]), Path(sys.argv[2])
rng = np.random.default_rng(0)
n = 4000
frame = pd.DataFrame({
    "origin": pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) // 200, "D"),
    "f0": rng.random(n), "f1": rng.random(n), "label_count": rng.poisson(0.3, n),
})
params = {"objective": "count:poisson", "max_bin": 16, "tree_method": "hist"}
matrix = mx.quantile_dmatrix(frame, ["f0", "f1"], "count:poisson", params, block_rows=1000)
marker.write_text("ready")
deadline = time.monotonic() + 300
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
booster = xgb.train(params, matrix, num_boost_round=3)  # its pages must still be there
print(len(booster.get_dump()))
"""


def _env(tmp: Path, home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(tmp),  # the system's temporary folder of these processes
        "RISKWARN_HOME": str(home),
        "RISKWARN_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY,
    }
    env.pop("RISKWARN_SPILL_DIR", None)
    return env


def _files(tmp: Path) -> set[Path]:
    return {p for p in tmp.rglob("*") if p.is_file() and p.name != "owner.lock"}


def _wait(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the owner ended early: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail("gave up waiting for the owner")
        time.sleep(0.05)


def test_the_sweep_removes_a_killed_owners_folder_and_keeps_a_live_ones(tmp_path: Path) -> None:
    tmp, home = tmp_path / "tmp", tmp_path / "home"
    tmp.mkdir()
    home.mkdir(mode=0o700)
    env = _env(tmp, home)
    procs: dict[str, subprocess.Popen[str]] = {}
    files: dict[str, set[Path]] = {}
    try:
        for name in ("killed", "live"):
            before = _files(tmp)
            procs[name] = subprocess.Popen(
                [sys.executable, "-c", OWNER, str(tmp_path / name), str(tmp_path / f"{name}.go")],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            _wait(tmp_path / name, procs[name])
            files[name] = _files(tmp) - before
            assert files[name], f"the {name} owner wrote no external-memory pages"
        procs["killed"].send_signal(signal.SIGKILL)
        procs["killed"].communicate(timeout=60)
        assert procs["killed"].returncode == -signal.SIGKILL
        assert all(p.exists() for p in files["killed"])  # nothing could remove them

        got = subprocess.run(
            [sys.executable, "-m", "riskwarn.cli", "lake", "sweep"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        left = [p for p in files["killed"] if p.exists()]
        assert not left, f"the killed owner's pages were not removed: {left[:3]} {got.stderr}"
        assert got.returncode == 0, got.stderr[-2000:]
        assert f"pid {procs['killed'].pid} " in got.stdout, got.stdout
        assert "xgboost external-memory matrix" in got.stdout
        assert all(p.exists() for p in files["live"]), "a live owner's pages were removed"

        (tmp_path / "live.go").touch()  # the live owner trains on its matrix
        out, err = procs["live"].communicate(timeout=120)
        assert procs["live"].returncode == 0, err[-2000:]
        assert int(out.strip().splitlines()[-1]) == 3
        assert not _files(tmp), "the live owner's folder outlived its matrix"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()


def test_owner_less_folders_are_reported_never_removed(tmp_path: Path) -> None:
    """``riskwarn-readings-*`` (and the other owner-less prefixes) in the system temp:
    listed with their size, left in place (nothing proves their process gone)."""
    tmp, home = tmp_path / "tmp", tmp_path / "home"
    tmp.mkdir()
    home.mkdir(mode=0o700)
    old = tmp / "riskwarn-readings-abc123"
    old.mkdir()
    (old / "0.arrow").write_bytes(b"x" * 1000)
    (tmp / "riskwarn-other").mkdir()  # not ours to judge
    got = subprocess.run(
        [sys.executable, "-m", "riskwarn.cli", "lake", "sweep"],
        cwd=ROOT,
        env=_env(tmp, home),
        capture_output=True,
        text=True,
    )
    assert got.returncode == 0, got.stderr[-2000:]
    assert f"not removed: {old} (0.0 MB" in got.stdout, got.stdout
    assert (old / "0.arrow").exists() and (tmp / "riskwarn-other").exists()
