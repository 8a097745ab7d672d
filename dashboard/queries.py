"""Every read the dashboard makes, in one place, cached.

The serving store is read through :class:`riskwarn.store.Store` only (no SQL here), the
lake through ``riskwarn.lake`` (:mod:`.lake_reads`), MLflow through
:class:`mlflow.MlflowClient` (:mod:`.model_reads`). Data is cached with
``st.cache_data(ttl=...)`` keyed on the store URL / lake folder, clients with
``st.cache_resource``. The one write, a review decision, goes through the store API and
clears the cached warning reads.
"""

from __future__ import annotations

import logging
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
    unit_names,
)
from dashboard.model_reads import (
    artifact_bytes,
    champion,
    mlflow_client,
    promotion,
    run_json,
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
    unit_names,
    artifact_bytes,
    champion,
    mlflow_client,
    promotion,
    run_json,
)
LOG = logging.getLogger(__name__)
TTL_S = 60
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
    return build(s.deliveries(), s.acknowledgements())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def published_run(url: str, domain: str) -> dict[str, Any] | None:
    """The published run of ``domain`` (dict) or None."""
    return store(url).published_run(domain)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def published_forecasts(url: str, domain: str) -> pd.DataFrame:
    """Published forecast rows of ``domain``."""
    return store(url).published_forecasts(domain)


RUN_TTL_S = 3600  # a run's rows never change once published: cache them by run id


@st.cache_data(ttl=TTL_S, show_spinner=False)
def top_forecasts(url: str, domain: str, max_rank: int = 1500) -> pd.DataFrame:
    """The ``max_rank`` riskiest rows of the published run of ``domain`` (for the map).

    Same rows as the head of ``Store.published_forecasts`` (ordered by rank). The
    published run is looked up on every refresh; its rows are cached by run id.
    """
    run = published_run(url, domain)
    if run is None:
        return store(url).top_forecasts((), max_rank)  # no run: the empty frame
    return run_top_forecasts(url, str(run["run_id"]), max_rank)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=32)
def run_top_forecasts(url: str, run_id: str, max_rank: int) -> pd.DataFrame:
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


@st.cache_data(ttl=TTL_S, show_spinner=False)
def forecast_history(url: str, domain: str, weeks: int = 6, max_rank: int = 200) -> pd.DataFrame:
    """The ``max_rank`` riskiest places of each published/superseded run of the last ``weeks``.

    Trends only look at the top of each week, so this reads the documented ``forecasts``
    table with a rank filter (a few thousand rows) instead of every cell of every run
    (``Store.forecast_history``, hundreds of thousands at city scale). The runs are looked
    up on every refresh; their rows are cached by run id (:func:`runs_top_forecasts`).
    """
    run = published_run(url, domain)
    since = pd.Timestamp(run["origin"]) - pd.Timedelta(weeks=weeks) if run is not None else None
    run_ids = tuple(store(url).run_ids(domain, since=since))
    return runs_top_forecasts(url, run_ids, max_rank)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=32)
def runs_top_forecasts(url: str, run_ids: tuple[str, ...], max_rank: int) -> pd.DataFrame:
    """``HISTORY_COLUMNS`` of the rows with ``rank <= max_rank`` of ``run_ids``, by origin
    and rank (read by run id, the first column of the forecasts' primary key)."""
    frame = store(url).top_forecasts(run_ids, max_rank, HISTORY_COLUMNS)
    frame["origin"] = pd.to_datetime(frame["origin"], utc=True)
    return frame.reset_index(drop=True)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def place_history(url: str, domain: str, unit_id: str) -> pd.DataFrame:
    """Past published forecasts of one place: ``origin``, ``probability``, ``score``, ``rank``
    and where it is (``lon``, ``lat``, ``cell_x``, ``cell_y``)."""
    frame = store(url).forecast_history(domain, unit_id=unit_id)
    return frame.loc[
        :, ["origin", "probability", "score", "rank", "lon", "lat", "cell_x", "cell_y"]
    ]


REPLAY_AFTER = pd.Timedelta(days=14)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def clock(url: str) -> dict[str, Any]:
    """The time the dashboard judges validity at: ``now`` (UTC), ``origin`` (the newest
    published forecast origin) and ``replay``.

    A live installation uses the wall clock. When the newest published origin is more
    than :data:`REPLAY_AFTER` old the data is a replay (the demo's simulated city, a
    restored backup): ``now`` is then that origin, so the served week's warnings are in
    force and older ones expired, and the "data as of" line says it is a replay.
    """
    origins = [
        pd.Timestamp(run["origin"])
        for run in (published_run(url, d) for d in DOMAINS_ALL)
        if run is not None
    ]
    newest = max(origins) if origins else None
    wall = pd.Timestamp.now(tz="UTC")
    replay = newest is not None and wall - newest > REPLAY_AFTER
    return {"now": newest if replay else wall, "origin": newest, "replay": replay}


def active(frame: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """The warnings of ``frame`` still in force at ``now`` (``valid_to`` after it)."""
    if frame.empty:
        return frame
    return frame.loc[pd.to_datetime(frame["valid_to"], utc=True) > now].reset_index(drop=True)


def warnings(
    url: str,
    domain: str | None = None,
    county: str | None = None,
    state: str | None = None,
    include_expired: bool = False,
) -> pd.DataFrame:
    """Warnings of published runs in force now (:func:`clock`), optionally filtered;
    expired ones only with ``include_expired`` (they are never counted or queued)."""
    frame = all_warnings(url, domain=domain, county=county, state=state)
    return frame if include_expired else active(frame, clock(url)["now"])


@st.cache_data(ttl=TTL_S, show_spinner=False)
def all_warnings(
    url: str, domain: str | None = None, county: str | None = None, state: str | None = None
) -> pd.DataFrame:
    """Warnings of published runs, expired or not, optionally filtered."""
    return store(url).warnings(domain=domain, county=county, state=state)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def warning_reviews(url: str, warning_id: str | None = None) -> pd.DataFrame:
    """The append-only review trail (of one warning, or all)."""
    return store(url).warning_reviews(warning_id)


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
        all_warnings.clear()
        warning_reviews.clear()
        overview_map.clear()


def acknowledge_alarm(url: str, warning_id: str, delivery_key: str, user: str) -> int:
    """A duty officer acknowledges a delivered warning change (its escalation stops);
    recorded with the user and the store's time, audited. Refreshes the alarm log."""
    try:
        return store(url).acknowledge(warning_id, user, delivery_key=delivery_key, via="dashboard")
    finally:
        alarm_log.clear()


# ----------------------------------------------------------------------------- derived


def warnings_version(frame: pd.DataFrame) -> str:
    """A cheap fingerprint of a warnings frame: changes with any new warning or review."""
    if frame.empty:
        return "0"
    versions = int(frame["version"].sum()) if "version" in frame else 0
    return f"{len(frame)}:{versions}:{frame['warning_id'].max()}"


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def hotspot_labels(
    url: str, domain: str, run_id: str | None, top_n: int = 20, weeks: int = 4
) -> pd.DataFrame:
    """Emerging / intensifying / persistent / diminishing label of each recent hotspot
    (cached by the published ``run_id``: the labels change only with a new run)."""
    from dashboard import trends

    return trends.classify_hotspots(forecast_history(url, domain), top_n=top_n, weeks=weeks)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def overview_map(
    url: str,
    lake_dir: str,
    domain: str,
    lang: str,
    crs: str,
    cell_size_m: float,
    basemap_url: str | None,
    run_id: str | None,
    warnings_key: str,
    width_px: int = 640,
    height_px: int = 560,
) -> Any:
    """The overview's map of ``domain`` (a :class:`maps.DeckSpec`), or None without data.

    Every warning in force of the published run as a square in its level's colour over
    townships filled by their highest level, with county and township names and a scale
    bar (:mod:`dashboard.maps`). Built once per language, published run
    (``run_id``), state of the warnings (``warnings_key``, :func:`warnings_version`) and
    size, not on every data refresh; a review also clears it.
    """
    from dashboard import maps, views
    from dashboard.i18n import fmt_pct

    w = views.effective_level(warnings(url, domain=domain))
    if run_id is None and w.empty:
        return None
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
    )
    return maps.DeckSpec(deck)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=16)
def site_table(
    url: str, lake_dir: str, domain: str, lang: str, run_id: str | None, warnings_key: str
) -> pd.DataFrame:
    """Every monitored site with its level in force and why (model, sensor rule or fault).

    ``unit_id``, ``name``, ``place``, ``county_code``, ``township_code``, ``lon``, ``lat``,
    ``level`` ("none" without a warning), ``level_label``, ``detail`` (why, in words),
    ``why`` (its kind; "stream" where the real-time stream raised it above the model),
    ``probability``, ``hazard_type``, ``people_threatened``; red first.
    Cached by the published run and the state of its warnings, like the maps.
    """
    from dashboard import views
    from dashboard.i18n import LEVEL_RANK, level_label, place_name, t

    sites = hazard_sites(lake_dir).rename(columns={"record_id": "unit_id"})
    forecasts = published_forecasts(url, domain)
    if sites.empty and forecasts.empty:
        return pd.DataFrame()
    if sites.empty:
        sites = forecasts[["unit_id", "lon", "lat"]].assign(name=None, hazard_type=None)
    sites = sites.assign(unit_id=sites["unit_id"].astype(str))
    fc = forecasts.set_index("unit_id") if not forecasts.empty else pd.DataFrame()
    w = views.effective_level(warnings(url, domain=domain))
    by_unit = w.drop_duplicates("unit_id").set_index("unit_id") if not w.empty else pd.DataFrame()
    sw = views.effective_level(warnings(url, domain=STREAM_DOMAIN))
    live = sw.drop_duplicates("unit_id").set_index("unit_id") if not sw.empty else pd.DataFrame()
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
        )
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
    lake_dir: str,
    domain: str,
    lang: str,
    basemap_url: str | None,
    run_id: str | None,
    warnings_key: str,
    width_px: int = 520,
    height_px: int = 560,
) -> Any:
    """The map of every monitored site (a :class:`maps.DeckSpec`), or None without sites:
    dots by level over townships filled by their highest site level, names, scale bar."""
    from dashboard import maps

    table = site_table(url, lake_dir, domain, lang, run_id, warnings_key)
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
