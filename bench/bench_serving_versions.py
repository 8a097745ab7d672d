"""What serving a past origin from the versions known then costs (docs/design.md,
"Corrected records"): :func:`riskwarn.serving_frames.scoring_frame` of each daily domain
at one origin, on the test-sized city of ``tests/test_frame_parity.py`` (``riskwarn
simulate`` small, seed 5, 320 days from 2023-05-01, 4,000 incidents, 1,500 disputes, 4
sites) and on a copy whose lake then got the corrections of that test's
``corrected_city`` (as_of 2024-02-20: every 5th incident and every 4th dispute of
10 Jan .. 15 Feb 2024 moved ~1 km, every 3rd mediation event then turned into a
petition, the two rain gauges' places swapped).

    PYTHONPATH=$PWD .venv/bin/python bench/bench_serving_versions.py [--work DIR]

Prints per lake and domain the seconds (best of 3) and the frame's rows at 2024-02-12
(local midnight, before the corrections were known). Run it with ``PYTHONPATH`` at
another checkout to time that code on the same homes (``--work`` keeps them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-serving-versions-pseudonym-key-0123456789"
FIX = datetime(2024, 2, 20, tzinfo=UTC)
DOMAINS = ("incidents", "disputes", "dispute_cases", "geohazard")


def build(work: Path) -> None:
    """``work/plain`` (the city ingested once) and ``work/corrected`` (plus corrections)."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.settings import Settings
    from riskwarn.simulate import simulate

    sim = work / "sim"
    simulate(
        sim, "small", seed=5, start=dt.date(2023, 5, 1), days=320, n_incidents=4_000,
        n_disputes=1_500, n_sites=4, n_rain_gauges=2, sensor_offset_days=222, sensor_days=75,
        township_scale=0.2,
    )  # fmt: skip
    sources = ROOT / "configs" / "sources"
    plain = Settings(home=work / "plain", pseudonym_key=KEY)
    for mapping_path in sorted(sources.glob("sim_*.yaml")):
        table = mapping_path.stem.removeprefix("sim_")
        files = sorted(p for p in (sim / "extracts").rglob(f"{table}.*") if p.is_file())
        if files:
            ingest_files(
                load_mapping(mapping_path), files, plain, as_of=datetime(2030, 1, 1, tzinfo=UTC)
            )
    shutil.copytree(plain.lake_dir, work / "corrected" / "lake")
    fixed = Settings(home=work / "corrected", pseudonym_key=KEY)
    extracts = sim / "extracts"

    def window(frame: pd.DataFrame, col: str, every: int) -> pd.DataFrame:
        at = pd.to_datetime(frame[col])
        return frame.loc[(at >= "2024-01-10") & (at < "2024-02-15")].iloc[::every].copy()

    def ingest(table: str, rows: pd.DataFrame, encoding: str) -> None:
        path = work / f"{table}.fix.csv"
        rows.to_csv(path, index=False, encoding=encoding)
        (report,) = ingest_files(
            load_mapping(sources / f"sim_{table}.yaml"), [path], fixed, as_of=FIX
        )
        print(f"corrected {table}: {report['accepted']} rows")

    def moved(rows: pd.DataFrame) -> pd.DataFrame:
        rows["经度"] = (rows["经度"].astype(float) + 0.01).map("{:.6f}".format)
        return rows

    incidents = pd.concat(
        [pd.read_csv(p, dtype=str) for p in sorted(extracts.glob("incidents.*"))],
        ignore_index=True,
    )
    ingest("incidents", moved(window(incidents, "发案时间", 5)), "utf-8")
    disputes = pd.read_csv(extracts / "disputes.csv", dtype=str, encoding="gb18030")
    ingest("disputes", moved(window(disputes, disputes.columns[1], 4)), "gb18030")
    events = pd.read_csv(extracts / "dispute_events.csv", dtype=str)
    petitions = window(events.loc[events["事件类型"] == "组织调解"], "事件时间", 3)
    ingest("dispute_events", petitions.assign(事件类型="引发信访"), "utf-8")
    sensors = pd.read_csv(extracts / "sensors.csv", dtype=str)
    gauges = sensors.loc[sensors["设备类型"] == "雨量计"].iloc[:2].copy()
    gauges[["经度", "纬度"]] = gauges[["经度", "纬度"]].iloc[::-1].to_numpy()
    ingest("sensors", gauges, "utf-8")


def main() -> None:
    from riskwarn import serving_frames
    from riskwarn.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=None, help="keep (or reuse) the homes here")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-serving-versions-"))
    if not (work / "corrected" / "lake").exists():
        build(work)
    for home in ("plain", "corrected"):
        settings = Settings(home=work / home, pseudonym_key=KEY)
        origin = pd.Timestamp("2024-02-12").tz_localize(settings.display_tz).tz_convert("UTC")
        parts = []
        for domain in DOMAINS:
            best, rows = float("inf"), 0
            for _ in range(3):
                t = time.perf_counter()
                rows = len(serving_frames.scoring_frame(settings, domain, origin))
                best = min(best, time.perf_counter() - t)
            parts.append(f"{domain} {best:.2f} s ({rows:,} rows)")
        print(f"{home}: " + "; ".join(parts))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
