#!/usr/bin/env bash
# Scale path check: the unchanged riskwarn DAGs on Airflow's CeleryExecutor.
#
# Starts, in a scratch RISKWARN_HOME: an Airflow API server (the execution API the
# workers talk to), a scheduler, a DAG processor and TWO Celery workers, with the
# metadata DB on PostgreSQL (127.0.0.1:5432, a fresh database) and Redis
# (127.0.0.1:6379) as the broker. Prepares a small lake and an incidents champion,
# triggers `score_and_warn` for one day and waits for the run to succeed, then checks
# the published run in the serving store and that a Celery worker ran the task.
# Everything it started is stopped (process sessions) and the database dropped.
#   scripts/celery_check.sh            # exit 0 = the daily DAG ran to success on Celery
#
# Needs celery<5.7 (5.7 broke apache-airflow-providers-celery 3.26's import); the
# script checks the import first. Only score_and_warn is unpaused and cron scheduling is
# off (AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False), so the workers run just the triggered
# run. Redis db 5 is flushed at the end (only that db). Exit 0 = all checks passed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
if ! err="$("$BIN/python" -c 'import airflow.providers.celery.executors.celery_executor' 2>&1)"; then
  echo "CeleryExecutor cannot be imported: $(echo "$err" | tail -1)" >&2
  echo "(celery $("$BIN/python" -c 'import celery; print(celery.__version__)') vs apache-airflow-providers-celery; pin celery<5.7)" >&2
  exit 1
fi
WORK="$(mktemp -d /tmp/rw-celery.XXXXXX)"
DB="rw_celery_$(date +%s)_$$"
PG="postgresql+psycopg://postgres@127.0.0.1:5432"
export RISKWARN_HOME="$WORK/home"
export RISKWARN_MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db"
export RISKWARN_AIRFLOW_DB_URL="$PG/$DB"
mkdir -p "$RISKWARN_HOME"
# the simple auth manager (riskwarn.orchestration.airflow_env) keeps its passwords file here
mkdir -p -m 700 "$RISKWARN_HOME/secrets"
"$BIN/python" -c "import sqlalchemy as sa; e=sa.create_engine('$PG/postgres', isolation_level='AUTOCOMMIT'); e.connect().exec_driver_sql('CREATE DATABASE \"$DB\"')"
source "$ROOT/scripts/airflow_env.sh"
# airflow_env.sh builds from an empty base, so set the PostgreSQL metadata DB here
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$RISKWARN_AIRFLOW_DB_URL"
# psycopg 3 is async-capable; without this Airflow derives an asyncpg URL (not installed)
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="$RISKWARN_AIRFLOW_DB_URL"
# the workers unpickle the check champion (scripts.check_champion.CountModel) from the repo
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False
export AIRFLOW__CORE__EXECUTOR=airflow.providers.celery.executors.celery_executor.CeleryExecutor
export AIRFLOW__CELERY__BROKER_URL=redis://127.0.0.1:6379/5
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg://postgres@127.0.0.1:5432/$DB"
export AIRFLOW__CELERY__WORKER_CONCURRENCY=1
# the scheduler's send of a task to Redis, and a task's calls to the execution API, wait
# up to 30/60 s: with Airflow's defaults 1/5 s, under make test's load on this 2-core
# machine, the first task's send timed out, then its execution API calls, and it ran again
# only after the DAG's 2-minute retry delay (test_celery: 839 s, 2026-12-05 14:06 UTC)
export AIRFLOW__CELERY__OPERATION_TIMEOUT=30
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=60
# own ports, as backfill_check.sh: a running `make up`, or another check or test (make test
# runs two at once), may hold 8080/8793
free_port() { "$BIN/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
API_PORT="$(free_port)"
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$(free_port)"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do pkill -TERM -s "$pid" 2>/dev/null || true; done
  for i in $(seq 1 20); do
    alive=0
    for pid in "${PIDS[@]}"; do pgrep -s "$pid" >/dev/null && alive=1; done
    [[ $alive == 0 ]] && break; sleep 1
  done
  for pid in "${PIDS[@]}"; do pkill -KILL -s "$pid" 2>/dev/null || true; done
  sleep 1
  left=0
  for pid in "${PIDS[@]}"; do pgrep -s "$pid" >/dev/null && left=1; done
  [[ $left == 0 ]] && echo "all started processes stopped" || echo "ORPHANS LEFT" >&2
  redis-cli -n 5 flushdb >/dev/null 2>&1 || "$BIN/python" -c "import redis; redis.Redis(db=5).flushdb()" || true
  "$BIN/python" -c "import sqlalchemy as sa; e=sa.create_engine('$PG/postgres', isolation_level='AUTOCOMMIT'); e.connect().exec_driver_sql('DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)')" || true
  echo "stopped; logs kept in $WORK"
}
trap cleanup EXIT

"$BIN/airflow" db migrate >"$WORK/migrate.log" 2>&1
# a small lake and an incidents champion (the same fixtures the tests use)
"$BIN/python" - <<'PY'
import os
from pathlib import Path
from riskwarn import lake
from riskwarn.settings import load_settings
from riskwarn.store import Store
from scripts.check_champion import adopt_champion, incidents, register

s = load_settings()
lake.upsert(s.lake_dir, "incidents", "test", incidents(), batch_id="b1")
work = Path(os.environ["RISKWARN_HOME"]).parent
register(s.resolved_mlflow_uri, (work / "artifacts").as_uri(), "incidents", "count_28d")
# scoring serves only a champion riskwarn recorded (issue 13): adopt it as `riskwarn promote` does
store = Store.from_settings(s)
store.upgrade()
adopt_champion(s.resolved_mlflow_uri, store, "incidents")
store.close()
PY

start() { local log="$1"; shift; setsid "$@" >"$WORK/$log.log" 2>&1 </dev/null & PIDS+=($!); }
echo "API server on 127.0.0.1:$API_PORT"
start api "$BIN/airflow" api-server --port "$API_PORT" --host 127.0.0.1
start dag-processor "$BIN/airflow" dag-processor
start scheduler "$BIN/airflow" scheduler
start celery-1 "$BIN/airflow" celery worker --celery-hostname worker1@%h --concurrency 1 --skip-serve-logs
start celery-2 "$BIN/airflow" celery worker --celery-hostname worker2@%h --concurrency 1 --skip-serve-logs

# wait for the DAG to be parsed (on the metadata DB: scripts/airflow_wait.py), then trigger one day
"$BIN/python" "$ROOT/scripts/airflow_wait.py" --timeout 360 dags score_and_warn
"$BIN/airflow" dags unpause score_and_warn >/dev/null
"$BIN/airflow" dags trigger score_and_warn -l 2024-03-10T16:00:00+00:00 \
  -r celery_check --conf '{"domains": ["incidents"]}' >/dev/null
state="$("$BIN/python" "$ROOT/scripts/airflow_wait.py" --timeout 900 run score_and_warn celery_check || true)"
echo "score_and_warn run state: $state"
if [[ $state != success ]]; then
  # say why: the end of every task log of the run (CI keeps only this output)
  find "$WORK" -path '*dag_id=score_and_warn*' -name '*.log' -print0 2>/dev/null \
    | while IFS= read -r -d '' f; do echo "--- $f"; tail -c 3000 "$f"; echo; done >&2
  tail -n 40 "$WORK/scheduler.log" "$WORK/celery-1.log" "$WORK/celery-2.log" >&2 || true
  exit 1
fi
"$BIN/python" - <<'PY'
from riskwarn.settings import load_settings
from riskwarn.store import Store

store = Store.from_settings(load_settings())
run = store.published_run("incidents")
n = len(store.published_forecasts("incidents"))
assert run and run["airflow_run_id"] == "celery_check" and n == 12, (run, n)
print(f"published {run['run_id']} with {n} forecasts (airflow run {run['airflow_run_id']})")
PY
# every task instance was a Celery task, executed by worker1 or worker2
"$BIN/python" - "$WORK" <<'PY'
import os
import sys
from pathlib import Path

import sqlalchemy as sa

work = Path(sys.argv[1])
logs = {name: (work / f"celery-{n}.log").read_text() for n, name in ((1, "worker1"), (2, "worker2"))}
eng = sa.create_engine(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
with eng.connect() as con:
    rows = con.execute(sa.text(
        "SELECT task_id, state, external_executor_id FROM task_instance"
        " WHERE dag_id = 'score_and_warn'"
    )).all()
assert rows, "no task instances"
for task_id, state, celery_id in rows:
    ran_on = [w for w, text in logs.items() if celery_id and str(celery_id) in text]
    assert state in ("success", "skipped") and len(ran_on) == 1, (task_id, state, celery_id)
    print(f"task {task_id}: {state} on celery {ran_on[0]} (celery task {celery_id})")
PY
echo "celery check passed"
