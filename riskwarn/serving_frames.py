"""Read -> frame: the model input of every served unit at a forecast origin.

Each function reads what was known before the origin from the lake through the read
training makes (:func:`riskwarn.lake.read_known`: the records before the origin with the
earlier versions of corrected ones, so an origin in the past, a backfill, sees each
record as it was known then and not a later correction; a hotspot or case model is
served on exactly the sources it was trained on, :func:`riskwarn.scoring.served_sources`) and calls the family's builder in :mod:`models.frames`,
the same function training and backtests call (tests/test_frame_parity.py holds them
equal); it then locates each unit (``unit_id``, lon/lat) and rolls it up to township and
county. Labels never leave this module: only the inputs at the origin do. (Sensor
readings are read as they are now, by training too: their corrections are not
versioned yet.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from riskwarn import domains
from riskwarn.settings import SettingsError

if TYPE_CHECKING:
    from riskwarn.settings import Settings


def admin_lookup(admin_units: pd.DataFrame) -> pd.DataFrame:
    """``record_id`` -> ``township_code``, ``county_code`` for every admin unit."""
    if admin_units.empty:
        return pd.DataFrame(columns=["record_id", "township_code", "county_code"])
    a = admin_units.set_index("record_id")
    parent = a["parent_id"]
    level = a["level"]
    rows = []
    for rid in a.index:
        chain = {level.get(rid): rid}
        cur = rid
        for _ in range(5):
            cur = parent.get(cur)
            if cur is None or pd.isna(cur) or cur not in level.index:
                break
            chain[level[cur]] = cur
        rows.append((rid, chain.get("township"), chain.get("county")))
    return pd.DataFrame(rows, columns=["record_id", "township_code", "county_code"])


def cell_admin_codes(
    cells: pd.DataFrame, admin_units: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Township and county of each cell (its centre), from the finest admin polygons."""
    from features.cells import map_cells_to_polygons

    out = cells[["cell_x", "cell_y"]].copy()
    out["township_code"] = None
    out["county_code"] = None
    if admin_units.empty or out.empty:
        return out
    polys = admin_units.dropna(subset=["geometry_wkt"])
    for level in ("community", "township", "county"):
        level_polys = polys.loc[polys["level"] == level]
        if len(level_polys):
            break
    else:
        return out
    m = map_cells_to_polygons(out, level_polys, settings.cell_size_m, settings.city_crs)
    codes = m.merge(admin_lookup(admin_units), left_on="unit_id", right_on="record_id", how="left")
    out["township_code"] = (
        codes["township_code"].astype(object).where(codes["township_code"].notna(), None).to_numpy()
    )
    out["county_code"] = (
        codes["county_code"].astype(object).where(codes["county_code"].notna(), None).to_numpy()
    )
    return out


def cell_scoring_frame(
    settings: Settings,
    domain: str,
    origin: pd.Timestamp,
    sources: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Cell features at ``origin`` for a hotspot domain, located and rolled up.

    The frame is :func:`models.frames.hotspot_frame`, the builder training and
    backtests use, on the read training makes (:func:`riskwarn.lake.read_known`): the
    events of ``sources`` (None: all; a champion's training sources,
    :attr:`models.registry.Champion.sources`) before the origin, each as it was known
    at the origin. The active area is every cell with an event known before the origin.
    """
    from models.frames import CityGrid, hotspot_frame
    from riskwarn import geo, lake

    spec = domains.get(domain)
    # only what was known before the origin enters features (labels are dropped below)
    events = lake.read_known(settings.lake_dir, spec.event_table, origin, sources)
    grid = CityGrid(settings.city_crs, settings.cell_size_m, settings.display_tz)
    frame = hotspot_frame(spec, events, pd.DatetimeIndex([origin]), grid)
    if frame.empty:
        return pd.DataFrame()
    frame = frame[[c for c in frame.columns if not c.startswith("label_")]]
    cells = frame[["cell_x", "cell_y"]].drop_duplicates()
    admin = cell_admin_codes(cells, lake.read_table(settings.lake_dir, "admin_units"), settings)
    frame = frame.merge(admin, on=["cell_x", "cell_y"], how="left")
    x = (frame["cell_x"].to_numpy(float) + 0.5) * settings.cell_size_m
    y = (frame["cell_y"].to_numpy(float) + 0.5) * settings.cell_size_m
    frame["lon"], frame["lat"] = geo.unproject(x, y, settings.city_crs)
    frame["unit_id"] = [
        geo.cell_id(a, b) for a, b in zip(frame["cell_x"], frame["cell_y"], strict=True)
    ]
    return frame


def case_scoring_frame(
    settings: Settings,
    origin: pd.Timestamp,
    domain: str | None = None,
    sources: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Features of every dispute case open (and not yet escalated) at ``origin``.

    The same builder as training (:func:`models.frames.case_frame`) on the read training
    makes (:func:`case_records`): the cases and events of ``sources`` (None: all; a
    champion's training sources) before the origin, each as known at it; ``unit_id`` is the dispute id, located at the case's point (as known at the
    origin) and rolled up to township and county through its admin code.
    No personal field is carried (party pseudonyms are only used inside the builder).
    """
    from models.frames import CityGrid, case_frame
    from riskwarn import lake

    disputes, events = case_records(settings, origin, sources)
    if disputes.empty:
        return pd.DataFrame()
    grid = CityGrid(settings.city_crs, settings.cell_size_m, settings.display_tz)
    spec = domains.get(domain) if domain else domains.get(domains.names("case")[0])
    frame = case_frame(spec, disputes, events, pd.DatetimeIndex([origin]), grid)
    frame = frame[[c for c in frame.columns if not c.startswith("label_")]]
    if frame.empty:
        return frame
    (disputes,) = known_at([disputes], origin)  # one row per case: its version then
    place = disputes[["record_id", "lon", "lat", "admin_code"]].rename(
        columns={"record_id": "dispute_id"}
    )
    codes = admin_lookup(lake.read_table(settings.lake_dir, "admin_units"))
    place = place.merge(codes, left_on="admin_code", right_on="record_id", how="left")
    frame = frame.merge(
        place[["dispute_id", "lon", "lat", "township_code", "county_code"]],
        on="dispute_id",
        how="left",
    )
    frame["unit_id"] = frame["dispute_id"].astype(str)
    return frame


def case_records(
    settings: Settings, origin: pd.Timestamp, sources: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``disputes`` and ``dispute_events`` of ``sources`` (None: all) before ``origin``
    with the earlier versions of corrected records (:func:`riskwarn.lake.read_known`, what
    case training reads)."""
    from riskwarn import lake

    return (
        lake.read_known(settings.lake_dir, "disputes", origin, sources),
        lake.read_known(settings.lake_dir, "dispute_events", origin, sources),
    )


def known_at(frames: Sequence[pd.DataFrame], origin: pd.Timestamp) -> list[pd.DataFrame]:
    """Each of ``frames`` (from :func:`riskwarn.lake.read_known`) as it was known at
    ``origin``: per record the version valid then, without ``known_from`` / ``known_to``
    (:func:`features.cells.versions_at_many`, the rule of every frame builder)."""
    from features.cells import versions_at_many

    ((_, views),) = versions_at_many(list(frames), pd.DatetimeIndex([origin]))
    return [v.drop(columns=["known_from", "known_to"], errors="ignore") for v in views]


def scoring_frame(
    settings: Settings,
    domain: str,
    origin: pd.Timestamp,
    sources: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The frame scored for ``domain`` at ``origin``: ``unit_id`` + codes + features.
    ``sources``: the lake sources a hotspot or case model was trained on (None: all;
    :func:`riskwarn.scoring.served_sources`)."""
    family = domains.get(domain).family
    if family == "hotspot":
        return cell_scoring_frame(settings, domain, origin, sources)
    if family == "case":
        return case_scoring_frame(settings, origin, domain, sources)
    return site_scoring_frame(settings, origin, domain)


def site_scoring_frame(
    settings: Settings, origin: pd.Timestamp, domain: str, lookback_days: int | None = None
) -> pd.DataFrame:
    """Site model features of every monitored site at ``origin`` (daily ``geohazard``).

    The training builder on the readings of ``[origin - lookback, origin)`` (None: the
    ``serving_lookback_days`` setting, :func:`serving_lookback_days`); ``unit_id`` is
    the site, located at the site and rolled up through its admin code. The daily model
    gives levels only; the hard sensor rules run in the hourly nowcast. (Daily serving
    itself goes through :func:`riskwarn.scoring.serve_site_model` on
    :func:`site_serving_inputs`, which also applies the reading-spacing guard.)
    """
    sites, sensors, readings = site_serving_inputs(settings, origin, lookback_days)
    if sites.empty:
        return pd.DataFrame()
    frame = site_model_frame(sites, sensors, readings, origin, domain, settings.display_tz)
    return frame.merge(site_places(settings, sites), on="unit_id", how="left")


def site_serving_inputs(
    settings: Settings, origin: pd.Timestamp, lookback_days: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sites and sensors as known at ``origin`` (the versions valid then of corrected
    records: :func:`riskwarn.lake.read_known`, what site training reads, then
    :func:`known_at`) and the readings of ``[origin - lookback, origin)`` from the lake
    (None: the ``serving_lookback_days`` setting, :func:`serving_lookback_days`)."""
    from riskwarn import lake

    if lookback_days is None:
        lookback_days = serving_lookback_days(settings)

    sites = lake.read_known(settings.lake_dir, "hazard_sites")
    if sites.empty:
        return sites, pd.DataFrame(), pd.DataFrame()
    sensors = lake.read_known(settings.lake_dir, "sensors")
    sites, sensors = known_at([sites, sensors], origin)
    return sites, sensors, read_recent_readings(settings, origin, lookback_days)


def site_places(settings: Settings, sites: pd.DataFrame) -> pd.DataFrame:
    """``unit_id`` (site), ``lon``, ``lat``, ``township_code``, ``county_code`` per site."""
    from riskwarn import lake

    place = sites[["record_id", "lon", "lat", "admin_code"]].astype({"record_id": str})
    codes = admin_lookup(lake.read_table(settings.lake_dir, "admin_units"))
    place = place.merge(codes, left_on="admin_code", right_on="record_id", how="left")
    place = place.drop(columns=["record_id_y"]).rename(columns={"record_id_x": "unit_id"})
    return place[["unit_id", "lon", "lat", "township_code", "county_code"]]


def site_model_frame(
    sites: pd.DataFrame,
    sensors: pd.DataFrame,
    readings: pd.DataFrame,
    origin: pd.Timestamp,
    domain: str,
    tz: str,
) -> pd.DataFrame:
    """The site model's features at ``origin`` (the training builder, readings before it).

    ``unit_id`` = site id. Hazard events are not read: they are only labels.
    """
    from models.frames import site_frame

    events = pd.DataFrame(
        {"occurred_at": pd.Series([], dtype="datetime64[ns, UTC]"), "site_id": []}
    )
    frame = site_frame(
        domains.get(domain),
        readings,
        sensors,
        sites,
        events,
        pd.DatetimeIndex([origin]),
        tz,
        with_rules=True,  # the sensor-rule level is a model input
    )
    frame = frame[[c for c in frame.columns if not c.startswith("label_")]]
    return frame.rename(columns={"site_id": "unit_id"})


class ServingWindowTooShort(SettingsError):
    """``serving_lookback_days`` below what the served features and rules look back."""


def serving_read_floor() -> tuple[float, list[str]]:
    """The fewest days serving may read before an origin, and what needs them: every
    look-back of the site tables' inputs (:func:`features.sensor_readings.reading_lookbacks`:
    kinematics, dead-sensor time, drift and spike flags, missing-readings and rain windows),
    with the longest dead-sensor time of the daily table's and the sensor rules' (for the
    hourly one, :func:`models.geohazard_sites.feature_params`), and the nowcast rules'
    window before a rising run plus the day a level is held
    (:data:`riskwarn.sensor_rules.NOWCAST_RULES`). Read from the classes' defaults, not
    through ``models`` (which would add seconds of imports to ``riskwarn stream``'s
    start); tests/test_serving_lookback_setting.py holds it to every site domain's
    parameters."""
    from dataclasses import replace

    from features.sensor_readings import SiteFeatureParams, reading_lookbacks
    from riskwarn.sensor_rules import NOWCAST_RULES, HealthRules

    p = SiteFeatureParams()
    p = replace(p, dead_after_hours=max(p.dead_after_hours, HealthRules().dead_after_hours))
    rules_days = (NOWCAST_RULES.lookback_steps + 24) / 24
    needs = [
        *reading_lookbacks(p),
        (rules_days, f"the nowcast sensor rules' window and held day ({rules_days:g} days)"),
    ]
    floor = max(days for days, _ in needs)
    return floor, [what for days, what in needs if days == floor]


def serving_lookback_days(settings: Settings) -> int:
    """The days of readings serving reads before an origin (``serving_lookback_days``),
    refused (:class:`ServingWindowTooShort`, one line naming the variable) when below
    :func:`serving_read_floor`: the features would read readings serving does not have,
    and serving's values would differ from training's."""
    days = int(settings.serving_lookback_days)
    floor, why = serving_read_floor()
    if days < floor:
        raise ServingWindowTooShort(
            f"RISKWARN_SERVING_LOOKBACK_DAYS={days}: serving must read at least "
            f"{floor:g} days of readings before the origin for {'; '.join(why)}; "
            f"set it to {int(-(-floor // 1))} or more (docs/operations.md)"
        )
    return days


def read_recent_readings(
    settings: Settings, origin: pd.Timestamp, lookback_days: int
) -> pd.DataFrame:
    """Sensor readings in ``[origin - lookback, origin)`` from the lake (windowed read),
    sorted by sensor and time (ties by the lake's key), in one sort (not the key's
    string sort, then the sensor's and time's)."""
    from riskwarn import lake

    cols = ["sensor_id", "observed_at", "interval_s", "quantity", "value", "quality"]
    frame = lake.read_table(
        settings.lake_dir,
        "sensor_readings",
        columns=cols,
        start=origin - pd.Timedelta(days=lookback_days),
        end=origin,
        order_by=["sensor_id", "observed_at"],
    )
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame
