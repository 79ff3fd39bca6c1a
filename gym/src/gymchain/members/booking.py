"""Classes and bookings: capacity, wait-list and promotion, all serialised on the class row.

Every booking change first locks its class row (``SELECT ... FOR UPDATE``), so for one class the decisions
"confirmed or wait-listed" and "who is promoted" are taken one at a time. The database backs this up: the CHECK
``booked_count BETWEEN 0 AND capacity`` rejects an overbooking even if a code path forgot the lock, and the partial
unique index ``uq_bookings_live`` rejects a second live booking of one member in one class.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gymchain.common.errors import CONSTRAINT_MESSAGES, Conflict, Forbidden, NotFound
from gymchain.common.security.rbac import ADMIN, MANAGER, MEMBER, TRAINER, ensure_member_access, ensure_unit
from gymchain.common.security.tokens import Principal

from . import events
from .models import Area, Booking, ClassSession, Contract, Member, Plan
from .schemas import BookingOut, ClassCreate, ClassOut

CONSTRAINT_MESSAGES.update({
    "uq_bookings_live": "this member already holds a booking (confirmed or wait-listed) for this class",
    "ck_class_sessions_seats": "the class is full",
})


def class_out(cls: ClassSession) -> ClassOut:
    return ClassOut(id=cls.id, unit_id=cls.unit_id, area_id=cls.area_id, title=cls.title,
                    trainer_user_id=cls.trainer_user_id, starts_at=cls.starts_at, ends_at=cls.ends_at,
                    capacity=cls.capacity, booked_count=cls.booked_count,
                    seats_left=cls.capacity - cls.booked_count, status=cls.status)


def create_class(session: Session, principal: Principal, body: ClassCreate) -> ClassSession:
    area = session.get(Area, body.area_id)
    if area is None:
        raise NotFound(f"area {body.area_id} not found")
    ensure_unit(principal, area.unit_id)
    if body.starts_at <= datetime.now(UTC):
        raise Conflict(f"starts_at {body.starts_at.isoformat()} is in the past")
    cls = ClassSession(unit_id=area.unit_id, area_id=area.id, title=body.title, trainer_user_id=body.trainer_user_id,
                       starts_at=body.starts_at, ends_at=body.starts_at + timedelta(minutes=body.duration_minutes),
                       capacity=min(body.capacity, area.capacity), booked_count=0)
    session.add(cls)
    session.flush()
    return cls


def list_classes(session: Session, unit_id: int | None, start: datetime, end: datetime, limit: int) -> list[ClassOut]:
    query = (select(ClassSession).where(ClassSession.starts_at >= start, ClassSession.starts_at < end)
             .order_by(ClassSession.starts_at, ClassSession.id).limit(limit))
    if unit_id is not None:
        query = query.where(ClassSession.unit_id == unit_id)
    return [class_out(c) for c in session.scalars(query)]


def lock_class(session: Session, class_id: int) -> ClassSession:
    cls = session.scalars(select(ClassSession).where(ClassSession.id == class_id).with_for_update()).first()
    if cls is None:
        raise NotFound(f"class {class_id} not found")
    return cls


def ensure_contract(session: Session, member: Member, unit_id: int, on: datetime) -> None:
    """The member needs an active contract on that day, valid in that unit (home unit or an all-units plan)."""
    day = on.date()
    row = session.execute(select(Contract, Plan).join(Plan, Plan.id == Contract.plan_id).where(
        Contract.member_id == member.id, Contract.status == "active", Contract.starts_on <= day,
        Contract.ends_on > day)).first()
    if row is None:
        raise Conflict(f"member {member.id} has no active contract on {day.isoformat()}")
    if member.unit_id != unit_id and not row.Plan.all_units:
        raise Conflict(f"member {member.id}'s plan {row.Plan.code} is valid only in unit {member.unit_id}")


def ensure_may_book(principal: Principal, member: Member, cls: ClassSession) -> None:
    ensure_member_access(principal, member.id, member.unit_id, (TRAINER, MANAGER, ADMIN))
    if principal.role != MEMBER:
        ensure_unit(principal, cls.unit_id)


def book(session: Session, principal: Principal, class_id: int, member_id: int) -> tuple[Booking, ClassSession]:
    """Confirm a seat if one is left, else wait-list. Raises 409 on a second live booking."""
    cls = lock_class(session, class_id)
    member = session.get(Member, member_id)
    if member is None or member.status != "active":
        raise NotFound(f"member {member_id} not found")
    ensure_may_book(principal, member, cls)
    if cls.status != "scheduled":
        raise Conflict(f"class {cls.id} was cancelled")
    if cls.starts_at <= datetime.now(UTC):
        raise Conflict(f"class {cls.id} has already started")
    ensure_contract(session, member, cls.unit_id, cls.starts_at)
    status = "confirmed" if cls.booked_count < cls.capacity else "waitlisted"
    booking = Booking(class_id=cls.id, member_id=member.id, status=status)
    session.add(booking)
    session.flush()  # uq_bookings_live raises here for a double booking
    if status == "confirmed":
        cls.booked_count += 1
    events.booking_event(session, status, booking, cls)
    return booking, cls


def lock_booking(session: Session, booking_id: int) -> tuple[Booking, ClassSession]:
    """Lock the class first, then the booking: the same order as :func:`book`, so no deadlock."""
    found = session.get(Booking, booking_id)
    if found is None:
        raise NotFound(f"booking {booking_id} not found")
    cls = lock_class(session, found.class_id)
    booking = session.scalars(select(Booking).where(Booking.id == booking_id).with_for_update()
                              .execution_options(populate_existing=True)).one()
    return booking, cls


def cancel(session: Session, booking: Booking, cls: ClassSession) -> Booking | None:
    """Cancel under the class lock; a freed seat goes to the oldest wait-listed booking. Returns the promoted one."""
    if booking.status == "cancelled":
        raise Conflict(f"booking {booking.id} is already cancelled")
    was_confirmed = booking.status == "confirmed"
    booking.status, booking.updated_at = "cancelled", datetime.now(UTC)
    events.booking_event(session, "cancelled", booking, cls)
    if not was_confirmed:
        return None
    promoted = session.scalars(select(Booking).where(Booking.class_id == cls.id, Booking.status == "waitlisted")
                               .order_by(Booking.id).limit(1).with_for_update()).first()
    if promoted is None:
        cls.booked_count -= 1
        return None
    promoted.status, promoted.updated_at = "confirmed", datetime.now(UTC)
    events.booking_event(session, "promoted", promoted, cls)
    return promoted


def ensure_may_cancel(principal: Principal, booking: Booking, cls: ClassSession) -> None:
    if principal.role == MEMBER:
        if principal.member_id != booking.member_id:
            raise NotFound(f"booking {booking.id} not found")
        return
    if principal.role not in (MANAGER, ADMIN):
        raise Forbidden("only the member, a manager of the unit or an admin may cancel a booking")
    ensure_unit(principal, cls.unit_id)


def cancel_class(session: Session, cls: ClassSession) -> list[Booking]:
    """Cancel a class and every live booking in it; returns the bookings that were live."""
    if cls.status == "cancelled":
        raise Conflict(f"class {cls.id} is already cancelled")
    live = list(session.scalars(select(Booking).where(Booking.class_id == cls.id, Booking.status != "cancelled")
                                .with_for_update()))
    now = datetime.now(UTC)
    for booking in live:
        booking.status, booking.updated_at = "cancelled", now
        events.booking_event(session, "class_cancelled", booking, cls)
    cls.status, cls.booked_count = "cancelled", 0
    return live


def waitlist_positions(session: Session, bookings: list[Booking]) -> dict[int, int]:
    """1-based position of each wait-listed booking in its class's queue.

    The queue is in id order: ids are drawn while the class row is locked, so they follow the order in which
    bookings were decided (``created_at`` is the transaction's start time and may not).
    """
    waiting = [b for b in bookings if b.status == "waitlisted"]
    positions = {}
    for b in waiting:
        ahead = session.scalar(select(func.count()).select_from(Booking).where(
            Booking.class_id == b.class_id, Booking.status == "waitlisted", Booking.id < b.id))
        positions[b.id] = int(ahead or 0) + 1
    return positions


def booking_outs(session: Session, bookings: list[Booking]) -> list[BookingOut]:
    positions = waitlist_positions(session, bookings)
    return [BookingOut(id=b.id, class_id=b.class_id, member_id=b.member_id, status=b.status,
                       created_at=b.created_at, waitlist_position=positions.get(b.id)) for b in bookings]
