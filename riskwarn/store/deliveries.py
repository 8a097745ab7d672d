"""Warning delivery in the serving store: the delivery log (a retry queue) and the
acknowledgements of warning changes (issue 16, docs/streaming.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from riskwarn.store.models import Delivery, WarningAck
from riskwarn.store.reads import ReadStore
from riskwarn.store.sql import frame_of, table_of, utc

DELIVERY_FIELDS = (
    "delivery_key",
    "warning_id",
    "domain",
    "unit_id",
    "change",
    "from_level",
    "to_level",
    "channel",
    "contact_id",
    "escalation_step",
    "message",
    "changed_at",
)


def insert_deliveries(conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """Insert pending deliveries in the caller's transaction (``publish_run`` logs a
    change's deliveries in the transaction that publishes it); rows already logged (same
    key, channel and contact) are skipped. Returns how many were new."""
    d = table_of(Delivery)
    added = 0
    for row in rows:
        values = {k: row.get(k) for k in DELIVERY_FIELDS}
        values["changed_at"] = utc(values["changed_at"])
        exists = conn.execute(
            sa.select(d.c.delivery_id).where(
                d.c.delivery_key == values["delivery_key"],
                d.c.channel == values["channel"],
                d.c.contact_id == values["contact_id"],
            )
        ).first()
        if exists is not None:
            continue
        conn.execute(
            sa.insert(d).values(
                **values, status="pending", attempts=0, created_at=now, next_attempt_at=now
            )
        )
        added += 1
    return added


class DeliveryStore(ReadStore):
    """The delivery queue/log and acknowledgements."""

    def enqueue_deliveries(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Add pending deliveries; one already logged (same key, channel and contact) is
        left as it is (de-duplication). Returns how many were new."""
        if not rows:
            return 0
        with self._write() as conn:
            return insert_deliveries(conn, rows, self._now())

    def due_deliveries(self, limit: int = 100) -> list[dict[str, Any]]:
        """Pending deliveries whose next attempt is due, oldest first."""
        d = table_of(Delivery)
        with self._read() as conn:
            rows = conn.execute(
                sa.select(d)
                .where(d.c.status == "pending", d.c.next_attempt_at <= self._now())
                .order_by(d.c.next_attempt_at, d.c.delivery_id)
                .limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    def record_attempt(
        self,
        delivery_id: int,
        *,
        ok: bool,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """An attempt's outcome: sent; or failed, to retry at ``retry_at`` (None: give up).
        ``error`` must carry no address (the caller writes a class of error only)."""
        d = table_of(Delivery)
        now = self._now()
        if ok:
            values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
        elif retry_at is None:
            values = {"status": "failed", "last_error": (error or "")[:500]}
        else:
            values = {"next_attempt_at": utc(retry_at), "last_error": (error or "")[:500]}
        with self._write() as conn:
            conn.execute(
                sa.update(d)
                .where(d.c.delivery_id == delivery_id)
                .values(**values, attempts=d.c.attempts + 1)
            )

    def deliveries(self, warning_id: str | None = None) -> pd.DataFrame:
        """The delivery log, oldest first (optionally of one warning)."""
        d = table_of(Delivery)
        stmt = sa.select(d).order_by(d.c.delivery_id)
        if warning_id is not None:
            stmt = stmt.where(d.c.warning_id == warning_id)
        with self._read() as conn:
            return frame_of(conn.execute(stmt).mappings().all(), list(d.c))

    def acknowledge(
        self,
        warning_id: str,
        acknowledged_by: str,
        *,
        delivery_key: str | None = None,
        via: str = "dashboard",
        at: datetime | None = None,
    ) -> int:
        """Record that ``acknowledged_by`` (a user name or contact id) acknowledged the
        warning (its change ``delivery_key``); audited. Returns the acknowledgement id."""
        when = utc(at) if at is not None else self._now()
        with self._write() as conn:
            return self._insert_ack(conn, warning_id, delivery_key, acknowledged_by, when, via)

    def _insert_ack(
        self,
        conn: Any,
        warning_id: str,
        delivery_key: str | None,
        acknowledged_by: str,
        when: datetime,
        via: str,
    ) -> int:
        """One acknowledgement row and its audit entry, in ``conn``'s transaction."""
        a = table_of(WarningAck)
        ack_id = conn.execute(
            sa.insert(a)
            .values(
                warning_id=warning_id,
                delivery_key=delivery_key,
                acknowledged_by=acknowledged_by,
                acknowledged_at=when,
                via=via,
            )
            .returning(a.c.ack_id)
        ).scalar_one()
        self._audit(
            conn,
            acknowledged_by,
            "acknowledge_warning",
            "warning",
            warning_id,
            {"delivery_key": delivery_key, "via": via},
        )
        return int(ack_id)

    def acknowledge_delivered(
        self,
        warning_id: str,
        acknowledged_by: str,
        *,
        delivery_key: str | None = None,
        via: str = "cli",
    ) -> list[tuple[int, str]]:
        """Acknowledge the delivered changes of ``warning_id`` (``riskwarn stream ack``):
        the one ``delivery_key`` names, or, without it, every change of the warning in the
        delivery log nobody has acknowledged yet (each one row and one audit entry, so
        each one's escalation stops). Returns ``[(ack id, delivery key)]``, empty when
        every change was already acknowledged. KeyError (nothing written) when the
        delivery log has no such warning, or no such change of it."""
        a, d = table_of(WarningAck), table_of(Delivery)
        when = self._now()
        done: list[tuple[int, str]] = []
        with self._write() as conn:
            stmt = sa.select(d.c.delivery_key).where(d.c.warning_id == warning_id).distinct()
            keys = sorted(str(k) for k in conn.execute(stmt).scalars())
            if not keys:
                raise KeyError(f"no delivery of warning {warning_id!r} in the delivery log")
            if delivery_key is not None:
                if delivery_key not in keys:
                    raise KeyError(
                        f"warning {warning_id!r} has no delivered change {delivery_key!r} "
                        f"(its changes: {', '.join(keys)})"
                    )
                keys = [delivery_key]
            else:
                acked = set(
                    conn.execute(
                        sa.select(a.c.delivery_key).where(
                            a.c.warning_id == warning_id, a.c.delivery_key.is_not(None)
                        )
                    ).scalars()
                )
                keys = [k for k in keys if k not in acked]
            for key in keys:
                ack_id = self._insert_ack(conn, warning_id, key, acknowledged_by, when, via)
                done.append((ack_id, key))
        return done

    def acknowledgements(self, warning_id: str | None = None) -> pd.DataFrame:
        """Who acknowledged which warning change and when, oldest first (the dashboard
        shows these beside the warning)."""
        a = table_of(WarningAck)
        stmt = sa.select(a).order_by(a.c.ack_id)
        if warning_id is not None:
            stmt = stmt.where(a.c.warning_id == warning_id)
        with self._read() as conn:
            return frame_of(conn.execute(stmt).mappings().all(), list(a.c))

    def acknowledged(self, delivery_key: str) -> bool:
        """Whether some contact acknowledged the warning change ``delivery_key``."""
        a = table_of(WarningAck)
        with self._read() as conn:
            return (
                conn.execute(
                    sa.select(a.c.ack_id).where(a.c.delivery_key == delivery_key).limit(1)
                ).first()
                is not None
            )
