"""A unit of its own for the analytics tests (class history with bookings, named members with visits, two
trainers and a manager), removed afterwards so the shared test world is left as it was. Used by
test_timetable_api.py and test_web_analytics.py."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from conftest import PASSWORD, login

LOCAL = ZoneInfo("America/Sao_Paulo")
FIRST = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gina", "Hugo", "Iara", "Júlio")
LAST = ("Prado", "Reis", "Serra", "Tavares")
NAMES = [f"{FIRST[i % 10]} {LAST[i // 10]}" for i in range(40)]
PATTERN = [(d, "Yoga", "07:00", "studio", 15) for d in range(5)] + \
    [(d, "Spinning", "18:00", "bike", 20) for d in range(5)] + \
    [(d, "Funcional", "19:00", "studio", 15) for d in (0, 2, 4)] + [(5, "Yoga", "09:00", "studio", 15)]


@contextmanager
def analytics_unit(platform, database_url, world):
    """A unit with 26 weeks of classes (demand higher on Mondays and in the evening) and 40 members."""
    from gymchain.auth import service
    from gymchain.auth.schemas import UserCreate
    from gymchain.common.db import session_scope
    from gymchain.common.security import pii

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    rng = np.random.default_rng(5)
    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        unit_id = conn.execute(sa.text("INSERT INTO units (code, name, city) VALUES (:c, 'Timetable', 'SP') "
                                       "RETURNING id"), {"c": f"TT{stamp[-6:]}"}).scalar_one()
        areas = {kind: conn.execute(sa.text("INSERT INTO areas (unit_id, name, kind, capacity) VALUES "
                                            "(:u, :n, 'studio', :c) RETURNING id"),
                                    {"u": unit_id, "n": name, "c": cap}).scalar_one()
                 for kind, name, cap in (("studio", "Estúdio TT", 30), ("bike", "Bike TT", 25))}
        members = [conn.execute(sa.text("INSERT INTO members (unit_id, full_name_enc, created_at) VALUES (:u, :n, :t) "
                                        "RETURNING id"), {"u": unit_id, "t": now - timedelta(days=300),
                                                          "n": pii.encrypt(NAMES[i], "members.full_name")}).scalar_one()
                   for i in range(40)]
        conn.execute(sa.text("INSERT INTO contracts (member_id, plan_id, unit_id, starts_on, ends_on, "
                             "monthly_price_cents, status) VALUES (:m, :p, :u, :s, :e, 9900, 'active')"),
                     [{"m": m, "p": world.plan_id, "u": unit_id, "s": (now - timedelta(days=300)).date(),
                       "e": (now + timedelta(days=65)).date()} for m in members])
        visits = []
        for i, m in enumerate(members):  # frequent morning members and rare evening ones
            every = 2 if i % 2 else 9
            hour = 7 if i % 2 else 19
            for day in range(1, 80, every):
                t = (now - timedelta(days=day)).replace(hour=hour + 3, minute=0)
                visits.append({"m": m, "u": unit_id, "a": areas["studio"], "t": t, "o": t + timedelta(hours=1)})
        conn.execute(sa.text("INSERT INTO checkins (member_id, unit_id, area_id, checked_in_at, checked_out_at, "
                             "source) VALUES (:m, :u, :a, :t, :o, 'seed')"), visits)
        this_monday = (now.astimezone(LOCAL) - timedelta(days=now.astimezone(LOCAL).weekday())).date()
        sessions = 0
        for week in range(26, 0, -1):
            monday = this_monday - timedelta(weeks=week)
            for weekday, title, start, room, cap in PATTERN:
                day = monday + timedelta(days=weekday)
                begins = datetime.combine(day, datetime.strptime(start, "%H:%M").time(), tzinfo=LOCAL)
                mean = (14 if title == "Spinning" else 9) * (1.4 if weekday == 0 else 1.0) * (1 + 0.3 * np.sin(week))
                demand = min(int(rng.poisson(mean)), len(members))
                booked = min(demand, cap)
                class_id = conn.execute(sa.text(
                    "INSERT INTO class_sessions (unit_id, area_id, title, starts_at, ends_at, capacity, booked_count)"
                    " VALUES (:u, :a, :t, :s, :e, :c, :b) RETURNING id"),
                    {"u": unit_id, "a": areas[room], "t": title, "s": begins, "e": begins + timedelta(minutes=50),
                     "c": cap, "b": booked}).scalar_one()
                who = rng.choice(members, size=demand, replace=False)
                if demand:
                    conn.execute(sa.text("INSERT INTO bookings (class_id, member_id, status) VALUES (:c, :m, :s)"),
                                 [{"c": class_id, "m": int(m), "s": "confirmed" if j < cap else "waitlisted"}
                                  for j, m in enumerate(who)])
                sessions += 1
    with session_scope() as s:
        service.create_user(s, UserCreate(email=f"tt.manager.{stamp}@example.com", password=PASSWORD,
                                          role="manager", unit_id=unit_id))
        trainers = [service.create_user(s, UserCreate(email=f"tt.trainer{i}.{stamp}@example.com", password=PASSWORD,
                                                      role="trainer", unit_id=unit_id)).id for i in range(2)]
    token = login(platform.gateway, f"tt.manager.{stamp}@example.com")["access_token"]
    try:
        yield {"id": unit_id, "token": token, "sessions": sessions, "members": members, "trainers": trainers}
    finally:
        with engine.begin() as conn:  # leave the shared world as it was
            params = {"u": unit_id}
            conn.execute(sa.text("DELETE FROM bookings WHERE class_id IN (SELECT id FROM class_sessions "
                                 "WHERE unit_id = :u)"), params)
            for table in ("class_sessions", "checkins", "contracts"):
                conn.execute(sa.text(f"DELETE FROM {table} WHERE unit_id = :u"), params)
            conn.execute(sa.text("DELETE FROM users WHERE unit_id = :u"), params)
            conn.execute(sa.text("DELETE FROM members WHERE unit_id = :u"), params)
            conn.execute(sa.text("DELETE FROM areas WHERE unit_id = :u"), params)
            conn.execute(sa.text("DELETE FROM units WHERE id = :u"), params)
        engine.dispose()
