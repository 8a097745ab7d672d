"""The sensor physics module: the quantities every geohazard caller shares (issue 14.4)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskwarn import sensor_physics as phys

ROOT = Path(__file__).resolve().parents[1]


def test_velocity_acceleration_and_inverse_velocity() -> None:
    d = np.array([0.0, 1.0, 3.0, 6.0])
    v = phys.velocity(d[1:], d[:-1], 0.5)
    assert v.tolist() == [2.0, 4.0, 6.0]
    assert phys.acceleration(v[1:], v[:-1], 0.5).tolist() == [4.0, 4.0]
    iv = phys.inverse_velocity(np.array([2.0, 0.0, -1.0, np.nan]))
    assert iv[0] == 0.5 and np.isnan(iv[1:]).all()  # only forward movement has a 1/v
    s = phys.velocity(pd.Series(d), pd.Series(d).shift(1), 1.0)
    assert isinstance(s, pd.Series) and s.iloc[1:].tolist() == [1.0, 2.0, 3.0]


def test_tangent_angle_is_45_degrees_at_steady_creep_and_undefined_without_it() -> None:
    a = phys.tangent_angle_deg(np.array([0.2, 0.2, 20.0, 0.2]), np.array([0.2, 0.0, 0.2, np.nan]))
    assert a[0] == pytest.approx(45.0)
    assert np.isnan(a[1]) and np.isnan(a[3])
    assert 89.0 < a[2] < 90.0


def test_fukuzono_line_finds_the_failure_time_of_hyperbolic_creep() -> None:
    t_fail, amp = 10.0, 5.0
    t = np.array([[5.0, 6.0, 7.0, 8.0, 9.0]]).T  # 5 points x 1 row
    iv = (t_fail - t) / amp  # 1/v falls linearly to 0 at t_fail
    mt, my, slope, r2 = phys.inverse_velocity_line(lambda j: (t[j], iv[j]), 5)
    assert phys.failure_time(mt, my, slope) == pytest.approx([t_fail])
    assert r2 == pytest.approx([1.0])
    rising = phys.failure_time(mt, -my, -slope)  # 1/v rising: no failure forecast
    assert np.isnan(rising).all()
    nan = iv.copy()
    nan[2] = np.nan
    assert np.isnan(phys.inverse_velocity_line(lambda j: (t[j], nan[j]), 5)[2]).all()


def test_spikes_missing_share_and_dead_sensor() -> None:
    assert phys.is_spike(np.array([0.5, -7.0, np.nan]), 1.0, 6.0).tolist() == [False, True, False]
    assert phys.missing_share(np.array([0, 3, 9]), 6.0).tolist() == [1.0, 0.5, 0.0]
    assert phys.is_dead(np.array([np.nan, 1.0, 30.0]), 24.0).tolist() == [True, False, True]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize(
    "path",
    [
        "features/sensor_readings.py",
        "features/geohazard.py",
        "riskwarn/sensor_rules.py",
        "dashboard/sensors.py",
    ],
)
def test_features_rules_and_charts_use_the_one_physics_module(path: str) -> None:
    """Velocity, tangent angle, inverse velocity, spikes and health come from one module;
    the features, the nowcast's rules (and through them the site model) and the charts
    import it instead of writing the formulas again."""
    assert "riskwarn.sensor_physics" in _imports(ROOT / path)
    text = (ROOT / path).read_text(encoding="utf-8")
    assert "np.arctan" not in text and "1.4826" not in text


def test_site_model_takes_the_rule_constants_from_the_rules_not_from_scoring() -> None:
    for path in ("models/geohazard_sites.py", "models/site_fit.py"):
        assert not any(m.startswith("riskwarn.scoring") for m in _imports(ROOT / path))


def test_pre_run_windows_and_their_rolling() -> None:
    """One indexer for the site features' windows and the sensor rules' pre-run windows:
    row i's window is the ``n`` rows up to ``pos[i]``, none before ``i - lookback``,
    empty where ``pos[i] < 0``."""
    pos = np.array([-1, 0, 1, 1, 3, 5])
    start, end = phys.pre_run_bounds(pos, 3, 0)
    assert start.tolist() == [0, 0, 0, 0, 1, 3] and end.tolist() == [0, 1, 2, 2, 4, 6]
    start, end = phys.pre_run_bounds(pos, 3, 2)  # row 4 may not reach before row 2
    assert start.tolist() == [0, 0, 0, 1, 2, 3] and end.tolist() == [0, 1, 2, 2, 4, 6]
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    sums = phys.rolling_over(v, start, end, 1).sum().to_numpy()
    assert np.isnan(sums[0]) and sums[1:].tolist() == [1.0, 3.0, 2.0, 7.0, 15.0]
