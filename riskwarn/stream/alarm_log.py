"""The alarm log the dashboard shows (pure): one row per delivered warning change.

From the store's delivery log (:meth:`riskwarn.store.Store.deliveries`) and its
acknowledgements (:meth:`~riskwarn.store.Store.acknowledgements`): per change
(``delivery_key``), the site, the change and levels, when it happened, which channels
and contacts it went to and with what outcome, and who acknowledged it when (or that
nobody has yet). Contact ids only: the store keeps no address and neither does this.
A change whose every delivery expired (its warning was no longer in force: a replay of
old readings) is listed with its outcome (``email:duty-1 expired``) and marked
``expired``: nobody got it, so it is neither open nor offered for acknowledgement. So
is one whose deliveries were ``superseded`` (a later change of its warning carried the
net state) or ``unpaged`` (nothing new for the officer; since 2026-12-06,
docs/streaming.md "Catch-up"), said by why: ``unpaged`` (the warning ended before they
heard of it), ``unpaged-below`` (it fell below orange before they heard of it; still in
force), ``unpaged-unchanged`` (back at the level last sent to them).
A row claimed for sending whose outcome was never recorded (``last_error`` is
:data:`~riskwarn.store.deliveries.CLAIMED`: the sender died between its send and the
record) and then recorded not sent is said to have maybe been sent:
``webhook:duty-1 superseded-maybe-sent`` (since 2026-12-06; before, "not sent (merged
into a later change)" for a page the officer may have had), and its change is not
``expired`` (it may have been heard: counted as sent, offered for acknowledgement).
A change some delivery of which the review panel stopped (its warning dismissed, or set
below the change's level: ``webhook:duty-1 cancelled``) is marked ``cancelled``; one whose
every delivery was cancelled is ``expired`` as well (never sent).
A change some delivery of which is ``failed`` and will be tried again (its contact was
not reached after every retry: ``email:duty-1 failed (8 attempts)``) is marked
``failed``: the dashboard says so above the log (the next contact is paged in that one's
place if the route has one, and the delivery is tried again while the warning is in
force; docs/streaming.md, "Failed deliveries"). A failed delivery that will not be tried
again (:meth:`riskwarn.store.Store.final_failures`, passed as ``final``) is said with why,
``failed-acknowledged`` (someone acknowledged the change), ``failed-ended`` (its warning
is no longer in force), ``failed-stopped`` (the review panel stopped its paging) or
``failed-superseded`` (a later change of its warning replaces it), and does not mark
its change ``failed`` (since 2026-12-06: before, every failure ever stayed "tried
again" above the log). Without ``final`` only the acknowledgements ``acks`` tell a
failure final.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from riskwarn.store.deliveries import NEVER_SENT, never_heard, possibly_sent

COLUMNS = [
    "changed_at",
    "unit_id",
    "change",
    "from_level",
    "to_level",
    "sent",  # "email:duty-1 sent, webhook:duty-1 retrying (2 attempts)"
    "first_sent_at",
    "escalated",
    "acknowledged_by",
    "acknowledged_at",
    "warning_id",
    "delivery_key",
    "expired",  # every delivery of the change expired: nobody was sent it (not shown)
    "cancelled",  # a delivery of the change was cancelled by review (not shown)
    # a delivery of the change failed (its contact was not reached) and is tried again
    # (not shown)
    "failed",
]


def alarm_log(
    deliveries: pd.DataFrame,
    acks: pd.DataFrame,
    limit: int = 50,
    final: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """The latest ``limit`` warning changes, newest first (empty frame of :data:`COLUMNS`
    when nothing was delivered). ``final``: the failed deliveries not tried again, by
    delivery id, with why (:meth:`riskwarn.store.Store.final_failures`)."""
    if deliveries.empty:
        return pd.DataFrame(columns=COLUMNS)
    d = deliveries.sort_values("delivery_id")
    acked = set() if acks.empty else {str(k) for k in acks["delivery_key"].dropna()}
    rows = []
    for key, g in d.groupby("delivery_key", sort=False):
        first = g.iloc[0]
        outcome = []
        failing = False  # a delivery of the change failed and is tried again
        for r in g.itertuples(index=False):
            n = int(r.attempts)
            status = "retrying" if r.status == "pending" and n > 0 else r.status
            if status == "failed":
                if final is not None:
                    why = final.get(int(r.delivery_id))
                else:  # only the acknowledgements tell
                    why = "acknowledged" if str(key) in acked else None
                if why is not None:
                    status = f"failed-{why}"
                else:
                    failing = True
            if r.status in NEVER_SENT and possibly_sent(r._asdict()):
                # claimed for sending, outcome never recorded (the sender died), then
                # recorded not sent: it may have reached the officer
                status = f"{r.status}-maybe-sent"
            elif status == "unpaged":  # why: in its message (older rows: by its level)
                why = r.message.get("unpaged") if isinstance(r.message, dict) else None
                if why == "unchanged":
                    status = "unpaged-unchanged"
                elif why == "below_orange" or (why is None and not pd.isna(r.to_level)):
                    status = "unpaged-below"
            tag = f"{r.channel}:{r.contact_id} {status}"
            if status != "sent" and n > 0:
                tag += f" ({n} attempt{'s' if n > 1 else ''})"
            outcome.append(tag)
        sent_at = pd.to_datetime(g["sent_at"], utc=True).dropna()
        mine = acks.loc[acks["delivery_key"] == key] if not acks.empty else acks
        rows.append(
            {
                "changed_at": pd.Timestamp(first["changed_at"]),
                "unit_id": first["unit_id"],
                "change": first["change"],
                "from_level": first["from_level"],
                "to_level": first["to_level"],
                "sent": ", ".join(outcome),
                "first_sent_at": sent_at.min() if len(sent_at) else pd.NaT,
                "escalated": int(g["escalation_step"].max()),
                "acknowledged_by": ", ".join(mine["acknowledged_by"].astype(str))
                if len(mine)
                else None,
                "acknowledged_at": pd.to_datetime(mine["acknowledged_at"], utc=True).min()
                if len(mine)
                else pd.NaT,
                "warning_id": first["warning_id"],
                "delivery_key": key,
                # the store's rule: such a change is refused if acknowledged anyway
                "expired": never_heard(g.to_dict("records")),
                "cancelled": bool((g["status"] == "cancelled").any()),
                "failed": failing,
            }
        )
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["changed_at"] = pd.to_datetime(out["changed_at"], utc=True)
    return out.sort_values("changed_at", ascending=False, kind="stable").head(limit)
