"""``scripts/airflow_wait.py``: the live Airflow checks wait on the metadata DB itself
(a SQLite stand-in here with the two tables and the one column each wait reads) instead
of polling the ``airflow`` CLI every few seconds."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from scripts import airflow_wait


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'airflow.db'}"


def _create(db: str) -> sa.Engine:
    engine = sa.create_engine(db)
    with engine.begin() as con:
        con.execute(sa.text("CREATE TABLE dag (dag_id TEXT PRIMARY KEY)"))
        con.execute(sa.text("CREATE TABLE serialized_dag (id INTEGER PRIMARY KEY, dag_id TEXT)"))
        con.execute(sa.text("CREATE TABLE dag_run (dag_id TEXT, run_id TEXT, state TEXT)"))
    return engine


def _register(engine: sa.Engine, dag_id: str, *, serialized: bool = True) -> None:
    with engine.begin() as con:
        con.execute(sa.text("INSERT INTO dag (dag_id) VALUES (:d)"), {"d": dag_id})
        if serialized:
            con.execute(sa.text("INSERT INTO serialized_dag (dag_id) VALUES (:d)"), {"d": dag_id})


def test_a_dag_counts_once_written_whole_and_not_before_the_tables_exist(db: str) -> None:
    engine = sa.create_engine(db)
    assert airflow_wait.registered_dags(engine) == set()  # not migrated yet
    engine = _create(db)
    _register(engine, "score_and_warn")
    _register(engine, "train_models", serialized=False)  # its row only: still being written
    assert airflow_wait.registered_dags(engine) == {"score_and_warn"}


def test_waiting_for_dags_ends_when_the_last_is_written_and_names_what_never_came(
    db: str,
) -> None:
    engine = _create(db)
    _register(engine, "score_and_warn")
    with pytest.raises(SystemExit, match=r"within 0 s: \['publish', 'train_models'\]"):
        airflow_wait.wait_for_dags(db, ["score_and_warn", "train_models", "publish"], 0.2, 0.05)
    later = threading.Timer(
        0.3, lambda: (_register(engine, "train_models"), _register(engine, "publish"))
    )
    later.start()
    waited = airflow_wait.wait_for_dags(db, ["score_and_warn", "train_models", "publish"], 20, 0.05)
    later.join()
    assert 0.25 <= waited < 15


def test_waiting_for_a_run_returns_its_end_state_or_its_last_state_at_the_timeout(
    db: str,
) -> None:
    engine = _create(db)
    assert airflow_wait.wait_for_run(db, "score_and_warn", "r1", 0.1, 0.05) is None
    with engine.begin() as con:
        con.execute(sa.text("INSERT INTO dag_run VALUES ('score_and_warn', 'r1', 'running')"))
    start = time.monotonic()
    assert airflow_wait.wait_for_run(db, "score_and_warn", "r1", 0.2, 0.05) == "running"

    def finish() -> None:
        with engine.begin() as con:
            con.execute(sa.text("UPDATE dag_run SET state = 'failed' WHERE run_id = 'r1'"))

    later = threading.Timer(0.3, finish)
    later.start()
    assert airflow_wait.wait_for_run(db, "score_and_warn", "r1", 20, 0.05) == "failed"
    later.join()
    assert time.monotonic() - start < 15
    # another DAG's run of the same id is not this one
    assert airflow_wait.wait_for_run(db, "train_models", "r1", 0.1, 0.05) is None
