"""The overview's civil disputes beside their cell map (which ranks below random): the
communities (村/社区) ranked by the rule served by community, in English and Chinese,
as the scoring DAG published it into the serving store (riskwarn.pipeline.
publish_communities, dashboard.community_panel): nothing is computed from the lake at
page load, and a week without a published ranking says so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, community_panel
from features.communities import CommunityParams, communities, served_ranking
from riskwarn import lake
from riskwarn.pipeline import publish_communities
from riskwarn.settings import Settings
from riskwarn.store import Store
from testkit.dashboard_demo import DemoCity, demo_home
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TZ = "Asia/Shanghai"
BIG = "大桥社区"  # the community with by far the most residents
CJK = re.compile(r"[\u3400-\u9fff]")


def community_units(lake_dir: Path) -> pd.DataFrame:
    """Two communities in each township of the demo home, one of them much larger."""
    units = lake.read_table(lake_dir, "admin_units")
    towns = units[units["level"] == "township"].reset_index(drop=True)
    rows = []
    for i, t in enumerate(towns.itertuples()):
        for k in range(2):
            rows.append(
                {
                    "source": "demo",
                    "record_id": f"{t.record_id}{k + 1:03d}",
                    "name": BIG if (i, k) == (0, 0) else f"{t.name}{k + 1}社区",
                    "level": "community",
                    "parent_id": t.record_id,
                    "geometry_wkt": t.geometry_wkt,
                    "population": 90_000 if (i, k) == (0, 0) else 2_000 + 100 * i + k,
                }
            )
    return pd.DataFrame(rows)


def dispute_rows(codes: list[str], origin: pd.Timestamp) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 300
    at = origin - pd.to_timedelta(rng.uniform(1, 300 * 24, n), unit="h").round("min")
    return pd.DataFrame(
        {
            "source": "demo",
            "record_id": [f"MD{i:05d}" for i in range(n)],
            "opened_at": at,
            "category": "neighbour",
            "lon": 116.5,
            "lat": 30.5,
            "admin_code": rng.choice(codes, n),
            "party_ids": None,
            "n_parties": 2,
            "amount_cny": None,
        }
    )


def city_with_communities(home: Path) -> DemoCity:
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=5, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    comm = community_units(city.lake_dir)
    lake.upsert(city.lake_dir, "admin_units", "demo", comm, batch_id="demo-communities")
    disputes = dispute_rows(list(comm["record_id"]), city.origin)
    lake.upsert(city.lake_dir, "disputes", "demo", disputes, batch_id="demo-disputes")
    return city


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("communities") / "home"
    city = city_with_communities(home)
    # the scoring DAG's step, at the disputes run's origin
    settings = Settings(home=home, store_url=city.store_url)
    assert publish_communities(settings, city.origin, "scheduled__demo") == "published"
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def overview(lang: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    role, name = auth.DEMO_USERS["leader"]
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.switch_page("pages/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize(
    ("lang", "title", "header"),
    [
        ("en", "Communities where disputes are most likely this week", "Community"),
        ("zh", "本周纠纷可能集中的村/社区", "村/社区"),
    ],
)
def test_the_overview_ranks_communities_beside_the_disputes_map(
    home: Path, lang: str, title: str, header: str
) -> None:
    at = overview(lang)
    assert any(title in str(m.value) for m in at.markdown), [m.value for m in at.markdown]
    tables = [d.value for d in at.dataframe if header in d.value.columns]
    assert len(tables) == 1
    ranked = tables[0]
    # the most residents, the most expected; its name in the page's language (the English
    # page showed "大桥社区": screenshots of 2026-12-06)
    assert ranked[header].iloc[0] == ("Daqiao Community" if lang == "en" else BIG)
    places = ranked.iloc[:, 1:4].to_numpy().ravel()  # community, township, county
    if lang == "en":
        assert not [p for p in places if CJK.search(str(p))], places
    else:
        assert all(CJK.search(str(p)) for p in places), places
    units = lake.read_table(home / "lake", "admin_units")
    n_communities = int((units["level"] == "community").sum())
    assert len(ranked) == round(0.05 * n_communities) < n_communities  # the top 5 %
    # named as the store names it: the rule that won the backtest, not a model
    rule = {"en": "the population-share rule (version 1)", "zh": "人口占比规则（第 1 版）"}[lang]
    assert any(rule in str(c.value) for c in at.caption), [c.value for c in at.caption]


def test_the_page_shows_what_was_published_not_the_lake_of_now(home: Path) -> None:
    """Disputes ingested after the ranking was published do not move the page: it is read
    from the store, not computed from the lake at page load."""
    lake_dir = home / "lake"
    units = lake.read_table(lake_dir, "admin_units")
    big = str(units.loc[units["name"] == BIG, "record_id"].iloc[0])
    origin = published_origin(home)
    store = Store(lake_settings_url(home))
    published = store.community_ranking(origin)[1].set_index("admin_code")
    store.close()
    burst = dispute_rows([big, big], origin).head(80)
    burst["record_id"] = [f"MX{i:05d}" for i in range(len(burst))]
    burst["opened_at"] = origin - pd.Timedelta(days=2)
    lake.upsert(lake_dir, "disputes", "demo", burst, batch_id="late-burst")
    at = overview("en")
    ranked = next(d.value for d in at.dataframe if "Community" in d.value.columns)
    row = ranked[ranked["Community"] == "Daqiao Community"].iloc[0]
    assert row["Disputes, last 4 weeks"] == f"{int(published.loc[big, 'n_28d']):,}"
    assert row["Expected disputes this week"] == f"{published.loc[big, 'expected']:.2f}"


def lake_settings_url(home: Path) -> str:
    return f"sqlite:///{(home / 'serving.db').resolve()}"


def published_origin(home: Path) -> pd.Timestamp:
    store = Store(lake_settings_url(home))
    try:
        return pd.Timestamp(store.community_runs()["origin"].iloc[0])
    finally:
        store.close()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["No community ranking has been published for the week from", "newest"]),
        ("zh", ["村/社区纠纷排名尚未发布", "最近一次发布的是"]),
    ],
)
def test_a_week_without_a_published_ranking_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, words: list[str]
) -> None:
    home = tmp_path / "home"
    city = city_with_communities(home)
    # only an older week was published: not shown as this week's
    settings = Settings(home=home, store_url=city.store_url)
    assert publish_communities(settings, city.origin - pd.Timedelta(days=7)) == "published"
    use_dashboard_env(monkeypatch, home, city.store_url)
    at = overview(lang)
    notes = [str(i.value) for i in at.info]
    assert any(all(w in n for w in words) for n in notes), notes
    header = {"en": "Community", "zh": "村/社区"}[lang]
    assert not [d for d in at.dataframe if header in d.value.columns]


def test_served_ranking_counts_only_disputes_before_the_origin() -> None:
    units = pd.DataFrame(
        {
            "record_id": ["K", "T", "a", "b"],
            "name": ["county", "town", "A", "B"],
            "level": ["county", "township", "community", "community"],
            "parent_id": [None, "K", "T", "T"],
            "geometry_wkt": [None, None, None, None],
            "population": [None, None, 1000, 3000],
        }
    )
    origin = pd.Timestamp("2024-01-01", tz=TZ).tz_convert("UTC")
    d = pd.DataFrame(
        {
            "opened_at": [origin - pd.Timedelta(days=k) for k in (1, 2, 3, 40)]
            + [origin + pd.Timedelta(hours=2)],
            "admin_code": ["a", "a", "a", "b", "b"],
        }
    )
    r = served_ranking(d, communities(units, "EPSG:32650"), origin, CommunityParams(tz=TZ))
    assert list(r["admin_code"]) == ["b", "a"]  # residents, not last month's disputes
    assert r.set_index("admin_code").loc["a", "n_28d"] == 3
    assert r.set_index("admin_code").loc["b", "n_364d"] == 1  # the one after the origin: not
    # the city's 4 disputes before the origin, over their 40 days, shared by residents
    assert r["expected"].sum() == pytest.approx(4 * 7 / 40)
    table = community_panel.community_table(r.assign(name=["B", "A"]), {"T": "town"}, "en")
    assert list(table["Community"]) == ["B"]  # the top 5 % of 2: one
    assert table["Township"].iloc[0] == "town"


@pytest.mark.parametrize(
    ("lang", "community", "township", "county"),
    [
        ("en", "Daqiao Community", "Chengguan Town", "Daguan District"),
        ("zh", "大桥社区", "城关镇", "大观区"),
    ],
)
def test_the_community_table_writes_places_in_the_pages_language(
    lang: str, community: str, township: str, county: str
) -> None:
    ranked = pd.DataFrame(
        {
            "rank": [1],
            "admin_code": ["T001"],
            "name": ["大桥社区"],
            "township_code": ["T"],
            "county_code": ["K"],
            "expected": [1.5],
            "n_28d": [3],
            "n_364d": [20],
        }
    )
    table = community_panel.community_table(ranked, {"T": "城关镇", "K": "大观区"}, lang)
    assert list(table.iloc[0, 1:4]) == [community, township, county]
