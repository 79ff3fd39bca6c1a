"""Prometheus metrics of every gymchain process (prometheus_client, the process-wide default registry).

- HTTP (RED per route): every app made by :func:`gymchain.common.http.create_app` counts requests and times them
  by *route template* (``/members/{member_id}``, never the raw path, so the label set stays bounded) and serves
  ``GET /metrics``. The gateway's catch-all proxy is labelled per service (``/api/members/{path}``).
- Jobs and stream: the RabbitMQ worker loop and the outbox relay count what they process.
- Models: :func:`timed_model` / :func:`observe_model` time inference; :func:`set_drift` sets the drift gauge that
  the analytics drift code updates (PSI per feature; names agreed in /tmp/coord/gym.md).
- Processes without an HTTP app (workers, relay, ingest) call :func:`serve_process_metrics`, which serves
  ``/metrics`` on a free port and writes a Prometheus ``file_sd`` target file into ``GYM_METRICS_SD_DIR`` (set by
  ``gymchain up`` when the observability stack runs), removed again at exit.

Infrastructure gauges that no single process owns (queue depth, consumer lag, outbox backlog) are collected at
scrape time by :mod:`gymchain.common.observatory`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import math
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)
UNMATCHED = "<unmatched>"  # 404s: one label value, whatever path was asked for

HTTP_REQUESTS = Counter("gym_http_requests_total", "HTTP requests answered, by route template and status code",
                        ["service", "method", "route", "status"])
HTTP_DURATION = Histogram("gym_http_request_duration_seconds", "HTTP request duration by route template",
                          ["service", "method", "route"], buckets=LATENCY_BUCKETS)
HTTP_IN_FLIGHT = Gauge("gym_http_requests_in_flight", "HTTP requests being served", ["service"])
JOBS_ENQUEUED = Counter("gym_jobs_enqueued_total", "Jobs put on a RabbitMQ work queue", ["kind"])
JOBS_HANDLED = Counter("gym_jobs_handled_total", "Job deliveries handled by workers, by outcome (done, retrying, dead)",
                       ["kind", "outcome"])
JOB_DURATION = Histogram("gym_job_duration_seconds", "Time a worker's handler took per job delivery", ["kind"],
                         buckets=JOB_BUCKETS)
OUTBOX_PUBLISHED = Counter("gym_outbox_published_total", "Outbox events published to the stream", ["topic"])
STREAM_CONSUMED = Counter("gym_stream_events_consumed_total", "Stream events polled by consumers",
                          ["topic", "group"])
MODEL_LATENCY = Histogram("gym_model_inference_seconds", "Model inference time per call", ["model", "operation"],
                          buckets=LATENCY_BUCKETS)
MODEL_DRIFT = Gauge("gym_model_drift_psi", "Population stability index of a model input (or its score) between the "
                    "training sample and recent data; > 0.2 is usually read as drift", ["model", "feature"])

_served_port: int | None = None
_SERVICE_SUFFIX = re.compile(r"^/api/\{service\}/\{path(:path)?\}$")


def route_label(scope: dict, service_names: Callable[[], list[str]] | None = None) -> str:
    """The route template that matched (``/members/{member_id}``), or ``<unmatched>``; never the raw path.

    For the gateway's ``/api/{service}/{path}`` proxy, the known service is put in (``/api/members/{path}``).
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return UNMATCHED
    if _SERVICE_SUFFIX.match(template):
        service = (scope.get("path_params") or {}).get("service")
        known = service_names() if service_names else []
        return f"/api/{service if service in known else '{service}'}/{{path}}"
    if getattr(route, "routes", None) is not None or type(route).__name__ == "Mount":
        return template.rstrip("/") + "/{path}"
    return template


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(service, method, route, str(status)).inc()
    HTTP_DURATION.labels(service, method, route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text exposition of this process's metrics and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


@contextlib.contextmanager
def observe_model(model: str, operation: str) -> Iterator[None]:
    """Time one model call into ``gym_model_inference_seconds{model, operation}`` (failures are timed too)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        MODEL_LATENCY.labels(model, operation).observe(time.perf_counter() - started)


def timed_model(model: str, operation: str) -> Callable:
    """Decorator form of :func:`observe_model`."""
    def wrap(function: Callable) -> Callable:
        @functools.wraps(function)
        def timed(*args, **kwargs):
            with observe_model(model, operation):
                return function(*args, **kwargs)
        return timed
    return wrap


def set_drift(model: str, scores: dict[str, float]) -> None:
    """Set ``gym_model_drift_psi{model, feature}`` for each feature (use feature ``score`` for the output)."""
    for feature, value in scores.items():
        value = float(value)
        if math.isnan(value) or value < 0:  # a PSI is never either
            raise ValueError(f"drift of {model}.{feature}: {value} is not a PSI (expected a number >= 0)")
        MODEL_DRIFT.labels(model, feature).set(value)


def serve_process_metrics(name: str, port: int | None = None, sd_dir: str | None = None) -> int | None:
    """Serve ``/metrics`` for a process without an HTTP app and announce it to Prometheus (file_sd).

    Does nothing (returns None) unless ``GYM_METRICS_SD_DIR`` (or ``sd_dir``) names a directory; the port is
    ``GYM_METRICS_PORT`` or a free one. The target file is removed at normal exit.
    """
    global _served_port
    sd_dir = sd_dir if sd_dir is not None else os.environ.get("GYM_METRICS_SD_DIR", "")
    if not sd_dir or _served_port is not None:
        return _served_port if sd_dir else None
    if port is None:
        port = int(os.environ.get("GYM_METRICS_PORT", "0")) or _free_port()
    start_http_server(port, addr="127.0.0.1")
    folder = Path(sd_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-{os.getpid()}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}}]))
    tmp.replace(target)  # Prometheus never reads a half-written file
    atexit.register(lambda: target.unlink(missing_ok=True))
    _served_port = port
    return port


def instrument_process(name: str) -> None:
    """JSON logs, traces and an announced /metrics for a process entry point (each part once per process)."""
    from gymchain.common import logs, tracing

    logs.configure(name)
    tracing.setup(name)
    serve_process_metrics(name)


def process_name(default: str) -> str:
    """``ml-worker`` for ``python -m gymchain.ml.worker``; ``default`` when not run as a module."""
    import sys

    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is None or not spec.name.startswith("gymchain."):
        return default
    return "-".join(spec.name.split(".")[-2:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def observability_env(run_dir: Path) -> dict[str, str]:
    """Environment for the platform's processes when the local observability stack runs.

    ``gym/scripts/start_observability.sh`` writes ``<run_dir>/observability.env`` (KEY=VALUE lines: the OTLP
    collector, the central syslog, the file_sd directory); ``gymchain up`` passes them to every process it starts.
    """
    path = Path(run_dir) / "observability.env"
    if not path.exists():
        return {}
    env = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("GYM_") and not key.startswith("#"):
            env[key] = value
    return env
