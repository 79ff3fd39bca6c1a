"""Sensor readings through the real Kafka-protocol broker into the partitioned time-series table, exactly once:
offsets live in PostgreSQL beside the rows, so a restarted consumer resumes there even with no Kafka commit."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import sqlalchemy as sa

from data_fixtures import kafka_bootstrap, pg_engine, pg_url, run_suffix  # noqa: F401
from gymchain.common import timeseries
from gymchain.common.messaging import sensor_ingest as ingest
from gymchain.common.messaging import stream

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture
def setup(pg_engine, kafka_bootstrap, run_suffix):  # noqa: F811
    with pg_engine.begin() as conn:
        timeseries.create_timeseries_tables(conn, use_timescaledb=False, today=START.date())
    ingest.stream_offsets.create(pg_engine)
    topic = stream.topic_name(ingest.TOPIC, run_suffix)
    stream.ensure_topics([topic], bootstrap=kafka_bootstrap)
    return pg_engine, topic, kafka_bootstrap


def readings(first: int, count: int) -> list[tuple]:
    return [(START + dt.timedelta(minutes=i), 1, f"s{i % 5}", "temperature_c", float(i)) for i in range(first,
                                                                                                      first + count)]


def drain(consumer: ingest.SensorIngest, want: int, timeout_s: float = 40.0) -> dict:
    totals, deadline = {"written": 0, "rejected": 0}, time.monotonic() + timeout_s
    while totals["written"] + totals["rejected"] < want and time.monotonic() < deadline:
        for key, value in consumer.ingest_once(500, 0.5).items():
            totals[key] += value
    return totals


def stored(engine) -> tuple[int, float]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text("SELECT count(*), coalesce(sum(value), 0) FROM sensor_readings")).one())


def test_readings_land_once_and_a_restart_resumes_from_the_database(setup):
    engine, topic, bootstrap = setup
    publisher = stream.KafkaPublisher(bootstrap)
    assert ingest.publish_readings(publisher, readings(0, 200), topic) == 200
    for bad in (b"not json", b'{"ts": "yesterday", "unit_id": 1}', b'{"ts": "2026-11-01T00:00:00+00:00"}'):
        publisher.publish(topic, "bad", bad, {})
    publisher.flush()
    # no Kafka commits at all: the offsets in the database alone must carry the restart
    first = ingest.SensorIngest(engine, group="ingest-test", topic=topic, bootstrap=bootstrap, commit_to_kafka=False)
    try:
        assert drain(first, 203) == {"written": 200, "rejected": 3}
    finally:
        first.close()
    assert stored(engine) == (200, sum(range(200)))
    ingest.publish_readings(publisher, readings(200, 50), topic)
    second = ingest.SensorIngest(engine, group="ingest-test", topic=topic, bootstrap=bootstrap, commit_to_kafka=False)
    try:
        assert drain(second, 50) == {"written": 50, "rejected": 0}
        assert second.ingest_once(500, 1.0) == {"written": 0, "rejected": 0}
    finally:
        second.close()
    assert stored(engine) == (250, sum(range(250)))  # nothing read twice, although Kafka never saw a commit
    with engine.connect() as conn:
        assert sum(ingest.load_offsets(conn, "ingest-test", topic).values()) == 253  # every message, bad ones too


def test_a_member_that_lost_its_partition_cannot_move_the_offset_back(pg_engine):  # noqa: F811
    ingest.stream_offsets.create(pg_engine)
    with pg_engine.begin() as conn:
        ingest.store_offsets(conn, "g", "t", {0: (None, 10)})
    with pg_engine.begin() as conn:
        ingest.store_offsets(conn, "g", "t", {0: (10, 25)})  # the new owner moved on
    with pytest.raises(ingest.StaleAssignment, match=r"t\[0\]"), pg_engine.begin() as conn:
        ingest.store_offsets(conn, "g", "t", {0: (10, 17)})  # the old owner's late batch
    with pg_engine.connect() as conn:
        assert ingest.load_offsets(conn, "g", "t") == {0: 25}
    with pytest.raises(ValueError, match="reading 0 value"):
        ingest.reading_message((START, 1, "s1", "temperature_c", float("inf")))
