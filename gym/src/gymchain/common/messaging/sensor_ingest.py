"""Sensor readings from the event stream into the time-series tables, exactly once.

Devices (or a unit's gateway) publish readings to the ``sensor-readings`` topic with :func:`publish_readings`:
one JSON message per reading, keyed by ``<unit>:<sensor>`` so a sensor's readings stay in order. The ingest
consumer (``python -m gymchain.common.messaging.sensor_ingest``) COPYs a batch into ``sensor_readings`` and stores
the next offset of every partition in ``stream_offsets`` **in the same transaction**; on (re)assignment it seeks
to the stored offsets. So a crash or a rebalance between the write and the offset commit can neither lose nor
double a reading, and Kafka's own committed offsets are only informative. A member that lost a partition to a
rebalance cannot overwrite the new owner's progress: each offset update names the offset it started from.
Malformed messages are counted, logged with their topic/partition/offset, and skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable

import sqlalchemy as sa
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from sqlalchemy.dialects.postgresql import insert as pg_insert

from gymchain.common import timeseries
from gymchain.common.db import Base
from gymchain.common.messaging.stream import GROUP_TIMEOUTS, KafkaPublisher, bootstrap_servers, topic_name

log = logging.getLogger(__name__)
TOPIC = "sensor-readings"
GROUP = "timeseries-ingest"

stream_offsets = sa.Table(
    "stream_offsets",
    Base.metadata,
    sa.Column("consumer_group", sa.String(100), primary_key=True),
    sa.Column("topic", sa.String(200), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


class StaleAssignment(RuntimeError):
    """Another member moved a partition's stored offset: this batch is not ours to write."""


def reading_message(row) -> tuple[str, bytes]:
    ts, unit_id, sensor_id, metric, value = timeseries.check_reading(0, row)
    body = {"ts": ts.isoformat(), "unit_id": unit_id, "sensor_id": sensor_id, "metric": metric, "value": value}
    return f"{unit_id}:{sensor_id}", json.dumps(body).encode()


def publish_readings(publisher: KafkaPublisher, rows: Iterable, topic: str | None = None) -> int:
    """Publish readings ``(ts, unit_id, sensor_id, metric, value)`` and wait for the broker; returns how many."""
    topic = topic or topic_name(TOPIC)
    count = 0
    for row in rows:
        key, value = reading_message(row)
        publisher.publish(topic, key, value, {})
        count += 1
    publisher.flush()
    return count


def parse(message) -> tuple:
    """The reading in a message; ValueError naming topic/partition/offset and the field otherwise."""
    where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
    try:
        body = json.loads(message.value())
        row = (dt.datetime.fromisoformat(body["ts"]), body["unit_id"], body["sensor_id"], body["metric"],
               body["value"])
        return timeseries.check_reading(0, row)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"sensor reading {where}: {exc}") from None


def load_offsets(conn: sa.Connection, group: str, topic: str) -> dict[int, int]:
    rows = conn.execute(sa.select(stream_offsets.c.partition, stream_offsets.c.next_offset).where(
        stream_offsets.c.consumer_group == group, stream_offsets.c.topic == topic))
    return dict(rows.all())


def store_offsets(conn: sa.Connection, group: str, topic: str, moves: dict[int, tuple[int | None, int]]) -> None:
    """Move each partition's stored offset from ``old`` (None: not stored yet) to ``new``, or raise StaleAssignment."""
    for partition, (old, new) in moves.items():
        if old is None:
            inserted = conn.execute(pg_insert(stream_offsets).values(
                consumer_group=group, topic=topic, partition=partition, next_offset=new)
                .on_conflict_do_nothing().returning(stream_offsets.c.partition)).first()
            moved = inserted is not None
        else:
            moved = conn.execute(stream_offsets.update().where(
                stream_offsets.c.consumer_group == group, stream_offsets.c.topic == topic,
                stream_offsets.c.partition == partition, stream_offsets.c.next_offset == old)
                .values(next_offset=new, updated_at=sa.func.now())).rowcount == 1
        if not moved:
            raise StaleAssignment(f"{topic}[{partition}]: stored offset is no longer {old}")


class SensorIngest:
    def __init__(self, engine: sa.engine.Engine, *, group: str = GROUP, topic: str | None = None,
                 bootstrap: str | None = None, commit_to_kafka: bool = True):
        """``commit_to_kafka=False`` leaves Kafka's committed offsets alone (the database ones rule anyway)."""
        self.engine, self.group, self.topic = engine, group, topic or topic_name(TOPIC)
        self.commit_to_kafka = commit_to_kafka
        self.positions: dict[int, int | None] = {}  # partition -> stored offset this member started from
        self.consumer = Consumer({"bootstrap.servers": bootstrap or bootstrap_servers(), "group.id": group,
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest", "logger": log,
                                  **GROUP_TIMEOUTS})
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self.totals = {"written": 0, "rejected": 0}

    def _on_assign(self, consumer, partitions: list[TopicPartition]) -> None:
        with self.engine.connect() as conn:
            stored = load_offsets(conn, self.group, self.topic)
        for tp in partitions:
            self.positions[tp.partition] = stored.get(tp.partition)
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
        consumer.assign(partitions)

    def _on_revoke(self, consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.positions.pop(tp.partition, None)

    def ingest_once(self, max_messages: int = 5000, timeout_s: float = 1.0) -> dict:
        """Consume up to ``max_messages`` and write them with their offsets in one transaction."""
        rows, rejected, moves = [], 0, {}
        for message in self.consumer.consume(max_messages, timeout_s):
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(message.error())
            partition = message.partition()
            if partition not in self.positions:
                continue  # revoked meanwhile
            try:
                rows.append(parse(message))
            except ValueError as exc:
                rejected += 1
                log.warning("%s (skipped)", exc)
            moves[partition] = (self.positions[partition], message.offset() + 1)
        if not moves:
            return {"written": 0, "rejected": 0}
        try:
            with self.engine.begin() as conn:
                written = timeseries.write_readings(conn, rows)
                store_offsets(conn, self.group, self.topic, moves)
        except StaleAssignment as exc:  # another member owns these partitions now: re-read where we stand
            log.warning("sensor ingest: %s; re-seeking", exc)
            self._reseek(list(moves))
            return {"written": 0, "rejected": 0}
        for partition, (_, new) in moves.items():
            self.positions[partition] = new
        if self.commit_to_kafka:  # for lag monitoring only
            self.consumer.commit(offsets=[TopicPartition(self.topic, p, new) for p, (_, new) in moves.items()],
                                 asynchronous=True)
        self.totals["written"] += written
        self.totals["rejected"] += rejected
        return {"written": written, "rejected": rejected}

    def _reseek(self, partitions: list[int]) -> None:
        with self.engine.connect() as conn:
            stored = load_offsets(conn, self.group, self.topic)
        for partition in partitions:
            self.positions[partition] = stored.get(partition)
            self.consumer.seek(TopicPartition(self.topic, partition, stored.get(partition, OFFSET_BEGINNING)))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.ingest_once()

    def close(self) -> None:
        self.consumer.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m gymchain.common.messaging.sensor_ingest``: stream readings into the time-series tables."""
    import signal

    from gymchain.common.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m gymchain.common.messaging.sensor_ingest", description=main.__doc__)
    parser.add_argument("--database-url", default=None, help="default: GYM_DATABASE_URL")
    parser.add_argument("--group", default=GROUP)
    args = parser.parse_args(argv)
    from gymchain.common import logs, metrics, tracing

    logs.configure("sensor-ingest")
    tracing.setup("sensor-ingest")
    metrics.serve_process_metrics("sensor-ingest")
    engine = sa.create_engine(args.database_url or get_settings().database_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            missing = {"stream_offsets", "sensor_readings"} - set(sa.inspect(conn).get_table_names())
    except sa.exc.OperationalError as exc:
        raise SystemExit(f"{engine.url.render_as_string(hide_password=True)}: cannot connect ({exc.orig})") from None
    if missing:
        raise SystemExit(f"{engine.url.database}: tables {sorted(missing)} missing; run the migrations first "
                         "(alembic upgrade heads)")
    ingest = SensorIngest(engine, group=args.group)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ingest.run(stop)
    ingest.close()
    log.info("sensor ingest stopped: %s", ingest.totals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
