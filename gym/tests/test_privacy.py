"""LGPD: personal data encrypted in the table yet readable through the API, audit rows for reads and changes,
consent, export and erasure."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from conftest import PASSWORD, bearer, valid_cpf


def raw_member(member_id: int) -> dict:
    from gymchain.common.db import get_engine

    with get_engine().connect() as conn:
        return dict(conn.execute(text("SELECT * FROM members WHERE id = :m"), {"m": member_id}).mappings().one())


def audit_actions(member_id: int) -> list[tuple[str, str]]:
    from gymchain.common.db import get_engine

    with get_engine().connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT action, actor_role FROM audit_log WHERE subject_type = 'member' AND subject_id = :m ORDER BY id"),
            {"m": member_id})]


@pytest.fixture
def fresh_member(api, tokens, world):
    """A member registered through the API by manager1, with a login of their own."""
    body = {"unit_id": world.units[0], "full_name": "Daniela Prado", "email": "daniela.prado@example.com",
            "cpf": valid_cpf(987654321), "phone": "+55 11 98888-7777", "birth_date": "1992-03-04"}
    response = api.post("/api/members/members", json=body, headers=bearer(tokens["manager1"]))
    if response.status_code == 409:  # created by an earlier test of this run
        found = api.get("/api/members/members", params={"email": body["email"]}, headers=bearer(tokens["manager1"]))
        return found.json()[0] | {"_body": body}
    assert response.status_code == 201, response.text
    member = response.json()
    login = {"email": body["email"], "password": PASSWORD, "role": "member", "unit_id": world.units[0],
             "member_id": member["id"]}
    assert api.post("/api/auth/users", json=login, headers=bearer(tokens["manager1"])).status_code == 201
    return member | {"_body": body}


def test_pii_is_ciphertext_in_the_table_and_clear_through_the_api(api, tokens, fresh_member):
    body = fresh_member["_body"]
    row = raw_member(fresh_member["id"])
    for column, clear in (("full_name_enc", body["full_name"]), ("email_enc", body["email"]),
                          ("cpf_enc", body["cpf"]), ("phone_enc", body["phone"]), ("birth_date_enc", "1992")):
        assert row[column].startswith("v1.") and clear not in row[column]
    assert body["email"] not in str(row) and body["cpf"] not in str(row)
    shown = api.get(f"/api/members/members/{fresh_member['id']}", headers=bearer(tokens["manager1"])).json()
    assert shown["full_name"] == body["full_name"] and shown["email"] == body["email"]
    assert shown["cpf_masked"] == f"***.{body['cpf'][3:6]}.{body['cpf'][6:9]}-**"
    by_cpf = api.get("/api/members/members", params={"cpf": body["cpf"]}, headers=bearer(tokens["manager1"]))
    assert [m["id"] for m in by_cpf.json()] == [fresh_member["id"]]


def test_user_email_is_encrypted_too(world):
    from gymchain.common.db import get_engine

    with get_engine().connect() as conn:
        stored = conn.execute(text("SELECT email_enc, email_index FROM users WHERE id = :u"),
                              {"u": world.users["manager1"]}).one()
    assert stored.email_enc.startswith("v1.") and "manager1" not in stored.email_enc + stored.email_index


def test_reads_and_changes_are_audited(api, tokens, fresh_member):
    member_id = fresh_member["id"]
    before = len(audit_actions(member_id))
    api.get(f"/api/members/members/{member_id}", headers=bearer(tokens["trainer1"]))
    patched = api.patch(f"/api/members/members/{member_id}", json={"phone": "+55 11 97777-0000"},
                        headers=bearer(tokens["manager1"]))
    assert patched.status_code == 200 and patched.json()["phone"] == "+55 11 97777-0000"
    after = audit_actions(member_id)[before:]
    assert after == [("read", "trainer"), ("update", "manager")]
    trail = api.get("/api/members/audit", params={"subject_id": member_id}, headers=bearer(tokens["manager1"]))
    assert trail.status_code == 200 and {r["action"] for r in trail.json()} >= {"create", "read", "update"}
    assert api.get("/api/members/audit", headers=bearer(tokens["manager2"])).json() == [] or all(
        r["unit_id"] != fresh_member["unit_id"] for r in api.get("/api/members/audit",
                                                                  headers=bearer(tokens["manager2"])).json())


def test_duplicate_cpf_is_409_with_a_clear_message(api, tokens, world, fresh_member):
    body = fresh_member["_body"] | {"email": "someone.else@example.com"}
    response = api.post("/api/members/members", json=body, headers=bearer(tokens["manager1"]))
    assert response.status_code == 409 and response.json()["detail"] == "a member with this CPF already exists"


def test_invalid_cpf_is_422_naming_field_and_value(api, tokens, world):
    body = {"unit_id": world.units[0], "full_name": "X Y", "email": "xy@example.com", "cpf": "123.456.789-00"}
    response = api.post("/api/members/members", json=body, headers=bearer(tokens["manager1"]))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body.cpf: Value error, expected a valid CPF")
    assert "123.456.789-00" in response.json()["detail"]


def test_consent_flag_is_set_by_the_member_and_audited(api, tokens, world):
    member_id = world.members["member2"]
    response = api.put(f"/api/members/members/{member_id}/consent", json={"camera_consent": True},
                       headers=bearer(tokens["member2"]))
    assert response.status_code == 200 and response.json()["camera_consent"] is True
    assert ("consent", "member") in audit_actions(member_id)
    other = api.put(f"/api/members/members/{world.members['member1']}/consent", json={"camera_consent": True},
                    headers=bearer(tokens["member2"]))
    assert other.status_code == 403


def test_export_then_erasure(api, tokens, world, fresh_member):
    from conftest import login

    member_id = fresh_member["id"]
    token = login(api.base_url, fresh_member["_body"]["email"])["access_token"]
    note = api.post(f"/api/members/members/{member_id}/notes", json={"text": "joelho esquerdo sensível"},
                    headers=bearer(tokens["trainer1"]))
    assert note.status_code == 201, note.text
    booked = api.post("/api/members/bookings", json={"class_id": world.classes["c1"], "member_id": member_id},
                      headers=bearer(tokens["manager1"]))
    exported = api.get(f"/api/members/members/{member_id}/export", headers=bearer(token))
    assert exported.status_code == 200
    document = exported.json()
    assert document["member"]["cpf"] == fresh_member["_body"]["cpf"]
    assert [n["text"] for n in document["notes"]] == ["joelho esquerdo sensível"]
    assert any(a["action"] == "create" for a in document["audit_trail"])
    # a trainer may not erase; another member may not erase; the member may
    assert api.post(f"/api/members/members/{member_id}/erase", headers=bearer(tokens["trainer1"])).status_code == 403
    assert api.post(f"/api/members/members/{member_id}/erase", headers=bearer(tokens["member1"])).status_code == 403
    erased = api.post(f"/api/members/members/{member_id}/erase", headers=bearer(token))
    assert erased.status_code == 200, erased.text
    assert erased.json()["status"] == "erased" and erased.json()["full_name"] is None
    row = raw_member(member_id)
    assert all(row[c] is None for c in ("full_name_enc", "email_enc", "email_index", "cpf_enc", "cpf_index",
                                        "phone_enc", "birth_date_enc"))
    notes = api.get(f"/api/members/members/{member_id}/notes", headers=bearer(tokens["trainer1"]))
    assert notes.json() == []
    if booked.status_code == 201:
        mine = api.get(f"/api/members/members/{member_id}/bookings", headers=bearer(tokens["manager1"])).json()
        assert {b["status"] for b in mine} == {"cancelled"}
    relogin = api.post("/api/auth/token", data={"username": fresh_member["_body"]["email"], "password": PASSWORD})
    assert relogin.status_code == 401
    assert ("erase", "member") in audit_actions(member_id)
    assert api.post(f"/api/members/members/{member_id}/erase", headers=bearer(tokens["admin"])).status_code == 409
