"""The event stream against the real Kafka-protocol broker (Tansu): keyed produce, two consumer groups that each
see every event, manual commits that a restarted member resumes from, and a rebalance when a member joins."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest

from data_fixtures import kafka_bootstrap, run_suffix  # noqa: F401
from gymchain.common.messaging import stream


def envelope(i: int) -> bytes:
    return json.dumps({"event_id": str(uuid.UUID(int=i + 1)), "topic": "checkins", "key": f"member-{i % 4}",
                       "created_at": dt.datetime.now(dt.UTC).isoformat(), "payload": {"seq": i}}).encode()


def drain(consumer: stream.GroupConsumer, want: int, timeout_s: float = 40.0) -> list[stream.StreamEvent]:
    events, deadline = [], time.monotonic() + timeout_s
    while len(events) < want and time.monotonic() < deadline:
        events += consumer.poll_batch(want - len(events), 0.5)
    return events


@pytest.fixture
def topic(kafka_bootstrap, run_suffix):  # noqa: F811
    name = stream.topic_name("checkins", run_suffix)
    assert stream.ensure_topics([name], partitions=3, bootstrap=kafka_bootstrap) == [name]
    assert stream.ensure_topics([name], bootstrap=kafka_bootstrap) == []  # idempotent
    publisher = stream.KafkaPublisher(kafka_bootstrap)
    for i in range(24):
        publisher.publish(name, f"member-{i % 4}", envelope(i), {"event_id": str(uuid.UUID(int=i + 1))})
    publisher.flush()
    return name


def test_two_groups_each_get_every_event_and_commits_resume(topic, kafka_bootstrap):  # noqa: F811
    group_a, group_b = f"analytics-{uuid.uuid4().hex[:6]}", f"notifier-{uuid.uuid4().hex[:6]}"
    first = stream.GroupConsumer(group_a, [topic], bootstrap=kafka_bootstrap)
    other = stream.GroupConsumer(group_b, [topic], bootstrap=kafka_bootstrap)
    try:
        b_events = drain(other, 24)
        a_events = drain(first, 24)
        assert sorted(e.payload["seq"] for e in b_events) == list(range(24))
        assert sorted(e.payload["seq"] for e in a_events) == list(range(24))
        for key in {e.key for e in a_events}:  # a key's events stay in order (one partition per key)
            seqs = [e.payload["seq"] for e in a_events if e.key == key]
            assert seqs == sorted(seqs)
        first.commit()
        committed = first.committed()
        assert sum(offset for offset in committed.values() if offset >= 0) == 24  # -1001: partition never used
    finally:
        first.close()
        other.close()
    publisher = stream.KafkaPublisher(kafka_bootstrap)
    for i in range(24, 30):
        publisher.publish(topic, f"member-{i % 4}", envelope(i), {"event_id": str(uuid.UUID(int=i + 1))})
    publisher.flush()
    restarted = stream.GroupConsumer(group_a, [topic], bootstrap=kafka_bootstrap)
    try:  # resumes after its committed offsets: only the 6 new events, no replay of the first 24
        assert sorted(e.payload["seq"] for e in drain(restarted, 6)) == list(range(24, 30))
        assert restarted.poll_batch(10, 1.0) == []
    finally:
        restarted.close()


def test_a_joining_member_takes_over_partitions(topic, kafka_bootstrap):  # noqa: F811
    group = f"workers-{uuid.uuid4().hex[:6]}"
    one = stream.GroupConsumer(group, [topic], bootstrap=kafka_bootstrap)
    two = None
    try:
        drain(one, 24)
        assert len(one.assigned) == 3
        one.commit()
        two = stream.GroupConsumer(group, [topic], bootstrap=kafka_bootstrap)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not (one.assigned and two.assigned):
            one.poll_batch(10, 0.2)
            two.poll_batch(10, 0.2)
        assert one.assigned and two.assigned
        owned = [(tp.topic, tp.partition) for tp in one.assigned + two.assigned]
        assert sorted(owned) == [(topic, p) for p in range(3)]  # every partition, each owned by one member
    finally:
        one.close()
        if two is not None:
            two.close()


def test_a_message_that_is_not_an_envelope_names_where_it_is(topic, kafka_bootstrap):  # noqa: F811
    publisher = stream.KafkaPublisher(kafka_bootstrap)
    publisher.publish(topic, "x", b"not json", {})
    publisher.flush()
    consumer = stream.GroupConsumer(f"strict-{uuid.uuid4().hex[:6]}", [topic], bootstrap=kafka_bootstrap)
    try:
        with pytest.raises(ValueError, match=rf"stream message {topic}\[\d\]@\d+: not an outbox envelope"):
            drain(consumer, 25)
    finally:
        consumer.close()
