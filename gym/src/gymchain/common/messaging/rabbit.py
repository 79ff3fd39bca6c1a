"""RabbitMQ work queues for slow jobs (video analysis, report generation, retraining), with pika.

Topology of one kind ``K`` (queue names get ``GYM_RABBIT_QUEUE_SUFFIX``; every queue is durable, every message
persistent, every publish confirmed by the broker):

- ``gym.K``: the work queue. Workers take one message at a time (prefetch 1) and ack by hand after the handler
  returns, so a worker that dies mid-job leaves the message to another worker.
- ``gym.K.retry.N`` (N = 1 .. max_attempts-1): delay queues. A failed job is re-published into the one for its
  attempt, whose queue TTL is ``base_delay_ms * 2**(N-1)``; when it expires RabbitMQ dead-letters it back into
  ``gym.K``. One queue per delay avoids the head-of-line blocking of per-message TTLs.
- ``gym.K.dead``: the dead-letter queue. A job that failed ``max_attempts`` times, or raised
  :class:`PermanentJobError`, lands there with its last error in the ``x-error`` header.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pika
import pika.exceptions

from gymchain.common import metrics, tracing
from gymchain.common.settings import get_settings

log = logging.getLogger(__name__)

JOB_KINDS = ("video-analysis", "report-generation", "retraining", "assistant-reply", "batch-scoring")
MAX_PAYLOAD_BYTES = 256_000


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (bad input): the job goes straight to the dead-letter queue."""


@dataclass(frozen=True)
class QueuePolicy:
    max_attempts: int = 5
    base_delay_ms: int = 2000
    max_delay_ms: int = 300_000

    def delay_ms(self, attempt: int) -> int:
        """The wait before attempt ``attempt + 1`` after attempt ``attempt`` (1-based) failed."""
        return min(self.base_delay_ms * 2 ** (attempt - 1), self.max_delay_ms)


def queue_name(kind: str, suffix: str | None = None) -> str:
    if kind not in JOB_KINDS:
        raise ValueError(f"job kind {kind!r}: expected one of {', '.join(JOB_KINDS)}")
    return f"gym.{kind}{get_settings().rabbit_queue_suffix if suffix is None else suffix}"


def connect(url: str | None = None) -> pika.BlockingConnection:
    url = url or get_settings().rabbit_url
    params = pika.URLParameters(url)
    if "heartbeat=" not in url:  # a URL may ask for its own interval (tests use 1 s)
        params.heartbeat = 30
    params.blocked_connection_timeout = 30
    return pika.BlockingConnection(params)


def declare(channel, kind: str, policy: QueuePolicy = QueuePolicy(), suffix: str | None = None) -> str:
    """Declare the work, delay and dead-letter queues of ``kind`` (idempotent); returns the work queue name."""
    work = queue_name(kind, suffix)
    channel.queue_declare(work, durable=True)
    channel.queue_declare(f"{work}.dead", durable=True)
    for attempt in range(1, policy.max_attempts):
        channel.queue_declare(f"{work}.retry.{attempt}", durable=True, arguments={
            "x-message-ttl": policy.delay_ms(attempt),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": work,
        })
    return work


def delete_queues(channel, kind: str, policy: QueuePolicy = QueuePolicy(), suffix: str | None = None) -> None:
    work = queue_name(kind, suffix)
    for name in [work, f"{work}.dead"] + [f"{work}.retry.{n}" for n in range(1, policy.max_attempts)]:
        channel.queue_delete(name)


def _properties(job_id: str, attempt: int, extra_headers: dict | None = None) -> pika.BasicProperties:
    return pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json",
                                message_id=job_id, headers={"x-attempt": attempt, **(extra_headers or {})})


def enqueue_job(kind: str, payload: dict, *, job_id: str | None = None, connection=None,
                policy: QueuePolicy = QueuePolicy(), suffix: str | None = None) -> str:
    """Put a job on ``kind``'s work queue (confirmed by the broker); returns the job id.

    Pass an open ``connection`` to reuse it; otherwise one is opened and closed for this call.
    """
    body = json.dumps({"job_id": job_id or uuid.uuid4().hex, "kind": kind, "payload": payload,
                       "enqueued_at": dt.datetime.now(dt.UTC).isoformat()}, default=str).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"job payload: {len(body)} bytes, at most {MAX_PAYLOAD_BYTES} (store big inputs elsewhere "
                         "and send their ids)")
    job = json.loads(body)
    own = connection is None
    with tracing.span(f"{kind} publish", kind=tracing.SpanKind.PRODUCER,
                      attributes={"messaging.system": "rabbitmq", "messaging.destination.name": kind,
                                  "messaging.message.id": job["job_id"]}):
        connection = connection or connect()
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            work = declare(channel, kind, policy, suffix)
            channel.basic_publish("", work, body, _properties(job["job_id"], 1, tracing.inject({})), mandatory=True)
            channel.close()
        finally:
            if own:
                connection.close()
    metrics.JOBS_ENQUEUED.labels(kind).inc()
    return job["job_id"]


StatusCallback = Callable[[str, str, dict], None]


def jobs_collection_status(collection) -> StatusCallback:
    """A status callback that keeps the job's document (``_id`` = job id) in the docstore 'jobs' collection."""
    def record(job_id: str, status: str, info: dict) -> None:
        info = {**info, "status": status, "updated_at": dt.datetime.now(dt.UTC)}
        collection.update_one({"_id": job_id}, {"$set": info}, upsert=True)
    return record


def _trace_headers(headers: dict | None) -> dict[str, str]:
    """The W3C context headers of a message (a retried job keeps its original ones)."""
    return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in (headers or {}).items()
            if k in ("traceparent", "tracestate")}


def handle_delivery(channel, method, properties, body: bytes, handler: Callable[[dict, dict], dict | None], *,
                    work: str, policy: QueuePolicy, on_status: StatusCallback | None = None) -> str:
    """Run the handler on one delivery and ack it; returns 'done', 'retrying' or 'dead'.

    The retry copy or dead letter is published (and confirmed) before the original is acked, so a crash in
    between duplicates a job rather than losing it. The delivery runs in a consumer span, child of the span that
    enqueued the job, and is counted/timed in the ``gym_jobs_*`` metrics.
    """
    kind = work.split(".")[1] if work.count(".") >= 1 else work
    started = time.perf_counter()
    with tracing.span(f"{kind} process", kind=tracing.SpanKind.CONSUMER,
                      parent_headers=_trace_headers(properties.headers),
                      attributes={"messaging.system": "rabbitmq", "messaging.destination.name": work,
                                  "messaging.message.id": properties.message_id or ""}) as span:
        outcome = _handle(channel, method, properties, body, handler, work=work, policy=policy,
                          on_status=on_status)
        span.set_attribute("gym.job.outcome", outcome)
        if outcome != "done":
            tracing.set_error(span, f"job {outcome}")
    metrics.JOBS_HANDLED.labels(kind, outcome).inc()
    metrics.JOB_DURATION.labels(kind).observe(time.perf_counter() - started)
    return outcome


def _handle(channel, method, properties, body: bytes, handler: Callable[[dict, dict], dict | None], *,
            work: str, policy: QueuePolicy, on_status: StatusCallback | None = None) -> str:
    attempt = int((properties.headers or {}).get("x-attempt", 1))
    status = on_status or (lambda *_: None)
    try:
        job = json.loads(body)
        job_id, payload = str(job["job_id"]), job["payload"]
    except (ValueError, KeyError, TypeError) as exc:
        channel.basic_publish("", f"{work}.dead", body, _properties(properties.message_id or "?", attempt,
                                                                       {"x-error": f"not a job message: {exc}"}))
        channel.basic_ack(method.delivery_tag)
        return "dead"
    status(job_id, "running", {"attempts": attempt})
    try:
        result = handler(payload, job)
    except Exception as exc:  # noqa: BLE001 - any handler failure is retried or dead-lettered, never lost
        error = f"{type(exc).__name__}: {exc}"[:2000]
        permanent = isinstance(exc, PermanentJobError)
        if permanent or attempt >= policy.max_attempts:
            channel.basic_publish("", f"{work}.dead", body, _properties(job_id, attempt, {"x-error": error}))
            channel.basic_ack(method.delivery_tag)
            status(job_id, "failed", {"attempts": attempt, "error": error})
            log.warning("job %s dead-lettered after %d attempt(s): %s", job_id, attempt, error)
            return "dead"
        channel.basic_publish("", f"{work}.retry.{attempt}", body,
                              _properties(job_id, attempt + 1, {"x-error": error} | _trace_headers(properties.headers)))
        channel.basic_ack(method.delivery_tag)
        status(job_id, "retrying", {"attempts": attempt, "error": error,
                                    "retry_in_ms": policy.delay_ms(attempt)})
        log.info("job %s attempt %d failed (%s); retry in %d ms\n%s", job_id, attempt, error,
                 policy.delay_ms(attempt), traceback.format_exc(limit=3))
        return "retrying"
    channel.basic_ack(method.delivery_tag)
    status(job_id, "done", {"attempts": attempt, "result": result})
    return "done"


def keep_alive(connection, handler: Callable[[dict, dict], dict | None]) -> Callable[[dict, dict], dict | None]:
    """``handler`` run in a helper thread while this (the connection's) thread keeps serving heartbeats.

    A BlockingConnection answers heartbeats only when its thread does I/O; a handler busy for longer than two
    heartbeat intervals (a retraining, a unit's batch scoring on a loaded machine) would otherwise have the broker
    drop the connection, and the job be redelivered and redone forever.
    """
    def run(payload: dict, job: dict) -> dict | None:
        box: dict = {}

        def target() -> None:
            try:
                box["result"] = handler(payload, job)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the connection's thread below
                box["error"] = exc

        context = contextvars.copy_context()  # the job's trace span stays the parent of the handler's spans
        thread = threading.Thread(target=context.run, args=(target,), name=f"job-{job.get('job_id', '?')}",
                                  daemon=True)
        thread.start()
        while thread.is_alive():
            connection.process_data_events(time_limit=1)
            thread.join(timeout=0.05)
        if "error" in box:
            raise box["error"]
        return box.get("result")
    return run


def run_worker(kind: str, handler: Callable[[dict, dict], dict | None], *, stop: threading.Event,
               policy: QueuePolicy = QueuePolicy(), suffix: str | None = None, url: str | None = None,
               on_status: StatusCallback | None = None, poll_s: float = 0.5) -> None:
    """Consume ``kind``'s work queue until ``stop`` is set, reconnecting with back-off if RabbitMQ goes away.

    Under ``gymchain up`` with the observability stack (its variables set), the process gets JSON logs to the
    central log, exported traces and an announced /metrics, whatever its own entry point configured."""
    if any(os.environ.get(k) for k in ("GYM_METRICS_SD_DIR", "GYM_SYSLOG_ADDRESS", "GYM_OTLP_ENDPOINT")):
        metrics.instrument_process(metrics.process_name(f"worker-{kind}"))
    backoff = 1.0
    while not stop.is_set():
        try:
            connection = connect(url)
        except pika.exceptions.AMQPConnectionError as exc:
            log.warning("worker %s: cannot connect (%s); retrying in %.0f s", kind, exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)
            continue
        backoff = 1.0
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_qos(prefetch_count=1)
            work = declare(channel, kind, policy, suffix)
            log.info("worker %s: consuming %s", kind, work)
            beating = keep_alive(connection, handler)
            for method, properties, body in channel.consume(work, inactivity_timeout=poll_s):
                if stop.is_set():
                    break
                if method is not None:
                    handle_delivery(channel, method, properties, body, beating, work=work, policy=policy,
                                    on_status=on_status)
            channel.cancel()
        except pika.exceptions.AMQPError as exc:
            log.warning("worker %s: connection lost (%s); reconnecting", kind, exc)
        finally:
            if connection.is_open:
                connection.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m gymchain.common.messaging.rabbit --kind K --handler package.module:function``: run a worker."""
    import argparse
    import importlib
    import signal

    parser = argparse.ArgumentParser(prog="python -m gymchain.common.messaging.rabbit", description=main.__doc__)
    parser.add_argument("--kind", required=True, choices=JOB_KINDS)
    parser.add_argument("--handler", required=True, help="module:function taking (payload, job) -> result dict")
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--base-delay-ms", type=int, default=2000)
    parser.add_argument("--record-status", action="store_true", help="keep job status in the docstore 'jobs'")
    args = parser.parse_args(argv)
    if not 1 <= args.max_attempts <= 20:
        parser.error(f"--max-attempts {args.max_attempts}: expected 1 to 20")
    if not 10 <= args.base_delay_ms <= 3_600_000:
        parser.error(f"--base-delay-ms {args.base_delay_ms}: expected 10 to 3600000")
    module_name, _, function_name = args.handler.partition(":")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError, ValueError) as exc:
        parser.error(f"--handler {args.handler!r}: cannot load it ({exc})")
    on_status = None
    if args.record_status:
        from gymchain.common.docstore import get_collection

        on_status = jobs_collection_status(get_collection("jobs"))
    from gymchain.common import logs

    logs.configure(f"worker-{args.kind}")
    tracing.setup(f"worker-{args.kind}")
    metrics.serve_process_metrics(f"worker-{args.kind}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_worker(args.kind, handler, stop=stop, policy=QueuePolicy(args.max_attempts, args.base_delay_ms),
               on_status=on_status)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
