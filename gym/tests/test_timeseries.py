"""Time series on the real PostgreSQL: monthly partitions and BRIN indexes, COPY writes, date_bin roll-ups checked
against values computed here, retention by dropping partitions, TimescaleDB detection, the Alembic branch."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from data_fixtures import pg_engine, pg_url  # noqa: F401
from gymchain.common import timeseries as ts

UTC = dt.UTC
SEPT = dt.datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture
def engine(pg_engine):  # noqa: F811
    with pg_engine.begin() as conn:
        assert ts.create_timeseries_tables(conn, use_timescaledb=False, today=dt.date(2026, 9, 15)) == "partitioned"
    return pg_engine


def readings(days: int = 75, step_min: int = 30):
    """Two sensors of unit 1 every ``step_min`` minutes from 1 September; value = hour of day (+100 for s2)."""
    rows, t = [], SEPT
    while t < SEPT + dt.timedelta(days=days):
        rows.append((t, 1, "s1", "temperature_c", float(t.hour)))
        rows.append((t, 1, "s2", "temperature_c", 100.0 + t.hour))
        t += dt.timedelta(minutes=step_min)
    return rows


def test_partitions_ahead_and_brin_on_every_partition(engine):
    with engine.begin() as conn:
        names = ts.list_partitions(conn, "sensor_readings")
        assert names == [f"sensor_readings_y2026m{m:02d}" for m in (9, 10, 11, 12)]  # this month + 3 ahead
        brin = conn.execute(sa.text("""
            SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
            WHERE am.amname = 'brin' AND c.relname LIKE 'sensor_readings_y%'""")).scalars().all()
        assert sorted(brin) == names
        kind = conn.execute(sa.text("SELECT relkind FROM pg_class WHERE relname = 'sensor_readings'")).scalar_one()
        assert kind == "p"  # a partitioned table
        assert ts.ensure_partitions(conn, "sensor_readings", dt.date(2026, 9, 1), 3) == []  # idempotent


def test_copy_writes_route_rows_into_month_partitions_made_on_demand(engine):
    rows = readings(days=75) + [(dt.datetime(2027, 3, 2, 8, 0, tzinfo=UTC), 1, "s1", "temperature_c", 21.5)]
    with engine.begin() as conn:
        assert ts.write_readings(conn, rows) == len(rows)
        per_partition = dict(conn.execute(sa.text(
            "SELECT tableoid::regclass::text, count(*) FROM sensor_readings GROUP BY 1")).all())
    assert per_partition["sensor_readings_y2026m09"] == 30 * 48 * 2
    assert per_partition["sensor_readings_y2026m10"] == 31 * 48 * 2
    assert per_partition["sensor_readings_y2027m03"] == 1  # March 2027 was created for this row


def test_date_bin_rollups_match_the_values_written(engine):
    with engine.begin() as conn:
        ts.write_readings(conn, readings(days=2, step_min=15))
        hourly = ts.sensor_rollup(conn, unit_id=1, metric="temperature_c", start=SEPT,
                                  end=SEPT + dt.timedelta(days=1), bucket="1 hour", sensor_id="s1")
        assert len(hourly) == 24
        assert all(row["mean"] == row["bucket"].hour and row["samples"] == 4 for row in hourly)
        six = ts.sensor_rollup(conn, unit_id=1, metric="temperature_c", start=SEPT,
                               end=SEPT + dt.timedelta(days=1), bucket="6 hours")
        s2 = [row for row in six if row["sensor_id"] == "s2"]
        assert [row["mean"] for row in s2] == [102.5, 108.5, 114.5, 120.5]  # mean of the hours 0-5, 6-11, ...
        assert [(row["min"], row["max"], row["samples"]) for row in s2[:1]] == [(100.0, 105.0, 24)]
        daily = ts.sensor_rollup(conn, unit_id=1, metric="temperature_c", start=SEPT,
                                 end=SEPT + dt.timedelta(days=2), bucket="1 day", sensor_id="s1")
        assert [row["bucket"] for row in daily] == [SEPT, SEPT + dt.timedelta(days=1)]


def test_occupancy_per_area_and_latest(engine):
    samples = []
    for minute in range(0, 60, 5):  # area 7: 0, 2, 4, ... people; area 8: constant 10 of 20
        t = SEPT + dt.timedelta(hours=18, minutes=minute)
        samples += [(t, 1, 7, minute // 5 * 2, 30), (t, 1, 8, 10, 20), (t, 2, 9, 99, 100)]
    with engine.begin() as conn:
        ts.write_occupancy(conn, samples)
        rows = ts.occupancy_per_area(conn, unit_id=1, start=SEPT, end=SEPT + dt.timedelta(days=1))
        area7 = [r for r in rows if r["area_id"] == 7]
        assert [(r["mean_people"], r["peak_people"]) for r in area7] == [(2.0, 4), (8.0, 10), (14.0, 16), (20.0, 22)]
        assert area7[-1]["peak_ratio"] == pytest.approx(22 / 30)
        latest = ts.latest_occupancy(conn, unit_id=1, since=SEPT)
        assert [(r["area_id"], r["people"], r["ratio"]) for r in latest] == [(7, 22, pytest.approx(22 / 30)),
                                                                               (8, 10, 0.5)]


def test_checkin_rate_from_the_checkins_table(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE checkins (unit_id bigint, checked_in_at timestamptz)"))
        conn.execute(sa.text("INSERT INTO checkins SELECT 1, :t + n * interval '10 minutes' "
                             "FROM generate_series(0, 17) n"), {"t": SEPT + dt.timedelta(hours=6)})
        rate = ts.checkin_rate(conn, unit_id=1, start=SEPT, end=SEPT + dt.timedelta(days=1))
    assert [(r["bucket"].hour, r["checkins"]) for r in rate] == [(6, 6), (7, 6), (8, 6)]


def test_retention_drops_old_partitions_and_keeps_the_rest(engine):
    with engine.begin() as conn:
        ts.write_readings(conn, readings(days=75))
        dropped = ts.drop_partitions_before(conn, "sensor_readings", dt.datetime(2026, 10, 20, tzinfo=UTC))
        assert dropped == ["sensor_readings_y2026m09"]  # October ends after the cutoff: kept whole
        left = conn.execute(sa.text("SELECT min(ts), count(*) FROM sensor_readings")).one()
        assert left[0] == dt.datetime(2026, 10, 1, tzinfo=UTC)
        assert left[1] == (31 + 14) * 48 * 2
        assert ts.drop_partitions_before(conn, "sensor_readings", dt.datetime(2026, 10, 20, tzinfo=UTC)) == []


def test_timescaledb_detection_matches_the_catalog(engine):
    with engine.begin() as conn:
        status = ts.detect_timescaledb(conn)
        listed = conn.execute(sa.text("SELECT name FROM pg_available_extensions")).scalars().all()
    assert status.available == ("timescaledb" in listed)
    assert status.installed is False


@pytest.mark.parametrize(("row", "message"), [
    ((dt.datetime(2026, 9, 1), 1, "s1", "t", 1.0), "reading 0 ts"),
    ((SEPT, 0, "s1", "t", 1.0), "reading 0 unit_id"),
    ((SEPT, 1, "s1", "Temp C", 1.0), "reading 0 metric"),
    ((SEPT, 1, "s1", "t", float("nan")), "reading 0 value"),
])
def test_bad_readings_are_refused_before_anything_is_written(engine, row, message):
    with engine.begin() as conn, pytest.raises(ValueError, match=message):
        ts.write_readings(conn, [row])
    with engine.begin() as conn, pytest.raises(ValueError, match="bucket '2 weeks'"):
        ts.sensor_rollup(conn, unit_id=1, metric="t", start=SEPT, end=SEPT + dt.timedelta(days=1), bucket="2 weeks")


def test_alembic_heads_create_the_datastores_branch_and_downgrade_removes_it(pg_url):  # noqa: F811
    from alembic import command

    from gymchain.migrations import alembic_config

    config = alembic_config(pg_url)
    command.upgrade(config, "heads")
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert {"outbox_events", "documents", "sensor_readings", "occupancy_samples"} <= tables
            assert ts.list_partitions(conn, "sensor_readings")
        command.downgrade(config, "datastores@base")
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert not {"outbox_events", "documents", "sensor_readings"} & tables
    finally:
        engine.dispose()


def test_datastores_tables_match_their_revisions(pg_url):  # noqa: F811
    """Autogenerate finds nothing to add or drop for the datastores branch's ORM tables."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import gymchain.common.docstore
    import gymchain.common.messaging.sensor_ingest
    import gymchain.common.outbox
    import gymchain.sync.central_schema  # noqa: F401
    from gymchain.common.db import Base
    from gymchain.migrations import alembic_config

    command.upgrade(alembic_config(pg_url), "heads")
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    ours = ("outbox_events", "documents", "sync_processed_events", "sync_downstream", "sync_reference_state",
            "sync_unit_cursor",
            "stream_offsets")
    assert [d for d in diff if any(table in str(d) for table in ours)] == []
