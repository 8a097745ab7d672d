"""What corrected records cost the hotspot backtest (docs/design.md, "Corrected records"):
the synthetic city's backtest (``testkit.synthetic_hotspots``, 8,949 events, origins
2016-01-01 .. 2016-03-31) with K of its records corrected (moved ~1 km), each correction
known 1 to 60 days after the event, so nearly every origin lies in its own stretch
between two corrections' times.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_correction_versions.py [K]   # default 400

Prints the backtest's stage timings (``timings_s``): ``features_s`` holds the cell table
and the stacked and long-memory inputs, computed once per stretch.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_correction_versions.py cases [K]

The dispute case table (``models.case_models.build_case_table``, what the case backtest,
its refits and the final training build once) of a synthetic register: 6,000 disputes
over two years, ~25,000 events, 100 weekly origins, with K disputes and K events
corrected (default 600 each; an event corrected from a failed mediation into an
escalation, a dispute's category, amount, parties and place), each known 1 to 90 days
after the record's time. Prints the seconds (best of 3) without and with the versions.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_correction_versions.py sites [K]

The ``geohazard_hourly`` site table (``models.geohazard_sites.build_site_table``) of the
small simulated city (``riskwarn simulate``, seed 3, ingested into a temporary lake) over
7 days of hourly origins, with K site records corrected (slope class), each at its own
time inside the week (default 4): the table is built once per stretch of origins between
two corrections' times, the readings read once per stretch; then with K failures
corrected instead (labels recounted per stretch, no re-read). Prints the seconds.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from models.backtest import ModelConfig
from models.hotspot_backtest import HotspotBacktestSpec, run_hotspot_backtest
from testkit.synthetic_hotspots import CRS, TZ, synthetic_events


def versions_of(events: pd.DataFrame, k: int, seed: int = 1) -> pd.DataFrame:
    """``events`` with ``k`` records corrected: the current rows (``known_from``) and
    the versions they replaced (``known_to``), as ``riskwarn.lake.read_versions`` gives."""
    if k == 0:
        return events
    rng = np.random.default_rng(seed)
    stamp = "datetime64[ns, UTC]"
    cur = events.assign(
        known_from=pd.Series(pd.NaT, index=events.index, dtype=stamp),
        known_to=pd.Series(pd.NaT, index=events.index, dtype=stamp),
    )
    fixed = rng.choice(len(events), k, replace=False)
    when = cur.loc[fixed, "occurred_at"] + pd.to_timedelta(rng.uniform(1, 60, k), unit="D")
    before = cur.loc[fixed].assign(known_to=when.to_numpy())
    cur.loc[fixed, "known_from"] = when.to_numpy()
    cur.loc[fixed, "lon"] += 0.01
    return pd.concat([cur, before], ignore_index=True)


def main(k: int) -> None:
    events = synthetic_events().reset_index(drop=True)
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-01-01"),
        end=pd.Timestamp("2016-03-31"),
        model=ModelConfig(
            train_window_days=210,
            es_origins=3,
            cal_origins=3,
            max_rounds=40,
            early_stopping_rounds=10,
            refit_every_days=28,
            grid=({"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 1.0},),
        ),
    )
    t = time.perf_counter()
    result = run_hotspot_backtest(versions_of(events, k), spec)
    timings = {name: round(s, 2) for name, s in result.timings_s.items()}
    print(f"{k} corrections: {timings}, wall {time.perf_counter() - t:.2f} s")


def synthetic_cases(n: int = 6000, days: int = 730, seed: int = 3):
    """``n`` disputes opened over ``days`` with their events (mediations every ~8 days,
    each failing with probability 0.55; escalations likelier after failures; closed)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01", tz="Asia/Shanghai").tz_convert("UTC")
    opened = start + pd.to_timedelta(rng.uniform(0, days, n), unit="D")
    ids = [f"MD{i:06d}" for i in range(n)]
    disputes = pd.DataFrame(
        {
            "source": "bench",
            "record_id": ids,
            "opened_at": opened,
            "category": rng.choice(["neighbour", "labour_wage", "land_homestead", "debt"], n),
            "lon": 116.5 + rng.uniform(0, 0.06, n),
            "lat": 30.5 + rng.uniform(0, 0.06, n),
            "party_ids": [f"P{a};P{b}" for a, b in rng.integers(0, 3000, (n, 2))],
            "n_parties": rng.integers(2, 6, n),
            "amount_cny": rng.lognormal(9, 1, n),
        }
    )
    rows = []
    for cid, t in zip(ids, opened, strict=True):
        rows.append((cid, t, "opened"))
        failed = 0
        for day in range(3, 121, 8):
            at = t + pd.Timedelta(days=day)
            if rng.random() < 0.55:
                failed += 1
                rows.append((cid, at, "mediation_failed"))
            else:
                rows.append((cid, at, "mediation_succeeded"))
                break
            if rng.random() < 0.03 * failed:
                rows.append((cid, at + pd.Timedelta(days=2), "escalated_petition"))
                break
        rows.append((cid, at + pd.Timedelta(days=3), "closed"))
    events = pd.DataFrame(rows, columns=["dispute_id", "event_at", "event_type"])
    events["source"] = "bench"
    events["record_id"] = [f"E{i:07d}" for i in range(len(events))]
    return disputes, events


def case_versions(
    disputes: pd.DataFrame, events: pd.DataFrame, k: int, seed: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``k`` disputes and ``k`` events corrected once (``read_versions``' frames)."""
    if k == 0:
        return disputes, events
    rng = np.random.default_rng(seed)
    stamp = "datetime64[ns, UTC]"

    def correct(frame: pd.DataFrame, time_col: str, pick: np.ndarray, change: dict):
        cur = frame.assign(
            known_from=pd.Series(pd.NaT, index=frame.index, dtype=stamp),
            known_to=pd.Series(pd.NaT, index=frame.index, dtype=stamp),
        )
        when = cur.loc[pick, time_col] + pd.to_timedelta(rng.uniform(1, 90, len(pick)), "D")
        before = cur.loc[pick].assign(known_to=when.to_numpy())
        cur.loc[pick, "known_from"] = when.to_numpy()
        for col, value in change.items():
            cur.loc[pick, col] = value
        return pd.concat([cur, before], ignore_index=True)

    d = correct(
        disputes,
        "opened_at",
        rng.choice(len(disputes), k, replace=False),
        {"category": "debt", "amount_cny": 5e5, "lon": disputes["lon"].mean()},
    )
    failed = np.flatnonzero(events["event_type"].to_numpy() == "mediation_failed")
    e = correct(
        events,
        "event_at",
        rng.choice(failed, k, replace=False),
        {"event_type": "escalated_petition"},
    )
    return d, e


def case_main(k: int) -> None:
    from models.case_models import build_case_table, weekly_origins

    tz = "Asia/Shanghai"
    disputes, events = synthetic_cases()
    origins = weekly_origins(pd.Timestamp("2023-02-01"), pd.Timestamp("2024-12-25"), 7, tz)
    for n in (0, k):
        d, e = case_versions(disputes, events, n)
        best, rows = np.inf, 0
        for _ in range(3):
            t = time.perf_counter()
            rows = len(build_case_table(d, e, origins, crs="EPSG:32650", cell_size_m=250.0, tz=tz))
            best = min(best, time.perf_counter() - t)
        print(
            f"case table, {n} corrected disputes + {n} corrected events: {best:.2f} s "
            f"(best of 3; {len(d)} dispute rows, {len(e)} event rows, {len(origins)} origins, "
            f"{rows} case rows)"
        )


def site_main(k: int) -> None:
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    from models.geohazard_sites import build_site_table, site_config
    from riskwarn import lake
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.settings import Settings
    from riskwarn.simulate import simulate

    root_dir = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate(root / "sim", "small", seed=3)
        settings = Settings(home=root / "home")
        for name in ("hazard_sites", "sensors", "hazard_events", "sensor_readings"):
            mapping = load_mapping(root_dir / "configs" / "sources" / f"sim_{name}.yaml")
            files = sorted(p for p in (root / "sim" / "extracts").rglob(f"{name}.*") if p.is_file())
            ingest_files(mapping, files, settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
        t = {n: lake.read_table(settings.lake_dir, n) for n in ("hazard_sites", "sensors")}
        readings = lake.read_table(settings.lake_dir, "sensor_readings")
        events = lake.read_table(settings.lake_dir, "hazard_events")
    sites = t["hazard_sites"]
    start = pd.Timestamp("2023-07-08T00:00Z")
    origins = pd.date_range(start, periods=7 * 24, freq="h")
    readings = readings.loc[readings["observed_at"] < origins[-1]]
    cfg = site_config("geohazard_hourly")
    stamp = "datetime64[ns, UTC]"
    for n in (0, k):
        versions = sites
        if n:
            cur = sites.assign(
                known_from=pd.Series(pd.NaT, index=sites.index, dtype=stamp),
                known_to=pd.Series(pd.NaT, index=sites.index, dtype=stamp),
            )
            pick = np.arange(n) % len(sites)
            when = start + pd.to_timedelta((np.arange(n) + 1) * 7 * 24 / (n + 1), unit="h")
            before = cur.loc[pick].assign(known_to=when.to_numpy())
            cur.loc[pick, "known_from"] = when.to_numpy()
            cur.loc[pick, "slope_class"] = 5
            versions = pd.concat([cur, before], ignore_index=True)
        t0 = time.perf_counter()
        table = build_site_table(readings, t["sensors"], versions, events, origins, cfg)
        print(
            f"site table, {n} corrected sites: {time.perf_counter() - t0:.2f} s "
            f"({len(sites)} sites, {len(readings)} readings, {len(origins)} hourly origins, "
            f"{len(table)} rows)"
        )
    # failures corrected (moved 3 h), each at its own time: labels recounted, no re-read
    n = min(k, len(events))
    cur = events.assign(
        known_from=pd.Series(pd.NaT, index=events.index, dtype=stamp),
        known_to=pd.Series(pd.NaT, index=events.index, dtype=stamp),
    )
    pick = cur.index[:n]
    when = start + pd.to_timedelta((np.arange(n) + 1) * 7 * 24 / (n + 1), unit="h")
    before = cur.loc[pick].assign(known_to=when.to_numpy())
    cur.loc[pick, "known_from"] = when.to_numpy()
    cur.loc[pick, "occurred_at"] += pd.Timedelta(hours=3)
    t0 = time.perf_counter()
    build_site_table(
        readings, t["sensors"], sites, pd.concat([cur, before], ignore_index=True), origins, cfg
    )
    print(f"site table, {n} corrected failures: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["sites"]:
        site_main(int(sys.argv[2]) if len(sys.argv) > 2 else 4)
    elif sys.argv[1:2] == ["cases"]:
        case_main(int(sys.argv[2]) if len(sys.argv) > 2 else 600)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
