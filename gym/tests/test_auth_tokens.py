"""Login, refresh-token rotation, reuse detection (the whole family revoked), logout, and the errors' shape."""

from __future__ import annotations

import jwt

from conftest import PASSWORD, bearer, login


def test_login_returns_short_lived_access_token_with_role_and_unit(api, world):
    pair = login(api.base_url, world.logins["manager1"])
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["role"] == "manager" and claims["unit"] == world.units[0]
    assert claims["exp"] - claims["iat"] == pair["expires_in"] <= 3600
    me = api.get("/api/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == world.logins["manager1"]


def test_wrong_password_is_401_with_one_line_message(api, world):
    response = api.post("/api/auth/token", data={"username": world.logins["member1"], "password": "nope-nope"})
    assert response.status_code == 401
    body = response.json()
    assert body["detail"] == "wrong e-mail or password" and "\n" not in body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_refresh_rotates_and_reuse_revokes_the_family(api, world):
    first = login(api.base_url, world.logins["member2"])
    second = api.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    third = api.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200
    third = third.json()
    # the thief replays the first (spent) token: refused, and the legitimate latest token dies with it
    replay = api.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    latest = api.post("/api/auth/refresh", json={"refresh_token": third["refresh_token"]})
    assert latest.status_code == 401
    # another login (another family) is untouched
    other = login(api.base_url, world.logins["member2"])
    assert api.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 200


def test_logout_revokes_refresh_token(api, world):
    pair = login(api.base_url, world.logins["trainer1"])
    assert api.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    assert api.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_tampered_or_missing_token_is_401(api, tokens):
    token = tokens["admin"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert api.get("/api/auth/me", headers=bearer(forged)).status_code == 401
    assert api.get("/api/auth/me").status_code == 401
    signed_elsewhere = jwt.encode({"sub": "1", "role": "admin", "iss": "gymchain-auth", "iat": 0, "exp": 2**31,
                                   "typ": "access"}, "another-secret-of-enough-length-0123456789", algorithm="HS256")
    assert api.get("/api/auth/me", headers=bearer(signed_elsewhere)).status_code == 401


def test_manager_creates_member_login_in_own_unit_only(api, tokens, world):
    body = {"email": "newtrainer@gymchain.example.com", "password": PASSWORD, "role": "trainer",
            "unit_id": world.units[0]}
    created = api.post("/api/auth/users", json=body, headers=bearer(tokens["manager1"]))
    assert created.status_code == 201, created.text
    assert api.post("/api/auth/users", json=body, headers=bearer(tokens["manager1"])).status_code == 409
    other_unit = body | {"email": "x@gymchain.example.com", "unit_id": world.units[1]}
    assert api.post("/api/auth/users", json=other_unit, headers=bearer(tokens["manager1"])).status_code == 403
    admin = body | {"email": "boss@gymchain.example.com", "role": "admin", "unit_id": None}
    assert api.post("/api/auth/users", json=admin, headers=bearer(tokens["manager1"])).status_code == 403
    login(api.base_url, "newtrainer@gymchain.example.com")


def test_bad_input_is_422_naming_the_field(api, tokens):
    response = api.post("/api/auth/users", json={"email": "not-an-email", "password": "short", "role": "chef"},
                        headers=bearer(tokens["admin"]))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "body.email" in detail and "\n" not in detail


def test_concurrent_refreshes_with_one_token_let_at_most_one_through(platform, world):
    """The token row is locked: of 6 simultaneous refreshes one may win, the rest count as reuse and revoke all."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    pair = login(platform.gateway, world.logins["member3"])

    def refresh(_):
        with httpx.Client(base_url=platform.gateway, timeout=30) as client:
            return client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(refresh, range(6)))
    winners = [a for a in answers if a.status_code == 200]
    assert len(winners) <= 1 and sum(a.status_code == 401 for a in answers) >= 5
    for winner in winners:  # the reuse revoked the family, the winner's new token included
        again = httpx.post(f"{platform.gateway}/api/auth/refresh",
                           json={"refresh_token": winner.json()["refresh_token"]}, timeout=30)
        assert again.status_code == 401
