"""Check-ins, check-outs and live occupancy per area."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from gymchain.common.errors import BadRequest, NotFound
from gymchain.common.security.rbac import scoped_unit
from gymchain.common.settings import get_settings

from .. import checkins as service
from .. import events
from ..dependencies import DB, Caller
from ..models import Unit
from ..schemas import CheckInCreate, CheckInOut, OccupancyOut

router = APIRouter()
CheckInId = Annotated[int, Path(ge=1, le=2**62)]


def alert_if_crowded(db, unit_id: int, area_id: int) -> None:
    """Publish an occupancy alert when the area reaches the configured ratio of its capacity."""
    for area in service.occupancy(db, unit_id):
        if area.area_id == area_id and area.ratio >= get_settings().occupancy_alert_ratio:
            events.notify("occupancy.alert", events.unit_scope(unit_id),
                          {"area_id": area.area_id, "name": area.name, "present": area.present,
                           "capacity": area.capacity, "ratio": area.ratio})


@router.post("/checkins", response_model=CheckInOut, status_code=201, tags=["check-ins"],
             summary="Check a member into an area (desk: trainer/manager of the unit; member: themself via app)")
def check_in(body: CheckInCreate, principal: Caller, db: DB) -> CheckInOut:
    member_id = body.member_id or principal.member_id
    if member_id is None:
        raise BadRequest("member_id is required when staff check a member in")
    checkin = service.check_in(db, principal, member_id, body.area_id, body.source)
    db.commit()
    events.after_commit(lambda: events.invalidate(events.occupancy_key(checkin.unit_id)),
                        lambda: alert_if_crowded(db, checkin.unit_id, checkin.area_id))
    return service.checkin_out(checkin)


@router.post("/checkins/{checkin_id}/checkout", response_model=CheckInOut, tags=["check-ins"],
             summary="Close a check-in (the member, staff of the unit, admin)")
def check_out(checkin_id: CheckInId, principal: Caller, db: DB) -> CheckInOut:
    checkin = service.check_out(db, principal, checkin_id)
    db.commit()
    events.after_commit(lambda: events.invalidate(events.occupancy_key(checkin.unit_id)))
    return service.checkin_out(checkin)


@router.get("/occupancy", response_model=OccupancyOut, tags=["check-ins"],
            summary="Live occupancy per area of your unit (admin: give unit_id)")
def occupancy(principal: Caller, db: DB, unit_id: Annotated[int | None, Query(ge=1)] = None) -> OccupancyOut:
    unit = scoped_unit(principal, unit_id)
    if unit is None:
        raise BadRequest("unit_id is required for admins")
    if db.get(Unit, unit) is None:
        raise NotFound(f"unit {unit} not found")
    areas = events.cached(events.occupancy_key(unit), 5,
                          lambda: [a.model_dump(mode="json") for a in service.occupancy(db, unit)])
    return OccupancyOut(unit_id=unit, at=datetime.now(UTC), areas=areas)
