#!/usr/bin/env bash
# Stop every process gym/scripts/start.sh started (pid files in gym/.run/). The servers (PostgreSQL, Redis,
# RabbitMQ, the Kafka-protocol broker) keep running.
set -euo pipefail
GYM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"${GYM_VENV:-$GYM_DIR/.venv}/bin/gymchain" down
bash "$GYM_DIR/scripts/start_observability.sh" stop
