"""Benchmark: the cost of the per-record export-times index (``<lake>/_export_times/<table>``).

Simulates one month of the city's 10-minute sensor readings (``riskwarn.simulate`` at
``--size city``, its sensor record cut to ``--days`` days: the readings of one monthly
extract, about 2.8 M narrow rows for 31 days), then ingests that file into two fresh
lakes, each in a child process of its own (so each peak RSS is its own):

* ``without``: no export time (``riskwarn ingest`` without ``--extracted-at``): the
  index is not written;
* ``with``: ``--extracted-at`` given: every record gets its index entry, written under
  the table's writer lock before the table commit.

Each lake then takes the same file again, a re-export of the month (``with``: a later
export time, which makes it the newest export of every record it carries; ``without``:
no time again), as a monthly extract is sent again after a correction. Printed per
variant and step: wall and CPU seconds (the child's, all threads), peak RSS, the
table's and the index's size on disk; then the ratios with/without, from the one run
(the machine is shared: figures of separate runs do not compare):

    .venv/bin/python bench/bench_export_times.py [--days 31] [--sites 360] [--keep DIR]

``--days 3 --sites 60`` is a quick run (about 50 k rows). ``--keep DIR`` keeps the
simulated file and both lakes there (default: a temporary folder, removed after).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "configs" / "sources" / "sim_sensor_readings.yaml"
FIRST_EXPORT = datetime(2023, 2, 1, 2, 0, tzinfo=UTC)
SECOND_EXPORT = datetime(2023, 2, 8, 2, 0, tzinfo=UTC)


def simulate_month(out: Path, days: int, sites: int, seed: int) -> tuple[Path, int]:
    """The first month of the city's readings (January 2023) as the simulation writes it."""
    from riskwarn.simulate import geohazard as gh
    from riskwarn.simulate.config import component_rng, size_config, with_overrides
    from riskwarn.simulate.geography import build_geography
    from riskwarn.simulate.run import _reading_months, write_parquet

    cfg = with_overrides(size_config("city", date(2023, 1, 1)), sensor_days=days, n_sites=sites)
    geo = build_geography(cfg, component_rng(seed, "geography"))
    gsim = gh.simulate_geohazard(geo, cfg, component_rng(seed, "geohazard"))
    label, table = next(iter(_reading_months(gsim)))
    path = out / f"sensor_readings.{label}.parquet"
    write_parquet(table, path)
    return path, table.num_rows


def size_mb(path: Path) -> float:
    """Bytes of the files under ``path`` (0 when absent), in MB."""
    if path.is_file():
        return path.stat().st_size / 1e6
    if not path.exists():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def child(file: Path, home: Path, with_time: bool) -> None:
    """Ingest ``file`` twice into the lake of ``home`` (``with_time``: with export times);
    print one JSON line per ingest."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.lake import layout
    from riskwarn.settings import Settings

    settings = Settings(home=home)
    mapping = load_mapping(MAPPING)
    for step, export in (("first", FIRST_EXPORT), ("again", SECOND_EXPORT)):
        t0, c0 = time.perf_counter(), time.process_time()
        [report] = ingest_files(
            mapping,
            [file],
            settings,
            as_of=datetime(2023, 3, 1, tzinfo=UTC),
            extracted_at=export if with_time else None,
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        lake = settings.lake_dir
        index = layout.table_dir(lake, layout.export_times_name("sensor_readings"))
        out = {
            "step": step,
            "read": int(report["read"]),
            "new": int(report["new"]),
            "updated": int(report["updated"]),
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "table_mb": size_mb(layout.table_dir(lake, "sensor_readings")),
            "index_mb": size_mb(index),
            "lake_mb": size_mb(lake),
        }
        print(json.dumps(out), flush=True)


def run_child(file: Path, home: Path, with_time: bool) -> list[dict[str, Any]]:
    cmd = [sys.executable, __file__, "--child", str(file), "--home", str(home)]
    if with_time:
        cmd.append("--with-time")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=31, help="days of readings (31: a month)")
    ap.add_argument("--sites", type=int, default=360, help="monitored sites (city: 360)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="keep the file and lakes here")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--with-time", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        child(args.child, args.home, args.with_time)
        return 0
    if not 1 <= args.days <= 31:
        ap.error("--days: 1 to 31 (one monthly file)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="riskwarn-export-times-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(
            f"start {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}, load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        t0 = time.perf_counter()
        file, rows = simulate_month(work, args.days, args.sites, args.seed)
        print(
            f"simulated {file.name}: {rows:,d} rows, {size_mb(file):.1f} MB, "
            f"{time.perf_counter() - t0:.1f} s ({args.sites} sites, {args.days} days)",
            flush=True,
        )
        got = {}
        for variant in ("without", "with"):
            home = work / f"home_{variant}"
            shutil.rmtree(home, ignore_errors=True)
            got[variant] = run_child(file, home, variant == "with")
            for r in got[variant]:
                print(
                    f"  {variant:<7} {r['step']:<5} read {r['read']:>10,d} new {r['new']:>10,d} "
                    f"updated {r['updated']:>9,d}  wall {r['wall_s']:6.1f} s  cpu "
                    f"{r['cpu_s']:6.1f} s  peak {r['peak_rss_mb']:7,.0f} MB  table "
                    f"{r['table_mb']:8.2f} MB  index {r['index_mb']:7.2f} MB  lake "
                    f"{r['lake_mb']:8.2f} MB",
                    flush=True,
                )
        for i, step in enumerate(("first", "again")):
            w, wo = got["with"][i], got["without"][i]
            print(
                f"  with/without, {step}: wall x{w['wall_s'] / wo['wall_s']:.2f}, cpu "
                f"x{w['cpu_s'] / wo['cpu_s']:.2f}, peak RSS x{w['peak_rss_mb'] / wo['peak_rss_mb']:.2f}, "
                f"lake on disk x{w['lake_mb'] / wo['lake_mb']:.2f} (index "
                f"{w['index_mb']:.2f} MB = {w['index_mb'] / w['table_mb']:.0%} of the table)",
                flush=True,
            )
        print(
            f"end {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}, load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
