"""Keep passwords out of messages, logs and the audit log (issue 13.13).

Database and MLflow URLs may carry a password (``postgresql+psycopg://user:secret@host/db``)
and libraries put URLs into their error messages. :func:`redact` masks the password of
every URL and every ``password=...`` in a text; :func:`install_log_redaction` makes every
log record of the process pass through it (message, arguments and traceback);
``Store.audit`` redacts what it writes; the CLI redacts its error lines.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

MASK = "***"
# scheme://user:password@  The password is masked to the last '@' before a space or a
# quote: SQLAlchemy and libpq end it at the first '@', urllib at the last one of the
# host part, and a password with an unescaped '@' (refused by the settings, but a URL
# may come from elsewhere) must not show its rest as the host. Over-masking a
# 'host/path@x' is harmless.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@'\"]*:)[^\s'\"]+(?=@)")
# password=secret (libpq keyword strings, query strings, config dumps)
_KEY_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z_]*(?:password|passwd|pwd)\s*[=:]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s&'\";,]+)",
    re.IGNORECASE,
)
_FACTORY_MARK = "_riskwarn_redacting"


# Personal data of dispute parties in free text (a review reason): a Chinese mobile
# number (11 digits from 13x-19x, optionally +86 and spaced or hyphenated 3-4-4) and a
# resident ID number (18 digits, the last may be X, or the old 15-digit form), each with
# a plausible birth date; digits run on either side are not matched (a longer number).
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[\s-]?)?1[3-9][0-9](?:[\s-]?[0-9]{4}){2}(?![0-9])")
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_ID_18 = re.compile(
    rf"(?<![0-9])[1-9][0-9]{{5}}(?:18|19|20)[0-9]{{2}}{_DATE}[0-9]{{3}}[0-9Xx](?![0-9])"
)
_ID_15 = re.compile(rf"(?<![0-9])[1-9][0-9]{{5}}[0-9]{{2}}{_DATE}[0-9]{{3}}(?![0-9])")
PERSONAL_KINDS = ("phone", "id_number")


def personal_data(text: str) -> list[str]:
    """The kinds of personal data found in ``text`` (a subset of :data:`PERSONAL_KINDS`,
    in that order): ``phone`` for a Chinese mobile number, ``id_number`` for an 18- or
    15-digit resident ID number. Used to refuse, never to mask: see
    ``Store.review_warning``."""
    found = []
    if _MOBILE.search(text):
        found.append("phone")
    if _ID_18.search(text) or _ID_15.search(text):
        found.append("id_number")
    return found


def redact(text: str) -> str:
    """``text`` with every URL password and ``password=...`` value replaced by ``***``."""
    if "://" not in text and "pass" not in text.lower() and "pwd" not in text.lower():
        return text
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _KEY_PASSWORD.sub(_mask_value, text)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match.group('head')}{quote}{MASK}{quote}"


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value (dicts, lists, tuples)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def url_password(url: str) -> str | None:
    """The password in a SQLAlchemy/MLflow URL, if any (to register with a secrets masker)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password or None
    except Exception:  # not a database URL (file:, http: without password, ...)
        return None


def install_log_redaction() -> None:
    """Redact every log record created in this process from now on (idempotent).

    Works at record creation (:func:`logging.setLogRecordFactory`), so it covers every
    logger and handler, including a traceback (``exc_text`` is filled in redacted).
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, _FACTORY_MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text).rstrip("\n")
        return record

    setattr(factory, _FACTORY_MARK, True)
    logging.setLogRecordFactory(factory)
