"""Check-ins and check-outs per area, and live occupancy computed from the open ones."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from gymchain.common.errors import CONSTRAINT_MESSAGES, Conflict, Forbidden, NotFound
from gymchain.common.security.rbac import MEMBER, ensure_member_access, ensure_unit
from gymchain.common.security.tokens import Principal

from . import events
from .booking import ensure_contract
from .models import Area, CheckIn, Member
from .schemas import AreaOccupancy, CheckInOut

CONSTRAINT_MESSAGES["uq_checkins_open"] = "this member is already checked in (another check-in was just recorded)"
STALE_HOURS = 4  # an open check-in older than this counts as a visit that ended without a check-out

OCCUPANCY_SQL = text(f"""
SELECT a.id, a.name, a.kind, a.capacity, count(c.id) AS present
FROM areas a
LEFT JOIN checkins c ON c.area_id = a.id AND c.checked_out_at IS NULL
                    AND c.checked_in_at > now() - interval '{STALE_HOURS} hours'
WHERE a.unit_id = :unit_id
GROUP BY a.id ORDER BY a.id
""")


def checkin_out(c: CheckIn) -> CheckInOut:
    return CheckInOut(id=c.id, member_id=c.member_id, unit_id=c.unit_id, area_id=c.area_id,
                      checked_in_at=c.checked_in_at, checked_out_at=c.checked_out_at, source=c.source)


def check_in(session: Session, principal: Principal, member_id: int, area_id: int, source: str) -> CheckIn:
    """Record entry into an area; an open check-in elsewhere is closed first (the member moved)."""
    area = session.get(Area, area_id)
    if area is None:
        raise NotFound(f"area {area_id} not found")
    member = session.get(Member, member_id)
    if member is None or member.status != "active":
        raise NotFound(f"member {member_id} not found")
    ensure_member_access(principal, member.id, member.unit_id)
    if principal.role != MEMBER:
        ensure_unit(principal, area.unit_id)
    elif source != "app":
        raise Forbidden("members check themselves in with source 'app'")
    now = datetime.now(UTC)
    ensure_contract(session, member, area.unit_id, now)
    closed = session.scalars(update(CheckIn).where(CheckIn.member_id == member.id, CheckIn.checked_out_at.is_(None))
                             .values(checked_out_at=now).returning(CheckIn)).all()
    for old in closed:
        events.checkin_event(session, "out", old)
    checkin = CheckIn(member_id=member.id, unit_id=area.unit_id, area_id=area.id, checked_in_at=now, source=source)
    session.add(checkin)
    session.flush()  # uq_checkins_open raises here if a concurrent check-in won
    events.checkin_event(session, "in", checkin)
    return checkin


def check_out(session: Session, principal: Principal, checkin_id: int) -> CheckIn:
    checkin = session.scalars(select(CheckIn).where(CheckIn.id == checkin_id).with_for_update()).first()
    if checkin is None:
        raise NotFound(f"check-in {checkin_id} not found")
    if principal.role == MEMBER:
        if principal.member_id != checkin.member_id:
            raise NotFound(f"check-in {checkin_id} not found")
    else:
        ensure_unit(principal, checkin.unit_id)
    if checkin.checked_out_at is not None:
        raise Conflict(f"check-in {checkin_id} was already closed at {checkin.checked_out_at.isoformat()}")
    checkin.checked_out_at = datetime.now(UTC)
    events.checkin_event(session, "out", checkin)
    return checkin


def occupancy(session: Session, unit_id: int, sensor_people: dict[int, float] | None = None) -> list[AreaOccupancy]:
    sensor_people = sensor_people or {}
    rows = session.execute(OCCUPANCY_SQL, {"unit_id": unit_id}).all()
    return [AreaOccupancy(area_id=r.id, name=r.name, kind=r.kind, capacity=r.capacity, present=r.present,
                          ratio=round(r.present / r.capacity, 3), sensor_people=sensor_people.get(r.id))
            for r in rows]


def visits(session: Session, member_id: int, limit: int, offset: int) -> list[CheckInOut]:
    rows = session.scalars(select(CheckIn).where(CheckIn.member_id == member_id)
                           .order_by(CheckIn.checked_in_at.desc()).limit(limit).offset(offset))
    return [checkin_out(c) for c in rows]
