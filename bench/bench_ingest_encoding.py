"""Benchmark: CPU of the read stage (``read_raw_chunks``: line checks, encoding check,
parse) on a clean file, for comparing two versions of the code (run it with the other
version first on ``PYTHONPATH``):

    .venv/bin/python bench/bench_ingest_encoding.py [--rows N] [--repeat K] FILE:MAPPING...

Each FILE is read K times with its MAPPING (a configs/sources YAML); the best and the
median CPU seconds are printed, with rows per CPU second. ``--rows N`` first writes a
clean UTF-8 incidents file of N rows (Chinese text, as the simulated city's) to
/tmp/bench_enc_incidents.csv and reads it with configs/sources/sim_incidents.yaml too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = (
    "警情编号,发案时间,报警时间,时间精度,警情大类,警情类别,警情级别,经度,纬度,"
    "所属社区代码,发案场所,处警单位"
)


def _write_incidents(n: int) -> Path:
    path = Path("/tmp/bench_enc_incidents.csv")
    rows = (
        f"JQ{i:08d},2023-01-01 10:00:00,2023-01-01 10:00:00,精确到分,侵财类,盗窃,1,"
        f"116.{i:06d},30.{i:06d},3408{i:08d},住宅小区,某某派出所{i % 7}\n"
        for i in range(n)
    )
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER + "\n")
        fh.writelines(rows)
    return path


def main() -> None:
    import riskwarn
    from riskwarn.ingest.read import read_raw_chunks
    from riskwarn.sources import load_mapping

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    todo = [tuple(f.split(":", 1)) for f in args.files]
    if args.rows:
        todo.append((str(_write_incidents(args.rows)), "configs/sources/sim_incidents.yaml"))
    print(f"riskwarn from {Path(riskwarn.__file__).parent}")
    for file, source in todo:
        mapping = load_mapping(ROOT / source)
        times, rows = [], 0
        for _ in range(args.repeat):
            t = time.process_time()
            rows = sum(len(c.frame) + len(c.bad) for c in read_raw_chunks(mapping, Path(file), []))
            times.append(time.process_time() - t)
        print(
            f"{Path(file).name}: {rows} records, CPU s best {min(times):.3f} median "
            f"{statistics.median(times):.3f} ({rows / min(times):,.0f} records per CPU s)"
        )


if __name__ == "__main__":
    main()
