"""Every refused promotion leaves one audit entry (2026-12-05).

Only the stale-gate refusal was audited (`promotion_refused`); a promote refused for a
failed gate, another domain's model or a version that does not exist left no trace, so
the audit log could not say who tried to put what in service. Now each refusal of
`models.registry.promote` writes one `promotion_refused` entry (version, reason, via,
`refusal` kind, `why`), the CLI still prints one `error:` line. And the champion a
version's gate judged it against (`gate_champion` tag) is recorded with the other gate
facts in each alias move (the record scoring verifies): a tag edited afterwards is
refused like an edited gate tag. Real MLflow (SQLite) registry and serving store."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from models import registry as reg
from tests.test_promote_stale_gate import _passing

DOMAIN = "incidents"
NAME = reg.model_name(DOMAIN)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A home whose incidents v1 (judged with no champion) serves, and a version maker
    (``domain``: the run's domain)."""
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

    def version(domain: str = DOMAIN) -> str:
        with mlflow.start_run(tags={"riskwarn.domain": domain}) as run:
            mlflow.log_params({"domain": domain})
        mv = client.create_model_version(NAME, f"runs:/{run.info.run_id}/x", run.info.run_id)
        return str(mv.version)

    assert reg.settle_gate(client, DOMAIN, version(), _passing(None), store=store)
    yield client, store, version
    store.close()


def _refusals(store) -> list[dict]:
    return store.audit_entries("model", NAME, ("promotion_refused",))


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from riskwarn.cli import main

    code = main(args)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: "), err
    return code, err


def test_a_failed_gate_refusal_is_audited(home, capsys: pytest.CaptureFixture[str]) -> None:
    client, store, version = home
    v2 = version()
    client.set_model_version_tag(NAME, v2, "gate", "fail")
    code, err = _cli(["promote", DOMAIN, v2, "--reason", "looks fine to me"], capsys)
    assert code == 2 and "failed its promotion gate" in err, err
    assert reg.champion_version(client, DOMAIN) == "1"
    (entry,) = _refusals(store)
    d = entry["details"]
    assert (d["version"], d["refusal"], d["gate"]) == (v2, "gate", "fail"), d
    assert d["reason"] == "looks fine to me" and d["via"] == "riskwarn promote", d
    assert "failed its promotion gate" in d["why"], d
    assert entry["actor"].startswith("os:"), entry


def test_an_unknown_version_is_one_error_line_and_audited(
    home, capsys: pytest.CaptureFixture[str]
) -> None:
    _, store, _ = home
    code, err = _cli(["promote", DOMAIN, "v9", "--reason", "typo"], capsys)
    assert code == 2 and f"{NAME} has no version 9" in err, err
    (entry,) = _refusals(store)
    assert entry["details"]["refusal"] == "unknown_version", entry
    assert entry["details"]["version"] == "9", entry


def test_another_domains_model_refusal_is_audited_even_with_force(home) -> None:
    client, store, version = home
    foreign = version("geohazard")
    with pytest.raises(reg.ForeignModel):
        reg.promote(client, DOMAIN, foreign, store=store, reason="r", force=True)
    (entry,) = _refusals(store)
    d = entry["details"]
    assert (d["refusal"], d["trained_for"], d["version"]) == ("foreign_model", "geohazard", foreign)


def test_the_stale_gate_refusal_is_still_one_entry(home) -> None:
    client, store, version = home
    v2 = version()
    reg.settle_gate(client, DOMAIN, v2, _passing("1"), store=store)  # v2 serves
    v3 = version()
    reg.settle_gate(client, DOMAIN, v3, _passing("1"), auto_promote=False, store=store)
    with pytest.raises(reg.StaleGate):
        reg.promote(client, DOMAIN, v3, store=store, reason="r")
    (entry,) = _refusals(store)
    d = entry["details"]
    assert (d["refusal"], d["gate_champion"], d["serving"]) == ("stale_gate", "1", "2"), d


def test_a_blank_reason_is_refused_before_anything_and_not_audited(home) -> None:
    client, store, version = home
    v2 = version()
    with pytest.raises(reg.PromotionRefused, match="needs a reason"):
        reg.promote(client, DOMAIN, v2, store=store, reason="  ")
    assert _refusals(store) == []


def test_the_gate_champion_is_recorded_with_the_move_and_held_to(
    home, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskwarn.cli import main

    client, store, version = home
    assert reg.recorded_champion(store, NAME)["gate_champion"] == reg.NO_CHAMPION
    v2 = version()
    assert reg.settle_gate(client, DOMAIN, v2, _passing("1"), store=store)
    record = reg.recorded_champion(store, NAME)
    assert (record["version"], record["gate"], record["gate_champion"]) == (v2, "pass", "1")
    assert main(["models", DOMAIN, "--json"]) == 0
    rows = {r["version"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[v2]["gate_champion"] == "1" and rows["1"]["gate_champion"] is None
    # the gate fact edited after the promotion: not served, as an edited gate tag
    client.set_model_version_tag(NAME, v2, reg.GATE_CHAMPION_TAG, reg.NO_CHAMPION)
    with pytest.raises(reg.ChampionRefused, match="gate_champion tag 'none'"):
        reg.checked_champion(client, store, DOMAIN, Path(store.url.split("///")[-1]).parent / "x")


def test_a_version_that_is_not_a_number_is_refused_and_audited(
    home, capsys: pytest.CaptureFixture[str]
) -> None:
    """MLflow refused ``abc`` (INVALID_PARAMETER_VALUE), a registry error the old code
    did not take for a refusal: one error line, and no ``promotion_refused`` entry."""
    client, store, _ = home
    code, err = _cli(["promote", DOMAIN, "abc", "--reason", "try"], capsys)
    assert code == 2 and "a version is a whole number" in err, err
    (entry,) = _refusals(store)
    assert (entry["details"]["version"], entry["details"]["refusal"]) == (
        "abc",
        "unknown_version",
    ), entry
    assert reg.champion_version(client, DOMAIN) == "1"


def test_promoting_the_champion_after_its_alias_was_deleted_says_so(
    home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The alias deleted outside riskwarn, ``promote incidents 1`` (the recorded
    champion) printed ``1 -> 1`` alone: now the user is told the alias was missing and
    the move's audit entry says so (``alias_was: null``, ``alias_missing``)."""
    from riskwarn.cli import main

    client, store, _ = home
    client.delete_registered_model_alias(NAME, reg.CHAMPION)
    assert main(["promote", DOMAIN, "1", "--reason", "restore the alias"]) == 0
    out, err = capsys.readouterr()
    assert "v1 -> v1" in out, out
    assert "next scoring run" not in out  # the same version serves, before and after
    assert "alias was missing" in err, err
    assert reg.champion_version(client, DOMAIN) == "1"
    move = store.audit_entries("model", NAME, ("promote",))[0]["details"]
    assert move["alias_missing"] is True and move["alias_was"] is None, move
