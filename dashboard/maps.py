"""Offline maps a leader reads in five seconds: where the warnings are, in which places.

What is drawn (pure frame builders below, assembled by :func:`risk_deck`):

* every township filled by the highest warning level inside it (pale; "no warning" in a
  light neutral), county lines thick, township lines thin;
* every warned unit as a filled square in its level's colour: a 250 m cell keeps its true
  size when zoomed in and never shrinks below :data:`MIN_SQUARE_PX` pixels, so each
  warned cell stays visible at city zoom; red is drawn last, on top;
* county names, and the names of townships (warned ones first, others where room
  remains: ``map_layout.place_labels`` leaves out names that would overlap);
* a scale bar drawn in map coordinates (true at every zoom);
* the legend is HTML laid over the map by the page (:func:`legend_html`).

No basemap tiles are downloaded: the deck's map style is a plain background and the
geography comes from the lake's ``admin_units``. An intranet tile server can be added with
``RISKWARN_TILE_URL`` (``https://tiles.example/{z}/{x}/{y}.png``) as a raster source.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from shapely import wkt as shapely_wkt

from dashboard.i18n import LEVEL_COLOURS, LEVEL_RANK, level_label, place_name, t
from dashboard.map_layout import (
    BOTTOM_BAND_PX,
    TOP_BAND_PX,
    area_labels,
    nice_length_km,
    place_labels,
    place_marks,
    scale_bar,
    view_for,
)
from dashboard.map_marks import MARK_PX, PLACE_ATLAS, PLACE_MAPPING, RIM_PX
from riskwarn.geo import unproject

BACKGROUND = "#e3e8ee"  # outside the city
NO_WARNING_RGB = (250, 250, 248)  # a township without any warning
AREA_ALPHA = 95  # township fills: pale, the squares carry the colour
BOUNDARY_STYLE: dict[str, tuple[list[int], float]] = {
    # admin level -> (RGBA line colour, width in pixels)
    "county": ([70, 74, 82, 235], 2.0),
    "township": ([150, 156, 166, 170], 0.7),
}
MIN_SQUARE_PX = 10  # a warned cell never shrinks below this on screen
MARK_BOX_PX = MIN_SQUARE_PX + 3 + 2  # a warned square with its white rim and a gap: no name
LABEL_FONT = (
    '"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", '
    '"WenQuanYi Micro Hei", "Noto Sans", sans-serif'
)
# a white square as an icon atlas: the squares are IconLayer icons (mask: coloured per row)
_SQUARE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">'
    '<rect width="32" height="32" fill="#fff"/></svg>'
)
SQUARE_ATLAS = "data:image/svg+xml;base64," + base64.b64encode(_SQUARE_SVG.encode()).decode()
SQUARE_MAPPING = {"square": {"x": 0, "y": 0, "width": 32, "height": 32, "mask": True}}


# names and the scale bar live in map_layout; pages and tests reach them through maps
LAYOUT = (BOTTOM_BAND_PX, TOP_BAND_PX, area_labels, nice_length_km, scale_bar, view_for)


def literal(text: str) -> str:
    """A constant string prop for pydeck (which reads bare strings as JS accessors)."""
    if "'" in text:
        raise ValueError(f"no single quotes in a pydeck literal: {text!r}")
    return f"'{text}'"


_CELL_ID = re.compile(r"^c(-?\d+)_(-?\d+)$")  # riskwarn.geo.cell_id: "c<x>_<y>"


def offline_style(basemap_url: str | None = None) -> dict[str, Any]:
    """A MapLibre style that needs no network: a plain background, plus the intranet raster
    tiles when ``basemap_url`` is given. (With no style at all, Streamlit would fall back
    to an internet basemap.)"""
    style: dict[str, Any] = {
        "version": 8,
        "sources": {},
        "layers": [
            {"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}
        ],
    }
    if basemap_url:
        style["sources"]["basemap"] = {"type": "raster", "tiles": [basemap_url], "tileSize": 256}
        style["layers"].append({"id": "basemap", "type": "raster", "source": "basemap"})
    return style


def style_url(basemap_url: str | None = None) -> str:
    """:func:`offline_style` as a ``data:`` URL (Streamlit's map accepts style URLs only)."""
    text = json.dumps(offline_style(basemap_url), separators=(",", ":"))
    return "data:application/json;charset=utf-8," + quote(text)


def tile_url() -> str | None:
    """Optional intranet basemap tile URL template (``RISKWARN_TILE_URL``)."""
    return os.environ.get("RISKWARN_TILE_URL") or None


def rgba(level: str | None, alpha: int = 255) -> list[int]:
    """RGBA of a warning level (``None``/``"none"``: the no-warning fill)."""
    rgb = LEVEL_COLOURS.get(level or "none") if level and level != "none" else NO_WARNING_RGB
    return [*(rgb or NO_WARNING_RGB), int(alpha)]


# ----------------------------------------------------------------------------- areas


def area_shapes(admin_units: pd.DataFrame, level: str) -> pd.DataFrame:
    """Outer rings and a label point of every admin unit of ``level``.

    Returns ``record_id``, ``name``, ``parent_id``, ``polygon`` (one exterior ring as a list
    of ``[lon, lat]``; a multipolygon gives one row per part), ``label_lon``/``label_lat``
    (a point inside the largest part) and ``area`` (of the part, square degrees).
    Simplified to ~50 m: enough for a city map, a fraction of the payload.
    """
    cols = ["record_id", "name", "parent_id", "polygon", "label_lon", "label_lat", "area"]
    if admin_units.empty or "geometry_wkt" not in admin_units:
        return pd.DataFrame(columns=cols)
    units = admin_units[(admin_units["level"] == level) & admin_units["geometry_wkt"].notna()]
    rows: list[dict[str, Any]] = []
    for code, name, parent, text in zip(
        units["record_id"], units["name"], units["parent_id"], units["geometry_wkt"], strict=True
    ):
        geom = shapely.simplify(shapely_wkt.loads(text), 0.0005, preserve_topology=True)
        parts = [p for p in getattr(geom, "geoms", [geom]) if not p.is_empty and p.area > 0]
        if not parts:
            continue
        inside = shapely.point_on_surface(max(parts, key=lambda p: p.area))
        for part in parts:
            ring = np.asarray(part.exterior.coords)[:, :2].round(5).tolist()
            rows.append(
                {
                    "record_id": str(code),
                    "name": name,
                    "parent_id": parent,
                    "polygon": ring,
                    "label_lon": round(float(inside.x), 5),
                    "label_lat": round(float(inside.y), 5),
                    "area": float(part.area),
                }
            )
    return pd.DataFrame(rows, columns=cols)


def boundary_paths(shapes: pd.DataFrame, level: str) -> pd.DataFrame:
    """Boundary lines (``path``) of :func:`area_shapes` rows, tagged with ``level``."""
    if shapes.empty:
        return pd.DataFrame(columns=["name", "level", "path"])
    return pd.DataFrame({"name": shapes["name"], "level": level, "path": shapes["polygon"]})


def levels_by_area(warnings: pd.DataFrame, code_col: str) -> pd.DataFrame:
    """Per admin code: the highest warning level and the number of warnings per level.

    ``warnings`` needs ``code_col`` and ``level`` (the level in force). Returns ``code``,
    ``level``, ``n_warnings`` and ``n_red`` .. ``n_blue``, one row per code with warnings.
    """
    cols = ["code", "level", "n_warnings", "n_red", "n_orange", "n_yellow", "n_blue"]
    if warnings.empty or code_col not in warnings:
        return pd.DataFrame(columns=cols)
    w = warnings.dropna(subset=[code_col]).assign(_r=lambda f: f["level"].map(LEVEL_RANK))
    w = w.dropna(subset=["_r"])
    if w.empty:
        return pd.DataFrame(columns=cols)
    counts = pd.crosstab(w[code_col], w["level"])
    out = pd.DataFrame(index=counts.index)
    out["n_warnings"] = counts.sum(axis=1)
    for lv in ("red", "orange", "yellow", "blue"):
        out[f"n_{lv}"] = counts[lv] if lv in counts.columns else 0
    top = w.groupby(code_col)["_r"].max()
    out["level"] = top.map({v: k for k, v in LEVEL_RANK.items()})
    return out.rename_axis("code").reset_index()[cols]


def count_words(row: Any, lang: str) -> str:
    """``'红色 2 · 橙色 1'`` / ``'red 2 · orange 1'`` for a :func:`levels_by_area` row."""
    parts = []
    for lv in ("red", "orange", "yellow", "blue"):
        n = int(getattr(row, f"n_{lv}", 0) or 0)
        if n:
            parts.append(t("map_count_level", lang, level=t(f"colour_{lv}", lang), n=n))
    return " · ".join(parts) if parts else t("level_none", lang)


def area_fills(
    shapes: pd.DataFrame,
    by_area: pd.DataFrame,
    names: Mapping[str, str],
    lang: str,
    county_of: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Every township of ``shapes`` filled by its highest level (no warning: neutral).

    Returns ``record_id``, ``polygon``, ``colour`` and the tooltip fields ``place``,
    ``level_label``, ``detail``.
    """
    cols = ["record_id", "polygon", "colour", "place", "level_label", "detail", "level"]
    if shapes.empty:
        return pd.DataFrame(columns=cols)
    top = by_area.set_index("code") if not by_area.empty else pd.DataFrame()
    rows = []
    for s in shapes.itertuples(index=False):
        hit = top.loc[s.record_id] if s.record_id in top.index else None
        level = str(hit["level"]) if hit is not None else "none"
        county = (county_of or {}).get(s.record_id) or s.parent_id
        rows.append(
            {
                "record_id": s.record_id,
                "polygon": s.polygon,
                "colour": rgba(level, AREA_ALPHA if level != "none" else 255),
                "place": _place(county, s.record_id, names, lang),
                "level_label": level_label(level, lang),
                "detail": count_words(hit, lang) if hit is not None else "",
                "level": level,
            }
        )
    return pd.DataFrame(rows, columns=cols)


def _place(county: Any, township: Any, names: Mapping[str, str], lang: str) -> str:
    parts = [
        place_name(names.get(str(c), str(c)), lang)
        for c in (county, township)
        if c is not None and not (isinstance(c, float) and math.isnan(c))
    ]
    return (" " if lang == "zh" else ", ").join(parts) or "—"


# ----------------------------------------------------------------------------- cells


def cell_centres(
    unit_ids: pd.Series, cell_size_m: float, crs: str
) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 centres of cells from their ids (``riskwarn.geo.cell_id``); NaN for other ids."""
    xy = unit_ids.astype(str).str.extract(_CELL_ID).astype(float)
    x = (xy[0].to_numpy() + 0.5) * cell_size_m
    y = (xy[1].to_numpy() + 0.5) * cell_size_m
    ok = np.isfinite(x) & np.isfinite(y)
    lon = np.full(len(x), np.nan)
    lat = np.full(len(x), np.nan)
    if ok.any():
        lon[ok], lat[ok] = unproject(x[ok], y[ok], crs)
    return lon, lat


def cell_polygons(
    cell_x: np.ndarray, cell_y: np.ndarray, cell_size_m: float, crs: str
) -> list[list[list[float]]]:
    """WGS84 rings (lists of ``[lon, lat]``) of square cells, projected back in one call."""
    cx = np.asarray(cell_x, dtype=float)
    cy = np.asarray(cell_y, dtype=float)
    dx = np.array([0, 1, 1, 0, 0], dtype=float)
    dy = np.array([0, 0, 1, 1, 0], dtype=float)
    xs = ((cx[:, None] + dx[None, :]) * cell_size_m).ravel()
    ys = ((cy[:, None] + dy[None, :]) * cell_size_m).ravel()
    lon, lat = unproject(xs, ys, crs)
    ring = np.stack([lon, lat], axis=1).round(5).reshape(len(cx), 5, 2)
    return ring.tolist()


def warned_squares(
    warnings: pd.DataFrame,
    names: Mapping[str, str],
    lang: str,
    *,
    cell_size_m: float,
    crs: str,
    fmt_probability: Any,
) -> pd.DataFrame:
    """One square per warned unit, coloured by the level in force, red drawn last.

    ``warnings`` needs ``warning_id``, ``unit_id``, ``level`` (in force), ``probability``,
    ``county_code``, ``township_code``; cell positions come from the cell id, other units
    from ``lon``/``lat`` columns when present. Returns ``position`` (``[lon, lat]``),
    ``colour``, ``icon``, ``warning_id``, ``unit_id``, ``level`` and the tooltip fields.
    """
    cols = ["position", "colour", "icon", "warning_id", "unit_id", "level", "place",
            "level_label", "detail"]  # fmt: skip
    if warnings.empty:
        return pd.DataFrame(columns=cols)
    w = warnings.copy()
    lon, lat = cell_centres(w["unit_id"], cell_size_m, crs)
    if "lon" in w and "lat" in w:
        lon = np.where(np.isfinite(lon), lon, pd.to_numeric(w["lon"], errors="coerce"))
        lat = np.where(np.isfinite(lat), lat, pd.to_numeric(w["lat"], errors="coerce"))
    w["_lon"], w["_lat"] = lon, lat
    w = w[np.isfinite(w["_lon"]) & np.isfinite(w["_lat"])]
    w = w.assign(_r=w["level"].map(LEVEL_RANK)).sort_values(["_r", "probability"], kind="stable")
    out = pd.DataFrame(
        {
            "position": [
                [round(a, 5), round(b, 5)] for a, b in zip(w["_lon"], w["_lat"], strict=True)
            ],
            "colour": [rgba(lv) for lv in w["level"]],
            "icon": "square",
            "warning_id": w["warning_id"].astype(str),
            "unit_id": w["unit_id"].astype(str),
            "level": w["level"],
            "place": [
                _place(c, tw, names, lang)
                for c, tw in zip(w["county_code"], w["township_code"], strict=True)
            ],
            "level_label": [level_label(lv, lang) for lv in w["level"]],
            "detail": [
                t("map_cell_detail", lang, prob=fmt_probability(p), unit=u)
                for p, u in zip(w["probability"], w["unit_id"], strict=True)
            ],
        }
    )
    return out.reset_index(drop=True)[cols]


def site_points(sites: pd.DataFrame) -> pd.DataFrame:
    """Monitored sites as dots: warned ones larger and in their level's colour, red on top.

    ``sites`` needs ``unit_id``, ``lon``, ``lat``, ``level`` ("none" without a warning) and
    the tooltip fields ``place``, ``level_label``, ``detail``. Returns those with
    ``position``, ``colour`` and ``radius`` (pixels).
    """
    cols = ["position", "colour", "radius", "unit_id", "place", "level_label", "detail"]
    if sites.empty:
        return pd.DataFrame(columns=cols)
    s = sites.dropna(subset=["lon", "lat"])
    s = s.assign(_r=s["level"].map(LEVEL_RANK).fillna(0)).sort_values("_r", kind="stable")
    return pd.DataFrame(
        {
            "position": [
                [round(float(a), 5), round(float(b), 5)]
                for a, b in zip(s["lon"], s["lat"], strict=True)
            ],
            "colour": [rgba(lv) if lv != "none" else [120, 126, 136, 200] for lv in s["level"]],
            "radius": [5 + 1.5 * r for r in s["_r"]],
            "unit_id": s["unit_id"].astype(str),
            "place": s["place"],
            "level_label": s["level_label"],
            "detail": s["detail"],
        }
    ).reset_index(drop=True)[cols]


# ----------------------------------------------------------------------------- the deck


def bounds_of(
    boundaries: pd.DataFrame, squares: pd.DataFrame
) -> tuple[float, float, float, float] | None:
    """(lon0, lat0, lon1, lat1) of the boundaries (else the squares), None if empty."""
    pts = [p for path in boundaries["path"] for p in path] if not boundaries.empty else []
    if not pts and not squares.empty:
        pts = list(squares["position"])
    if not pts:
        return None
    arr = np.asarray(pts, dtype=float)
    lon0, lat0 = arr.min(axis=0)
    lon1, lat1 = arr.max(axis=0)
    return float(lon0), float(lat0), float(lon1), float(lat1)


def _text_layer(data: pd.DataFrame, layer_id: str, **kw: Any) -> pdk.Layer:
    """Names in the CJK-capable font, outlined in white so they read over any fill."""
    props: dict[str, Any] = {
        "get_position": "position",
        "get_text": "text",
        "font_family": literal(LABEL_FONT),
        "font_weight": 600,
        "character_set": literal("auto"),
        "font_settings": {"sdf": True, "buffer": 6},
        "outline_width": 3,
        "outline_color": [255, 255, 255, 235],
        "get_text_anchor": "'middle'",
        "get_alignment_baseline": "'center'",
        "pickable": False,
    }
    return pdk.Layer("TextLayer", data=data, id=layer_id, **{**props, **kw})


def risk_deck(
    fills: pd.DataFrame,
    squares: pd.DataFrame,
    boundaries: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    lang: str,
    width_px: int,
    height_px: int,
    cell_size_m: float,
    tooltip_html: str,
    basemap_url: str | None = None,
    sites: pd.DataFrame | None = None,
    places: pd.DataFrame | None = None,
) -> pdk.Deck:
    """The map: township fills, boundaries, names, scale bar, and the warned squares (or
    site dots) on top of them all: no name covers a warned square (:func:`place_labels`
    leaves none over one, and the squares are drawn last: a name was written over them).

    ``places`` (:mod:`dashboard.map_marks`): the warned hazard sites and dispute cases as
    markers in their level's colour, drawn last, each moved a few pixels off the squares
    it would cover (:func:`place_marks`); no name covers one either.

    Pickable (tooltip and click): the township fills (``area-fills``, by ``record_id``),
    the squares (``warned-cells``, by ``warning_id``), the sites (``sites``, by
    ``unit_id``) and the markers (``warned-places``, by ``unit_id``/``warning_ids``).
    """
    layers: list[pdk.Layer] = []
    if not fills.empty:
        layers.append(
            pdk.Layer(
                "PolygonLayer",
                data=fills.drop(columns=["level"], errors="ignore"),
                id="area-fills",
                get_polygon="polygon",
                get_fill_color="colour",
                stroked=False,
                pickable=True,
                auto_highlight=True,
                highlight_color=[255, 255, 255, 90],
            )
        )
    for level, (colour, width) in BOUNDARY_STYLE.items():
        part = boundaries[boundaries["level"] == level] if not boundaries.empty else boundaries
        if part.empty:
            continue
        layers.append(
            pdk.Layer(
                "PathLayer",
                data=part[["path"]],
                id=f"boundary-{level}",
                get_path="path",
                get_color=colour,
                get_width=0,
                width_min_pixels=width,
                pickable=False,
            )
        )
    bounds = bounds_of(boundaries, squares if sites is None or sites.empty else sites)
    view = view_for(bounds, width_px=width_px, height_px=height_px)
    # names that fit whole at the view, none over a warned square or site
    marks = list(squares["position"]) if not squares.empty else []
    if sites is not None and not sites.empty:
        marks += [p for p, c in zip(sites["position"], sites["colour"], strict=True)
                  if tuple(c[:3]) in _MARK_RGB]  # fmt: skip
    if places is not None and not places.empty:
        # placed the most pressing first (drawing order is the reverse: red last, on top)
        offsets, drawn = place_marks(
            list(places["position"])[::-1],
            view,
            squares=marks,
            square_px=MARK_BOX_PX,
            mark_px=RIM_PX,
        )
        places = places.assign(offset=offsets[::-1])
        marks += [[lon, lat, RIM_PX + 4] for lon, lat in drawn]
    labels = place_labels(labels, view, width_px=width_px, marks=marks, mark_px=MARK_BOX_PX)
    if not labels.empty:
        layers.append(
            _text_layer(
                labels[["text", "position", "size", "colour", "priority"]],
                "place-names",
                get_size="size",
                get_color="colour",
            )
        )
    if bounds is not None:
        bar, bar_text = scale_bar(bounds, view.zoom, lang)
        layers.append(
            pdk.Layer(
                "PathLayer",
                data=bar,
                id="scale-bar",
                get_path="path",
                get_color=[40, 42, 48, 255],
                get_width=0,
                width_min_pixels=2.5,
                pickable=False,
            )
        )
        layers.append(
            _text_layer(
                bar_text,
                "scale-bar-label",
                get_size=13,
                get_color=[40, 42, 48, 255],
                get_text_anchor="'start'",
                get_pixel_offset=[8, 0],
            )
        )
    if not squares.empty:
        common = {
            "icon_atlas": literal(SQUARE_ATLAS),
            "icon_mapping": SQUARE_MAPPING,
            "get_icon": "icon",
            "get_position": "position",
            "size_units": literal("meters"),
            "billboard": False,
        }
        layers.append(  # a white rim, so neighbouring squares stay apart
            pdk.Layer(
                "IconLayer",
                data=squares[["position", "icon"]],
                id="warned-cells-rim",
                get_color=[255, 255, 255, 230],
                get_size=cell_size_m * 1.35,
                size_min_pixels=MIN_SQUARE_PX + 3,
                pickable=False,
                **common,
            )
        )
        layers.append(
            pdk.Layer(
                "IconLayer",
                data=squares.drop(columns=["level"], errors="ignore"),
                id="warned-cells",
                get_color="colour",
                get_size=cell_size_m,
                size_min_pixels=MIN_SQUARE_PX,
                pickable=True,
                **common,
            )
        )
    if sites is not None and not sites.empty:
        layers.append(
            pdk.Layer(
                "ScatterplotLayer",
                data=sites,
                id="sites",
                get_position="position",
                get_fill_color="colour",
                get_radius="radius",
                radius_units=literal("pixels"),
                stroked=True,
                get_line_color=[255, 255, 255, 240],
                line_width_min_pixels=1.5,
                pickable=True,
            )
        )
    if places is not None and not places.empty:
        common = {
            "icon_atlas": literal(PLACE_ATLAS),
            "icon_mapping": PLACE_MAPPING,
            "get_icon": "icon",
            "get_position": "position",
            "get_pixel_offset": "offset",
            "size_units": literal("pixels"),
        }
        layers.append(  # a white rim: the marker reads over a square or a level's fill
            pdk.Layer(
                "IconLayer",
                data=places[["position", "icon", "offset"]],
                id="warned-places-rim",
                get_color=[255, 255, 255, 240],
                get_size=RIM_PX,
                pickable=False,
                **common,
            )
        )
        layers.append(
            pdk.Layer(
                "IconLayer",
                data=places,
                id="warned-places",
                get_color="colour",
                get_size=MARK_PX,
                pickable=True,
                **common,
            )
        )
    return pdk.Deck(
        layers=layers,
        initial_view_state=view,
        map_style=style_url(basemap_url),
        map_provider=None,
        tooltip={"html": tooltip_html, "style": {"fontSize": "13px"}},
    )


def legend_html(
    lang: str,
    *,
    note_key: str = "map_legend_note",
    empty: str | None = None,
    places: str = "",
) -> str:
    """The legend laid over the map's bottom band: each level's colour and "no warning",
    then ``places`` (``map_marks.legend_items``: the marker shapes the map draws).

    ``empty`` (the words "no warning this week" for a map that draws no warned mark)
    heads the legend with that state, so an empty map reads as "nothing warned", not as
    a map that failed to draw.
    """
    items = []
    for lv in ("red", "orange", "yellow", "blue", "none"):
        colour = "#{:02x}{:02x}{:02x}".format(*rgba(lv)[:3])
        border = "#9aa0a8" if lv == "none" else colour
        items.append(
            f'<span class="rw-legend-item"><span class="rw-swatch" '
            f'style="background:{colour};border-color:{border}"></span>'
            f"{level_label(lv, lang)}</span>"
        )
    head = ""
    if empty:
        none = "#{:02x}{:02x}{:02x}".format(*rgba("none")[:3])
        head = (
            '<div class="rw-legend-empty"><span class="rw-swatch" '
            f'style="background:{none};border-color:#9aa0a8"></span>{empty}</div>'
        )
    return (
        '<div class="rw-legend">'
        + head
        + '<div class="rw-legend-items">'
        + "".join(items)
        + places
        + f'</div><div class="rw-legend-note">{t(note_key, lang)}</div></div>'
    )


MARK_LAYERS = (
    "warned-cells",
    "sites",
    "warned-places",
)  # the layers whose marks carry a level colour
_MARK_RGB = {tuple(c) for lv, c in LEVEL_COLOURS.items() if lv != "none"}


def _level_marks(layer: pdk.Layer) -> int:
    """How many rows of ``layer`` are drawn in a warning level's colour."""
    rows = layer.data if isinstance(layer.data, list) else []
    return sum(1 for r in rows if tuple(r.get("colour", ())[:3]) in _MARK_RGB)


class DeckSpec:
    """A pydeck map serialised once, as compact JSON, for ``st.pydeck_chart``.

    ``pydeck.Deck.to_json`` indents by two spaces, which triples the payload of a map with
    thousands of cell polygons; serialising once (and caching the result) also spares the
    rerun the encoding. ``st.pydeck_chart`` only calls ``to_json()`` and reads the
    tooltip, so this stands in for the Deck.
    """

    layers = None  # nothing for Streamlit's per-layer DataFrame workaround to convert

    def __init__(self, deck: pdk.Deck) -> None:
        from pydeck.bindings.json_tools import default_serialize

        #: warned squares and sites in a level's colour (not "no warning"): what a browser
        #: must see drawn before the map is complete (bench/dashboard_screenshots.py waits)
        self.level_marks = sum(
            _level_marks(layer) for layer in deck.layers if layer.id in MARK_LAYERS
        )
        #: the kinds of warned-place markers drawn ("site", "case"): the legend's entries
        self.place_kinds = tuple(
            sorted(
                {
                    str(r.get("kind"))
                    for layer in deck.layers
                    if layer.id == "warned-places" and isinstance(layer.data, list)
                    for r in layer.data
                }
            )
        )

        # what Deck.to_json() writes (pydeck's serialize), without the indentation
        self._json = json.dumps(
            deck, sort_keys=True, default=default_serialize, separators=(",", ":")
        )
        tooltip = getattr(deck, "_tooltip", None)
        self._tooltip = tooltip if isinstance(tooltip, dict) else None

    def to_json(self) -> str:
        """The deck's JSON (compact)."""
        return self._json
