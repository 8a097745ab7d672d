"""``riskwarn stream``: the long-running MQTT consumer.

Per micro-batch (up to ``max_batch`` messages or ``batch_s`` seconds):

1. validate with batch ingest's rules (:func:`riskwarn.stream.validate.validate_guarded`: a
   message whose validation raises is quarantined, never the consumer stopped);
2. upsert the accepted readings and the quarantine into the lake
   (:func:`riskwarn.ingest.write_batch`: idempotent, by ``(source, record_id)``), retried
   until it succeeds;
3. only then acknowledge the messages (QoS 1, manual PUBACK): the broker keeps every
   message that was not acknowledged for this client's persistent session (fixed client
   id, clean session off) and sends it again after a crash or restart;
4. in the evaluation thread, once the micro-batch is written: add what the lake stored
   (:func:`riskwarn.stream.validate.stored_rows`: never a version it refused) to the
   per-sensor state and evaluate the touched sites with the sensor rules and the site
   model (with hysteresis: :class:`riskwarn.stream.state.Hysteresis`) while the next
   micro-batches are written; the publishing thread publishes each evaluated step's level
   changes (one small transaction each, with their deliveries) as soon as the readings
   they come from are durable (never before: a published level always rests on stored
   readings), retried while the store is unavailable; a separate thread sends the
   deliveries (:mod:`riskwarn.stream.delivery`).

The status (one JSON object) is rewritten at every micro-batch in
``$RISKWARN_HOME/run/stream.status.json``; ``riskwarn stream --status`` prints it as one line.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import threading
import time
import traceback
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import paho.mqtt.client as mqtt
import pandas as pd

from riskwarn.ingest import write_batch
from riskwarn.store import Store
from riskwarn.stream.auth import load_passwords, refusal_text, sign_in_refused
from riskwarn.stream.cursor import (
    ReplayPlan,
    load_cursor,
    load_sites,
    replay_plan,
    replay_rounds,
    save_cursor,
    write_durably,
)
from riskwarn.stream.ledger import open_ledger
from riskwarn.stream.lock import InstanceLock, StoreLock
from riskwarn.stream.payload import QOS, subscription
from riskwarn.stream.publish import HORIZON_HOURS, LevelChange, Publisher
from riskwarn.stream.runtime import (
    Counters,
    Handoff,
    Stopped,
    StreamConfig,
    crash_point,
    describe,
    error_kind,
    kill_point,
)
from riskwarn.stream.state import Hysteresis, SensorStates, SiteLevel
from riskwarn.stream.validate import Message, stored_counts, stored_rows, validate_guarded

log = logging.getLogger(__name__)

# the quarantine reasons a later accept of the reading resolves (its time had not come)
FUTURE_REASONS = ("future_timestamp:observed_at",)
# test hook: SIGKILL once a micro-batch's quarantine is stored, before it is counted
KILL_AFTER_QUARANTINE = "RISKWARN_STREAM_KILL_AFTER_QUARANTINE"

# consecutive failed attempts at one round after which the publishing is reported as
# stuck (status and log; publishing keeps trying): about 5 s of a store outage
PUBLISH_STUCK_AFTER = 5
# refused sign-ins in a row (after a first sign-in) at which a consumer whose password is
# from the environment stops with exit 2 (about 15 s of paho's backoff): it cannot read a
# rotated one, and its supervisor (scripts/supervise.py) then shows a crash loop
ENV_PASSWORD_REFUSALS = 5


def _connection_error(exc: BaseException) -> bool:
    """A store connection error (its driver's first line names no row data)."""
    import sqlalchemy.exc as sa_exc

    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)


def _where(exc: BaseException) -> str:
    """The last code locations of an error (file:line function, innermost first): where
    it happened, without its message (which may quote a reading or an address)."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    where = (f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return " <- ".join(where) or "-"


class StreamConsumer:
    """The consumer (one per source; runs until :meth:`stop`)."""

    def __init__(self, cfg: StreamConfig) -> None:
        self.cfg = cfg
        # one consumer per home, before anything touches the broker, lake or store
        self.instance_lock = InstanceLock(cfg.status_path.with_name("stream.lock"))
        self.instance_lock.acquire(
            source=cfg.mapping.name,
            broker=f"{cfg.host}:{cfg.port}",
            client_id=cfg.client_id,
        )
        # ... and per serving store and source (two homes sharing one store)
        self.store_lock = StoreLock(cfg.store_url, cfg.mapping.name)
        try:
            self.store_lock.acquire(
                source=cfg.mapping.name, broker=f"{cfg.host}:{cfg.port}", client_id=cfg.client_id
            )
            self._setup()
        except BaseException:
            self.store_lock.release()
            self.instance_lock.release()
            raise

    def _setup(self) -> None:
        cfg = self.cfg
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.counters = Counters()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        # the durable counts (riskwarn.stream.ledger): every lake commit carries run_id,
        # the ledger the versions its totals cover; a crash's uncounted commits added now
        self.ledger, _ = open_ledger(
            cfg.status_path.with_name("stream.counts.json"),
            cfg.lake_dir,
            cfg.mapping.name,
            cfg.mapping.table,
        )
        self.run_id = self.ledger.run_id  # stream:<source>@<writer>: this home's commits
        self._seed_counters()
        # record id -> batch ids (messages) of this source's open future_timestamp
        # quarantine rows: resolved when their reading is accepted (_resolve_future)
        self.future_open: dict[str, set[str]] = {}
        self._load_future()
        self.stopping = threading.Event()
        self.state = SensorStates(hysteresis=Hysteresis(cfg.lower_after_steps, cfg.confirm_steps))
        self.store = Store(cfg.store_url)
        self.store.upgrade()
        # site -> the last step end whose outcome was published or unchanged (durable)
        self.cursor_path = cfg.status_path.with_name("stream.cursor.json")
        self.cursor: dict[str, int] = load_cursor(self.cursor_path)
        self.cursor_dirty = False
        # the cursor is the newest step judged per site: a late step older than it
        # changes nothing after a restart either (Publisher.stale)
        self.publisher = Publisher(self.store, seen=self.cursor)
        self.model = None
        if cfg.mlflow_uri:
            from riskwarn.stream.model import StreamSiteModel

            self.model = StreamSiteModel(
                cfg.mlflow_uri,
                self.store,
                cfg.lake_dir,
                tz=cfg.tz,
                every_s=cfg.model_every_s,
                reload_s=cfg.model_reload_s,
                lookback_days=cfg.model_lookback_days,
            )
            self.state.model = self.model
        else:
            log.info("no model registry configured: the stream evaluates the sensor rules alone")
        # the served warnings in force (an expired one, a replay's, is no level), each
        # held only for a step before its warning's end (a restart after a day: none)
        self.state.seed_levels(self.publisher.served_levels(), self.publisher.served_until())
        # evaluated rounds not yet published, each with the write sequence number of the
        # newest micro-batch it read (published once that one is durable)
        self.pending: list[tuple[int, dict[str, SiteLevel], float]] = []
        self.lock = threading.Lock()
        self.handoffs: queue.Queue[Handoff] = queue.Queue()  # to the evaluation thread
        self.seq = 0  # micro-batches handed to the evaluation thread
        self.durable_seq = 0  # ... of which written to the lake (in order)
        self.added_seq = 0  # ... of which in the per-sensor state
        self.unevaluated = 0  # handed off, not yet added and evaluated
        self.evaluating = False  # sites being evaluated, their rounds not yet pending
        self.publish_failures = 0  # consecutive failed attempts at the oldest round
        self.publish_error: BaseException | None = None  # the store's, from _publish
        self.status_lock = threading.Lock()  # the status is written by several threads
        self.status_failing = False
        self.wake = threading.Event()
        self.sites_path = cfg.status_path.with_name("stream.sites.json")
        self.known_sites: dict[str, str] = {}
        self.stored_sites: dict[str, str] = {}  # run/stream.sites.json as read at start
        self.replay_sites: set[str] = set()
        self.replay_hours: list[pd.DataFrame] = []
        self.replay_left = 0  # hours of stored readings still to replay
        # after a failed replay whose fallback failed too: the sites it could not evaluate,
        # until new steps have evaluated each of them up to its newest step (FAILING replay
        # meanwhile), how many they were, those evaluated by a new step at least once, and
        # that failure's "since <UTC>: <Class>"
        self.replay_unevaluated: set[str] = set()
        self.replay_total = 0
        self.replay_seen: set[str] = set()
        self.replay_failure = ""
        # sensor -> site of the lake's sensors register: the one source of a registered
        # sensor's site (a topic naming another is quarantined site_mismatch); read at
        # start and every cfg.register_reload_s, applied to the state by the evaluation
        # thread (register_seen: the version it applied)
        self.register: dict[str, str | None] = {}
        self.register_version = 0
        self.register_seen = 0
        self.register_read_at = 0.0
        self._read_register()
        self.register_seen = self.register_version
        self._warm_up()
        # (data time ns, sent time) of the site's recent readings that carried a send time:
        # a change at step end T is timed from the first reading of T or later to arrive
        # (the one that completed the step), for the bench's latency lines
        self.sent_log: dict[str, deque[tuple[int, float]]] = {}
        self.metrics: TextIO | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if cfg.username:
            self.client.username_pw_set(cfg.username, cfg.password)
        self.refused: str | None = None  # the broker refused the sign-in (one line)
        self.password = cfg.password  # the one signing in now (re-read after a refusal)
        self.signed_in = False  # the broker took the credentials once
        self.refusals = 0  # sign-ins refused in a row (after the first sign-in)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.max_inflight_messages_set(cfg.max_batch)
        self.client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)

    # -- durable counts and resolved quarantine -----------------------------------------

    def _seed_counters(self) -> None:
        c, t = self.counters, self.ledger.counts
        c.accepted, c.corrections, c.written_new = t["accepted"], t["corrections"], t["new_in_lake"]
        c.quarantined, c.duplicates, c.resolved = t["quarantined"], t["duplicates"], t["resolved"]
        c.received = c.accepted + c.duplicates + c.quarantined

    def _future_key(self, original: Any) -> str | None:
        """The record id a quarantined row's reading would have (the source's id columns
        of its raw row, as :func:`riskwarn.ingest` joins them); None: not known."""
        ids = self.cfg.mapping.id
        if ids is None or not isinstance(original, str):
            return None
        try:
            raw = json.loads(original)
        except ValueError:
            return None
        if not isinstance(raw, dict) or any(c not in raw for c in ids.columns):
            return None
        return "|".join(str(raw[c]) for c in ids.columns)

    def _note_future(self, q: pd.DataFrame) -> None:
        """Index the stream's future_timestamp rows of ``q`` by their reading's record id."""
        if q.empty:
            return
        mine = q["batch_id"].astype(str).str.startswith("mqtt:")
        if "reason" in q:
            mine &= q["reason"].isin(FUTURE_REASONS)
        if "table_name" in q:
            mine &= q["table_name"] == self.cfg.mapping.table
        for bid, original in zip(q.loc[mine, "batch_id"], q.loc[mine, "original"], strict=True):
            key = self._future_key(original)
            if key is not None:
                self.future_open.setdefault(key, set()).add(str(bid))

    def _load_future(self) -> None:
        """Read the open future_timestamp rows of this source's messages, and resolve at
        once those whose reading the lake holds now (accepted by a consumer killed before
        it resolved them, or by a file of the source)."""
        from riskwarn import lake

        try:
            # the matching rows' two columns only: the whole quarantine, read before, took
            # 1e6 rows' every column at each start (bench/bench_stream_future_quarantine.py)
            open_rows = lake.read_open_quarantine(
                self.cfg.lake_dir,
                self.cfg.mapping.name,
                self.cfg.mapping.table,
                FUTURE_REASONS,
                "mqtt:",
            )
            self._note_future(open_rows)
            if not self.future_open:
                return
            held = lake.read_table(
                self.cfg.lake_dir,
                self.cfg.mapping.table,
                [self.cfg.mapping.name],
                columns=["record_id"],
                where={"record_id": sorted(self.future_open)},
            )
        except Exception as exc:  # an unreadable lake: resolved by the next accepts only
            log.error("cannot read the open future_timestamp quarantine (%s)", describe(exc))
            return
        n = self._resolve_future(set(held["record_id"].astype(str)), "start")
        if n:
            self.ledger.save()

    def _resolve_future(self, accepted: set[str], by: str) -> int:
        """Remove from the open quarantine the future_timestamp rows of the readings
        ``accepted`` now (stored): the problem is gone, the row stays in the quarantine's
        history. Counted ``resolved`` (the quarantined count keeps it: it was stored once).
        A failed removal is logged and tried again with the next accept of the reading, or
        at the next start."""
        from riskwarn import lake

        keys = accepted & self.future_open.keys()
        if not keys:
            return 0
        ids = sorted({b for k in keys for b in self.future_open[k]})
        try:
            n, version = lake.resolve_quarantine(
                self.cfg.lake_dir,
                self.cfg.mapping.name,
                self.cfg.mapping.table,
                ids,
                reasons=FUTURE_REASONS,
                resolved_by=by,
                run_id=self.run_id,
            )
        except Exception as exc:
            log.error("cannot resolve %d future_timestamp row(s) (%s)", len(ids), describe(exc))
            return 0
        for k in keys:
            del self.future_open[k]
        if version is not None:
            self.ledger.covered({"quarantine": version})
        self.counters.resolved += n
        self.ledger.counts["resolved"] += n
        if n:
            log.info("%d future_timestamp quarantine row(s) resolved: accepted now", n)
        return n

    # -- state across restarts ---------------------------------------------------------

    def _read_register(self) -> None:
        """Read the sensors register (sensor -> site) from the lake; on failure keep the
        one read before (logged), tried again at the next reload."""
        from riskwarn import lake
        from riskwarn.stream.validate import register_sites

        self.register_read_at = time.monotonic()
        try:
            got = lake.read_table(
                self.cfg.lake_dir, "sensors", columns=["record_id", "site_id", "source"]
            )
        except Exception as exc:  # an unreadable lake: the stream goes on with the old one
            log.error(
                "cannot read the sensors register (%s); keeping the one read before", describe(exc)
            )
            return
        register = register_sites(got, self.cfg.mapping.name)
        if register != self.register:
            self.register = register
            self.register_version += 1

    def _placed(self, sites: dict[str, str]) -> dict[str, str]:
        """``sites`` (sensor -> site) with each registered sensor at the register's site
        (out of it when registered without a site): the saved map of an older consumer
        may bind a sensor to the site of a wrong topic."""
        reg = self.register
        out = {sid: reg.get(sid, site) for sid, site in sites.items()}
        return {sid: site for sid, site in out.items() if site is not None}

    def _save_sites(self) -> None:
        """Remember which site each sensor belongs to (the topics say; the lake does not):
        every mapping known, the state's and the saved file's. The state holds only the
        sensors with readings in the rules' history window (the warm-up adds no others), so
        its map alone would drop a sensor quiet for longer than that from the file, and
        after the next restart its stored readings would not be read (not in the replay,
        24 h of new readings before it counts again). Nothing is removed from the map."""
        sites = self._placed({**self.known_sites, **self.state.sites_map()})
        try:
            write_durably(self.sites_path, json.dumps(sites))
        except OSError as exc:  # full disk: kept in memory, written with a later batch
            log.error("cannot save the sensor -> site map (%s); trying again later", describe(exc))
            return
        self.known_sites = sites

    def _warm_up(self) -> None:
        """Rebuild the per-sensor state from the lake after a restart: the readings of
        the sensors seen before, over the rules' history (steady window + 1 day) before
        the first step to evaluate. Every step after a site's cursor (the last step whose
        outcome was published or found unchanged) is evaluated again in time order by the
        evaluation thread (:meth:`_replay`, before any new reading): a change evaluated
        but not published before a crash is published now, once, with its own step time,
        even when readings of later steps are in the lake too."""
        sites = self.stored_sites = self._placed(load_sites(self.sites_path))
        self.known_sites = dict(sites)  # kept in the map even when not warmed up
        if not sites:
            return
        got = self._stored_readings(sites)
        if got.empty:
            return
        plan = replay_plan(
            got,
            sites,
            self.cursor,
            history_days=self.state.history_steps / 24 + 1,
            max_hours=self.cfg.replay_max_hours,
        )
        touched = self.state.add(plan.history, {**sites})
        for site, at in plan.start.items():
            self.state.evaluated_origin[site] = at
        self.known_sites = {**sites, **self.state.sites_map()}
        self.replay_sites = touched | set(plan.start)
        self.replay_hours = plan.hours
        if plan.capped:
            log.warning(
                "%d site(s) were last handled more than %.0f h before their newest step: "
                "only the last %.0f h are replayed (--replay-max-hours)",
                plan.capped,
                self.cfg.replay_max_hours,
                self.cfg.replay_max_hours,
            )
        log.info(
            "warmed up %d sensors from %d stored readings; %d site(s) to replay from their "
            "cursor over %d hour(s) of readings",
            len(self.state),
            len(plan.history) + sum(len(h) for h in plan.hours),
            plan.replaying,
            len(plan.hours),
        )

    def _stored_readings(self, sites: dict[str, str]) -> pd.DataFrame:
        """The lake's displacement readings of the sensors in ``sites``."""
        from riskwarn import lake
        from riskwarn.stream.state import DISPLACEMENT_QUANTITIES

        got = lake.read_table(
            self.cfg.lake_dir,
            "sensor_readings",
            [self.cfg.mapping.name],
            where={"sensor_id": sorted(sites), "quantity": sorted(DISPLACEMENT_QUANTITIES)},
        )
        return got.loc[got["sensor_id"].isin(list(sites))]

    def _new_state(
        self, levels: dict[str, int], until: dict[str, pd.Timestamp] | None = None
    ) -> SensorStates:
        state = SensorStates(
            hysteresis=Hysteresis(self.cfg.lower_after_steps, self.cfg.confirm_steps),
            model=self.model,
        )
        state.seed_levels(levels, until)
        return state

    def _replay_failed(self, exc: BaseException) -> None:
        """The replay raised part way (evaluation thread): the per-sensor state may hold
        some hours and not others, some sites' steps evaluated and not others'. It is
        rebuilt as the restart did before the replay existed: a new state with every
        stored reading of the known sensors added at once, each site evaluated at its
        newest step only (the steps between its cursor and that one are not evaluated),
        hysteresis seeded from the levels served or about to be (the rounds the replay
        already evaluated are kept and published in order). Logged by the error's class
        and code locations, not its message (it may quote a reading). If the rebuild fails
        too, ``riskwarn stream --status`` shows ``FAILING replay ...; N site(s) not
        evaluated yet`` until new steps have evaluated every site the replay was to
        evaluate (then ``replay recovered at <time> ...``, :meth:`_replay_caught_up`): a
        failed lake read keeps the state as the replay left it; a failed evaluation keeps
        the rebuilt state (every stored reading in), its sites evaluated when their next
        readings come."""
        log.error(
            "replaying the steps after the cursor failed (%s, at %s); the per-sensor state is "
            "rebuilt from the stored readings and each site evaluated at its newest step only",
            error_kind(exc),
            _where(exc),
        )
        with self.lock:
            self.replay_left = 0
            levels = [lv for _, round_, _ in self.pending for lv in round_.values()]
        todo = set(self.replay_sites)  # the sites whose steps the replay was to evaluate
        self.replay_sites, self.replay_hours = set(), []
        seed = self.publisher.served_levels()
        until = self.publisher.served_until()
        for lv in levels:  # in order: the last wins
            seed[lv.site_id] = lv.level_rank
            until[lv.site_id] = lv.observed_to + pd.Timedelta(hours=HORIZON_HOURS)
        state = self._new_state(seed, until)
        rounds: list[dict[str, SiteLevel]] = []
        touched: set[str] = set()
        try:
            sites = {**self.stored_sites, **self.known_sites}  # with sensors not warmed
            got = self._stored_readings(sites) if sites else pd.DataFrame()
            if not got.empty:
                plan = replay_plan(
                    got,
                    sites,
                    {},
                    history_days=state.history_steps / 24 + 1,
                    max_hours=self.cfg.replay_max_hours,
                )
                touched = state.add(plan.history, {**sites})
        except Exception as again:  # the lake read: keep the state the replay left
            text = self._failed("replay", again, error_kind(again))
            log.error(
                "rebuilding the per-sensor state failed too (%s, at %s); keeping the state "
                "as the replay left it (some stored hours missing until new readings come)",
                text,
                _where(again),
            )
            log.warning("restart: no fallback; the partly replayed state is kept")
            self._replay_unevaluated(todo)
            return
        try:
            rounds = state.evaluate_within(state.due(touched), math.inf)
        except Exception as again:  # the readings are in: new ones evaluate the sites
            # the rebuilt state first: once FAILING replay shows, it is the state in use
            self.state = state
            text = self._failed("replay", again, error_kind(again))
            log.error(
                "evaluating the rebuilt per-sensor state failed (%s, at %s); its readings "
                "are kept and each site is evaluated when its next readings come",
                text,
                _where(again),
            )
            log.warning("restart: fell back to the stored readings; 0 step(s) evaluated")
            self._replay_unevaluated(todo | touched)
            return
        self.state = state
        with self.lock:
            self.pending.extend((0, round_, time.time()) for round_ in rounds)
        if rounds:
            self.wake.set()
        log.warning(
            "restart: fell back to the newest step of %d site(s) (%d step(s) evaluated)",
            len({site for round_ in rounds for site in round_}),
            sum(len(round_) for round_ in rounds),
        )

    def _replay_unevaluated(self, sites: set[str]) -> None:
        """The failed replay and its fallback left ``sites`` not evaluated (evaluation
        thread): ``FAILING replay`` names how many until new steps evaluate them."""
        self.replay_failure = self.counters.failing.get("replay", "")
        self.replay_unevaluated = set(sites)
        self.replay_total = len(sites)
        self.replay_seen = set()
        self._replay_caught_up(set())

    def _replay_caught_up(self, evaluated: set[str]) -> None:
        """New steps evaluated ``evaluated`` (evaluation thread, after each evaluation
        pass): a site the failed replay left counts as caught up once a new step of it has
        been evaluated and none is due any more (not in the state's backlog, no step after
        the last evaluated one: the time budget catches a site up one step per round, so
        its first new step is not enough). Every site evaluated once and not caught up yet
        is checked again on each pass. Once all are, ``FAILING replay`` gives way to
        ``replay recovered at <time> (failing since <time>: <Class>; N site(s) evaluated by
        new steps)`` (N: all the sites it left) in the status, kept until a restart; until
        then the count of those left is updated."""
        if not self.replay_failure:
            return
        self.replay_seen |= evaluated & self.replay_unevaluated
        state = self.state
        self.replay_unevaluated -= {
            site
            for site in self.replay_seen
            if site not in state.backlog and state._next_origin(site) is None
        }
        self.replay_seen &= self.replay_unevaluated
        left = len(self.replay_unevaluated)
        if left:
            self.counters.failing["replay"] = (
                f"{self.replay_failure}; {left} site(s) not evaluated yet"
            )
            return
        n = self.replay_total
        self.counters.failing.pop("replay", None)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.counters.recovered["replay"] = (
            f"at {now} (failing {self.replay_failure}; {n} site(s) evaluated by new steps)"
        )
        log.warning(
            "replay works again: the %d site(s) the failed replay left are evaluated by new steps",
            n,
        )
        self.replay_failure = ""

    def _replay(self) -> None:
        """After a restart (evaluation thread, before any new reading): evaluate the warmed
        sites' steps after their cursors, one hour of stored readings at a time, through
        the live path; each evaluated round is published in order as live ones are."""
        if not self.replay_sites:
            log.info("restart: replayed 0 step(s) of 0 site(s)")
            return
        start = time.time()
        steps, replayed = 0, set()
        plan = ReplayPlan(pd.DataFrame(), hours=self.replay_hours)
        # the saved map: a sensor without readings in the history window (only after
        # its site's cursor) is not in the state's map yet
        site_of: dict[str, str | None] = {**self.stored_sites, **self.known_sites}
        for left, rounds in replay_rounds(self.state, plan, site_of, self.replay_sites):
            with self.lock:
                self.pending.extend((0, levels, time.time()) for levels in rounds)
                self.replay_left = left
            for levels in rounds:
                steps += len(levels)
                replayed |= set(levels)
            if rounds:
                self.wake.set()
            if self.stopping.is_set():
                break
        with self.lock:
            self.replay_left = 0
        self.replay_sites, self.replay_hours = set(), []
        log.info(
            "restart: replayed %d step(s) of %d site(s) from the lake in %.1f s",
            steps,
            len(replayed),
            time.time() - start,
        )

    def _handled(self, levels: dict[str, SiteLevel]) -> None:
        """A round's outcome is in the store (or it changed nothing): move the cursor."""
        for site, lv in levels.items():
            at = int(lv.observed_to.value)
            if at > self.cursor.get(site, -1):
                self.cursor[site] = at
        self.cursor_dirty = True

    def _save_cursor(self) -> bool:
        """Write the cursor if a round moved it; False (and retried before the next round
        is published) if it cannot be written: the cursor never falls more than one round
        behind the store, so a restart never replays a change that was superseded."""
        if not self.cursor_dirty:
            return True
        try:
            save_cursor(self.cursor_path, dict(self.cursor))
        except OSError as exc:
            text = self._failed("cursor", exc, error_kind(exc))
            log.error("cannot write the stream cursor (%s); publishing waits for it", text)
            return False
        self.cursor_dirty = False
        self._recovered("cursor")
        return True

    # -- MQTT callbacks (network thread) ----------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            if sign_in_refused(rc):
                self._sign_in_refused(client, rc)
                return
            log.warning("broker refused the connection: %s", rc)
            return
        self.counters.connected = True
        self.signed_in = True
        if self.refusals:
            log.warning(
                "signed in again as %r after %d refused sign-in(s)",
                self.cfg.username,
                self.refusals,
            )
            self.refusals = 0
        self._recovered("broker sign-in")
        client.subscribe(subscription(self.cfg.mapping.name), qos=QOS)
        log.info(
            "connected to %s:%d (session present: %s)",
            self.cfg.host,
            self.cfg.port,
            flags.session_present,
        )

    def _reread_password(self, client: mqtt.Client) -> bool:
        """Read the password again from the passwords file it came from (a rotated one:
        ``python -m riskwarn.stream.auth rotate stream``); True if it changed (the next
        sign-in uses it)."""
        if self.cfg.password_file is None or not self.cfg.username:
            return False
        try:
            fresh = load_passwords(self.cfg.password_file).get(self.cfg.username)
        except (OSError, ValueError, TypeError) as exc:
            log.error("cannot re-read the MQTT password (%s)", error_kind(exc))
            return False
        if not fresh or fresh == self.password:
            return False
        self.password = fresh
        client.username_pw_set(self.cfg.username, fresh)
        return True

    def _sign_in_refused(self, client: mqtt.Client, rc: Any) -> None:
        """Wrong or missing credentials (network thread). The password is read again
        from its file first (rotated meanwhile). At the first sign-in, a refusal the file
        does not cure stops the consumer (a misconfiguration: one line, exit 2). After it
        has signed in once (a rotated password: the broker reloaded its accounts and
        closed the connection), it keeps trying with paho's backoff (1 s doubling to 10 s),
        re-reading the file each time: one log line per refused streak, the status's
        ``failing`` names it until a sign-in works. A password given in the environment
        (no file to re-read) cannot be cured by retrying: the ``ENV_PASSWORD_REFUSALS``-th
        refusal in a row stops the consumer (one line, exit 2) so that its supervisor shows
        it, where it retried for ever before."""
        text = refusal_text(
            self.cfg.host, self.cfg.port, self.cfg.username, rc, self.cfg.password_from
        )
        changed = self._reread_password(client)
        if not self.signed_in and not changed:  # no retry cures wrong credentials: stop
            self.refused = text
            self.counters.failing["broker sign-in"] = text
            log.error("%s; stopping", text)
            self.stopping.set()
            return
        self.refusals += 1
        if self.cfg.password_file is None and self.refusals >= ENV_PASSWORD_REFUSALS:
            # given in the environment: this process can never read the new password;
            # stop (exit 2) so that the supervisor's state shows it (a crash loop: every
            # restart with the same environment is refused at once), not retry in silence
            self.refused = (
                f"{text}; refused {self.refusals} times in a row after signing in: the "
                "password was given in the environment (RISKWARN_MQTT_PASSWORD), which a "
                "running consumer cannot read again (rotated?); stopping: restart it with "
                "the new password, or without RISKWARN_MQTT_PASSWORD to read the passwords file"
            )
            self.counters.failing["broker sign-in"] = self.refused
            log.error("%s", self.refused)
            self.stopping.set()
            return
        self._failed("broker sign-in", Exception(), f"{text}; retrying")
        if self.refusals == 1:
            if self.cfg.password_file is not None:
                then = f"re-reading the password from {self.cfg.password_file} at each try"
            else:
                then = (
                    "the password is not from a file (RISKWARN_MQTT_PASSWORD): stopping "
                    f"after {ENV_PASSWORD_REFUSALS} refusals in a row, restart with the new one"
                )
            log.error(
                "%s; retrying with backoff (1 s doubling to 10 s), %s; "
                "the broker keeps the session's readings meanwhile",
                text,
                then,
            )

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.counters.connected = False
        # after a refused sign-in it stops or retries: said once by _sign_in_refused
        if self.refused is None and not self.refusals:
            log.warning("disconnected from the broker (%s); reconnecting", rc)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Message(msg.topic, bytes(msg.payload), msg.mid, time.time()))

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        if self.cfg.metrics_path is not None:
            self.metrics = self.cfg.metrics_path.open("a", buffering=1)
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=30)
        self.client.loop_start()
        if self.model is not None:  # loads in the background: the rules run meanwhile
            self.model.maybe_load(sorted(self.known_sites))
        threading.Thread(target=self._publish_loop, name="publish", daemon=True).start()
        evaluator = threading.Thread(target=self._evaluate_loop, name="evaluate", daemon=True)
        evaluator.start()
        sender = None
        if self.cfg.delivery is not None:
            sender = threading.Thread(target=self._deliver_loop, name="delivery", daemon=True)
            sender.start()
        clean = False
        try:
            while not self.stopping.is_set():
                batch = self._drain()
                if batch:
                    self.process(batch)
                if self.model is not None:
                    self.model.maybe_load(sorted(self.known_sites))
                if time.monotonic() - self.register_read_at > self.cfg.register_reload_s:
                    self._read_register()
                self._write_status()
            clean = True  # no micro-batch left half counted (not so after Stopped)
        except Stopped as what:
            log.warning("stopped while the %s failed; the broker keeps what was not written", what)
        finally:
            self.stopping.set()
            evaluator.join(30)
            self.client.loop_stop()
            self.client.disconnect()
            self._write_status(running=False)
            try:  # stopped cleanly: every commit of the run is counted (ledger.close)
                if clean:
                    self.ledger.close()
            except OSError as exc:
                log.error("cannot close the stream's counts (%s)", describe(exc))
            if self.metrics is not None:
                self.metrics.close()
            self.store_lock.release()
            self.instance_lock.release()

    def stop(self) -> None:
        self.stopping.set()

    def settled(self) -> bool:
        """Everything handed to the evaluation thread is evaluated and published."""
        with self.lock:
            return not (
                self.unevaluated
                or self.evaluating
                or self.pending
                or self.state.backlog
                or self.replay_left
                or self.replay_sites
            )

    def _drain(self) -> list[Message]:
        out: list[Message] = []
        deadline = time.monotonic() + self.cfg.batch_s
        while len(out) < self.cfg.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.inbox.get(timeout=left))
            except queue.Empty:
                break
        return out

    def _failed(self, what: str, exc: BaseException, text: str | None = None) -> str:
        """Note that ``what`` fails (kept until it works again); the one-line description
        (``text``, else :func:`describe`'s)."""
        text = describe(exc) if text is None else text
        since = self.counters.failing.get(what, "").split(": ", 1)[0]
        if not since:
            since = "since " + datetime.now(UTC).isoformat(timespec="seconds")
        self.counters.failing[what] = f"{since}: {text}"
        return text

    def _recovered(self, what: str) -> None:
        if self.counters.failing.pop(what, None) is not None:
            log.warning("%s works again", what)

    def _retry(self, what: str, fn: Any, counter: str) -> Any:
        delay = 0.5
        while True:
            try:
                out = fn()
            except Exception as exc:  # the lake or store is unavailable: wait, retry
                setattr(self.counters, counter, getattr(self.counters, counter) + 1)
                text = self._failed(what, exc)
                log.error(
                    "%s failed: %s; nothing is acknowledged to the broker until it works "
                    "(the broker keeps the readings); retrying in %.1f s",
                    what,
                    text,
                    delay,
                )
                self._write_status()
                if self.stopping.wait(delay):
                    raise Stopped(what) from None
                delay = min(delay * 2, 10.0)
            else:
                self._recovered(what)
                return out

    def process(self, batch: list[Message]) -> None:
        """One micro-batch: validate, write durably, acknowledge, evaluate, publish."""
        now = datetime.now(UTC)
        mb = validate_guarded(  # a message whose validation raises: quarantined, acked
            self.cfg.mapping,
            batch,
            as_of=now,
            batch_id=f"mqtt:{now:%Y%m%dT%H%M%S.%f}",
            pseudonym_key=self.cfg.pseudonym_key,
            clock_skew_s=self.cfg.clock_skew_s,
            register=self.register,
        )
        self.seq += 1
        handing = len(mb.batch.accepted) > 0
        if handing:  # not settled while its readings are being written
            with self.lock:
                self.unevaluated += 1
        written: list[dict[str, int]] = []
        versions: dict[str, int] = {}  # the tables' versions after the writes (ledger)
        covered = dict(self.ledger.versions)  # every commit of the run up to them counted
        retries = self.counters.lake_retries
        for step in mb.writes:  # a later version of a record: after the earlier one
            # the quarantine rows the lake did not hold, over every try (a retry after a
            # failed table commit finds the first try's rows held): the rest of the
            # quarantined messages were stored before, counted duplicates
            fresh: list[int] = []
            got = self._retry(
                "lake write",
                lambda step=step, fresh=fresh: write_batch(
                    self.cfg.lake_dir,
                    step,
                    self.cfg.mapping.partition,
                    ids_carry_time=self.cfg.mapping.ids_carry_time,
                    run_id=self.run_id,
                    on_quarantine=fresh.append,
                    versions=versions,
                ),
                "lake_retries",
            )
            written.append({**got, "quarantine_new": sum(fresh)})
        # test hook: killed with the quarantine stored and not counted
        kill_point(KILL_AFTER_QUARANTINE, any(w["quarantine_new"] for w in written))
        if handing:
            # evaluated from what the lake stored, once it is stored: a version the lake
            # refused (reverts_correction) never reaches the rules or the model, whatever
            # the micro-batching (published once durable, as before)
            acc = stored_rows(mb)
            self.handoffs.put(Handoff(self.seq, acc, dict(mb.sites), dict(mb.sent_at)))
            if self.future_open:  # a reading quarantined in the future, accepted now
                self._resolve_future(set(acc["record_id"].astype(str)), mb.batch.batch_id)
        for step in mb.writes:
            if len(step.quarantine):
                self._note_future(step.quarantine)
        c = self.counters
        # what was stored, once: the same counts whatever the micro-batching
        stored = stored_counts(mb, written)
        if self.counters.lake_retries != retries:  # a try may have committed, then failed
            stored = self._stored_from_log(covered, len(batch), stored)
        c.accepted += stored["accepted"]
        c.corrections += stored["corrections"]
        c.quarantined += stored["quarantined"]
        c.duplicates += stored["duplicates"]
        c.written_new += stored["new"]
        c.received = c.accepted + c.duplicates + c.quarantined
        c.batches += 1
        self._save_counts(versions)  # before the acknowledgements (riskwarn.stream.ledger)
        done = time.time()
        for m in batch:  # durable: now the broker may forget them
            self.client.ack(m.mid, QOS)
        with self.lock:
            self.durable_seq = self.seq
        self.wake.set()  # the levels from these readings may be published now
        c.last_write_at = datetime.fromtimestamp(done, UTC).isoformat(timespec="seconds")
        if self.metrics is not None and mb.sent_at:
            self.metrics.write("".join(f"d {done - s:.4f}\n" for s in mb.sent_at.values()))

    def _stored_from_log(
        self, covered: dict[str, int], messages: int, answered: dict[str, int]
    ) -> dict[str, int]:
        """What a micro-batch whose write was retried stored, from the run's commits
        after the versions counted before it (the lake's log): a try that committed and
        then failed (a post-commit step on a full disk; the corrections' MERGE committed
        and the new rows' append failed) left rows the retry finds stored and answers
        ``unchanged``, which :func:`stored_counts` counted as duplicates. ``answered``
        if the log cannot be read (logged)."""
        from riskwarn import lake
        from riskwarn.lake.layout import QUARANTINE

        table = self.cfg.mapping.table
        try:
            rows = lake.run_commits(self.cfg.lake_dir, table, covered.get(table), self.run_id)
            quarantine = lake.run_commits(
                self.cfg.lake_dir, QUARANTINE, covered.get("quarantine"), self.run_id
            )
        except Exception as exc:
            log.error("cannot read the micro-batch's commits back (%s)", describe(exc))
            return answered
        new = sum(c["inserted"] for c in rows)
        corrections = sum(c["updated"] for c in rows)
        quarantined = sum(c["inserted"] for c in quarantine)
        got = {
            "accepted": new + corrections,
            "new": new,
            "corrections": corrections,
            "quarantined": quarantined,
            "duplicates": messages - new - corrections - quarantined,
        }
        if got != answered:
            log.warning(
                "a retried lake write had committed before it failed: counted from the "
                "lake's log (%d accepted, %d quarantined; its answers said %d and %d)",
                got["accepted"],
                got["quarantined"],
                answered["accepted"],
                answered["quarantined"],
            )
        return got

    def _save_counts(self, versions: dict[str, int]) -> None:
        """Write the durable counts with the versions the micro-batch's writes answered. A
        failed write (full disk) is logged and the next micro-batch's covers it: the
        ledger on disk stays a consistent older pair, whose uncounted commits the next
        start adds from the lake's log (only that time's duplicates are lost)."""
        c, t = self.counters, self.ledger.counts
        t.update(
            accepted=c.accepted,
            corrections=c.corrections,
            new_in_lake=c.written_new,
            quarantined=c.quarantined,
            duplicates=c.duplicates,
            resolved=c.resolved,
        )
        self.ledger.covered(versions)
        try:
            self.ledger.save()
        except OSError as exc:
            text = self._failed("counts", exc, error_kind(exc))
            log.error(
                "cannot write the stream's counts (%s); kept, written with a later batch", text
            )
        else:
            self._recovered("counts")

    # -- evaluation (own thread) --------------------------------------------------------

    def _evaluate_loop(self) -> None:
        """Add each validated micro-batch to the state and evaluate the sites it
        completed a step of, while the main loop writes the next ones; nothing here ever
        stops the consumer (an error is logged, the next micro-batch goes on)."""
        try:
            self._replay()
        except Exception as exc:
            with self.lock:  # not settled until the fallback's rounds are pending
                self.evaluating = True
            try:
                self._replay_failed(exc)
            finally:
                with self.lock:
                    self.evaluating = False
        while not self.stopping.is_set():
            got: list[Handoff] = []
            try:
                if not self.state.backlog:
                    got.append(self.handoffs.get(timeout=0.2))
                while True:
                    got.append(self.handoffs.get_nowait())
            except queue.Empty:
                pass
            if not got and not self.state.backlog:
                continue
            try:
                touched: set[str] = set()
                for h in got:
                    touched |= self._add(h)
                self._evaluate(touched)
            except Exception:
                log.exception("evaluating the sites failed; the next micro-batch goes on")
            finally:
                with self.lock:
                    self.unevaluated -= len(got)

    def _add(self, h: Handoff) -> set[str]:
        if self.register_seen != self.register_version:  # a new register: re-place sensors
            self.register_seen = self.register_version
            self.state.rebind(self.register)
        acc = h.accepted
        if self.model is not None:  # every quantity: the model reads rain, health, ...
            self.model.add(acc, h.sites)
        touched = self.state.add(acc, h.sites)
        self.added_seq = h.seq
        if touched and h.sent_at and self.metrics is not None:
            site_of = {sid: h.sites.get(sid) for sid in set(acc["sensor_id"])}
            t_ns = pd.to_datetime(acc["observed_at"], utc=True).dt.as_unit("ns").astype("int64")
            for rid, sid, t in zip(acc["record_id"], acc["sensor_id"], t_ns, strict=True):
                s = h.sent_at.get(str(rid))
                site = site_of.get(sid)
                if s is not None and site is not None:
                    log_ = self.sent_log.setdefault(site, deque(maxlen=5000))
                    log_.append((int(t), s))
        # a sensor not in the map yet (a new site, or a new sensor of a known site: before,
        # only a new site saved the map, so a new sensor of a known site was not in it)
        known, sensors = self.known_sites, self.state.sensors
        if touched and any(
            sid in sensors and known.get(sid) != sensors[sid].site_id
            for sid in set(acc["sensor_id"])
        ):
            self._save_sites()
        return touched

    def _evaluate(self, touched: set[str]) -> None:
        start = time.time()
        with self.lock:
            self.evaluating = True
        try:
            rounds = self.state.evaluate_within(self.state.due(touched), self.cfg.eval_budget_s)
            done = time.time()
            with self.lock:
                self.pending.extend((self.added_seq, levels, done) for levels in rounds)
            if self.replay_failure:  # also when no round: a site's last step may be done
                self._replay_caught_up({site for levels in rounds for site in levels})
        finally:
            with self.lock:
                self.evaluating = False
        if rounds:
            self.wake.set()
            if self.metrics is not None:  # evaluation cost, for bench/bench_stream.py
                n = sum(len(levels) for levels in rounds)
                self.metrics.write(f"e {len(rounds)} {n} {done - start:.4f}\n")

    def _publish_loop(self) -> None:
        """Publish evaluated levels in order, each step's changes in their own
        transaction, once the readings they were evaluated from are in the lake (own
        thread: a slow or unavailable store never holds up the durable writes); a round
        that could not be published waits for the next try. Nothing here ends the
        thread: an unexpected error (a full disk, a bug) is logged by its kind alone (no
        site data) and the round is tried again after a growing pause (up to 30 s); a
        store error is tried again every second. Later rounds wait behind a failing one
        (levels are published in order): see :meth:`_publish_failed` for how a round
        that keeps failing is reported."""
        delay = 1.0
        while not self.stopping.is_set():
            self.wake.wait(1.0)
            self.wake.clear()
            while not self.stopping.is_set():
                if not self._save_cursor():  # the last round's outcome first
                    self.stopping.wait(delay)
                    delay = min(delay * 2, 30.0)
                    break
                with self.lock:
                    if not self.pending or self.pending[0][0] > self.durable_seq:
                        break
                    _, levels, evaluated = self.pending[0]
                try:
                    published = self._publish(levels, evaluated)
                except Stopped:
                    return
                except Exception as exc:  # outside the store transaction: a bug, a full disk
                    self._publish_failed(exc, levels, error_kind(exc), delay)
                    self.stopping.wait(delay)
                    delay = min(delay * 2, 30.0)
                    break
                delay = 1.0
                if not published:  # the store failed (_publish kept the error)
                    assert self.publish_error is not None
                    self._publish_failed(self.publish_error, levels, None, 1.0)
                    self.stopping.wait(1.0)
                    break
                self.publish_failures = 0
                self._recovered("publishing")
                self._handled(levels)
                with self.lock:
                    self.pending.pop(0)
                self._save_cursor()  # if it fails, the next round waits for it (above)
                if self.metrics is not None:  # each site-step handed over (bench bursts)
                    steps = " ".join(f"{s}@{lv.observed_to.value}" for s, lv in levels.items())
                    self.metrics.write(f"r {time.time():.4f} {steps}\n")

    def _publish_failed(
        self, exc: BaseException, levels: dict[str, SiteLevel], kind: str | None, wait: float
    ) -> None:
        """Count a failed attempt at the round at the head of the queue and report it.

        ``kind`` None: a store error, described by the driver's first line if it is a
        connection error (``OperationalError``/``InterfaceError``: no row data in it), else
        by its class alone, like any other error (a message may quote a site's data or a
        recipient's address; no traceback is logged for the same reason). The status's
        ``failing`` entry shows it from the first failure; after
        :data:`PUBLISH_STUCK_AFTER` consecutive failures of the same round it says the
        round is stuck, with the count and the rounds waiting behind it, and the log
        says it once with the code locations of the error, then only at every doubling of
        the count (the status has the count meanwhile). Publishing keeps trying: a store
        outage ends by itself, and after a restart the replay would meet the same round
        first (exiting would only add a restart loop and stop the lake writes too)."""
        self.counters.store_retries += 1
        self.publish_failures += 1
        n = self.publish_failures
        if kind is None:
            kind = describe(exc) if _connection_error(exc) else error_kind(exc)
        with self.lock:
            waiting = max(len(self.pending) - 1, 0)
        if n < PUBLISH_STUCK_AFTER:
            self._failed("publishing", exc, kind)
            log.error(
                "publishing %d evaluated level(s) failed (%s); kept, trying again in %.0f s",
                len(levels),
                kind,
                wait,
            )
            return
        self._failed(
            "publishing",
            exc,
            f"stuck: one round failed {n} times in a row, last {kind}; "
            f"{waiting} later round(s) wait behind it",
        )
        if n & (n - 1) == 0 or n == PUBLISH_STUCK_AFTER:  # at N, then at 2^k
            log.error(
                "publishing is stuck: the oldest evaluated round failed %d times in a row "
                "(%s, at %s); %d later round(s) wait behind it; still trying every %.0f s "
                "(`riskwarn stream --status` shows the count)",
                n,
                kind,
                _where(exc),
                waiting,
                wait,
            )

    def _publish(self, levels: dict[str, SiteLevel], evaluated: float = 0.0) -> bool:
        changes = self.publisher.changes(levels)
        if not changes and not self.publisher.due_refresh(levels):
            self.publisher.judged(levels)  # the sites' newest judged steps (Publisher.stale)
            return True  # nothing changed and no held warning is near its end
        # the deliveries of the changes are logged in the transaction that publishes
        # them: a crash never serves a change without its messages (after a restart the
        # served level is read back, so the change would not be seen again)
        rows = self._delivery_rows(changes, levels)
        crash_point(changes)
        begin = time.time()
        self.publisher.model_label = self.model.label if self.model is not None else None
        try:
            # the run's origin is the readings' event time (the steps' ends), not now
            self.publisher.publish(levels, changes, deliveries=rows)
        except Exception as exc:  # store unavailable: keep the levels, retry next loop
            self.publish_error = exc  # logged and counted by the publishing loop
            return False
        self._recovered("publishing")
        if self.publisher.last_status == "superseded":
            log.info(
                "evaluated steps older than the served run (replayed or late readings): "
                "stored as a superseded run, not served over it"
            )
        done = time.time()
        if self.metrics is not None:  # waited after evaluation, publish transaction
            self.metrics.write(f"p {begin - evaluated:.4f} {done - begin:.4f}\n")
        self.counters.published_runs += 1
        self.counters.level_changes += len(changes)
        # the store's count: a row of a warning no longer in force is logged expired,
        # one logged already (a restart publishing a change again) is not logged twice
        logged = self.publisher.store.last_deliveries
        self.counters.deliveries_logged += logged["pending"]
        self.counters.deliveries_logged_expired += logged["expired"]
        for ch in changes:
            log.info("site %s: %s (%d -> %d)", ch.site_id, ch.change, ch.from_rank, ch.to_rank)
            if self.metrics is not None:
                at_ns = ch.at.value
                sent = [s for t, s in list(self.sent_log.get(ch.site_id, ())) if t >= at_ns]
                if sent:
                    first = min(sent)
                    self.metrics.write(
                        f"w {done - first:.4f} {ch.site_id} {ch.to_rank} {ch.at.isoformat()} "
                        f"{first:.4f}\n"
                    )
        return True

    def _delivery_rows(
        self, changes: list[LevelChange], levels: dict[str, SiteLevel]
    ) -> list[dict[str, Any]]:
        if self.cfg.delivery is None:
            return []
        from riskwarn.stream.delivery import delivery_rows

        return [
            row
            for ch in changes
            for row in delivery_rows(self.cfg.delivery, ch, levels[ch.site_id].reason_items)
        ]

    def _deliver_loop(self) -> None:
        from riskwarn.stream.delivery import deliver_due, escalate, failed_at_last_contact

        store = Store(self.cfg.store_url)
        last_escalation = 0.0
        while not self.stopping.wait(1.0):
            try:
                done = deliver_due(store, self.cfg.delivery)
                self.counters.deliveries_expired_queued += done["expired"]
                self.counters.deliveries_superseded += done["superseded"]
                self.counters.deliveries_unpaged += done["unpaged"]
                self.counters.deliveries_cancelled += done["cancelled"]
                self.counters.deliveries_maybe_sent += done["maybe_sent"]
                if time.monotonic() - last_escalation > 10:
                    escalate(store, self.cfg.delivery)
                    failed = store.failed_deliveries()  # not reached: `stream --status`
                    self.counters.deliveries_failed = len(failed)
                    self.counters.deliveries_failed_red = int((failed["to_level"] == "red").sum())
                    self.counters.deliveries_failed_last = failed_at_last_contact(
                        self.cfg.delivery, failed
                    )
                    last_escalation = time.monotonic()
            except Exception as exc:  # store down: try again next second
                log.error("delivery loop: %s; trying again", self._failed("delivery", exc))
            else:
                self._recovered("delivery")

    def _write_status(self, running: bool = True) -> None:
        c = self.counters
        warned, warned_expired = self.publisher.warned_sites(datetime.now(UTC))
        status = {
            "pid": os.getpid(),
            "running": running,
            "source": self.cfg.mapping.name,
            "broker": f"{self.cfg.host}:{self.cfg.port}",
            "connected": c.connected,
            # received ... resolved: the home's totals since counts_since (what was
            # stored, once, across restarts: riskwarn.stream.ledger); started_at: this
            # consumer's start
            "counts_since": self.ledger.since,
            # {"since", "tables"}: commits the counts may miss (the lake's log lost them)
            "counts_incomplete": self.ledger.incomplete,
            "started_at": self.started_at,
            "received": c.received,
            "accepted": c.accepted,
            "quarantined": c.quarantined,
            "resolved": c.resolved,
            # stored: new records + corrections (later versions of a stored record);
            # duplicates: exact repeats; received = accepted + duplicates + quarantined
            "corrections": c.corrections,
            "duplicates": c.duplicates,
            "new_in_lake": c.written_new,
            "batches": c.batches,
            "queued": self.inbox.qsize(),
            # sites whose evaluation waits (time budget) + evaluated rounds not yet published
            "backlog": len(self.state.backlog)
            + len(self.pending)
            + self.unevaluated
            + self.replay_left
            + len(self.replay_sites),
            "sensors": len(self.state),
            "sensors_forgotten": self.state.forgotten,  # silent past the rules' history
            # sites never published: not an id the store can hold (Publisher.usable)
            "sites_refused": len(self.publisher.refused),
            # in force now (as the dashboard judges them); expired ones carried apart
            "warned_sites": warned,
            "warned_sites_expired": warned_expired,
            "level_changes": c.level_changes,
            # logged in force; expired ones (never sent) apart: when logged, while queued
            "deliveries_logged": c.deliveries_logged,
            "deliveries_logged_expired": c.deliveries_logged_expired,
            "deliveries_expired_queued": c.deliveries_expired_queued,
            "deliveries_superseded": c.deliveries_superseded,
            "deliveries_unpaged": c.deliveries_unpaged,
            # pending rows not sent: the review panel dismissed their warning, or set
            # it below their level (status cancelled)
            "deliveries_cancelled": c.deliveries_cancelled,
            # recorded not sent after a claim whose outcome was never recorded
            "deliveries_maybe_sent": c.deliveries_maybe_sent,
            # recorded failed in the store now: the contact was not reached after every
            # retry (escalated to the next contact, tried again while in force)
            "deliveries_failed": c.deliveries_failed,
            "deliveries_failed_red": c.deliveries_failed_red,
            "deliveries_failed_last": c.deliveries_failed_last,
            "lake_retries": c.lake_retries,
            "store_retries": c.store_retries,
            "publish_failures": self.publish_failures,  # in a row, at the oldest round
            "last_write_at": c.last_write_at,
            "failing": dict(c.failing),
            "recovered": dict(c.recovered),
            **(
                self.model.status()
                if self.model is not None
                else {"model": "off: no model registry configured (sensor rules only)"}
            ),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        path = self.cfg.status_path
        with self.status_lock:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(status))
                tmp.replace(path)
            except OSError as exc:  # a full disk must not stop the consumer: the log says it
                if not self.status_failing:
                    log.error("cannot write the status file %s: %s", path, describe(exc))
                self.status_failing = True
            else:
                self.status_failing = False
