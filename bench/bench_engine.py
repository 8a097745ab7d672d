"""Benchmark the engines: hotspot frame and one booster, locally and on 1 and 2 Dask workers.

A *province*: ``--cities`` simulated cities (``riskwarn.simulate``, seeds 101, 102, ...,
``--incidents`` incidents each over ``--days`` days), each ingested as its own lake source
``cityNN`` and moved ``0.6`` degrees apart (so their cells never overlap) into one Delta
table, as the incidents of 16 cities of a province would be. Then, for the ``incidents``
domain on a backtest of weekly origins (``--eval-weeks`` evaluation origins after a
``--train-window-days`` training window):

* ``frame``: the model frame (every active cell x origin) built by the local path, and by
  the Dask engine (a LocalCluster of N worker *processes*, 1 thread each, started per
  run; each worker reads the lake itself);
* ``fit``: one booster with the first grid point (``models.backtest.fit_model``: early
  stopping + calibration), ``xgboost.train`` vs ``xgboost.dask``.

Prints wall time and peak memory (sampled RSS of this process plus every child: the
cluster's scheduler and workers) per stage and engine, and one JSON line. Starting the
cluster and importing the model stack in its workers is timed apart (a standing cluster
pays it once). The province is
cached under ``--work`` (delete it to rebuild). Run:

    nice .venv/bin/python bench/bench_engine.py [--cities 16] [--incidents 2000]
        [--days 365] [--workers 1,2] [--work /tmp/riskwarn-bench-engine]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from riskwarn import domains  # noqa: E402
from riskwarn.engine import EventSource, open_engine  # noqa: E402
from riskwarn.settings import Settings  # noqa: E402

log = logging.getLogger("bench_engine")
TZ = "Asia/Shanghai"
KEY = "bench-only-pseudonym-key-not-a-secret-0123456789"


def build_province(work: Path, cities: int, incidents: int, days: int) -> Settings:
    """Simulate and ingest the province once (cached by a marker file)."""
    from riskwarn import lake
    from riskwarn.ingest import load_mapping
    from riskwarn.ingest.flow import read_and_validate
    from riskwarn.simulate import simulate

    settings = Settings(home=work / "home", pseudonym_key=KEY)
    marker = work / f"province-{cities}x{incidents}x{days}.done"
    if marker.exists():
        return settings
    mapping = load_mapping(ROOT / "configs" / "sources" / "sim_incidents.yaml")
    for i in range(cities):
        sim = work / f"sim{i:02d}"
        if not sim.exists():
            simulate(
                sim, "small", seed=101 + i, start=dt.date(2023, 1, 2), days=days,
                n_incidents=incidents, n_disputes=50, n_sites=1, n_rain_gauges=1,
                sensor_offset_days=days - 5, sensor_days=3, township_scale=0.2,
            )  # fmt: skip
        for f in sorted(p for p in (sim / "extracts").rglob("incidents.*") if p.is_file()):
            batch = read_and_validate(mapping, f, pseudonym_key=KEY, as_of=datetime.now(UTC))
            rows = batch.accepted.assign(
                source=f"city{i:02d}",
                lon=batch.accepted["lon"] + 0.6 * (i % 4),
                lat=batch.accepted["lat"] + 0.6 * (i // 4),
            )
            lake.upsert(settings.lake_dir, "incidents", f"city{i:02d}", rows, batch_id=f"c{i}")
        log.info("city %d of %d ingested", i + 1, cities)
    marker.touch()
    return settings


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """Peak RSS (MB) of this process and all its children, sampled every 0.2 s."""
    me = psutil.Process()
    out = {"peak_mb": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with suppress(psutil.Error):  # a child may exit between listing and reading
                    total += p.memory_info().rss
            out["peak_mb"] = max(out["peak_mb"], total / 2**20)
            stop.wait(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield out
    finally:
        stop.set()
        t.join()


def warm_worker() -> None:
    """Import the frame and model stack in a worker (what its first task would pay)."""
    import xgboost  # noqa: F401

    import models.hotspot_backtest  # noqa: F401


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    with peak_rss() as mem:
        t0 = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
    return result, wall, mem["peak_mb"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", type=int, default=16)
    ap.add_argument("--incidents", type=int, default=2000, help="incidents per city")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--eval-weeks", type=int, default=4)
    ap.add_argument("--train-window-days", type=int, default=182)
    ap.add_argument("--workers", default="1,2", help="Dask worker counts to run")
    ap.add_argument("--work", type=Path, default=Path("/tmp/riskwarn-bench-engine"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("distributed").setLevel(logging.WARNING)

    from features.cells import active_cells
    from features.incidents import feature_columns
    from models.backtest import fit_model, training_rows
    from models.hotspot_backtest import build_model_frame, domain_spec, origins_for
    from riskwarn.lake import table_version

    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    settings = build_province(args.work, args.cities, args.incidents, args.days)
    log.info("province ready in %.0f s", time.perf_counter() - t0)
    first = pd.Timestamp("2023-01-02")
    end_local = first + pd.Timedelta(days=args.days - 8)
    start_local = end_local - pd.Timedelta(weeks=args.eval_weeks - 1)
    source = EventSource(
        settings.lake_dir, "incidents", "occurred_at",
        pd.Timestamp(first + pd.Timedelta(days=args.days)).tz_localize(TZ).tz_convert("UTC"),
        settings.city_crs, settings.cell_size_m,
        version=table_version(settings.lake_dir, "incidents"),
    )  # fmt: skip
    events = source.events()
    spec = domain_spec(
        domains.get("incidents"), crs=settings.city_crs, cell_size_m=settings.cell_size_m,
        tz=TZ, start=start_local, end=end_local,
    )  # fmt: skip
    spec = replace(spec, model=replace(spec.model, tz=TZ, train_window_days=args.train_window_days))
    evals, train = origins_for(spec)
    origins = evals.union(train)
    cells = active_cells(events, evals[0])
    log.info(
        "%d events, %d sources, %d active cells x %d origins",
        len(events), events["source"].nunique(), len(cells), len(origins),
    )  # fmt: skip

    results: list[dict[str, Any]] = []
    frame, wall, mb = timed(lambda: build_model_frame(events, cells, origins, spec))
    results.append({"stage": "frame", "engine": "local", "wall_s": wall, "peak_mb": mb})
    features = feature_columns(frame)
    rows = training_rows(frame, evals[0], spec.model)
    hp = spec.model.grid[0]
    _, wall, mb = timed(lambda: fit_model(rows, features, spec.model, hp, evals[0]))
    results.append({"stage": "fit", "engine": "local", "wall_s": wall, "peak_mb": mb})
    for n in [int(w) for w in args.workers.split(",") if w]:
        dask_settings = settings.model_copy(
            update={"engine": "dask", "dask_workers": n, "dask_threads_per_worker": 1}
        )
        t_start = time.perf_counter()
        with open_engine(dask_settings) as engine:
            engine.client.run(warm_worker)  # type: ignore[attr-defined]
            results.append(
                {
                    "stage": "cluster start + imports",
                    "engine": f"dask x{n}",
                    "wall_s": time.perf_counter() - t_start,
                    "peak_mb": float("nan"),
                }
            )
            builder = engine.frame_builder(source)
            assert builder is not None
            built, wall, mb = timed(partial(builder, events.head(0), cells, origins, spec))
            pd.testing.assert_frame_equal(built, frame, check_exact=True)
            results.append(
                {"stage": "frame", "engine": f"dask x{n}", "wall_s": wall, "peak_mb": mb}
            )
            trainer = engine.trainer()
            _, wall, mb = timed(
                partial(fit_model, rows, features, spec.model, hp, evals[0], trainer)
            )
            results.append({"stage": "fit", "engine": f"dask x{n}", "wall_s": wall, "peak_mb": mb})

    print(
        f"\nprovince: {args.cities} cities x {args.incidents} incidents over {args.days} days "
        f"= {len(events):,} events; frame {len(frame):,} rows x {len(features)} features "
        f"({len(cells):,} cells x {len(origins)} origins); fit rows {len(rows):,}"
    )
    print("| stage | engine | wall (s) | peak RSS, all processes (MB) |\n|---|---|---|---|")
    for r in results:
        print(f"| {r['stage']} | {r['engine']} | {r['wall_s']:.1f} | {r['peak_mb']:.0f} |")
    print(json.dumps({"events": len(events), "frame_rows": len(frame), "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
