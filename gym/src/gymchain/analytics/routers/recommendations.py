"""``GET /members/{member_id}/recommendations``: a member's next classes/services (and a plan) with reasons.

The promoted recommender (``ml_models`` name ``recommender``) scores the member's history read from the platform's
bookings and contracts at request time. The strategy follows the member's arm of the A/B experiment
``rec-strategy`` (A: popularity, B: the model); when the member themselves looks, the exposure is logged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import numpy as np
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from gymchain.common.db import get_session
from gymchain.common.errors import NotFound, Unavailable
from gymchain.common.security.rbac import MEMBER, current_principal, ensure_member_access
from gymchain.common.security.tokens import Principal

router = APIRouter(tags=["recommendations"])
DB = Annotated[Session, Depends(get_session)]
_CACHE: dict = {}


class Recommendation(BaseModel):
    item: str = Field(description="'class:<type>', 'service:<name>' or 'plan:<code>'")
    kind: str
    name: str
    score: float
    reason: str


class RecommendationsOut(BaseModel):
    member_id: int
    unit_id: int
    strategy: str = Field(description="'model' or 'popularity' (the member's A/B arm)")
    experiment: str
    model_version: int
    items: list[Recommendation]
    plan: Recommendation | None = Field(None, description="another plan the member may prefer, if any")
    generated_at: str


def recommender(db: Session):
    from gymchain.ml.registry import promoted_recommender

    try:
        version = db.execute(sa.text("SELECT max(version) FROM ml_models WHERE name = 'recommender' AND active")
                             ).scalar()
    except sa.exc.ProgrammingError:
        db.rollback()
        raise Unavailable("the model registry table ml_models is missing; run 'gymchain migrate'") from None
    if version is None:
        raise NotFound("no recommender is registered yet; an admin trains one with 'gymchain train-recommender'")
    if _CACHE.get("version") != version:
        model, meta = promoted_recommender(db.get_bind())
        _CACHE.update(version=meta["version"], model=model)
    return _CACHE["model"], _CACHE["version"]


def _out(rec: dict) -> Recommendation:
    from gymchain.ml.recommend import label

    kind = rec["item"].split(":", 1)[0]
    return Recommendation(item=rec["item"], kind=kind, name=label(rec["item"]), score=rec["score"],
                          reason=rec["reason"])


@router.get("/members/{member_id}/recommendations", response_model=RecommendationsOut,
            summary="A member's recommended classes/services and plan, with reasons (the member; staff of the "
                    "member's unit; admin)")
def member_recommendations(member_id: Annotated[int, Path(ge=1, le=2**62)],
                           principal: Annotated[Principal, Depends(current_principal)], db: DB,
                           k: Annotated[int, Query(ge=1, le=20)] = 5) -> RecommendationsOut:
    from gymchain.ml.abtest import EXPERIMENTS, assign, log_exposure
    from gymchain.ml.loaders import load_postgres
    from gymchain.ml.recommend import Recommender, interactions

    unit_id = db.execute(sa.text("SELECT unit_id FROM members WHERE id = :id AND erased_at IS NULL"),
                         {"id": member_id}).scalar()
    if unit_id is None:
        raise NotFound(f"member {member_id} not found")
    ensure_member_access(principal, member_id, unit_id)
    model, version = recommender(db)
    experiment = EXPERIMENTS["rec-strategy"]
    arm = assign(experiment, member_id)
    history = interactions(load_postgres(db.get_bind(), member_ids=[member_id]))
    x = model.matrix(history, np.array([member_id]))
    serving = model if arm == "model" else Recommender("popularity", model.items, model.popularity)
    items = serving.recommend(x, k=k)[0]
    plan = None
    if arm == "model":
        plans = serving.recommend(x, k=1, item_prefixes=("plan:",))[0]
        if plans and plans[0]["reason"].startswith("members who"):
            plan = _out(plans[0])
    now = datetime.now(UTC)
    if principal.role == MEMBER:  # what the member saw is an exposure; staff looking is not
        log_exposure(db.connection(), experiment, member_id, unit_id, arm, now,
                     {"items": [r["item"] for r in items], "model_version": version})
        db.commit()
    return RecommendationsOut(member_id=member_id, unit_id=unit_id, strategy=arm, experiment=experiment.name,
                              model_version=version, items=[_out(r) for r in items], plan=plan,
                              generated_at=now.isoformat(timespec="seconds"))
