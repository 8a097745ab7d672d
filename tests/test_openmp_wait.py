"""OpenMP threads sleep instead of spinning when idle (riskwarn/threads.py; issue 18.3:
training CPU), and the boosters stay the same byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = """
import sys
if sys.argv[1] == "riskwarn":
    import riskwarn  # noqa: F401  (first, as every entry point does)
import hashlib
import numpy as np
import xgboost as xgb

rng = np.random.default_rng(3)
n, k = 60_000, 12
x = rng.random((n, k), dtype=np.float32)
x[rng.random((n, k)) < 0.2] = np.nan
y = rng.poisson(0.3 + 2 * np.nan_to_num(x[:, 0])).astype(np.float32)
qid = np.repeat(np.arange(12), n // 12)
d = xgb.QuantileDMatrix(x, label=np.minimum(y, 31), qid=qid, max_bin=64, nthread=2)
params = {
    "tree_method": "hist", "objective": "rank:pairwise", "max_depth": 4,
    "learning_rate": 0.1, "subsample": 0.8, "colsample_bytree": 0.8, "max_bin": 64,
    "nthread": 2, "seed": 0, "lambdarank_pair_method": "mean",
    "monotone_constraints": "(1" + ",0" * (k - 1) + ")",
}
b = xgb.train(params, d, 15)
p = b.predict(xgb.DMatrix(x, nthread=2), output_margin=True)
print(hashlib.sha256(bytes(b.save_raw("json")) + p.tobytes()).hexdigest())
"""


def _run(mode: str, extra: dict[str, str]) -> tuple[str, str]:
    """(digest of the booster and its margins, libgomp's spin count) of a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    env.update(extra, OMP_DISPLAY_ENV="VERBOSE")  # libgomp prints its settings when loaded
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, env=env
    )
    spins = {
        line.split("=")[1].strip().strip("'")
        for line in out.stderr.splitlines()
        if line.strip().startswith("GOMP_SPINCOUNT")
    }
    assert len(spins) == 1, out.stderr[-2000:]
    return out.stdout.strip(), spins.pop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libgomp: Linux wheels")
def test_importing_riskwarn_first_stops_the_spinning_and_keeps_the_booster() -> None:
    passive, passive_spins = _run("riskwarn", {})
    spinning, spinning_spins = _run("plain", {})  # libgomp's default: spin, then sleep
    assert passive_spins == "0"  # OMP_WAIT_POLICY=PASSIVE: no spinning
    assert spinning_spins != "0"
    assert passive == spinning  # same trees, same margins
    # a spin count the caller sets wins
    _, own = _run("riskwarn", {"GOMP_SPINCOUNT": "1000"})
    assert own == "1000"


def test_airflow_processes_get_the_wait_policy(tmp_path) -> None:
    from riskwarn.orchestration import airflow_env
    from riskwarn.settings import Settings

    env = airflow_env(Settings(home=tmp_path), base={})
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    mine = airflow_env(Settings(home=tmp_path), base={"OMP_WAIT_POLICY": "ACTIVE"})
    assert mine["OMP_WAIT_POLICY"] == "ACTIVE"  # the caller's value wins
    spins = airflow_env(Settings(home=tmp_path), base={"GOMP_SPINCOUNT": "1000"})
    assert "OMP_WAIT_POLICY" not in spins
