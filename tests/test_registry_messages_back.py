"""What ``rollback`` and ``promote`` say when an operator goes back and forth between
champions (review finding, 2026-12-06): a second ``riskwarn rollback`` after rolling back
to the first champion said only "has no previous champion to roll back to", and promoting
back a version that had served was refused as "never judged against" the serving one,
which reads as if its gate had never run. Now the refusals say what serves and since
when, when the version asked for served before, why the gate design refuses it (its pass
was against another champion: docs/design.md, "A pass is a pass against one champion")
and the commands that do what the operator wants: ``promote``, ``rollback --from``, or
``promote --force --reason`` (recorded as forced). Nothing about what is allowed changed.

Real MLflow (SQLite) registry and serving store under ``tmp_path``, as
tests/test_rollback_rerun.py builds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest

from models import registry as reg

DOMAIN = "dispute_cases"
NAME = reg.model_name(DOMAIN)


@pytest.fixture
def home(tmp_path: Path):
    """v1 (judged with no champion), v2 (judged against v1), v3 (against v2), all pass."""
    from riskwarn.store import Store

    client = reg.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    reg.ensure_experiment(NAME, (tmp_path / "art").as_uri())
    mlflow.set_experiment(NAME)
    client.create_registered_model(NAME)
    for against in (reg.NO_CHAMPION, "1", "2"):
        with mlflow.start_run(tags={"riskwarn.domain": DOMAIN}) as run:
            mlflow.log_params({"domain": DOMAIN})
        mv = client.create_model_version(NAME, f"runs:/{run.info.run_id}/x", run.info.run_id)
        client.set_model_version_tag(NAME, mv.version, reg.GATE_CHAMPION_TAG, against)
        client.set_model_version_tag(NAME, mv.version, "gate", "pass")
    store = Store(f"sqlite:///{tmp_path / 'serving.db'}")
    store.upgrade()
    yield client, store, tmp_path / "run"
    store.close()


def _promote(home: Any, version: str, force: bool = False) -> dict:
    client, store, lock = home
    return reg.promote(
        client, DOMAIN, version, store=store, actor="t", reason="r", force=force, lock_dir=lock
    )


def _rollback(home: Any) -> dict:
    client, store, lock = home
    return reg.rollback(client, DOMAIN, store=store, actor="t", reason="back", lock_dir=lock)


def test_a_rollback_past_the_first_champion_says_what_serves_and_what_to_do(home) -> None:
    for v in ("1", "2", "3"):
        _promote(home, v)
    assert _rollback(home)["version"] == "2"
    assert _rollback(home)["version"] == "1"
    with pytest.raises(reg.RollbackRefused) as err:
        _rollback(home)
    text = str(err.value)
    assert text.startswith(f"{NAME} has no previous champion to roll back to: v1 serves (it ")
    assert "serves since the rollback from v2 by t at " in text
    assert "no version served before it, so there is nothing to roll back to" in text
    assert text.endswith(
        "to serve another version (v2, rolled back from, included) promote it: "
        f"`riskwarn promote {DOMAIN} VERSION --reason ...` (`riskwarn models {DOMAIN}` "
        "lists the versions and their gates)"
    )
    # what it says works: v2's pass was against v1, which serves
    assert _promote(home, "2")["changed"] is True
    _, store, _ = home
    [refused] = store.audit_entries("model", NAME, ("rollback_refused",))
    assert refused["details"]["why"] == text


def test_a_rollback_with_no_champion_yet_says_to_promote_one(home) -> None:
    with pytest.raises(reg.RollbackRefused) as err:
        _rollback(home)
    assert str(err.value) == (
        f"{NAME} has no previous champion to roll back to: riskwarn has recorded no champion "
        f"of it yet; promote a version with `riskwarn promote {DOMAIN} VERSION --reason ...` "
        f"(`riskwarn models {DOMAIN}` lists the versions and their gates)"
    )


def test_promoting_back_a_former_champion_says_why_it_is_refused_and_how_to_proceed(
    home,
) -> None:
    for v in ("1", "2", "3"):
        _promote(home, v)
    _rollback(home)
    _rollback(home)  # v1 serves; v3 served before, judged against v2
    with pytest.raises(reg.StaleGate) as err:
        _promote(home, "3")
    text = str(err.value)
    assert text.startswith(f"{NAME} v3 served before (champion from ")
    assert "when a rollback by t moved the champion to v2), but its gate judged it " in text
    assert "against champion v2, not against v1, which serves now" in text
    assert "never judged" not in text
    assert "a promotion needs a pass against the serving champion" in text
    assert f"`riskwarn promote {DOMAIN} 3 --force --reason ...`" in text
    assert "rollback" not in text.split("To serve it again:")[1]  # v3 is not behind v1
    _, store, _ = home
    [refused] = store.audit_entries("model", NAME, ("promotion_refused",))
    spell = refused["details"]["served_before"]  # the audit entry says when it served
    assert (spell["action"], spell["version"]) == ("rollback", "2")
    assert refused["details"]["why"] == text
    # the way it names works, and is recorded as forced
    assert _promote(home, "3", force=True)["version"] == "3"
    record = reg.recorded_champion(store, NAME)
    assert record is not None
    assert record["forced_over_stale_gate"] == {"gate_champion": "2", "serving": "1"}


def test_the_version_a_rollback_returns_to_names_the_rollback(home) -> None:
    _promote(home, "1")
    _promote(home, "2")  # v1 served before v2; its pass was with no champion
    with pytest.raises(reg.StaleGate) as err:
        _promote(home, "1")
    text = str(err.value)
    assert text.startswith(f"{NAME} v1 served before (champion from ")
    assert "when a promote by t moved the champion to v2), but its gate judged it with " in text
    assert (
        f"To serve it again: `riskwarn rollback {DOMAIN} --from 2 --reason ...` (it is the "
        "version that served before v2), or "
    ) in text
    # a version that never served keeps the message it had, without "never judged"
    _rollback(home)
    with pytest.raises(reg.StaleGate) as err3:
        _promote(home, "3")
    assert str(err3.value).startswith(
        f"{NAME} v3 passed its gate against champion v2, but v1 serves now: its gate never "
        "compared it with v1; retrain it"
    )
