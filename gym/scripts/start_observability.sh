#!/usr/bin/env bash
# The local observability stack of gymchain (idempotent). Usage: start_observability.sh [start|stop|status]
#   - rsyslogd (Debian rsyslog) as the central log server: UDP/TCP 127.0.0.1:5514 -> gym/.run/logs/gymchain.jsonl
#   - the observatory (python -m gymchain.common.observatory, :8290): trace store in PostgreSQL (database
#     gymchain_telemetry), trace view, dashboard, queue-depth/consumer-lag/outbox metrics
#   - rotel-agent (PyPI rotel), the OTel collector: OTLP on :4317 (gRPC) and :4318 (HTTP) -> the observatory
#   - Prometheus (Debian prometheus) on :8291 with gym/observability/prometheus.yml and the alert rules
# Then it writes gym/.run/observability.env: `gymchain up` passes those variables to every process it starts, so
# run this first (gym/scripts/start.sh does) or restart the platform after it. Processes started before keep
# serving /metrics (Prometheus scrapes them) but do not ship logs or traces.
# Environment: GYM_VENV (gym/.venv), GYM_RUN_DIR (gym/.run), GYM_SKIP_APT=1, GYM_TELEMETRY_DATABASE_URL.
set -euo pipefail
GYM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GYM_VENV:-$GYM_DIR/.venv}"
RUN_DIR="${GYM_RUN_DIR:-$GYM_DIR/.run}"
OBS_DIR="$RUN_DIR/observability"
LOG_DIR="$RUN_DIR/logs"
SD_DIR="$RUN_DIR/metrics"
SYSLOG_PORT=5514
OBSERVATORY_PORT=8290
PROMETHEUS_PORT=8291
export GYM_TELEMETRY_DATABASE_URL="${GYM_TELEMETRY_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/gymchain_telemetry}"
export GYM_PROMETHEUS_URL="http://127.0.0.1:$PROMETHEUS_PORT"
say() { echo "observability: $*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # wait_port PORT NAME SECONDS LOG
  for _ in $(seq 1 "$3"); do port_open "$1" && return 0; sleep 1; done
  say "$2 did not come up on 127.0.0.1:$1 within $3 s (see $4)" >&2; return 1
}
alive() { [ -f "$OBS_DIR/$1.pid" ] && kill -0 "$(cat "$OBS_DIR/$1.pid")" 2>/dev/null; }
fill() {  # fill TEMPLATE OUTPUT: replace the @...@ placeholders of a config template
  sed -e "s|@GYM_DIR@|$GYM_DIR|g" -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@LOG_DIR@|$LOG_DIR|g" \
      -e "s|@STATE_DIR@|$OBS_DIR/rsyslog|g" -e "s|@PORT@|$SYSLOG_PORT|g" "$1" > "$2"
}

stop() {
  rm -f "$RUN_DIR/observability.env"
  for name in prometheus rotel observatory rsyslog; do
    if alive "$name"; then
      kill "$(cat "$OBS_DIR/$name.pid")" && say "stopped $name (pid $(cat "$OBS_DIR/$name.pid"))"
    fi
    rm -f "$OBS_DIR/$name.pid"
  done
}

status() {
  for name in rsyslog observatory rotel prometheus; do
    if alive "$name"; then echo "$name: running (pid $(cat "$OBS_DIR/$name.pid"))"; else echo "$name: not running"; fi
  done
}

start() {
  missing=()
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v rsyslogd >/dev/null || missing+=(rsyslog)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "${GYM_SKIP_APT:-0}" = "1" ]; then say "missing Debian packages: ${missing[*]}" >&2; exit 1; fi
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  mkdir -p "$OBS_DIR/rsyslog" "$OBS_DIR/prometheus-data" "$LOG_DIR" "$SD_DIR"

  # the trace store's database
  "$VENV/bin/python" - <<'PY'
import os, psycopg
from sqlalchemy.engine import make_url
url = make_url(os.environ["GYM_TELEMETRY_DATABASE_URL"])
admin = f"host={url.host or '127.0.0.1'} port={url.port or 5432} user={url.username or 'postgres'} dbname=postgres"
with psycopg.connect(admin, autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone():
        conn.execute(f'CREATE DATABASE "{url.database}"')
        print(f"observability: created database {url.database}")
PY

  if ! alive rsyslog; then
    fill "$GYM_DIR/observability/rsyslog-gym.conf" "$OBS_DIR/rsyslog.conf"
    rsyslogd -N1 -f "$OBS_DIR/rsyslog.conf" >/dev/null 2>&1 || { say "rsyslog config invalid:" >&2; rsyslogd -N1 -f "$OBS_DIR/rsyslog.conf" >&2; exit 1; }
    rsyslogd -f "$OBS_DIR/rsyslog.conf" -i "$OBS_DIR/rsyslog.pid"
    wait_port "$SYSLOG_PORT" rsyslog 10 "$OBS_DIR/rsyslog.conf"
  fi
  say "central log: udp/tcp 127.0.0.1:$SYSLOG_PORT -> $LOG_DIR/gymchain.jsonl"

  if ! alive observatory; then
    nohup "$VENV/bin/python" -m gymchain.common.observatory --port "$OBSERVATORY_PORT" \
      >"$OBS_DIR/observatory.log" 2>&1 &
    echo $! > "$OBS_DIR/observatory.pid"
    wait_port "$OBSERVATORY_PORT" observatory 30 "$OBS_DIR/observatory.log"
  fi
  say "observatory (traces, dashboard): http://127.0.0.1:$OBSERVATORY_PORT/dashboard"

  if ! alive rotel; then
    ROTEL="$("$VENV/bin/python" -c 'import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
    (set -a; . "$GYM_DIR/observability/rotel.env"; set +a
     exec nohup "$ROTEL" start --pid-file "$OBS_DIR/rotel-agent.pid" >"$OBS_DIR/rotel.log" 2>&1) &
    echo $! > "$OBS_DIR/rotel.pid"
    wait_port 4318 rotel-agent 15 "$OBS_DIR/rotel.log"
  fi
  say "OTel collector (rotel): OTLP grpc 127.0.0.1:4317, http 127.0.0.1:4318"

  if ! alive prometheus; then
    fill "$GYM_DIR/observability/prometheus.yml" "$OBS_DIR/prometheus.yml"
    promtool check config "$OBS_DIR/prometheus.yml" >/dev/null
    nohup prometheus --config.file="$OBS_DIR/prometheus.yml" --storage.tsdb.path="$OBS_DIR/prometheus-data" \
      --storage.tsdb.retention.time=3d --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle \
      >"$OBS_DIR/prometheus.log" 2>&1 &
    echo $! > "$OBS_DIR/prometheus.pid"
    wait_port "$PROMETHEUS_PORT" Prometheus 30 "$OBS_DIR/prometheus.log"
  fi
  say "Prometheus: http://127.0.0.1:$PROMETHEUS_PORT/classic/alerts (targets: /classic/targets)"

  cat > "$RUN_DIR/observability.env" <<EOF
GYM_OTLP_ENDPOINT=http://127.0.0.1:4318
GYM_SYSLOG_ADDRESS=127.0.0.1:$SYSLOG_PORT
GYM_METRICS_SD_DIR=$SD_DIR
GYM_CENTRAL_LOG=$LOG_DIR/gymchain.jsonl
GYM_PROMETHEUS_URL=$GYM_PROMETHEUS_URL
EOF
  say "processes started by 'gymchain up' from now on ship logs and traces ($RUN_DIR/observability.env)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
