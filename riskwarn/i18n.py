"""Texts in the reader's language: the catalogue format and its lookup, one for the
dashboard, the pages sent to duty officers and the CLI's messages.

A catalogue is ``{key: {"zh": ..., "en": ...}}`` (``str.format`` fields in braces);
:func:`text` fills one text in. The dashboard's catalogue (``dashboard.i18n.TEXT``,
read through ``dashboard.i18n.t``) merges :data:`riskwarn.paging_texts.TEXT`, the texts
said outside the dashboard too (pages, ``riskwarn stream ack``), which the stream's
sender and the CLI read through :func:`riskwarn.paging_texts.t`. Chinese is the default language, as the
dashboard's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"


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
