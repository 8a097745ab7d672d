"""The source-mapping file: how one city extract maps onto one canonical table.

A mapping is YAML (``configs/sources/<name>.yaml``) validated by :class:`SourceMapping`.
``docs/ingestion.md`` ("Mapping file reference") documents every key. The model is pure
data: reading files and applying the rules live in :mod:`riskwarn.ingest`.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from riskwarn.contracts import PERSONAL_FIELD_HINTS, TABLES


class MappingError(ValueError):
    """A mapping file is unreadable or inconsistent (message is one line)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Condition(_Strict):
    """``when`` rule: if source ``column`` equals (one of) ``equals``, the value is ``value``."""

    column: str
    equals: str | list[str]
    value: Any = None

    @property
    def values(self) -> list[str]:
        return [self.equals] if isinstance(self.equals, str) else list(self.equals)


class ColumnRule(_Strict):
    """How one canonical column is filled.

    Order of application: ``when`` conditions (first match wins), else ``const``, else
    the source value (``from`` / ``template``) -> ``null_values`` -> ``extract`` ->
    ``map`` -> ``normalize`` -> typed parse (``format`` for times) -> ``scale`` ->
    ``default`` when still null.
    """

    from_: str | list[str] | None = Field(default=None, alias="from")
    template: str | None = None
    const: Any = None
    format: str | list[str] | None = None
    map: dict[str, Any] | None = None
    scale: float | None = None
    null_values: list[str] = Field(default_factory=list)
    default: Any = None
    extract: str | None = None
    normalize: Literal["snake_case", "lower", "upper", "strip"] | None = None
    when: list[Condition] = Field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        """Source columns this rule reads (``from`` list = first non-null wins)."""
        if self.from_ is None:
            return []
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)

    @property
    def template_columns(self) -> list[str]:
        import string

        if not self.template:
            return []
        return [f for _, f, _, _ in string.Formatter().parse(self.template) if f]

    @property
    def formats(self) -> list[str]:
        if self.format is None:
            return []
        return [self.format] if isinstance(self.format, str) else list(self.format)

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnRule:
        origins = sum(x is not None for x in (self.from_, self.template, self.const))
        if origins > 1:
            raise ValueError("use only one of from / template / const")
        if origins == 0 and not self.when and self.default is None:
            raise ValueError("needs from, template, const, when or default")
        return self


class IdSpec(_Strict):
    """Source id columns (joined with '|'); omitted -> content hash + occurrence number.

    ``repeats``: what an id seen again in one file with *different* content means.
    ``conflict`` (default): we cannot tell which row is right, so every version is
    quarantined. ``first``: the source repeats a record on purpose (e.g. one row per
    victim of one incident): the file's first valid row is the record and the others are
    counted as duplicates.
    """

    columns: list[str]
    repeats: Literal["conflict", "first"] = "conflict"
    # a regular expression (RE2 syntax, as Arrow runs it) that every record id, the id
    # columns' stripped values joined with '|', must match in full; a row whose id does
    # not is quarantined as bad_record_id with its id masked in the original (a name
    # typed into a case number is no id). None: any id (DEFAULT_ID_FORMAT for the tables
    # of ID_FORMAT_TABLES)
    format: str | None = None

    @field_validator("format")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            pc.match_substring_regex(pa.array([""], pa.string()), f"^(?:{value})$")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ValueError(f"not a regular expression (RE2): {first}") from None
        return value


# Tables whose rows are about people (dispute parties): a mapping of one that gives its id
# no format gets DEFAULT_ID_FORMAT, so that a name typed into a case number (Chinese
# characters, spaces) is never stored as an id. Other tables: no format, any id.
ID_FORMAT_TABLES = frozenset({"disputes", "dispute_events"})
# ASCII letters and digits, then also _ . : / - (no space, no other character)
DEFAULT_ID_FORMAT = "[A-Za-z0-9][A-Za-z0-9_.:/-]*"


class Area(_Strict):
    """Plausibility box in WGS84 degrees."""

    min_lon: float
    max_lon: float
    min_lat: float
    max_lat: float

    def contains(self, lon: Any, lat: Any) -> Any:
        return (
            (lon >= self.min_lon)
            & (lon <= self.max_lon)
            & (lat >= self.min_lat)
            & (lat <= self.max_lat)
        )


class SpikeRule(_Strict):
    """A sensor reading is a spike when it differs from BOTH neighbours (same sensor and
    quantity, time order) by more than ``max_jump`` in the same direction."""

    max_jump: float
    action: Literal["quarantine", "flag"] = "quarantine"


class SqlSource(_Strict):
    """A SQL source read with SQLAlchemy: a table name or a query."""

    url: str
    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("sql needs exactly one of table / query")
        return self


class Limits(_Strict):
    """Bounds on the work one file may cause (memory and time grow with these, not with
    what a file claims). A file over a file-level bound is quarantined whole with a
    one-line reason; a line or field over its bound is quarantined on its own."""

    max_file_mb: float = Field(default=2048, gt=0)  # bytes read after decompression
    max_rows: int = Field(default=5_000_000, gt=0)  # records in one file
    max_columns: int = Field(default=1000, gt=0)  # columns in the header / Parquet schema
    max_line_bytes: int = Field(default=1_000_000, gt=0)  # one CSV record (all its lines)
    max_field_chars: int = Field(default=100_000, gt=0)  # one value
    max_record_lines: int = Field(default=100, gt=0)  # lines of one record (quoted line breaks)

    @model_validator(mode="after")
    def _line_holds_a_field(self) -> Limits:
        if self.max_line_bytes < self.max_field_chars:
            raise ValueError("max_line_bytes must be at least max_field_chars")
        return self

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


class SourceMapping(_Strict):
    """One source mapping file (see docs/ingestion.md, "Mapping file reference")."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    table: str
    description: str = ""
    format: Literal["csv", "parquet", "sql"] = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    skip_rows: int = Field(default=0, ge=0, alias="header_lines")
    null_values: list[str] = Field(default_factory=lambda: [""])
    timezone: str = "UTC"
    ambiguous_time: Literal["standard", "daylight"] = "standard"
    crs: str = "EPSG:4326"
    x: str | None = None
    y: str | None = None
    area: Area | None = None
    id: IdSpec | None = None
    columns: dict[str, ColumnRule]
    drop: list[str] = Field(default_factory=list)
    pseudonymise: dict[str, list[str]] = Field(default_factory=dict)
    not_personal: list[str] = Field(default_factory=list)
    max_future_hours: float = 0.0
    value_range: tuple[float, float] | None = None
    # per canonical quantity (sensor_readings): [min, max] of `value` in its unit; a
    # quantity listed here is checked against its own range (and `value_range` too)
    value_ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    spike: SpikeRule | None = None
    sql: SqlSource | None = None
    chunk_rows: int = Field(default=200_000, gt=0)
    newlines_in_values: bool = False
    # the source's exports may end without a line end after the last record: read it as
    # any record (default: quarantined as unterminated_last_line, the file may be cut)
    last_line_may_lack_line_end: bool = False
    limits: Limits = Field(default_factory=Limits)
    partition: Literal["year", "month"] = "year"
    content_sha256: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> SourceMapping:
        if self.table not in TABLES:
            raise ValueError(f"unknown table {self.table!r} (one of {', '.join(TABLES)})")
        table = TABLES[self.table]
        filled = set(self.columns) | set(self.pseudonymise) | {"source", "record_id"}
        if self.x or self.y:
            if not (self.x and self.y):
                raise ValueError("x and y must be given together")
            filled |= {"lon", "lat"}
        unknown = sorted((set(self.columns) | set(self.pseudonymise)) - set(table.columns))
        if unknown:
            raise ValueError(f"columns not in table {self.table}: {', '.join(unknown)}")
        missing = [f.name for f in table.fields if not f.nullable and f.name not in filled]
        if missing:
            raise ValueError(f"required columns of {self.table} not mapped: {', '.join(missing)}")
        if self.format == "sql" and self.sql is None:
            raise ValueError("format sql needs a sql: {url, table|query} section")
        if self.value_ranges and not {"quantity", "value"} <= set(table.columns):
            raise ValueError(
                f"value_ranges needs a table with quantity and value, not {self.table}"
            )
        for q, (lo, hi) in {**self.value_ranges, "value_range": self.value_range or (0, 0)}.items():
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError(f"range of {q} must be finite [min, max], not [{lo}, {hi}]")
        self._refuse_personal()
        return self

    def _refuse_personal(self) -> None:
        allowed = set(self.not_personal)
        used: list[tuple[str, str]] = []
        for target, rule in self.columns.items():
            cols = rule.sources + rule.template_columns + [c.column for c in rule.when]
            used += [(target, c) for c in cols]
        used += [("record_id", c) for c in (self.id.columns if self.id else [])]
        used += [("lon/lat", c) for c in (self.x, self.y) if c]
        for target, col in used:
            if col not in allowed and looks_personal(col):
                raise ValueError(
                    f"source column {col!r} looks personal and may not be copied into {target!r}: "
                    "list it under drop or pseudonymise (or under not_personal if it is not)"
                )

    @property
    def source_columns(self) -> list[str]:
        """Every source column the mapping reads (besides drop / pseudonymise)."""
        cols: list[str] = []
        for rule in self.columns.values():
            cols += rule.sources + rule.template_columns + [c.column for c in rule.when]
        cols += self.id.columns if self.id else []
        cols += [c for c in (self.x, self.y) if c]
        return list(dict.fromkeys(cols))

    @property
    def id_format(self) -> str | None:
        """The format every record id must match (``id.format``; for the tables of
        :data:`ID_FORMAT_TABLES` :data:`DEFAULT_ID_FORMAT` when not given); None: any."""
        if self.id is None:
            return None
        if self.id.format is None and self.table in ID_FORMAT_TABLES:
            return DEFAULT_ID_FORMAT
        return self.id.format

    @property
    def ids_carry_time(self) -> bool:
        """Whether a record's id fixes its event time: the id columns include the one
        source column the table's time column is read from (no ``when`` / ``const`` /
        ``template`` / fallback list). Then an id can only live in its time's lake
        partition, which keeps the lake's upsert to the batch's own partitions."""
        time_column = TABLES[self.table].time_column
        rule = self.columns.get(time_column) if time_column else None
        if self.id is None or rule is None:
            return False
        plain = not rule.when and rule.const is None and rule.template is None
        return plain and len(rule.sources) == 1 and rule.sources[0] in self.id.columns

    @property
    def known_columns(self) -> set[str]:
        pseud = {c for cols in self.pseudonymise.values() for c in cols}
        return set(self.source_columns) | set(self.drop) | pseud

    @property
    def read_columns(self) -> set[str]:
        """The source columns whose values are read: :attr:`source_columns` and those
        pseudonymised (not the dropped ones)."""
        pseud = {c for cols in self.pseudonymise.values() for c in cols}
        return set(self.source_columns) | pseud


# Chinese column names of personal fields (name, phone, mobile, ID card / certificate
# number, home address) as city extracts spell them; English hints live in contracts.
PERSONAL_FIELD_HINTS_ZH = ("姓名", "电话", "手机", "身份证", "证件号", "住址")


def looks_personal(column: str) -> bool:
    """True when a column name contains a personal-field hint (English or Chinese)."""
    low = column.lower().replace(" ", "_").replace("-", "_")
    return any(h in low for h in PERSONAL_FIELD_HINTS) or any(
        h in column for h in PERSONAL_FIELD_HINTS_ZH
    )


def parse_mapping(text: str, origin: str = "<mapping>") -> SourceMapping:
    """Parse mapping YAML text; any problem becomes a one-line :class:`MappingError`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise MappingError(f"{origin}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{origin}: a mapping file must be a YAML mapping of keys")
    data["content_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        return SourceMapping.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "mapping"
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise MappingError(f"{origin}: {loc}: {msg}{more}") from None


def load_mapping(path: str | Path) -> SourceMapping:
    """Read and validate a mapping file; a bad file gives a one-line :class:`MappingError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"{p}: mapping file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{p}: cannot read mapping file ({exc.__class__.__name__})") from None
    return parse_mapping(text, origin=p.name)
