#!/usr/bin/env bash
# Backfill check: the documented one-command backfill of a past week, really run by
# Airflow's scheduler, reproduces the original forecasts row for row.
#
#   scripts/backfill_check.sh [OUT_DIR]     # exit 0 = identical, no duplicates
#
# In a scratch RISKWARN_HOME with the metadata DB on PostgreSQL (127.0.0.1:5432, a fresh
# database, dropped at the end) and the LocalExecutor:
#  1. simulate the small city (seed 7, year 2024), ingest its admin units, grid cells and incidents,
#     register a transparent incidents champion (scripts/check_champion.py's CountModel);
#  2. start an API server, a DAG processor and a scheduler (free ports, own sessions);
#  3. the original forecasts: `dag.test()` of score_and_warn for each local midnight
#     2024-12-16..22 (the same DagRuns a daily schedule would leave), snapshot them;
#  4. the documented backfill command for that week; wait until all its runs succeed;
#  5. snapshot again and compare (scripts/backfill_check.py compare);
#  6. the dashboard's Airflow client (dashboard/airflow_api.py) against the live API
#     (simple auth manager with one password user, not all-admins): JWT from
#     /auth/token, trigger train_models for incidents, follow the run until it trains.
# Snapshots (pickles) and retrain.json go to OUT_DIR (default: the scratch folder).
# Every process started is stopped (TERM then KILL per session) and checked gone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
WORK="$(mktemp -d /tmp/rw-backfill.XXXXXX)"
OUT="$(mkdir -p "${1:-$WORK/out}" && cd "${1:-$WORK/out}" && pwd)"
DB="rw_backfill_$(date +%s)_$$"
PG="postgresql+psycopg://postgres@127.0.0.1:5432"
# The city is simulated for 2024 (the DAGs start on 2000-01-01, orchestration.EARLIEST_START:
# Airflow creates no task for a logical date before a DAG's start_date, so such a run
# would "succeed" empty).
SIM_START="2024-01-01"
FROM="2024-12-16T00:00:00+08:00"   # a past week (Mon..Sun) of the simulated year,
TO="2024-12-22T00:00:00+08:00"     # local midnights: 7 daily runs
export RISKWARN_HOME="$WORK/home"
export RISKWARN_MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db"
export RISKWARN_AIRFLOW_DB_URL="$PG/$DB"
mkdir -p "$RISKWARN_HOME"
free_port() { "$BIN/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
API_PORT="$(free_port)"
"$BIN/python" -c "import sqlalchemy as sa; e=sa.create_engine('$PG/postgres', isolation_level='AUTOCOMMIT'); e.connect().exec_driver_sql('CREATE DATABASE \"$DB\"')"
# shellcheck source=scripts/airflow_env.sh
source "$ROOT/scripts/airflow_env.sh"   # honours RISKWARN_AIRFLOW_DB_URL
# own ports, so a running `make up` or another check on 8080/8793 is not disturbed
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$(free_port)"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# a task's calls to the execution API wait up to 60 s: with Airflow's default 5 s, under
# make test's load on this 2-core machine, the first backfill task failed after 4 timed-out
# calls, came back after score_and_warn's 2-minute retry delay as try 3 (the check wants
# try 2) and the test ran into its 1750 s limit (2026-12-05 14:31 UTC, load 10-13)
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=60
# the task processes unpickle the check champion (scripts.check_champion.CountModel)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# only the DAGs this check unpauses run, and only the runs it creates (no cron runs)
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False
# the REST API with a real sign-in (as make up has it): one user, whose
# password only this run knows; the dashboard client signs in with it
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="rwcheck:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$WORK/passwords.json"
export RISKWARN_AIRFLOW_USER=rwcheck
RISKWARN_AIRFLOW_PASSWORD="$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(16))')"
export RISKWARN_AIRFLOW_PASSWORD
printf '{"rwcheck": "%s"}\n' "$RISKWARN_AIRFLOW_PASSWORD" >"$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do pkill -TERM -s "$pid" 2>/dev/null || true; done
  # KILL after 5 s: the scheduler does not end on TERM while its LocalExecutor runs the
  # train task of the retrain step (minutes of training, its calls to the stopped API
  # server refused), so a longer grace only waited to KILL it (20 s of each run, 2026-12-05
  # 22:59:40-23:00:00 UTC in make test); the API server and DAG processor end at once
  for _ in $(seq 1 5); do
    alive=0
    for pid in "${PIDS[@]}"; do pgrep -s "$pid" >/dev/null && alive=1; done
    [[ $alive == 0 ]] && break; sleep 1
  done
  for pid in "${PIDS[@]}"; do pkill -KILL -s "$pid" 2>/dev/null || true; done
  local left=""
  for _ in $(seq 1 10); do
    left=""
    for pid in "${PIDS[@]}"; do left+="$(pgrep -s "$pid" || true)"; done
    [[ -z $left ]] && break; sleep 1
  done
  if [[ -z $left ]]; then echo "all started processes stopped"; else
    echo "ORPHANS LEFT" >&2; ps -o pid,sid,stat,cmd -p "$(echo $left | tr ' ' ,)" >&2 || true; fi
  "$BIN/python" -c "import sqlalchemy as sa; e=sa.create_engine('$PG/postgres', isolation_level='AUTOCOMMIT'); e.connect().exec_driver_sql('DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)')" || true
  rm -f "${WORK:?}/passwords.json"   # the throwaway sign-in of this run's API server
  # passed: drop the bulky inputs (simulation, lake), keep logs; failed: keep everything
  [[ $PASSED == 1 ]] && rm -rf "${WORK:?}/sim" "${RISKWARN_HOME:?}/lake" "${RISKWARN_HOME:?}/landing"
  echo "stopped; logs kept in $WORK"
}
PASSED=0
trap cleanup EXIT
step() { echo "[$(date -u +%H:%M:%S)] $*"; }
helper() { "$BIN/python" "$ROOT/scripts/backfill_check.py" "$@"; }

step "migrate metadata DB $DB"
"$BIN/airflow" db migrate >"$WORK/migrate.log" 2>&1
step "simulate and prepare the small city"
"$BIN/riskwarn" simulate --size small --seed 7 --start "$SIM_START" --out "$WORK/sim" >"$WORK/simulate.log"
helper prepare "$WORK/sim" 2>"$WORK/prepare.err"

start() { local log="$1"; shift; setsid "$@" >"$WORK/$log.log" 2>&1 </dev/null & PIDS+=($!); }
step "start API server (:$API_PORT), DAG processor, scheduler"
start api "$BIN/airflow" api-server --port "$API_PORT" --host 127.0.0.1
start dag-processor "$BIN/airflow" dag-processor
start scheduler "$BIN/airflow" scheduler

# `originals` first waits until the DAG processor has written every DAG of the folder to
# the metadata DB (scripts/airflow_wait.py): dag.test() syncs the DAGs too, and both
# inserting the same new DAG rows at once collides (UniqueViolation on dag_pkey, seen in
# a CI run).
step "original forecasts: dag.test() per day $FROM .. $TO (once the DAGs are registered)"
if ! helper originals "$FROM" "$TO" "$OUT/original" >"$WORK/originals.log" 2>&1; then
  tail -40 "$WORK/originals.log"; exit 1
fi
grep -E '^(registered|original|snapshot) ' "$WORK/originals.log"
"$BIN/airflow" dags unpause score_and_warn >/dev/null
# the documented command (docs/operations.md), for the one domain this home has a champion of
step "backfill: airflow backfill create --dag-id score_and_warn --from-date $FROM --to-date $TO"
"$BIN/airflow" backfill create --dag-id score_and_warn \
  --from-date "$FROM" --to-date "$TO" \
  --reprocess-behavior completed --max-active-runs 1 \
  --dag-run-conf '{"domains": ["incidents"]}' >"$WORK/backfill.log" 2>&1
helper wait-backfill score_and_warn
step "compare"
helper snapshot "$OUT/after"
helper compare "$OUT/original" "$OUT/after"

step "retrain through the REST API (dashboard/airflow_api.py)"
"$BIN/airflow" dags unpause train_models >/dev/null
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$API_PORT/api/v2/monitor/health" >/dev/null && break; sleep 2
done
helper retrain "http://127.0.0.1:$API_PORT" "$OUT/retrain.json"
step "backfill check passed"
PASSED=1
