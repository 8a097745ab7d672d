"""Per-sensor state kept incrementally, and the sites' sensor-rule levels from it.

The stream keeps, per displacement sensor, only what the nowcast's sensor rules read:

* the last reading of each hourly step (the rules sample the series at the end of each
  step, :func:`riskwarn.warnings.displacement_kinematics`; the step ending at ``E`` holds
  the readings taken in ``[E - 1 h, E)``, the rules' one step convention
  :func:`riskwarn.sensor_rules.rule_times_ns`), for the last ``history_steps`` steps
  (the steady-velocity window and then some);
* the readings of the last 48 h, thinned to one per half expected interval, for the
  health rules (:func:`riskwarn.warnings.sensor_health`: dead, flat, gappy, spiky, over
  24 h), so that a step evaluated late (a consumer catching up) sees its whole window.

**Silent sensors are forgotten** (:meth:`SensorStates.forget_silent`): a sensor whose
newest reading is older than the newest reading of the stream (any sensor's: event
time, not the clock, so a replay or an outage of every sensor forgets nothing) by more
than the state's history (``history_steps`` hourly steps, 32 days with the nowcast's
rules: what an active sensor's state still holds) is dropped from the state, checked once
per hour of stream time. Such a sensor's health over the last 24 h reads as no readings
whether or not its old state is kept, and its old steps are older than any window the
rules read: its site's level does not move. What changes is that its site's reasons
and evidence no longer list it ("Sensor X has sent no reading in the last 24 h", status
dead): for that month they did, and the batch nowcast, which reads the sensor register,
goes on saying it. If it reports again it starts afresh, as a new sensor does: every new
reading counts once (nothing of the old state is mixed in), and it takes part in its
site's step ends once it holds 24 h again.

A site is evaluated with the function the nowcast's
:func:`riskwarn.nowcast.site_sensor_state` goes through,
:func:`riskwarn.site_state.site_states` (velocity, acceleration, inverse velocity,
tangent angle, health and the hard sensor rules), on that bounded state, so the stream
and the batch nowcast give the same level from the same readings. A site is evaluated
at each end of an hourly step, as soon as a reading of the next step arrives (the
nowcast evaluates the same origin 10-60 min later): the rules sample each series at step
ends, and a partly filled step reads as a slower velocity (evaluated mid-step, a slope
that the rules put at red on the hour flickered between yellow and red).

**Hysteresis** (:class:`Hysteresis`, the rule :func:`riskwarn.level_hold.hold_step` that
the batch nowcast applies too): the combined level of each hourly step is raised at
once, but lowered only after ``lower_after_steps`` consecutive hourly evaluations below
the served level (an alarm "off-delay", as alarm-management practice, ISA-18.2, and
geohazard practice, which lifts or downgrades a warning only once the deformation has
stayed below the threshold for a sustained period, do), and then only to the highest
level of those steps. A slope hovering at a threshold (the tertiary-acceleration flag
or the tangent angle flipping from one hour to the next) therefore stays at its higher
level instead of flapping red/yellow/red and sending a message at each flip; a rise is
never delayed (lead time). A held level says so in its reasons and evidence.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskwarn import nowcast
from riskwarn import warnings as rw
from riskwarn.level_hold import Held, Hysteresis, held_reason, hold_step
from riskwarn.sensor_rules import rule_times_ns
from riskwarn.site_state import site_sensor_states

__all__ = ["Hysteresis", "SensorStates", "SiteLevel", "held_reason", "pending_reason"]

DISPLACEMENT_QUANTITIES = {"displacement_mm": "gnss", "crack_width_mm": "crack_meter"}
log = logging.getLogger(__name__)
_STEP = pd.Timedelta(hours=1)
_NS_STEP = _STEP.value


@dataclass
class SensorState:
    site_id: str
    sensor_type: str
    quantity: str
    steps: dict[int, tuple[int, float]] = field(default_factory=dict)  # step -> (t_ns, v)
    recent: deque[tuple[int, float]] = field(default_factory=deque)  # (t_ns, v), 24 h
    first_ns: int = 0
    last_ns: int = 0


def pending_reason(rank: int, raw: int, steps_above: int, need: int) -> dict[str, str]:
    """The bilingual reason item of a blue/yellow not shown yet (on-delay)."""
    names = {0: "no warning", **rw.LEVEL_NAMES}
    zh = {0: "无预警", **rw.LEVEL_COLOUR_ZH}
    return {
        "en": f"Kept at {names[rank]}: the sensor rules read {names[raw]} for "
        f"{steps_above} h; blue and yellow are shown once they last {need} consecutive "
        "hourly evaluations (orange and red at once).",
        "zh": f"暂保持{zh[rank]}：传感器规则已连续 {steps_above} 小时为{zh[raw]}；"
        f"蓝色、黄色需连续 {need} 次小时评估才显示（橙色、红色立即发布）。",
    }


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
    raw_rank: int = -1  # the rules' level of this step (before hysteresis); -1 = same


def _step_of(t_ns: int) -> int:
    # the step a rule time belongs to: (end - 1 h, end], labelled by its end, as resample(
    # label="right", closed="right") does
    return -((-t_ns) // _NS_STEP)


def _rule_step_of(t_ns: int) -> int:
    # the step whose last reading the rules read a reading taken at t_ns as: the rules'
    # step convention (rule_times_ns: [end - 1 h, end)), as the site models' input and
    # the nowcast sample it
    return _step_of(rule_times_ns(t_ns))


class SensorStates:
    """Bounded per-sensor state for all displacement sensors of one source."""

    def __init__(
        self,
        rules: rw.SensorRules = nowcast.NOWCAST_RULES,
        health: rw.HealthRules | None = None,
        clock: Any = time.monotonic,
        hysteresis: Hysteresis | None = None,
        model: Any = None,
    ) -> None:
        self.rules = rules
        # the site model (riskwarn.stream.model.StreamSiteModel) or None: rules only
        self.model = model
        self.hysteresis = hysteresis or Hysteresis()
        self.held: dict[str, Held] = {}  # site -> served level and the steps below it
        # site -> end (event time) of the served warning a seeded level came from: held
        # only for a step before it (seed_levels); dropped at the site's first step
        self.seed_until: dict[str, pd.Timestamp] = {}
        self.health = health or rw.HealthRules()
        self.history_steps = (
            rules.steady_window_steps + 4 * (rules.n_accel + rules.smooth_steps) + 8
        )
        self.min_gap_ns = int(self.health.expected_interval_s * 1e9 / 2)
        self.sensors: dict[str, SensorState] = {}
        self.rebound: set[str] = set()  # unregistered sensors seen under another site (logged)
        self.by_site: dict[str, list[str]] = {}  # site -> its sensor ids
        self.site_levels: dict[str, SiteLevel] = {}
        self.clock = clock
        self.backlog: set[str] = set()  # due sites left for the next loop (time budget)
        self.evaluated_origin: dict[str, int] = {}  # site -> last evaluated step end (ns)
        self.window_ns = int(24 * 3600 * 1e9)  # the health rules' window
        # a sensor silent for longer than what an active one keeps is forgotten
        self.forget_after_ns = max(self.history_steps * _NS_STEP, 2 * self.window_ns)
        self.newest_ns = 0  # the stream's newest reading (any sensor): its event time
        self.checked_step = 0  # the hour of stream time silent sensors were last looked for
        self.forgotten = 0  # sensors forgotten so far (the consumer's status shows it)

    def __len__(self) -> int:
        return len(self.sensors)

    def seed_levels(
        self, levels: dict[str, int], until: Mapping[str, pd.Timestamp] | None = None
    ) -> None:
        """Start hysteresis from the served levels (after a restart: a served red is
        lowered only after ``lower_after_steps`` evaluations below it, counted anew).
        ``until``: site -> end of validity (event time) of the warning its level comes
        from; the seed holds only if the site's first step ends before it (a restart
        more than a day after the last round starts the site from no level: the expired
        red held a raw yellow at red, delivered as a new red)."""
        for site, rank in levels.items():
            self.held[site] = Held(int(rank))
            if until is not None and site in until:
                self.seed_until[site] = pd.Timestamp(until[site])
            else:
                self.seed_until.pop(site, None)

    def _drop_expired_seed(self, site: str, origin: pd.Timestamp) -> None:
        """At the site's first step after :meth:`seed_levels`: forget the seeded level
        if its warning was no longer in force at the step's end ``origin``."""
        until = self.seed_until.pop(site, None)
        if until is not None and pd.Timestamp(origin) >= until:
            self.held.pop(site, None)

    def _hold(self, site: str, raw: int) -> tuple[int, int, int]:
        """The level to serve for the rules' level ``raw`` of the site's next step, the
        number of consecutive steps below it so far (0 = not held) and of steps above it
        waiting for confirmation (0 = none)."""
        h = hold_step(self.held.get(site, Held()), raw, self.hysteresis)
        self.held[site] = h
        return h.rank, len(h.below), len(h.above)

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
            st = self.sensors.get(sid)
            if not math.isfinite(v):  # missing, or an infinite value stored by a batch file
                if st is not None and self._drop(st, int(t)):  # a correction to no value
                    touched.add(st.site_id)
                continue
            # an unregistered sensor under another site's topic (a registered one is
            # quarantined site_mismatch, riskwarn.stream.validate): the first site holds
            if (
                st is not None
                and sid in sites
                and sites[sid] != st.site_id
                and sid not in self.rebound
            ):
                self.rebound.add(sid)
                log.warning(
                    "unregistered sensor %s: a topic names site %s, it stays at site %s "
                    "(the first topic's; register it in the lake's sensors to place it)",
                    sid,
                    sites[sid] or "_",
                    st.site_id,
                )
            if st is None:
                site = sites.get(sid)
                if site is None:
                    continue  # a displacement sensor without a site warns nobody
                st = SensorState(site, DISPLACEMENT_QUANTITIES[q], q)
                self.sensors[sid] = st
                self.by_site.setdefault(site, []).append(sid)
            t = int(t)
            step = _rule_step_of(t)
            old = st.steps.get(step)
            if old is None or old[0] <= t:
                st.steps[step] = (t, float(v))
            if len(st.steps) > self.history_steps:
                for k in sorted(st.steps)[: len(st.steps) - self.history_steps]:
                    del st.steps[k]
            if not st.recent or t - st.recent[-1][0] >= self.min_gap_ns:
                st.recent.append((t, float(v)))
            elif t >= st.recent[-1][0]:  # the newest, or a correction of it
                st.recent[-1] = (t, float(v))
            else:  # a correction of a kept reading replaces it (a late one is not kept)
                i = bisect.bisect_left(st.recent, (t, -math.inf))
                if i < len(st.recent) and st.recent[i][0] == t:
                    st.recent[i] = (t, float(v))
            while st.recent and st.recent[0][0] < t - 2 * self.window_ns:
                st.recent.popleft()
            st.first_ns = t if st.first_ns == 0 else min(st.first_ns, t)
            st.last_ns = max(st.last_ns, t)
            self.newest_ns = max(self.newest_ns, t)
            touched.add(st.site_id)
        if _step_of(self.newest_ns) > self.checked_step:  # once per hour of stream time
            self.checked_step = _step_of(self.newest_ns)
            self.forget_silent()
        return touched

    @staticmethod
    def _drop(st: SensorState, t: int) -> bool:
        """A reading at ``t`` corrected to no value (null: the lake serves no value at
        ``t``, and the rules drop such a reading, ``displacement_kinematics``): out of the
        state's recent readings, and, if it was its step's sample, the step's sample is the
        step's latest earlier reading the state holds (its recent readings: the last 48 h,
        one per half interval), as the rules would sample the lake's readings; none there
        (an older step): the step has no sample. Returns whether the state changed."""
        changed = False
        i = bisect.bisect_left(st.recent, (t, -math.inf))
        if i < len(st.recent) and st.recent[i][0] == t:
            del st.recent[i]
            changed = True
        step = _rule_step_of(t)
        old = st.steps.get(step)
        if old is not None and old[0] == t:
            del st.steps[step]
            for j in range(min(i, len(st.recent)) - 1, -1, -1):
                earlier = st.recent[j]
                if _rule_step_of(earlier[0]) != step:
                    break
                if earlier[0] < t:
                    st.steps[step] = earlier
                    break
            changed = True
        return changed

    def rebind(self, register: Mapping[str, str | None]) -> list[str]:
        """Move each sensor the register (sensor -> site, the lake's ``sensors``) places
        at another site than the state holds it at (a binding from an older consumer's
        topic, or a sensor registered again elsewhere): to the register's site with its
        readings, or out of the state if the register gives it no site. An unregistered
        sensor keeps the site of the first topic it was seen on. Returns the sensors
        moved (logged)."""
        moved = []
        for sid, st in list(self.sensors.items()):
            if sid not in register or register[sid] == st.site_id:
                continue
            ids = self.by_site.get(st.site_id, [])
            if sid in ids:
                ids.remove(sid)
            if not ids:
                self.by_site.pop(st.site_id, None)
            site = register[sid]
            if site is None:
                del self.sensors[sid]
            else:
                st.site_id = site
                self.by_site.setdefault(site, []).append(sid)
            moved.append(sid)
        if moved:
            log.warning(
                "%d sensor(s) moved to the site the sensors register gives them: %s",
                len(moved),
                ", ".join(moved[:20]),
            )
        return moved

    def forget_silent(self) -> list[str]:
        """Drop the sensors whose newest reading is older than the stream's newest by more
        than :attr:`forget_after_ns`; returns their ids (logged once, counted in
        :attr:`forgotten`). A site left without sensors keeps its served level, its
        hysteresis and its last evaluated step (so a step is never evaluated twice)."""
        cutoff = self.newest_ns - self.forget_after_ns
        gone = [sid for sid, st in self.sensors.items() if st.last_ns < cutoff]
        what = []
        for sid in gone:
            st = self.sensors.pop(sid)
            site = st.site_id
            what.append(f"{sid} (site {site}, last reading {pd.Timestamp(st.last_ns, tz='UTC')})")
            ids = self.by_site.get(site, [])
            if sid in ids:
                ids.remove(sid)
            if not ids:
                self.by_site.pop(site, None)
        if gone:
            self.forgotten += len(gone)
            log.info(
                "forgot %d sensor(s) silent for over %.0f h of stream time (%d kept): %s%s",
                len(gone),
                self.forget_after_ns / _NS_STEP,
                len(self.sensors),
                ", ".join(what[:20]),
                f" and {len(what) - 20} more" if len(what) > 20 else "",
            )
        return gone

    def origin_of(self, site: str) -> int | None:
        """The site's latest complete hourly step (ns): the hour start at or before its
        newest reading, once a sensor holds the 24 h health window (before that, its
        silence before the stream started would read as 'gappy'); None if none yet."""
        ends = [
            st.last_ns
            for st in (self.sensors[sid] for sid in self.by_site.get(site, ()))
            if st.last_ns - st.first_ns >= self.window_ns
        ]
        return (max(ends) // _NS_STEP) * _NS_STEP if ends else None

    def due(self, sites: set[str]) -> list[str]:
        """The touched (or left over) sites whose newest complete step is not evaluated
        yet, warned sites first. The rules sample each series at the end of a step: a
        partly filled step reads as a slower velocity, so a site is evaluated exactly
        at its step ends, as the hourly nowcast is, as soon as a step's readings are in."""
        out: list[tuple[int, str]] = []
        for site in sorted(sites | self.backlog):
            origin = self.origin_of(site)
            if origin is None or origin <= self.evaluated_origin.get(site, -1):
                continue
            warned = site in self.site_levels and self.site_levels[site].level_rank > 0
            out.append((0 if warned else 1, site))
        return [site for _, site in sorted(out)]

    def evaluate_within(
        self, sites: list[str], budget_s: float, chunk: int = 128
    ) -> list[dict[str, SiteLevel]]:
        """Evaluate ``sites`` step by step, in rounds (each round moves every site one
        hourly step on, so a micro-batch that brings several hours has each of them
        evaluated, in order, as the nowcast would), until ``budget_s`` seconds are spent;
        sites still behind wait in :attr:`backlog`. Within a round the sites are
        evaluated ``chunk`` at a time (warned sites first), one rules call per chunk."""
        rounds: list[dict[str, SiteLevel]] = []
        start = time.monotonic()
        todo = list(sites)
        while todo:
            done: dict[str, SiteLevel] = {}
            for i in range(0, len(todo), chunk):
                if time.monotonic() - start >= budget_s:
                    self.backlog = set(todo[i:]) | set(self.due(set(done)))
                    if done:
                        rounds.append(done)
                    return rounds
                done.update(self.evaluate(todo[i : i + chunk]))
            if done:
                rounds.append(done)
            todo = self.due(set(todo)) if done else []
            self.backlog = set()
        self.backlog = set()
        return rounds

    def _next_origin(self, site: str) -> int | None:
        """The next step end to evaluate: one step after the last evaluated, up to the
        newest complete one (the newest, for a site not evaluated yet)."""
        latest = self.origin_of(site)
        prev = self.evaluated_origin.get(site)
        if latest is None or (prev is not None and latest <= prev):
            return None
        return latest if prev is None else min(prev + _NS_STEP, latest)

    def sites_map(self) -> dict[str, str]:
        """sensor -> site of every sensor in the state."""
        return {sid: st.site_id for sid, st in self.sensors.items()}

    def series_of(self, sid: str, before_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """The sensor's readings in the state before ``before_ns`` (times ns sorted and
        unique, values): its step ends and its recent readings, one per time (the first kept)."""
        st = self.sensors[sid]
        pts = list(st.steps.values()) + list(st.recent)
        if not pts:
            return np.empty(0, np.int64), np.empty(0)
        ts, vs = zip(*pts, strict=True)
        t = np.array(ts, dtype=np.int64)
        v = np.array(vs, dtype=float)
        t, first = np.unique(t, return_index=True)  # sorted; the first of a time kept
        v = v[first]
        n = np.searchsorted(t, before_ns, side="left")
        return t[:n], v[:n]

    def evaluate(self, sites: list[str]) -> dict[str, SiteLevel]:
        """Evaluate ``sites`` one hourly step on with the nowcast's sensor rules; returns
        their new state. The sites due at the same step end are evaluated in one pass
        (:func:`riskwarn.site_state.site_sensor_states`: one health pass, one
        kinematics pass over all their sensors), as the nowcast evaluates all sites of an
        origin together."""
        if not sites:
            return {}
        by_origin: dict[int, list[str]] = {}
        for site in sites:
            at = self._next_origin(site)
            if at is not None:
                by_origin.setdefault(at, []).append(site)
        out: dict[str, SiteLevel] = {}
        for at, group in sorted(by_origin.items()):
            for site in group:
                self.evaluated_origin[site] = at
            pairs = [(sid, site) for site in group for sid in self.by_site.get(site, ())]
            series = {sid: self.series_of(sid, at) for sid, _ in pairs}
            have = {site for sid, site in pairs if len(series[sid][0])}
            group = [site for site in group if site in have]  # no reading before it: skip
            if not group:
                continue
            origin = pd.Timestamp(at, tz="UTC")
            states = site_sensor_states(
                group, [p for p in pairs if p[1] in have], series, origin, self.rules
            )
            out.update(self._levels(states, origin))
        self.site_levels.update(out)
        return out

    def _levels(self, states: list[dict[str, Any]], origin: pd.Timestamp) -> dict[str, SiteLevel]:
        """The sites' levels at ``origin`` from their rules' ``states``: the site model's
        level combined as the nowcast combines (one call for all), then hysteresis."""
        sites = [str(state["unit_id"]) for state in states]
        scores = []
        for site in sites:
            self._drop_expired_seed(site, origin)
            prev = self.held[site].rank if site in self.held else 0
            scores.append(self.model.score(site, origin, prev) if self.model is not None else None)
        level = pd.DataFrame(
            {
                "unit_id": sites,
                "probability": [np.nan if ms is None else ms.probability for ms in scores],
                "level_rank": [0 if ms is None else ms.level_rank for ms in scores],
            }
        )
        combined = rw.combine_geohazard_levels(
            level,
            pd.DataFrame(
                {
                    "unit_id": sites,
                    **{
                        c: [state[c] for state in states]
                        for c in (
                            "sensor_level_rank",
                            "sensor_red",
                            "sensor_reason",
                            "health_status",
                            "health_note",
                        )
                    },
                }
            ),
        )
        return {
            site: self._level(site, state, origin, ms, int(raw))
            for site, state, ms, raw in zip(
                sites, states, scores, combined["level_rank"], strict=True
            )
        }

    def _level(
        self, site: str, state: dict[str, Any], origin: pd.Timestamp, ms: Any, raw: int
    ) -> SiteLevel:
        """The site's level at ``origin`` from its rules' ``state``, the model's score
        ``ms`` and their combined level ``raw``: hysteresis, reasons and evidence."""
        rank, below, above = self._hold(site, raw)
        reasons = list(state["reason_items"])
        evidence = dict(state["evidence"])
        if self.model is not None:
            reasons, evidence = self._with_model(
                ms, int(state["sensor_level_rank"]), origin, reasons, evidence
            )
        if below:
            need = self.hysteresis.lower_after_steps
            reasons.append(held_reason(rank, raw, below, need))
            evidence.update(
                rules_level_rank=raw,
                held_steps_below=below,
                held_lower_to=max(self.held[site].below),
            )
        if above:
            reasons.append(pending_reason(rank, raw, above, self.hysteresis.confirm_steps))
            evidence.update(rules_level_rank=raw, pending_steps_above=above)
        return SiteLevel(
            site,
            rank,
            reasons,
            str(state["health_status"]),
            float(state["failure_in_hours"]),
            evidence,
            origin,
            raw,
        )

    def _with_model(
        self,
        ms: Any,
        rules_rank: int,
        origin: pd.Timestamp,
        reasons: list[Any],
        evidence: dict[str, Any],
    ) -> tuple[list[Any], dict[str, Any]]:
        """Reasons and evidence with the site model's part: the model's reason first where
        it raised the level above the rules (it fired), after the rules' otherwise; "model
        unavailable" (as the nowcast says it) when the rules ran alone."""
        from riskwarn.stream.model import model_reason

        if ms is None:
            evidence["site_model"] = "unavailable (sensor rules only)"
            return [*reasons, dict(rw.MODEL_UNAVAILABLE_REASON)], evidence
        applies = not math.isnan(ms.probability)  # NaN: the model refused the site
        evidence.update(
            site_model=ms.model,
            model_probability=round(ms.probability, 4) if applies else None,
            model_level_rank=ms.level_rank,
            sensor_rules_level_rank=rules_rank,
        )
        if ms.origin != origin:
            evidence["model_origin"] = ms.origin.isoformat()
        mine = (
            [model_reason(ms, rules_rank, self.model.horizon_hours), *ms.explanation]
            if applies
            else list(ms.explanation)  # why the model does not apply (batch's reason)
        )
        if ms.level_rank > rules_rank:
            return [*mine, *reasons], evidence
        return [*reasons, *mine], evidence
