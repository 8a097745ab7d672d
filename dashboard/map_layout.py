"""Map layout: the names written on the map and the scale bar with the view it fits.

Part of the offline risk map (:mod:`dashboard.maps`, which re-exports these):
county and township labels with collision priorities, and a scale bar drawn in map
coordinates for the view that fits the city into the map's size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pydeck as pdk

from dashboard.i18n import LEVEL_RANK, place_name, t

# ----------------------------------------------------------------------------- labels

COUNTY_PRIORITY = 900  # warned townships rank above (950 + 10 x level rank), others below 400


def area_labels(
    counties: pd.DataFrame,
    townships: pd.DataFrame,
    by_township: pd.DataFrame,
    names: Mapping[str, str],
    lang: str,
) -> pd.DataFrame:
    """Names to write on the map: warned townships (with their number of warnings, the
    highest level first), every county, then the other townships by area.

    Returns ``text``, ``position``, ``size`` (pixels), ``colour``, ``weight`` and
    ``priority`` (the collision filter keeps higher priorities when labels overlap).
    """
    cols = ["text", "position", "size", "colour", "kind", "priority"]
    rows: list[dict[str, Any]] = []
    warned = (
        dict(zip(by_township["code"], by_township["level"], strict=True))
        if not by_township.empty
        else {}
    )
    counts = (
        dict(zip(by_township["code"], by_township["n_warnings"], strict=True))
        if not by_township.empty
        else {}
    )
    for frame, kind in ((counties, "county"), (townships, "township")):
        if frame.empty:
            continue
        one = frame.sort_values("area", ascending=False).drop_duplicates("record_id")
        for r in one.itertuples(index=False):
            text = place_name(names.get(r.record_id, r.name), lang)
            # priorities stay within deck.gl's collision range, -1000..1000 (beyond it
            # a label never wins the collision test and is not drawn)
            if kind == "county":
                size, colour, priority = 17, [30, 32, 36, 255], COUNTY_PRIORITY
            elif r.record_id in warned:  # above the counties: the place a leader looks for
                rank = LEVEL_RANK.get(warned[r.record_id], 0)
                size, colour, priority = 13, [40, 42, 48, 255], 950 + 10 * rank
                text = f"{text} {int(counts[r.record_id])}"  # with its number of warnings
            else:
                size, colour, priority = 11, [105, 110, 120, 255], int(min(r.area * 1e4, 400))
            rows.append(
                {
                    "text": text,
                    "position": [r.label_lon, r.label_lat],
                    "size": size,
                    "colour": colour,
                    "kind": kind,
                    "priority": priority,
                }
            )
    return pd.DataFrame(rows, columns=cols)


def text_box_px(text: str, size: float) -> tuple[float, float]:
    """Width and height in pixels of ``text`` written at ``size`` px in the map's bold
    sans font with its 3 px outline (CJK characters a full em, others about 0.6 em)."""
    em = sum(1.0 if ord(ch) >= 0x2E80 else 0.6 for ch in text)
    return em * size + 6.0, 1.2 * size + 6.0


def place_labels(
    labels: pd.DataFrame,
    view: pdk.ViewState,
    gap_px: float = 2.0,
    width_px: float | None = None,
    marks: Any = (),
    mark_px: float = 0.0,
) -> pd.DataFrame:
    """The labels that fit the initial ``view`` without touching one another: placed in
    priority order; a warned township's or a county's name that meets a placed one is
    tried one line above, then one line below its point; a name that fits nowhere is
    left out. Returns the kept rows (``position`` moved where a name was shifted).

    deck.gl's collision filter alone left overlapping names half drawn (it fades a label
    by the share of its box that wins the collision test): at 800 px the warned
    township with the most warnings sat as a ghost under a county name. Deciding here
    draws every kept name whole, so the deck has no collision filter any more (its partial
    fades showed even between names placed apart, on the 1920 px wall screen).

    ``width_px``: the width the view was fitted to (:func:`view_for`); a name that would
    stick out of it is moved inward until it fits whole (on a 390 px phone the county
    names on the city's edge were cut in half).

    ``marks``: the ``[lon, lat]`` of the warned squares (``mark_px`` wide on screen; a
    ``[lon, lat, px]`` mark is ``px`` wide: a site's or a case's marker),
    which no name may cover: they are placed first, and a name that meets one is tried
    above and below as when it meets a name (a warned township's up to three lines
    away, a county's one: further, a county's read as off the city), else left out. On the demo city's overview 45 of the 47 warned
    incident cells lay under a name at 390 px ("Chengguan Town 10", "Yixiu District"
    written over the squares: user review, 2026-12-07).
    """
    if labels.empty:
        return labels
    scale = 512 * 2**view.zoom / (2 * math.pi)  # px per radian (Web Mercator)
    lon_c, y_c = math.radians(view.longitude), _merc(view.latitude)
    placed: list[tuple[float, float, float, float]] = []
    for mark in marks:  # the warned squares (and markers) first: no name covers one
        half = (mark[2] if len(mark) > 2 else mark_px) / 2
        x = (math.radians(mark[0]) - lon_c) * scale
        y = (y_c - _merc(mark[1])) * scale
        placed.append((x - half, y - half, x + half, y + half))
    keep: dict[Any, list[float]] = {}
    order = labels.sort_values("priority", ascending=False, kind="stable")
    for idx, r in zip(order.index, order.itertuples(index=False), strict=True):
        lon, lat = r.position
        x = (math.radians(lon) - lon_c) * scale
        y0 = (y_c - _merc(lat)) * scale
        w, h = text_box_px(str(r.text), float(r.size))
        if width_px is not None:  # whole inside the fitted width
            room = max(width_px / 2 - w / 2 - gap_px, 0.0)
            if abs(x) > room:
                x = math.copysign(room, x)
                lon = round(math.degrees(lon_c + x / scale), 6)
        shifts: tuple[float, ...] = (0.0,)
        if int(r.priority) >= COUNTY_PRIORITY:
            shifts = (0.0, -h, h)
        if int(r.priority) > COUNTY_PRIORITY and len(marks):  # a warned township's name
            shifts += (-2 * h, 2 * h, -3 * h, 3 * h)  # beside its squares, not on them
        for dy in shifts:
            y = y0 + dy
            box = (x - w / 2 - gap_px, y - h / 2 - gap_px, x + w / 2 + gap_px, y + h / 2 + gap_px)
            if not any(
                box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed
            ):
                placed.append(box)
                keep[idx] = [lon, round(_unmerc(y_c - y / scale), 6) if dy else lat]
                break
    out = labels.loc[sorted(keep)].copy()
    out["position"] = [keep[i] for i in out.index]
    return out


# ----------------------------------------------------------------------------- markers

# where a marker that would cover a warned square (or an earlier marker) is tried instead:
# rings of eight directions, in marker sides from its place
_RINGS = (1.0, 1.5, 2.0, 3.0)
_DIRECTIONS = ((0, -1), (1, 0), (0, 1), (-1, 0), (1, -1), (1, 1), (-1, 1), (-1, -1))


def place_marks(
    positions: Any,
    view: pdk.ViewState,
    *,
    squares: Any = (),
    square_px: float,
    mark_px: float,
    gap_px: float = 1.0,
) -> tuple[list[list[float]], list[list[float]]]:
    """Pixel offsets that keep each marker (``positions``: ``[lon, lat]``, placed in the
    order given: the most pressing first) off the warned ``squares`` and off the markers
    placed before it at the initial ``view``: its own place if free, else the nearest free
    spot on rings of one to three marker sides around it; if none is free, its place.

    Returns (``[dx, dy]`` per marker, deck.gl's ``getPixelOffset``: zoomed in, the marker
    sits that many pixels from its place, by then clear of the squares; ``[lon, lat]``
    where it is drawn at the initial view, for :func:`place_labels` to keep names off).
    """
    scale = 512 * 2**view.zoom / (2 * math.pi)
    lon_c, y_c = math.radians(view.longitude), _merc(view.latitude)
    boxes: list[tuple[float, float, float, float]] = []
    half_sq = square_px / 2
    for lon, lat, *_ in squares:
        x, y = (math.radians(lon) - lon_c) * scale, (y_c - _merc(lat)) * scale
        boxes.append((x - half_sq, y - half_sq, x + half_sq, y + half_sq))
    half = mark_px / 2 + gap_px
    offsets: list[list[float]] = []
    drawn: list[list[float]] = []
    steps = [(0.0, 0.0)] + [
        (dx * r * mark_px, dy * r * mark_px) for r in _RINGS for dx, dy in _DIRECTIONS
    ]
    for lon, lat, *_ in positions:
        x0, y0 = (math.radians(lon) - lon_c) * scale, (y_c - _merc(lat)) * scale
        pick = (0.0, 0.0)
        for dx, dy in steps:
            x, y = x0 + dx, y0 + dy
            if not any(
                x - half < b[2] and b[0] < x + half and y - half < b[3] and b[1] < y + half
                for b in boxes
            ):
                pick = (dx, dy)
                break
        x, y = x0 + pick[0], y0 + pick[1]
        boxes.append((x - half, y - half, x + half, y + half))
        offsets.append([round(pick[0], 1), round(pick[1], 1)])
        drawn.append(
            [round(math.degrees(lon_c + x / scale), 6), round(_unmerc(y_c - y / scale), 6)]
        )
    return offsets, drawn


# ----------------------------------------------------------------------------- scale bar


def nice_length_km(span_km: float) -> float:
    """A round length (1, 2 or 5 x 10^n km) near a fifth of ``span_km``."""
    target = max(span_km / 5.0, 1e-3)
    exp = math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * 10**exp <= target:
            return float(step * 10**exp)
    return float(10**exp)


def _merc(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _unmerc(y: float) -> float:
    return math.degrees(math.atan(math.sinh(y)))


# Bands kept free of the city: the scale bar above it, the legend (HTML) below it.
TOP_BAND_PX = 36
BOTTOM_BAND_PX = 66


def view_for(
    bounds: tuple[float, float, float, float] | None, *, width_px: int, height_px: int
) -> pdk.ViewState:
    """A view that fits ``bounds`` (lon0, lat0, lon1, lat1) into ``width_px`` x ``height_px``
    minus the top and bottom bands (Web Mercator: 512 px per 2 pi radians at zoom 0)."""
    if bounds is None:
        return pdk.ViewState(latitude=30.5, longitude=116.8, zoom=8)
    lon0, lat0, lon1, lat1 = bounds
    span_x = max(math.radians(lon1 - lon0), 1e-6)
    span_y = max(_merc(lat1) - _merc(lat0), 1e-6)
    free_h = max(height_px - TOP_BAND_PX - BOTTOM_BAND_PX, 80)
    zoom_x = math.log2(width_px * 0.94 * 2 * math.pi / (512 * span_x))
    zoom_y = math.log2(free_h * 0.96 * 2 * math.pi / (512 * span_y))
    zoom = round(float(np.clip(min(zoom_x, zoom_y), 3, 16)), 2)
    # centre the city in the free part: shift the view centre by half the band difference
    rad_per_px = 2 * math.pi / (512 * 2**zoom)
    shift = (BOTTOM_BAND_PX - TOP_BAND_PX) / 2 * rad_per_px
    centre_y = (_merc(lat0) + _merc(lat1)) / 2 - shift
    return pdk.ViewState(
        latitude=round(_unmerc(centre_y), 5), longitude=(lon0 + lon1) / 2, zoom=zoom, pitch=0
    )


def scale_bar(
    bounds: tuple[float, float, float, float], zoom: float, lang: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A scale bar in the band above the city's north-west corner, drawn in map
    coordinates (so it stays true at every zoom). ``zoom``: the initial view's, to place
    it in the band. Returns (``path`` rows: bar and end ticks; ``text`` rows: its label).
    """
    lon0, _lat0, lon1, lat1 = bounds
    rad_per_px = 2 * math.pi / (512 * 2**zoom)
    lat = _unmerc(_merc(lat1) + 0.4 * TOP_BAND_PX * rad_per_px)
    tick = _unmerc(_merc(lat) + 5 * rad_per_px) - lat
    km_per_deg = 111.32 * math.cos(math.radians(lat))
    length = nice_length_km((lon1 - lon0) * km_per_deg)
    start = lon0
    end = start + length / km_per_deg
    paths = pd.DataFrame(
        {
            "path": [
                [[start, lat], [end, lat]],
                [[start, lat], [start, lat + tick]],
                [[end, lat], [end, lat + tick]],
            ]
        }
    )
    text = pd.DataFrame(
        {"text": [t("map_scale", lang, km=f"{length:g}")], "position": [[end, lat]]}
    )
    return paths, text


# The width the overview fits the city into. A 390 px phone's column is 358 px (390 less
# Streamlit's 1 rem padding each side): fitted to 480 px there, the city's sides, the county
# names on them and the scale bar were cut. On a desktop or tablet column (600 px and more)
# a 358 px fit drew the city small in a wide grey map, so a browser that says it is not a
# phone gets the wider fit; a browser that says nothing (or an app test) gets the phone's,
# which fits everywhere. The wall screen (1920 x 1080) fits 700 px.
PHONE_FIT_PX = 358
DESKTOP_FIT_PX = 480
WALL_FIT_PX = 700


def map_fit_px(wall: bool, user_agent: str | None) -> int:
    """The overview's fit width: wall screen, desktop (a User-Agent without the ``Mobi``
    token every phone browser sends) or phone (a phone, or no User-Agent)."""
    if wall:
        return WALL_FIT_PX
    if user_agent and "Mobi" not in user_agent:
        return DESKTOP_FIT_PX
    return PHONE_FIT_PX
