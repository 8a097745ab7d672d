"""A model registered from another domain's run is never a champion of this domain
(reviewer): ``riskwarn promote dispute_cases 3 --force`` took the incidents run's model,
and scoring then died with a raw traceback ("the scoring frame of dispute_cases lacks
the champion's features"). Promote refuses it even with --force, a rollback skips it
(and says so), and scoring turns a features mismatch into one line, exit 2 and an
audit entry. Real MLflow (SQLite) registry and serving store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from models import registry as reg

NAME = reg.model_name("dispute_cases")


@pytest.fixture
def setup(tmp_path: Path):
    """riskwarn-dispute_cases v1, v2 from dispute_cases runs, v3 from an incidents run
    (each tagged gate=pass), and a serving store."""
    from riskwarn.store import Store

    client = reg.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    reg.ensure_experiment(NAME, (tmp_path / "art").as_uri())
    mlflow.set_experiment(NAME)
    client.create_registered_model(NAME)
    for domain in ("dispute_cases", "dispute_cases", "incidents"):
        with mlflow.start_run(tags={"riskwarn.domain": domain}) as run:
            mlflow.log_params({"domain": domain})
        mv = client.create_model_version(NAME, f"runs:/{run.info.run_id}/x", run.info.run_id)
        # as settle_gate tags them: v1 judged with no champion, the others against v1
        against = reg.NO_CHAMPION if mv.version == "1" else "1"
        client.set_model_version_tag(NAME, mv.version, reg.GATE_CHAMPION_TAG, against)
        client.set_model_version_tag(NAME, mv.version, "gate", "pass")
    store = Store(f"sqlite:///{tmp_path / 'serving.db'}")
    store.upgrade()
    yield client, store
    store.close()


def _promote(client, store, version: str, force: bool = False) -> dict:
    return reg.promote(
        client, "dispute_cases", version, store=store, actor="t", reason="r", force=force
    )


def test_another_domains_model_is_refused_even_with_force(setup) -> None:
    client, store = setup
    _promote(client, store, "1")
    with pytest.raises(reg.PromotionRefused, match="trained for the domain 'incidents'"):
        _promote(client, store, "3", force=True)
    assert reg.champion_version(client, "dispute_cases") == "1"


def _old_forced_promote_of_v3(store, previous: str | None) -> None:
    """v3 got into the rollback chain as the old promote took it with --force: its
    recorded move (the alias is left where it is)."""
    store.audit("t", "promote", "model", NAME, {"version": "3", "previous": previous})


def test_a_rollback_skips_another_domains_model_and_says_so(setup) -> None:
    client, store = setup
    _promote(client, store, "1")
    _old_forced_promote_of_v3(store, "1")
    _promote(client, store, "2", force=True)  # the chain: v1, v3
    out = reg.rollback(client, "dispute_cases", store=store, actor="t", reason="back")
    assert out["version"] == "1", out
    assert out["skipped"] == ["v3 (trained for 'incidents')"], out
    assert reg.champion_version(client, "dispute_cases") == "1"


def test_a_rollback_to_nothing_but_another_domains_model_is_refused(setup) -> None:
    client, store = setup
    _old_forced_promote_of_v3(store, None)
    _promote(client, store, "2", force=True)  # the chain: v3
    with pytest.raises(ValueError, match=r"no previous champion .*skipped v3"):
        reg.rollback(client, "dispute_cases", store=store, actor="t", reason="again")
    assert reg.champion_version(client, "dispute_cases") == "2"
    [refused] = store.audit_entries("model", NAME, ("rollback_refused",))
    assert refused["details"]["skipped"] == ["v3 (trained for 'incidents')"]


def test_the_cli_refuses_it_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskwarn.cli import main
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    home = tmp_path / "home"
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    uri = load_settings().resolved_mlflow_uri
    client = reg.configure(uri)
    reg.ensure_experiment(NAME, (tmp_path / "art").as_uri())
    mlflow.set_experiment(NAME)
    client.create_registered_model(NAME)
    with mlflow.start_run(tags={"riskwarn.domain": "incidents"}) as run:
        mlflow.log_params({"domain": "incidents"})
    client.create_model_version(NAME, f"runs:/{run.info.run_id}/x", run.info.run_id)
    Store.from_settings(load_settings()).upgrade()
    code = main(["promote", "dispute_cases", "1", "--force", "--reason", "try"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "trained for the domain 'incidents'" in err and "Traceback" not in err, err
    assert reg.champion_version(client, "dispute_cases") is None


def test_scoring_a_champion_whose_features_the_frame_lacks_is_one_line_exit_2_and_audited(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from riskwarn import scoring
    from riskwarn.cli import main

    audits: list[tuple] = []

    class FakeStore:
        def upgrade(self) -> None: ...

        def audit(self, *args) -> None:
            audits.append(args)

    champ = reg.Champion("dispute_cases", NAME, "3", None, ["incidents_only_feature"])
    monkeypatch.setattr("riskwarn.store.Store.from_settings", lambda s: FakeStore())
    monkeypatch.setattr("models.registry.serving_champion", lambda uri, d, store: champ)
    # no registry here: the in-sample check (the champion's data end against the origin,
    # tests/test_backfill_models.py) reads that the alias names v3 trained before it
    monkeypatch.setattr(scoring, "_alias_version", lambda uri, d: "3")
    monkeypatch.setattr(scoring, "out_of_sample", lambda uri, d, v, origin, store=None: None)
    # ... and that it was trained in the settings' time zone (tests/test_score_training_tz.py)
    monkeypatch.setattr(scoring, "same_time_zone", lambda uri, d, v, tz: None)
    monkeypatch.setattr(
        scoring,
        "scoring_frame",
        lambda s, d, o, sources=None: pd.DataFrame({"unit_id": ["a"], "f": [1.0]}),
    )
    code = main(["score", "dispute_cases", "--origin", "2024-03-11"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "lacks the champion's features" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert [a[1] for a in audits] == ["champion_refused"], audits
