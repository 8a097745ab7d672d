"""What the dashboard reads from the lake, through :mod:`riskwarn.lake` only (no SQL):
admin units and their shapes, hazard sites, sensors and readings, and how fresh the data
is. Cached with ``st.cache_data`` keyed on the lake folder and, for the tables read
whole, the table's Delta version (:func:`table_version`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from riskwarn import lake


def _read_lake_table(lake_dir: Path, table: str, version: int | None = None) -> pd.DataFrame:
    frame = lake.read_table(lake_dir, table, version=version)
    return pd.DataFrame() if frame.empty else frame


def table_version(lake_dir: str, table: str) -> int | None:
    """The lake table's current Delta version (None: no table): part of the key of every
    cached read of it, so a commit (an ingest, a correction of a name) is read at once and
    an unchanged table stays cached. Reads the table's log only."""
    return lake.table_version(Path(lake_dir), table)


def table_sources(lake_dir: str, table: str) -> list[str]:
    """The sources in a lake table (sorted; [] without the table)."""
    return _table_sources(lake_dir, table, table_version(lake_dir, table))


@st.cache_data(ttl=3600, show_spinner=False, max_entries=16)
def _table_sources(lake_dir: str, table: str, version: int | None) -> list[str]:
    if version is None:
        return []
    return lake.sources(Path(lake_dir), table, version=version)  # from the Delta log


def admin_units(lake_dir: str) -> pd.DataFrame:
    """County/township/community units with names and boundaries (empty without a lake)."""
    return _admin_units(lake_dir, table_version(lake_dir, "admin_units"))


def unit_names(lake_dir: str) -> dict[str, str]:
    """Admin code -> name for counties and townships."""
    return _unit_names(lake_dir, table_version(lake_dir, "admin_units"))


def boundary_paths(lake_dir: str) -> pd.DataFrame:
    """County and township boundary lines (``name``, ``level``, ``path``) for the maps."""
    return _boundary_paths(lake_dir, table_version(lake_dir, "admin_units"))


def area_shapes(lake_dir: str, level: str) -> pd.DataFrame:
    """Outlines and label points of the counties or townships, for the maps."""
    return _area_shapes(lake_dir, level, table_version(lake_dir, "admin_units"))


def hazard_sites(lake_dir: str) -> pd.DataFrame:
    """Monitored hazard sites (no personal data: names are place names)."""
    return _hazard_sites(lake_dir, table_version(lake_dir, "hazard_sites"))


def site_sensors(lake_dir: str, site_id: str) -> pd.DataFrame:
    """Sensors of one site: its own, and the rain gauge the site model reads its rain from
    (its own, else the nearest: :func:`features.geohazard.site_gauges`, the rule of the
    features and of the nowcast's evidence). No rain gauge row: the site has no gauge."""
    return _site_sensors(
        lake_dir,
        site_id,
        table_version(lake_dir, "sensors"),
        table_version(lake_dir, "hazard_sites"),
    )


# The cached reads, keyed on the folder and the table's version (read at that version, so
# what is cached is what the key names); old versions' entries age out.


@st.cache_data(ttl=3600, show_spinner=False, max_entries=4)
def _admin_units(lake_dir: str, version: int | None) -> pd.DataFrame:
    frame = _read_lake_table(Path(lake_dir), "admin_units", version)
    cols = ["record_id", "name", "level", "parent_id", "geometry_wkt"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    return frame.loc[:, cols].drop_duplicates("record_id").reset_index(drop=True)


@st.cache_data(ttl=3600, show_spinner=False, max_entries=4)
def _unit_names(lake_dir: str, version: int | None) -> dict[str, str]:
    units = _admin_units(lake_dir, version)
    return dict(zip(units["record_id"].astype(str), units["name"].astype(str), strict=True))


@st.cache_data(ttl=3600, show_spinner=False, max_entries=4)
def _boundary_paths(lake_dir: str, version: int | None) -> pd.DataFrame:
    from dashboard.maps import boundary_paths as paths

    return pd.concat(
        [
            paths(_area_shapes(lake_dir, "township", version), "township"),
            paths(_area_shapes(lake_dir, "county", version), "county"),
        ],
        ignore_index=True,
    )


@st.cache_data(ttl=3600, show_spinner=False, max_entries=8)
def _area_shapes(lake_dir: str, level: str, version: int | None) -> pd.DataFrame:
    from dashboard.maps import area_shapes as build

    return build(_admin_units(lake_dir, version), level)


@st.cache_data(ttl=3600, show_spinner=False, max_entries=4)
def _hazard_sites(lake_dir: str, version: int | None) -> pd.DataFrame:
    frame = _read_lake_table(Path(lake_dir), "hazard_sites", version)
    cols = ["record_id", "name", "hazard_type", "lon", "lat", "admin_code", "people_threatened"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    return frame.loc[:, [c for c in cols if c in frame.columns]].drop_duplicates("record_id")


@st.cache_data(ttl=3600, show_spinner=False, max_entries=256)
def _site_sensors(
    lake_dir: str, site_id: str, version: int | None, sites_version: int | None
) -> pd.DataFrame:
    from features.geohazard import site_gauges

    cols = ["record_id", "sensor_type", "site_id"]
    frame = _read_lake_table(Path(lake_dir), "sensors", version)
    if frame.empty:
        return pd.DataFrame(columns=cols)
    sites = _read_lake_table(Path(lake_dir), "hazard_sites", sites_version)
    gauge = site_gauges(sites, frame).get(site_id) if not sites.empty else None
    own = frame["site_id"] == site_id
    if isinstance(gauge, str):  # the site's rain, as the model reads it
        own |= (frame["record_id"] == gauge) & (frame["sensor_type"] == "rain_gauge")
    return frame.loc[own, cols].drop_duplicates("record_id")


@st.cache_data(ttl=60, show_spinner=False)
def site_readings(lake_dir: str, sensor_ids: tuple[str, ...], days: int = 90) -> pd.DataFrame:
    """Readings of ``sensor_ids`` over the last ``days`` days of data (the window is
    pushed down to the lake's files; the newest reading comes from the Delta log)."""
    cols = ["sensor_id", "observed_at", "interval_s", "quantity", "value", "quality"]
    if not sensor_ids:
        return pd.DataFrame(columns=cols)
    newest = lake.latest_time(Path(lake_dir), "sensor_readings")
    if newest is None:
        return pd.DataFrame(columns=cols)
    frame = lake.read_table(
        Path(lake_dir),
        "sensor_readings",
        columns=cols,
        start=newest - pd.Timedelta(days=int(days)),
        where={"sensor_id": list(sensor_ids)},
    )
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    frame = frame.sort_values(["sensor_id", "observed_at"], kind="stable")
    return frame.loc[:, cols].reset_index(drop=True)


@st.cache_data(ttl=60, show_spinner=False)
def data_times(lake_dir: str) -> dict[str, pd.Timestamp | None]:
    """The newest ingested event (incidents, disputes, hazard events) and the newest
    sensor reading in the lake, from the Delta logs' statistics (no data file read)."""
    events = [
        lake.latest_time(Path(lake_dir), name)
        for name in ("incidents", "disputes", "dispute_events", "hazard_events")
    ]
    known = [e for e in events if e is not None]
    return {
        "event": max(known) if known else None,
        "reading": lake.latest_time(Path(lake_dir), "sensor_readings"),
    }
