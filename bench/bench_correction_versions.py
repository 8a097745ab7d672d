"""What corrected records cost the hotspot backtest (docs/design.md, "Corrected records"):
the synthetic city's backtest (``testkit.synthetic_hotspots``, 8,949 events, origins
2016-01-01 .. 2016-03-31) with K of its records corrected (moved ~1 km), each correction
known 1 to 60 days after the event, so nearly every origin lies in its own stretch
between two corrections' times.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_correction_versions.py [K]   # default 400

Prints the backtest's stage timings (``timings_s``): ``features_s`` holds the cell table
and the stacked and long-memory inputs, computed once per stretch.
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
