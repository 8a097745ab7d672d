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
from datetime import date
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
# number (11 digits from 13x-19x, optionally +86 or 0086), a landline number (an area
# code 010, 02x or 0xxx, written 0556-5123456, (0556)5123456, 0556 5123456 or run
# together, one space or dash, not '0738 -- 20000817' (a range), optionally +86, then a 7- or 8-digit local number not starting with 0 or 1)
# and a resident ID number (18 digits, the last may be X, or the old 15-digit form);
# digits run on either side are not matched (a longer number), nor a dotted or slashed
# run going on (1.3.2.4183..., a/b/c/...). Groups are parted by a space, a hyphen or dash
# (the em and en dashes Chinese input methods type, one or two, a space either side or
# not: 132 - 4183 - 5768, 132——4183——5768), a dot or, in an ID number, a slash, only
# where people part them:
# - a mobile 3-4-4 (one kind: spaces or dashes, or dots throughout: 132.4183.5768),
#   3-8 or 7-4 (one space or dash), 4-4-3 (spaces: 1324 1835 768) or run together;
# - an ID number (one kind throughout) 6-8-4, 6-8-3-1, 6-4-4-4, 6-4-2-2-4 (region, birth
#   year, month, day, sequence) or 4-4-4-4-2, the 15-digit one 6-6-3 or 6-2-2-2-3; its
#   region a province's (11-65, 71, 81-83; xx0000 only for 81-83, the residence permits
#   of Hong Kong, Macao and Taiwan residents) and its birth a real date of 1800-2025.
# A later "birth" is a date a reviewer wrote beside a county code (340882/20261206/1520,
# 3408 8220 2612 0615 20 holds 340882 2026-12-06 1520): raise _LAST_BIRTH_YEAR only with
# the tests' such dates. Dates (2025-12-31, 2025/12/31), times, probabilities, ranges
# (1380 — 1390 — 120, 1.3–1.4–1.5), case ids (MD202312190001), site ids and rain figures
# do not have these shapes (tests/test_review_personal_data.py). A local number written
# without its area code (5123456) and names are not found: see README's privacy section.
_DASH = r"[\-\u2010-\u2015\u2212\uff0d]"  # hyphen, the dashes, minus, full-width hyphen
_DASHES = rf"\s?{_DASH}{{1,2}}\s?"  # one or two dashes, a space either side or not
_SEP = rf"(?:{_DASHES}|\s)?"  # between groups: a space or a dash, or none
_GAP = rf"(?:{_DASHES}|\s)"  # a space or a dash (not none)
_ONE_GAP = rf"(?:{_DASH}|\s)"  # one space or one dash: '176 -- 19950124' is a range
# no digit before or after, nor a dotted or slashed run going on
_START, _END = r"(?<![0-9])(?<![0-9][./])", r"(?![0-9])(?![./][0-9])"
_MOBILE = re.compile(
    rf"{_START}(?:(?:\+|00)?86{_SEP})?1[3-9][0-9]"
    rf"(?:[0-9]{{8}}|{_ONE_GAP}[0-9]{{8}}|[0-9]{{4}}{_ONE_GAP}[0-9]{{4}}"
    rf"|{_GAP}[0-9]{{4}}{_GAP}[0-9]{{4}}|\.[0-9]{{4}}\.[0-9]{{4}}"
    rf"|[0-9]\s[0-9]{{4}}\s[0-9]{{3}}|/[0-9]{{4}}/[0-9]{{4}}|_[0-9]{{4}}_[0-9]{{4}}"
    # 3-4-4 parted by a comma and a space (138, 0013, 8000; the full-width and ideographic
    # commas read as ',' by _FOLD): only this grouping, as ', ' ends a list's item for the
    # loose pass (13, 80, 01, 38, 00, 0 stays a list). A list of three numbers of these
    # lengths, the first 130-199 (150, 1200, 3400), is taken for a phone number too, as
    # 150 1200 3400 and 150,1200,3400 already were; money in thousands has groups of 3
    rf"|,\s?[0-9]{{4}},\s?[0-9]{{4}}){_END}"
    # the 3 digits of a mobile's network in brackets: (138)12345678, (138) 1234-5678
    rf"|{_START}[(（]1[3-9][0-9][)）]{_ONE_GAP}?(?:[0-9]{{8}}|[0-9]{{4}}{_ONE_GAP}[0-9]{{4}}){_END}"
)
_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"  # an area code without its leading 0
_LANDLINE = re.compile(
    r"(?<![0-9A-Za-z])"
    rf"(?:(?:\+|00)86{_SEP}(?:[(（]0?{_AREA}[)）]|0?{_AREA})|[(（]0{_AREA}[)）]|0{_AREA})"
    rf"{_ONE_GAP}?[2-9][0-9]{{2,3}}{_ONE_GAP}?[0-9]{{4}}(?![0-9])"
)


def _shapes(*shapes: tuple[int, ...]) -> str:
    """A pattern of digit groups of the lengths of one of ``shapes`` (the last digit may
    be X), parted by one kind of separator throughout: a space, dashes, a dot, a slash."""
    kinds = (r"\s", _DASHES, r"\.", "/")
    alternatives = []
    for shape in shapes:
        groups = [f"[0-9]{{{n}}}" for n in shape[:-1]] + [f"[0-9]{{{shape[-1] - 1}}}[0-9Xx]"]
        if len(shape) == 1:
            alternatives.append(groups[0])
        else:
            alternatives += [f"(?:{k})".join(groups) for k in kinds]
    return rf"{_START}(?:{'|'.join(alternatives)}){_END}"


_ID_18 = re.compile(
    _shapes((18,), (6, 8, 4), (6, 8, 3, 1), (6, 4, 4, 4), (6, 4, 2, 2, 4), (4, 4, 4, 4, 2))
)
_ID_15 = re.compile(_shapes((15,), (6, 6, 3), (6, 2, 2, 2, 3)))
_PROVINCE = re.compile(r"1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[1-3]")
_FIRST_BIRTH_YEAR, _LAST_BIRTH_YEAR = 1800, 2025


def _id_number(found: str) -> bool:
    """Whether ``found`` (an ID-number-shaped match) has a province's region and a real
    birth date of :data:`_FIRST_BIRTH_YEAR`-:data:`_LAST_BIRTH_YEAR` (run together: up
    to this year)."""
    digits = re.sub(r"[^0-9Xx]", "", found)
    region, birth = digits[:6], digits[6:14] if len(digits) == 18 else "19" + digits[6:12]
    if not _PROVINCE.fullmatch(region[:2]) or (region[2:] == "0000" and region[0] != "8"):
        return False
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:  # month 13, day 32, 0230
        return False
    # run together (how an ID number is copied from a card or a form): any birth up to
    # this year, a child's included (custody disputes); parted into groups, a "birth"
    # after _LAST_BIRTH_YEAR is taken for a date beside a county code, as above
    last = date.today().year if digits == found else _LAST_BIRTH_YEAR
    return _FIRST_BIRTH_YEAR <= born.year <= last


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
        # middle dots people put between a number's groups (138·1234·5678, attack review
        # C3, stop 41) read as a dot: U+00B7, katakana U+30FB and half-width U+FF65,
        # hyphenation point U+2027. Commas are left out: they part lists of numbers
        "\u00b7": ".",
        "\u30fb": ".",
        "\uff65": ".",
        "\u2027": ".",
        # read by the loose pass only (:data:`_LOOSE_RUN`): the full-width tilde, comma,
        # low line, the ideographic comma and the wave dash people part numbers with
        "～": "~",
        "\u301c": "~",
        "，": ",",
        "、": ",",
        "＿": "_",
    }
)
# Chinese numerals, one character for one digit (a mobile number written out:
# 一三八一二三四五六七八); 十, 百 and 千 are not digits of a number written out. They are
# also words and parts of names (张三, 一直, 第一, 一份): a numeral next to a number is
# read both ways (:func:`_readings`), so that 张三13812345678 is a name and a phone
# number, not a 12-digit run (attack review 2026-12-07).
# 幺 (1) and 两 (2) are how 一 and 二 are read out in a phone number (幺三八零零幺三八零零零,
# attack review 2026-12-07, second), 壹贰叁... the financial forms.
_NUMERALS = "〇一二三四五六七八九零○幺两壹贰叁肆伍陆柒捌玖"
_NUMERAL_FOLD = str.maketrans(
    {
        **{c: str(i) for i, c in enumerate("〇一二三四五六七八九")},
        **{c: str(i) for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")},
        "○": "0",
        "幺": "1",
        "两": "2",
    }
)
_NUMERAL_RUN = re.compile(f"[{_NUMERALS}]+")


# the invisible format characters (Unicode category Cf, as of Unicode 14/15: soft hyphen,
# zero-width space / joiners, bidi marks, word joiner, BOM, tags; tests check the list
# against unicodedata)
_CF = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)


_SPACE_RUN = re.compile(r"\s\s")


def _visible(text: str) -> tuple[str, list[int] | None]:
    """``text`` without its invisible format characters (:data:`_CF`: U+200B zero-width
    space, U+200C/D, U+2060 word joiner, U+FEFF, bidi marks, the soft hyphen), which
    split a number without showing (13812\u200b345678), and with each run of white space
    read as its first character (139  1234  5678 parts groups as one space does: attack
    review C3, stop 41), and the index in ``text`` of each character kept (None when
    none was removed)."""
    if not _SPACE_RUN.search(text) and (text.isascii() or not _CF.search(text)):
        return text, None
    keep, after_space = [], False
    for i, c in enumerate(text):
        if _CF.match(c):  # unseen: neither parts nor joins a run of spaces
            continue
        space = c.isspace()
        if not (space and after_space):
            keep.append(i)
        after_space = space
    return "".join(text[i] for i in keep), keep


def _readings(visible: str) -> list[str]:
    """The ways ``visible`` is read for numbers, each one character for one (a span in
    any is the same span of ``visible``): with :data:`_FOLD`, and when it holds Chinese
    numerals, with each run of them read as digits, as the words they are, and as digits
    but for the run's first, last or both (a word's numeral beside a number written in
    numerals: 张三一三八一二三四五六七八, 一三八一二三四五六七八一直)."""
    plain = visible.translate(_FOLD)
    runs = [m.span() for m in _NUMERAL_RUN.finditer(plain)]
    if not runs:
        return [plain]
    folded = plain.translate(_NUMERAL_FOLD)

    def words_at(first: bool, last: bool) -> str:
        chars = list(folded)
        for start, end in runs:
            if first:
                chars[start] = plain[start]
            if last:
                chars[end - 1] = plain[end - 1]
        return "".join(chars)

    return [folded, plain, words_at(True, False), words_at(False, True), words_at(True, True)]


# The loose pass (attack review 2026-12-07, second: 1380 013 8000, 138001 38000,
# 1-3-8-0-0-1-3-8-0-0-0, 138~0013~8000, 138,0013,8000, 110101 199003 074514 passed): a run
# of digits parted by single separators of any kind and any grouping (one space, or one
# of - ‐ – — − . ~ , _ / and their full-width forms; a run of white space reads as one)
# whose digits are a mobile number (11 digits 1[3-9]..., after an optional 86/0086) or an
# 18-character ID number whose check digit (GB 11643) is right besides the region and
# birth date above. What stays out:
# - a number beside an ASCII letter (case and site ids: MD2023..., DZ3408820004, the
#   warning id's 20260304T0200Z) or a longer run (more digits: a list goes on);
# - two separators in a row: ', ' ends a list's item, ' — ' and ' - ' part a range
#   (counts 1380 — 1390 — 120);
# - decimals: a run with a dot and another separator (13.5 14.2 15.8, 116.39,39.90,
#   1.3-2.4-1835-768), an IPv4 address (192.168.10.100);
# - money in thousands (13,800,138,000: groups of 3 after the first, commas only);
# - dates of 1900-2099 (2024-06-03, 2024/6/3, 2024.06.03) and times (08:30) are read as
#   words before the runs are looked for, so a date beside a number neither joins it nor
#   is taken for one (2024-06-03 1380 013 8000 is a date and a phone number).
# A phone or ID number run on with other numbers by one separator (room 5 1380 013 8000,
# 1380 013 8000 2): a longer run, whose groups of 3 or more digits, one to three of them
# (an ID number's: up to six) parted by one kind of separator, not a dot, and not cut
# from their neighbours at a dot, make a mobile (after an optional 86 / 0086 group) or an
# ID number as above: that part is found (:func:`_inner_spans`), the neighbours are not.
# Such a part would be found standing alone; dates and times are words before, and a run
# that is an IP address or money in thousands has no such part. A dotted run's part in a
# grouping people part with dots (138.0013.8000, 110101.19900307.4514: :data:`_DOTTED`)
# is found though its neighbour is attached by a dot too (room 5.138.0013.8000: a run of
# three dots is no decimal); a run with one dot is a decimal (1.3800138000), never one.
_LOOSE_SEP = r"[\s\-\u2010-\u2015\u2212\uff0d.~,_/]"
_LOOSE_RUN = re.compile(
    rf"(?<![0-9A-Za-z])(?:\+\s?)?[0-9](?:{_LOOSE_SEP}?[0-9])*(?:{_LOOSE_SEP}?[Xx])?"
    r"(?![0-9A-Za-z])"
)
_LOOSE_GROUPS = re.compile(rf"({_LOOSE_SEP})")
_DATE_OR_TIME = re.compile(
    r"(?<![0-9])(?:19|20)[0-9]{2}([\-\u2010-\u2015\u2212\uff0d./])(?:0?[1-9]|1[0-2])\1"
    r"(?:0?[1-9]|[12][0-9]|3[01])(?![0-9])"
    r"|(?<![0-9])(?:[01]?[0-9]|2[0-3])[:：][0-5][0-9](?:[:：][0-5][0-9])?(?![0-9])"
)
_MOBILE_DIGITS = re.compile(r"(?:0086|86)?(1[3-9][0-9]{9})")
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})"
)
_THOUSANDS = re.compile(r"\+?[0-9]{1,3}(?:,[0-9]{3})+")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_check_digit(digits: str) -> bool:
    """Whether the 18-character ID number ``digits`` has its check digit (GB 11643)."""
    total = sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == digits[17].upper()


def _loose_kind(found: str) -> str | None:
    """``phone``, ``id_number`` or None for a run of :data:`_LOOSE_RUN`."""
    seps = set(_LOOSE_GROUPS.findall(found.lstrip("+ ")))
    if "." in seps and (len(seps) > 1 or _IPV4.fullmatch(found) or found.count(".") == 1):
        return None  # decimals (1.3800138000), coordinates, an IP address
    if seps == {","} and _THOUSANDS.fullmatch(found):
        return None  # money or a count in thousands
    digits = re.sub(r"[^0-9Xx]", "", found)
    if len(digits) == 18 and digits[:17].isdigit():
        if _id_check_digit(digits) and _id_number(digits[:6] + "-" + digits[6:]):
            return "id_number"
        return None
    if digits.isdigit() and _MOBILE_DIGITS.fullmatch(digits):
        return "phone"
    return None


_GROUP = re.compile(r"[0-9]+[Xx]?|[Xx]")
_INNER_GROUPS = {"phone": 3, "id_number": 6}  # at most this many groups in a part
# the groupings people part a number with dots (as the strict patterns read them: a
# mobile 138.0013.8000, an ID number 110101.19900307.4514 ...): such a part of a dotted
# run is found though a neighbour is attached by a dot (room 5.138.0013.8000,
# 138.0013.8000.5), which no decimal is (a decimal has one dot)
_DOTTED = {
    (3, 4, 4): "phone",
    **dict.fromkeys(
        [(6, 8, 4), (6, 8, 3, 1), (6, 4, 4, 4), (6, 4, 2, 2, 4), (4, 4, 4, 4, 2)], "id_number"
    ),
}


def _dotted_part(found: str, groups: list[tuple[int, int]], i: int) -> tuple[int, int, str] | None:
    """The phone or ID number of a :data:`_DOTTED` grouping starting at group ``i`` of
    ``found``, its groups parted by single dots, as ``(end group, end, kind)``."""
    for shape, want in _DOTTED.items():
        j = i + len(shape) - 1
        if j >= len(groups):
            continue
        if any(groups[i + k][1] - groups[i + k][0] != n for k, n in enumerate(shape)):
            continue
        if any(found[groups[k][1] : groups[k + 1][0]] != "." for k in range(i, j)):
            continue
        if _loose_kind(found[groups[i][0] : groups[j][1]]) == want:
            return j, groups[j][1], want
    return None


def _inner_spans(found: str) -> list[tuple[int, int, str]]:
    """The parts of a :data:`_LOOSE_RUN` run ``found`` (not personal data as a whole) that
    are a phone or ID number run on with other numbers, as spans of ``found``."""
    if _IPV4.fullmatch(found) or _THOUSANDS.fullmatch(found):
        return []
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(found)]
    if len(groups) < 2:
        return []

    def sep(i: int) -> str:  # the separator after group i
        return found[groups[i][1] : groups[i + 1][0]]

    spans: list[tuple[int, int, str]] = []
    i = 0
    while i < len(groups):
        dotted = _dotted_part(found, groups, i) if "." in found else None
        if dotted is not None:
            spans.append((groups[i][0], dotted[1], dotted[2]))
            i = dotted[0] + 1
            continue
        hit = None
        # an optional 86 / 0086 group, then one to six groups of 3 or more digits
        lead = found[slice(*groups[i])] in ("86", "0086") and i + 1 < len(groups)
        for j in range(i + lead, min(i + lead + 6, len(groups))):
            if (i, j) == (0, len(groups) - 1):
                break  # the whole run: not personal data (its caller asked)
            if groups[j][1] - groups[j][0] < 3 or (j > i and sep(j - 1) in (".", "")):
                break
            if j > i and sep(j - 1) != sep(i):
                break  # one kind of separator throughout
            if (i > 0 and sep(i - 1) == ".") or (j + 1 < len(groups) and sep(j) == "."):
                continue  # cut from a neighbour at a dot: a decimal's half
            part = found[groups[i][0] : groups[j][1]]
            kind = _loose_kind(part)
            if kind is not None and j - i - lead < _INNER_GROUPS[kind]:
                start = 0 if i == 0 else groups[i][0]  # with a leading +
                hit = (start, groups[j][1], kind, j)
        if hit is not None:
            spans.append(hit[:3])
            i = hit[3] + 1
        else:
            i += 1
    return spans


def _loose_spans(reading: str) -> list[tuple[int, int, str]]:
    """The spans of :data:`_LOOSE_RUN` runs in ``reading`` that are personal data, its
    dates and times read as words (one character for one, so spans stay put), and of
    the parts of the other runs that are (:func:`_inner_spans`)."""
    words = _DATE_OR_TIME.sub(lambda m: "D" * len(m.group()), reading)
    spans = []
    for m in _LOOSE_RUN.finditer(words):
        kind = _loose_kind(m.group())
        if kind is not None:
            spans.append((m.start(), m.end(), kind))
        else:
            spans += [(m.start() + s, m.start() + e, k) for s, e, k in _inner_spans(m.group())]
    return spans


def personal_spans(text: str) -> list[tuple[int, int, str]]:
    """Where ``text`` holds personal data: ``(start, end, kind)`` in text order, ``kind``
    one of :data:`PERSONAL_KINDS`; spans never overlap (an ID number wins over a phone
    number found inside it). Full-width digits count as digits (:data:`_FOLD`), Chinese
    numerals both as digits and as words (:func:`_readings`); invisible format characters
    are not seen (:func:`_visible`): a span is the text as written, the ones inside it
    included."""
    visible, at = _visible(text)
    readings = _readings(visible)
    spans: list[tuple[int, int, str]] = []
    for kind, pattern in _PATTERNS:
        for reading in readings:
            for m in pattern.finditer(reading):
                if kind == "id_number" and not _id_number(m.group()):
                    continue
                if all(m.end() <= s or m.start() >= e for s, e, _ in spans):
                    spans.append((m.start(), m.end(), kind))
    for reading in readings:  # any grouping, any separator (:data:`_LOOSE_RUN`)
        for start, end, kind in _loose_spans(reading):
            if all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, kind))
    if at is not None:  # back to the text as written
        spans = [(at[s], at[e - 1] + 1, kind) for s, e, kind in spans]
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
