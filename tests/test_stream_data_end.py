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
    from tests.test_scoring import _geohazard_lake
    from testkit.stream_helpers import register_site_model

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
