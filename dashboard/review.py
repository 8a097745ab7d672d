"""The review form's state and the queue's labels, kept apart from the display language.

A reviewer's draft decision (action, new level, reason) lives in one language-independent
dict in the session (:data:`DRAFT_KEY`): actions and levels are stored by their keys
(``"dismiss"``, ``"orange"``), never by their labels. The widgets that edit it are keyed
by the draft's serial number, its generation and the language, so a language switch or
another warning builds fresh widgets from the draft instead of letting the browser keep a
value the server never saw (the cause of a dismissal stored as "accept"). A widget's
change reaches the draft in its ``on_change`` callback (:func:`set_field`), which
Streamlit runs before the script, also when that run is then stopped for a newer click.
The generation changes whenever the form is drawn in another language than last time
(:func:`drawn_in`, from ``dashboard.generations``): a key is never used again once another
language's form was drawn, because Streamlit keeps the state of widgets a run did not draw when that run is stopped
for a new input (a language switch clicked at once), and the form's Chinese widgets of a
first choice came back, with that choice, over the English change made since (CI of
2026-12-07: Accept, English, Dismiss, Chinese showed Accept again). Selecting another
warning or saving a decision starts a new, empty draft.

Pure functions of plain values; the page does the Streamlit calls.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Callable, Collection, Mapping, MutableMapping, Sequence
from typing import Any

from dashboard import generations
from dashboard.generations import drawn_in as drawn_in  # the form drawn in a language
from riskwarn.review_text import accepted_level, reason_problem
from riskwarn.store.models import LEVELS as LEVEL_RANKS
from riskwarn.store.models import REVIEW_ACTIONS as REVIEW_ACTIONS  # the form's choices

DRAFT_KEY = "rv_draft"
FIELDS = ("action", "level", "reason")


def short_id(warning_id: str) -> str:
    """A short, stable id of a warning for people (``W-7K3M9QX``).

    The first 35 bits of the SHA-256 of the (deterministic) warning id in base32 (letters
    and the digits 2-7, so no 0/O or 1/I to confuse): the same warning always gets the
    same short id, in every language, on every server; among 10,000 warnings two share
    one with probability about 0.15 %.
    """
    digest = hashlib.sha256(str(warning_id).encode()).digest()
    return "W-" + base64.b32encode(digest).decode()[:7]


def new_draft(warning_id: str | None, serial: int, base: int | None = None) -> dict[str, Any]:
    """An empty draft for ``warning_id``; ``serial`` names its widgets; ``base`` is the
    version of the warning the form was shown with (what a decision is recorded against)."""
    return {
        "warning_id": warning_id,
        "serial": serial,
        "base": base,
        "conflict": None,
        **generations.new_holder(),  # its widgets' generation, the language last drawn in
        "action": None,
        "level": None,
        "reason": "",
    }


def draft_for(
    state: MutableMapping[Any, Any], warning_id: str, version: int | None = None
) -> dict[str, Any]:
    """The draft of ``warning_id`` in ``state``; a new empty one, based on ``version`` (the
    version the page shows), when another warning's draft (or none) is there."""
    draft = state.get(DRAFT_KEY)
    if not isinstance(draft, dict) or draft.get("warning_id") != warning_id:
        serial = int(draft["serial"]) + 1 if isinstance(draft, dict) else 0
        draft = new_draft(warning_id, serial, version)
        state[DRAFT_KEY] = draft
    elif draft.get("base") is None and version is not None:
        draft["base"] = int(version)
    return draft


def clear_draft(state: MutableMapping[Any, Any], version: int | None = None) -> dict[str, Any]:
    """Start a new empty draft for the same warning, based on ``version`` (after a saved
    decision: the version it made)."""
    old = state.get(DRAFT_KEY) or new_draft(None, -1)
    draft = new_draft(old.get("warning_id"), int(old["serial"]) + 1, version)
    state[DRAFT_KEY] = draft
    return draft


def refuse(state: MutableMapping[Any, Any], current: Mapping[str, Any]) -> None:
    """A submit found the warning changed since the form was shown (``current``: the
    warning now, with its ``last_review``): the draft is marked in conflict and stays
    based on the version the reviewer saw, so no further submit of it (a second click
    already on its way) can pass; only :func:`rebase` lifts the conflict."""
    draft = state.get(DRAFT_KEY)
    if isinstance(draft, dict):
        draft["conflict"] = {
            "version": int(current["version"]),
            "last_review": dict(current.get("last_review") or {}),
            "state": str(current.get("state") or ""),
        }


def rebase(state: MutableMapping[Any, Any]) -> None:
    """``on_click`` of the conflict's "review again" control: a new draft (new widgets)
    based on the version the conflict named, keeping the reason typed and nothing of
    the action or level: the reviewer chooses again, seeing the current decision."""
    old = state.get(DRAFT_KEY)
    if not isinstance(old, dict) or not old.get("conflict"):
        return
    draft = new_draft(old["warning_id"], int(old["serial"]) + 1, old["conflict"]["version"])
    draft["reason"] = str(old.get("reason") or "")
    state[DRAFT_KEY] = draft


def widget_key(field: str, draft: dict[str, Any], lang: str) -> str:
    """The key of the widget editing ``field`` of ``draft`` in ``lang`` (its serial: the
    draft; its generation: the form drawn, :func:`drawn_in`)."""
    return f"rv_{field}_{draft['serial']}_{generations.generation(draft)}_{lang}"


def seed_widget(state: MutableMapping[Any, Any], key: str, value: Any) -> None:
    """Give the widget at ``key`` the draft's ``value`` once, before it is first drawn
    (its state, not its ``index``/``value`` argument): the widget's arguments stay the
    same from run to run, so the browser's value and the server's cannot part when the
    draft changes under a widget the reviewer is using (user review of 6 Dec 2026: 红色
    shown in the dropdown, "将记录：调整等级" without a level, and re-picking it sent no
    change)."""
    if key not in state:
        state[key] = value


def submit_key(warning_id: str, lang: str) -> str:
    """The submit button's key: the warning's and the language's, not the draft's serial,
    so a click sent while the draft moved on (a rerun after Back, a quick second click)
    still reaches the page, which saves it or says why not; keyed by the serial, such a
    click went to a button the page no longer drew and was dropped without a word."""
    return f"rv_submit_{short_id(warning_id)}_{lang}"


def submitted_draft(
    draft: Mapping[str, Any], action: Any, level: Any, reason: Any
) -> dict[str, Any]:
    """The decision to submit: the values the form's widgets returned in this run
    (``action``, ``level`` only with "adjust", ``reason``), never a copy kept in the
    draft from an earlier run; the draft's ``base`` and ``conflict`` as they are."""
    out = dict(draft)
    out.update(
        action=action,
        level=level if action == "adjust" else None,
        reason=str(reason or ""),
    )
    return out


def field_args(
    state: MutableMapping[Any, Any], field: str, key: str, draft: Mapping[str, Any]
) -> tuple[Any, ...]:
    """The ``args`` of :func:`set_field` for the widget at ``key`` editing ``field`` of
    ``draft``."""
    return (state, field, key, int(draft["serial"]), generations.generation(draft))


def set_field(
    state: MutableMapping[Any, Any], field: str, key: str, serial: int, gen: int = 0
) -> None:
    """``on_change`` callback of the widget at ``key`` drawn for the draft ``serial``, of
    generation ``gen``: copy its value into the draft's ``field``. Streamlit runs it
    before the script, so the change is in the draft even when that run is stopped at once
    for a newer click (a language switch).

    A widget of another draft (another warning's form, or one saved since, still in the
    browser while the page moves on) changes nothing: its choice was not made on this
    warning. A widget of this draft but an earlier generation (the form of the language
    shown before, clicked while the new one was on its way) is the reviewer's choice: it
    goes into the draft, and the draft moves to a new generation so that the form drawn
    next shows it (the current widgets would otherwise keep their own value and overwrite
    it)."""
    draft = state.get(DRAFT_KEY)
    if not isinstance(draft, dict) or draft.get("serial") != serial or key not in state:
        return
    draft[field] = state[key]
    generations.changed(draft, gen)


def level_options(current_level: str | None) -> list[str]:
    """Levels an "adjust" may choose: every level but the current one, most severe first."""
    order = sorted(LEVEL_RANKS, key=lambda v: -LEVEL_RANKS[v])
    return [v for v in order if v != current_level]


def decision_problem(draft: dict[str, Any], current_level: str | None) -> str | None:
    """The text key of what keeps ``draft`` from being submitted, or None when it is complete.

    The store refuses the same things; checking here lets the form say so in words.
    """
    action = draft.get("action")
    if action not in REVIEW_ACTIONS:
        return "choose_action"
    if action == "adjust":
        level = draft.get("level")
        if level not in LEVEL_RANKS:
            return "choose_level"
        if level == current_level:
            return "same_level"
    return reason_problem(draft.get("reason"))


def decision(draft: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``Store.review_warning`` for a complete ``draft``."""
    action = draft["action"]
    return {
        "action": action,
        "level": draft["level"] if action == "adjust" else None,
        "reason": str(draft["reason"]).strip(),
    }


# ----------------------------------------------------------------------------- queue


def unit_words(unit_type: str, unit_id: str, site_names: dict[str, str], lang: str) -> str:
    """What a warning is about: the grid cell, the case or the site (with its name)."""
    from dashboard.i18n import place_name, t

    if unit_type == "site" and unit_id in site_names:
        return t("unit_site_named", lang, id=unit_id, name=place_name(site_names[unit_id], lang))
    key = f"unit_{unit_type}" if unit_type in ("cell", "case", "site") else "unit_other"
    return t(key, lang, id=unit_id)


def queue_labels(queue: Any, names: dict[str, str], site_names: dict[str, str], lang: str) -> Any:
    """``queue`` (warnings) with ``short_id``, ``place``, ``unit`` and ``domain_label``."""
    from dashboard import views
    from dashboard.i18n import t

    return queue.assign(
        short_id=[short_id(w) for w in queue["warning_id"]],
        place=[
            views.place_words(c, tw, names, lang)
            for c, tw in zip(queue["county_code"], queue["township_code"], strict=True)
        ],
        unit=[
            unit_words(ut, str(u), site_names, lang)
            for ut, u in zip(queue["unit_type"], queue["unit_id"], strict=True)
        ],
        domain_label=[t(f"domain_{d}", lang) for d in queue["domain"]],
    )


def shown_state(state: str, withdrawn_at: Any) -> str:
    """The state a warning is shown in: 'withdrawn' once a re-publication of its run no
    longer raised it (the store keeps the review state it had beside ``withdrawn_at``)."""
    return state if withdrawn_at is None or pd_isna(withdrawn_at) else "withdrawn"


def badge(level: str | None, state: str, lang: str) -> str:
    """HTML badge of a warning's level in force, in the level palette; a dismissed warning
    reads "已排除" and a withdrawn one "已撤回" in grey, not its old level."""
    from dashboard.i18n import LEVEL_HEX, level_label, t

    if state in ("dismissed", "withdrawn"):
        text, level = t(f"state_{state}", lang), None
    else:
        text = level_label(level, lang)
    colour = LEVEL_HEX.get(level or "none", "#999")
    ink = "#222" if level in ("yellow", None) else "#fff"
    return (
        f'<span class="rw-badge" style="background:{colour};color:{ink}">{html.escape(text)}</span>'
    )


def queue_order(queue: Any) -> Any:
    """``queue`` (warnings) most pressing first, by the level in force: a reviewer's
    adjustment counts, and dismissed warnings (no level in force) come after every warning
    in force, whatever level they were raised at; then by score, then by id."""
    rank = queue["effective_level"].map(
        lambda v: LEVEL_RANKS.get(v, 0) if isinstance(v, str) else 0
    )
    return (
        queue.assign(_rank=rank)
        .sort_values(
            ["_rank", "score", "warning_id"], ascending=[False, False, True], kind="stable"
        )
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def level_words(row: Any, lang: str) -> str:
    """The level of a queue row in words: dismissed ones say so, with the level they were
    raised at (not a bare "no warning", which reads as if nothing had been raised)."""
    from dashboard.i18n import level_label, t

    if getattr(row, "state", None) == "dismissed":
        return t("pick_dismissed", lang, level=level_label(getattr(row, "level", None), lang))
    return level_label(row.effective_level, lang)


# The queue's table has eight columns: on a phone (390 px) it scrolled sideways and its
# place, unit and state were out of sight (bench/dashboard_screenshots.py --widths 390,
# 2026-12-06). Both are sent; under 640 px (where Streamlit stacks its columns too) the
# CSS hides the table and shows the same rows as wrapped cards, above it the reverse.
# The table is HTML (:func:`frame_table`), not Streamlit's data grid: the grid sizes each
# column to its longest value and never wraps, so at 800-1280 px the queue scrolled
# sideways inside its frame (at 1280 px its "valid until" was cut at the frame's edge and
# its state out of sight) and the trail's reasons were cut mid-sentence. The HTML table
# fits its frame's width, wrapping places, subjects and reasons; the grid (sorting,
# search, CSV download) stays one click away, in an expander below each.
QUEUE_CSS = """
<style>
.st-key-rwqueue, .st-key-rwtrail { container-type: inline-size; }
.st-key-rwqueue_cards { display: none !important; }
@container (max-width: 759px) {
  .st-key-rwqueue_table { display: none !important; }
  .st-key-rwqueue_cards { display: block !important; max-height: 430px; overflow-y: auto;
    overflow-x: hidden; border: 1px solid #e3e5e8; border-radius: 0.5rem; padding: 0 0.6rem; }
}
@media (max-width: 640px) {
  .st-key-rwqueue_table { display: none !important; }
  .st-key-rwqueue_cards { display: block !important; max-height: 430px; overflow-y: auto;
    overflow-x: hidden; border: 1px solid #e3e5e8; border-radius: 0.5rem; padding: 0 0.6rem; }
}
/* any other wide list the same way (frame_cards): a container keyed rwwrap_<name> holding
   rwwide_<name> (the table) and rwnarrow_<name> (the cards) */
[class*="st-key-rwwrap_"] { container-type: inline-size; }
[class*="st-key-rwnarrow_"] { display: none !important; }
@container (max-width: 759px) {
  [class*="st-key-rwwide_"] { display: none !important; }
  [class*="st-key-rwnarrow_"] { display: block !important; max-height: 560px; overflow-y: auto;
    overflow-x: hidden; border: 1px solid #e3e5e8; border-radius: 0.5rem; padding: 0 0.6rem; }
}
@media (max-width: 640px) {
  [class*="st-key-rwwide_"] { display: none !important; }
  [class*="st-key-rwnarrow_"] { display: block !important; max-height: 560px; overflow-y: auto;
    overflow-x: hidden; border: 1px solid #e3e5e8; border-radius: 0.5rem; padding: 0 0.6rem; }
}
/* Streamlit's Markdown block ends with a -1rem margin (for a paragraph's own): in these
   scrolling boxes it clipped the last card's last line ("Version: 2" at 390 px) */
.st-key-rwqueue_cards [data-testid="stMarkdownContainer"],
[class*="st-key-rwnarrow_"] [data-testid="stMarkdownContainer"] { margin-bottom: 0 !important; }
.rw-qcard { padding: 0.45rem 0; border-bottom: 1px solid #eceef1; line-height: 1.45;
  overflow-wrap: anywhere; }
.rw-qcard:last-child { border-bottom: none; }
.rw-qcard-sub { color: #555; font-size: 0.88rem; }
.rw-tablebox { max-height: 430px; overflow-y: auto; overflow-x: hidden;
  border: 1px solid #e3e5e8; border-radius: 0.5rem; }
.rw-table { width: 100%; border-collapse: collapse; font-size: 0.875rem; line-height: 1.4; }
.rw-table th { position: sticky; top: 0; z-index: 1; background: #f7f8fa; color: #555;
  font-weight: 600; text-align: left; padding: 0.4rem 0.5rem; word-break: keep-all;
  border-bottom: 1px solid #e3e5e8; }
.rw-table td { padding: 0.35rem 0.5rem; border-bottom: 1px solid #eceef1;
  vertical-align: top; }
.rw-table tr:last-child td { border-bottom: none; }
.rw-table tr.rw-noted td { border-bottom: none; padding-bottom: 0.1rem; }
.rw-table tr.rw-note td { padding-top: 0; color: #555; font-size: 0.82rem;
  overflow-wrap: anywhere; }
.rw-note-head { font-weight: 600; }
.rw-table td.rw-keep { white-space: nowrap; }
.rw-table .rw-num { text-align: right; }
.rw-table td.rw-num { white-space: nowrap; }
.rw-table td.rw-text { overflow-wrap: anywhere; min-width: 10rem; }
.rw-table.rw-facts td { overflow-wrap: anywhere; }
.rw-table.rw-facts td.rw-text { min-width: 6rem; width: 40%; }
@container (min-width: 760px) { .rw-table td.rw-wkeep { white-space: nowrap; } }
</style>
"""
"""The queue's and the trail's layout: the queue is the HTML table (:func:`queue_table`)
where its frame is 760 px wide or more (a 1280 px window with the sidebar open: 900 px),
else the cards (:func:`queue_cards`; 800 and 1024 px windows: 550 and 640 px, where the
eight columns' shortest widths, 700 px in English, did not fit and Chinese domains
wrapped a character a line); the trail wraps its times and levels only under 760 px.
Measured on screenshots (bench/dashboard_screenshots.py --widths 800 1024 1280,
2026-12-06). Container queries: the frame's width, whether the sidebar is open or not."""


def with_css(body: str) -> str:
    """``body`` (the cards' HTML, for ``st.markdown(..., unsafe_allow_html=True)``)
    followed by :data:`QUEUE_CSS`.

    A ``st.html`` of style tags alone goes to Streamlit's event container (1.67:
    ``streamlit/elements/html.py``), where only the page's first one (``shell.CSS``)
    reached the browser, and ``st.html`` drops a style element beside content: the
    queue's layout was never applied in a browser (its cards showed under the table at
    every width, the table squeezed at 390 px; found 6 Dec 2026 on the disputes page,
    checked in Chromium: tests/test_dashboard_wrap_browser.py). Markdown keeps it."""
    return body + QUEUE_CSS


def frame_table(
    shown: Any,
    *,
    keep: Collection[str] = (),
    keep_wide: Collection[str] = (),
    numbers: Collection[str] = (),
    text: Collection[str] = (),
    cells: Mapping[str, Collection[str]] | None = None,
    label: str = "",
    notes: Collection[str] | None = None,
    note_head: str = "",
) -> str:
    """``shown`` (a display frame: headers and values in the reader's words) as an HTML
    table that fits its frame's width (:data:`QUEUE_CSS`): long values wrap at their
    spaces (Chinese anywhere); columns in ``keep`` (ids, levels) stay on one line,
    ``keep_wide`` ones where the frame is 760 px wide or more, ``numbers`` on one line
    too, right-aligned; ``text`` columns (free text: reasons) wrap anywhere
    and are given room first. ``cells``: HTML to show instead of the escaped value, per
    column (one per row: a level's badge). Every value is escaped (they are data); a
    value's line breaks become spaces. ``label``: the table's accessible name.
    ``notes``: per row a line of text (or nothing) shown under it across every column
    but the first, after ``note_head`` (a column's header; escaped too)."""
    cols = [str(c) for c in shown.columns]
    cells = cells or {}
    kind = {c: "rw-keep" if c in keep else "rw-num" if c in numbers else "" for c in cols}
    kind.update({c: "rw-wkeep" for c in cols if c in keep_wide})
    kind.update({c: "rw-text" for c in cols if c in text})

    attr = {c: f' class="{kind[c]}"' if kind[c] else "" for c in cols}
    head = "".join(f'<th{attr[c]} scope="col">{html.escape(c)}</th>' for c in cols)
    given = {c: list(v) for c, v in cells.items() if c in cols}
    said = [cell_words(n) for n in notes] if notes is not None else [""] * len(shown)
    rows = []
    for i, row in enumerate(shown.itertuples(index=False)):
        out = [
            f"<td{attr[c]}>" + (given[c][i] if c in given else html.escape(cell_words(v))) + "</td>"
            for c, v in zip(cols, row, strict=True)
        ]
        if not said[i]:
            rows.append("<tr>" + "".join(out) + "</tr>")
            continue
        head_words = f"<span class='rw-note-head'>{html.escape(note_head)}:</span> "
        rows.append("<tr class='rw-noted'>" + "".join(out) + "</tr>")
        rows.append(
            f"<tr class='rw-note'><td></td><td colspan='{len(cols) - 1}'>"
            f"{head_words if note_head else ''}{html.escape(said[i])}</td></tr>"
        )
    name = f' aria-label="{html.escape(label)}"' if label else ""
    return (
        f'<div class="rw-tablebox"><table class="rw-table"{name}><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def frame_cards(
    shown: Any,
    *,
    title: Collection[str] = (),
    cells: Mapping[str, Collection[str]] | None = None,
) -> str:
    """``shown`` (a display frame, as :func:`frame_table` takes it) as cards for a narrow
    frame (:data:`QUEUE_CSS`: the rows of a ``rwwrap_<name>`` container's table where it is
    under 760 px wide): per row the ``title`` columns on its first line (the first in
    bold; ``cells``' HTML instead of the escaped value, a level's badge), then every other
    column as "header: value", wrapping anywhere. Values are escaped (they are data)."""
    cols = [str(c) for c in shown.columns]
    given = {c: list(v) for c, v in (cells or {}).items() if c in cols}
    heads = [c for c in cols if c in title]
    cards = []
    for i, row in enumerate(shown.itertuples(index=False)):
        value = dict(zip(cols, row, strict=True))

        def words(c: str, i: int = i, value: dict[str, Any] = value) -> str:
            return given[c][i] if c in given else html.escape(cell_words(value[c]))

        first = " · ".join(
            f"<b>{words(c)}</b>"
            if c == next((h for h in heads if h not in given), None)
            else words(c)
            for c in heads
        )
        rest = "<br>".join(
            f"<span class='rw-qcard-sub'>{html.escape(c)}:</span> {words(c)}"
            for c in cols
            if c not in heads and words(c)
        )
        cards.append(f"<div class='rw-qcard'>{first}<br>{rest}</div>")
    return "".join(cards)


def cell_words(value: Any) -> str:
    """A table cell's value as text on one line: nothing for a missing value, a whole
    number without its ".0" (a trail's version beside a withdrawal's missing one)."""
    if value is None or (not isinstance(value, str) and pd_isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def queue_table(shown: Any, levels: Any, states: Any, lang: str, label: str = "") -> str:
    """The queue's table (HTML, :func:`frame_table`) of ``shown`` (as :func:`queue_cards`
    takes it): the level column as the level's badge (:func:`badge`: a dismissed or
    withdrawn warning's reads so, in grey), id, level and probability on one line, the
    state too where the frame is 760 px wide or more (at 1280 px "待研判" broke after
    its second character: review of 2026-12-07)."""
    cols = [str(c) for c in shown.columns]
    badges = [badge(v, s, lang) for v, s in zip(levels, states, strict=True)]
    # a ninth column (the panel's decision on an earlier run's warning of the place) is
    # a line under its warning's row, across the table: as a column it took the room of
    # the eight the table is laid out for, and at 1280 px (a 900 px frame) the Chinese
    # domain wrapped a character a line ("治安/案事/件"; screenshots 2026-12-08)
    notes = list(shown[cols[8]]) if len(cols) > 8 else None
    return frame_table(
        shown[cols[:8]],
        keep=(cols[0], cols[1]),
        keep_wide=(cols[7],),
        numbers=(cols[5],),
        cells={cols[1]: badges},
        label=label,
        notes=notes,
        note_head=cols[8] if len(cols) > 8 else "",
    )


def trail_table(shown: Any, label: str = "") -> str:
    """The decision trail's table (HTML, :func:`frame_table`) of ``shown`` (the trail as
    shown: :data:`TRAIL_COLUMNS` in the reader's words): its reasons wrap in full (the
    grid cut them at its frame's edge); the time and levels on one line where the frame
    is wide enough; the version is a number."""
    cols = [str(c) for c in shown.columns]
    return frame_table(
        shown,
        keep_wide=(cols[0], cols[3], cols[4]),
        text=(cols[5],),
        numbers=(cols[6],),
        label=label,
    )


def trail_cards(shown: Any) -> str:
    """The decision trail as cards for a narrow frame (HTML, :func:`frame_cards`; shown
    under 760 px by ``shell.wrapped_table``): per decision or event its time, reviewer
    and action on the first line, then the levels, the whole reason (wrapping anywhere)
    and the version. At 390 px the table's seven columns cut the reason after its first
    word ("mid-switch", review of 2026-12-07)."""
    cols = [str(c) for c in shown.columns]
    return frame_cards(shown, title=(cols[0], cols[1], cols[2]))


def queue_cards(shown: Any, levels: Any, states: Any, lang: str) -> str:
    """The queue as cards for a narrow screen (HTML, :data:`QUEUE_CSS`): per row of
    ``shown`` (the queue's table as shown: id, level, domain, place, unit, probability,
    valid to, state, in those columns and the reader's words) its level badge
    (``levels``/``states``: the level in force and state, for :func:`badge`), id and
    probability, then place and unit, then domain, valid to and state; every value
    escaped (places and units are data)."""
    cols = list(shown.columns)
    cards = []
    for row, level, state in zip(shown.itertuples(index=False), levels, states, strict=True):
        wid, _, domain, place, unit, prob, valid_to, state_words = (
            html.escape(str(v)) for v in row[:8]
        )
        # a ninth column: the panel's decision on an earlier run's warning of the place
        earlier = html.escape(str(row[8])) if len(row) > 8 and row[8] else ""
        cards.append(
            "<div class='rw-qcard'>"
            f"{badge(level, state, lang)} <b>{wid}</b> · {prob}<br>"
            f"{place} · {unit}<br>"
            f"<span class='rw-qcard-sub'>{domain} · {html.escape(str(cols[6]))} {valid_to}"
            f" · {state_words}</span>"
            + (f"<br><span class='rw-qcard-sub'>{earlier}</span>" if earlier else "")
            + "</div>"
        )
    return "".join(cards)


def pick_label(row: Any, lang: str) -> str:
    """One line per warning for the picker: id, level, place, what, domain (all unique by id)."""
    from dashboard.i18n import fmt_pct

    return " · ".join(
        (
            row.short_id,
            level_words(row, lang),
            row.place,
            row.unit,
            row.domain_label,
            fmt_pct(row.probability, lang),
        )
    )


def shown_reason(reason: Any, lang: str) -> str:
    """A recorded review reason as shown or exported in ``lang``, its phone and ID numbers
    masked (:func:`dashboard.text.shown_reason`, which the models page uses for the
    reasons of model promotions and rollbacks too); the record itself is never changed."""
    from dashboard.text import shown_reason as masked

    return masked(reason, lang)


def stale_message(
    first: Mapping[str, Any],
    lang: str,
    tz: str = "Asia/Shanghai",
    people: Mapping[str, str] | None = None,
    state: str = "",
    me: str | None = None,
) -> str:
    """What a reviewer whose decision came too late is told (shown through ``st.error``,
    Markdown): who decided first, when, how and why (:func:`decided_words`); with
    ``state`` 'new' (the warning was reopened: a publication changed what it shows, or no
    one has decided it), that its content changed, not that someone decided it. When the
    one who decided is the reader (``me``, their login: another tab or window of theirs),
    it says "you already decided", not their own name as someone else's."""
    from dashboard.i18n import t

    if state == "new" or not first:
        return t("stale_content", lang)
    words = decided_words(first, lang, tz, people)
    if me is not None and str(first.get("reviewer") or "") == str(me):
        return t("stale_self", lang, **words)
    return t("stale", lang, **words)


def decided_words(
    decided: Mapping[str, Any], lang: str, tz: str, people: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A recorded decision (``last_review``) as the ``reviewer``, ``at``, ``action`` and
    ``reason`` of a Markdown message in ``lang``; a dismissal's action with the level it
    set aside ("Dismiss (was Orange (II))", :func:`set_aside`). The reviewer's name and reason are data:
    escaped, on one line, so they cannot format the message, link or fetch an image
    (``![x](http://host/x.png)`` would make the reader's browser fetch it)."""
    from dashboard.i18n import fmt_datetime
    from dashboard.text import md_line

    login = decided.get("reviewer") or "?"
    action = str(decided.get("action") or "accept")
    level = set_aside(decided) if action == "dismiss" else decided.get("to_level")
    return {
        "reviewer": md_line(person(str(login), people or {}, lang)),
        "at": fmt_datetime(decided.get("reviewed_at"), lang, tz),
        "action": action_words(action, level, lang),
        "reason": md_line(shown_reason(decided.get("reason"), lang)),
    }


def action_words(action: str, level: str | None, lang: str) -> str:
    """A decision in words, an adjustment with the level it set: "调整为橙色（II级）" /
    "adjust to Orange (II)" (before, only "调整等级 / Adjust level"); a dismissal with
    ``level`` (the level it set aside) "排除（原橙色（II级））" / "Dismiss (was Orange (II))"."""
    from dashboard.i18n import level_label, t

    if action == "adjust" and level:
        return t("adjust_to", lang, level=level_label(level, lang))
    if action == "dismiss" and level:
        return t("dismiss_was", lang, level=level_label(level, lang))
    return t(f"action_{action}", lang)


def set_aside(decided: Mapping[str, Any]) -> str | None:
    """The level a recorded dismissal (a ``warning_reviews`` row as a mapping) set aside:
    its ``dismissed_level`` (migration 0015: a dismissed warning dismissed again has no
    ``from_level`` but keeps the level the first dismissal set aside), else its
    ``from_level``; None when neither is recorded."""
    return _level(decided.get("dismissed_level")) or _level(decided.get("from_level"))


def outcome_words(
    action: str,
    level: str | None,
    current: Mapping[str, Any],
    lang: str,
    people: Mapping[str, str] | None = None,
) -> str:
    """What the form says will be recorded, before submit: the decision and the level the
    warning will have after it (review of 2026-12-07: "Accept" on a dismissed warning said
    only "Will be recorded: Accept" and silently brought back the level the system had
    raised). ``current``: the warning as shown (``Store.get_warning``, with
    ``last_review``); ``level``: an adjustment's chosen level (None while unchosen). An
    accept keeps the level in force or, on a dismissed warning, returns it to the level it
    was raised at (:func:`riskwarn.review_text.accepted_level`), saying who dismissed it
    and, if the dismissal had lowered or raised another level, that that one is not
    restored."""
    from dashboard.i18n import level_label, t
    from dashboard.text import md_line

    decision = action_words(action, level, lang)
    dismissed = current.get("state") == "dismissed"
    last = current.get("last_review") or {}
    by = ""
    if dismissed and last.get("action") == "dismiss" and last.get("reviewer"):
        who = md_line(person(str(last["reviewer"]), people or {}, lang))
        by = t("outcome_dismissed_by", lang, who=who)
    if action == "accept":
        to = accepted_level(current)
        if not dismissed:
            outcome = t("outcome_stays", lang, level=level_label(to, lang))
        else:
            outcome = t("outcome_returns", lang, level=level_label(to, lang)) + by
            was = set_aside(last) if last.get("action") == "dismiss" else None
            if isinstance(was, str) and was != to:
                outcome += t("outcome_not_restored", lang, level=level_label(was, lang))
    elif action == "adjust":
        if not level:
            return t("will_record", lang, decision=decision)
        if dismissed:
            outcome = t("outcome_dismissed_to", lang, level=level_label(level, lang)) + by
        else:
            old = level_label(current.get("effective_level"), lang)
            outcome = t("outcome_changes", lang, old=old, new=level_label(level, lang))
    else:
        outcome = t("outcome_stays_dismissed" if dismissed else "outcome_dismiss", lang)
    return t("will_record_outcome", lang, decision=decision, outcome=outcome)


def saved_words(
    short: str, action: str, level: str | None, done: Mapping[str, Any], lang: str
) -> str:
    """The confirmation of a recorded decision (``done``: the warning as the store returned
    it); an accept's with the level the warning has now ("Saved: warning X, Accept: now at
    level Yellow (III) (version 3)"), an adjustment's says its level already."""
    from dashboard.i18n import level_label, t

    return t(
        "saved_accept" if action == "accept" else "saved",
        lang,
        id=short,
        action=action_words(action, level, lang),
        level=level_label(done.get("effective_level"), lang),
        version=done["version"],
    )


def person(login: str, people: Mapping[str, str], lang: str) -> str:
    """A reviewer as the dashboard names them: the display name from the users file
    (``people``: login -> display name, :func:`dashboard.queries.people`), with the
    login in brackets when another user has the same display name; the login itself
    for anyone the users file no longer has (removed) or never had (a pipeline actor).
    English pages name everyone by login, as their sidebar names the reader (the display
    names are Chinese: "评估专家 (reviewer) already decided..." was Chinese in an English
    message; review of 2026-12-07)."""
    name = people.get(login)
    if lang != "zh" or not name or name == login:
        return login
    twins = sum(1 for v in people.values() if v == name) > 1
    return f"{name}（{login}）" if twins else name


def replaced_message(exc: Any, lang: str, tz: str = "Asia/Shanghai") -> str:
    """What a reviewer whose decision hit a replaced warning (the store's
    ``ReplacedWarningError``) is told: the newer run (when issued, its id) and the warning
    it raised for the same place (id and level), or that it raised none."""
    from dashboard.i18n import fmt_datetime, level_label, t

    run = exc.served_run or {}
    at = fmt_datetime(run.get("origin"), lang, tz)
    run_id = str(run.get("run_id") or "?")
    new = exc.replaced_by
    if new is None:
        return t("stale_replaced_none", lang, at=at, run=run_id)
    level = new.get("reviewed_level") or new.get("level")
    if new.get("state") == "dismissed":
        level = None
    return t(
        "stale_replaced",
        lang,
        at=at,
        run=run_id,
        new=short_id(str(new["warning_id"])),
        level=level_label(level, lang),
    )


REPLACED_KEY = "rv_replaced"  # (old id, new id, domain, county) of a refused replaced decision


def open_replacement(state: MutableMapping[Any, Any]) -> None:
    """``on_click`` of "open the new warning": the served run's warning for the place of
    the one a decision was refused on becomes the chosen one (its domain and county the
    filters, the others all), as a link to it (``?warning=<id>``) opens it."""
    got = state.pop(REPLACED_KEY, None)
    if not got:
        return
    _old, new, domain, county = got
    state["rv_domain__value"] = domain
    state["rv_county__value"] = county
    state["rv_state__value"] = None
    state["rv_flevel__value"] = None
    state["rv_pick__value"] = new


def event_why(event: dict[str, Any], lang: str) -> str:
    """Why a publication withdrew a warning, raised it again or reopened its review (its
    content changed), in ``lang``."""
    from dashboard.i18n import t

    run = str((event.get("details") or {}).get("run_id", "?"))
    key = {
        "withdraw_warning": "withdrawn_why",
        "warning_content_changed": "content_changed_why",
    }.get(event["action"], "raised_again_why")
    return t(key, lang, run=run)


def trail_frame(
    reviews: Any,
    events: list[dict[str, Any]],
    lang: str,
    people: Mapping[str, str] | None = None,
) -> Any:
    """A warning's trail: the review decisions (``warning_reviews``) and the publications'
    withdrawals and re-raisings of it (audit entries), oldest first, actions in words,
    reviewers by their display names (:func:`person`, ``people`` from the users file)."""
    import pandas as pd

    from dashboard.i18n import t

    rows = [
        {
            "reviewed_at": r.reviewed_at,
            "reviewer": person(str(r.reviewer), people or {}, lang),
            "action": t(f"action_{r.action}", lang),
            "from_level": r.from_level,
            "to_level": r.to_level,
            "reason": shown_reason(r.reason, lang),
            "warning_version": r.warning_version,
            "decision": True,
            "was_from": was_from,
            "was_to": was_to,
        }
        for r, (was_from, was_to) in zip(
            reviews.itertuples(), dismissed_levels(reviews), strict=True
        )
    ]
    rows += [
        {
            "reviewed_at": e["at"],
            "reviewer": e["actor"],
            "action": t(f"event_{e['action']}", lang),
            "from_level": None,
            "to_level": None,
            "reason": event_why(e, lang),
            "warning_version": (e.get("details") or {}).get("version"),
            "decision": False,
            "was_from": None,
            "was_to": None,
        }
        for e in events
    ]
    frame = pd.DataFrame(rows, columns=[*TRAIL_COLUMNS, "decision", "was_from", "was_to"])
    if frame.empty:
        return frame
    at = pd.to_datetime(frame["reviewed_at"], utc=True)
    return frame.iloc[at.argsort(kind="stable")].reset_index(drop=True)


def dismissed_levels(reviews: Any) -> list[tuple[str | None, str | None]]:
    """Per review decision of ``reviews`` (one warning's ``warning_reviews``, oldest first)
    the level a dismissal had set aside, for its two level cells: ``from`` of a decision
    taken on a dismissed warning (the store records its ``from_level`` as none), ``to``
    of a dismissal; None where the cell is not a dismissed one or the level is unknown.
    A dismissal's level is its ``dismissed_level`` (migration 0015), else its
    ``from_level``, else (a dismissed warning dismissed again, recorded before 0015) that
    of the dismissal before it, as the migration fills it."""
    out: list[tuple[str | None, str | None]] = []
    carried: str | None = None  # the level the dismissal in force set aside
    for r in reviews.itertuples():
        from_level = _level(getattr(r, "from_level", None))
        was_from = carried if from_level is None else None
        if r.action == "dismiss":
            carried = _level(getattr(r, "dismissed_level", None)) or from_level or was_from
            out.append((was_from, carried))
        else:
            carried = None
            out.append((was_from, None))
    return out


def _level(value: Any) -> str | None:
    """A level column's value: the level, or None for a missing one (None, NaN)."""
    return value if isinstance(value, str) and value else None


def dismissed_words(level: str | None, lang: str) -> str:
    """A dismissed warning's level cell: "Dismissed (was Orange (II))" / "已排除（原橙色（II级））"
    with the level its dismissal set aside, "Dismissed" / "已排除" where it is unknown."""
    from dashboard.i18n import level_label, t

    if level is None:
        return t("state_dismissed", lang)
    return t("pick_dismissed", lang, level=level_label(level, lang))


def shown_trail(trail: Any, lang: str, tz: str) -> Any:
    """The trail (:func:`trail_frame`) as shown: :data:`TRAIL_COLUMNS` in the reader's
    words. A decision's missing level is the warning dismissed, with the level the
    dismissal set aside where known ("Dismissed (was Orange (II))" / "已排除（原橙色（II级））":
    the store records none in force, ``from_level`` of a decision taken on a dismissed
    warning, ``to_level`` of a dismissal, whose ``dismissed_level`` says what it set
    aside), not "—", which read as if an accept had come from nowhere; a publication's
    event has no level ("—")."""
    from dashboard.i18n import localise_frame, t

    shown = localise_frame(
        trail,
        lang,
        tz,
        columns=TRAIL_COLUMNS,
        times=("reviewed_at",),
        levels=("from_level", "to_level"),
    )
    if "decision" in trail:
        for col, was in (("from_level", "was_from"), ("to_level", "was_to")):
            none = trail["decision"].astype(bool).to_numpy() & trail[col].isna().to_numpy()
            levels = trail[was] if was in trail else [None] * len(trail)
            words = [dismissed_words(_level(v), lang) for v in levels]
            shown.loc[none, t(TRAIL_COLUMNS[col], lang)] = [
                w for w, n in zip(words, none, strict=True) if n
            ]
    return shown


TRAIL_COLUMNS = {
    "reviewed_at": "reviewed_at",
    "reviewer": "reviewer",
    "action": "action",
    "from_level": "from_level",
    "to_level": "to_level",
    "reason": "reason_col",
    "warning_version": "version",
}
"""Trail column -> text key of its header."""


# ----------------------------------------------------------------------------- evidence

EVIDENCE_TEXT: dict[str, dict[str, str]] = {
    # evidence keys and table columns written by riskwarn.warnings / riskwarn.nowcast
    "model": {"zh": "模型", "en": "Model"},
    "sensor_health": {"zh": "传感器状况", "en": "Sensor health"},
    "rain_24h_mm": {"zh": "近 24 小时降雨（毫米）", "en": "Rain, last 24 h (mm)"},
    "sensors": {"zh": "位移传感器", "en": "Displacement sensors"},
    "sensor_id": {"zh": "传感器", "en": "Sensor"},
    "status": {"zh": "状态", "en": "Status"},
    "readings_24h": {"zh": "24 小时读数", "en": "Readings, 24 h"},
    # the sensor rules' velocity (riskwarn.sensor_rules.NOWCAST_RULES.smooth_steps hourly
    # steps), not the model's 24 h GNSS input named in its reason
    "velocity_mm_per_day": {
        "zh": "传感器规则位移速率，近 6 小时（毫米/日）",
        "en": "Sensor-rule velocity, last 6 h (mm/day)",
    },
    "tangent_angle_deg": {"zh": "切线角（度）", "en": "Tangent angle (°)"},
    # what each source said (riskwarn.nowcast.level_sources): the level is the higher one
    "model_level": {"zh": "模型给出的等级", "en": "Level from the model"},
    "model_threshold": {"zh": "模型该等级的概率阈值", "en": "Model's threshold for that level"},
    "rules_level": {"zh": "传感器规则给出的等级", "en": "Level from the sensor rules"},
    "category": {"zh": "纠纷类别", "en": "Category"},
    "open_days": {"zh": "已受理天数", "en": "Days open"},
    "failed_mediations": {"zh": "调解失败次数", "en": "Failed mediations"},
    "n_parties": {"zh": "当事方数", "en": "Parties"},  # the catalogue's label (features/catalog.py)
    # hotspot warnings' counts and recent events (tests/dashboard_demo.py, riskwarn.warnings)
    "events_last_7d": {"zh": "近 7 天事件数", "en": "Events, last 7 days"},
    "recent_events_7d": {"zh": "近 7 天事件数", "en": "Events, last 7 days"},
    "usual_per_week": {"zh": "平常每周事件数", "en": "Usual events per week"},
    "recent_events": {"zh": "近期事件", "en": "Recent events"},
    "date": {"zh": "日期", "en": "Date"},
    # a cell's or case's evidence from the frame the model scored (riskwarn.evidence)
    "events_before": {
        "zh": "本网格预测起点前各时段事件数",
        "en": "Events in this cell before the origin, by period",
    },
    "period": {"zh": "时段", "en": "Period"},
    "events": {"zh": "事件数", "en": "Events"},
    "events_by_category_7d": {
        "zh": "本网格近 7 天各类事件数（截至预测起点）",
        "en": "Events in this cell by category, 7 days before the origin",
    },
    "events_by_category_14d": {
        "zh": "本网格近 14 天各类事件数（截至预测起点）",
        "en": "Events in this cell by category, 14 days before the origin",
    },
    "events_by_category_28d": {
        "zh": "本网格近 28 天各类事件数（截至预测起点）",
        "en": "Events in this cell by category, 28 days before the origin",
    },
    # streaming nowcast (riskwarn.stream.publish)
    "observed_to": {"zh": "观测截至", "en": "Observed up to"},
    "source": {"zh": "数据来源", "en": "Source"},
    "health": {"zh": "传感器状况", "en": "Sensor health"},
    # a sensor's rule velocity inside its noise (riskwarn.site_state._noise_note): the
    # page showed the column "within_noise" and "True" / "False" (review of 2026-12-06)
    "within_noise": {"zh": "速度在传感器噪声范围内", "en": "Velocity within the sensor's noise"},
    # the velocity the rules need to pass before the angle counts (h-ux: creep + 3 noise SD)
    "noise_floor_mm_per_day": {
        "zh": "速度的噪声下限（毫米/日）",
        "en": "Velocity noise floor (mm/day)",
    },
    # the level hold (riskwarn.nowcast, riskwarn.stream.state; riskwarn.level_hold: one
    # step is one hourly evaluation)
    "rules_level_rank": {
        "zh": "本次算得的等级（保持前）",
        "en": "Level computed now (before the hold)",
    },
    "held_steps_below": {
        "zh": "连续低于保持等级的逐时评估次数",
        "en": "Hourly evaluations in a row below the held level",
    },
    "held_lower_to": {"zh": "持续平稳后将降至的等级", "en": "Level after a sustained calm"},
    # the levels of those evaluations, oldest first (each level's own off-delay counts them)
    "held_below": {
        "zh": "这些逐时评估的等级（由早到晚）",
        "en": "Levels of those hourly evaluations (oldest first)",
    },
    "pending_steps_above": {
        "zh": "连续高于现行等级的逐时评估次数（待确认）",
        "en": "Hourly evaluations in a row above the level (awaiting confirmation)",
    },
    # the stream's site model (riskwarn.stream.state._with_model)
    "site_model": {"zh": "隐患点模型", "en": "Site model"},
    "model_probability": {"zh": "模型概率", "en": "Model probability"},
    "model_level_rank": {"zh": "模型给出的等级", "en": "Level from the model"},
    "sensor_rules_level_rank": {"zh": "传感器规则给出的等级", "en": "Level from the sensor rules"},
    "model_origin": {"zh": "模型预测起点", "en": "Model's forecast origin"},
}
# events per category in the longest window of at most 28 days a frame has
# (riskwarn.evidence.category_rows: events_by_category_<n>d)
BY_CATEGORY = re.compile(r"events_by_category_(\d+)d")
BY_CATEGORY_TEXT = {
    "zh": "本网格近 {n} 天各类事件数（截至预测起点）",
    "en": "Events in this cell by category, {n} days before the origin",
}
RANK_KEYS = ("rules_level_rank", "held_lower_to", "model_level_rank", "sensor_rules_level_rank")
YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}
SOURCE_TEXT = {"stream": {"zh": "实时数据流", "en": "Live stream"}}
DATE_KEYS = ("date", "observed_to", "model_origin")  # evidence values: ISO dates or times
# incident categories (the contract's canonical names; riskwarn.simulate.incidents)
CATEGORY_ZH = {
    "theft": "盗窃",
    "burglary": "入室盗窃",
    "vehicle_theft": "盗窃电动车",
    "snatching": "抢夺",
    "telecom_fraud": "电信网络诈骗",
    "assault": "殴打他人",
    "fight": "打架斗殴",
    "robbery": "抢劫",
    "intentional_injury": "故意伤害",
    "homicide": "故意杀人",
    "rape": "强奸",
    "arson": "放火",
    "kidnapping": "绑架",
    "traffic_accident": "交通事故",
    "disturbance": "扰乱公共秩序",
    "noise": "噪音扰民",
    "provocation": "寻衅滋事",
    "drugs": "吸毒",
}
STATUS_TEXT: dict[str, dict[str, str]] = {
    "ok": {"zh": "正常", "en": "OK"},
    "dead": {"zh": "无数据", "en": "No data"},
    "flat": {"zh": "读数不变", "en": "Flat"},
    "gappy": {"zh": "缺测较多", "en": "Gappy"},
    "spiky": {"zh": "跳变较多", "en": "Spiky"},
    "no_sensor": {"zh": "无传感器", "en": "No sensor"},
    "unknown": {"zh": "未知", "en": "Unknown"},
}
MODEL_UNAVAILABLE = {"zh": "无可用模型（仅按传感器规则）", "en": "none (sensor rules only)"}


def evidence_word(key: str, lang: str) -> str:
    """An evidence key or column in ``lang`` (the key itself when unknown); nested facts
    (``parent.key``) word each part."""
    if "." in key:
        return " · ".join(evidence_word(part, lang) for part in key.split("."))
    entry = EVIDENCE_TEXT.get(key)
    if entry is None and (m := BY_CATEGORY.fullmatch(key)):
        return BY_CATEGORY_TEXT["zh" if lang == "zh" else "en"].format(n=m.group(1))
    return entry[lang] if entry and lang in entry else key


RAIN_UNKNOWN = {
    "zh": "未知（无雨量计或雨量计无读数）",
    "en": "unknown (no rain gauge, or no reading from it)",
}


def evidence_value(key: str, value: Any, lang: str, tz: str = "Asia/Shanghai") -> str:
    """An evidence value in ``lang``: statuses, sources, categories and the model's absence
    in words, dates and times in the language's one format (``tz``: the display zone)."""
    import numpy as np
    import pandas as pd

    from dashboard.i18n import fmt_date, fmt_datetime

    key = key.rsplit(".", 1)[-1]  # nested facts arrive as "parent.key"
    if isinstance(value, dict):  # a bilingual text, as reasons are
        from dashboard.views import reason_text

        return reason_text(value, lang)
    if key in ("status", "sensor_health", "health") and str(value) in STATUS_TEXT:
        return STATUS_TEXT[str(value)][lang]
    if key in ("model_level", "rules_level"):
        from dashboard.i18n import level_label

        return level_label(str(value), lang) if value else ("未达阈值" if lang == "zh" else "none")
    if isinstance(value, bool | np.bool_):  # never "True" / "False"
        return YES_NO["zh" if lang == "zh" else "en"][0 if value else 1]
    if key in RANK_KEYS and isinstance(value, int | float | np.number) and not pd_isna(value):
        from dashboard.i18n import level_label

        names = {rank: name for name, rank in LEVEL_RANKS.items()}
        if int(value) in names:
            return level_label(names[int(value)], lang)
        if key == "held_lower_to":
            return "无预警" if lang == "zh" else "no warning"
        return "未达阈值" if lang == "zh" else "none"
    if key == "held_below" and isinstance(value, list | tuple):
        return ("、" if lang == "zh" else ", ").join(
            evidence_value("held_lower_to", v, lang, tz) for v in value
        )
    if key in ("model_threshold", "model_probability") and isinstance(value, int | float):
        from dashboard.i18n import fmt_pct

        return fmt_pct(float(value), lang, 2)
    if key == "rain_24h_mm" and (value is None or pd_isna(value)):
        return RAIN_UNKNOWN[lang]  # no gauge, or no reading: unknown, never 0 mm
    if key == "source" and str(value) in SOURCE_TEXT:
        return SOURCE_TEXT[str(value)][lang]
    if key in ("model", "site_model") and str(value).startswith("unavailable"):
        return MODEL_UNAVAILABLE[lang]
    if key in ("model", "site_model") and (named := re.fullmatch(r"(\S+) v(\d+)", str(value))):
        name, version = named.groups()  # riskwarn score writes "<registered name> v<n>"
        domain = name.removeprefix("riskwarn-")  # the registry's name is riskwarn-<domain>
        from dashboard.i18n import TEXT

        if f"domain_{domain}" in TEXT:  # in words: "纠纷案件升级模型 第 1 版"
            words = TEXT[f"domain_{domain}"][lang]
            if lang == "zh":
                return f"{words}模型 第 {version} 版"
            return f"{words} model, version {version}"
        return f"{name} 第 {version} 版" if lang == "zh" else f"{name}, version {version}"
    if key == "category" and isinstance(value, str):
        from features.catalog import GROUP_ZH

        if lang == "zh":
            return CATEGORY_ZH.get(value) or GROUP_ZH.get(value, value)
        return value.replace("_", " ").capitalize()
    if key in DATE_KEYS and isinstance(value, str):
        ts = pd.to_datetime(value, errors="coerce", utc=True)
        if not pd.isna(ts):
            return fmt_date(ts, lang, tz) if len(value) <= 10 else fmt_datetime(ts, lang, tz)
    if value is None or (np.ndim(value) == 0 and pd_isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def evidence_table(frame: Any, lang: str, tz: str = "Asia/Shanghai") -> Any:
    """An evidence table with its columns and values in ``lang``."""
    out = frame.copy()
    for col in out.columns:
        out[col] = [evidence_value(str(col), v, lang, tz) for v in out[col]]
    return out.rename(columns={c: evidence_word(str(c), lang) for c in out.columns})


def evidence_facts_html(facts: Any, label: str = "") -> str:
    """A warning's scalar evidence (``facts``: its metric and value columns, in the
    reader's words) as an HTML table that fits its frame (:func:`frame_table`): labels
    and values wrap, the value never cut (the data grid cut "纠纷案件升级模型…" and long
    labels at 390 px). Two columns fit a phone's width, so no cards."""
    cols = [str(c) for c in facts.columns]
    return frame_table(facts, text=(cols[1],), label=label).replace(
        '<table class="rw-table"', '<table class="rw-table rw-facts"', 1
    )


def evidence_label(key: str, value: Any, lang: str) -> str:
    """A scalar evidence fact's label: catalogued features in plain words (``rain_3d_mm``
    72.0 -> "近 3 天降雨 72.0 毫米"), other known keys translated, the rest as given."""
    from dashboard.views import evidence_fact_label

    words = evidence_fact_label(key, value, lang)
    return evidence_word(key, lang) if words == key else words


def evidence_fact_rows(
    facts: Mapping[str, Any], lang: str, tz: str = "Asia/Shanghai"
) -> list[tuple[str, str]]:
    """The (label, value) rows of a warning's scalar evidence, each value shown once: a
    key with its own words (``rain_24h_mm`` -> "Rain, last 24 h (mm)") gets them and the
    value; a catalogued feature without gets the catalogue's label and the value as its
    sentence writes it ("Rain, last 3 days (mm)", "72.0"; "已调解次数", "6": the value
    column was empty once, the value only in the sentence, then the label was the
    sentence with a gap, "已调解 … 次"), or, where the catalogue has no label, its
    sentence and no second value; any other key its word and the value."""
    from features.catalog import describe_parts

    rows = []
    for k, v in facts.items():
        if k in EVIDENCE_TEXT:
            rows.append((evidence_word(k, lang), evidence_value(k, v, lang, tz)))
            continue
        split = (
            describe_parts(k, float(v), lang)
            if isinstance(v, int | float) and not isinstance(v, bool)
            else None
        )
        if split is not None:
            rows.append(split)
            continue
        label = evidence_label(k, v, lang)
        rows.append((label, "" if label != k else evidence_value(k, v, lang, tz)))
    return rows


# ----------------------------------------------------------------------------- locator map


def case_area(lon: float, lat: float, settings: Any) -> dict[str, Any]:
    """Where a dispute case is, as the dashboard may show it: the ``CASE_AREA_M`` square
    of the city grid (``settings.city_crs``) it falls in, never its point. A case's centre
    is an address (4 decimals are about 10 m: one household), so the page shows the
    square's ring (``ring``, ``[lon, lat]`` pairs) and its centre to 2 decimals (``lon``,
    ``lat``, about 1 km); both come from the square alone, so the case's own coordinates
    never reach the browser (docs/dashboard.md, "Privacy of dispute cases"). The blurring
    is ``riskwarn.geo.case_squares``, which the exports use too."""
    import numpy as np

    from dashboard import maps
    from riskwarn.geo import CASE_AREA_M, case_squares

    bx, by, clon, clat = case_squares(np.array([lon]), np.array([lat]), settings.city_crs)
    ring = maps.cell_polygons(bx, by, CASE_AREA_M, settings.city_crs)[0]
    return {"lon": float(clon[0]), "lat": float(clat[0]), "ring": ring}


def locator_deck(
    unit: Any, boundaries: Any, settings: Any, area: Any = None, level: Any = None
) -> Any:
    """A small offline map of one warned unit: its cell square (or its point) over the
    county and township boundaries, centred on it. ``area`` (:func:`case_area`, for a
    dispute case): that square instead, centred on its centre; the unit's own
    coordinates are not used. The unit is drawn in its warning ``level``'s colour (a
    yellow warning drawn red read as a red one); grey without a level."""
    import numpy as np
    import pydeck as pdk

    from dashboard import maps
    from dashboard.i18n import LEVEL_COLOURS

    if area is not None:
        unit = {"lon": area["lon"], "lat": area["lat"]}
    lon, lat = float(unit["lon"]), float(unit["lat"])
    layers: list[Any] = []
    for admin, (line, width) in maps.BOUNDARY_STYLE.items():
        part = boundaries[boundaries["level"] == admin] if len(boundaries) else boundaries
        if len(part):
            layers.append(
                pdk.Layer(
                    "PathLayer",
                    data=part[["path"]],
                    id=f"locator-{admin}",
                    get_path="path",
                    get_color=line,
                    width_min_pixels=width,
                )
            )
    colour = LEVEL_COLOURS.get(str(level), LEVEL_COLOURS["none"])
    fill = [*colour, 230]
    has_cell = all(
        k in unit and unit[k] is not None and not pd_isna(unit[k]) for k in ("cell_x", "cell_y")
    )
    if area is not None:
        layers.append(
            pdk.Layer(
                "PolygonLayer",
                data=[{"polygon": area["ring"]}],
                id="locator-case-area",
                get_polygon="polygon",
                get_fill_color=[*colour, 90],
                get_line_color=[20, 20, 20, 255],
                line_width_min_pixels=2,
                stroked=True,
            )
        )
        return pdk.Deck(
            layers=layers,
            initial_view_state=pdk.ViewState(latitude=lat, longitude=lon, zoom=12),
            map_style=maps.style_url(maps.tile_url()),
            map_provider=None,
        )
    if has_cell:
        ring = maps.cell_polygons(
            np.array([unit["cell_x"]]),
            np.array([unit["cell_y"]]),
            settings.cell_size_m,
            settings.city_crs,
        )[0]
        layers.append(
            pdk.Layer(
                "PolygonLayer",
                data=[{"polygon": ring}],
                id="locator-cell",
                get_polygon="polygon",
                get_fill_color=fill,
                get_line_color=[20, 20, 20, 255],
                line_width_min_pixels=2,
                stroked=True,
            )
        )
    layers.append(
        pdk.Layer(
            "ScatterplotLayer",
            data=[{"position": [lon, lat]}],
            id="locator-point",
            get_position="position",
            get_fill_color=[0, 0, 0, 0] if has_cell else fill,
            get_line_color=[20, 20, 20, 255],
            get_radius=400,
            radius_min_pixels=9,
            line_width_min_pixels=2,
            stroked=True,
        )
    )
    return pdk.Deck(
        layers=layers,
        initial_view_state=pdk.ViewState(latitude=lat, longitude=lon, zoom=12),
        map_style=maps.style_url(maps.tile_url()),
        map_provider=None,
    )


def pd_isna(value: Any) -> bool:
    """``pandas.isna`` for one scalar."""
    import pandas as pd

    return bool(pd.isna(value))


OPEN_KEY = "rv_open"  # (warning id, its picker label) of the warning open on the page
GONE_KEY = "rv_gone"  # the notice of an open warning withdrawn, until another is chosen
SHOWN_KEY = "rv_shown"  # (warning id, version) of the open warning when it was opened
FILTERS_KEY = "rv_filters"  # the review page's filters on its previous run
PICK_VALUE = "rv_pick__value"  # the picker's choice (carried over by shell.select)
SAVED_KEY = "rv_saved"  # (warning id, the one after it) of the reviewer's own saved decision
QUEUE_ROWS = 300  # the review page works from the top of the queue; the rest waits for filters


def opened(
    state: MutableMapping[Any, Any],
    warning_id: str,
    label: str,
    in_force: bool = True,
    version: int | None = None,
) -> None:
    """Remember the warning open on the review page, if in force (one already withdrawn,
    opened through the 'withdrawn' filter, gets no notice), and the ``version`` it had
    when it was opened (kept while it stays open); a choice ends a notice."""
    if in_force:
        state[OPEN_KEY] = (warning_id, label)
    else:
        state.pop(OPEN_KEY, None)
    shown = state.get(SHOWN_KEY)
    if not shown or shown[0] != warning_id:
        state[SHOWN_KEY] = (warning_id, version)
    state.pop(GONE_KEY, None)


def saved(
    state: MutableMapping[Any, Any], warning_id: str, version: int, order: Sequence[str]
) -> None:
    """The reviewer's own decision on ``warning_id`` was saved, making ``version``:
    remembered for the next run (:func:`moved_on`) with the warning after it in the
    picker's ``order``, and the open warning counts as seen at that version (a notice of
    :func:`left_notice` names decisions taken since, not this one)."""
    ids = list(order)
    after = ids[ids.index(warning_id) + 1 :] if warning_id in ids else []
    state[SAVED_KEY] = (warning_id, after[0] if after else None)
    state[SHOWN_KEY] = (warning_id, int(version))


def moved_on(state: MutableMapping[Any, Any], in_view: Collection[str]) -> bool:
    """On the run after the reviewer's own decision was saved (:func:`saved`): when it
    took the warning out of the queue shown, ``in_view`` (the "new" filter, below the
    first rows), the page moves on to the warning that came after it (the queue's first
    when that one left too) without a notice: it is not kept open (:func:`kept_open`),
    whose notice told the reviewer of their own decision as of someone else's. Returns
    whether it moved on; a warning still in the queue stays open."""
    done = state.pop(SAVED_KEY, None)
    was = state.get(OPEN_KEY)
    if done is None or was is None or was[0] != done[0] or done[0] in in_view:
        return False
    state.pop(OPEN_KEY, None)
    if done[1] in in_view:
        state[PICK_VALUE] = done[1]
    else:
        state.pop(PICK_VALUE, None)
    return True


def started(state: Mapping[Any, Any], warning_id: str) -> bool:
    """Whether the reviewer has a decision on ``warning_id`` under way, not saved: an
    action, level or reason in its draft, or a submit of it refused (in conflict)."""
    draft = state.get(DRAFT_KEY)
    return (
        isinstance(draft, dict)
        and draft.get("warning_id") == warning_id
        and bool(
            draft.get("action")
            or draft.get("level")
            or str(draft.get("reason") or "").strip()
            or draft.get("conflict")
        )
    )


def kept_open(
    state: MutableMapping[Any, Any],
    in_view: Collection[str],
    get_warning: Callable[[str], Mapping[str, Any]],
    filters: tuple[Any, ...],
) -> Mapping[str, Any] | None:
    """The warning open on the review page (as it is now) when it left the queue shown,
    ``in_view`` (the ids of its first :data:`QUEUE_ROWS` under the ``filters``), and is to
    stay open; None otherwise.

    It stays open (the page lists it in the picker and says why it is not in the queue)
    when someone else's decision took it out of a "new" queue (the reviewer's own saved
    decision moves on instead: :func:`moved_on`, called before), or below the queue's first
    rows, when anything else did so without the reviewer changing the filters, and when
    the reviewer changed the filters with a decision on it under way: before, the picker
    moved to the queue's first warning without a word, and a refused or unsaved decision
    vanished with the form. Only a change of the filters with nothing started on it lets
    the queue's first warning open in its place, as a filter change always did. A
    withdrawn warning is left to :func:`withdrawn_open` (its notice; nothing opened), a
    warning named by a link to the link's notice, a warning the reviewer moved away from
    (the picker, a map link) to that choice."""
    seen = state.get(FILTERS_KEY)
    state[FILTERS_KEY] = filters
    was = state.get(OPEN_KEY)
    if was is None or len(was) > 2 or was[0] in in_view or state.get(PICK_VALUE) != was[0]:
        return None
    try:
        w = get_warning(was[0])
    except KeyError:
        return None
    at = w.get("withdrawn_at")
    if at is not None and not pd_isna(at):
        return None
    if seen is not None and tuple(seen) != tuple(filters) and not started(state, was[0]):
        return None
    return w


def left_why(w: Mapping[str, Any], filters: tuple[Any, ...], below: Collection[str]) -> str:
    """Why the warning ``w`` is not in the review queue under ``filters`` (domain, county,
    state, level): ``"rows"`` in it but below its first :data:`QUEUE_ROWS` (``below``: those
    ids), ``"filter"`` not matching the filters (domain or set of domains, county, state, level in force), ``"lapsed"`` matching them but no longer
    in force (expired, or its run no longer the one served)."""
    if w["warning_id"] in below:
        return "rows"
    domain, county, wanted, level = filters
    now = shown_state(w["state"], w.get("withdrawn_at"))
    domains = domain if isinstance(domain, tuple) else (domain,)
    if (
        (domain is None or w.get("domain") in domains)
        and (county is None or w.get("county_code") == county)
        and (wanted is None or wanted == now)
        and (level is None or w.get("effective_level") == level)
    ):
        return "lapsed"
    return "filter"


def left_notice(
    w: Mapping[str, Any],
    label: str,
    why: str,
    state: Mapping[Any, Any],
    lang: str,
    tz: str,
) -> str:
    """The notice (Markdown) of a warning kept open though it left the queue
    (:func:`kept_open`): which one, why it is not in the queue (:func:`left_why`: the
    filters and its state now, below the first :data:`QUEUE_ROWS`, no longer in force),
    who decided it, when, how and why if that happened since it was opened, and that it
    stays open, in ``lang``."""
    from dashboard.i18n import t
    from dashboard.text import md_line

    now = t(f"state_{shown_state(w['state'], w.get('withdrawn_at'))}", lang)
    said = [t(f"open_left_{why}", lang, label=md_line(label), n=QUEUE_ROWS, state=now)]
    last = w.get("last_review") or {}
    shown = state.get(SHOWN_KEY)
    version = shown[1] if shown and shown[0] == w["warning_id"] else None
    if last and version is not None and int(last.get("warning_version") or 0) > int(version):
        said.append(t("open_left_decided", lang, **decided_words(last, lang, tz)))
    said.append(t("open_left_kept", lang))
    return (" " if lang == "en" else "").join(said)


def withdrawn_open(
    state: MutableMapping[Any, Any],
    labels: Mapping[str, str],
    get_warning: Callable[[str], Mapping[str, Any]],
    lang: str,
    tz: str,
) -> str | None:
    """The notice (Markdown) for the reviewer whose open warning was withdrawn since (it
    left the queue ``labels``), in ``lang``; kept until another warning is chosen (:func:`opened`),
    None otherwise; it adds that the decision the reviewer had started on it was not
    saved. A warning that only left the queue (a filter, its episode ended) is
    not withdrawn and gets no notice. A warning named by a link (``?warning=``, an
    ``OPEN_KEY`` entry with a third element) that is not in the queue gets a notice too:
    unknown, or known but not in force now; nothing is opened in its place either."""
    from dashboard.i18n import fmt_datetime, t
    from dashboard.text import md_line

    was = state.get(OPEN_KEY)
    if was is not None and was[0] not in labels:
        state.pop(OPEN_KEY, None)
        try:
            w = get_warning(was[0])
        except KeyError:
            w = {}
        at = w.get("withdrawn_at")
        if at is not None and not pd_isna(at):
            unsaved = started(state, was[0])
            state[GONE_KEY] = (was[1], at, str(w.get("run_id", "?")), unsaved)
        elif len(was) > 2:  # named by a link (?warning=) and not in the queue: say so
            state[GONE_KEY] = (was[1] if w else str(was[0])[:80], bool(w))
    gone = state.get(GONE_KEY)
    if gone is None:
        return None
    if len(gone) == 2:  # a link to a warning that is not in the queue
        label, known = gone
        return t("link_not_in_queue" if known else "link_unknown", lang, label=md_line(label))
    label, at, run, unsaved = gone
    why = event_why({"action": "withdraw_warning", "details": {"run_id": run}}, lang)
    at_words = fmt_datetime(at, lang, tz)  # shown through st.warning (Markdown): data escaped
    said = t("open_withdrawn", lang, label=md_line(label), at=at_words, why=md_line(why))
    return f"{said} {t('draft_not_saved', lang)}" if unsaved else said


# ------------------------------------------------------------ decisions on earlier runs


def earlier_marker(
    decided: Mapping[str, Any], lang: str, tz: str, people: Mapping[str, str] | None = None
) -> str:
    """A decision the panel took on an earlier run's warning of the same place (a row of
    ``Store.earlier_decisions``) in one line of plain text: "decided on <time>: dismissed
    (was Red (I)) by <name>"; when the level rose above the one the panel judged the risk
    at, "now Orange (II), above the Yellow (III) judged then" after it. Shown in the queue
    and on the form, never applied."""
    from dashboard.i18n import fmt_datetime, level_label, t

    action = str(decided.get("action") or "accept")
    did = t(f"earlier_did_{action}", lang, level=level_label(decided.get("decided_level"), lang))
    words = t(
        "earlier_marker",
        lang,
        at=fmt_datetime(decided.get("reviewed_at"), lang, tz),
        reviewer=person(str(decided.get("reviewer") or "?"), people or {}, lang),
        did=did,
    )
    if bool(decided.get("level_rose")):
        sep = "；" if lang == "zh" else "; "
        words += sep + t(
            "earlier_rose",
            lang,
            old=level_label(decided.get("since_level"), lang),
            new=level_label(decided.get("level"), lang),
        )
    return words


def earlier_by_warning(frame: Any) -> dict[str, dict[str, Any]]:
    """``Store.earlier_decisions`` as warning id -> its row (dict)."""
    if frame is None or frame.empty:
        return {}
    return {str(r["warning_id"]): dict(r) for r in frame.to_dict("records")}


def same_decision(
    decided: Mapping[str, Any], current: Mapping[str, Any], lang: str, tz: str
) -> dict[str, Any] | None:
    """The form's values for "Same decision as before" on ``current`` (the warning as
    shown, still ``new``): the earlier decision's action and level (a dismissal; else the
    level it left in force: an accept where that is the level raised now, an adjust to it
    otherwise) and a reason quoting it (the reviewer edits it, and submits it as theirs).
    None when there is no shortcut: the level rose since, or the warning is decided
    already (a reviewer's own decision on this run stands)."""
    from dashboard.i18n import t
    from riskwarn.i18n import fmt_datetime_zone

    if bool(decided.get("level_rose")) or current.get("state") != "new":
        return None
    action, level = str(decided.get("action")), None
    if action != "dismiss":
        target = decided.get("decided_level")
        if target not in LEVEL_RANKS:
            return None
        action, level = ("accept", None) if target == current.get("level") else ("adjust", target)
    reason = t(
        "earlier_reason",
        lang,
        # the zone named: the reason is stored and read away from the page (the trail's
        # export, `riskwarn review`, a dashboard set to another zone)
        at=fmt_datetime_zone(decided.get("reviewed_at"), lang, tz),
        id=short_id(str(decided.get("earlier_warning_id"))),
        reviewer=str(decided.get("reviewer") or "?"),
        reason=str(decided.get("reason") or "").strip(),
    )
    from riskwarn.review_text import REASON_MAX_CHARS

    return {"action": action, "level": level, "reason": reason[:REASON_MAX_CHARS]}


def use_same_decision(
    state: MutableMapping[Any, Any], warning_id: str, values: Mapping[str, Any]
) -> None:
    """``on_click`` of "Same decision as before": fill the open form's draft with
    ``values`` (:func:`same_decision`) in widgets of a new generation (seeded from it);
    nothing is sent: the reviewer reads, edits and submits it through the normal path.
    A draft of another warning, or one refused in conflict, is left alone."""
    draft = state.get(DRAFT_KEY)
    if not isinstance(draft, dict) or draft.get("warning_id") != warning_id:
        return
    if draft.get("conflict"):
        return
    draft.update(action=values["action"], level=values["level"], reason=values["reason"])
    draft["gen"] = generations.generation(draft) + 1
