"""Dispute cases on the dashboard: never their exact location (AppTest, demo store).

A dispute case's centre is an address: "29.8878 N, 116.2747 E" is about 10 m, one
household. The review page shows a case only to its 1 km square of the city grid
(caption and locator map), never its coordinates; cells and sites keep theirs
(docs/dashboard.md, "Privacy of dispute cases"). Also here: the overview's "Places to
watch" lines say nothing about a trend a place does not have (they ended "· —").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, queries, review
from riskwarn.settings import load_settings
from riskwarn.store import Store
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("privacy") / "home"
    city = demo_home(home, n_cells=300, weeks=1, n_cases=40)
    # the demo's case forecasts carry no location; the scoring pipeline copies each
    # case's lon/lat into its forecast (riskwarn/scoring.py): give them one, in the city
    # (beside a cell centre, to the 6 decimals a geocoded address has)
    store = Store(city.store_url)
    with store.engine.begin() as con:
        lon0, lat0 = con.exec_driver_sql(
            "SELECT lon, lat FROM forecasts WHERE lon IS NOT NULL LIMIT 1"
        ).one()
        con.exec_driver_sql(
            "UPDATE forecasts SET lon = ? + 0.0012347 * (rank % 7), "
            "lat = ? + 0.0009871 * (rank % 5) WHERE unit_type = 'case'",
            (float(lon0), float(lat0)),
        )
    store.close()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def _app(lang: str, role: str = "reviewer") -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    r, name = auth.DEMO_USERS[role]
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["user"] = auth.User(username=role, name=name, role=r)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _select(at: AppTest, key: str) -> Any:
    found = [w for w in at.selectbox if str(w.key).startswith(key)]
    assert len(found) == 1, [w.key for w in at.selectbox]
    return found[0]


def _page_text(at: AppTest) -> str:
    """Every text of the page a browser gets: Markdown, captions, notes, tables, maps."""
    parts = [
        str(e.value) for kind in ("markdown", "caption", "info", "warning") for e in at.get(kind)
    ]
    parts += [str(df.value.to_csv()) for df in at.dataframe]
    parts += [str(e.proto) for e in at.get("deck_gl_json_chart")]
    parts += [str(e.label) for e in at.get("expander")]
    return "\n".join(parts)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_dispute_case_is_shown_to_its_1_km_square_never_its_point(home: Path, lang: str) -> None:
    at = _app(lang)
    at.switch_page("pages/warnings.py").run()
    _select(at, "rv_domain").set_value(queries.CASE_DOMAIN).run()
    assert not at.exception, [e.value for e in at.exception]
    wid = str(_select(at, "rv_pick").value)
    store = Store(f"sqlite:///{home / 'serving.db'}")
    w = store.get_warning(wid)
    assert w["unit_type"] == "case"
    hist = store.forecast_history(queries.CASE_DOMAIN, unit_id=w["unit_id"])
    store.close()
    lon, lat = float(hist["lon"].dropna().iloc[-1]), float(hist["lat"].dropna().iloc[-1])
    page = _page_text(at)
    assert at.get("deck_gl_json_chart"), "the locator map is shown (as its square)"
    for digits in (3, 4, 5):
        assert f"{lat:.{digits}f}" not in page and f"{lon:.{digits}f}" not in page
    area = review.case_area(lon, lat, load_settings())
    said = {"en": "Within a 1 km square", "zh": "约 1 公里方格"}[lang]
    assert said in page and f"{area['lat']:.2f}°N" in page
    assert "locator-case-area" in page and "locator-point" not in page


def test_a_cell_keeps_its_centre_and_point(home: Path) -> None:
    at = _app("en")
    at.switch_page("pages/warnings.py").run()
    _select(at, "rv_domain").set_value("incidents").run()
    page = _page_text(at)
    assert "Centre " in page and "locator-case-area" not in page


def test_case_area_is_the_square_not_the_point() -> None:
    settings = load_settings()
    a = review.case_area(116.274712, 29.887843, settings)
    b = review.case_area(116.274112, 29.887343, settings)  # a house 80 m away, same square
    assert a == b and len(a["ring"]) == 5
    lons = [p[0] for p in a["ring"]]
    lats = [p[1] for p in a["ring"]]
    assert min(lons) <= 116.274712 <= max(lons) and min(lats) <= 29.887843 <= max(lats)
    assert 0.009 < max(lats) - min(lats) < 0.0095  # 1 km of latitude


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_places_to_watch_lines_say_nothing_of_a_missing_trend(home: Path, lang: str) -> None:
    """One week published: no place has a trend; the lines ended "· —"."""
    at = _app(lang, role="leader")
    lines = [str(m.value) for m in at.markdown if "rw-place" in str(m.value)]
    assert lines, [str(m.value)[:80] for m in at.markdown]
    text = "".join(lines)
    assert "· —" not in text and "—</div>" not in text
    assert ("warnings: " if lang == "en" else " 处 · 最高 ") in text


def _chart_columns(at: AppTest) -> list[list[str]]:
    """The columns of every Altair chart's data the page sends (Arrow tables)."""
    import pyarrow as pa

    out = []
    for e in [*at.get("vega_lite_chart"), *at.get("arrow_vega_lite_chart")]:
        proto = e.proto
        tables = [proto.data.data] if proto.data.data else []
        tables += [d.data.data for d in proto.datasets]
        for blob in tables:
            out.append(pa.ipc.open_stream(blob).read_all().column_names)
    return out


@pytest.fixture(scope="module")
def home_two_weeks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A case with an earlier week: the review page draws the place's history chart (the
    demo publishes one run of cases; an earlier run of the same cases is copied in, a
    week before, as a superseded run, as the weekly scoring leaves it)."""
    home = tmp_path_factory.mktemp("privacy2") / "home"
    city = demo_home(home, n_cells=300, weeks=1, n_cases=40)
    store = Store(city.store_url)
    with store.engine.begin() as con:
        lon0, lat0 = con.exec_driver_sql(
            "SELECT lon, lat FROM forecasts WHERE lon IS NOT NULL LIMIT 1"
        ).one()
        con.exec_driver_sql(
            "UPDATE forecasts SET lon = ?, lat = ? WHERE unit_type = 'case'",
            (float(lon0) + 0.0012347, float(lat0) + 0.0009871),
        )
        for table in ("forecast_runs", "forecasts"):
            cols = [r[1] for r in con.exec_driver_sql(f"PRAGMA table_info({table})")]
            chosen = {
                "run_id": "run_id || '-earlier'",
                "origin": "strftime('%Y-%m-%d %H:%M:%S.000000', origin, '-7 days')",
                "status": "'superseded'",
            }
            picks = ", ".join(chosen.get(c, c) for c in cols)
            where = "domain = ?"
            con.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(cols)}) SELECT {picks} FROM {table} "
                f"WHERE {where}",
                (queries.CASE_DOMAIN,),
            )
    store.close()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def test_a_case_history_chart_sends_only_week_and_probability(home_two_weeks: Path) -> None:
    """With two weeks the history chart is drawn; its data went to the browser with the
    case's lon/lat and cell (reviewer, helper-88): now only the two plotted columns."""
    at = _app("en")
    at.switch_page("pages/warnings.py").run()
    _select(at, "rv_domain").set_value(queries.CASE_DOMAIN).run()
    assert not at.exception, [e.value for e in at.exception]
    columns = _chart_columns(at)
    assert columns, "the place's history chart is drawn with two weeks published"
    for names in columns:
        assert not {"lon", "lat", "cell_x", "cell_y"} & set(names), names


@pytest.mark.parametrize("level", ["yellow", "blue", None])
def test_the_locator_draws_the_warning_in_its_own_level_colour(level: str | None) -> None:
    """The case's square (and a cell) were always filled red: a yellow warning read as a
    red one on the map (reviewer helper-88). Now its level's colour, grey without one."""
    import json

    from dashboard.i18n import LEVEL_COLOURS

    settings = load_settings()
    area = review.case_area(116.274712, 29.887843, settings)
    want = [*LEVEL_COLOURS[level or "none"]]
    deck = json.loads(review.locator_deck({}, [], settings, area, level=level).to_json())
    square = [layer for layer in deck["layers"] if layer["id"] == "locator-case-area"]
    assert square and square[0]["getFillColor"][:3] == want
    cell = {"lon": 116.2747, "lat": 29.8878, "cell_x": 10, "cell_y": 20}
    deck = json.loads(review.locator_deck(cell, [], settings, level=level).to_json())
    fills = [layer.get("getFillColor") for layer in deck["layers"]]
    assert [*LEVEL_COLOURS["red"], 230] not in fills or level == "red"
    assert any(f is not None and f[:3] == want for f in fills), fills


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_trend_chart_says_one_week_is_no_trend(home: Path, lang: str) -> None:
    """One week published: the "Trend over recent weeks" chart drew one dot per domain
    with no word (reviewer helper-88 S8). The overview now draws the weeks observed
    before the run (tests/test_observed_weeks.py); a run whose publish step wrote none
    (this home) says so instead of drawing a dot, and the English says no "week(s)"."""
    at = _app(lang, role="leader")
    captions = "\n".join(str(c.value) for c in at.caption)
    said = {  # the observed weeks are the publish step's (observed_pending, h-trend2)
        "en": "are not counted yet: the publish step (the publish DAG) counts them",
        "zh": "之前各周的实际发生尚未统计",
    }[lang]
    assert said in captions, captions
    assert "week(s)" not in captions
    charts = [*at.get("vega_lite_chart"), *at.get("arrow_vega_lite_chart")]
    assert not [c for c in charts if "top_mean" in str(c.proto.spec)]


def test_case_exports_give_the_1_km_square_never_the_point(home: Path) -> None:
    """``exports/dispute_cases/<run>/forecasts.{csv,geojson}`` gave each case's point to 6
    decimals while the dashboard blurs it to its 1 km square; now the same blurring
    (``riskwarn.geo.case_squares``), and no 250 m cell. Incidents keep their points."""
    import json

    import pandas as pd

    from riskwarn.pipeline import publish_exports

    settings = load_settings()
    store = Store(f"sqlite:///{home / 'serving.db'}")
    cases = store.published_snapshot(queries.CASE_DOMAIN)["forecasts"].dropna(subset=["lon"])
    store.close()
    assert len(cases)
    (folder,) = publish_exports(settings, only=(queries.CASE_DOMAIN,))
    csv_text = (Path(folder) / "forecasts.csv").read_text(encoding="utf-8")
    geo_text = (Path(folder) / "forecasts.geojson").read_text(encoding="utf-8")
    for lon, lat in zip(cases["lon"], cases["lat"], strict=True):
        for digits in (3, 4, 5, 6):
            for text in (csv_text, geo_text):
                assert f"{lat:.{digits}f}" not in text and f"{lon:.{digits}f}" not in text
    exported = pd.read_csv(Path(folder) / "forecasts.csv").set_index("unit_id")
    assert exported[["cell_x", "cell_y"]].isna().all().all()
    # a case's explanation is JSON text, as docs/serving-store.md types it (it was the
    # Python repr of the list: review A, stop 41)
    explained = exported["explanation"].dropna()
    assert len(explained)
    assert all(isinstance(json.loads(text), list) for text in explained)
    points = {
        f["properties"]["unit_id"]: f["geometry"]["coordinates"]
        for f in json.loads(geo_text)["features"]
    }
    for r in cases.itertuples():
        area = review.case_area(r.lon, r.lat, settings)  # what the review page shows
        assert points[r.unit_id] == [area["lon"], area["lat"]]
        assert (exported.at[r.unit_id, "lon"], exported.at[r.unit_id, "lat"]) == (
            area["lon"],
            area["lat"],
        )
    (cells,) = publish_exports(settings, only=("incidents",))
    cell_geo = json.loads((Path(cells) / "forecasts.geojson").read_text(encoding="utf-8"))
    assert any(
        len(str(c).split(".")[-1]) > 2
        for f in cell_geo["features"]
        for c in f["geometry"]["coordinates"]
    )
