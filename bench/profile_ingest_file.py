"""Where one file's ingest goes: CPU of read+validate and of the lake write, optional cProfile.

    .venv/bin/python bench/profile_ingest_file.py <file> [--mapping configs/sources/sim_sensor_readings.yaml]
        [--profile OUT.prof] [--top 60]

Runs ``read_and_validate`` then ``store_batch`` (the two stages ``ingest_files`` runs per
file) on one landing file into a throw-away lake and prints the CPU seconds of each and
the read / accepted counts; with ``--profile`` the same run under cProfile, printing the
``--top`` functions by cumulative time (profiler overhead included). docs/ingestion.md's
per-stage figures for a readings month came from this run on a city month (2023-02).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument(
        "--mapping", type=Path, default=ROOT / "configs/sources/sim_sensor_readings.yaml"
    )
    ap.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    ap.add_argument("--top", type=int, default=60)
    args = ap.parse_args()

    from riskwarn.ingest import load_mapping
    from riskwarn.ingest.flow import read_and_validate
    from riskwarn.ingest.write import store_batch

    mapping = load_mapping(args.mapping)
    lake = Path(tempfile.mkdtemp(prefix="riskwarn-prof-")) / "lake"
    as_of = datetime(2030, 1, 1, tzinfo=UTC)

    def run() -> None:
        c0 = time.process_time()
        batch = read_and_validate(mapping, args.file, pseudonym_key="k", as_of=as_of)
        c1 = time.process_time()
        report = store_batch(
            batch, lake, as_of, mapping.partition, ids_carry_time=mapping.ids_carry_time
        )
        c2 = time.process_time()
        print(
            f"read+validate {c1 - c0:.2f} CPU s, lake write {c2 - c1:.2f} CPU s, "
            f"read {report['read']:,}, accepted {report['accepted']:,}"
        )

    if args.profile is None:
        run()
        return
    cProfile.runctx("run()", globals(), {"run": run}, str(args.profile))
    pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
