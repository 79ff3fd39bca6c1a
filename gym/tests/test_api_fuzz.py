"""schemathesis against every service's OpenAPI spec and the gateway's aggregated one.

The fuzzing runs on a platform of its own (own database, own Redis prefix, own uvicorn processes), because an
admin token reaches destructive routes (erasure, class cancellation) that must not touch the shared test world.
Each operation gets a few generated requests (bounded: the whole file takes about 1.5 minutes here) with a real
admin token (plus a member's token for the services with member-only routes); every response must be free of server errors and, for documented status codes, match its schema.
Failures are collected per operation and reported together, with a reproducer (method, path, status, body).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from conftest import (
    ADMIN_DSN,
    PASSWORD,
    RUN_ID,
    SERVICES,
    SRC,
    create_database,
    drop_database,
    free_port,
    login,
    start_uvicorn,
    stop_processes,
    valid_cpf,
    wait_healthy,
)

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

SERVICE_EXAMPLES = int(os.environ.get("GYM_FUZZ_EXAMPLES", "6"))
GATEWAY_EXAMPLES = max(2, SERVICE_EXAMPLES // 2)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
assert ADMIN_DSN  # the fuzz database lives on the same server as the test database


QUEUE_SUFFIX = f".fz{RUN_ID}"


def delete_fuzz_queues() -> None:
    """The jobs the fuzzing enqueued (reports, retraining, video analysis) sit in queues of their own: drop them."""
    import pika

    from gymchain.common.messaging import rabbit
    from gymchain.common.settings import get_settings

    connection = pika.BlockingConnection(pika.URLParameters(get_settings().rabbit_url))
    try:
        channel = connection.channel()
        for kind in rabbit.JOB_KINDS:
            rabbit.delete_queues(channel, kind, suffix=QUEUE_SUFFIX)
    finally:
        connection.close()


def seed(url: str) -> None:
    """A unit with areas, a plan, a member with a contract and a class, and an admin login."""
    from datetime import UTC, date, datetime, timedelta

    from gymchain.auth import service
    from gymchain.auth.schemas import UserCreate
    from gymchain.members import people
    from gymchain.members.models import Area, ClassSession, Contract, Plan, Unit
    from gymchain.members.schemas import MemberCreate

    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        unit = Unit(code="FZ1", name="Fuzz unit", city="Recife")
        plan = Plan(code="FUZZ", name="Fuzz", monthly_price_cents=100)
        s.add_all([unit, plan])
        s.flush()
        area = Area(unit_id=unit.id, name="Sala", kind="studio", capacity=10)
        s.add(area)
        s.flush()
        member = people.create_member(s, MemberCreate(unit_id=unit.id, full_name="Fuzz Member",
                                                      email="fuzz.member@example.com", cpf=valid_cpf(987654321)))
        s.add(Contract(member_id=member.id, plan_id=plan.id, unit_id=unit.id, starts_on=date.today(),
                       ends_on=date.today() + timedelta(days=300), monthly_price_cents=100, status="active"))
        start = datetime.now(UTC) + timedelta(days=1)
        s.add(ClassSession(unit_id=unit.id, area_id=area.id, title="Fuzz class", starts_at=start,
                           ends_at=start + timedelta(hours=1), capacity=5))
        service.create_user(s, UserCreate(email="fuzz.admin@gymchain.example.com", password=PASSWORD, role="admin"))
        service.create_user(s, UserCreate(email="fuzz.member@example.com", password=PASSWORD, role="member",
                                          unit_id=unit.id, member_id=member.id))
    engine.dispose()


@pytest.fixture(scope="module", autouse=True)
def crash_cache_in_tmp(tmp_path_factory):
    """schemathesis caches crashes under ./.schemathesis; keep that out of the work tree."""
    from schemathesis.core import storage

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage, "DEFAULT_ROOT", tmp_path_factory.mktemp("schemathesis"))
        yield


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory):
    from gymchain.migrations import upgrade

    name = f"gym_fuzz_{RUN_ID}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    create_database(name)
    procs: list[subprocess.Popen] = []
    try:
        upgrade(url)
        seed(url)
        log_dir = tmp_path_factory.mktemp("fuzz-logs")
        ports = {n: free_port() for n in (*SERVICES, "gateway")}
        urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        env = os.environ | {"GYM_DATABASE_URL": url, "GYM_REDIS_PREFIX": f"gymfuzz:{RUN_ID}:",
                            "GYM_RABBIT_QUEUE_SUFFIX": QUEUE_SUFFIX, "GYM_KAFKA_TOPIC_SUFFIX": f".fz{RUN_ID}",
                            "GYM_RATE_LIMIT_PER_MINUTE": "1000000", "GYM_LOGIN_RATE_LIMIT_PER_MINUTE": "100000",
                            "PYTHONPATH": str(SRC)} | {f"GYM_{n.upper()}_URL": urls[n] for n in SERVICES}
        for n in (*SERVICES, "gateway"):
            procs.append(start_uvicorn(f"gymchain.{n}.app", ports[n], env, log_dir))
        for n, proc in zip((*SERVICES, "gateway"), procs, strict=True):
            wait_healthy(urls[n], proc)
        tokens = {"admin": login(urls["gateway"], "fuzz.admin@gymchain.example.com")["access_token"],
                  "member": login(urls["gateway"], "fuzz.member@example.com")["access_token"]}
        yield {"urls": urls, "tokens": tokens, "log_dir": log_dir}
    finally:
        stop_processes(procs)
        delete_fuzz_queues()
        drop_database(name)


def fuzz_operation(operation, base_url: str, headers: dict, examples: int, report: dict) -> None:
    """A few generated requests against one operation; the first failing one is recorded as a reproducer."""
    seen: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        report["requests"] += 1
        status = str(response.status_code)
        report["statuses"][status] = report["statuses"].get(status, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            first = "; ".join(sorted({getattr(e, "title", type(e).__name__) for e in group.exceptions}))
            seen.append(f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]} "
                        f"-> {response.status_code} {response.text[:200]} ({first[:200]})")
            raise

    try:
        run()
    except (Exception, FailureGroup):  # noqa: BLE001 - the (shrunk) failure; its reproducer is in `seen`
        report["failures"].append(seen[-1] if seen else f"{operation.method.upper()} {operation.path}: error")


def fuzz(spec_url: str, base_url: str, token: str, examples: int) -> dict:
    """Run every operation of the spec; returns {"operations", "requests", "statuses", "failures"}."""
    schema = schemathesis.openapi.from_url(spec_url)
    headers = {"Authorization": f"Bearer {token}"}
    report = {"operations": 0, "requests": 0, "statuses": {}, "failures": []}
    for result in schema.get_all_operations():
        report["operations"] += 1
        fuzz_operation(result.ok(), base_url, headers, examples, report)
    return report


def summary(name: str, report: dict) -> str:
    head = (f"{name}: {report['operations']} operations, {report['requests']} requests, "
            f"statuses {dict(sorted(report['statuses'].items()))}")
    lines = [head]
    return "\n".join(lines + [f"  FAIL {f}" for f in report["failures"]])


# admin may call every route; the member-only routes (assistant conversations, /members/me, own bookings) get a
# member's token too, so they are fuzzed past the role check
RUNS = [(name, "admin") for name in SERVICES] + [(n, "member") for n in ("members", "assistant") if n in SERVICES]


@pytest.mark.parametrize(("service", "role"), RUNS)
def test_service_spec_has_no_server_errors_and_conforms(fuzz_platform, service, role):
    base = fuzz_platform["urls"][service]
    examples = SERVICE_EXAMPLES if role == "admin" else GATEWAY_EXAMPLES
    report = fuzz(f"{base}/openapi.json", base, fuzz_platform["tokens"][role], examples)
    print(summary(f"{service} as {role}", report))
    assert report["operations"] >= 1
    assert report["requests"] >= report["operations"]
    assert report["failures"] == [], summary(service, report)


def test_gateway_spec_has_no_server_errors_and_conforms(fuzz_platform):
    base = fuzz_platform["urls"]["gateway"]
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    paths = list(spec["paths"])
    assert any(p.startswith("/api/members/") for p in paths) and any(p.startswith("/api/auth/") for p in paths)
    report = fuzz(f"{base}/openapi.json", base, fuzz_platform["tokens"]["admin"], GATEWAY_EXAMPLES)
    print(summary("gateway", report))
    assert report["failures"] == [], summary("gateway", report)


def test_fuzzed_services_logged_no_unhandled_error(fuzz_platform):
    """Belt and braces: the services' own logs hold no 'unhandled error' line after all the fuzzing above."""
    logs = {p.name: p.read_text(errors="replace") for p in Path(fuzz_platform["log_dir"]).glob("*.log")}
    assert logs
    bad = {name: text.count("unhandled error") for name, text in logs.items() if "unhandled error" in text}
    assert bad == {}, bad
