"""The leaders' map: every warned cell drawn and findable, places named, legend, scale, offline."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

pytest.importorskip("streamlit")

from dashboard import map_layout, maps, shell, views
from riskwarn import geo
from testkit.dashboard_demo import admin_units

CRS = "EPSG:32650"


def _warnings(n: int = 40, seed: int = 3) -> pd.DataFrame:
    """Warned cells of the demo city (inside its townships), levels mixed."""
    rng = np.random.default_rng(seed)
    units = admin_units()
    towns = units[units["level"] == "township"]
    rows = []
    for i in range(n):
        t = towns.iloc[i % len(towns)]
        p = shapely.point_on_surface(shapely.from_wkt(t["geometry_wkt"]))
        x, y = geo.project(np.array([p.x]), np.array([p.y]), CRS)
        cx, cy = int(x[0] // 250) + int(rng.integers(-2, 3)), int(y[0] // 250)
        rows.append(
            {
                "warning_id": f"w{i}",
                "unit_id": geo.cell_id(cx, cy),
                "level": ["blue", "yellow", "orange", "red"][i % 4],
                "probability": 0.3 + 0.01 * i,
                "county_code": t["parent_id"],
                "township_code": t["record_id"],
            }
        )
    return pd.DataFrame(rows)


def _deck_json(w: pd.DataFrame, lang: str = "zh") -> dict:
    units = admin_units()
    counties, towns = maps.area_shapes(units, "county"), maps.area_shapes(units, "township")
    names = dict(zip(units["record_id"], units["name"], strict=True))
    by_town = maps.levels_by_area(w, "township_code")
    deck = maps.risk_deck(
        maps.area_fills(towns, by_town, names, lang),
        maps.warned_squares(w, names, lang, cell_size_m=250, crs=CRS, fmt_probability=str),
        pd.concat(
            [maps.boundary_paths(towns, "township"), maps.boundary_paths(counties, "county")]
        ),
        maps.area_labels(counties, towns, by_town, names, lang),
        lang=lang,
        width_px=480,
        height_px=620,
        cell_size_m=250,
        tooltip_html="{place}",
    )
    return json.loads(maps.DeckSpec(deck).to_json())


def test_every_warned_cell_is_a_square_at_its_cell_centre_red_on_top() -> None:
    w = _warnings()
    squares = maps.warned_squares(w, {}, "zh", cell_size_m=250, crs=CRS, fmt_probability=str)
    assert sorted(squares["warning_id"]) == sorted(w["warning_id"])  # none dropped
    xy = w["unit_id"].str.extract(r"c(-?\d+)_(-?\d+)").astype(float).to_numpy()
    lon, lat = geo.unproject((xy[:, 0] + 0.5) * 250, (xy[:, 1] + 0.5) * 250, CRS)
    got = squares.set_index("warning_id").loc[w["warning_id"], "position"].tolist()
    assert np.allclose(np.array(got), np.c_[lon, lat], atol=1e-5)
    ranks = squares["level"].map({"blue": 1, "yellow": 2, "orange": 3, "red": 4}).to_numpy()
    assert (np.diff(ranks) >= 0).all()  # drawn in order: red last, on top
    assert squares["colour"].iloc[-1][:3] == list(maps.LEVEL_COLOURS["red"])


def test_squares_keep_a_minimum_size_on_screen_and_the_deck_fetches_nothing() -> None:
    spec = _deck_json(_warnings())
    layers = {layer["id"]: layer for layer in spec["layers"]}
    cells = layers["warned-cells"]
    assert cells["@@type"] == "IconLayer" and cells["sizeUnits"] == "meters"
    assert cells["sizeMinPixels"] >= 10 and cells["getSize"] == 250
    assert cells["iconAtlas"].startswith("data:image/svg+xml;base64,")  # no icon download
    names = layers["place-names"]
    assert names["characterSet"] == "auto"  # CJK glyphs, not only ASCII
    assert "Noto Sans CJK SC" in names["fontFamily"] and not names["fontFamily"].startswith("@@")
    assert "extensions" not in names  # names placed on the server, drawn whole (place_labels)
    text = json.dumps(spec)
    assert "http://" not in text and "https://" not in text  # nothing fetched, no basemap
    assert spec["mapStyle"].startswith("data:application/json")


def test_townships_are_all_filled_by_their_highest_level_or_no_warning() -> None:
    w = _warnings()
    units = admin_units()
    towns = maps.area_shapes(units, "township")
    by_town = maps.levels_by_area(w, "township_code")
    fills = maps.area_fills(towns, by_town, {}, "zh")
    assert set(fills["record_id"]) == set(units.loc[units["level"] == "township", "record_id"])
    top = w.assign(r=w["level"].map({"blue": 1, "yellow": 2, "orange": 3, "red": 4}))
    expected = top.groupby("township_code")["r"].max()
    got = fills.drop_duplicates("record_id").set_index("record_id")["level"]
    for code, lv in got.items():
        rank = {"none": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}[lv]
        assert rank == expected.get(code, 0)
    assert (fills.loc[fills["level"] == "none", "level_label"] == "无预警").all()
    n = by_town.set_index("code")["n_warnings"]
    assert n.sum() == len(w)


def test_labels_name_every_county_and_each_warned_township_with_its_count() -> None:
    w = _warnings()
    units = admin_units()
    names = dict(zip(units["record_id"], units["name"], strict=True))
    counties, towns = maps.area_shapes(units, "county"), maps.area_shapes(units, "township")
    by_town = maps.levels_by_area(w, "township_code")
    labels = maps.area_labels(counties, towns, by_town, names, "zh")
    county_names = set(units.loc[units["level"] == "county", "name"])
    assert county_names <= set(labels["text"])
    warned = labels[labels["text"].str.contains(r" \d+$")]
    assert len(warned) == by_town["code"].nunique()
    assert (
        warned["priority"].min()
        > labels.loc[~labels.index.isin(warned.index)].query("kind == 'township'")["priority"].max()
    )  # warned townships keep their label when labels collide
    # labels sit inside their area
    for r in labels[labels["kind"] == "county"].itertuples():
        code = units.loc[units["name"] == r.text, "geometry_wkt"].iloc[0]
        assert shapely.from_wkt(code).buffer(1e-6).contains(shapely.Point(r.position))
    en = maps.area_labels(counties, towns, by_town, names, "en")
    assert "Tongcheng City" in set(en["text"])


@pytest.mark.parametrize("span_km", [3.0, 40.0, 130.0, 700.0])
def test_scale_bar_is_a_round_length_drawn_true_to_the_ground(span_km: float) -> None:
    lat0 = 30.0
    lon_span = span_km / (111.32 * math.cos(math.radians(lat0)))
    bounds = (116.0, lat0, 116.0 + lon_span, lat0 + lon_span)
    paths, text = maps.scale_bar(bounds, 9.0, "zh")
    (lon_a, lat_a), (lon_b, lat_b) = paths["path"].iloc[0]
    km = float(text["text"].iloc[0].split()[0])
    assert km in {m * 10**e for m in (1, 2, 5) for e in range(-2, 4)}
    assert span_km / 12 <= km <= span_km / 2
    _, _, metres = Geod(ellps="WGS84").inv(lon_a, lat_a, lon_b, lat_b)
    assert metres / 1000 == pytest.approx(km, rel=0.01)
    assert lat_a > bounds[3]  # above the city, in the band kept free for it
    assert text["text"].iloc[0].endswith("公里")
    assert maps.scale_bar(bounds, 9.0, "en")[1]["text"].iloc[0].endswith(" km")


@pytest.mark.parametrize(("width", "height"), [(470, 620), (900, 620), (880, 700)])
def test_the_whole_city_fits_the_map_above_the_legend_band(width: int, height: int) -> None:
    units = admin_units()
    paths = maps.boundary_paths(maps.area_shapes(units, "county"), "county")
    bounds = maps.bounds_of(paths, pd.DataFrame())
    assert bounds is not None
    view = maps.view_for(bounds, width_px=width, height_px=height)

    def px(lon: float, lat: float) -> tuple[float, float]:
        scale = 512 * 2**view.zoom / (2 * math.pi)
        x = scale * math.radians(lon - view.longitude)
        y = scale * (map_layout._merc(view.latitude) - map_layout._merc(lat))
        return width / 2 + x, height / 2 + y

    x0, y1 = px(bounds[0], bounds[1])
    x1, y0 = px(bounds[2], bounds[3])
    assert 0 <= x0 < x1 <= width
    assert maps.TOP_BAND_PX <= y0 < y1 <= height - maps.BOTTOM_BAND_PX
    assert max(x1 - x0, y1 - y0) >= 0.85 * min(width, height - 102)  # and fills it


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("width", "height"), [(480, 620), (880, 560)])
def test_names_on_the_map_are_drawn_whole_and_warned_townships_win(
    lang: str, width: int, height: int
) -> None:
    """Issue 12 at 800 px: deck.gl's collision filter left overlapping names half drawn
    (the township with the most warnings a ghost under a county's name). The deck now
    carries only names that fit whole at its initial view, warned townships first."""
    w = _warnings()
    units = admin_units()
    counties, towns = maps.area_shapes(units, "county"), maps.area_shapes(units, "township")
    names = dict(zip(units["record_id"], units["name"], strict=True))
    by_town = maps.levels_by_area(w, "township_code")
    labels = maps.area_labels(counties, towns, by_town, names, lang)
    paths = pd.concat(
        [maps.boundary_paths(towns, "township"), maps.boundary_paths(counties, "county")]
    )
    view = maps.view_for(maps.bounds_of(paths, pd.DataFrame()), width_px=width, height_px=height)
    kept = map_layout.place_labels(labels, view)
    assert 0 < len(kept) <= len(labels)
    scale = 512 * 2**view.zoom / (2 * math.pi)
    boxes = []
    for r in kept.itertuples():
        x = scale * math.radians(r.position[0] - view.longitude)
        y = scale * (map_layout._merc(view.latitude) - map_layout._merc(r.position[1]))
        bw, bh = map_layout.text_box_px(r.text, r.size)
        boxes.append((x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2))
    for r in kept.itertuples():  # a shifted name stays within one line of its point
        dy = scale * (
            map_layout._merc(labels.loc[r.Index, "position"][1]) - map_layout._merc(r.position[1])
        )
        assert abs(dy) <= map_layout.text_box_px(r.text, r.size)[1] + 0.5
    for i, a in enumerate(boxes):  # no two kept names touch
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    # a name left out always lost to a higher-priority one; the top one is always kept
    top = labels.loc[labels["priority"].idxmax()]  # the first of the highest
    assert top["text"] in set(kept["text"])
    warned = labels["text"].str.contains(r" \d+$")
    counties = labels["kind"] == "county"
    assert warned.sum() > 0
    assert labels.loc[warned, "priority"].min() > labels.loc[counties, "priority"].max()
    assert labels["priority"].between(-1000, 1000).all()  # deck.gl's collision range
    # the deck draws exactly the kept names, whole (no collision filter to fade them)
    deck = _deck_json(w, lang) if (width, height) == (480, 620) else None
    if deck is not None:  # placed around the warned squares too (test_dashboard_ux_dec7.py)
        squares = maps.warned_squares(w, names, lang, cell_size_m=250, crs=CRS, fmt_probability=str)
        around = map_layout.place_labels(
            labels, view, width_px=width, marks=list(squares["position"]), mark_px=maps.MARK_BOX_PX
        )
        layer = next(x for x in deck["layers"] if x["id"] == "place-names")
        assert sorted(d["text"] for d in layer["data"]) == sorted(around["text"])
        assert "extensions" not in layer


def test_legend_shows_every_level_and_no_warning_in_both_languages() -> None:
    zh = maps.legend_html("zh")
    for word in ("红色（I级）", "橙色（II级）", "黄色（III级）", "蓝色（IV级）", "无预警"):
        assert word in zh
    assert "No warning" in maps.legend_html("en") and "Red (I)" in maps.legend_html("en")


def test_a_click_lists_the_cell_or_township_warnings_ranked() -> None:
    w = _warnings().assign(effective_level=lambda f: f["level"])
    town = w["township_code"].iloc[0]
    got = views.picked_warnings(w, {"record_id": town, "layer": "area-fills"})
    assert set(got["warning_id"]) == set(w.loc[w["township_code"] == town, "warning_id"])
    ranks = got["effective_level"].map({"blue": 1, "yellow": 2, "orange": 3, "red": 4})
    assert ranks.is_monotonic_decreasing
    cell = views.picked_warnings(w, {"unit_id": w["unit_id"].iloc[5], "layer": "warned-cells"})
    assert set(cell["unit_id"]) == {w["unit_id"].iloc[5]}
    assert views.picked_warnings(w, None).empty


def test_the_review_page_opens_the_warning_a_map_link_names() -> None:
    w = _warnings().assign(domain="incidents")
    params = {"warning": "w7"}
    state: dict = {}
    assert views.focus_warning(w, params, state, 1) == "w7"
    assert params == {"warning": "w7"}  # kept: a reload opens it again
    assert state["rv_pick__value"] == "w7"
    assert state["rv_domain__value"] == "incidents"
    assert state["rv_county__value"] == w["county_code"][7] and state["rv_state__value"] is None
    # the reviewer picks another one: the URL follows, and is not applied over the choice
    state["rv_pick__value"] = "w3"
    views.keep_warning_in_url("w3", params, state)
    assert params == {"warning": "w3"}
    assert views.focus_warning(w, params, state, 1) is None and state["rv_pick__value"] == "w3"
    # a new session (a reload) with that URL opens w3
    assert views.focus_warning(w, params, {}, 1) == "w3"
    views.keep_warning_in_url(None, params, state)
    assert params == {}
    unknown = {"warning": "nope"}
    assert views.focus_warning(w, unknown, {}, 1) is None and unknown == {}


def test_an_address_lagging_the_pick_does_not_reopen_the_warning_picked_before() -> None:
    """CI of 2026-12-07 (the picker race's browser walk, failed twice under load): w7
    picked, w3 picked and Chinese clicked at once. The run of w3's pick put ``?warning=w3``
    in the address, but the browser sent the language click before that arrived, with
    ``?warning=w7``: the old page took it for a new link and reopened w7. Within one visit
    of the page the address is the page's own; a link (a new visit) still opens."""
    w = _warnings().assign(domain="incidents")
    state: dict = {}
    shell.count_visit(state, "warnings")
    visit = shell.count_visit(state, "warnings")
    assert visit == 1  # reruns on the page are one visit
    assert views.focus_warning(w, {"warning": "w7"}, state, visit) == "w7"
    views.keep_warning_in_url("w7", {"warning": "w7"}, state)
    state["rv_pick__value"] = "w3"  # picked (the widget's on_change)
    views.keep_warning_in_url("w3", {"warning": "w7"}, state)  # the run that picked it
    lagging = {"warning": "w7"}  # the language click, sent with the address before
    assert views.focus_warning(w, lagging, state, visit) is None
    assert state["rv_pick__value"] == "w3"
    # the overview, then its link to w7: a new visit, and w7 opens
    shell.count_visit(state, "overview")
    visit = shell.count_visit(state, "warnings")
    assert visit == 3
    assert views.focus_warning(w, {"warning": "w7"}, state, visit) == "w7"
    assert state["rv_pick__value"] == "w7"


def test_site_why_names_the_model_the_sensor_rule_or_the_fault() -> None:
    hold = (0.015, 0.06, 0.20, 0.40)
    sensors = [
        {"sensor_id": "G1", "status": "ok", "tangent_angle_deg": 78.3, "velocity_mm_per_day": 44},
        {"sensor_id": "G2", "status": "ok", "tangent_angle_deg": 10.0, "velocity_mm_per_day": 1},
    ]
    assert views.site_why("orange", 0.25, {"sensors": sensors}, hold)[0] == "model"
    kind, facts = views.site_why("yellow", 0.0017, {"sensors": sensors}, hold)
    assert kind == "sensor_rule" and facts["sensor"] == "G1"
    assert "78°" in views.site_why_words(kind, facts, "zh")
    dead = {"sensor_health": "dead", "sensors": [{"sensor_id": "S9", "status": "dead"}]}
    kind, facts = views.site_why("blue", 0.001, dead, hold)
    assert kind == "sensor_health" and "S9 无数据" in views.site_why_words(kind, facts, "zh")
    assert views.site_why("red", None, {}, hold)[0] == "rules_only"
    assert views.site_why(None, 0.001, {}, hold)[0] == "none"
    assert views.site_why("red", 0.9, {}, hold, reviewed_level="orange")[0] == "review"
