"""The test runs' MLflow database template (testkit/mlflow_template.py): a new SQLite
mlflow.db opened in the test process is a copy of a database MLflow migrated itself,
with the same schema and Alembic revision, and MLflow works on it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from testkit import mlflow_template


def _schema(path: Path) -> tuple[list[tuple[str, str, list[str]]], list[tuple[str, ...]]]:
    """Tables and indexes, each statement's lines sorted (MLflow's own migrations write a
    table's CHECK constraints in an order that varies from one migration to the next),
    and the Alembic revision."""
    with sqlite3.connect(path) as con:
        objects = con.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
        revision = con.execute("SELECT version_num FROM alembic_version").fetchall()
    lines = [
        (kind, name, sorted(line.strip().rstrip(",") for line in sql.split("\n")))
        for kind, name, sql in objects
    ]
    return lines, revision


@pytest.mark.slow
def test_a_new_mlflow_db_is_the_migrated_schema_and_works(tmp_path: Path) -> None:
    import mlflow.store.db.utils as utils
    import sqlalchemy
    from mlflow import MlflowClient

    assert utils._initialize_tables is mlflow_template._initialize_tables  # installed
    copied = tmp_path / "copied" / "mlflow.db"
    copied.parent.mkdir()
    client = MlflowClient(f"sqlite:///{copied}", f"sqlite:///{copied}")
    exp = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "auc", 0.75)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("m")
    version = client.create_model_version("m", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("m", "champion", version.version)
    assert client.get_model_version_by_alias("m", "champion").run_id == run.info.run_id
    assert client.get_run(run.info.run_id).data.metrics == {"auc": 0.75}

    # the same tables, indexes and revision as a database MLflow migrates itself
    migrated = tmp_path / "migrated.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{migrated}")
    try:
        mlflow_template._state["original"](engine)
    finally:
        engine.dispose()
    assert _schema(copied) == _schema(migrated)
