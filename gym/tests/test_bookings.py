"""Bookings: capacity and wait-list under truly concurrent requests (threads hitting the running gateway), no
double booking, promotion on cancel, class cancellation, and the outbox events written with them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text

from conftest import _member, bearer, valid_cpf


@pytest.fixture
def extra_members(world):
    """Twelve members of unit 1 with contracts (created straight in the database)."""
    from gymchain.common.db import session_scope

    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    with session_scope() as s:
        return [_member(s, world.units[0], f"Extra {i}", f"extra{i}.{stamp}@example.com",
                        valid_cpf(int(stamp[-6:]) * 100 + i + 1000), world.plan_id) for i in range(12)]


def new_class(api, token, area_id, capacity, hours_ahead=48) -> dict:
    starts = (datetime.now(UTC) + timedelta(hours=hours_ahead)).isoformat()
    response = api.post("/api/members/classes", headers=bearer(token),
                        json={"area_id": area_id, "title": "Spinning", "starts_at": starts, "capacity": capacity})
    assert response.status_code == 201, response.text
    return response.json()


def concurrently(base_url: str, calls: list[tuple[str, dict, dict]], workers: int = 12) -> list[httpx.Response]:
    """POST every (path, json, headers) at once from ``workers`` threads, each with its own connection."""
    def post(call):
        path, body, headers = call
        with httpx.Client(base_url=base_url, timeout=60) as client:
            return client.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(post, calls))


def class_counts(class_id: int) -> dict:
    from gymchain.common.db import get_engine

    with get_engine().connect() as conn:
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM bookings WHERE class_id = :c GROUP BY status"),
                                     {"c": class_id}).all())
        booked = conn.execute(text("SELECT booked_count FROM class_sessions WHERE id = :c"), {"c": class_id}).scalar()
    return {"confirmed": statuses.get("confirmed", 0), "waitlisted": statuses.get("waitlisted", 0),
            "cancelled": statuses.get("cancelled", 0), "booked_count": booked}


def test_concurrent_bookings_never_exceed_capacity(api, platform, tokens, world, extra_members):
    cls = new_class(api, tokens["manager1"], world.areas[world.units[0]][0], capacity=5)
    calls = [("/api/members/bookings", {"class_id": cls["id"], "member_id": m}, bearer(tokens["manager1"]))
             for m in extra_members]
    answers = concurrently(platform.gateway, calls)
    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers if a.status_code != 201]
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses.count("confirmed") == 5 and statuses.count("waitlisted") == 7
    assert class_counts(cls["id"]) == {"confirmed": 5, "waitlisted": 7, "cancelled": 0, "booked_count": 5}
    positions = sorted(a.json()["waitlist_position"] for a in answers if a.json()["status"] == "waitlisted")
    assert positions == list(range(1, 8))


def test_concurrent_double_booking_of_one_member_is_refused(api, platform, tokens, world, extra_members):
    cls = new_class(api, tokens["manager1"], world.areas[world.units[0]][0], capacity=10)
    member = extra_members[0]
    calls = [("/api/members/bookings", {"class_id": cls["id"], "member_id": member}, bearer(tokens["manager1"]))] * 8
    codes = sorted(a.status_code for a in concurrently(platform.gateway, calls, workers=8))
    assert codes == [201] + [409] * 7
    assert class_counts(cls["id"])["confirmed"] == 1 and class_counts(cls["id"])["booked_count"] == 1


def test_cancel_promotes_the_oldest_waitlisted(api, tokens, world, extra_members):
    cls = new_class(api, tokens["manager1"], world.areas[world.units[0]][0], capacity=2)
    booked = []
    for m in extra_members[:4]:  # one at a time: the order is known
        response = api.post("/api/members/bookings", json={"class_id": cls["id"], "member_id": m},
                            headers=bearer(tokens["manager1"]))
        booked.append(response.json())
    assert [b["status"] for b in booked] == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    cancelled = api.post(f"/api/members/bookings/{booked[0]['id']}/cancel", headers=bearer(tokens["manager1"]))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    roster = api.get(f"/api/members/classes/{cls['id']}/bookings", headers=bearer(tokens["trainer1"])).json()
    by_member = {b["member_id"]: b for b in roster}
    assert by_member[extra_members[2]]["status"] == "confirmed"
    assert by_member[extra_members[3]]["status"] == "waitlisted"
    assert by_member[extra_members[3]]["waitlist_position"] == 1
    # cancelling a wait-listed booking frees no seat; cancelling twice is a conflict
    assert api.post(f"/api/members/bookings/{booked[3]['id']}/cancel",
                    headers=bearer(tokens["manager1"])).status_code == 200
    assert api.post(f"/api/members/bookings/{booked[3]['id']}/cancel",
                    headers=bearer(tokens["manager1"])).status_code == 409
    assert class_counts(cls["id"]) == {"confirmed": 2, "waitlisted": 0, "cancelled": 2, "booked_count": 2}


def test_concurrent_cancels_and_bookings_keep_the_counter_exact(api, platform, tokens, world, extra_members):
    cls = new_class(api, tokens["manager1"], world.areas[world.units[0]][0], capacity=4)
    first = concurrently(platform.gateway, [("/api/members/bookings", {"class_id": cls["id"], "member_id": m},
                                             bearer(tokens["manager1"])) for m in extra_members[:6]])
    confirmed = [a.json()["id"] for a in first if a.json()["status"] == "confirmed"]
    calls = [(f"/api/members/bookings/{b}/cancel", {}, bearer(tokens["manager1"])) for b in confirmed[:3]]
    calls += [("/api/members/bookings", {"class_id": cls["id"], "member_id": m}, bearer(tokens["manager1"]))
              for m in extra_members[6:]]
    assert all(a.status_code in (200, 201) for a in concurrently(platform.gateway, calls))
    counts = class_counts(cls["id"])
    assert counts["booked_count"] == counts["confirmed"] == 4
    assert counts["confirmed"] + counts["waitlisted"] == 12 - 3


def test_member_books_and_cancels_own_class_but_not_others(api, tokens, world):
    c1 = world.classes["c1"]
    mine = api.post("/api/members/bookings", json={"class_id": c1}, headers=bearer(tokens["member1"]))
    assert mine.status_code == 201 and mine.json()["member_id"] == world.members["member1"]
    theirs = api.post("/api/members/bookings", json={"class_id": c1, "member_id": world.members["member2"]},
                      headers=bearer(tokens["member1"]))
    assert theirs.status_code == 403
    other_unit = api.post("/api/members/bookings", json={"class_id": world.classes["c2"]},
                          headers=bearer(tokens["member1"]))
    assert other_unit.status_code == 409 and "valid only in unit" in other_unit.json()["detail"]
    steal = api.post(f"/api/members/bookings/{mine.json()['id']}/cancel", headers=bearer(tokens["member2"]))
    assert steal.status_code == 404
    own = api.post(f"/api/members/bookings/{mine.json()['id']}/cancel", headers=bearer(tokens["member1"]))
    assert own.status_code == 200


def test_booking_writes_an_outbox_event_in_the_same_transaction(api, tokens, world, extra_members):
    from gymchain.common.db import get_engine

    cls = new_class(api, tokens["manager1"], world.areas[world.units[0]][0], capacity=1)
    answer = api.post("/api/members/bookings", json={"class_id": cls["id"], "member_id": extra_members[5]},
                      headers=bearer(tokens["manager1"])).json()
    with get_engine().connect() as conn:
        payloads = conn.execute(text("SELECT payload FROM outbox_events WHERE topic = 'bookings' "
                                     "AND payload->>'booking_id' = :b"), {"b": str(answer["id"])}).scalars().all()
    assert [p["type"] for p in payloads] == ["booking.confirmed"]
    assert payloads[0]["class_id"] == cls["id"] and payloads[0]["member_id"] == extra_members[5]


def test_cancelled_class_refuses_bookings_and_cancels_live_ones(api, tokens, world, extra_members):
    cls = new_class(api, tokens["manager1"], world.areas[world.units[0]][0], capacity=1)
    for m in extra_members[:2]:
        api.post("/api/members/bookings", json={"class_id": cls["id"], "member_id": m},
                 headers=bearer(tokens["manager1"]))
    assert api.post(f"/api/members/classes/{cls['id']}/cancel", headers=bearer(tokens["manager2"])).status_code == 403
    done = api.post(f"/api/members/classes/{cls['id']}/cancel", headers=bearer(tokens["manager1"]))
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    assert class_counts(cls["id"]) == {"confirmed": 0, "waitlisted": 0, "cancelled": 2, "booked_count": 0}
    again = api.post("/api/members/bookings", json={"class_id": cls["id"], "member_id": extra_members[3]},
                     headers=bearer(tokens["manager1"]))
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_database_itself_rejects_overbooking(world):
    """Even a code path that forgot the lock cannot push booked_count past capacity (CHECK constraint)."""
    from sqlalchemy.exc import IntegrityError

    from gymchain.common.db import session_scope
    from gymchain.members.models import ClassSession

    with pytest.raises(IntegrityError, match="ck_class_sessions_seats"), session_scope() as s:
        cls = s.scalars(select(ClassSession).where(ClassSession.id == world.classes["c2"])).one()
        s.execute(text("UPDATE class_sessions SET booked_count = capacity + 1 WHERE id = :c"), {"c": cls.id})
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(ClassSession).where(
            ClassSession.booked_count > ClassSession.capacity)) == 0
