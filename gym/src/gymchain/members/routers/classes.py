"""Classes (sessions with capacity) and bookings with wait-list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from gymchain.common.errors import BadRequest, Forbidden, NotFound
from gymchain.common.security.rbac import MEMBER, ensure_unit, scoped_unit

from .. import booking as service
from .. import events
from ..dependencies import DB, Caller, Managers, Staff
from ..models import Booking, ClassSession
from ..schemas import BookingCreate, BookingOut, ClassCreate, ClassOut

router = APIRouter()
ClassId = Annotated[int, Path(ge=1, le=2**62)]
BookingId = Annotated[int, Path(ge=1, le=2**62)]
MAX_WINDOW = timedelta(days=62)
DEFAULT_LIMIT = 100


@router.get("/classes", response_model=list[ClassOut], tags=["classes"],
            summary="Classes of your unit (admin: any unit) starting in [start, end), at most 62 days")
def list_classes(principal: Caller, db: DB, unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                 start: datetime | None = None, end: datetime | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = DEFAULT_LIMIT) -> list[ClassOut]:
    start_given = start is not None or end is not None
    start = start or datetime.now(UTC)
    end = end or start + timedelta(days=7)
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("start and end need a time zone offset, e.g. 2026-12-07T00:00:00-03:00")
    if not timedelta(0) < end - start <= MAX_WINDOW:
        raise BadRequest(f"end must be after start and at most {MAX_WINDOW.days} days later")
    unit = scoped_unit(principal, unit_id)
    if unit is None or start_given or limit != DEFAULT_LIMIT:
        return service.list_classes(db, unit, start, end, limit)
    # the default listing (one unit, next 7 days) is what the portals ask for most: cached, invalidated on writes
    rows = events.cached(events.classes_key(unit), 15,
                         lambda: [c.model_dump(mode="json") for c in service.list_classes(db, unit, start, end, limit)])
    return [ClassOut.model_validate(r) for r in rows]


@router.post("/classes", response_model=ClassOut, status_code=201, tags=["classes"],
             summary="Schedule a class (manager of the unit, admin); capacity is capped by the area's")
def create_class(body: ClassCreate, principal: Managers, db: DB) -> ClassOut:
    cls = service.create_class(db, principal, body)
    db.commit()
    events.after_commit(lambda: events.invalidate(events.classes_key(cls.unit_id)))
    return service.class_out(cls)


@router.get("/classes/{class_id}", response_model=ClassOut, tags=["classes"], summary="One class")
def get_class(class_id: ClassId, principal: Caller, db: DB) -> ClassOut:
    cls = db.get(ClassSession, class_id)
    if cls is None:
        raise NotFound(f"class {class_id} not found")
    ensure_unit(principal, cls.unit_id)
    return service.class_out(cls)


@router.post("/classes/{class_id}/cancel", response_model=ClassOut, tags=["classes"],
             summary="Cancel a class and its bookings; booked members are notified (manager, admin)")
def cancel_class(class_id: ClassId, principal: Managers, db: DB) -> ClassOut:
    cls = service.lock_class(db, class_id)
    ensure_unit(principal, cls.unit_id)
    live = service.cancel_class(db, cls)
    db.commit()
    message = {"class_id": cls.id, "title": cls.title, "starts_at": cls.starts_at.isoformat()}
    events.after_commit(lambda: events.invalidate(events.classes_key(cls.unit_id)),
                        lambda: events.notify("class.cancelled", events.unit_scope(cls.unit_id), message),
                        *[lambda b=b: events.notify("class.cancelled", events.member_scope(b.member_id), message)
                          for b in live])
    return service.class_out(cls)


@router.get("/classes/{class_id}/bookings", response_model=list[BookingOut], tags=["bookings"],
            summary="The class roster and wait-list (trainer or manager of the unit, admin)")
def roster(class_id: ClassId, principal: Staff, db: DB) -> list[BookingOut]:
    cls = db.get(ClassSession, class_id)
    if cls is None:
        raise NotFound(f"class {class_id} not found")
    ensure_unit(principal, cls.unit_id)
    rows = list(db.scalars(select(Booking).where(Booking.class_id == cls.id, Booking.status != "cancelled")
                           .order_by(Booking.status, Booking.id)))
    return service.booking_outs(db, rows)


@router.post("/bookings", response_model=BookingOut, status_code=201, tags=["bookings"],
             summary="Book a class: confirmed while seats are left, else wait-listed (member: themself; "
                     "trainer/manager: members of their unit; admin)")
def create_booking(body: BookingCreate, principal: Caller, db: DB) -> BookingOut:
    member_id = body.member_id or principal.member_id
    if member_id is None:
        raise BadRequest("member_id is required when staff book")
    if principal.role == MEMBER and member_id != principal.member_id:
        raise Forbidden("members may only book for themselves")
    booking, cls = service.book(db, principal, body.class_id, member_id)
    db.commit()
    message = {"booking_id": booking.id, "status": booking.status, "class_id": cls.id, "title": cls.title,
               "starts_at": cls.starts_at.isoformat()}
    effects = [lambda: events.invalidate(events.classes_key(cls.unit_id))]
    if booking.status == "confirmed":
        effects.append(lambda: events.notify("booking.confirmed", events.member_scope(member_id), message))
    events.after_commit(*effects)
    return service.booking_outs(db, [booking])[0]


@router.post("/bookings/{booking_id}/cancel", response_model=BookingOut, tags=["bookings"],
             summary="Cancel a booking; the first wait-listed member gets the seat (the member, manager, admin)")
def cancel_booking(booking_id: BookingId, principal: Caller, db: DB) -> BookingOut:
    booking, cls = service.lock_booking(db, booking_id)
    service.ensure_may_cancel(principal, booking, cls)
    promoted = service.cancel(db, booking, cls)
    db.commit()
    effects = [lambda: events.invalidate(events.classes_key(cls.unit_id))]
    if promoted is not None:
        message = {"booking_id": promoted.id, "status": "confirmed", "class_id": cls.id, "title": cls.title,
                   "starts_at": cls.starts_at.isoformat(), "promoted_from_waitlist": True}
        effects.append(lambda: events.notify("booking.confirmed", events.member_scope(promoted.member_id), message))
    cancelled = {"booking_id": booking.id, "status": "cancelled", "class_id": cls.id, "title": cls.title}
    effects.append(lambda: events.notify("booking.cancelled", events.member_scope(booking.member_id), cancelled))
    events.after_commit(*effects)
    return service.booking_outs(db, [booking])[0]
