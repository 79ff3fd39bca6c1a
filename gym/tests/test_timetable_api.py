"""Demand forecast, timetable proposal and segments through the gateway: the contract of each answer, the unit's
manager and admins only (another unit's manager 403), bounded parameters (422), and a unit without class history
(409). The module builds its own unit (26 weeks of classes with bookings, members with visits, two trainers and a
manager) and removes it afterwards, so the shared test world is left as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa

from conftest import PASSWORD, bearer, login

LOCAL = ZoneInfo("America/Sao_Paulo")
PATTERN = [(d, "Yoga", "07:00", "studio", 15) for d in range(5)] + \
    [(d, "Spinning", "18:00", "bike", 20) for d in range(5)] + \
    [(d, "Funcional", "19:00", "studio", 15) for d in (0, 2, 4)] + [(5, "Yoga", "09:00", "studio", 15)]


@pytest.fixture(scope="module")
def unit(platform, database_url, world):
    """A unit with 26 weeks of classes (demand higher on Mondays and in the evening) and 40 members."""
    from gymchain.auth import service
    from gymchain.auth.schemas import UserCreate
    from gymchain.common.db import session_scope

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
        members = [conn.execute(sa.text("INSERT INTO members (unit_id, created_at) VALUES (:u, :t) RETURNING id"),
                                {"u": unit_id, "t": now - timedelta(days=300)}).scalar_one() for _ in range(40)]
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
    yield {"id": unit_id, "token": token, "sessions": sessions, "members": members, "trainers": trainers}
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


def test_forecast_vs_actual_contract(api, unit):
    answer = api.get(f"/api/analytics/units/{unit['id']}/demand-forecast", params={"weeks": 6},
                     headers=bearer(unit["token"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["unit_id"] == unit["id"] and body["weeks"] == 6
    assert 5 <= len(body["weekly"]) <= 7 and body["compared_sessions"] > 50
    # only the 20 weeks before the cutoff (the chain's other units would count too; here they held no past class)
    assert len(PATTERN) * 20 <= body["train_sessions"] < unit["sessions"]
    for week in body["weekly"]:
        assert week["actual"] == week["booked"] + week["waitlisted"] and week["forecast"] > 0
        assert week["week_start"] >= body["cutoff"]
    assert {t["class_type"] for t in body["by_type"]} == {"Yoga", "Spinning", "Funcional"}
    scores = body["mase"]
    assert set(scores) == {"glm", "seasonal_naive_week"}
    assert scores["glm"]["sessions"] == scores["seasonal_naive_week"]["sessions"] > 0
    assert scores["glm"]["mase_mean"] > 0


def test_timetable_proposal_contract(api, unit):
    answer = api.get(f"/api/analytics/units/{unit['id']}/timetable-proposal",
                     params={"weeks": 2, "time_limit_s": 2}, headers=bearer(unit["token"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] in ("OPTIMAL", "FEASIBLE")
    current, proposed = body["current"], body["proposed"]
    assert current["totals"]["sessions"] == len(PATTERN) == len(current["sessions"])
    assert 0 < proposed["totals"]["sessions"] <= len(PATTERN)
    trainers = set(unit["trainers"])
    seen = set()
    for s in proposed["sessions"]:
        assert s["class_type"] in {"Yoga", "Spinning", "Funcional"} and s["instructor_id"] in trainers
        assert (s["room_id"], s["weekday"], s["start_time"]) not in seen  # one class per room and time
        seen.add((s["room_id"], s["weekday"], s["start_time"]))
        assert s["expected_attendance"] <= s["capacity"]
        if s["class_type"] == "Spinning":
            assert s["room"] == "Bike TT"  # only ever held there
    # the current timetable is one of the feasible solutions, so the optimum is at least as good on the forecast
    assert body["objective"] >= round(current["totals"]["attendance"] - 0.25 * current["totals"]["waitlist"], 2) - 0.5
    gain = body["expected_gain"]
    assert gain["attendance_per_week"] == pytest.approx(
        proposed["totals"]["attendance"] - current["totals"]["attendance"], abs=0.11)


def test_segments_contract(api, unit):
    answer = api.get(f"/api/analytics/units/{unit['id']}/segments", params={"limit": 5},
                     headers=bearer(unit["token"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["members"] == 40 and 2 <= body["k"] <= 6 and len(body["profiles"]) == body["k"]
    assert sum(p["members"] for p in body["profiles"]) == 40 and len(body["assignments"]) == 5
    assert all(a["member_id"] in unit["members"] for a in body["assignments"])
    assert all(p["tags"] for p in body["profiles"])


@pytest.mark.parametrize("route", ["demand-forecast", "timetable-proposal", "segments"])
def test_other_units_manager_members_and_trainers_are_refused(api, tokens, unit, route):
    for who in ("manager1", "member1", "trainer1"):
        answer = api.get(f"/api/analytics/units/{unit['id']}/{route}", headers=bearer(tokens[who]))
        assert answer.status_code == 403 and "\n" not in answer.json()["detail"], (who, answer.text)
    assert api.get(f"/api/analytics/units/{unit['id']}/{route}").status_code == 401


@pytest.mark.parametrize(("route", "params", "field"), [
    ("demand-forecast", {"weeks": 0}, "weeks"), ("demand-forecast", {"weeks": 27}, "weeks"),
    ("timetable-proposal", {"time_limit_s": 31}, "time_limit_s"), ("timetable-proposal", {"weeks": "x"}, "weeks"),
    ("timetable-proposal", {"waitlist_weight": -1}, "waitlist_weight"),
    ("timetable-proposal", {"min_share": 1.5}, "min_share"), ("segments", {"limit": 0}, "limit")])
def test_bad_parameters_are_422(api, tokens, unit, route, params, field):
    answer = api.get(f"/api/analytics/units/{unit['id']}/{route}", params=params, headers=bearer(tokens["admin"]))
    assert answer.status_code == 422 and field in answer.json()["detail"]


def test_unknown_unit_404_and_unit_without_history_409(api, tokens, world, unit):
    admin = bearer(tokens["admin"])
    assert api.get("/api/analytics/units/999999999/demand-forecast", headers=admin).status_code == 404
    answer = api.get(f"/api/analytics/units/{world.units[1]}/timetable-proposal", headers=admin)
    assert answer.status_code == 409 and "timetable" in answer.json()["detail"]
