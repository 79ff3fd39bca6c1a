"""A job that runs longer than two RabbitMQ heartbeat intervals keeps its connection: the worker answers
heartbeats while the handler works, so the job runs once and is acked (before, the broker dropped the connection
and the unacked job was redelivered and run again)."""

from __future__ import annotations

import threading
import time

from data_fixtures import run_suffix  # noqa: F401
from gymchain.common.messaging import rabbit
from gymchain.common.settings import get_settings

POLICY = rabbit.QueuePolicy(max_attempts=3, base_delay_ms=200)
KIND = "batch-scoring"


def run_slow_job(suffix: str, seconds: float) -> tuple[list, list]:
    url = get_settings().rabbit_url
    url += ("&" if "?" in url else "?") + "heartbeat=1"
    calls, statuses = [], []

    def slow(payload, job):
        calls.append(job["job_id"])
        time.sleep(seconds)
        return {"slept": seconds}

    stop = threading.Event()
    thread = threading.Thread(target=rabbit.run_worker, args=(KIND, slow), kwargs={
        "stop": stop, "policy": POLICY, "suffix": suffix, "url": url, "poll_s": 0.1,
        "on_status": lambda job_id, status, info: statuses.append(status)})
    thread.start()
    try:
        rabbit.enqueue_job(KIND, {"unit_id": 1}, policy=POLICY, suffix=suffix)
        deadline = time.monotonic() + seconds * 4 + 10
        while "done" not in statuses and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=seconds + 10)
        connection = rabbit.connect()
        rabbit.delete_queues(connection.channel(), KIND, POLICY, suffix)
        connection.close()
    return calls, statuses


def test_a_job_longer_than_the_heartbeat_runs_once(run_suffix):  # noqa: F811
    calls, statuses = run_slow_job(run_suffix + ".hb", 5.0)
    assert len(calls) == 1 and statuses == ["running", "done"]
