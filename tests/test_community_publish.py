"""The weekly disputes ranking by community, published into the serving store.

The overview's disputes tab computed its community ranking from the lake at every page
load; the scoring DAG now publishes it (``riskwarn.pipeline.publish_communities``: the
rule that won the community backtest, ``population_rate``, named with its version) into
``community_runs`` / ``community_rankings`` (migration 0016), on SQLite and PostgreSQL:
one run per origin, the same result once however often it is re-run, from the disputes
opened before the origin in the versions known then.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from features.communities import SERVED, SERVED_VERSION, CommunityParams, communities
from features.communities import served_ranking as served
from riskwarn import lake
from riskwarn.settings import Settings
from riskwarn.store import Store, community_run_id

TZ = "Asia/Shanghai"
ORIGIN = pd.Timestamp("2024-03-04", tz=TZ).tz_convert("UTC")  # a local midnight
RUN = {"origin": ORIGIN, "horizon_days": 7, "method": SERVED, "method_version": SERVED_VERSION}


def ranking(n: int = 4, shift: float = 0.0) -> pd.DataFrame:
    expected = np.linspace(2.0, 0.5, n) + shift
    return pd.DataFrame(
        {
            "admin_code": [f"C{i:03d}" for i in range(n)],
            "township_code": "T1",
            "county_code": "K1",
            "score": expected,
            "expected": expected,
            "n_28d": np.arange(n)[::-1].astype(float),
            "n_364d": np.arange(n)[::-1] * 10.0,
            "rank": np.arange(1, n + 1),
            "name": "a name the store must not keep",
        }
    )


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_ranking_is_published_once_and_read_back(store: Store) -> None:
    nothing, empty = store.community_ranking(ORIGIN)
    assert nothing is None and empty.empty
    assert store.publish_community_ranking(RUN, ranking()) == "published"
    run, rows = store.community_ranking(ORIGIN)
    assert run is not None
    assert run["run_id"] == community_run_id(ORIGIN) == "disputes_communities:20240303T1600Z"
    assert (run["method"], run["method_version"]) == ("population_rate", SERVED_VERSION)
    assert run["origin"] == ORIGIN.to_pydatetime() and run["horizon_days"] == 7
    assert run["n_communities"] == 4 and run["replaced_at"] is None
    assert list(rows["admin_code"]) == ["C000", "C001", "C002", "C003"]
    assert list(rows["rank"]) == [1, 2, 3, 4]
    assert rows["expected"].tolist() == pytest.approx(ranking()["expected"].tolist())
    assert "name" not in rows.columns  # codes and counts only
    created = run["created_at"]
    # re-running the same origin: the same stored result, once (nothing written at all)
    audit_before = len(store.audit_log())
    assert store.publish_community_ranking(RUN, ranking()) == "unchanged"
    run2, rows2 = store.community_ranking(ORIGIN)
    assert run2 == run and run2["created_at"] == created
    pd.testing.assert_frame_equal(rows2, rows)
    assert _count(store, "community_runs") == 1 and _count(store, "community_rankings") == 4
    assert len(store.audit_log()) == audit_before
    assert store.community_runs()["run_id"].tolist() == [run["run_id"]]


def test_other_rows_for_the_origin_replace_the_ranking_in_one_go(store: Store) -> None:
    store.publish_community_ranking(RUN, ranking())
    created = store.community_ranking(ORIGIN)[0]["created_at"]  # type: ignore[index]
    assert store.publish_community_ranking(RUN, ranking(3, shift=1.0)) == "replaced"
    run, rows = store.community_ranking(ORIGIN)
    assert run is not None and run["replaced_at"] is not None
    assert run["created_at"] == created and run["n_communities"] == 3
    assert len(rows) == 3 and rows["expected"].iloc[0] == pytest.approx(3.0)
    assert _count(store, "community_rankings") == 3
    entries = store.audit_log()
    mine = entries[entries["action"] == "publish_community_ranking"]
    assert sorted(d["status"] for d in mine["details"]) == ["published", "replaced"]
    # another origin is another run; the newest comes first
    later = {**RUN, "origin": ORIGIN + pd.Timedelta(days=7)}
    assert store.publish_community_ranking(later, ranking()) == "published"
    assert store.community_runs()["origin"].iloc[0] == later["origin"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (ranking().iloc[0:0], "no rows"),
        (ranking().drop(columns=["expected"]), "lacks columns"),
        (ranking().assign(admin_code=["a", "a", "b", "c"]), "twice"),
        (ranking().assign(expected=[1.0, np.nan, 1.0, 1.0]), "not finite"),
        (ranking().assign(expected=[1.0, -1.0, 1.0, 1.0]), "negative"),
        (ranking().assign(rank=[1, 1, 2, 3]), "ranks"),
    ],
)
def test_a_bad_ranking_is_refused_and_the_published_one_stays(
    store: Store, frame: pd.DataFrame, message: str
) -> None:
    store.publish_community_ranking(RUN, ranking())
    with pytest.raises(ValueError, match=message):
        store.publish_community_ranking(RUN, frame)
    run, rows = store.community_ranking(ORIGIN)
    assert run is not None and len(rows) == 4
    with pytest.raises(ValueError, match="lacks"):
        store.publish_community_ranking({**RUN, "method": None}, ranking())


def test_the_migration_goes_up_and_down_on_both_backends(store_url: str) -> None:
    s = Store(store_url)
    try:
        s.upgrade("0015_review_dismissed_level")
        with s.engine.connect() as conn:
            assert "community_runs" not in sa.inspect(conn).get_table_names()
        s.upgrade()
        assert s.current_revision() == "0016_community_rankings" == s.head_revision()
        s.publish_community_ranking(RUN, ranking())
        from alembic import command

        with s.engine.begin() as conn:
            cfg = s._alembic_config(conn)
            command.downgrade(cfg, "0015_review_dismissed_level")
        with s.engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
        assert "community_runs" not in tables and "community_rankings" not in tables
        s.upgrade()
        assert s.community_ranking(ORIGIN)[0] is None  # the tables are new and empty
    finally:
        s.close()


# -- the publish step, from a lake --------------------------------------------------------


def _units() -> pd.DataFrame:
    rows = [
        ("K", "county", None, None),
        ("T", "township", "K", None),
        ("a", "community", "T", 1000),
        ("b", "community", "T", 3000),
        ("c", "community", "T", 500),
    ]
    return pd.DataFrame(
        {
            "source": "t",
            "record_id": [r[0] for r in rows],
            "name": [f"unit {r[0]}" for r in rows],
            "level": [r[1] for r in rows],
            "parent_id": [r[2] for r in rows],
            "population": [r[3] for r in rows],
        }
    )


def _disputes(at: list[tuple[str, pd.Timestamp, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": "t",
            "record_id": [r for r, _, _ in at],
            "opened_at": [o for _, o, _ in at],
            "category": "neighbour",
            "lon": 116.5,
            "lat": 30.5,
            "admin_code": [c for _, _, c in at],
            "party_ids": None,
            "n_parties": 2,
            "amount_cny": None,
        }
    )


@pytest.fixture
def lake_settings(tmp_path: Path, store_url: str) -> Settings:
    s = Settings(home=tmp_path / "home", store_url=store_url)
    s.home.mkdir()
    before = [
        (f"D{i}", ORIGIN - pd.Timedelta(days=d), code)
        for i, (d, code) in enumerate([(1, "a"), (2, "a"), (3, "c"), (40, "b"), (90, "b")])
    ]
    early = ORIGIN - pd.Timedelta(days=100)
    lake.upsert(s.lake_dir, "admin_units", "t", _units(), batch_id="u1", as_of=early)
    lake.upsert(s.lake_dir, "disputes", "t", _disputes(before), batch_id="d1", as_of=early)
    return s


def test_the_publish_step_stores_the_served_rule_from_what_was_known_at_the_origin(
    lake_settings: Settings,
) -> None:
    from riskwarn.pipeline import publish_communities

    s = lake_settings
    # the DAG's interval end is the local midnight (score_and_warn's origin)
    assert publish_communities(s, ORIGIN, "manual__1") == "published"
    store = Store.from_settings(s)
    try:
        run, rows = store.community_ranking(ORIGIN)
        assert run is not None
        assert (run["method"], run["method_version"]) == ("population_rate", SERVED_VERSION)
        assert run["airflow_run_id"] == "manual__1" and run["n_communities"] == 3
        assert run["data_version"].startswith("disputes@v")
        # the served rule of the lake as it is: residents' share of the city's rate
        units = communities(_units(), s.city_crs)
        d = lake.read_table(s.lake_dir, "disputes")
        want = served(d, units, ORIGIN, CommunityParams(tz=TZ))
        assert list(rows["admin_code"]) == list(want["admin_code"]) == ["b", "a", "c"]
        assert rows["expected"].tolist() == pytest.approx(want["expected"].tolist())
        assert rows["n_28d"].tolist() == [0, 2, 1]
        # later: a dispute opened after the origin, a correction of an earlier one made
        # after it (moved to another community), a new dispute in the origin's week
        after = ORIGIN + pd.Timedelta(days=2)
        lake.upsert(
            s.lake_dir,
            "disputes",
            "t",
            _disputes(
                [
                    ("D0", ORIGIN - pd.Timedelta(days=1), "c"),  # was "a"
                    ("D9", ORIGIN + pd.Timedelta(hours=3), "c"),
                ]
            ),
            batch_id="d2",
            as_of=after,
        )
        audit = len(store.audit_log())
        assert publish_communities(s, ORIGIN, "manual__2") == "unchanged"
        run2, rows2 = store.community_ranking(ORIGIN)
        assert run2 == run  # the same stored result: not even the Airflow run id moved
        pd.testing.assert_frame_equal(rows2, rows)
        assert len(store.audit_log()) == audit
        # the next week's origin sees the correction and the new dispute
        nxt = ORIGIN + pd.Timedelta(days=7)
        assert publish_communities(s, nxt) == "published"
        _, rows3 = store.community_ranking(nxt)
        assert rows3.set_index("admin_code").loc["c", "n_28d"] == 3
        assert rows3.set_index("admin_code").loc["a", "n_28d"] == 1
    finally:
        store.close()


def test_a_lake_without_communities_publishes_nothing(tmp_path: Path) -> None:
    from riskwarn.pipeline import publish_communities

    s = Settings(home=tmp_path / "home")
    s.home.mkdir()
    units = _units()
    units = units[units["level"] != "community"]
    lake.upsert(s.lake_dir, "admin_units", "t", units, batch_id="u1")
    assert publish_communities(s, ORIGIN) is None
    store = Store.from_settings(s)
    store.upgrade()
    assert store.community_runs().empty
    store.close()
