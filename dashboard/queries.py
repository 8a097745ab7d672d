"""Every read the dashboard makes, in one place, cached.

The serving store is read through :class:`riskwarn.store.Store`, the lake through
``riskwarn.lake`` (``read_table``, or ``connect`` for SQL over large tables), MLflow through :class:`mlflow.MlflowClient`. Data is cached with
``st.cache_data(ttl=...)`` keyed on the store URL / lake folder, clients with
``st.cache_resource``. The one write, a review decision, goes through the store API and
clears the cached warning reads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from riskwarn import domains
from riskwarn.settings import Settings, load_settings

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


@st.cache_resource
def store(url: str) -> Any:
    """One :class:`Store` per URL, shared by sessions (the engine pools connections)."""
    from riskwarn.store import Store

    s = Store(url)
    s.upgrade()
    return s


@st.cache_resource
def mlflow_client(tracking_uri: str) -> Any:
    """One MLflow client per tracking URI."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


# ----------------------------------------------------------------------------- store


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
        from riskwarn.store.models import Forecast

        return pd.DataFrame(columns=[c.name for c in Forecast.__table__.c])
    return run_top_forecasts(url, str(run["run_id"]), max_rank)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=32)
def run_top_forecasts(url: str, run_id: str, max_rank: int) -> pd.DataFrame:
    """Forecast rows of one run with ``rank <= max_rank``, by rank (the documented
    ``forecasts`` table; its primary key starts with ``run_id``, so only that run is read)."""
    import sqlalchemy as sa

    from riskwarn.store.models import Forecast

    f = Forecast.__table__
    stmt = (
        sa.select(f)
        .where(f.c.run_id == run_id, f.c.rank <= max_rank)
        .order_by(f.c.rank, f.c.unit_id)
    )
    with store(url).engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in f.c])


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
    import sqlalchemy as sa

    from riskwarn.store.models import ForecastRun

    r = ForecastRun.__table__
    run = published_run(url, domain)
    runs = sa.select(r.c.run_id).where(
        r.c.domain == domain, r.c.status.in_(("published", "superseded"))
    )
    if run is not None:
        runs = runs.where(r.c.origin >= pd.Timestamp(run["origin"]) - pd.Timedelta(weeks=weeks))
    with store(url).engine.connect() as conn:
        run_ids = tuple(sorted(str(row[0]) for row in conn.execute(runs)))
    return runs_top_forecasts(url, run_ids, max_rank)


@st.cache_data(ttl=RUN_TTL_S, show_spinner=False, max_entries=32)
def runs_top_forecasts(url: str, run_ids: tuple[str, ...], max_rank: int) -> pd.DataFrame:
    """``HISTORY_COLUMNS`` of the rows with ``rank <= max_rank`` of ``run_ids``, by origin
    and rank (read by run id, the first column of the forecasts' primary key)."""
    import sqlalchemy as sa

    from riskwarn.store.models import Forecast

    f = Forecast.__table__
    rows: list[Any] = []
    if run_ids:
        stmt = (
            sa.select(*(f.c[c] for c in HISTORY_COLUMNS))
            .where(f.c.run_id.in_(run_ids), f.c.rank <= max_rank)
            .order_by(f.c.origin, f.c.rank)
        )
        with store(url).engine.connect() as conn:
            rows = list(conn.execute(stmt).mappings().all())
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    frame["origin"] = pd.to_datetime(frame["origin"], utc=True)
    return frame


@st.cache_data(ttl=TTL_S, show_spinner=False)
def place_history(url: str, domain: str, unit_id: str) -> pd.DataFrame:
    """Past published forecasts of one place: ``origin``, ``probability``, ``score``, ``rank``
    and where it is (``lon``, ``lat``, ``cell_x``, ``cell_y``)."""
    frame = store(url).forecast_history(domain, unit_id=unit_id)
    return frame.loc[
        :, ["origin", "probability", "score", "rank", "lon", "lat", "cell_x", "cell_y"]
    ]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def warnings(
    url: str, domain: str | None = None, county: str | None = None, state: str | None = None
) -> pd.DataFrame:
    """Warnings of published runs, optionally filtered."""
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
        warnings.clear()
        warning_reviews.clear()
        overview_map.clear()


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
    ``why`` (its kind), ``probability``, ``hazard_type``, ``people_threatened``; red first.
    Cached by the published run and the state of its warnings, like the maps.
    """
    from dashboard import views
    from dashboard.i18n import level_label

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
        rows.append(
            {
                "unit_id": s.unit_id,
                "name": s.name if isinstance(s.name, str) and s.name else s.unit_id,
                "place": views.place_words(county, township, names, lang),
                "county_code": county,
                "township_code": township,
                "lon": s.lon,
                "lat": s.lat,
                "level": level,
                "level_label": level_label(level, lang),
                "detail": views.site_why_words(kind, facts, lang),
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


# ----------------------------------------------------------------------------- lake


def _read_lake_table(lake_dir: Path, table: str) -> pd.DataFrame:
    from riskwarn.lake import read_table

    frame = read_table(lake_dir, table)
    return pd.DataFrame() if frame.empty else frame


@st.cache_data(ttl=3600, show_spinner=False)
def admin_units(lake_dir: str) -> pd.DataFrame:
    """County/township/community units with names and boundaries (empty without a lake)."""
    frame = _read_lake_table(Path(lake_dir), "admin_units")
    cols = ["record_id", "name", "level", "parent_id", "geometry_wkt"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    return frame.loc[:, cols].drop_duplicates("record_id").reset_index(drop=True)


@st.cache_data(ttl=3600, show_spinner=False)
def unit_names(lake_dir: str) -> dict[str, str]:
    """Admin code -> name for counties and townships."""
    units = admin_units(lake_dir)
    return dict(zip(units["record_id"].astype(str), units["name"].astype(str), strict=True))


@st.cache_data(ttl=3600, show_spinner=False)
def boundary_paths(lake_dir: str) -> pd.DataFrame:
    """County and township boundary lines (``name``, ``level``, ``path``) for the maps."""
    from dashboard.maps import boundary_paths as paths

    return pd.concat(
        [
            paths(area_shapes(lake_dir, "township"), "township"),
            paths(area_shapes(lake_dir, "county"), "county"),
        ],
        ignore_index=True,
    )


@st.cache_data(ttl=3600, show_spinner=False)
def area_shapes(lake_dir: str, level: str) -> pd.DataFrame:
    """Outlines and label points of the counties or townships, for the maps."""
    from dashboard.maps import area_shapes as build

    return build(admin_units(lake_dir), level)


@st.cache_data(ttl=3600, show_spinner=False)
def hazard_sites(lake_dir: str) -> pd.DataFrame:
    """Monitored hazard sites (no personal data: names are place names)."""
    frame = _read_lake_table(Path(lake_dir), "hazard_sites")
    cols = ["record_id", "name", "hazard_type", "lon", "lat", "admin_code", "people_threatened"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    return frame.loc[:, [c for c in cols if c in frame.columns]].drop_duplicates("record_id")


@st.cache_data(ttl=3600, show_spinner=False)
def site_sensors(lake_dir: str, site_id: str) -> pd.DataFrame:
    """Sensors of one site."""
    frame = _read_lake_table(Path(lake_dir), "sensors")
    if frame.empty:
        return pd.DataFrame(columns=["record_id", "sensor_type", "site_id"])
    return frame[frame["site_id"] == site_id].loc[:, ["record_id", "sensor_type", "site_id"]]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def site_readings(lake_dir: str, sensor_ids: tuple[str, ...], days: int = 90) -> pd.DataFrame:
    """Readings of ``sensor_ids`` over the last ``days`` days of data (DuckDB, filtered)."""
    cols = ["sensor_id", "observed_at", "interval_s", "quantity", "value", "quality"]
    if not sensor_ids:
        return pd.DataFrame(columns=cols)
    from riskwarn import lake

    con = lake.connect(Path(lake_dir))
    try:
        views = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        if "sensor_readings" not in views:
            return pd.DataFrame(columns=cols)
        marks = ", ".join("?" for _ in sensor_ids)
        frame = con.execute(
            f"SELECT {', '.join(cols)} FROM sensor_readings WHERE sensor_id IN ({marks}) "
            "AND observed_at >= (SELECT max(observed_at) FROM sensor_readings "
            f"WHERE sensor_id IN ({marks})) - INTERVAL {int(days)} DAY "
            "ORDER BY sensor_id, observed_at",
            [*sensor_ids, *sensor_ids],
        ).df()
    finally:
        con.close()
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame.loc[:, cols]


# ----------------------------------------------------------------------------- MLflow


@st.cache_data(ttl=300, show_spinner=False)
def champion(tracking_uri: str, domain: str) -> dict[str, Any] | None:
    """The champion of ``domain``: version, run id, metrics, params and artifact paths."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).exists():
        return None  # no registry yet; reading must not create one
    client = mlflow_client(tracking_uri)
    name = f"riskwarn-{domain}"
    try:
        mv = client.get_model_version_by_alias(name, "champion")
    except Exception as exc:  # no such model or alias: the registry says so with an error
        LOG.info("no champion for %s: %s", name, exc)
        return None
    run = client.get_run(mv.run_id)
    artifacts = _list_artifacts(client, mv.run_id)
    return {
        "name": name,
        "version": mv.version,
        "run_id": mv.run_id,
        "experiment_id": run.info.experiment_id,
        "registered_at": pd.Timestamp(int(mv.creation_timestamp), unit="ms", tz="UTC"),
        "trained_at": pd.Timestamp(int(run.info.start_time), unit="ms", tz="UTC"),
        "gate_tag": (mv.tags or {}).get("gate"),
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "artifacts": artifacts,
    }


@st.cache_data(ttl=300, show_spinner=False)
def run_json(tracking_uri: str, run_id: str, path: str) -> dict[str, Any] | None:
    """A JSON artifact of a run (``gate.json``, ``metrics.json``), None if it has none."""
    import json

    try:
        raw = artifact_bytes(tracking_uri, run_id, path)
    except Exception as exc:  # MLflow raises its own errors for a missing artifact
        LOG.info("no %s in run %s: %s", path, run_id, exc)
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None


@st.cache_data(ttl=TTL_S, show_spinner=False)
def promotion(url: str, model: str, version: str) -> dict[str, Any] | None:
    """The newest audit entry that pointed ``champion`` of ``model`` at ``version``
    (``actor``, ``at``, ``details`` with ``reason`` and ``forced_over_gate``), or None."""
    import sqlalchemy as sa

    from riskwarn.store.models import AuditLog

    a = AuditLog.__table__
    stmt = (
        sa.select(a.c.actor, a.c.at, a.c.action, a.c.details)
        .where(
            a.c.object_type == "model",
            a.c.object_id == model,
            a.c.action.in_(("promote", "rollback")),
        )
        .order_by(a.c.id.desc())
    )
    with store(url).engine.connect() as conn:
        for row in conn.execute(stmt).mappings():
            details = row["details"] or {}
            if str(details.get("version")) == str(version):
                return {"actor": row["actor"], "at": row["at"], "details": details}
    return None


def _list_artifacts(client: Any, run_id: str, path: str | None = None, depth: int = 2) -> list[str]:
    out: list[str] = []
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            if depth > 0:
                out.extend(_list_artifacts(client, run_id, item.path, depth - 1))
        else:
            out.append(item.path)
    return out


@st.cache_data(ttl=3600, show_spinner=False)
def artifact_bytes(tracking_uri: str, run_id: str, path: str) -> bytes:
    """Content of one run artifact (plots, small tables)."""
    import tempfile

    client = mlflow_client(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return Path(local).read_bytes()
