"""The hourly site model on the stream and in the batch nowcast is held to batch
scoring's data-end rule (riskwarn.scoring.served_data_end / refuse_origin): neither
checked a data end, so a champion whose ``riskwarn.trained_through`` tag was edited
after its promotion was served by both, and a replay of readings older than the model's
data end was scored in-sample. Now the stream refuses such a champion at load (audited
once, the consumer keeps evaluating the sensor rules and storing readings) and leaves
in-sample origins to the sensor rules; the nowcast publishes the sensor rules alone and
fails (exit 2), as for any model outage.

Real MLflow (SQLite) registry, SQLite serving store, a small geohazard lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ORIGIN = pd.Timestamp("2024-07-10T12:00Z")
DOMAIN = "geohazard_hourly"
LATER = "2024-08-01T00:00:00+00:00"  # a data end after ORIGIN


def _home(tmp_path: Path, tag: str | None = None) -> tuple[Any, Any, str]:
    """A geohazard lake, the test site model registered and promoted through riskwarn
    (with its data-end tag set to ``tag`` first, when given)."""
    from models.registry import TRAINED_THROUGH_TAG, model_name
    from riskwarn.settings import Settings
    from riskwarn.store import Store
    from scripts.check_champion import adopt_champion
    from testkit.stream_helpers import register_site_model
    from tests.test_scoring import _geohazard_lake

    settings = Settings(
        home=tmp_path / "home", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    settings.home.mkdir()
    _geohazard_lake(settings, ORIGIN)
    store = Store.from_settings(settings)
    store.upgrade()
    uri = settings.resolved_mlflow_uri
    version = register_site_model(uri, (tmp_path / "artifacts").as_uri())
    if tag is not None:
        _client(uri).set_model_version_tag(model_name(DOMAIN), version, TRAINED_THROUGH_TAG, tag)
    adopt_champion(uri, store, DOMAIN)  # records the data end read now
    return settings, store, uri


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _edit_tag(uri: str) -> None:
    """The version's data end edited by hand after its promotion."""
    from models.registry import TRAINED_THROUGH_TAG, model_name

    _client(uri).set_model_version_tag(
        model_name(DOMAIN), "1", TRAINED_THROUGH_TAG, "2001-01-01T00:00:00+00:00"
    )


def _refusals(store: Any) -> list[dict[str, Any]]:
    from models.registry import model_name

    return store.audit_entries("model", model_name(DOMAIN), ("champion_refused",))


def test_the_stream_refuses_a_champion_whose_data_end_changed(tmp_path: Path) -> None:
    from riskwarn.stream.model import StreamSiteModel

    settings, store, uri = _home(tmp_path)
    _edit_tag(uri)
    m = StreamSiteModel(uri, store, settings.lake_dir, every_s=0.0)
    m.load()
    assert m.champion is None, m.state
    assert m.state.startswith("rules only: refused over its training data end"), m.state
    assert "tag was edited since" in m.state, m.state
    assert m.score("s1", ORIGIN, previous_rank=0) is None  # the sensor rules alone
    m.load()  # the next reload: refused again, audited once
    (entry,) = _refusals(store)
    assert entry["details"]["version"] == "1" and "edited since" in entry["details"]["reason"]
    assert m.status()["model"] == m.state
    store.close()


def test_the_stream_leaves_in_sample_origins_to_the_sensor_rules(tmp_path: Path) -> None:
    """A replay of readings before the model's data end: no model score there."""
    from riskwarn import lake
    from riskwarn.stream.model import StreamSiteModel

    settings, store, uri = _home(tmp_path, LATER)
    m = StreamSiteModel(uri, store, settings.lake_dir, every_s=0.0)
    m.load()
    assert m.champion is not None, m.state  # served: its end is read and recorded
    m.add(lake.read_table(settings.lake_dir, "sensor_readings"), {})
    assert m.score("s1", ORIGIN, previous_rank=0) is None
    status = m.status()["model"]
    assert "origins before 2024-08-01 00:00Z are in-sample for it: sensor rules only" in status
    assert "(1 site steps)" in status, status
    assert _refusals(store) == []
    store.close()


def test_the_nowcast_publishes_the_sensor_rules_alone_and_fails(tmp_path: Path) -> None:
    from models.registry import ChampionUnavailable
    from riskwarn.nowcast import nowcast_geohazard

    settings, store, uri = _home(tmp_path)
    _edit_tag(uri)
    with pytest.raises(ChampionUnavailable, match="training data end reads"):
        nowcast_geohazard(settings, ORIGIN, store=store)
    run = store.published_run(DOMAIN)
    assert run is not None and not run.get("model_version"), run  # the sensor rules alone
    assert _refusals(store), "audited"
    store.close()


def test_the_nowcast_of_an_in_sample_hour_is_the_sensor_rules_alone(tmp_path: Path) -> None:
    from models.registry import ChampionUnavailable
    from riskwarn.nowcast import nowcast_geohazard

    settings, store, _ = _home(tmp_path, LATER)
    with pytest.raises(ChampionUnavailable, match="in-sample"):
        nowcast_geohazard(settings, ORIGIN, store=store)
    run = store.published_run(DOMAIN)
    assert run is not None and not run.get("model_version"), run
    store.close()


def _register_fit_to(uri: str, artifacts: str, until: str) -> str:
    """The test site model, its files holding a final fit's origin ``until`` (as a riskwarn
    model's ``fitted.trained_until``), its version tagged with an earlier data end (the
    tag moved by hand before its promotion; no run param to bound it)."""
    from types import SimpleNamespace
    from typing import ClassVar

    import mlflow
    from mlflow.pyfunc import PythonModel

    from models.registry import TRAINED_THROUGH_TAG, model_name
    from testkit.stream_helpers import SiteLogitModel

    class _Model(PythonModel):
        features: ClassVar[list[str]] = ["velocity_mm_per_day", "rain_24h_mm"]

        def __init__(self) -> None:
            self.fitted = SimpleNamespace(trained_until=pd.Timestamp(until))

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            p = SiteLogitModel.probability(model_input)
            return pd.DataFrame({"probability": p}, index=model_input.index)

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment(f"test-fit-{DOMAIN}", artifact_location=artifacts)
    with mlflow.start_run(experiment_id=exp):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_Model(),
            registered_model_name=model_name(DOMAIN),
            pip_requirements=["mlflow"],
        )
    version = str(info.registered_model_version)
    client = _client(uri)
    client.set_model_version_tag(
        model_name(DOMAIN), version, TRAINED_THROUGH_TAG, "2000-01-01T00:00:00+00:00"
    )
    client.set_registered_model_alias(model_name(DOMAIN), "champion", version)
    return version


def test_a_tag_moved_earlier_than_the_models_own_fit_is_refused(tmp_path: Path) -> None:
    """The version's record holds the edited (earlier) end: nothing but the model's own
    files, checked against their promotion digest, says it was fit to LATER. The old code
    served it at ORIGIN (inside its training data), in the nowcast and on the stream."""
    from models.registry import ChampionUnavailable
    from riskwarn.nowcast import nowcast_geohazard
    from riskwarn.settings import Settings
    from riskwarn.store import Store
    from riskwarn.stream.model import StreamSiteModel
    from scripts.check_champion import adopt_champion
    from tests.test_scoring import _geohazard_lake

    settings = Settings(
        home=tmp_path / "home", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"
    )
    settings.home.mkdir()
    _geohazard_lake(settings, ORIGIN)
    store = Store.from_settings(settings)
    store.upgrade()
    uri = settings.resolved_mlflow_uri
    _register_fit_to(uri, (tmp_path / "artifacts").as_uri(), LATER)
    adopt_champion(uri, store, DOMAIN)
    with pytest.raises(ChampionUnavailable, match="its own model files were fit on data to"):
        nowcast_geohazard(settings, ORIGIN, store=store)
    run = store.published_run(DOMAIN)
    assert run is not None and not run.get("model_version"), run  # the sensor rules alone
    m = StreamSiteModel(uri, store, settings.lake_dir, every_s=0.0)
    m.load()
    assert m.champion is None, m.state
    assert f"fit on data to {LATER}" in m.state, m.state
    assert len(_refusals(store)) == 2  # the nowcast's, the stream's
    store.close()
