"""Data contracts: the canonical tables of the riskwarn lake.

Every extract a city sends is mapped (``configs/sources/*.yaml``) onto one of these
tables and validated against it at the edge. Each column is described once here;
``docs/data-contracts.md`` is generated from these definitions
(``riskwarn contracts --markdown``) so the docs cannot drift from the code.

Conventions
-----------
* Times are stored as timezone-aware UTC (``datetime64[ns, UTC]``); sources declare
  their own time zone in the mapping file and ingestion converts. Display uses
  ``Settings.display_tz`` (Asia/Shanghai unless configured).
* Locations are stored as WGS84 longitude/latitude (EPSG:4326, degrees). Sources in
  a projected CRS (e.g. Hong Kong 1980 Grid, EPSG:2326) declare it in the mapping
  and ingestion reprojects with pyproj. Grid cells are derived later in a projected
  CRS (``riskwarn.geo``).
* Units are in column names (``rain_mm``, ``volume_m3``).
* Every table has ``source`` (the mapping's name) and a string ``record_id`` that
  is unique within ``source``: the source's own id where it has one, otherwise a
  deterministic content hash (see ``riskwarn.ingest``). ``(source, record_id)`` is
  the key used for de-duplication and updates.
* Each delivered file names when its export was made (``extracted=YYYY-MM-DDTHHMMSSZ``
  in the file name, :func:`riskwarn.ingest.landing.export_time`); a row of an export
  older than the one that wrote its record is not applied (``older_extract``).
* No personal data: dispute parties appear only as keyed pseudonyms
  (``party_ids``); names, phone numbers and ID numbers are dropped at ingestion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

UTC_TS = "datetime64[ns, UTC]"

INCIDENT_GROUPS = (
    "property",  # theft, burglary, vehicle crime
    "fraud",  # fraud incl. telecom fraud
    "violent",  # assault, fights, threats
    "serious_violent",  # the eight serious violent crimes
    "public_order",  # disturbance, noise, drugs, other order
    "traffic",  # traffic accidents
    "other",
)

DISPUTE_CATEGORIES = (
    "neighbour",
    "family_marriage",
    "land_homestead",
    "labour_wage",
    "property_management",
    "debt",
    "medical",
    "demolition_relocation",
    "other",
)

DISPUTE_EVENT_TYPES = (
    "opened",
    "mediation_attempt",
    "mediation_failed",
    "mediation_succeeded",
    "escalated_petition",
    "escalated_violence",
    "escalated_litigation",
    "closed",
)
ESCALATION_EVENT_TYPES = ("escalated_petition", "escalated_violence", "escalated_litigation")

HAZARD_TYPES = ("landslide", "rockfall", "debris_flow", "collapse", "other")
SENSOR_TYPES = (
    "rain_gauge",
    "gnss",
    "crack_meter",
    "tilt",
    "soil_moisture",
    "piezometer",
    "reservoir_gauge",
)
QUANTITIES = (
    "rain_mm",  # rainfall accumulated over the reading interval, mm
    "displacement_mm",  # cumulative displacement since installation, mm
    "crack_width_mm",  # crack opening, mm
    "tilt_deg",  # tilt, degrees
    "soil_moisture_pct",  # volumetric water content, %
    "pore_pressure_kpa",  # piezometric pressure, kPa
    "water_level_m",  # reservoir / groundwater level, m above datum
)
ADMIN_LEVELS = ("city", "county", "township", "community")


@dataclass(frozen=True)
class Field:
    """One column of a canonical table."""

    name: str
    dtype: str
    description: str
    unit: str = ""
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class Table:
    """A canonical lake table."""

    name: str
    description: str
    fields: tuple[Field, ...]
    time_column: str | None  # event time, used for partitioning and leakage control
    key: tuple[str, ...] = ("source", "record_id")
    personal_fields_forbidden: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


_BASE = (
    Field("source", "str", "Name of the source mapping the record came through."),
    Field(
        "record_id",
        "str",
        "Record id, unique within the source (source id matching the mapping's id.format, "
        "or content hash).",
    ),
)
_LONLAT = (
    Field(
        "lon", "float", "Longitude, WGS84.", "degrees", nullable=True, min_value=-180, max_value=180
    ),
    Field(
        "lat", "float", "Latitude, WGS84.", "degrees", nullable=True, min_value=-90, max_value=90
    ),
)

INCIDENTS = Table(
    "incidents",
    "Public-security incidents and calls for service.",
    (
        *_BASE,
        Field("occurred_at", UTC_TS, "When the incident occurred (best estimate), UTC."),
        Field(
            "reported_at",
            UTC_TS,
            "When it was reported/recorded, UTC; null if unknown.",
            nullable=True,
        ),
        Field(
            "time_precision",
            "str",
            "Precision of occurred_at.",
            allowed=("minute", "hour", "day", "unknown"),
        ),
        Field("category", "str", "Source category after mapping (lower_snake_case)."),
        Field("category_group", "str", "Canonical category group.", allowed=INCIDENT_GROUPS),
        Field(
            "severity",
            "int",
            "Severity 1 (minor) to 5 (most serious); null if unknown.",
            nullable=True,
            min_value=1,
            max_value=5,
        ),
        *_LONLAT,
        Field(
            "admin_code", "str", "Admin unit / district code given by the source.", nullable=True
        ),
        Field("location_type", "str", "Location category (street, residence, ...).", nullable=True),
    ),
    time_column="occurred_at",
)

N_PARTIES_MAX = 10_000  # parties of one dispute (see DISPUTES)
AMOUNT_CNY_MAX = 1_000_000_000  # yuan in one dispute, 10亿 (see DISPUTES)

DISPUTES = Table(
    "disputes",
    "Civil disputes (one row per case). Personal fields are stripped at ingestion.",
    (
        *_BASE,
        Field("opened_at", UTC_TS, "When the dispute was registered, UTC."),
        Field("category", "str", "Dispute category.", allowed=DISPUTE_CATEGORIES),
        *_LONLAT,
        Field("admin_code", "str", "Community / grid code of the case.", nullable=True),
        Field(
            "party_ids",
            "str",
            "';'-joined keyed pseudonyms (HMAC-SHA256) of the parties.",
            nullable=True,
        ),
        # Plausible bounds, so that an identifier typed into the column is refused, not
        # stored as a count or an amount (a phone number 13812345678 as the number of
        # parties, an ID number as the amount): a collective dispute (wage arrears of a
        # site's workers, a housing estate against its management) has up to a few
        # thousand parties; a grassroots register's largest amounts (a village's
        # demolition compensation) are in the hundreds of millions of yuan, while a
        # mobile number read as a number is over 1.3e10, an ID number over 1e17 and a
        # landline with its area code (0556-5123456, 010-12345678) over 1e9.
        Field(
            "n_parties",
            "int",
            "Number of parties.",
            nullable=True,
            min_value=1,
            max_value=N_PARTIES_MAX,
        ),
        Field(
            "amount_cny",
            "float",
            "Amount in dispute, CNY; null if not monetary.",
            "CNY",
            nullable=True,
            min_value=0,
            max_value=AMOUNT_CNY_MAX,
        ),
    ),
    time_column="opened_at",
)

DISPUTE_EVENTS = Table(
    "dispute_events",
    "Events in the life of a dispute: opened, mediation, escalation, closed.",
    (
        *_BASE,
        Field("dispute_id", "str", "record_id of the dispute in the same source."),
        Field("event_at", UTC_TS, "When the event happened, UTC."),
        Field("event_type", "str", "Event type.", allowed=DISPUTE_EVENT_TYPES),
    ),
    time_column="event_at",
)

HAZARD_SITES = Table(
    "hazard_sites",
    "Monitored geological hazard sites.",
    (
        *_BASE,
        Field("name", "str", "Site name (a place name, not a person).", nullable=True),
        Field("hazard_type", "str", "Hazard type.", allowed=HAZARD_TYPES),
        *_LONLAT,
        Field("admin_code", "str", "County / township code.", nullable=True),
        Field(
            "slope_class",
            "int",
            "Slope class 1 (gentle) to 5 (very steep).",
            nullable=True,
            min_value=1,
            max_value=5,
        ),
        Field(
            "people_threatened",
            "int",
            "People living in the threatened area.",
            "persons",
            nullable=True,
            min_value=0,
        ),
        Field("volume_m3", "float", "Estimated unstable volume.", "m3", nullable=True, min_value=0),
    ),
    time_column=None,
)

SENSORS = Table(
    "sensors",
    "Sensors: rain gauges, GNSS, crack meters, tilt, soil moisture, piezometers.",
    (
        *_BASE,
        Field(
            "site_id",
            "str",
            "record_id of the hazard site, null for area rain gauges.",
            nullable=True,
        ),
        Field("sensor_type", "str", "Sensor type.", allowed=SENSOR_TYPES),
        *_LONLAT,
        Field("installed_at", UTC_TS, "Installation time, UTC.", nullable=True),
    ),
    time_column=None,
)

SENSOR_READINGS = Table(
    "sensor_readings",
    "Sensor readings in long form: one row per sensor, time and quantity.",
    (
        *_BASE,
        Field("sensor_id", "str", "record_id of the sensor in the same source."),
        Field("observed_at", UTC_TS, "Start of the reading interval, UTC."),
        Field(
            "interval_s",
            "int",
            "Length of the interval the value covers (0 = instantaneous).",
            "s",
            min_value=0,
        ),
        Field("quantity", "str", "What is measured.", allowed=QUANTITIES),
        Field("value", "float", "Measured value in the quantity's unit.", nullable=True),
        Field(
            "quality",
            "str",
            "Quality flag from the source.",
            nullable=True,
            allowed=("good", "incomplete", "trace", "suspect", "missing"),
        ),
    ),
    time_column="observed_at",
)

HAZARD_EVENTS = Table(
    "hazard_events",
    "Observed hazard events (landslides, rockfalls, debris flows).",
    (
        *_BASE,
        Field("occurred_at", UTC_TS, "When the failure occurred (best estimate), UTC."),
        Field("reported_at", UTC_TS, "When it was reported, UTC.", nullable=True),
        Field(
            "time_precision",
            "str",
            "Precision of occurred_at.",
            allowed=("minute", "hour", "day", "unknown"),
        ),
        Field("event_type", "str", "Hazard type.", allowed=HAZARD_TYPES),
        *_LONLAT,
        Field("site_id", "str", "record_id of the monitored site, if any.", nullable=True),
        Field(
            "feature_type",
            "str",
            "Slope feature type (natural hillside, cut, fill, wall).",
            nullable=True,
        ),
        Field("volume_m3", "float", "Failure volume.", "m3", nullable=True, min_value=0),
        Field("deaths", "int", "Deaths.", "persons", nullable=True, min_value=0),
        Field("injuries", "int", "Injuries.", "persons", nullable=True, min_value=0),
    ),
    time_column="occurred_at",
)

ADMIN_UNITS = Table(
    "admin_units",
    "Administrative units: county -> township -> community, with boundaries.",
    (
        *_BASE,
        Field("name", "str", "Official name."),
        Field("level", "str", "Level in the hierarchy.", allowed=ADMIN_LEVELS),
        Field("parent_id", "str", "record_id of the parent unit.", nullable=True),
        Field("geometry_wkt", "str", "Boundary polygon, WKT in WGS84.", nullable=True),
        Field(
            "population",
            "int",
            "Resident population where known.",
            "persons",
            nullable=True,
            min_value=0,
        ),
    ),
    time_column=None,
)

GRID_CELLS = Table(
    "grid_cells",
    "The city's own management grid (网格) with geometries and population.",
    (
        *_BASE,
        Field("admin_id", "str", "record_id of the community the grid belongs to.", nullable=True),
        Field("geometry_wkt", "str", "Grid polygon, WKT in WGS84."),
        Field(
            "population",
            "int",
            "Resident population where known.",
            "persons",
            nullable=True,
            min_value=0,
        ),
    ),
    time_column=None,
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        INCIDENTS,
        DISPUTES,
        DISPUTE_EVENTS,
        HAZARD_SITES,
        SENSORS,
        SENSOR_READINGS,
        HAZARD_EVENTS,
        ADMIN_UNITS,
        GRID_CELLS,
    )
}

PERSONAL_FIELD_HINTS = (
    "name",
    "phone",
    "mobile",
    "id_number",
    "idcard",
    "id_card",
    "address_detail",
)

_PANDERA_DTYPES = {
    "str": str,
    "float": float,
    "int": "Int64",
    UTC_TS: pd.DatetimeTZDtype("ns", "UTC"),
}


def pandera_schema(table: Table) -> pa.DataFrameSchema:
    """The pandera schema that validates a frame of ``table`` (strict: no extra columns)."""
    columns: dict[str, pa.Column] = {}
    for f in table.fields:
        checks: list[pa.Check] = []
        if f.allowed is not None:
            checks.append(pa.Check.isin(list(f.allowed)))
        if f.min_value is not None:
            checks.append(pa.Check.ge(f.min_value))
        if f.max_value is not None:
            checks.append(pa.Check.le(f.max_value))
        columns[f.name] = pa.Column(
            _PANDERA_DTYPES[f.dtype], checks=checks, nullable=f.nullable, coerce=True
        )
    return pa.DataFrameSchema(
        columns,
        strict=True,
        ordered=False,
        unique=list(table.key),
        name=table.name,
    )


_CANONICAL_DTYPES = {"str": "str", "float": "float64", "int": "Int64", UTC_TS: UTC_TS}


def conform(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Cast a frame to the table's canonical dtypes (``str``, ``Int64``, ``float64``, UTC).

    A frame that already has exactly these columns and dtypes is returned as is (no copy)."""
    if list(frame.columns) == table.columns and all(
        str(frame[f.name].dtype) == _CANONICAL_DTYPES[f.dtype] for f in table.fields
    ):
        return frame
    out = pd.DataFrame(index=frame.index)
    for f in table.fields:
        s = (
            frame[f.name]
            if f.name in frame.columns
            else pd.Series(None, index=frame.index, dtype=object)
        )
        if f.dtype == "str":
            s = s.astype("str")  # pandas' Arrow-backed strings: compact; NaN = null
        elif f.dtype == UTC_TS:
            s = pd.to_datetime(s, utc=True).astype(UTC_TS)
        elif f.dtype == "int":
            s = pd.to_numeric(s).astype("Int64")
        else:
            s = pd.to_numeric(s).astype("float64")
        out[f.name] = s
    return out


def empty_frame(table: Table) -> pd.DataFrame:
    """An empty frame with the table's columns and dtypes."""
    data = {
        f.name: pd.Series([], dtype=_PANDERA_DTYPES[f.dtype] if f.dtype != "str" else "object")
        for f in table.fields
    }
    return pd.DataFrame(data)


def contracts_markdown() -> str:
    """Markdown documentation of every table, generated from the definitions above."""
    lines = [
        "# Data contracts",
        "",
        "Generated by `riskwarn contracts --markdown` from `riskwarn/contracts.py`; do not edit by hand.",
        "",
        "All times are stored in UTC (`datetime64[ns, UTC]`) and displayed in the configured",
        "time zone (Asia/Shanghai by default). All locations are stored as WGS84 lon/lat",
        "(EPSG:4326); projected source coordinates are reprojected at ingestion; grid cells",
        "are computed in a projected CRS (metres) by `riskwarn.geo`.",
        "Key of every table: `(source, record_id)`.",
        "",
        "Each delivered file carries the time its export was made, in its name:",
        "`extracted=YYYY-MM-DDTHHMMSSZ` (UTC; e.g. `incidents_extracted=2024-03-31T000000Z.csv.gz`),",
        "read by the landing DAG (`riskwarn ingest` takes `--extracted-at` instead). A row of an",
        "export made before the export that wrote its record's stored version is quarantined",
        "(`older_extract`), not applied. A file whose name gives none is compared by content only,",
        "and the run's report lists it (`no_export_time`); see docs/ingestion.md.",
        "",
    ]
    for t in TABLES.values():
        lines += [f"## `{t.name}`", "", t.description, ""]
        if t.time_column:
            lines += [f"Event time (partitioning, leakage control): `{t.time_column}`.", ""]
        lines += [
            "| column | type | unit | nullable | allowed / range | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for f in t.fields:
            rng = ""
            if f.allowed:
                rng = ", ".join(f.allowed)
            elif f.min_value is not None or f.max_value is not None:
                rng = f"[{'' if f.min_value is None else f.min_value}, {'' if f.max_value is None else f.max_value}]"
            dtype = "timestamp (UTC)" if f.dtype == UTC_TS else f.dtype
            lines.append(
                f"| `{f.name}` | {dtype} | {f.unit} | {'yes' if f.nullable else 'no'} | {rng} | {f.description} |"
            )
        lines.append("")
    return "\n".join(lines)
