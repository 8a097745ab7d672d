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
# number (11 digits from 13x-19x, optionally +86 or 0086, in any grouping), a landline
# number (an area code 010, 02x or 0xxx, written 0556-5123456, (0556)5123456, 0556 5123456
# or run together, optionally +86, then a 7- or 8-digit local number not starting with 0
# or 1) and a resident ID number (18 digits, the last may be X, or the old 15-digit form),
# each with a plausible birth date; the 18-digit one in any grouping (340811 19900101
# 123X, 3408 1119 9001 0112 3X, 340811/19900101/123X), the 15-digit one spaced between
# its region, year, month-day and sequence parts; digits run on either side are not
# matched (a longer number). Groups are parted by one space, a hyphen or dash (the em
# and en dashes Chinese input methods type, one or two, a space either side or not:
# 132 - 4183 - 5768, 132——4183——5768), a dot or, in an ID number, a slash. Dates
# (2025-12-31, 2025/12/31), times, probabilities, case ids (MD202312190001), site ids and
# rain figures do not have these shapes (tests/test_review_personal_data.py). A local
# number written without its area code (5123456) and names are not found: see README's
# privacy section.
_DASH = r"[\-\u2010-\u2015\u2212\uff0d]"  # hyphen, the dashes, minus, full-width hyphen
_SEP = rf"(?:\s?{_DASH}{{1,2}}\s?|\s)?"  # between groups: a space or a dash, or none
# a mobile's 11 digits in any grouping (3-4-4, 4-4-3, 132.4183.5768): a separator or a
# dot between any two of them, or none
_MOBILE_SEP = rf"(?:{_SEP}|\.)"
_MOBILE = re.compile(
    rf"(?<![0-9])(?:(?:\+|00)?86{_SEP})?1{_MOBILE_SEP}[3-9](?:{_MOBILE_SEP}[0-9]){{9}}(?![0-9])"
)
_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"  # an area code without its leading 0
_LANDLINE = re.compile(
    r"(?<![0-9A-Za-z])"
    rf"(?:(?:\+|00)86{_SEP}(?:[(（]0?{_AREA}[)）]|0?{_AREA})|[(（]0{_AREA}[)）]|0{_AREA})"
    rf"{_SEP}[2-9][0-9]{{2,3}}{_SEP}[0-9]{{4}}(?![0-9])"
)
_MONTH_DAY = rf"(?:0[1-9]|1[0-2]){_SEP}(?:0[1-9]|[12][0-9]|3[01])"


def _any_grouping(*digits: str | tuple[tuple[str, str], ...]) -> str:
    """A pattern of ``digits`` (a character class each, or alternatives of two such as
    ``(("1", "9"), ("2", "0"))``) with a separator (:data:`_SEP`, a dot or a slash) or
    none between any two of them."""
    sep = rf"(?:{_SEP}|[./])"
    return sep.join(
        d if isinstance(d, str) else "(?:" + "|".join(f"{x}{sep}{y}" for x, y in d) + ")"
        for d in digits
    )


# 18 digits: region (6, not starting with 0), birth year (18xx-20xx), month, day,
# sequence (3), check digit or X
_ID_18 = re.compile(
    "(?<![0-9])"
    + _any_grouping(
        "[1-9]",
        *["[0-9]"] * 5,
        (("1", "[89]"), ("2", "0")),
        "[0-9]",
        "[0-9]",
        (("0", "[1-9]"), ("1", "[0-2]")),
        (("0", "[1-9]"), ("[12]", "[0-9]"), ("3", "[01]")),
        *["[0-9]"] * 3,
        "[0-9Xx]",
    )
    + "(?![0-9])"
)
_ID_15 = re.compile(
    rf"(?<![0-9])[1-9][0-9]{{5}}{_SEP}[0-9]{{2}}{_SEP}{_MONTH_DAY}{_SEP}[0-9]{{3}}(?![0-9])"
)
PERSONAL_KINDS = ("phone", "id_number")
_PATTERNS = (  # ID numbers first: a phone-shaped run inside one is part of the ID
    ("id_number", _ID_18),
    ("id_number", _ID_15),
    ("phone", _MOBILE),
    ("phone", _LANDLINE),
)


# Full-width forms (what Chinese input methods type: １３２４１８３５７６８, Ｘ, ＋, the
# ideographic space) read as their ASCII forms, one character for one, so that a span
# found in the folded text is the same span of the text as written.
_FOLD = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        "Ｘ": "X",
        "ｘ": "x",
        "＋": "+",
        "．": ".",
        "／": "/",
        "\u3000": " ",
    }
)


def personal_spans(text: str) -> list[tuple[int, int, str]]:
    """Where ``text`` holds personal data: ``(start, end, kind)`` in text order, ``kind``
    one of :data:`PERSONAL_KINDS`; spans never overlap (an ID number wins over a phone
    number found inside it). Full-width digits count as digits (:data:`_FOLD`)."""
    folded = text.translate(_FOLD)
    spans: list[tuple[int, int, str]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(folded):
            if all(m.end() <= s or m.start() >= e for s, e, _ in spans):
                spans.append((m.start(), m.end(), kind))
    return sorted(spans)


def personal_data(text: str) -> list[str]:
    """The kinds of personal data found in ``text`` (a subset of :data:`PERSONAL_KINDS`,
    in that order): ``phone`` for a Chinese mobile or landline number, ``id_number`` for
    an 18- or 15-digit resident ID number. Used to refuse a new review reason (see
    ``Store.review_warning``); :func:`mask_personal` masks one recorded before."""
    found = {kind for _, _, kind in personal_spans(text)}
    return [k for k in PERSONAL_KINDS if k in found]


def mask_personal(text: str, words: Mapping[str, str]) -> str:
    """``text`` with each phone or ID number replaced by ``words[kind]`` (e.g. ``"[phone
    removed]"`` in the reader's language): for showing or exporting a reason recorded
    before :func:`personal_data` refused them, never for changing what is recorded."""
    out, at = [], 0
    for start, end, kind in personal_spans(text):
        out += [text[at:start], words[kind]]
        at = end
    return "".join(out) + text[at:]


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
