"""One frozen settings object, built at the entry point and passed down.

Values come from (in order of precedence) explicit keyword arguments, environment
variables prefixed ``RISKWARN_`` and the defaults below. Nothing here is read at
import time by other modules: callers build ``Settings`` once and pass it on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from riskwarn import domains

DASHBOARD_IDLE_MINUTES_MIN = 1  # below, a session ends between two clicks
DASHBOARD_IDLE_MINUTES_MAX = 720  # dashboard.sessions.MAX_SESSION, 12 hours
# the schemes of MLflow's tracking stores ("" is a local path)
MLFLOW_URI_SCHEMES = frozenset(
    (
        "",
        "file",
        "http",
        "https",
        "sqlite",
        "postgresql",
        "mysql",
        "mssql",
        "databricks",
        "databricks-uc",
        "uc",
    )
)
# MLflow tracking URI schemes that are SQLAlchemy database URLs
MLFLOW_DATABASE_SCHEMES = frozenset(("sqlite", "postgresql", "mysql", "mssql"))
ARCHIVE_PERSONAL_DAYS_MAX = 36500  # 100 years: beyond, the cutoff leaves pandas' time range
# Scoring refuses to publish when a source a domain is served on has no record known at
# the origin within this many days of it (riskwarn.scoring.check_data_age): daily
# incident and dispute feeds (disputes: registered on working days, so a weekend and a
# day's slack), daily site scoring's sensor readings (hourly or faster). The hourly
# geohazard nowcast is not checked: its dead-sensor rule warns at every silent sensor.
MAX_DATA_AGE_DAYS: dict[str, float] = {
    d.name: d.max_data_age_days for d in domains.DOMAINS.values() if d.max_data_age_days is not None
}


class Settings(BaseModel):
    """Where riskwarn keeps its data and how it talks to its services."""

    model_config = ConfigDict(frozen=True)

    home: Path = Field(
        default=Path("var"), description="Working folder for the lake, stores and logs."
    )
    store_url: str = Field(
        default="", description="SQLAlchemy URL of the serving store; default SQLite in home."
    )
    mlflow_tracking_uri: str = Field(
        default="", description="MLflow tracking URI; default SQLite in home."
    )
    display_tz: str = Field(default="Asia/Shanghai", description="Time zone used to display times.")
    paging_lang: Literal["zh", "en"] = Field(
        default="zh",
        description="Language of the pages sent to duty officers (e-mail subject and body, "
        "the webhook's subject and text; its machine-readable fields stay as they are) and "
        "of riskwarn stream ack's answers: 'zh' (Chinese, the dashboard's default) or 'en'.",
    )
    city_crs: str = Field(
        default="EPSG:32650", description="Projected CRS of the city grid (metres)."
    )
    cell_size_m: int = Field(default=250, description="Default grid cell size in metres.")
    pseudonym_key: str = Field(
        default="",
        repr=False,
        description="Secret key for HMAC pseudonymisation of dispute parties (prefer "
        "pseudonym_key_file); no default: see riskwarn.keys.",
    )
    pseudonym_key_file: str = Field(
        default="",
        description="File (mode 0600) holding the pseudonym key; see riskwarn.keys.",
    )
    task_memory_mb: int = Field(
        default=8192,
        ge=0,
        description="Memory budget of one Airflow task, MB of address space it may add "
        "(virtual memory, which runs ahead of resident memory; 0 = none, a negative "
        "number is refused): past it the task fails with MemoryError instead of the "
        "kernel killing processes.",
    )
    train_concurrency: int = Field(
        default=2,
        ge=0,
        description="Trainings the train_models DAG runs at once (max_active_tis_per_dagrun "
        "of its mapped train task; 0 = no cap). Each training holds up to its resident peak "
        "(about 7 GB for incidents on the simulated city): size it as the machine's memory "
        "over the largest resident peak of a training (docs/operations.md). Read when the "
        "DAG is parsed.",
    )
    backup_dir: str = Field(
        default="",
        description="Where riskwarn backup writes (default <home>/backups; put it on another "
        "disk or copy it off the host).",
    )
    backup_keep: int = Field(
        default=7, ge=1, description="Complete backups kept by riskwarn backup."
    )
    airflow_api_url: str = Field(
        default="http://127.0.0.1:8080", description="Airflow REST API base URL."
    )
    lake_history_days: int = Field(
        default=365,
        ge=1,
        description="Days a lake table keeps old versions (corrections' history, time "
        "travel) before maintenance vacuums them.",
    )
    archive_personal_days: int = Field(
        default=30,
        ge=1,
        le=ARCHIVE_PERSONAL_DAYS_MAX,
        description="Days an archived landing file of a source with personal fields "
        "(one its mapping pseudonymises or drops columns of) is kept under "
        "<home>/archive before lake maintenance removes it: a whole number from 1 to "
        "36500 (100 years). 0 is refused: it would remove a file at the first "
        "maintenance after its ingest, before anyone could look at a quarantine against it.",
    )
    dashboard_idle_minutes: float = Field(
        default=30,
        ge=DASHBOARD_IDLE_MINUTES_MIN,
        le=DASHBOARD_IDLE_MINUTES_MAX,
        allow_inf_nan=False,
        description="Minutes a dashboard session lasts without a request before it ends "
        "(its cookie expires with it): a number from 1 to 720 (the 12-hour cap of any "
        "session). A value that is not a number, or below 1 (a session gone between two "
        "clicks), is refused rather than replaced by the default or a few seconds.",
    )
    lake_target_file_mb: int = Field(
        default=128, ge=1, description="File size lake compaction aims at (MB)."
    )
    city_area: str = Field(
        default="",
        description="The city's area as 'min_lon,min_lat,max_lon,max_lat' (WGS84 degrees): "
        "ingest quarantines located records outside it (outside_city_area); empty = no check.",
    )

    serving_lookback_days: int = Field(
        default=44,
        ge=1,
        description="Days of sensor readings before the origin that serving reads: the "
        "hourly geohazard nowcast, daily site scoring and the stream's site model "
        "(riskwarn.serving_frames.serving_lookback_days). At least what the site features "
        "and sensor rules look back (riskwarn.serving_frames.serving_read_floor: the drift "
        "flag, 44 days; the kinematics look-back, 35 days; the dead-sensor time; the rules' "
        "window): a shorter one is refused when serving starts. Raise it "
        "for sensors that report rarely (monthly surveys: with "
        "SiteFeatureParams.kinematics_lookback_days; docs/operations.md).",
    )

    max_data_age_days: dict[str, float] = Field(
        default_factory=lambda: dict(MAX_DATA_AGE_DAYS),
        description="Per domain, the most days a source it is served on may be behind the "
        "origin: `riskwarn score` and the score_and_warn DAG refuse to publish (exit 2, "
        "audited stale_data_refused) when a source's newest record known at the origin is "
        "older (riskwarn.scoring.check_data_age). Given as 'domain=days,...' (e.g. "
        "'disputes=9'): the domains named replace their defaults (incidents 3, "
        "incidents_daily 3, disputes 5, dispute_cases 5, geohazard 2), the others keep "
        "theirs. `riskwarn score --allow-stale-data` scores anyway (audited).",
    )

    landing_settle_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A landing file is ingested only once its size and mtime have not "
        "changed for this long (checked twice, and again after it is read); one still "
        "changing is left for the next run. Deliver by writing under a dot-name or *.part "
        "and renaming (docs/ingestion.md).",
    )

    mqtt_user: str = Field(
        default="",
        description="The consumer's (riskwarn stream's) account on the MQTT broker "
        "(riskwarn.stream.auth); empty = 'stream'. Not used for publishing.",
    )
    mqtt_password: str = Field(
        default="",
        repr=False,
        description="Password of the consumer's account; empty = the one in "
        "<home>/secrets/mqtt_passwords.json (created by scripts/services.sh).",
    )
    mqtt_gateway_user: str = Field(
        default="",
        description="The account publishers (riskwarn stream replay, the bench) sign in "
        "with; empty = 'gateway'.",
    )
    mqtt_gateway_password: str = Field(
        default="",
        repr=False,
        description="Password of the publishers' account; empty = the one in "
        "<home>/secrets/mqtt_passwords.json.",
    )

    spill_dir: str = Field(
        default="",
        description="Where training spills the sensor readings it reads (default "
        "<home>/tmp/spill; 3.1 GB a site domain on the simulated city): one folder per "
        "training, removed when it ends, or by the next training if its process died "
        "(riskwarn.spill, docs/operations.md).",
    )

    engine: Literal["local", "dask"] = Field(
        default="local",
        description="Where hotspot feature building and XGBoost training run: 'local' (this "
        "process) or 'dask' (a Dask cluster; riskwarn.engine, docs/operations.md).",
    )
    dask_scheduler: str = Field(
        default="",
        description="Address of the Dask scheduler (e.g. tcp://10.0.0.5:8786) when engine is "
        "'dask'; empty = a LocalCluster of dask_workers processes on this machine.",
    )
    dask_workers: int = Field(
        default=2, ge=1, description="Workers of the LocalCluster started when no scheduler."
    )
    dask_threads_per_worker: int = Field(
        default=1, ge=1, description="Threads per worker of that LocalCluster."
    )

    @field_validator("max_data_age_days", mode="before")
    @classmethod
    def _max_data_age_per_domain(cls, value: Any) -> dict[str, float]:
        return max_data_ages(value)

    @field_validator("store_url")
    @classmethod
    def _store_url_is_sqlite_or_postgresql(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return value
        import sqlalchemy as sa

        try:
            url = sa.make_url(value)
        except sa.exc.ArgumentError:
            raise ValueError(
                "not a SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db, "
                "sqlite:////path/serving.db)"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                f"the serving store is SQLite or PostgreSQL, not {url.get_backend_name()!r}"
            )
        _no_at_in_host(url.host)
        try:
            url.get_dialect().import_dbapi()
        except Exception as exc:  # an unknown driver, or one not installed
            raise ValueError(f"driver {url.drivername!r} unavailable ({exc})") from None
        if url.get_backend_name() == "sqlite":
            # a URL given on the command line (``db upgrade --url``) is the operator
            # creating a store there: its folder may be created (and is said)
            given = "store_url" in ((info.context or {}).get("given") or ())
            _sqlite_file_in_a_folder(url, info.data.get("home"), "the serving store", given)
        return value

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _mlflow_uri_has_a_known_scheme(cls, value: str, info: ValidationInfo) -> str:
        from urllib.parse import urlsplit

        scheme = urlsplit(value).scheme.split("+")[0].lower()
        if scheme not in MLFLOW_URI_SCHEMES:
            raise ValueError(
                f"scheme {scheme!r} is not one MLflow tracks to (http, https, file, sqlite, "
                "postgresql, mysql, mssql, databricks; or a local path)"
            )
        if scheme in MLFLOW_DATABASE_SCHEMES:
            import sqlalchemy as sa

            try:
                url = sa.make_url(value)
            except sa.exc.ArgumentError:
                raise ValueError(
                    f"not a SQLAlchemy URL, as MLflow's {scheme} store needs"
                ) from None
            _no_at_in_host(url.host)
            if scheme == "sqlite":
                # a typo in the folder made MLflow create a fresh, empty tracking
                # database elsewhere (or fail obscurely): refused as the store's is
                _sqlite_file_in_a_folder(url, info.data.get("home"), "MLflow's store")
        elif scheme in ("http", "https"):
            netloc = urlsplit(value).netloc
            # urllib reads the password to the last '@', SQLAlchemy to the first: an
            # unescaped '@' in userinfo is read differently by the two, so refused
            _no_at_in_host(netloc.partition("@")[2] if "@" in netloc else "")
        return value

    @field_validator("display_tz")
    @classmethod
    def _display_tz_is_a_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"display_tz {value!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)"
            ) from None
        return value

    @field_validator("city_crs")
    @classmethod
    def _city_crs_is_projected_in_metres(cls, value: str) -> str:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_user_input(value)
        except CRSError:
            raise ValueError(
                f"city_crs {value!r} is not a coordinate reference system pyproj knows "
                "(e.g. EPSG:32650)"
            ) from None
        units = {a.unit_name for a in crs.axis_info}
        if not crs.is_projected or not units <= {"metre", "meter"}:
            raise ValueError(
                f"city_crs {value!r} is not a projected CRS in metres (the grid's cells are "
                "metres; e.g. a UTM zone, EPSG:32650)"
            )
        return value

    @field_validator("home")
    @classmethod
    def _home_is_a_folder(cls, value: Path) -> Path:
        """The home, or the nearest of its parents that exists, is a folder (a regular
        file there gave NotADirectoryError at the first file written, attack review
        2026-12-07); nothing is created here."""
        path = Path(value).absolute()
        for there in (path, *path.parents):
            if there.is_dir():
                break
            if there.exists() or there.is_symlink():
                what = "the home" if there == path else f"its parent {str(there)!r}"
                raise ValueError(f"{what} is a file, not a folder")
        return value

    @field_validator("city_area")
    @classmethod
    def _city_area_is_a_box(cls, value: str) -> str:
        if value.strip():
            city_box(value)
        return value.strip()

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def archive_dir(self) -> Path:
        """Where processed landing files go
        (``archive/<source>/ingested=<interval end>_archived=<archive time>/<name>``)."""
        return self.home / "archive"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{(self.home / 'serving.db').resolve()}"

    @property
    def resolved_backup_dir(self) -> Path:
        return Path(self.backup_dir) if self.backup_dir else self.home / "backups"

    @property
    def resolved_mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"


def _no_at_in_host(host: str | None) -> None:
    """Refuse a URL whose host part holds an ``@``: SQLAlchemy and libpq end the password
    at its first ``@``, so an unescaped ``@`` in the password puts the password's rest
    into the host name, where a "cannot resolve host" error would print it. The message
    names neither the password nor the host."""
    if host and "@" in host:
        raise ValueError(
            "its host part holds an '@': write an '@' of the user name or password as "
            "%40 (percent-encoded), or the rest of the password is read as the host"
        )


def _sqlite_not_in_memory(url: Any, what: str) -> str:
    """The SQLite file of ``url``; refused if the database is in memory (each process
    would get its own, empty and gone when it ends)."""
    database = url.database or ""
    if database.startswith("file:"):  # a SQLite URI filename (?uri=true)
        database = database.removeprefix("file:").split("?", 1)[0]
    memory = "mode=memory" in (url.database or "") or url.query.get("mode") == "memory"
    if database in ("", ":memory:") or memory:
        raise ValueError(
            f"{what} is in memory: each process would get its own, empty and gone when it "
            "ends; give a file (e.g. sqlite:////srv/riskwarn/store.db)"
        )
    return str(database)


def _sqlite_file_in_a_folder(
    url: Any, home: Path | None, what: str, new_folder_ok: bool = False
) -> None:
    """Refuse an in-memory SQLite database (each process would get its own, gone when
    it ends) and, unless ``new_folder_ok``, a file whose folder does not exist (a typo
    in a setting every command and DAG reads would otherwise start a fresh, empty
    store): riskwarn creates only its home's folders (``home``)."""
    database = _sqlite_not_in_memory(url, what)
    folder = Path(database).absolute().parent
    if new_folder_ok or folder.is_dir():
        return
    if home is not None:
        home_dir = Path(home).absolute()
        if folder == home_dir or home_dir in folder.parents:
            return  # riskwarn creates its home's folders
    raise ValueError(
        f"{what}'s folder {str(folder)!r} does not exist (riskwarn creates only its home's "
        "folders): create it, or fix the path"
    )


def max_data_ages(value: Any) -> dict[str, float]:
    """:data:`MAX_DATA_AGE_DAYS` with ``value``'s domains replaced: ``value`` is a mapping
    or ``'domain=days,...'`` text (ValueError, one line, for an unknown domain or a
    number of days that is not above 0 and finite)."""
    import math

    if isinstance(value, str):
        pairs: list[tuple[str, Any]] = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            name, sep, days = part.partition("=")
            if not sep:
                raise ValueError(f"{part!r} is not 'domain=days' (e.g. 'disputes=9')")
            pairs.append((name.strip(), days.strip()))
    elif isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        raise ValueError("not 'domain=days,...' (e.g. 'disputes=9')")
    out = dict(MAX_DATA_AGE_DAYS)
    for name, days in pairs:
        if name not in MAX_DATA_AGE_DAYS:
            raise ValueError(
                f"{name!r} is not a domain whose data age scoring checks "
                f"({', '.join(MAX_DATA_AGE_DAYS)})"
            )
        try:
            n = float(days)
        except (TypeError, ValueError):
            n = math.nan
        if not (math.isfinite(n) and n > 0):
            raise ValueError(f"{name}={days!r}: the days must be a number above 0")
        out[name] = n
    return out


def city_box(text: str) -> tuple[float, float, float, float]:
    """``'min_lon,min_lat,max_lon,max_lat'`` -> the four numbers (ValueError, one line)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        box = tuple(float(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
        raise ValueError(
            f"city_area {text!r} is not 'min_lon,min_lat,max_lon,max_lat' with min < max"
        )
    if not all(-180 <= lon <= 180 for lon in box[::2]) or not all(
        -90 <= lat <= 90 for lat in box[1::2]
    ):
        raise ValueError(
            f"city_area {text!r} is out of range: longitudes are within -180..180 and "
            "latitudes within -90..90 (degrees, WGS 84)"
        )
    return box[0], box[1], box[2], box[3]


class SettingsError(ValueError):
    """A ``RISKWARN_*`` value out of its type or range; the message is one line."""


def load_settings(**overrides: Any) -> Settings:
    """Build settings from ``RISKWARN_*`` environment variables plus explicit overrides.
    A value out of its type or range raises :class:`SettingsError` naming the variable,
    its value and what is allowed (one line, no traceback at the CLI)."""
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        env = os.environ.get(f"RISKWARN_{name.upper()}")
        if env is not None and env != "":
            values[name] = env
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    return _settings(values, given=frozenset(given))


def setting(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting from ``RISKWARN_<NAME>`` of ``environ`` (default ``os.environ``),
    validated as :func:`load_settings` validates it (:class:`SettingsError`), the
    others left at their defaults: for a reader that needs that one only (the
    dashboard's idle timeout, read on every request)."""
    env = os.environ if environ is None else environ
    raw = env.get(f"RISKWARN_{name.upper()}")
    return getattr(_settings({name: raw} if raw else {}), name)


def _settings(values: dict[str, Any], given: frozenset[str] = frozenset()) -> Settings:
    """``Settings(**values)``, a refusal as one :class:`SettingsError` line naming each
    bad value by its ``RISKWARN_*`` variable, or by its setting's name when the caller
    gave it (``given``: a command-line value such as ``db upgrade --url``)."""
    from pydantic import ValidationError

    from riskwarn.redact import redact

    try:
        return Settings.model_validate(values, context={"given": given})
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            # the password of a URL masked before the value is cut (a cut URL could
            # keep part of its password where redact no longer sees a URL)
            value = redact(str(err.get("input", "")))[:80]
            msg = str(err["msg"]).removeprefix("Value error, ")
            where = name if name in given else f"RISKWARN_{name.upper()}"
            parts.append(f"{where}={value!r}: {msg}")
        raise SettingsError("; ".join(parts)) from None
