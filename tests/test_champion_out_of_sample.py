"""The champion is compared with a challenger only on origins it never saw.

Every training run logs ``trained_through`` (the final model's training origin) and
``recipe`` (how it is trained); the next training scores the champion only on the
evaluation origins at or after the champion's ``trained_through``. The old code scored
it on every evaluation row, most of which it was fitted on: the same code on the same
rows "lost" to its own twin (dispute_cases on the city: -0.007, CI [-0.010, -0.003]).
Hotspot (``train_hotspot_domain``) and case (``train_case_domain``) families here; the
site family in ``tests/test_geohazard_site_models.py``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from features.calendar import local_midnights
from models import case_models, train
from models import registry as reg
from models.case_models import train_case_domain
from models.gate import MIN_CHAMPION_ORIGINS, NOT_JUDGED
from models.train import train_hotspot_domain
from riskwarn import domains
from testkit.synthetic_hotspots import CRS, SMALL_TRAINING, TZ, synthetic_events
from tests.test_case_site_models import CONFIG as CASE_CONFIG
from tests.test_case_site_models import _cases


class ChampionSpy:
    """Wraps ``load_champion`` of a training module: records every row the champion
    scores (their origins)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
        self.origins: list[pd.Timestamp] = []
        real = module.load_champion
        spy = self

        class Proxy:
            def __init__(self, model: Any) -> None:
                self.model = model
                self.features = model.features

            def predict(self, context: Any, rows: pd.DataFrame, params: Any = None):
                spy.origins.extend(pd.to_datetime(rows["origin"], utc=True))
                return self.model.predict(context, rows)

        monkeypatch.setattr(module, "load_champion", lambda *a, **k: Proxy(real(*a, **k)))


def champion_check(report: Any) -> dict[str, Any]:
    checks = [c for c in report.gate.checks if c.get("against") == "champion"]
    assert len(checks) == 1, report.gate.summary()
    return checks[0]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from riskwarn.store import Store

    root = tmp_path_factory.mktemp("oos")
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())  # global: put back
    client = reg.configure(f"sqlite:///{root / 'mlflow.db'}")
    store = Store(f"sqlite:///{root / 'serving.db'}")
    store.upgrade()
    yield client, store, (root / "artifacts").as_uri()
    store.close()
    # set the URIs back without a client: a client on MLflow's default URI would create
    # sqlite:///mlflow.db in the working directory
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


def _force(client, store, domain: str, version: str | None) -> None:
    assert version is not None
    reg.promote(client, domain, version, store=store, actor="test", reason="seed", force=True)


# --------------------------------------------------------------------------- hotspot


def test_hotspot_twin_is_a_refresh_and_the_champion_never_scores_rows_it_saw(
    registry, monkeypatch
) -> None:
    client, store, artifacts = registry
    events = synthetic_events(seed=2, n_cells=12, days=420)

    def fit() -> train.TrainReport:
        return train_hotspot_domain(
            events,
            "incidents",
            client,
            crs=CRS,
            cell_size_m=250,
            tz=TZ,
            eval_days=42,
            model=SMALL_TRAINING,
            store=store,
            n_boot=100,
            artifact_location=artifacts,
        )

    first = fit()
    params = client.get_run(first.run.run_id).data.params
    through = pd.Timestamp(params["trained_through"])
    assert through == first.final.trained_until  # the final fit's training origin
    recipe = json.loads(mlflow.artifacts.load_text(f"runs:/{first.run.run_id}/recipe.json"))
    assert params["recipe"] and recipe["domain"] == "incidents"
    assert recipe["features"] == sorted(first.final.features) and recipe["shape"]["crs"] == CRS
    _force(client, store, "incidents", first.run.version)

    spy = ChampionSpy(monkeypatch, train)
    twin = fit()  # the same code on the same rows
    assert client.get_run(twin.run.run_id).data.params["recipe"] == params["recipe"]
    c = champion_check(twin)
    assert c["check"] == "not worse than champion" and c["ok"] and c["recipe_same"] is True
    assert c["champion_version"] == first.run.version and c["n_origins"] == 0
    assert pd.Timestamp(c["trained_through"]) == through
    assert "same recipe as champion v1" in twin.gate.summary()
    # never scored on a row whose origin is before the champion's trained_through
    assert all(o >= through for o in spy.origins)

    # a champion (of unknown recipe) whose trained_through lies inside the window is
    # scored on exactly the window's later origins, and judged on them
    run = client.get_run(twin.run.run_id).data.params
    step = domains.get("incidents").step_days
    window = list(local_midnights(run["eval_start"], run["eval_end"], step, TZ))
    assert len(window) == c["window_origins"]
    mid = pd.Timestamp(window[-MIN_CHAMPION_ORIGINS])  # enough later origins to judge
    real = reg.champion_provenance

    def provenance(*args, **kwargs):
        return replace(real(*args, **kwargs), trained_through=mid, recipe=None)

    monkeypatch.setattr(train, "champion_provenance", provenance)
    spy.origins.clear()
    rival = fit()
    later = {o for o in window if o >= mid}
    assert set(spy.origins) == later and len(later) < len(window)
    c = champion_check(rival)
    assert c["check"] == "beats champion" and c["recipe_same"] is False
    assert c["compared"] is True and c["n_origins"] == len(later) and len(c["ci"]) == 2


# --------------------------------------------------------------------------- cases


def _case_fit(client, store, artifacts, disputes, events, config=CASE_CONFIG):
    return train_case_domain(
        disputes,
        events,
        client,
        domain="dispute_cases",
        crs="EPSG:32650",
        cell_size_m=250,
        tz="Asia/Shanghai",
        eval_days=84,
        config=config,
        store=store,
        n_boot=100,
        artifact_location=artifacts,
    )


@pytest.fixture(scope="module")
def cases():
    return _cases()


def test_case_champion_is_judged_on_exactly_the_origins_after_its_training(
    registry, cases, monkeypatch
) -> None:
    """A champion trained on data that end ten weeks earlier: the challenger (same recipe,
    then another one) is compared with it on the later origins only, and each verdict
    says how many; then, with the full-data version serving, a twin is a refresh and a
    challenger with another recipe has nothing to be compared on: not judged."""
    client, store, artifacts = registry
    disputes, events = cases
    cut = events["event_at"].max() - pd.Timedelta(days=70)
    old = _case_fit(
        client,
        store,
        artifacts,
        disputes[disputes["opened_at"] < cut],
        events[events["event_at"] < cut],
    )
    _force(client, store, "dispute_cases", old.version)
    through = pd.Timestamp(client.get_run(old.run_id).data.params["trained_through"])

    spy = ChampionSpy(monkeypatch, case_models)
    new = _case_fit(client, store, artifacts, disputes, events)
    window = pd.DatetimeIndex(new.scores["origin"].unique())
    later = window[window >= through]
    assert MIN_CHAMPION_ORIGINS <= len(later) < len(window)  # the champion saw the others
    assert set(spy.origins) == set(later)  # exactly the later origins, nothing earlier
    c = champion_check(new)
    assert c["check"] == "not worse than champion" and c["recipe_same"] is True
    assert c["compared"] is True and c["n_origins"] == len(later)
    assert c["window_origins"] == len(window) and len(c["ci"]) == 2
    assert f"out of sample: {len(later)} of the window's {len(window)} origins" in c["detail"]

    other = replace(CASE_CONFIG, refit_every_days=21)  # another recipe
    spy.origins.clear()
    rival = _case_fit(client, store, artifacts, disputes, events, other)
    c = champion_check(rival)
    assert c["check"] == "beats champion" and c["recipe_same"] is False
    assert c.get("judged", True) and c["n_origins"] == len(later)
    assert set(spy.origins) == set(later)

    # the full-data version serves: a twin has nothing later; another recipe is not judged
    _force(client, store, "dispute_cases", new.version)
    spy.origins.clear()
    twin = _case_fit(client, store, artifacts, disputes, events)
    c = champion_check(twin)
    assert c["check"] == "not worse than champion" and c["ok"] and c["n_origins"] == 0
    assert "nothing to compare out of sample" in c["detail"] and spy.origins == []
    unjudged = _case_fit(client, store, artifacts, disputes, events, other)
    c = champion_check(unjudged)
    assert c["check"] == "beats champion" and c["judged"] is False and c["n_origins"] == 0
    assert "cannot be compared out of sample" in c["detail"]
    assert unjudged.gate.status in (NOT_JUDGED, "fail") and not unjudged.promoted
    if not any(not x["ok"] and x.get("judged", True) for x in unjudged.gate.checks):
        assert unjudged.gate.status == NOT_JUDGED
    tag = client.get_model_version("riskwarn-dispute_cases", unjudged.version).tags["gate"]
    assert tag == unjudged.gate.status
    assert reg.champion_version(client, "dispute_cases") == new.version
    logged = json.loads(Path(client.download_artifacts(unjudged.run_id, "gate.json")).read_text())
    (lc,) = [x for x in logged["checks"] if x.get("against") == "champion"]
    assert lc["recipe_same"] is False and lc["champion_version"] == new.version


def test_an_older_champion_without_the_params_counts_as_trained_at_its_run_start(
    registry,
) -> None:
    """A champion logged before ``trained_through`` and ``recipe`` existed: its final
    fit's origin (``trained_until``, logged with a zone by every older run) bounds what it
    saw; without that (or with a zone-less one, which could be local time) it may have
    seen everything before its run started (so no row it saw is called out of sample).
    Its recipe is unknown (never the same as a challenger's)."""
    client, _store, artifacts = registry
    reg.ensure_experiment("riskwarn-disputes", artifacts)
    mlflow.set_experiment("riskwarn-disputes")
    client.create_registered_model("riskwarn-disputes")
    with mlflow.start_run() as run:
        mlflow.log_params({"trained_until": "2016-02-01 16:00:00+00:00"})
    mv = client.create_model_version(
        "riskwarn-disputes", f"runs:/{run.info.run_id}/m", run.info.run_id
    )
    prov = reg.champion_provenance(client, "disputes", str(mv.version))
    assert prov.trained_through == pd.Timestamp("2016-02-01T16:00Z")
    assert prov.through_source == "trained_until" and prov.recipe is None
    for until in ({"trained_until": "2016-02-01 16:00:00"}, {}):  # zone-less, or none
        with mlflow.start_run() as run:
            mlflow.log_params(until or {"n_features": 3})
        mv = client.create_model_version(
            "riskwarn-disputes", f"runs:/{run.info.run_id}/m", run.info.run_id
        )
        prov = reg.champion_provenance(client, "disputes", str(mv.version))
        started = pd.Timestamp(client.get_run(run.info.run_id).info.start_time, unit="ms", tz="UTC")
        assert prov.trained_through == started and prov.through_source == "run start"
    assert prov.recipe is None and not prov.same_recipe(None) and not prov.same_recipe("abc")
    with mlflow.start_run() as run:
        mlflow.log_params({"trained_through": "2016-02-01T16:00:00+00:00", "recipe": "abc"})
    mv = client.create_model_version(
        "riskwarn-disputes", f"runs:/{run.info.run_id}/m", run.info.run_id
    )
    prov = reg.champion_provenance(client, "disputes", str(mv.version))
    assert prov.trained_through == pd.Timestamp("2016-02-01T16:00Z")
    assert prov.through_source == "trained_through" and prov.same_recipe("abc")


def test_a_case_champion_is_judged_on_the_cases_of_its_own_sources(
    registry, cases, monkeypatch
) -> None:
    """A dispute_cases champion trained on one source, a challenger on two (a second
    source's cases ingested after the champion): the champion is judged as it is served,
    on a frame of the cases and events of the sources it was trained on
    (:func:`riskwarn.scoring.served_sources`), and the comparison is on the rows both may
    score, their escalations alone counted; the check names those sources. Fails on the
    old code (the champion scored the challenger's rows: the second source's cases, with
    neighbourhood counts of both sources)."""
    client, store, artifacts = registry
    disputes, events = cases
    cut = events["event_at"].max() - pd.Timedelta(days=70)
    old = _case_fit(
        client,
        store,
        artifacts,
        disputes[disputes["opened_at"] < cut],
        events[events["event_at"] < cut],
    )
    _force(client, store, "dispute_cases", old.version)
    assert client.get_run(old.run_id).data.params["trained_on_sources"] == "test"

    # a second department's cases (every other one again, under its own ids)
    second = disputes.iloc[::2].assign(source="b")
    second["record_id"] = "B-" + second["record_id"]
    theirs = events[events["dispute_id"].isin(disputes.iloc[::2]["record_id"])]
    theirs = theirs.assign(
        source="b", dispute_id="B-" + theirs["dispute_id"], record_id="B-" + theirs["record_id"]
    )
    both_d = pd.concat([disputes, second], ignore_index=True)
    both_e = pd.concat([events, theirs], ignore_index=True)

    seen: list[pd.DataFrame] = []
    real = case_models.load_champion

    class Proxy:
        def __init__(self, model: Any) -> None:
            self.model, self.features = model, model.features
            self.trained_on, self.sources = model.trained_on, model.sources

        def predict(self, context: Any, rows: pd.DataFrame, params: Any = None):
            seen.append(rows.copy())
            return self.model.predict(context, rows)

    monkeypatch.setattr(case_models, "load_champion", lambda *a, **k: Proxy(real(*a, **k)))
    new = _case_fit(client, store, artifacts, both_d, both_e)
    (rows,) = seen
    assert len(rows) and not rows["dispute_id"].str.startswith("B-").any()
    # its inputs from its own source: the neighbourhood counts of the cases of "test" alone
    own = case_models.build_case_table(
        disputes,
        events,
        pd.DatetimeIndex(sorted(rows["origin"].unique())),
        crs="EPSG:32650",
        cell_size_m=250,
        tz="Asia/Shanghai",
        horizon_days=CASE_CONFIG.horizon_days,
    ).merge(rows[["origin", "dispute_id"]], on=["origin", "dispute_id"])
    feats = [f for f in old_features(client, old.run_id) if f in rows.columns]
    pd.testing.assert_frame_equal(
        rows.sort_values(["origin", "dispute_id"], ignore_index=True)[feats],
        own.sort_values(["origin", "dispute_id"], ignore_index=True)[feats],
        check_dtype=False,
    )
    c = champion_check(new)
    assert c["compared_cases_of"] == ["test"]
    model = new.scores[new.scores["method"] == "xgboost"]
    mine = model.merge(rows[["origin", "dispute_id"]], on=["origin", "dispute_id"])
    assert c["n_events"] == int(mine["label"].sum())
    later = model[model["origin"] >= pd.Timestamp(c["trained_through"])]
    assert c["n_events"] < int(later["label"].sum())  # the second source's escalations: not
    assert "the cases of test only" in c["detail"]


def old_features(client: Any, run_id: str) -> list[str]:
    """The features of the model logged by run ``run_id``."""
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").unwrap_python_model()
    return list(model.features)
