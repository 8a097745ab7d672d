"""train_models runs at most ``RISKWARN_TRAIN_CONCURRENCY`` trainings at once.

Five city trainings at once hold ~22 GB resident on a 24 GB machine (docs/operations.md,
"How many trainings at once"): the mapped ``train`` task carries Airflow's
``max_active_tis_per_dagrun``. The DAG file is parsed as Airflow's DAG processor does
(``DagBag``) and read back through the serialized DAG, which is what the scheduler
reads; no metadata database is needed for that. scripts/train_cap_check.sh shows it
with a real scheduler.
"""

from __future__ import annotations

import os

import pytest

from riskwarn.orchestration import DAGS_FOLDER, airflow_env, train_concurrency
from riskwarn.settings import Settings

TRAIN_MODELS = str(DAGS_FOLDER / "train_models.py")


@pytest.fixture(scope="module")
def parse_env(tmp_path_factory):
    """riskwarn's Airflow environment (a temporary home), set before Airflow is imported."""
    settings = Settings(home=tmp_path_factory.mktemp("tc") / "rw")
    settings.home.mkdir()
    env = airflow_env(settings)
    env.pop("RISKWARN_TRAIN_CONCURRENCY", None)
    saved = {k: os.environ.get(k) for k in [*env, "RISKWARN_TRAIN_CONCURRENCY"]}
    os.environ.update(env)
    os.environ.pop("RISKWARN_TRAIN_CONCURRENCY", None)
    yield settings
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _train_tasks(bag):
    """The mapped ``train`` task as parsed, and as the scheduler reads it (serialized)."""
    from airflow.serialization.serialized_objects import DagSerialization

    assert bag.import_errors == {}
    dag = bag.dags["train_models"]
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    return dag.get_task("train"), serialized.get_task("train")


def test_train_models_runs_at_most_train_concurrency_trainings_at_once(
    parse_env, monkeypatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    for task in _train_tasks(DagBag(dag_folder=TRAIN_MODELS)):  # the default
        assert task.is_mapped
        assert task.max_active_tis_per_dagrun == 2
    monkeypatch.setenv("RISKWARN_TRAIN_CONCURRENCY", "3")
    for task in _train_tasks(DagBag(dag_folder=TRAIN_MODELS)):
        assert task.max_active_tis_per_dagrun == 3
    monkeypatch.setenv("RISKWARN_TRAIN_CONCURRENCY", "0")  # no cap
    for task in _train_tasks(DagBag(dag_folder=TRAIN_MODELS)):
        assert task.max_active_tis_per_dagrun is None


def test_a_train_concurrency_that_is_no_count_is_an_import_error(parse_env, monkeypatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("RISKWARN_TRAIN_CONCURRENCY", "two")
    bag = DagBag(dag_folder=TRAIN_MODELS)
    assert "train_models" not in bag.dags
    assert "RISKWARN_TRAIN_CONCURRENCY='two' is not a whole number" in "".join(
        bag.import_errors.values()
    )
    for bad in ("-1", "2.5"):
        with pytest.raises(ValueError, match="is not a whole number >= 0"):
            train_concurrency({"RISKWARN_TRAIN_CONCURRENCY": bad})
    assert (
        train_concurrency({}) == 2 and train_concurrency({"RISKWARN_TRAIN_CONCURRENCY": " "}) == 2
    )


def test_airflow_env_passes_a_train_concurrency_given_in_settings(tmp_path) -> None:
    base = {"RISKWARN_TRAIN_CONCURRENCY": "4"}
    assert airflow_env(Settings(home=tmp_path), base)["RISKWARN_TRAIN_CONCURRENCY"] == "4"
    given = Settings(home=tmp_path, train_concurrency=1)
    assert airflow_env(given, base)["RISKWARN_TRAIN_CONCURRENCY"] == "1"


def test_train_models_trains_the_site_domains_in_one_task(parse_env) -> None:
    """The mapped ``train`` task runs per group of domains: the two site domains share one
    task (one spill of the readings for both, riskwarn.pipeline.train_site_group), every
    other domain has its own; a run asking for one site domain trains it alone."""
    from airflow.dag_processing.dagbag import DagBag

    from riskwarn import domains

    bag = DagBag(dag_folder=TRAIN_MODELS)
    assert bag.import_errors == {}
    dag = bag.dags["train_models"]
    groups_of = dag.get_task("domains").python_callable
    every = list(domains.names(trained_by=domains.TRAIN_DAG))
    groups = groups_of(params={"domains": every})
    sites = [d for d in every if domains.get(d).family == "site"]
    assert sorted(sites) == ["geohazard", "geohazard_hourly"]
    assert sites in groups
    assert sorted(d for g in groups for d in g) == sorted(every)
    assert all(len(g) == 1 for g in groups if g != sites)
    assert groups_of(params={"domains": ["geohazard"]}) == [["geohazard"]]
    parsed, serialized = _train_tasks(bag)
    assert parsed.is_mapped and serialized.is_mapped
    assert parsed.map_index_template == "{{ task.op_kwargs['group'] | join('+') }}"
