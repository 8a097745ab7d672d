"""Review decisions on warnings, with optimistic concurrency.

Decisions are appended to ``warning_reviews`` and ``audit_log``, which the database
keeps append-only.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from riskwarn.redact import personal_data
from riskwarn.review_text import (
    REASON_MAX_CHARS,
    accepted_level,
    reason_problem,
    reviewer_problem,
)
from riskwarn.store.models import (
    LEVELS,
    REVIEW_ACTIONS,
    ForecastRun,
    Publication,
    RiskWarning,
    WarningReview,
)
from riskwarn.store.reads import ReadStore
from riskwarn.store.sql import lock_for_transaction, table_of

log = logging.getLogger(__name__)

STATE_OF_ACTION = {"accept": "accepted", "adjust": "adjusted", "dismiss": "dismissed"}


class StaleWarningError(Exception):
    """A review was based on an outdated version of the warning.

    ``current`` is the warning as it is now (``Store.get_warning``), including
    ``last_review``: the decision that came first.
    """

    def __init__(self, current: dict[str, Any], expected_version: int) -> None:
        last = current.get("last_review") or {}
        who = f" by {last['reviewer']} ({last['action']})" if last else ""
        super().__init__(
            f"warning {current['warning_id']} changed{who}: version {current['version']} "
            f"is current, the review was based on version {expected_version}"
        )
        self.current = current
        self.expected_version = expected_version


class WithdrawnWarningError(StaleWarningError):
    """The warning was withdrawn (a re-publication of its run no longer raised it): no
    decision can be recorded on it, whatever version the review was based on."""

    def __init__(self, current: dict[str, Any], expected_version: int) -> None:
        Exception.__init__(
            self,
            f"warning {current['warning_id']} was withdrawn at {current['withdrawn_at']} "
            f"({current['withdrawn_reason']}): no decision recorded (the review was based "
            f"on version {expected_version}, version {current['version']} is current)",
        )
        self.current = current
        self.expected_version = expected_version


class ReplacedWarningError(StaleWarningError):
    """The warning's run is no longer the one served for its domain: a newer run was
    published since the form was shown (docs/serving-store.md, "Review and optimistic
    concurrency": *replaced*). No decision is recorded on it, whatever version the review
    was based on: it is out of force and out of the queue, so a decision on it would be
    seen by nobody. ``replaced_by`` is the served run's warning for the same unit (the
    ``warnings`` row, None when the served run raised none for it) and ``served_run``
    the served run (``forecast_runs`` row plus ``served_at``; None when none is served)."""

    def __init__(
        self,
        current: dict[str, Any],
        expected_version: int,
        replaced_by: dict[str, Any] | None,
        served_run: dict[str, Any] | None,
    ) -> None:
        run = "no run" if served_run is None else f"run {served_run['run_id']}"
        by = (
            f"by warning {replaced_by['warning_id']} of {run}"
            if replaced_by is not None
            else f"by {run}, which raised no warning for {current['unit_id']}"
        )
        Exception.__init__(
            self,
            f"warning {current['warning_id']} (run {current['run_id']}) was replaced {by}: "
            f"no decision recorded (the review was based on version {expected_version})",
        )
        self.current = current
        self.expected_version = expected_version
        self.replaced_by = replaced_by
        self.served_run = served_run


PERSONAL_WORDS = {  # riskwarn.redact.personal_data's kinds, in a refusal's words
    "phone": {"en": "a phone number", "zh": "电话号码"},
    "id_number": {"en": "an ID number", "zh": "身份证号"},
}


class PersonalDataError(ValueError):
    """A review reason holds personal data (a phone or ID number of a dispute party):
    nothing is recorded, the reviewer is asked to remove it (``kinds``: what was found,
    :func:`riskwarn.redact.personal_data`; ``message`` in ``en`` and ``zh``). Refused,
    never masked: the reviewer stays accountable for the words recorded."""

    def __init__(self, warning_id: str, kinds: list[str]) -> None:
        self.warning_id = warning_id
        self.kinds = list(kinds)
        en = " and ".join(PERSONAL_WORDS[k]["en"] for k in self.kinds)
        zh = "和".join(PERSONAL_WORDS[k]["zh"] for k in self.kinds)
        self.message = {
            "en": f"The reason contains {en}. Personal data of the parties (names, phone "
            "and ID numbers) is not recorded: remove it and submit again. Nothing was saved.",
            "zh": f"理由中含有{zh}。当事人的个人信息（姓名、电话、身份证号）不予记录："
            "请删除后重新提交。本次未保存。",
        }
        super().__init__(f"warning {warning_id}: {self.message['en']}")


class ReviewStore(ReadStore):
    """Accept, adjust or dismiss warnings."""

    def review_warning(
        self,
        warning_id: str,
        action: str,
        reason: str,
        reviewer: str,
        expected_version: int,
        level: str | None = None,
    ) -> dict[str, Any]:
        """Accept, adjust or dismiss a warning seen at ``expected_version``; return it updated.

        The update only applies if the warning is still at ``expected_version``;
        otherwise the attempt is written to the audit log as 'review_rejected' and
        StaleWarningError carries the current warning and its last review.
        A reason with a phone or ID number (:func:`riskwarn.redact.personal_data`) is
        refused with :class:`PersonalDataError` before anything else is written; the
        refusal is audited as 'review_refused_personal_data' with what was found, never
        the text.
        ValueError (nothing written) for an unknown action, an empty reason or reviewer,
        a level given with anything but 'adjust', and an 'adjust' without a level or to
        the level the warning already has (confirming a level is an 'accept').
        A withdrawn warning takes no decision: the attempt is audited as
        'review_rejected' and :class:`WithdrawnWarningError` (a StaleWarningError) raised.
        Nor does a replaced one, whose run is no longer the one served for its domain
        (a newer run was published): :class:`ReplacedWarningError` names the served
        run's warning for the same unit. The domain's publishing lock is held from
        before the check to the commit (PostgreSQL; SQLite's writers are serialised), so
        a publish cannot slip between them, and the check is part of the UPDATE itself.
        """
        if action not in REVIEW_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(REVIEW_ACTIONS)}, not {action!r}")
        problem = reason_problem(reason)
        if problem == "reason_required":
            raise ValueError("a review needs a reason (something visible)")
        if problem == "reason_control":
            raise ValueError(
                "a review reason cannot hold control characters or invisible format characters "
                "(e.g. NUL, a right-to-left override)"
            )
        if problem == "reason_too_long":
            raise ValueError(f"a review reason is at most {REASON_MAX_CHARS} characters")
        who = reviewer_problem(reviewer)
        if who is not None:
            raise ValueError(who)
        if action == "adjust" and level not in LEVELS:
            raise ValueError(f"'adjust' needs a level in {', '.join(LEVELS)}, not {level!r}")
        if action != "adjust" and level is not None:
            raise ValueError(f"only 'adjust' takes a level; {action!r} was given {level!r}")
        found = personal_data(reason)
        if found:  # refused, audited without the text (it is what must not be stored)
            with self._write() as conn:
                self._get_warning(conn, warning_id)  # KeyError if unknown
                self._audit(
                    conn,
                    reviewer,
                    "review_refused_personal_data",
                    "warning",
                    warning_id,
                    {
                        "action": action,
                        "level": level,
                        "found": found,
                        "expected_version": int(expected_version),
                    },
                )
            log.warning(
                "warning %s: %s refused, its reason holds %s (not recorded)",
                warning_id,
                action,
                ", ".join(found),
            )
            raise PersonalDataError(warning_id, found)
        w, pub = table_of(RiskWarning), table_of(Publication)
        now = self._now()
        with self._write() as conn:
            domain = conn.execute(
                sa.select(w.c.domain).where(w.c.warning_id == warning_id)
            ).scalar_one_or_none()
            if domain is None:
                raise KeyError(f"no warning {warning_id!r}")
            # a publish of the domain holds this lock from before it reads the served run
            # to its commit: none can change what is served between the check and the
            # insert (and this transaction's statements see the last one committed)
            lock_for_transaction(conn, "domain", str(domain))
            current = self._get_warning(conn, warning_id)
            # the level in force when decided (what the reviewer saw): none once dismissed
            # (the trail's from_level; the state it was in goes to the audit entry)
            from_level = accepted_level(current) if current["state"] != "dismissed" else None
            same_level = level == from_level and current["withdrawn_at"] is None
            if action == "adjust" and same_level and current["version"] == expected_version:
                raise ValueError(
                    f"warning {warning_id} is already {level}: an 'adjust' must change the "
                    "level (use 'accept' to confirm it)"
                )
            to_level = {"accept": accepted_level(current), "adjust": level, "dismiss": None}[action]
            # what a dismissal sets aside: the level in force, or (a dismissed warning
            # dismissed again) the level the dismissal in force had set aside
            dismissed_level = None
            if action == "dismiss":
                dismissed_level = from_level or self._dismissed_level(conn, warning_id)
            updated = conn.execute(
                sa.update(w)
                .where(
                    w.c.warning_id == warning_id,
                    w.c.version == int(expected_version),
                    w.c.withdrawn_at.is_(None),
                    # in force: its run is the one served for its domain (not replaced)
                    sa.exists().where(pub.c.domain == w.c.domain, pub.c.run_id == w.c.run_id),
                )
                .values(
                    state=STATE_OF_ACTION[action],
                    reviewed_level=to_level,
                    version=w.c.version + 1,
                    updated_at=now,
                )
            ).rowcount
            attempt = {
                "action": action,
                "level": level,
                "reason": reason,
                "expected_version": int(expected_version),
            }
            if updated == 0:
                stale = self._get_warning(conn, warning_id)
                served, replaced_by = self._replacement(conn, stale)
                replaced = served is None or served["run_id"] != stale["run_id"]
                self._audit(
                    conn,
                    reviewer,
                    "review_rejected",
                    "warning",
                    warning_id,
                    {
                        **attempt,
                        "current_version": stale["version"],
                        "current_state": stale["state"],
                        "withdrawn": stale["withdrawn_at"] is not None,
                        "replaced": replaced,
                        "served_run": None if served is None else served["run_id"],
                        "replaced_by": None if replaced_by is None else replaced_by["warning_id"],
                    },
                )
            else:
                conn.execute(
                    sa.insert(table_of(WarningReview)).values(
                        warning_id=warning_id,
                        action=action,
                        from_level=from_level,
                        to_level=to_level,
                        reason=reason.strip(),
                        reviewer=reviewer,
                        reviewed_at=now,
                        warning_version=int(expected_version) + 1,
                        dismissed_level=dismissed_level,
                    )
                )
                # what it changed, as the trail records it, with the state it was in (a
                # trail's from_level none is a dismissed warning's)
                change = {
                    "from_state": current["state"],
                    "from_level": from_level,
                    "to_level": to_level,
                    **({"dismissed_level": dismissed_level} if action == "dismiss" else {}),
                }
                self._audit(
                    conn, reviewer, f"review_{action}", "warning", warning_id, attempt | change
                )
                result = self._get_warning(conn, warning_id)
        if updated == 0:
            if stale["withdrawn_at"] is not None:
                raise WithdrawnWarningError(stale, int(expected_version))
            if replaced:
                raise ReplacedWarningError(stale, int(expected_version), replaced_by, served)
            raise StaleWarningError(stale, int(expected_version))
        log.info("warning %s %s by %s", warning_id, action, reviewer)
        return result

    @staticmethod
    def _dismissed_level(conn: Connection, warning_id: str) -> str | None:
        """The level the newest dismissal of ``warning_id`` set aside (None: none recorded)."""
        r = table_of(WarningReview)
        return conn.execute(
            sa.select(r.c.dismissed_level)
            .where(r.c.warning_id == warning_id, r.c.action == "dismiss")
            .order_by(r.c.review_id.desc())
            .limit(1)
        ).scalar_one_or_none()

    @staticmethod
    def _replacement(
        conn: Connection, warning: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The run served for ``warning``'s domain (``forecast_runs`` row plus
        ``served_at``, None when none is) and, when it is another run than the warning's,
        that run's warning for the same unit (not withdrawn; None when it raised none)."""
        runs, pub, w = table_of(ForecastRun), table_of(Publication), table_of(RiskWarning)
        served = (
            conn.execute(
                sa.select(runs, pub.c.published_at.label("served_at"))
                .join(pub, pub.c.run_id == runs.c.run_id)
                .where(pub.c.domain == warning["domain"])
            )
            .mappings()
            .first()
        )
        if served is None or served["run_id"] == warning["run_id"]:
            return (None if served is None else dict(served)), None
        newer = (
            conn.execute(
                sa.select(w)
                .where(
                    w.c.run_id == served["run_id"],
                    w.c.domain == warning["domain"],
                    w.c.unit_id == warning["unit_id"],
                    w.c.withdrawn_at.is_(None),
                )
                .order_by(w.c.valid_from.desc(), w.c.warning_id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        return dict(served), (None if newer is None else dict(newer))
