"""Every endpoint of every service, through the gateway, with every role and without a token.

Each row: method, path template, body (or a function making a fresh one), and the expected outcome for
member / trainer / manager (same unit as the target) / manager of another unit / admin: ``A`` allowed (any answer
but 401/403: 2xx, or a domain 404/409/422), ``D`` denied (403). Without a token every non-public route answers 401.
The targets (member1, class c1, ...) all live in unit 1. A last test checks the table covers the whole aggregated
OpenAPI document, so a new route cannot ship without its row.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import _member, bearer, valid_cpf

ROLES = ("member1", "trainer1", "manager1", "manager2", "admin")
_counter = itertools.count(1)


def unique() -> int:
    return next(_counter)


def new_user(ctx):
    return {"email": f"rbac{unique()}.{ctx['stamp']}@example.com", "password": "long-enough-pw", "role": "trainer",
            "unit_id": ctx["u1"]}


def new_member(ctx):
    n = unique()
    return {"unit_id": ctx["u1"], "full_name": "Rbac Person", "email": f"rbac.m{n}.{ctx['stamp']}@example.com",
            "cpf": valid_cpf(int(ctx["stamp"][-5:]) * 1000 + n)}


def new_class(ctx):
    return {"area_id": ctx["area1"], "title": "RBAC", "capacity": 5,
            "starts_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}


# method, path, body, expected for (member1, trainer1, manager1, manager2, admin)
TABLE = [
    ("GET", "/api/auth/me", None, "AAAAA"),
    ("POST", "/api/auth/users", new_user, "DDADA"),
    ("GET", "/api/auth/users", None, "DDAAA"),
    ("DELETE", "/api/auth/users/by-member/{x_member}", None, "DDDDA"),
    ("GET", "/api/members/units", None, "AAAAA"),
    ("POST", "/api/members/units", lambda c: {"code": f"R{unique()}-{c['stamp'][-6:]}", "name": "Rbac unit",
                                              "city": "Recife"}, "DDDDA"),
    ("GET", "/api/members/units/{u1}/areas", None, "AAADA"),
    ("POST", "/api/members/areas", lambda c: {"unit_id": c["u1"], "name": f"Sala {unique()}", "kind": "studio",
                                              "capacity": 10}, "DDADA"),
    ("GET", "/api/members/plans", None, "AAAAA"),
    ("POST", "/api/members/plans", lambda c: {"code": f"P{unique()}-{c['stamp'][-6:]}", "name": "Rbac plan",
                                              "monthly_price_cents": 1000}, "DDDDA"),
    ("POST", "/api/members/contracts", lambda c: {"member_id": c["m1"], "plan_id": c["plan"],
                                                  "starts_on": datetime.now(UTC).date().isoformat()}, "DDADA"),
    ("GET", "/api/members/members/{m1}/contracts", None, "AAADA"),
    ("GET", "/api/members/members", None, "DAAAA"),
    ("GET", "/api/members/members?unit_id={u1}", None, "DAADA"),
    ("POST", "/api/members/members", new_member, "DDADA"),
    ("GET", "/api/members/members/me", None, "ADDDD"),
    ("GET", "/api/members/members/{m1}", None, "AAADA"),
    ("PATCH", "/api/members/members/{m1}", {"phone": "+55 11 90000-0000"}, "ADADA"),
    ("PUT", "/api/members/members/{m1}/consent", {"camera_consent": False}, "ADADA"),
    ("GET", "/api/members/members/{m1}/visits", None, "AAADA"),
    ("GET", "/api/members/members/{m1}/bookings", None, "AAADA"),
    ("GET", "/api/members/members/{m1}/notes", None, "DAADA"),
    ("POST", "/api/members/members/{m1}/notes", {"text": "rbac note"}, "DAADA"),
    ("GET", "/api/members/members/{m1}/export", None, "ADADA"),
    ("POST", "/api/members/members/{x_member}/erase", None, "DDDDA"),
    ("GET", "/api/members/audit", None, "DDAAA"),
    ("GET", "/api/members/classes", None, "AAAAA"),
    ("GET", "/api/members/classes?unit_id={u2}", None, "DDDAA"),
    ("POST", "/api/members/classes", new_class, "DDADA"),
    ("GET", "/api/members/classes/{c1}", None, "AAADA"),
    ("POST", "/api/members/classes/{c_cancel}/cancel", None, "DDADA"),
    ("GET", "/api/members/classes/{c1}/bookings", None, "DAADA"),
    ("POST", "/api/members/bookings", lambda c: {"class_id": c["c1"], "member_id": c["m1"]}, "AAADA"),
    ("POST", "/api/members/bookings/{b_cancel}/cancel", None, "ADADA"),
    ("POST", "/api/members/checkins", lambda c: {"member_id": c["m1"], "area_id": c["area1"]}, "DAADA"),
    ("POST", "/api/members/checkins/{checkin}/checkout", None, "AAADA"),
    ("GET", "/api/members/occupancy?unit_id={u1}", None, "AAADA"),
    ("GET", "/api/members/occupancy/history?unit_id={u1}", None, "AAADA"),
    ("POST", "/api/analytics/reports", lambda c: {"unit_id": c["u1"], "report": "attendance",
                                                  "period_start": "2026-11-01", "period_end": "2026-11-30"}, "DDADA"),
    ("POST", "/api/analytics/retraining", {"model": "churn"}, "DDDDA"),
    ("GET", "/api/analytics/members/{m1}/churn-risk", None, "DDADA"),
    ("GET", "/api/analytics/units/{u1}/churn-risk", None, "DDADA"),
    ("GET", "/api/analytics/units/{u1}/demand-forecast", None, "DDADA"),
    ("GET", "/api/analytics/units/{u1}/timetable-proposal?time_limit_s=1", None, "DDADA"),
    ("GET", "/api/analytics/units/{u1}/segments", None, "DDADA"),
    ("GET", "/api/analytics/members/{m1}/recommendations", None, "AAADA"),
    ("POST", "/api/analytics/units/{u1}/batch-scoring", None, "DDADA"),
    ("GET", "/api/analytics/units/{u1}/scores", None, "DDADA"),
    ("GET", "/api/analytics/models", None, "DDAAA"),
    ("GET", "/api/analytics/drift/alerts", None, "DDAAA"),
    ("GET", "/api/analytics/experiments/readout", None, "DDAAA"),
    ("GET", "/api/analytics/jobs", None, "AAAAA"),
    ("GET", "/api/analytics/jobs/{job}", None, "AAAAA"),
    ("GET", "/api/analytics/members/{m1}/personal-data", None, "ADADA"),
    ("DELETE", "/api/analytics/members/{x_member}/personal-data", None, "DDDDA"),
    ("POST", "/api/vision/jobs/video-analysis", lambda c: {"unit_id": c["u1"], "area_id": c["area1"],
                                                           "source_uri": "file:///clips/a.mp4",
                                                           "tasks": ["people_count"]}, "DAADA"),
    ("GET", "/api/vision/events", None, "DAAAA"),
    ("GET", "/api/vision/jobs", None, "AAAAA"),
    ("GET", "/api/vision/jobs/{job}", None, "AAAAA"),
    ("GET", "/api/vision/jobs/{job}/report", None, "AAAAA"),
    ("GET", "/api/vision/members/{m1}/personal-data", None, "ADADA"),
    ("DELETE", "/api/vision/members/{x_member}/personal-data", None, "DDDDA"),
    ("POST", "/api/assistant/conversations", {"title": "Treino"}, "ADDDD"),
    ("GET", "/api/assistant/conversations", None, "ADDDD"),
    ("GET", "/api/assistant/conversations/{job}", None, "ADDDD"),
    ("POST", "/api/assistant/conversations/{job}/messages", {"text": "oi"}, "ADDDD"),
    ("POST", "/api/assistant/conversations/{job}/ask", {"text": "oi"}, "ADDDD"),
    ("GET", "/api/assistant/profile", None, "ADDDD"),
    ("PUT", "/api/assistant/profile", {"goal": "health", "days_per_week": 3}, "ADDDD"),
    ("GET", "/api/assistant/escalations?unit_id={u1}", None, "DAADA"),
    ("GET", "/api/assistant/jobs", None, "AAAAA"),
    ("GET", "/api/assistant/jobs/{job}", None, "AAAAA"),
    ("GET", "/api/assistant/members/{m1}/personal-data", None, "ADADA"),
    ("DELETE", "/api/assistant/members/{x_member}/personal-data", None, "DDDDA"),
]
PUBLIC = [("POST", "/api/auth/token"), ("POST", "/api/auth/refresh"), ("POST", "/api/auth/logout")] + [
    ("GET", f"/api/{s}/health") for s in ("auth", "members", "analytics", "vision", "assistant")]


@pytest.fixture(scope="module")
def ctx(api, tokens, world):
    """Targets in unit 1: a class to cancel, a booking of member1 to cancel, an open check-in, a member to erase."""
    from gymchain.common.db import session_scope

    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    managers = bearer(tokens["manager1"])
    cancel_me = api.post("/api/members/classes", json=new_class({"area1": world.areas[world.units[0]][0]}),
                         headers=managers).json()
    spare = api.post("/api/members/classes", json=new_class({"area1": world.areas[world.units[0]][0]}),
                     headers=managers).json()
    booking = api.post("/api/members/bookings", json={"class_id": spare["id"]}, headers=bearer(tokens["member1"]))
    checkin = api.post("/api/members/checkins", json={"member_id": world.members["member1"],
                                                      "area_id": world.areas[world.units[0]][0]}, headers=managers)
    with session_scope() as s:
        x_member = _member(s, world.units[0], "To Erase", f"erase.{stamp}@example.com",
                           valid_cpf(int(stamp[-7:]) + 3), world.plan_id)
    return {"stamp": stamp, "u1": world.units[0], "u2": world.units[1], "m1": world.members["member1"],
            "area1": world.areas[world.units[0]][0], "plan": world.plan_id, "c1": world.classes["c1"],
            "c_cancel": cancel_me["id"], "b_cancel": booking.json()["id"], "checkin": checkin.json()["id"],
            "x_member": x_member, "job": "0" * 32}


def call(api, method, path, body, ctx, token):
    url = path.format(**ctx)
    payload = body(ctx) if callable(body) else body
    headers = bearer(token) if token else {}
    return api.request(method, url, json=payload, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "expected"), TABLE, ids=[f"{m} {p}" for m, p, _, _ in TABLE])
def test_route_authorisation(api, platform, tokens, ctx, method, path, body, expected):
    without = call(api, method, path, body, ctx, None)
    assert without.status_code == 401, f"no token: {without.status_code} {without.text}"
    service = path.split("/")[2]
    with httpx.Client(base_url=platform.services[service], timeout=30) as direct:  # bypassing the gateway
        bypass = call(direct, method, path.replace(f"/api/{service}", "", 1), body, ctx, None)
    assert bypass.status_code == 401, f"service {service} without token: {bypass.status_code} {bypass.text}"
    for role, want in zip(ROLES, expected, strict=True):
        answer = call(api, method, path, body, ctx, tokens[role])
        if want == "D":
            assert answer.status_code == 403, f"{role}: expected 403, got {answer.status_code} {answer.text}"
            assert "\n" not in answer.json()["detail"]
        else:
            assert answer.status_code not in (401, 403) and answer.status_code < 500, \
                f"{role}: expected allowed, got {answer.status_code} {answer.text}"


@pytest.mark.parametrize(("method", "path"), PUBLIC)
def test_public_routes_need_no_token(api, method, path):
    answer = api.request(method, path, **({"json": {"refresh_token": "x" * 40}} if "refresh" in path or
                                           "logout" in path else {"data": {"username": "a", "password": "b"}}
                                          if "token" in path else {}))
    assert answer.status_code not in (403, 500) and (answer.status_code != 401 or path.endswith(("token", "refresh")))


def test_listings_are_unit_scoped(api, tokens, world):
    for role, unit in (("manager1", world.units[0]), ("manager2", world.units[1]), ("trainer1", world.units[0])):
        members = api.get("/api/members/members", params={"limit": 200}, headers=bearer(tokens[role])).json()
        assert members and {m["unit_id"] for m in members} == {unit}
    everyone = api.get("/api/members/members", params={"limit": 200}, headers=bearer(tokens["admin"])).json()
    assert {m["unit_id"] for m in everyone} == set(world.units)
    users = api.get("/api/auth/users", params={"limit": 200}, headers=bearer(tokens["manager2"])).json()
    assert {u["unit_id"] for u in users} == {world.units[1]}


def test_table_covers_every_route_of_every_service(api):
    spec = api.get("/openapi.json").json()
    routes = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in {"get", "post", "put",
                                                                                          "patch", "delete"}}
    covered = {(m, p.split("?")[0].replace("{", "<").replace("}", ">")) for m, p, _, _ in TABLE} | {
        (m, p.replace("{", "<").replace("}", ">")) for m, p in PUBLIC}
    normalised = set()
    for method, path in routes:
        if path == "/health":
            continue
        for name in ("member_id", "unit_id", "class_id", "booking_id", "checkin_id", "job_id", "conversation_id"):
            path = path.replace("{" + name + "}", "<x>")
        normalised.add((method, path))
    placeholders = ("x_member", "m1", "u1", "u2", "c1", "c_cancel", "b_cancel", "checkin", "job")
    covered_norm = set()
    for method, path in covered:
        for name in placeholders:
            path = path.replace(f"<{name}>", "<x>")
        covered_norm.add((method, path))
    assert len(normalised) >= 40 and {p.split("/")[2] for _, p in normalised} == {
        "auth", "members", "analytics", "vision", "assistant"}
    assert normalised - covered_norm == set()
