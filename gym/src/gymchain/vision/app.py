"""The vision service app (port 8004): ``uvicorn gymchain.vision.app:app``."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import httpx
from fastapi import Depends, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from gymchain.common import erasure, jobs
from gymchain.common.db import get_session
from gymchain.common.errors import Conflict, NotFound, Unavailable
from gymchain.common.http import create_app
from gymchain.common.security.rbac import ADMIN, MANAGER, TRAINER, ensure_unit, require_roles, scoped_unit
from gymchain.common.security.tokens import Principal
from gymchain.common.settings import get_settings
from gymchain.vision import report
from gymchain.vision.schemas import VideoJob

DESCRIPTION = """Camera analytics, asynchronously: `POST /jobs/video-analysis` validates a clip reference (a video
file, or a landmark segment computed at the camera) and queues it (RabbitMQ `video-analysis`). The vision worker
(`python -m gymchain.vision.worker`, its own venv with MediaPipe) counts people and their flows between areas
(background subtraction + tracking + virtual zones/lines), gives per-rep posture feedback (MediaPipe Pose
landmarks → joint angles → rep rules) and raises equipment-misuse alerts (rules + a fine-tuned classifier).
Results: the job (`GET /jobs/{id}`), a report a trainer reads (`GET /jobs/{id}/report`), documents in
`vision_events` (`GET /events`), occupancy/flow time series and `vision` stream events. Posture feedback for a
member needs that member's camera consent (LGPD), checked at intake and again by the worker; frames are not stored
unless the worker is configured to (then a member's export lists those of their posture jobs and their erasure
deletes them). Method and measured accuracy on synthetic data: gym/docs/vision.md."""

app = create_app("vision", DESCRIPTION)
app.include_router(jobs.job_router("vision"))
DB = Annotated[Session, Depends(get_session)]
StaffCaller = Annotated[Principal, Depends(require_roles(TRAINER, MANAGER, ADMIN))]
JOB_ID = re.compile(r"[0-9a-f]{32}")


def member_jobs(conn, member_id: int) -> list[dict]:
    """The member's posture jobs (those whose payload names the member), oldest first."""
    return list(jobs._collection(conn).find({"service": "vision", "payload.member_id": member_id})
                .sort("created_at", 1))


def saved_frames(job_id: str) -> list[Path]:
    """The annotated frames the worker kept for a job (``GYM_VISION_STORE_FRAMES=true``) under
    ``GYM_VISION_FRAMES_DIR/<job id>/``, which this service must share with the worker to export and erase them."""
    from gymchain.vision.config import get_vision_settings

    if not JOB_ID.fullmatch(job_id):  # ids are uuid hex: never a path outside the frames directory
        return []
    directory = get_vision_settings().frames_dir / job_id
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def export_member(conn, member_id: int) -> dict[str, list[dict]]:
    """LGPD access: the member's posture feedback, their posture jobs, and the frames kept for those jobs listed by
    name, time and size (the images themselves stay on the server's disk)."""
    from gymchain.common.docstore import get_collection

    posture_jobs = member_jobs(conn, member_id)
    frames = [{"job_id": job["_id"], "name": frame.name, "size_bytes": stat.st_size,
               "saved_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()}
              for job in posture_jobs for frame in saved_frames(job["_id"]) for stat in (frame.stat(),)]
    return {"vision_events": list(get_collection("vision_events", bind=conn).find({"member_id": member_id})
                                  .sort("at", 1)),
            "jobs": [{k: v for k, v in job.items() if k not in ("requested_by", "requested_role")}
                     for job in posture_jobs],
            "frames": frames}


def erase_member(conn, member_id: int) -> dict[str, int]:
    """LGPD erasure: the member's posture feedback and the frames kept for their posture jobs are deleted; their
    posture jobs keep the counts and misuse alerts (about no one, as in misuse-only monitoring) but lose the member
    id and the per-rep feedback. The frames go first: once the jobs lose the member id nothing links them to the
    member, and a failure after the files are gone leaves the jobs to be found again by a retry."""
    from gymchain.common.docstore import get_collection

    deleted_frames = 0
    for job in member_jobs(conn, member_id):
        frames = saved_frames(job["_id"])
        for frame in frames:
            frame.unlink(missing_ok=True)
        deleted_frames += len(frames)
        if frames:
            with contextlib.suppress(OSError):  # not empty: something other than frames, left alone
                frames[0].parent.rmdir()
    feedback = get_collection("vision_events", bind=conn).delete_many({"member_id": member_id})
    posture_jobs = jobs._collection(conn).update_many({"service": "vision", "payload.member_id": member_id},
                                                      {"$unset": {"payload.member_id": "", "result.posture.reps": ""}})
    return {"vision_events": feedback.deleted_count, "jobs": posture_jobs.modified_count, "frames": deleted_frames}


app.include_router(erasure.personal_data_router("vision", covers="posture feedback, posture jobs and saved frames",
                                                exporter=export_member, eraser=erase_member))


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


@app.get("/jobs/{job_id}/report", response_class=PlainTextResponse, tags=["jobs"],
         summary="A video job's result as a Markdown report for trainers (the requester, a manager of its unit, admin)")
def job_report(job_id: jobs.JobId, principal: jobs.Caller, db: DB,
               lang: Annotated[Literal["en", "pt"], Query(description="language of the report")] = "en"
               ) -> PlainTextResponse:
    doc = jobs._collection(db.connection()).find_one({"_id": job_id, "service": "vision"})
    if doc is None or not jobs.may_see(principal, doc):
        raise NotFound(f"job {job_id} not found")
    if doc["status"] not in ("done", "failed"):
        raise Conflict(f"job {job_id} is {doc['status']}: the report is ready when it is done")
    return PlainTextResponse(report.render(jobs.job_out(doc).model_dump(mode="json"), lang),
                             media_type="text/markdown; charset=utf-8")
