#!/usr/bin/env bash
# riskwarn services on localhost: Airflow (api-server :8080, scheduler, dag-processor,
# triggerer), MLflow tracking server (:5000) and the dashboard (:8501).
#   scripts/services.sh up | down | status
# Each service runs in its own session (setsid) with a pid file under
# $RISKWARN_HOME/run; `down` signals every process of that session (TERM, then KILL
# after 20 s), so no task worker or server child is left behind.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export RISKWARN_HOME="${RISKWARN_HOME:-$ROOT/var}"
mkdir -p "$RISKWARN_HOME"
export RISKWARN_HOME="$(cd "$RISKWARN_HOME" && pwd)"
RUN="$RISKWARN_HOME/run"
LOGS="$RISKWARN_HOME/logs"
mkdir -p "$RUN" "$LOGS"
PY="$ROOT/.venv/bin/python"
BIN="$ROOT/.venv/bin"
# shellcheck source=scripts/airflow_env.sh
source "$ROOT/scripts/airflow_env.sh"
MLFLOW_DB="${RISKWARN_MLFLOW_TRACKING_URI:-sqlite:///$RISKWARN_HOME/mlflow.db}"
export RISKWARN_MLFLOW_TRACKING_URI="$MLFLOW_DB"

SERVICES=(mlflow airflow-api airflow-scheduler airflow-dag-processor airflow-triggerer dashboard)

cmd_for() {
  case "$1" in
    mlflow) echo "$BIN/mlflow server --backend-store-uri $MLFLOW_DB --artifacts-destination $RISKWARN_HOME/mlartifacts --host 127.0.0.1 --port 5000 --workers 1" ;;
    airflow-api) echo "$BIN/airflow api-server --port 8080 --host 127.0.0.1" ;;
    airflow-scheduler) echo "$BIN/airflow scheduler" ;;
    airflow-dag-processor) echo "$BIN/airflow dag-processor" ;;
    airflow-triggerer) echo "$BIN/airflow triggerer" ;;
    dashboard) echo "$BIN/riskwarn dashboard --port 8501" ;;
  esac
}

port_for() {
  case "$1" in
    mlflow) echo 5000 ;;
    airflow-api) echo 8080 ;;
    dashboard) echo 8501 ;;
    *) echo "" ;;
  esac
}

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start() {
  local name="$1"
  if alive "$name"; then echo "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  # shellcheck disable=SC2046
  setsid $(cmd_for "$name") >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$name.pid"
  echo "started $name (pid $!, log $LOGS/$name.log)"
}

wait_port() {
  local name="$1" port="$2" i
  for i in $(seq 1 90); do
    if "$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
      echo "$name answers on http://127.0.0.1:$port"; return 0
    fi
    alive "$name" || { echo "$name died; see $LOGS/$name.log" >&2; tail -5 "$LOGS/$name.log" >&2; return 1; }
    sleep 2
  done
  echo "$name did not answer on port $port within 180 s" >&2; return 1
}

stop() {
  local name="$1" pid i
  if ! alive "$name"; then rm -f "$RUN/$name.pid"; echo "$name not running"; return; fi
  pid="$(cat "$RUN/$name.pid")"
  # the service leads its own session (setsid); task workers move to their own
  # process groups but stay in that session, so signal the whole session
  pkill -TERM -s "$pid" 2>/dev/null || true
  for i in $(seq 1 20); do
    pgrep -s "$pid" >/dev/null 2>&1 || break
    sleep 1
  done
  pkill -KILL -s "$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
  echo "stopped $name"
}

case "${1:-status}" in
  up)
    "$PY" -c "from riskwarn.orchestration import migrate; from riskwarn.settings import load_settings; migrate(load_settings())"
    for s in "${SERVICES[@]}"; do
      if [[ $s == dashboard ]] && ! "$BIN/riskwarn" --help | grep -q dashboard; then
        echo "dashboard command not available; skipped"; continue
      fi
      start "$s"
    done
    for s in "${SERVICES[@]}"; do
      p="$(port_for "$s")"; [[ -n $p ]] && alive "$s" && wait_port "$s" "$p"
    done
    ;;
  down)
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop "${SERVICES[$i]}"; done
    ;;
  status)
    for s in "${SERVICES[@]}"; do
      if alive "$s"; then echo "$s running (pid $(cat "$RUN/$s.pid")) $(port_for "$s")"; else echo "$s stopped"; fi
    done
    ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
