"""A map on a page: the deck, its legend laid over it, the clicked object, wall-screen mode.

Streamlit pieces shared by the overview and the geohazard page. The legend is HTML placed
over the map's lower left corner by CSS (deck.gl draws no legend); the click is
``st.pydeck_chart``'s selection event. Wall-screen mode (``?wall=1``, optionally
``&refresh=<seconds>``) hides the sidebar and the header, widens the maps and refreshes the
page body on a timer (``st.fragment(run_every=...)``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard import address
from dashboard.i18n import t

CSS = """
<style>
[class*="st-key-rwmap"] { position: relative; }
[class*="st-key-rwmap"] [data-testid="stElementContainer"]:has(.rw-legend) {
  position: absolute; left: 8px; bottom: 6px; z-index: 5; width: auto !important;
  max-width: calc(100% - 16px); }
.rw-legend { background: rgba(255,255,255,0.94); border: 1px solid #c9ced6;
  border-radius: 6px; padding: 3px 9px 3px; font-size: 0.8rem; line-height: 1.45;
  box-shadow: 0 1px 3px rgba(0,0,0,0.12); }
.rw-legend-items { display: flex; flex-wrap: wrap; column-gap: 0.8rem; }
.rw-legend-item { display: inline-flex; align-items: center; gap: 0.3rem;
  white-space: nowrap; }
.rw-swatch { width: 0.8rem; height: 0.8rem; border: 1px solid; display: inline-block; }
.rw-shape { flex: none; }
.rw-legend-note { color: #555; font-size: 0.72rem; line-height: 1.3; }
.rw-legend-empty { font-weight: 600; display: flex; align-items: center; gap: 0.35rem; }
[class*="st-key-rwmap"] [data-testid="stElementContainer"]:has(.rw-map-banner) {
  position: absolute; left: 0; right: 0; top: 38%; z-index: 4; width: 100% !important;
  display: flex; justify-content: center; pointer-events: none; }
.rw-map-banner { background: rgba(255,255,255,0.92); border: 2px solid #9aa0a8;
  border-radius: 8px; padding: 0.5rem 1.1rem; font-size: 1.25rem; font-weight: 600;
  color: #30343a; text-align: center; box-shadow: 0 1px 4px rgba(0,0,0,0.15); }
@media (max-width: 1400px) {
  [class*="st-key-rwrow"] [data-testid="stHorizontalBlock"] { flex-wrap: wrap; }
  [class*="st-key-rwrow"] [data-testid="stColumn"]:not([data-testid="stColumn"] *) {
    min-width: 100% !important; flex: 1 1 100% !important; }
}
/* a KPI's label wraps instead of being cut ("Incident hotspot …" at 390 px) */
[class*="st-key-rwkpi"] [data-testid="stMetricLabel"] * { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; }
@media (max-width: 1000px) {
  [class*="st-key-rwkpi"] [data-testid="stHorizontalBlock"] { flex-wrap: wrap; }
  [class*="st-key-rwkpi"] [data-testid="stColumn"] { min-width: calc(50% - 1rem) !important;
    flex: 1 1 calc(50% - 1rem) !important; }
}
</style>
"""

WALL_CSS = """
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], header[data-testid="stHeader"] { display: none; }
div[data-testid="stMainBlockContainer"] { padding: 0.8rem 1.6rem 0.5rem; max-width: 100%; }
h1 { font-size: 2.1rem !important; padding: 0 !important; }
[data-testid="stMetricValue"] { font-size: 2.6rem !important; }
[data-testid="stMetricLabel"] p { font-size: 1.1rem !important; }
.rw-legend { font-size: 1rem; }
.rw-legend-note { font-size: 0.85rem; }
.rw-map-banner { font-size: 1.7rem; }
.rw-place { font-size: 1.15rem; }
</style>
"""


@dataclass(frozen=True)
class WallMode:
    """Whether the page is on a wall screen, and how often its body refreshes."""

    on: bool
    refresh_s: int


WALL_PARAM = "wall"  # ?wall=1
WALL_KEY = "rw_wall"  # session key: "1" while this visit of the page is on the wall screen


def wall_mode(visit: int) -> WallMode:
    """Wall-screen mode: ``?wall=1`` (``&refresh=<seconds>``, 10..3600, default 60) as the
    address says it on the first run of visit ``visit`` of the page (a link, a reload, a
    new session, back/forward), then as the switch (:func:`wall_switch`) sets it, with the
    address following (:func:`dashboard.address.kept`). Read on every run, the address
    undid the switch: a click sent before the switch's new address reached the browser
    carried the old one, and the page left (or entered again) the wall screen. The
    refresh period is the address's on every run (the page never changes it)."""
    on = address.kept(st.query_params, st.session_state, WALL_PARAM, WALL_KEY, visit) == "1"
    try:
        refresh = int(st.query_params.get("refresh", 60))
    except ValueError:
        refresh = 60
    return WallMode(on, min(max(refresh, 10), 3600))


def styles() -> None:
    """The CSS the maps, their legends and the responsive rows need (once per page)."""
    st.html(CSS)


def _set_wall(on: bool) -> None:
    """``on_click`` of the switch: the session's wall-screen mode (the run that follows
    draws it and puts it in the address)."""
    st.session_state[WALL_KEY] = "1" if on else None


def wall_switch(wall: WallMode, lang: str) -> None:
    """The button that enters (or leaves) wall-screen mode, and its CSS when on."""
    if wall.on:
        st.html(WALL_CSS)
        st.button(
            t("wall_leave", lang),
            key="wall_leave",
            type="tertiary",
            on_click=_set_wall,
            args=(False,),
        )
    else:
        st.button(
            t("wall_enter", lang),
            key="wall_enter",
            icon=":material/tv:",
            on_click=_set_wall,
            args=(True,),
        )


def show_map(
    deck: Any, legend: str, *, key: str, height: int, banner: str | None = None
) -> dict[str, Any] | None:
    """Draw ``deck`` with ``legend`` over it; return the object clicked (None if none).

    ``banner``: words centred over the map (a map with no warned mark says so there,
    where a leader looks, not only in a note under it).

    The returned dict is the clicked row of a pickable layer plus ``layer`` (its id).
    The page calls :func:`styles` once before (the legend's place over the map is CSS).
    The legend carries ``data-rw-marks``: how many marks in a level's colour the map
    draws, so a browser (the screenshots, the tests) can wait until they are on screen.
    """
    marks = int(getattr(deck, "level_marks", 0))
    with st.container(key=f"rwmap_{key}"):
        event = st.pydeck_chart(
            deck, height=height, key=key, on_select="rerun", selection_mode="single-object"
        )
        st.markdown(mark_legend(legend, marks), unsafe_allow_html=True)
        if banner:
            st.markdown(
                f'<div class="rw-map-banner">{html.escape(banner)}</div>', unsafe_allow_html=True
            )
    return clicked(event)


def mark_legend(legend: str, marks: int) -> str:
    """``legend`` with the number of level-coloured marks of its map as an attribute."""
    return legend.replace('class="rw-legend"', f'class="rw-legend" data-rw-marks="{marks}"', 1)


def clicked(event: Any) -> dict[str, Any] | None:
    """The first selected object of a pydeck selection event, with its ``layer`` id."""
    try:
        objects = event["selection"]["objects"]
    except (KeyError, TypeError):
        return None
    for layer, items in (objects or {}).items():
        if items:
            return {**items[0], "layer": layer}
    return None
