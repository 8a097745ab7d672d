"""The batch nowcast holds the published (combined) level as the stream does (review
r92 D3): raised at once, lowered only after ``lower_after_steps`` hourly runs below it,
read from the previous published run only (re-running an hour gives the same rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn import domains
from riskwarn import warnings as rw
from riskwarn.level_hold import BATCH_HYSTERESIS, Held, Hysteresis, hold_step
from riskwarn.nowcast import nowcast_geohazard
from riskwarn.scoring import forecasts_frame, write_run
from riskwarn.store import Store
from tests.test_scoring import _site_lake

DOMAIN = "geohazard_hourly"


def _served(raws: list[int], hy: Hysteresis) -> list[int]:
    h, out = Held(), []
    for r in raws:
        h = hold_step(h, r, hy)
        out.append(h.rank)
    return out


def test_hold_rule_flicker_and_calm_down():
    # the reviewer's pattern: the rules read red, yellow, red... hour to hour
    assert _served([4, 2, 4, 2, 4, 2, 4], BATCH_HYSTERESIS) == [4] * 7
    # a genuine calm-down lowers after 6 hours below, to the highest level of those hours
    assert _served([4, 2, 2, 2, 2, 2, 2, 2], BATCH_HYSTERESIS) == [4] * 6 + [2, 2]
    assert _served([4, 3, 2, 2, 2, 2, 2], BATCH_HYSTERESIS) == [4] * 6 + [3]
    # the batch raises every level at once (blue and yellow too)
    assert _served([0, 1, 2, 4], BATCH_HYSTERESIS) == [0, 1, 2, 4]
    # the stream's default keeps its on-delay for blue/yellow
    assert _served([0, 2, 2], Hysteresis()) == [0, 0, 2]


def _seed_red(store: Store, site: str, origin: pd.Timestamp) -> None:
    """A published run at ``origin`` with ``site`` red (what an hour of failing slope
    published)."""
    units = pd.DataFrame({"unit_id": ["s1", "s2"]})
    prob = np.array([np.nan, np.nan])
    levels = units.assign(probability=prob, score=[1.0, 0.0], level_rank=[4, 0])
    ctx = rw.WarningContext(DOMAIN, "site", origin, float(domains.get(DOMAIN).horizon_hours))
    write_run(
        store,
        domain=DOMAIN,
        origin=origin,
        forecasts=forecasts_frame(units, prob, DOMAIN, origin, score=np.array([1.0, 0.0])),
        warnings=rw.build_warnings(levels.loc[levels["unit_id"] == site], ctx),
        model_name_=None,
        model_version=None,
        data_version_="seed",
        airflow_run_id=None,
    )


def _run_rows(store: Store, origin: pd.Timestamp) -> pd.DataFrame:
    run_id = f"{DOMAIN}:{origin:%Y%m%dT%H%MZ}"
    w = store.warnings(domain=DOMAIN, published_only=False, run_ids=[run_id])
    return w.drop(columns=["created_at", "updated_at"]).reset_index(drop=True)


def _steady_lake(settings, t0: pd.Timestamp, hours_after: int) -> None:
    """Two GNSS sites creeping and slowing down (tangent angle under 45 deg: the rules
    read no warning) from 30 days before ``t0`` to ``hours_after`` after it."""
    end = t0 + pd.Timedelta(hours=hours_after)
    idx = pd.date_range(t0 - pd.Timedelta(days=30), end, freq="10min")
    days = np.asarray((idx - idx[0]).total_seconds() / 86400.0)
    rng = np.random.default_rng(0)
    calm = 10.0 * np.sqrt(days + 1.0)
    steady = {g: pd.Series(calm + rng.normal(0, 0.02, len(days)), idx) for g in ("g1", "g2")}
    _site_lake(settings, {"g1": ("s1", "gnss"), "g2": ("s2", "gnss")}, steady)


def test_nowcast_holds_published_red_then_lowers_after_calm(settings):
    t0 = pd.Timestamp("2024-07-10T12:00Z")
    _steady_lake(settings, t0, hours_after=8)
    store = Store.from_settings(settings)
    store.upgrade()
    _seed_red(store, "s1", t0 - pd.Timedelta(hours=1))
    need = BATCH_HYSTERESIS.lower_after_steps
    levels = []
    for k in range(need + 1):
        origin = t0 + pd.Timedelta(hours=k)
        nowcast_geohazard(settings, origin, store=store)
        w = _run_rows(store, origin).set_index("unit_id")
        assert "s2" not in w.index  # steady and never warned
        levels.append(int(w.loc["s1", "level_rank"]) if "s1" in w.index else 0)
        if "s1" in w.index:
            ev = w.loc["s1", "evidence"]
            assert ev["rules_level_rank"] == 0 and ev["held_steps_below"] == k + 1
            assert any("Held at red by hysteresis" in str(r) for r in w.loc["s1", "reasons"])
    # the rules read no warning from t0 on: red is held for need - 1 runs, lowered at the
    # need-th run below it (the old nowcast dropped it at once: [0, 0, ...])
    assert levels == [4] * (need - 1) + [0, 0]
    # re-running an hour in the middle (later runs now exist) gives the same rows
    mid = t0 + pd.Timedelta(hours=2)
    before = _run_rows(store, mid)
    nowcast_geohazard(settings, mid, store=store)
    pd.testing.assert_frame_equal(before, _run_rows(store, mid))


def test_nowcast_does_not_hold_a_red_published_before_a_long_gap(settings):
    """Services started on an old home (review r100 D2): the previous run is 15 months
    old, its red no longer in force, so the nowcast does not hold it."""
    t0 = pd.Timestamp("2024-07-10T12:00Z")
    _steady_lake(settings, t0, hours_after=2)
    store = Store.from_settings(settings)
    store.upgrade()
    _seed_red(store, "s1", t0 - pd.Timedelta(days=460))
    nowcast_geohazard(settings, t0, store=store)
    assert "s1" not in _run_rows(store, t0).set_index("unit_id").index
