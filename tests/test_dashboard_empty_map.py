"""Issue 12: a hotspot map with no squares says why. On the city benchmark home the
disputes baseline warns no cell (the busiest 250 m cell has 29 disputes in three years:
at most a 17 % chance of one in a week, below blue's 30 %); the page showed an empty
map without a word."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from testkit.dashboard_server import use_dashboard_env


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("streamlit")
    from riskwarn.store import Store
    from testkit.dashboard_demo import demo_home

    home = tmp_path_factory.mktemp("emptymap") / "home"
    city = demo_home(home, n_cells=80, weeks=1, n_cases=5)
    store = Store(city.store_url)
    run = store.published_run("disputes")
    assert run is not None
    fc = store.published_forecasts("disputes")
    origin = pd.Timestamp(run["origin"]) + pd.Timedelta(hours=1)
    run_id = f"disputes:quiet:{origin:%Y%m%dT%H}"
    store.stage_run(
        {"run_id": run_id, "domain": "disputes", "origin": origin, "horizon_hours": 168.0}
    )
    keep = [c for c in ("unit_type", "unit_id", "county_code", "township_code", "rank") if c in fc]
    quiet = fc[keep].assign(
        origin=origin,
        valid_to=origin + pd.Timedelta(days=7),
        probability=(0.12 * fc["probability"] / fc["probability"].max()).to_numpy(),
        score=(0.12 * fc["probability"] / fc["probability"].max()).to_numpy(),
    )
    store.write_forecasts(run_id, quiet)
    store.publish_run(run_id)  # a served disputes week with no warning
    store.close()
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["No cell reaches a warning level this week", "12.0%", "30%"]),
        ("zh", ["本周没有网格达到预警等级", "12.0%", "30%"]),
    ],
)
def test_empty_disputes_map_says_why(home: Path, lang: str, words: list[str]) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard import auth

    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=90)
    role, name = auth.DEMO_USERS["leader"]
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = [i.value for i in at.info]
    hits = [n for n in notes if words[0] in n]
    assert len(hits) == 1, notes  # the disputes tab only; incidents has warnings
    assert all(w in hits[0] for w in words), hits[0]
    # on the map itself, where a leader looks: the legend's "no warned cell this week" state
    # and a banner naming the domain (the incidents map, which has warnings, has neither);
    # since 2026-12-07 the map draws the warned sites and dispute cases over the cells
    # (dashboard/map_marks.py), so its legend says "no warned cell", not "no warning"
    html = [m.value for m in at.markdown]
    legends = [h for h in html if 'class="rw-legend"' in h]
    empty = {"en": "No warned cell this week", "zh": "本周无预警网格"}[lang]
    banner = {"en": "Civil disputes: no warning this week", "zh": "矛盾纠纷：本周无预警"}[lang]
    assert len(legends) == 2, legends  # incidents and disputes tabs
    assert sum('class="rw-legend-empty"' in h and empty in h for h in legends) == 1, legends
    quiet = next(h for h in legends if "rw-legend-empty" in h)
    assert 'data-rw-marks="0"' not in quiet and "rw-shape" in quiet  # the markers only
    banners = [h for h in html if 'class="rw-map-banner"' in h]
    assert len(banners) == 1 and banner in banners[0], banners
