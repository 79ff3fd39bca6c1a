"""The vision service app (port 8004): ``uvicorn gymchain.vision.app:app``."""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gymchain.common import jobs
from gymchain.common.db import get_session
from gymchain.common.errors import Conflict, Unavailable
from gymchain.common.http import create_app
from gymchain.common.security.rbac import ADMIN, MANAGER, TRAINER, ensure_unit, require_roles, scoped_unit
from gymchain.common.security.tokens import Principal
from gymchain.common.settings import get_settings

DESCRIPTION = """Camera analytics, asynchronously: `POST /jobs/video-analysis` validates a clip reference and
queues it (RabbitMQ `video-analysis`); results land as documents in the `vision_events` collection, read with
`GET /events`. Analysing a member individually (posture feedback) needs that member's camera consent (LGPD).
**The models (people counting and flow, equipment misuse, posture) arrive with issue "gymchain, part 3"**: until
then jobs are accepted and queued, and `GET /events` lists only events that really were recorded."""

app = create_app("vision", DESCRIPTION)
app.include_router(jobs.job_router("vision"))
DB = Annotated[Session, Depends(get_session)]
StaffCaller = Annotated[Principal, Depends(require_roles(TRAINER, MANAGER, ADMIN))]


class VideoJob(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"unit_id": 1, "area_id": 2, "source_uri": "file:///var/gym/cameras/u1-weights/2026-12-06T18-00.mp4",
         "tasks": ["people_count", "equipment_misuse"]}]})

    unit_id: int = Field(ge=1, le=2**62)
    area_id: int = Field(ge=1, le=2**62)
    source_uri: str = Field(min_length=8, max_length=500, pattern=r"^(file|rtsp|s3|https)://[^\s]+$")
    tasks: list[Literal["people_count", "people_flow", "equipment_misuse", "posture"]] = Field(min_length=1,
                                                                                             max_length=4)
    member_id: int | None = Field(None, ge=1, le=2**62, description="required for 'posture' (feedback to one member)")


def member_consents(member_id: int, request: Request) -> bool:
    """Ask the members service (HTTP, the caller's own token) whether the member consented to camera analytics."""
    headers = {"Authorization": request.headers.get("Authorization", "")}
    try:
        answer = httpx.get(f"{get_settings().members_url}/members/{member_id}", headers=headers, timeout=10)
    except httpx.HTTPError:
        raise Unavailable("members service unreachable; cannot check camera consent") from None
    if answer.status_code != 200:
        raise Conflict(f"member {member_id}: cannot read consent ({answer.status_code})")
    return bool(answer.json().get("camera_consent"))


@app.post("/jobs/video-analysis", response_model=jobs.JobOut, status_code=202, tags=["jobs"],
          summary="Queue the analysis of a camera clip (trainer or manager of the unit, admin)")
def video_analysis(body: VideoJob, principal: StaffCaller, db: DB, request: Request) -> jobs.JobOut:
    ensure_unit(principal, body.unit_id)
    if "posture" in body.tasks:
        if body.member_id is None:
            raise Conflict("the 'posture' task needs member_id (feedback goes to one consenting member)")
        if not member_consents(body.member_id, request):
            raise Conflict(f"member {body.member_id} has not consented to camera analytics")
    return jobs.submit(db, service="vision", kind="video-analysis", payload=body.model_dump(mode="json"),
                       principal=principal, unit_id=body.unit_id)


@app.get("/events", tags=["events"], summary="Recorded vision events of your unit, newest first (staff, admin)")
def events(principal: StaffCaller, db: DB, unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
           area_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict]:
    from gymchain.common.docstore import get_collection

    query: dict = {}
    unit = scoped_unit(principal, unit_id)
    if unit is not None:
        query["unit_id"] = unit
    if area_id is not None:
        query["area_id"] = area_id
    cursor = get_collection("vision_events", bind=db.connection()).find(query).sort("at", -1).limit(limit)
    return list(cursor)
