"""Warned places on the overview's hotspot maps: monitored hazard sites and dispute cases.

A leader reads the overview's maps for "where is risk this week"; the hotspot cells alone
left out the monitored hazard sites with a warning in force and the dispute cases warned
of escalation. Both are drawn over the cells as markers in the level's colour:

* a **site** as a triangle at the site, coloured by the level it is served at now (the
  model's warning or the real-time stream's, whichever is higher: the geohazard page's
  ``queries.site_table``); sites without a warning are not drawn here;
* **dispute cases** as a diamond per area: a case's point is an address, so, as on the
  review page and in the exports, it is shown only to its 1 km square of the city grid
  (``riskwarn.geo.case_squares``), or, without a point, at its township's label point.
  Several warned cases in one area make one diamond in the highest level, its tooltip
  counting them per level. No party's name, phone or id reaches the map; the case
  numbers travel only in ``warning_ids`` (for the click: the warnings review lists them).

``map_layout.place_marks`` moves a marker a few pixels off the warned squares it would
cover (a pixel offset: zoomed in it returns to its place), and the names keep off the
markers as they keep off the squares.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from dashboard.i18n import LEVEL_COLOURS, LEVEL_RANK, fmt_int, level_label, t

MARK_PX = 18  # a place marker's side on screen (the squares' is 10)
RIM_PX = MARK_PX + 5  # with its white rim
SHAPE_INK = "#3c4049"  # the legend's shapes (their colour there is no level's)

# one atlas, a white triangle and a white diamond (mask: coloured per row)
_ATLAS_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="64">'
    '<polygon points="32,3 61,58 3,58" fill="#fff"/>'
    '<polygon points="96,2 126,32 96,62 66,32" fill="#fff"/></svg>'
)
PLACE_ATLAS = "data:image/svg+xml;base64," + base64.b64encode(_ATLAS_SVG.encode()).decode()
PLACE_MAPPING = {
    "site": {"x": 0, "y": 0, "width": 64, "height": 64, "mask": True},
    "case": {"x": 64, "y": 0, "width": 64, "height": 64, "mask": True},
}
SHAPE_SVG = {  # the legend's swatches of the two shapes
    "site": '<polygon points="7,1 13,13 1,13"/>',
    "case": '<polygon points="7,0 14,7 7,14 0,7"/>',
}

COLUMNS = ["position", "colour", "icon", "kind", "level", "unit_id", "warning_ids", "place",
           "level_label", "detail"]  # fmt: skip


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS)


def site_marks(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """One triangle per site with a warning in force, in its served level's colour.

    ``table``: ``queries.site_table`` rows (``unit_id``, ``name``, ``place``, ``lon``,
    ``lat``, ``level``, ``level_label``, ``detail``); sites at "none" are left out.
    Returns :data:`COLUMNS`.
    """
    if table.empty:
        return _empty()
    s = table[table["level"].isin(list(LEVEL_RANK))].dropna(subset=["lon", "lat"])
    if s.empty:
        return _empty()
    return pd.DataFrame(
        {
            "position": [
                [round(float(a), 5), round(float(b), 5)]
                for a, b in zip(s["lon"], s["lat"], strict=True)
            ],
            "colour": [[*LEVEL_COLOURS[lv], 255] for lv in s["level"]],
            "icon": "site",
            "kind": "site",
            "level": s["level"].astype(str),
            "unit_id": s["unit_id"].astype(str),
            "warning_ids": "",
            "place": [f"{n} · {p}" for n, p in zip(s["name"], s["place"], strict=True)],
            "level_label": [level_label(lv, lang) for lv in s["level"]],
            "detail": [t("map_mark_site", lang, why=d) for d in s["detail"]],
        }
    )[COLUMNS]


def case_marks(
    warnings: pd.DataFrame,
    forecasts: pd.DataFrame,
    townships: pd.DataFrame,
    names: Mapping[str, str],
    lang: str,
    *,
    crs: str,
) -> pd.DataFrame:
    """One diamond per area holding warned dispute cases, in the highest level there.

    ``warnings``: the case domain's warnings in force with ``effective_level`` (dismissed
    ones dropped: ``views.effective_level``), ``warning_id``, ``unit_id``,
    ``county_code``, ``township_code``; ``forecasts``: the run's forecast rows (their
    ``lon``/``lat``, a case's address point, when present); ``townships``:
    ``maps.area_shapes`` rows (their label points, for a case without a point).
    A case is placed at the centre of its 1 km square (``riskwarn.geo.case_squares``),
    else at its township's label point, else left out; its own point is never returned.
    Returns :data:`COLUMNS` (``unit_id``: the area's key, not a case's).
    """
    from dashboard.views import place_words
    from riskwarn.geo import case_squares

    if warnings.empty or "effective_level" not in warnings:
        return _empty()
    w = warnings[warnings["effective_level"].isin(list(LEVEL_RANK))].copy()
    if w.empty:
        return _empty()
    w["unit_id"] = w["unit_id"].astype(str)
    lon = pd.Series(np.nan, index=w.index)
    lat = pd.Series(np.nan, index=w.index)
    area = pd.Series("", index=w.index)
    if not forecasts.empty and {"lon", "lat"} <= set(forecasts.columns):
        pts = forecasts.assign(unit_id=forecasts["unit_id"].astype(str))
        pts = pts.drop_duplicates("unit_id").set_index("unit_id")[["lon", "lat"]]
        got = pts.reindex(w["unit_id"]).apply(pd.to_numeric, errors="coerce")
        ok = (got["lon"].notna() & got["lat"].notna()).to_numpy()
        if ok.any():
            bx, by, clon, clat = case_squares(
                got["lon"].to_numpy()[ok], got["lat"].to_numpy()[ok], crs
            )
            idx = w.index[ok]
            lon[idx], lat[idx] = clon, clat
            area[idx] = [f"k{int(a)}_{int(b)}" for a, b in zip(bx, by, strict=True)]
    if not townships.empty:
        label = townships.sort_values("area", ascending=False).drop_duplicates("record_id")
        label = label.set_index("record_id")
        miss = lon.isna() & w["township_code"].astype(str).isin(label.index)
        codes = w.loc[miss, "township_code"].astype(str)
        lon[miss] = label.loc[codes, "label_lon"].to_numpy()
        lat[miss] = label.loc[codes, "label_lat"].to_numpy()
        area[miss] = "t" + codes
    w = w.assign(_lon=lon, _lat=lat, _area=area)
    w = w[w["_lon"].notna() & w["_lat"].notna()]
    if w.empty:
        return _empty()
    w["_r"] = w["effective_level"].map(LEVEL_RANK)
    rows = []
    for key, g in w.groupby("_area", sort=False):
        g = g.sort_values(["_r", "probability"], ascending=False, kind="stable")
        top = str(g["effective_level"].iloc[0])
        counts = g["effective_level"].value_counts()
        per_level = " · ".join(
            t("map_count_level", lang, level=t(f"colour_{lv}", lang), n=int(counts[lv]))
            for lv in ("red", "orange", "yellow", "blue")
            if lv in counts
        )
        first = g.iloc[0]
        rows.append(
            {
                "position": [round(float(first["_lon"]), 5), round(float(first["_lat"]), 5)],
                "colour": [*LEVEL_COLOURS[top], 255],
                "icon": "case",
                "kind": "case",
                "level": top,
                "unit_id": str(key),
                "warning_ids": ",".join(g["warning_id"].astype(str)),
                "place": place_words(first["county_code"], first["township_code"], names, lang),
                "level_label": level_label(top, lang),
                "detail": t(
                    "map_mark_cases_square" if str(key).startswith("k") else "map_mark_cases_town",
                    lang,
                    n=fmt_int(len(g), lang),
                    counts=per_level,
                ),
                "_r": LEVEL_RANK[top],
            }
        )
    out = pd.DataFrame(rows).sort_values("_r", kind="stable").drop(columns="_r")
    return out.reset_index(drop=True)[COLUMNS]


def place_marks(*frames: pd.DataFrame) -> pd.DataFrame:
    """Site and case markers together, in drawing order: red last (on top)."""
    parts = [f for f in frames if not f.empty]
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    order = out["level"].map(LEVEL_RANK).fillna(0)
    return (
        out.assign(_r=order)
        .sort_values("_r", kind="stable")
        .drop(columns="_r")
        .reset_index(drop=True)
    )


def legend_items(kinds: Any, lang: str) -> str:
    """The legend's entries of the marker shapes drawn (``kinds``: "site", "case")."""
    items = []
    for kind in ("site", "case"):
        if kind in kinds:
            items.append(
                '<span class="rw-legend-item"><svg class="rw-shape" width="14" height="14" '
                f'viewBox="0 0 14 14" fill="{SHAPE_INK}">{SHAPE_SVG[kind]}</svg>'
                f"{t(f'map_legend_{kind}', lang)}</span>"
            )
    return "".join(items)
