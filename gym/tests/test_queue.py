"""RabbitMQ work queues against the real broker: retries with exponential back-off through the delay queues,
the dead-letter queue after N attempts, permanent errors, and redelivery when a worker dies before its ack."""

from __future__ import annotations

import json
import threading
import time

import pytest

from data_fixtures import run_suffix  # noqa: F401
from gymchain.common.messaging import rabbit

POLICY = rabbit.QueuePolicy(max_attempts=3, base_delay_ms=200)
KIND = "report-generation"


@pytest.fixture
def queues(run_suffix):  # noqa: F811
    connection = rabbit.connect()
    channel = connection.channel()
    rabbit.declare(channel, KIND, POLICY, run_suffix)
    try:
        yield run_suffix, channel
    finally:
        rabbit.delete_queues(channel, KIND, POLICY, run_suffix)
        connection.close()


def start_worker(handler, suffix, statuses):
    stop = threading.Event()
    thread = threading.Thread(target=rabbit.run_worker, args=(KIND, handler), kwargs={
        "stop": stop, "policy": POLICY, "suffix": suffix, "poll_s": 0.1,
        "on_status": lambda job_id, status, info: statuses.append((job_id, status, info))})
    thread.start()
    return stop, thread


def wait_for(predicate, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_flaky_job_is_retried_with_growing_delays_then_done(queues):
    suffix, _ = queues
    calls: list[float] = []

    def flaky(payload, job):
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError(f"transient failure {len(calls)}")
        return {"report": payload["month"]}

    statuses: list = []
    stop, thread = start_worker(flaky, suffix, statuses)
    try:
        job_id = rabbit.enqueue_job(KIND, {"month": "2026-11"}, policy=POLICY, suffix=suffix)
        assert wait_for(lambda: any(s[1] == "done" for s in statuses))
    finally:
        stop.set()
        thread.join()
    assert len(calls) == 3
    first_gap, second_gap = calls[1] - calls[0], calls[2] - calls[1]
    assert first_gap >= 0.18 and second_gap >= 0.38  # 200 ms then 400 ms (TTL of retry.1, retry.2)
    assert [s[1] for s in statuses] == ["running", "retrying", "running", "retrying", "running", "done"]
    assert statuses[-1] == (job_id, "done", {"attempts": 3, "result": {"report": "2026-11"}})


def test_job_failing_every_time_lands_in_the_dead_letter_queue(queues):
    suffix, channel = queues
    attempts: list[int] = []

    def broken(payload, job):
        attempts.append(1)
        raise ValueError("model file missing")

    statuses: list = []
    stop, thread = start_worker(broken, suffix, statuses)
    try:
        job_id = rabbit.enqueue_job(KIND, {"n": 1}, policy=POLICY, suffix=suffix)
        assert wait_for(lambda: any(s[1] == "failed" for s in statuses))
    finally:
        stop.set()
        thread.join()
    assert len(attempts) == POLICY.max_attempts
    method, properties, body = channel.basic_get(f"{rabbit.queue_name(KIND, suffix)}.dead", auto_ack=True)
    assert method is not None
    assert json.loads(body)["job_id"] == job_id
    assert properties.headers["x-attempt"] == POLICY.max_attempts
    assert properties.headers["x-error"] == "ValueError: model file missing"
    assert channel.queue_declare(rabbit.queue_name(KIND, suffix), durable=True, passive=True).method.message_count == 0


def test_permanent_error_skips_the_retries(queues):
    suffix, channel = queues
    statuses: list = []

    def refuses(payload, job):
        raise rabbit.PermanentJobError("video id does not exist")

    stop, thread = start_worker(refuses, suffix, statuses)
    try:
        rabbit.enqueue_job(KIND, {"video": 9}, policy=POLICY, suffix=suffix)
        assert wait_for(lambda: any(s[1] == "failed" for s in statuses))
    finally:
        stop.set()
        thread.join()
    assert [s[1] for s in statuses] == ["running", "failed"]
    dead = channel.queue_declare(f"{rabbit.queue_name(KIND, suffix)}.dead", durable=True, passive=True)
    assert dead.method.message_count == 1


def test_unacked_job_of_a_dead_worker_is_redelivered(queues):
    suffix, _ = queues
    job_id = rabbit.enqueue_job(KIND, {"n": 2}, policy=POLICY, suffix=suffix)
    crashing = rabbit.connect()
    channel = crashing.channel()
    _, _, body = channel.basic_get(rabbit.queue_name(KIND, suffix), auto_ack=False)
    assert json.loads(body)["job_id"] == job_id
    crashing.close()  # dies before acking
    statuses: list = []
    stop, thread = start_worker(lambda payload, job: {"ok": True}, suffix, statuses)
    try:
        assert wait_for(lambda: any(s[1] == "done" for s in statuses))
    finally:
        stop.set()
        thread.join()
    assert statuses[-1][0] == job_id


def test_bad_kind_and_oversized_payload_are_refused():
    with pytest.raises(ValueError, match="job kind 'mining'"):
        rabbit.enqueue_job("mining", {})
    with pytest.raises(ValueError, match="job payload"):
        rabbit.enqueue_job(KIND, {"blob": "x" * 300_000})
