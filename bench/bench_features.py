"""Benchmark the feature builders; prints wall time, peak memory and the ratio to a DuckDB scan.

(a) Chicago aggravated assaults (../shared/data): every active 250 m cell (EPSG:32616),
    daily origins over all 8 years (2010-01-01 .. 2017-12-31), 7-day labels.
(b) The simulated city (``riskwarn.simulate``, or an existing folder via ``--sim-dir``), all
    three domains, for a realistic scoring set of origins: incident and dispute hotspots
    (every active cell x the last 28 daily origins), dispute cases (open cases x the last 52
    weekly origins), geohazard sites (x hour for the last 7 days and x day for the last 90
    days, in one ``build_site_features_multi`` call that shares the per-reading work).
    Incidents and disputes are read through ``riskwarn.ingest.read_and_validate``; the
    10-minute sensor readings straight from the monthly Parquet extracts with DuckDB
    (canonical columns via the sim mapping), only the window the origins can see (rain: a
    year more, for the percentile features).

The reference for each is a plain DuckDB scan of the same input frame in the same run:
``SELECT count(*)`` plus a group-by by cell (or unit) and day. Feature times include cell
assignment; reading the extracts is timed separately (logged). Run:

    .venv/bin/python bench/bench_features.py [--part a|b|ab] [--size small|city]
        [--sim-dir FOLDER] [--no-geohazard]
"""

from __future__ import annotations

import argparse
import json
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
import yaml

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
    from features.calendar import local_midnights
    from features.cells import active_cells, assign_cells
    from features.incidents import CellFeatureParams, iter_cell_feature_chunks

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


def read_readings(
    sim_dir: Path, start: pd.Timestamp, end: pd.Timestamp, tz: str, rain_start: pd.Timestamp
) -> pd.DataFrame:
    """Sensor readings of the monthly Parquet extracts in canonical columns (sim mapping).

    Read with DuckDB, only what the origins can see: rain readings from ``rain_start`` (a
    year of history for the percentile features), other readings from ``start``, all up to
    ``end``. Times are naive local in the extract and come back as UTC; ids and codes come
    back categorical.
    """
    m = yaml.safe_load((ROOT / "configs" / "sources" / "sim_sensor_readings.yaml").read_text())
    col = {k: v["from"] for k, v in m["columns"].items()}
    qmap, smap = m["columns"]["quantity"]["map"], m["columns"]["quality"]["map"]

    def case(src: str, mapping: dict[str, str]) -> str:
        whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in mapping.items())
        return f"CASE {src} {whens} END"

    def local(ts: pd.Timestamp) -> str:
        return ts.tz_convert(tz).tz_localize(None).isoformat()

    rain_label = next(k for k, v in qmap.items() if v == "rain_mm")
    sql = f"""
        SELECT "{col["sensor_id"]}" AS sensor_id, "{col["observed_at"]}" AS observed_at,
               "{col["interval_s"]}" AS interval_s, {case(f'"{col["quantity"]}"', qmap)} AS quantity,
               "{col["value"]}" AS value, {case(f'"{col["quality"]}"', smap)} AS quality
        FROM read_parquet('{sim_dir / "extracts" / "sensor_readings" / "*.parquet"}')
        WHERE "{col["observed_at"]}" < TIMESTAMP '{local(end)}'
          AND "{col["observed_at"]}" >= CASE WHEN "{col["quantity"]}" = '{rain_label}'
              THEN TIMESTAMP '{local(rain_start)}' ELSE TIMESTAMP '{local(start)}' END
    """
    con = duckdb.connect()
    frame = con.execute(sql).df()
    con.close()
    frame["observed_at"] = (
        pd.DatetimeIndex(frame["observed_at"]).tz_localize(tz).tz_convert("UTC").as_unit("ns")
    )
    # categorical ids: same features (checked), less memory and faster sorts and merges
    return frame.astype({c: "category" for c in ("sensor_id", "quantity", "quality")})


def _row(
    case: str,
    origins: str,
    n_in: int,
    units: int,
    n_orig: int,
    t: float,
    scan: float,
    rows: int,
    cols: int,
) -> dict[str, Any]:
    return {
        "case": case,
        "origins_desc": origins,
        "events": n_in,
        "cells": units,
        "origins": n_orig,
        "rows": rows,
        "columns": cols,
        "features_s": t,
        "scan_s": scan,
        "ratio": t / scan if scan else float("nan"),
        "peak_rss_gb": peak_rss_gb(),
    }


def bench_simulated(
    size: str, sim_dir: Path | None, with_geohazard: bool = True
) -> list[dict[str, Any]]:
    """(b): a realistic scoring set of origins over the simulated city, all three domains."""
    with tempfile.TemporaryDirectory() as tmp:
        out = sim_dir
        if out is None:
            from riskwarn.simulate import simulate

            out = Path(tmp)
            t_sim, _ = timed(lambda: simulate(out, size=size, seed=0))
            log.info("simulated %s city in %.0fs -> %s", size, t_sim, out)
        return _bench_sim_dir(out, with_geohazard)


def _bench_sim_dir(out: Path, with_geohazard: bool) -> list[dict[str, Any]]:
    from features.calendar import local_midnights
    from features.cells import active_cells, assign_cells
    from features.disputes import DisputeCaseParams, build_dispute_case_features
    from features.geohazard import SiteFeatureParams, build_site_features_multi
    from features.incidents import CellFeatureParams, iter_cell_feature_chunks

    meta = json.loads((out / "simulation.json").read_text())
    tz, crs = meta.get("timezone", "Asia/Shanghai"), meta.get("crs", "EPSG:32650")
    files = [p for p in (out / "extracts").rglob("*") if p.is_file()]

    def table(mapping: str) -> pd.DataFrame:
        stem = mapping.removeprefix("sim_")
        parts = [load(mapping, p) for p in sorted(files) if p.name.startswith(stem + ".")]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    t_load, (incidents, disputes, events) = timed(
        lambda: (table("sim_incidents"), table("sim_disputes"), table("sim_dispute_events"))
    )
    log.info("read %d incidents, %d disputes in %.0fs", len(incidents), len(disputes), t_load)
    results = []
    total_feat = total_scan = 0.0
    for name, frame, group in (
        ("incidents", incidents, "category_group"),
        ("disputes", disputes.rename(columns={"opened_at": "occurred_at"}), "category"),
    ):
        t_cells, ev = timed(
            lambda frame=frame: (  # type: ignore[misc]
                assign_cells(frame, crs, 250)
                .dropna(subset=["cell_x", "cell_y"])
                .astype({"cell_x": "int64", "cell_y": "int64"})
            )
        )
        end = ev["occurred_at"].max()
        cells = active_cells(ev, end + pd.Timedelta(days=1))
        origins = local_midnights(end - pd.Timedelta(days=27), end, 1, tz)
        params = CellFeatureParams(tz=tz, horizon_days=7, groups=None, group_column=group)
        scan = duckdb_scan(ev, ["cell_x", "cell_y"], "occurred_at")
        t, (rows, cols) = timed(
            lambda ev=ev, cells=cells, origins=origins, params=params: consume(  # type: ignore[misc]
                iter_cell_feature_chunks(ev, cells, origins, params)
            )
        )
        t += t_cells
        total_feat, total_scan = total_feat + t, total_scan + scan
        results.append(
            _row(
                f"(b) {name} cell x day",
                "last 28 daily, all active cells",
                len(ev),
                len(cells),
                len(origins),
                t,
                scan,
                rows,
                cols,
            )
        )
    d = assign_cells(disputes, crs, 250)
    last = d["opened_at"].max()
    origins = local_midnights(last - pd.Timedelta(days=7 * 51), last, 7, tz)
    scan = duckdb_scan(events, ["dispute_id"], "event_at")
    t, frame = timed(
        lambda: build_dispute_case_features(d, events, origins, DisputeCaseParams(tz=tz))
    )
    total_feat, total_scan = total_feat + t, total_scan + scan
    results.append(
        _row(
            "(b) dispute cases x week",
            "last 52 weekly, open cases",
            len(events),
            frame["dispute_id"].nunique() if len(frame) else 0,
            len(origins),
            t,
            scan,
            len(frame),
            frame.shape[1],
        )
    )
    del frame
    if with_geohazard:
        sensors, sites, hazards = (
            table("sim_sensors"),
            table("sim_hazard_sites"),
            table("sim_hazard_events"),
        )
        # ``sensor_end`` is the last simulated local day (inclusive)
        sensor_end = (pd.Timestamp(meta["sensor_end"]) + pd.Timedelta(days=1)).tz_localize(tz)
        sensor_end = sensor_end.tz_convert("UTC")
        last_day = sensor_end - pd.Timedelta(days=1)
        daily = local_midnights(last_day - pd.Timedelta(days=89), last_day, 1, tz)
        hourly = pd.date_range(
            sensor_end - pd.Timedelta(days=7), sensor_end, freq="h", inclusive="left"
        )
        t_read, readings = timed(
            lambda: read_readings(
                out,
                daily[0] - pd.Timedelta(days=30),
                sensor_end,
                tz,
                daily[0] - pd.Timedelta(days=380),
            )
        )
        log.info("read %d sensor readings with DuckDB in %.0fs", len(readings), t_read)
        scan = duckdb_scan(readings, ["sensor_id"], "observed_at")
        # both origin sets in one call: the per-reading work is shared
        t, (f_day, f_hour) = timed(
            lambda: build_site_features_multi(
                readings,
                sensors,
                sites,
                hazards,
                [
                    (daily, SiteFeatureParams(step_hours=24, tz=tz)),
                    (hourly, SiteFeatureParams(step_hours=1, tz=tz)),
                ],
                crs=crs,
            )
        )
        total_feat, total_scan = total_feat + t, total_scan + scan
        results.append(
            _row(
                "(b) geohazard sites x day + x hour",
                "last 90 daily + last 7 days hourly",
                len(readings),
                len(sites),
                len(daily) + len(hourly),
                t,
                scan,
                len(f_day) + len(f_hour),
                max(f_day.shape[1], f_hour.shape[1]),
            )
        )
        del f_day, f_hour
    results.append(
        {
            "case": f"(b) all domains ({meta.get('size')}{'' if with_geohazard else ', no geohazard'})",
            "features_s": total_feat,
            "scan_s": total_scan,
            "ratio": total_feat / total_scan,
            "peak_rss_gb": peak_rss_gb(),
        }
    )
    return results


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="ab", help="a = Chicago, b = simulated city, ab = both")
    ap.add_argument("--size", default="city", help="simulation size for (b): small | city")
    ap.add_argument("--sim-dir", type=Path, help="(b) reuse this simulated city folder")
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
            rows.extend(
                bench_simulated(args.size, args.sim_dir, with_geohazard=not args.no_geohazard)
            )
        except Exception as exc:  # the simulator may not be ready: report and carry on with (a)
            log.warning(
                "(b) simulated city not benchmarked: %s: %s", type(exc).__name__, exc, exc_info=True
            )
    table = pd.DataFrame(rows)
    for c in ("events", "cells", "origins", "rows", "columns"):
        if c in table:
            table[c] = table[c].astype("Int64")
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format
    ):
        sys.stdout.write(table.to_string(index=False) + "\n")
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
