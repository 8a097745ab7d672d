"""The lake sources scoring checks a champion against (riskwarn.scoring.served_sources):
the whole ``source`` column read from the table (before 2026-12-07 evening) against the
Delta log's partition values (riskwarn.lake.sources), on a lake's event table.

    PYTHONPATH=$PWD /work/wt/heavy .venv/bin/python bench/bench_served_sources.py \
        --lake HOME/lake --table incidents --repeat 5

Prints one JSON line: rows, files, the sources each way (they must agree), and the
seconds of each (best and median of ``--repeat`` runs, each in a fresh process state as
far as the Delta table object goes: it is opened again every time, as scoring does).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

from riskwarn import lake


def by_column(lake_dir: Path, table: str) -> list[str]:
    """What served_sources did before: read the table's whole source column."""
    got = lake.read_table(lake_dir, table, columns=["source"])
    return sorted({str(x) for x in got["source"].dropna()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--table", default="incidents")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    dt = lake.read.delta_table(args.lake, args.table)
    assert dt is not None, f"no {args.table} table in {args.lake}"
    files = len(dt.file_uris())
    rows = dt.to_pyarrow_dataset().count_rows()
    out: dict[str, object] = {"table": args.table, "rows": rows, "files": files}
    for name, fn in (("log", lake.sources), ("column", by_column)):
        times: list[float] = []
        got: list[str] = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            got = fn(args.lake, args.table)
            times.append(time.perf_counter() - t0)
        out[name] = {
            "sources": got,
            "best_s": round(min(times), 4),
            "median_s": round(statistics.median(times), 4),
            # the process's peak so far (the log's runs come first)
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    log, column = out["log"], out["column"]
    assert isinstance(log, dict) and isinstance(column, dict)
    assert log["sources"] == column["sources"], (log, column)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
