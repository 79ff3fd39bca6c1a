"""The gateway: rate limits (429), request ids end to end, aggregated offline docs, health, unknown routes and
unreachable services."""

from __future__ import annotations

import httpx

from conftest import bearer, free_port, login


def test_rate_limit_answers_429_with_retry_after(platform, tokens):
    # its own Redis prefix: the counters of the run's main gateway (same client IP) must not count here
    url, proc = platform.start_gateway(GYM_RATE_LIMIT_PER_MINUTE="5", GYM_LOGIN_RATE_LIMIT_PER_MINUTE="3",
                                       GYM_REDIS_PREFIX=platform.env["GYM_REDIS_PREFIX"] + "ratelimit-test:")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            codes = [client.get("/api/auth/me", headers=bearer(tokens["member1"])) for _ in range(12)]
            # a window boundary can fall inside the burst: still at most 2 x 5 pass
            passed = [r for r in codes if r.status_code == 200]
            refused = [r for r in codes if r.status_code == 429]
            assert len(passed) + len(refused) == 12 and 5 <= len(passed) <= 10 and refused
            assert int(refused[0].headers["Retry-After"]) >= 1 and "rate limit" in refused[0].json()["detail"]
            # limits are per user: another user still gets through
            assert client.get("/api/auth/me", headers=bearer(tokens["member2"])).status_code == 200
            logins = [client.post("/api/auth/token", data={"username": "nobody@example.com", "password": "x"})
                      for _ in range(8)]
            assert {r.status_code for r in logins} == {401, 429}
    finally:
        proc.terminate()
        proc.wait(10)


def test_request_id_travels_to_the_service_and_back(api, tokens):
    rid = "test-request-0123456789"
    answer = api.get("/api/members/members/999999999", headers=bearer(tokens["admin"]) | {"X-Request-ID": rid})
    assert answer.status_code == 404 and answer.headers["X-Request-ID"] == rid
    assert answer.json() == {"detail": "member 999999999 not found", "request_id": rid}  # written by the service
    fresh = api.get("/api/auth/me", headers=bearer(tokens["admin"]) | {"X-Request-ID": "bad id with spaces"})
    assert fresh.headers["X-Request-ID"] != "bad id with spaces" and len(fresh.headers["X-Request-ID"]) == 32


def test_aggregated_docs_are_served_offline(api):
    page = api.get("/docs")
    assert page.status_code == 200 and "static-offline-docs" in page.text
    assert "cdn.jsdelivr" not in page.text and "unpkg.com" not in page.text
    asset = api.get("/static-offline-docs/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    spec = api.get("/openapi.json").json()
    assert "/api/members/bookings" in spec["paths"] and "/api/auth/token" in spec["paths"]
    booking = spec["paths"]["/api/members/bookings"]["post"]
    assert booking["requestBody"]["content"]["application/json"]["schema"]["$ref"] == \
        "#/components/schemas/members_BookingCreate"
    assert "members_BookingCreate" in spec["components"]["schemas"]


def test_each_service_serves_its_own_offline_docs(platform):
    for name, url in platform.services.items():
        page = httpx.get(f"{url}/docs", timeout=10)
        assert page.status_code == 200 and "static-offline-docs" in page.text, name


def test_health_reports_every_service(api):
    health = api.get("/health").json()
    assert health["status"] == "ok" and health["redis"] == "ok"
    assert set(health["services"]) == {"auth", "members", "analytics", "vision", "assistant"}
    assert all(s["status"] == "ok" and s["database"] == "ok" for s in health["services"].values())


def test_unknown_service_and_unreachable_service(platform, api, tokens):
    assert api.get("/api/payroll/x", headers=bearer(tokens["admin"])).status_code == 404
    url, proc = platform.start_gateway(GYM_VISION_URL=f"http://127.0.0.1:{free_port()}")
    try:
        token = login(url, "admin@gymchain.example.com")["access_token"]
        answer = httpx.get(f"{url}/api/vision/jobs", headers=bearer(token), timeout=30)
        assert answer.status_code == 503 and answer.json()["detail"].startswith("service vision unavailable")
        assert httpx.get(f"{url}/health", timeout=30).json()["services"]["vision"]["status"] == "down"
    finally:
        proc.terminate()
        proc.wait(10)


def test_bad_inputs_get_one_line_4xx(api, tokens, world):
    admin = bearer(tokens["admin"])
    cases = [
        ("POST", "/api/members/classes", {"area_id": 1, "title": "x", "starts_at": "tomorrow", "capacity": 5}),
        ("POST", "/api/members/classes", {"area_id": 1, "title": "Yoga", "starts_at": "2020-01-01T10:00:00Z",
                                          "capacity": 5}),
        ("POST", "/api/members/classes", {"area_id": 1, "title": "Yoga", "starts_at": "2030-01-01T10:00:00Z",
                                          "capacity": 0}),
        ("GET", "/api/members/members?limit=100000", None),
        ("GET", "/api/members/classes?start=2026-01-01T00:00:00Z&end=2027-01-01T00:00:00Z", None),
        ("POST", "/api/members/bookings", {"class_id": "abc"}),
        ("POST", "/api/members/bookings", {"class_id": 1, "member_id": 1, "extra": True}),
        ("POST", "/api/analytics/reports", {"unit_id": 1, "report": "attendance", "period_start": "2026-12-01",
                                            "period_end": "2026-01-01"}),
        ("POST", "/api/vision/jobs/video-analysis", {"unit_id": 1, "area_id": 1, "source_uri": "ftp://x/y.mp4",
                                                     "tasks": ["people_count"]}),
        ("GET", "/api/members/members/0", None),
    ]
    for method, path, body in cases:
        answer = api.request(method, path, json=body, headers=admin)
        assert 400 <= answer.status_code < 500, f"{path}: {answer.status_code} {answer.text}"
        detail = answer.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail, detail
    malformed = api.post("/api/members/bookings", content=b"{not json", headers=admin | {
        "Content-Type": "application/json"})
    assert malformed.status_code == 422 and isinstance(malformed.json()["detail"], str)
