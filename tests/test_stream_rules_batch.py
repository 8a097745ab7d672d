"""The stream's batched sensor rules give exactly the per-sensor path's levels (issue 16).

At the hour ~500 sites complete a step together; the stream and the nowcast evaluate
them in one pass (:func:`riskwarn.sensor_rules_batch.last_step_kinematics`,
:func:`riskwarn.site_state.site_states`) instead of one ``displacement_kinematics`` per
sensor. The decisions must not move: the kinematics are compared bit for bit with
``displacement_kinematics``' last row, and the sites' levels, reasons and evidence with
the per-sensor path (testkit/per_sensor.py: the nowcast's ``site_sensor_state`` and the
stream's per-sensor evaluation before they shared the batched path) on the same
readings, round by round, for the stream and for the nowcast's frame.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskwarn.sensor_rules import NOWCAST_RULES, SensorRules, displacement_kinematics
from riskwarn.sensor_rules_batch import COLUMNS, last_step_kinematics
from testkit.per_sensor import PerSensorStates, reference_site_sensor_state
from testkit.stream_helpers import slope_readings

START = pd.Timestamp("2026-11-01", tz="UTC")
RULE_SETS = {
    "nowcast": NOWCAST_RULES,
    "default": SensorRules(),
    "short": replace(NOWCAST_RULES, steady_window_steps=24, smooth_steps=1),
}


def _series_cases() -> dict[str, pd.Series]:
    """Creep with noise, tertiary creep to failure, gaps, off-hour times, short series."""
    rng = np.random.default_rng(7)
    out: dict[str, pd.Series] = {}
    for i, (creep, noise) in enumerate([(0.5, 0.05), (1.0, 0.2), (3.0, 0.5), (0.2, 0.01)]):
        idx = pd.date_range(START, periods=24 * 35, freq="1h")
        d = creep * np.arange(len(idx)) / 24 + rng.normal(0, noise, len(idx))
        out[f"creep{i}"] = pd.Series(d, index=idx)
    for seed in range(4):  # the failing slope, at 10-minute readings, cut at several hours
        r = slope_readings("G", start=START, step="10min", seed=seed)
        s = r.set_index("observed_at")["value"]
        for cut_h in (0, 7, 30, 60, 150):
            out[f"slope{seed}_{cut_h}"] = s.iloc[: len(s) - 6 * cut_h]
    # gaps (whole hours missing), times off the hour, duplicated hours' last readings
    base = slope_readings("G", start=START, step="10min", seed=9).set_index("observed_at")
    keep = rng.random(len(base)) > 0.4
    out["gappy"] = base["value"][keep]
    off = base["value"].copy()
    off.index = off.index + pd.Timedelta(minutes=3, seconds=17)
    out["off_hour"] = off.iloc[: 6 * 24 * 17]
    out["hole"] = pd.concat([base["value"].iloc[:1000], base["value"].iloc[1400:2200]])
    for n in (1, 2, 5, 13, 40):  # shorter than the windows
        out[f"short{n}"] = base["value"].iloc[-6 * n :]
    out["flat"] = pd.Series(1.0, index=pd.date_range(START, periods=24 * 3, freq="1h"))
    return out


def _three_gorges(shared: Path) -> dict[str, pd.Series]:
    """The Three Gorges points' real monthly displacement, one value per hour (the values
    are real; the spacing is the stream's step)."""
    raw = pd.read_csv(shared / "threegorges" / "displacement_monthly.csv")
    out = {}
    for (ls, pt), g in raw.groupby(["landslide", "point"]):
        v = g["dF_mm"].dropna().to_numpy(float)
        out[f"tg_{ls}_{pt}"] = pd.Series(v, index=pd.date_range(START, periods=len(v), freq="1h"))
    return out


def _as_arrays(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    s = s.dropna().sort_index()
    return s.index.as_unit("ns").asi8.copy(), s.to_numpy(float)


def _check(cases: dict[str, pd.Series]) -> int:
    compared = 0
    for name, rules in RULE_SETS.items():
        got = last_step_kinematics({k: _as_arrays(s) for k, s in cases.items()}, "1h", rules)
        for sid, s in cases.items():
            want = displacement_kinematics(s, "1h", rules).iloc[-1]
            row = got.loc[sid]
            assert row["at"] == want.name, (name, sid)
            for c in COLUMNS:
                a, b = np.float64(row[c]), np.float64(want[c])
                assert a == b or (np.isnan(a) and np.isnan(b)), (name, sid, c, a, b)
            compared += 1
    return compared


def test_last_step_kinematics_equal_the_per_series_last_row_bit_for_bit() -> None:
    assert _check(_series_cases()) == 3 * len(_series_cases())


def test_last_step_kinematics_on_three_gorges_values(shared_data: Path) -> None:
    cases = _three_gorges(shared_data)
    assert len(cases) >= 4
    _check(cases)


def _level_tuple(lv: Any) -> tuple[Any, ...]:
    f = lv.failure_in_hours
    return (
        lv.site_id,
        lv.level_rank,
        lv.raw_rank,
        lv.reason_items,
        lv.health_status,
        "nan" if np.isnan(f) else f,
        lv.evidence,
        lv.observed_to,
    )


def _city() -> tuple[pd.DataFrame, dict[str, str]]:
    """Sites with one GNSS (failing slopes, steady creep), two sensors (GNSS and a crack
    meter), a sensor that dies, a gappy one and a spiky one; 10-minute readings."""
    frames, sites = [], {}
    for k in range(3):
        r = slope_readings(f"F{k}", start=START, step="10min", seed=k)
        frames.append(r)
        sites[f"F{k}"] = f"SF{k}"
    rng = np.random.default_rng(3)
    idx = pd.date_range(START, START + pd.Timedelta(days=18), freq="10min", inclusive="left")
    n = len(idx)

    def sensor(sid: str, site: str, v: np.ndarray, q: str = "displacement_mm") -> None:
        frames.append(
            pd.DataFrame({"sensor_id": sid, "observed_at": idx, "quantity": q, "value": v.round(3)})
        )
        sites[sid] = site

    for k in range(4):
        sensor(f"C{k}", f"SC{k}", np.cumsum(rng.uniform(0, 0.01, n)) + rng.normal(0, 0.02, n))
    sensor("M1", "SM", np.cumsum(rng.uniform(0, 0.01, n)))
    sensor("M2", "SM", np.cumsum(rng.uniform(0, 0.02, n)), "crack_width_mm")
    dead = np.cumsum(rng.uniform(0, 0.01, n))
    dead[-6 * 40 :] = np.nan  # silent for the last 40 h; its site's other sensor reports
    sensor("D1", "SD", dead)
    sensor("D2", "SD", np.cumsum(rng.uniform(0, 0.01, n)), "crack_width_mm")
    spiky = np.cumsum(rng.uniform(0, 0.01, n))
    spiky[::7] += 50.0
    sensor("P1", "SP", spiky)
    r = pd.concat(frames, ignore_index=True)
    r = r.loc[r["value"].notna()]
    gappy = (r["sensor_id"] == "C3") & (rng.random(len(r)) < 0.5)
    return r.loc[~gappy].reset_index(drop=True), sites


def test_batched_sites_equal_the_per_sensor_path_round_by_round() -> None:
    """Fed the same readings in hourly micro-batches (as the consumer does, with a
    redelivered micro-batch), both paths evaluate the same sites at the same steps with
    the same levels, reasons, evidence and health, every round."""
    from riskwarn.stream.state import Hysteresis, SensorStates

    readings, sites = _city()
    paths = [
        SensorStates(hysteresis=Hysteresis(1, 1)),
        PerSensorStates(hysteresis=Hysteresis(1, 1)),
    ]
    first = START + pd.Timedelta(days=15)
    hours = readings["observed_at"].dt.floor("h")
    batches = [readings.loc[readings["observed_at"] < first]]
    batches += [g for _, g in readings.loc[readings["observed_at"] >= first].groupby(hours)]
    batches.insert(40, batches[39])  # a redelivery
    compared = changes = 0
    last: dict[str, int] = {}
    for b in batches:
        got = []
        for st in paths:
            touched = st.add(b, sites)
            got.append(st.evaluate_within(st.due(touched), 1e9))
        assert [list(r) for r in got[0]] == [list(r) for r in got[1]]
        for ra, rb in zip(got[0], got[1], strict=True):
            for site in ra:
                assert _level_tuple(ra[site]) == _level_tuple(rb[site]), site
                compared += 1
                changes += last.get(site, 0) != ra[site].level_rank
                last[site] = ra[site].level_rank
    assert compared > 500
    assert changes >= 5, changes  # levels do move on these sites (no hysteresis)
    healths = {lv.health_status for lv in paths[0].site_levels.values()}
    assert healths >= {"ok", "gappy", "spiky"}
    dead = paths[0].site_levels["SD"].evidence["sensors"]
    assert [s["status"] for s in dead] == ["dead", "ok"]
    assert max(last[f"SF{k}"] for k in range(3)) == 4


@pytest.mark.parametrize("seed", [0, 1])
def test_batched_path_sees_the_hour_burst_of_many_sites(seed: int) -> None:
    """Many sites completing the same step together: one batched pass equals the
    per-sensor path site by site."""
    from riskwarn.stream.state import Hysteresis, SensorStates

    rng = np.random.default_rng(seed)
    idx = pd.date_range(START, START + pd.Timedelta(days=3), freq="10min")
    frames, sites = [], {}
    for i in range(60):
        v = np.cumsum(rng.uniform(0, 0.02, len(idx))) + rng.normal(0, 0.01, len(idx))
        if i % 10 == 0:  # a few accelerate in the last day
            v += np.where(np.arange(len(idx)) > len(idx) - 144, np.arange(len(idx)) ** 2 * 1e-5, 0)
        frames.append(
            pd.DataFrame(
                {
                    "sensor_id": f"B{i}",
                    "observed_at": idx,
                    "quantity": "displacement_mm",
                    "value": v.round(3),
                }
            )
        )
        sites[f"B{i}"] = f"SB{i}"
    r = pd.concat(frames, ignore_index=True)
    out = []
    for cls in (SensorStates, PerSensorStates):
        st = cls(hysteresis=Hysteresis(1, 1))
        st.add(r, sites)
        rounds = st.evaluate_within(st.due(set(sites.values())), 1e9)
        out.append({s: _level_tuple(lv) for rd in rounds for s, lv in rd.items()})
    assert len(out[0]) == 60
    assert out[0] == out[1]


def test_nowcast_site_state_equals_the_per_sensor_path() -> None:
    """The nowcast's frame (batch hourly nowcast, daily site serving), now through the
    shared batched path, equals the per-sensor path's frame, columns and dtypes
    included, at origins across the city's last days (rising, failing, dead, gappy and
    spiky sensors, a site without a displacement sensor, a rain gauge, duplicated and
    unsorted readings)."""
    from riskwarn.nowcast import site_sensor_state

    readings, sites = _city()
    # a site with two failing slopes, T2 an hour ahead of T1: often at the same level
    # with different angles and failure times (the tie goes to the lower id)
    f0 = readings.loc[readings["sensor_id"] == "F0"]
    for sid, ahead in (("T2", 1), ("T1", 0)):
        shifted = f0["observed_at"] - pd.Timedelta(hours=ahead)
        readings = pd.concat([readings, f0.assign(sensor_id=sid, observed_at=shifted)])
        sites[sid] = "ST"
    sensors = pd.DataFrame(
        {
            "record_id": [*sites, "R1"],
            "site_id": [*sites.values(), "SF0"],
            "sensor_type": ["gnss"] * len(sites) + ["rain_gauge"],
        }
    )
    sensors.loc[sensors["record_id"].isin(["M2", "D2"]), "sensor_type"] = "crack_meter"
    site_table = pd.DataFrame({"record_id": sorted({*sites.values(), "SNONE"})})
    # redelivered and shuffled readings: the paths must read them the same way
    readings = pd.concat([readings, readings.sample(500, random_state=1)])
    readings = readings.sample(frac=1.0, random_state=2).reset_index(drop=True)
    compared = 0
    for h in range(15 * 24, 18 * 24, 7):
        origin = START + pd.Timedelta(hours=h)
        r = readings.loc[readings["observed_at"] < origin]
        got = site_sensor_state(site_table, sensors, r, origin)
        want = reference_site_sensor_state(site_table, sensors, r, origin)
        pd.testing.assert_frame_equal(got, want)
        compared += len(got)
    assert compared > 100
    assert set(got["health_status"]) >= {"ok", "no_sensor"}
    assert got["sensor_level_rank"].max() >= 3
    assert [e["sensor_id"] for e in got.set_index("unit_id").at["ST", "evidence"]["sensors"]] == [
        "T1",
        "T2",
    ]
