"""``riskwarn score disputes`` publishes the week's disputes ranking by community, as the
score_and_warn DAG's ``communities`` task does (the same function:
``riskwarn.pipeline.publish_communities``). Before, only the DAG published it: a manual
scoring of the day (the DAG down, a backfill) left the overview's disputes tab without
the ranking of that origin.

The champion's scoring itself is stubbed (``riskwarn.scoring.score_domain``: its own
tests train and score a model); the ranking is the real step on the home's lake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.communities import SERVED, SERVED_VERSION
from riskwarn import lake
from riskwarn.cli import main
from riskwarn.settings import Settings
from riskwarn.store import Store, community_run_id
from tests.test_community_publish import ORIGIN, _disputes, _units

RUN_ID = community_run_id(ORIGIN)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Settings:
    """A home whose lake has three communities and disputes before ORIGIN; the CLI's
    settings point at it and at the test's serving store."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    monkeypatch.setenv("RISKWARN_STORE_URL", store_url)
    s = Settings(home=home, store_url=store_url)
    early = ORIGIN - pd.Timedelta(days=100)
    before = [
        (f"D{i}", ORIGIN - pd.Timedelta(days=d), code)
        for i, (d, code) in enumerate([(1, "a"), (2, "a"), (3, "c"), (40, "b")])
    ]
    lake.upsert(s.lake_dir, "admin_units", "t", _units(), batch_id="u1", as_of=early)
    lake.upsert(s.lake_dir, "disputes", "t", _disputes(before), batch_id="d1", as_of=early)
    return s


@pytest.fixture
def scored(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, pd.Timestamp]]:
    """The champion's scoring, stubbed: records (domain, origin), migrates the store."""
    calls: list[tuple[str, pd.Timestamp]] = []

    def score_domain(settings: Settings, domain: str, origin: Any, **_: Any) -> str:
        calls.append((domain, pd.Timestamp(origin)))
        with Store.from_settings(settings) as store:
            store.upgrade()
        return f"{domain}:stub"

    monkeypatch.setattr("riskwarn.scoring.score_domain", score_domain)
    return calls


def _audit(settings: Settings) -> list[str]:
    with Store.from_settings(settings) as store:
        log = store.audit_log()
    mine = log[log["action"] == "publish_community_ranking"]
    return [d["status"] for d in mine["details"]]


def test_scoring_disputes_publishes_the_ranking_by_community_once(
    home: Settings, scored: list[tuple[str, pd.Timestamp]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", "disputes", "--origin", "2024-03-04"]) == 0
    assert scored == [("disputes", ORIGIN)]  # the local midnight, in UTC
    out = capsys.readouterr().out
    assert f"community ranking {RUN_ID}: published" in out
    with Store.from_settings(home) as store:
        run, rows = store.community_ranking(ORIGIN)
    assert run is not None
    assert (run["method"], run["method_version"]) == (SERVED, SERVED_VERSION)
    assert run["airflow_run_id"] is None and run["n_communities"] == 3
    assert sorted(rows["admin_code"]) == ["a", "b", "c"]
    # the same day again (the DAG's task after it, or a second manual run): once
    assert main(["score", "disputes", "--origin", "2024-03-04"]) == 0
    assert f"community ranking {RUN_ID}: unchanged" in capsys.readouterr().out
    assert _audit(home) == ["published"]


def test_other_domains_publish_no_ranking(
    home: Settings, scored: list[tuple[str, pd.Timestamp]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", "incidents", "--origin", "2024-03-04"]) == 0
    assert scored == [("incidents", ORIGIN)]
    assert "community ranking" not in capsys.readouterr().out
    with Store.from_settings(home) as store:
        assert store.community_runs().empty


def test_a_refused_scoring_publishes_no_ranking(
    home: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.registry import ChampionUnavailable

    def refused(*_: Any, **__: Any) -> str:
        raise ChampionUnavailable("no champion of disputes")

    monkeypatch.setattr("riskwarn.scoring.score_domain", refused)
    assert main(["score", "disputes", "--origin", "2024-03-04"]) != 0
    assert "community ranking" not in capsys.readouterr().out
    with Store.from_settings(home) as store:
        store.upgrade()
        assert store.community_runs().empty


def test_a_lake_without_communities_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scored: list[tuple[str, pd.Timestamp]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "bare"
    home.mkdir()
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    monkeypatch.delenv("RISKWARN_STORE_URL", raising=False)
    units = _units()
    bare = units[units["level"] != "community"]
    lake.upsert(Settings(home=home).lake_dir, "admin_units", "t", bare, batch_id="u1")
    assert main(["score", "disputes", "--origin", "2024-03-04"]) == 0
    assert "no community ranking published" in capsys.readouterr().out
