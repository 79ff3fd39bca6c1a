"""Job intake shared by the analytics, vision and assistant services.

A job is a document in the docstore collection ``jobs`` (``_id`` = job id, ``status`` queued → running → done |
failed, written by G2's worker runner) plus a message on the RabbitMQ work queue of its kind. The document is
committed first, then the message enqueued: a worker never sees a job whose status document is missing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pika.exceptions import AMQPError
from pydantic import BaseModel
from sqlalchemy.orm import Session

from gymchain.common.db import get_session
from gymchain.common.errors import NotFound, Unavailable
from gymchain.common.security.rbac import ADMIN, MANAGER, current_principal
from gymchain.common.security.tokens import Principal

COLLECTION = "jobs"
Caller = Annotated[Principal, Depends(current_principal)]
DB = Annotated[Session, Depends(get_session)]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class JobOut(BaseModel):
    job_id: str
    kind: str
    service: str
    status: Literal["queued", "running", "retrying", "done", "failed"]
    unit_id: int | None
    requested_by: int
    created_at: datetime
    result: dict[str, Any] | None = None
    error: str | None = None


def _collection(bind=None):
    from gymchain.common.docstore import get_collection

    return get_collection(COLLECTION, bind=bind)


def job_out(doc: dict) -> JobOut:
    return JobOut(job_id=doc["_id"], kind=doc["kind"], service=doc["service"], status=doc["status"],
                  unit_id=doc.get("unit_id"), requested_by=doc["requested_by"],
                  created_at=datetime.fromisoformat(doc["created_at"]), result=doc.get("result"),
                  error=doc.get("error"))


def submit(db: Session, *, service: str, kind: str, payload: dict, principal: Principal,
           unit_id: int | None) -> JobOut:
    """Record the job (status queued), commit, then enqueue it; 503 if the queue is unreachable."""
    from gymchain.common.messaging.rabbit import enqueue_job

    job_id = uuid.uuid4().hex
    doc = {"_id": job_id, "kind": kind, "service": service, "status": "queued", "unit_id": unit_id,
           "requested_by": principal.user_id, "requested_role": principal.role,
           "created_at": datetime.now(UTC).isoformat(), "payload": payload}
    _collection(db.connection()).insert_one(doc)
    db.commit()
    try:
        enqueue_job(kind, payload | {"unit_id": unit_id, "requested_by": principal.user_id}, job_id=job_id)
    except (AMQPError, OSError) as exc:
        _collection().update_one({"_id": job_id}, {"$set": {"status": "failed",
                                                            "error": f"not enqueued: {type(exc).__name__}"}})
        raise Unavailable(f"the job queue is unreachable; job {job_id} was marked failed") from None
    return job_out(doc)


def may_see(principal: Principal, doc: dict) -> bool:
    if principal.role == ADMIN or doc.get("requested_by") == principal.user_id:
        return True
    return principal.role == MANAGER and doc.get("unit_id") == principal.unit_id


def job_router(service: str) -> APIRouter:
    """GET /jobs/{job_id} and GET /jobs for one service's jobs."""
    router = APIRouter(tags=["jobs"])

    @router.get("/jobs/{job_id}", response_model=JobOut,
                summary="A job's status (the requester, a manager of its unit, admin)")
    def get_job(job_id: JobId, principal: Caller, db: DB) -> JobOut:
        doc = _collection(db.connection()).find_one({"_id": job_id, "service": service})
        if doc is None or not may_see(principal, doc):
            raise NotFound(f"job {job_id} not found")
        return job_out(doc)

    @router.get("/jobs", response_model=list[JobOut],
                summary="Recent jobs (yours; managers: their unit's; admin: all)")
    def list_jobs(principal: Caller, db: DB, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[JobOut]:
        query: dict = {"service": service}
        if principal.role == MANAGER:
            query["unit_id"] = principal.unit_id
        elif principal.role != ADMIN:
            query["requested_by"] = principal.user_id
        cursor = _collection(db.connection()).find(query).sort("created_at", -1).limit(limit)
        return [job_out(doc) for doc in cursor]

    return router
