"""Scoring refuses a champion trained in another time zone than the one its inputs are
built in (``Settings.display_tz``).

Attack review 2026-12-08: ``riskwarn train incidents --tz UTC``, ``promote --force``,
then ``score incidents --origin 2024-01-01`` served the UTC model on the city's UTC+8
inputs without a word (30 inputs differed; 1 of 769 top-5 % cells changed). Now the
run records its zone (param ``tz``, version tag ``riskwarn.tz``), scoring refuses it in
one line (English and Chinese, exit 2, audited ``champion_refused``, nothing written),
and an older run's zone is read from its ``recipe.json``. A version that records no
zone is served as built in the settings' zone. Real MLflow (SQLite), serving store and
training (testkit.synthetic_hotspots' small configuration).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import mlflow
import pytest

from models import registry as reg
from models.registry import ChampionUnavailable
from models.train import train_hotspot_domain
from riskwarn import lake, scoring
from riskwarn.settings import Settings
from riskwarn.store import Store
from scripts.check_champion import ORIGIN, CountModel
from scripts.check_champion import incidents as _incidents
from testkit.synthetic_hotspots import CRS, SMALL_TRAINING, synthetic_events

NAME = reg.model_name("incidents")


@pytest.fixture(scope="module")
def trained_in_utc(tmp_path_factory) -> dict[str, Any]:
    """A small incidents model trained with ``tz="UTC"`` (``riskwarn train --tz UTC``),
    registered, not promoted."""
    root = tmp_path_factory.mktemp("tz")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = reg.configure(uri)
    reg.ensure_experiment(NAME, (root / "artifacts").as_uri())
    report = train_hotspot_domain(
        synthetic_events(seed=2, n_cells=12, days=420),
        "incidents",
        client,
        crs=CRS,
        cell_size_m=250,
        tz="UTC",
        eval_days=42,
        model=SMALL_TRAINING,
        auto_promote=False,
        n_boot=100,
    )
    return {"uri": uri, "client": client, "version": report.run.version}


def test_the_run_and_its_version_record_the_time_zone(trained_in_utc) -> None:
    client, version = trained_in_utc["client"], trained_in_utc["version"]
    mv = client.get_model_version(NAME, version)
    assert mv.tags[reg.TZ_TAG] == "UTC"
    assert client.get_run(mv.run_id).data.params[reg.TZ] == "UTC"
    got = reg.trained_tz(client, "incidents", version)
    assert got.zones == ("UTC",) and not got.differs_from("UTC")
    assert got.differs_from("Asia/Shanghai")


def test_a_champion_trained_in_another_zone_is_refused_in_one_line_exit_2(
    trained_in_utc, settings: Settings
) -> None:
    uri, client, version = (
        trained_in_utc["uri"],
        trained_in_utc["client"],
        trained_in_utc["version"],
    )
    settings = settings.model_copy(update={"mlflow_tracking_uri": uri})
    assert settings.display_tz == "Asia/Shanghai"
    store = Store.from_settings(settings)
    store.upgrade()
    # incidents before ORIGIN (a local midnight in Asia/Shanghai): the old code scored
    # and published them with the UTC model
    lake.upsert(settings.lake_dir, "incidents", "test", _incidents(), batch_id="b1")
    try:
        reg.configure(uri)
        reg.promote(client, "incidents", version, store=store, reason="tz test", force=True)
        with pytest.raises(ChampionUnavailable, match="trained in time zone UTC") as caught:
            scoring.score_domain(settings, "incidents", ORIGIN, store=store)
        assert isinstance(caught.value.__cause__, scoring.OtherTimeZone)
        words = str(caught.value)
        assert "builds its inputs in Asia/Shanghai" in words and "训练时区为 UTC" in words
        assert "\n" not in words
        assert store.runs("incidents").empty  # nothing staged, nothing published
        entry = store.audit_entries("model", NAME, ("champion_refused",))[0]
        assert entry["details"]["refusal"] == "other_time_zone"
        assert entry["details"]["version"] == version
        # the CLI: one line, exit 2, as the other champion refusals
        settings.home.chmod(0o700)
        env = {
            **os.environ,
            "RISKWARN_HOME": str(settings.home),
            "RISKWARN_MLFLOW_TRACKING_URI": uri,
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "riskwarn.cli",
                "score",
                "incidents",
                "--origin",
                ORIGIN.isoformat(),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = [x for x in done.stderr.splitlines() if x.strip()]
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert lines[0].startswith("error: refusing to score incidents: "), lines[0]
        assert "trained in time zone UTC" in lines[0] and "拒绝评分" in lines[0], lines[0]
        # in the zone it was trained in, the same version passes the check
        scoring.same_time_zone(uri, "incidents", version, "UTC")
    finally:
        store.close()


def _hand_run(experiment: str, recipe: dict[str, Any] | None) -> str:
    """A version registered by hand (a CountModel) whose run logged ``recipe`` (as every
    run before 2026-12-08 did: no ``tz`` param, no ``riskwarn.tz`` tag) or nothing."""
    with mlflow.start_run(experiment_id=experiment):
        if recipe is not None:
            mlflow.log_param(reg.RECIPE, "0123456789abcdef")
            mlflow.log_dict(recipe, reg.RECIPE_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=CountModel("count_28d"),
            registered_model_name=NAME,
            pip_requirements=["mlflow"],
        )
    return str(info.registered_model_version)


def test_an_older_runs_zone_is_read_from_its_recipe_and_none_is_assumed_the_settings(
    tmp_path,
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = reg.configure(uri)  # both URIs: an earlier test may have pointed them elsewhere
    exp = mlflow.create_experiment("hand", artifact_location=(tmp_path / "a").as_uri())
    old = _hand_run(exp, {"domain": "incidents", "shape": {"tz": "UTC", "crs": CRS}})
    with pytest.raises(scoring.OtherTimeZone, match="trained in time zone UTC"):
        scoring.same_time_zone(uri, "incidents", old, "Asia/Shanghai")
    scoring.same_time_zone(uri, "incidents", old, "UTC")
    # nothing records a zone (registered by hand, before recipes): served in the settings'
    bare = _hand_run(exp, None)
    assert reg.trained_tz(client, "incidents", bare).zones == ()
    scoring.same_time_zone(uri, "incidents", bare, "Asia/Shanghai")
    # a tag edited to the settings' zone does not hide the zone its run recorded
    client.set_model_version_tag(NAME, old, reg.TZ_TAG, "Asia/Shanghai")
    with pytest.raises(scoring.OtherTimeZone, match="Asia/Shanghai, UTC"):
        scoring.same_time_zone(uri, "incidents", old, "Asia/Shanghai")
