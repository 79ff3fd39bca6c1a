"""The event stream over the Kafka protocol (confluent-kafka): topics, keyed producers, consumer groups.

Locally the broker is Tansu (memory storage, started by ``gym/scripts/start_infra.sh``); in production the same
code talks to Apache Kafka: only ``bootstrap`` changes. Messages are JSON envelopes written by the outbox relay
(``event_id``, ``topic``, ``key``, ``created_at``, ``payload``) with the event id also in a header. Consumers
commit offsets by hand after processing, so a crash re-delivers rather than loses; processing must therefore be
idempotent (drop event ids already seen).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from gymchain.common import metrics, tracing
from gymchain.common.outbox import PublishError
from gymchain.common.settings import get_settings

log = logging.getLogger(__name__)  # librdkafka's own log lines go here instead of stderr
STREAM_TOPICS = ("checkins", "bookings", "sensor-readings")
# A short rebalance timeout keeps a group join at ~3 s on Tansu (it waits the whole timeout otherwise: ~23 s);
# real Kafka clusters may prefer the library defaults (300 s / 45 s).
GROUP_TIMEOUTS = {"max.poll.interval.ms": 10000, "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000}


def bootstrap_servers() -> str:
    return get_settings().kafka_bootstrap


def topic_name(logical: str, suffix: str | None = None) -> str:
    """The broker topic of a logical topic: ``GYM_KAFKA_TOPIC_SUFFIX`` appended (tests use a per-run one)."""
    suffix = get_settings().kafka_topic_suffix if suffix is None else suffix
    return f"{logical}{suffix}"


def ensure_topics(names: Iterable[str], *, partitions: int = 3, bootstrap: str | None = None,
                  timeout_s: float = 15.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap or bootstrap_servers()})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [name for name in names if name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)
                                   for name in wanted], operation_timeout=timeout_s)
    for future in futures.values():
        try:
            future.result(timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return wanted


class KafkaPublisher:
    """The outbox relay's publisher: keyed, idempotent producer; ``flush`` raises if any message failed."""

    def __init__(self, bootstrap: str | None = None, *, flush_timeout_s: float = 15.0):
        self.producer = Producer({"bootstrap.servers": bootstrap or bootstrap_servers(), "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": int(flush_timeout_s * 1000), "logger": log})
        self.flush_timeout_s = flush_timeout_s
        self._errors: list[str] = []

    def _on_delivery(self, error, message) -> None:
        if error is not None:
            self._errors.append(f"{message.topic()}: {error}")

    def publish(self, topic: str, key: str, value: bytes, headers: dict[str, str]) -> None:
        self.producer.produce(topic, key=key.encode(), value=value, headers=list(headers.items()),
                              on_delivery=self._on_delivery)
        self.producer.poll(0)

    def flush(self) -> None:
        left = self.producer.flush(self.flush_timeout_s)
        errors, self._errors = self._errors, []
        if left or errors:
            raise PublishError(f"{left} message(s) unconfirmed, {len(errors)} failed: {errors[:3]}")


@dataclass(frozen=True)
class StreamEvent:
    topic: str
    partition: int
    offset: int
    key: str | None
    event_id: str
    payload: dict
    envelope: dict
    headers: dict = field(default_factory=dict, compare=False)  # str values: event_id, traceparent, ...


def decode(message) -> StreamEvent:
    """A consumed message as a StreamEvent; ValueError naming topic/partition/offset if it is not an envelope."""
    where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
    try:
        envelope = json.loads(message.value())
        event_id, payload = str(envelope["event_id"]), envelope["payload"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"stream message {where}: not an outbox envelope ({exc})") from None
    key = message.key().decode() if message.key() is not None else None
    return StreamEvent(message.topic(), message.partition(), message.offset(), key, event_id, payload, envelope,
                       tracing.kafka_headers(message.headers()))


class GroupConsumer:
    """A member of a consumer group with manual commits: poll a batch, process it, then ``commit``."""

    def __init__(self, group_id: str, topics: Iterable[str], *, bootstrap: str | None = None,
                 on_assign: Callable[[list[TopicPartition]], None] | None = None, **config):
        settings = {"bootstrap.servers": bootstrap or bootstrap_servers(), "group.id": group_id,
                    "enable.auto.commit": False, "auto.offset.reset": "earliest", "logger": log, **GROUP_TIMEOUTS,
                    **config}
        self.consumer = Consumer(settings)
        self.group_id = group_id
        self.assigned: list[TopicPartition] = []

        def _assign(consumer, partitions):
            self.assigned = list(partitions)
            if on_assign:
                on_assign(self.assigned)

        def _revoke(consumer, partitions):
            self.assigned = []

        self.consumer.subscribe(list(topics), on_assign=_assign, on_revoke=_revoke)

    def poll_batch(self, max_messages: int = 100, timeout_s: float = 1.0) -> list[StreamEvent]:
        messages = self.consumer.consume(max_messages, timeout_s)
        events = []
        for message in messages:
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(message.error())
            event = decode(message)
            # a receive span per event, child of the relay's publish span: every consumer joins the trace
            logical = event.topic.removesuffix(get_settings().kafka_topic_suffix or "\0")
            with tracing.span(f"{logical} receive", kind=tracing.SpanKind.CONSUMER, parent_headers=event.headers,
                              attributes={"messaging.system": "kafka", "messaging.destination.name": event.topic,
                                          "messaging.consumer.group.name": self.group_id,
                                          "messaging.message.id": event.event_id}):
                metrics.STREAM_CONSUMED.labels(event.topic, self.group_id).inc()
            events.append(event)
        return events

    def commit(self) -> None:
        """Commit the offsets of everything polled so far (synchronously)."""
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:  # nothing polled since the last commit
                raise

    def committed(self) -> dict[tuple[str, int], int]:
        parts = self.consumer.committed(self.assigned, timeout=10)
        return {(tp.topic, tp.partition): tp.offset for tp in parts}

    def close(self) -> None:
        self.consumer.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m gymchain.common.messaging.stream --topic bookings``: tail a stream topic as JSON lines.

    A consumer-group member (commits after printing): each event is processed in a span that continues the trace
    of the request that wrote it, and printed with its trace id.
    """
    import argparse
    import signal
    import sys
    import threading

    from gymchain.common import logs

    parser = argparse.ArgumentParser(prog="python -m gymchain.common.messaging.stream", description=main.__doc__)
    parser.add_argument("--topic", required=True, choices=STREAM_TOPICS, help="logical topic (suffix applied)")
    parser.add_argument("--group", default="gym-tail", help="consumer group id (default gym-tail)")
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (default: GYM_KAFKA_BOOTSTRAP)")
    parser.add_argument("--max-events", type=int, default=0, help="stop after this many events (0: run until stopped)")
    args = parser.parse_args(argv)
    if not 0 <= args.max_events <= 10_000_000:
        parser.error(f"--max-events {args.max_events}: expected 0 to 10000000")
    if not args.group or len(args.group) > 100:
        parser.error(f"--group {args.group!r}: expected 1 to 100 characters")
    logs.configure("stream-tail")
    tracing.setup("stream-tail")
    metrics.serve_process_metrics("stream-tail")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    consumer = GroupConsumer(args.group, [topic_name(args.topic)], bootstrap=args.bootstrap)
    seen = 0
    try:
        while not stop.is_set() and (not args.max_events or seen < args.max_events):
            events = consumer.poll_batch(100, 0.5)
            for event in events:
                with tracing.span(f"{args.topic} process", kind=tracing.SpanKind.CONSUMER,
                                  parent_headers=event.headers, attributes={"messaging.message.id": event.event_id}):
                    trace_id, _ = tracing.current_ids()
                    print(json.dumps({"topic": event.topic, "partition": event.partition, "offset": event.offset,
                                      "key": event.key, "event_id": event.event_id, "trace_id": trace_id,
                                      "payload": event.payload}), flush=True)
                    log.info("event %s processed", event.event_id, extra={"event_id": event.event_id})
                seen += 1
            if events:
                consumer.commit()
    except KafkaException as exc:
        print(f"stream tail: {exc}", file=sys.stderr)
        return 1
    finally:
        consumer.close()
        tracing.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
