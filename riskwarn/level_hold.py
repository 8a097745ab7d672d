"""Holding a site's served level: one rule for the stream and the batch nowcast.

A site's combined level (the site model's level raised by the sensor rules) is raised at
once, but lowered only after ``lower_after_steps`` consecutive hourly evaluations below
the served level, and then to the highest level of those steps (an alarm "off-delay", as
alarm-management practice, ISA-18.2, and geohazard practice, which lifts or downgrades a
warning only once the deformation has stayed below the threshold for a sustained period,
do). A slope hovering at a threshold (the tertiary-acceleration flag or the tangent angle
flipping from one hour to the next) therefore stays at its higher level instead of
publishing red/yellow/red; a rise is never delayed (lead time).

Each level keeps its own off-delay, as each threshold of a multi-level alarm is its own
alarm: a level is published while the combined level reached it at one of the last
``lower_after_steps`` evaluations, and only then (in the batch, with every rise at once,
the published level is the highest combined level of the last ``lower_after_steps``
hours). A lowered level's count does not start again when the level above it ends: the
steps since the combined level was last at it stay counted. Before 2026-12-07 it did (a
site the model had raised to orange while the rules read blue stayed blue for a further
6 hours after the orange ended, when the rules' own blue had ended with it), so the
published level could warn at blue where neither the model nor the rules had warned
for 6 hours: part of the hourly published blue's rounding loss to the rules alone
(h-blue; docs/benchmarks-models.md, "each level keeps its own off-delay"). Since, the served level is never below the rules' at any hour and at every
level the published one warns beyond the rules' only within the hold of an hour where
the model itself warned at that level.

:func:`hold_step` is the rule, one evaluation at a time. The stream
(:class:`riskwarn.stream.state.SensorStates`) keeps its :class:`Held` state in memory;
the batch nowcast (:func:`held_levels`) rebuilds it from the previous published run's
warnings (their ``level_rank`` and the ``held_steps_below`` / ``held_below`` evidence;
a warning published before ``held_below`` was written: ``held_lower_to`` for each of
those steps), so re-running an origin reads only what was published before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskwarn import warnings as rw


@dataclass(frozen=True)
class Hysteresis:
    """Lower a site's level (any level) only after ``lower_after_steps`` consecutive
    hourly evaluations below it; raise it to orange or red at once, but to blue or
    yellow only after ``confirm_steps`` consecutive hourly evaluations above it.
    ``Hysteresis(1, 1)`` = none: the level of each step."""

    lower_after_steps: int = 6
    confirm_steps: int = 2
    at_once_rank: int = 3  # orange and red (the delivered levels) are raised at once


# the batch nowcast: the stream's off-delay, every rise at once (an hourly run that
# raised blue/yellow only an hour later would publish it an hour late)
BATCH_HYSTERESIS = Hysteresis(lower_after_steps=Hysteresis().lower_after_steps, confirm_steps=1)


@dataclass(frozen=True)
class Held:
    """A site's served level and the steps waiting to move it."""

    rank: int = 0  # the served (held) level
    below: tuple[int, ...] = ()  # levels of the consecutive steps below it
    above: tuple[int, ...] = ()  # ... above it, below orange (on-delay)


def hold_step(held: Held, raw: int, hy: Hysteresis) -> Held:
    """The state after one hourly evaluation whose combined level is ``raw``."""
    if raw == held.rank:
        return Held(raw)
    if raw > held.rank:  # orange/red at once; blue/yellow once confirmed
        if raw >= hy.at_once_rank or len(held.above) + 1 >= max(hy.confirm_steps, 1):
            return Held(raw if raw >= hy.at_once_rank else min([*held.above, raw]))
        return Held(held.rank, above=(*held.above, raw))
    below = (*held.below, raw)
    if len(below) >= max(hy.lower_after_steps, 1):
        # lowered to the highest level of those steps, and each level below keeps its own
        # count: the steps after the last one at that level stay counted against it (the
        # count restarted here, so a blue the model's orange had set off was held for
        # another 6 hours after the rules' blue, held since the same hour, had ended)
        top = max(below)
        last = len(below) - 1 - below[::-1].index(top)
        return Held(top, below=below[last + 1 :])
    return Held(held.rank, below=below)


def held_reason(rank: int, raw: int, steps_below: int, need: int) -> dict[str, str]:
    """The bilingual reason item of a level kept by hysteresis."""
    names = {0: "no warning", **rw.LEVEL_NAMES}
    zh = {0: "无预警", **rw.LEVEL_COLOUR_ZH}
    return {
        "en": f"Held at {names[rank]} by hysteresis: the sensor rules and the model read "
        f"{names[raw]} for {steps_below} h; a level is lowered only after {need} "
        "consecutive hourly evaluations below it.",
        "zh": f"滞回保持{zh[rank]}：传感器规则与模型已连续 {steps_below} 小时为{zh[raw]}；"
        f"需连续 {need} 次小时评估低于当前等级才降级。",
    }


def previous_state(row: Mapping[str, Any] | None) -> Held:
    """A site's hold state from its warning of the previous published run (None: no
    warning then, level 0)."""
    if row is None:
        return Held()
    ev = row.get("evidence") or {}
    if not isinstance(ev, Mapping):
        ev = {}
    n = int(ev.get("held_steps_below") or 0)
    below = ev.get("held_below")
    if isinstance(below, list | tuple) and len(below) == n:
        return Held(int(row["level_rank"]), below=tuple(int(b) for b in below))
    # a run published before ``held_below``: its steps below as their highest level
    lower_to = int(ev.get("held_lower_to") or 0)
    return Held(int(row["level_rank"]), below=(lower_to,) * n)


def held_levels(
    unit_ids: list[str],
    raw: np.ndarray,
    previous: pd.DataFrame,
    hy: Hysteresis = BATCH_HYSTERESIS,
) -> pd.DataFrame:
    """The batch nowcast's served levels: each site's combined level ``raw`` through
    :func:`hold_step` from its state in ``previous`` (the warnings of the latest
    published run before the origin; may be empty). Returns ``unit_id``, ``level_rank``
    (served), ``raw_rank``, ``held_steps_below``, ``held_lower_to`` and ``held_below``
    (the levels of those steps, oldest first: the next run's state, written to the
    warning's evidence)."""
    prev: dict[str, Mapping[str, Any]] = {}
    if len(previous):
        prev = {str(r["unit_id"]): r for r in previous.to_dict("records")}
    rows = []
    for u, r in zip(unit_ids, raw, strict=True):
        h = hold_step(previous_state(prev.get(str(u))), int(r), hy)
        rows.append(
            {
                "unit_id": u,
                "level_rank": h.rank,
                "raw_rank": int(r),
                "held_steps_below": len(h.below),
                "held_lower_to": max(h.below) if h.below else int(r),
                "held_below": list(h.below),
            }
        )
    return pd.DataFrame(rows)
