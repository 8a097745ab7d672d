"""A promote or rollback that dies half-way (killed, a registry or store error) leaves
riskwarn's record, MLflow's alias and the rollback chain agreeing (reviewer, F2).

The old ``_move_alias`` wrote the audit entry, moved the alias, then wrote the rollback
history as a registered-model tag, three steps: killed after the entry, ``riskwarn
models`` said "recorded v4" (v4 never served) and a rollback went 4 -> 2; killed or a
registry error after the alias moved, the history missed v3 and a rollback went 4 -> 2.
Now the intent is recorded before the alias moves, the move once it has; the rollback
chain comes from the recorded moves; the next promote or rollback records how an
interrupted move ended (from where the alias really points). Kills are ``os._exit`` in a
subprocess; real MLflow (SQLite) registry and serving store in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pytest

from models import registry as reg

NAME = reg.model_name("dispute_cases")
ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import os, sys
from mlflow import MlflowClient
from models import registry as reg
from riskwarn.store import Store

uri, url, version, mode = sys.argv[1:5]
real = MlflowClient.set_registered_model_alias


def alias(self, *a, **k):
    if mode == "before_alias":
        os._exit(137)
    out = real(self, *a, **k)
    os._exit(137)  # after_alias: the alias moved, nothing after it ran


MlflowClient.set_registered_model_alias = alias
client = reg.configure(uri)
reg.promote(client, "dispute_cases", version, store=Store(url), actor="t", reason="r", force=True)
"""


@pytest.fixture
def setup(tmp_path: Path):
    """Versions 1-4 of dispute_cases (gate pass), v1, v2, v3 promoted in turn (v3
    serves, a rollback returns to v2), and the serving store."""
    from riskwarn.store import Store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = reg.configure(uri)
    reg.ensure_experiment(NAME, (tmp_path / "art").as_uri())
    mlflow.set_experiment(NAME)
    client.create_registered_model(NAME)
    for _ in range(4):
        with mlflow.start_run(tags={"riskwarn.domain": "dispute_cases"}) as run:
            mlflow.log_params({"domain": "dispute_cases"})
        mv = client.create_model_version(NAME, f"runs:/{run.info.run_id}/x", run.info.run_id)
        client.set_model_version_tag(NAME, mv.version, "gate", "pass")
    store = Store(f"sqlite:///{tmp_path / 'serving.db'}")
    store.upgrade()
    for v in ("1", "2", "3"):
        _promote(client, store, v)
    yield client, store, uri
    store.close()


def _promote(client: Any, store: Any, version: str) -> dict:
    return reg.promote(
        client, "dispute_cases", version, store=store, actor="t", reason="r", force=True
    )


def _rollback(client: Any, store: Any) -> dict:
    return reg.rollback(client, "dispute_cases", store=store, actor="t", reason="back")


def _killed_promote(uri: str, store: Any, version: str, mode: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, uri, store.url, version, mode],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 137, done.stderr[-2000:]


def _entries(store: Any, action: str, version: str) -> list[dict]:
    return [
        e
        for e in store.audit_entries("model", NAME, (action,))
        if str((e["details"] or {}).get("version")) == version
    ]


def test_killed_before_the_alias_moved_v4_is_not_recorded_and_rollback_goes_to_v2(
    setup,
) -> None:
    """Old: "riskwarn recorded v4" (never served: scoring refused v3), and the rollback
    said the alias "moved outside riskwarn" and went 4 -> 2."""
    client, store, uri = setup
    _killed_promote(uri, store, "4", "before_alias")
    assert reg.champion_version(client, "dispute_cases") == "3"
    assert reg.recorded_champion(store, NAME)["version"] == "3"  # v3 still serves
    out = _rollback(client, store)
    assert (out["previous"], out["version"]) == ("3", "2"), out
    assert "alias_was" not in out
    # the interrupted promote is on record once, as failed, never as a move
    assert len(_entries(store, reg.MOVE_STARTED, "4")) == 1
    [failed] = _entries(store, reg.FAILED_MOVE, "4")
    assert failed["details"]["interrupted"] is True
    assert _entries(store, "promote", "4") == []


def test_killed_after_the_alias_moved_a_rerun_records_it_once_and_rollback_goes_to_v3(
    setup, tmp_path: Path
) -> None:
    """Old: the history tag missed v3, so the rollback went 4 -> 2."""
    client, store, uri = setup
    _killed_promote(uri, store, "4", "after_alias")
    assert reg.champion_version(client, "dispute_cases") == "4"
    assert reg.recorded_champion(store, NAME)["version"] == "3"  # not recorded: refused
    with pytest.raises(reg.ChampionRefused, match="interrupted"):
        reg.checked_champion(client, store, "dispute_cases", tmp_path / "download")
    again = _promote(client, store, "4")  # the re-run: records the move, moves nothing
    assert again["changed"] is False
    assert reg.recorded_champion(store, NAME)["version"] == "4"
    [moved] = _entries(store, "promote", "4")
    assert moved["details"]["recovered"]["by"] == "t"
    assert len(_entries(store, reg.MOVE_STARTED, "4")) == 1
    assert _entries(store, reg.FAILED_MOVE, "4") == []
    out = _rollback(client, store)
    assert (out["previous"], out["version"]) == ("4", "3"), out
    assert _rollback(client, store)["version"] == "2"


def test_killed_after_the_alias_moved_the_rollback_itself_settles_it(setup) -> None:
    client, store, uri = setup
    _killed_promote(uri, store, "4", "after_alias")
    out = _rollback(client, store)
    assert (out["previous"], out["version"]) == ("4", "3"), out
    assert "alias_was" not in out
    assert reg.champion_version(client, "dispute_cases") == "3"
    assert [e["details"]["version"] for e in reg._committed_moves(store, NAME)][:2] == ["3", "4"]


@pytest.mark.parametrize("step", ["alias_call", "history_tag"])
def test_a_registry_error_after_the_alias_moved_is_the_move_made(
    setup, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """The alias call raised though the alias moved (its answer lost), or (old code) the
    history tag's write raised: the alias was on v4, the audit log said
    alias_move_failed, scoring refused v4 and a rollback went to v2."""
    client, store, _ = setup
    real = client.set_registered_model_alias

    def lost_answer(*a: Any, **k: Any) -> None:
        real(*a, **k)
        raise mlflow.exceptions.MlflowException("transient registry error (injected)")

    def tag_fails(*_: Any, **__: Any) -> None:
        raise mlflow.exceptions.MlflowException("transient registry error (injected)")

    if step == "alias_call":
        monkeypatch.setattr(client, "set_registered_model_alias", lost_answer)
    else:
        monkeypatch.setattr(client, "set_registered_model_tag", tag_fails)
    out = _promote(client, store, "4")
    assert out["changed"] and out["version"] == "4"
    monkeypatch.undo()
    assert reg.champion_version(client, "dispute_cases") == "4"
    assert reg.recorded_champion(store, NAME)["version"] == "4"
    assert _entries(store, reg.FAILED_MOVE, "4") == []
    assert _rollback(client, store)["version"] == "3"


def test_a_registry_error_before_the_alias_moved_is_a_failed_move(
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, store, _ = setup

    def refuse(*_: Any, **__: Any) -> None:
        raise mlflow.exceptions.MlflowException("registry went away (injected)")

    monkeypatch.setattr(client, "set_registered_model_alias", refuse)
    with pytest.raises(mlflow.exceptions.MlflowException, match="went away"):
        _promote(client, store, "4")
    monkeypatch.undo()
    assert reg.recorded_champion(store, NAME)["version"] == "3"
    assert len(_entries(store, reg.FAILED_MOVE, "4")) == 1
    assert reg.pending_moves(store, NAME) == []
    assert _rollback(client, store)["version"] == "2"


def test_the_store_failing_after_the_alias_moved_converges_on_a_rerun(
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serving store refuses the record of the move (after the alias moved): scoring
    refuses v4 until the re-run, which records the move once."""
    client, store, _ = setup
    real = store.audit

    def down(actor: str, action: str, *a: Any, **k: Any) -> None:
        if action == "promote":
            raise OSError("serving store went away (injected)")
        real(actor, action, *a, **k)

    monkeypatch.setattr(store, "audit", down)
    with pytest.raises(OSError, match="went away"):
        _promote(client, store, "4")
    monkeypatch.undo()
    assert reg.champion_version(client, "dispute_cases") == "4"
    assert reg.recorded_champion(store, NAME)["version"] == "3"
    assert _promote(client, store, "4")["changed"] is False
    assert len(_entries(store, "promote", "4")) == 1
    assert reg.pending_moves(store, NAME) == []
    assert _rollback(client, store)["version"] == "3"


def test_an_old_audit_log_rolls_back_as_its_history_tag_did(tmp_path: Path) -> None:
    """A home whose moves were recorded by the old code (promote/rollback entries alone,
    the chain in the registered-model tag): the chain replayed from its entries is the
    tag's: v1, v2, v3 promoted, rolled back to v2, v3 promoted again, v4 promoted with
    its alias move failed: a rollback returns to v2, then to v1."""
    from riskwarn.store import Store

    store = Store(f"sqlite:///{tmp_path / 'serving.db'}")
    store.upgrade()
    for action, version, previous in [
        ("promote", "1", None),
        ("promote", "2", "1"),
        ("promote", "3", "2"),
        ("rollback", "2", "3"),
        ("promote", "3", "2"),
        ("promote", "4", "3"),
    ]:
        details = {"version": version, "previous": previous, "move_id": f"m{version}{action}"}
        store.audit("os:old", action, "model", NAME, details)
    store.audit("os:old", reg.FAILED_MOVE, "model", NAME, {"move_id": "m4promote"})
    assert reg.recorded_champion(store, NAME)["version"] == "3"
    assert reg.champion_chain(store, NAME) == ["1", "2"]  # the old tag after these moves
    store.audit("os:old", "rollback", "model", NAME, {"version": "2", "previous": "3"})
    assert reg.champion_chain(store, NAME) == ["1"]
    store.close()


def test_a_refused_rollback_is_audited(setup) -> None:
    """Refused promotes leave promotion_refused; a rollback with nowhere to go left
    nothing."""
    client, store, _ = setup
    assert _rollback(client, store)["version"] == "2"
    assert _rollback(client, store)["version"] == "1"
    with pytest.raises(reg.RollbackRefused, match="no previous champion"):
        _rollback(client, store)
    [refused] = store.audit_entries("model", NAME, ("rollback_refused",))
    assert refused["actor"] == "t"
    details = refused["details"]
    assert details["refusal"] == "no_previous_champion" and details["serving"] == "1"
    assert details["reason"] == "back" and details["via"] == "riskwarn rollback"
    assert details["why"].startswith(f"{NAME} has no previous champion")
    assert reg.recorded_champion(store, NAME)["version"] == "1"


def test_re_recording_the_serving_version_does_not_stack_it(setup) -> None:
    """v3 serves; its gate tag changes and it is promoted again (recorded anew, previous
    v3 itself): the chain does not gain v3, so a rollback still returns to v2."""
    client, store, _ = setup
    client.set_model_version_tag(NAME, "3", "gate", "fail")
    again = _promote(client, store, "3")
    assert (again["version"], again["previous"]) == ("3", "3"), again
    assert len(_entries(store, "promote", "3")) == 2  # recorded anew
    assert reg.champion_chain(store, NAME) == ["1", "2"]
    out = _rollback(client, store)
    assert (out["previous"], out["version"]) == ("3", "2"), out


def test_two_interrupted_intents_of_one_version_record_one_move(setup) -> None:
    """Two intents to promote v4 left unsettled, the alias at v4: only the newest is the
    move made (recorded once); the older one never moved the alias (failed)."""
    client, store, _ = setup
    for move_id in ("older", "newer"):
        intent = {"version": "4", "previous": "3", "move_id": move_id, "action": "promote"}
        store.audit("t", reg.MOVE_STARTED, "model", NAME, intent)
    client.set_registered_model_alias(NAME, reg.CHAMPION, "4")
    written = reg.settle_pending_moves(client, store, NAME, "finder")
    assert [(w["action"], w["move_id"]) for w in written] == [
        ("promote", "newer"),
        (reg.FAILED_MOVE, "older"),
    ]
    [moved] = _entries(store, "promote", "4")
    assert moved["details"]["move_id"] == "newer"
    assert reg.champion_chain(store, NAME) == ["1", "2", "3"]


def test_a_rollback_to_a_version_in_the_chain_twice_drops_only_its_last_stack(setup) -> None:
    """v1, v2, v3 promoted, then v1 again, then v4: the chain is 1, 2, 3, 1. A rollback
    to v1 returns to its latest stacking (chain 1, 2, 3), so the next one goes to v3, not
    "no previous champion" (cutting at v1's first stacking)."""
    client, store, _ = setup
    _promote(client, store, "1")
    _promote(client, store, "4")
    assert reg.champion_chain(store, NAME) == ["1", "2", "3", "1"]
    assert _rollback(client, store)["version"] == "1"
    assert reg.champion_chain(store, NAME) == ["1", "2", "3"]
    out = _rollback(client, store)
    assert (out["previous"], out["version"]) == ("1", "3"), out
