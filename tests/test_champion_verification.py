"""Audited alias moves and champion verification (issue 13.10).

On the old code anyone who could reach MLflow could move the ``champion`` alias with no
audit entry, and scoring then unpickled whatever the alias pointed at. Now every move
is written to the audit log (authenticated actor, gate tag, digest of the model files)
before the alias moves, and scoring refuses a champion that does not match the newest
record: an alias moved behind riskwarn's back, an edited gate tag, replaced files.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from models import registry as reg
from models.registry import ChampionUnavailable
from riskwarn import lake
from riskwarn.scoring import score_domain
from riskwarn.settings import Settings
from riskwarn.store import Store
from scripts.check_champion import LEARNED_NOTHING
from tests.test_scoring import ORIGIN, CountModel, _incidents

NAME = "riskwarn-incidents"
OS_USER = pwd.getpwuid(os.getuid()).pw_name


def log_version(feature: str) -> str:
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CountModel(feature),
            registered_model_name=NAME,
            pip_requirements=["mlflow"],
        )
    version = str(info.registered_model_version)
    # CountModel's rule is fixed: it learned from no data (scoring refuses a champion
    # whose data end is not recorded)
    MlflowClient().set_model_version_tag(NAME, version, reg.TRAINED_THROUGH_TAG, LEARNED_NOTHING)
    return version


@pytest.fixture
def home(tmp_path: Path) -> Iterator[dict[str, Any]]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = reg.configure(uri)
    reg.ensure_experiment(NAME, (tmp_path / "artifacts").as_uri())
    mlflow.set_experiment(NAME)
    v1, v2 = log_version("count_28d"), log_version("count_7d")
    # judged as a training would (settle_gate): v1 with no champion, v2 against v1;
    # untagged needs --force
    for v, against in ((v1, reg.NO_CHAMPION), (v2, v1)):
        client.set_model_version_tag(NAME, v, reg.GATE_CHAMPION_TAG, against)
        client.set_model_version_tag(NAME, v, "gate", "pass")
    settings = Settings(home=tmp_path / "home", mlflow_tracking_uri=uri)
    lake.upsert(settings.lake_dir, "incidents", "test", _incidents(), batch_id="b1")
    store = Store.from_settings(settings)
    store.upgrade()
    yield {"settings": settings, "client": client, "store": store, "v1": v1, "v2": v2}
    store.close()


def moves(store: Store) -> pd.DataFrame:
    log = store.audit_log()
    return log[log["object_id"] == NAME].iloc[::-1].reset_index(drop=True)


def test_a_promotion_is_audited_first_with_the_authenticated_actor(
    home: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, store = home["client"], home["store"]
    monkeypatch.setenv("USER", "mallory")  # a claim, not an authentication
    out = reg.promote(client, "incidents", home["v1"], store=store, reason="first champion")
    assert out["changed"] and reg.champion_version(client, "incidents") == home["v1"]
    entry = moves(store).iloc[-1]
    assert entry["action"] == "promote" and entry["actor"] == f"os:{OS_USER}"
    details = entry["details"]
    assert details["version"] == home["v1"] and details["gate"] == "pass"
    assert len(details["digest"]) == 64 and details["via"] == "riskwarn promote"

    # its intent is written before the alias moves (the move once it has): a move that
    # fails is on record, as failed
    def refuse(*_: Any, **__: Any) -> None:
        raise mlflow.exceptions.MlflowException("registry went away")

    monkeypatch.setattr(client, "set_registered_model_alias", refuse)
    with pytest.raises(mlflow.exceptions.MlflowException):
        reg.promote(client, "incidents", home["v2"], store=store, reason="second")
    log = moves(store)
    assert list(log["action"][-2:]) == ["alias_move_started", "alias_move_failed"]
    assert log["details"].iloc[-2]["version"] == home["v2"]
    assert log["details"].iloc[-1]["move_id"] == log["details"].iloc[-2]["move_id"]
    assert reg.recorded_champion(store, NAME)["version"] == home["v1"]  # the failed one is not
    monkeypatch.undo()
    assert score_domain(home["settings"], "incidents", ORIGIN, store=store)


def test_an_alias_moved_behind_riskwarns_back_is_refused_at_load(home: dict[str, Any]) -> None:
    client, store, settings = home["client"], home["store"], home["settings"]
    reg.promote(client, "incidents", home["v1"], store=store, reason="champion")
    run_id = score_domain(settings, "incidents", ORIGIN, store=store)
    served = store.published_forecasts("incidents")

    client.set_registered_model_alias(NAME, reg.CHAMPION, home["v2"])  # straight to MLflow
    with pytest.raises(ChampionUnavailable, match="moved behind riskwarn's back"):
        score_domain(settings, "incidents", ORIGIN + pd.Timedelta(days=1), store=store)
    refused = store.audit_log()
    assert refused.iloc[0]["action"] == "champion_refused"
    assert store.published_run("incidents")["run_id"] == run_id
    pd.testing.assert_frame_equal(store.published_forecasts("incidents"), served)

    # riskwarn promote records the move: then it serves
    reg.promote(client, "incidents", home["v2"], store=store, reason="reviewed")
    assert score_domain(settings, "incidents", ORIGIN + pd.Timedelta(days=1), store=store)
    assert store.published_run("incidents")["model_version"] == home["v2"]


def test_a_rollback_after_an_alias_moved_behind_riskwarns_back_names_what_served(
    home: dict[str, Any],
) -> None:
    """riskwarn promoted v1 then v2; someone points the alias back at v1 straight in
    MLflow (scoring refuses it); ``rollback`` then records and prints that it rolled back
    from v2, what served, with the alias's v1 named apart. Before: "1 -> 1", previous 1."""
    client, store = home["client"], home["store"]
    reg.promote(client, "incidents", home["v1"], store=store, reason="first")
    reg.promote(client, "incidents", home["v2"], store=store, reason="second")
    client.set_registered_model_alias(NAME, reg.CHAMPION, home["v1"])  # straight to MLflow
    out = reg.rollback(client, "incidents", store=store, reason="v2 misbehaves")
    assert (out["previous"], out["version"], out["alias_was"]) == (home["v2"], home["v1"], "1")
    entry = moves(store).iloc[-1]
    assert entry["action"] == "rollback" and entry["details"]["previous"] == home["v2"]
    assert reg.recorded_champion(store, NAME)["version"] == home["v1"]


def test_promote_takes_a_version_written_as_in_the_messages(
    home: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``riskwarn promote incidents v1``: every message and page writes "v1"; the command
    took only "1" ("Parameter 'version' must be an integer, got 'v1'")."""
    from click.testing import CliRunner

    from riskwarn.cli import cli

    settings = home["settings"]
    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    done = CliRunner().invoke(cli, ["promote", "incidents", "v1", "--reason", "first"])
    assert done.exit_code == 0, done.output
    assert "riskwarn-incidents@champion: unset -> v1" in done.output
    assert reg.champion_version(home["client"], "incidents") == home["v1"]


def test_an_edited_gate_tag_or_replaced_files_are_refused(home: dict[str, Any]) -> None:
    client, store, settings = home["client"], home["store"], home["settings"]
    reg.promote(client, "incidents", home["v1"], store=store, reason="champion")
    client.set_model_version_tag(NAME, home["v1"], "gate", "fail")
    with pytest.raises(ChampionUnavailable, match="gate tag 'fail'"):
        score_domain(settings, "incidents", ORIGIN, store=store)
    client.set_model_version_tag(NAME, home["v1"], "gate", "pass")
    assert score_domain(settings, "incidents", ORIGIN, store=store)

    source = client.get_model_version(NAME, home["v1"]).source  # models:/m-<id>
    model_id = source.removeprefix("models:/")
    folder = Path(urlparse(client.get_logged_model(model_id).artifact_location).path)
    pickle = next(folder.rglob("python_model.pkl"))
    pickle.write_bytes(pickle.read_bytes() + b"\0")  # a file swapped in the artefact store
    with pytest.raises(ChampionUnavailable, match="model files differ"):
        score_domain(settings, "incidents", ORIGIN + pd.Timedelta(days=1), store=store)


def test_a_champion_riskwarn_never_recorded_is_refused(home: dict[str, Any]) -> None:
    home["client"].set_registered_model_alias(NAME, reg.CHAMPION, home["v1"])
    with pytest.raises(ChampionUnavailable, match="records no move of that alias"):
        score_domain(home["settings"], "incidents", ORIGIN, store=home["store"])


def test_the_cli_has_no_actor_to_claim(
    home: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskwarn.cli import main

    settings = home["settings"]
    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    args = ["promote", "incidents", home["v1"], "--reason", "cli"]
    assert main([*args, "--actor", "someone-else"]) == 2
    assert "No such option '--actor'" in capsys.readouterr().err
    assert main(args) == 0
    entry = moves(home["store"]).iloc[-1]
    assert entry["actor"] == f"os:{OS_USER}" and entry["details"]["reason"] == "cli"


def test_an_mlflow_server_without_credentials_moves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    with pytest.raises(reg.PromotionRefused, match="without credentials"):
        reg.authenticated_actor("http://127.0.0.1:5000")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ops")
    assert reg.authenticated_actor("https://mlflow.city.local") == "mlflow:ops"


def test_a_uid_without_an_account_name_can_move_the_alias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A container run with ``--user 12345`` (no passwd entry): the actor of a promote or
    rollback on a registry opened directly is ``os:uid=12345`` (old: KeyError, nothing
    could be promoted or rolled back there)."""
    import os
    import pwd

    def no_entry(uid: int) -> Any:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(os, "getuid", lambda: 12345)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert reg.authenticated_actor("sqlite:///mlflow.db") == "os:uid=12345"


def test_training_compares_with_a_verified_champion_only(home: dict[str, Any]) -> None:
    client, store = home["client"], home["store"]
    reg.promote(client, "incidents", home["v1"], store=store, reason="champion")
    out = reg.load_champion("incidents", store).predict(None, pd.DataFrame({"count_28d": [1.0]}))
    assert len(out) == 1
    client.set_registered_model_alias(NAME, reg.CHAMPION, home["v2"])
    with pytest.raises(reg.ChampionRefused, match="moved behind riskwarn's back"):
        reg.load_champion("incidents", store)  # what training calls with the pipeline's store


def test_models_lists_versions_their_gate_and_which_one_serves(
    home: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``riskwarn models incidents``: newest first, each version's gate and the champion
    it was judged against, SERVING on the version riskwarn recorded and MLflow's alias
    names; an alias moved behind riskwarn's back is called out, not shown as serving."""
    import json

    from click.testing import CliRunner

    from riskwarn.cli import cli

    settings = home["settings"]
    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    client, store = home["client"], home["store"]
    reg.promote(client, "incidents", home["v1"], store=store, reason="first")

    def models(*extra: str) -> str:
        done = CliRunner().invoke(cli, ["models", "incidents", *extra])
        assert done.exit_code == 0, done.output
        return done.output

    # the version lines (a header names the serving version's last registry action, and
    # each version may be followed by its history lines)
    lines = [ln for ln in models().splitlines() if re.match(r"\s*v\d+ ", ln)]
    assert lines[0].split()[0] == "v2" and "gate pass (against v1)" in lines[0]
    assert lines[1].split()[0] == "v1" and "gate pass (with no champion)" in lines[1]
    assert lines[1].endswith("[SERVING]") and "SERVING" not in lines[0]
    rows = json.loads(models("--json"))
    assert [(r["version"], r["recorded"], r["alias"]) for r in rows] == [
        (home["v2"], False, False),
        (home["v1"], True, True),
    ]

    client.set_registered_model_alias(NAME, reg.CHAMPION, home["v2"])  # straight to MLflow
    out = models()
    assert "points at v2, riskwarn recorded v1: scoring refuses" in out
    assert "[alias only]" in out and "[recorded, alias elsewhere]" in out
    assert "SERVING" not in out


def test_a_stale_gate_is_judged_against_riskwarns_record_not_a_moved_alias(
    home: dict[str, Any],
) -> None:
    """v2 serves (promoted by riskwarn); someone points the alias at v1 straight in MLflow;
    v3 passed its gate against v1. Before: ``promote 3`` compared v3's gate with the
    alias (v1), printed "1 -> 3" and recorded previous 1, so v3, never judged against the
    serving v2, replaced it. Now: refused as a stale gate against v2 (audited, the alias's
    v1 named apart); with --force the record says previous v2, alias_was v1."""
    client, store = home["client"], home["store"]
    v3 = log_version("count_28d")
    client.set_model_version_tag(NAME, v3, reg.GATE_CHAMPION_TAG, home["v1"])
    client.set_model_version_tag(NAME, v3, "gate", "pass")
    reg.promote(client, "incidents", home["v2"], store=store, reason="second")
    client.set_registered_model_alias(NAME, reg.CHAMPION, home["v1"])  # straight to MLflow
    with pytest.raises(reg.StaleGate, match=f"but v{home['v2']} serves now"):
        reg.promote(client, "incidents", v3, store=store, reason="x")
    refused = store.audit_log().iloc[0]
    assert refused["action"] == "promotion_refused"
    assert refused["details"]["serving"] == home["v2"]
    assert refused["details"]["alias_was"] == home["v1"]
    assert reg.champion_version(client, "incidents") == home["v1"]  # nothing moved

    out = reg.promote(client, "incidents", v3, store=store, reason="x", force=True)
    assert (out["previous"], out["version"]) == (home["v2"], v3)
    entry = moves(store).iloc[-1]
    assert entry["action"] == "promote"
    assert entry["details"]["previous"] == home["v2"]
    assert entry["details"]["alias_was"] == home["v1"]
    assert entry["details"]["forced_over_stale_gate"]["serving"] == home["v2"]


def test_models_says_when_a_gate_passed_without_comparing_with_the_champion(
    home: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A same-recipe refresh whose gate found 0 origins after the champion's data passes
    on the rules and calibration alone (models.gate.champion_check, ``compared: false``).
    ``riskwarn models`` listed it as "gate pass (against v1)", as if compared with v1 on
    new data; now "gate pass (no out-of-sample comparison with v1: 0 origins)". A version
    that was compared keeps "(against v1)"."""
    import json

    from click.testing import CliRunner

    from riskwarn.cli import cli

    settings = home["settings"]
    monkeypatch.setenv("RISKWARN_HOME", str(settings.home))
    monkeypatch.setenv("RISKWARN_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    client, store = home["client"], home["store"]
    reg.promote(client, "incidents", home["v1"], store=store, reason="first")
    refresh = {
        "check": "not worse than champion",
        "ok": True,
        "against": "champion",
        "champion_version": home["v1"],
        "recipe_same": True,
        "compared": False,
        "n_origins": 0,
        "detail": "same recipe as champion v1 ...; nothing to compare out of sample (0 origins",
    }
    v2_run = client.get_model_version(NAME, home["v2"]).run_id
    client.log_dict(v2_run, {"status": "pass", "checks": [refresh]}, reg.GATE_ARTIFACT)
    v3 = log_version("count_28d")
    client.set_model_version_tag(NAME, v3, reg.GATE_CHAMPION_TAG, home["v1"])
    client.set_model_version_tag(NAME, v3, "gate", "pass")
    compared = {**refresh, "compared": True, "n_origins": 6, "diff": 0.01, "ci": [-0.01, 0.03]}
    v3_run = client.get_model_version(NAME, v3).run_id
    client.log_dict(v3_run, {"status": "pass", "checks": [compared]}, reg.GATE_ARTIFACT)

    done = CliRunner().invoke(cli, ["models", "incidents"])
    assert done.exit_code == 0, done.output
    by_version = {line.split()[0]: line for line in done.output.splitlines()}
    v1_line, v2_line = by_version[f"v{home['v1']}"], by_version[f"v{home['v2']}"]
    assert "gate pass (no out-of-sample comparison with v1: 0 origins)" in v2_line
    assert "(against v1)" not in v2_line
    assert "gate pass (against v1)" in by_version[f"v{v3}"]
    assert "gate pass (with no champion)" in v1_line
    rows = {
        r["version"]: r
        for r in json.loads(CliRunner().invoke(cli, ["models", "incidents", "--json"]).output)
    }
    assert rows[home["v2"]]["gate_compared"] == {"compared": False, "n_origins": 0}
    assert rows[v3]["gate_compared"] == {"compared": True, "n_origins": 6}
    assert rows[home["v1"]]["gate_compared"] is None


def test_the_models_page_says_a_refresh_was_not_compared_with_the_champion() -> None:
    """The models page's verdict of such a champion (dashboard/verdicts.champion_words)
    says in both languages that there were too few origins to compare the two: it never
    said "against v1" (a guard for the CLI fix above; it passed on the old code too)."""
    from dashboard.verdicts import champion_words

    check = {
        "check": "not worse than champion",
        "ok": True,
        "against": "champion",
        "champion_version": "1",
        "recipe_same": True,
        "compared": False,
        "n_origins": 0,
        "min_origins": 4,
        "trained_through": "2023-12-26T00:00:00+00:00",
    }
    en = champion_words(check, "en", "Asia/Shanghai") or ""
    zh = champion_words(check, "zh", "Asia/Shanghai") or ""
    assert "too few forecast origins" in en and "to compare the two (0, needs 4" in en
    assert "还没有足够的它未见过的预测起点可供比较（0 个" in zh
