"""Hysteresis of the daily scoring holds a level from the previous run, never an older one.

A run that warned nobody (every unit calm) is the previous run all the same: a level it
dropped must not come back from the run before it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from riskwarn import domains
from riskwarn import warnings as rw
from riskwarn.scoring import _warn_and_write, forecasts_frame
from riskwarn.store import Store

DOMAIN = "incidents"
DAY1 = pd.Timestamp("2024-03-10T16:00Z")


def _hold_only_probability(policy: rw.LevelPolicy) -> tuple[float, int, int]:
    """A probability that a held red keeps above the level it raises on its own."""
    for p in np.linspace(0.0, 1.0, 2001):
        raised = int(rw.probability_levels(pd.Series([p]), policy.raise_at).iloc[0])
        holdable = int(rw.probability_levels(pd.Series([p]), policy.hold_at).iloc[0])
        if holdable > raised:
            return float(p), raised, holdable
    raise AssertionError("the policy has no hold band")


def _score(store: Store, origin: pd.Timestamp, p: float) -> pd.DataFrame:
    units = pd.DataFrame(
        {"unit_id": ["c1", "c2"], "county_code": ["A", "A"], "township_code": ["A1", "A2"]}
    )
    prob = np.array([p, 0.0])
    forecasts = forecasts_frame(units, prob, DOMAIN, origin)
    scored = forecasts[["unit_id", "probability", "score", "county_code", "township_code"]]
    champion = SimpleNamespace(name="riskwarn-incidents", version="1")
    run_id = _warn_and_write(
        store, DOMAIN, origin, champion, None, scored, forecasts, {}, "v", None
    )
    return store.warnings(domain=DOMAIN, published_only=False, run_ids=[run_id])


def test_a_calm_run_between_ends_the_hold(settings):
    store = Store.from_settings(settings)
    store.upgrade()
    policy = domains.get(DOMAIN).levels
    p_hold, raised, holdable = _hold_only_probability(policy)

    day1 = _score(store, DAY1, 0.99)
    assert day1.set_index("unit_id").loc["c1", "level_rank"] == 4
    # day 2: every unit calm, the run warns nobody
    assert _score(store, DAY1 + pd.Timedelta(days=1), 0.0).empty
    # day 3: c1 in a hold band; the previous run (day 2) had it at no level
    day3 = _score(store, DAY1 + pd.Timedelta(days=2), p_hold)
    got = int(day3.set_index("unit_id")["level_rank"].get("c1", 0))
    assert got == raised, f"held {got} from day 1 over the calm day 2 (raised {raised})"

    # without the calm day between, the hold applies (the test's probability is in a band)
    day4 = _score(store, DAY1 + pd.Timedelta(days=3), 0.99)
    assert day4.set_index("unit_id").loc["c1", "level_rank"] == 4
    day5 = _score(store, DAY1 + pd.Timedelta(days=4), p_hold)
    assert int(day5.set_index("unit_id").loc["c1", "level_rank"]) == min(4, holdable) > raised


def test_a_level_is_not_held_across_a_gap_longer_than_the_horizon(settings):
    """A run after a gap (a paused DAG, services started on an old home) starts from its
    own levels: the previous run's warnings are no longer in force."""
    store = Store.from_settings(settings)
    store.upgrade()
    policy = domains.get(DOMAIN).levels
    p_hold, raised, holdable = _hold_only_probability(policy)
    horizon = pd.Timedelta(hours=domains.get(DOMAIN).horizon_hours)

    assert _score(store, DAY1, 0.99).set_index("unit_id").loc["c1", "level_rank"] == 4
    within = _score(store, DAY1 + horizon - pd.Timedelta(hours=1), p_hold)
    assert int(within.set_index("unit_id").loc["c1", "level_rank"]) == min(4, holdable)
    later = DAY1 + horizon - pd.Timedelta(hours=1) + horizon + pd.Timedelta(days=400)
    after_gap = _score(store, later, p_hold)
    got = int(after_gap.set_index("unit_id")["level_rank"].get("c1", 0))
    assert got == raised, f"held {got} over a gap of 400 days (raised {raised})"
