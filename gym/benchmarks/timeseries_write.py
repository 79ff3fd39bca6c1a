"""Write throughput of sensor readings into the partitioned table: COPY (``write_readings``) against a batched
INSERT (executemany), in a throw-away database on the local PostgreSQL. Prints one JSON object.

    gym/.venv/bin/python gym/benchmarks/timeseries_write.py --rows 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from data_fixtures import create_database, database_url, drop_database
from gymchain.common import timeseries as ts


def make_rows(count: int) -> list[tuple]:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return [(start + dt.timedelta(seconds=10 * i), 1 + i % 3, f"s{i % 40}", "temperature_c", 20.0 + i % 7)
            for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    if not 1_000 <= args.rows <= 2_000_000:
        parser.error(f"--rows {args.rows}: expected 1000 to 2000000")
    rows = make_rows(args.rows)
    name = create_database("gym_bench")
    engine = sa.create_engine(database_url(name))
    try:
        with engine.begin() as conn:
            ts.create_timeseries_tables(conn, use_timescaledb=False, today=dt.date(2026, 11, 1))
        t0 = time.perf_counter()
        with engine.begin() as conn:
            ts.write_readings(conn, rows)
        copy_s = time.perf_counter() - t0
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE sensor_readings"))
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO sensor_readings (ts, unit_id, sensor_id, metric, value) "
                                 "VALUES (:ts, :unit_id, :sensor_id, :metric, :value)"),
                         [dict(zip(ts.COLUMNS["sensor_readings"], row, strict=True)) for row in rows])
        insert_s = time.perf_counter() - t0
    finally:
        engine.dispose()
        drop_database(name)
    print(json.dumps({"rows": args.rows, "copy_s": round(copy_s, 3), "copy_rows_per_s": round(args.rows / copy_s),
                      "executemany_s": round(insert_s, 3), "executemany_rows_per_s": round(args.rows / insert_s),
                      "speedup": round(insert_s / copy_s, 1)}))


if __name__ == "__main__":
    main()
