"""Check-ins per area, moving between areas, check-out, visits, live occupancy, and the outbox events."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import text

from conftest import bearer


def present(api, token, area_id, unit_id=None) -> int:
    params = {"unit_id": unit_id} if unit_id else {}
    occupancy = api.get("/api/members/occupancy", params=params, headers=bearer(token))
    assert occupancy.status_code == 200, occupancy.text
    return {a["area_id"]: a["present"] for a in occupancy.json()["areas"]}[area_id]


def test_checkin_move_and_checkout_update_occupancy(api, tokens, world):
    weights, studio = world.areas[world.units[0]]
    member = world.members["member1"]
    start = present(api, tokens["manager1"], weights)
    first = api.post("/api/members/checkins", json={"member_id": member, "area_id": weights},
                     headers=bearer(tokens["trainer1"]))
    assert first.status_code == 201, first.text
    assert present(api, tokens["manager1"], weights) == start + 1
    moved = api.post("/api/members/checkins", json={"area_id": studio, "source": "app"},
                     headers=bearer(tokens["member1"]))
    assert moved.status_code == 201
    assert present(api, tokens["manager1"], weights) == start
    assert present(api, tokens["member1"], studio) >= 1
    out = api.post(f"/api/members/checkins/{moved.json()['id']}/checkout", headers=bearer(tokens["member1"]))
    assert out.status_code == 200 and out.json()["checked_out_at"] is not None
    again = api.post(f"/api/members/checkins/{moved.json()['id']}/checkout", headers=bearer(tokens["member1"]))
    assert again.status_code == 409
    visits = api.get(f"/api/members/members/{member}/visits", headers=bearer(tokens["member1"])).json()
    assert [v["id"] for v in visits[:2]] == [moved.json()["id"], first.json()["id"]]


def test_checkin_events_are_in_the_outbox(api, tokens, world):
    from gymchain.common.db import get_engine

    weights = world.areas[world.units[0]][0]
    made = api.post("/api/members/checkins", json={"member_id": world.members["member2"], "area_id": weights},
                    headers=bearer(tokens["manager1"])).json()
    api.post(f"/api/members/checkins/{made['id']}/checkout", headers=bearer(tokens["manager1"]))
    with get_engine().connect() as conn:
        kinds = conn.execute(text("SELECT payload->>'type' FROM outbox_events WHERE topic = 'checkins' "
                                  "AND payload->>'checkin_id' = :c ORDER BY id"), {"c": str(made["id"])}).scalars()
        assert list(kinds) == ["checkin.in", "checkin.out"]


def test_concurrent_checkins_of_one_member_leave_one_open(platform, tokens, world):
    from gymchain.common.db import get_engine

    member, area = world.members["member3"], world.areas[world.units[1]][0]

    def post(_):
        with httpx.Client(base_url=platform.gateway, timeout=30) as client:
            return client.post("/api/members/checkins", json={"member_id": member, "area_id": area},
                               headers=bearer(tokens["manager2"])).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(post, range(6)))
    assert set(codes) <= {201, 409} and 201 in codes
    with get_engine().connect() as conn:
        open_rows = conn.execute(text("SELECT count(*) FROM checkins WHERE member_id = :m AND checked_out_at IS NULL"),
                                 {"m": member}).scalar()
    assert open_rows == 1


def test_occupancy_is_unit_scoped(api, tokens, world):
    other_unit = world.units[1]
    assert api.get("/api/members/occupancy", params={"unit_id": other_unit},
                   headers=bearer(tokens["manager1"])).status_code == 403
    assert api.get("/api/members/occupancy", params={"unit_id": other_unit},
                   headers=bearer(tokens["admin"])).status_code == 200
    assert api.get("/api/members/occupancy", headers=bearer(tokens["admin"])).status_code == 400


def test_staff_cannot_check_in_members_of_another_unit(api, tokens, world):
    response = api.post("/api/members/checkins", json={"member_id": world.members["member3"],
                                                       "area_id": world.areas[world.units[1]][0]},
                        headers=bearer(tokens["manager1"]))
    assert response.status_code == 403
