"""Benchmark the feature builders; prints wall time, peak memory and the ratio to a DuckDB scan.

(a) Chicago aggravated assaults (../shared/data): every active 250 m cell (EPSG:32616),
    daily origins over all 8 years (2010-01-01 .. 2017-12-31), 7-day labels.
(b) The simulated city (``riskwarn.simulate``), all three domains: incidents and dispute
    hotspots (cell x day), dispute cases (case x week), geohazard sites (site x day).

The reference for each is a plain DuckDB scan of the same input frame in the same run:
``SELECT count(*)`` plus a group-by by cell (or unit) and day. Run:

    .venv/bin/python bench/bench_features.py [--part a|b|ab] [--size small|city]
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
log = logging.getLogger("bench_features")


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def duckdb_scan(frame: pd.DataFrame, unit_cols: list[str], time_col: str) -> float:
    """Seconds for ``count(*)`` plus a group-by by unit and day over ``frame`` (in memory)."""
    con = duckdb.connect()
    con.register("t", frame[[*unit_cols, time_col]])
    units = ", ".join(unit_cols)
    t0 = time.perf_counter()
    con.execute("SELECT count(*) FROM t").fetchall()
    con.execute(
        f"SELECT {units}, date_trunc('day', {time_col}) AS d, count(*) FROM t GROUP BY ALL"
    ).fetchall()
    dt = time.perf_counter() - t0
    con.close()
    return dt


def load(mapping: str, path: Path) -> pd.DataFrame:
    from riskwarn.ingest import load_mapping, read_and_validate

    batch = read_and_validate(
        load_mapping(ROOT / "configs" / "sources" / f"{mapping}.yaml"),
        path,
        pseudonym_key="bench",
        as_of=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return batch.accepted


def consume(chunks: Any) -> tuple[int, int]:
    """Run a chunk iterator to the end; keep only row and column counts (as a consumer would write)."""
    rows = cols = 0
    for chunk in chunks:
        rows += len(chunk)
        cols = chunk.shape[1]
    return rows, cols


def bench_chicago() -> dict[str, Any]:
    from riskwarn.features.calendar import local_midnights
    from riskwarn.features.cells import active_cells, assign_cells
    from riskwarn.features.incidents import CellFeatureParams, iter_cell_feature_chunks

    tz = "America/Chicago"
    events = load("chicago", SHARED / "chicago" / "aggravated_assaults_2010_2017.csv.gz")
    t_cells, ev = timed(
        lambda: assign_cells(events, "EPSG:32616", 250).dropna(subset=["cell_x", "cell_y"])
    )
    ev = ev.astype({"cell_x": "int64", "cell_y": "int64"})
    cells = active_cells(ev, pd.Timestamp("2018-01-01", tz=tz).tz_convert("UTC"))
    origins = local_midnights("2010-01-01", "2017-12-31", 1, tz)
    params = CellFeatureParams(
        tz=tz, horizon_days=7, groups=(), holiday_country="US", chunk_origins=128
    )
    scan = duckdb_scan(ev, ["cell_x", "cell_y"], "occurred_at")
    rss0 = peak_rss_gb()
    t_feat, (rows, cols) = timed(
        lambda: consume(iter_cell_feature_chunks(ev, cells, origins, params))
    )
    return {
        "case": "(a) chicago",
        "events": len(ev),
        "cells": len(cells),
        "origins": len(origins),
        "rows": rows,
        "columns": cols,
        "cells_s": t_cells,
        "features_s": t_feat,
        "scan_s": scan,
        "ratio": t_feat / scan,
        "peak_rss_gb": peak_rss_gb(),
        "rss_before_gb": rss0,
    }


def bench_simulated(size: str, with_geohazard: bool = True) -> list[dict[str, Any]]:
    from riskwarn.features.calendar import local_midnights
    from riskwarn.features.cells import active_cells, assign_cells
    from riskwarn.features.disputes import DisputeCaseParams, build_dispute_case_features
    from riskwarn.features.geohazard import SiteFeatureParams, build_site_features
    from riskwarn.features.incidents import CellFeatureParams, iter_cell_feature_chunks
    from riskwarn.settings import Settings
    from riskwarn.simulate import simulate

    tz = "Asia/Shanghai"
    crs = Settings().city_crs
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        t_sim, meta = timed(lambda: simulate(Path(tmp), size=size, seed=0))
        files = {str(f): Path(f) for f in _files(meta, Path(tmp))}

        def table(mapping: str) -> pd.DataFrame:
            parts = [load(mapping, p) for p in _matching(files, mapping)]
            return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

        incidents, disputes, events = (
            table("sim_incidents"),
            table("sim_disputes"),
            table("sim_dispute_events"),
        )
        empty = pd.DataFrame()
        readings = table("sim_sensor_readings") if with_geohazard else empty
        sensors = table("sim_sensors") if with_geohazard else empty
        sites = table("sim_hazard_sites") if with_geohazard else empty
        hazards = table("sim_hazard_events") if with_geohazard else empty
        log.info(
            "simulated %s city in %.0fs: %d incidents, %d disputes, %d readings",
            size,
            t_sim,
            len(incidents),
            len(disputes),
            len(readings),
        )
        total_feat = total_scan = 0.0
        for name, frame, group in (
            ("incidents", incidents, "category_group"),
            ("disputes", disputes.rename(columns={"opened_at": "occurred_at"}), "category"),
        ):
            ev = (
                assign_cells(frame, crs, 250)
                .dropna(subset=["cell_x", "cell_y"])
                .astype({"cell_x": "int64", "cell_y": "int64"})
            )
            end = ev["occurred_at"].max()
            cells = active_cells(ev, end + pd.Timedelta(days=1))
            origins = local_midnights(ev["occurred_at"].min() + pd.Timedelta(days=1), end, 1, tz)
            params = CellFeatureParams(
                tz=tz, horizon_days=7, groups=None, group_column=group, chunk_origins=64
            )
            scan = duckdb_scan(ev, ["cell_x", "cell_y"], "occurred_at")
            t0 = time.perf_counter()
            rows, cols = consume(iter_cell_feature_chunks(ev, cells, origins, params))
            t = time.perf_counter() - t0
            total_feat, total_scan = total_feat + t, total_scan + scan
            results.append(
                {
                    "case": f"(b) sim {name} cell x day",
                    "events": len(ev),
                    "cells": len(cells),
                    "origins": len(origins),
                    "rows": rows,
                    "columns": cols,
                    "features_s": t,
                    "scan_s": scan,
                    "ratio": t / scan,
                    "peak_rss_gb": peak_rss_gb(),
                }
            )
        d = assign_cells(disputes, crs, 250)
        origins = local_midnights(
            d["opened_at"].min() + pd.Timedelta(days=30), d["opened_at"].max(), 7, tz
        )
        scan = duckdb_scan(events, ["dispute_id"], "event_at")
        t, frame = timed(
            lambda: build_dispute_case_features(d, events, origins, DisputeCaseParams(tz=tz))
        )
        total_feat, total_scan = total_feat + t, total_scan + scan
        results.append(
            {
                "case": "(b) sim dispute cases x week",
                "events": len(events),
                "cells": len(d),
                "origins": len(origins),
                "rows": len(frame),
                "columns": frame.shape[1],
                "features_s": t,
                "scan_s": scan,
                "ratio": t / scan,
                "peak_rss_gb": peak_rss_gb(),
            }
        )
        if not with_geohazard:
            results.append(
                {
                    "case": f"(b) sim incidents+disputes ({size}, no geohazard)",
                    "features_s": total_feat,
                    "scan_s": total_scan,
                    "ratio": total_feat / total_scan,
                    "peak_rss_gb": peak_rss_gb(),
                }
            )
            return results
        origins = local_midnights(
            readings["observed_at"].min() + pd.Timedelta(days=1),
            readings["observed_at"].max(),
            1,
            tz,
        )
        scan = duckdb_scan(readings, ["sensor_id"], "observed_at")
        t, frame = timed(
            lambda: build_site_features(
                readings, sensors, sites, hazards, origins, SiteFeatureParams(step_hours=24, tz=tz)
            )
        )
        total_feat, total_scan = total_feat + t, total_scan + scan
        results.append(
            {
                "case": "(b) sim geohazard site x day",
                "events": len(readings),
                "cells": len(sites),
                "origins": len(origins),
                "rows": len(frame),
                "columns": frame.shape[1],
                "features_s": t,
                "scan_s": scan,
                "ratio": t / scan,
                "peak_rss_gb": peak_rss_gb(),
            }
        )
        results.append(
            {
                "case": f"(b) sim all domains ({size})",
                "features_s": total_feat,
                "scan_s": total_scan,
                "ratio": total_feat / total_scan,
                "peak_rss_gb": peak_rss_gb(),
            }
        )
    return results


def _files(meta: dict[str, Any], out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.is_file()]


def _matching(files: dict[str, Path], mapping: str) -> list[Path]:
    """Extract files of ``configs/sources/sim_<name>.yaml``: ``extracts/**/<name>.*`` (docs/simulation.md)."""
    stem = mapping.removeprefix("sim_")
    return sorted(
        p for p in files.values() if "extracts" in p.parts and p.name.startswith(stem + ".")
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="ab", help="a = Chicago, b = simulated city, ab = both")
    ap.add_argument("--size", default="city", help="simulation size for (b): small | city")
    ap.add_argument("--no-geohazard", action="store_true", help="(b) without the sensor readings")
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    if "a" in args.part:
        if SHARED.is_dir():
            rows.append(bench_chicago())
        else:
            log.warning("(a) skipped: %s is absent", SHARED)
    if "b" in args.part:
        try:
            rows.extend(bench_simulated(args.size, with_geohazard=not args.no_geohazard))
        except Exception as exc:  # the simulator may not be ready: report and carry on with (a)
            log.warning(
                "(b) simulated city not benchmarked: %s: %s", type(exc).__name__, exc, exc_info=True
            )
    table = pd.DataFrame(rows)
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format
    ):
        sys.stdout.write(table.to_string(index=False) + "\n")
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
