"""Benchmark the model backtests on real data and print their figures.

    .venv/bin/python bench/bench_backtest.py chicago  --out var/bench/chicago_weekly
    .venv/bin/python bench/bench_backtest.py chicago  --daily --out var/bench/chicago_daily
    .venv/bin/python bench/bench_backtest.py hongkong --out var/bench/hongkong

Each run goes through the same CLI a city would use (``riskwarn backtest ...``), records
the wall time in ``<out>/bench.json`` and leaves ``scores.parquet`` / ``metrics.json``
for ``bench/report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RISKWARN_SHARED_DATA", ROOT.parent / "shared" / "data"))


def chicago_args(out: Path, daily: bool) -> list[str]:
    """CLI arguments of the Chicago backtest (issue 4: 250 m, EPSG:32616, 2016-2017)."""
    args = [
        "backtest", "incidents",
        "--source", str(ROOT / "configs/sources/chicago.yaml"),
        "--events", str(DATA / "chicago/aggravated_assaults_2010_2017.csv.gz"),
        "--cell-size", "250", "--crs", "EPSG:32616", "--out", str(out),
        "--location-groups", "street,residence",
    ]  # fmt: skip
    if daily:  # daily forecasts over the first quarter of 2016 (weekly training origins)
        return [*args, "--horizon-days", "1", "--step-days", "1", "--start", "2016-01-01",
                "--end", "2016-03-31", "--train-step-days", "7",
                "--train-window-days", "364"]  # fmt: skip
    return [*args, "--horizon-days", "7", "--step-days", "7", "--start", "2016-01-01",
            "--end", "2017-12-31", "--train-window-days", "364"]  # fmt: skip


def hongkong_args(out: Path) -> list[str]:
    """CLI arguments of the Hong Kong landslide nowcast backtest (2010-2014, 1 km cells)."""
    return [
        "backtest", "geohazard",
        "--source", str(ROOT / "configs/sources/hongkong_landslides.yaml"),
        "--events", str(DATA / "hongkong/landslides_1984_2014.csv"),
        "--rainfall-source", str(ROOT / "configs/sources/hongkong_rainfall.yaml"),
        "--rainfall", str(DATA / "hongkong/hko_daily_rainfall_1884_2014.csv"),
        "--cell-size", "1000", "--crs", "EPSG:2326", "--horizon-days", "1",
        "--start", "2010-01-01", "--end", "2014-12-31", "--out", str(out),
    ]  # fmt: skip


def run(args: list[str], out: Path) -> float:
    """Run the CLI in-process; write and return the wall time in seconds."""
    from riskwarn.cli import main

    t0 = time.perf_counter()
    rc = main(args)
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(rc)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(
        json.dumps({"wall_s": wall, "command": "riskwarn " + " ".join(args)}, indent=2)
    )
    return wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=["chicago", "hongkong"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--daily", action="store_true", help="Chicago: daily forecasts")
    a = p.parse_args(argv)
    args = chicago_args(a.out, a.daily) if a.dataset == "chicago" else hongkong_args(a.out)
    wall = run(args, a.out)
    sys.stdout.write(f"{a.dataset}: {wall:.1f} s -> {a.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
