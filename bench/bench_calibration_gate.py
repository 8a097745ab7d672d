"""The gate's calibration check on the small simulation's site models, new bound and old.

    .venv/bin/python bench/bench_calibration_gate.py [--out DIR]

Simulates the small city (seed 3), ingests its geohazard tables, keeps what was known
before 2023-07-16 (as tests/test_geohazard_site_models.py's fixtures do) and trains
``geohazard_hourly`` (4 evaluation days, refit every 2) and ``geohazard`` (defaults) into a
temporary MLflow. Prints each gate's calibration check (ECE, the bound, 0.5 x base rate,
the 95 % ECE of a calibrated model with these predictions) and the bound of the gate before
the consistency bound, min(0.05, max(0.5 x base rate, 2 s.e. of the observed rate)),
computed from the same record. About 90 s on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = pd.Timestamp("2023-07-16T00:00Z")


def main() -> None:
    from models.geohazard_sites import site_config, train_site_domain
    from models.registry import configure
    from riskwarn import lake
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.settings import Settings
    from riskwarn.simulate import simulate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temp dir)")
    args = ap.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="calibration_gate_"))
    simulate(root / "sim", "small", seed=3)
    settings = Settings(home=root / "home")
    for name in ("hazard_sites", "sensors", "hazard_events", "sensor_readings"):
        mapping = load_mapping(ROOT / "configs" / "sources" / f"sim_{name}.yaml")
        files = sorted(p for p in (root / "sim" / "extracts").rglob(f"{name}.*") if p.is_file())
        ingest_files(mapping, files, settings, as_of=datetime(2030, 1, 1, tzinfo=UTC))
    readings = lake.read_table(settings.lake_dir, "sensor_readings")
    events = lake.read_table(settings.lake_dir, "hazard_events")
    readings = readings.loc[readings["observed_at"] < AS_OF]
    events = events.loc[events["occurred_at"] < AS_OF]
    sensors = lake.read_table(settings.lake_dir, "sensors")
    sites = lake.read_table(settings.lake_dir, "hazard_sites")
    for domain, cfg in (
        ("geohazard_hourly", site_config("geohazard_hourly", eval_days=4, refit_every_days=2)),
        ("geohazard", site_config("geohazard")),
    ):
        client = configure(f"sqlite:///{root / f'mlflow-{domain}.db'}")
        t0 = time.perf_counter()
        report = train_site_domain(
            readings,
            sensors,
            sites,
            events,
            client,
            domain=domain,
            tz="Asia/Shanghai",
            config=cfg,
            n_boot=100,
            artifact_location=(root / f"artifacts-{domain}").as_uri(),
        )
        c = report.gate.checks[-1]
        rate, n = c.get("base_rate"), c.get("n_rows")
        old = min(0.05, max(0.5 * rate, 2 * np.sqrt(rate * (1 - rate) / n))) if rate and n else 0.05
        print(f"{domain}: trained in {time.perf_counter() - t0:.0f} s")
        print(f"  calibration: {'ok' if c['ok'] else 'no'} ({c['detail']})")
        print(f"  old bound {old:.4f}: {'ok' if c['ece'] <= old else 'no'}")
        print("  " + json.dumps({k: c[k] for k in c if k not in ("check", "detail")}))


if __name__ == "__main__":
    main()
