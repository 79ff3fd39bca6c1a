"""Structured logs shipped to a real central rsyslog and queried with ``gymchain logs``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import free_port

OBS = Path(__file__).resolve().parents[1] / "observability"
RSYSLOGD = shutil.which("rsyslogd")
GYMCHAIN = [sys.executable, "-m", "gymchain.cli"]

EMIT = textwrap.dedent("""
    import logging, sys
    from gymchain.common import logs, tracing
    logs.configure(sys.argv[1]); tracing.setup(sys.argv[1])
    log = logging.getLogger("probe")
    log.info("outside any trace")
    with tracing.span("work") as span:
        log.info("booking %s confirmed", 42, extra={"booking_id": 42})
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("it failed: ação")
        print(tracing.span_trace_id(span))
""")


@pytest.fixture
def rsyslog(tmp_path):
    if RSYSLOGD is None:
        pytest.skip("needs Debian rsyslog (gym/scripts/setup.sh)")
    port = free_port()
    (tmp_path / "state").mkdir()
    config = (OBS / "rsyslog-gym.conf").read_text().replace("@PORT@", str(port)).replace(
        "@LOG_DIR@", str(tmp_path)).replace("@STATE_DIR@", str(tmp_path / "state"))
    (tmp_path / "rsyslog.conf").write_text(config)
    checked = subprocess.run([RSYSLOGD, "-N1", "-f", str(tmp_path / "rsyslog.conf")], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(tmp_path / "rsyslog.conf"), "-i", str(tmp_path / "pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from data_fixtures import port_open

        deadline = time.monotonic() + 15
        while not port_open(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield port, tmp_path / "gymchain.jsonl"
    finally:
        proc.terminate()
        proc.wait(10)


def emit(service: str, port: int) -> tuple[str, list[dict]]:
    import os

    env = os.environ | {"GYM_SYSLOG_ADDRESS": f"127.0.0.1:{port}"}
    done = subprocess.run([sys.executable, "-c", EMIT, service], env=env, capture_output=True, text=True, check=True,
                          timeout=60)
    stderr = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return done.stdout.strip(), stderr


def logs_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GYMCHAIN, "logs", *args], capture_output=True, text=True, check=False, timeout=60)


def test_two_processes_logs_meet_in_the_central_file_and_are_found_by_trace_id(rsyslog):
    port, central = rsyslog
    trace_a, stderr_a = emit("svc-a", port)
    trace_b, _ = emit("svc-b", port)
    assert trace_a != trace_b and len(trace_a) == 32
    # stderr is JSON too, with the same ids
    assert [r["msg"] for r in stderr_a] == ["outside any trace", "booking 42 confirmed", "it failed: ação"]
    assert "trace_id" not in stderr_a[0] and stderr_a[1]["trace_id"] == trace_a and stderr_a[1]["booking_id"] == 42

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not central.exists() or central.read_text().count("\n") < 6):
        time.sleep(0.1)
    lines = central.read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(line)["service"] in ("svc-a", "svc-b") for line in lines)

    found = logs_cli("--trace-id", trace_a, "--file", str(central), "--json")
    assert found.returncode == 0, found.stderr
    records = [json.loads(line) for line in found.stdout.splitlines()]
    assert [r["msg"] for r in records] == ["booking 42 confirmed", "it failed: ação"]
    assert {r["service"] for r in records} == {"svc-a"} and records[0]["span_id"] == records[1]["span_id"]
    assert "ZeroDivisionError" in records[1]["exc"] and records[1]["level"] == "ERROR"

    errors = logs_cli("--level", "ERROR", "--file", str(central))
    assert errors.returncode == 0 and errors.stdout.count("it failed") == 2
    only_b = logs_cli("--service", "svc-b", "--grep", "booking", "--file", str(central))
    assert only_b.stdout.count("\n") == 1 and trace_b in only_b.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--trace-id", "XYZ"], "--trace-id 'XYZ': expected 32 lowercase hex digits"),
    (["--since", "yesterday"], "--since 'yesterday': expected an ISO-8601 time"),
    (["--since", "2026-01-01T00:00:00"], "expected a timezone"),
    (["--limit", "0"], "--limit 0: expected 1 to 100000"),
    (["--file", "/nonexistent/central.jsonl"], "/nonexistent/central.jsonl: no central log"),
])
def test_bad_log_queries_are_one_line_errors(args, message):
    done = logs_cli(*args)
    assert done.returncode == 1
    assert message in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
