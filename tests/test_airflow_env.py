"""The environment riskwarn hands to every ``airflow`` process (orchestration.airflow_env)."""

from __future__ import annotations

import subprocess
import sys

from riskwarn.orchestration import airflow_env
from riskwarn.settings import Settings

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ASYNC = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"


def test_a_postgres_metadata_db_gets_a_psycopg_async_url_and_airflow_loads_it(tmp_path) -> None:
    env = airflow_env(Settings(home=tmp_path), base={"RISKWARN_AIRFLOW_DB_URL": PG})
    assert env[ASYNC] == PG
    # Airflow 3 builds its async engine when its settings load: without the async URL it
    # derived postgresql+asyncpg, which is not installed (ModuleNotFoundError: asyncpg)
    code = "from airflow import settings; settings.configure_orm(); print(settings.async_engine.url.drivername)"
    full = airflow_env(
        Settings(home=tmp_path), base={"PATH": "/usr/bin:/bin", "RISKWARN_AIRFLOW_DB_URL": PG}
    )
    r = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "postgresql+psycopg"


def test_no_async_url_of_another_database_is_inherited(tmp_path) -> None:
    env = airflow_env(Settings(home=tmp_path), base={ASYNC: PG})  # SQLite metadata DB
    assert ASYNC not in env
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
