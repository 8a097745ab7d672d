"""A small dashboard home with a really trained champion, for bench/dashboard_screenshots.py.

    .venv/bin/python bench/screenshot_home.py --home HOME [--seed 2] [--cells 12] [--days 420]
        [--demo-cells 600] [--weeks 4] [--cases 60]
    .venv/bin/python bench/dashboard_screenshots.py --home HOME --password demo-pass-1 \\
        --out OUT --pages overview models

Builds ``testkit.dashboard_demo.demo_home`` (``--demo-cells`` cells, ``--weeks`` weeks,
``--cases`` dispute cases; every demo account's password is ``demo-pass-1``), then trains
an incidents hotspot model into the home's MLflow (``HOME/mlflow.db``, what the served
dashboard reads) with ``models.train.train_hotspot_domain`` on
``tests.test_backtest.synthetic_events(seed, n_cells, days)`` and tests/test_registry.py's
small model config (the same calls as that test). A challenger whose gate fails is
promoted by force (the screenshots need a champion; the audit log says so). Prints the
home's size, the model's feature count, the gate's checks (the calibration check with the
ECE) and the version made champion.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--cells", type=int, default=12, help="synthetic events' cells")
    parser.add_argument("--days", type=int, default=420, help="synthetic events' days")
    parser.add_argument("--demo-cells", type=int, default=600)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--eval-days", type=int, default=42)
    parser.add_argument("--n-boot", type=int, default=300)
    args = parser.parse_args(argv)

    from models import registry as reg
    from models.train import train_hotspot_domain
    from riskwarn.store import Store
    from testkit.dashboard_demo import DEMO_PASSWORD, demo_home
    from testkit.synthetic_hotspots import CRS, TZ, synthetic_events
    from testkit.synthetic_hotspots import SMALL_TRAINING as SMALL

    home = args.home.resolve()
    city = demo_home(home, n_cells=args.demo_cells, weeks=args.weeks, n_cases=args.cases)
    print(
        f"home {home}: {args.demo_cells} cells, {args.weeks} weeks, {args.cases} cases "
        f"(store {city.store_url}; demo password {DEMO_PASSWORD})",
        flush=True,
    )
    client = reg.configure(f"sqlite:///{home / 'mlflow.db'}")
    reg.ensure_experiment(reg.model_name("incidents"), (home / "art").as_uri())
    events = synthetic_events(seed=args.seed, n_cells=args.cells, days=args.days)
    store = Store(city.store_url)
    try:
        report = train_hotspot_domain(
            events,
            "incidents",
            client,
            crs=CRS,
            cell_size_m=250,
            tz=TZ,
            eval_days=args.eval_days,
            model=SMALL,
            store=store,
            n_boot=args.n_boot,
        )
        version = report.run.version
        if report.final is None or version is None:
            raise SystemExit(f"training registered no model: {report}")
        print(
            f"trained {reg.model_name('incidents')} v{version} on "
            f"{len(events):,} events: {len(report.final.features)} features; "
            f"gate {'pass' if report.gate.passed else 'FAIL'}",
            flush=True,
        )
        for check in report.gate.checks:
            verdict = "ok" if check["ok"] else "FAILED"
            print(f"  gate check {check['check']}: {verdict} ({check['detail']})", flush=True)
        forced = not report.promoted
        if forced:
            reg.promote(
                client,
                "incidents",
                version,
                store=store,
                actor="bench/screenshot_home.py",
                reason="champion for the screenshots (gate failed on the tiny data)",
                force=True,
            )
    finally:
        store.close()
    champion = reg.champion_version(client, "incidents")
    print(f"champion: v{champion}{' (promoted by force over the gate)' if forced else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
