"""One booking's trace across five processes: gateway -> members -> (outbox row) -> outbox relay -> Kafka-protocol
stream -> a consumer, exported through the real collector (rotel-agent) into the observatory's PostgreSQL trace
store, and read back through its API. The parent/child chain must be exactly that, and every process's logs must
carry the same trace id.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import bearer, free_port, start_uvicorn, stop_processes, wait_healthy
from data_fixtures import create_database, drop_database
from data_fixtures import database_url as sqla_url


def _log(path: Path):
    return open(path, "wb")


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = 30) -> None:
    from data_fixtures import port_open

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if port_open(port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what}: port {port} not open after {timeout_s} s")


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    """rotel-agent on free ports forwarding to an observatory on a fresh telemetry database."""
    import rotel

    log_dir = tmp_path_factory.mktemp("obs")
    telemetry_db = create_database("gym_telemetry_test")
    procs: list[subprocess.Popen] = []
    try:
        obs_port, grpc_port, http_port = free_port(), free_port(), free_port()
        env = os.environ | {"GYM_TELEMETRY_DATABASE_URL": sqla_url(telemetry_db)}
        env.pop("GYM_OTLP_ENDPOINT", None)
        observatory = subprocess.Popen([sys.executable, "-m", "gymchain.common.observatory", "--port", str(obs_port),
                                        "--no-infra"], env=env, stdout=_log(log_dir / "observatory.log"),
                                       stderr=subprocess.STDOUT)
        procs.append(observatory)
        agent = Path(rotel.__file__).parent / "rotel-agent"
        rotel_proc = subprocess.Popen(
            [str(agent), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}", "--otlp-http-endpoint",
             f"127.0.0.1:{http_port}", "--exporter", "otlp", "--otlp-exporter-endpoint",
             f"http://127.0.0.1:{obs_port}", "--otlp-exporter-protocol", "http", "--otlp-exporter-compression",
             "none", "--traces-batch-timeout", "200ms", "--pid-file", str(log_dir / "rotel.pid")],
            stdout=_log(log_dir / "rotel.log"), stderr=subprocess.STDOUT)
        procs.append(rotel_proc)
        _wait_port(obs_port, observatory, "observatory")
        _wait_port(http_port, rotel_proc, "rotel-agent")
        yield {"observatory": f"http://127.0.0.1:{obs_port}", "otlp": f"http://127.0.0.1:{http_port}",
               "log_dir": log_dir, "procs": procs}
    finally:
        stop_processes(procs)
        drop_database(telemetry_db)


def _reader(proc: subprocess.Popen, lines: queue.Queue) -> None:
    for line in proc.stdout:
        lines.put(line)


def test_a_booking_is_one_trace_from_the_gateway_to_a_stream_consumer(platform, world, tokens, collector):
    from gymchain.common.messaging.stream import ensure_topics, topic_name

    ensure_topics([topic_name("bookings")])
    env = platform.env | {"GYM_OTLP_ENDPOINT": collector["otlp"]}
    members_port, gateway_port = free_port(), free_port()
    env["GYM_MEMBERS_URL"] = f"http://127.0.0.1:{members_port}"
    procs = collector["procs"]
    members = start_uvicorn("gymchain.members.app", members_port, env, collector["log_dir"])
    gateway = start_uvicorn("gymchain.gateway.app", gateway_port, env, collector["log_dir"])
    procs += [members, gateway]
    relay = subprocess.Popen([sys.executable, "-m", "gymchain.common.messaging.relay", "--idle", "0.1"], env=env,
                             stdout=_log(collector["log_dir"] / "relay.log"), stderr=subprocess.STDOUT)
    consumer = subprocess.Popen([sys.executable, "-m", "gymchain.common.messaging.stream", "--topic", "bookings",
                                 "--group", f"trace-test-{uuid.uuid4().hex[:8]}"], env=env, stdout=subprocess.PIPE,
                                stderr=_log(collector["log_dir"] / "consumer.log"), text=True)
    procs += [relay, consumer]
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(consumer, lines), daemon=True).start()
    base = f"http://127.0.0.1:{gateway_port}"
    wait_healthy(f"http://127.0.0.1:{members_port}", members)
    wait_healthy(base, gateway)

    starts = datetime.now(UTC) + timedelta(days=3, minutes=int(uuid.uuid4().int % 600))
    made = httpx.post(f"{base}/api/members/classes", headers=bearer(tokens["manager1"]), timeout=30, json={
        "area_id": world.areas[world.units[0]][0], "title": "Traced spinning", "starts_at": starts.isoformat(),
        "capacity": 5})
    assert made.status_code == 201, made.text
    booked = httpx.post(f"{base}/api/members/bookings", headers=bearer(tokens["member2"]), timeout=30,
                        json={"class_id": made.json()["id"]})
    assert booked.status_code == 201, booked.text
    trace_id, booking_id = booked.headers["X-Trace-ID"], booked.json()["id"]
    assert len(trace_id) == 32 and trace_id != made.headers["X-Trace-ID"]

    # the consumer process prints the event of this booking with the trace id it continued
    deadline = time.monotonic() + 60
    printed = None
    while printed is None and time.monotonic() < deadline:
        try:
            event = json.loads(lines.get(timeout=1))
        except queue.Empty:
            assert consumer.poll() is None, (collector["log_dir"] / "consumer.log").read_text()[-2000:]
            continue
        if event["payload"].get("booking_id") == booking_id:
            printed = event
    assert printed is not None, "the booking's event never reached the consumer"
    assert printed["trace_id"] == trace_id
    assert "_trace" not in printed["payload"]  # the stored trace context is not part of the published event

    # the spans of five processes arrive in the trace store through the collector
    spans: list[dict] = []
    needed = {"gymchain-gateway", "gymchain-members", "gymchain-outbox-relay", "gymchain-stream-tail"}
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        answer = httpx.get(f"{collector['observatory']}/api/traces/{trace_id}", timeout=10)
        if answer.status_code == 200:
            spans = answer.json()
            if needed <= {s["service"] for s in spans} and any(s["name"] == "bookings process" for s in spans):
                break
        time.sleep(0.5)
    by_name = {(s["service"], s["name"]): s for s in spans}
    assert needed <= {s["service"] for s in spans}, sorted(by_name)
    by_id = {s["span_id"]: s for s in spans}

    gateway_span = by_name[("gymchain-gateway", "POST /api/members/{path}")]
    members_span = by_name[("gymchain-members", "POST /bookings")]
    publish = by_name[("gymchain-outbox-relay", "bookings publish")]
    receive = by_name[("gymchain-stream-tail", "bookings receive")]
    process = by_name[("gymchain-stream-tail", "bookings process")]
    assert gateway_span["parent_span_id"] is None and gateway_span["kind"] == "server"
    assert members_span["kind"] == "server" and publish["kind"] == "producer"
    assert receive["kind"] == "consumer" and process["kind"] == "consumer"

    def path_to_root(span: dict) -> list[dict]:
        path = []
        while span is not None:
            path.append(span)
            span = by_id.get(span["parent_span_id"])
        return path

    for leaf in (process, receive):  # FastAPI's own dependency/endpoint spans may sit in between, same process
        path = path_to_root(leaf)
        hops = [s["service"] for i, s in enumerate(path) if i == 0 or s["service"] != path[i - 1]["service"]]
        assert hops == ["gymchain-stream-tail", "gymchain-outbox-relay", "gymchain-members", "gymchain-gateway"], hops
        assert path[1] is publish and path[-1] is gateway_span and members_span in path
        assert path.index(members_span) < path.index(gateway_span)
    assert members_span["attributes"]["http.route"] == "/bookings"
    assert publish["attributes"]["messaging.destination.name"] == "bookings"
    for span in spans:  # every span belongs to the chain: nobody's parent is missing
        assert span["parent_span_id"] is None or span["parent_span_id"] in by_id
    assert gateway_span["start_ns"] <= members_span["start_ns"] <= publish["start_ns"] <= receive["start_ns"]

    # the members and gateway processes logged their access lines with the same trace id (JSON on stderr)
    members_log = (collector["log_dir"] / f"members-{members_port}.log").read_text()
    records = [json.loads(line) for line in members_log.splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("route") == "/bookings" and r.get("trace_id") == trace_id]
    assert access and access[0]["status"] == 201 and access[0]["service"] == "members"
    gateway_log = (collector["log_dir"] / f"gateway-{gateway_port}.log").read_text()
    gateway_records = [json.loads(line) for line in gateway_log.splitlines() if line.startswith("{")]
    assert [r["route"] for r in gateway_records if r.get("trace_id") == trace_id] == ["/api/members/{path}"]

    page = httpx.get(f"{collector['observatory']}/traces/{trace_id}", timeout=10)
    assert page.status_code == 200 and "bookings process" in page.text
    assert httpx.get(f"{collector['observatory']}/api/traces/not-a-trace", timeout=10).status_code == 400
