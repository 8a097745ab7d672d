#!/usr/bin/env bash
# Source this file to point the `airflow` CLI at riskwarn's Airflow:
#   source scripts/airflow_env.sh && .venv/bin/airflow dags list
# The values come from riskwarn.orchestration.airflow_env (one definition).
_rw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("${_rw_root}/.venv/bin/python" - <<'PY'
import shlex
from riskwarn.orchestration import airflow_env
from riskwarn.settings import load_settings

env = airflow_env(load_settings(), base={})
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())))
PY
)"
unset _rw_root
