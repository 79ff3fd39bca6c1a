"""Fill an empty, migrated database with the demo chain (bulk inserts and COPY; well under a minute here)."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection

from gymchain.auth.models import User
from gymchain.common import timeseries
from gymchain.common.db import get_engine
from gymchain.common.security import pii
from gymchain.common.security.passwords import hash_password
from gymchain.members.models import Area, ClassSession, Contract, Member, Plan, Unit

from . import activity, people, sensors

HISTORY_DAYS = 365
FUTURE_DAYS = 14


def copy_rows(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> int:
    """COPY ``rows`` into ``table`` inside the connection's transaction (psycopg 3)."""
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def insert_catalog(conn: Connection) -> tuple[list[int], dict[int, dict[str, tuple[int, int]]], list[int]]:
    """Units, their areas ({unit index: {kind: (area id, capacity)}}) and plans."""
    unit_ids = [conn.execute(insert(Unit).values(code=c, name=n, city=city).returning(Unit.id)).scalar_one()
                for c, n, city, _count in people.UNITS]
    areas: dict[int, dict[str, tuple[int, int]]] = {}
    for index, unit_id in enumerate(unit_ids):
        specs = people.AREAS + ((people.POOL,) if index == 0 else ())
        areas[index] = {kind: (conn.execute(insert(Area).values(unit_id=unit_id, name=name, kind=kind, capacity=cap)
                                            .returning(Area.id)).scalar_one(), cap) for name, kind, cap in specs}
    plan_ids = [conn.execute(insert(Plan).values(code=c, name=n, monthly_price_cents=p, weekly_class_limit=w,
                                                 all_units=a).returning(Plan.id)).scalar_one()
                for c, n, p, w, a in people.PLANS]
    return unit_ids, areas, plan_ids


def member_row(person: people.Person, unit_id: int) -> dict:
    seal = lambda field, value: pii.encrypt(value, f"members.{field}")
    return {"unit_id": unit_id, "full_name_enc": seal("full_name", person.full_name),
            "email_enc": seal("email", person.email), "email_index": pii.blind_index(person.email, "email"),
            "cpf_enc": seal("cpf", person.cpf), "cpf_index": pii.blind_index(person.cpf, "cpf"),
            "phone_enc": seal("phone", person.phone),
            "birth_date_enc": seal("birth_date", person.birth_date.isoformat()),
            "camera_consent": person.camera_consent, "created_at": datetime.combine(person.joined, datetime.min.time(),
                                                                                     tzinfo=UTC)}


def insert_members(conn: Connection, crowd: list[people.Person], unit_ids: list[int]) -> list[int]:
    rows = [member_row(p, unit_ids[p.unit_index]) for p in crowd]
    result = conn.execute(insert(Member).returning(Member.id, sort_by_parameter_order=True), rows)
    return list(result.scalars())


def contract_row(person: people.Person, member_id: int, unit_id: int, plan_ids: list[int], today: date) -> dict:
    price = people.PLANS[person.plan_index][2]
    base = {"member_id": member_id, "plan_id": plan_ids[person.plan_index], "unit_id": unit_id,
            "monthly_price_cents": price}
    if person.churned is not None:
        return base | {"starts_on": person.joined, "ends_on": person.churned, "status": "ended"}
    years = (today - person.joined).days // 365
    start = person.joined + timedelta(days=365 * years)
    return base | {"starts_on": start, "ends_on": start + timedelta(days=365), "status": "active"}


def insert_users(conn: Connection, member_ids: list[int], crowd: list[people.Person], unit_ids: list[int]) -> None:
    """Staff logins (their own hash each) and one login per member (one shared demo hash: seeding 2,000 argon2
    hashes would take minutes, and every demo member has the same published password anyway)."""
    staff = [{"email_enc": pii.encrypt(email, "users.email"), "email_index": pii.blind_index(email, "email"),
              "password_hash": hash_password(people.DEMO_PASSWORD), "role": role,
              "unit_id": None if unit is None else unit_ids[unit], "member_id": None}
             for email, role, unit in people.staff_logins()]
    shared = hash_password(people.DEMO_PASSWORD)
    members = [{"email_enc": pii.encrypt(p.email, "users.email"), "email_index": pii.blind_index(p.email, "email"),
                "password_hash": shared, "role": "member", "unit_id": unit_ids[p.unit_index], "member_id": mid}
               for mid, p in zip(member_ids, crowd, strict=True)]
    conn.execute(insert(User), staff + members)


def insert_visits(conn: Connection, rng: random.Random, crowd, member_ids, unit_ids, areas, now,
                  days: int) -> dict:
    """Check-ins of everyone; returns {area id: [(in, out)]} for the sensors."""
    first = now.date() - timedelta(days=days)
    by_area: dict[int, list[tuple]] = defaultdict(list)
    rows = []
    for mid, person in zip(member_ids, crowd, strict=True):
        area_ids = {kind: area for kind, (area, _cap) in areas[person.unit_index].items()}
        for area_id, start, end in activity.visits_of(rng, person, area_ids, first, now):
            rows.append((mid, unit_ids[person.unit_index], area_id, start, end, "seed"))
            by_area[area_id].append((start, end))
    copy_rows(conn, "checkins", ("member_id", "unit_id", "area_id", "checked_in_at", "checked_out_at", "source"),
              rows)
    return by_area


def insert_classes(conn: Connection, rng: random.Random, crowd, member_ids, unit_ids, areas, now,
                   days: int) -> tuple[int, int]:
    """The timetable of every unit with its bookings; booked_count set from the confirmed ones."""
    first, last = now.date() - timedelta(days=days), now.date() + timedelta(days=FUTURE_DAYS)
    lovers = defaultdict(list)
    for mid, person in zip(member_ids, crowd, strict=True):
        if person.class_lover:
            lovers[person.unit_index].append((mid, person))
    plans = [c for i in range(len(unit_ids)) for c in activity.timetable(i, "pool" in areas[i], first, last)]
    rows = [{"unit_id": unit_ids[c.unit_index], "area_id": areas[c.unit_index][c.area_kind][0], "title": c.title,
             "starts_at": c.starts_at, "ends_at": c.starts_at + timedelta(minutes=50), "capacity": c.capacity}
            for c in plans]
    class_ids = list(conn.execute(insert(ClassSession).returning(ClassSession.id, sort_by_parameter_order=True),
                                  rows).scalars())
    bookings = []
    for class_id, plan in zip(class_ids, plans, strict=True):
        for member_id, status, created in activity.bookings_for(rng, plan, lovers[plan.unit_index], now):
            bookings.append((class_id, member_id, status, created, created))
    copy_rows(conn, "bookings", ("class_id", "member_id", "status", "created_at", "updated_at"), bookings)
    conn.execute(text("""UPDATE class_sessions c SET booked_count = b.n
                         FROM (SELECT class_id, count(*) AS n FROM bookings WHERE status = 'confirmed'
                               GROUP BY class_id) b WHERE b.class_id = c.id"""))
    return len(class_ids), len(bookings)


def insert_sensors(conn: Connection, rng: random.Random, unit_ids, areas, by_area, now,
                   days: int) -> tuple[int, int]:
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    samples = readings = 0
    for index, unit_id in enumerate(unit_ids):
        for area_id, capacity in areas[index].values():
            visits = by_area.get(area_id, [])
            samples += timeseries.write_occupancy(conn, sensors.occupancy_rows(unit_id, area_id, capacity, visits,
                                                                               start, now))
            readings += timeseries.write_readings(conn, sensors.reading_rows(rng, unit_id, area_id, visits, start,
                                                                             now))
    return samples, readings


def is_empty(conn: Connection) -> bool:
    return conn.execute(select(func.count()).select_from(Unit)).scalar_one() == 0


def seed(seed_value: int = 2026, database_url: str | None = None, log=print, *, days: int = HISTORY_DAYS,
         scale: float = 1.0) -> dict:
    """Seed the demo chain (``days`` of history, ``scale`` x 2,000 members); returns the counts.
    Refuses a database that already has units."""
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    started = time.monotonic()
    with get_engine(database_url).begin() as conn:
        if not is_empty(conn):
            raise SystemExit("seed: the database already has units; seed only an empty (freshly migrated) database")
        unit_ids, areas, plan_ids = insert_catalog(conn)
        crowd = people.make_people(rng, now.date(), scale)
        member_ids = insert_members(conn, crowd, unit_ids)
        conn.execute(insert(Contract), [contract_row(p, m, unit_ids[p.unit_index], plan_ids, now.date())
                                        for m, p in zip(member_ids, crowd, strict=True)])
        insert_users(conn, member_ids, crowd, unit_ids)
        log(f"seed: {len(member_ids)} members with contracts and logins ({time.monotonic() - started:.1f} s)")
        by_area = insert_visits(conn, rng, crowd, member_ids, unit_ids, areas, now, days)
        visits = sum(len(v) for v in by_area.values())
        log(f"seed: {visits} check-ins over {days} days ({time.monotonic() - started:.1f} s)")
        classes, bookings = insert_classes(conn, rng, crowd, member_ids, unit_ids, areas, now, days)
        log(f"seed: {classes} classes, {bookings} bookings ({time.monotonic() - started:.1f} s)")
        samples, readings = insert_sensors(conn, rng, unit_ids, areas, by_area, now, days)
        log(f"seed: {samples} occupancy samples, {readings} sensor readings ({time.monotonic() - started:.1f} s)")
    counts = {"units": len(unit_ids), "members": len(member_ids), "checkins": visits, "classes": classes,
              "bookings": bookings, "occupancy_samples": samples, "sensor_readings": readings,
              "seconds": round(time.monotonic() - started, 1), "demo_members": demo_members(crowd)}
    return counts


def demo_members(crowd: list[people.Person]) -> list[str]:
    """The first member of each unit with an active contract: the demo member logins."""
    picks = {}
    for person in crowd:
        if person.churned is None and person.unit_index not in picks:
            picks[person.unit_index] = person.email
    return [picks[i] for i in sorted(picks)]


def demo_logins_text(member_emails: list[str]) -> str:
    lines = [f"Demo logins (password for all: {people.DEMO_PASSWORD}):"]
    for email, role, unit in people.staff_logins():
        where = "whole chain" if unit is None else people.UNITS[unit][0]
        lines.append(f"  {role:<8} {email:<45} {where}")
    for unit, email in enumerate(member_emails):
        lines.append(f"  {'member':<8} {email:<45} {people.UNITS[unit][0]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.simulate",
                                     description="Seed an empty, migrated gymchain database with the demo chain.")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--if-empty", action="store_true", help="do nothing (exit 0) when the database has data")
    args = parser.parse_args(argv)
    with get_engine().connect() as conn:
        if not is_empty(conn):
            if args.if_empty:
                print("seed: the database already has data; nothing to do")
                return 0
            print("seed: the database already has units; seed only an empty database (or use --if-empty)",
                  file=sys.stderr)
            return 2
    counts = seed(args.seed)
    print({k: v for k, v in counts.items() if k != "demo_members"})
    print(demo_logins_text(counts["demo_members"]))
    return 0
