"""Dashboard sessions: sign-in back-off, signed expiring session tokens, sign-out.

Functions of plain values (the shell does the Streamlit calls; revocation takes the
serving store):

* **Back-off** (issue 13.11): the sign-in attempts of a user name are read from the audit
  log (``login`` / ``login_failed`` entries, newest first). After
  :data:`FREE_FAILURES` failures in a row within :data:`FAILURE_WINDOW`, the name is
  locked for ``30 s * 2**(n - FREE_FAILURES)``, at most :data:`MAX_LOCK`; a success ends
  the run of failures. Unknown names are locked exactly like known ones (nothing tells
  them apart), and the state lives in the store, so a new browser or a restarted server
  does not reset it. The attempts of one name run one at a time (:func:`name_lock`).
* **Known devices** (review 2026-12-05: the lock was a lever to keep a panel member out
  by failing their password on purpose): a browser where a name signed in holds a
  signed device token for that name (cookie :func:`device_cookie`, :data:`DEVICE_TTL`).
  Attempts are counted apart: those from browsers without a valid token for the name
  (anyone, an attacker included) in one run, each known device's in its own. Failures
  from elsewhere lock the name everywhere but on its known devices, so the member signs
  in on their own browser through an attack, while guessing stays as slow as before (a
  token is issued only after a right password, and cannot be forged without the key).
* **Session token** (issue 12 §4): ``<payload>.<HMAC-SHA256>``, the payload being the
  base64url JSON ``{"u": user, "r": role, "iat": issued, "exp": expires, "jti": id}``,
  signed with a random key in ``<home>/secrets/dashboard_session.key`` (0600). The token
  lives in an ``HttpOnly``, ``SameSite=Strict`` cookie that the server sets
  (:func:`cookie_script`, ``dashboard/server.py``), so a browser refresh (a new Streamlit session)
  keeps the user signed in. It expires after the idle timeout and is renewed while the
  user works (sliding), so an idle browser is signed out even across refreshes; an
  absolute limit (:data:`MAX_SESSION`) ends it (no renewal past it). Sign-out revokes
  its ``jti`` in the serving store (:func:`revoke`: an audit entry, shared by every
  dashboard process on the store and kept across restarts), and every run of a
  signed-in session checks it and the limit, so a copied cookie, the browser's other
  tabs and another dashboard server are signed out too, at their next run (reviews
  2026-12-05, 2026-12-06); an open page also checks on a timer (:data:`WATCH_S`).
* **Cookie codes**: the page gets the token set as an HttpOnly cookie by posting a
  one-time code to :data:`COOKIE_ROUTE`; each code is bound to the browser's HttpOnly
  nonce cookie (:data:`NONCE_COOKIE`, ``dashboard/server.py``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from riskwarn.filemodes import write_private_file

log = logging.getLogger(__name__)

COOKIE = "riskwarn_session"
FREE_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
IDLE_ENV = "RISKWARN_DASHBOARD_IDLE_MINUTES"
MAX_SESSION = timedelta(hours=12)
WATCH_S = 30  # an open page checks its session this often (shell.watch_session)
LOGIN_ACTIONS = ("login", "login_failed")


def idle_timeout(environ: Mapping[str, str] | None = None) -> timedelta:
    """The idle timeout: ``$RISKWARN_DASHBOARD_IDLE_MINUTES`` (default 30 minutes),
    validated by riskwarn.settings (a value that is not a number above 0, at most 720,
    raises SettingsError; ``riskwarn dashboard`` refuses it at its start)."""
    from riskwarn.settings import setting

    return timedelta(minutes=float(setting("dashboard_idle_minutes", environ)))


# ----------------------------------------------------------------------------- back-off


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def device_of(entry: Mapping[str, Any]) -> str | None:
    """The known device an audited sign-in attempt came from (None: anywhere else)."""
    details = entry.get("details") or {}
    device = details.get("device") if isinstance(details, Mapping) else None
    return str(device) if device else None


def failures_in_a_row(
    entries: Iterable[Mapping[str, Any]], now: datetime, device: str | None = None
) -> list[datetime]:
    """Times of the failed sign-ins since the last success within :data:`FAILURE_WINDOW`,
    newest first, of one class of clients: the known device ``device``, or (None) every
    browser that is not a known device of the name. ``entries``: audit entries
    (``action``, ``at``, ``details``), newest first."""
    out: list[datetime] = []
    for entry in entries:
        if device_of(entry) != device:
            continue
        at = _utc(entry["at"])
        if now - at > FAILURE_WINDOW or entry["action"] == "login":
            break
        if entry["action"] == "login_failed":
            out.append(at)
    return out


def lock_for(n_failures: int) -> timedelta:
    """How long a name is locked after ``n_failures`` failures in a row."""
    if n_failures < FREE_FAILURES:
        return timedelta(0)
    return min(FIRST_LOCK * 2 ** (n_failures - FREE_FAILURES), MAX_LOCK)


def locked_until(
    entries: Iterable[Mapping[str, Any]], now: datetime, device: str | None = None
) -> datetime | None:
    """Until when the name whose audit ``entries`` are given is locked for the known
    device ``device`` (None: for every browser that is not a known device), or None."""
    failed = failures_in_a_row(entries, now, device)
    if len(failed) < FREE_FAILURES:
        return None
    until = failed[0] + lock_for(len(failed))
    return until if until > now else None


def audit_name(username: str) -> str:
    """The typed user name as the audit log keeps it (trimmed, at most 64 characters)."""
    return username.strip()[:64] or "(empty)"


# ----------------------------------------------------------------------------- tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(
    key: bytes,
    username: str,
    role: str,
    now: datetime,
    ttl: timedelta,
    first_issued: datetime | None = None,
    jti: str | None = None,
) -> str:
    """A signed token for ``username``/``role`` valid for ``ttl`` from ``now`` (never past
    :data:`MAX_SESSION` after ``first_issued``, the sign-in time)."""
    start = first_issued or now
    exp = min(now + ttl, start + MAX_SESSION)
    payload = {
        "u": username,
        "r": role,
        "iat": int(start.timestamp()),
        "exp": int(exp.timestamp()),
        "jti": jti or secrets.token_urlsafe(12),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    sig = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def read(key: bytes, token: str | None, now: datetime) -> dict[str, Any] | None:
    """The payload of ``token`` if its signature is right and it has not expired."""
    if not token or token.count(".") != 1:
        return None
    body, sig = token.split(".")
    want = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, want):
        return None
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict) or int(payload.get("exp", 0)) <= now.timestamp():
        return None
    return payload


def needs_renewal(payload: Mapping[str, Any], now: datetime, ttl: timedelta) -> bool:
    """Whether a token should be re-issued (less than three quarters of ``ttl`` left)."""
    return float(payload["exp"]) - now.timestamp() < ttl.total_seconds() * 0.75


DEVICE_COOKIE = "riskwarn_device_"
DEVICE_TTL = timedelta(days=90)
_DEVICE_MAC = b"riskwarn-device|"  # device tokens are not session tokens, nor these those


def device_cookie(username: str) -> str:
    """The cookie holding the device token of ``username`` (one per name and browser)."""
    return DEVICE_COOKIE + hashlib.sha256(audit_name(username).encode()).hexdigest()[:12]


def _device_mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, _DEVICE_MAC + body.encode(), hashlib.sha256).digest())


def issue_device(key: bytes, username: str, now: datetime, device: str | None = None) -> str:
    """A signed device token: this browser signed in as ``username`` (:data:`DEVICE_TTL`)."""
    payload = {
        "u": audit_name(username),
        "d": device or secrets.token_urlsafe(12),
        "exp": int((now + DEVICE_TTL).timestamp()),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_device_mac(key, body)}"


def read_device(key: bytes, token: str | None, username: str, now: datetime) -> str | None:
    """The device id of a valid, unexpired device token of ``username``, else None."""
    if not token or token.count(".") != 1:
        return None
    body, sig = token.split(".")
    if not hmac.compare_digest(sig, _device_mac(key, body)):
        return None
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if (
        not isinstance(payload, dict)
        or payload.get("u") != audit_name(username)
        or int(payload.get("exp", 0)) <= now.timestamp()
        or not payload.get("d")
    ):
        return None
    return str(payload["d"])


# the files under <home>/secrets this module writes or removes, one at a time in this process
_WRITE_LOCK = threading.Lock()


def key_path(home: Path) -> Path:
    return Path(home) / "secrets" / "dashboard_session.key"


def signing_key(home: Path) -> bytes:
    """The token signing key of ``home`` (created, 32 random bytes, mode 0600)."""
    path = key_path(home)
    if not path.is_file():
        # write_private_file's temporary name is per process: two threads (two first
        # sign-ins at once) clashed on it, one reading no key, the other losing its file
        with _WRITE_LOCK, contextlib.suppress(FileExistsError):  # another process first
            if not path.is_file():
                write_private_file(path, secrets.token_hex(32).encode(), exclusive=True)
    return path.read_bytes().strip()


# Revocation (sign-out, and every end of a session) is one ``session_revoked`` entry of
# the serving store's audit log, object ``session`` / the token's ``jti``: shared by every
# dashboard process on the store (two servers, a restarted one), never lost to a second
# writer (an INSERT, no read-modify-write of a file), and append-only (the database's
# trigger; no role can take a revocation back). It used to be a JSON file in
# <home>/secrets, rewritten by each process under a lock of its own: two processes
# signing out at once kept only one revocation (review 2026-12-06).
SESSION_OBJECT = "session"
REVOKED_ACTION = "session_revoked"


def revoke(store: Any, payload: Mapping[str, Any], reason: str = "logout") -> None:
    """Revoke the token of ``payload`` in the serving ``store`` (a :class:`Store`):
    every process on the store refuses it from its next check on."""
    store.audit(
        audit_name(str(payload.get("u", ""))),
        REVOKED_ACTION,
        SESSION_OBJECT,
        str(payload["jti"]),
        {"reason": reason, "exp": int(payload.get("exp", 0))},
    )


def is_revoked(store: Any, payload: Mapping[str, Any]) -> bool:
    """Whether the token of ``payload`` was revoked by any process on ``store`` (one
    indexed read: the audit log's object index)."""
    jti = payload.get("jti")
    if not jti:
        return True  # a signed token always has one: without it, nothing could revoke it
    return bool(store.audit_entries(SESSION_OBJECT, str(jti), (REVOKED_ACTION,)))


def legacy_revoked_path(home: Path) -> Path:
    """The revoked list of earlier versions (``<home>/secrets/dashboard_revoked.json``)."""
    return Path(home) / "secrets" / "dashboard_revoked.json"


def carry_legacy_revocations(home: Path, store: Any, now: datetime) -> int:
    """Move the unexpired entries of the earlier versions' revoked file into ``store``
    and remove the file (a stat on every run until then): tokens signed out before the
    upgrade stay refused. Returns how many were carried.

    Entries it cannot read (an expiry that is not a number, an empty id) are skipped,
    the good ones carried, and the file is kept as ``<name>.invalid`` with a warning
    (counts only, no token ids) for an administrator; likewise a file that is not a JSON
    object. Before (review 2026-12-06) ``{"x": null}`` raised TypeError on every run of
    every page, and an unreadable file was deleted without a word."""
    path = legacy_revoked_path(home)
    if not path.is_file():
        return 0
    with _WRITE_LOCK:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:  # another thread carried it meanwhile
            return 0
        except (OSError, ValueError):
            data = None
        entries = data if isinstance(data, dict) else {}
        carried = bad = 0
        for jti, exp in entries.items():
            try:
                expires = int(exp)
            except (TypeError, ValueError, OverflowError):
                bad += 1
                continue
            if not str(jti):
                bad += 1
            elif expires > now.timestamp():
                revoke(store, {"jti": str(jti), "exp": expires}, "carried")
                carried += 1
        if bad or data is None or not isinstance(data, dict):
            kept = path.with_name(path.name + ".invalid")
            try:
                path.replace(kept)
            except OSError as exc:
                log.warning("%s: could not be moved aside: %s", path, type(exc).__name__)
            else:
                log.warning(
                    "%s: not a JSON object or %d entries not understood (not carried; "
                    "%d carried): kept as %s",
                    path,
                    bad,
                    carried,
                    kept.name,
                )
        else:
            path.unlink(missing_ok=True)
    return carried


def past_max_session(payload: Mapping[str, Any], now: datetime) -> bool:
    """Whether the session of ``payload`` reached :data:`MAX_SESSION` since its sign-in
    (``iat``): then it ends, and no renewal starts it again."""
    return now.timestamp() >= int(payload.get("iat", 0)) + MAX_SESSION.total_seconds()


# sign-in attempts of one name run one at a time in this process (check lock, verify the
# password, record the outcome): parallel attempts each passed the check before any
# failure was recorded (review 2026-12-05: 12 tabs got 8-10 guesses instead of 5).
# Striped by a hash of the name, so the locks are bounded whatever names are typed.
_NAME_LOCKS = [threading.Lock() for _ in range(256)]


def name_lock(username: str) -> threading.Lock:
    """The lock serializing the sign-in attempts of ``username`` in this process."""
    digest = hashlib.sha256(audit_name(username).encode()).digest()
    return _NAME_LOCKS[int.from_bytes(digest[:2], "big") % len(_NAME_LOCKS)]


COOKIE_ROUTE = "/_riskwarn/cookie"
CODE_TTL_S = 60.0
MAX_CODE_BODY = 4096  # bytes: a code is 32 characters; bigger posts get 413 unread
NONCE_COOKIE = "riskwarn_nonce"
# one-time code -> (cookie name, value or None to delete, max age s, expiry monotonic s,
# browser nonce); the page's script and the cookie route run in the same server process
# (dashboard/server.py)
_CODES: dict[str, tuple[str, str | None, int, float, str]] = {}
_CODES_LOCK = threading.Lock()


def new_nonce() -> str:
    """A browser nonce: the server sets it (cookie :data:`NONCE_COOKIE`, HttpOnly) on the
    page's first load; a one-time code is redeemed only with it."""
    return secrets.token_urlsafe(24)


def cookie_code(name: str, value: str | None, max_age_s: int, nonce: str | None) -> str | None:
    """A one-time code (60 s) the page redeems at :data:`COOKIE_ROUTE` for an HttpOnly
    cookie ``name`` = ``value`` (None: deleted), only from the browser holding the nonce
    cookie ``nonce`` (that browser session's, from ``st.context.cookies``). None without
    a nonce (no cookie can be set then)."""
    if not nonce:
        return None
    code = secrets.token_urlsafe(24)
    now = time.monotonic()
    with _CODES_LOCK:
        for old in [c for c, v in _CODES.items() if v[3] < now]:
            del _CODES[old]
        _CODES[code] = (name, value, int(max_age_s), now + CODE_TTL_S, nonce)
    return code


def redeem_cookie_code(code: str, nonce: str | None) -> tuple[str, str | None, int] | None:
    """The cookie a valid, unused, unexpired code stands for, if ``nonce`` (the posting
    request's nonce cookie) is the one the code was issued to (the code is spent either
    way), or None: a code a page script kept and posts from elsewhere gets nothing."""
    with _CODES_LOCK:
        entry = _CODES.pop(code, None)
    if entry is None or entry[3] < time.monotonic():
        return None
    if not nonce or not hmac.compare_digest(entry[4].encode(), nonce.encode()):
        return None
    return entry[0], entry[1], entry[2]


def cookie_script(
    token: str | None, max_age_s: int, name: str = COOKIE, nonce: str | None = None
) -> str:
    """JavaScript that has the server set (or, with ``token`` None, delete) the HttpOnly
    cookie ``name`` (the session cookie unless said otherwise): it posts a one-time code,
    bound to this browser's ``nonce``, to :data:`COOKIE_ROUTE`; the token itself never
    reaches the page. Empty without a nonce."""
    code = cookie_code(name, token, max_age_s, nonce)
    if code is None:
        return ""
    return (
        "<script>(function(){"
        f"fetch('{COOKIE_ROUTE}',{{method:'POST',body:'{code}',credentials:'same-origin',"
        "cache:'no-store'});})();</script>"
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
