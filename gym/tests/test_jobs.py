"""Job intake of analytics, vision and assistant: a job document (status queued) and a message on the real
RabbitMQ work queue carrying the same job id; status readable by the requester only."""

from __future__ import annotations

import json

from conftest import bearer


def queued_job_ids(rabbit_module, channel, kind: str) -> list[str]:
    """Drain the run's queue of ``kind`` (per-run suffix) and return the job ids found."""
    ids = []
    while True:
        method, _props, body = channel.basic_get(rabbit_module.queue_name(kind), auto_ack=True)
        if method is None:
            return ids
        ids.append(json.loads(body)["job_id"])


def test_report_request_is_recorded_and_enqueued(api, tokens, world, rabbit):
    module, channel = rabbit
    body = {"unit_id": world.units[0], "report": "occupancy", "period_start": "2026-11-01",
            "period_end": "2026-11-30"}
    answer = api.post("/api/analytics/reports", json=body, headers=bearer(tokens["manager1"]))
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["status"] == "queued" and job["kind"] == "report-generation"
    assert job["job_id"] in queued_job_ids(module, channel, "report-generation")
    status = api.get(f"/api/analytics/jobs/{job['job_id']}", headers=bearer(tokens["manager1"]))
    assert status.status_code == 200 and status.json()["status"] == "queued"
    assert api.get(f"/api/analytics/jobs/{job['job_id']}", headers=bearer(tokens["manager2"])).status_code == 404
    assert api.get(f"/api/vision/jobs/{job['job_id']}", headers=bearer(tokens["admin"])).status_code == 404
    listed = api.get("/api/analytics/jobs", headers=bearer(tokens["manager1"])).json()
    assert job["job_id"] in [j["job_id"] for j in listed]


def test_posture_analysis_needs_the_members_consent(api, tokens, world, rabbit):
    module, channel = rabbit
    member = world.members["member1"]
    api.put(f"/api/members/members/{member}/consent", json={"camera_consent": False}, headers=bearer(tokens["admin"]))
    body = {"unit_id": world.units[0], "area_id": world.areas[world.units[0]][0], "member_id": member,
            "source_uri": "file:///clips/squat.mp4", "tasks": ["posture"]}
    refused = api.post("/api/vision/jobs/video-analysis", json=body, headers=bearer(tokens["trainer1"]))
    assert refused.status_code == 409 and "not consented" in refused.json()["detail"]
    api.put(f"/api/members/members/{member}/consent", json={"camera_consent": True}, headers=bearer(tokens["member1"]))
    accepted = api.post("/api/vision/jobs/video-analysis", json=body, headers=bearer(tokens["trainer1"]))
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["job_id"] in queued_job_ids(module, channel, "video-analysis")


def test_assistant_message_is_stored_and_its_reply_job_queued(api, tokens, rabbit):
    module, channel = rabbit
    member = bearer(tokens["member1"])
    conversation = api.post("/api/assistant/conversations", json={"title": "Pernas"}, headers=member).json()
    sent = api.post(f"/api/assistant/conversations/{conversation['_id']}/messages",
                    json={"text": "Tem aula de spinning amanhã?"}, headers=member)
    assert sent.status_code == 202, sent.text
    assert sent.json()["job_id"] in queued_job_ids(module, channel, "assistant-reply")
    stored = api.get(f"/api/assistant/conversations/{conversation['_id']}", headers=member).json()
    assert [m["text"] for m in stored["messages"]] == ["Tem aula de spinning amanhã?"]
    other = api.get(f"/api/assistant/conversations/{conversation['_id']}", headers=bearer(tokens["member2"]))
    assert other.status_code == 404
