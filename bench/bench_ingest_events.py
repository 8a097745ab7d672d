"""Benchmark: the city's event extracts (incidents, disputes, dispute events) into a
fresh lake, then again (re-ingest of unchanged files); print the figures.

    .venv/bin/python bench/bench_ingest_events.py --sim DIR [--home DIR] [--json FILE]

``DIR`` is a ``riskwarn simulate`` output (``--size city`` for the published figures).
Per file (those of the list present; library imports done before timing): rows read, accepted, quarantined, wall and CPU seconds (this process, all
threads), rows per CPU second and per wall second, peak resident memory; then the
re-ingest of every file, which must add and update nothing and leave every table's
Delta version where it was. On a shared machine the CPU figure is the steadier one.
Run it with another checkout first on ``PYTHONPATH`` (from outside the repository, so
that the editable install does not win) to measure that code on the same files.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = [
    ("sim_incidents.yaml", "incidents.2023.csv.gz"),
    ("sim_incidents.yaml", "incidents.2024.csv.gz"),
    ("sim_incidents.yaml", "incidents.2025.csv.gz"),
    ("sim_disputes.yaml", "disputes.csv"),
    ("sim_dispute_events.yaml", "dispute_events.csv"),
]


def _versions(lake_dir: Path) -> dict[str, int]:
    from deltalake import DeltaTable

    out = {}
    for d in sorted(p for p in lake_dir.iterdir() if (p / "_delta_log").is_dir()):
        out[d.name] = DeltaTable(str(d)).version()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", required=True, help="riskwarn simulate output folder")
    parser.add_argument("--home", default=None, help="riskwarn home (default: temporary)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    import riskwarn
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.settings import Settings

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench_events_"))
    settings = Settings(home=home, pseudonym_key="bench-only-key-" + "0" * 32)
    as_of = datetime(2030, 1, 1, tzinfo=UTC)
    print(f"code: {Path(riskwarn.__file__).parent}", flush=True)
    # the libraries' imports are not any file's cost
    import deltalake  # noqa: F401
    import duckdb  # noqa: F401
    import pandera.pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401

    files = [(m, f) for m, f in FILES if (Path(args.sim) / "extracts" / f).exists()]
    rows_out = []
    try:
        for rnd in ("first", "again"):
            before = _versions(settings.lake_dir) if rnd == "again" else {}
            for mapping_name, file_name in files:
                mapping = load_mapping(ROOT / "configs" / "sources" / mapping_name)
                path = Path(args.sim) / "extracts" / file_name
                t0, c0 = time.perf_counter(), time.process_time()
                [report] = ingest_files(mapping, [path], settings, as_of=as_of)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                row = {
                    "round": rnd,
                    "file": file_name,
                    "read": report["read"],
                    "accepted": report["accepted"],
                    "new": report["new"],
                    "updated": report["updated"],
                    "quarantined": report["quarantined"],
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "rows_per_cpu_s": round(report["read"] / max(cpu, 1e-9)),
                    "rows_per_wall_s": round(report["read"] / max(wall, 1e-9)),
                    "peak_mb": round(peak),
                }
                rows_out.append(row)
                print(json.dumps(row, ensure_ascii=False), flush=True)
            if rnd == "again":
                after = _versions(settings.lake_dir)
                changed = sum(r["new"] + r["updated"] for r in rows_out if r["round"] == rnd)
                print(
                    f"re-ingest: {changed} rows new or updated; table versions "
                    f"{'unchanged' if after == before else f'CHANGED {before} -> {after}'}"
                )
        for rnd in ("first", "again"):
            sel = [r for r in rows_out if r["round"] == rnd]
            n = sum(r["read"] for r in sel)
            cpu = sum(r["cpu_s"] for r in sel)
            wall = sum(r["wall_s"] for r in sel)
            print(
                f"{rnd}: {n:,} rows, cpu {cpu:.2f} s ({n / max(cpu, 1e-9):,.0f} rows/cpu s), "
                f"wall {wall:.2f} s ({n / max(wall, 1e-9):,.0f} rows/s)"
            )
        if args.json:
            Path(args.json).write_text(json.dumps(rows_out, indent=1), encoding="utf-8")
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
