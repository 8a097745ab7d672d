"""How often the stream serves red twice on the stream tests' failing slope (seeds 0-7).

docs/streaming.md ("One step convention") quotes these figures: per seed, the served
level hour by hour (the stream's state and hysteresis, no site model:
``testkit.stream_helpers.stream_levels``) over ``slope_readings(seed=k)`` at 10-minute
readings, the number of separate red spells and the hours from the first raw red to the
failure (the end of the readings).

    python bench/stream_red_episodes.py [--seeds 0-7]
"""

from __future__ import annotations

import argparse
import statistics

import pandas as pd

from testkit.stream_helpers import slope_readings, stream_levels

RED = 4
START = pd.Timestamp("2026-11-01", tz="UTC")


def seed_figures(seed: int) -> tuple[int, float | None]:
    """(red spells served, hours from the first raw red to the failure) of one seed."""
    r = slope_readings("G1", start=START, step="10min", seed=seed)
    levels = stream_levels(r, {"G1": "S1"})
    hours = sorted(levels)
    served = [levels[h][0] for h in hours]
    spells = sum(1 for i, lv in enumerate(served) if lv == RED and (i == 0 or served[i - 1] != RED))
    first_raw = next((h for h in hours if levels[h][1] == RED), None)
    failure = r["observed_at"].max() + pd.Timedelta(minutes=10)
    lead = None if first_raw is None else (failure - first_raw).total_seconds() / 3600
    return spells, lead


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-7", help="a range a-b")
    a = p.parse_args(argv)
    lo, hi = (int(x) for x in a.seeds.split("-"))
    twice, leads = [], []
    for seed in range(lo, hi + 1):
        spells, lead = seed_figures(seed)
        print(f"seed {seed}: red spells served {spells}, first raw red {lead} h before failure")
        if spells >= 2:
            twice.append(seed)
        if lead is not None:
            leads.append(lead)
    n = hi - lo + 1
    print(f"served red twice or more: {len(twice)} of {n} (seeds {twice})")
    if leads:
        print(
            f"first raw red before the failure: {min(leads):.0f}-{max(leads):.0f} h, "
            f"median {statistics.median(leads):.1f} h"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
