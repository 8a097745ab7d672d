"""Benchmark: CPU seconds per ingest stage (read, map, validate, lake write) per file.

Ingests some files of an existing city simulation (``riskwarn simulate --size city --out
DIR``) into a fresh lake through ``riskwarn.ingest.ingest_files`` and prints, per file,
the process CPU time spent in each stage, found by timing the stage functions the flow
calls (``read_raw_chunks``, ``map_chunk``, ``finish_batch``, ``lake.upsert``,
``lake.write_quarantine``). CPU time, because on a shared machine wall time says more
about the neighbours than about the code:

    .venv/bin/python bench/bench_ingest_stages.py --sim DIR [--reading-months 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPENT: dict[str, float] = defaultdict(float)


def _timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        c0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[stage] += time.process_time() - c0

    return run


def _timed_chunks(stage: str, fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    def run(*args: Any, **kwargs: Any) -> Iterator[Any]:
        chunks = fn(*args, **kwargs)
        while True:
            c0 = time.process_time()
            try:
                chunk = next(chunks)
            except StopIteration:
                SPENT[stage] += time.process_time() - c0
                return
            SPENT[stage] += time.process_time() - c0
            yield chunk

    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, required=True, help="a `simulate --size city` folder")
    ap.add_argument("--reading-months", type=int, default=3)
    args = ap.parse_args(argv)

    from riskwarn import lake
    from riskwarn.ingest import flow, load_mapping
    from riskwarn.keys import new_key
    from riskwarn.settings import Settings

    flow.read_raw_chunks = _timed_chunks("read", flow.read_raw_chunks)  # type: ignore[assignment]
    flow.map_chunk = _timed("map", flow.map_chunk)  # type: ignore[assignment]
    flow.finish_batch = _timed("validate", flow.finish_batch)  # type: ignore[assignment]
    lake.upsert = _timed("lake", lake.upsert)  # type: ignore[assignment]
    lake.write_quarantine = _timed("lake", lake.write_quarantine)  # type: ignore[assignment]

    ext = args.sim / "extracts"
    work = [
        ("sim_sensor_readings", f)
        for f in sorted((ext / "sensor_readings").glob("*.parquet"))[: args.reading_months]
    ]
    work += [("sim_incidents", f) for f in sorted(ext.glob("incidents.*.csv.gz"))]
    work += [
        ("sim_disputes", ext / "disputes.csv"),
        ("sim_dispute_events", ext / "dispute_events.csv"),
    ]
    as_of = datetime(2030, 1, 1, tzinfo=UTC)
    stages = ["read", "map", "validate", "lake"]
    print(
        f"{'file':<34}{'rows':>11}{'cpu s':>8}"
        + "".join(f"{s:>10}" for s in stages)
        + f"{'rows/cpu s':>12}"
    )
    with tempfile.TemporaryDirectory(prefix="riskwarn-stages-") as tmp:
        settings = Settings(home=Path(tmp), pseudonym_key=new_key())
        for mapping_name, path in work:
            mapping = load_mapping(ROOT / "configs" / "sources" / f"{mapping_name}.yaml")
            SPENT.clear()
            c0 = time.process_time()
            [report] = flow.ingest_files(mapping, [path], settings, as_of=as_of)
            cpu = time.process_time() - c0
            rows = int(report["read"])
            print(
                f"{path.name:<34}{rows:>11,d}{cpu:>8.2f}"
                + "".join(f"{SPENT[s]:>10.2f}" for s in stages)
                + f"{rows / cpu:>12,.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
