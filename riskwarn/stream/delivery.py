"""Delivering warning changes to the people responsible: e-mail (SMTP) and a signed
HTTP webhook, with retries, de-duplication, a delivery log and escalation.

The contacts file (YAML, ``configs/contacts.example.yaml``) lists contacts by id, with
their channels, and routes (site, then township, then default) as ordered lists of
contact ids: a change goes to the first contact of its route; a red warning that nobody
acknowledged within ``escalate_after_minutes`` goes to the next one, and so on. Only
contact ids reach the serving store and the logs, never an address or a number.

Every orange/red change (:attr:`riskwarn.stream.publish.LevelChange.notify`) becomes one
row per channel of the contact in the ``deliveries`` table (its delivery key names the
change, so re-publishing or a restart adds nothing); :func:`deliver_due` sends due rows,
retrying with exponential back-off (``retry_base_s`` * 2^attempts, at most
``max_attempts`` tries) and records each outcome.

Only warnings in force are delivered. A change's message names the end of the warning
it serves (``valid_to``: the reading's step end + :data:`~riskwarn.stream.publish.HORIZON_HOURS`,
as the published warning row); the store logs a change whose warning is no longer in
force (a replay of old readings) as ``expired``, and :func:`deliver_due` expires a
queued one whose warning ended while it waited, instead of sending it; both audited
(``delivery_expired``, :mod:`riskwarn.store.deliveries`). "Now" is the store's clock,
the wall clock, never the readings' event time: a replay of last month's readings pages
nobody, whatever time its readings say it is.

Only warnings the review panel still wants paged are delivered: a change whose warning
the panel dismissed, or adjusted below the change's level, is recorded ``cancelled`` at
its send instead of being sent, and is not escalated
(:func:`riskwarn.store.deliveries.review_stops_paging`, docs/streaming.md, "Cancelled by
review").
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import math
import os
import smtplib
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pandas as pd
import requests.utils
import yaml

from riskwarn import warnings as rw
from riskwarn.i18n import DEFAULT_DISPLAY_TZ, DEFAULT_LANG, fmt_datetime_zone
from riskwarn.paging_texts import level_words, t
from riskwarn.store import Store
from riskwarn.store.deliveries import (
    CLAIM_KEY,
    CLAIM_LEASE_S,
    CLAIMED,
    FAILED_RETRY_S,
    PAGING_LEVELS,
    SUPERSEDED_PEERS,
    changed_since,
    possibly_sent,
)
from riskwarn.stream.publish import DOMAIN, HORIZON_HOURS, LevelChange

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Riskwarn-Signature"
TIMESTAMP_HEADER = "X-Riskwarn-Timestamp"


@dataclass(frozen=True)
class Contact:
    contact_id: str
    email: str | None = None
    webhook: bool = False

    @property
    def channels(self) -> list[str]:
        return [c for c, on in (("email", bool(self.email)), ("webhook", self.webhook)) if on]


@dataclass
class DeliveryConfig:
    contacts: dict[str, Contact]
    sites: dict[str, list[str]] = field(default_factory=dict)
    townships: dict[str, list[str]] = field(default_factory=dict)
    default: list[str] = field(default_factory=list)
    site_township: dict[str, str] = field(default_factory=dict)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    mail_from: str = "riskwarn@localhost"
    webhook_url: str | None = None
    webhook_secret: str = ""
    escalate_after_minutes: float = 15.0
    retry_base_s: float = 2.0
    max_attempts: int = 8
    timeout_s: float = 10.0
    # how long a claimed delivery is its sender's: a claim whose outcome was not
    # recorded (the sender died) is due again after it (longer than a send: _send_times)
    claim_lease_s: float = CLAIM_LEASE_S
    # the pages' language (RISKWARN_PAGING_LANG; the dashboard's default, Chinese)
    lang: str = DEFAULT_LANG
    # a delivery whose retry budget ran out (``failed``: the contact was not reached) is
    # tried again once every this many minutes while its warning is in force
    retry_failed_after_minutes: float = FAILED_RETRY_S / 60
    # the zone the pages' times are said in (RISKWARN_DISPLAY_TZ, the dashboard's)
    tz: str = DEFAULT_DISPLAY_TZ

    def route(self, site_id: str) -> list[str]:
        """Contact ids responsible for a site, in escalation order."""
        if site_id in self.sites:
            return self.sites[site_id]
        town = self.site_township.get(site_id)
        if town is not None and town in self.townships:
            return self.townships[town]
        return self.default

    def has_next_contact(self, site_id: str, step: int) -> bool:
        """Whether the route of ``site_id`` has a contact after its ``step``-th: someone
        to escalate to (the last contact's failed page goes nowhere further)."""
        return step + 1 < len(self.route(site_id))


class ContactsError(ValueError):
    """The contacts file is unreadable or holds a value out of its type or range; the
    message is one line naming the file and the key (``riskwarn stream``: exit 2)."""


# the contacts file's numbers that must be greater than 0: key -> (default, whole)
POSITIVE_KEYS: dict[str, tuple[float, bool]] = {
    "escalate_after_minutes": (15.0, False),
    "max_attempts": (8, True),
    "retry_failed_after_minutes": (FAILED_RETRY_S / 60, False),
}


def _positive_numbers(raw: Mapping[str, Any], path: str | Path) -> dict[str, float]:
    """The :data:`POSITIVE_KEYS` of the contacts file (their defaults when absent);
    a value that is not a number greater than 0 (a whole one for ``max_attempts``)
    raises :class:`ContactsError` naming each such key, its value and the file."""
    out, wrong = {}, []
    for key, (default, whole) in POSITIVE_KEYS.items():
        value = raw.get(key, default)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and math.isfinite(value) and value > 0 and (not whole or value == int(value)):
            out[key] = float(value)
        else:
            kind = "a whole number greater than 0" if whole else "a number greater than 0"
            wrong.append(f"{key} must be {kind}, not {value!r}")
    if wrong:
        raise ContactsError(f"{path}: " + "; ".join(wrong))
    return out


def _mapping(value: Any, what: str, path: str | Path) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ContactsError(f"{path}: {what} must be a mapping, not {value!r}")
    return value


def _ids(value: Any, what: str, path: str | Path) -> list[str]:
    """A route: a list of contact ids."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str | int) for x in value):
        raise ContactsError(f"{path}: {what} must be a list of contact ids, not {value!r}")
    return [str(x) for x in value]


def _check_channels(contacts: Mapping[str, Contact], webhook_url: Any, path: str | Path) -> None:
    """Every contact must be reachable: an ``email`` that is an address (has an ``@``)
    and/or ``webhook: true`` with the file's ``webhook.url`` set; else
    :class:`ContactsError` naming the file and each such contact (before 2026-12-06 a
    contact without one was taken, and a route's page to it was no row at all: nothing
    logged, nothing escalated, the next contact never paged)."""
    wrong = []
    for cid, c in contacts.items():
        if c.email is not None and "@" not in c.email:
            wrong.append(f"contacts.{cid}.email must be an address, not {c.email!r}")
        if c.webhook and not webhook_url:
            wrong.append(f"contacts.{cid}.webhook is true but the file sets no webhook.url")
        if c.email is None and not c.webhook:
            wrong.append(f"contacts.{cid} has no channel (an email, or webhook: true)")
    if wrong:
        raise ContactsError(f"{path}: " + "; ".join(wrong))


def load_config(
    path: str | Path, lang: str = DEFAULT_LANG, tz: str = DEFAULT_DISPLAY_TZ
) -> DeliveryConfig:
    """The contacts file; the webhook secret comes from the environment variable it
    names; ``lang``: the pages' language (``Settings.paging_lang``); ``tz``: the zone
    their times are said in (``Settings.display_tz``). A file that cannot be read, or
    a value out of its type or range (the minutes and attempts must be greater than 0,
    a route a list of known contact ids, every contact reachable: :func:`_check_channels`),
    or a file that is not UTF-8 text, raises :class:`ContactsError` naming the file
    and the key (since 2026-12-06; before, ``retry_failed_after_minutes: -5`` or
    ``max_attempts: 0`` were taken as given)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ContactsError(
            f"{path}: cannot read the contacts file ({type(exc).__name__})"
        ) from None
    except UnicodeDecodeError as exc:  # e.g. saved as GBK by a Chinese Windows editor
        raise ContactsError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the contacts file as UTF-8"
        ) from None
    except yaml.YAMLError:
        raise ContactsError(f"{path}: not valid YAML") from None
    raw = _mapping(raw, "the contacts file", path)
    contacts = {}
    for cid, c in _mapping(raw.get("contacts"), "contacts", path).items():
        c = _mapping(c, f"contacts.{cid}", path)
        if c.get("email") is not None and not isinstance(c["email"], str):
            raise ContactsError(
                f"{path}: contacts.{cid}.email must be an address, not {c['email']!r}"
            )
        if not isinstance(c.get("webhook", False), bool):
            raise ContactsError(
                f"{path}: contacts.{cid}.webhook must be true or false, not {c['webhook']!r}"
            )
        contacts[str(cid)] = Contact(str(cid), c.get("email"), c.get("webhook", False))
    routes = _mapping(raw.get("routes"), "routes", path)
    smtp = _mapping(raw.get("smtp"), "smtp", path)
    hook = _mapping(raw.get("webhook"), "webhook", path)
    port = smtp.get("port", 25)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ContactsError(f"{path}: smtp.port must be a port number (1-65535), not {port!r}")
    base = raw.get("retry_base_s", 2)
    if not isinstance(base, int | float) or isinstance(base, bool) or not 0 <= base < math.inf:
        raise ContactsError(f"{path}: retry_base_s must be a number of seconds >= 0, not {base!r}")
    numbers = _positive_numbers(raw, path)
    secret = os.environ.get(str(hook.get("secret_env", "RISKWARN_WEBHOOK_SECRET")), "")
    cfg = DeliveryConfig(
        contacts=contacts,
        sites={
            str(k): _ids(v, f"routes.sites.{k}", path)
            for k, v in _mapping(routes.get("sites"), "routes.sites", path).items()
        },
        townships={
            str(k): _ids(v, f"routes.townships.{k}", path)
            for k, v in _mapping(routes.get("townships"), "routes.townships", path).items()
        },
        default=_ids(routes.get("default"), "routes.default", path),
        site_township={
            str(k): str(v)
            for k, v in _mapping(raw.get("site_townships"), "site_townships", path).items()
        },
        smtp_host=str(smtp.get("host", "127.0.0.1")),
        smtp_port=port,
        mail_from=str(smtp.get("from", "riskwarn@localhost")),
        webhook_url=hook.get("url"),
        webhook_secret=secret,
        escalate_after_minutes=numbers["escalate_after_minutes"],
        retry_base_s=float(base),
        max_attempts=int(numbers["max_attempts"]),
        lang=lang,
        retry_failed_after_minutes=numbers["retry_failed_after_minutes"],
        tz=tz,
    )
    cfg.timeout_s, cfg.claim_lease_s = _send_times(raw, path)
    unknown = {
        c for r in [*cfg.sites.values(), *cfg.townships.values(), cfg.default] for c in r
    } - set(contacts)
    if unknown:
        raise ContactsError(f"{path}: routes name unknown contacts {sorted(unknown)}")
    _check_channels(contacts, cfg.webhook_url, path)
    if cfg.webhook_url and not cfg.webhook_secret:
        raise ContactsError(
            f"{path}: a webhook needs its secret in ${hook.get('secret_env', 'RISKWARN_WEBHOOK_SECRET')}"
        )
    return cfg


# a claim's lease outlasts a send's timeout by at least this (the page built, the store's
# claim and record): a lease that ran out while the send was under way would let another
# sender send the row again
CLAIM_LEASE_MARGIN_S = 2.0


def _send_times(raw: Mapping[str, Any], path: str | Path) -> tuple[float, float]:
    """The contacts file's ``timeout_s`` (a send's timeout, default 10) and
    ``claim_lease_s`` (default :data:`~riskwarn.store.deliveries.CLAIM_LEASE_S`):
    seconds greater than 0, the lease longer than the timeout +
    :data:`CLAIM_LEASE_MARGIN_S`; else :class:`ContactsError` naming the file and the key."""
    timeout = raw.get("timeout_s", DeliveryConfig.timeout_s)
    lease = raw.get("claim_lease_s", CLAIM_LEASE_S)
    for key, v in (("timeout_s", timeout), ("claim_lease_s", lease)):
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 < v < float("inf"):
            raise ContactsError(f"{path}: {key} must be a number of seconds > 0, not {v!r}")
    if lease <= timeout + CLAIM_LEASE_MARGIN_S:
        raise ContactsError(
            f"{path}: claim_lease_s ({lease:g}) must be longer than timeout_s ({timeout:g}) "
            f"+ {CLAIM_LEASE_MARGIN_S:g} s: a lease that runs out during a send lets "
            "another sender send it again"
        )
    return float(timeout), float(lease)


def valid_to(change: LevelChange) -> pd.Timestamp:
    """The end of the warning ``change`` serves: as the stream's published warning row,
    its reading's step end + :data:`HORIZON_HOURS` (the store may hold a later one, if
    the level held and was published again). The message of the change is not sent
    after it unless the warning is still in force then."""
    return change.at + pd.Timedelta(hours=HORIZON_HOURS)


def _message(change: LevelChange, reasons: list[Any], step: int) -> dict[str, Any]:
    """What is sent (and kept in the log): the change, its reasons, no personal data."""
    level_to = rw.level_name(change.to_rank)
    return {
        "warning_id": change.warning_id,
        "domain": DOMAIN,
        "site_id": change.site_id,
        "change": "escalated" if step else change.change,
        "from_level": rw.level_name(change.from_rank),
        "to_level": level_to,
        "at": change.at.isoformat(),
        "valid_to": valid_to(change).isoformat(),
        "reasons": reasons,
        "delivery_key": change.key,
        "escalation_step": step,
    }


def delivery_rows(
    cfg: DeliveryConfig, change: LevelChange, reasons: list[Any], step: int = 0
) -> list[dict[str, Any]]:
    """The delivery-log rows of one change to the ``step``-th contact of its route (one
    per channel; none if the change is not delivered or the route has no such step).
    Each names its warning's end (``valid_to``): the store logs a row past it as
    ``expired`` (not sent, audited) instead of pending."""
    route = cfg.route(change.site_id)
    if not change.notify or step >= len(route):
        return []
    contact = cfg.contacts[route[step]]
    msg = _message(change, reasons, step)
    return [
        {
            "delivery_key": change.key,
            "warning_id": change.warning_id,
            "domain": DOMAIN,
            "unit_id": change.site_id,
            "change": msg["change"],
            "from_level": msg["from_level"],
            "to_level": msg["to_level"],
            "channel": channel,
            "contact_id": contact.contact_id,
            "escalation_step": step,
            "message": msg,
            "changed_at": change.at.to_pydatetime(),
            "valid_to": valid_to(change).to_pydatetime(),
        }
        for channel in contact.channels
    ]


def enqueue(
    store: Store, cfg: DeliveryConfig, change: LevelChange, reasons: list[Any], step: int = 0
) -> int:
    """Log the deliveries of one change to the ``step``-th contact of its route (once;
    ``expired``, not pending, if its warning is no longer in force). Returns how many
    were queued. The consumer logs a change's first deliveries in the transaction that
    publishes it (``Store.publish_run(deliveries=...)``); this is for escalations and
    tools."""
    return store.enqueue_deliveries(delivery_rows(cfg, change, reasons, step))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` (the webhook's signature)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Check a webhook signature (for receivers; constant-time comparison)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _reason(reason: Any, lang: str) -> str:
    """One bilingual reason (``{"en": ..., "zh": ...}``) in ``lang``, else the other
    language; a plain string as it is."""
    if isinstance(reason, dict):
        other = "en" if lang == "zh" else "zh"
        return str(reason.get(lang) or reason.get(other) or reason)
    return str(reason)


def page_subject(msg: Mapping[str, Any], lang: str) -> str:
    """The page's subject line in ``lang`` (the e-mail's Subject, the webhook's
    ``subject``)."""
    return t(
        "page_subject",
        lang,
        site=msg["site_id"],
        change=t(f"alarm_change_{msg['change']}", lang),
        to=level_words(msg["to_level"], lang),
    )


def page_text(msg: Mapping[str, Any], lang: str, tz: str = DEFAULT_DISPLAY_TZ) -> str:
    """The page's text in ``lang`` (the e-mail's body, the webhook's ``text``): the
    change, when (in ``tz``, the zone named), the levels not sent before (a catch-up's
    net change), the contacts not reached before (or maybe not: ``maybe_heard``), the
    reasons, the ids and how to acknowledge. The message's fields themselves stay as
    logged (ISO 8601 UTC)."""
    lines = [
        t(
            "page_headline",
            lang,
            site=msg["site_id"],
            change=t(f"alarm_change_{msg['change']}", lang),
            from_level=level_words(msg["from_level"], lang),
            to=level_words(msg["to_level"], lang),
        ),
        t("page_at", lang, at=fmt_datetime_zone(msg["at"], lang, tz)),
        *[
            t(
                "page_not_sent",
                lang,
                level=level_words(x["level"], lang),
                start=fmt_datetime_zone(x["from"], lang, tz),
                end=fmt_datetime_zone(x["to"], lang, tz),
            )
            for x in msg.get("not_sent") or []
        ],
        *[
            t(
                "page_maybe_unreached" if x.get("maybe_heard") else "page_unreached",
                lang,
                contact=x["contact_id"],
                step=x["escalation_step"],
                error=x["error"] or t("page_unreached_error", lang),
            )
            for x in msg.get("unreached") or []
        ],
        "",
        *[_reason(r, lang) for r in msg["reasons"]],
        "",
        t("page_ids", lang, warning=msg["warning_id"], key=msg["delivery_key"]),
        t("page_ack", lang, warning=msg["warning_id"], key=msg["delivery_key"]),
    ]
    return "\n".join(lines)


class SendDeadline(TimeoutError):
    """A send cut at its overall deadline (:class:`_Deadline`): its outcome is unknown
    (the receiver may have the message), recorded as a failed attempt."""


class HTTPStatusError(Exception):
    """The webhook receiver answered with a status other than 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _Deadline:
    """An overall wall-clock deadline for one send (since 2026-12-07). A socket's
    timeout applies to each read, so a receiver that drips its answer a byte at a time
    kept a send going past its claim's lease (another sender then sent the row again).
    Every socket of the send is :meth:`arm`-ed; after ``budget_s`` seconds (from the
    ``with``) they are shut down, which ends the read under way, and the send raises
    :class:`SendDeadline`."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.fired = False
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._timer = threading.Timer(max(budget_s, 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def arm(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (a duplicate of it: shutting that down ends
        the connection whatever wraps ``sock`` since, e.g. TLS)."""
        with self._lock:
            dup = sock.dup()
            self._socks.append(dup)
            if self.fired:
                _shut(dup)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                _shut(sock)

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()
        if exc is not None and self.fired and not isinstance(exc, SendDeadline):
            raise SendDeadline(f"send not done within {self.budget_s:.1f} s") from exc


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the send
        sock.shutdown(socket.SHUT_RDWR)


class _SMTP(smtplib.SMTP):
    """:class:`smtplib.SMTP` whose socket the send's :class:`_Deadline` shuts down (from
    the connection on: the server's greeting is read in the constructor)."""

    def __init__(self, deadline: _Deadline, host: str, port: int, timeout: float) -> None:
        self._deadline = deadline
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: Any, port: Any, timeout: Any) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self._deadline.arm(sock)
        return sock


def send_email(
    cfg: DeliveryConfig, contact: Contact, msg: dict[str, Any], budget_s: float | None = None
) -> None:
    """Send the page by e-mail, all of it (connection, greeting, message) within
    ``budget_s`` (default ``timeout_s``), each socket operation within ``timeout_s``;
    else :class:`SendDeadline`."""
    em = EmailMessage()
    em["From"] = cfg.mail_from
    em["To"] = contact.email or ""
    em["Subject"] = page_subject(msg, cfg.lang)
    em["X-Riskwarn-Delivery-Key"] = msg["delivery_key"]
    # the same Message-ID on a resend (after a crash between sending and recording it):
    # mail systems that de-duplicate by it show the message once
    em["Message-ID"] = f"<{msg['delivery_key']}.{contact.contact_id}@riskwarn>"
    em.set_content(page_text(msg, cfg.lang, cfg.tz))
    budget = cfg.timeout_s if budget_s is None else budget_s
    with (
        _Deadline(budget) as deadline,
        _SMTP(deadline, cfg.smtp_host, cfg.smtp_port, min(cfg.timeout_s, budget)) as smtp,
    ):
        smtp.send_message(em)


def _post(
    url: str, body: bytes, headers: Mapping[str, str], timeout_s: float, budget_s: float
) -> int:
    """POST ``body`` to ``url`` (http or https, certificates checked against requests'
    bundle, as before; no proxy, no redirect followed), all of it within ``budget_s``, each
    socket operation within ``timeout_s``; the answer's status (its body is not read)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook url must be http(s)://host[:port]/path")
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = min(timeout_s, budget_s)
    with _Deadline(budget_s) as deadline:
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
        conn: http.client.HTTPConnection
        try:
            deadline.arm(sock)
            if https:
                tls = ssl.create_default_context(cafile=requests.utils.DEFAULT_CA_BUNDLE_PATH)
                sock = tls.wrap_socket(sock, server_hostname=parts.hostname)
        except BaseException:
            sock.close()
            raise
        if https:
            conn = http.client.HTTPSConnection(parts.hostname, port, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
        conn.sock = sock
        try:
            conn.request("POST", path, body=body, headers=dict(headers))
            # The status line decides the outcome: a 2xx means the receiver has the page.
            # Its body (unused) is not waited for: a receiver that answered "200 OK" and
            # then dripped its body made the send hit its deadline, recorded as a failed
            # attempt and sent again (attack review, 2026-12-07).
            return conn.getresponse().status
        finally:
            conn.close()


def send_webhook(
    cfg: DeliveryConfig, contact: Contact, msg: dict[str, Any], budget_s: float | None = None
) -> None:
    """POST the signed page to the webhook, all of it within ``budget_s`` (default
    ``timeout_s``; :class:`SendDeadline` past it), each socket operation within
    ``timeout_s``; :class:`HTTPStatusError` unless the receiver answers 2xx."""
    if not cfg.webhook_url:
        raise RuntimeError("no webhook url configured")
    # the message's fields as logged (machine-readable: levels, ids, keys), and the page's
    # words for a gateway that forwards text (an SMS): in the paging language
    page = {
        "lang": cfg.lang,
        "subject": page_subject(msg, cfg.lang),
        "text": page_text(msg, cfg.lang, cfg.tz),
    }
    body = json.dumps(
        {**msg, "contact_id": contact.contact_id, **page}, ensure_ascii=False
    ).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: sign(cfg.webhook_secret, ts, body),
        "Idempotency-Key": f"{msg['delivery_key']}:{contact.contact_id}",
    }
    budget = cfg.timeout_s if budget_s is None else budget_s
    status = _post(cfg.webhook_url, body, headers, cfg.timeout_s, budget)
    if not 200 <= status < 300:
        raise HTTPStatusError(status)


def _error_class(exc: BaseException) -> str:
    """The kind of failure, without the message (which may hold an address)."""
    if isinstance(exc, HTTPStatusError):
        return f"HTTP {exc.status}"
    return type(exc).__name__


def _send_budget(cfg: DeliveryConfig, leased_at: float) -> float | None:
    """The overall deadline of a send whose claim's lease ran from ``leased_at``
    (``time.monotonic``): ``timeout_s``, which the lease outlasts by more than
    :data:`CLAIM_LEASE_MARGIN_S` (the file is refused otherwise); None when less of the
    lease is left than that (the claim took long, e.g. waiting on a lock): the send is
    not started, another sender may take the row before it would end."""
    left = leased_at + cfg.claim_lease_s - CLAIM_LEASE_MARGIN_S - time.monotonic()
    return cfg.timeout_s if left >= cfg.timeout_s else None


def _log_late(d: Mapping[str, Any], error: str | None) -> None:
    log.warning(
        "delivery %s (%s to contact %s): the outcome of its send (%s) came after its "
        "claim was lost (another sender took the row when the lease ran out): audited "
        "delivery_late_outcome, the row left to that claim%s",
        d["delivery_id"],
        d["channel"],
        d["contact_id"],
        "sent" if error is None else error,
        "" if error is not None else " (recorded sent if that one has not sent it)",
    )


def _record_sent(
    store: Store, delivery_id: Any, patience_s: float = 300.0, claim: datetime | None = None
) -> bool:
    """Record a sent delivery, retrying while the store is unavailable: a message that
    went out must not go out again because the store missed its 'sent' (it would, if
    the store stays down longer than ``patience_s`` or the process dies meanwhile: then
    the receiver's de-duplication by ``Idempotency-Key`` / ``X-Riskwarn-Delivery-Key``
    is the last guard)."""
    delay, end = 0.5, time.monotonic() + patience_s
    while True:
        try:
            return store.record_attempt(delivery_id, ok=True, claim=claim)
        except Exception as exc:
            if time.monotonic() + delay > end:
                raise
            log.error(
                "delivery %s was sent but recording it failed (%s); retrying in %.1f s",
                delivery_id,
                _error_class(exc),
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _log_expired(d: Mapping[str, Any]) -> None:
    log.warning(
        "delivery %s (%s to contact %s, warning %s) not sent: the warning is no longer "
        "in force (recorded expired)",
        d["delivery_id"],
        d["channel"],
        d["contact_id"],
        d["warning_id"],
    )


def _not_paged_because(outcome: str, row: Mapping[str, Any] | None) -> str:
    """Why a claimed row was not sent (``superseded`` / ``unpaged``), for the log."""
    if outcome == "superseded":
        return "a later change carries the net state"
    why = ((row or {}).get("message") or {}).get("unpaged")
    if why == "unchanged":
        return "back at the level last sent to the contact (nothing changed for them)"
    if why == "below_orange":
        return "fell below orange before the contact heard of the warning"
    return "the warning ended before the contact heard of it"


def deliver_due(store: Store, cfg: DeliveryConfig, limit: int = 100) -> dict[str, int]:
    """Send the due deliveries of warnings in force; returns counts sent / retry /
    failed / expired (queued deliveries whose warning is no longer in force, at the
    store's clock: recorded ``expired`` and audited, not sent) / cancelled (the review
    panel dismissed their warning or set it below their level: recorded ``cancelled``
    and audited, not sent) / maybe_sent (rows recorded so, or superseded or not paged,
    after a claim whose outcome was never recorded: they may have been sent; counted
    apart from the others). Each row is claimed just before its send, in one
    transaction with its in-force and review checks
    (:meth:`~riskwarn.store.Store.claim_delivery`)."""
    counts = {
        "sent": 0,
        "retry": 0,
        "failed": 0,
        "expired": 0,
        "superseded": 0,
        "unpaged": 0,
        "cancelled": 0,
        "maybe_sent": 0,
    }
    for stale in store.expire_deliveries():
        counts["maybe_sent" if possibly_sent(stale) else "expired"] += 1
        _log_expired(stale)
    for again in store.retry_failed():  # failed through an outage: tried again, in force
        log.warning(
            "delivery %s (%s to contact %s, warning %s) failed before (%s, %d attempts); "
            "its warning is in force: trying again",
            again["delivery_id"],
            again["channel"],
            again["contact_id"],
            again["warning_id"],
            again["last_error"],
            int(again["attempts"]),
        )
    for due in store.due_deliveries(limit):
        # claimed only while its warning is still in force (one transaction): a row that
        # expired since it was read (an earlier row's slow send) is recorded, not sent
        # the claim's lease runs from (at the latest) here: the send must end before it
        # does, less the margin for recording its outcome (_send_budget)
        leased_at = time.monotonic()
        outcome, claimed = store.claim_delivery(due["delivery_id"], cfg.claim_lease_s)
        # earlier rows this claim recorded superseded (its change carries their net state)
        counts["superseded"] += int((claimed or {}).get(SUPERSEDED_PEERS, 0))
        if outcome in ("expired", "cancelled", "superseded", "unpaged") and possibly_sent(due):
            # claimed before, its outcome never recorded (the sender died): it may have
            # been sent, so it is counted apart from the rows never sent
            counts["maybe_sent"] += 1
            log.info(
                "delivery %s (warning %s) recorded %s, not sent again: it may have been "
                "sent already (a claim whose outcome was not recorded)",
                due["delivery_id"],
                due["warning_id"],
                outcome,
            )
            continue
        if outcome == "expired":
            counts["expired"] += 1
            _log_expired(due)
            continue
        if outcome == "cancelled":  # the review panel stopped its paging: recorded
            counts["cancelled"] += 1
            log.info(
                "delivery %s (%s to contact %s, warning %s) not sent: cancelled by review",
                due["delivery_id"],
                due["channel"],
                due["contact_id"],
                due["warning_id"],
            )
            continue
        if outcome in ("superseded", "unpaged"):  # not sent: recorded and audited
            counts[outcome] += 1
            log.info(
                "delivery %s (warning %s) not sent: %s",
                due["delivery_id"],
                due["warning_id"],
                _not_paged_because(outcome, claimed),
            )
            continue
        if outcome != "claimed" or claimed is None:  # sent, expired, claimed meanwhile
            continue  # by another sender, or held behind an earlier change being sent
        d = claimed
        contact = cfg.contacts.get(d["contact_id"])
        mine = d.get(CLAIM_KEY)  # the claim's token: its outcome is recorded while it holds
        try:
            if contact is None:
                raise KeyError("contact no longer in the contacts file")
            budget = _send_budget(cfg, leased_at)
            if budget is None:  # it could not end inside the lease: not started
                log.warning(
                    "delivery %s (%s to contact %s) not sent: too little of its claim's "
                    "lease (%.0f s) left for a send (timeout %.0f s); claim released, due "
                    "again",
                    d["delivery_id"],
                    d["channel"],
                    d["contact_id"],
                    cfg.claim_lease_s,
                    cfg.timeout_s,
                )
                if mine is not None:
                    store.release_claim(d["delivery_id"], mine, d["last_error"])
                continue
            send = send_email if d["channel"] == "email" else send_webhook
            send(cfg, contact, d["message"], budget_s=budget)
        except Exception as exc:  # any failure of one delivery: retry it later
            n = int(d["attempts"]) + 1
            retry_at = (
                None
                if n >= cfg.max_attempts
                else datetime.now(UTC) + timedelta(seconds=cfg.retry_base_s * 2 ** (n - 1))
            )
            if not store.record_attempt(
                d["delivery_id"],
                ok=False,
                error=_error_class(exc),
                retry_at=retry_at,
                again_after_s=cfg.retry_failed_after_minutes * 60,
                claim=mine,
            ):
                _log_late(d, _error_class(exc))  # audited, not counted
                continue
            counts["retry" if retry_at else "failed"] += 1
            if retry_at is None:  # the contact was not reached: escalated, retried later
                further = (
                    f"the change escalates to the next contact after "
                    f"{cfg.escalate_after_minutes:.0f} min"
                    if cfg.has_next_contact(str(d["unit_id"]), int(d["escalation_step"]))
                    else "it is the last contact of the site's route: no further contact "
                    "to escalate to"
                )
                log.error(
                    "delivery %s (%s to contact %s, %s warning %s) FAILED after %d attempts "
                    "(%s): the contact was not reached; %s; it is tried again every %.0f min "
                    "while in force",
                    d["delivery_id"],
                    d["channel"],
                    d["contact_id"],
                    d["to_level"],
                    d["warning_id"],
                    n,
                    _error_class(exc),
                    further,
                    cfg.retry_failed_after_minutes,
                )
                continue
            log.warning(
                "delivery %s (%s to contact %s) attempt %d failed: %s",
                d["delivery_id"],
                d["channel"],
                d["contact_id"],
                n,
                _error_class(exc),
            )
            continue
        if not _record_sent(store, d["delivery_id"], claim=mine):
            _log_late(d, None)  # audited, not counted
            continue
        counts["sent"] += 1
        log.info(
            "delivery %s (%s to contact %s) sent", d["delivery_id"], d["channel"], d["contact_id"]
        )
    return counts


def _unreached(top: pd.DataFrame) -> bool:
    """Whether the deliveries ``top`` (one change to one contact, every channel) did not
    reach the contact and will not without help: none sent (nor claimed with no outcome
    recorded: at least once), every one ``failed`` (its retry budget spent) or being
    retried after a failed attempt."""
    for r in top.itertuples(index=False):
        if r.status == "failed":
            continue
        if r.status == "pending" and int(r.attempts) > 0 and r.last_error != CLAIMED:
            continue
        return False
    return True


def failed_at_last_contact(cfg: DeliveryConfig, failed: pd.DataFrame) -> int:
    """How many of the ``failed`` deliveries (``Store.failed_deliveries``) went to the
    last contact of their site's route: nobody further to escalate to."""
    return sum(
        not cfg.has_next_contact(str(r.unit_id), int(r.escalation_step))
        for r in failed.itertuples(index=False)
    )


def escalate(store: Store, cfg: DeliveryConfig, now: datetime | None = None) -> int:
    """Escalate, to the next contact of the route:

    * red changes delivered and nobody acknowledged within ``escalate_after_minutes``
      of their sending;
    * orange and red changes that did not reach their contact (:func:`_unreached`:
      every channel ``failed`` after its retry budget, or still retrying) within
      ``escalate_after_minutes`` of being queued to them, nobody having acknowledged
      them: "could not reach" counts as "did not acknowledge". The next contact's page
      names the contact not reached (``unreached``: contact, step, class of error; and
      ``maybe_heard: true`` when an earlier send to them may have got through, a claim
      whose outcome was never recorded: the page says "may not have reached") and what
      that one's page said. An orange so escalated that reaches its contact goes no
      further (as a delivered orange); one that fails there goes on.

    Neither when the review panel has since dismissed the warning or set it below the
    change's level (:func:`~riskwarn.store.deliveries.review_stops_paging`), nor when a
    later change of the warning is logged (it ended, was lowered or raised since:
    :func:`~riskwarn.store.deliveries.changed_since`). Returns how
    many deliveries were added (each once: the store de-duplicates by change, channel
    and contact, whatever number of senders)."""
    now = now or datetime.now(UTC)
    log_ = store.deliveries()
    if log_.empty:
        return 0
    paging = log_.loc[log_["to_level"].isin(PAGING_LEVELS)]
    stale = changed_since(log_)  # the warning changed since: the next contact not paged
    added = 0
    wait = timedelta(minutes=cfg.escalate_after_minutes)
    for key, g in paging.groupby("delivery_key"):
        step = int(g["escalation_step"].max())
        top = g.loc[g["escalation_step"] == step]
        sent = top.loc[top["status"] == "sent"]
        unreached: list[dict[str, Any]] = []
        if len(sent):  # delivered: a red nobody acknowledged in time
            if (top["to_level"] != "red").any() or sent["sent_at"].min() + wait > now:
                continue
        elif _unreached(top):  # not delivered to this contact: the next one is paged
            if top["created_at"].min() + wait > now:
                continue
            unreached = [
                {
                    "contact_id": str(top["contact_id"].iloc[0]),
                    "escalation_step": step,
                    "error": ", ".join(
                        sorted({str(e) for e in top["last_error"].dropna() if e != CLAIMED})
                    )
                    or None,
                }
            ]
            if any(possibly_sent(r) for r in top.to_dict("records")):
                # an earlier claim's send may have got through (its outcome was never
                # recorded): the page says "may not have reached", not "could not"
                unreached[0]["maybe_heard"] = True
        else:
            continue
        if key in stale or store.acknowledged(str(key)):
            continue
        if store.review_stopped([top.iloc[0].to_dict()]):  # dismissed, or set below it
            continue
        msg = top["message"].iloc[0]
        # the change as logged (its key): a page sent as the net change of a catch-up
        # names its logged change apart (riskwarn.store.deliveries._net_change)
        logged = msg.get("logged_change") or msg
        change = LevelChange(
            msg["site_id"],
            msg["warning_id"],
            rw.LEVEL_RANKS.get(logged["from_level"] or "", 0),
            rw.LEVEL_RANKS[msg["to_level"]],
            pd.Timestamp(msg["at"]),
        )
        rows = delivery_rows(cfg, change, msg["reasons"], step + 1)
        for row in rows:  # the escalation says what the page it follows said
            if msg.get("not_sent"):
                row["message"]["not_sent"] = msg["not_sent"]
            # and whom it could not reach (those before, if they failed too)
            if unreached or msg.get("unreached"):
                row["message"]["unreached"] = [*(msg.get("unreached") or []), *unreached]
        added += store.enqueue_deliveries(rows)
    return added
