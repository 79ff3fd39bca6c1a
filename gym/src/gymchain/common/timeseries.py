"""Time series in PostgreSQL: sensor readings and area occupancy, plus check-in rates from the ``checkins`` table.

Plain PostgreSQL (the default here): the two tables are partitioned by month on ``ts`` (declarative range
partitioning, partitions created ahead by :func:`ensure_partitions` and on demand by the writers), each with a BRIN
index on ``ts`` (tiny, and ideal for append-mostly data whose physical order follows time). Roll-ups use
``date_bin``. Retention drops whole partitions (:func:`drop_partitions_before`): no DELETE, no bloat.

With TimescaleDB (detected in ``pg_available_extensions``): hypertables with monthly chunks, an hourly continuous
aggregate of the sensor readings, and ``drop_chunks`` for retention. The roll-up queries are the same SQL
(``date_bin`` works on hypertables). The project's machines have no TimescaleDB, so that path is only detected
in tests.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

TABLES = {
    "sensor_readings": """
        ts timestamptz NOT NULL,
        unit_id bigint NOT NULL,
        sensor_id text NOT NULL,
        metric text NOT NULL,
        value double precision NOT NULL""",
    "occupancy_samples": """
        ts timestamptz NOT NULL,
        unit_id bigint NOT NULL,
        area_id bigint NOT NULL,
        people integer NOT NULL CHECK (people >= 0),
        capacity integer NOT NULL CHECK (capacity > 0)""",
}
COLUMNS = {"sensor_readings": ("ts", "unit_id", "sensor_id", "metric", "value"),
           "occupancy_samples": ("ts", "unit_id", "area_id", "people", "capacity")}
BUCKETS = ("1 minute", "5 minutes", "15 minutes", "30 minutes", "1 hour", "6 hours", "1 day")
NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,40}$")
ORIGIN = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)  # a Monday: 1-day and 6-hour buckets align to UTC midnight


@dataclass(frozen=True)
class TimescaleStatus:
    available: bool  # the extension is installable on this server (pg_available_extensions)
    installed: bool  # CREATE EXTENSION has run in this database (pg_extension)


def detect_timescaledb(conn: sa.Connection) -> TimescaleStatus:
    available = conn.execute(sa.text(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")).scalar_one() > 0
    installed = conn.execute(sa.text(
        "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")).scalar_one() > 0
    return TimescaleStatus(available, installed)


def create_timeseries_tables(conn: sa.Connection, *, use_timescaledb: bool | None = None,
                             months_ahead: int = 3, today: dt.date | None = None) -> str:
    """Create the tables (idempotent); returns the mode used: 'timescaledb' or 'partitioned'.

    ``use_timescaledb=None`` uses TimescaleDB when the server has it.
    """
    status = detect_timescaledb(conn)
    if use_timescaledb is None:
        use_timescaledb = status.available
    if use_timescaledb:
        _create_hypertables(conn, status)
        return "timescaledb"
    for table, columns in TABLES.items():
        conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {table} ({columns}) PARTITION BY RANGE (ts)"))
        # on a partitioned table the index is created on every partition, present and future
        conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_{table}_ts_brin ON {table} USING brin (ts)"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_sensor_readings_sensor_ts "
                         "ON sensor_readings (unit_id, sensor_id, ts)"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_occupancy_samples_area_ts "
                         "ON occupancy_samples (unit_id, area_id, ts)"))
    first = today or dt.datetime.now(dt.UTC).date()
    for table in TABLES:
        ensure_partitions(conn, table, first, months_ahead)
    return "partitioned"


def _create_hypertables(conn: sa.Connection, status: TimescaleStatus) -> None:
    if not status.installed:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    for table, columns in TABLES.items():
        conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {table} ({columns})"))
        conn.execute(sa.text(f"SELECT create_hypertable('{table}', 'ts', chunk_time_interval => interval '1 month',"
                             " if_not_exists => true)"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_sensor_readings_sensor_ts "
                         "ON sensor_readings (unit_id, sensor_id, ts)"))
    conn.execute(sa.text("""
        CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_readings_hourly WITH (timescaledb.continuous) AS
        SELECT time_bucket('1 hour', ts) AS bucket, unit_id, sensor_id, metric,
               avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value, count(*) AS samples
        FROM sensor_readings GROUP BY bucket, unit_id, sensor_id, metric WITH NO DATA"""))
    conn.execute(sa.text("SELECT add_continuous_aggregate_policy('sensor_readings_hourly', "
                         "start_offset => interval '3 days', end_offset => interval '1 hour', "
                         "schedule_interval => interval '30 minutes', if_not_exists => true)"))


def month_start(day: dt.date) -> dt.date:
    return dt.date(day.year, day.month, 1)


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def ensure_partitions(conn: sa.Connection, table: str, first: dt.date, months_ahead: int = 0) -> list[str]:
    """Create the monthly partitions from ``first``'s month through ``months_ahead`` more; returns new names."""
    if table not in TABLES:
        raise ValueError(f"time-series table {table!r}: expected one of {', '.join(TABLES)}")
    existing = set(list_partitions(conn, table))
    created, month = [], month_start(first)
    for _ in range(months_ahead + 1):
        name = partition_name(table, month)
        if name not in existing:
            conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                                 f"FOR VALUES FROM ('{month.isoformat()} 00:00+00') TO ('{next_month(month).isoformat()} 00:00+00')"))
            created.append(name)
        month = next_month(month)
    return created


def list_partitions(conn: sa.Connection, table: str) -> list[str]:
    return list(conn.execute(sa.text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:table) ORDER BY c.relname"), {"table": table}).scalars())


def drop_partitions_before(conn: sa.Connection, table: str, cutoff: dt.datetime) -> list[str]:
    """Retention: drop the monthly partitions that end at or before ``cutoff``; returns the dropped names.

    Only whole months go, so up to a month more than asked is kept. On TimescaleDB this is ``drop_chunks``.
    """
    if table not in TABLES:
        raise ValueError(f"time-series table {table!r}: expected one of {', '.join(TABLES)}")
    if cutoff.tzinfo is None:
        raise ValueError(f"retention cutoff {cutoff.isoformat()}: expected a timezone-aware datetime")
    if detect_timescaledb(conn).installed:
        return list(conn.execute(sa.text(f"SELECT drop_chunks('{table}', older_than => :cutoff)"),
                                 {"cutoff": cutoff}).scalars())
    dropped = []
    for name in list_partitions(conn, table):
        match = re.fullmatch(rf"{table}_y(\d{{4}})m(\d{{2}})", name)
        if not match:
            continue
        end = next_month(dt.date(int(match[1]), int(match[2]), 1))
        if dt.datetime.combine(end, dt.time(), dt.UTC) <= cutoff:
            conn.execute(sa.text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped


def _check_ts(ts: object, where: str) -> dt.datetime:
    if not isinstance(ts, dt.datetime) or ts.tzinfo is None:
        raise ValueError(f"{where} ts {ts!r}: expected a timezone-aware datetime")
    return ts


def check_reading(index: int, row) -> tuple:
    ts, unit_id, sensor_id, metric, value = row
    where = f"reading {index}"
    _check_ts(ts, where)
    if isinstance(unit_id, bool) or not isinstance(unit_id, int) or unit_id <= 0:
        raise ValueError(f"{where} unit_id {unit_id!r}: expected a positive integer")
    if not isinstance(sensor_id, str) or not 0 < len(sensor_id) <= 64:
        raise ValueError(f"{where} sensor_id {sensor_id!r}: expected 1-64 characters")
    if not isinstance(metric, str) or not NAME_PATTERN.match(metric):
        raise ValueError(f"{where} metric {metric!r}: expected lowercase letters, digits or '_'")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where} value {value!r}: expected a finite number")
    return ts, unit_id, sensor_id, metric, float(value)


def _check_occupancy_row(index: int, row) -> tuple:
    ts, unit_id, area_id, people, capacity = row
    where = f"occupancy sample {index}"
    _check_ts(ts, where)
    for name, value, low in (("unit_id", unit_id, 1), ("area_id", area_id, 1), ("people", people, 0),
                             ("capacity", capacity, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{where} {name} {value!r}: expected an integer >= {low}")
    return ts, unit_id, area_id, people, capacity


def _as_tuple(row, columns: tuple[str, ...]) -> tuple:
    return tuple(row[c] for c in columns) if isinstance(row, dict) else tuple(row)


def _copy_rows(conn: sa.Connection, table: str, rows: list[tuple]) -> int:
    if not rows:
        return 0
    months = {month_start(row[0].astimezone(dt.UTC).date()) for row in rows}
    if not detect_timescaledb(conn).installed:
        for month in sorted(months):
            ensure_partitions(conn, table, month)
    cursor = conn.connection.driver_connection.cursor()  # psycopg 3: COPY is the fast path for bulk rows
    with cursor.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def write_readings(conn: sa.Connection, rows: Iterable) -> int:
    """COPY sensor readings, each ``(ts, unit_id, sensor_id, metric, value)`` or a dict with those keys, in the
    caller's transaction; every row is checked first (ValueError naming the row and field)."""
    checked = [check_reading(i, _as_tuple(row, COLUMNS["sensor_readings"])) for i, row in enumerate(rows)]
    return _copy_rows(conn, "sensor_readings", checked)


def write_occupancy(conn: sa.Connection, rows: Iterable) -> int:
    """COPY occupancy samples ``(ts, unit_id, area_id, people, capacity)``."""
    checked = [_check_occupancy_row(i, _as_tuple(row, COLUMNS["occupancy_samples"])) for i, row in enumerate(rows)]
    return _copy_rows(conn, "occupancy_samples", checked)


def _window(start: dt.datetime, end: dt.datetime, bucket: str) -> dict:
    if bucket not in BUCKETS:
        raise ValueError(f"bucket {bucket!r}: expected one of {', '.join(BUCKETS)}")
    _check_ts(start, "window start")
    _check_ts(end, "window end")
    if not start < end or end - start > dt.timedelta(days=400):
        raise ValueError(f"window {start.isoformat()} .. {end.isoformat()}: expected start < end, at most 400 days")
    return {"bucket": bucket, "start": start, "end": end, "origin": ORIGIN}


def sensor_rollup(conn: sa.Connection, *, unit_id: int, metric: str, start: dt.datetime, end: dt.datetime,
                  bucket: str = "1 hour", sensor_id: str | None = None) -> list[dict]:
    """Per bucket (and sensor): mean, min, max and sample count of ``metric`` in [start, end)."""
    params = {**_window(start, end, bucket), "unit_id": unit_id, "metric": metric, "sensor_id": sensor_id}
    rows = conn.execute(sa.text("""
        SELECT date_bin(CAST(:bucket AS interval), ts, :origin) AS bucket, sensor_id,
               avg(value) AS mean, min(value) AS min, max(value) AS max, count(*) AS samples
        FROM sensor_readings
        WHERE unit_id = :unit_id AND metric = :metric AND ts >= :start AND ts < :end
          AND (CAST(:sensor_id AS text) IS NULL OR sensor_id = :sensor_id)
        GROUP BY 1, 2 ORDER BY 1, 2"""), params)
    return [dict(row._mapping) for row in rows]


def occupancy_per_area(conn: sa.Connection, *, unit_id: int, start: dt.datetime, end: dt.datetime,
                       bucket: str = "15 minutes") -> list[dict]:
    """Per bucket and area: mean and peak people and the peak share of capacity."""
    rows = conn.execute(sa.text("""
        SELECT date_bin(CAST(:bucket AS interval), ts, :origin) AS bucket, area_id,
               avg(people)::float AS mean_people, max(people) AS peak_people,
               max(people::float / capacity) AS peak_ratio
        FROM occupancy_samples
        WHERE unit_id = :unit_id AND ts >= :start AND ts < :end
        GROUP BY 1, 2 ORDER BY 1, 2"""), {**_window(start, end, bucket), "unit_id": unit_id})
    return [dict(row._mapping) for row in rows]


def latest_occupancy(conn: sa.Connection, *, unit_id: int, since: dt.datetime) -> list[dict]:
    """The newest sample of every area of a unit since ``since`` (live occupancy)."""
    rows = conn.execute(sa.text("""
        SELECT DISTINCT ON (area_id) area_id, ts, people, capacity, people::float / capacity AS ratio
        FROM occupancy_samples WHERE unit_id = :unit_id AND ts >= :since
        ORDER BY area_id, ts DESC"""), {"unit_id": unit_id, "since": _check_ts(since, "since")})
    return [dict(row._mapping) for row in rows]


def checkin_rate(conn: sa.Connection, *, unit_id: int, start: dt.datetime, end: dt.datetime,
                 bucket: str = "1 hour") -> list[dict]:
    """Check-ins per bucket of a unit, from the ``checkins`` table (buckets without check-ins are omitted)."""
    rows = conn.execute(sa.text("""
        SELECT date_bin(CAST(:bucket AS interval), checked_in_at, :origin) AS bucket, count(*) AS checkins
        FROM checkins WHERE unit_id = :unit_id AND checked_in_at >= :start AND checked_in_at < :end
        GROUP BY 1 ORDER BY 1"""), {**_window(start, end, bucket), "unit_id": unit_id})
    return [dict(row._mapping) for row in rows]
