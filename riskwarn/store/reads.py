"""Reading what is served: runs, published forecasts and warnings, history, the review trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from riskwarn.store.base import StoreBase
from riskwarn.store.models import (
    LEVELS,
    Forecast,
    ForecastRun,
    ObservedWeek,
    Publication,
    RiskWarning,
    WarningReview,
)
from riskwarn.store.sql import frame_of, table_of, utc


class ReadStore(StoreBase):
    """Read-only queries; every result comes from one statement or one snapshot."""

    def runs(self, domain: str | None = None) -> pd.DataFrame:
        """Every run (staging, published, superseded), newest origin first."""
        t = table_of(ForecastRun)
        stmt = sa.select(t).order_by(t.c.origin.desc(), t.c.run_id)
        if domain is not None:
            stmt = stmt.where(t.c.domain == domain)
        with self._read() as conn:
            return frame_of(conn.execute(stmt).mappings().all(), list(t.c))

    @staticmethod
    def _published_run_stmt(domain: str) -> sa.Select[Any]:
        runs, pub = table_of(ForecastRun), table_of(Publication)
        return (
            sa.select(runs).join(pub, pub.c.run_id == runs.c.run_id).where(pub.c.domain == domain)
        )

    @staticmethod
    def _published_forecasts_stmt(domain: str) -> sa.Select[Any]:
        f, pub = table_of(Forecast), table_of(Publication)
        return (
            sa.select(f)
            .join(pub, sa.and_(pub.c.run_id == f.c.run_id, pub.c.domain == f.c.domain))
            .where(pub.c.domain == domain)
            .order_by(f.c.rank, f.c.unit_id)
        )

    def serving_snapshot(self) -> dict[str, dict[str, Any]]:
        """What is served now, for every domain at once: domain -> its published run
        (``forecast_runs`` row plus ``served_at``, when ``publications`` last pointed at it).

        One statement, so one database snapshot: a publish (one transaction) is either in
        it or not, for every domain together. Readers then read rows by these run ids
        (:meth:`run_forecasts`, :meth:`top_forecasts`, ``warnings(run_ids=...)``), which a
        later publish of another run cannot change: the dashboard reads one of these per
        page so a page never mixes two runs.
        """
        runs, pub = table_of(ForecastRun), table_of(Publication)
        stmt = (
            sa.select(runs, pub.c.published_at.label("served_at"))
            .join(pub, pub.c.run_id == runs.c.run_id)
            .order_by(pub.c.domain)
        )
        with self._read() as conn:
            rows = conn.execute(stmt).mappings().all()
        return {str(r["domain"]): dict(r) for r in rows}

    def run_forecasts(self, run_id: str) -> pd.DataFrame:
        """Every forecast row of one run (published or superseded), ordered as
        :meth:`published_forecasts`; empty for a run that is not (or no longer) stored."""
        f = table_of(Forecast)
        stmt = sa.select(f).where(f.c.run_id == run_id).order_by(f.c.rank, f.c.unit_id)
        with self._read() as conn:
            return frame_of(conn.execute(stmt).mappings().all(), list(f.c))

    def published_run(self, domain: str) -> dict[str, Any] | None:
        """The run served for ``domain`` (its ``forecast_runs`` row), or None."""
        with self._read() as conn:
            row = conn.execute(self._published_run_stmt(domain)).mappings().first()
        return None if row is None else dict(row)

    def last_run_id(self, domain: str) -> str | None:
        """The greatest run id of ``domain`` (any status), or None: the stream numbers its
        runs after it (a superseded run can have a greater id than the served one).
        Greatest by code point, as Python compares strings, whatever the database's
        collation: on PostgreSQL ``COLLATE "C"`` (a linguistic collation, ICU's, sorts
        ``~9999`` after ``~~10000``: the counter reused an id); SQLite's default (BINARY)
        is by code point already."""
        t = table_of(ForecastRun)
        with self._read() as conn:
            col: sa.ColumnElement[Any] = t.c.run_id
            if conn.dialect.name == "postgresql":
                col = col.collate("C")
            got = conn.execute(sa.select(sa.func.max(col)).where(t.c.domain == domain))
            value = got.scalar_one_or_none()
        return None if value is None else str(value)

    def published_forecasts(self, domain: str) -> pd.DataFrame:
        """The forecasts of the run served for ``domain`` (one statement: one snapshot)."""
        with self._read() as conn:
            rows = conn.execute(self._published_forecasts_stmt(domain)).mappings().all()
        return frame_of(rows, list(table_of(Forecast).c))

    def published_snapshot(self, domain: str) -> dict[str, Any]:
        """The served run, its forecasts and its warnings, read from one database snapshot.

        Separate calls to ``published_forecasts`` and ``warnings`` can straddle a
        publish (each is whole, but they may belong to different runs); this cannot.
        Returns ``{"run": dict | None, "forecasts": DataFrame, "warnings": DataFrame}``.
        """
        conn = self.engine.connect()
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn:  # SQLite: one deferred read transaction = one WAL snapshot
            run = conn.execute(self._published_run_stmt(domain)).mappings().first()
            forecasts = conn.execute(self._published_forecasts_stmt(domain)).mappings().all()
            warnings = conn.execute(self._warnings_stmt(domain, None, None, True)).mappings().all()
        return {
            "run": None if run is None else dict(run),
            "forecasts": frame_of(forecasts, list(table_of(Forecast).c)),
            "warnings": frame_of(warnings, [*table_of(RiskWarning).c, "effective_level"]),
        }

    def expected_units(self, run_id: str) -> float | None:
        """The sum of the forecast probabilities of one run: the number of units (cells)
        expected to see at least one event within its horizon, as calibrated
        probabilities say (None: no probability in the run)."""
        f = table_of(Forecast)
        stmt = sa.select(sa.func.sum(f.c.probability)).where(f.c.run_id == run_id)
        with self._read() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        return None if value is None else float(value)

    def observed_weeks(self, domain: str, origin: datetime) -> pd.DataFrame:
        """The observed weekly history of ``domain`` written for the run at ``origin``
        (:meth:`write_observed_weeks`), oldest week first; empty when none was written."""
        t = table_of(ObservedWeek)
        stmt = (
            sa.select(t)
            .where(t.c.domain == domain, t.c.origin == utc(origin))
            .order_by(t.c.week_start)
        )
        with self._read() as conn:
            return frame_of(conn.execute(stmt).mappings().all(), list(t.c))

    def forecast_history(
        self,
        domain: str,
        unit_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Forecasts of every published or superseded run of ``domain``, oldest origin first
        (origins from ``since`` up to ``until``, both included)."""
        f = table_of(Forecast)
        stmt = sa.select(f).where(f.c.domain == domain).order_by(f.c.origin, f.c.rank, f.c.unit_id)
        if unit_id is not None:
            stmt = stmt.where(f.c.unit_id == str(unit_id))
        if since is not None:
            stmt = stmt.where(f.c.origin >= utc(since))
        if until is not None:
            stmt = stmt.where(f.c.origin <= utc(until))
        with self._read() as conn:
            return frame_of(conn.execute(stmt).mappings().all(), list(f.c))

    def run_ids(
        self,
        domain: str,
        statuses: tuple[str, ...] = ("published", "superseded"),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[str]:
        """Ids of the runs of ``domain`` with one of ``statuses`` (``since`` <= origin <=
        ``until``)."""
        r = table_of(ForecastRun)
        stmt = sa.select(r.c.run_id).where(r.c.domain == domain, r.c.status.in_(statuses))
        if since is not None:
            stmt = stmt.where(r.c.origin >= utc(since))
        if until is not None:
            stmt = stmt.where(r.c.origin <= utc(until))
        with self._read() as conn:
            return sorted(str(row[0]) for row in conn.execute(stmt))

    def top_forecasts(
        self, run_ids: Sequence[str], max_rank: int, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Forecast rows with ``rank <= max_rank`` of the runs ``run_ids`` (all columns or
        ``columns``), by origin, rank and unit. Read by run id, the first column of the
        forecasts' primary key, so only those runs are touched (the maps and trends read
        the top of a run, not its hundreds of thousands of cells)."""
        f = table_of(Forecast)
        cols = [f.c[c] for c in columns] if columns else list(f.c)
        if not run_ids:
            return frame_of([], cols)
        stmt = (
            sa.select(*cols)
            .where(f.c.run_id.in_(list(run_ids)), f.c.rank <= max_rank)
            .order_by(f.c.origin, f.c.rank, f.c.unit_id)
        )
        with self._read() as conn:
            return frame_of(conn.execute(stmt).mappings().all(), cols)

    # -- warnings and reviews ------------------------------------------------------------

    @staticmethod
    def _warnings_stmt(
        domain: str | None,
        county: str | None,
        state: str | None,
        published_only: bool,
        run_ids: Sequence[str] | None = None,
        withdrawn: bool | None = False,
    ) -> sa.Select[Any]:
        w, pub = table_of(RiskWarning), table_of(Publication)
        effective = sa.case(
            (sa.or_(w.c.state == "dismissed", w.c.withdrawn_at.is_not(None)), sa.null()),
            else_=sa.func.coalesce(w.c.reviewed_level, w.c.level),
        ).label("effective_level")
        stmt = sa.select(w, effective)
        if run_ids is not None:
            stmt = stmt.where(w.c.run_id.in_(list(run_ids)))
        elif published_only:
            stmt = stmt.join(pub, sa.and_(pub.c.run_id == w.c.run_id, pub.c.domain == w.c.domain))
        if domain is not None:
            stmt = stmt.where(w.c.domain == domain)
        if county is not None:
            stmt = stmt.where(w.c.county_code == county)
        if state is not None:
            stmt = stmt.where(w.c.state == state)
        if withdrawn is not None:
            column = w.c.withdrawn_at
            stmt = stmt.where(column.is_not(None) if withdrawn else column.is_(None))
        return stmt.order_by(w.c.level_rank.desc(), w.c.score.desc(), w.c.warning_id)

    def warnings(
        self,
        domain: str | None = None,
        county: str | None = None,
        state: str | None = None,
        published_only: bool = True,
        run_ids: Sequence[str] | None = None,
        withdrawn: bool | None = False,
    ) -> pd.DataFrame:
        """Warnings ranked by level and score, with ``effective_level`` (the reviewed level
        where adjusted or accepted, else the raised level; None once dismissed or
        withdrawn).

        ``withdrawn``: False (the default) leaves out the warnings a re-publication of
        their run withdrew (they are not in force, not to review, not counted), True keeps
        only those, None keeps both (a warning's history).

        ``published_only`` keeps the warnings of each domain's served run; otherwise
        every warning ever published (history). ``run_ids`` (instead of either) keeps
        the warnings of those runs: the runs of a :meth:`serving_snapshot`, so a
        publish after the snapshot adds none of its warnings.
        """
        if run_ids is not None and not run_ids:
            return frame_of([], [*table_of(RiskWarning).c, "effective_level"])
        stmt = self._warnings_stmt(domain, county, state, published_only, run_ids, withdrawn)
        with self._read() as conn:
            rows = conn.execute(stmt)
            return frame_of(rows.mappings().all(), [*table_of(RiskWarning).c, "effective_level"])

    def get_warning(self, warning_id: str) -> dict[str, Any]:
        """One warning with ``effective_level`` (as in :meth:`warnings`) and ``last_review``
        (dict or None), withdrawn or not (``withdrawn_at``); KeyError if it does not exist."""
        with self._read() as conn:
            return self._get_warning(conn, warning_id)

    @staticmethod
    def _get_warning(conn: Connection, warning_id: str) -> dict[str, Any]:
        w, r = table_of(RiskWarning), table_of(WarningReview)
        row = conn.execute(sa.select(w).where(w.c.warning_id == warning_id)).mappings().first()
        if row is None:
            raise KeyError(f"no warning {warning_id!r}")
        last = (
            conn.execute(
                sa.select(r)
                .where(r.c.warning_id == warning_id)
                .order_by(r.c.review_id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        effective = (
            None
            if row["state"] == "dismissed" or row["withdrawn_at"] is not None
            else row["reviewed_level"] or row["level"]
        )
        return {
            **dict(row),
            "effective_level": effective,
            "last_review": None if last is None else dict(last),
        }

    def warning_reviews(self, warning_id: str | None = None) -> pd.DataFrame:
        """The append-only review trail, oldest first."""
        r = table_of(WarningReview)
        stmt = sa.select(r).order_by(r.c.review_id)
        if warning_id is not None:
            stmt = stmt.where(r.c.warning_id == warning_id)
        with self._read() as conn:
            return frame_of(conn.execute(stmt).mappings().all(), list(r.c))

    # -- decisions taken on earlier runs ------------------------------------------------

    EARLIER_DECISION_COLUMNS = (
        "warning_id",
        "level",
        "earlier_warning_id",
        "earlier_run_id",
        "earlier_origin",
        "earlier_level",
        "review_id",
        "action",
        "from_level",
        "to_level",
        "dismissed_level",
        "reason",
        "reviewer",
        "reviewed_at",
        "decided_level",
        "since_level",
        "level_rose",
    )

    def earlier_decisions(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """For each warning of the runs ``run_ids`` (not withdrawn: those the dashboard
        judges in force), the latest decision the panel took on an *earlier run's* warning
        of the same domain and unit while that earlier warning was in force; warnings
        without one are left out. Read only, from one database snapshot (the warnings of
        ``run_ids``, then the decisions: the few people's decisions, each warning looked up by
        its key, never a scan of a domain's history). Nothing is decided here, the
        dashboard shows it and a reviewer may take the same decision again
        (docs/serving-store.md, "Decisions on earlier runs").

        An earlier warning is one of the same domain and unit with another id and an
        earlier run origin (the daily scoring's warning of the same cell over an
        overlapping window; the stream carries one id per episode, so its own decisions
        are on the warning itself). The decision counts when it was taken while the
        earlier warning was in force as the store knows it (its run served: no run of the
        domain with a later origin published before it; not withdrawn before it) and
        still stands on that warning (its latest decision, and no re-publication reset
        the warning to ``new`` since). Only the place's latest such decision counts: when it
        fell by a reset, nothing carries (an older decision, taken before what changed, is
        not the panel's word on the place any more). Validity in time (``valid_to``) is the dashboard's
        clock, not the store's: a replay judges it at the origin, and ``review_warning``
        takes a decision on an expired warning of the served run.

        Columns :data:`EARLIER_DECISION_COLUMNS`: ``warning_id`` and ``level`` of the
        warning in force; the earlier warning (``earlier_*``, its raised level); the
        decision's ``warning_reviews`` row; ``decided_level`` (the level it left in force,
        for a dismissal the level it set aside); ``since_level`` (``decided_level``: the
        level the panel judged the risk at; the earlier raised level only when the decision
        names none) and ``level_rose`` (the warning in force is raised above
        ``since_level``: after an orange adjusted down to yellow, a new orange rose).
        """
        columns = list(self.EARLIER_DECISION_COLUMNS)
        if not run_ids:
            return pd.DataFrame(columns=columns)
        w = table_of(RiskWarning)
        cur_stmt = sa.select(w.c.warning_id, w.c.domain, w.c.unit_id, w.c.origin, w.c.level).where(
            w.c.run_id.in_(list(run_ids)), w.c.withdrawn_at.is_(None)
        )
        conn = self.engine.connect()
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn:  # SQLite: one deferred read transaction = one WAL snapshot
            current = [dict(m) for m in conn.execute(cur_stmt).mappings()]
            decisions = [dict(m) for m in conn.execute(self._earlier_stmt()).mappings()]
        # decisions per place, newest first (the statement's order); matched in Python:
        # driven by the (few, human) decisions, not by every warning of the domain
        by_place: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for d in decisions:
            by_place.setdefault((str(d["domain"]), str(d["unit_id"])), []).append(d)
        out = []
        for c in current:
            row = next(
                (
                    d
                    for d in by_place.get((str(c["domain"]), str(c["unit_id"])), ())
                    if d["earlier_warning_id"] != c["warning_id"]
                    and utc(d["earlier_origin"]) < utc(c["origin"])
                ),
                None,
            )
            # the panel's latest decision on the place fell (a re-publication changed what
            # it was taken on and reset the warning to ``new``): nothing carries, not an
            # older decision from before the change either
            if row is None or row["earlier_state"] == "new":
                continue
            decided = (
                row["dismissed_level"] or row["from_level"] or row["earlier_level"]
                if row["action"] == "dismiss"
                else row["to_level"]
            )
            # what the panel judged the risk at: the level its decision left in force (a
            # dismissal's, the level it set aside), not the raised one: after an orange
            # adjusted down to yellow, a new orange is above what the panel accepted
            since = decided if decided in LEVELS else row["earlier_level"]
            rose = LEVELS.get(str(c["level"]), 0) > LEVELS.get(str(since), 0)
            out.append(
                {
                    **row,
                    "warning_id": c["warning_id"],
                    "level": c["level"],
                    "decided_level": decided,
                    "since_level": since,
                    "level_rose": rose,
                }
            )
        return pd.DataFrame(out, columns=columns)

    @staticmethod
    def _earlier_stmt() -> sa.Select[Any]:
        """Every decision of :meth:`earlier_decisions`'s kind: taken while its warning was
        in force (its run served, not withdrawn) and the latest on it (``earlier_state``
        ``new``: a re-publication reset the warning since, the decision fell); newest first.
        Driven by ``warning_reviews`` (decisions are people's, few), each warning looked
        up by its key: never a scan of every warning of a domain."""
        w = table_of(RiskWarning)
        prev = w.alias("prev")
        r, later = table_of(WarningReview).alias("r"), table_of(WarningReview).alias("later")
        runs = table_of(ForecastRun).alias("newer")
        replaced_before = sa.exists().where(
            runs.c.domain == prev.c.domain,
            runs.c.origin > prev.c.origin,
            runs.c.published_at.is_not(None),
            runs.c.published_at <= r.c.reviewed_at,
        )
        decided_later = sa.exists().where(
            later.c.warning_id == r.c.warning_id, later.c.review_id > r.c.review_id
        )
        return (
            sa.select(
                prev.c.domain,
                prev.c.unit_id,
                prev.c.warning_id.label("earlier_warning_id"),
                prev.c.run_id.label("earlier_run_id"),
                prev.c.origin.label("earlier_origin"),
                prev.c.level.label("earlier_level"),
                prev.c.state.label("earlier_state"),
                r.c.review_id,
                r.c.action,
                r.c.from_level,
                r.c.to_level,
                r.c.dismissed_level,
                r.c.reason,
                r.c.reviewer,
                r.c.reviewed_at,
            )
            .select_from(r)
            .join(prev, prev.c.warning_id == r.c.warning_id)
            .where(
                # (a warning a re-publication reset to ``new`` is kept: its decision fell,
                # and masks the place's older ones, earlier_decisions)
                sa.or_(prev.c.withdrawn_at.is_(None), r.c.reviewed_at < prev.c.withdrawn_at),
                ~replaced_before,
                ~decided_later,
            )
            .order_by(r.c.reviewed_at.desc(), r.c.review_id.desc())
        )
