"""The analytics service app (port 8003): ``uvicorn gymchain.analytics.app:app``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from gymchain.common import jobs
from gymchain.common.db import get_session
from gymchain.common.http import create_app
from gymchain.common.security.rbac import ADMIN, MANAGER, ensure_unit, require_roles
from gymchain.common.security.tokens import Principal

from .schemas import ReportRequest, RetrainRequest

DESCRIPTION = """Reports and model retraining, run asynchronously: a request is validated, recorded as a job
(docstore collection `jobs`) and put on a RabbitMQ work queue (`report-generation`, `retraining`); poll
`GET /jobs/{job_id}`. **The models and report builders arrive with issue "gymchain, part 2"**: until then jobs are
accepted and queued but no worker consumes them, so they stay `queued`. No result is ever made up."""

app = create_app("analytics", DESCRIPTION)
app.include_router(jobs.job_router("analytics"))
DB = Annotated[Session, Depends(get_session)]


@app.post("/reports", response_model=jobs.JobOut, status_code=202, tags=["reports"],
          summary="Queue a report for a unit and period (manager of the unit, admin)")
def request_report(body: ReportRequest, principal: Annotated[Principal, Depends(require_roles(MANAGER, ADMIN))],
                   db: DB) -> jobs.JobOut:
    ensure_unit(principal, body.unit_id)
    return jobs.submit(db, service="analytics", kind="report-generation", payload=body.model_dump(mode="json"),
                       principal=principal, unit_id=body.unit_id)


@app.post("/retraining", response_model=jobs.JobOut, status_code=202, tags=["models"],
          summary="Queue a retraining of one model (admin)")
def request_retraining(body: RetrainRequest, principal: Annotated[Principal, Depends(require_roles(ADMIN))],
                       db: DB) -> jobs.JobOut:
    return jobs.submit(db, service="analytics", kind="retraining", payload=body.model_dump(mode="json"),
                       principal=principal, unit_id=None)
