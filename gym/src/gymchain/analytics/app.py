"""The analytics service app (port 8003): ``uvicorn gymchain.analytics.app:app``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Path, Query
from sqlalchemy.orm import Session

from gymchain.common import erasure, jobs
from gymchain.common.db import get_session
from gymchain.common.errors import Conflict, NotFound, Unavailable
from gymchain.common.http import create_app
from gymchain.common.security.rbac import ADMIN, MANAGER, ensure_unit, require_roles
from gymchain.common.security.tokens import Principal

from .routers import mlops, recommendations, timetable
from .schemas import ChurnRiskList, MemberChurnRiskOut, ReportRequest, RetrainRequest

DESCRIPTION = """Reports, model retraining and batch scoring, run asynchronously: a request is validated, recorded as
a job (docstore collection `jobs`) and put on a RabbitMQ work queue (`report-generation`, `retraining`,
`batch-scoring`); poll `GET /jobs/{job_id}`. The analytics worker (`python -m gymchain.ml.worker`) consumes
`retraining` (a new version is registered and promoted only if it is not worse on a held-out window) and
`batch-scoring` (scores written to `ml_scores`, read with `GET /units/{unit_id}/scores`). Report builders are not
written yet: those jobs are accepted and queued but stay `queued`. No result is ever made up.

Churn risk (issue 16): the active churn model of the registry (`ml_models`, trained with `gymchain train-churn`)
scores a member, or a unit's members, from the platform's own tables at request time, with each member's top SHAP
reasons. Managers see their unit, admins every unit, members never. Recommendations: a member's next classes and
services (and a plan) with a reason each, served by the A/B experiment `rec-strategy` (popularity vs the EASE
model; `GET /experiments/readout`). Drift alerts of the churn model: `GET /drift/alerts`."""

app = create_app("analytics", DESCRIPTION)
app.include_router(jobs.job_router("analytics"))
MEMBER_TABLES = ("ml_scores", "ab_outcomes", "ab_exposures")  # rows keyed by a member id


def erase_member(conn: sa.Connection, member_id: int) -> dict[str, int]:
    """LGPD erasure: the member's batch churn scores (with their SHAP reasons) and A/B exposures and outcomes.
    Churn risk, recommendations and segments are computed at request time from tables that leave erased members
    out (a unit's segments are cached in the process for up to ``timetable.CACHE_SECONDS``)."""
    return {table: conn.execute(sa.text(f"DELETE FROM {table} WHERE member_id = :m"), {"m": member_id}).rowcount
            for table in MEMBER_TABLES}


def export_member(conn: sa.Connection, member_id: int) -> dict[str, list[dict]]:
    """LGPD access: the member's batch churn scores (with their SHAP reasons) and A/B exposures and outcomes."""
    return {table: erasure.rows(conn, f"SELECT * FROM {table} WHERE member_id = :m ORDER BY {order}", member_id)
            for table, order in zip(MEMBER_TABLES, ("scored_at, id", "occurred_at, experiment",
                                                    "first_exposed_at, experiment"), strict=True)}


app.include_router(erasure.personal_data_router("analytics", covers="churn scores and A/B test records",
                                                exporter=export_member, eraser=erase_member))
app.include_router(recommendations.router)
app.include_router(mlops.router)
app.include_router(timetable.router)
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


Id = Annotated[int, Path(ge=1, le=2**62)]


def churn_model(db: Session):
    """The active churn model (cached per version) or a one-line 404/503."""
    from gymchain.ml.registry import active_model

    try:
        version = db.execute(sa.text("SELECT max(version) FROM ml_models WHERE name = 'churn' AND active")).scalar()
    except sa.exc.ProgrammingError:
        db.rollback()
        raise Unavailable("the model registry table ml_models is missing; run 'gymchain migrate'") from None
    if version is None:
        raise NotFound("no churn model is registered yet; an admin trains one with 'gymchain train-churn'")
    if _MODEL_CACHE.get("version") != version:
        booster, metadata = active_model(db.get_bind())
        _MODEL_CACHE.update(version=metadata["version"], booster=booster, metadata=metadata)
    return _MODEL_CACHE["booster"], _MODEL_CACHE["metadata"]


_MODEL_CACHE: dict = {}


def _row(member_id: int, row, horizon: int) -> dict:
    return {"member_id": int(member_id), "unit_id": int(row.unit_id), "churn_risk": round(float(row.churn_risk), 5),
            "horizon_days": horizon, "reasons": row.reasons}


@app.get("/members/{member_id}/churn-risk", response_model=MemberChurnRiskOut, tags=["churn"],
         summary="A member's churn risk with its top reasons (manager of the member's unit, admin)")
def member_churn_risk(member_id: Id, principal: Annotated[Principal, Depends(require_roles(MANAGER, ADMIN))],
                      db: DB) -> MemberChurnRiskOut:
    from gymchain.ml.scoring import score_platform

    unit_id = db.execute(sa.text("SELECT unit_id FROM members WHERE id = :id AND erased_at IS NULL"),
                         {"id": member_id}).scalar()
    if unit_id is None:
        raise NotFound(f"member {member_id} not found")
    ensure_unit(principal, unit_id)
    booster, metadata = churn_model(db)
    now = datetime.now(UTC)
    frame = score_platform(db.get_bind(), booster, member_ids=[member_id], at=now)
    if frame.empty:
        raise Conflict(f"member {member_id} has no running contract, so there is no churn risk to give")
    row = next(frame.itertuples())
    return MemberChurnRiskOut(**_row(member_id, row, metadata["horizon_days"]), model_version=metadata["version"],
                              scored_at=now.isoformat(timespec="seconds"))


@app.get("/units/{unit_id}/churn-risk", response_model=ChurnRiskList, tags=["churn"],
         summary="The unit's members at risk, highest churn risk first, with reasons (manager of the unit, admin)")
def unit_churn_risk(unit_id: Id, principal: Annotated[Principal, Depends(require_roles(MANAGER, ADMIN))], db: DB,
                    limit: Annotated[int, Query(ge=1, le=200)] = 20) -> ChurnRiskList:
    from gymchain.ml.scoring import score_platform

    ensure_unit(principal, unit_id)
    if db.execute(sa.text("SELECT 1 FROM units WHERE id = :id"), {"id": unit_id}).scalar() is None:
        raise NotFound(f"unit {unit_id} not found")
    booster, metadata = churn_model(db)
    now = datetime.now(UTC)
    frame = score_platform(db.get_bind(), booster, unit_id=unit_id, at=now)
    members = [_row(member_id, row, metadata["horizon_days"]) for member_id, row in
               zip(frame.index[:limit], frame.head(limit).itertuples(), strict=True)]
    return ChurnRiskList(unit_id=unit_id, model_version=metadata["version"],
                         scored_at=now.isoformat(timespec="seconds"), horizon_days=metadata["horizon_days"],
                         active_members=len(frame), members=members)
