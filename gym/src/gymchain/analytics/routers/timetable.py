"""Class demand forecast vs actual, the proposed timetable and member segments of a unit (issue 16).

Manager of the unit or admin; bounded parameters; computed from the platform's own tables at request time (class
sessions and bookings for the forecast and the timetable; members, contracts, check-ins and bookings for the
segments). Results are cached in the process for ``CACHE_SECONDS`` per unit and parameters.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from gymchain.common.db import get_session
from gymchain.common.errors import Conflict, NotFound
from gymchain.common.security.rbac import ADMIN, MANAGER, ensure_unit, require_roles
from gymchain.common.security.tokens import Principal

router = APIRouter(tags=["timetable"])
DB = Annotated[Session, Depends(get_session)]
Staff = Annotated[Principal, Depends(require_roles(MANAGER, ADMIN))]
UnitId = Annotated[int, Path(ge=1, le=2**62)]
TIMEZONE = "America/Sao_Paulo"  # part 1 has no per-unit time zone; every demo unit is in Brazil's eastern zone
CACHE_SECONDS = 600
_CACHE: dict[tuple, tuple[float, dict]] = {}


def _cached(key: tuple, compute) -> dict:
    hit = _CACHE.get(key)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = compute()
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[key] = (time.monotonic(), value)
    return value


def _unit(db: Session, principal: Principal, unit_id: int) -> None:
    ensure_unit(principal, unit_id)
    if db.execute(sa.text("SELECT 1 FROM units WHERE id = :id"), {"id": unit_id}).scalar() is None:
        raise NotFound(f"unit {unit_id} not found")


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC)).tz_convert(TIMEZONE).tz_localize(None)


def _class_tables(db: Session, now: pd.Timestamp) -> dict:
    from gymchain.ml.classes_data import load_class_postgres

    return load_class_postgres(db.get_bind(), until=now.tz_localize(TIMEZONE), timezone=TIMEZONE)


@router.get("/units/{unit_id}/demand-forecast", summary="Class demand: forecast vs actual over the last weeks, "
            "with MASE beside seasonal-naive (manager of the unit, admin)")
def demand_forecast(unit_id: UnitId, principal: Staff, db: DB,
                    weeks: Annotated[int, Query(ge=1, le=26, description="held-out weeks to compare")] = 8) -> dict:
    from gymchain.ml.planning import NotEnoughHistory, forecast_vs_actual

    _unit(db, principal, unit_id)
    now = _now()
    try:
        return _cached(("forecast", unit_id, weeks, now.floor("h")),
                       lambda: forecast_vs_actual(_class_tables(db, now), unit_id, now, weeks))
    except NotEnoughHistory as exc:
        raise Conflict(str(exc)) from None


@router.get("/units/{unit_id}/timetable-proposal", summary="The optimiser's weekly timetable for the unit with its "
            "expected gain over the current one (manager of the unit, admin)")
def timetable_proposal(
        unit_id: UnitId, principal: Staff, db: DB,
        weeks: Annotated[int, Query(ge=1, le=12, description="weeks the plan is valued over")] = 4,
        time_limit_s: Annotated[float, Query(ge=0.5, le=30, description="solver (deterministic) time limit")] = 5.0,
        waitlist_weight: Annotated[float, Query(ge=0, le=2, description="cost of one expected wait-listed "
                                                                       "booking, in attendances")] = 0.25,
        min_share: Annotated[float, Query(ge=0, le=1, description="keep at least this share of each type's "
                                                                 "current classes")] = 0.5) -> dict:
    from gymchain.ml.planning import NotEnoughHistory, propose_timetable

    _unit(db, principal, unit_id)
    now = _now()
    key = ("timetable", unit_id, weeks, time_limit_s, waitlist_weight, min_share, now.floor("h"))
    try:
        return _cached(key, lambda: propose_timetable(_class_tables(db, now), unit_id, now, weeks=weeks,
                                                      time_limit_s=time_limit_s, waitlist_weight=waitlist_weight,
                                                      min_share=min_share))
    except NotEnoughHistory as exc:
        raise Conflict(str(exc)) from None


@router.get("/units/{unit_id}/segments", summary="Behavioural segments of the unit's members (k-means, k by "
            "silhouette) with profiles and each member's segment (manager of the unit, admin)")
def unit_segments(unit_id: UnitId, principal: Staff, db: DB,
                  limit: Annotated[int, Query(ge=1, le=2000, description="member assignments returned")] = 500
                  ) -> dict:
    _unit(db, principal, unit_id)
    now = pd.Timestamp(datetime.now(UTC)).tz_localize(None)
    result = _cached(("segments", unit_id, now.floor("h")), lambda: _segments(db, unit_id, now))
    return result | {"assignments": result["assignments"][:limit]}


def _segments(db: Session, unit_id: int, now: pd.Timestamp) -> dict:
    from gymchain.ml.loaders import load_postgres
    from gymchain.ml.planning import segment_tags
    from gymchain.ml.segments import SEGMENT_FEATURES, segment

    tables = load_postgres(db.get_bind(), since=(now - pd.Timedelta(days=400)).isoformat(), unit_id=unit_id)
    visits = tables["visits"]  # the time of day members come is the unit's local time, not UTC
    tables["visits"] = visits.assign(visited_at=visits.visited_at.dt.tz_localize("UTC").dt.tz_convert(TIMEZONE)
                                     .dt.tz_localize(None))
    active = tables["contracts"][tables["contracts"].cancelled_on.isna() | (tables["contracts"].cancelled_on >= now)]
    if active.member_id.nunique() < 20:
        raise Conflict(f"unit {unit_id} has {active.member_id.nunique()} members with a running contract; "
                       "segmentation needs at least 20")
    frame, seg = segment(tables, now, ks=range(2, 7))
    profiles = []
    for label, row in seg.profiles.iterrows():
        values = {f: float(row[f]) for f in SEGMENT_FEATURES}
        profiles.append({"segment": int(label), "members": int(row["members"]), **values,
                         "tags": segment_tags(values)})
    order = frame.assign(segment=seg.labels).sort_values(["segment", "days_since_last_visit"])
    return {"unit_id": unit_id, "at": now.isoformat(timespec="seconds"), "k": seg.k, "members": len(frame),
            "silhouette_by_k": {str(k): round(v, 4) for k, v in seg.silhouette_by_k.items()},
            "stability_by_k": {str(k): round(v, 4) for k, v in seg.stability_by_k.items()},
            "profiles": profiles,
            "assignments": [{"member_id": int(i), "segment": int(s)} for i, s in zip(order.index, order.segment,
                                                                                       strict=True)]}
