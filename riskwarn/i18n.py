"""Texts in the reader's language: the catalogue format and its lookup, one for the
dashboard, the pages sent to duty officers and the CLI's messages.

A catalogue is ``{key: {"zh": ..., "en": ...}}`` (``str.format`` fields in braces);
:func:`text` fills one text in. The dashboard's catalogue (``dashboard.i18n.TEXT``,
read through ``dashboard.i18n.t``) merges :data:`riskwarn.paging_texts.TEXT`, the texts
said outside the dashboard too (pages, ``riskwarn stream ack``), which the stream's
sender and the CLI read through :func:`riskwarn.paging_texts.t`. Chinese is the default language, as the
dashboard's.

Times said to a person (the dashboard, a page, ``riskwarn stream ack``'s answers) are in
the display time zone (``Settings.display_tz``, :data:`DEFAULT_DISPLAY_TZ` unless
configured): :func:`fmt_datetime`; outside the dashboard with the zone named
(:func:`fmt_datetime_zone`: ``北京时间`` / ``Asia/Shanghai``), as a page is read away from
the city's screens. Machine
fields (the webhook's JSON, the logs) stay ISO 8601 UTC. Light: pandas is imported only
when a time is formatted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"
# the zone times are shown in unless configured (``Settings.display_tz``'s default)
DEFAULT_DISPLAY_TZ = "Asia/Shanghai"


def text(catalogue: Mapping[str, Mapping[str, str]], key: str, lang: str, /, **kwargs: Any) -> str:
    """The text ``key`` of ``catalogue`` in ``lang`` (else the default language) with
    ``kwargs`` filled in; the key itself if the catalogue has no such text."""
    entry = catalogue.get(key)
    if entry is None:
        return key
    chosen = entry.get(lang) or entry[DEFAULT_LANG]
    return chosen.format(**kwargs) if kwargs else chosen


def count_key(catalogue: Mapping[str, Any], key: str, n: int) -> str:
    """The key of the text for a count ``n``: ``key_zero`` for none and ``key_one`` for
    one when the catalogue has such a text (English says "no change", "1 change was";
    Chinese has no plural), else ``key``."""
    form = {0: "_zero", 1: "_one"}.get(n, "")
    return f"{key}{form}" if form and f"{key}{form}" in catalogue else key


def joiner(lang: str) -> str:
    """What joins clauses of a list in ``lang``: ``；`` / ``; ``."""
    return "；" if lang == "zh" else "; "


def to_local(ts: Any, tz: str) -> pd.Timestamp | None:
    """A UTC (or naive-as-UTC) timestamp, or an ISO 8601 text, converted to ``tz``;
    None for a missing one."""
    import pandas as pd

    if ts is None or (not isinstance(ts, str) and pd.isna(ts)):
        return None
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert(tz)


def fmt_datetime(ts: Any, lang: str, tz: str) -> str:
    """A time in the display zone: ``2026年11月27日 18:30`` / ``27 Nov 2026 18:30``."""
    local = to_local(ts, tz)
    if local is None:
        return "—"
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b %Y %H:%M}"


# zones with a Chinese name (else the IANA name): China's one zone is 北京时间
ZONE_NAMES_ZH: dict[str, str] = {
    "Asia/Shanghai": "北京时间",
    "Asia/Chongqing": "北京时间",
    "Asia/Chungking": "北京时间",
    "Asia/Harbin": "北京时间",
    "PRC": "北京时间",
    "UTC": "协调世界时",
    "Etc/UTC": "协调世界时",
}


def fmt_datetime_zone(ts: Any, lang: str, tz: str) -> str:
    """:func:`fmt_datetime` with the zone named, for a text read away from the
    dashboard (a page, the command line): ``2026年12月6日 15:20（北京时间）`` /
    ``6 Dec 2026 15:20 (Asia/Shanghai)``."""
    when = fmt_datetime(ts, lang, tz)
    return f"{when}（{ZONE_NAMES_ZH.get(tz, tz)}）" if lang == "zh" else f"{when} ({tz})"
