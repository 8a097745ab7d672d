"""Benchmark: train domains again in an existing riskwarn home, measured like the stages of
``bench/bench_full_day.py`` (wall, CPU with child processes, the stage's own peak memory,
inside the DAG task's memory budget), e.g. after a training change, in the home a full-day
run built:

    .venv/bin/python bench/bench_train_domain.py --sim /work/lakebench/city \\
        --home /work/lakebench/fullday/home geohazard geohazard_hourly

* ``--sim DIR``: the simulation the home was built from (its last day is the data end the
  full-day run trained with: the training uses the data before it).
* ``--home DIR``: the home (lake, MLflow registry, serving store).
* ``DOMAIN ...``: the domains to train, one after the other.
* ``--together``: train them as ``train_models`` groups them instead
  (``riskwarn.domains.training_groups``: the site domains in one stage, sharing one spill
  of the readings and the per-sensor work, ``pipeline.train_group``), e.g.
  ``--together geohazard_hourly geohazard``.

Each training registers a new version and is gated as ``train_models`` would (it becomes
champion only if its gate passes). Prints each training's line, its report (gate, version,
promoted) and the load average before and after.
"""

from __future__ import annotations

# isort: off
import riskwarn  # noqa: F401  (first: its allocator settings precede pyarrow, riskwarn/allocators.py)

# isort: on
import argparse
import json
import sys
from functools import partial
from pathlib import Path

import bench_full_day as full_day
import pandas as pd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", type=Path, required=True)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--together", action="store_true")
    ap.add_argument("domains", nargs="+")
    args = ap.parse_args(argv)

    from riskwarn import pipeline
    from riskwarn.keys import new_key
    from riskwarn.settings import Settings

    meta = json.loads((args.sim / "simulation.json").read_text(encoding="utf-8"))
    tz = meta.get("timezone", "Asia/Shanghai")
    day_start = pd.Timestamp(meta["end"]).tz_localize(tz)  # as bench_full_day's rebuild
    settings = Settings(
        home=args.home, pseudonym_key=new_key(), city_area=full_day.SIMULATED_CITY_AREA
    )
    stages = full_day.Stages(settings.task_memory_mb)
    print(full_day.load_words(), flush=True)
    if args.together:
        from riskwarn.domains import training_groups

        units = ["+".join(group) for group in training_groups(args.domains)]
    else:
        units = list(args.domains)
    for unit in units:
        train = (
            partial(full_day.train_unit, settings, unit, day_start)
            if "+" in unit
            else partial(pipeline.train_domain, settings, unit, day_start)
        )
        out = stages.run("train", f"train {unit}", train)
        print(json.dumps(out, default=str), flush=True)
        print(full_day.load_words(), flush=True)
    return 1 if stages.failed else 0


if __name__ == "__main__":
    sys.exit(main())
