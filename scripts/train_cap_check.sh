#!/usr/bin/env bash
# Train cap check: a real Airflow (API server, DAG processor, scheduler; LocalExecutor on
# SQLite) runs train_models on an empty home and reports how many of its mapped `train`
# task instances ran at once (from their start and end times in the metadata DB).
#
#   scripts/train_cap_check.sh CAP     # CAP = RISKWARN_TRAIN_CONCURRENCY (0 = no cap)
#
# With nothing in the lake every training fails at once (`no incidents rows before ...`)
# after importing riskwarn's pipeline, and is retried once: each attempt lasts tens of
# seconds, enough for five task processes started together to overlap when nothing caps
# them. Prints one line per attempt of the mapped task and `most at once: N (cap CAP)`;
# exit 0 when N <= CAP (or CAP is 0).
# Every process started is stopped (TERM then KILL per session) and checked gone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
CAP="${1:?usage: $0 CAP (RISKWARN_TRAIN_CONCURRENCY; 0 = no cap)}"
WORK="$(mktemp -d /tmp/rw-traincap.XXXXXX)"
export RISKWARN_HOME="$WORK/home"
export RISKWARN_TRAIN_CONCURRENCY="$CAP"
mkdir -p "$RISKWARN_HOME"
free_port() { "$BIN/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
API_PORT="$(free_port)"
# shellcheck source=scripts/airflow_env.sh
source "$ROOT/scripts/airflow_env.sh"
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$(free_port)"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=8   # room for all five trainings: only the cap limits
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
# the API server's users need their passwords file (as `services.sh up` writes it)
"$BIN/python" -c "from riskwarn.service_auth import ensure_airflow_passwords as e
from riskwarn.settings import load_settings; e(load_settings())"
export AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do pkill -TERM -s "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
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
  if [[ -z $left ]]; then echo "all started processes stopped"; else echo "ORPHANS LEFT" >&2; fi
  echo "logs kept in $WORK"
}
trap cleanup EXIT
step() { echo "[$(date -u +%H:%M:%S)] $*"; }

step "migrate metadata DB (SQLite in $AIRFLOW_HOME)"
"$BIN/airflow" db migrate >"$WORK/migrate.log" 2>&1
start() { local log="$1"; shift; setsid "$@" >"$WORK/$log.log" 2>&1 </dev/null & PIDS+=($!); }
step "start API server (:$API_PORT), DAG processor, scheduler; RISKWARN_TRAIN_CONCURRENCY=$CAP"
start api "$BIN/airflow" api-server --port "$API_PORT" --host 127.0.0.1
start dag-processor "$BIN/airflow" dag-processor
start scheduler "$BIN/airflow" scheduler

step "wait for train_models to be registered"
for _ in $(seq 1 200); do
  "$BIN/airflow" dags list -o plain 2>/dev/null | grep -q '^train_models' && break; sleep 3
done
"$BIN/airflow" dags unpause train_models >/dev/null
step "trigger train_models (every domain)"
"$BIN/airflow" dags trigger train_models >"$WORK/trigger.log" 2>&1
state=""
for _ in $(seq 1 400); do
  # (the CLI prints warnings on stdout too: take the run's own line)
  state="$("$BIN/airflow" dags list-runs train_models -o plain 2>/dev/null | awk '$1 == "train_models" {print $3; exit}')"
  [[ $state == success || $state == failed ]] && break; sleep 3
done
step "run ended: ${state:-unknown}"
"$BIN/python" - "$AIRFLOW_HOME/airflow.db" "$CAP" <<'PY'
import sqlite3
import sys

db, cap = sys.argv[1], int(sys.argv[2])
# every attempt: a failed first try (then retried) is in the history table
columns = "map_index, rendered_map_index, try_number, state, start_date, end_date"
where = "dag_id = 'train_models' AND task_id = 'train'"
rows = sqlite3.connect(db).execute(
    f"SELECT {columns} FROM task_instance_history WHERE {where} "
    f"UNION ALL SELECT {columns} FROM task_instance WHERE {where} ORDER BY 5"
).fetchall()
spans = []
for map_index, name, attempt, state, start, end in rows:
    print(f"train[{map_index}] {name or ''} try {attempt}: {state}, {start} .. {end}")
    if start and end:
        spans.append((start, end))
most = max((sum(1 for s, e in spans if s <= t < e) for t, _ in spans), default=0)
print(f"mapped train attempts: {len(rows)}, with start and end: {len(spans)}")
print(f"most at once: {most} (cap {cap or 'none'})")
sys.exit(0 if len(spans) >= 5 and (cap == 0 or most <= cap) else 1)
PY
