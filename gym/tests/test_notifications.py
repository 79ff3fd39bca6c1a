"""Redis side effects of writes: the cached class listing is invalidated by a booking (no stale seat count), and
booking / cancellation / occupancy notifications are published on pub/sub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import bearer


def wait_for(subscription, kind: str, timeout_s: float = 10.0) -> dict | None:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    while datetime.now(UTC) < deadline:
        message = subscription.get(timeout_s=1.0)
        if message and message["kind"] == kind:
            return message
    return None


def test_booking_invalidates_the_cached_class_listing(api, tokens, world):
    manager = bearer(tokens["manager1"])
    starts = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    cls = api.post("/api/members/classes", headers=manager, json={"area_id": world.areas[world.units[0]][0],
                                                                   "title": "Cache", "starts_at": starts,
                                                                   "capacity": 4}).json()
    before = {c["id"]: c for c in api.get("/api/members/classes", headers=manager).json()}  # fills the cache
    assert before[cls["id"]]["booked_count"] == 0
    booked = api.post("/api/members/bookings", json={"class_id": cls["id"], "member_id": world.members["member2"]},
                      headers=manager)
    assert booked.status_code == 201
    after = {c["id"]: c for c in api.get("/api/members/classes", headers=manager).json()}
    assert after[cls["id"]]["booked_count"] == 1 and after[cls["id"]]["seats_left"] == 3


def test_booking_promotion_and_class_cancellation_are_notified(api, tokens, world):
    from gymchain.common.messaging.notify import Subscription

    manager = bearer(tokens["manager1"])
    member1, member2 = world.members["member1"], world.members["member2"]
    starts = (datetime.now(UTC) + timedelta(days=4)).isoformat()
    cls = api.post("/api/members/classes", headers=manager, json={"area_id": world.areas[world.units[0]][1],
                                                                   "title": "Notify", "starts_at": starts,
                                                                   "capacity": 1}).json()
    first_subscriber = Subscription(["booking.confirmed", "booking.cancelled", "class.cancelled"],
                                    scope=f"member-{member1}")
    second_subscriber = Subscription(["booking.confirmed", "class.cancelled"], scope=f"member-{member2}")
    first = api.post("/api/members/bookings", json={"class_id": cls["id"]}, headers=bearer(tokens["member1"])).json()
    assert wait_for(first_subscriber, "booking.confirmed")["message"]["booking_id"] == first["id"]
    second = api.post("/api/members/bookings", json={"class_id": cls["id"]}, headers=bearer(tokens["member2"])).json()
    assert second["status"] == "waitlisted"
    api.post(f"/api/members/bookings/{first['id']}/cancel", headers=bearer(tokens["member1"]))
    promoted = wait_for(second_subscriber, "booking.confirmed")
    assert promoted["message"]["booking_id"] == second["id"] and promoted["message"]["promoted_from_waitlist"]
    assert wait_for(first_subscriber, "booking.cancelled")["message"]["booking_id"] == first["id"]
    api.post(f"/api/members/classes/{cls['id']}/cancel", headers=manager)
    assert wait_for(second_subscriber, "class.cancelled")["message"]["class_id"] == cls["id"]


def test_crowded_area_raises_an_occupancy_alert(api, tokens, world):
    """The unit-2 studio holds 3: three members in it (ratio 1.0 >= 0.9) publish occupancy.alert for the unit."""
    from conftest import _member, valid_cpf
    from gymchain.common.db import session_scope
    from gymchain.common.messaging.notify import Subscription

    unit, studio = world.units[1], world.areas[world.units[1]][1]
    stamp = datetime.now(UTC).strftime("%M%S%f")
    with session_scope() as s:
        crowd = [_member(s, unit, f"Crowd {i}", f"crowd{i}.{stamp}@example.com", valid_cpf(int(stamp) + 77 * i),
                         world.plan_id) for i in range(3)]
    subscriber = Subscription(["occupancy.alert"], scope=f"unit-{unit}")
    for member in crowd:
        answer = api.post("/api/members/checkins", json={"member_id": member, "area_id": studio},
                          headers=bearer(tokens["manager2"]))
        assert answer.status_code == 201, answer.text
    alert = wait_for(subscriber, "occupancy.alert")
    assert alert is not None and alert["message"]["area_id"] == studio and alert["message"]["ratio"] >= 0.9
