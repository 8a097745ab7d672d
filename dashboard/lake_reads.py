"""What the dashboard reads from the lake, through :mod:`riskwarn.lake` only (no SQL):
admin units and their shapes, hazard sites, sensors and readings, and how fresh the data
is. Cached with ``st.cache_data`` keyed on the lake folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from riskwarn import lake


def _read_lake_table(lake_dir: Path, table: str) -> pd.DataFrame:
    frame = lake.read_table(lake_dir, table)
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
