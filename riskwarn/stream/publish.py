"""Level changes of the stream, published to the serving store atomically.

The stream publishes runs of its own domain, ``geohazard_stream`` (beside the hourly
nowcast's ``geohazard_hourly``): each publication is a whole snapshot of the sites the
stream watches (a forecast row per site, a warning per warned site) written through
:class:`riskwarn.store.Store`'s stage -> fill -> publish, so a reader sees the previous
snapshot or the new one, never half of one. A warning lives from the reading that
raised its site above "no warning" to the one that lowered it back: its id is
``geohazard_stream:<site>:<start of the episode>``, so a level change inside an episode
updates the same warning (the store resets its review, as for any level change) and
its history stays one row.

**Event time.** A run's origin is the event time of the readings it was evaluated
from: the latest step end (``SiteLevel.observed_to``: every reading used is before it)
among its evaluated sites, never the wall clock. Each warning carries its own site's
step end as origin and is valid for 24 h after it (``valid_to``), so a warning is in
force by the time of the data that raised it: a replayed stream's warnings (readings
of last month) are expired when judged at a live stream's time and do not stay in force
after the replay. A round whose event time is older than the run already served but
by less than a warning's validity (a gateway flushing readings an hour late) joins the
served snapshot at once: it is published at the served origin, each warning with its own
event time. One older still (a replay after a live stream) is stored by the store as
'superseded' and not published over the served run (its warnings are recorded, its
deliveries are not logged: nobody is told); its levels reach the served snapshot with
the next round, carried with their own (expired) event times, except for a site whose
served warning is in force at the served run's origin (the live one), which it never
changes. Until 2026-12-05 it did: a replayed step 20 days old at level none was an
"ended" change of the live red, delivered, the live red left the snapshot and the next
live step paged a second "new". Before 2026-12-05 the origin was the publishing wall
clock.

**An expired warning is no level** (:meth:`Publisher.current`). A site's served warning
whose ``valid_to`` is at or before the event time of the site's new step (a replay's
red carried in a live snapshot, or a live warning whose site went unevaluated for a
day), or whose episode starts after that step (a replayed step older than a live
warning), is not compared against: a level above "no warning" starts a new episode (new
warning id and ``valid_from``, a fresh review; delivered if orange or red), "no
warning" changes nothing (no "ended" message for a warning no longer in force), and
it is never refreshed. A run's forecast scores a site by its warning only while that
is in force at the run's origin (0 otherwise). Before, a live red at a site carrying
a replayed red was no change: nothing was delivered and the refresh served it under
the replay's id, episode start and review state (a 'dismissed' red in force).

**A late step never changes a warning from older data** (:meth:`Publisher.stale`,
since 2026-12-06): a step inside a served warning's episode but before the newest step
judged for its site (published or not: a held level with no refresh due publishes
nothing), or inside the site's last ended episode (up to that newest step), is no
change and no refresh of it (before, it moved the warning's validity backwards, paged a
"lowered", "raised" or "ended" from stale data, or a new red inside an ended episode).
The newest step judged per site is the consumer's cursor after a restart, and the ended
episodes are read back from the store (:meth:`Publisher._load_ended`), so a restart
judges a late step as the running consumer did.

Every publish is a run of its own: ``geohazard_stream:<origin to the microsecond>Z``
(``geohazard_stream:20261201T080000.400000Z``), and if that is not after the last run
id (the same microsecond, also after a restart) the last id with a counter
(``...Z~0001``, ``~`` sorts after the digits and ``Z``; past ``~9999`` one more ``~``
per extra digit, ``~~10000``: :func:`run_counter`). Ids are unique and sort in
publishing order as strings. A run id shared by two publishes would be a *re-publication* of one
run to the store, which withdraws what the second publish no longer has: an episode
ending in the second of two publishes within one second (the old id had one-second
resolution) was recorded as withdrawn while its contacts got the "ended" message.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskwarn import warnings as rw
from riskwarn.store import Store
from riskwarn.stream.payload import topic_id_problem
from riskwarn.stream.state import SiteLevel

log = logging.getLogger(__name__)

DOMAIN = "geohazard_stream"
HORIZON_HOURS = 24.0
# a warning whose level holds is published again (new origin and valid_to) once its
# validity ends within this of its site's latest step: a level held for a day never
# expires on the dashboard while its site is still evaluated at it (Publisher.due_refresh)
REFRESH_BEFORE = pd.Timedelta(hours=HORIZON_HOURS / 2)
NOTIFY_RANK = 3  # orange and red are delivered to people


@dataclass(frozen=True)
class LevelChange:
    """One change of a site's level (``to_rank`` 0 = the warning ended)."""

    site_id: str
    warning_id: str
    from_rank: int
    to_rank: int
    at: pd.Timestamp  # data time of the reading that changed it

    @property
    def change(self) -> str:
        if self.from_rank == 0:
            return "new"
        if self.to_rank == 0:
            return "ended"
        return "raised" if self.to_rank > self.from_rank else "lowered"

    @property
    def key(self) -> str:
        """The delivery key: one per warning change, stable across restarts."""
        text = f"{self.warning_id}|{self.from_rank}|{self.to_rank}|{self.at.isoformat()}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def notify(self) -> bool:
        """New or raised orange/red, and the lowering or end of an orange/red."""
        if self.to_rank > self.from_rank:
            return self.to_rank >= NOTIFY_RANK
        return self.from_rank >= NOTIFY_RANK


def event_time(t: Any) -> pd.Timestamp:
    """``t`` as a UTC timestamp (a naive one is UTC)."""
    ts = pd.Timestamp(t)
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")


def run_counter(n: int) -> str:
    """The run id suffix of the ``n``-th extra publish at one id: ``~0001`` to ``~9999``,
    then one more ``~`` per extra digit (``~~10000``, ``~~~100000``): ``~`` sorts after
    the digits, so the ids keep sorting in publishing order as strings (``Store.last_run_id``
    is the SQL ``max`` by code point, ``COLLATE "C"`` on PostgreSQL); a plain ``~10000`` sorted before ``~9999``."""
    digits = f"{n:04d}"
    return "~" * (len(digits) - 3) + digits


class Publisher:
    """The stream's served snapshot and its level changes."""

    def __init__(self, store: Store, seen: Mapping[str, Any] | None = None) -> None:
        """``seen``: site -> the newest step end already judged (the consumer's cursor,
        ns since the epoch or a time), so a restart judges late steps as no restart."""
        self.store = store
        # site -> the served warning row (from the store at start: a restart carries on)
        self.served: dict[str, dict[str, Any]] = {}
        self.sites: set[str] = set()
        # site -> why it is never published (:meth:`usable`; logged once each)
        self.refused: dict[str, str] = {}
        self.model_label: str | None = None  # the site model serving beside the rules
        self.last_status: str | None = None  # the store's answer to the last publish
        # site -> (episode start, step end that ended it) of its last ended warning: a
        # late step inside it is stale (:meth:`stale`); rebuilt from the store at start
        self.ended: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
        # site -> the newest step end judged (published, or no change): a late step
        # older than it never changes the site's warning (:meth:`stale`)
        self.seen: dict[str, pd.Timestamp] = {
            str(site): event_time(at) for site, at in (seen or {}).items()
        }
        w = store.warnings(domain=DOMAIN)
        for row in w.to_dict("records"):
            self.served[str(row["unit_id"])] = row
        self._load_ended()
        run = store.published_run(DOMAIN)
        # the served run's origin: a round older than it but still valid at it joins it
        self.served_origin: pd.Timestamp | None = None if run is None else event_time(run["origin"])
        # after every id stored, not only the served one: a round older than the served
        # run (event time) is stored superseded under a greater id
        self.last_run_id: str | None = store.last_run_id(DOMAIN)
        if run is not None:
            f = store.published_forecasts(DOMAIN)
            self.sites = set(f["unit_id"].astype(str))

    def _load_ended(self) -> None:
        """The last ended episode of each site without a served warning, from the store
        (so a restart judges a late step as the running consumer did): the site's warning
        with the latest episode start (``valid_from``) among every warning the stream
        published, from that start to the step that ended it: its "ended" deliveries'
        ``changed_at`` (orange/red), else the last step it was published from
        (``origin``); the consumer's cursor (``seen``) extends it to the newest step
        judged. Before 2026-12-06 the window lived in memory only: after a restart a late
        red step inside an ended red paged a new red."""
        hist = self.store.warnings(domain=DOMAIN, published_only=False)
        last: dict[str, dict[str, Any]] = {}
        for row in hist.to_dict("records"):
            site = str(row["unit_id"])
            if site in self.served or int(row["level_rank"]) <= 0:
                continue
            start = _episode_start(row)
            if site not in last or start > _episode_start(last[site]):
                last[site] = row
        # the "ended" deliveries of every such warning in one read (was one per site)
        ends = self.store.ended_changes([str(row["warning_id"]) for row in last.values()])
        for site, row in last.items():
            end = event_time(row["origin"])
            for t in ends.get(str(row["warning_id"]), ()):
                end = max(end, event_time(t))
            self.ended[site] = (_episode_start(row), end)

    def usable(self, levels: Mapping[str, SiteLevel]) -> dict[str, SiteLevel]:
        """``levels`` without the sites that cannot be a unit of the store (module doc:
        too long, or not an id); each refused site is logged once, by its length."""
        out: dict[str, SiteLevel] = {}
        for site, lv in levels.items():
            problem = site_problem(site)
            if problem is None:
                out[site] = lv
            elif site not in self.refused:
                self.refused[site] = problem
                log.error(
                    "site %r...: %s; never published (its readings are stored, the other "
                    "sites are published)",
                    str(site)[:16],
                    problem,
                )
        return out

    def judged(self, levels: Mapping[str, SiteLevel]) -> None:
        """The round of ``levels`` is handled (published, or no change): its steps are the
        sites' newest judged data unless newer ones were (:attr:`seen`)."""
        for site, lv in levels.items():
            t = event_time(lv.observed_to)
            if site not in self.seen or t > self.seen[site]:
                self.seen[site] = t

    def current(self, site: str, at: Any) -> dict[str, Any] | None:
        """The served warning of ``site`` in force at event time ``at``, or None: a served
        warning whose validity ended at or before ``at`` (a replay's, or a live one whose
        site went unevaluated for a day) counts as no level (module doc), and so does one
        whose episode starts after ``at`` (``valid_from``, else ``origin``): a replayed
        step 20 days older than a live red is not compared against it (its level 0 was an
        "ended" change of the live warning, delivered)."""
        row = self.served.get(site)
        if row is None or event_time(row["valid_to"]) <= event_time(at):
            return None
        start = row.get("valid_from")
        if start is None or pd.isna(start):
            start = row["origin"]
        if event_time(start) > event_time(at):
            return None  # a step older than the warning's episode (a replay): not its level
        return row

    def stale(self, site: str, at: Any) -> bool:
        """Whether a step of ``site`` ending at ``at`` is older than the newest data
        judged for the site: inside the served warning's episode but before the later of
        its ``origin`` (the step end it was last published from) and :attr:`seen` (the
        newest step judged: a held level with no refresh due is judged, not published),
        or inside the site's last ended episode (from its start to the later of the step
        that ended it and :attr:`seen`). Such a step (late, or replayed) changes nothing
        of that warning: no level change, no refresh (its validity never moves
        backwards). Before 2026-12-06 it did: a late yellow step was a "lowered" page of
        a red that newer steps held, a late red step rebuilt the warning with a validity
        hours shorter, and a late red step inside an ended episode paged a new red; and
        until the same day's fix, against the last step published only (an orange held
        without a refresh was lowered, raised or ended by a late step older than the
        newest one) and the ended episode was forgotten on restart. A step older than the
        episode's start is a replay's (:meth:`current`), judged as before."""
        t = event_time(at)
        seen = self.seen.get(site)
        row = self.served.get(site)
        if row is not None:
            newest = event_time(row["origin"])
            if seen is not None and seen > newest:
                newest = seen  # a newer step held the level without a publish
            return _episode_start(row) <= t < newest
        ended = self.ended.get(site)
        if ended is None:
            return False
        end = ended[1] if seen is None else max(ended[1], seen)
        return ended[0] <= t <= end

    def served_until(self) -> dict[str, pd.Timestamp]:
        """site -> end of validity (event time) of its served warning: the consumer's
        hysteresis holds a seeded level (:meth:`served_levels`) only for a step before it
        (``SensorStates.seed_levels``). Without it, a restart more than a day after the
        last round held the first live step (raw yellow) at the old red, a red that
        :meth:`changes` delivered as a new episode."""
        return {site: event_time(row["valid_to"]) for site, row in self.served.items()}

    def served_levels(self) -> dict[str, int]:
        """site -> level of the served warnings in force at the served run's origin: what
        the consumer's hysteresis starts from (``SensorStates.seed_levels``). An expired
        one (a replay's red carried in a live snapshot) is no level: seeded, it held the
        site at red on its first live steps after a restart, a red that :meth:`changes`
        then delivered as a new episode."""
        at = self.served_origin
        return {
            site: int(row["level_rank"])
            for site, row in self.served.items()
            if at is None or self.current(site, at) is not None
        }

    def warned_sites(self, wall: Any) -> tuple[int, int]:
        """How many served warnings above "no warning" are in force and how many expired
        (carried in the snapshot past their validity: a replay's, or a site unevaluated
        for a day), judged as the dashboard judges them (``dashboard.queries.clock``):
        at the wall clock ``wall``, or, when the served run's origin is more than
        ``domains.REPLAY_AFTER`` before it (a replay), at that origin."""
        from riskwarn.domains import REPLAY_AFTER

        at = event_time(wall)
        if self.served_origin is not None and at - self.served_origin > REPLAY_AFTER:
            at = self.served_origin
        warned = [row for row in self.served.values() if int(row["level_rank"]) > 0]
        live = sum(1 for row in warned if event_time(row["valid_to"]) > at)
        return live, len(warned) - live

    def changes(self, levels: dict[str, SiteLevel]) -> list[LevelChange]:
        """Level changes of the evaluated sites against the served snapshot, each judged
        at its step's event time (:meth:`current`: an expired warning is no level); a site
        that cannot be published (:meth:`usable`) has none."""
        out = []
        for site, lv in sorted(self.usable(levels).items()):
            if self.stale(site, lv.observed_to):
                continue  # older than the warning's own data: changes nothing of it
            old = self.current(site, lv.observed_to)
            old_rank = 0 if old is None else int(old["level_rank"])
            if lv.level_rank == old_rank:
                continue
            if old is None:
                wid = rw.warning_id(DOMAIN, site, lv.observed_to)
            else:
                wid = str(old["warning_id"])
            out.append(LevelChange(site, wid, old_rank, lv.level_rank, lv.observed_to))
        return out

    def due_refresh(self, levels: dict[str, SiteLevel]) -> bool:
        """Whether a round without level changes is published all the same: a served
        warning whose site is evaluated at its level again and whose validity ends
        within :data:`REFRESH_BEFORE` of that step's end (event time). Without it a
        warning was refreshed only when some site's level changed, and a city where
        nothing changed for 24 h showed a site still evaluated at red as expired. At most
        one such round per :data:`REFRESH_BEFORE` of event time while levels hold."""
        for site, lv in self.usable(levels).items():
            row = self.current(site, lv.observed_to)
            if (
                row is None
                or self.stale(site, lv.observed_to)
                or lv.level_rank == 0
                or lv.level_rank != int(row["level_rank"])
            ):
                continue
            if event_time(row["valid_to"]) - event_time(lv.observed_to) <= REFRESH_BEFORE:
                return True
        return False

    def _warning_row(self, lv: SiteLevel, wid: str, start: Any) -> dict[str, Any]:
        """The warning of ``lv``: origin its own step end (event time), valid 24 h after."""
        rank = lv.level_rank
        fail = lv.failure_in_hours
        origin = event_time(lv.observed_to)
        return {
            "warning_id": wid,
            "domain": DOMAIN,
            "unit_type": "site",
            "unit_id": lv.site_id,
            "origin": origin,
            "valid_from": pd.Timestamp(start),
            "valid_to": origin + pd.Timedelta(hours=HORIZON_HOURS),
            "level": rw.LEVEL_NAMES[rank],
            "level_rank": rank,
            "probability": None,
            "score": float(rank),
            "reasons": lv.reason_items,
            "evidence": {
                **lv.evidence,
                "observed_to": lv.observed_to.isoformat(),
                "source": "stream",
                "health": lv.health_status,
            },
            "lead_time_hours": HORIZON_HOURS if np.isnan(fail) else float(fail),
            "county_code": None,
            "township_code": None,
            "state": "new",
        }

    def _next_run_id(self, origin: pd.Timestamp) -> str:
        """A run id of its own for this publish, after every earlier one (module doc)."""
        run_id = f"{DOMAIN}:{origin:%Y%m%dT%H%M%S.%f}Z"
        last = self.last_run_id
        if last is not None and run_id <= last:
            base, _, n = last.partition("~")
            run_id = f"{base}{run_counter(int(n.lstrip('~') or 0) + 1)}"
        return run_id

    def publish(
        self,
        levels: dict[str, SiteLevel],
        changes: list[LevelChange],
        deliveries: Sequence[Mapping[str, Any]] = (),
    ) -> str | None:
        """Publish the snapshot with ``levels`` applied (one transaction, with the
        changes' ``deliveries`` logged in it); None when nothing changed. The run's
        origin is the event time of ``levels`` (their latest step end, module doc); the
        store serves it only if it is not older than the served run ('superseded'
        otherwise, :attr:`last_status`). A round without changes is published when
        :meth:`due_refresh` says a held warning needs new times. Raises what the store
        raises (the caller retries). A site that cannot be a unit of the store is left
        out, with its changes (:meth:`usable`)."""
        levels = self.usable(levels)
        changes = [c for c in changes if c.site_id in levels]
        if not levels or (not changes and not self.due_refresh(levels)):
            self.judged(levels)
            return None
        origin = max(event_time(lv.observed_to) for lv in levels.values())
        late = self.served_origin is not None and origin < self.served_origin
        if late and origin + pd.Timedelta(hours=HORIZON_HOURS) > self.served_origin:
            # late readings (a gateway flushing an hour late) whose levels are still valid
            # at the served time join the served snapshot now, each warning with its own
            # event time; older ones (a replay) are stored superseded by the store
            origin = self.served_origin
        served = dict(self.served)
        for c in changes:
            lv = levels[c.site_id]
            if c.to_rank == 0:
                served.pop(c.site_id, None)
                continue
            start = c.at if c.from_rank == 0 else self.served[c.site_id]["valid_from"]
            served[c.site_id] = self._warning_row(lv, c.warning_id, start)
        for site, lv in levels.items():  # refreshed content of warnings whose level held
            if (
                site in served
                and lv.level_rank == served[site]["level_rank"]
                and site not in {c.site_id for c in changes}
                and not self.stale(site, lv.observed_to)  # never from older data
            ):
                served[site] = self._warning_row(
                    lv, served[site]["warning_id"], served[site]["valid_from"]
                )
        sites = sorted(s for s in self.sites | set(levels) | set(served) if site_problem(s) is None)
        # a site's score at the run's origin is its warning's level only while that is in
        # force there: an expired warning carried in the snapshot (a replay's) is no level
        score = {
            s: float(row["level_rank"])
            for s, row in served.items()
            if event_time(row["valid_to"]) > origin
        }
        forecasts = pd.DataFrame(
            {
                "unit_type": "site",
                "unit_id": sites,
                "domain": DOMAIN,
                "origin": origin,
                "valid_to": origin + pd.Timedelta(hours=HORIZON_HOURS),
                "score": [score.get(s, 0.0) for s in sites],
            }
        )
        warnings = pd.DataFrame(
            [
                {k: v for k, v in row.items() if k not in ("effective_level",)}
                for row in served.values()
            ]
        )
        run_id = self._next_run_id(origin)
        self.store.stage_run(
            {
                "run_id": run_id,
                "domain": DOMAIN,
                "origin": origin.to_pydatetime(),
                "horizon_hours": HORIZON_HOURS,
                "model_name": (
                    "sensor-rules" if not self.model_label else f"sensor-rules+{self.model_label}"
                ),
                "model_version": "stream",
            }
        )
        self.store.write_forecasts(run_id, forecasts)
        if len(warnings):
            cols = [c for c in rw.WARNING_COLUMNS if c in warnings.columns]
            self.store.write_warnings(run_id, warnings[cols])
        self.last_status = self.store.publish_run(run_id, actor="stream", deliveries=deliveries)
        self.last_run_id = run_id
        if self.last_status != "published":
            # superseded (older than the served run by more than a warning's validity):
            # stored, not served, none of its deliveries logged. A warning in force at the
            # served origin (the live one) stays as served, whatever the round said of
            # it; the round's other levels (a replay's episodes) join the snapshot, so a
            # replayed episode goes on under one id (module doc)
            live = {
                s
                for s, row in self.served.items()
                if self.served_origin is not None
                and event_time(row["valid_to"]) > self.served_origin
            }
            self.served = {
                **{s: row for s, row in served.items() if s not in live},
                **{s: self.served[s] for s in live},
            }
            self.sites = set(sites)
            self.judged(levels)
            return run_id
        self.served_origin = origin
        for c in changes:
            if c.to_rank == 0 and c.site_id in self.served:
                self.ended[c.site_id] = (_episode_start(self.served[c.site_id]), event_time(c.at))
            elif c.from_rank == 0:
                self.ended.pop(c.site_id, None)
        # each warning keeps its own event time (a carried warning is not refreshed)
        self.served = served
        self.sites = set(sites)
        self.judged(levels)
        return run_id


def site_problem(site: Any) -> str | None:
    """Why ``site`` cannot be a unit of the stream's snapshot (one line), or None."""
    if not isinstance(site, str) or not site:
        return "not a site id"
    return topic_id_problem(site, "-")


def _episode_start(row: Mapping[str, Any]) -> pd.Timestamp:
    """A warning row's episode start: ``valid_from``, else its ``origin``."""
    start = row.get("valid_from")
    if start is None or pd.isna(start):
        start = row["origin"]
    return event_time(start)
