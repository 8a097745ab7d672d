#!/usr/bin/env bash
# riskwarn services on localhost: Airflow (api-server :8080, scheduler, dag-processor,
# triggerer), MLflow tracking server (:5000), the dashboard (:8501), Mosquitto (:1884;
# if something else answers there, `up` refuses it and does not start the consumer,
# unless RISKWARN_MQTT_EXTERNAL=1 and that broker refuses anonymous clients) and the `riskwarn stream` consumer (docs/streaming.md;
# RISKWARN_STREAM_CONTACTS names its contacts file).
#   scripts/services.sh up [service...] | down [service...] | status
# Each service runs under a supervisor (scripts/supervise.py, one per service): the service
# in its own session with its pid file under $RISKWARN_HOME/run, restarted with backoff
# (1 s doubling) after any exit `down` did not ask for, `kill -9` included, until 5 exits
# within 300 s (a crash loop: not restarted, `status` says so; RISKWARN_SUPERVISE_* change
# these). `down` stops the supervisor, which signals every process of the service's
# session (TERM, then KILL after 20 s), so no task worker or server child is left behind.
# `status`: per service running / restarting / CRASH-LOOP, restart count, last exit.
#
# Security (issue 13.10, docs/security.md): every service listens on 127.0.0.1 only
# (the scheduler's and triggerer's log servers, which would bind 0.0.0.0:8793/8794,
# are not started: the API server reads task logs from the log folder); Airflow signs
# users in (simple auth manager, users admin and dashboard) and MLflow asks for HTTP
# basic auth; their random passwords are in $RISKWARN_HOME/secrets (mode 0600), created
# by riskwarn.service_auth before the services start. Mosquitto takes no anonymous
# client: accounts stream (the consumer: reads the reading topics) and gateway (sensor
# gateways: publish to them), passwords in $RISKWARN_HOME/secrets/mqtt_passwords.json,
# hashed password file and ACL beside it (riskwarn.stream.auth, docs/streaming.md); a
# client's id is its account name; `python -m riskwarn.stream.auth rotate|add-gateway|reload`
# make the broker started here re-read them (SIGHUP to run/mosquitto.pid, no restart).
# Everything they create is private to this user (umask 077). Ports: RISKWARN_AIRFLOW_PORT, RISKWARN_MLFLOW_PORT,
# RISKWARN_DASHBOARD_PORT. With PostgreSQL roles (docs/serving-store.md) the dashboard
# connects with RISKWARN_DASHBOARD_STORE_URL, the rest with RISKWARN_STORE_URL.
set -euo pipefail
umask 077
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
AIRFLOW_PORT="${RISKWARN_AIRFLOW_PORT:-8080}"
MLFLOW_PORT="${RISKWARN_MLFLOW_PORT:-5000}"
DASHBOARD_PORT="${RISKWARN_DASHBOARD_PORT:-8501}"
MQTT_PORT="${RISKWARN_MQTT_PORT:-1884}"   # 1883: the system Mosquitto on these hosts
MOSQUITTO="${MOSQUITTO:-/usr/sbin/mosquitto}"
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$AIRFLOW_PORT/execution/"
export RISKWARN_AIRFLOW_API_URL="http://127.0.0.1:$AIRFLOW_PORT"
export RISKWARN_MLFLOW_UI_URL="${RISKWARN_MLFLOW_UI_URL:-http://127.0.0.1:$MLFLOW_PORT}"

SERVICES=(mosquitto mlflow airflow-api airflow-scheduler airflow-dag-processor airflow-triggerer dashboard stream)

cmd_for() {
  case "$1" in
    mlflow) echo "$BIN/mlflow server --app-name basic-auth --backend-store-uri $MLFLOW_DB --artifacts-destination $RISKWARN_HOME/mlartifacts --host 127.0.0.1 --port $MLFLOW_PORT --workers 1" ;;
    airflow-api) echo "$BIN/airflow api-server --port $AIRFLOW_PORT --host 127.0.0.1" ;;
    airflow-scheduler) echo "$BIN/airflow scheduler --skip-serve-logs" ;;
    airflow-dag-processor) echo "$BIN/airflow dag-processor" ;;
    airflow-triggerer) echo "$BIN/airflow triggerer --skip-serve-logs" ;;
    dashboard) echo "$BIN/riskwarn dashboard --port $DASHBOARD_PORT --host 127.0.0.1" ;;
    mosquitto) echo "$MOSQUITTO -c $RUN/mosquitto.conf" ;;
    stream) echo "$BIN/riskwarn stream --port $MQTT_PORT ${RISKWARN_STREAM_CONTACTS:+--contacts $RISKWARN_STREAM_CONTACTS}" ;;
  esac
}

port_for() {
  case "$1" in
    mlflow) echo "$MLFLOW_PORT" ;;
    airflow-api) echo "$AIRFLOW_PORT" ;;
    dashboard) echo "$DASHBOARD_PORT" ;;
    mosquitto) echo "$MQTT_PORT" ;;
    *) echo "" ;;
  esac
}

# Credentials (created once, 0600) and each service's own environment: the MLflow
# server gets its auth config, the dashboard its Airflow sign-in and store URL. Secrets
# go through the environment of that one process (readable by this user only), never
# on a command line.
load_credentials() {
  local line
  while IFS= read -r line; do eval "export ${line?}"; done < <("$PY" -m riskwarn.service_auth)
}

env_for() {
  case "$1" in
    dashboard)
      export RISKWARN_AIRFLOW_USER=dashboard RISKWARN_AIRFLOW_PASSWORD="$RW_DASHBOARD_AIRFLOW_PASSWORD"
      if [[ -n ${RISKWARN_DASHBOARD_STORE_URL:-} ]]; then export RISKWARN_STORE_URL="$RISKWARN_DASHBOARD_STORE_URL"; fi
      ;;
    # MLflow's job runner (a job runner and 7 huey consumers, each importing MLflow: 8
    # processes and ~20 s of CPU at each start) runs MLflow's GenAI jobs (judges, trace
    # rollups), which riskwarn does not use; an operator who wants them sets it to true
    mlflow) export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}" ;;
    *) unset MLFLOW_AUTH_CONFIG_PATH MLFLOW_FLASK_SERVER_SECRET_KEY ;;
  esac
  if [[ $1 != dashboard ]]; then unset RISKWARN_DASHBOARD_STORE_URL; fi
  unset RW_DASHBOARD_AIRFLOW_PASSWORD
}

# a live process (a zombie, killed and not yet reaped by its parent, is not)
live() { local st; st="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; st="${st##*) }"; [[ ${st:0:1} != [ZX] ]]; }
alive() { [[ -f "$RUN/$1.pid" ]] && live "$(cat "$RUN/$1.pid")"; }
# the service's supervisor runs (the service itself may be between two starts)
supervised() { [[ -f "$RUN/$1.supervisor.pid" ]] && live "$(cat "$RUN/$1.supervisor.pid")"; }

answers() { "$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))" 2>/dev/null; }

# A broker riskwarn did not start answers on $MQTT_PORT: the consumer would send the
# `stream` password to it. Refused (one line on stderr, status 1) unless the operator
# opts in with RISKWARN_MQTT_EXTERNAL=1, and even then if it takes anonymous clients.
foreign_broker_refused() {
  if alive mosquitto || supervised mosquitto || ! answers "$MQTT_PORT"; then return 1; fi
  if [[ ${RISKWARN_MQTT_EXTERNAL:-0} != 1 ]]; then
    echo "error: something riskwarn did not start answers on 127.0.0.1:$MQTT_PORT; not using it (the consumer would send its password there): set RISKWARN_MQTT_PORT to a free port, or RISKWARN_MQTT_EXTERNAL=1 to use that broker (docs/streaming.md)" >&2
    return 0
  fi
  # prints why on stderr; RISKWARN_MQTT_PROBE_WAIT_S: how long it waits for an MQTT answer
  if ! "$PY" -m riskwarn.stream.auth probe "$MQTT_PORT" "${RISKWARN_MQTT_PROBE_WAIT_S:-10}"; then
    echo "error: RISKWARN_MQTT_EXTERNAL=1 but what answers on 127.0.0.1:$MQTT_PORT takes anonymous clients or is no MQTT broker; not using it" >&2
    return 0
  fi
  echo "using the MQTT broker riskwarn did not start on 127.0.0.1:$MQTT_PORT (RISKWARN_MQTT_EXTERNAL=1)"
  return 1
}

start() {
  local name="$1"
  if supervised "$name"; then
    echo "$name already running (supervisor pid $(cat "$RUN/$name.supervisor.pid"))"; return
  fi
  if [[ $name == mosquitto || $name == stream ]] && foreign_broker_refused; then
    echo "$name not started" >&2; return 1
  fi
  if [[ $name == mosquitto ]]; then
    # an external broker, accepted above (not ours, left running by a killed supervisor)
    if ! alive mosquitto && answers "$MQTT_PORT"; then return; fi
    mkdir -p "$RISKWARN_HOME/mosquitto"
    # accounts, hashed password file and ACL (riskwarn.stream.auth), then the conf
    "$PY" -m riskwarn.stream.auth conf "$MQTT_PORT" "$RISKWARN_HOME/mosquitto" >"$RUN/mosquitto.conf" \
      || { echo "mosquitto not started: no configuration" >&2; return 1; }
    if [[ $(id -u) == 0 ]]; then echo "user root" >>"$RUN/mosquitto.conf"; fi
  fi
  # the supervisor makes its own session and starts the service in another one; a
  # service left running by a supervisor that was killed is watched, not started twice
  # (the log is appended to: a crash loop's output survives the next `up`)
  # shellcheck disable=SC2046
  ( env_for "$name"; exec "$PY" "$ROOT/scripts/supervise.py" run "$name" --run "$RUN" --log "$LOGS/$name.log" -- $(cmd_for "$name") ) >>"$LOGS/$name.log" 2>&1 < /dev/null &
  local i
  for i in $(seq 1 50); do   # until it holds its lock and wrote its pid (at most 10 s)
    supervised "$name" && break
    live $! || break
    sleep 0.2
  done
  # the port it was started with, for `status` (the caller's environment may differ)
  local port; port="$(port_for "$name")"
  if [[ -n $port ]]; then echo "$port" >"$RUN/$name.port"; fi
  echo "started $name (supervisor pid $!, log $LOGS/$name.log)"
}

# the port a service was started with ($RUN/NAME.port, written at `up`), else this
# environment's
started_port() { cat "$RUN/$1.port" 2>/dev/null || port_for "$1"; }

wait_port() {
  local name="$1" port="$2" limit="${RISKWARN_SERVICE_WAIT_S:-300}" start=$SECONDS
  while ((SECONDS - start < limit)); do
    if "$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
      local scheme=http; [[ $name == mosquitto ]] && scheme=mqtt
      echo "$name answers on $scheme://127.0.0.1:$port"; return 0
    fi
    supervised "$name" || { echo "$name died; see $LOGS/$name.log" >&2; tail -5 "$LOGS/$name.log" >&2; return 1; }
    sleep 0.5
  done
  echo "$name did not answer on port $port within $limit s" >&2; return 1
}

# TERM to every process of session $1, KILL after 20 s; waits until the session is empty,
# zombies included (a process whose parent died is reaped by init a moment later); looks
# every 0.2 s (each `down` of a service waited up to 1 s too long in each of its two
# sessions)
end_session() {
  local sid="$1" i
  [[ -n $sid ]] || return 0
  # the service leads its own session; task workers move to their own process groups
  # but stay in that session, so signal the whole session
  pkill -TERM -s "$sid" 2>/dev/null || true
  for i in $(seq 1 100); do
    pgrep -s "$sid" >/dev/null 2>&1 || return 0
    sleep 0.2
  done
  pkill -KILL -s "$sid" 2>/dev/null || true
}

stop() {
  local name="$1" spid="" pid="" i
  if ! supervised "$name" && ! alive "$name"; then
    rm -f "$RUN/$name.pid" "$RUN/$name.supervisor.pid" "$RUN/$name.supervisor.json" "$RUN/$name.port"
    echo "$name not running"; return
  fi
  [[ -f "$RUN/$name.pid" ]] && pid="$(cat "$RUN/$name.pid")"
  if supervised "$name"; then
    # the supervisor stops its service (TERM, KILL after 20 s), then ends
    spid="$(cat "$RUN/$name.supervisor.pid")"
    kill -TERM "$spid" 2>/dev/null || true
    for i in $(seq 1 150); do
      live "$spid" || break
      sleep 0.2
    done
  fi
  # whatever is left: a service whose supervisor was killed, a supervisor that did not
  # end, and the zombies of both sessions until they are reaped
  end_session "$pid"
  end_session "$spid"
  rm -f "$RUN/$name.pid" "$RUN/$name.supervisor.pid" "$RUN/$name.supervisor.json" "$RUN/$name.port"
  echo "stopped $name"
}

case "${1:-status}" in
  up)
    if (($# > 1)); then SERVICES=("${@:2}"); fi   # up [service...]: only those
    # Airflow's metadata DB and the replay pause concern the Airflow services only: `up
    # mosquitto` or `up mlflow` does not migrate it (an `airflow db migrate` imports
    # Airflow: 4-5 s here, more under load, once per `up`)
    if [[ " ${SERVICES[*]} " == *" airflow-"* ]]; then
      "$PY" -c "from riskwarn.orchestration import migrate; from riskwarn.settings import load_settings; migrate(load_settings())"
      # a home whose data is a replay (the demo's) starts with its DAGs paused (docs/operations.md "Demo")
      "$PY" -c "from riskwarn.orchestration import pause_on_replay; from riskwarn.settings import load_settings; m = pause_on_replay(load_settings()); m and print(m)"
      # airflow_env.sh (sourced above) read the marker before pause_on_replay wrote or
      # removed it: the services get what it decided, so a first `up` creates DAGs paused
      if [[ -f $RUN/airflow_paused_for_replay ]]; then paused_at_creation=True; else paused_at_creation=False; fi
      export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="$paused_at_creation"
    fi
    load_credentials
    echo "sign-in: Airflow users admin / dashboard, passwords in $RISKWARN_HOME/secrets/airflow_passwords.json;"
    echo "         MLflow user admin, password in $RISKWARN_HOME/secrets/mlflow_auth.ini (admin_password)"
    echo "         MQTT users stream / gateway, passwords in $RISKWARN_HOME/secrets/mqtt_passwords.json"
    for s in "${SERVICES[@]}"; do
      if [[ $s == dashboard ]] && ! "$BIN/riskwarn" --help | grep -q dashboard; then
        echo "dashboard command not available; skipped"; continue
      fi
      start "$s" || refused=1
    done
    for s in "${SERVICES[@]}"; do
      p="$(port_for "$s")"
      if [[ -n $p ]] && supervised "$s"; then wait_port "$s" "$p"; fi
    done
    exit "${refused:-0}"
    ;;
  down)
    if (($# > 1)); then SERVICES=("${@:2}"); fi   # down [service...]: only those
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop "${SERVICES[$i]}"; done
    ;;
  status)
    args=()
    for s in "${SERVICES[@]}"; do args+=("$s:$(started_port "$s")"); done
    "$PY" "$ROOT/scripts/supervise.py" status --run "$RUN" "${args[@]}"
    ;;
  *) echo "usage: $0 up [service...]|down [service...]|status" >&2; exit 2 ;;
esac
