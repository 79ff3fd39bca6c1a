"""Run the TimescaleDB path of gymchain.common.timeseries against a server that has the extension (e.g. the one
``gym/scripts/timescaledb_pglite.sh`` starts) and print what it found as JSON; exit 1 if a check fails.

    gym/scripts/timescaledb_pglite.sh 5433 &
    gym/.venv/bin/python gym/benchmarks/timescaledb_check.py --dsn postgresql+psycopg://postgres:x@127.0.0.1:5433/postgres?sslmode=disable

Rows go in with one INSERT each: the PGlite server dies on COPY and on large pipelined batches (a real TimescaleDB
takes ``write_readings``' COPY; pass ``--copy`` to use it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

import sqlalchemy as sa

from gymchain.common import timeseries as ts

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def readings() -> list[tuple]:
    """Two days of 15-minute readings in November (value = hour of day) and one in December."""
    rows = [(START + dt.timedelta(minutes=15 * i), 1, "s1", "temperature_c", float((START + dt.timedelta(
        minutes=15 * i)).hour)) for i in range(96 * 2)]
    return rows + [(dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC), 1, "s1", "temperature_c", 5.0)]


def write(conn: sa.Connection, rows: list[tuple], copy: bool) -> None:
    if copy:
        ts.write_readings(conn, rows)
        return
    for row in rows:
        conn.execute(sa.text("INSERT INTO sensor_readings (ts, unit_id, sensor_id, metric, value) "
                             "VALUES (:ts, :u, :s, :m, :v)"), dict(zip(("ts", "u", "s", "m", "v"), row, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql+psycopg://postgres:x@127.0.0.1:5433/postgres?sslmode=disable")
    parser.add_argument("--copy", action="store_true", help="write with COPY (write_readings)")
    args = parser.parse_args()
    engine = sa.create_engine(args.dsn, poolclass=sa.pool.NullPool)
    result: dict = {}
    with engine.connect() as conn:
        result["detected"] = vars(ts.detect_timescaledb(conn))
        conn.commit()
        if not result["detected"]["available"]:
            print(json.dumps(result))
            return 1
        with conn.begin():
            result["mode"] = ts.create_timeseries_tables(conn)
        with conn.begin():
            write(conn, readings(), args.copy)
        result["chunks"] = conn.execute(sa.text("SELECT count(*) FROM timescaledb_information.chunks "
                                                "WHERE hypertable_name = 'sensor_readings'")).scalar_one()
        hourly = ts.sensor_rollup(conn, unit_id=1, metric="temperature_c", start=START,
                                  end=START + dt.timedelta(days=1))
        result["rollup_buckets"] = len(hourly)
        result["rollup_values_match"] = all(r["mean"] == r["bucket"].hour and r["samples"] == 4 for r in hourly)
        conn.commit()
        raw = conn.connection.driver_connection
        raw.autocommit = True  # refresh_continuous_aggregate refuses to run inside a transaction block
        raw.execute("CALL refresh_continuous_aggregate('sensor_readings_hourly', NULL, NULL)")
        raw.autocommit = False
        buckets, low, high = conn.execute(sa.text("SELECT count(*), min(avg_value), max(avg_value) "
                                                  "FROM sensor_readings_hourly")).one()
        result["continuous_aggregate"] = {"buckets": buckets, "min_avg": low, "max_avg": high}
        conn.commit()
        with conn.begin():
            result["retention_dropped"] = ts.drop_partitions_before(conn, "sensor_readings",
                                                                     dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
        result["rows_left"] = conn.execute(sa.text("SELECT count(*) FROM sensor_readings")).scalar_one()
    ok = (result["mode"] == "timescaledb" and result["chunks"] == 2 and result["rollup_buckets"] == 24
          and result["rollup_values_match"] and buckets == 49 and len(result["retention_dropped"]) == 1
          and result["rows_left"] == 1)
    result["ok"] = ok
    print(json.dumps(result, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
