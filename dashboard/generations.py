"""Widget generations: a widget key is never used again once its widgets were drawn in
another language.

Streamlit removes the state of the widgets a run did not draw only at the end of a run
that completes; a run stopped for a newer click (a language switch clicked at once, on a
loaded machine) keeps it. Widgets keyed by their language alone therefore came back with
their first choice: Chinese, English (stopped), a change (stopped), Chinese again drew
the first Chinese widgets under the same key, still holding the earlier choice, which the
page then took over the change (CI of 2026-12-07: the review form's Accept over a
Dismiss; the warning picker and the review page's filters the same way, reopening the
warning picked before).

A *holder* is the language-independent dict in the session that a group of widgets edits
(the review form's draft, ``dashboard.review``; a select box's record, ``shell.select``).
It carries the generation of its widgets (``gen``) and the language it was last drawn in
(``lang``); its widget keys carry the generation. Pure functions of plain values.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any


def new_holder() -> dict[str, Any]:
    """The generation fields of a holder never drawn."""
    return {"gen": 0, "lang": None}


def generation(holder: Mapping[str, Any]) -> int:
    """The generation of ``holder``'s widgets (the number their keys carry)."""
    return int(holder.get("gen") or 0)


def drawn_in(holder: MutableMapping[str, Any], lang: str) -> None:
    """``holder``'s widgets are being drawn in ``lang`` (call it before drawing them): drawn
    in another language than last time, they get a new generation (new keys, seeded from
    the holder), never the keys of an earlier drawing in ``lang``, whose state a run
    stopped for a newer click may have kept."""
    if holder.get("lang") != lang:
        holder["gen"] = generation(holder) + 1
        holder["lang"] = lang


def changed(holder: MutableMapping[str, Any], gen: int) -> None:
    """A widget of generation ``gen`` changed ``holder``'s value (its ``on_change``, run
    before the script; the caller copied the value in). A widget of an earlier generation
    (the widgets of the language shown before, clicked while the new ones were on their
    way) made the reviewer's choice too: the holder moves to a new generation, so that the
    widgets drawn next are new and show it (the current ones would keep their own value
    and overwrite it)."""
    if generation(holder) != gen:
        holder["gen"] = generation(holder) + 1
