"""A gate passed against another champion is no licence to replace the one serving now
(reviewer): `riskwarn promote` took any version tagged gate=pass, so an old version
(judged when nothing served, or against a champion since replaced) went in over a newer
champion that had beaten it, with no word of it anywhere. Now promote refuses it in one
line with exit 2 and an audit entry (`promotion_refused`), unless --force (audited as
`forced_over_stale_gate`); a training whose champion changed while it ran does not
auto-promote. Real MLflow (SQLite) registry and serving store of a home; the gate
decisions are the real `models.gate.gate` settled by `models.registry.settle_gate`."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from models import registry as reg
from models.gate import ChampionComparison, gate

DOMAIN = "incidents"
NAME = reg.model_name(DOMAIN)


def _passing(champion: str | None):
    """A real gate decision that passes, judged against ``champion`` (beaten out of
    sample on 10 origins)."""
    versus = (
        None
        if champion is None
        else ChampionComparison(
            champion, "2024-01-01T00:00:00+00:00", False, 10, 10, 5, diff=0.2, ci=(0.1, 0.3)
        )
    )
    decision = gate(
        {"baseline": {"diff": 0.2, "ci": [0.1, 0.3]}},
        0.001,
        champion=champion,
        champion_vs=versus,
    )
    assert decision.passed, decision.summary()
    return decision


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A home whose incidents v1 was judged with no champion and promoted by its gate,
    then v2 judged against v1 and promoted: v2 serves, v1's pass is stale."""
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    settings = load_settings()
    client = reg.configure(settings.resolved_mlflow_uri)
    reg.ensure_experiment(NAME, (tmp_path / "art").as_uri())
    mlflow.set_experiment(NAME)
    client.create_registered_model(NAME)
    store = Store.from_settings(settings)
    store.upgrade()

    def version() -> str:
        with mlflow.start_run(tags={"riskwarn.domain": DOMAIN}) as run:
            mlflow.log_params({"domain": DOMAIN})
        mv = client.create_model_version(NAME, f"runs:/{run.info.run_id}/x", run.info.run_id)
        return str(mv.version)

    assert reg.settle_gate(client, DOMAIN, version(), _passing(None), store=store)
    assert reg.settle_gate(client, DOMAIN, version(), _passing("1"), store=store)
    assert reg.champion_version(client, DOMAIN) == "2"
    yield client, store, version
    store.close()


def _refusals(store) -> list[dict]:
    return store.audit_entries("model", NAME, ("promotion_refused",))


def test_the_cli_refuses_an_old_pass_over_the_serving_champion_exit_2_audited(
    home, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskwarn.cli import main

    client, store, _ = home
    code = main(["promote", DOMAIN, "1", "--reason", "v1 was better"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    # v1 served before v2 (settle_gate promoted it): the refusal says so, why, and how
    # to go back (docs/operations.md, "Going back and forth between champions")
    assert "v1 served before (champion from " in err, err
    assert "its gate judged it with no champion serving, not against v2, which serves" in err
    assert "`riskwarn rollback incidents --from 2 --reason ...`" in err, err
    assert reg.champion_version(client, DOMAIN) == "2"
    (entry,) = _refusals(store)
    assert entry["details"]["version"] == "1" and entry["details"]["serving"] == "2", entry
    assert entry["details"]["gate_champion"] is None, entry
    assert entry["actor"].startswith("os:"), entry


def test_force_promotes_it_and_the_audit_says_so(home) -> None:
    client, store, _ = home
    out = reg.promote(client, DOMAIN, "1", store=store, reason="reviewed by hand", force=True)
    assert out["changed"] and reg.champion_version(client, DOMAIN) == "1"
    record = reg.recorded_champion(store, NAME)
    assert record is not None and record["version"] == "1"
    assert record["forced_over_stale_gate"] == {"gate_champion": None, "serving": "2"}, record
    assert not record.get("forced_over_gate"), record  # its gate did pass
    assert not _refusals(store)


def test_a_pass_judged_against_a_replaced_champion_is_refused(home) -> None:
    client, store, version = home
    v3 = version()
    reg.settle_gate(client, DOMAIN, v3, _passing("1"), auto_promote=False, store=store)
    with pytest.raises(reg.StaleGate, match="against champion v1, but v2 serves now"):
        reg.promote(client, DOMAIN, v3, store=store, reason="r")
    assert reg.champion_version(client, DOMAIN) == "2"


def test_a_pass_judged_against_the_serving_champion_is_promoted(home) -> None:
    client, store, version = home
    v3 = version()
    reg.settle_gate(client, DOMAIN, v3, _passing("2"), auto_promote=False, store=store)
    reg.promote(client, DOMAIN, v3, store=store, reason="r")
    assert reg.champion_version(client, DOMAIN) == v3
    assert not _refusals(store)


def test_a_training_whose_champion_changed_meanwhile_does_not_auto_promote(home) -> None:
    """Judged against v1 while v2 was promoted: tagged pass, not promoted, audited."""
    client, store, version = home
    v3 = version()
    assert not reg.settle_gate(client, DOMAIN, v3, _passing("1"), store=store)
    assert reg.champion_version(client, DOMAIN) == "2"
    (entry,) = _refusals(store)
    assert entry["details"]["via"] == "riskwarn train (gate passed)", entry


def test_a_version_judged_before_the_tag_is_read_from_its_gate_json(home) -> None:
    """Versions settled before ``gate_champion`` existed: the gate.json's champion check."""
    client, store, version = home
    v3 = version()
    run_id = client.get_model_version(NAME, v3).run_id
    old = {"passed": True, "status": "pass", "checks": [{"against": "champion",
           "champion_version": "1", "ok": True}]}  # fmt: skip
    client.log_dict(run_id, old, reg.GATE_ARTIFACT)
    client.set_model_version_tag(NAME, v3, "gate", "pass")
    with pytest.raises(reg.StaleGate, match="against champion v1"):
        reg.promote(client, DOMAIN, v3, store=store, reason="r")
    v4 = version()  # tagged pass by hand: no gate record at all
    client.set_model_version_tag(NAME, v4, "gate", "pass")
    with pytest.raises(reg.StaleGate, match="against a champion it does not record"):
        reg.promote(client, DOMAIN, v4, store=store, reason="r")
    assert reg.champion_version(client, DOMAIN) == "2"
