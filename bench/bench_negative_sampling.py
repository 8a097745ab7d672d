"""The boosters grown on subsampled fit rows (``ModelConfig.negative_rate``) beside every row.

    .venv/bin/python bench/bench_negative_sampling.py small /work/lakebench/train_small \\
        --out var/bench/negsample_small
    .venv/bin/python bench/bench_negative_sampling.py chicago --out var/bench/negsample_chicago \\
        [--base DIR]

Runs ``riskwarn backtest incidents`` twice on the same data, protocol and origins: with the
model's default ``--negative-rate`` and with ``--negative-rate 1`` (every row, the model
before subsampling), or takes the every-row run from ``--base`` (a finished
``bench/bench_backtest.py`` run folder; ``--sampled``: the subsampled run too). Prints the wall time of each and PAI@1/5/10 % of
the subsampled model minus the every-row model with paired bootstrap 95 % CIs over the
forecast windows (every event counted; bench/bench_cities.py's ``paired_diffs``).
``small``: the simulated city of ``riskwarn simulate --size small`` (one year), weekly
windows 2023-07-01 .. 2023-12-24, one fit at the start (``--refit-days 364``) on 182 days
of training origins, so the scored windows all come from a booster grown on subsampled rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def small_args(sim: Path, out: Path) -> list[str]:
    meta = json.loads((sim / "simulation.json").read_text())
    events = sorted((sim / "extracts").glob("incidents.*.csv.gz"))
    if len(events) != 1:
        raise SystemExit(f"expected one incidents extract in {sim}/extracts (size small)")
    return [
        "backtest", "incidents",
        "--source", str(ROOT / "configs/sources/sim_incidents.yaml"),
        "--events", str(events[0]),
        "--cell-size", str(meta["cell_size_m"]), "--crs", meta["crs"], "--holidays", "CN",
        "--horizon-days", "7", "--step-days", "7",
        "--start", "2023-07-01", "--end", "2023-12-24",
        "--train-window-days", "182", "--refit-days", "364", "--out", str(out),
    ]  # fmt: skip


def run(args: list[str]) -> float:
    from riskwarn.cli import main

    t0 = time.perf_counter()
    rc = main(args)
    if rc != 0:
        raise SystemExit(rc)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("case", choices=["small", "chicago"])
    ap.add_argument("sim", nargs="?", type=Path, help="small: the simulation folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--base", type=Path, default=None, help="finished every-row run folder")
    ap.add_argument("--sampled", type=Path, default=None, help="finished subsampled run folder")
    a = ap.parse_args(argv)
    from bench_cities import paired_diffs

    def args_for(out: Path) -> list[str]:
        if a.case == "small":
            if a.sim is None:
                ap.error("small needs the simulation folder")
            return small_args(a.sim, out)
        from bench_backtest import chicago_args

        return chicago_args(out, daily=False)

    sampled, full = a.sampled or a.out / "sampled", a.base or a.out / "every_row"
    res: dict[str, Any] = {"case": a.case, "sampled": str(sampled), "every_row": str(full)}
    if a.sampled is None:
        res["sampled_wall_s"] = run(args_for(sampled))
    if a.base is None:
        res["every_row_wall_s"] = run([*args_for(full), "--negative-rate", "1"])
    import pandas as pd

    both = a.out / "paired"
    both.mkdir(parents=True, exist_ok=True)
    s_full = pd.read_parquet(full / "scores.parquet")
    s_samp = pd.read_parquet(sampled / "scores.parquet")
    xs = s_samp[s_samp["method"] == "xgboost"].assign(method="xgboost_sampled")
    pd.concat([s_full, xs], ignore_index=True).to_parquet(both / "scores.parquet", index=False)
    if (full / "events_outside_area.parquet").exists():
        shutil.copy(full / "events_outside_area.parquet", both / "events_outside_area.parquet")
    diffs = paired_diffs(both, "xgboost_sampled", "xgboost")
    for name, run_dir in (("sampled", sampled), ("every_row", full)):
        m = json.loads((run_dir / "metrics.json").read_text())["methods"]["xgboost"]
        res[f"{name}_pai"] = {f"pai@{f}": m[f"pai@{f}"] for f in ("0.01", "0.05", "0.1")}
    res["sampled_minus_every_row"] = {str(k): v for k, v in diffs.items()}
    (a.out / "negative_sampling.json").write_text(json.dumps(res, indent=2, default=str))
    print(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
