"""Warning delivery in the serving store: the delivery log (a retry queue) and the
acknowledgements of warning changes (issue 16, docs/streaming.md).

**Expiry.** A delivery is sent only while its warning is in force: until the later of
the validity of the change it announces (``valid_to`` of the row, or of its message:
the end of the warning that change served) and the ``valid_to`` the ``warnings`` table
holds for the warning now (a level that holds is published again with a later one),
judged at the store's clock, the wall clock. A row logged past it (a replay of old
readings) is logged as ``expired``, never pending; a pending row that comes due past it
(it waited out an outage) becomes ``expired`` instead of being sent. Either is audited
(``delivery_expired``, one entry per row). A row from before 2026-12-05 (migration 0008)
whose message names no ``valid_to`` ends :data:`LEGACY_VALIDITY` after its change's
``at`` (as the stream's warning did); a row that names neither and whose warning the
store does not hold is not judged (sent as before).

**Back in force.** The warning's ``valid_to`` in the store moves on while its level
holds, also when the stream catches up a backlog step by step: the change that raised a
warning 30 hours ago (event time) is past its own validity when logged, and its warning
is in force again (until tomorrow) a few rounds later. So the verdict is not final
while the store holds the warning: a publication that leaves a warning in force at the
store's clock (:func:`requeue_in_force`, in the publishing transaction) puts its
``expired`` deliveries that were never sent and whose change nobody acknowledged back
to ``pending`` (audited ``delivery_requeued``), and the sender sends each once. A
replay's warning never comes back into force (nothing publishes it valid past now):
its deliveries stay expired.

**Net change** (since 2026-12-06, :func:`_net_change` at the claim): of a warning's
unsent changes to one contact and channel only the latest is sent, as the change from
what they last heard, naming the levels not sent; the earlier are ``superseded``. The
end of a warning they never heard of is not paged (``unpaged``), nor a change back at
the level they last heard. What they heard includes a row claimed and never recorded
(:data:`CLAIMED`: at least once). Audited, never deleted (docs/streaming.md,
"Catch-up").

**Cancelled by review** (since 2026-12-06, :func:`review_stops_paging`). A delivery
pages only while the review panel still wants its warning paged at the change's level:
one whose warning the panel dismissed, or adjusted below that level, is not sent but
recorded ``cancelled`` at its claim (audited ``delivery_cancelled``: who decided, when,
the action and levels), is never requeued and never escalated (docs/streaming.md,
"Cancelled by review"). A cancelled step-0 change puts the changes it superseded back to
``pending`` (:func:`rejudge_superseded`), judged again.

**Failed** (since 2026-12-06). A delivery whose retry budget ran out is recorded
``failed`` (the contact was not reached) with its next try :data:`FAILED_RETRY_S` later;
:meth:`DeliveryStore.retry_failed` puts it back to ``pending`` then (audited
``delivery_retried``) while its warning is in force, nobody acknowledged its change,
the review panel has not stopped its paging and no later change of its warning replaces
it (:func:`later_change`: then it is recorded ``superseded``; the claim does the same
to an escalation), so the claim judges it as any pending row (net change, review,
expiry). Its change escalates to the next contact (``riskwarn.stream.delivery.escalate``,
not once its warning changed since; docs/streaming.md, "Failed deliveries"). The
failed rows not tried again are final (:meth:`DeliveryStore.final_failures`), not
counted as DELIVERY FAILED (:meth:`DeliveryStore.failed_deliveries`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from riskwarn import paging_texts
from riskwarn.store.models import LEVELS, AuditLog, Delivery, RiskWarning, WarningAck, WarningReview
from riskwarn.store.reads import ReadStore
from riskwarn.store.sql import frame_of, lock_for_transaction, table_of, utc

# warning_ack.acknowledged_by is VARCHAR(128): a longer name is refused before SQL
ACK_BY_MAX = 128
# the validity of a change whose row names none (logged before migration 0008): from its
# message's ``at``, as the stream's warnings (riskwarn.stream.publish.HORIZON_HOURS)
LEGACY_VALIDITY = timedelta(hours=24)
# ids per IN list (SQLite's bound-parameter limit)
CHUNK = 500

# ``last_error`` of a row claimed for sending whose outcome is not recorded yet: kept when
# the sender dies between its send and the record (the row may have been sent)
CLAIMED = "claimed: outcome not recorded"
# the key of a claimed row (from :func:`_net_change`) counting the earlier pending rows
# it superseded in its claim (``deliver_due`` counts them)
SUPERSEDED_PEERS = "superseded_peers"
# why a row was recorded ``unpaged`` (its message's ``unpaged``): the warning ended, or
# fell below orange, before the officer heard of it; or it is back at the level they
# last heard (nothing changed for them)
UNPAGED_WHY = ("ended", "below_orange", "unchanged")

# how long after a delivery's retry budget ran out (recorded ``failed``: the contact was
# not reached) it is tried again, once, while its warning is in force
# (``DeliveryStore.retry_failed``; ``retry_failed_after_minutes`` in the contacts file)
FAILED_RETRY_S = 600.0

# how long a claimed delivery is the claiming sender's (longer than a send's timeouts):
# if the sender dies before recording the outcome, the row is due again after it (the
# default of the contacts file's ``claim_lease_s``)
CLAIM_LEASE_S = 120.0

# the key of a claimed row (from :meth:`DeliveryStore.claim_delivery`) holding its claim's
# token: the lease it set (``next_attempt_at``), which no later claim of the row repeats
# (a later claim is made at or after it). ``record_attempt(..., claim=...)`` records the
# outcome only while the row still holds that claim (since 2026-12-07)
CLAIM_KEY = "claimed_until"


def _held_by(d: sa.Table, claim: datetime) -> list[Any]:
    """The conditions of a delivery row still held by the claim whose token is ``claim``
    (:data:`CLAIM_KEY`): pending, marked claimed, its lease as that claim set it."""
    return [d.c.status == "pending", d.c.last_error == CLAIMED, d.c.next_attempt_at == utc(claim)]


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


# audit(action, object_type, object_id, details): an entry in the caller's transaction
Audit = Callable[[str, str, str, Mapping[str, Any]], None]


def own_valid_to(row: Mapping[str, Any]) -> datetime | None:
    """The end of validity a delivery row names itself (``valid_to`` of the row, else of
    its message, else its message's ``at`` + :data:`LEGACY_VALIDITY`: a row logged before
    2026-12-05), or None (a row naming none of them: a tool's)."""
    value = row.get("valid_to")
    message = row.get("message")
    if value is None and isinstance(message, Mapping):
        value = message.get("valid_to")
        if value is None and message.get("at") is not None:
            return utc(message["at"]) + LEGACY_VALIDITY
    return None if value is None else utc(value)


def _until(row: Mapping[str, Any], held: Any) -> datetime | None:
    """The later of the row's own validity and ``held`` (the store's ``valid_to`` of its
    warning, None when not held or withdrawn), or None when neither says."""
    ends = [t for t in (own_valid_to(row), None if held is None else utc(held)) if t is not None]
    return max(ends) if ends else None


def _with_held(conn: Connection, *where: Any) -> list[tuple[dict[str, Any], Any]]:
    """Delivery rows matching ``where``, each with the ``valid_to`` the ``warnings`` table
    holds for its warning (None: not held or withdrawn); one statement (no query per row:
    the sender judges every pending row every loop)."""
    d, w = table_of(Delivery), table_of(RiskWarning)
    held = w.c.valid_to.label("held_valid_to")
    stmt = (
        sa.select(d, held)
        .select_from(
            d.outerjoin(w, sa.and_(w.c.warning_id == d.c.warning_id, w.c.withdrawn_at.is_(None)))
        )
        .where(*where)
        .order_by(d.c.delivery_id)
    )
    out = []
    for r in conn.execute(stmt).mappings():
        row = dict(r)
        out.append((row, row.pop("held_valid_to")))
    return out


def in_force_until(conn: Connection, row: Mapping[str, Any]) -> datetime | None:
    """Until when the warning of delivery ``row`` is in force: the later of the row's
    own validity and the ``valid_to`` the ``warnings`` table holds for its warning now
    (not withdrawn); None when neither says."""
    w = table_of(RiskWarning)
    held = conn.execute(
        sa.select(w.c.valid_to).where(
            w.c.warning_id == row["warning_id"], w.c.withdrawn_at.is_(None)
        )
    ).scalar_one_or_none()
    return _until(row, held)


def _ended(until: datetime | None, now: datetime) -> bool:
    return until is not None and until <= now


# a change to one of these levels pages someone (riskwarn.stream.publish: orange/red)
PAGING_LEVELS = ("orange", "red")


def review_stops_paging(
    state: str | None, reviewed_level: str | None, to_level: str | None
) -> str | None:
    """Whether the review panel's decision on a warning (its ``state`` and
    ``reviewed_level`` in the ``warnings`` table; None: not held) stops a delivery of its
    change to ``to_level``: the one predicate the claim (at the send), the requeue and
    the escalation judge by. ``"dismissed"``: the panel dismissed the warning (a false
    alarm); ``"adjusted_below"``: the panel set it below the change's level (a red set to
    orange stops the red page and its escalation, an orange change still pages; set to
    yellow or blue, neither does). None: page as logged: not reviewed, accepted, or
    adjusted to the change's level or above (an orange the panel raised to red is never
    suppressed; its change is sent as logged). A change to a level that pages nobody
    (``ended``, or lowered below orange) is never stopped: it tells those already paged
    that it is over."""
    if to_level not in PAGING_LEVELS:
        return None
    if state == "dismissed":
        return "dismissed"
    if reviewed_level is not None and LEVELS[reviewed_level] < LEVELS[to_level]:
        return "adjusted_below"
    return None


def review_stops(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """The rows of ``rows`` (delivery rows) whose paging the review of their warning stops
    (:func:`review_stops_paging`, read in ``conn``'s transaction), by delivery id, each
    with why (``review``: ``dismissed`` / ``adjusted_below``) and the panel's last
    decision (``reviewed_by``, ``reviewed_at``, ``review_action``, ``reviewed_level``,
    ``warning_version``). Reads the ``warnings`` rows of their warnings, and the last
    review of those stopped."""
    w, r = table_of(RiskWarning), table_of(WarningReview)
    ids = sorted({str(row["warning_id"]) for row in rows})
    held: dict[str, Mapping[str, Any]] = {}
    for i in range(0, len(ids), CHUNK):
        stmt = sa.select(w.c.warning_id, w.c.state, w.c.reviewed_level, w.c.version).where(
            w.c.warning_id.in_(ids[i : i + CHUNK])
        )
        held.update({str(x["warning_id"]): dict(x) for x in conn.execute(stmt).mappings()})
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        warning = held.get(str(row["warning_id"]))
        if warning is None:
            continue
        why = review_stops_paging(warning["state"], warning["reviewed_level"], row["to_level"])
        if why is not None:
            out[int(row["delivery_id"])] = {"review": why, "warning_id": str(row["warning_id"])}
    for wid in sorted({v["warning_id"] for v in out.values()}):
        last = (
            conn.execute(
                sa.select(r).where(r.c.warning_id == wid).order_by(r.c.review_id.desc()).limit(1)
            )
            .mappings()
            .first()
        )
        decided = {
            "reviewed_by": None if last is None else last["reviewer"],
            "reviewed_at": None if last is None else utc(last["reviewed_at"]).isoformat(),
            "review_action": None if last is None else last["action"],
            "reviewed_level": held[wid]["reviewed_level"],
            "warning_version": int(held[wid]["version"]),
        }
        for v in out.values():
            if v["warning_id"] == wid:
                v.update(decided)
    for v in out.values():
        del v["warning_id"]
    return out


def cancel_by_review(
    conn: Connection, row: Mapping[str, Any], review: Mapping[str, Any], audit: Audit
) -> bool:
    """Record the pending or expired delivery ``row`` ``cancelled`` (never sent), audited
    ``delivery_cancelled`` with its details and ``review`` (from :func:`review_stops`);
    in the caller's transaction. False when it was neither any more (another sender
    recorded it first)."""
    return _mark(
        conn, row, "cancelled", audit, {"escalation_step": int(row["escalation_step"]), **review}
    )


def _expiry_details(row: Mapping[str, Any], until: datetime, when: str) -> dict[str, Any]:
    return {
        "delivery_key": row["delivery_key"],
        "warning_id": row["warning_id"],
        "unit_id": row["unit_id"],
        "change": row["change"],
        "to_level": row["to_level"],
        "channel": row["channel"],
        "contact_id": row["contact_id"],
        "changed_at": utc(row["changed_at"]).isoformat(),
        "in_force_until": until.isoformat(),
        # "logging": expired before it was queued; "sending": while queued; "requeued":
        # in force again (delivery_requeued)
        "found": when,
    }


def requeue_in_force(
    conn: Connection,
    warning_ids: Any,
    now: datetime,
    audit: Audit | None = None,
) -> int:
    """Put back to ``pending`` (due now) the ``expired`` deliveries of the warnings
    ``warning_ids`` (ids, or a select of them) that are in force at ``now`` by the
    ``warnings`` table (published again with a later ``valid_to``: a level held through
    a catch-up), never sent and whose change nobody acknowledged; in the caller's
    transaction (the one publishing the warnings), each audited ``delivery_requeued``.
    A row expired while the stream was behind is so sent once its warning is in force
    (module doc). Returns how many."""
    d, w, a = table_of(Delivery), table_of(RiskWarning), table_of(WarningAck)
    live = sa.select(w.c.warning_id).where(
        w.c.warning_id.in_(warning_ids), w.c.withdrawn_at.is_(None), w.c.valid_to > now
    )
    rows = _with_held(
        conn,
        d.c.status == "expired",
        d.c.sent_at.is_(None),
        d.c.warning_id.in_(live),
        ~d.c.delivery_key.in_(sa.select(a.c.delivery_key)),
    )
    back = [(row, until) for row, held in rows if not _ended(until := _until(row, held), now)]
    stopped = review_stops(conn, [row for row, _ in back])  # the panel stopped its paging
    back = [(row, until) for row, until in back if row["delivery_id"] not in stopped]
    ids = [row["delivery_id"] for row, _ in back]
    for i in range(0, len(ids), CHUNK):
        conn.execute(
            sa.update(d)
            .where(d.c.delivery_id.in_(ids[i : i + CHUNK]), d.c.status == "expired")
            .values(status="pending", next_attempt_at=now)
        )
    if audit is not None:
        for row, until in back:
            assert until is not None
            audit(
                "delivery_requeued",
                "delivery",
                str(row["delivery_id"]),
                _expiry_details(row, until, "requeued"),
            )
    return len(back)


# a level's rank, no warning 0 (models.LEVELS)
LEVEL_ORDER: dict[str | None, int] = {None: 0}
LEVEL_ORDER.update(LEVELS)


def _order(row: Mapping[str, Any]) -> tuple[datetime, int]:
    return utc(row["changed_at"]), int(row["delivery_id"])


def _not_sent(rows: Sequence[Mapping[str, Any]], until: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The levels of the unsent changes ``rows`` (oldest first), each from its change to
    the next one (the last to ``until``'s): what the officer was not told."""
    out = []
    for row, nxt in zip(rows, [*rows[1:], until], strict=True):
        if row["to_level"] is None:
            continue
        out.append(
            {
                "level": row["to_level"],
                "from": utc(row["changed_at"]).isoformat(),
                "to": utc(nxt["changed_at"]).isoformat(),
            }
        )
    return out


def _net_change(
    conn: Connection, row: dict[str, Any], now: datetime, audit: Audit
) -> tuple[str, dict[str, Any]]:
    """What becomes of the due, in-force delivery ``row`` (escalation step 0) at its
    send, judged against the other step-0 rows of its warning to the same contact and
    channel (its "peers"), in the claiming transaction (docs/streaming.md, "Catch-up").

    * ``superseded`` (recorded, audited ``delivery_superseded``): a later change of the
      warning to them is pending as well (that one carries the net state), or was sent.
    * ``held``: an earlier change to them is pending and not due (being sent under a
      claim, or waiting for a retry): judged again once that one is sent or due.
    * ``unpaged`` (recorded, audited ``delivery_unpaged`` with the levels not sent):
      none of its earlier changes was sent to them (they never heard of the warning)
      and it is the end of the warning, or a level below orange. A change of a warning
      nobody was told of is not paged piecemeal (a red that started and ended during a
      catch-up: no "red ended" for a red never heard of); the dashboard's alarm log
      shows it ("not paged: ended before it could be sent").
    * ``unpaged`` as well when it is back at the level they last heard (a dip or a rise
      in between, unsent): nothing changed for them (audited with ``heard``).
    "Sent" is :func:`possibly_sent`: recorded sent, or claimed and never recorded.
    * ``send``, with the row as it is to be sent: when earlier changes were not sent
      (expired, superseded, failed), the row's ``change``/``from_level`` become the
      change from the last level sent to them (none: ``new``), its message names them
      (``not_sent``: each level with its start and end) and keeps the change as logged
      (``logged_change``: escalation keys on it). Earlier due pending rows are
      superseded here (counted in the returned row's :data:`SUPERSEDED_PEERS`).
    """
    d = table_of(Delivery)
    peers = [
        dict(r)
        for r in conn.execute(
            sa.select(d).where(
                d.c.warning_id == row["warning_id"],
                d.c.contact_id == row["contact_id"],
                d.c.channel == row["channel"],
                d.c.escalation_step == 0,
                d.c.delivery_id != row["delivery_id"],
            )
        ).mappings()
    ]
    peers.sort(key=_order)
    mine = _order(row)
    # a later change to them, pending or sent already (this one requeued after it), or
    # failed, or not paged (the warning ended or fell below orange before they heard of
    # it: this one, retried after a failure, would page a level that is over)
    later = [p for p in peers if _order(p) > mine and _replaces(p, row)]
    # a change the review panel cancelled is not "not sent during a catch-up"
    earlier = [p for p in peers if _order(p) < mine and p["status"] != "cancelled"]
    if later:
        _mark(conn, row, "superseded", audit, {"superseded_by": later[-1]["delivery_key"]})
        return "superseded", row
    if any(p["status"] == "pending" and utc(p["next_attempt_at"]) > now for p in earlier):
        return "held", row
    # what they may have heard: sent, or claimed for sending with no outcome recorded
    # (the sender died after its lease began: at least once, so counted as heard)
    sent = [p for p in earlier if possibly_sent(p)]
    heard = sent[-1] if sent else None
    unsent = [p for p in earlier if heard is None or _order(p) > _order(heard)]
    if not unsent:
        return "send", row
    missed = _not_sent(unsent, row)
    heard_level = None if heard is None else heard["to_level"]
    merged = 0
    for p in unsent:
        if p["status"] == "pending":  # due (not held above): the net state is this row's
            merged += _mark(conn, p, "superseded", audit, {"superseded_by": row["delivery_key"]})
    row = {**row, SUPERSEDED_PEERS: merged}
    to = row["to_level"]
    if heard is None and to not in PAGING_LEVELS:
        why = "ended" if to is None else "below_orange"
        _mark(conn, row, "unpaged", audit, {"not_sent": missed, "unpaged": why})
        return "unpaged", _note_unpaged(conn, row, why)
    if heard is not None and LEVEL_ORDER.get(heard_level, 0) == LEVEL_ORDER.get(to, 0):
        # back at the level they last heard (a dip or a rise in between, unsent): the
        # net change from what they heard is none, so nothing is paged (a "raised
        # orange -> red" to an officer who last heard red would be untrue)
        extra = {
            "not_sent": missed,
            "unpaged": "unchanged",
            "heard": heard["delivery_key"],
            "heard_level": heard_level,
        }
        _mark(conn, row, "unpaged", audit, extra)
        return "unpaged", _note_unpaged(conn, row, "unchanged")
    if heard_level is None:
        change, from_level = "new", None
    elif to is None:
        change, from_level = "ended", heard_level
    else:
        up = LEVEL_ORDER.get(to, 0) > LEVEL_ORDER.get(heard_level, 0)
        change, from_level = ("raised" if up else "lowered"), heard_level
    message = dict(row["message"] or {})
    message.setdefault(
        "logged_change", {"change": message.get("change"), "from_level": message.get("from_level")}
    )
    message.update(change=change, from_level=from_level, not_sent=missed)
    values = {"change": change, "from_level": from_level, "message": message}
    conn.execute(sa.update(d).where(d.c.delivery_id == row["delivery_id"]).values(**values))
    return "send", {**row, **values}


def _mark(
    conn: Connection,
    row: Mapping[str, Any],
    status: str,
    audit: Audit,
    extra: Mapping[str, Any],
    from_: Sequence[str] = ("pending", "expired"),
) -> bool:
    """Record the pending ``row`` as ``status`` (``superseded`` / ``unpaged`` /
    ``cancelled``: not sent),
    audited ``delivery_<status>`` with the row's details and ``extra``. False (nothing
    written) when its status was none of ``from_`` any more (default: pending, expired;
    :meth:`DeliveryStore.retry_failed` supersedes ``failed`` rows)."""
    d = table_of(Delivery)
    done = conn.execute(
        sa.update(d)
        .where(d.c.delivery_id == row["delivery_id"], d.c.status.in_(tuple(from_)))
        .values(status=status)
    )
    if done.rowcount != 1:
        return False  # another sender's claim recorded it first (once, audited there)
    details = {
        k: v
        for k, v in _expiry_details(row, utc(row["changed_at"]), status).items()
        if k != "in_force_until"
    }
    audit(f"delivery_{status}", "delivery", str(row["delivery_id"]), {**details, **extra})
    return True


def _note_unpaged(conn: Connection, row: dict[str, Any], why: str) -> dict[str, Any]:
    """Keep why ``row`` was not paged in its message (``unpaged``: :data:`UNPAGED_WHY`),
    for the alarm log to say so; returns the row so."""
    d = table_of(Delivery)
    message = {**dict(row["message"] or {}), "unpaged": why}
    conn.execute(sa.update(d).where(d.c.delivery_id == row["delivery_id"]).values(message=message))
    return {**row, "message": message}


def possibly_sent(row: Mapping[str, Any]) -> bool:
    """Whether the officer may have heard the delivery ``row``: sent, or claimed for
    sending and never recorded (:data:`CLAIMED`: the sender died between its send and
    the record; its lease ran out), or claimed so once before (``maybe_heard``, set by
    the claim that took it again: kept whatever that claim's outcome, since
    2026-12-06, migration 0011). Delivery is at least once: such a change counts as
    heard (its end is paged; a repeat is acceptable, a missing page is not). A claim
    whose lease still runs is "possibly sent" here too; :func:`heard_by_now` tells it
    apart."""
    return row["status"] == "sent" or row.get("last_error") == CLAIMED or _flag(row)


def _flag(row: Mapping[str, Any]) -> bool:
    value = row.get("maybe_heard")
    return bool(value) and value == value  # a frame's missing value (NaN) is not a mark


def in_flight(row: Mapping[str, Any], now: datetime) -> bool:
    """Whether the delivery ``row`` is claimed for sending and its lease still runs:
    the send is under way (or its sender died and the lease has not run out), its
    outcome unknown yet."""
    return (
        row["status"] == "pending"
        and row.get("last_error") == CLAIMED
        and utc(row["next_attempt_at"]) > now
    )


def heard_by_now(row: Mapping[str, Any], now: datetime) -> bool:
    """:func:`possibly_sent`, except a claim whose lease still runs (:func:`in_flight`)
    and that no earlier claim of the row may have delivered (``maybe_heard``): its send
    is under way, nobody has it yet. What ``riskwarn stream ack`` without a key
    acknowledges (an acknowledgement typed for an orange page does not take the red
    being sent at that moment, whose escalation would then never start)."""
    if in_flight(row, now) and not _flag(row):
        return False
    return possibly_sent(row)


def rejudge_superseded(
    conn: Connection, row: Mapping[str, Any], now: datetime, audit: Audit
) -> int:
    """After the step-0 ``row`` was cancelled by review: put the earlier changes of its
    warning to the same contact and channel that were ``superseded`` after the last one
    they may have heard back to ``pending`` (due now), each audited
    ``delivery_rejudged``, so the next loop sends the net state the panel endorses (a
    red set to orange: the orange it superseded is sent). Returns how many."""
    d = table_of(Delivery)
    peers = [
        dict(r)
        for r in conn.execute(
            sa.select(d).where(
                d.c.warning_id == row["warning_id"],
                d.c.contact_id == row["contact_id"],
                d.c.channel == row["channel"],
                d.c.escalation_step == 0,
                d.c.delivery_id != row["delivery_id"],
            )
        ).mappings()
    ]
    peers = sorted((p for p in peers if _order(p) < _order(row)), key=_order)
    heard = [p for p in peers if possibly_sent(p)]
    after = _order(heard[-1]) if heard else None
    back = 0
    for p in peers:
        if p["status"] != "superseded" or (after is not None and _order(p) <= after):
            continue
        done = conn.execute(
            sa.update(d)
            .where(d.c.delivery_id == p["delivery_id"], d.c.status == "superseded")
            .values(status="pending", next_attempt_at=now)
        ).rowcount
        if done != 1:
            continue
        back += 1
        details = {
            k: v
            for k, v in _expiry_details(p, utc(p["changed_at"]), "cancelled_by_review").items()
            if k != "in_force_until"
        }
        audit(
            "delivery_rejudged",
            "delivery",
            str(p["delivery_id"]),
            {**details, "cancelled": row["delivery_key"]},
        )
    return back


# the statuses of a later change of a warning that make an earlier change of it stale
# (:func:`later_change`): being sent or sent, failed (tried again as the net change), or
# not paged (the warning ended or fell below orange before the officer heard of it). Not
# an expired or superseded row (a catch-up's; requeued with the earlier one while in
# force, or superseded by a later one that counts) nor one cancelled by review (not
# the warning's state the panel endorses)
LATER_STATUSES = ("pending", "sent", "failed", "unpaged")


def _replaces(later: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """Whether the delivery ``later`` (of a later change of ``row``'s warning) makes
    ``row`` stale: its status is one of :data:`LATER_STATUSES`, and it is not a change
    back to ``row``'s level recorded ``unpaged`` as unchanged (a dip and back: the net
    state is ``row``'s level again, so a red heard, dipped and back is escalated)."""
    if later["status"] not in LATER_STATUSES:
        return False
    message = later.get("message")
    unchanged = isinstance(message, Mapping) and message.get("unpaged") == "unchanged"
    return not (later["status"] == "unpaged" and unchanged and later["to_level"] == row["to_level"])


def later_change(
    row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The latest change of the warning of delivery ``row`` logged after it (a later
    ``changed_at``, another key, its status one of :data:`LATER_STATUSES`) among
    ``rows`` (delivery rows; those of other warnings are ignored), or None: ``row`` is
    its warning's latest change. For a step-0 row only the changes to the same contact
    and channel at step 0 count (the peers :func:`_net_change` judges by: the officer
    gets the net change); for an escalation (step 1 and on) any change of the warning
    does: a red escalated to the boss is stale once the warning ended, was lowered or
    raised, whoever that change went to (since 2026-12-06: before, a failed escalation
    was retried until its own ``valid_to``, and the boss got "escalated -> red" about a
    warning that had ended)."""
    mine = _order(row)
    step0 = int(row["escalation_step"]) == 0
    found: Mapping[str, Any] | None = None
    for p in rows:
        if p["warning_id"] != row["warning_id"] or p["delivery_key"] == row["delivery_key"]:
            continue
        if not _replaces(p, row) or _order(p) <= mine:
            continue
        if step0 and (
            int(p["escalation_step"]) != 0
            or p["contact_id"] != row["contact_id"]
            or p["channel"] != row["channel"]
        ):
            continue
        if found is None or _order(p) > _order(found):
            found = p
    return found


def changed_since(log: pd.DataFrame) -> set[str]:
    """The changes (delivery keys) of the delivery log ``log`` (:meth:`DeliveryStore.deliveries`)
    whose warning has a later change logged (:func:`later_change`'s rule for an
    escalation: any contact): what ``riskwarn.stream.delivery.escalate`` does not
    escalate (the next contact would be paged a level that is over)."""
    if log.empty:
        return set()
    out: set[str] = set()
    for _, g in log.groupby("warning_id", sort=False):
        rows = g.to_dict("records")
        for row in rows:
            if later_change({**row, "escalation_step": 1}, rows) is not None:
                out.add(str(row["delivery_key"]))
    return out


def _warning_rows(conn: Connection, warning_ids: Any) -> dict[str, list[dict[str, Any]]]:
    """Every delivery row of the warnings ``warning_ids``, by warning id (one statement
    per :data:`CHUNK` ids)."""
    d = table_of(Delivery)
    ids = sorted({str(w) for w in warning_ids})
    out: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(ids), CHUNK):
        stmt = sa.select(d).where(d.c.warning_id.in_(ids[i : i + CHUNK]))
        for r in conn.execute(stmt).mappings():
            out.setdefault(str(r["warning_id"]), []).append(dict(r))
    return out


# the text comparison of a message's ISO times with now's (:func:`_maybe_in_force`) is
# coarse by this much: enough for any UTC offset written in them
_TEXT_MARGIN = timedelta(days=1)


def _maybe_in_force(now: datetime) -> Any:
    """A SQL condition on a delivery row joined to its warning (:func:`_with_held`) that
    every row whose warning may be in force at ``now`` passes: the warning held in force,
    or the ``valid_to`` of the row's message (else its ``at`` + :data:`LEGACY_VALIDITY`)
    not a day before ``now``, compared as ISO text; a row naming neither passes. Coarse
    (the rows it keeps are judged exactly, :func:`_until`): it keeps the failed rows of
    warnings long ended out of the read the sender makes every loop."""
    d, w = table_of(Delivery), table_of(RiskWarning)
    vt = d.c.message["valid_to"].as_string()
    at = d.c.message["at"].as_string()
    return sa.or_(
        w.c.valid_to > now,
        vt >= (now - _TEXT_MARGIN).isoformat(),
        sa.and_(
            vt.is_(None),
            sa.or_(at.is_(None), at >= (now - LEGACY_VALIDITY - _TEXT_MARGIN).isoformat()),
        ),
    )


# why a failed delivery is not tried again (:meth:`DeliveryStore.final_failures`): its
# change was acknowledged, its warning is no longer in force, the review panel stopped
# its paging, or a later change of its warning replaces it (:func:`later_change`)
FINAL_WHY = ("acknowledged", "ended", "stopped", "superseded")


def _judge_failed(
    conn: Connection, now: datetime, *where: Any
) -> list[tuple[dict[str, Any], datetime | None, str | None, Mapping[str, Any] | None]]:
    """The ``failed`` deliveries matching ``where`` whose change nobody acknowledged and
    whose warning may be in force (:func:`_maybe_in_force`, in SQL), each as ``(row,
    until, why, later)``: ``why`` None when it is to be tried again (in force, paging
    not stopped by review, its warning's latest change for its contact:
    :func:`later_change`), else ``ended`` / ``stopped`` / ``superseded`` (``later``: the
    change that replaces it). The one judgement :meth:`DeliveryStore.retry_failed`,
    :meth:`~DeliveryStore.failed_deliveries` and :meth:`~DeliveryStore.final_failures`
    make."""
    d, a = table_of(Delivery), table_of(WarningAck)
    rows = _with_held(
        conn,
        d.c.status == "failed",
        ~d.c.delivery_key.in_(sa.select(a.c.delivery_key).where(a.c.delivery_key.is_not(None))),
        _maybe_in_force(now),
        *where,
    )
    out: list[tuple[dict[str, Any], datetime | None, str | None, Mapping[str, Any] | None]] = []
    live = []
    for row, held in rows:
        until = _until(row, held)
        if _ended(until, now):
            out.append((row, until, "ended", None))
        else:
            live.append((row, until))
    stopped = review_stops(conn, [row for row, _ in live])
    peers = _warning_rows(
        conn, {row["warning_id"] for row, _ in live if row["delivery_id"] not in stopped}
    )
    for row, until in live:
        if row["delivery_id"] in stopped:  # the panel stopped its paging: left failed
            out.append((row, until, "stopped", None))
            continue
        later = later_change(row, peers.get(str(row["warning_id"]), []))
        out.append((row, until, None if later is None else "superseded", later))
    out.sort(key=lambda v: int(v[0]["delivery_id"]))
    return out


def _dialect_insert(conn: Connection) -> Any:
    """The ``insert`` of ``conn``'s dialect (PostgreSQL or SQLite: both have
    ``on_conflict_do_nothing``)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def insert_deliveries(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
    audit: Audit | None = None,
    tally: dict[str, int] | None = None,
) -> int:
    """Insert deliveries in the caller's transaction (``publish_run`` logs a change's
    deliveries in the transaction that publishes it); rows already logged (same key,
    channel and contact) are skipped, also when another session logs them at the same
    moment (``INSERT ... ON CONFLICT DO NOTHING`` on the unique key: two senders
    escalating one change at once on PostgreSQL both succeed, one row is written; since
    2026-12-06, before, the second raised IntegrityError and its sender's pass was lost).
    A row whose warning is no longer in force at
    ``now`` (:func:`in_force_until`) is logged ``expired``, not pending, and audited
    through ``audit``. Returns how many were new and pending; ``tally`` (if given)
    gets ``pending`` and ``expired``: the new rows logged each way."""
    d = table_of(Delivery)
    added = 0
    if tally is not None:
        tally.update(pending=0, expired=0)
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
        until = in_force_until(conn, row)
        expired = _ended(until, now)
        insert = _dialect_insert(conn)(d).values(
            **values,
            status="expired" if expired else "pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        delivery_id = conn.execute(
            insert.on_conflict_do_nothing(
                index_elements=[d.c.delivery_key, d.c.channel, d.c.contact_id]
            ).returning(d.c.delivery_id)
        ).scalar_one_or_none()
        if delivery_id is None:  # logged by another session since the check above
            continue
        if tally is not None:
            tally["expired" if expired else "pending"] += 1
        if not expired:
            added += 1
        elif audit is not None:
            assert until is not None
            audit(
                "delivery_expired",
                "delivery",
                str(delivery_id),
                _expiry_details(values, until, "logging"),
            )
    return added


class AlreadyAcknowledgedError(Exception):
    """The warning change (or every change of the warning) was acknowledged first by
    someone else; nothing was recorded. ``first``: the first acknowledgement of each
    change (``delivery_key``, ``acknowledged_by``, ``acknowledged_at``, ``via``).
    :meth:`said` words it in a language (``str()`` is English)."""

    def __init__(self, warning_id: str, first: Sequence[Mapping[str, Any]]) -> None:
        self.warning_id = warning_id
        self.first = [dict(f) for f in first]
        super().__init__(self.said("en"))

    def said(self, lang: str, tz: str = paging_texts.DEFAULT_DISPLAY_TZ) -> str:
        """In ``lang``, times in the display zone ``tz``."""
        return paging_texts.already_acknowledged(self.warning_id, self.first, lang, tz)


def never_sent_reason(statuses: Sequence[str], carried_by: Sequence[str] = ()) -> str:
    """Why a change whose deliveries have ``statuses`` (all :data:`NEVER_SENT`) was never
    sent, in English words (:func:`riskwarn.paging_texts.never_sent_why`);
    ``carried_by``: the keys of the changes that carried the net state of its
    superseded deliveries."""
    return paging_texts.never_sent_why(statuses, "en", carried_by)


class NeverSentError(Exception):
    """Every delivery of the change (without a key: of every change of the warning not
    acknowledged yet) was never sent (:data:`NEVER_SENT`: expired, superseded by a
    later change, not paged, cancelled by review) and none may have been heard (a claim
    whose outcome was not recorded may have been: :func:`possibly_sent`): nobody was
    told by it, so there is nothing to acknowledge; nothing was recorded. ``keys``: those
    changes; ``first``: the first acknowledgement of the warning's other changes asked
    for (as :class:`AlreadyAcknowledgedError`), if any; ``statuses``: the statuses of
    each key's deliveries (:data:`NEVER_SENT`; default: expired), for a reader to say why
    in its own language; ``carried_by``: per key, the changes that carried the net state
    of its superseded deliveries; ``reasons``: why each key was never sent, in English
    (:func:`never_sent_reason`). :meth:`said` words it in a language (``str()`` is
    English)."""

    def __init__(
        self,
        warning_id: str,
        keys: Sequence[str],
        first: Sequence[Mapping[str, Any]] = (),
        statuses: Mapping[str, Sequence[str]] | None = None,
        carried_by: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.warning_id = warning_id
        self.keys = list(keys)
        self.first = [dict(f) for f in first]
        self.statuses = {k: list(v) for k, v in (statuses or {}).items()}
        self.carried_by = {k: list(v) for k, v in (carried_by or {}).items()}
        self.reasons = {
            k: never_sent_reason(self.statuses.get(k) or ["expired"], self.carried_by.get(k, ()))
            for k in self.keys
        }
        super().__init__(self.said("en"))

    def said(self, lang: str, tz: str = paging_texts.DEFAULT_DISPLAY_TZ) -> str:
        """In ``lang``, times in the display zone ``tz``."""
        return paging_texts.never_sent(
            self.warning_id, self.keys, self.statuses, self.carried_by, self.first, lang, tz
        )


class NotSentYetError(Exception):
    """``riskwarn stream ack`` without a key, and no change of the warning left to
    acknowledge that may have been heard: the changes not acknowledged yet are queued
    (never sent so far, or being sent under a claim) or their sending failed, so nobody
    received them; nothing was recorded. ``statuses``: those changes' keys with their
    deliveries' statuses; ``first``: the first acknowledgement of the warning's other
    changes (as :class:`AlreadyAcknowledgedError`), named too (since 2026-12-06: before,
    the refusal said only "no change sent yet", hiding a change sent and acknowledged
    by someone). :meth:`said` words it in a language (``str()`` is English)."""

    def __init__(
        self,
        warning_id: str,
        statuses: Mapping[str, Sequence[str]],
        first: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.warning_id = warning_id
        self.statuses = {k: list(v) for k, v in statuses.items()}
        self.first = [dict(f) for f in first]
        super().__init__(self.said("en"))

    def said(self, lang: str, tz: str = paging_texts.DEFAULT_DISPLAY_TZ) -> str:
        """In ``lang``, times in the display zone ``tz``."""
        return paging_texts.not_sent_yet(self.warning_id, self.statuses, lang, self.first, tz)


class NoDeliveryError(KeyError):
    """The delivery log has no delivery of the warning (``key`` None), or no change
    ``key`` of it (``keys``: its changes); nothing was recorded. :meth:`said` words it in
    a language (``args[0]`` is English)."""

    def __init__(self, warning_id: str, key: str | None = None, keys: Sequence[str] = ()) -> None:
        self.warning_id, self.key, self.keys = warning_id, key, list(keys)
        super().__init__(self.said("en"))

    def said(self, lang: str, tz: str = paging_texts.DEFAULT_DISPLAY_TZ) -> str:
        key = "ack_no_delivery" if self.key is None else "ack_no_change"
        return paging_texts.t(
            key, lang, warning=self.warning_id, key=self.key, keys=", ".join(self.keys)
        )


class AckByError(ValueError):
    """Who acknowledges is blank or longer than the column (:data:`ACK_BY_MAX`); nothing
    was recorded. :meth:`said` words it in a language (``str()`` is English)."""

    def __init__(self, length: int | None) -> None:
        self.length = length  # None: blank
        super().__init__(self.said("en"))

    def said(self, lang: str, tz: str = paging_texts.DEFAULT_DISPLAY_TZ) -> str:
        if self.length is None:
            return paging_texts.t("ack_by_blank", lang)
        return paging_texts.t("ack_by_long", lang, most=ACK_BY_MAX, n=self.length)


class Acknowledged(list[tuple[int, str]]):
    """What :meth:`DeliveryStore.acknowledge_delivered` recorded: ``[(ack id, delivery
    key)]``; ``left``: the changes left out without a key because nobody may have
    received them yet (queued, or their sending failed), with their deliveries'
    statuses."""

    def __init__(self, done: Sequence[tuple[int, str]], left: Mapping[str, Sequence[str]]) -> None:
        super().__init__(done)
        self.left = {k: list(v) for k, v in left.items()}


# statuses of a delivery never sent (never to be): its warning was no longer in force,
# a later change carried the net state, it ended before the officer heard of it, or
# the review panel stopped its paging
NEVER_SENT = ("expired", "superseded", "unpaged", "cancelled")


def never_sent(statuses: Sequence[str]) -> bool:
    """Whether a change whose delivery rows have ``statuses`` was never sent to anyone
    because every one expired, was superseded, was not paged or was cancelled by review
    (:data:`NEVER_SENT`; the rule :func:`riskwarn.stream.alarm_log.alarm_log`
    marks ``expired`` and the dashboard does not offer for acknowledgement; the store
    refuses to acknowledge it, :class:`NeverSentError`)."""
    return len(statuses) > 0 and all(s in NEVER_SENT for s in statuses)


def never_heard(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether nobody was told of a change by its delivery ``rows`` (``status``,
    ``last_error``): :func:`never_sent`, and no row may have been heard
    (:func:`possibly_sent`: a row claimed for sending whose outcome was never recorded,
    then superseded, expired, not paged or cancelled, may have reached the officer)."""
    return never_sent([str(r["status"]) for r in rows]) and not any(possibly_sent(r) for r in rows)


def _carried_by(conn: Connection, delivery_ids: Sequence[int]) -> list[str]:
    """The keys that carried the net state of the superseded deliveries
    ``delivery_ids`` (their ``delivery_superseded`` audit entries), oldest first."""
    t = table_of(AuditLog)
    rows = conn.execute(
        sa.select(t.c.details)
        .where(
            t.c.object_type == "delivery",
            t.c.object_id.in_([str(i) for i in delivery_ids]),
            t.c.action == "delivery_superseded",
        )
        .order_by(t.c.id)
    ).scalars()
    keys = [r.get("superseded_by") for r in rows if isinstance(r, Mapping)]
    return list(dict.fromkeys(str(k) for k in keys if k))


class DeliveryStore(ReadStore):
    """The delivery queue/log and acknowledgements."""

    def enqueue_deliveries(self, rows: Sequence[Mapping[str, Any]], actor: str = "stream") -> int:
        """Add pending deliveries; one already logged (same key, channel and contact) is
        left as it is (de-duplication), one whose warning is no longer in force is logged
        ``expired`` (audited under ``actor``). Returns how many were new and pending."""
        if not rows:
            return 0
        with self._write() as conn:
            return insert_deliveries(conn, rows, self._now(), self._auditor(conn, actor))

    def _auditor(self, conn: Connection, actor: str) -> Audit:
        def audit(action: str, object_type: str, object_id: str, details: Any) -> None:
            self._audit(conn, actor, action, object_type, object_id, details)

        return audit

    def expire_deliveries(self, actor: str = "stream") -> list[dict[str, Any]]:
        """Mark ``expired`` every pending delivery whose warning is no longer in force
        (:func:`in_force_until` at the store's clock), each audited
        (``delivery_expired``); what the sender calls before it sends. One read of the
        pending rows with their warnings (set-based: the sender calls it every loop);
        writes only when some row expired, judged again then under the domains' publish
        lock (a publication in between may have put the warning back in force). Returns
        the rows expired (as :meth:`deliveries` has them, before the change)."""
        d, w = table_of(Delivery), table_of(RiskWarning)
        now = self._now()
        # a row whose warning the store holds in force now is in force: not read
        maybe = sa.or_(w.c.valid_to.is_(None), w.c.valid_to <= now)
        with self._read() as conn:
            stale = {
                row["delivery_id"]: row["domain"]
                for row, held in _with_held(conn, d.c.status == "pending", maybe)
                if _ended(_until(row, held), now)
            }
        if not stale:
            return []
        done = []
        with self._write() as conn:
            for domain in sorted(set(stale.values())):  # the order publish_run takes them
                lock_for_transaction(conn, "domain", str(domain))
            ids = sorted(stale)
            for i in range(0, len(ids), CHUNK):
                part = ids[i : i + CHUNK]
                rows = _with_held(conn, d.c.status == "pending", d.c.delivery_id.in_(part))
                gone = [(r, u) for r, held in rows if _ended(u := _until(r, held), now)]
                if not gone:
                    continue
                conn.execute(
                    sa.update(d)
                    .where(d.c.delivery_id.in_([r["delivery_id"] for r, _ in gone]))
                    .values(status="expired")
                )
                for row, until in gone:
                    assert until is not None
                    self._audit(
                        conn,
                        actor,
                        "delivery_expired",
                        "delivery",
                        str(row["delivery_id"]),
                        _expiry_details(row, until, "sending"),
                    )
                    done.append(row)
        return done

    def claim_delivery(
        self, delivery_id: int, lease_s: float = CLAIM_LEASE_S, actor: str = "stream"
    ) -> tuple[str, dict[str, Any] | None]:
        """Claim a due delivery for sending, only while its warning is still in force
        and only as the net change of its warning (:func:`_net_change`: ``superseded``
        when a later change of the warning to the same contact and channel is unsent
        too, ``unpaged`` when the officer never heard of the warning and it ended, or
        fell below orange, before it could be sent; ``held`` while an earlier change of
        it to them is being sent or waits for a retry; a claimed row's message is then
        the change from what they last heard):
        the in-force check (:func:`in_force_until` at the store's clock) and the claim
        are one write transaction, so a row whose warning ended since it was read as due
        (the instant between :meth:`expire_deliveries` and the send, or a slow send of
        an earlier row) is never sent. Returns ``("claimed", row)``: send it now (its
        next attempt is moved ``lease_s`` ahead, so nothing else takes it meanwhile and
        a sender that dies before recording the outcome leaves it to be sent again
        then); ``("expired", row)``: recorded ``expired`` and audited
        (``delivery_expired``, found ``sending``), not to be sent; ``("cancelled",
        row)``: the review panel stopped its paging (:func:`review_stops_paging`, judged
        in the same transaction, so a dismissal committed before the claim is never
        sent), recorded ``cancelled`` and audited (``delivery_cancelled``), not to be
        sent; ``("gone", None)``: no longer pending and due (sent, expired, cancelled or
        claimed by another sender); ``("superseded" | "unpaged", row)``: recorded so and
        audited, not to be sent; ``("held", row)``: left pending, judged again on a
        later loop."""
        d = table_of(Delivery)
        now = self._now()
        due = (d.c.delivery_id == delivery_id, d.c.status == "pending", d.c.next_attempt_at <= now)
        with self._write() as conn:
            row = conn.execute(sa.select(d).where(*due).with_for_update()).mappings().first()
            if row is None:
                return "gone", None
            until = in_force_until(conn, row)
            if _ended(until, now):
                assert until is not None
                conn.execute(sa.update(d).where(*due).values(status="expired"))
                self._audit(
                    conn,
                    actor,
                    "delivery_expired",
                    "delivery",
                    str(delivery_id),
                    _expiry_details(row, until, "sending"),
                )
                return "expired", dict(row)
            stopped = review_stops(conn, [row]).get(int(row["delivery_id"]))
            if stopped is not None:  # the panel dismissed it, or set it below this level
                audit = self._auditor(conn, actor)
                if cancel_by_review(conn, row, stopped, audit) and row["escalation_step"] == 0:
                    # the earlier changes it superseded are judged again (next loop)
                    rejudge_superseded(conn, row, now, audit)
                return "cancelled", dict(row)
            if int(row["escalation_step"]) == 0:
                verdict = _net_change(conn, dict(row), now, self._auditor(conn, actor))
                if verdict[0] != "send":
                    return verdict[0], verdict[1]
                row = verdict[1]
            else:  # an escalation is stale once its warning changed since (later_change)
                rows = _warning_rows(conn, [row["warning_id"]]).get(str(row["warning_id"]), [])
                later = later_change(row, rows)
                if later is not None:
                    audit = self._auditor(conn, actor)
                    extra = {
                        "superseded_by": later["delivery_key"],
                        "escalation_step": int(row["escalation_step"]),
                    }
                    _mark(conn, row, "superseded", audit, extra)
                    return "superseded", dict(row)
            lease = now + timedelta(seconds=lease_s)
            claim: dict[str, Any] = {"next_attempt_at": lease, "last_error": CLAIMED}
            if row["last_error"] == CLAIMED:
                # its last claim's lease ran out with no outcome recorded: that send may
                # have reached the officer, whatever this one's outcome (possibly_sent)
                claim["maybe_heard"] = True
            if conn.execute(sa.update(d).where(*due).values(**claim)).rowcount != 1:
                return "gone", None
            # the claim's token: its lease, which :meth:`record_attempt` matches
            return "claimed", {**row, CLAIM_KEY: lease}

    def review_stopped(self, rows: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
        """The delivery rows of ``rows`` whose paging the review of their warning stops
        now (:func:`review_stops`: dismissed, or adjusted below the change's level), by
        delivery id, with why and who decided when; what the escalation asks before it
        pages the next contact."""
        if not rows:
            return {}
        with self._read() as conn:
            return review_stops(conn, rows)

    def retry_failed(self, actor: str = "stream") -> list[dict[str, Any]]:
        """Put back to ``pending`` (due now) the ``failed`` deliveries (their retry budget
        spent: the contact was not reached) whose next try is due (``record_attempt``'s
        ``again_after_s``), whose warning is still in force (:func:`in_force_until`),
        whose change nobody acknowledged, whose paging the review panel has not stopped
        (:func:`review_stops_paging`) and that are their warning's latest change for
        their contact (:func:`later_change`); each audited ``delivery_retried``. So a
        page that failed through an outage goes out once the outage is over, as the
        warning's net change (the claim judges it again: superseded, cancelled by
        review, expired). A due failed row a later change of its warning replaces (the
        warning ended, was lowered or raised since: for an escalation, whoever that
        change went to) is recorded ``superseded`` instead (audited
        ``delivery_superseded``, ``superseded_by`` that change; since 2026-12-06: before,
        a failed escalation was retried until its own ``valid_to``, 24 h, and the boss
        was paged a red that had ended). A failed row whose warning ended, whose change
        was acknowledged or whose paging the panel stopped is left ``failed``, not tried
        (:meth:`final_failures`). One read of the failed rows that may be in force
        (:func:`_maybe_in_force`, in SQL: the failures of warnings long ended are not
        read; the sender calls this every loop); writes only when one is due. Returns
        the rows put back."""
        d = table_of(Delivery)
        now = self._now()
        due = (d.c.next_attempt_at <= now,)
        with self._read() as conn:
            todo = [
                v[0]["delivery_id"]
                for v in _judge_failed(conn, now, *due)
                if v[2] in (None, "superseded")
            ]
        if not todo:
            return []
        back = []
        with self._write() as conn:
            audit = self._auditor(conn, actor)
            for i in range(0, len(todo), CHUNK):
                part = d.c.delivery_id.in_(todo[i : i + CHUNK])
                for row, until, why, later in _judge_failed(conn, now, *due, part):
                    facts = {
                        "escalation_step": int(row["escalation_step"]),
                        "attempts": int(row["attempts"]),
                        "last_error": row["last_error"],
                    }
                    if why == "superseded":  # a later change of its warning replaces it
                        assert later is not None
                        extra = {**facts, "superseded_by": later["delivery_key"]}
                        _mark(conn, row, "superseded", audit, extra, from_=("failed",))
                        continue
                    if why is not None:  # ended or stopped since the read: left failed
                        continue
                    done = conn.execute(
                        sa.update(d)
                        .where(d.c.delivery_id == row["delivery_id"], d.c.status == "failed", *due)
                        .values(status="pending", next_attempt_at=now)
                    ).rowcount
                    if done != 1:  # another sender put it back first (audited there)
                        continue
                    assert until is not None
                    details = {**_expiry_details(row, until, "retried"), **facts}
                    self._audit(
                        conn,
                        actor,
                        "delivery_retried",
                        "delivery",
                        str(row["delivery_id"]),
                        details,
                    )
                    back.append(row)
        return back

    def failed_deliveries(self) -> pd.DataFrame:
        """The deliveries recorded ``failed`` now (the contact was not reached after every
        retry) that :meth:`retry_failed` will try again, oldest first: their warning in
        force, their change not acknowledged, their paging not stopped by review, no
        later change of their warning replacing them. What ``riskwarn stream --status``
        counts as DELIVERY FAILED and the dashboard's alarm log says in red; the other
        failed rows (:meth:`final_failures`) stay in the log, shown as final (since
        2026-12-06: before, a failure acknowledged via the next contact, or whose paging
        the panel stopped, was counted while its warning was in force, and the alarm
        log's banner showed every failure ever)."""
        d = table_of(Delivery)
        now = self._now()
        with self._read() as conn:
            rows = [row for row, _, why, _ in _judge_failed(conn, now) if why is None]
        return frame_of(rows, list(d.c))

    def final_failures(self) -> dict[int, str]:
        """The ``failed`` deliveries :meth:`retry_failed` will not try again, by delivery
        id, with why (:data:`FINAL_WHY`): ``acknowledged`` (someone acknowledged the
        change, e.g. the next contact paged in this one's place), ``ended`` (its warning
        is no longer in force), ``stopped`` (the review panel dismissed the warning or
        set it below the change's level), ``superseded`` (a later change of its warning
        replaces it: recorded so at its next due try). What the dashboard's alarm log
        says of them instead of DELIVERY FAILED. Reads the ids of every failed row and
        the rows of those that may be in force."""
        d, a = table_of(Delivery), table_of(WarningAck)
        now = self._now()
        acked = d.c.delivery_key.in_(
            sa.select(a.c.delivery_key).where(a.c.delivery_key.is_not(None))
        )
        with self._read() as conn:
            ids = conn.execute(
                sa.select(d.c.delivery_id, acked.label("acked")).where(d.c.status == "failed")
            ).all()
            judged = {int(v[0]["delivery_id"]): v[2] for v in _judge_failed(conn, now)}
        out: dict[int, str] = {}
        for delivery_id, was_acked in ids:
            if was_acked:
                out[int(delivery_id)] = "acknowledged"
            elif int(delivery_id) not in judged:  # not in force (the SQL condition)
                out[int(delivery_id)] = "ended"
            elif (why := judged[int(delivery_id)]) is not None:
                out[int(delivery_id)] = why
        return out

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
        again_after_s: float | None = None,
        claim: datetime | None = None,
        actor: str = "stream",
    ) -> bool:
        """An attempt's outcome: sent; or failed, to retry at ``retry_at``; or, with
        ``retry_at`` None (the retry budget is spent), ``failed``: the contact was not
        reached. A failed row is tried again ``again_after_s`` after this (the store's
        clock; None: the sender's default :data:`FAILED_RETRY_S`) while its warning is in
        force (:meth:`retry_failed`) and its change escalates to the next contact
        (``riskwarn.stream.delivery.escalate``). ``error`` must carry no address (the
        caller writes a class of error only).

        ``claim`` (the claimed row's :data:`CLAIM_KEY`, since 2026-12-07): the outcome is
        recorded only while the row is still that claim's (pending, its lease as that
        claim set it). A late outcome of a lost claim (its lease ran out during the send
        and another sender took the row) never overwrites the row: it is audited
        (``delivery_late_outcome``: the outcome, the error, the claim, the row's status
        now), and a late success marks the row ``maybe_heard`` (the contact heard it);
        a row still ``pending`` or ``failed`` is then recorded ``sent`` (the page was
        delivered: it is not retried nor escalated as unreached). Without ``claim``
        (tools, tests) a failure never turns a ``sent`` row into anything else. Returns
        whether the outcome was recorded as this attempt's."""
        d = table_of(Delivery)
        now = self._now()
        if ok:
            values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
        elif retry_at is None:
            again = FAILED_RETRY_S if again_after_s is None else again_after_s
            values = {
                "status": "failed",
                "last_error": (error or "")[:500],
                "next_attempt_at": now + timedelta(seconds=again),
            }
        else:
            values = {"next_attempt_at": utc(retry_at), "last_error": (error or "")[:500]}
        mine = [d.c.delivery_id == delivery_id, d.c.status != "sent"]  # never downgraded
        if claim is not None:
            mine += _held_by(d, claim)
        with self._write() as conn:
            done = conn.execute(
                sa.update(d).where(*mine).values(**values, attempts=d.c.attempts + 1)
            ).rowcount
            if done == 1 or claim is None:
                return done == 1
            row = conn.execute(
                sa.select(d.c.status, d.c.attempts, d.c.next_attempt_at).where(
                    d.c.delivery_id == delivery_id
                )
            ).first()
            if row is None:
                return False
            upgraded = False
            if ok:  # the page was delivered, whatever the claim that took the row since
                conn.execute(
                    sa.update(d).where(d.c.delivery_id == delivery_id).values(maybe_heard=True)
                )
                if row.status in ("pending", "failed"):
                    upgraded = (
                        conn.execute(
                            sa.update(d)
                            .where(d.c.delivery_id == delivery_id, d.c.status == row.status)
                            .values(status="sent", sent_at=now, last_error=None)
                        ).rowcount
                        == 1
                    )
            self._audit(
                conn,
                actor,
                "delivery_late_outcome",
                "delivery",
                str(delivery_id),
                {
                    "outcome": "sent" if ok else "failed",
                    "error": None if ok else (error or "")[:500],
                    "claimed_until": utc(claim).isoformat(),
                    "status_now": row.status,
                    "attempts_now": int(row.attempts),
                    "recorded_sent": upgraded,
                },
            )
            return False

    def release_claim(self, delivery_id: int, claim: datetime, last_error: str | None) -> bool:
        """Give up the claim ``claim`` (its :data:`CLAIM_KEY`) of a row not sent: due
        now again, ``last_error`` as before the claim (nothing was attempted). False when
        the row is no longer that claim's."""
        d = table_of(Delivery)
        with self._write() as conn:
            return (
                conn.execute(
                    sa.update(d)
                    .where(d.c.delivery_id == delivery_id, *_held_by(d, claim))
                    .values(next_attempt_at=self._now(), last_error=last_error)
                ).rowcount
                == 1
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
        delivery_key: str,
        via: str = "dashboard",
    ) -> int:
        """Record that ``acknowledged_by`` (a user name or contact id) acknowledged the
        delivered change ``delivery_key`` of the warning; audited. Returns the
        acknowledgement id. Goes through :meth:`acknowledge_delivered` (the same checks
        as ``riskwarn stream ack --key``): KeyError for a warning or key the delivery log
        does not have, :class:`AlreadyAcknowledgedError` when the change was
        acknowledged first by someone else (nothing recorded)."""
        ((ack_id, _),) = self.acknowledge_delivered(
            warning_id, acknowledged_by, delivery_key=delivery_key, via=via
        )
        return ack_id

    def _insert_ack(
        self,
        conn: Any,
        warning_id: str,
        delivery_key: str,
        acknowledged_by: str,
        when: datetime,
        via: str,
        run_by: str | None = None,
    ) -> int:
        """One acknowledgement row and its audit entry, in ``conn``'s transaction. The
        row claims its change (``claim`` = the delivery key, unique): a second
        acknowledgement of the change fails with IntegrityError. ``run_by``: who ran
        the command that recorded it, when that is not ``acknowledged_by`` itself
        (``riskwarn stream ack --by`` names someone, and nothing checks the name)."""
        a = table_of(WarningAck)
        ack_id = conn.execute(
            sa.insert(a)
            .values(
                warning_id=warning_id,
                delivery_key=delivery_key,
                claim=delivery_key,
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
            {"delivery_key": delivery_key, "via": via, **({"run_by": run_by} if run_by else {})},
        )
        return int(ack_id)

    def _first_acks(self, conn: Any, warning_id: str, keys: Sequence[str]) -> list[dict[str, Any]]:
        """The first acknowledgement of each of ``keys`` that has one, oldest first."""
        a = table_of(WarningAck)
        rows = conn.execute(
            sa.select(a.c.delivery_key, a.c.acknowledged_by, a.c.acknowledged_at, a.c.via)
            .where(a.c.warning_id == warning_id, a.c.delivery_key.in_(list(keys)))
            .order_by(a.c.ack_id)
        ).mappings()
        first: dict[str, dict[str, Any]] = {}
        for row in rows:
            first.setdefault(str(row["delivery_key"]), dict(row))
        return list(first.values())

    def acknowledge_delivered(
        self,
        warning_id: str,
        acknowledged_by: str,
        *,
        delivery_key: str | None = None,
        via: str = "cli",
        run_by: str | None = None,
    ) -> Acknowledged:
        """Acknowledge delivered changes of ``warning_id``: the one function every
        acknowledgement goes through (``riskwarn stream ack``, the dashboard,
        :meth:`acknowledge`). ``delivery_key`` names the change; without it, every change
        of the warning in the delivery log nobody has acknowledged yet (each one row and
        one audit entry, so each one's escalation stops) that someone may have received:
        a delivery of it was sent, or claimed for sending and never recorded
        (:func:`possibly_sent`) once its claim's lease ran out (:func:`heard_by_now`).
        Without a key, a change still queued (never sent so far), being sent (claimed,
        its lease still running: since 2026-12-06) or whose sending failed is left out (since 2026-12-06; before, it was
        acknowledged: an officer acknowledged a page they never got, and its escalation
        never started): returned in ``left``, and when nothing else is left,
        :class:`NotSentYetError` (nothing written, audited ``acknowledge_rejected`` with
        ``not_sent_yet``). A change named by its key is acknowledged while queued (the
        officer names it: e.g. seen on the dashboard's alarm log). Returns
        :class:`Acknowledged`: ``[(ack id, delivery key)]`` and ``left``.

        Each change is acknowledged exactly once, whatever runs at the same time (a
        unique claim on the delivery key): :class:`AlreadyAcknowledgedError` (nothing
        written, the refusal audited as ``acknowledge_rejected``) names who acknowledged
        it first, when the named change, or every change of the warning, was
        acknowledged already. A change never sent (:func:`never_sent`: every delivery
        expired, superseded, not paged or cancelled, none possibly heard: nobody was told)
        is not acknowledged: without a key it
        is left out, and when nothing else is left, or it is the key named,
        :class:`NeverSentError` (nothing written, audited ``acknowledge_rejected`` with
        ``never_sent``); the dashboard does not offer such a change either.
        :class:`NoDeliveryError` (a KeyError; nothing written) when the delivery log has
        no such warning, or no such change of it. :class:`AckByError` (a ValueError;
        nothing written) for a blank
        ``acknowledged_by`` (an acknowledgement names who made it, as a review names its
        reviewer) or one longer than the column (:data:`ACK_BY_MAX` characters).
        ``run_by`` (the CLI: ``os:<account>``) goes into the audit entries' details: the
        name ``acknowledged_by`` is as typed, and it is the audit entry's actor."""
        if not acknowledged_by or not acknowledged_by.strip():
            raise AckByError(None)
        if len(acknowledged_by) > ACK_BY_MAX:
            raise AckByError(len(acknowledged_by))
        for attempt in range(3):
            try:
                return self._acknowledge_once(
                    warning_id, acknowledged_by, delivery_key, via, run_by
                )
            except sa.exc.IntegrityError:
                # another session claimed one of the changes between our read and our
                # insert (PostgreSQL, READ COMMITTED): read again, it is acknowledged now
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _acknowledge_once(
        self,
        warning_id: str,
        acknowledged_by: str,
        delivery_key: str | None,
        via: str,
        run_by: str | None = None,
    ) -> Acknowledged:
        d = table_of(Delivery)
        when = self._now()
        done: list[tuple[int, str]] = []
        with self._write() as conn:
            stmt = sa.select(
                d.c.delivery_key,
                d.c.status,
                d.c.delivery_id,
                d.c.last_error,
                d.c.maybe_heard,
                d.c.next_attempt_at,
            ).where(d.c.warning_id == warning_id)
            statuses: dict[str, list[str]] = {}
            ids: dict[str, list[int]] = {}
            heard: set[str] = set()  # changes some delivery of which may have been heard
            for row in conn.execute(stmt).mappings():
                key = str(row["delivery_key"])
                statuses.setdefault(key, []).append(str(row["status"]))
                ids.setdefault(key, []).append(int(row["delivery_id"]))
                # a claim still in its lease is being sent: nobody has it yet (without a
                # key it is left open, as a queued one; with one, the officer names it)
                if heard_by_now(row, when):
                    heard.add(key)
            keys = sorted(statuses)
            if not keys:
                raise NoDeliveryError(warning_id)
            if delivery_key is not None:
                if delivery_key not in keys:
                    raise NoDeliveryError(warning_id, delivery_key, keys)
                keys = [delivery_key]
            first = self._first_acks(conn, warning_id, keys)
            acked = {str(f["delivery_key"]) for f in first}
            open_ = [k for k in keys if k not in acked]
            unsent = [k for k in open_ if k not in heard and never_sent(statuses[k])]
            # without a key: only what may have been heard (sent, or claimed and never
            # recorded); a change still queued, or whose sending failed, reached nobody
            left = {
                k: statuses[k]
                for k in open_
                if delivery_key is None and k not in heard and k not in unsent
            }
            todo = [k for k in open_ if k not in unsent and k not in left]
            refused: Exception | None = None
            if not todo:
                if left:
                    refused = NotSentYetError(warning_id, left, first)
                elif unsent:
                    refused = NeverSentError(
                        warning_id,
                        unsent,
                        first,
                        {k: statuses[k] for k in unsent},
                        {k: _carried_by(conn, ids[k]) for k in unsent},
                    )
                else:
                    refused = AlreadyAcknowledgedError(warning_id, first)
                details: dict[str, Any] = {
                    "delivery_key": delivery_key,
                    "via": via,
                    "first": [
                        {
                            "delivery_key": f["delivery_key"],
                            "by": f["acknowledged_by"],
                            "at": utc(f["acknowledged_at"]).isoformat(),
                        }
                        for f in first
                    ],
                }
                if unsent:
                    details["never_sent"] = unsent  # every delivery of these never sent
                if left:
                    details["not_sent_yet"] = sorted(left)  # queued, or sending failed
                if run_by:
                    details["run_by"] = run_by
                self._audit(
                    conn, acknowledged_by, "acknowledge_rejected", "warning", warning_id, details
                )
            else:
                for key in todo:
                    ack_id = self._insert_ack(
                        conn, warning_id, key, acknowledged_by, when, via, run_by
                    )
                    done.append((ack_id, key))
        if refused is not None:
            raise refused
        return Acknowledged(done, left)

    def ended_changes(self, warning_ids: Sequence[str]) -> dict[str, list[datetime]]:
        """The ``changed_at`` of the deliveries of ``warning_ids`` whose ``change`` is
        ``ended``, by warning id (warnings with none left out): one statement per
        :data:`CHUNK` ids, not one per warning (the stream's publisher reads them for
        every ended episode at its start)."""
        d = table_of(Delivery)
        ids = sorted({str(w) for w in warning_ids})
        out: dict[str, list[datetime]] = {}
        with self._read() as conn:
            for i in range(0, len(ids), CHUNK):
                stmt = sa.select(d.c.warning_id, d.c.changed_at).where(
                    d.c.warning_id.in_(ids[i : i + CHUNK]), d.c.change == "ended"
                )
                for warning_id, changed_at in conn.execute(stmt):
                    out.setdefault(str(warning_id), []).append(changed_at)
        return out

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
