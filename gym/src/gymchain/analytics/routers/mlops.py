"""MLOps routes: batch scoring through RabbitMQ and its results, the model registry, drift alerts, A/B readouts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from gymchain.common import jobs
from gymchain.common.db import get_session
from gymchain.common.errors import NotFound
from gymchain.common.security.rbac import ADMIN, MANAGER, ensure_unit, require_roles, scoped_unit
from gymchain.common.security.tokens import Principal

router = APIRouter()
DB = Annotated[Session, Depends(get_session)]
Staff = Annotated[Principal, Depends(require_roles(MANAGER, ADMIN))]
UnitId = Annotated[int, Path(ge=1, le=2**62)]


class BatchScoringRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"model": "churn"}]})

    model: Literal["churn"] = "churn"
    reasons: bool = True


@router.post("/units/{unit_id}/batch-scoring", response_model=jobs.JobOut, status_code=202, tags=["models"],
             summary="Queue a batch scoring of the unit's members with the promoted churn model (manager, admin)")
def request_batch_scoring(unit_id: UnitId, principal: Staff, db: DB,
                          body: BatchScoringRequest | None = None) -> jobs.JobOut:
    ensure_unit(principal, unit_id)
    if db.execute(sa.text("SELECT 1 FROM units WHERE id = :id"), {"id": unit_id}).scalar() is None:
        raise NotFound(f"unit {unit_id} not found")
    body = body or BatchScoringRequest()
    return jobs.submit(db, service="analytics", kind="batch-scoring",
                       payload={"model": body.model, "reasons": body.reasons, "source": "platform"},
                       principal=principal, unit_id=unit_id)


@router.get("/units/{unit_id}/scores", tags=["models"],
            summary="The newest batch scores of the unit, highest churn risk first (manager, admin)")
def unit_scores(unit_id: UnitId, principal: Staff, db: DB,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    from gymchain.ml.batch import latest_scores

    ensure_unit(principal, unit_id)
    found = latest_scores(db.get_bind(), unit_id, limit)
    if found is None:
        raise NotFound(f"unit {unit_id} has no batch scores yet; POST /units/{unit_id}/batch-scoring first")
    return found


@router.get("/models", tags=["models"], summary="Registered versions of a model: status, metrics, training window "
                                                "(manager, admin)")
def model_versions(principal: Staff, db: DB,
                   name: Annotated[Literal["churn", "recommender"], Query()] = "churn") -> list[dict[str, Any]]:
    from gymchain.ml.registry import versions

    return versions(db.get_bind(), name)


@router.get("/drift/alerts", tags=["models"], summary="Drift alerts, newest first (manager, admin)")
def drift_alerts(principal: Staff, db: DB,
                 limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict[str, Any]]:
    rows = db.execute(sa.text("""SELECT id, created_at, model_name, model_version, kind, retrain_job_id,
                                        details->'drifted' AS drifted, details->'max_psi' AS max_psi,
                                        details->'prediction_psi' AS prediction_psi, details->'at' AS at
                                 FROM ml_alerts ORDER BY id DESC LIMIT :limit"""), {"limit": limit})
    return [dict(r._mapping) for r in rows]


@router.get("/experiments/readout", tags=["experiments"],
            summary="An A/B experiment's readout: conversion per arm, difference with 95% CI, p-value, power note "
                    "(managers: their unit; admin: the chain or one unit)")
def experiment_readout(principal: Staff, db: DB,
                       experiment: Annotated[Literal["rec-strategy"], Query()] = "rec-strategy",
                       unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> dict[str, Any]:
    from gymchain.ml.abtest import EXPERIMENTS, readout

    return readout(db.get_bind(), EXPERIMENTS[experiment], scoped_unit(principal, unit_id))
