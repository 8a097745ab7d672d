"""Backfills never roll the champion back, and never publish in-sample forecasts.

1. Training on older data (``riskwarn train --as-of <old date>``, Airflow's
   ``train_models`` backfill) after a newer champion serves: the old code judged the
   same-recipe challenger a "refresh" with nothing to compare out of sample, passed it
   and promoted it, so each backfilled week rolled the champion back to staler data.
   Now the gate fails it (reason ``older_than_champion``), the champion is unchanged,
   and a person may still promote it by hand with ``--force`` and a reason.
2. Scoring an old origin (``riskwarn score --origin``, ``score_and_warn``'s backfill)
   with a champion trained on data after it: the old code published the in-sample
   forecast as if it had been made then. Now nothing is written and the CLI says why in
   one line (exit 2); an origin at or after the champion's data end is scored as before.
Real MLflow (SQLite), serving store and lake; real case-model training.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from typing import Any

import mlflow
import pandas as pd
import pytest

from models import registry as reg
from models.gate import OLDER_DATA, ChampionComparison, gate
from models.registry import ChampionUnavailable
from riskwarn import lake
from riskwarn.scoring import InSampleOrigin, score_domain
from riskwarn.settings import Settings
from riskwarn.store import Store
from scripts.check_champion import ORIGIN, CountModel
from scripts.check_champion import incidents as _incidents
from tests.test_case_site_models import _cases
from tests.test_champion_out_of_sample import _case_fit, champion_check
from tests.test_champion_out_of_sample import registry as registry  # the fixture

NAME = reg.model_name("dispute_cases")


def test_gate_fails_a_refresh_trained_on_older_data_than_the_champion() -> None:
    """The pure gate: a same-recipe challenger whose data end before the champion's is a
    judged failure whatever else it shows; a newer one is still a refresh."""
    older = ChampionComparison(
        version="2",
        trained_through="2023-11-28T16:00:00+00:00",
        recipe_same=True,
        n_origins=0,
        window_origins=12,
        n_events=0,
        challenger_through="2023-11-14T16:00:00+00:00",
    )
    decision = gate({}, 0.01, champion="2", champion_vs=older)
    (check,) = [c for c in decision.checks if c.get("against") == "champion"]
    assert check["reason"] == OLDER_DATA and check["ok"] is False
    assert decision.status == "fail" and not decision.passed
    assert "trained on data to 2023-11-14, before champion v2's data (to 2023-11-28)" in (
        decision.summary()
    )
    newer = replace(older, challenger_through="2023-12-05T16:00Z")
    (check,) = [
        c for c in gate({}, 0.01, champion_vs=newer).checks if c.get("against") == "champion"
    ]
    assert check["ok"] is True and "a refresh with data to 2023-12-05" in check["detail"]
    # a champion whose data end is only its run's start time: not a data end, not compared
    legacy = replace(older, through_source="run start")
    (check,) = [
        c for c in gate({}, 0.01, champion_vs=legacy).checks if c.get("against") == "champion"
    ]
    assert check.get("reason") != OLDER_DATA


def test_training_on_older_data_never_replaces_a_newer_champion(registry) -> None:
    client, store, artifacts = registry
    disputes, events = _cases()
    new = _case_fit(client, store, artifacts, disputes, events)
    reg.promote(client, "dispute_cases", new.version, store=store, reason="seed", force=True)
    through = pd.Timestamp(client.get_run(new.run_id).data.params["trained_through"])

    cut = events["event_at"].max() - pd.Timedelta(days=28)  # a backfill: four weeks back
    old = _case_fit(
        client,
        store,
        artifacts,
        disputes[disputes["opened_at"] < cut],
        events[events["event_at"] < cut],
    )
    mine = pd.Timestamp(client.get_run(old.run_id).data.params["trained_through"])
    assert mine < through
    c = champion_check(old)
    assert c["reason"] == OLDER_DATA and c["ok"] is False, old.gate.summary()
    assert not old.promoted and old.gate.status == "fail"
    assert reg.champion_version(client, "dispute_cases") == new.version  # unchanged
    tags = client.get_model_version(NAME, old.version).tags
    assert tags["gate"] == "fail" and tags[reg.GATE_CHAMPION_TAG] == new.version
    assert "an older model never replaces a newer one automatically" in old.gate.summary()

    with pytest.raises(reg.PromotionRefused):  # not without --force
        reg.promote(client, "dispute_cases", old.version, store=store, reason="rollback")
    assert reg.champion_version(client, "dispute_cases") == new.version
    # a deliberate rollback to older data: by hand, with a reason, audited as forced
    done = reg.promote(
        client, "dispute_cases", old.version, store=store, reason="rollback", force=True
    )
    assert done["changed"] and reg.champion_version(client, "dispute_cases") == old.version
    entry = store.audit_entries("model", NAME, ("promote",))[0]
    assert entry["details"]["forced_over_gate"] is True


# --------------------------------------------------------------------------- scoring


@pytest.fixture
def home(settings: Settings, tmp_path) -> dict[str, Any]:
    """An incidents champion (scripts.check_champion's CountModel) trained, by its run's
    ``trained_through``, on data to ORIGIN; the lake holds the incidents before ORIGIN."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = settings.model_copy(update={"mlflow_tracking_uri": uri})
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("in-sample", artifact_location=(tmp_path / "a").as_uri())
    with mlflow.start_run(experiment_id=exp):
        mlflow.log_param(reg.TRAINED_THROUGH, reg.iso_utc(ORIGIN))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CountModel("count_28d"),
            registered_model_name=reg.model_name("incidents"),
            pip_requirements=["mlflow"],
        )
    client = reg.configure(uri)
    store = Store.from_settings(settings)
    store.upgrade()
    version = str(info.registered_model_version)
    reg.promote(client, "incidents", version, store=store, reason="test", force=True)
    lake.upsert(settings.lake_dir, "incidents", "test", _incidents(), batch_id="b1")
    yield {"settings": settings, "store": store, "version": version}
    store.close()


def test_scoring_an_origin_before_the_champions_data_end_is_refused(home) -> None:
    settings, store = home["settings"], home["store"]
    early = ORIGIN - pd.Timedelta(days=7)
    with pytest.raises(ChampionUnavailable, match="would be in-sample") as caught:
        score_domain(settings, "incidents", early, store=store)
    assert isinstance(caught.value.__cause__, InSampleOrigin)
    assert store.runs("incidents").empty  # nothing staged, nothing published
    # at the champion's data end and after: out of sample, scored as before
    assert score_domain(settings, "incidents", ORIGIN, store=store) == "incidents:20240310T1600Z"
    # the CLI: one line, exit 2, the published run stays served
    settings.home.chmod(0o700)
    env = {
        **os.environ,
        "RISKWARN_HOME": str(settings.home),
        "RISKWARN_MLFLOW_TRACKING_URI": settings.resolved_mlflow_uri,
    }
    done = subprocess.run(
        [sys.executable, "-m", "riskwarn.cli", "score", "incidents", "--origin", early.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert (
        "riskwarn-incidents v1 was trained on data to 2024-03-10 16:00Z, after the " in (lines[0])
    )
    assert lines[0].endswith("(the last published run stays served)"), lines[0]
    assert list(store.runs("incidents")["run_id"]) == ["incidents:20240310T1600Z"]


def test_a_challenger_with_the_champions_data_end_passes_the_older_data_check() -> None:
    """Equal data ends are not older: a retrain on the same data (e.g. a recipe change
    trained at the same ``as_of``) is judged, not failed as a backfill."""
    same = ChampionComparison(
        version="2",
        trained_through="2023-11-28T16:00:00+00:00",
        recipe_same=True,
        n_origins=0,
        window_origins=12,
        n_events=0,
        challenger_through="2023-11-28T16:00Z",
    )
    (check,) = [
        c for c in gate({}, 0.01, champion_vs=same).checks if c.get("against") == "champion"
    ]
    assert check.get("reason") != OLDER_DATA and check["ok"] is True, check


def test_the_dashboard_names_the_older_data_failure_in_both_languages() -> None:
    from dashboard.verdicts import check_words

    older = ChampionComparison(
        version="2",
        trained_through="2023-11-28T16:00:00+00:00",
        recipe_same=True,
        n_origins=0,
        window_origins=12,
        n_events=0,
        challenger_through="2023-11-14T16:00:00+00:00",
    )
    (check,) = [c for c in gate({}, 0.01, champion_vs=older).record()["checks"] if c.get("reason")]
    en = check_words(check, "en")
    assert en.startswith("trained on data to ") and "(v2, data to " in en, en
    assert "never replaces a newer one automatically" in en
    zh = check_words(check, "zh")
    assert "第 2 版" in zh and "不会自动取代" in zh, zh


def test_the_hour_a_spring_forward_adds_is_tolerated_an_older_origin_is_not(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case model of a zone with daylight saving (America/Chicago) whose last 30-day
    label window spans the 2025-03-09 spring-forward ends at 2025-03-17 01:00 local
    (06:00Z), one hour after the local midnight the scheduled run scores (05:00Z): that
    run is not refused (review stop 37: on the code before it was, exit 2, no forecast
    that day); an origin a minute more before it still is."""
    from riskwarn import scoring

    through = pd.Timestamp("2025-03-17 06:00", tz="UTC")
    prov = reg.ChampionProvenance(
        version="2",
        run_id="r",
        trained_through=through,
        through_source="trained_through",
        recipe=None,
    )
    monkeypatch.setattr(reg, "champion_provenance", lambda client, d, v: prov)
    uri = f"sqlite:///{tmp_path / 'unused.db'}"  # in tmp_path: the client makes the file
    midnight = pd.Timestamp("2025-03-17 00:00", tz="America/Chicago").tz_convert("UTC")
    assert midnight == through - pd.Timedelta(hours=1)
    scoring.out_of_sample(uri, "dispute_cases", "2", midnight)
    with pytest.raises(InSampleOrigin, match="in-sample"):
        scoring.out_of_sample(uri, "dispute_cases", "2", midnight - pd.Timedelta(minutes=1))


def test_a_champion_without_a_known_data_end_is_refused_at_every_origin(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old champion whose run logged no ``trained_through`` (its data end is its run's
    start time, ``through_source`` "run start") is refused at every origin: its start
    time says nothing of its data, so whether an origin is in-sample cannot be told (it
    was served at any origin: tests/test_registry_data_end.py)."""
    from riskwarn import scoring

    prov = reg.ChampionProvenance(
        version="1",
        run_id="r",
        trained_through=pd.Timestamp("2025-03-17 06:00", tz="UTC"),
        through_source="run start",
        recipe=None,
    )
    monkeypatch.setattr(reg, "champion_provenance", lambda client, d, v: prov)
    uri = f"sqlite:///{tmp_path / 'unused.db'}"
    for origin in ("2024-01-01 00:00", "2026-01-01 00:00"):
        with pytest.raises(scoring.UnknownDataEnd, match="cannot be read"):
            scoring.out_of_sample(uri, "dispute_cases", "1", pd.Timestamp(origin, tz="UTC"))
    # the same origin with a known data end is judged on it
    monkeypatch.setattr(
        reg, "champion_provenance", lambda c, d, v: replace(prov, through_source="trained_through")
    )
    with pytest.raises(InSampleOrigin):
        scoring.out_of_sample(uri, "dispute_cases", "1", pd.Timestamp("2024-01-01", tz="UTC"))


def test_a_registry_that_cannot_be_read_fails_scoring_at_its_first_lookup(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MLflow down, scoring fails at the alias's lookup (the in-sample check's),
    in one line worded as the serving champion's, not after waiting out MLflow's retries
    a second time in the serving champion's own lookup (the DAG's task waited twice as
    long: review stop 37)."""
    settings = Settings(home=tmp_path / "home", pseudonym_key="k" * 40)
    lookups: list[str] = []

    def down(*a: Any, **k: Any) -> Any:
        lookups.append("alias")
        raise ConnectionError("MLflow at http://127.0.0.1:9 refused the connection")

    def serving(uri: str, domain: str, store: Any) -> Any:
        lookups.append("serving_champion")
        raise ChampionUnavailable("cannot load champion model (second wait)")

    monkeypatch.setattr(reg, "champion_version", down)
    monkeypatch.setattr(reg, "serving_champion", serving)
    with pytest.raises(ChampionUnavailable, match=r"cannot load champion model .*ConnectionError"):
        score_domain(settings, "dispute_cases", "2024-01-01")
    assert lookups == ["alias"]
