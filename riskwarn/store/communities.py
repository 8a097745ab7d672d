"""The weekly disputes ranking by community (村/社区): publish it, read it back.

One run per forecast origin (``run_id`` = :func:`community_run_id`): a ``community_runs``
row (origin, horizon, the method that ranked and its version, when it was written) and a
``community_rankings`` row per community (rank, score, expected disputes of the week,
disputes of the last 4 and 52 weeks, township and county codes). Publishing is one
transaction; a re-run of an origin that computes the same rows changes nothing (not even
``created_at``), one that computes other rows (a lake restored from an older backup, a
new rule version) replaces them and says so (``replaced_at``, an audit entry). Codes and
counts only: the frame's other columns are never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from riskwarn.store.base import StoreBase
from riskwarn.store.models import CommunityRanking, CommunityRun
from riskwarn.store.sql import frame_of, lock_for_transaction, records_for, table_of, utc

log = logging.getLogger(__name__)

COMMUNITY_RUN_PREFIX = "disputes_communities"
RANKING_REQUIRED = ("admin_code", "rank", "score", "expected")
RANKING_COLUMNS = (
    "admin_code",
    "rank",
    "score",
    "expected",
    "n_28d",
    "n_364d",
    "township_code",
    "county_code",
)
RUN_REQUIRED = ("origin", "horizon_days", "method", "method_version")


def community_run_id(origin: datetime) -> str:
    """``disputes_communities:YYYYmmddTHHMMZ``: the one ranking run of an origin."""
    return f"{COMMUNITY_RUN_PREFIX}:{utc(origin):%Y%m%dT%H%MZ}"


def _check_ranking(frame: pd.DataFrame) -> None:
    """Refuse a ranking the page could not show truthfully, with what is wrong."""
    missing = [c for c in RANKING_REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"community ranking lacks columns {missing}")
    if frame.empty:
        raise ValueError("community ranking has no rows: not publishing an empty ranking")
    codes = frame["admin_code"]
    if codes.isna().any() or (codes.astype(str).str.strip() == "").any():
        raise ValueError("community ranking has a row without an admin_code")
    if codes.astype(str).duplicated().any():
        dup = sorted(codes.astype(str)[codes.astype(str).duplicated()].unique())[:5]
        raise ValueError(f"community ranking has communities twice: {dup}")
    for col in ("score", "expected"):
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        if not all(math.isfinite(x) for x in v):
            raise ValueError(f"community ranking: {col} is missing or not finite on some rows")
    if (pd.to_numeric(frame["expected"]) < 0).any():
        raise ValueError("community ranking: a negative expected count")
    ranks = sorted(pd.to_numeric(frame["rank"], errors="coerce").fillna(0).astype(int))
    if ranks != list(range(1, len(frame) + 1)):
        raise ValueError("community ranking: ranks must be 1..n, each once")


def content_hash(run: Mapping[str, Any], rows: list[dict[str, Any]]) -> str:
    """SHA-256 (hex) of what a ranking says: origin, horizon, method and version, and its
    rows in rank order (not when, nor from which lake version, it was computed)."""
    head = {
        "origin": utc(run["origin"]).isoformat(),
        "horizon_days": int(run["horizon_days"]),
        "method": str(run["method"]),
        "method_version": str(run["method_version"]),
    }
    body = [[r.get(c) for c in RANKING_COLUMNS] for r in sorted(rows, key=lambda r: r["rank"])]
    text = json.dumps([head, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class CommunityStore(StoreBase):
    """Publishing and reading the community rankings."""

    def publish_community_ranking(
        self, run: Mapping[str, Any], frame: pd.DataFrame, actor: str = "pipeline"
    ) -> str:
        """Publish the ranking of ``run["origin"]``; return ``"published"`` (new),
        ``"unchanged"`` (the same rows were published: nothing written) or ``"replaced"``.

        ``run``: ``origin`` (UTC-aware), ``horizon_days``, ``method``, ``method_version``;
        optional ``data_version``, ``airflow_run_id``. ``frame``: one row per community,
        :data:`RANKING_COLUMNS` (others are ignored). Raises ValueError for an empty or
        inconsistent ranking (the published one, if any, stays)."""
        missing = [k for k in RUN_REQUIRED if run.get(k) is None]
        if missing:
            raise ValueError(f"community run lacks {missing}")
        _check_ranking(frame)
        origin = utc(run["origin"])
        run_id = community_run_id(origin)
        rt, kt = table_of(CommunityRun), table_of(CommunityRanking)
        rows = records_for(frame.loc[:, [c for c in RANKING_COLUMNS if c in frame]], kt)
        for row in rows:
            row["run_id"] = run_id
        digest = content_hash(run, rows)
        meta = {
            "origin": origin,
            "horizon_days": int(run["horizon_days"]),
            "method": str(run["method"]),
            "method_version": str(run["method_version"]),
            "n_communities": len(rows),
            "data_version": None if run.get("data_version") is None else str(run["data_version"]),
            "airflow_run_id": None
            if run.get("airflow_run_id") is None
            else str(run["airflow_run_id"]),
            "content_hash": digest,
        }
        with self._write() as conn:
            lock_for_transaction(conn, "run", run_id)
            old = conn.execute(sa.select(rt).where(rt.c.run_id == run_id)).mappings().first()
            if old is not None and old["content_hash"] == digest:
                return "unchanged"
            now = self._now()
            if old is None:
                conn.execute(sa.insert(rt).values(run_id=run_id, created_at=now, **meta))
                status = "published"
            else:
                conn.execute(sa.delete(kt).where(kt.c.run_id == run_id))
                conn.execute(
                    sa.update(rt).where(rt.c.run_id == run_id).values(replaced_at=now, **meta)
                )
                status = "replaced"
            conn.execute(sa.insert(kt), rows)
            self._audit(
                conn,
                actor,
                "publish_community_ranking",
                "community_run",
                run_id,
                {
                    "status": status,
                    "method": meta["method"],
                    "method_version": meta["method_version"],
                    "n_communities": len(rows),
                    "data_version": meta["data_version"],
                    "content_hash": digest[:16],
                    "content_hash_before": None if old is None else old["content_hash"][:16],
                },
            )
        log.info("community ranking %s %s (%d communities)", run_id, status, len(rows))
        return status

    def community_runs(self) -> pd.DataFrame:
        """Every published community ranking run, newest origin first."""
        rt = table_of(CommunityRun)
        with self._read() as conn:
            rows = conn.execute(sa.select(rt).order_by(rt.c.origin.desc())).mappings().all()
        return frame_of(rows, list(rt.c))

    def community_ranking(self, origin: datetime) -> tuple[dict[str, Any] | None, pd.DataFrame]:
        """The ranking published for ``origin``: its ``community_runs`` row (None when
        none was published) and its rows by rank, read in one snapshot."""
        rt, kt = table_of(CommunityRun), table_of(CommunityRanking)
        run_id = community_run_id(origin)
        cols = [kt.c[c] for c in RANKING_COLUMNS]
        with self._read() as conn:
            if conn.dialect.name == "postgresql":  # both reads in one snapshot
                conn.execution_options(isolation_level="REPEATABLE READ")
            run = conn.execute(sa.select(rt).where(rt.c.run_id == run_id)).mappings().first()
            rows = conn.execute(
                sa.select(*cols).where(kt.c.run_id == run_id).order_by(kt.c.rank)
            ).mappings()
            frame = frame_of(rows.all(), cols)
        return (dict(run) if run is not None else None), frame
