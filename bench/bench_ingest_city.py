"""Benchmark: simulate the city-scale extracts, then ingest them through riskwarn.ingest.

Prints wall time, CPU time (this process, all threads), rows per second and peak memory
(ru_maxrss) per step, per file for sources of several files (the 36 reading months: the
lake's cost must not grow with the lake; all files of a source go through one
``ingest_files`` call, as ``riskwarn ingest`` does, so a file's lake write overlaps the
next file's validation and a file's figures are the interval since the previous
file's report), then re-ingests the last reading month (it must
make no new table version). On a shared machine the CPU figure is the steadier one:

    .venv/bin/python bench/bench_ingest_city.py [--out DIR] [--reuse] [--reading-months N]

* ``--out DIR``: where the simulation goes (default: a temporary folder, removed after).
* ``--reuse``: use the simulation already in ``--out`` instead of simulating again.
* ``--reading-months N``: ingest only the first N monthly sensor-reading files (the
  city has 36 of about 2.6M rows each); the rate measured on them is extrapolated
  to all of them in the last line. Default: all.

The simulation runs in a child process (``riskwarn simulate``), so its peak memory is
reported separately from the ingestion's (this process).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def simulate(out: Path, seed: int) -> float:
    """Run ``riskwarn simulate --size city`` in a child process; returns wall seconds."""
    exe = Path(sys.executable).with_name("riskwarn")
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(exe),
            "simulate",
            "--size",
            "city",
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--no-progress",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def ingest_all(out: Path, home: Path, reading_months: int | None) -> list[dict[str, Any]]:
    """Ingest every extract listed in simulation.json; one result row per mapping."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.keys import new_key
    from riskwarn.settings import Settings

    meta = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
    by_mapping: dict[str, list[tuple[Path, int]]] = defaultdict(list)
    for f in meta["files"]:
        if f["kind"] == "extract":
            by_mapping[f["mapping"]].append((out / f["path"], f["rows"]))
    settings = Settings(home=home, pseudonym_key=new_key())  # simulated parties: any key
    as_of = datetime(2030, 1, 1, tzinfo=UTC)
    results = []
    per_file_cpu: dict[str, list[float]] = defaultdict(list)
    for mapping_name, files in by_mapping.items():
        total_files = len(files)
        if mapping_name == "sim_sensor_readings" and reading_months is not None:
            files = files[:reading_months]
        mapping = load_mapping(ROOT / "configs" / "sources" / f"{mapping_name}.yaml")
        t0, c0 = time.perf_counter(), time.process_time()
        reports: list[dict[str, Any]] = []
        mark = [t0, c0]

        def on_report(
            report: dict[str, Any],
            files: list[tuple[Path, int]] = files,
            reports: list[dict[str, Any]] = reports,
            mark: list[float] = mark,
            name: str = mapping_name,
        ) -> None:
            # one ingest_files call for all files (its writer thread overlaps a file's lake
            # write with the next file's validation), so a file's figures are the time
            # between consecutive reports: the pipeline's interval, summing to the total
            reports.append(report)
            now, cnow = time.perf_counter(), time.process_time()
            fsecs, fcpu = now - mark[0], cnow - mark[1]
            mark[:] = [now, cnow]
            if len(files) > 1:
                i = len(reports)
                print(
                    f"    {name} file {i:>2}/{len(files)} {files[i - 1][0].name:<28} "
                    f"read {int(report['read']):>10,d}  {fsecs:6.1f} s  cpu {fcpu:6.1f} s  "
                    f"{int(report['read']) / fsecs:>9,.0f} rows/s  "
                    f"peak {_maxrss_mb(resource.RUSAGE_SELF):,.0f} MB",
                    flush=True,
                )
                per_file_cpu[name].append(fcpu)

        ingest_files(mapping, [p for p, _ in files], settings, as_of=as_of, on_report=on_report)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        read = sum(int(r["read"]) for r in reports)
        accepted = sum(int(r["accepted"]) for r in reports)
        quarantined = sum(int(r["quarantined"]) for r in reports)
        results.append(
            {
                "mapping": mapping_name,
                "files": f"{len(files)}/{total_files}",
                "read": read,
                "accepted": accepted,
                "quarantined": quarantined,
                "seconds": secs,
                "cpu_seconds": cpu,
                "rows_per_s": read / secs if secs else float("nan"),
                "all_rows": sum(n for _, n in by_mapping[mapping_name]),
                "peak_rss_mb": _maxrss_mb(resource.RUSAGE_SELF),
            }
        )
        r = results[-1]
        print(
            f"  {mapping_name:<22} files {r['files']:>6}  read {read:>11,d}  accepted {accepted:>11,d}  "
            f"quarantined {quarantined:>7,d}  {secs:8.1f} s  {r['rows_per_s']:>9,.0f} rows/s  "
            f"cpu {cpu:7.1f} s  "
            f"peak {r['peak_rss_mb']:,.0f} MB",
            flush=True,
        )
    intervals = per_file_cpu.get("sim_sensor_readings", [])
    if len(intervals) >= 8:
        # the first interval holds two files' validation (and the imports), the last one
        # only the last write: the steady intervals (one validation beside one write)
        # are the 2nd to the second-to-last
        cpus = intervals[1:-1]
        first, last = sum(cpus[:3]) / 3, sum(cpus[-3:]) / 3
        print(
            f"  readings cpu per month (steady intervals 2..{len(intervals) - 1}): first "
            f"{cpus[0]:.1f} s, last {cpus[-1]:.1f} s (x{cpus[-1] / cpus[0]:.2f}); mean of first 3 "
            f"{first:.1f} s, of last 3 {last:.1f} s (x{last / first:.2f}); all {len(intervals)} "
            f"intervals: {sum(intervals):.1f} s = {sum(intervals) / len(intervals):.1f} s per month",
            flush=True,
        )
        reingest_last(by_mapping["sim_sensor_readings"][len(intervals) - 1][0], settings, as_of)
    return results


def reingest_last(path: Path, settings: Any, as_of: datetime) -> None:
    """Ingest the last readings month again: it must change nothing (no new version)."""
    from riskwarn import lake
    from riskwarn.ingest import ingest_files, load_mapping

    mapping = load_mapping(ROOT / "configs" / "sources" / "sim_sensor_readings.yaml")
    version = lake.table_version(settings.lake_dir, "sensor_readings")
    t0, c0 = time.perf_counter(), time.process_time()
    [r] = ingest_files(mapping, [path], settings, as_of=as_of)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    after = lake.table_version(settings.lake_dir, "sensor_readings")
    print(
        f"  re-ingest {path.name}: read {int(r['read']):,d}, new {r['new']}, updated "
        f"{r['updated']}, unchanged {int(r['unchanged']):,d}; table version {version} -> "
        f"{after} ({'unchanged' if after == version else 'CHANGED'}); {secs:.1f} s, cpu {cpu:.1f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reading-months", type=int, default=None)
    args = ap.parse_args(argv)
    tmp = None
    out = args.out
    if out is None:
        tmp = Path(tempfile.mkdtemp(prefix="riskwarn-city-"))
        out = tmp / "sim"
    try:
        if not (args.reuse and (out / "simulation.json").exists()):
            secs = simulate(out, args.seed)
            meta = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
            rows = sum(f["rows"] for f in meta["files"] if f["kind"] == "extract")
            size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
            print(
                f"simulate --size city: {secs:.1f} s, {rows:,d} extract rows, {size_mb:,.0f} MB on disk, "
                f"peak {_maxrss_mb(resource.RUSAGE_CHILDREN):,.0f} MB (child process)",
                flush=True,
            )
        home = (tmp or Path(tempfile.mkdtemp(prefix="riskwarn-bench-"))) / "home"
        home.mkdir(parents=True, exist_ok=True)
        print("ingest (riskwarn.ingest.ingest_files into a fresh lake):", flush=True)
        t0 = time.perf_counter()
        results = ingest_all(out, home, args.reading_months)
        secs = time.perf_counter() - t0
        read = sum(int(r["read"]) for r in results)
        print(
            f"ingest total: {read:,d} rows in {secs:.1f} s = {read / secs:,.0f} rows/s, "
            f"peak {_maxrss_mb(resource.RUSAGE_SELF):,.0f} MB",
            flush=True,
        )
        skipped = sum(int(r["all_rows"]) - int(r["read"]) for r in results)
        if skipped > 0:
            rr = next(r for r in results if r["mapping"] == "sim_sensor_readings")
            est = secs + skipped / float(rr["rows_per_s"])
            print(
                f"not ingested: {skipped:,d} sensor-reading rows; at the measured reading rate all "
                f"extracts would take about {est / 60:.0f} min",
                flush=True,
            )
        if tmp is None:
            shutil.rmtree(home.parent, ignore_errors=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
