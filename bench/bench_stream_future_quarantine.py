"""Benchmark: the stream consumer's start-up read of the open ``future_timestamp`` rows.

At start ``riskwarn stream`` indexes the open quarantine rows of its source that a later
accept may resolve (reason ``future_timestamp:observed_at``, a message's row: batch id
``mqtt:...``). Before 2026-12-08 it read the source's whole quarantine, every column,
sorted (``lake.read_quarantine``), and filtered in pandas; now
``lake.read_open_quarantine`` reads two columns of the matching rows only. This builds a
quarantine of ``--rows`` rows (default 1,000,000) in a temporary lake: ``--future`` of
them open future rows of the stream, the rest other reasons of the stream and rows of a
file of the source, then measures each read in a child process of its own (wall and CPU
seconds, peak RSS):

    PYTHONPATH=$PWD .venv/bin/python bench/bench_stream_future_quarantine.py \\
        [--rows 1000000] [--future 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE, TABLE = "simcity", "sensor_readings"
FUTURE = "future_timestamp:observed_at"


def build(lake_dir: Path, rows: int, future: int) -> None:
    import numpy as np
    import pandas as pd

    from riskwarn import lake

    i = np.arange(rows)
    stream = i % 3 != 0  # two thirds the stream's messages, a third a file's rows
    reason = np.where(i % 5 == 0, "finer_than_source:observed_at", "bad_topic")
    reason = np.where(i < future, FUTURE, reason).astype(object)
    stream |= i < future
    batch = np.where(
        stream,
        np.char.add("mqtt:", np.char.zfill(i.astype(str), 64)),
        np.char.add("sensor_readings.2026-11.csv:", (i // 100_000).astype(str)),
    )
    original = [
        json.dumps(
            {
                "设备编号": f"G{k % 5000}",
                "采集时间": f"2026-12-0{1 + k % 7} 0{k % 10}:{k % 60:02d}:00",
                "监测项": "位移",
                "测值": 1.0 + k % 100,
                "采样间隔": 600,
                "质量": "good",
            },
            ensure_ascii=False,
        )
        for k in range(rows)
    ]
    q = pd.DataFrame(
        {
            "source": SOURCE,
            "table_name": TABLE,
            "batch_id": batch,
            "file_name": np.where(stream, "mqtt", "sensor_readings.2026-11.csv"),
            "row_number": np.where(stream, 1, i),
            "reason": reason,
            "message": "a reading the stream did not accept",
            "original": original,
        }
    )
    lake.write_quarantine(lake_dir, SOURCE, q)


def measure(lake_dir: Path, method: str) -> dict[str, float]:
    from riskwarn import lake

    lake.table_version(lake_dir, "sensor_readings")  # imports loaded before the peak is read
    before = _hwm()
    t0, c0 = time.perf_counter(), time.process_time()
    if method == "old":  # the consumer's read before 2026-12-08 (_load_future/_note_future)
        q = lake.read_quarantine(lake_dir, [SOURCE])
        mine = q["reason"].isin([FUTURE]) & q["batch_id"].astype(str).str.startswith("mqtt:")
        mine &= q["table_name"] == TABLE
        n = int(mine.sum())
    else:
        n = len(lake.read_open_quarantine(lake_dir, SOURCE, TABLE, [FUTURE], "mqtt:"))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "rows": n,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rss_before_mb": before,
        "peak_rss_mb": _hwm(),
    }


def _hwm() -> float:
    """This process's peak RSS in MB (VmHWM: not the parent's, as ru_maxrss across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--future", type=int, default=2000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--lake", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(Path(a.lake), a.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        lake_dir = Path(tmp) / "lake"
        t0 = time.perf_counter()
        build(lake_dir, a.rows, a.future)
        size = sum(f.stat().st_size for f in lake_dir.rglob("*") if f.is_file()) / 2**20
        print(
            f"quarantine: {a.rows} rows ({a.future} open future rows of the stream), "
            f"{size:.0f} MB on disk, built in {time.perf_counter() - t0:.1f} s"
        )
        for method in ("old", "new"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", method, "--lake", str(lake_dir)],
                check=True,
                capture_output=True,
                text=True,
            )
            print(method, out.stdout.strip())


if __name__ == "__main__":
    main()
