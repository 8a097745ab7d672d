#!/usr/bin/env bash
# Source this file to point the `airflow` CLI at riskwarn's Airflow:
#   source scripts/airflow_env.sh && .venv/bin/airflow dags list
# The values come from riskwarn.orchestration.airflow_env (one definition).
# Metadata DB: SQLite in $RISKWARN_HOME/airflow, or RISKWARN_AIRFLOW_DB_URL when set, e.g.
#   RISKWARN_AIRFLOW_DB_URL=postgresql+psycopg://postgres@127.0.0.1:5432/airflow
# (a psycopg URL is also used as Airflow's async connection: psycopg 3 is async-capable,
# and without it Airflow would derive an asyncpg URL, which is not installed).
_rw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("${_rw_root}/.venv/bin/python" - <<'PY'
import os
import shlex

from riskwarn.orchestration import airflow_env
from riskwarn.settings import load_settings

base = {k: os.environ[k] for k in ("RISKWARN_AIRFLOW_DB_URL",) if os.environ.get(k)}
env = airflow_env(load_settings(), base=base)
env.pop("RISKWARN_AIRFLOW_DB_URL", None)  # an input, already exported by the caller
db_url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC" not in env:  # airflow_env sets it for psycopg
    lines.append("unset AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC")  # none of another DB
print("\n".join(lines))
PY
)"
unset _rw_root
