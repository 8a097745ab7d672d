"""The per-sensor path the nowcast and the stream used before the batched one (tests
and bench only): one ``displacement_kinematics`` per healthy sensor, a DataFrame filter
per site. :func:`reference_site_sensor_state` is ``riskwarn.nowcast.site_sensor_state``
as of 86e20c7; :class:`PerSensorStates` is that commit's ``SensorStates(batched=False)``.
tests/test_stream_rules_batch.py compares the shared path
(:mod:`riskwarn.site_state`) with them, so a rule broken in one shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwarn import warnings as rw
from riskwarn.nowcast import DISPLACEMENT_TYPES, NOWCAST_RULES
from riskwarn.sensor_rules import noise_floor, rule_times_ns
from riskwarn.stream.state import SensorStates, SiteLevel


def reference_site_sensor_state(
    sites: pd.DataFrame,
    sensors: pd.DataFrame,
    readings: pd.DataFrame,
    origin: pd.Timestamp,
    rules: rw.SensorRules = NOWCAST_RULES,
    step: str = "1h",
) -> pd.DataFrame:
    """Per site at ``origin``: sensor-rule level, reason, health and evidence (pure).

    ``readings`` must hold only readings before ``origin``. A site's kinematic level
    is the highest over its healthy displacement sensors; its health is 'ok' when at
    least one displacement sensor is healthy, otherwise the problem of its sensors.
    """
    disp_sensors = sensors.loc[
        sensors["sensor_type"].isin(DISPLACEMENT_TYPES) & sensors["site_id"].notna()
    ]
    disp = readings.loc[
        readings["sensor_id"].isin(disp_sensors["record_id"])
        & readings["quantity"].isin(["displacement_mm", "crack_width_mm"])
    ]
    health = rw.sensor_health(disp, origin, sensors=disp_sensors["record_id"]).merge(
        disp_sensors[["record_id", "site_id"]], left_on="sensor_id", right_on="record_id"
    )
    rows = []
    good = set(health.loc[health["status"] == "ok", "sensor_id"])
    by_sensor = {sid: g for sid, g in disp.groupby("sensor_id")}
    for sid in sorted(good):
        g = by_sensor[sid]
        series = g.set_index("observed_at")["value"]
        # the rules' step convention, as the shared path reads it
        series.index = pd.to_datetime(
            rule_times_ns(pd.DatetimeIndex(series.index).as_unit("ns").asi8), utc=True
        )
        k = rw.displacement_kinematics(series, step, rules)
        if k.empty:
            continue
        lv = rw.sensor_levels(k.tail(1), rules).iloc[0]
        last = k.iloc[-1]
        rows.append(
            {
                "sensor_id": sid,
                "sensor_level_rank": int(lv["sensor_level_rank"]),
                "sensor_red": bool(lv["sensor_red"]),
                "sensor_reason": lv["sensor_reason"],
                "velocity_mm_per_day": float(last["velocity_mm_per_day"]),
                "tangent_angle_deg": float(last["tangent_angle_deg"]),
                "failure_in_hours": float(last["failure_in_hours"]),
                "tertiary": bool(last["tertiary"]),
                "above_noise_run": int(last["above_noise_run"]),
                "noise_floor_mm_per_day": noise_floor(
                    last["creep_velocity_mm_per_day"], last["velocity_noise_mm_per_day"], rules
                ),
            }
        )
    kin = pd.DataFrame(
        rows,
        columns=[
            "sensor_id",
            "sensor_level_rank",
            "sensor_red",
            "sensor_reason",
            "velocity_mm_per_day",
            "tangent_angle_deg",
            "failure_in_hours",
            "tertiary",
            "above_noise_run",
            "noise_floor_mm_per_day",
        ],
    )
    per_sensor = health.merge(kin, on="sensor_id", how="left")
    out = []
    for site in sites["record_id"]:
        s = per_sensor.loc[per_sensor["site_id"] == site]
        ok = s.loc[s["status"] == "ok"]
        if len(ok):
            best = ok.sort_values(["sensor_level_rank", "sensor_id"], ascending=[False, True]).iloc[
                0
            ]
            status, note = "ok", " ".join(n for n in s["health_note"] if n)
        else:
            best = None
            status = s["status"].iloc[0] if len(s) else "no_sensor"
            note = " ".join(n for n in s["health_note"] if n) or (
                f"Site {site} has no displacement sensor: movement is unknown."
            )
        evidence = {
            "sensors": [
                {
                    "sensor_id": r.sensor_id,
                    "status": r.status,
                    "readings_24h": int(r.n_readings),
                    "velocity_mm_per_day": None
                    if pd.isna(r.velocity_mm_per_day)
                    else round(float(r.velocity_mm_per_day), 3),
                    "tangent_angle_deg": None
                    if pd.isna(r.tangent_angle_deg)
                    else round(float(r.tangent_angle_deg), 1),
                    # the yellow noise gate held the angle at blue at most
                    **(
                        {}
                        if pd.isna(r.above_noise_run) or rules.yellow_steps <= 0
                        else {
                            "within_noise": int(r.above_noise_run) < rules.yellow_steps
                            and int(r.sensor_level_rank) <= 1
                        }
                    ),
                    **(
                        {}
                        if pd.isna(r.above_noise_run)
                        or rules.yellow_steps <= 0
                        or not np.isfinite(r.noise_floor_mm_per_day)
                        else {"noise_floor_mm_per_day": round(float(r.noise_floor_mm_per_day), 1)}
                    ),
                }
                for r in s.itertuples(index=False)
            ]
        }
        items = []
        if best is not None and not pd.isna(best["sensor_level_rank"]):
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
        for r in s.itertuples(index=False):
            items.append(
                rw.sensor_health_reason(
                    r.sensor_id, r.status, r.hours_since_last, r.missing_share, r.spike_share
                )
            )
        if not len(s):
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
                "sensor_level_rank": 0
                if best is None or pd.isna(best["sensor_level_rank"])
                else int(best["sensor_level_rank"]),
                "sensor_red": False
                if best is None or pd.isna(best["sensor_red"])
                else bool(best["sensor_red"]),
                "sensor_reason": ""
                if best is None or not isinstance(best["sensor_reason"], str)
                else best["sensor_reason"],
                "failure_in_hours": np.nan if best is None else float(best["failure_in_hours"]),
                "health_status": status,
                "health_note": note,
                "evidence": evidence,
            }
        )
    return pd.DataFrame(out)


class PerSensorStates(SensorStates):
    """:class:`SensorStates` evaluating each site through the per-sensor path."""

    def readings_of(self, sites: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Sensors and readings (long form) of ``sites`` from the state."""
        srows, rrows = [], []
        for sid in (sid for site in sites for sid in self.by_site.get(site, ())):
            st = self.sensors[sid]
            srows.append((sid, st.site_id, st.sensor_type))
            seen = set()
            for t, v in list(st.steps.values()) + list(st.recent):
                if t not in seen:
                    seen.add(t)
                    rrows.append((sid, t, st.quantity, v))
        sensors = pd.DataFrame(srows, columns=["record_id", "site_id", "sensor_type"])
        readings = pd.DataFrame(rrows, columns=["sensor_id", "t", "quantity", "value"])
        readings["observed_at"] = pd.to_datetime(readings["t"].astype("int64"), utc=True)
        return sensors, readings.drop(columns="t").sort_values(["sensor_id", "observed_at"])

    def evaluate(self, sites: list[str]) -> dict[str, SiteLevel]:
        """:meth:`SensorStates.evaluate` through :func:`reference_site_sensor_state`."""
        if not sites:
            return {}
        sensors, readings = self.readings_of(sites)
        by_origin: dict[int, list[str]] = {}
        for site in sites:
            at = self._next_origin(site)
            if at is not None:
                by_origin.setdefault(at, []).append(site)
        out: dict[str, SiteLevel] = {}
        for at, group in sorted(by_origin.items()):
            for site in group:
                self.evaluated_origin[site] = at
            origin = pd.Timestamp(at, tz="UTC")
            mine = sensors.loc[sensors["site_id"].isin(group)]
            r = readings.loc[
                readings["sensor_id"].isin(mine["record_id"]) & (readings["observed_at"] < origin)
            ]
            have = set(mine.loc[mine["record_id"].isin(set(r["sensor_id"])), "site_id"])
            group = [site for site in group if site in have]  # no reading before it: skip
            if not group:
                continue
            states = reference_site_sensor_state(
                pd.DataFrame({"record_id": group}),
                mine.loc[mine["site_id"].isin(group)],
                r,
                origin,
                self.rules,
            )
            for state in states.to_dict("records"):
                out.update(self._levels([state], origin))
        self.site_levels.update(out)
        return out
