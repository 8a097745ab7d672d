"""The consumer's durable per-site cursor, and the replay it drives after a restart.

The cursor (``$RISKWARN_HOME/run/stream.cursor.json``) holds, per site, the end of the last
hourly step whose outcome was handled by the publishing thread: published (its level
change is in the serving store, with its deliveries) or evaluated without a change. It is
written after each handled round and before the next one is published, so it is never
more than one round behind the store (a round published again after that is no change:
the served level is already its outcome).

After a restart every step after a site's cursor is evaluated again, in time order,
through the live path (:class:`riskwarn.stream.state.SensorStates`: add the readings of
one hour, evaluate the steps they complete), from the readings in the lake: a step that
was evaluated but not published before a crash is published with its own step time,
even when later steps' readings are in the lake too. The replay is bounded (``max_hours``
before each site's newest complete step); a site without a cursor (a home from before
it) is evaluated at its newest step only, as before.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_NS_HOUR = pd.Timedelta(hours=1).value

log = logging.getLogger(__name__)


def load_cursor(path: Path) -> dict[str, int]:
    """site -> last handled step end (ns since the epoch, UTC); {} without a file, and {}
    (with a warning naming the file, not its contents) for a corrupt one: invalid JSON or
    UTF-8, wrong types, an unreadable time. The consumer then starts as without a cursor
    (each site evaluated at its newest step) instead of not starting at all; the next
    handled round writes a good cursor over it."""
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise TypeError("not a JSON object")
        steps = raw.get("steps", {})
        out = {}
        for site, at in steps.items():
            if not isinstance(at, str):  # save_cursor writes ISO times
                raise TypeError("a step time is not a string")
            t = pd.Timestamp(at)
            if t is pd.NaT:  # "", "NaT", "nan"
                raise ValueError("a step time is missing")
            out[str(site)] = int(t.value)
        return out
    except FileNotFoundError:
        return {}
    except (ValueError, TypeError, AttributeError) as exc:  # JSONDecodeError, UnicodeError
        log.warning(
            "the stream cursor %s is corrupt (%s): ignored, each site starts at its newest "
            "step as without a cursor",
            path,
            type(exc).__name__,
        )
        return {}


def save_cursor(path: Path, cursor: dict[str, int]) -> None:
    """Write the cursor atomically (temporary file, fsync, rename, fsync of the folder).
    Raises OSError."""
    body = {
        "version": 1,
        "steps": {
            site: pd.Timestamp(at, tz="UTC").isoformat() for site, at in sorted(cursor.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as fh:
        fh.write(json.dumps(body))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)  # the rename itself is durable too
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class ReplayPlan:
    """What the warm-up adds at once (``history``), the sites' evaluated step ends to
    start from (``start``: site -> ns; the replay evaluates the steps after it) and the
    readings after that, one frame per hour in time order (``hours``)."""

    history: pd.DataFrame
    start: dict[str, int] = field(default_factory=dict)
    hours: list[pd.DataFrame] = field(default_factory=list)
    capped: int = 0  # sites whose cursor was older than the replay window
    replaying: int = 0  # sites with steps after their cursor


def replay_plan(
    readings: pd.DataFrame,
    sites: dict[str, str],
    cursor: dict[str, int],
    history_days: float,
    max_hours: float,
) -> ReplayPlan:
    """Split the stored displacement ``readings`` of the known sensors (``sites``:
    sensor -> site) for a restart. Per sensor: the rules' history (``history_days``)
    before the first step to evaluate; a site with a cursor evaluates every step after it
    (at most ``max_hours`` before its newest complete step; none if the cursor is at its
    newest step), one without one its newest step only (all its readings in
    ``history``)."""
    if readings.empty:
        return ReplayPlan(readings)
    t = readings["observed_at"]
    t_ns = (t.dt.as_unit("ns") if t.dt.unit != "ns" else t).astype("int64").to_numpy()
    site = readings["sensor_id"].map(sites).to_numpy(dtype=object)
    newest: dict[str, int] = {}
    for s, last in pd.Series(t_ns).groupby(site).max().items():
        newest[str(s)] = (int(last) // _NS_HOUR) * _NS_HOUR  # its newest complete step
    start: dict[str, int] = {}
    capped = 0
    window = int(max_hours * _NS_HOUR)
    replaying = 0
    for s, top in newest.items():
        at = cursor.get(s)
        if at is None:
            continue
        if at < top:
            replaying += 1
            if at < top - window:
                at, capped = top - window, capped + 1
        start[s] = at  # at or past its newest step: nothing to evaluate again
    hist_ns = int(history_days * 24 * _NS_HOUR)
    # per reading: where its sensor's replay begins (the first step after the cursor),
    # or past its last reading (no replay: everything is history)
    last_of = pd.Series(t_ns).groupby(readings["sensor_id"].to_numpy()).transform("max")
    begin = np.array([start[s] + _NS_HOUR if s in start else -1 for s in site], dtype=np.int64)
    begin = np.where(begin < 0, last_of.to_numpy() + 1, begin)
    keep = t_ns >= np.minimum(begin, last_of.to_numpy() + 1) - hist_ns
    later = t_ns >= begin
    history = readings.loc[keep & ~later]
    rest = readings.loc[keep & later]
    hours: list[pd.DataFrame] = []
    if len(rest):
        hour = (rest["observed_at"].dt.as_unit("ns").astype("int64") // _NS_HOUR).to_numpy()
        hours = [part for _, part in rest.groupby(hour, sort=True)]
    return ReplayPlan(history, start, hours, capped, replaying)


def replay_rounds(
    state: Any, plan: ReplayPlan, sites: dict[str, str | None], warmed: set[str]
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Evaluate the replay through the live path of ``state``
    (:class:`riskwarn.stream.state.SensorStates`, ``plan.history`` already added and the
    cursors set as its evaluated step ends): first the steps the history completes for
    the ``warmed`` sites, then one hour of readings at a time, each followed by the steps
    it completes. Yields (hours left, the evaluated rounds) after each."""
    todo = set(warmed)
    for i in range(len(plan.hours) + 1):
        if i:
            todo = state.add(plan.hours[i - 1], sites)
        yield len(plan.hours) - i, state.evaluate_within(state.due(todo), math.inf)
