"""Check-ins, check-outs and live occupancy per area."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from gymchain.common import timeseries
from gymchain.common.errors import BadRequest, NotFound
from gymchain.common.security.rbac import scoped_unit
from gymchain.common.settings import get_settings

from .. import checkins as service
from .. import events
from ..dependencies import DB, Caller
from ..models import Unit
from ..schemas import CheckInCreate, CheckInOut, CheckinRatePoint, OccupancyHistoryOut, OccupancyOut, OccupancyPoint

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
def occupancy(principal: Caller, db: DB, unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> OccupancyOut:
    unit = scoped_unit(principal, unit_id)
    if unit is None:
        raise BadRequest("unit_id is required for admins")
    if db.get(Unit, unit) is None:
        raise NotFound(f"unit {unit} not found")
    def load() -> list[dict]:
        return [a.model_dump(mode="json") for a in service.occupancy(db, unit, sensor_people(db, unit))]

    areas = events.cached(events.occupancy_key(unit), 5, load)
    return OccupancyOut(unit_id=unit, at=datetime.now(UTC), areas=areas)


def sensor_people(db, unit_id: int) -> dict[int, float]:
    """Latest people count per area from the sensors' time series (G2's ``occupancy_samples``), last 30 min."""
    since = datetime.now(UTC) - timedelta(minutes=30)
    return {row["area_id"]: float(row["people"])
            for row in timeseries.latest_occupancy(db.connection(), unit_id=unit_id, since=since)}


@router.get("/occupancy/history", response_model=OccupancyHistoryOut, tags=["check-ins"],
            summary="Occupancy per area and check-ins over time, from the time series (your unit; admin: any)")
def occupancy_history(principal: Caller, db: DB, unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                      hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
                      bucket: Literal["15 minutes", "1 hour", "1 day"] = "1 hour") -> OccupancyHistoryOut:
    unit = scoped_unit(principal, unit_id)
    if unit is None:
        raise BadRequest("unit_id is required for admins")
    end = datetime.now(UTC)
    start = end - timedelta(hours=hours)
    conn = db.connection()
    areas = timeseries.occupancy_per_area(conn, unit_id=unit, start=start, end=end, bucket=bucket)
    rate = timeseries.checkin_rate(conn, unit_id=unit, start=start, end=end, bucket=bucket)
    return OccupancyHistoryOut(unit_id=unit, start=start, end=end, bucket=bucket,
                               areas=[OccupancyPoint(**row) for row in areas],
                               checkins=[CheckinRatePoint(**row) for row in rate])
