"""Writing a scoring run: stage it, fill it, publish it in one transaction.

A run is *staged* (``stage_run``), filled (``write_forecasts``, ``write_warnings``)
into staging tables, then *published* in one transaction (``publish_run``); readers
only ever read published runs, so they never see a partial or empty run, and a
failed run leaves the last published one in service. Ids are deterministic, so
re-running a scoring interval rewrites the same rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from riskwarn.store.base import StoreBase
from riskwarn.store.deliveries import insert_deliveries, requeue_in_force
from riskwarn.store.models import (
    LEVELS,
    WARNING_CONTENT,
    Forecast,
    ForecastRun,
    ObservedWeek,
    Publication,
    RiskWarning,
    StagedForecast,
    StagedRun,
    StagedWarning,
)
from riskwarn.store.sql import lock_for_transaction, records_for, table_of, upsert, utc

log = logging.getLogger(__name__)

RUN_KEYS = (
    "run_id",
    "domain",
    "origin",
    "horizon_hours",
    "model_name",
    "model_version",
    "data_version",
    "airflow_run_id",
    "unscored",
)
FORECAST_REQUIRED = ("unit_type", "unit_id", "valid_to", "score")
WARNING_REQUIRED = ("unit_type", "unit_id", "valid_from", "valid_to", "level")


def run_id_for(domain: str, origin: datetime) -> str:
    """The deterministic run id ``domain:YYYYmmddTHHMMZ`` of a scoring interval."""
    return f"{domain}:{utc(origin):%Y%m%dT%H%MZ}"


def warning_id_for(domain: str, unit_id: str, valid_from: datetime) -> str:
    """The deterministic warning id ``domain:unit_id:YYYYmmddTHHMMZ``."""
    return f"{domain}:{unit_id}:{utc(valid_from):%Y%m%dT%H%MZ}"


REVIEWED_FIELDS = (
    "level",
    "probability",
    "reasons",
    "evidence",
    "valid_from",
    "valid_to",
    "lead_time_hours",
    "county_code",
    "township_code",
)
"""The warning columns a reviewer sees on the review page (dashboard.review): a change
to any of them, as shown, reopens the review. Not here: the ids (a warning's identity),
``score`` (only orders the queue), ``level_rank`` (follows the level), ``run_id`` and
``origin`` (which run carries the warning, not what it says)."""


def _shown(value: Any) -> Any:
    """``value`` as compared for a review: numbers to 6 significant digits (no page
    shows more, and a re-computation's float noise is no new content), NaN as None,
    times in UTC ISO, containers element-wise."""
    if isinstance(value, Mapping):
        return {str(k): _shown(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, (int, float)):
        f = float(value)
        return None if f != f else float(f"{f:.6g}")
    try:
        return None if pd.isna(value) else str(value)
    except (TypeError, ValueError):
        return str(value)


def reviewed_content(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a reviewer of ``row`` (a ``warnings`` or ``staged_warnings`` row) sees:
    :data:`REVIEWED_FIELDS`, the probability as the page prints it (``pct_text``, one
    decimal: 0.3101 and 0.3104 both read "31.0%"), the rest via :func:`_shown`."""
    out = {k: _shown(row.get(k)) for k in REVIEWED_FIELDS}
    p = out["probability"]
    # as riskwarn.warnings.pct_text prints it (the store, core, does not import the app)
    out["probability"] = None if p is None else f"{float(p) * 100:.1f}%"
    return out


def reviewed_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The :data:`REVIEWED_FIELDS` whose shown value differs between ``old`` and ``new``."""
    a, b = reviewed_content(old), reviewed_content(new)
    return [k for k in REVIEWED_FIELDS if a[k] != b[k]]


def reviewed_content_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 (hex, first 16 digits) of :func:`reviewed_content`: which content a
    version of a warning showed (audited when a re-publication changes it)."""
    text = json.dumps(reviewed_content(row), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RunRestagedError(RuntimeError):
    """Another writer re-staged the run after this one: this writer's rows were discarded.

    Nothing of this writer's attempt is (or will be) published; the other writer's
    attempt is the one that can be. Raised by ``write_forecasts``, ``write_warnings``
    and ``publish_run``.
    """


class PublishingStore(StoreBase):
    """Staging and publishing of scoring runs.

    Every staging step and the publish take a per-run lock first (PostgreSQL advisory
    transaction lock; SQLite's ``BEGIN IMMEDIATE`` serialises all writers), and only
    the writer that staged a run (it holds the run's staging token) may fill or
    publish it: two writers of one run can never mix or half-publish their rows.
    """

    def stage_run(self, run: Mapping[str, Any], actor: str = "pipeline") -> str:
        """Start (or restart) writing a run; discards rows staged earlier under its id.

        Rows staged earlier by a writer that never published (a score killed after
        staging) are discarded with a ``staging_abandoned`` audit entry: the run id, when
        they were staged and how many forecasts and warnings were dropped.

        The run's published rows, if any, stay in service until ``publish_run``. This
        store becomes the run's only writer: another writer that staged it earlier gets
        :class:`RunRestagedError` on its next write or publish.
        """
        missing = {"run_id", "domain", "origin", "horizon_hours"} - set(run)
        if missing:
            raise ValueError(f"run lacks {sorted(missing)}")
        meta: dict[str, Any] = {k: run.get(k) for k in RUN_KEYS}
        run_id = str(meta["run_id"])
        meta["run_id"] = run_id
        meta["origin"] = utc(meta["origin"])
        meta["horizon_hours"] = float(meta["horizon_hours"])
        for key in ("model_name", "model_version", "data_version", "airflow_run_id"):
            meta[key] = None if meta[key] is None else str(meta[key])
        now = self._now()
        token = str(uuid.uuid4())
        with self._write() as conn:
            lock_for_transaction(conn, "run", run_id)
            self._audit_abandoned(conn, run_id, actor)
            self._discard_staged(conn, run_id)
            conn.execute(
                sa.insert(table_of(StagedRun)).values(**meta, staged_at=now, staging_token=token)
            )
            runs = table_of(ForecastRun)
            exists = conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == run_id)).first()
            if exists is None:  # visible to operators as 'staging' until published
                conn.execute(
                    sa.insert(runs).values(**meta, status="staging", n_rows=0, created_at=now)
                )
        self._staging_tokens[run_id] = token
        log.info("staged run %s", run_id)
        return run_id

    def _audit_abandoned(self, conn: Connection, run_id: str, actor: str) -> None:
        """Audit the rows an earlier, unpublished staging of ``run_id`` left (if any)."""
        sr = table_of(StagedRun)
        prev = conn.execute(sa.select(sr.c.staged_at).where(sr.c.run_id == run_id)).first()
        if prev is None:
            return
        counts = {}
        for key, model in (("n_forecasts", StagedForecast), ("n_warnings", StagedWarning)):
            t = table_of(model)
            counts[key] = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(t).where(t.c.run_id == run_id)
                ).scalar_one()
            )
        staged_at = prev.staged_at
        self._audit(
            conn,
            actor,
            "staging_abandoned",
            "forecast_run",
            run_id,
            {
                **counts,
                "staged_at": staged_at.isoformat() if staged_at is not None else None,
                "note": "staged and never published (the writer stopped): discarded on restage",
            },
        )
        log.warning(
            "run %s: discarded %d forecasts and %d warnings staged at %s and never published",
            run_id,
            counts["n_forecasts"],
            counts["n_warnings"],
            staged_at,
        )

    @staticmethod
    def _discard_staged(conn: Connection, run_id: str) -> None:
        for model in (StagedForecast, StagedWarning, StagedRun):
            t = table_of(model)
            conn.execute(sa.delete(t).where(t.c.run_id == run_id))

    def _own_staged_run(self, conn: Connection, run_id: str) -> dict[str, Any] | None:
        """The run's staged metadata, after taking its lock; None if nothing is staged.

        Raises :class:`RunRestagedError` if this store staged the run but another
        writer re-staged (or published) it since, and ValueError if another writer
        staged it and this store did not.
        """
        lock_for_transaction(conn, "run", run_id)
        t = table_of(StagedRun)
        row = conn.execute(sa.select(t).where(t.c.run_id == run_id)).mappings().first()
        mine = self._staging_tokens.get(run_id)
        if row is None:
            if mine is not None:
                raise RunRestagedError(
                    f"run {run_id!r} was re-staged and published by another writer after this "
                    "one staged it: this writer's rows were discarded, none was published"
                )
            return None
        if row["staging_token"] != mine:
            when = f"{utc(row['staged_at']):%Y-%m-%d %H:%M:%S}Z"
            if mine is None:
                raise ValueError(
                    f"run {run_id!r} was staged by another writer at {when}: only the writer "
                    "that staged a run fills and publishes it"
                )
            raise RunRestagedError(
                f"run {run_id!r} was re-staged by another writer at {when} (Airflow run "
                f"{row['airflow_run_id'] or '-'}): this writer's rows were discarded, "
                "none was published"
            )
        return dict(row)

    def _staged_run(self, conn: Connection, run_id: str) -> dict[str, Any]:
        row = self._own_staged_run(conn, run_id)
        if row is None:
            raise ValueError(f"run {run_id!r} is not staged: call stage_run first")
        return row

    def write_forecasts(self, run_id: str, frame: pd.DataFrame) -> int:
        """Add forecast rows to a staged run; return the number of rows written."""
        missing = set(FORECAST_REQUIRED) - set(frame.columns)
        if missing:
            raise ValueError(f"forecast frame lacks columns {sorted(missing)}")
        table = table_of(StagedForecast)
        with self._write() as conn:
            run = self._staged_run(conn, run_id)
            rows = records_for(frame, table)
            for row in rows:
                row["run_id"] = run_id
                row.setdefault("domain", run["domain"])
                row["origin"] = row.get("origin") or run["origin"]
                row["domain"] = row["domain"] or run["domain"]
                if row["domain"] != run["domain"]:
                    raise ValueError(f"forecast of domain {row['domain']!r} in run {run_id!r}")
            if rows:
                conn.execute(sa.insert(table), rows)
        return len(rows)

    def write_warnings(self, run_id: str, frame: pd.DataFrame) -> int:
        """Add warnings to a staged run; ``warning_id`` and ``level_rank`` are derived if absent."""
        missing = set(WARNING_REQUIRED) - set(frame.columns)
        if missing:
            raise ValueError(f"warning frame lacks columns {sorted(missing)}")
        table = table_of(StagedWarning)
        with self._write() as conn:
            run = self._staged_run(conn, run_id)
            rows = records_for(frame, table)
            for row in rows:
                row["run_id"] = run_id
                row["domain"] = row.get("domain") or run["domain"]
                row["origin"] = row.get("origin") or run["origin"]
                if row["level"] not in LEVELS:
                    raise ValueError(f"unknown warning level {row['level']!r}")
                rank = LEVELS[row["level"]]
                if row.get("level_rank") not in (None, rank):
                    raise ValueError(
                        f"level {row['level']} has level_rank {rank}, not {row['level_rank']}"
                    )
                row["level_rank"] = rank
                row["warning_id"] = row.get("warning_id") or warning_id_for(
                    row["domain"], row["unit_id"], row["valid_from"]
                )
            if rows:
                conn.execute(sa.insert(table), rows)
        return len(rows)

    def write_observed_weeks(self, domain: str, origin: datetime, frame: pd.DataFrame) -> int:
        """Replace the observed weekly history of ``domain`` before ``origin`` (a published
        run's) with ``frame`` (``week_start``, ``week_end``, ``events``, ``units``), in one
        transaction: a re-run of the publish step writes the same rows. A week ending after
        ``origin`` is refused (it would count events the forecast could not know)."""
        origin = utc(origin)
        table = table_of(ObservedWeek)
        rows = records_for(frame, table)
        for row in rows:
            if utc(row["week_end"]) > origin:
                raise ValueError(
                    f"{domain}: observed week ending {row['week_end']} is after the origin {origin}"
                )
            row.update(domain=domain, origin=origin, computed_at=self._now())
        with self._write() as conn:
            conn.execute(sa.delete(table).where(table.c.domain == domain, table.c.origin == origin))
            if rows:
                conn.execute(sa.insert(table), rows)
        return len(rows)

    def publish_run(
        self,
        run_id: str,
        actor: str = "pipeline",
        *,
        deliveries: Sequence[Mapping[str, Any]] = (),
    ) -> str:
        """Serve a staged run, atomically; return its status ('published' or 'superseded').

        In one transaction: the staged rows replace any earlier rows of the run, the
        warnings are upserted (those of the run it no longer raises are withdrawn, see
        :meth:`_merge_warnings`), the run becomes 'published', the domain's previous run
        'superseded' and ``publications[domain]`` points at it. A run older than the
        one served (a backfill) is stored as 'superseded' and does not replace it.
        Publishing an already published run with nothing staged does nothing.
        ``deliveries`` (rows of :meth:`enqueue_deliveries`) are logged in the same
        transaction: a change is published with its deliveries or not at all (a crash
        between the two would otherwise serve a change nobody is ever told about); a
        superseded run's are not logged (its changes never reach the served snapshot:
        a replay older than the live stream tells nobody; counted in the audit entry).
        Expired deliveries of the run's warnings that are in force again are queued
        again (:func:`~riskwarn.store.deliveries.requeue_in_force`).
        Raises ValueError for a run with no forecasts (the served run stays), and
        :class:`RunRestagedError` if another writer re-staged the run since this store
        staged it (its attempt, not this one, is the one that can be published).

        The run's lock is taken before anything is read, then the domain's (one
        publisher per domain at a time), so the staged rows cannot change under it.

        :attr:`last_deliveries` then says how many of ``deliveries`` were logged new
        ``pending`` and how many ``expired`` (their warning no longer in force).
        """
        self.last_deliveries = {"pending": 0, "expired": 0}
        with self._write() as conn:
            runs = table_of(ForecastRun)
            meta_row = self._own_staged_run(conn, run_id)
            if meta_row is None:
                done = conn.execute(
                    sa.select(runs.c.status).where(runs.c.run_id == run_id)
                ).scalar_one_or_none()
                if done in ("published", "superseded"):
                    return str(done)
                raise ValueError(f"run {run_id!r} is not staged: call stage_run first")
            meta = dict(meta_row)
            staged_at = meta.pop("staged_at")
            meta.pop("staging_token")
            sf = table_of(StagedForecast)
            n_rows = conn.execute(
                sa.select(sa.func.count()).select_from(sf).where(sf.c.run_id == run_id)
            ).scalar_one()
            if n_rows == 0:
                raise ValueError(f"run {run_id!r} has no forecasts: not publishing it")
            now = self._now()
            domain = meta["domain"]
            lock_for_transaction(conn, "domain", domain)  # one publisher per domain at a time
            pub = table_of(Publication)
            current = conn.execute(
                sa.select(pub.c.run_id, runs.c.origin)
                .join(runs, runs.c.run_id == pub.c.run_id)
                .where(pub.c.domain == domain)
            ).first()
            becomes_current = current is None or current.origin <= meta["origin"]
            status = "published" if becomes_current else "superseded"

            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id)
                .values(**meta, status=status, n_rows=n_rows, published_at=now)
            )
            self._move_forecasts(conn, run_id)
            n_warn, n_withdrawn = self._merge_warnings(conn, run_id, now, becomes_current, actor)
            if becomes_current:
                if current is not None and current.run_id != run_id:
                    conn.execute(
                        sa.update(runs)
                        .where(runs.c.run_id == current.run_id)
                        .values(status="superseded")
                    )
                upsert(
                    conn,
                    pub,
                    [{"domain": domain, "run_id": run_id, "published_at": now}],
                    ["domain"],
                )
            audit = lambda *entry: self._audit(conn, actor, *entry)  # noqa: E731
            # a level held through a catch-up: its warning is in force again (at now)
            sw = table_of(StagedWarning)
            requeue_in_force(
                conn, sa.select(sw.c.warning_id).where(sw.c.run_id == run_id), now, audit
            )
            self._discard_staged(conn, run_id)
            tally = {"pending": 0, "expired": 0}
            if deliveries and becomes_current:  # those of warnings no longer in force:
                insert_deliveries(conn, deliveries, now, audit, tally)  # logged expired
            self._audit(
                conn,
                actor,
                "publish_run",
                "forecast_run",
                run_id,
                {
                    "domain": domain,
                    "status": status,
                    "model_version": meta.get("model_version"),
                    "data_version": meta.get("data_version"),
                    "n_forecasts": n_rows,
                    "n_warnings": n_warn,
                    "n_withdrawn": n_withdrawn,
                    "staged_at": staged_at.isoformat(),
                    "replaced": None if current is None else current.run_id,
                    # a superseded run's deliveries are not logged
                    "deliveries_not_logged": 0 if becomes_current else len(deliveries),
                },
            )
        self._staging_tokens.pop(run_id, None)
        self.last_deliveries = tally
        log.info(
            "run %s %s (%d forecasts, %d warnings, %d withdrawn)",
            run_id,
            status,
            n_rows,
            n_warn,
            n_withdrawn,
        )
        return status

    @staticmethod
    def _move_forecasts(conn: Connection, run_id: str) -> None:
        f, sf = table_of(Forecast), table_of(StagedForecast)
        cols = [c.name for c in f.columns]
        conn.execute(sa.delete(f).where(f.c.run_id == run_id))
        conn.execute(
            sa.insert(f).from_select(
                cols, sa.select(*(sf.c[c] for c in cols)).where(sf.c.run_id == run_id)
            )
        )

    def _merge_warnings(
        self, conn: Connection, run_id: str, now: datetime, is_current: bool, actor: str
    ) -> tuple[int, int]:
        """Upsert the run's staged warnings into ``warnings``; withdraw those of the run
        that its staged rows no longer have. Returns (warnings staged, warnings withdrawn).

        New warnings start as state 'new', version 1. An existing warning re-published by
        the same run whose reviewed content changed (:func:`reviewed_changes`: anything the review page shows: level,
        probability as shown, reasons, evidence, validity, lead time, place) is reset to
        'new' with its version bumped: it needs a fresh review, a form opened on the old
        content gets the stale-version conflict, the earlier decision stays in the trail
        at its (older) version, and 'warning_content_changed' is audited with the fields
        that changed and the content hashes before and after. A change the page does
        not show (the score, the run that carries the warning) only refreshes the row,
        review state/version kept. A newer run carrying the warning forward (the stream
        holding a site's level: new validity, new readings) reopens it only when the level
        changed. Unchanged warnings are not touched (a re-run rewrites
        nothing). A withdrawn warning raised again is 'new' again (version bumped,
        review trail kept).

        A warning whose ``run_id`` is this run and which this publication does not raise
        (the run published again after a data correction or a backfill re-run) is
        withdrawn: kept with its review state and trail, ``withdrawn_at/by/reason`` set,
        its version bumped (a review form opened on it gets the stale-version conflict),
        audited. Only warnings of this very run: one a newer run raised since (a
        backfill's warning taken over, the stream's carried-over episode) has that run's
        id and is not this publication's to withdraw.
        """
        w, sw = table_of(RiskWarning), table_of(StagedWarning)
        staged = conn.execute(sa.select(sw).where(sw.c.run_id == run_id)).mappings().all()
        existing = {
            r["warning_id"]: dict(r)
            for r in conn.execute(
                sa.select(w)
                .join(sw, sw.c.warning_id == w.c.warning_id)
                .where(sw.c.run_id == run_id)
                .with_for_update(of=w)  # a review cannot slip between this read and the update
            ).mappings()
        }
        inserts: list[dict[str, Any]] = []
        for row in staged:
            new = {k: row[k] for k in WARNING_CONTENT}
            old = existing.get(new["warning_id"])
            if old is None:
                inserts.append(
                    {
                        **new,
                        "state": "new",
                        "reviewed_level": None,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            if not is_current and old["run_id"] != run_id:
                continue  # a backfilled older run never overrides a newer run's warning
            if old["withdrawn_at"] is not None:
                conn.execute(
                    sa.update(w)
                    .where(w.c.warning_id == new["warning_id"])
                    .values(
                        **new,
                        updated_at=now,
                        state="new",
                        reviewed_level=None,
                        version=w.c.version + 1,
                        withdrawn_at=None,
                        withdrawn_by=None,
                        withdrawn_reason=None,
                    )
                )
                self._audit(
                    conn,
                    actor,
                    "warning_raised_again",
                    "warning",
                    new["warning_id"],
                    {
                        "run_id": run_id,
                        "withdrawn_at": old["withdrawn_at"].isoformat(),
                        "version": old["version"] + 1,
                    },
                )
                continue
            if all(old[k] == new[k] for k in WARNING_CONTENT):
                continue
            values: dict[str, Any] = {**new, "updated_at": now}
            changed = reviewed_changes(old, new)
            if old["run_id"] != run_id:
                # a newer run carrying the warning forward (the stream's rounds hold a site's
                # level with a fresh validity and fresh readings): the decision was on the
                # level, which only a level change reopens (a panel's dismissal must keep a
                # held warning from paging again: tests/test_delivery_review_cancel.py)
                changed = [k for k in changed if k == "level"]
            if changed:  # what the reviewer decided on is not what is shown any more
                values.update(state="new", reviewed_level=None, version=w.c.version + 1)
                self._audit(
                    conn,
                    actor,
                    "warning_content_changed",
                    "warning",
                    new["warning_id"],
                    {
                        "run_id": run_id,
                        "changed": changed,
                        "state_before": old["state"],
                        "version": old["version"] + 1,
                        "content_before": reviewed_content_hash(old),
                        "content": reviewed_content_hash(new),
                    },
                )
            conn.execute(sa.update(w).where(w.c.warning_id == new["warning_id"]).values(**values))
        if inserts:
            conn.execute(sa.insert(w), inserts)
        withdrawn = self._withdraw_dropped(conn, run_id, now, actor)
        return len(staged), withdrawn

    def _withdraw_dropped(self, conn: Connection, run_id: str, now: datetime, actor: str) -> int:
        """Withdraw the warnings of ``run_id`` (in force) that its staged rows lack."""
        w, sw = table_of(RiskWarning), table_of(StagedWarning)
        reason = f"not raised by the re-run of {run_id}"
        dropped = conn.execute(
            sa.select(w.c.warning_id, w.c.state, w.c.version)
            .where(
                w.c.run_id == run_id,
                w.c.withdrawn_at.is_(None),
                w.c.warning_id.not_in(sa.select(sw.c.warning_id).where(sw.c.run_id == run_id)),
            )
            .order_by(w.c.warning_id)
            .with_for_update(of=w)
        ).all()
        for wid, state, version in dropped:
            conn.execute(
                sa.update(w)
                .where(w.c.warning_id == wid)
                .values(
                    version=w.c.version + 1,
                    updated_at=now,
                    withdrawn_at=now,
                    withdrawn_by=actor,
                    withdrawn_reason=reason,
                )
            )
            self._audit(
                conn,
                actor,
                "withdraw_warning",
                "warning",
                wid,
                {"run_id": run_id, "reason": reason, "state": state, "version": version + 1},
            )
        return len(dropped)
