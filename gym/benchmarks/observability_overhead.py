"""What the observability instrumentation costs per request; JSON.

    OMP_NUM_THREADS=1 gym/.venv/bin/python gym/benchmarks/observability_overhead.py [--requests 3000]

CPU time (process_time) is the figure to read on a shared machine: wall time also counts the time other
processes held the cores. The same create_app service answers GET /ping in-process (httpx ASGI transport, no network), first with the
instrumentation as shipped (server span, RED metrics, JSON access log to a discarded stream; spans batched to an
OTLP exporter whose endpoint is closed, as when the collector is down), then with span, metrics and access log
replaced by no-ops. Rounds alternate A/B to spread the machine's load; medians of per-round means are reported
with the CPU and load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import statistics
import time

from machine import machine


async def timed_requests(app, n: int) -> float:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for _ in range(20):  # warm-up
            await client.get("/ping")
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            response = await client.get("/ping")
            assert response.status_code == 200
        return (time.perf_counter() - started) / n, (time.process_time() - cpu) / n


def micro_costs(http, tracing, n: int = 5000) -> dict[str, float]:
    """The pieces alone (best of 5 repeats of n): one server span, one RED update, one JSON access line."""
    import timeit

    log = logging.getLogger("gymchain.http")

    def span():
        with tracing.span("GET /ping", kind=tracing.SpanKind.SERVER, parent_headers={}) as s:
            s.set_attribute("http.route", "/ping")

    def red():
        http.metrics.observe_request("bench", "GET", "/ping", 200, 0.001)

    def access_line():
        with tracing.span("x"):
            log.info("%s %s %d %.1f ms", "GET", "/ping", 200, 1.0,
                     extra={"method": "GET", "route": "/ping", "status": 200, "duration_ms": 1.0})

    out = {}
    for name, fn in (("server_span", span), ("red_metrics", red), ("json_access_log_in_span", access_line)):
        out[name] = round(min(timeit.repeat(fn, number=n, repeat=5, timer=time.process_time)) / n * 1e6, 2)
    out["json_access_log_only"] = round(out.pop("json_access_log_in_span") - out["server_span"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per round (100-100000)")
    parser.add_argument("--rounds", type=int, default=6, help="A/B rounds (2-50)")
    parser.add_argument("--sample-ratio", type=float, default=1.0, help="GYM_TRACE_SAMPLE_RATIO (0-1, default 1)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    if not 100 <= args.requests <= 100_000 or not 2 <= args.rounds <= 50:
        parser.error(f"--requests {args.requests} / --rounds {args.rounds}: expected 100-100000 / 2-50")
    if not 0 <= args.sample_ratio <= 1:
        parser.error(f"--sample-ratio {args.sample_ratio}: expected 0 to 1")
    os.environ["GYM_TRACE_SAMPLE_RATIO"] = str(args.sample_ratio)
    os.environ["GYM_OTLP_ENDPOINT"] = "http://127.0.0.1:9"  # discard port: exports fail in the background
    from gymchain.common import http, metrics, tracing
    from gymchain.common.http import create_app

    app = create_app("bench", "overhead benchmark", with_health=False)

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}

    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(io.StringIO())  # format every record, print nothing
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    shipped = (http.tracing.span, http.metrics.observe_request, http.log.disabled)

    def instrumented(on: bool) -> None:
        if on:
            http.tracing.span, http.metrics.observe_request, http.log.disabled = shipped
        else:
            http.tracing.span = lambda *a, **k: contextlib.nullcontext()
            http.metrics.observe_request = lambda *a, **k: None
            http.log.disabled = True

    results = {"instrumented": [], "no_op": []}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, on in (("instrumented", True), ("no_op", False)):
            instrumented(on)
            results[name].append(asyncio.run(timed_requests(app, args.requests)))
    instrumented(True)
    median = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in results.items()}
    micro = micro_costs(http, tracing)
    out = {"benchmark": "observability_overhead", "requests_per_round": args.requests, "rounds": args.rounds,
           "trace_sample_ratio": args.sample_ratio,
           "cpu_us_per_request_median": {k: round(v * 1e6, 1) for k, v in cpu.items()},
           "cpu_overhead_us_per_request": round((cpu["instrumented"] - cpu["no_op"]) * 1e6, 1),
           "cpu_overhead_percent": round(100 * (cpu["instrumented"] / cpu["no_op"] - 1), 1),
           "wall_us_per_request_median": {k: round(v * 1e6, 1) for k, v in median.items()},
           "component_cpu_us_min_of_5": micro,
           "wall_cpu_us_per_request_rounds": {k: [[round(w * 1e6, 1), round(c * 1e6, 1)] for w, c in v]
                                              for k, v in results.items()},
           "machine": machine(), "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
           "command": "OMP_NUM_THREADS=1 gym/.venv/bin/python gym/benchmarks/observability_overhead.py "
                      f"--requests {args.requests} --rounds {args.rounds} --sample-ratio {args.sample_ratio}"}
    tracing.flush(100)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    del metrics


if __name__ == "__main__":
    main()
