"""Hotspot and geohazard baselines: values, leakage, direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import baselines as b
from models.grid import build_count_cube

TZ = "America/Chicago"


def _events(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "occurred_at": pd.to_datetime([r[0] for r in rows]).tz_localize(TZ).tz_convert("UTC"),
            "cell_x": [r[1] for r in rows],
            "cell_y": [r[2] for r in rows],
        }
    )


CELLS = pd.DataFrame({"cell_x": [0, 1, 2, 10], "cell_y": [0, 0, 0, 10]})


def _cube(ev: pd.DataFrame):
    return build_count_cube(ev, CELLS, pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-31"), TZ)


def test_count_cube_uses_local_days() -> None:
    ev = _events(
        [("2020-01-01 23:30", 0, 0), ("2020-01-02 00:10", 0, 0), ("2020-01-02 12:00", 9, 9)]
    )
    cube = _cube(ev)
    assert cube.counts[0, 0] == 1 and cube.counts[1, 0] == 1
    assert cube.counts.sum() == 2  # the event outside the cells is ignored
    assert cube.days[0] == pd.Timestamp("2020-01-01 06:00", tz="UTC")


def test_last_period_and_long_run_values_and_no_leakage() -> None:
    ev = _events(
        [("2020-01-05 10:00", 0, 0), ("2020-02-01 10:00", 1, 0), ("2020-02-03 10:00", 1, 0)]
    )
    cube = _cube(ev)
    origin = pd.Timestamp("2020-02-03", tz=TZ).tz_convert("UTC")
    o = cube.day_index(origin)
    assert list(b.last_period_scores(cube, o, 7)) == [0, 1, 0, 0]
    assert list(b.long_run_scores(cube, o)) == [1, 1, 0, 0]
    # adding events at/after the origin never changes a baseline at the origin
    later = pd.concat([ev, _events([("2020-02-03 00:00", 2, 0), ("2020-03-01 00:00", 10, 10)])])
    cube2 = _cube(later)
    params = b.HotspotParams()
    s1 = b.hotspot_baseline_scores(cube, [origin], params)
    s2 = b.hotspot_baseline_scores(cube2, [origin], params)
    pd.testing.assert_frame_equal(s1, s2)


def test_kde_spreads_to_neighbours_and_decays_with_distance() -> None:
    cube = _cube(_events([("2020-01-05 10:00", 0, 0)]))
    o = cube.day_index(pd.Timestamp("2020-02-01", tz="UTC"))
    s = b.kde_scores(cube, o, 250.0, 250.0)
    assert s[0] > s[1] > s[2] > 0
    assert s[3] == pytest.approx(0.0, abs=1e-12)


def test_prospective_more_recent_nearby_events_do_not_lower_risk() -> None:
    old = _events([("2020-01-20 10:00", 1, 0)])
    recent = _events([("2020-01-30 10:00", 1, 0)])
    origin = pd.Timestamp("2020-02-01", tz=TZ).tz_convert("UTC")
    c_old, c_new = _cube(old), _cube(recent)
    s_old = b.prospective_scores(c_old, c_old.day_index(origin), 400, 56, 250)
    s_new = b.prospective_scores(c_new, c_new.day_index(origin), 400, 56, 250)
    assert s_new[1] > s_old[1] and s_new[0] > s_old[0]
    both = _cube(pd.concat([old, recent]))
    s_both = b.prospective_scores(both, both.day_index(origin), 400, 56, 250)
    assert np.all(s_both >= s_old)


def test_caine_and_guzzetti_thresholds() -> None:
    rain = pd.Series([0.0, 10.0, 100.0, 300.0])
    caine = b.id_exceedance_ratio(rain, b.CAINE_1980, max_days=1)
    # 100 mm in a day: 4.17 mm/h vs Caine 14.82 * 24^-0.39 = 4.29 mm/h -> just below
    assert caine.iloc[2] == pytest.approx((100 / 24) / (14.82 * 24**-0.39))
    assert caine.iloc[2] < 1 < caine.iloc[3]
    guz = b.id_exceedance_ratio(rain, b.GUZZETTI_2008, max_days=1)
    assert guz.iloc[1] < 1 < guz.iloc[2]  # 13 mm/day exceeds it; 10 mm does not
    multi = b.id_exceedance_ratio(rain, b.CAINE_1980, max_days=3)
    assert (multi >= caine).all()


def test_effective_rainfall_and_sensor_rules() -> None:
    rain = pd.Series([10.0, 0.0, 0.0])
    er = b.effective_rainfall(rain, k=0.5, days=5)
    assert list(er) == [10.0, 5.0, 2.5]
    steady = pd.Series(np.arange(30, dtype=float))  # 1 mm/step creep
    ang = b.improved_tangent_angle(steady)
    assert ang.iloc[-1] == pytest.approx(45.0)
    accel = pd.concat([steady, pd.Series([29 + 30.0, 29 + 80.0])], ignore_index=True)
    ang2 = b.improved_tangent_angle(accel)
    assert ang2.iloc[-1] > 85
    lv = b.tangent_angle_level(pd.Series([30.0, 50.0, 82.0, 88.0]))
    assert list(lv) == [0, 2, 3, 4]
