"""Per-sensor state kept incrementally, and the sites' sensor-rule levels from it.

The stream keeps, per displacement sensor, only what the nowcast's sensor rules read:

* the last reading of each hourly step (the rules sample the series at the end of each
  step, :func:`riskwarn.warnings.displacement_kinematics`), for the last
  ``history_steps`` steps (the steady-velocity window and then some);
* the readings of the last 24 h, thinned to one per half expected interval, for the
  health rules (:func:`riskwarn.warnings.sensor_health`: dead, flat, gappy, spiky).

A site is evaluated with the nowcast's own function,
:func:`riskwarn.scoring.site_sensor_state` (velocity, acceleration, inverse velocity,
tangent angle, health and the hard sensor rules), on that bounded state, so the stream
and the batch nowcast give the same level from the same readings. It is evaluated when
one of its sensors closes an hourly step, and in between (at most every
``eval_every_s`` seconds) when the site is already warned or a sensor's latest velocity
reaches its steady velocity (a tangent angle of 45°, the lowest rule): one evaluation
costs tens of milliseconds, so steady sensors are not re-evaluated on every reading.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskwarn import scoring
from riskwarn import warnings as rw

DISPLACEMENT_QUANTITIES = {"displacement_mm": "gnss", "crack_width_mm": "crack_meter"}
_STEP = pd.Timedelta(hours=1)
_NS_STEP = _STEP.value


@dataclass
class SensorState:
    site_id: str
    sensor_type: str
    quantity: str
    steps: dict[int, tuple[int, float]] = field(default_factory=dict)  # step -> (t_ns, v)
    recent: deque[tuple[int, float]] = field(default_factory=deque)  # (t_ns, v), 24 h
    last_ns: int = 0
    evaluated_step: int = -1
    steady: float = math.nan  # steady velocity (mm/day) at the last evaluation


@dataclass
class SiteLevel:
    """A site's sensor-rule state after an evaluation."""

    site_id: str
    level_rank: int
    reason_items: list[dict[str, str]]
    health_status: str
    failure_in_hours: float
    evidence: dict[str, Any]
    observed_to: pd.Timestamp


def _step_of(t_ns: int) -> int:
    # the step a reading belongs to: (end - 1 h, end], labelled by its end, as resample(
    # label="right", closed="right") does
    return -((-t_ns) // _NS_STEP)


class SensorStates:
    """Bounded per-sensor state for all displacement sensors of one source."""

    def __init__(
        self,
        rules: rw.SensorRules = scoring.NOWCAST_RULES,
        health: rw.HealthRules | None = None,
        eval_every_s: float = 30.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.rules = rules
        self.health = health or rw.HealthRules()
        self.history_steps = (
            rules.steady_window_steps + 4 * (rules.n_accel + rules.smooth_steps) + 8
        )
        self.min_gap_ns = int(self.health.expected_interval_s * 1e9 / 2)
        self.eval_every_s = eval_every_s
        self.sensors: dict[str, SensorState] = {}
        self.site_levels: dict[str, SiteLevel] = {}
        self.last_eval: dict[str, float] = {}
        self.clock = clock

    def __len__(self) -> int:
        return len(self.sensors)

    def add(self, readings: pd.DataFrame, sites: dict[str, str | None]) -> set[str]:
        """Add accepted readings (canonical columns); returns the sites touched."""
        touched: set[str] = set()
        disp = readings.loc[readings["quantity"].isin(list(DISPLACEMENT_QUANTITIES))]
        if disp.empty:
            return touched
        disp = disp.sort_values("observed_at", kind="stable")
        t_ns = (
            disp["observed_at"].astype("int64").to_numpy()
            if disp["observed_at"].dt.unit == "ns"
            else disp["observed_at"].dt.as_unit("ns").astype("int64").to_numpy()
        )
        for sid, q, t, v in zip(
            disp["sensor_id"],
            disp["quantity"],
            t_ns,
            disp["value"].to_numpy(dtype=float),
            strict=True,
        ):
            if math.isnan(v):
                continue
            st = self.sensors.get(sid)
            if st is None:
                site = sites.get(sid)
                if site is None:
                    continue  # a displacement sensor without a site warns nobody
                st = SensorState(site, DISPLACEMENT_QUANTITIES[q], q)
                self.sensors[sid] = st
            t = int(t)
            step = _step_of(t)
            old = st.steps.get(step)
            if old is None or old[0] <= t:
                st.steps[step] = (t, float(v))
            if len(st.steps) > self.history_steps:
                for k in sorted(st.steps)[: len(st.steps) - self.history_steps]:
                    del st.steps[k]
            if not st.recent or t - st.recent[-1][0] >= self.min_gap_ns:
                st.recent.append((t, float(v)))
            elif t > st.recent[-1][0]:
                st.recent[-1] = (t, float(v))
            while st.recent and st.recent[0][0] < t - 24 * 3600 * 10**9:
                st.recent.popleft()
            st.last_ns = max(st.last_ns, t)
            touched.add(st.site_id)
        return touched

    def _velocity_now(self, st: SensorState) -> float:
        """Velocity (mm/day) over the last ``smooth_steps`` steps, from the latest reading."""
        if not st.steps:
            return math.nan
        last = max(st.steps)
        back = last - self.rules.smooth_steps * _NS_STEP
        prev = [k for k in st.steps if k <= back]
        if not prev:
            return math.nan
        t0, v0 = st.steps[max(prev)]
        t1, v1 = st.steps[last]
        return (v1 - v0) / ((t1 - t0) / 86400e9) if t1 > t0 else math.nan

    def due(self, sites: set[str]) -> list[str]:
        """The touched sites to evaluate now (see the module docstring)."""
        now = self.clock()
        out = []
        for site in sorted(sites):
            sensors = [s for s in self.sensors.values() if s.site_id == site]
            closed = any(s.steps and max(s.steps) - 1 > s.evaluated_step for s in sensors)
            recent = now - self.last_eval.get(site, -math.inf) >= self.eval_every_s
            warned = site in self.site_levels and self.site_levels[site].level_rank > 0
            fast = any(
                not math.isnan(s.steady) and self._velocity_now(s) >= s.steady for s in sensors
            )
            if closed or (recent and (warned or fast)):
                out.append(site)
        return out

    def readings_of(self, sites: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Sensors and readings (long form) of ``sites`` from the state."""
        srows, rrows = [], []
        for sid, st in self.sensors.items():
            if st.site_id not in sites:
                continue
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
        """Evaluate ``sites`` with the nowcast's sensor rules; returns their new state."""
        if not sites:
            return {}
        sensors, readings = self.readings_of(sites)
        out: dict[str, SiteLevel] = {}
        now = self.clock()
        for site in sites:
            mine = sensors.loc[sensors["site_id"] == site]
            r = readings.loc[readings["sensor_id"].isin(mine["record_id"])]
            if r.empty:
                continue
            origin = r["observed_at"].max() + pd.Timedelta(seconds=1)
            state = scoring.site_sensor_state(
                pd.DataFrame({"record_id": [site]}), mine, r, origin, self.rules
            ).iloc[0]
            level = pd.DataFrame({"unit_id": [site], "probability": [np.nan], "level_rank": [0]})
            combined = rw.combine_geohazard_levels(
                level,
                pd.DataFrame(
                    {
                        "unit_id": [site],
                        "sensor_level_rank": [state["sensor_level_rank"]],
                        "sensor_red": [state["sensor_red"]],
                        "sensor_reason": [state["sensor_reason"]],
                        "health_status": [state["health_status"]],
                        "health_note": [state["health_note"]],
                    }
                ),
            ).iloc[0]
            out[site] = SiteLevel(
                site,
                int(combined["level_rank"]),
                list(state["reason_items"]),
                str(state["health_status"]),
                float(state["failure_in_hours"]),
                dict(state["evidence"]),
                origin - pd.Timedelta(seconds=1),
            )
            for sid in mine["record_id"]:
                st = self.sensors[sid]
                if st.steps:
                    st.evaluated_step = max(st.steps) - 1
                ev = {e["sensor_id"]: e for e in state["evidence"].get("sensors", [])}
                st.steady = self._steady_from(ev.get(sid), st)
            self.last_eval[site] = now
        self.site_levels.update(out)
        return out

    def _steady_from(self, ev: dict[str, Any] | None, st: SensorState) -> float:
        """The sensor's steady velocity: the velocity at which its tangent angle is 45°."""
        if not ev or ev.get("velocity_mm_per_day") is None or ev.get("tangent_angle_deg") is None:
            return math.nan
        v, a = float(ev["velocity_mm_per_day"]), float(ev["tangent_angle_deg"])
        tan = math.tan(math.radians(a))
        return max(v / tan, self.rules.min_steady_velocity_mm_per_day) if tan > 0 else math.nan
