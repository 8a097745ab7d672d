"""Benchmark: ingest files through one mapping into a fresh lake; print the figures.

    .venv/bin/python bench/bench_ingest_files.py --source MAPPING.yaml FILE... [--home DIR]

Per file and in total: rows read, wall and CPU seconds (this process, all threads), rows
per CPU second, and the process's peak resident memory (ru_maxrss) after each file.
On a shared machine the CPU figure is the steadier one. ``--home`` keeps the lake
(default: a temporary folder, removed after).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="mapping file")
    parser.add_argument("--home", default=None, help="riskwarn home (default: temporary)")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.settings import Settings

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    settings = Settings(home=home, pseudonym_key="bench-only-key-" + "0" * 32)
    mapping = load_mapping(args.source)
    total_rows, total_cpu, t_start = 0, 0.0, time.perf_counter()
    try:
        for f in args.files:
            t0, c0 = time.perf_counter(), time.process_time()
            [report] = ingest_files(mapping, [f], settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            total_rows += report["read"]
            total_cpu += cpu
            print(
                f"{Path(f).name}: read {report['read']:,} accepted {report['accepted']:,} "
                f"quarantined {report['quarantined']:,}; wall {wall:.1f} s, cpu {cpu:.1f} s "
                f"({report['read'] / max(cpu, 1e-9):,.0f} rows/s cpu), peak {peak:,.0f} MB",
                flush=True,
            )
        print(
            f"total: {total_rows:,} rows, wall {time.perf_counter() - t_start:.1f} s, "
            f"cpu {total_cpu:.1f} s ({total_rows / max(total_cpu, 1e-9):,.0f} rows/s cpu)"
        )
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
