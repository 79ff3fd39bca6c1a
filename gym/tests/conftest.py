"""Shared fixtures: a fresh PostgreSQL database per test run (migrated with Alembic), per-run Redis prefix and
RabbitMQ/Kafka suffixes, the services as real uvicorn processes, and a small world of users and members.

Engineers run the suite at the same time on one machine: everything a run creates carries its own run id.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = f"gym_test_{RUN_ID}"
DB_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
TEST_ENV = {
    "GYM_DATABASE_URL": DB_URL,
    "GYM_REDIS_PREFIX": f"gymtest:{RUN_ID}:",
    "GYM_RABBIT_QUEUE_SUFFIX": f".t{RUN_ID}",
    "GYM_KAFKA_TOPIC_SUFFIX": f".t{RUN_ID}",
    "GYM_RATE_LIMIT_PER_MINUTE": "100000",
    "GYM_LOGIN_RATE_LIMIT_PER_MINUTE": "100000",
    "GYM_VISION_FRAMES_DIR": str(Path(tempfile.gettempdir()) / f"gym_test_frames_{RUN_ID}"),  # not gym/var
}
os.environ.update(TEST_ENV)  # before anything reads the settings
SERVICES = tuple(n for n in ("auth", "members", "analytics", "vision", "assistant")
                 if importlib.util.find_spec(f"gymchain.{n}") is not None)
SRC = Path(__file__).resolve().parents[1] / "src"
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url():
    """A fresh database migrated to every head (core + datastores), dropped at the end of the run."""
    from gymchain.migrations import upgrade

    create_database(DB_NAME)
    try:
        upgrade(DB_URL)
        yield DB_URL
    finally:
        from gymchain.common.db import get_engine

        get_engine().dispose()
        drop_database(DB_NAME)
        shutil.rmtree(TEST_ENV["GYM_VISION_FRAMES_DIR"], ignore_errors=True)


def start_uvicorn(module: str, port: int, env: dict[str, str], log_dir: Path) -> subprocess.Popen:
    log = open(log_dir / f"{module.split('.')[1]}-{port}.log", "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen([sys.executable, "-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def stop_processes(procs) -> None:
    """Terminate test server processes, then kill those still running after 10 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# a service starting on a loaded 2-core machine can take over a minute to import its stack
HEALTH_TIMEOUT_S = float(os.environ.get("GYM_TEST_HEALTH_TIMEOUT", "120"))


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}: not healthy after {timeout_s} s")


@dataclass
class Platform:
    gateway: str
    services: dict[str, str]
    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def start_gateway(self, **overrides: str) -> tuple[str, subprocess.Popen]:
        """An extra gateway process with other settings (e.g. a tiny rate limit)."""
        port = free_port()
        proc = start_uvicorn("gymchain.gateway.app", port, self.env | overrides, self.log_dir)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        return url, proc


@pytest.fixture(scope="session")
def platform(database_url, tmp_path_factory):
    """Every service and the gateway as real uvicorn processes on free ports, against the test database."""
    log_dir = tmp_path_factory.mktemp("logs")
    ports = {name: free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = os.environ | TEST_ENV | {f"GYM_{n.upper()}_URL": u for n, u in urls.items()}
    env["PYTHONPATH"] = str(SRC)
    procs = {n: start_uvicorn(f"gymchain.{n}.app", ports[n], env, log_dir) for n in SERVICES}
    gateway_port = free_port()
    procs["gateway"] = start_uvicorn("gymchain.gateway.app", gateway_port, env, log_dir)
    gateway = f"http://127.0.0.1:{gateway_port}"
    result = Platform(gateway, urls, env, log_dir, list(procs.values()))
    try:
        for name, proc in procs.items():
            wait_healthy(gateway if name == "gateway" else urls[name], proc)
        yield result
    finally:
        stop_processes(result.procs)


@dataclass
class World:
    """Ids and logins of the small fixed world the API tests use."""

    units: list[int]
    areas: dict[int, list[int]]
    plan_id: int
    logins: dict[str, str]  # name -> e-mail (all share PASSWORD)
    members: dict[str, int]  # name -> member id
    users: dict[str, int]  # name -> user id
    classes: dict[str, int] = field(default_factory=dict)


def _member(session, unit_id: int, name: str, email: str, cpf: str, plan_id: int) -> int:
    from gymchain.members import people
    from gymchain.members.models import Contract
    from gymchain.members.schemas import MemberCreate

    member = people.create_member(session, MemberCreate(unit_id=unit_id, full_name=name, email=email, cpf=cpf))
    session.add(Contract(member_id=member.id, plan_id=plan_id, unit_id=unit_id, starts_on=date.today() - timedelta(
        days=30), ends_on=date.today() + timedelta(days=335), monthly_price_cents=9900, status="active"))
    return member.id


def _user(session, email: str, role: str, unit_id: int | None, member_id: int | None = None) -> int:
    from gymchain.auth import service
    from gymchain.auth.schemas import UserCreate

    return service.create_user(session, UserCreate(email=email, password=PASSWORD, role=role, unit_id=unit_id,
                                                   member_id=member_id)).id


def valid_cpf(seed: int) -> str:
    """A valid CPF built from 9 digits of ``seed`` (check digits computed)."""
    digits = [int(c) for c in f"{seed:09d}"[-9:]]
    for n in (9, 10):
        total = sum(d * w for d, w in zip(digits[:n], range(n + 1, 1, -1), strict=True))
        digits.append(total * 10 % 11 % 10)
    return "".join(map(str, digits))


@pytest.fixture(scope="session")
def world(database_url) -> World:
    from gymchain.common.db import session_scope
    from gymchain.members.models import Area, ClassSession, Plan, Unit

    with session_scope() as s:
        units = [Unit(code=f"U{i}", name=f"Unit {i}", city="São Paulo") for i in (1, 2)]
        s.add_all(units)
        s.flush()
        areas = {u.id: [] for u in units}
        for u in units:
            for name, kind, cap in (("Musculação", "weights", 40), ("Estúdio", "studio", 3)):
                area = Area(unit_id=u.id, name=name, kind=kind, capacity=cap)
                s.add(area)
                s.flush()
                areas[u.id].append(area.id)
        plan = Plan(code="BASIC", name="Basic", monthly_price_cents=9900)
        s.add(plan)
        s.flush()
        u1, u2 = units[0].id, units[1].id
        members = {"member1": _member(s, u1, "Ana Souza", "ana@example.com", valid_cpf(123456789), plan.id),
                   "member2": _member(s, u1, "Bruno Lima", "bruno@example.com", valid_cpf(234567891), plan.id),
                   "member3": _member(s, u2, "Carla Dias", "carla@example.com", valid_cpf(345678912), plan.id)}
        staff = {name: f"{name}@gymchain.example.com" for name in ("admin", "manager1", "manager2", "trainer1")}
        logins = staff | {"member1": "ana@example.com", "member2": "bruno@example.com",
                  "member3": "carla@example.com"}
        users = {"admin": _user(s, logins["admin"], "admin", None),
                 "manager1": _user(s, logins["manager1"], "manager", u1),
                 "manager2": _user(s, logins["manager2"], "manager", u2),
                 "trainer1": _user(s, logins["trainer1"], "trainer", u1)}
        for name in ("member1", "member2", "member3"):
            unit = u2 if name == "member3" else u1
            users[name] = _user(s, logins[name], "member", unit, members[name])
        start = datetime.now(UTC) + timedelta(days=1)
        classes = {}
        for key, unit in (("c1", u1), ("c2", u2)):
            cls = ClassSession(unit_id=unit, area_id=areas[unit][1], title=f"Yoga {key}", starts_at=start,
                               ends_at=start + timedelta(hours=1), capacity=3)
            s.add(cls)
            s.flush()
            classes[key] = cls.id
    return World([u1, u2], areas, plan.id, logins, members, users, classes)


def login(base_url: str, email: str, password: str = PASSWORD) -> dict:
    response = httpx.post(f"{base_url}/api/auth/token", data={"username": email, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="session")
def tokens(platform, world) -> dict[str, str]:
    """An access token per world login name."""
    return {name: login(platform.gateway, email)["access_token"] for name, email in world.logins.items()}


@pytest.fixture(scope="session")
def api(platform):
    with httpx.Client(base_url=platform.gateway, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def rabbit():
    """A channel to the real RabbitMQ; the run's job queues are deleted when the module is done."""
    from gymchain.common.messaging import rabbit

    connection = rabbit.connect()
    channel = connection.channel()
    yield rabbit, channel
    for kind in ("report-generation", "video-analysis", "assistant-reply", "retraining"):
        rabbit.delete_queues(channel, kind)
    connection.close()
