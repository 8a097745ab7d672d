"""Findings of the user review of 7 Dec 2026, on the demo city, en and zh:

1. the overview's hotspot maps wrote place names over the warned squares (45 of the 47
   warned incident cells lay under a name at 390 px: "Chengguan Town 10", "Yixiu
   District"), the squares drawn below the names: no name covers a warned square now,
   and the squares are drawn above every name;
2. the hotspot KPI ("53.7%") said little of what it is: its help now says what the
   probability is of, over which days, how the number is counted and what the arrow is;
3. the review page's evidence was Streamlit's data grid, cut at 390 px (a site's sensors
   table showed "Sensor-rule velocity, la…" and not its last three columns; a case's model
   name cut): wrapping HTML tables now, a table of several columns as cards under 760 px.

The demo home is built for a fixed past day (a replay: its warnings are in force whatever
the calendar says).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth
from testkit.dashboard_demo import DEMO_PASSWORD, demo_home
from testkit.dashboard_server import CHROMIUM, dashboard_env, launch_chromium, serve, wait_idle
from tests.test_dashboard_review_evidence_page import SITE_EV
from tests.test_warning_evidence import CASE_FRAME

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TODAY = pd.Timestamp("2026-03-04 02:00", tz="UTC")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A demo home whose geohazard warning has three sensors in its evidence and whose
    dispute case has its model's facts (as scoring stores them)."""
    home = tmp_path_factory.mktemp("ux7") / "home"
    city = demo_home(home, n_cells=300, weeks=2, n_cases=12, today=TODAY)
    table = sa.table(
        "warnings", sa.column("warning_id"), sa.column("domain"), sa.column("evidence", sa.JSON)
    )
    site = {
        **SITE_EV,
        "sensors": [dict(SITE_EV["sensors"][0], sensor_id=f"SB0001{i}") for i in range(3)],
    }
    case = {
        "model": "riskwarn-dispute_cases v1",
        **{k: float(v) for k, v in CASE_FRAME.drop(columns="unit_id").iloc[0].items()},
    }
    ids = {}
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        for domain, ev in (("geohazard", site), ("dispute_cases", case)):
            wid = conn.execute(
                sa.select(table.c.warning_id).where(table.c.domain == domain).limit(1)
            ).scalar_one()
            conn.execute(sa.update(table).where(table.c.warning_id == wid).values(evidence=ev))
            ids[domain] = str(wid)
    engine.dispose()
    mp = pytest.MonkeyPatch()
    env = dashboard_env(home, city.store_url)
    for key, value in env.items():
        if key.startswith("RISKWARN_"):
            mp.setenv(key, value)
    mp.delenv("RISKWARN_USERS_FILE", raising=False)
    yield {"home": home, "url": city.store_url, "ids": ids, "env": env}
    mp.undo()


def _app(role: str, lang: str, page: str | None = None, **query: str) -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    username = next(u for u, (r, _) in auth.DEMO_USERS.items() if r == role)
    role_, name = auth.DEMO_USERS[username]
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["user"] = auth.User(username=username, name=name, role=role_)
    at.session_state["lang"] = lang
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ----------------------------------------------------------------------------- 1. map


def _marks_under_names(deck_json: str) -> tuple[int, int, list[str]]:
    """(warned squares, squares a kept name's box covers, those names) at the initial view."""
    from dashboard import maps
    from dashboard.map_layout import _merc, text_box_px

    d = json.loads(deck_json)
    v = d["initialViewState"]
    scale = 512 * 2 ** v["zoom"] / (2 * math.pi)
    lon_c, y_c = math.radians(v["longitude"]), _merc(v["latitude"])

    def px(lon: float, lat: float) -> tuple[float, float]:
        return (math.radians(lon) - lon_c) * scale, (y_c - _merc(lat)) * scale

    layers = {layer["id"]: layer for layer in d["layers"]}
    marks = [px(*r["position"]) for r in layers["warned-cells"]["data"]]
    names = [
        (px(*r["position"]), text_box_px(r["text"], r["size"]), r["text"])
        for r in layers.get("place-names", {"data": []})["data"]
    ]
    half = (maps.MIN_SQUARE_PX + 3) / 2  # the square with its white rim
    covered: list[str] = []
    for mx, my in marks:
        for (x, y), (w, h), text in names:  # the name's glyphs: its box less the outline
            if abs(mx - x) < w / 2 - 3 + half and abs(my - y) < h / 2 - 3 + half:
                covered.append(text)
                break
    return len(marks), len(covered), sorted(set(covered))


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("width", [358, 480])  # a phone's fit and a desktop's
def test_no_place_name_covers_a_warned_square_and_the_squares_are_on_top(
    city: dict[str, Any], lang: str, width: int
) -> None:
    from dashboard import map_layout, queries

    assert width in (map_layout.PHONE_FIT_PX, map_layout.DESKTOP_FIT_PX)
    snap = queries.snapshot(city["url"])
    lake = str(city["home"] / "lake")
    for domain in queries.DOMAINS_HOTSPOT:
        deck = queries._overview_map.__wrapped__(  # type: ignore[attr-defined]
            city["url"], snap, lake, domain, lang, "EPSG:32650", 250, None, "", "", None, width, 620
        )
        text = deck.to_json()
        n, under, names = _marks_under_names(text)
        assert n > 0 and under == 0, (domain, n, under, names)
        order = [layer["id"] for layer in json.loads(text)["layers"]]
        on_top = order.index("warned-cells")
        assert all(order.index(i) < on_top for i in ("place-names", "scale-bar-label")), order
        # the warned townships keep their names (with their number of warnings)
        warned = [
            r["text"]
            for layer in json.loads(text)["layers"]
            if layer["id"] == "place-names"
            for r in layer["data"]
            if r["text"].rsplit(" ", 1)[-1].isdigit()
        ]
        assert warned, (domain, order)


# ----------------------------------------------------------------------------- 2. KPI


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "en",
            ("What it is", "at least one incident", "7 days", "20 cells", "How it is counted",
             "not a count of events", "The arrow", "percentage points", "250 m"),
        ),
        (
            "zh",
            ("含义", "至少一起治安事件", "7 天", "20 个网格", "计算方式", "不是事件数", "箭头",
             "百分点", "250 米"),
        ),
    ],
)  # fmt: skip
def test_the_hotspot_kpi_says_what_it_is_over_which_days_and_how_counted(
    city: dict[str, Any], lang: str, words: tuple[str, ...]
) -> None:
    from dashboard.i18n import fmt_date

    at = _app("leader", lang)
    (kpi,) = [m for m in at.metric if m.value.endswith("%")]
    assert kpi.help, kpi
    for w in words:
        assert w in kpi.help, (w, kpi.help)
    # the window: the forecast's origin (the week shown) to its last day
    from dashboard import queries

    origin = pd.Timestamp(
        queries.published_run(queries.snapshot(city["url"]), "incidents")["origin"]
    )
    first = fmt_date(origin, lang, "Asia/Shanghai")
    last = fmt_date(origin + pd.Timedelta(days=7) - pd.Timedelta(seconds=1), lang, "Asia/Shanghai")
    assert first in kpi.help and last in kpi.help and first != last, kpi.help


# ----------------------------------------------------------------------------- 3. evidence


def _html(at: AppTest) -> str:
    return "".join(str(h.value) for h in at.get("html")) + "".join(
        str(m.value) for m in at.markdown
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_evidence_is_wrapping_html_with_cards_for_a_wide_table(
    city: dict[str, Any], lang: str
) -> None:
    at = _app("reviewer", lang, "pages/warnings.py", warning=city["ids"]["geohazard"])
    html = _html(at)
    assert 'class="rw-table rw-facts"' in html  # the facts: a table that wraps
    (wide,) = [c for c in at.main.get("flex_container") if "rwwide_evidence_0" in str(c.proto)]
    (narrow,) = [c for c in at.main.get("flex_container") if "rwnarrow_evidence_0" in str(c.proto)]
    table = "".join(str(h.value) for h in wide.get("html"))
    cards = "".join(str(m.value) for m in narrow.get("markdown"))
    column = {"en": "Velocity within the sensor's noise", "zh": "速度在传感器噪声范围内"}[lang]
    assert escape(column) in table and escape(column) in cards, (table, cards)
    assert cards.count("class='rw-qcard'") == 3 and all(f"SB0001{i}" in cards for i in range(3))
    # the grids (sort, search, CSV) are behind the expander, not in the page's flow
    label = {"en": "Table view: sort, search, download CSV", "zh": "表格视图：排序、搜索、下载"}
    (grids,) = [
        e
        for e in at.expander
        if e.label == label[lang] and "SB00010" in str([d.value for d in e.dataframe])
    ]
    assert len(grids.dataframe) == 2  # the facts and the sensors


pytestmark_browser = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)

# every cell and card: not cut (its text as wide as its box) and inside the window
_FITS_JS = """([sel, width]) => {
  const bad = [];
  for (const el of document.querySelectorAll(sel)) {
    if (!el.getClientRects().length) continue;
    const r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1) bad.push('cut: ' + el.textContent.slice(0, 60));
    if (r.right > width + 1) bad.push('off-screen: ' + el.textContent.slice(0, 60));
  }
  return bad;
}"""
_SHOWN_JS = "(sel) => [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length"
_SHOWN_JS += " && e.getBoundingClientRect().width > 0).length"


@pytestmark_browser
def test_evidence_fits_a_phone_in_a_browser(city: dict[str, Any], tmp_path: Path) -> None:
    """At 390 px (and 1280) every evidence value and label is whole and on screen, in a
    real browser (Debian Chromium), for a site (sensors table) and a dispute case (long
    labels, the model's name), en and zh."""
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    with (
        serve(city["home"], city["env"]) as base,
        sync_api.sync_playwright() as p,
    ):
        browser = launch_chromium(sync_api, p)
        try:
            for width in (390, 1280):
                page = browser.new_page(viewport={"width": width, "height": 1200})
                page.set_default_timeout(120_000)
                page.goto(base)
                page.get_by_label("用户名").fill("reviewer", timeout=180_000)
                page.get_by_label("密码").fill(DEMO_PASSWORD)
                page.get_by_role("button", name="登录").click()
                page.get_by_role("heading", name="本周风险总览").wait_for()
                for lang in ("en", "zh"):
                    for domain, wid in city["ids"].items():
                        page.goto(f"{base}/warnings?warning={wid}&lang={lang}")
                        wait_idle(page)
                        page.locator(".rw-facts").first.wait_for(state="attached")
                        page.wait_for_timeout(800)
                        where = f"{domain} {lang} {width}"
                        if not page.evaluate(_SHOWN_JS, ".rw-facts td"):
                            problems.append(f"{where}: no facts table")
                        sel = ".rw-facts td, .rw-facts"
                        if domain == "geohazard":
                            narrow = ".st-key-rwnarrow_evidence_0"
                            wide = ".st-key-rwwide_evidence_0"
                            # the table or its cards, by the column's width (760 px)
                            if not page.evaluate(_SHOWN_JS, f"{narrow} .rw-qcard, {wide} td"):
                                problems.append(f"{where}: sensors not shown")
                            sel += f", {narrow} .rw-qcard, {wide} td, {wide} .rw-tablebox"
                        problems += [f"{where}: {b}" for b in page.evaluate(_FITS_JS, [sel, width])]
                        page.screenshot(path=str(tmp_path / f"{domain}-{lang}-{width}.png"))
                page.close()
        finally:
            browser.close()
    assert not problems, problems
