"""The stream's per-sensor maps are bounded: a sensor silent for longer than the state
keeps (the rules' history) is forgotten, by stream time; one that reports again starts
afresh with every new reading counted once (riskwarn.stream.state.SensorStates,
riskwarn.stream.model.ReadingWindow; docs/streaming.md, "Silent sensors").

The rules here are the nowcast's with a 24-step steady window (as the "short" rule set of
tests/test_stream_rules_batch.py) so that the history is 52 h instead of 768 h and the
test runs days, not months, of readings; the horizon follows the rules the same way.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from riskwarn.sensor_rules import NOWCAST_RULES
from riskwarn.stream.model import ReadingWindow
from riskwarn.stream.state import Hysteresis, SensorStates
from testkit.stream_helpers import slope_readings

START = pd.Timestamp("2026-01-01", tz="UTC")
SHORT = replace(NOWCAST_RULES, steady_window_steps=24, smooth_steps=1)
H = pd.Timedelta(hours=1)


def _creep(sid: str, start: pd.Timestamp, days: float, seed: int) -> pd.DataFrame:
    r = slope_readings(
        sid, start=start, steady_days=100, failure_after_days=200, step="10min", seed=seed
    )
    return r.loc[r["observed_at"] < start + pd.Timedelta(days=days)].reset_index(drop=True)


def _state(forget: bool = True) -> SensorStates:
    st = SensorStates(rules=SHORT, hysteresis=Hysteresis(1, 1))
    if not forget:
        st.forget_after_ns = 1 << 62  # the code before: never forgets
    return st


def _feed(states: list[SensorStates], readings: pd.DataFrame, sites: dict[str, str]) -> None:
    """Hour by hour, each touched site evaluated, as the consumer does."""
    readings = readings.sort_values("observed_at", kind="stable")
    for _, g in readings.groupby(readings["observed_at"].dt.floor("1h")):
        for st in states:
            st.evaluate_within(st.due(st.add(g, sites)), 1e9)


def test_the_horizon_is_the_states_own_history() -> None:
    st = SensorStates()  # the nowcast's rules: 768 hourly steps kept per active sensor
    assert st.forget_after_ns == 768 * H.value
    assert _state().forget_after_ns == 52 * H.value


def test_a_silent_sensor_is_forgotten_and_no_sites_level_moves() -> None:
    """A (site S1) stops after a day; B (S1) and C (S2) go on. After 52 h of stream time
    without A, A is dropped (old code: kept for ever); S1's and S2's levels equal those of
    a state that never forgets, S1's reasons only lose A's 'no reading' note."""
    sites = {"A": "S1", "B": "S1", "C": "S2"}
    readings = pd.concat(
        [_creep("A", START, 1, 1), _creep("B", START, 5, 2), _creep("C", START, 5, 3)]
    )
    forgetting, keeping = _state(), _state(forget=False)
    _feed([forgetting, keeping], readings, sites)
    assert sorted(forgetting.sensors) == ["B", "C"], "the silent sensor is still in the state"
    assert forgetting.by_site == {"S1": ["B"], "S2": ["C"]}
    assert forgetting.forgotten == 1 and len(keeping) == 3
    for site in ("S1", "S2"):
        a, b = forgetting.site_levels[site], keeping.site_levels[site]
        assert (a.observed_to, a.level_rank, a.health_status) == (
            b.observed_to,
            b.level_rank,
            b.health_status,
        )
    s1 = forgetting.site_levels["S1"]
    kept = keeping.site_levels["S1"]
    assert [x for x in kept.reason_items if "Sensor A " not in x["en"]] == s1.reason_items
    assert [s for s in kept.evidence["sensors"] if s["sensor_id"] != "A"] == (
        s1.evidence["sensors"]
    )
    assert repr(forgetting.site_levels["S2"]) == repr(keeping.site_levels["S2"])  # NaN too


def test_renamed_sensors_do_not_grow_the_state() -> None:
    """A sensor renamed every 12 hours (the same site): old code keeps every name; the
    state holds only those heard from within the horizon."""
    parts = []
    for k in range(20):  # 10 days
        r = _creep(f"R{k}", START + k * 12 * H, 0.5, k)
        parts.append(r)
    sites = {f"R{k}": "S" for k in range(20)}
    st = _state()
    for part in parts:  # add only: the evaluation is not what is measured
        for _, g in part.groupby(part["observed_at"].dt.floor("1h")):
            st.add(g, sites)
    assert len(st) <= 52 // 12 + 2, sorted(st.sensors)
    assert st.forgotten == 20 - len(st)
    assert st.by_site["S"] == sorted(st.sensors, key=lambda s: int(s[1:]))


def test_a_returning_sensor_counts_each_new_reading_once() -> None:
    """A is silent for 3 days, forgotten, then reports again for 2 days: its state holds
    exactly what a state that only ever saw its new readings holds (nothing old mixed in,
    nothing new lost or doubled), and its site is evaluated as that state evaluates it."""
    sites = {"A": "S1", "C": "S2"}
    before = _creep("A", START, 1, 1)
    back_at = START + pd.Timedelta(days=4)
    after = _creep("A", back_at, 2, 4)
    c = _creep("C", START, 6, 3)
    st = _state()
    _feed([st], pd.concat([before, c.loc[c["observed_at"] < back_at]]), sites)
    assert "A" not in st.sensors and st.forgotten == 1
    fresh = _state()
    _feed([fresh], after, sites)
    _feed([st], pd.concat([after, c.loc[c["observed_at"] >= back_at]]), sites)
    assert st.forgotten == 1
    end = int(after["observed_at"].max().value) + 1
    t, v = st.series_of("A", end)
    tf, vf = fresh.series_of("A", end)
    assert np.array_equal(t, tf) and np.array_equal(v, vf)
    assert len(np.unique(t)) == len(t)  # no time twice
    assert t.min() >= back_at.value  # nothing from before the silence
    steps = {s for s in st.sensors["A"].steps}
    assert steps == set(fresh.sensors["A"].steps)
    assert st.sensors["A"].first_ns == fresh.sensors["A"].first_ns == back_at.value
    got, want = st.site_levels["S1"], fresh.site_levels["S1"]
    assert repr(got) == repr(want)  # (== is False for a NaN failure time)


def test_the_models_reading_window_forgets_silent_sensors_too() -> None:
    """ReadingWindow (the site model's readings on the stream): a sensor silent for longer
    than the window keeps is dropped; when it returns, its frame holds its new readings."""
    w = ReadingWindow(lookback_days=2)  # keeps 3 days before the newest reading
    a = _creep("A", START, 1, 1)
    c = _creep("C", START, 6, 3)
    for _, g in pd.concat([a, c]).groupby(pd.concat([a, c])["observed_at"].dt.floor("1h")):
        w.add(g)
    assert sorted(w.sensors) == ["C"] and w.forgotten == 1
    back = _creep("A", START + pd.Timedelta(days=6), 1, 4)
    for _, g in back.groupby(back["observed_at"].dt.floor("1h")):
        w.add(g)
    origin = back["observed_at"].max() + H
    got = w.frame(["A"], origin, 2)
    assert len(got) == len(back)
    assert got["observed_at"].min() == back["observed_at"].min()
