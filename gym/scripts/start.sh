#!/usr/bin/env bash
# Start the whole platform with the demo chain: set up (idempotent), create the database if needed, migrate,
# seed if empty, start every service + the gateway + the sync processes in the background (gym/.run/), wait for
# health, and print the URLs and demo logins. Stop with gym/scripts/stop.sh.
# Environment: GYM_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/gymchain) and other GYM_*.
set -euo pipefail
GYM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GYM_VENV:-$GYM_DIR/.venv}"
bash "$GYM_DIR/scripts/setup.sh"
cd "$GYM_DIR"
"$VENV/bin/python" - <<'PY'
# create the database named in the settings if it does not exist yet
import psycopg
from sqlalchemy.engine import make_url
from gymchain.common.settings import get_settings

url = make_url(get_settings().database_url)
admin = f"host={url.host or '127.0.0.1'} port={url.port or 5432} user={url.username or 'postgres'} dbname=postgres"
with psycopg.connect(admin, autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone():
        conn.execute(f'CREATE DATABASE "{url.database}"')
        print(f"start: created database {url.database}")
PY
"$VENV/bin/gymchain" migrate
"$VENV/bin/gymchain" seed --if-empty
bash "$GYM_DIR/scripts/start_observability.sh" || echo "start: observability stack not started (above); continuing"
"$VENV/bin/gymchain" up
