"""Four-level warning logic: thresholds, hysteresis, capacity, sensor rules, rows, roll-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwarn.warnings import (
    LevelPolicy,
    SensorRules,
    WarningContext,
    apply_capacity,
    assign_levels,
    build_warnings,
    combine_geohazard_levels,
    displacement_kinematics,
    probability_levels,
    roll_up,
    sensor_health,
    sensor_levels,
)

POLICY = LevelPolicy((0.30, 0.50, 0.70, 0.85), (0.25, 0.42, 0.60, 0.75), max_high_per_county=2)
ORIGIN = pd.Timestamp("2024-07-01T00:00Z")


def test_probability_levels_exact_bands():
    p = pd.Series([0.0, 0.29, 0.30, 0.5, 0.69, 0.7, 0.85, 0.99, np.nan])
    assert probability_levels(p, POLICY.raise_at).tolist() == [0, 0, 1, 2, 2, 3, 4, 4, 0]


def test_policy_rejects_bad_thresholds():
    with pytest.raises(ValueError):
        LevelPolicy((0.3, 0.2, 0.7, 0.8), (0.1, 0.15, 0.5, 0.6))
    with pytest.raises(ValueError):
        LevelPolicy((0.3, 0.5, 0.7, 0.8), (0.35, 0.45, 0.6, 0.7))


def test_hysteresis_holds_until_lower_threshold():
    scores = pd.DataFrame(
        {"unit_id": ["a", "b", "c", "d", "e"], "probability": [0.65, 0.55, 0.65, 0.20, 0.80]}
    )
    previous = pd.DataFrame({"unit_id": ["a", "b", "d", "e"], "level_rank": [3, 3, 1, 4]})
    out = assign_levels(scores, POLICY, previous).set_index("unit_id")
    # a: was orange, 0.65 >= hold 0.60 -> stays orange although raise needs 0.70
    # b: was orange, 0.55 < 0.60 -> drops to yellow (raise 0.50)
    # c: new unit at 0.65 -> yellow only
    # d: was blue, 0.20 < hold 0.25 -> cleared
    # e: was red, 0.80 >= hold 0.75 -> stays red
    assert out["level_rank"].to_dict() == {"a": 3, "b": 2, "c": 2, "d": 0, "e": 4}
    assert out["held"].to_dict() == {"a": True, "b": False, "c": False, "d": False, "e": True}
    # without a previous run, raise thresholds alone decide
    assert assign_levels(scores, POLICY)["level_rank"].tolist() == [2, 2, 2, 0, 3]


def test_capacity_per_county_keeps_highest_and_protects_sensor_red():
    levels = pd.DataFrame(
        {
            "unit_id": ["a1", "a2", "a3", "a4", "b1"],
            "county_code": ["A", "A", "A", "A", "B"],
            "probability": [0.90, 0.75, 0.72, 0.10, 0.95],
            "level_rank": [4, 3, 3, 3, 4],
        }
    )
    # red before orange, then by probability
    out = apply_capacity(levels, 2).set_index("unit_id")
    assert out["level_rank"].to_dict() == {"a1": 4, "a2": 3, "a3": 2, "a4": 2, "b1": 4}
    assert out["capped"].to_dict() == {
        "a1": False,
        "a2": False,
        "a3": True,
        "a4": True,
        "b1": False,
    }
    # one high warning already issued in A this week leaves room for one
    out = apply_capacity(levels, 2, already_issued={"A": 1}).set_index("unit_id")
    assert out.loc[["a1", "a2", "a3", "a4"], "level_rank"].tolist() == [4, 2, 2, 2]
    # a protected (sensor-red) unit is never capped and uses capacity first
    prot = pd.Series([False, False, False, True, False], index=levels.index)
    out = apply_capacity(levels, 2, protected=prot).set_index("unit_id")
    assert out.loc[["a1", "a2", "a3", "a4"], "level_rank"].tolist() == [4, 2, 2, 3]
    assert apply_capacity(levels, None)["level_rank"].tolist() == [4, 3, 3, 3, 4]


def _hyperbolic_creep(noise_mm: float, seed: int = 0) -> tuple[pd.Series, pd.Timestamp]:
    """Steady creep of 1 mm/day plus Fukuzono acceleration to failure at ``tf``."""
    tf = pd.Timestamp("2024-07-20T00:00Z")
    idx = pd.date_range("2024-06-20T00:00Z", tf - pd.Timedelta("10min"), freq="10min")
    t = np.asarray((idx - idx[0]).total_seconds() / 86400.0)
    span = (tf - idx[0]).total_seconds() / 86400.0
    rng = np.random.default_rng(seed)
    d = 1.0 * t - 20.0 * np.log(1.0 - t / span) + rng.normal(0.0, noise_mm, len(t))
    return pd.Series(d, index=idx), tf


NOWCAST_RULES = SensorRules(steady_window_steps=120, smooth_steps=2)


def test_accelerating_slope_goes_red_before_failure_with_lead_time():
    series, tf = _hyperbolic_creep(noise_mm=0.3)
    k = displacement_kinematics(series, "3h", NOWCAST_RULES)
    lv = sensor_levels(k, NOWCAST_RULES)
    red_times = lv.index[lv["sensor_level_rank"] == 4]
    assert len(red_times) > 0
    first_red = red_times.min()
    lead_h = (tf - first_red).total_seconds() / 3600
    assert 6 <= lead_h <= 36  # hours of warning, not after the fact (and not days early)
    # the failure forecast at the first red step points near the true failure time
    fh = k.loc[first_red, "failure_in_hours"]
    assert abs(fh - lead_h) < 12
    assert "inverse-velocity failure forecast" in lv.loc[first_red, "sensor_reason"]
    # nothing red in the first three weeks of plain creep
    assert (lv.loc[: tf - pd.Timedelta(days=9), "sensor_level_rank"] <= 2).all()


def test_single_step_is_capped_at_yellow():
    idx = pd.date_range("2024-01-01T00:00Z", periods=24 * 60, freq="1h")
    d = np.arange(len(idx)) * (1.0 / 24)  # 1 mm/day steady creep
    d[24 * 40 :] += 80.0  # an 80 mm step (reservoir drawdown) in one hour
    k = displacement_kinematics(pd.Series(d, index=idx), "6h", NOWCAST_RULES)
    lv = sensor_levels(k, NOWCAST_RULES)
    assert k["tangent_angle_deg"].max() > 85  # the step alone looks alarming...
    assert lv["sensor_level_rank"].max() == 2  # ...but without sustained acceleration: yellow
    assert not lv["sensor_red"].any()


def test_three_gorges_creeping_points_get_no_orange_or_red(shared_data):
    raw = pd.read_csv(shared_data / "threegorges" / "displacement_monthly.csv")
    raw["month_start"] = pd.to_datetime(raw["month"]).dt.tz_localize("UTC")
    raw = raw.loc[raw["landslide"].isin(["Baishuihe", "Bazimen"])]
    raw = raw.loc[(raw["month_start"] >= "2007-01-01") & (raw["month_start"] < "2013-01-01")]
    worst = {}
    for (slide, point), g in raw.groupby(["landslide", "point"]):
        k = displacement_kinematics(g.set_index("month_start")["dF_mm"], "MS")
        worst[(slide, point)] = int(sensor_levels(k)["sensor_level_rank"].max())
    assert len(worst) == 17
    assert max(worst.values()) <= 2  # at most yellow from the seasonal steps
    # the big movers (2-3 m of seasonal steps) are noticed, not ignored
    assert worst[("Baishuihe", "ZG93")] == 2
    assert worst[("Bazimen", "ZG111")] == 2


def test_sensor_health_flags_dead_flat_and_gappy():
    origin = pd.Timestamp("2024-07-02T00:00Z")
    idx = pd.date_range("2024-07-01T00:00Z", origin - pd.Timedelta("10min"), freq="10min")
    ok = pd.DataFrame({"sensor_id": "ok", "observed_at": idx, "value": np.arange(len(idx)) * 0.01})
    flat = pd.DataFrame({"sensor_id": "flat", "observed_at": idx, "value": 5.0})
    gappy = ok.iloc[::4].assign(sensor_id="gappy")
    old = ok.iloc[:10].assign(sensor_id="stopped")  # stopped 22 h ago
    readings = pd.concat([ok, flat, gappy, old], ignore_index=True)
    expected = pd.Series(["ok", "flat", "gappy", "stopped", "silent"])
    h = sensor_health(readings, origin, sensors=expected).set_index("sensor_id")
    assert h["status"].to_dict() == {
        "flat": "flat",
        "gappy": "gappy",
        "ok": "ok",
        "silent": "dead",
        "stopped": "dead",
    }
    assert h.loc["ok", "health_note"] == ""
    assert "not as no movement" in h.loc["silent", "health_note"]
    assert h.loc["gappy", "missing_share"] == pytest.approx(0.75)


def test_geohazard_combination_sensor_red_wins_and_dead_sensor_flagged():
    model = pd.DataFrame(
        {
            "unit_id": ["s1", "s2", "s3"],
            "probability": [0.01, 0.01, 0.40],
            "level_rank": [0, 0, 3],
        }
    )
    sensor = pd.DataFrame(
        {
            "unit_id": ["s1", "s2", "s3"],
            "sensor_level_rank": [4, 0, 0],
            "sensor_red": [True, False, False],
            "sensor_reason": ["Displacement: tertiary.", "", ""],
            "health_status": ["ok", "dead", "ok"],
            "health_note": ["", "Sensor g2 has sent no reading in the last 24 h", ""],
        }
    )
    out = combine_geohazard_levels(model, sensor).set_index("unit_id")
    assert out["level_rank"].to_dict() == {"s1": 4, "s2": 1, "s3": 3}
    assert out["sensor_flag"].to_dict() == {"s1": False, "s2": True, "s3": False}


def test_build_warnings_rows_and_roll_up():
    levels = pd.DataFrame(
        {
            "unit_id": ["c1", "c2", "c3", "c4"],
            "probability": [0.9, 0.55, 0.1, 0.72],
            "score": [0.9, 0.55, 0.1, 0.72],
            "level_rank": [4, 2, 0, 3],
            "county_code": ["A", "A", "A", "B"],
            "township_code": ["A1", "A2", "A1", "B1"],
            "held": [False, False, False, True],
            "failure_in_hours": [np.nan, np.nan, np.nan, 10.0],
        }
    )
    ctx = WarningContext("incidents", "cell", pd.Timestamp("2024-07-01"), 168.0)
    w = build_warnings(
        levels,
        ctx,
        explanations={"c1": ["4 assaults within 250 m in the last 7 days, 3x the usual rate."]},
        evidence={"c1": {"recent_events_7d": 4}},
    )
    assert w["unit_id"].tolist() == ["c1", "c4", "c2"]
    assert w["warning_id"].tolist() == [
        "incidents:c1:20240701T0000Z",
        "incidents:c4:20240701T0000Z",
        "incidents:c2:20240701T0000Z",
    ]
    assert w["level"].tolist() == ["red", "orange", "yellow"]
    assert set(w["state"]) == {"new"}
    assert w.loc[0, "reasons"][1].startswith("4 assaults")
    assert "Model probability 90.0%" in w.loc[0, "reasons"][0]["en"]
    assert "90.0%" in w.loc[0, "reasons"][0]["zh"]
    assert any("hysteresis" in r["en"] for r in w.loc[1, "reasons"] if isinstance(r, dict))
    assert w.loc[0, "evidence"] == {"recent_events_7d": 4}
    assert w["lead_time_hours"].tolist() == [168.0, 10.0, 168.0]
    assert (w["valid_to"] - w["valid_from"]).eq(pd.Timedelta(hours=168)).all()
    county = roll_up(w).set_index("county_code")
    assert county.loc["A", ["n_blue", "n_yellow", "n_orange", "n_red", "n_total"]].tolist() == [
        0,
        1,
        0,
        1,
        2,
    ]
    assert county["max_level"].to_dict() == {"A": "red", "B": "orange"}
    town = roll_up(w, by="township_code").set_index("township_code")
    assert town["n_total"].to_dict() == {"A1": 1, "B1": 1, "A2": 1}
    assert build_warnings(levels.assign(level_rank=0), ctx).empty


def test_capacity_cap_with_arrow_string_county_codes() -> None:
    """County codes read from Parquet/SQL arrive as pandas' str dtype; the cap must still work."""
    import pandas as pd

    from riskwarn.warnings import apply_capacity

    levels = pd.DataFrame(
        {
            "unit_id": [f"c{i}" for i in range(5)],
            "county_code": pd.array(["340802"] * 4 + ["340803"], dtype="str"),
            "level_rank": [4, 3, 3, 3, 3],
            "probability": [0.9, 0.8, 0.7, 0.6, 0.5],
        }
    )
    out = apply_capacity(levels, max_high_per_county=2)
    kept = out.loc[out["level_rank"] >= 3, "unit_id"].tolist()
    assert kept == ["c0", "c1", "c4"]
    assert out.loc[out["capped"], "unit_id"].tolist() == ["c2", "c3"]
