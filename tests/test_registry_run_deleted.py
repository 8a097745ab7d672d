"""A champion's MLflow run deleted, then collected (`mlflow gc`), and promote/rollback
reasons without a limit (attack review 2026-12-07).

1. The in-sample guard read the version's data end from its run alone: once the run was
   deleted and collected, the end was "unknown", the version listed "trained through ?"
   and scoring at an origin inside its training data was accepted. The facts are now
   tags of the version (written at registration; tests/test_registry.py checks they are
   written) and read first; a version without them whose run is gone is refused (exit 2,
   audited ``champion_refused``).
2. `promote --force` refused a version whose run was deleted, but `rollback` returned to
   one; `riskwarn models` did not say a run was deleted.
3. A promote or rollback reason of 130,000 characters was stored twice and printed by
   every `riskwarn models`; review reasons are capped at 2,000.

Real MLflow (SQLite) registry, in-process `mlflow gc`, SQLite serving store, temporary
home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

DOMAIN = "incidents"
THROUGH = "2023-12-01T16:00:00+00:00"  # both versions' training data end
INSIDE = "2023-09-04"  # an origin inside their training data
AFTER = pd.Timestamp("2024-01-10T16:00Z")  # an origin after it


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """v1 registered with the version tags (as registration writes them since the fix),
    v2 without (registered before): both trained through :data:`THROUGH`; v1 serves."""
    import mlflow

    from models import registry as reg
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RISKWARN_HOME", str(home))
    for key in ("RISKWARN_STORE_URL", "RISKWARN_MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    client = reg.configure(settings.resolved_mlflow_uri)
    name = reg.model_name(DOMAIN)
    reg.ensure_experiment(name, (home / "art").resolve().as_uri())
    mlflow.set_experiment(name)
    client.create_registered_model(name)
    runs = []
    for i in range(2):
        with mlflow.start_run(tags={"riskwarn.domain": DOMAIN}) as run:
            mlflow.log_params({"domain": DOMAIN, "trained_through": THROUGH, "recipe": "r1"})
            mlflow.log_text("weights", "x/model.txt")
        mv = client.create_model_version(name, f"runs:/{run.info.run_id}/x", run.info.run_id)
        if i == 0:
            client.set_model_version_tag(name, mv.version, reg.TRAINED_THROUGH_TAG, THROUGH)
            client.set_model_version_tag(name, mv.version, reg.RECIPE_TAG, "r1")
        runs.append(run.info.run_id)
    store = Store.from_settings(settings)
    store.upgrade()
    reg.promote(client, DOMAIN, "1", store=store, actor="ana", reason="first", force=True)
    yield {"client": client, "store": store, "name": name, "runs": runs, "settings": settings}
    store.close()


def collect(home: dict[str, Any], run_id: str) -> None:
    """`MlflowClient().delete_run(run)` then `mlflow gc --run-ids RUN` (in process)."""
    from click.testing import CliRunner
    from mlflow.cli import gc

    home["client"].delete_run(run_id)
    uri = home["settings"].resolved_mlflow_uri
    got = CliRunner().invoke(gc, ["--backend-store-uri", uri, "--run-ids", run_id])
    assert got.exit_code == 0, got.output
    with pytest.raises(Exception, match="not found"):
        home["client"].get_run(run_id)


def audit(home: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return home["store"].audit_entries("model", home["name"], (action,))


def test_the_in_sample_guard_survives_the_runs_collection(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from models import registry as reg
    from riskwarn import scoring
    from riskwarn.cli import main

    uri = home["settings"].resolved_mlflow_uri
    collect(home, home["runs"][0])
    prov = reg.champion_provenance(home["client"], DOMAIN, "1")
    assert prov.trained_through == pd.Timestamp(THROUGH) and prov.recipe == "r1"
    assert prov.through_source == "trained_through" and prov.run_deleted
    with pytest.raises(scoring.InSampleOrigin, match="in-sample"):
        scoring.out_of_sample(uri, DOMAIN, "1", pd.Timestamp(INSIDE, tz="UTC"))
    scoring.out_of_sample(uri, DOMAIN, "1", AFTER)  # after its data: not refused
    assert main(["score", DOMAIN, "--origin", INSIDE]) == 2
    err = capsys.readouterr().err
    assert "in-sample" in err and len(err.strip().splitlines()) == 1, err
    # the listing reads the version's facts too, and says its run is gone
    assert main(["models", DOMAIN]) == 0
    out = capsys.readouterr().out
    assert "trained through 2023-12-01  recipe r1" in out, out
    assert f"its MLflow run {home['runs'][0]} was deleted" in out, out


def test_a_champion_whose_data_end_cannot_be_read_is_refused(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """v2 (registered before the version tags) serves, then its run is collected: its
    data end cannot be read at all; refused at any origin, audited, one line, exit 2.
    Before its run went, it was read from the run (as for every older version)."""
    from models import registry as reg
    from riskwarn import scoring
    from riskwarn.cli import main

    uri = home["settings"].resolved_mlflow_uri
    reg.promote(home["client"], DOMAIN, "2", store=home["store"], reason="v2", force=True)
    old = reg.champion_provenance(home["client"], DOMAIN, "2")
    assert old.through_source == "trained_through" and not old.run_deleted
    with pytest.raises(scoring.InSampleOrigin):  # read from its run while it is there
        scoring.out_of_sample(uri, DOMAIN, "2", pd.Timestamp(INSIDE, tz="UTC"))
    collect(home, home["runs"][1])
    assert reg.champion_provenance(home["client"], DOMAIN, "2").through_source == "run gone"
    for origin in (INSIDE, f"{AFTER:%Y-%m-%d}"):
        assert main(["score", DOMAIN, "--origin", origin]) == 2
        err = capsys.readouterr().err
        assert "training data end cannot be read" in err, err
        assert len(err.strip().splitlines()) == 1, err
    refused = audit(home, "champion_refused")
    assert len(refused) == 2 and "cannot be read" in refused[0]["details"]["reason"]
    assert main(["models", DOMAIN]) == 0
    out = capsys.readouterr().out
    assert "trained through ?" in out and f"run {home['runs'][1]} was deleted" in out, out
    assert "still serves: promote another version" in out, out


def test_rollback_refuses_a_version_whose_run_was_deleted(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """`promote 2 --force`, v1's run deleted, `rollback`: refused as promote refuses it
    (the old code moved the champion onto v1 without a word)."""
    from models import registry as reg
    from riskwarn.cli import main

    reg.promote(home["client"], DOMAIN, "2", store=home["store"], reason="v2", force=True)
    home["client"].delete_run(home["runs"][0])
    assert main(["rollback", DOMAIN, "--reason", "v2 is bad"]) != 0
    err = capsys.readouterr().err
    assert "v1" in err and "was deleted" in err and "not rolled back" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert reg.champion_version(home["client"], DOMAIN) == "2"
    (entry,) = audit(home, "rollback_refused")
    assert entry["details"]["refusal"] == "run_deleted"
    assert entry["details"]["run_id"] == home["runs"][0]
    assert main(["models", DOMAIN]) == 0
    out = capsys.readouterr().out
    assert f"its MLflow run {home['runs'][0]} was deleted" in out, out
    assert "promote and rollback refuse it" in out, out


def test_scoring_a_champion_whose_run_was_deleted_says_so(home: dict[str, Any]) -> None:
    """Served (its files match the promoted digest), with a line saying its files may go
    at any time; nothing said while its run is kept."""
    from models import registry as reg
    from riskwarn import scoring

    uri = home["settings"].resolved_mlflow_uri
    champion = reg.Champion(DOMAIN, home["name"], "1", None, None)
    assert scoring.run_deleted_note(uri, champion) is None
    home["client"].delete_run(home["runs"][0])
    note = scoring.run_deleted_note(uri, champion)
    assert note is not None and "v1 serves, but its MLflow run" in note, note
    assert "may be removed at any time (mlflow gc)" in note


@pytest.mark.parametrize("command", ["promote", "rollback"])
def test_a_reason_longer_than_a_reviews_is_refused(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from models import registry as reg
    from riskwarn.cli import main
    from riskwarn.review_text import REASON_MAX_CHARS

    client, store = home["client"], home["store"]
    reg.promote(client, DOMAIN, "2", store=store, reason="v2", force=True)
    long = "x" * 130_000
    args = ["promote", DOMAIN, "1", "--force"] if command == "promote" else ["rollback", DOMAIN]
    assert main([*args, "--reason", long]) != 0
    err = capsys.readouterr().err
    assert f"at most {REASON_MAX_CHARS} characters" in err and "130,000" in err, err
    assert len(err.strip().splitlines()) == 1 and len(err) < 500, err
    assert reg.champion_version(client, DOMAIN) == "2"
    kind = "promotion_refused" if command == "promote" else "rollback_refused"
    (entry,) = audit(home, kind)
    assert entry["details"]["refusal"] == "reason_too_long"
    assert entry["details"]["length"] == 130_000 and "reason" not in entry["details"]
    every = ("promote", "rollback", "alias_move_started", "promotion_refused", kind)
    assert "x" * 2_001 not in str(store.audit_entries("model", home["name"], every))
    # at the limit it is taken, as a review's
    assert main([*args, "--reason", "y" * REASON_MAX_CHARS]) == 0
    assert reg.champion_version(client, DOMAIN) == "1"


def test_a_long_reason_recorded_before_is_shown_cut() -> None:
    from riskwarn.commands.registry import move_words
    from riskwarn.review_text import REASON_MAX_CHARS

    move = {"action": "rollback", "version": "1", "previous": "2", "actor": "os:ana",
            "at": "2026-12-07T15:00:00+00:00", "reason": "z" * 130_000}  # fmt: skip
    line = move_words(move)
    assert len(line) < REASON_MAX_CHARS + 200 and "(cut: 130,000 characters in all)" in line
    assert move_words({**move, "reason": "short"}).endswith('reason: "short"')


def test_a_long_gate_summary_still_promotes_automatically() -> None:
    """The gate's summary, the reason of its automatic promotion, is cut to the limit
    (a gate of many checks must not be refused for its own words)."""
    from models.registry import gate_reason
    from riskwarn.review_text import REASON_MAX_CHARS, reason_problem

    cut = gate_reason("gate PASS: " + "check: ok (detail); " * 300)
    assert len(cut) <= REASON_MAX_CHARS and reason_problem(cut) is None
    assert cut.endswith("(cut; in full: the run's gate.json)")
    assert gate_reason("gate PASS: a: ok") == "gate PASS: a: ok"
