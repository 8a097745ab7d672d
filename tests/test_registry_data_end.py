"""The champion's training data end: one rule for scoring's in-sample guard and the
dashboard's models page, held to the end riskwarn recorded when it promoted the version
(attack review 2026-12-07, second pass).

1. A champion whose run exists but never logged its data end (no version tag, no run
   param, no zoned ``trained_until``: registered by hand or by an older riskwarn) was
   served at every origin, with no in-sample check. Refused now, as the run-gone case:
   one line naming the version and the fix, exit 2, audited ``champion_refused``.
2. The models page read the data end from the run's ``trained_until`` param alone: blank
   once the run was collected (``mlflow gc``), and another rule than scoring's. It shows
   :func:`models.registry.data_end`'s now (tests/test_dashboard_data_end.py).
3. A ``riskwarn.trained_through`` tag edited by hand after the run was collected went
   unnoticed: moved earlier, it let an in-sample origin through. The promotion's audit
   record names the data end now, and scoring refuses a version whose end differs.

Real MLflow (SQLite) registry, in-process ``mlflow gc``, SQLite serving store, a
temporary home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

DOMAIN = "incidents"
THROUGH = "2023-12-01T16:00:00+00:00"  # v1's training data end
EARLIER = "2023-06-01T16:00:00+00:00"  # an edited tag moving it before INSIDE
INSIDE = "2023-09-04"  # an origin inside v1's training data, after EARLIER
AFTER = pd.Timestamp("2024-01-10T16:00Z")  # an origin after THROUGH


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """v1 registered as riskwarn registers a version (its run's ``trained_through``
    param and the version's tag), v2 registered by hand (its run logged no data end);
    v1 serves, promoted through riskwarn."""
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
            mlflow.log_params(
                {"domain": DOMAIN, **({"trained_through": THROUGH} if i == 0 else {})}
            )
            mlflow.log_text("weights", "x/model.txt")
        mv = client.create_model_version(name, f"runs:/{run.info.run_id}/x", run.info.run_id)
        if i == 0:
            client.set_model_version_tag(name, mv.version, reg.TRAINED_THROUGH_TAG, THROUGH)
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


def refusals(home: dict[str, Any]) -> list[dict[str, Any]]:
    return home["store"].audit_entries("model", home["name"], ("champion_refused",))


def score(origin: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from riskwarn.cli import main

    code = main(["score", DOMAIN, "--origin", origin])
    return code, capsys.readouterr().err.strip()


def test_a_champion_whose_run_never_logged_its_data_end_is_refused(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """v2's run is there but says nothing of its data: refused at every origin (the old
    code served it at any origin, in-sample ones included), then served once its data
    end is tagged and recorded by promoting it again."""
    from models import registry as reg
    from riskwarn import scoring

    client, store, name = home["client"], home["store"], home["name"]
    uri = home["settings"].resolved_mlflow_uri
    reg.promote(client, DOMAIN, "2", store=store, actor="bob", reason="by hand", force=True)
    assert reg.recorded_champion(store, name)[reg.DATA_END_RECORD] is None
    with pytest.raises(scoring.UnknownDataEnd, match="training data end cannot be read"):
        scoring.out_of_sample(uri, DOMAIN, "2", AFTER, store)
    for origin in (INSIDE, f"{AFTER:%Y-%m-%d}"):
        code, err = score(origin, capsys)
        assert code == 2, err
        assert len(err.splitlines()) == 1, err
        assert f"{name} v2's training data end cannot be read" in err, err
        assert f"neither its {reg.TRAINED_THROUGH_TAG} tag nor its MLflow run" in err, err
        assert f"riskwarn promote {DOMAIN} 2 --force --reason" in err, err  # the fix
    audited = refusals(home)
    assert len(audited) == 2 and audited[0]["details"]["version"] == "2"
    assert "cannot be read" in audited[0]["details"]["reason"]

    # the fix: the tag alone is a fact riskwarn never recorded (refused, said so) ...
    client.set_model_version_tag(name, "2", reg.TRAINED_THROUGH_TAG, THROUGH)
    with pytest.raises(scoring.UnknownDataEnd, match="did not record when it promoted it"):
        scoring.out_of_sample(uri, DOMAIN, "2", AFTER, store)
    # ... promoted again (audited, under the promoter's name), it is served on it
    again = reg.promote(client, DOMAIN, "2", store=store, actor="bob", reason="tagged", force=True)
    assert again["changed"] and again[reg.DATA_END_RECORD] == THROUGH
    scoring.out_of_sample(uri, DOMAIN, "2", AFTER, store)
    with pytest.raises(scoring.InSampleOrigin):
        scoring.out_of_sample(uri, DOMAIN, "2", pd.Timestamp(INSIDE, tz="UTC"), store)
    # promoting it once more changes nothing: the record matches
    assert not reg.promote(client, DOMAIN, "2", store=store, reason="again", force=True)["changed"]


def test_a_version_registered_without_any_run_is_refused(home: dict[str, Any]) -> None:
    """A version registered from a file, with no MLflow run at all: refused too (it was
    'run start', its registration time, and served at any origin)."""
    from models import registry as reg
    from riskwarn import scoring

    client, name = home["client"], home["name"]
    art = Path(home["settings"].home) / "art" / "loose"
    art.mkdir(parents=True)
    (art / "model.txt").write_text("weights")
    mv = client.create_model_version(name, art.as_uri())
    end = reg.data_end(client, DOMAIN, str(mv.version))
    assert end.at is None and end.problem == reg.UNKNOWN_END
    assert "it has no MLflow run" in (end.words or "")
    with pytest.raises(scoring.UnknownDataEnd):
        scoring.out_of_sample(home["settings"].resolved_mlflow_uri, DOMAIN, str(mv.version), AFTER)


def test_a_tag_edited_after_the_runs_collection_is_found(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """v1 serves, its run is collected, then its tag is moved earlier by hand: the old
    code read the edited tag alone and scored INSIDE (in v1's training data) as a
    forecast. Its promotion recorded THROUGH: the edit is found and the version refused;
    the tag removed is refused with the recorded end to restore; set back, it serves."""
    from models import registry as reg
    from riskwarn import scoring

    client, store, name = home["client"], home["store"], home["name"]
    uri = home["settings"].resolved_mlflow_uri
    assert reg.recorded_champion(store, name)[reg.DATA_END_RECORD] == THROUGH
    collect(home, home["runs"][0])
    client.set_model_version_tag(name, "1", reg.TRAINED_THROUGH_TAG, EARLIER)
    assert reg.champion_provenance(client, DOMAIN, "1").trained_through == pd.Timestamp(EARLIER)
    end = reg.data_end(client, DOMAIN, "1", reg.recorded_champion(store, name))
    assert end.at is None and end.problem == reg.CHANGED_END
    code, err = score(INSIDE, capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{name} v1's training data end reads {EARLIER} now" in err, err
    assert f"riskwarn recorded {THROUGH} when it promoted it (promote by ana" in err, err
    assert "tag was edited since" in err, err
    assert "edited since" in refusals(home)[0]["details"]["reason"]

    client.delete_model_version_tag(name, "1", reg.TRAINED_THROUGH_TAG)  # removed: unknown
    code, err = score(INSIDE, capsys)
    assert code == 2 and "training data end cannot be read now" in err, err
    assert f"{reg.TRAINED_THROUGH_TAG}={THROUGH} in the MLflow UI, as recorded" in err, err

    client.set_model_version_tag(name, "1", reg.TRAINED_THROUGH_TAG, THROUGH)  # restored
    with pytest.raises(scoring.InSampleOrigin, match="in-sample"):
        scoring.out_of_sample(uri, DOMAIN, "1", pd.Timestamp(INSIDE, tz="UTC"), store)
    scoring.out_of_sample(uri, DOMAIN, "1", AFTER, store)


def test_a_later_tag_on_a_kept_run_is_found_too(home: dict[str, Any]) -> None:
    """With its run kept, the later of tag and run param is read (an earlier tag changes
    nothing); a later one differs from the record: refused as edited, not believed."""
    from models import registry as reg

    client, store, name = home["client"], home["store"], home["name"]
    client.set_model_version_tag(name, "1", reg.TRAINED_THROUGH_TAG, EARLIER)
    end = reg.data_end(client, DOMAIN, "1", reg.recorded_champion(store, name))
    assert end.at == pd.Timestamp(THROUGH) and end.problem is None
    client.set_model_version_tag(name, "1", reg.TRAINED_THROUGH_TAG, "2024-02-01T16:00:00+00:00")
    end = reg.data_end(client, DOMAIN, "1", reg.recorded_champion(store, name))
    assert end.problem == reg.CHANGED_END and "edited since" in (end.words or "")


def test_the_models_listing_shows_the_data_end_scoring_reads(home: dict[str, Any]) -> None:
    """`riskwarn models` read the data end as "the tag, else the run's param", scoring as
    "the later of the two": with the tag edited earlier the listing said EARLIER while
    scoring judged origins against THROUGH (and refuses the version now). One rule: the
    listing shows what scoring reads, and nothing for a version whose end is unknown."""
    from models import registry as reg

    home["client"].set_model_version_tag(home["name"], "1", reg.TRAINED_THROUGH_TAG, EARLIER)
    rows = {r["version"]: r for r in reg.versions(home["client"], home["store"], DOMAIN)}
    assert pd.Timestamp(rows["1"]["trained_through"]) == pd.Timestamp(THROUGH)
    assert rows["2"]["trained_through"] is None  # its run logged none: unknown
