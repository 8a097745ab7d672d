"""Counting geohazard warnings the way the field does (bench/bench_nowcast.py,
models.site_levels.warning_episodes / verify_episodes).

The reviewer's two cases (review of 2026-12-06): an orange in force without a break from
96 h before a failure scored POD 0 and false-alarm ratio 1.0 (a miss and a false alarm at
once: its start was outside the 72 h window); an orange flapping every other hour over
the 20 h before a failure scored 10 episodes, all "correct". Now: a failure is warned
when an episode is in force when it happens or within the horizon before it, the lead
runs from the episode's start, and hours warned again within the nowcast's hold
(riskwarn.level_hold) continue one episode.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_nowcast

from models.metrics import wilson_interval
from models.site_levels import (
    episode_summary,
    site_day_table,
    verify_episodes,
    warning_episodes,
)
from riskwarn.level_hold import BATCH_HYSTERESIS, Held, hold_step

H = pd.Timedelta(hours=1)
T = pd.Timestamp("2024-07-10T12:00Z")
HOURS = pd.date_range(T - 120 * H, T + 24 * H, freq="h")
FAILURE = pd.DataFrame({"site_id": ["S"], "occurred_at": [T]})


def levels_of(flags: list[bool], site: str = "S") -> pd.DataFrame:
    return pd.DataFrame({"site_id": site, "at": HOURS, "level": np.where(flags, 3, 0)})


def test_a_warning_in_force_from_96_h_before_a_failure_warned_it_and_is_no_false_alarm() -> None:
    lv = levels_of([h >= T - 96 * H for h in HOURS])
    m = bench_nowcast.evaluate(lv, FAILURE)
    assert (m["pod"], m["far"]) == (1.0, 0.0)  # was POD 0 and FAR 1.0
    assert (m["failures"], m["warned"], m["episodes"], m["false_episodes"]) == (1, 1, 1, 0)
    assert m["median_lead_h"] == 96.0  # from the start of the episode in force


def test_a_warning_flapping_every_other_hour_before_a_failure_is_one_episode() -> None:
    lv = levels_of([T - 20 * H <= h < T and h.hour % 2 == 0 for h in HOURS])
    m = bench_nowcast.evaluate(lv, FAILURE)
    assert m["episodes"] == 1  # was 10
    assert (m["warned"], m["median_lead_h"], m["far"]) == (1, 20.0, 0.0)


def test_episodes_are_the_served_warnings_of_the_nowcasts_hold() -> None:
    """Raw orange hours with gaps of 1..8 hours below: the episodes are the runs of the
    level the nowcast serves (level_hold.hold_step, the batch hysteresis) at orange or
    above; a gap shorter than the hold continues the episode."""
    hold = BATCH_HYSTERESIS.lower_after_steps
    rng = np.random.default_rng(0)
    flags, on = [], True
    while len(flags) < len(HOURS):
        flags += [on] * int(rng.integers(1, hold + 3))
        on = not on
    lv = levels_of(flags[: len(HOURS)])
    held, served = Held(), []
    for raw in lv["level"]:
        held = hold_step(held, int(raw), BATCH_HYSTERESIS)
        served.append(held.rank >= 3)
    s = np.array(served)
    starts = lv["at"][s & ~np.r_[False, s[:-1]]].tolist()
    ends = lv["at"][~s & np.r_[False, s[:-1]]].tolist()
    eps = warning_episodes(lv, 3, hold * H)
    assert eps["start"].tolist() == starts
    assert eps["end"].tolist()[: len(ends)] == ends
    gaps = warning_episodes(levels_of([h in (T, T + 6 * H, T + 13 * H) for h in HOURS]), 3, 6 * H)
    assert gaps["start"].tolist() == [T, T + 13 * H]  # 5 h below: held; 6 h: lifted


def test_a_miss_and_a_false_alarm_are_counted_consistently() -> None:
    """An episode lifted more than the horizon before a failure neither warns it nor is
    followed by it; a failure at the very hour a warning is issued is not warned (no
    lead); another site's failure does not make an episode correct."""
    lv = pd.concat(
        [
            levels_of([T - 100 * H <= h < T - 90 * H for h in HOURS]),  # lifted at T-85 h
            levels_of([h == T for h in HOURS], site="R"),  # issued at the failure
            levels_of([T - 10 * H <= h < T - 5 * H for h in HOURS], site="Q"),  # no failure
        ]
    )
    events = pd.DataFrame({"site_id": ["S", "R"], "occurred_at": [T, T]})
    failures, episodes = verify_episodes(warning_episodes(lv, 3, 6 * H), events, 72 * H)
    assert failures["warned"].tolist() == [False, False]
    assert failures["lead_time_hours"].isna().all()
    assert episodes["failure"].tolist() == [False, False, False]
    # with a horizon past the lift both sides change together: warned, lead from the start
    failures, episodes = verify_episodes(warning_episodes(lv, 3, 6 * H), events, 86 * H)
    assert failures["lead_time_hours"].tolist()[0] == 100.0
    assert episodes.set_index("site_id")["failure"].to_dict() == {"Q": False, "R": False, "S": True}
    m = episode_summary(*verify_episodes(warning_episodes(lv, 3, 6 * H), events, 72 * H))
    assert (m["pod"], m["far"]) == (0.0, 1.0)


def test_wilson_interval_of_small_counts() -> None:
    z = 1.959963984540054
    lo, hi = wilson_interval(3, 3)
    assert lo == pytest.approx(3 / (3 + z**2)) and hi == pytest.approx(1.0)  # 0.44-1.00
    lo, hi = wilson_interval(0, 13)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(z**2 / (13 + z**2))
    lo, hi = wilson_interval(5, 20)
    p, n = 0.25, 20
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert (lo, hi) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert all(np.isnan(wilson_interval(0, 0)))


def test_site_days_count_a_day_warned_when_an_episode_is_in_force_in_it() -> None:
    lv = levels_of([T - 30 * H <= h < T - 28 * H for h in HOURS])  # local 07-09 14:00-16:00
    eps = warning_episodes(lv, 3, 6 * H)
    days = site_day_table(lv, eps, FAILURE, "Asia/Shanghai").set_index("day")
    assert days["warned"].sum() == 1 and days.loc["2024-07-09", "warned"]
    assert days["failure"].sum() == 1 and days.loc["2024-07-10", "failure"]  # 20:00 local
