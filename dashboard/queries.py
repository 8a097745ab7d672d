"""Every read the dashboard makes, in one place, cached.

The serving store is read through :class:`riskwarn.store.Store` only (no SQL here), the
lake through ``riskwarn.lake`` (:mod:`.lake_reads`), MLflow through
:class:`mlflow.MlflowClient` (:mod:`.model_reads`). Data is cached with
``st.cache_data(ttl=...)`` keyed on the store URL / lake folder, clients with
``st.cache_resource``. The one write, a review decision, goes through the store API and
clears the cached warning reads.

Each page render first reads one :class:`Snapshot` of what is published
(:func:`snapshot`, one statement, uncached); every read of forecasts and warnings takes
it and is cached by the snapshot's run ids, so one page never shows two runs of a
domain (docs/dashboard.md, "One snapshot per page").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.lake_reads import (
    admin_units,
    area_shapes,
    boundary_paths,
    data_times,
    hazard_sites,
    site_readings,
    site_sensors,
    table_sources,
    table_version,
    unit_names,
)
from dashboard.model_reads import (
    artifact_bytes,
    champion,
    mlflow_client,
    mlflow_ui_down,
    promotion,
    run_json,
    served_champion,
    serving_model,
    version_gate,
    version_metrics,
    version_reliability,
)
from dashboard.store_handle import store
from riskwarn import domains
from riskwarn.settings import Settings, load_settings

# the real-time stream's own warnings: a site it raised above the model's level shows the
# stream's level and reasons on the site map and list
from riskwarn.stream.publish import DOMAIN as STREAM_DOMAIN

# the lake's and MLflow's reads live in lake_reads / model_reads; pages read them here
REEXPORTED = (
    store,
    admin_units,
    area_shapes,
    boundary_paths,
    data_times,
    hazard_sites,
    site_readings,
    site_sensors,
    table_sources,
    unit_names,
    artifact_bytes,
    champion,
    mlflow_client,
    mlflow_ui_down,
    promotion,
    run_json,
    served_champion,
    serving_model,
    version_gate,
    version_metrics,
    version_reliability,
)
LOG = logging.getLogger(__name__)
TTL_S = 60
# a warning's events written by publications, not by reviewers (riskwarn.store.publishing)
WARNING_EVENTS = ("withdraw_warning", "warning_raised_again", "warning_content_changed")
# the domain lists the pages show, looked up in the registry (riskwarn.domains)
DOMAINS_HOTSPOT = domains.names("hotspot", scored_by=domains.DAILY_SCORING_DAG)
DOMAINS_ALL = tuple(domains.DOMAINS)
CASE_DOMAIN = domains.names("case")[0]  # the dispute-case page's domain


# The site page shows the hourly nowcast (what duty staff act on) when it has published,
# else the daily site scores.
SITE_DOMAINS = tuple(sorted(domains.names("site"), key=lambda d: domains.get(d).step_hours))


def settings() -> Settings:
    """The dashboard's settings (``RISKWARN_*`` environment; cheap, read on every run)."""
    return load_settings()


# ----------------------------------------------------------------------------- store


@st.cache_data(ttl=TTL_S, show_spinner=False)
def alarm_log(url: str) -> pd.DataFrame:
    """The real-time alarms delivered and their acknowledgements (issue 16), newest first."""
    from riskwarn.stream.alarm_log import alarm_log as build

    s = store(url)
    return build(s.deliveries(), s.acknowledgements(), final=s.final_failures())


# ---------------------------------------------------------------- the page's snapshot


@dataclass(frozen=True)
class ServedRun:
    """One domain's published run in a :class:`Snapshot`.

    ``served_at`` is when ``publications`` last pointed at it: it changes when the same
    run id is published again (a re-run of its interval), so reads keyed by
    :attr:`key` never serve the rows of an earlier publication of that run.
    """

    domain: str
    run_id: str
    served_at: str
    row: tuple[tuple[str, Any], ...]  # the forecast_runs row

    @property
    def key(self) -> tuple[str, str]:
        return (self.run_id, self.served_at)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.row)


@dataclass(frozen=True)
class Snapshot:
    """What was published when this page render began, every domain read together
    (``Store.serving_snapshot``: one statement). Every read of the page's forecasts and
    warnings is keyed by its runs, so a publish during the render cannot mix two runs
    on one page; the next render takes a new snapshot."""

    url: str
    served: tuple[ServedRun, ...]

    def run(self, domain: str) -> dict[str, Any] | None:
        """The published run of ``domain`` (its ``forecast_runs`` row) or None."""
        for r in self.served:
            if r.domain == domain:
                return r.as_dict()
        return None

    def keys(self, domain: str | None = None) -> tuple[tuple[str, str], ...]:
        """``(run_id, served_at)`` of the runs of ``domain`` (all domains: None)."""
        return tuple(r.key for r in self.served if domain is None or r.domain == domain)


def snapshot(url: str) -> Snapshot:
    """Read what is published now, once per page render (never cached: one small
    statement over ``publications``; everything keyed by it is)."""
    rows = store(url).serving_snapshot()
    served = tuple(
        ServedRun(
            domain=domain,
            run_id=str(row["run_id"]),
            served_at=pd.Timestamp(row["served_at"]).isoformat(),
            # a JSON value (the run's ``unscored``) as its text: the snapshot stays hashable
            row=tuple(
                (k, json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v)
                for k, v in row.items()
                if k != "served_at"
            ),
        )
        for domain, row in sorted(rows.items())
    )
    return Snapshot(url=url, served=served)


def published_run(snap: Snapshot, domain: str) -> dict[str, Any] | None:
    """The published run of ``domain`` in the snapshot (dict) or None."""
    return snap.run(domain)


def week_shown(snap: Snapshot) -> pd.Timestamp | None:
    """The week the overview shows ("Week of"): the newest origin of the snapshot's
    published hotspot runs (:data:`DOMAINS_HOTSPOT`), None without one. What the page's
    counts and its maps' squares and markers call stale is judged against it
    (``views.split_stale``)."""
    origins = [pd.Timestamp(r["origin"]) for d in DOMAINS_HOTSPOT if (r := snap.run(d))]
    return max(origins) if origins else None


RUN_TTL_S = 3600  # a run's rows never change once published: cache them by run id


def published_forecasts(snap: Snapshot, domain: str) -> pd.DataFrame:
    """Forecast rows of the snapshot's run of ``domain`` (empty without one)."""
    key = snap.keys(domain)
    run_id, served_at = key[0] if key else ("", "")
    return run_forecasts(snap.url, run_id, served_at)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def run_forecasts(url: str, run_id: str, served_at: str) -> pd.DataFrame:
    """Every forecast row of one publication of a run (``served_at`` is part of the key)."""
    return store(url).run_forecasts(run_id)


def top_forecasts(snap: Snapshot, domain: str, max_rank: int = 1500) -> pd.DataFrame:
    """The ``max_rank`` riskiest rows of the snapshot's run of ``domain`` (for the map).

    Same rows as the head of :func:`published_forecasts` (ordered by rank), cached by run.
    """
    key = snap.keys(domain)
    if not key:
        return store(snap.url).top_forecasts((), max_rank)  # no run: the empty frame
    return run_top_forecasts(snap.url, *key[0], max_rank)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=32)
def run_top_forecasts(url: str, run_id: str, served_at: str, max_rank: int) -> pd.DataFrame:
    """Forecast rows of one run with ``rank <= max_rank``, by rank (``Store.top_forecasts``)."""
    return store(url).top_forecasts((run_id,), max_rank)


HISTORY_COLUMNS = [
    "unit_id",
    "origin",
    "score",
    "probability",
    "rank",
    "county_code",
    "township_code",
]


def forecast_history(
    snap: Snapshot, domain: str, weeks: int = 6, max_rank: int = 200
) -> pd.DataFrame:
    """The ``max_rank`` riskiest places of each published/superseded run of the ``weeks``
    up to the snapshot's run of ``domain`` (none after it, none without it).

    Trends only look at the top of each week, so this reads the documented ``forecasts``
    table with a rank filter (a few thousand rows) instead of every cell of every run
    (``Store.forecast_history``, hundreds of thousands at city scale). The runs are looked
    up once a minute; their rows are cached by run id (:func:`runs_top_forecasts`).
    """
    run = snap.run(domain)
    if run is None:
        return runs_top_forecasts(snap.url, (), max_rank)
    run_ids = history_run_ids(snap.url, domain, pd.Timestamp(run["origin"]).isoformat(), weeks)
    return runs_top_forecasts(snap.url, run_ids, max_rank)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def history_run_ids(url: str, domain: str, until: str, weeks: int) -> tuple[str, ...]:
    """Ids of the published/superseded runs of ``domain`` with an origin in the ``weeks``
    up to ``until`` (ISO time, the snapshot's origin)."""
    end = pd.Timestamp(until)
    return tuple(store(url).run_ids(domain, since=end - pd.Timedelta(weeks=weeks), until=end))


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=32)
def runs_top_forecasts(url: str, run_ids: tuple[str, ...], max_rank: int) -> pd.DataFrame:
    """``HISTORY_COLUMNS`` of the rows with ``rank <= max_rank`` of ``run_ids``, by origin
    and rank (read by run id, the first column of the forecasts' primary key)."""
    frame = store(url).top_forecasts(run_ids, max_rank, HISTORY_COLUMNS)
    frame["origin"] = pd.to_datetime(frame["origin"], utc=True)
    return frame.reset_index(drop=True)


def place_history(snap: Snapshot, domain: str, unit_id: str) -> pd.DataFrame:
    """Past published forecasts of one place up to the snapshot's run of ``domain``:
    ``origin``, ``probability``, ``score``, ``rank`` and where it is (``lon``, ``lat``,
    ``cell_x``, ``cell_y``)."""
    run = snap.run(domain)
    until = pd.Timestamp(run["origin"]).isoformat() if run is not None else None
    return run_place_history(snap.url, domain, unit_id, until)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def run_place_history(url: str, domain: str, unit_id: str, until: str | None) -> pd.DataFrame:
    """:func:`place_history` of origins up to ``until`` (ISO time; None: all)."""
    end = pd.Timestamp(until) if until is not None else None
    frame = store(url).forecast_history(domain, unit_id=unit_id, until=end)
    return frame.loc[
        :, ["origin", "probability", "score", "rank", "lon", "lat", "cell_x", "cell_y"]
    ]


REPLAY_AFTER = pd.Timedelta(domains.REPLAY_AFTER)
STALE_FALLBACK = pd.Timedelta(hours=24)  # a domain outside the registry (the stream's)


def clock(snap: Snapshot) -> dict[str, Any]:
    """The times the dashboard judges validity at: ``now`` (UTC: the wall clock, or in a
    replay the newest origin of any domain), ``origin`` (the newest forecast origin
    published in the snapshot), ``replay`` and ``at`` (domain -> the time that domain's
    warnings are judged at, :func:`judged_at`).

    A live installation uses the wall clock. When the newest published origin is more
    than :data:`REPLAY_AFTER` old the data is a replay (the demo's simulated city, a
    restored backup) and the "data as of" line says so. A replay judges each domain at
    its own published origin: the demo mixes real 2023 geohazard data with a simulated
    2024 city, and judging the geohazard run at the city's origin expired every one of
    its warnings (docs/dashboard.md, "When a warning is in force").
    """
    origin_of = {r.domain: pd.Timestamp(r.as_dict()["origin"]) for r in snap.served}
    origins = [origin_of[d] for d in DOMAINS_ALL if d in origin_of]
    newest = max(origins) if origins else None
    wall = pd.Timestamp.now(tz="UTC")
    replay = newest is not None and wall - newest > REPLAY_AFTER
    at = {d: (o if replay else wall) for d, o in origin_of.items()}
    return {"now": newest if replay else wall, "origin": newest, "replay": replay, "at": at}


def judged_at(snap: Snapshot, domain: str) -> pd.Timestamp:
    """When ``domain``'s warnings are judged (in force or expired): the wall clock on a
    live installation, the domain's own published origin in a replay (:func:`clock`)."""
    c = clock(snap)
    return c["at"].get(domain, c["now"])


def staleness(snap: Snapshot, domain: str) -> pd.Timedelta | None:
    """How old ``domain``'s published run is when it no longer covers now: on a live
    installation, a run whose horizon has passed (the wall clock is after its origin plus
    the domain's horizon) is stale and this returns its age; else (fresh, a replay, no
    run) None. A page then says how old its data is instead of "below threshold"."""
    run = snap.run(domain)
    c = clock(snap)
    if run is None or c["replay"]:
        return None
    horizon = (
        pd.Timedelta(hours=domains.get(domain).horizon_hours)
        if domain in domains.DOMAINS
        else STALE_FALLBACK
    )
    age = pd.Timestamp(c["now"]) - pd.Timestamp(run["origin"])
    return age if age > horizon else None


def active(frame: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """The warnings of ``frame`` still in force at ``now`` (``valid_to`` after it)."""
    if frame.empty:
        return frame
    return frame.loc[pd.to_datetime(frame["valid_to"], utc=True) > now].reset_index(drop=True)


def in_force(snap: Snapshot, frame: pd.DataFrame) -> pd.DataFrame:
    """The warnings of ``frame`` in force, each judged at its domain's time
    (:func:`judged_at`): the one rule every page and the review queue count by."""
    if frame.empty:
        return frame
    c = clock(snap)
    now = frame["domain"].map(lambda d: c["at"].get(d, c["now"]))
    valid_to = pd.to_datetime(frame["valid_to"], utc=True)
    return frame.loc[valid_to > pd.to_datetime(now, utc=True)].reset_index(drop=True)


def warnings(
    snap: Snapshot,
    domain: str | None = None,
    county: str | None = None,
    state: str | None = None,
    include_expired: bool = False,
    withdrawn: bool = False,
) -> pd.DataFrame:
    """Warnings of the snapshot's runs in force (:func:`in_force`), optionally filtered;
    expired ones only with ``include_expired`` (they are never counted or queued).
    Withdrawn warnings (a re-publication of their run no longer raised them) are never in
    force: ``withdrawn=True`` reads only those, for the review page's history."""
    frame = all_warnings(snap, domain=domain, county=county, state=state, withdrawn=withdrawn)
    return frame if include_expired else in_force(snap, frame)


def all_warnings(
    snap: Snapshot,
    domain: str | None = None,
    county: str | None = None,
    state: str | None = None,
    withdrawn: bool = False,
) -> pd.DataFrame:
    """Warnings of the snapshot's runs (of ``domain``), expired or not, optionally filtered;
    withdrawn ones (only) with ``withdrawn``."""
    return run_warnings(
        snap.url, snap.keys(domain), county=county, state=state, withdrawn=withdrawn
    )


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)  # a key per set of runs
def run_warnings(
    url: str,
    runs: tuple[tuple[str, str], ...],
    county: str | None = None,
    state: str | None = None,
    withdrawn: bool = False,
) -> pd.DataFrame:
    """Warnings of the runs ``runs`` (``(run_id, served_at)``), read by run id: those in
    force, or with ``withdrawn`` only those a re-publication of their run withdrew.

    Cached briefly, not for long like forecasts: a warning's review state changes after
    publication (a review here clears this cache at once; another user's within
    :data:`TTL_S`)."""
    return store(url).warnings(
        county=county, state=state, run_ids=[r for r, _ in runs], withdrawn=withdrawn
    )


def earlier_decisions(snap: Snapshot, domain: str | None = None) -> pd.DataFrame:
    """For each warning of the snapshot's runs (of ``domain``), the latest decision the
    panel took on an earlier run's warning of the same place while that one was in force
    (``Store.earlier_decisions``: action, reviewer, reason, when, ``level_rose``); only
    warnings with one. Shown, never applied: a reviewer takes the decision again."""
    return run_earlier_decisions(snap.url, snap.keys(domain))


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)  # a key per set of runs
def run_earlier_decisions(url: str, runs: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """:func:`earlier_decisions` of the runs ``runs`` (``(run_id, served_at)``); cached
    briefly like the warnings (a decision here clears it)."""
    return store(url).earlier_decisions([r for r, _ in runs])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def warning_reviews(url: str, warning_id: str | None = None) -> pd.DataFrame:
    """The append-only review trail (of one warning, or all)."""
    return store(url).warning_reviews(warning_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def warning_events(url: str, warning_id: str) -> list[dict[str, Any]]:
    """A warning's withdrawals and re-raisings by publications (audit log), newest first."""
    return store(url).audit_entries("warning", warning_id, WARNING_EVENTS)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def ingest_batches(url: str) -> pd.DataFrame:
    """Every ingest batch report."""
    return store(url).ingest_batches()


def get_warning(url: str, warning_id: str) -> dict[str, Any]:
    """The current state of one warning (never cached: the review form needs its version)."""
    return store(url).get_warning(warning_id)


def review_warning(
    url: str,
    warning_id: str,
    *,
    action: str,
    reason: str,
    reviewer: str,
    expected_version: int,
    level: str | None = None,
) -> dict[str, Any]:
    """Record a decision (raises ``StaleWarningError`` / ``ValueError``); refreshes caches."""
    try:
        return store(url).review_warning(
            warning_id,
            action,
            reason,
            reviewer,
            expected_version,
            level=level,
        )
    finally:
        run_warnings.clear()
        run_earlier_decisions.clear()
        warning_reviews.clear()
        warning_events.clear()
        _overview_map.clear()


def acknowledge_alarm(url: str, warning_id: str, delivery_key: str, user: str) -> int:
    """A duty officer acknowledges a delivered warning change (its escalation stops);
    recorded with the user and the store's time, audited. Refreshes the alarm log.

    The same function as ``riskwarn stream ack --key`` (``Store.acknowledge_delivered``):
    KeyError for a warning or change the delivery log does not have,
    ``AlreadyAcknowledgedError`` (naming the first) for a change acknowledged already,
    ``NeverSentError`` for a change whose every delivery expired unsent; nothing is
    recorded then."""
    try:
        ((ack_id, _),) = store(url).acknowledge_delivered(
            warning_id, user, delivery_key=delivery_key, via="dashboard"
        )
        return ack_id
    finally:
        alarm_log.clear()


# ----------------------------------------------------------------------------- derived


def warnings_version(frame: pd.DataFrame) -> str:
    """A cheap fingerprint of a warnings frame: changes with any new warning or review."""
    if frame.empty:
        return "0"
    versions = int(frame["version"].sum()) if "version" in frame else 0
    return f"{len(frame)}:{versions}:{frame['warning_id'].max()}"


def hotspot_labels(snap: Snapshot, domain: str, top_n: int = 20, weeks: int = 4) -> pd.DataFrame:
    """Emerging / intensifying / persistent / diminishing label of each recent hotspot
    up to the snapshot's run of ``domain`` (cached by that run: they change only with a
    new run). A hotspot reaches :func:`hotspot_floor`; with one week published there
    are no labels (:func:`hotspot_weeks`)."""
    return run_hotspot_labels(snap.url, snap, domain, snap.keys(domain), top_n, weeks)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def run_hotspot_labels(
    url: str,
    _snap: Snapshot,
    domain: str,
    runs: tuple[tuple[str, str], ...],
    top_n: int,
    weeks: int,
) -> pd.DataFrame:
    """:func:`hotspot_labels`, keyed by the run (``runs``), not by the whole snapshot."""
    from dashboard import trends

    return trends.classify_hotspots(
        forecast_history(_snap, domain), top_n=top_n, weeks=weeks, floor=hotspot_floor(domain)
    )


def hotspot_floor(domain: str) -> float | None:
    """The probability a place must reach to count as a hotspot in a week: the domain's
    blue raise threshold (the lowest warning level; docs/dashboard.md, "How hotspots
    changed"). None for a domain outside the registry."""
    return domains.get(domain).levels.raise_at[0] if domain in domains.DOMAINS else None


def hotspot_weeks(snap: Snapshot, domain: str, weeks: int = 4) -> int:
    """How many weekly runs :func:`hotspot_labels` compares (fewer than 2: no labels)."""
    return len(hotspot_origins(snap, domain, weeks))


def hotspot_origins(snap: Snapshot, domain: str, weeks: int = 4) -> list[pd.Timestamp]:
    """The origins :func:`hotspot_labels` compares, oldest first: the run's, then those a
    week, two, three before it (``trends.weekly_origins``: daily runs of a week count once)."""
    from dashboard import trends

    return trends.weekly_origins(forecast_history(snap, domain), weeks=weeks)


def run_versions(snap: Snapshot, domain: str) -> dict[pd.Timestamp, str]:
    """Origin (UTC) -> model version of the published/superseded runs of ``domain`` up to
    the snapshot's run (the runs :func:`forecast_history` reads; one run per origin:
    the run id is the origin). A run without a recorded version is left out."""
    run = snap.run(domain)
    if run is None:
        return {}
    return history_versions(snap.url, domain, pd.Timestamp(run["origin"]).isoformat())


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)
def history_versions(url: str, domain: str, until: str) -> dict[pd.Timestamp, str]:
    """:func:`run_versions` up to ``until`` (ISO time)."""
    runs = store(url).runs(domain)
    if runs.empty:
        return {}
    runs = runs[runs["status"].isin(["published", "superseded"]) & runs["model_version"].notna()]
    end = pd.Timestamp(until)
    out: dict[pd.Timestamp, str] = {}
    for origin, version in zip(runs["origin"], runs["model_version"], strict=True):
        at = pd.Timestamp(origin)
        at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
        if at <= end:
            out[at] = str(version)
    return out


def observed_weeks(snap: Snapshot, domain: str) -> pd.DataFrame:
    """The weeks observed before the snapshot's run of ``domain`` (``week_start``,
    ``week_end``, ``events``, ``units``; ``Store.observed_weeks``), empty without a run
    or when its publish step wrote none."""
    run = snap.run(domain)
    if run is None:
        return pd.DataFrame(columns=["week_start", "week_end", "events", "units"])
    return run_observed_weeks(snap.url, domain, pd.Timestamp(run["origin"]).isoformat())


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)
def run_observed_weeks(url: str, domain: str, origin: str) -> pd.DataFrame:
    """``Store.observed_weeks`` of one origin (the publish step may write it after the
    run is served: cached a minute, not an hour)."""
    return store(url).observed_weeks(domain, pd.Timestamp(origin).to_pydatetime())


COMMUNITY_COLUMNS = [
    "rank",
    "admin_code",
    "township_code",
    "county_code",
    "score",
    "expected",
    "n_28d",
    "n_364d",
]


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)
def community_ranking(url: str, origin: str) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """The weekly disputes ranking by community published for ``origin`` (ISO time; the
    disputes run's origin): its run (method, version, when written; None when none was
    published) and every community by rank (``Store.community_ranking``). Published by
    the scoring DAG beside the disputes run, maybe after it is served: cached a minute."""
    run, rows = store(url).community_ranking(pd.Timestamp(origin).to_pydatetime())
    return run, rows.reindex(columns=COMMUNITY_COLUMNS)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def latest_community_origin(url: str) -> pd.Timestamp | None:
    """The newest origin with a published community ranking (None: none ever)."""
    runs = store(url).community_runs()
    return None if runs.empty else pd.Timestamp(runs["origin"].iloc[0])


def expected_units(snap: Snapshot, domain: str) -> float | None:
    """The snapshot's run of ``domain``: the sum of its probabilities (units expected to
    see an event within its horizon; ``Store.expected_units``), None without a run."""
    key = snap.keys(domain)
    return run_expected_units(snap.url, *key[0]) if key else None


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def run_expected_units(url: str, run_id: str, served_at: str) -> float | None:
    return store(url).expected_units(run_id)


def run_key(snap: Snapshot, *domains_: str) -> str:
    """The snapshot's runs of ``domains_`` as one cache key (``run_id@served_at``)."""
    return "|".join(f"{r}@{at}" for d in domains_ for r, at in snap.keys(d)) or "-"


def overview_map(
    url: str,
    _snap: Snapshot,
    lake_dir: str,
    domain: str,
    lang: str,
    crs: str,
    cell_size_m: float,
    basemap_url: str | None,
    runs: str,
    warnings_key: str,
    width_px: int = 640,
    height_px: int = 560,
    places_key: str = "-",
    tz: str = "UTC",
) -> Any:
    """:func:`_overview_map`, also keyed on the version of the lake's admin units (whose
    names and outlines it draws: a corrected name shows at once). ``places_key``
    (:func:`places_key`): the state of the warned sites and cases it draws."""
    return _overview_map(
        url,
        _snap,
        lake_dir,
        domain,
        lang,
        crs,
        cell_size_m,
        basemap_url,
        runs,
        warnings_key,
        table_version(lake_dir, "admin_units"),
        width_px,
        height_px,
        places_key,
        tz,
    )


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def _overview_map(
    url: str,
    _snap: Snapshot,
    lake_dir: str,
    domain: str,
    lang: str,
    crs: str,
    cell_size_m: float,
    basemap_url: str | None,
    runs: str,
    warnings_key: str,
    units_version: int | None,
    width_px: int = 640,
    height_px: int = 560,
    places_key: str = "-",
    tz: str = "UTC",
) -> Any:
    """The overview's map of ``domain`` (a :class:`maps.DeckSpec`), or None without data.

    Every warning in force of the snapshot's run as a square in its level's colour over
    townships filled by their highest level, with county and township names and a scale
    bar (:mod:`dashboard.maps`). Built once per language, published run (``runs``,
    :func:`run_key`), state of the warnings (``warnings_key``, :func:`warnings_version`)
    and size, not on every data refresh; a review also clears it. ``_snap`` (not part of
    the key) is the page's snapshot, whose runs ``runs`` names; ``units_version`` (the
    admin units' lake version) is only part of the key. Over the cells, the warned sites
    and (on the disputes map) the warned dispute cases as markers (:func:`overview_places`),
    keyed by ``places_key``.
    """
    from dashboard import maps, views
    from dashboard.i18n import fmt_pct

    w = views.effective_level(warnings(_snap, domain=domain))
    if _snap.run(domain) is None and w.empty:
        return None
    # a warning that ended before the week shown is not this week's (the page's counts)
    w = views.split_stale(w, week_shown(_snap))[0]
    w = w.assign(level=w["effective_level"]) if not w.empty else w.assign(level=None)
    names = unit_names(lake_dir)
    counties, townships = area_shapes(lake_dir, "county"), area_shapes(lake_dir, "township")
    by_township = maps.levels_by_area(w, "township_code")
    squares = maps.warned_squares(
        w,
        names,
        lang,
        cell_size_m=cell_size_m,
        crs=crs,
        fmt_probability=lambda p: fmt_pct(p, lang),
    )
    deck = maps.risk_deck(
        maps.area_fills(townships, by_township, names, lang),
        squares,
        boundary_paths(lake_dir),
        maps.area_labels(counties, townships, by_township, names, lang),
        lang=lang,
        width_px=width_px,
        height_px=height_px,
        cell_size_m=cell_size_m,
        tooltip_html="<b>{place}</b><br/>{level_label}<br/>{detail}",
        basemap_url=basemap_url,
        places=overview_places(_snap, lake_dir, domain, lang, crs, tz, townships, names),
    )
    return maps.DeckSpec(deck)


def site_domain(snap: Snapshot) -> str:
    """The site domain the pages show: the first of :data:`SITE_DOMAINS` with a run in
    ``snap`` (else the last, whose page says there is no data)."""
    return next((d for d in SITE_DOMAINS if snap.run(d)), SITE_DOMAINS[-1])


def draws_cases(domain: str) -> bool:
    """Whether the overview's map of hotspot ``domain`` draws the warned dispute cases: the
    map of the hotspots counted from the cases' own table (disputes)."""
    return domains.get(domain).event_table == domains.get(CASE_DOMAIN).event_table


def places_key(snap: Snapshot) -> str:
    """The state of the warned sites and cases the overview's maps draw (a cache key):
    the snapshot's site, stream and case runs, the versions of their warnings and the
    week shown (:func:`week_shown`: which of them are stale)."""
    site = site_domain(snap)
    parts = [run_key(snap, site, STREAM_DOMAIN, CASE_DOMAIN), str(week_shown(snap))]
    parts += [
        warnings_version(warnings(snap, domain=d)) for d in (site, STREAM_DOMAIN, CASE_DOMAIN)
    ]
    return "|".join(parts)


def overview_places(
    snap: Snapshot,
    lake_dir: str,
    domain: str,
    lang: str,
    crs: str,
    tz: str,
    townships: pd.DataFrame,
    names: Mapping[str, str],
) -> pd.DataFrame:
    """The markers the overview's map of ``domain`` draws over its cells
    (:mod:`dashboard.map_marks`): every site with a warning in force, at the level it is
    served at now (:func:`site_table`, as on the geohazard page), and on the disputes map
    (:func:`draws_cases`) the warned dispute cases by area, never by their points. A
    warning that ended before the week shown (:func:`week_shown`) is stale there and
    draws no marker, as the page's KPIs count it not (``views.split_stale``)."""
    from dashboard import map_marks, views

    site = site_domain(snap)
    week = week_shown(snap)
    key = warnings_version(warnings(snap, domain=site))
    key += "|" + warnings_version(warnings(snap, domain=STREAM_DOMAIN))
    runs = run_key(snap, site, STREAM_DOMAIN)
    stale = staleness(snap, site) is not None
    table = site_table(snap.url, snap, lake_dir, site, lang, runs, key, tz, stale, week)
    frames = [map_marks.site_marks(table, lang)]
    if draws_cases(domain):
        cases = views.effective_level(warnings(snap, domain=CASE_DOMAIN))
        cases = views.split_stale(cases, week)[0]
        fc = published_forecasts(snap, CASE_DOMAIN)
        frames.append(map_marks.case_marks(cases, fc, townships, names, lang, crs=crs))
    return map_marks.place_marks(*frames)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def site_table(
    url: str,
    _snap: Snapshot,
    lake_dir: str,
    domain: str,
    lang: str,
    runs: str,
    warnings_key: str,
    tz: str = "UTC",
    stale: bool = False,
    week_start: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Every monitored site with its level in force and why (model, sensor rule or fault).

    ``unit_id``, ``name``, ``place``, ``county_code``, ``township_code``, ``lon``, ``lat``,
    ``level`` ("none" without a warning), ``level_label``, ``detail`` (why, in words),
    ``why`` (its kind; "stream" where the real-time stream raised it above the model),
    ``probability``, ``threshold`` and ``threshold_level`` (the model's own threshold of
    the level it set, from the warning's evidence; None where another source set the
    level or an older warning did not record it), ``hazard_type``, ``people_threatened``;
    red first.
    Cached by the snapshot's runs of ``domain`` and of the stream (``runs``,
    :func:`run_key`) and the state of their warnings, like the maps.

    A site without a warning in force is "below threshold" only when the served run
    scored it and raised nothing; a site whose warning of that run expired says when
    ("expired"), every quiet site of a ``stale`` run (:func:`staleness`) says the run is
    out of date ("stale"), and a site the run did not score says so ("not_scored").
    With ``week_start`` (the overview's :func:`week_shown`), a warning (model or stream)
    that ended before that week is not in force here (``views.split_stale``).
    """
    from dashboard import views
    from dashboard.i18n import LEVEL_RANK, fmt_datetime, level_label, place_name, t

    sites = hazard_sites(lake_dir).rename(columns={"record_id": "unit_id"})
    forecasts = published_forecasts(_snap, domain)
    if sites.empty and forecasts.empty:
        return pd.DataFrame()
    if sites.empty:
        sites = forecasts[["unit_id", "lon", "lat"]].assign(name=None, hazard_type=None)
    sites = sites.assign(unit_id=sites["unit_id"].astype(str))
    fc = forecasts.set_index("unit_id") if not forecasts.empty else pd.DataFrame()
    w = views.split_stale(views.effective_level(warnings(_snap, domain=domain)), week_start)[0]
    by_unit = w.drop_duplicates("unit_id").set_index("unit_id") if not w.empty else pd.DataFrame()
    sw = views.effective_level(warnings(_snap, domain=STREAM_DOMAIN))
    sw = views.split_stale(sw, week_start)[0]
    live = sw.drop_duplicates("unit_id").set_index("unit_id") if not sw.empty else pd.DataFrame()
    every = all_warnings(_snap, domain=domain)
    ended = (
        pd.to_datetime(every["valid_to"], utc=True).groupby(every["unit_id"].astype(str)).max()
        if not every.empty
        else pd.Series(dtype="datetime64[ns, UTC]")
    )
    origin = (_snap.run(domain) or {}).get("origin")
    hold = domains.get(domain).levels.hold_at if domain in domains.DOMAINS else (1.0,) * 4
    names = unit_names(lake_dir)
    rows = []
    for s in sites.itertuples(index=False):
        hit = by_unit.loc[s.unit_id] if s.unit_id in by_unit.index else None
        f = fc.loc[s.unit_id] if s.unit_id in fc.index else None
        county = (
            hit["county_code"] if hit is not None else (f["county_code"] if f is not None else None)
        )
        township = (
            hit["township_code"]
            if hit is not None
            else (f["township_code"] if f is not None else getattr(s, "admin_code", None))
        )
        level = str(hit["effective_level"]) if hit is not None else "none"
        prob = (
            hit["probability"] if hit is not None else (f["probability"] if f is not None else None)
        )
        kind, facts = views.site_why(
            str(hit["level"]) if hit is not None else None,
            prob,
            hit["evidence"] if hit is not None else None,
            hold,
            hit.get("reviewed_level") if hit is not None else None,
            hit.get("reasons") if hit is not None else None,
        )
        if kind == "none":  # nothing in force: below threshold only if the run said so
            if s.unit_id in ended.index:
                kind, facts = "expired", {"at": fmt_datetime(ended[s.unit_id], lang, tz)}
            elif stale:
                kind, facts = "stale", {"at": fmt_datetime(origin, lang, tz)}
            elif f is None:
                kind, facts = "not_scored", {}
        detail = views.site_why_words(kind, facts, lang)
        streamed = live.loc[s.unit_id] if s.unit_id in live.index else None
        if streamed is not None and LEVEL_RANK.get(str(streamed["effective_level"]), 0) > (
            LEVEL_RANK.get(level, 0)
        ):  # the stream raised the site above the model's level: its level and reasons
            level, kind = str(streamed["effective_level"]), "stream"
            sep = "；" if lang == "zh" else "; "
            said = sep.join(views.reason_lines(streamed["reasons"], lang)) or "—"
            detail = t("why_stream", lang, reasons=said)
        rows.append(
            {
                "unit_id": s.unit_id,
                "name": place_name(s.name, lang)
                if isinstance(s.name, str) and s.name
                else s.unit_id,
                "place": views.place_words(county, township, names, lang),
                "county_code": county,
                "township_code": township,
                "lon": s.lon,
                "lat": s.lat,
                "level": level,
                "level_label": level_label(level, lang),
                "detail": detail,
                "why": kind,
                "probability": prob,
                # the model's own threshold of the level it set (None otherwise)
                "threshold": facts.get("threshold") if kind == "model" else None,
                "threshold_level": facts.get("level") if kind == "model" else None,
                "hazard_type": getattr(s, "hazard_type", None),
                "people_threatened": getattr(s, "people_threatened", None),
            }
        )
    out = pd.DataFrame(rows)
    rank = out["level"].map({"red": 0, "orange": 1, "yellow": 2, "blue": 3}).fillna(9)
    return (
        out.assign(_r=rank).sort_values(["_r", "unit_id"]).drop(columns="_r").reset_index(drop=True)
    )


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def site_map(
    url: str,
    _snap: Snapshot,
    lake_dir: str,
    domain: str,
    lang: str,
    basemap_url: str | None,
    runs: str,
    warnings_key: str,
    width_px: int = 520,
    height_px: int = 560,
    tz: str = "UTC",
    stale: bool = False,
) -> Any:
    """The map of every monitored site (a :class:`maps.DeckSpec`), or None without sites:
    dots by level over townships filled by their highest site level, names, scale bar."""
    from dashboard import maps

    table = site_table(url, _snap, lake_dir, domain, lang, runs, warnings_key, tz, stale)
    if table.empty:
        return None
    names = unit_names(lake_dir)
    counties, townships = area_shapes(lake_dir, "county"), area_shapes(lake_dir, "township")
    warned = table[table["level"] != "none"]
    by_township = maps.levels_by_area(warned, "township_code")
    labels = maps.area_labels(counties, townships, by_township, names, lang)
    deck = maps.risk_deck(
        maps.area_fills(townships, by_township, names, lang),
        maps.warned_squares(
            warned.iloc[0:0], names, lang, cell_size_m=1, crs="EPSG:4326", fmt_probability=str
        ),
        boundary_paths(lake_dir),
        labels,
        lang=lang,
        width_px=width_px,
        height_px=height_px,
        cell_size_m=1,
        tooltip_html="<b>{place}</b><br/>{level_label}<br/>{detail}",
        basemap_url=basemap_url,
        sites=maps.site_points(table.assign(place=table["name"] + " · " + table["place"])),
    )
    return maps.DeckSpec(deck)
