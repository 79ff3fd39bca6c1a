"""Load benchmark of the gateway: check-in writes and member reads, at several concurrency levels, plus an
end-to-end count proving no check-in event was lost between the HTTP answer, the database and the event stream.

    gym/.venv/bin/python gym/benchmarks/load_gateway.py                  # starts its own platform (own database)
    gym/.venv/bin/python gym/benchmarks/load_gateway.py --gateway http://127.0.0.1:8000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/gymchain --email manager.sp1@... --password ...

Loopback only, bounded (``--requests`` per operation and level, ``--max-seconds`` per level). Needs PostgreSQL,
Redis and the Kafka-protocol broker (gym/scripts/start_infra.sh). Prints JSON and writes it to ``--out``.

What is measured: a desk check-in (``POST /api/members/checkins`` by a manager: token check and rate limit at the
gateway, HTTP hop, member/unit checks, insert, outbox row in the same transaction, cache invalidation) and a member
read (``GET /api/members/members/{id}``: decrypting PII, writing the audit row). The client runs on the same two
cores as the servers, so the numbers are a floor, not a ceiling. After each level every benchmark check-in is
closed through the API (not timed). Then the outbox is drained by the relay and the topic ``checkins`` is read
back with a fresh consumer group: every 2xx check-in and check-out must be there exactly once, and in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Self

import httpx
from machine import machine

GYM_DIR = Path(__file__).resolve().parents[1]
RESULTS = GYM_DIR / "benchmarks" / "results" / "load_gateway.json"
PASSWORD = "bench-password-123"
MANAGER = "bench.manager@gymchain.example.com"


def fail(message: str) -> None:
    print(f"load_gateway: {message}", file=sys.stderr)
    raise SystemExit(2)



def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# ---------------------------------------------------------------- an own platform (default mode)

def seed(url: str, members: int) -> None:
    """One unit with two areas, a plan, ``members`` members with contracts, and a manager login."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from gymchain.auth import service
    from gymchain.auth.schemas import UserCreate
    from gymchain.members import people
    from gymchain.members.models import Area, Contract, Plan, Unit
    from gymchain.members.schemas import MemberCreate

    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        unit = Unit(code="BENCH", name="Bench unit", city="Campinas")
        plan = Plan(code="BENCH", name="Bench", monthly_price_cents=9900)
        s.add_all([unit, plan])
        s.flush()
        s.add_all([Area(unit_id=unit.id, name="Musculação", kind="weights", capacity=2000),
                   Area(unit_id=unit.id, name="Cardio", kind="cardio", capacity=2000)])
        for i in range(members):
            member = people.create_member(s, MemberCreate(unit_id=unit.id, full_name=f"Bench Member {i}",
                                                          email=f"bench{i}@example.com", cpf=cpf(100_000_000 + i)))
            s.add(Contract(member_id=member.id, plan_id=plan.id, unit_id=unit.id, starts_on=date.today(),
                           ends_on=date.today() + timedelta(days=365), monthly_price_cents=9900, status="active"))
        service.create_user(s, UserCreate(email=MANAGER, password=PASSWORD, role="manager", unit_id=unit.id))
    engine.dispose()


def cpf(seed_number: int) -> str:
    digits = [int(c) for c in f"{seed_number:09d}"[-9:]]
    for n in (9, 10):
        digits.append(sum(d * w for d, w in zip(digits[:n], range(n + 1, 1, -1), strict=True)) * 10 % 11 % 10)
    return "".join(map(str, digits))


class OwnPlatform:
    """auth + members + gateway as uvicorn processes and an outbox relay, on a fresh database and topic suffix."""

    def __init__(self, members: int):
        self.run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.db_name = f"gym_bench_{self.run_id}"
        self.database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.db_name}"
        self.suffix = f".bench{self.run_id}"
        self.members = members
        self.procs: list[subprocess.Popen] = []
        self.log_dir = GYM_DIR / "var" / "bench"

    def __enter__(self) -> Self:
        import psycopg

        from gymchain.common.messaging.stream import ensure_topics
        from gymchain.migrations import upgrade

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        try:
            upgrade(self.database_url)
            seed(self.database_url, self.members)
            ensure_topics([f"checkins{self.suffix}", f"bookings{self.suffix}"])
            self.log_dir.mkdir(parents=True, exist_ok=True)
            ports = {name: free_port() for name in ("auth", "members", "gateway")}
            urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            env = os.environ | {"GYM_DATABASE_URL": self.database_url, "GYM_REDIS_PREFIX": f"gymbench:{self.run_id}:",
                                "GYM_KAFKA_TOPIC_SUFFIX": self.suffix, "GYM_RATE_LIMIT_PER_MINUTE": "10000000",
                                "GYM_LOGIN_RATE_LIMIT_PER_MINUTE": "10000", "GYM_AUTH_URL": urls["auth"],
                                "GYM_MEMBERS_URL": urls["members"], "PYTHONPATH": str(GYM_DIR / "src")}
            for name in ("auth", "members", "gateway"):
                self.procs.append(self.spawn([sys.executable, "-m", "uvicorn", f"gymchain.{name}.app:app", "--host",
                                              "127.0.0.1", "--port", str(ports[name]), "--log-level", "warning",
                                              "--no-access-log"], env, name))
            self.procs.append(self.spawn([sys.executable, "-m", "gymchain.common.messaging.relay", "--database-url",
                                          self.database_url, "--idle", "0.1"], env, "relay"))
            for name in ("auth", "members", "gateway"):
                wait_healthy(urls[name])
            self.gateway = urls["gateway"]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def spawn(self, argv: list[str], env: dict, name: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{self.run_id}.log", "wb")  # noqa: SIM115 - lives with the process
        return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def __exit__(self, *exc) -> None:
        import psycopg
        from confluent_kafka.admin import AdminClient

        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        from gymchain.common.settings import get_settings

        try:
            AdminClient({"bootstrap.servers": get_settings().kafka_bootstrap}).delete_topics(
                [f"checkins{self.suffix}", f"bookings{self.suffix}"], operation_timeout=10)
        except Exception as error:  # noqa: BLE001 - a leftover topic in the memory-only broker is harmless
            print(f"load_gateway: could not delete the benchmark topics ({error})", file=sys.stderr)
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


def wait_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    fail(f"{url} not healthy after {timeout_s} s (logs in gym/var/bench/)")


# ---------------------------------------------------------------- the load

class Recorder:
    def __init__(self):
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.bodies: list[dict] = []
        self.error_samples: list[str] = []

    def add(self, status: int, seconds: float, body: dict | None) -> None:
        self.latencies.append(seconds)
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if 200 <= status < 300 and body is not None:
            self.bodies.append(body)
        elif not 200 <= status < 300 and len(self.error_samples) < 5:
            self.error_samples.append(f"{status} {json.dumps(body)[:200]}")


async def drive(client: httpx.AsyncClient, calls: list[tuple[str, str, dict | None]], concurrency: int,
                max_seconds: float) -> tuple[Recorder, float]:
    """Send ``calls`` (method, path, json) with ``concurrency`` workers; stop early after ``max_seconds``."""
    recorder = Recorder()
    queue = list(reversed(calls))
    deadline = time.perf_counter() + max_seconds

    async def worker():
        while queue and time.perf_counter() < deadline:
            method, path, body = queue.pop()
            started = time.perf_counter()
            try:
                response = await client.request(method, path, json=body)
                status, payload = response.status_code, (response.json() if response.content else None)
            except httpx.HTTPError as exc:
                status, payload = 0, {"client_error": type(exc).__name__}
            recorder.add(status, time.perf_counter() - started, payload)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return recorder, time.perf_counter() - started


def level_result(operation: str, concurrency: int, recorder: Recorder, seconds: float) -> dict:
    ok = sum(n for s, n in recorder.statuses.items() if s.startswith("2"))
    ms = [x * 1000 for x in recorder.latencies]
    return {"operation": operation, "concurrency": concurrency, "requests": len(ms), "ok": ok,
            "statuses": recorder.statuses, "seconds": round(seconds, 3),
            "requests_per_s": round(len(ms) / seconds, 1) if seconds else None,
            "p50_ms": round(statistics.median(ms), 2) if ms else None,
            "p99_ms": round(percentile(ms, 99), 2) if ms else None, "max_ms": round(max(ms), 2) if ms else None,
            "error_samples": recorder.error_samples}


async def run_load(gateway: str, token: str, members: list[int], area: int, levels: list[int], requests: int,
                   max_seconds: float) -> tuple[list[dict], list[dict], list[dict]]:
    """Returns (per-level results, 2xx check-in bodies, 2xx check-out bodies)."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=max(levels), max_keepalive_connections=max(levels))
    results, checkins, checkouts = [], [], []
    async with httpx.AsyncClient(base_url=gateway, headers=headers, limits=limits, timeout=60) as client:
        await drive(client, [("GET", f"/api/members/members/{m}", None) for m in members[:20]], 4, 30)  # warm-up
        for concurrency in levels:
            writes = [("POST", "/api/members/checkins", {"member_id": m, "area_id": area})
                      for m in members[:requests]]
            recorder, seconds = await drive(client, writes, concurrency, max_seconds)
            results.append(level_result("checkin_write", concurrency, recorder, seconds))
            checkins += recorder.bodies
            closing = [("POST", f"/api/members/checkins/{b['id']}/checkout", None) for b in recorder.bodies]
            closed, _ = await drive(client, closing, 8, 600)  # untimed: frees the members for the next level
            checkouts += closed.bodies
            reads = [("GET", f"/api/members/members/{members[i % len(members)]}", None) for i in range(requests)]
            recorder, seconds = await drive(client, reads, concurrency, max_seconds)
            results.append(level_result("member_read", concurrency, recorder, seconds))
    return results, checkins, checkouts


# ---------------------------------------------------------------- the event count

def count_events(database_url: str, topic: str, checkin_ids: set[int], out_ids: set[int], timeout_s: float) -> dict:
    """What the database and the stream hold for the benchmark's check-ins (in and out), by check-in id."""
    import sqlalchemy as sa

    from gymchain.common.messaging.stream import GroupConsumer
    from gymchain.common.outbox import wait_until_drained

    engine = sa.create_engine(database_url)
    drained = wait_until_drained(engine, timeout_s)
    ids = sorted(checkin_ids)
    with engine.connect() as conn:
        db_rows = conn.execute(sa.text("SELECT count(*) FROM checkins WHERE id = ANY(:ids)"), {"ids": ids}).scalar()
        db_closed = conn.execute(sa.text("SELECT count(*) FROM checkins WHERE id = ANY(:ids) "
                                         "AND checked_out_at IS NOT NULL"), {"ids": ids}).scalar()
        outbox = dict(conn.execute(sa.text(
            "SELECT payload->>'type', count(*) FROM outbox_events WHERE topic = 'checkins' "
            "AND (payload->>'checkin_id')::bigint = ANY(:ids) GROUP BY 1"), {"ids": ids}).all())
    engine.dispose()
    consumer = GroupConsumer(f"bench-count-{secrets.token_hex(4)}", [topic])
    seen: dict[str, list[int]] = {"checkin.in": [], "checkin.out": []}
    event_ids: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and (len(seen["checkin.in"]) < len(checkin_ids)
                                               or len(seen["checkin.out"]) < len(out_ids)):
            for event in consumer.poll_batch(500, 1.0):
                kind, cid = event.payload.get("type"), event.payload.get("checkin_id")
                if kind in seen and cid in checkin_ids:
                    seen[kind].append(cid)
                    event_ids.append(event.event_id)
    finally:
        consumer.close()
    return {
        "outbox_drained": drained,
        "http_2xx_checkins": len(checkin_ids), "http_2xx_checkouts": len(out_ids),
        "db_checkin_rows": db_rows, "db_closed_rows": db_closed,
        "outbox_checkin_in": outbox.get("checkin.in", 0), "outbox_checkin_out": outbox.get("checkin.out", 0),
        "stream_checkin_in": len(seen["checkin.in"]), "stream_checkin_out": len(seen["checkin.out"]),
        "stream_duplicates": len(event_ids) - len(set(event_ids)),
        "lost_checkin_events": len(checkin_ids - set(seen["checkin.in"])),
        "lost_checkout_events": len(out_ids - set(seen["checkin.out"])),
    }


# ---------------------------------------------------------------- main

def pick_members(gateway: str, token: str, wanted: int) -> tuple[list[int], int]:
    """Members of the manager's unit with an active contract and no open check-in, and the unit's largest area."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway, headers=headers, timeout=30) as client:
        me = client.get("/api/auth/me").json()
        areas = client.get(f"/api/members/units/{me['unit_id']}/areas").json()
        if not areas:
            fail(f"unit {me['unit_id']} has no areas")
        area = max(areas, key=lambda a: a["capacity"])["id"]
        chosen: list[int] = []
        offset = 0
        today = date.today().isoformat()
        while len(chosen) < wanted and offset < 5000:
            page = client.get("/api/members/members", params={"limit": 200, "offset": offset}).json()
            if not page:
                break
            for member in page:
                if member["status"] != "active" or len(chosen) >= wanted:
                    continue
                last = client.get(f"/api/members/members/{member['id']}/visits", params={"limit": 1}).json()
                if last and last[0]["checked_out_at"] is None:
                    continue  # already in the gym: a second open check-in would be refused
                contracts = client.get(f"/api/members/members/{member['id']}/contracts").json()
                if any(c["status"] == "active" and c["starts_on"] <= today <= c["ends_on"] for c in contracts):
                    chosen.append(member["id"])
            offset += 200
    return chosen, area


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", help="use this running gateway (default: start an own platform)")
    parser.add_argument("--database-url", help="the running platform's database (with --gateway)")
    parser.add_argument("--email", default=MANAGER, help="a manager login (with --gateway)")
    parser.add_argument("--password", default=PASSWORD)
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels, comma-separated (1-256)")
    parser.add_argument("--requests", type=int, default=200, help="requests per operation and level (10-5000)")
    parser.add_argument("--max-seconds", type=float, default=30, help="time bound per operation and level")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON ('-' for nowhere)")
    args = parser.parse_args(argv)
    try:
        levels = [int(x) for x in args.levels.split(",")]
    except ValueError:
        fail(f"--levels {args.levels!r}: expected integers like 1,8,32")
    if not all(1 <= c <= 256 for c in levels):
        fail(f"--levels {args.levels!r}: each level must be 1-256")
    if not 10 <= args.requests <= 5000:
        fail(f"--requests {args.requests}: expected 10-5000")
    if not 1 <= args.max_seconds <= 600:
        fail(f"--max-seconds {args.max_seconds}: expected 1-600")
    if args.gateway and not args.database_url:
        fail("--gateway needs --database-url (to count what the database holds)")
    if args.gateway and not args.gateway.startswith(("http://127.0.0.1", "http://localhost")):
        fail(f"--gateway {args.gateway!r}: loopback only (http://127.0.0.1:PORT)")
    for port, name in ((5432, "PostgreSQL"), (6379, "Redis"), (9092, "the Kafka-protocol broker")):
        if not port_open(port):
            fail(f"{name} is not listening on 127.0.0.1:{port}; run gym/scripts/start_infra.sh first")

    started = datetime.now(UTC)
    if args.gateway:
        result = measure(args, levels, args.gateway, args.database_url, "checkins")
    else:
        with OwnPlatform(members=args.requests) as own:
            result = measure(args, levels, own.gateway, own.database_url, f"checkins{own.suffix}")
    result = {"benchmark": "load_gateway", "started_at": started.isoformat(timespec="seconds"),
              "machine": machine(),
              "mode": "running platform" if args.gateway else "own platform (auth, members, gateway, relay)",
              "config": {"levels": levels, "requests_per_level": args.requests, "max_seconds": args.max_seconds},
              **result}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    events = result["events"]
    return 0 if events["lost_checkin_events"] == 0 and events["lost_checkout_events"] == 0 else 1


def measure(args, levels: list[int], gateway: str, database_url: str, topic: str) -> dict:
    login = httpx.post(f"{gateway}/api/auth/token", data={"username": args.email, "password": args.password},
                       timeout=30)
    if login.status_code != 200:
        fail(f"login as {args.email} failed: {login.status_code} {login.text[:200]}")
    token = login.json()["access_token"]
    members, area = pick_members(gateway, token, args.requests)
    if len(members) < args.requests:
        fail(f"only {len(members)} members without an open check-in; lower --requests")
    levels_out, checkins, checkouts = asyncio.run(run_load(gateway, token, members, area, levels, args.requests,
                                                           args.max_seconds))
    events = count_events(database_url, topic, {b["id"] for b in checkins}, {b["id"] for b in checkouts}, 90)
    return {"levels": levels_out, "events": events}


if __name__ == "__main__":
    sys.exit(main())
