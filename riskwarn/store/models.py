"""SQLAlchemy 2 tables of the serving store (the schema documented in docs/serving-store.md).

The schema itself is created only by the Alembic migrations in ``migrations/versions``;
these declarations mirror them for queries (a test checks that both agree).

Times are timezone-aware UTC everywhere (:class:`UTCDateTime`), JSON columns use the
portable :class:`sqlalchemy.JSON` type so the same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LEVELS: dict[str, int] = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
"""Warning level -> level_rank (4 = red, the most severe)."""
STATES = ("new", "accepted", "adjusted", "dismissed")
RUN_STATUSES = ("staging", "published", "superseded")
UNIT_TYPES = ("cell", "case", "site")
REVIEW_ACTIONS = ("accept", "adjust", "dismiss")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Auto-incrementing surrogate keys: BIGINT on PostgreSQL, the rowid alias on SQLite.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts aware datetimes and returns UTC-aware ones.

    SQLite has no time zone type: values are converted to UTC before they are stored
    and marked UTC when read back. PostgreSQL (``timestamptz``) returns them in the
    session zone; they are converted to UTC. Naive datetimes are rejected.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if hasattr(value, "to_pydatetime"):
            value = value.to_pydatetime()
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # defensive: SQLite rows written by other tools
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class ForecastRun(Base):
    """One scoring run of a domain for one forecast origin (``run_id = domain:origin``)."""

    __tablename__ = "forecast_runs"
    __table_args__ = (
        sa.CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        sa.Index("ix_forecast_runs_domain_origin", "domain", "origin"),
    )

    run_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    domain: Mapped[str] = mapped_column(sa.String(32))
    origin: Mapped[datetime] = mapped_column(UTCDateTime())
    horizon_hours: Mapped[float] = mapped_column(sa.Float)
    model_name: Mapped[str | None] = mapped_column(sa.String(256))
    model_version: Mapped[str | None] = mapped_column(sa.String(64))
    data_version: Mapped[str | None] = mapped_column(sa.String(256))
    airflow_run_id: Mapped[str | None] = mapped_column(sa.String(256))
    status: Mapped[str] = mapped_column(sa.String(16))
    n_rows: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unscored: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    """Units the run leaves out, by reason: ``{"already_escalated": [case ids]}`` (the
    dispute-case model scores only open cases not escalated yet); NULL: none, or a run
    written before this was recorded (migration 0013)."""


class StagedRun(Base):
    """Metadata of a run being written; moved to ``forecast_runs`` when published."""

    __tablename__ = "staged_runs"

    run_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    domain: Mapped[str] = mapped_column(sa.String(32))
    origin: Mapped[datetime] = mapped_column(UTCDateTime())
    horizon_hours: Mapped[float] = mapped_column(sa.Float)
    model_name: Mapped[str | None] = mapped_column(sa.String(256))
    model_version: Mapped[str | None] = mapped_column(sa.String(64))
    data_version: Mapped[str | None] = mapped_column(sa.String(256))
    airflow_run_id: Mapped[str | None] = mapped_column(sa.String(256))
    staged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    staging_token: Mapped[str | None] = mapped_column(sa.String(36))
    """Set by ``stage_run``: only the writer holding it may fill and publish the run."""
    unscored: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))


class _ForecastColumns:
    """Columns shared by ``forecasts`` and ``staged_forecasts``."""

    run_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    unit_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    unit_type: Mapped[str] = mapped_column(sa.String(8))
    domain: Mapped[str] = mapped_column(sa.String(32))
    origin: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime())
    score: Mapped[float] = mapped_column(sa.Float)
    probability: Mapped[float | None] = mapped_column(sa.Float)
    rank: Mapped[int | None] = mapped_column(sa.Integer)
    county_code: Mapped[str | None] = mapped_column(sa.String(32))
    township_code: Mapped[str | None] = mapped_column(sa.String(32))
    cell_x: Mapped[int | None] = mapped_column(sa.Integer)
    cell_y: Mapped[int | None] = mapped_column(sa.Integer)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    lat: Mapped[float | None] = mapped_column(sa.Float)
    explanation: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))


class Forecast(_ForecastColumns, Base):
    """Published (or superseded) forecast rows: one per unit per run."""

    __tablename__ = "forecasts"
    __table_args__ = (
        sa.ForeignKeyConstraint(["run_id"], ["forecast_runs.run_id"]),
        sa.CheckConstraint(_in("unit_type", UNIT_TYPES), name="unit_type"),
        sa.Index("ix_forecasts_domain_unit_id", "domain", "unit_id"),
        sa.Index("ix_forecasts_run_id_rank", "run_id", "rank"),
    )


class StagedForecast(_ForecastColumns, Base):
    """Forecast rows of a run that is not yet published."""

    __tablename__ = "staged_forecasts"
    __table_args__ = (
        sa.ForeignKeyConstraint(["run_id"], ["staged_runs.run_id"]),
        sa.CheckConstraint(_in("unit_type", UNIT_TYPES), name="unit_type"),
    )


class _WarningColumns:
    """Content columns shared by ``warnings`` and ``staged_warnings``."""

    warning_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(128))
    domain: Mapped[str] = mapped_column(sa.String(32))
    unit_type: Mapped[str] = mapped_column(sa.String(8))
    unit_id: Mapped[str] = mapped_column(sa.String(128))
    origin: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime())
    level: Mapped[str] = mapped_column(sa.String(8))
    level_rank: Mapped[int] = mapped_column(sa.Integer)
    probability: Mapped[float | None] = mapped_column(sa.Float)
    score: Mapped[float | None] = mapped_column(sa.Float)
    reasons: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    evidence: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    lead_time_hours: Mapped[float | None] = mapped_column(sa.Float)
    county_code: Mapped[str | None] = mapped_column(sa.String(32))
    township_code: Mapped[str | None] = mapped_column(sa.String(32))


WARNING_CONTENT = (
    "warning_id",
    "run_id",
    "domain",
    "unit_type",
    "unit_id",
    "origin",
    "valid_from",
    "valid_to",
    "level",
    "level_rank",
    "probability",
    "score",
    "reasons",
    "evidence",
    "lead_time_hours",
    "county_code",
    "township_code",
)
"""Columns a scoring run writes; the rest of ``warnings`` is review state."""


class RiskWarning(_WarningColumns, Base):
    """Published warnings with their review state; upserted by ``warning_id``.

    A warning whose run was re-published without it is *withdrawn* (``withdrawn_at``
    set), never deleted: it keeps its review state and trail but is not in force."""

    __tablename__ = "warnings"
    __table_args__ = (
        sa.ForeignKeyConstraint(["run_id"], ["forecast_runs.run_id"]),
        sa.CheckConstraint(_in("level", tuple(LEVELS)), name="level"),
        sa.CheckConstraint("level_rank BETWEEN 1 AND 4", name="level_rank"),
        sa.CheckConstraint(_in("state", STATES), name="state"),
        sa.CheckConstraint(
            f"reviewed_level IS NULL OR {_in('reviewed_level', tuple(LEVELS))}",
            name="reviewed_level",
        ),
        sa.Index("ix_warnings_run_id", "run_id"),
        sa.Index("ix_warnings_domain_county_code", "domain", "county_code"),
    )

    # review state after the content columns (sort_order), as in the migration
    state: Mapped[str] = mapped_column(sa.String(16), sort_order=10)
    reviewed_level: Mapped[str | None] = mapped_column(sa.String(8), sort_order=10)
    version: Mapped[int] = mapped_column(sa.Integer, sort_order=10)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), sort_order=10)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), sort_order=10)
    # set while the warning is withdrawn (migration 0006): a re-publication of its run no
    # longer raised it; its review state above is kept, it is no longer in force
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), sort_order=20)
    withdrawn_by: Mapped[str | None] = mapped_column(sa.String(128), sort_order=20)
    withdrawn_reason: Mapped[str | None] = mapped_column(sa.Text, sort_order=20)


class StagedWarning(_WarningColumns, Base):
    """Warnings of a run that is not yet published."""

    __tablename__ = "staged_warnings"
    __table_args__ = (
        sa.ForeignKeyConstraint(["run_id"], ["staged_runs.run_id"]),
        sa.CheckConstraint(_in("level", tuple(LEVELS)), name="level"),
    )

    run_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    warning_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)


class WarningReview(Base):
    """Append-only trail of review decisions (UPDATE/DELETE rejected by a trigger)."""

    __tablename__ = "warning_reviews"
    __table_args__ = (
        sa.CheckConstraint(_in("action", REVIEW_ACTIONS), name="action"),
        sa.Index("ix_warning_reviews_warning_id", "warning_id"),
    )

    review_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    warning_id: Mapped[str] = mapped_column(sa.String(256), sa.ForeignKey("warnings.warning_id"))
    action: Mapped[str] = mapped_column(sa.String(16))
    from_level: Mapped[str | None] = mapped_column(sa.String(8))
    to_level: Mapped[str | None] = mapped_column(sa.String(8))
    reason: Mapped[str] = mapped_column(sa.Text)
    reviewer: Mapped[str] = mapped_column(sa.String(128))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    warning_version: Mapped[int] = mapped_column(sa.Integer)
    # a dismissal's level set aside: the level in force, or for a warning already
    # dismissed the one the dismissal in force set aside; NULL on accept / adjust rows
    # (migration 0015, which filled older rows from the trail where derivable)
    dismissed_level: Mapped[str | None] = mapped_column(sa.String(8))


class AuditLog(Base):
    """Append-only audit trail (UPDATE/DELETE rejected by a trigger)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[str] = mapped_column(sa.String(256))
    details: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))


class IngestBatch(Base):
    """Counts of one ingested file (upserted by ``batch_id``)."""

    __tablename__ = "ingest_batches"

    batch_id: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(128))
    file_name: Mapped[str] = mapped_column(sa.String(1024))
    table_name: Mapped[str] = mapped_column(sa.String(64))
    read: Mapped[int] = mapped_column(sa.Integer)
    accepted: Mapped[int] = mapped_column(sa.Integer)
    new: Mapped[int] = mapped_column(sa.Integer)
    updated: Mapped[int] = mapped_column(sa.Integer)
    unchanged: Mapped[int] = mapped_column(sa.Integer)
    quarantined: Mapped[int] = mapped_column(sa.Integer)
    duplicates: Mapped[int] = mapped_column(sa.Integer)
    reasons: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Publication(Base):
    """The run currently served for each domain."""

    __tablename__ = "publications"

    domain: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(128), sa.ForeignKey("forecast_runs.run_id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ObservedWeek(Base):
    """What happened in one week before a published run's origin (migration 0012): the
    events of the domain's event table in ``[week_start, week_end)`` and the units (250 m
    cells, sites) with at least one, counted from the lake at publish time
    (``riskwarn.pipeline.publish_observed``). Only weeks ending at or before ``origin``:
    the overview's "is it rising" reads observed history, then the run's forecast."""

    __tablename__ = "observed_weeks"

    domain: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    origin: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    week_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    week_end: Mapped[datetime] = mapped_column(UTCDateTime())
    events: Mapped[int] = mapped_column(sa.Integer)
    units: Mapped[int] = mapped_column(sa.Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CommunityRun(Base):
    """One published weekly ranking of the communities (村/社区) by where disputes will
    be registered (migration 0016): ``run_id`` = ``disputes_communities:<origin>``, one per
    origin; ``method`` / ``method_version`` the rule or model that ranked them
    (``features.communities.SERVED``: the one that won the community backtest);
    ``content_hash`` of its rows: a re-run of the origin computing the same rows changes
    nothing, one computing other rows replaces them (``replaced_at``)."""

    __tablename__ = "community_runs"
    __table_args__ = (sa.UniqueConstraint("origin", name="uq_community_runs_origin"),)

    run_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    origin: Mapped[datetime] = mapped_column(UTCDateTime())
    horizon_days: Mapped[int] = mapped_column(sa.Integer)
    method: Mapped[str] = mapped_column(sa.String(64))
    method_version: Mapped[str] = mapped_column(sa.String(64))
    n_communities: Mapped[int] = mapped_column(sa.Integer)
    data_version: Mapped[str | None] = mapped_column(sa.String(256))
    airflow_run_id: Mapped[str | None] = mapped_column(sa.String(256))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CommunityRanking(Base):
    """One community in a :class:`CommunityRun`: its ``rank`` (1 = most expected), the
    ``score`` it was ranked by, the ``expected`` disputes of the week from the origin and
    the disputes of the 4 and 52 weeks before it (codes and counts only)."""

    __tablename__ = "community_rankings"
    __table_args__ = (
        sa.ForeignKeyConstraint(["run_id"], ["community_runs.run_id"]),
        sa.CheckConstraint("rank >= 1", name="rank"),
        sa.CheckConstraint("expected >= 0", name="expected"),
        sa.Index("ix_community_rankings_run_id_rank", "run_id", "rank"),
    )

    run_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    admin_code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    rank: Mapped[int] = mapped_column(sa.Integer)
    score: Mapped[float] = mapped_column(sa.Float)
    expected: Mapped[float] = mapped_column(sa.Float)
    n_28d: Mapped[int | None] = mapped_column(sa.Integer)
    n_364d: Mapped[int | None] = mapped_column(sa.Integer)
    township_code: Mapped[str | None] = mapped_column(sa.String(32))
    county_code: Mapped[str | None] = mapped_column(sa.String(32))


DELIVERY_CHANNELS = ("email", "webhook")
# expired: not sent, the warning was no longer in force (migration 0008)
# superseded / unpaged: not sent, a later change carried the net state / the warning
# ended before the officer heard of it (migration 0009, riskwarn.store.deliveries)
# cancelled: not sent, the review panel dismissed the warning or adjusted it below the
# change's level (migration 0010, riskwarn.store.deliveries.review_stops_paging)
DELIVERY_STATUSES = ("pending", "sent", "failed", "expired", "superseded", "unpaged", "cancelled")
WARNING_CHANGES = ("new", "raised", "lowered", "ended", "escalated")


class Delivery(Base):
    """One message about one warning change to one contact over one channel.

    ``delivery_key`` names the warning change (one per change, whatever the retries);
    ``(delivery_key, channel, contact_id)`` is unique, so a change is sent once per
    contact and channel. ``contact_id`` is the contact's id in the contacts file: no
    address, name or number is stored here (docs/streaming.md)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("delivery_key", "channel", "contact_id", name="uq_deliveries_key"),
        sa.CheckConstraint(_in("channel", DELIVERY_CHANNELS), name="channel"),
        sa.CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        sa.CheckConstraint(_in("change", WARNING_CHANGES), name="change"),
        sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_deliveries_warning_id", "warning_id"),
    )

    delivery_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    delivery_key: Mapped[str] = mapped_column(sa.String(128))
    warning_id: Mapped[str] = mapped_column(sa.String(256))
    domain: Mapped[str] = mapped_column(sa.String(32))
    unit_id: Mapped[str] = mapped_column(sa.String(128))
    change: Mapped[str] = mapped_column(sa.String(16))
    from_level: Mapped[str | None] = mapped_column(sa.String(8))
    to_level: Mapped[str | None] = mapped_column(sa.String(8))
    channel: Mapped[str] = mapped_column(sa.String(16))
    contact_id: Mapped[str] = mapped_column(sa.String(128))
    escalation_step: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.String(512))
    message: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # a claim of this row ended without a recorded outcome (the sender died after its
    # send, its lease ran out): the officer may have heard it, whatever came after
    # (migration 0011; ``riskwarn.store.deliveries.possibly_sent``)
    maybe_heard: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())


class WarningAck(Base):
    """Who acknowledged a warning change, and when (append-only). ``claim`` is the
    delivery key, unique: a change is acknowledged once (migration 0007; acknowledgements
    recorded twice before it keep ``claim`` NULL on every row but the first)."""

    __tablename__ = "warning_acks"
    __table_args__ = (
        sa.Index("ix_warning_acks_warning_id", "warning_id"),
        sa.Index("uq_warning_acks_claim", "claim", unique=True),
    )

    ack_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    warning_id: Mapped[str] = mapped_column(sa.String(256))
    delivery_key: Mapped[str | None] = mapped_column(sa.String(128))
    acknowledged_by: Mapped[str] = mapped_column(sa.String(128))
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    via: Mapped[str] = mapped_column(sa.String(32))
    claim: Mapped[str | None] = mapped_column(sa.String(128))


APPEND_ONLY_TABLES = ("warning_reviews", "audit_log")
