"""Labels, numbers and dates in the reader's language (Chinese by default, English by switch).

Every text the dashboard shows goes through :func:`t`; every number, percentage and time
through the ``fmt_*`` helpers, so switching the language switches all of them. Times are
stored in UTC and shown in ``Settings.display_tz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from dashboard import page_index, placenames, texts_frame, texts_models, texts_pages
from riskwarn import i18n, paging_texts
from riskwarn.i18n import DEFAULT_LANG as DEFAULT_LANG  # the languages: riskwarn.i18n's
from riskwarn.i18n import LANGS as LANGS
from riskwarn.i18n import Lang as Lang
from riskwarn.i18n import fmt_datetime as fmt_datetime  # shared with pages and the CLI
from riskwarn.i18n import to_local as to_local

LEVELS: tuple[str, ...] = ("red", "orange", "yellow", "blue")
LEVEL_RANK: dict[str, int] = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
LEVEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "orange": (255, 127, 14),
    "yellow": (240, 200, 30),
    "blue": (31, 119, 180),
    "none": (200, 205, 210),
}
LEVEL_HEX: dict[str, str] = {k: "#{:02x}{:02x}{:02x}".format(*v) for k, v in LEVEL_COLOURS.items()}

TEXT: dict[str, dict[str, str]] = {
    **paging_texts.TEXT,  # said outside the dashboard too: pages, `riskwarn stream ack`
    **texts_frame.TEXT,
    **texts_pages.TEXT,
    **texts_models.TEXT,
    **page_index.title_texts(),  # page_<key>: each page's own title
}

ROLE_KEYS = {
    "leader": "role_leader",
    "reviewer": "role_reviewer",
    "data_scientist": "role_data_scientist",
    "admin": "role_admin",
}

PLACE_NAMES_EN = placenames.OFFICIAL  # official English forms of known names


def t(key: str, lang: str, /, **kwargs: Any) -> str:
    """The text ``key`` in ``lang`` with ``kwargs`` filled in (the key itself if unknown)."""
    return i18n.text(TEXT, key, lang, **kwargs)


def t_count(key: str, lang: str, n: int, /, **kwargs: Any) -> str:
    """The text ``key`` for a count ``n`` (filled in as ``{n}``, formatted): ``key_zero``
    for none and ``key_one`` for one when such a text exists (English says "no change",
    "1 change was"; Chinese has no plural, its variants repeat the text), else ``key``."""
    return t(i18n.count_key(TEXT, key, n), lang, n=fmt_int(n, lang), **kwargs)


def level_label(level: str | None, lang: str) -> str:
    """``'red'`` -> ``'红色（I级）'`` / ``'Red (I)'``."""
    return t(f"level_{level if isinstance(level, str) and level else 'none'}", lang)


def place_name(name: str | None, lang: str) -> str:
    """A place name in ``lang``: as given in Chinese; in English the official form where
    known, else pinyin with its suffix translated (:mod:`.placenames`)."""
    if not name:
        return "—"
    return placenames.english(name) if lang == "en" else name


def fmt_int(value: float | int | None, lang: str) -> str:
    """Thousands-separated integer; Chinese uses 万 for ten thousands and more."""
    if value is None or pd.isna(value):
        return "—"
    v = round(float(value))
    if lang == "zh" and abs(v) >= 100_000:
        return f"{v / 10_000:,.1f}万"
    return f"{v:,d}"


def fmt_float(value: float | None, lang: str, digits: int = 2) -> str:
    """A decimal number with ``digits`` places."""
    if value is None or pd.isna(value):
        return "—"
    return f"{float(value):,.{digits}f}"


def fmt_pct(value: float | None, lang: str, digits: int = 1) -> str:
    """A share (0..1) as a percentage."""
    from riskwarn.warnings import pct_text  # the reasons' rule too

    if value is None or pd.isna(value):
        return "—"
    return pct_text(float(value), digits)


def fmt_delta(value: float | int, lang: str) -> str:
    """A signed change, e.g. ``+3`` or ``-2``."""
    v = round(float(value))
    return f"{v:+d}"


def fmt_date(ts: Any, lang: str, tz: str) -> str:
    """A date in the display zone: ``11月27日`` / ``27 Nov``, with the year when not this one."""
    local = to_local(ts, tz)
    if local is None:
        return "—"
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{local.day} {local:%b %Y}"


def fmt_day(ts: Any, lang: str, tz: str) -> str:
    """A short day label in the display zone: ``11月23日`` / ``23 Nov``."""
    local = to_local(ts, tz)
    if local is None:
        return "—"
    return f"{local.month}月{local.day}日" if lang == "zh" else f"{local.day} {local:%b}"


def fmt_zone(tz: str, lang: str, at: Any) -> str:
    """The display zone and its offset from UTC at ``at`` (a zone with summer time has
    two): ``Asia/Shanghai (UTC+8)`` / ``北京时间（比协调世界时早8小时）``."""
    local = to_local(at, tz)
    offset = local.utcoffset() if local is not None else None
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    hours, rest = divmod(abs(minutes), 60)
    if lang == "zh":
        name = i18n.ZONE_NAMES_ZH.get(tz, tz)
        if minutes == 0:
            return name
        span = f"{hours}小时" + (f"{rest}分" if rest else "")
        return f"{name}（比协调世界时{'早' if minutes > 0 else '晚'}{span}）"
    if minutes == 0:
        return tz if tz in ("UTC", "Etc/UTC") else f"{tz} (UTC)"
    return f"{tz} (UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "") + ")"


def fmt_points(delta: float, lang: str) -> str:
    """A change of a share in percentage points: ``+1.2 个百分点`` / ``+1.2 pp``."""
    return f"{delta * 100:+.1f} 个百分点" if lang == "zh" else f"{delta * 100:+.1f} pp"


#: chart axes of days (Vega's d3 time format), as :func:`fmt_day` writes days
AXIS_DAY: dict[str, str] = {"zh": "%-m月%-d日", "en": "%-d %b"}


def fmt_hours(hours: float | None, lang: str) -> str:
    """A duration in hours."""
    if hours is None or pd.isna(hours):
        return "—"
    return f"{float(hours):.0f} 小时" if lang == "zh" else f"{float(hours):.0f} h"


def fmt_span(hours: float | None, lang: str) -> str:
    """A horizon or lead time as the warnings' reasons word it
    (:func:`riskwarn.warnings.horizon_words`): whole days past one in days ("30 days" /
    "30 天"), anything else in hours ("24 h", "9 h"); a review page read "horizon 720 h"
    above a reason saying "over the next 30 days"."""
    from riskwarn.warnings import horizon_words  # the reasons' rule too

    if hours is None or pd.isna(hours):
        return "—"
    return horizon_words(float(hours))["zh" if lang == "zh" else "en"]


def fmt_age(age: pd.Timedelta, lang: str) -> str:
    """How old something is: whole days from two days on, else whole hours."""
    hours = age.total_seconds() / 3600
    if hours >= 48:
        days = int(hours // 24)
        return f"{days} 天" if lang == "zh" else f"{days} days"
    return fmt_hours(hours, lang)


def localise_frame(
    frame: pd.DataFrame,
    lang: str,
    tz: str,
    *,
    columns: Mapping[str, str],
    times: tuple[str, ...] = (),
    levels: tuple[str, ...] = (),
    states: tuple[str, ...] = (),
    pcts: tuple[str, ...] = (),
    places: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A display copy of ``frame``: chosen columns, values formatted, headers translated.

    ``columns`` maps source column -> text key of its header, in display order.
    """
    out = frame.loc[:, [c for c in columns if c in frame.columns]].copy()
    for c in times:
        if c in out:
            out[c] = [fmt_datetime(v, lang, tz) for v in out[c]]
    for c in levels:
        if c in out:
            out[c] = [level_label(v, lang) if isinstance(v, str) else "—" for v in out[c]]
    for c in states:
        if c in out:
            out[c] = [t(f"state_{v}", lang) for v in out[c]]
    for c in pcts:
        if c in out:
            out[c] = [fmt_pct(v, lang) for v in out[c]]
    for c in places:
        if c in out:
            out[c] = [place_name(v, lang) for v in out[c]]
    return out.rename(columns={c: t(k, lang) for c, k in columns.items()})


def now_label(now: datetime, lang: str, tz: str) -> str:
    """'Data as of ...' line."""
    return t("updated", lang, at=fmt_datetime(now, lang, tz))
