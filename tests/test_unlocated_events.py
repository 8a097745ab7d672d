"""Events without coordinates have no cell: the hotspot backtest leaves them out of every
method's hit rate and PAI alike, and says how many of the evaluation windows' events it
left out (metrics.json ``events_without_coordinates``; the CLI and bench/bench_cities.py
print it): Cincinnati 2018 had 96 of 2,054 burglaries without coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.hotspot_backtest import HotspotBacktestSpec, run_hotspot_backtest
from testkit.synthetic_hotspots import CRS, TZ, synthetic_events
from tests.test_backtest import TINY


def test_the_backtest_counts_the_windows_events_without_coordinates() -> None:
    ev = synthetic_events(seed=4, n_cells=8, days=420)
    spec = HotspotBacktestSpec(
        holiday_country="US",
        crs=CRS,
        cell_size_m=250,
        tz=TZ,
        start=pd.Timestamp("2016-01-01"),
        end=pd.Timestamp("2016-01-15"),
        model=TINY,
    )
    base = run_hotspot_backtest(ev, spec)
    assert base.metrics["events_without_coordinates"] == 0
    # the windows: local days 2016-01-01 .. 2016-01-21 (three weekly origins, 7-day horizon)
    local = pd.DatetimeIndex(ev["occurred_at"]).tz_convert(TZ)
    inside = (local >= pd.Timestamp("2016-01-01", tz=TZ)) & (
        local < pd.Timestamp("2016-01-22", tz=TZ)
    )
    drop_in = np.flatnonzero(inside)[::4]
    drop_out = np.flatnonzero(~inside)[::50]  # before or after the windows: not counted
    gone = ev.copy()
    gone.loc[gone.index[[*drop_in, *drop_out]], ["lon", "lat"]] = np.nan
    res = run_hotspot_backtest(gone, spec)
    assert res.metrics["events_without_coordinates"] == len(drop_in) > 0
    xgb = res.metrics["methods"]["xgboost"]["events"]
    assert xgb == base.metrics["methods"]["xgboost"]["events"] - len(drop_in)
