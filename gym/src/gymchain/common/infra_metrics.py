"""Scrape-time gauges for what no single process owns: RabbitMQ queue depth, stream consumer lag, outbox backlog.

Registered by the observatory process (:mod:`gymchain.common.observatory`) only. Each source is read when
Prometheus scrapes (every 15 s), with short timeouts; a source that cannot be read reports
``gym_infra_source_up{source} 0`` instead of failing the whole scrape.

Consumer lag = the partition's high watermark minus the group's committed offset, for every group the broker
lists plus the groups whose offsets are kept in PostgreSQL (``stream_offsets``: the sensor ingest). On Tansu, the
local broker, the high watermark is the base offset of the last record batch + 1, so lag there is a lower bound
(exact on Apache Kafka).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


def queue_depths(url: str, suffix: str) -> list[tuple[str, int, int]]:
    """``(queue, ready messages, consumers)`` of every job kind's work and dead-letter queue that exists."""
    import pika
    import pika.exceptions

    from gymchain.common.messaging.rabbit import JOB_KINDS

    params = pika.URLParameters(url)
    params.socket_timeout = params.blocked_connection_timeout = 3
    connection = pika.BlockingConnection(params)
    out = []
    try:
        for kind in JOB_KINDS:
            for name in (f"gym.{kind}{suffix}", f"gym.{kind}{suffix}.dead"):
                channel = connection.channel()
                try:
                    frame = channel.queue_declare(name, passive=True)
                    out.append((name, frame.method.message_count, frame.method.consumer_count))
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:  # 404: the queue does not exist yet
                    continue
    finally:
        connection.close()
    return out


def consumer_lags(bootstrap: str, engine: sa.Engine | None) -> list[tuple[str, str, int, int]]:
    """``(group, topic, partition, lag)`` for the broker's groups and the PostgreSQL-stored offsets."""
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    committed: dict[tuple[str, str, int], int] = {}
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000})
    groups = [g.group_id for g in admin.list_consumer_groups(request_timeout=5).result(timeout=6).valid]
    for group in groups:
        for future in admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                        request_timeout=5).values():
            for tp in future.result(timeout=6).topic_partitions:
                if tp.offset >= 0:
                    committed[(group, tp.topic, tp.partition)] = tp.offset
    if engine is not None:
        with engine.connect() as conn:
            if sa.inspect(conn).has_table("stream_offsets"):
                for row in conn.execute(sa.text("SELECT consumer_group, topic, partition, next_offset "
                                                "FROM stream_offsets")):
                    committed[(f"{row[0]} (pg)", row[1], row[2])] = row[3]
    if not committed:
        return []
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "gym-observatory-probe",
                      "enable.auto.commit": False})
    try:
        lags = []
        for (group, topic, partition), offset in sorted(committed.items()):
            _low, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=3)
            lags.append((group, topic, partition, max(0, high - offset)))
        return lags
    finally:
        probe.close()


def outbox_pending(engine: sa.Engine) -> int:
    from gymchain.common.outbox import pending_count

    return pending_count(engine)


class InfraCollector(Collector):
    def __init__(self, *, rabbit_url: str, queue_suffix: str, bootstrap: str, database_url: str):
        self.rabbit_url, self.queue_suffix, self.bootstrap = rabbit_url, queue_suffix, bootstrap
        self.engine = sa.create_engine(database_url, pool_pre_ping=True, pool_size=1, max_overflow=1,
                                       connect_args={"connect_timeout": 3})

    def collect(self):
        up = GaugeMetricFamily("gym_infra_source_up", "1 if the observatory could read the source at this scrape",
                               labels=["source"])
        depth = GaugeMetricFamily("gym_rabbitmq_queue_messages", "Messages ready in a RabbitMQ queue",
                                  labels=["queue"])
        consumers = GaugeMetricFamily("gym_rabbitmq_queue_consumers", "Consumers attached to a RabbitMQ queue",
                                      labels=["queue"])
        lag = GaugeMetricFamily("gym_stream_consumer_lag", "Messages a consumer group is behind on a partition",
                                labels=["group", "topic", "partition"])
        pending = GaugeMetricFamily("gym_outbox_pending_events", "Outbox events not yet published to the stream")
        for source, read in (("rabbitmq", self._queues), ("stream", self._lags), ("outbox", self._outbox)):
            try:
                read(depth, consumers, lag, pending)
                up.add_metric([source], 1)
            except Exception as exc:  # noqa: BLE001 - one unreadable source must not fail the scrape
                log.warning("infra metrics: %s unreadable (%s: %s)", source, type(exc).__name__, exc)
                up.add_metric([source], 0)
        yield from (up, depth, consumers, lag, pending)

    def _queues(self, depth, consumers, _lag, _pending):
        for name, ready, count in queue_depths(self.rabbit_url, self.queue_suffix):
            depth.add_metric([name], ready)
            consumers.add_metric([name], count)

    def _lags(self, _depth, _consumers, lag, _pending):
        for group, topic, partition, behind in consumer_lags(self.bootstrap, self.engine):
            lag.add_metric([group, topic, str(partition)], behind)

    def _outbox(self, _depth, _consumers, _lag, pending):
        pending.add_metric([], outbox_pending(self.engine))
