"""Offline maps: forecast cells coloured by warning level over county/township boundaries.

No basemap tiles are downloaded: the deck has no map style, the geography comes from the
lake's ``admin_units`` boundaries drawn as lines. An intranet tile server can be added
with ``RISKWARN_TILE_URL`` (``https://tiles.example/{z}/{x}/{y}.png``) as a raster source
of the map style.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from shapely import wkt as shapely_wkt

from riskwarn.dashboard.i18n import LEVEL_COLOURS
from riskwarn.geo import unproject

BOUNDARY_STYLE: dict[str, tuple[list[int], float]] = {
    # admin level -> (RGBA line colour, width in pixels)
    "county": ([60, 64, 72, 230], 2.2),
    "township": ([120, 126, 136, 140], 0.8),
}


def offline_style(basemap_url: str | None = None) -> dict[str, Any]:
    """A MapLibre style that needs no network: a plain background, plus the intranet raster
    tiles when ``basemap_url`` is given. (With no style at all, Streamlit would fall back
    to an internet basemap.)"""
    style: dict[str, Any] = {
        "version": 8,
        "sources": {},
        "layers": [
            {"id": "background", "type": "background", "paint": {"background-color": "#eef1f4"}}
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


def map_cells(
    forecasts: pd.DataFrame,
    warnings: pd.DataFrame,
    *,
    cell_size_m: float,
    crs: str,
    max_cells: int = 4000,
) -> pd.DataFrame:
    """Cells to draw: the ``max_cells`` riskiest forecast cells with their warning level.

    Returns ``unit_id``, ``polygon``, ``colour`` (RGBA), ``level``, ``probability``,
    ``county_code``, ``township_code``. Cells without a warning are drawn pale grey.
    """
    cells = forecasts.dropna(subset=["cell_x", "cell_y"]).nsmallest(max_cells, "rank")
    if cells.empty:
        return pd.DataFrame(columns=["unit_id", "polygon", "colour", "level", "probability"])
    level = (
        warnings.sort_values("level_rank")
        .drop_duplicates("unit_id", keep="last")
        .set_index("unit_id")["level"]
        if not warnings.empty
        else pd.Series(dtype=object)
    )
    out = cells[["unit_id", "probability", "score", "county_code", "township_code"]].copy()
    out["level"] = out["unit_id"].map(level).fillna("none")
    alpha = np.where(out["level"] == "none", 70, 200)
    out["colour"] = [
        [*LEVEL_COLOURS[lv], int(a)] for lv, a in zip(out["level"], alpha, strict=True)
    ]
    out["polygon"] = cell_polygons(
        cells["cell_x"].to_numpy(), cells["cell_y"].to_numpy(), cell_size_m, crs
    )
    # draw warned cells last so they sit on top
    order = out["level"].map({"none": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4})
    return out.assign(_o=order).sort_values("_o").drop(columns="_o").reset_index(drop=True)


def boundary_paths(
    admin_units: pd.DataFrame, levels: tuple[str, ...] = ("county", "township")
) -> pd.DataFrame:
    """Boundary lines of admin units: ``name``, ``level``, ``path`` (list of ``[lon, lat]``).

    Polygons and multipolygons become one path per exterior ring, simplified to ~50 m.
    """
    rows: list[dict[str, Any]] = []
    if admin_units.empty or "geometry_wkt" not in admin_units:
        return pd.DataFrame(columns=["name", "level", "path"])
    units = admin_units[admin_units["level"].isin(levels) & admin_units["geometry_wkt"].notna()]
    for name, level, text in zip(units["name"], units["level"], units["geometry_wkt"], strict=True):
        geom = shapely.simplify(shapely_wkt.loads(text), 0.0005, preserve_topology=True)
        parts = getattr(geom, "geoms", [geom])
        for part in parts:
            ring = getattr(part, "exterior", part)
            coords = np.asarray(ring.coords)[:, :2].round(5).tolist()
            rows.append({"name": name, "level": level, "path": coords})
    return pd.DataFrame(rows, columns=["name", "level", "path"])


def area_fills(
    admin_units: pd.DataFrame, warnings: pd.DataFrame, level: str = "township"
) -> pd.DataFrame:
    """Admin areas filled by the highest warning level inside them (pale, for orientation).

    ``warnings`` needs ``township_code`` (or ``county_code``) and ``level``. Returns
    ``name``, ``polygon`` (exterior ring) and ``colour`` (RGBA), only for areas with warnings.
    """
    code_col = "township_code" if level == "township" else "county_code"
    if admin_units.empty or warnings.empty or code_col not in warnings:
        return pd.DataFrame(columns=["name", "polygon", "colour"])
    rank = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
    top = warnings.assign(_r=warnings["level"].map(rank)).groupby(code_col)["_r"].max()
    names = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
    units = admin_units[(admin_units["level"] == level) & admin_units["record_id"].isin(top.index)]
    rows = []
    for code, name, text in zip(
        units["record_id"], units["name"], units["geometry_wkt"], strict=True
    ):
        geom = shapely.simplify(shapely_wkt.loads(text), 0.0005, preserve_topology=True)
        colour = [*LEVEL_COLOURS[names[int(top[code])]], 45]
        for part in getattr(geom, "geoms", [geom]):
            ring = np.asarray(part.exterior.coords)[:, :2].round(5).tolist()
            rows.append({"name": name, "polygon": ring, "colour": colour})
    return pd.DataFrame(rows, columns=["name", "polygon", "colour"])


def view_for(cells: pd.DataFrame, boundaries: pd.DataFrame) -> pdk.ViewState:
    """A view that frames the boundaries (or the cells when there are none)."""
    pts: list[list[float]] = []
    if not boundaries.empty:
        pts = [p for path in boundaries["path"] for p in path]
    elif not cells.empty:
        pts = [p for poly in cells["polygon"] for p in poly]
    if not pts:
        return pdk.ViewState(latitude=30.5, longitude=116.8, zoom=8)
    arr = np.asarray(pts, dtype=float)
    lon0, lat0 = arr.min(axis=0)
    lon1, lat1 = arr.max(axis=0)
    span = max(lon1 - lon0, (lat1 - lat0) * 1.3, 1e-3)
    zoom = float(np.clip(np.log2(330.0 / span), 3, 16))
    return pdk.ViewState(
        latitude=(lat0 + lat1) / 2, longitude=(lon0 + lon1) / 2, zoom=zoom, pitch=0
    )


def risk_deck(
    cells: pd.DataFrame,
    boundaries: pd.DataFrame,
    *,
    tooltip_html: str,
    fills: pd.DataFrame | None = None,
    basemap_url: str | None = None,
) -> pdk.Deck:
    """The pydeck map: offline style (optional intranet tiles), cells by level, boundaries."""
    keep = [c for c in ("polygon", "colour", "place", "level_label", "prob") if c in cells]
    cells = cells.assign(level=cells["level"]).loc[:, [*keep, "level"]] if len(cells) else cells
    layers: list[pdk.Layer] = []
    if fills is not None and not fills.empty:
        layers.append(
            pdk.Layer(
                "PolygonLayer",
                data=fills,
                id="area-fills",
                get_polygon="polygon",
                get_fill_color="colour",
                stroked=False,
                pickable=False,
            )
        )
    layers.append(
        pdk.Layer(
            "PolygonLayer",
            data=cells,
            id="cells",
            get_polygon="polygon",
            get_fill_color="colour",
            get_line_color=[255, 255, 255, 90],
            line_width_min_pixels=0.3,
            stroked=True,
            filled=True,
            pickable=True,
        )
    )
    warned = cells[cells["level"] != "none"] if not cells.empty else cells
    if not warned.empty:
        # warned cells also as dots with a minimum size, so they show at city scale
        layers.append(
            pdk.Layer(
                "ScatterplotLayer",
                data=warned.assign(centre=[p[0] for p in warned["polygon"]]).drop(
                    columns=["polygon", "level"]
                ),
                id="warned-cells",
                get_position="centre",
                get_fill_color="colour",
                get_line_color=[255, 255, 255, 220],
                get_radius=125,
                radius_min_pixels=3.5,
                line_width_min_pixels=0.6,
                stroked=True,
                pickable=True,
            )
        )
    for level, (colour, width) in BOUNDARY_STYLE.items():
        part = boundaries[boundaries["level"] == level] if not boundaries.empty else boundaries
        if part.empty:
            continue
        layers.append(
            pdk.Layer(
                "PathLayer",
                data=part,
                id=f"boundary-{level}",
                get_path="path",
                get_color=colour,
                get_width=0,
                width_min_pixels=width,
                pickable=False,
            )
        )
    return pdk.Deck(
        layers=layers,
        initial_view_state=view_for(cells, boundaries),
        map_style=style_url(basemap_url),
        map_provider=None,
        tooltip={"html": tooltip_html, "style": {"fontSize": "13px"}},
    )


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

        # what Deck.to_json() writes (pydeck's serialize), without the indentation
        self._json = json.dumps(
            deck, sort_keys=True, default=default_serialize, separators=(",", ":")
        )
        tooltip = getattr(deck, "_tooltip", None)
        self._tooltip = tooltip if isinstance(tooltip, dict) else None

    def to_json(self) -> str:
        """The deck's JSON (compact)."""
        return self._json
