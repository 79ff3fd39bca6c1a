"""LGPD: personal data encrypted in the table yet readable through the API, audit rows for reads and changes,
consent, export and erasure (including what the assistant, vision and analytics services keep about a member)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from conftest import PASSWORD, bearer, free_port, login, start_uvicorn, stop_processes, valid_cpf, wait_healthy

TEST_EXPERIMENT = "lgpd-erasure-test"  # not rec-strategy, whose readout other tests check


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


def register(api, tokens, body: dict) -> dict:
    """A member registered through the API by manager1, with a login of their own (``_body``: what was sent)."""
    response = api.post("/api/members/members", json=body, headers=bearer(tokens["manager1"]))
    if response.status_code == 409:  # created by an earlier test of this run
        found = api.get("/api/members/members", params={"email": body["email"]}, headers=bearer(tokens["manager1"]))
        return found.json()[0] | {"_body": body}
    assert response.status_code == 201, response.text
    member = response.json()
    login = {"email": body["email"], "password": PASSWORD, "role": "member", "unit_id": body["unit_id"],
             "member_id": member["id"]}
    assert api.post("/api/auth/users", json=login, headers=bearer(tokens["manager1"])).status_code == 201
    return member | {"_body": body}


@pytest.fixture
def fresh_member(api, tokens, world):
    """Daniela, registered by manager1, with a login of her own."""
    return register(api, tokens, {
        "unit_id": world.units[0], "full_name": "Daniela Prado", "email": "daniela.prado@example.com",
        "cpf": valid_cpf(987654321), "phone": "+55 11 98888-7777", "birth_date": "1992-03-04"})


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


def other_services_data(api, tokens, world, member: dict) -> dict:
    """A member's data in the assistant, vision and analytics services, written the way those services write it:
    a conversation and a training profile through the API; a posture job queued through the API whose result is
    stored by the vision worker's own writers; an A/B exposure logged by the analytics code, and its outcome from
    a booking of the recommended class (through the API, after a contract)."""
    from gymchain.common.db import get_engine
    from gymchain.common.docstore import get_collection
    from gymchain.common.messaging.rabbit import jobs_collection_status
    from gymchain.ml import abtest
    from gymchain.vision.schemas import VideoJob
    from gymchain.vision.worker import persist

    token = bearer(login(api.base_url, member["_body"]["email"])["access_token"])
    conversation = api.post("/api/assistant/conversations", json={"title": "Joelho"}, headers=token).json()
    sent = api.post(f"/api/assistant/conversations/{conversation['_id']}/messages",
                    json={"text": "Meu joelho dói no agachamento"}, headers=token)
    assert sent.status_code == 202, sent.text
    profile = api.put("/api/assistant/profile", json={"goal": "strength", "days_per_week": 3}, headers=token)
    assert profile.status_code == 200, profile.text
    consent = api.put(f"/api/members/members/{member['id']}/consent", json={"camera_consent": True}, headers=token)
    assert consent.status_code == 200, consent.text
    body = {"unit_id": world.units[0], "area_id": world.areas[world.units[0]][0], "member_id": member["id"],
            "source_uri": "file:///clips/squat.npz", "tasks": ["posture", "equipment_misuse"]}
    queued = api.post("/api/vision/jobs/video-analysis", json=body, headers=bearer(tokens["trainer1"]))
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]
    result = {"tasks": body["tasks"], "posture": {
        "exercise": "squat", "rep_count": 2, "reps": [{"rep": 1, "errors": []}, {"rep": 2, "errors": ["knees_in"]}],
        "alerts": [{"rule": "unsafe_lift", "severity": "high", "source": "rule", "at_s": 3.5}]}}
    experiment = dataclasses.replace(abtest.EXPERIMENTS["rec-strategy"], name=TEST_EXPERIMENT)
    with get_engine().begin() as conn:
        result["stored"] = persist(conn, job_id, VideoJob(**body), result, {})
        abtest.log_exposure(conn, experiment, member["id"], world.units[0], "model", datetime.now(UTC),
                            {"items": ["class:yoga c1"]})
    jobs_collection_status(get_collection("jobs"))(job_id, "done", {"attempts": 1, "result": result | {
        "frames_stored": keep_frames(job_id, 2)}})
    contract = api.post("/api/members/contracts", json={"member_id": member["id"], "plan_id": world.plan_id,
                                                        "starts_on": date.today().isoformat()},
                        headers=bearer(tokens["manager1"]))
    assert contract.status_code == 201, contract.text
    booked = api.post("/api/members/bookings", json={"class_id": world.classes["c1"]}, headers=token)
    assert booked.status_code == 201, booked.text  # the recommended class: the experiment's outcome
    with get_engine().begin() as conn:
        abtest.record_booked_recommended(conn, experiment)
    return {"token": token, "job": job_id}


def frames_dir(job_id: str) -> Path:
    from gymchain.vision.config import get_vision_settings

    return get_vision_settings().frames_dir / job_id  # the run's GYM_VISION_FRAMES_DIR (conftest), as the services'


def keep_frames(job_id: str, count: int) -> int:
    """Frames the vision worker keeps with GYM_VISION_STORE_FRAMES=true: one JPEG per sample under <job id>/ (its
    ``frame_keeper`` draws them with OpenCV, which is in the worker's own venv; the bytes do not matter here)."""
    directory = frames_dir(job_id)
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (directory / f"frame-{index:06d}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG \xff\xd9")
    return count


def score_batch(unit_id: int, member_ids: list[int]) -> None:
    """A batch churn-scoring run over the members, written by the analytics worker's own writer."""
    import pandas as pd

    from gymchain.common.db import get_engine
    from gymchain.ml.batch import write_scores

    frame = pd.DataFrame({"score": [0.7] * len(member_ids)}, index=member_ids)
    write_scores(get_engine(), uuid.uuid4().hex, unit_id, 1, frame,
                 [[{"feature": "days_since_last_visit", "value": 40}]] * len(member_ids))


def data_left(member_id: int, job_id: str) -> dict:
    """What the other services' stores still hold about a member, read straight from the stores."""
    from gymchain.common.db import get_engine
    from gymchain.common.docstore import get_collection

    with get_engine().connect() as conn:
        rows = {table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE member_id = :m"),
                                    {"m": member_id}).scalar_one()
                for table in ("assistant_profiles", "ml_scores", "ab_exposures", "ab_outcomes")}
    documents = {name: get_collection(name).count_documents({"member_id": member_id})
                 for name in ("assistant_conversations", "vision_events")}
    job = get_collection("jobs").find_one({"_id": job_id})
    frames = frames_dir(job_id)
    return rows | documents | {"jobs": get_collection("jobs").count_documents({"payload.member_id": member_id}),
                               "job_reps": len(job["result"]["posture"].get("reps", [])),
                               "frames": len(list(frames.iterdir())) if frames.is_dir() else 0}


def members_with_data(api, tokens, world, people) -> tuple[list[dict], dict[int, dict]]:
    """Register (name, email, cpf digits) members in the first unit, give each data in assistant, vision and
    analytics (other_services_data) and a churn score; returns the members and what was seeded per member id."""
    members = [register(api, tokens, {"unit_id": world.units[0], "full_name": name, "email": email,
                                      "cpf": valid_cpf(cpf)}) for name, email, cpf in people]
    seeded = {m["id"]: other_services_data(api, tokens, world, m) for m in members}
    score_batch(world.units[0], list(seeded))
    return members, seeded


def test_erasure_covers_assistant_vision_and_analytics_data(api, tokens, world, rabbit):
    from gymchain.common.db import get_engine
    from gymchain.common.docstore import get_collection

    (erased, kept), seeded = members_with_data(api, tokens, world, (
        ("Eduardo Nunes", "eduardo.nunes@example.com", 876543210),
        ("Fernanda Reis", "fernanda.reis@example.com", 765432109)))
    everything = {"assistant_profiles": 1, "ml_scores": 1, "ab_exposures": 1, "ab_outcomes": 1,
                  "assistant_conversations": 1, "vision_events": 1, "jobs": 1, "job_reps": 2, "frames": 2}
    assert [data_left(m, seeded[m]["job"]) for m in seeded] == [everything, everything]

    answer = api.post(f"/api/members/members/{erased['id']}/erase", headers=seeded[erased["id"]]["token"])
    assert answer.status_code == 200, answer.text
    assert data_left(erased["id"], seeded[erased["id"]]["job"]) == dict.fromkeys(everything, 0)
    assert data_left(kept["id"], seeded[kept["id"]]["job"]) == everything
    # what is left of the erased member's posture job is about no one: counts and the misuse alert
    job_id = seeded[erased["id"]]["job"]
    job = get_collection("jobs").find_one({"_id": job_id})
    assert job["result"]["posture"]["rep_count"] == 2 and "member_id" not in job["payload"]
    assert not frames_dir(job_id).exists()  # the frames kept for the member's job went with it
    assert {d["kind"] for d in get_collection("vision_events").find({"job_id": job_id})} == {"video_summary",
                                                                                            "misuse_alert"}
    with get_engine().connect() as conn:  # the append-only stream never carried the member: nothing to tombstone
        events = conn.execute(text("SELECT payload FROM outbox_events WHERE payload->>'job_id' = :j"),
                              {"j": job_id}).scalars().all()
        details = conn.execute(text("SELECT detail FROM audit_log WHERE action = 'erase' AND subject_type = "
                                    "'member' AND subject_id = :m ORDER BY id"), {"m": erased["id"]}).scalars().all()
    assert len(events) == 2 and all("member_id" not in e for e in events)
    # through the API too (the erased member's access token lives on until it expires)
    erased_token, kept_token = seeded[erased["id"]]["token"], seeded[kept["id"]]["token"]
    assert api.get("/api/assistant/conversations", headers=erased_token).json() == []
    assert api.get("/api/assistant/profile", headers=erased_token).status_code == 404
    assert len(api.get("/api/assistant/conversations", headers=kept_token).json()) == 1
    # one audit row per service, then the members service's own with what each service erased
    assert [d.get("service") for d in details] == ["assistant", "vision", "analytics", None]
    assert details[-1]["elsewhere"] == {
        "assistant": {"assistant_conversations": 1, "assistant_profiles": 1},
        "vision": {"vision_events": 1, "jobs": 1, "frames": 2},
        "analytics": {"ml_scores": 1, "ab_outcomes": 1, "ab_exposures": 1}}
    # a service's erasure is idempotent: a retry after a failure finds nothing left
    again = api.delete(f"/api/analytics/members/{erased['id']}/personal-data", headers=bearer(tokens["admin"]))
    assert again.status_code == 200 and again.json()["erased"] == {"ml_scores": 0, "ab_outcomes": 0,
                                                                    "ab_exposures": 0}


SERVICES_ELSEWHERE = ("assistant", "vision", "analytics")


def test_export_covers_assistant_vision_and_analytics_data(api, tokens, world, rabbit):
    from gymchain.common.db import get_engine

    (exported, other), seeded = members_with_data(api, tokens, world, (
        ("Gabriel Lima", "gabriel.lima@example.com", 654321098),
        ("Helena Souza", "helena.souza@example.com", 543210987)))
    member_id, job_id, token = exported["id"], seeded[exported["id"]]["job"], seeded[exported["id"]]["token"]

    answer = api.get(f"/api/members/members/{member_id}/export", headers=token)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assistant, vision, analytics = (document[s] for s in SERVICES_ELSEWHERE)
    [conversation] = assistant["assistant_conversations"]
    assert conversation["title"] == "Joelho" and conversation["member_id"] == member_id
    assert [m["text"] for m in conversation["messages"] if m.get("role") == "member"] == [
        "Meu joelho dói no agachamento"]
    [profile] = assistant["assistant_profiles"]
    assert profile["goal"] == "strength" and profile["days_per_week"] == 3
    [feedback] = vision["vision_events"]
    assert feedback["kind"] == "posture_feedback" and feedback["rep_count"] == 2 and len(feedback["reps"]) == 2
    [job] = vision["jobs"]
    assert job["_id"] == job_id and job["payload"]["member_id"] == member_id and "requested_by" not in job
    assert [(f["job_id"], f["name"]) for f in vision["frames"]] == [(job_id, "frame-000000.jpg"),
                                                                     (job_id, "frame-000001.jpg")]
    assert all(set(f) == {"job_id", "name", "size_bytes", "saved_at"} for f in vision["frames"])  # no image bytes
    [score] = analytics["ml_scores"]
    assert score["score"] == 0.7 and score["details"] == {"reasons": [{"feature": "days_since_last_visit",
                                                                        "value": 40}]}
    assert [e["experiment"] for e in analytics["ab_exposures"]] == [TEST_EXPERIMENT]
    assert [o["experiment"] for o in analytics["ab_outcomes"]] == [TEST_EXPERIMENT]
    records = [r for service in SERVICES_ELSEWHERE for store, rs in document[service].items() if store != "frames"
               for r in rs]
    assert {r["member_id"] for r in records if "member_id" in r} == {member_id}  # nothing of the other member

    # a manager of the member's unit and an admin may export too (the services check the unit themselves)
    for role in ("manager1", "admin"):
        by_staff = api.get(f"/api/members/members/{member_id}/export", headers=bearer(tokens[role]))
        assert by_staff.status_code == 200, by_staff.text
        assert {s: {k: len(v) for k, v in by_staff.json()[s].items()} for s in SERVICES_ELSEWHERE} == {
            s: {k: len(v) for k, v in document[s].items()} for s in SERVICES_ELSEWHERE}
    # another member, and a manager of another unit, may not: at the members service nor at each service
    other_token = seeded[other["id"]]["token"]
    for headers in (other_token, bearer(tokens["manager2"]), bearer(tokens["trainer1"])):
        assert api.get(f"/api/members/members/{member_id}/export", headers=headers).status_code == 403
    for service in SERVICES_ELSEWHERE:
        for headers in (other_token, bearer(tokens["manager2"]), bearer(tokens["trainer1"])):
            refused = api.get(f"/api/{service}/members/{member_id}/personal-data", headers=headers)
            assert refused.status_code == 403, f"{service}: {refused.status_code} {refused.text}"
    # every service audits the export in its own row, the members service with what each one gave
    with get_engine().connect() as conn:
        details = conn.execute(text("SELECT detail FROM audit_log WHERE action = 'export' AND subject_type = "
                                    "'member' AND subject_id = :m ORDER BY id"), {"m": member_id}).scalars().all()
    assert [d.get("service") for d in details[:4]] == ["assistant", "vision", "analytics", None]
    assert details[0] == {"service": "assistant", "assistant_conversations": 1, "assistant_profiles": 1}
    assert details[3]["elsewhere"] == {
        "assistant": {"assistant_conversations": 1, "assistant_profiles": 1},
        "vision": {"vision_events": 1, "jobs": 1, "frames": 2},
        "analytics": {"ml_scores": 1, "ab_outcomes": 1, "ab_exposures": 1}}

    # after the erasure the other services have nothing left to export about the member; the other one keeps hers
    assert api.post(f"/api/members/members/{member_id}/erase", headers=token).status_code == 200
    after = api.get(f"/api/members/members/{member_id}/export", headers=bearer(tokens["admin"]))
    assert after.status_code == 200, after.text
    assert {s: {k: len(v) for k, v in after.json()[s].items()} for s in SERVICES_ELSEWHERE} == {
        "assistant": {"assistant_conversations": 0, "assistant_profiles": 0},
        "vision": {"vision_events": 0, "jobs": 0, "frames": 0},
        "analytics": {"ml_scores": 0, "ab_outcomes": 0, "ab_exposures": 0}}
    kept = api.get(f"/api/members/members/{other['id']}/export", headers=other_token).json()
    assert {s: {k: len(v) for k, v in kept[s].items()} for s in SERVICES_ELSEWHERE} == details[3]["elsewhere"]


def test_export_is_503_naming_a_service_that_is_unreachable_or_refuses(platform, tokens, world, tmp_path):
    """Never a partial export: a members service whose vision is down (a closed port), and one whose analytics
    answers 404 (the auth service stands in for it), both refuse with one line naming the service."""
    closed = f"http://127.0.0.1:{free_port()}"
    procs = {}
    for broken, url in (("vision", closed), ("analytics", platform.services["auth"])):
        port = free_port()
        procs[broken] = (f"http://127.0.0.1:{port}", start_uvicorn(
            "gymchain.members.app", port, platform.env | {f"GYM_{broken.upper()}_URL": url}, tmp_path))
    try:
        for broken, (url, proc) in procs.items():
            wait_healthy(url, proc)
            for role in ("member1", "admin"):
                answer = httpx.get(f"{url}/members/{world.members['member1']}/export",
                                   headers=bearer(tokens[role]), timeout=30)
                assert answer.status_code == 503, answer.text
                detail = answer.json()["detail"]
                assert detail.startswith(f"{broken} service ") and "\n" not in detail
                assert "exported" in detail
    finally:
        stop_processes([proc for _, proc in procs.values()])
