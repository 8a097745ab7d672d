"""The per-site sensor state at one step end, for many sites in one pass (pure).

One path for batch and stream: the nowcast (:func:`riskwarn.nowcast.site_sensor_state`,
hourly nowcast and daily site serving) and the stream
(:class:`riskwarn.stream.state.SensorStates`) both get each site's sensor-rule level,
reasons, evidence and health from :func:`site_states`: one
:func:`riskwarn.sensor_rules_batch.last_step_kinematics` over all healthy sensors, one
:func:`riskwarn.sensor_rules.sensor_levels` over their last rows and plain Python per
site. The nowcast passes the health of its readings
(:func:`riskwarn.sensor_rules.sensor_health`) and each sensor's series;
:func:`site_sensor_states` computes the health from the stream's per-sensor arrays
first. tests/test_stream_rules_batch.py compares both with the per-sensor path they
replaced (one ``displacement_kinematics`` per sensor, kept in testkit/per_sensor.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskwarn import sensor_rules as rw
from riskwarn.sensor_rules_batch import last_step_kinematics


def _none_or(x: Any, digits: int) -> float | None:
    return None if pd.isna(x) else round(float(x), digits)


def _noise_note(kin: dict[str, Any] | None, rules: rw.SensorRules) -> dict[str, Any]:
    """``within_noise`` for a sensor's evidence: True when its velocity has not been above
    its noise floor long enough (the yellow noise gate, :func:`riskwarn.sensor_rules.
    noise_capped`), so its tangent angle gave at most blue (its rule level is blue or
    none); the dashboard says so beside the velocity, with ``noise_floor_mm_per_day``
    (:func:`riskwarn.sensor_rules.noise_floor`). Nothing without kinematics or with the
    gate off."""
    if not kin or "above_noise_run" not in kin or rules.yellow_steps <= 0:
        return {}
    gated = int(kin["above_noise_run"]) < rules.yellow_steps
    out: dict[str, Any] = {"within_noise": gated and int(kin.get("sensor_level_rank", 0)) <= 1}
    floor = kin.get("noise_floor_mm_per_day")
    if floor is not None and np.isfinite(floor):
        # the velocity's noise floor, for the dashboard's sentence (the same 6-h velocity)
        out["noise_floor_mm_per_day"] = round(float(floor), 1)
    return out


def site_sensor_states(
    sites: list[str],
    sensors: list[tuple[str, str]],
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    origin: pd.Timestamp,
    rules: rw.SensorRules,
    step: str = "1h",
) -> list[dict[str, Any]]:
    """:func:`site_states` of ``sites`` at ``origin`` (the stream's path), whose
    displacement sensors are ``sensors`` (``(sensor_id, site_id)``) with readings
    ``series`` (``sensor_id -> (times ns sorted unique, values)``, all before
    ``origin``): the health from their last 24 h first."""
    window = pd.Timedelta(hours=24)
    lo = (origin - window).value
    ids, times, values = [], [], []
    for sid, _ in sensors:
        t, v = series.get(sid, (np.empty(0, np.int64), np.empty(0)))
        a = np.searchsorted(t, lo, side="left")
        ids.append(np.full(len(t) - a, sid, dtype=object))
        times.append(t[a:])
        values.append(v[a:])
    recent = pd.DataFrame(
        {
            "sensor_id": np.concatenate(ids) if ids else np.empty(0, dtype=object),
            "observed_at": pd.to_datetime(
                np.concatenate(times) if times else np.empty(0, np.int64), utc=True
            ).as_unit("ns"),
            "value": np.concatenate(values) if values else np.empty(0),
        }
    )
    site_of = dict(sensors)
    health = rw.sensor_health(recent, origin, sensors=pd.Series([s for s, _ in sensors]))
    health = health.loc[health["sensor_id"].isin(site_of)]
    return site_states(sites, site_of, health, series, rules, step)


def site_states(
    sites: list[str],
    site_of: dict[str, str],
    health: pd.DataFrame,
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    rules: rw.SensorRules,
    step: str = "1h",
) -> list[dict[str, Any]]:
    """Per site of ``sites``: the record ``{unit_id, reason_items, sensor_level_rank,
    sensor_red, sensor_reason, failure_in_hours, health_status, health_note, evidence}``.

    ``site_of``: displacement sensor -> its site; ``health``: those sensors' health at
    the step end (:func:`riskwarn.sensor_rules.sensor_health`, sorted by sensor id);
    ``series``: sensor -> (times ns sorted unique, finite values) before the step end.
    A site's kinematic level is the highest over its healthy sensors (then the lowest
    sensor id); its health is 'ok' when at least one sensor is healthy, otherwise the
    problem of its sensors.
    """
    good = sorted(health.loc[health["status"] == "ok", "sensor_id"])
    # sampled at the step ends as the site models' rule-level input is (the one step
    # convention, rw.rule_times_ns: the step ending at the origin holds the readings of
    # the hour before it)
    kin = last_step_kinematics(
        {sid: (rw.rule_times_ns(series[sid][0]), series[sid][1]) for sid in good if sid in series},
        step,
        rules,
    )
    lv = rw.sensor_levels(kin, rules) if len(kin) else None
    per_kin: dict[str, dict[str, Any]] = {}
    if lv is not None:
        floors = [
            rw.noise_floor(c, z, rules)
            for c, z in zip(
                kin["creep_velocity_mm_per_day"], kin["velocity_noise_mm_per_day"], strict=True
            )
        ]
        for sid, rank, red, reason, vel, ang, fh, tert, run, floor in zip(
            kin.index,
            lv["sensor_level_rank"],
            lv["sensor_red"],
            lv["sensor_reason"],
            kin["velocity_mm_per_day"],
            kin["tangent_angle_deg"],
            kin["failure_in_hours"],
            kin["tertiary"],
            kin["above_noise_run"],
            floors,
            strict=True,
        ):
            per_kin[sid] = {
                "sensor_level_rank": int(rank),
                "sensor_red": bool(red),
                "sensor_reason": reason,
                "velocity_mm_per_day": float(vel),
                "tangent_angle_deg": float(ang),
                "failure_in_hours": float(fh),
                "tertiary": bool(tert),
                "above_noise_run": int(run),
                "noise_floor_mm_per_day": float(floor),
            }
    by_site: dict[str, list[dict[str, Any]]] = {}
    for h in health.to_dict("records"):  # sorted by sensor id, as the nowcast's merge
        by_site.setdefault(site_of[h["sensor_id"]], []).append(h)
    out = []
    for site in sites:
        s = by_site.get(site, [])
        ok = [h for h in s if h["status"] == "ok"]
        best: dict[str, Any] | None = None
        if ok:
            # highest rule level first (a healthy sensor without kinematics last), then id
            def key(h: dict[str, Any]) -> tuple[int, float, str]:
                k = per_kin.get(h["sensor_id"])
                return (k is None, -(k["sensor_level_rank"] if k else 0), h["sensor_id"])

            top = min(ok, key=key)
            best = per_kin.get(top["sensor_id"], {})
            status, note = "ok", " ".join(h["health_note"] for h in s if h["health_note"])
        else:
            status = s[0]["status"] if s else "no_sensor"
            note = " ".join(h["health_note"] for h in s if h["health_note"]) or (
                f"Site {site} has no displacement sensor: movement is unknown."
            )
        evidence = {
            "sensors": [
                {
                    "sensor_id": h["sensor_id"],
                    "status": h["status"],
                    "readings_24h": int(h["n_readings"]),
                    "velocity_mm_per_day": _none_or(
                        per_kin.get(h["sensor_id"], {}).get("velocity_mm_per_day"), 3
                    ),
                    "tangent_angle_deg": _none_or(
                        per_kin.get(h["sensor_id"], {}).get("tangent_angle_deg"), 1
                    ),
                    **_noise_note(per_kin.get(h["sensor_id"]), rules),
                }
                for h in s
            ]
        }
        items: list[dict[str, str] | None] = []
        has_rank = best is not None and "sensor_level_rank" in best
        if best is not None and has_rank:
            items.append(
                rw.sensor_rule_reason(
                    int(best["sensor_level_rank"]),
                    float(best["tangent_angle_deg"]),
                    float(best["failure_in_hours"]),
                    bool(best["tertiary"]),
                    rules,
                    int(best["above_noise_run"]),
                    float(best["velocity_mm_per_day"]),
                    float(best["noise_floor_mm_per_day"]),
                )
            )
        for h in s:
            items.append(
                rw.sensor_health_reason(
                    h["sensor_id"],
                    h["status"],
                    h["hours_since_last"],
                    h["missing_share"],
                    h["spike_share"],
                )
            )
        if not s:
            items.append(
                {
                    "en": f"Site {site} has no displacement sensor: movement is unknown.",
                    "zh": f"隐患点 {site} 没有位移监测设备：变形情况未知。",
                }
            )
        out.append(
            {
                "unit_id": site,
                "reason_items": [i for i in items if i is not None],
                "sensor_level_rank": int(best["sensor_level_rank"]) if has_rank else 0,  # type: ignore[index]
                "sensor_red": bool(best["sensor_red"]) if has_rank else False,  # type: ignore[index]
                "sensor_reason": best["sensor_reason"]  # type: ignore[index]
                if has_rank and isinstance(best["sensor_reason"], str)  # type: ignore[index]
                else "",
                "failure_in_hours": np.nan
                if best is None
                else float(best.get("failure_in_hours", np.nan)),
                "health_status": status,
                "health_note": note,
                "evidence": evidence,
            }
        )
    return out
