"""The overview's hotspot maps draw the warned hazard sites and dispute cases.

A leader looking at "where is risk this week" saw the incident and dispute hotspot cells
only: the monitored sites with a warning in force and the dispute cases warned of
escalation were on other pages. Now each map draws the warned sites (triangles, in the
level they are served at now) and the disputes map the warned cases (diamonds, by area:
a case's 1 km square, or its township; never its point), off the warned squares and under
no name, with a legend entry. Tests of the data the map gets; the browser test is
tests/test_dashboard_map_places_browser.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")

from dashboard import map_marks, maps, queries, views
from dashboard.map_layout import _merc, text_box_px
from riskwarn import geo
from testkit.dashboard_demo import admin_units, demo_home

CRS = "EPSG:32650"
TODAY = pd.Timestamp("2026-03-04 02:00", tz="UTC")  # a replay: its warnings stay in force


def test_site_marks_are_the_warned_sites_in_their_level_red_drawn_last() -> None:
    table = pd.DataFrame(
        {
            "unit_id": ["S1", "S2", "S3", "S4"],
            "name": ["A", "B", "C", "D"],
            "place": ["p"] * 4,
            "lon": [116.3, 116.4, 116.5, 116.6],
            "lat": [30.9, 30.8, 30.7, 30.6],
            "level": ["red", "none", "blue", "orange"],
            "level_label": ["r", "n", "b", "o"],
            "detail": ["why"] * 4,
        }
    )
    marks = map_marks.place_marks(map_marks.site_marks(table, "en"))
    assert list(marks["unit_id"]) == ["S3", "S4", "S1"]  # no "none"; red last, on top
    assert [c[:3] for c in marks["colour"]] == [
        list(maps.LEVEL_COLOURS[lv]) for lv in ("blue", "orange", "red")
    ]
    assert set(marks["icon"]) == {"site"}
    assert marks["detail"].iloc[0] == "Geohazard site: why"


def _case_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    units = admin_units()
    towns = maps.area_shapes(units, "township")
    t0 = towns.iloc[0]
    # two cases 100 m apart (one 1 km square), one 20 km away, one with no point
    x, y = geo.project(np.array([t0["label_lon"]]), np.array([t0["label_lat"]]), CRS)
    x0 = (x[0] // 1000) * 1000 + 400
    y0 = (y[0] // 1000) * 1000 + 400
    lon, lat = geo.unproject(
        np.array([x0, x0 + 100, x0 + 20_000]), np.array([y0, y0 + 100, y0]), CRS
    )
    forecasts = pd.DataFrame(
        {
            "unit_id": ["MD1", "MD2", "MD3", "MD4", "MD5"],
            "lon": [*lon, None, 116.5],
            "lat": [*lat, None, 30.5],
        }
    )
    warnings = pd.DataFrame(
        {
            "warning_id": ["w1", "w2", "w3", "w4", "w5"],
            "unit_id": ["MD1", "MD2", "MD3", "MD4", "MD5"],
            "level": ["orange", "red", "blue", "yellow", "red"],
            "state": ["new", "new", "new", "new", "dismissed"],
            "reviewed_level": [None] * 5,
            "probability": [0.6, 0.9, 0.4, 0.5, 0.95],
            "county_code": [t0["parent_id"]] * 5,
            "township_code": [t0["record_id"]] * 5,
        }
    )
    return views.effective_level(warnings), forecasts, towns


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_case_marks_show_an_area_never_a_case_point(lang: str) -> None:
    warnings, forecasts, towns = _case_frames()
    names = dict(zip(towns["record_id"], towns["name"], strict=True))
    marks = map_marks.case_marks(warnings, forecasts, towns, names, lang, crs=CRS)
    assert list(marks.columns) == map_marks.COLUMNS
    assert len(marks) == 3  # MD1+MD2 in one square, MD3, MD4 at its township; MD5 dismissed
    both = marks[marks["warning_ids"] == "w2,w1"].iloc[0]  # the red one first
    assert both["level"] == "red" and both["colour"][:3] == list(maps.LEVEL_COLOURS["red"])
    _, _, clon, clat = geo.case_squares(forecasts["lon"][:2], forecasts["lat"][:2], CRS)
    assert both["position"] == [clon[0], clat[0]]  # the square's centre, to 2 decimals
    points = {
        (round(a, 5), round(b, 5)) for a, b in zip(forecasts["lon"], forecasts["lat"], strict=True)
    }
    assert not {tuple(p) for p in marks["position"]} & points  # no case's own point
    assert ("red 1" if lang == "en" else "红色 1") in both["detail"].replace(":", "")
    town = marks[marks["warning_ids"] == "w4"].iloc[0]
    t0 = towns.iloc[0]
    assert town["position"] == [t0["label_lon"], t0["label_lat"]]
    assert "township" in town["detail"] or "乡镇" in town["detail"]
    assert "MD" not in " ".join(marks["place"] + marks["detail"] + marks["unit_id"])
    assert "w5" not in ",".join(marks["warning_ids"])


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo home whose red site's warning a reviewer adjusted to yellow."""
    home = tmp_path_factory.mktemp("places") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=40, today=TODAY)
    table = sa.table(
        "warnings",
        sa.column("warning_id"),
        sa.column("domain"),
        sa.column("level"),
        sa.column("state"),
        sa.column("reviewed_level"),
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(table)
            .where((table.c.domain == "geohazard") & (table.c.level == "red"))
            .values(state="adjusted", reviewed_level="yellow")
        )
    engine.dispose()
    return {"home": home, "url": city.store_url}


def overview_deck(city: dict[str, Any], domain: str, lang: str, width: int) -> dict[str, Any]:
    import streamlit as st

    st.cache_data.clear()
    snap = queries.snapshot(city["url"])
    deck = queries.overview_map(
        city["url"],
        snap,
        str(Path(city["home"]) / "lake"),
        domain,
        lang,
        CRS,
        250.0,
        None,
        queries.run_key(snap, domain),
        "k",
        width_px=width,
        height_px=620,
        places_key=queries.places_key(snap),
    )
    out: dict[str, Any] = json.loads(deck.to_json())
    out["place_kinds"], out["level_marks"] = deck.place_kinds, deck.level_marks
    return out


def screen_px(view: dict[str, float], lon: float, lat: float) -> tuple[float, float]:
    """Pixels of ``lon``, ``lat`` from the centre of a map at ``view`` (Web Mercator)."""
    scale = 512 * 2 ** view["zoom"] / (2 * math.pi)
    x = (math.radians(lon) - math.radians(view["longitude"])) * scale
    return x, (_merc(view["latitude"]) - _merc(lat)) * scale


def _served(city: dict[str, Any], domain: str) -> dict[str, str]:
    snap = queries.snapshot(city["url"])
    w = views.effective_level(queries.warnings(snap, domain=domain))
    return dict(zip(w["unit_id"].astype(str), w["effective_level"], strict=True))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_overview_map_gets_the_warned_sites_at_their_served_level(
    city: dict[str, Any], lang: str
) -> None:
    served = _served(city, "geohazard")
    assert sorted(served.values()) == ["blue", "orange", "yellow", "yellow"]  # red adjusted
    for domain in queries.DOMAINS_HOTSPOT:
        d = overview_deck(city, domain, lang, 480)
        layers = {layer["id"]: layer for layer in d["layers"]}
        rows = layers["warned-places"]["data"]
        sites = {r["unit_id"]: r["level"] for r in rows if r["kind"] == "site"}
        assert sites == served, domain  # each warned site once, in the level served now
        for r in rows:
            assert r["colour"][:3] == list(maps.LEVEL_COLOURS[r["level"]])
        assert layers["warned-places-rim"]["data"]  # the white rim under them
        assert d["level_marks"] == len(layers["warned-cells"]["data"]) + len(rows)
        kinds = ("case", "site") if queries.draws_cases(domain) else ("site",)
        assert d["place_kinds"] == kinds
        # drawn last, above the squares and every name
        assert [x["id"] for x in d["layers"]][-2:] == ["warned-places-rim", "warned-places"]


def test_the_disputes_map_gets_every_warned_case_by_area(city: dict[str, Any]) -> None:
    served = _served(city, queries.CASE_DOMAIN)
    assert served
    d = overview_deck(city, "disputes", "en", 480)
    rows = [r for r in {x["id"]: x for x in d["layers"]}["warned-places"]["data"]]
    cases = [r for r in rows if r["kind"] == "case"]
    snap = queries.snapshot(city["url"])
    w = queries.warnings(snap, domain=queries.CASE_DOMAIN).set_index("warning_id")
    shown = [i for r in cases for i in r["warning_ids"].split(",")]
    assert sorted(w.loc[shown, "unit_id"]) == sorted(served)  # every warned case, once
    for r in cases:  # an area's marker is in the highest level of its cases
        levels = w.loc[r["warning_ids"].split(","), "level"]
        assert r["level"] == max(levels, key=lambda lv: maps.LEVEL_RANK[lv])
    assert not any(r["kind"] == "case" for r in _rows(city, "incidents"))


def _rows(city: dict[str, Any], domain: str) -> list[dict[str, Any]]:
    d = overview_deck(city, domain, "en", 480)
    return list({x["id"]: x for x in d["layers"]}["warned-places"]["data"])


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("width", [358, 480])  # a phone's fit and a desktop's
def test_markers_cover_no_warned_square_and_no_name_covers_a_marker(
    city: dict[str, Any], lang: str, width: int
) -> None:
    for domain in queries.DOMAINS_HOTSPOT:
        d = overview_deck(city, domain, lang, width)
        v = d["initialViewState"]

        def px(lon: float, lat: float, v: dict[str, float] = v) -> tuple[float, float]:
            return screen_px(v, lon, lat)

        layers = {layer["id"]: layer for layer in d["layers"]}
        squares = [px(*r["position"]) for r in layers["warned-cells"]["data"]]
        marks = []
        for r in layers["warned-places"]["data"]:
            x, y = px(*r["position"])
            marks.append((x + r["offset"][0], y + r["offset"][1]))
        sq, mk = (maps.MIN_SQUARE_PX + 3) / 2, map_marks.RIM_PX / 2
        for mx, my in marks:
            assert not [s for s in squares if abs(s[0] - mx) < sq + mk and abs(s[1] - my) < sq + mk]
        for i, (ax, ay) in enumerate(marks):  # nor one another
            for bx, by in marks[i + 1 :]:
                assert abs(ax - bx) >= 2 * mk or abs(ay - by) >= 2 * mk, (domain, ax, ay)
        for r in layers["place-names"]["data"]:
            x, y = px(*r["position"])
            w, h = text_box_px(r["text"], r["size"])
            for mx, my in marks:  # the name's glyphs: its box less the outline
                assert not (abs(mx - x) < w / 2 - 3 + mk and abs(my - y) < h / 2 - 3 + mk), (
                    domain,
                    r["text"],
                )


@pytest.mark.parametrize(
    ("lang", "site", "case"),
    [("en", "Warned hazard site", "Warned dispute cases"), ("zh", "预警隐患点", "预警纠纷案件")],
)
def test_the_legend_names_the_markers_drawn(lang: str, site: str, case: str) -> None:
    both = maps.legend_html(lang, places=map_marks.legend_items(("case", "site"), lang))
    assert site in both and case in both and both.count("rw-shape") == 2
    one = maps.legend_html(lang, places=map_marks.legend_items(("site",), lang))
    assert site in one and case not in one
    assert "rw-shape" not in maps.legend_html(lang)
