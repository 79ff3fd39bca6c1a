"""A unit's edge agent: the front desk's API on the unit's own database, working with or without the centre.

    python -m gymchain.sync.edge --unit SP1 --port 8101 [--no-link]

Staff of the unit (trainer, manager; admin anywhere) authenticate with the chain's access tokens, which the edge
verifies locally (no round trip, so it works offline). A check-in or booking is stored locally with its event in
the unit's outbox, in one transaction. A booking is *pending* until the centre decides: the edge refuses it only
when the class is full by what the unit knows (the centre's last count plus the unit's pending bookings); the
centre may still reject it (the class filled elsewhere meanwhile) and the compensation marks it rejected and
notifies the desk. Unless ``--no-link``, the same process runs the unit's link (:mod:`.link`).
"""


import argparse
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel, Field

from gymchain.common.errors import Conflict, Forbidden, NotFound, Unavailable
from gymchain.common.http import create_app
from gymchain.common.outbox import add_event, outbox_events
from gymchain.common.security.rbac import ADMIN, MANAGER, TRAINER, require_roles
from gymchain.common.security.tokens import Principal
from gymchain.sync import unit_schema as us

log = logging.getLogger(__name__)
ID = Annotated[int, Field(ge=1, le=2**62)]


class CheckinIn(BaseModel):
    member_id: ID
    area_id: ID


class CheckinOut(BaseModel):
    checkin_uid: str
    member_id: int
    area_id: int
    checked_in_at: dt.datetime
    status: str


class BookingIn(BaseModel):
    member_id: ID
    class_id: ID


class BookingOut(BaseModel):
    booking_uid: str
    member_id: int
    class_id: int
    status: str
    reason: str | None = None
    central_booking_id: int | None = None


class UnitStatus(BaseModel):
    unit: str
    unit_id: int | None
    link_ok_at: str | None
    link_error: str | None
    outbox_pending: int
    feed_seq: int
    roster: int
    classes: int
    checkins: dict[str, int]
    bookings: dict[str, int]
    notifications: int


class NotificationOut(BaseModel):
    id: int
    kind: str
    message: dict
    created_at: dt.datetime


def _booking_out(row) -> BookingOut:
    return BookingOut(booking_uid=str(row.booking_uid), member_id=row.member_id, class_id=row.class_id,
                      status=row.status, reason=row.reason, central_booking_id=row.central_booking_id)


def _ensure_member(conn: sa.Connection, member_id: int, day: dt.date) -> None:
    member = conn.execute(sa.select(us.roster).where(us.roster.c.member_id == member_id)).first()
    if member is None or member.status != "active":
        raise NotFound(f"member {member_id} is not on this unit's roster")
    if member.contract_ends_on is None or member.contract_ends_on <= day:
        raise Conflict(f"member {member_id} has no contract valid in this unit on {day.isoformat()}")


def create_edge_app(code: str, engine: sa.engine.Engine, on_write: Callable[[], None] = lambda: None) -> FastAPI:
    """The desk app of unit ``code``; ``on_write`` runs after each committed write (wakes the link)."""
    app = create_app(f"edge {code}", f"Front desk of unit {code}: check-ins and bookings that work offline.",
                     with_health=False)
    staff = require_roles(TRAINER, MANAGER, ADMIN)

    def unit_staff(principal: Annotated[Principal, Depends(staff)]) -> Principal:
        with engine.connect() as conn:
            unit_id = us.get_state(conn, "unit_id")
        if unit_id is None:
            raise Unavailable(f"unit {code} has not synced with the centre yet (no roster)")
        if principal.role != ADMIN and principal.unit_id != int(unit_id):
            raise Forbidden(f"this desk serves unit {code}; your unit is {principal.unit_id}")
        return principal

    Staff = Annotated[Principal, Depends(unit_staff)]

    @app.get("/health", tags=["health"], summary="Liveness and local database reachability (no authentication)")
    def health() -> dict:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return {"service": f"edge {code}", "status": "ok", "database": "ok"}
        except sa.exc.SQLAlchemyError as exc:
            return {"service": f"edge {code}", "status": "degraded", "database": type(exc).__name__}

    @app.post("/checkins", response_model=CheckinOut, status_code=201, tags=["desk"],
              summary="Record a member's check-in (offline-safe)")
    def check_in(body: CheckinIn, principal: Staff) -> CheckinOut:
        now = dt.datetime.now(dt.UTC)
        uid = uuid.uuid4()
        with engine.begin() as conn:
            _ensure_member(conn, body.member_id, now.date())
            if conn.execute(sa.select(us.areas.c.area_id).where(us.areas.c.area_id == body.area_id)).first() is None:
                raise NotFound(f"area {body.area_id} is not an area of unit {code}")
            conn.execute(us.checkins.insert().values(checkin_uid=uid, member_id=body.member_id,
                                                     area_id=body.area_id, checked_in_at=now))
            add_event(conn, topic="checkins", key=str(body.member_id), event_id=str(uid), payload={
                "type": "checkin.in", "checkin_uid": str(uid), "member_id": body.member_id,
                "area_id": body.area_id, "at": now})
        on_write()
        return CheckinOut(checkin_uid=str(uid), member_id=body.member_id, area_id=body.area_id,
                          checked_in_at=now, status="recorded")

    @app.post("/bookings", response_model=BookingOut, status_code=201, tags=["desk"],
              summary="Book a member into a class: pending until the centre confirms or rejects it")
    def book(body: BookingIn, principal: Staff) -> BookingOut:
        now = dt.datetime.now(dt.UTC)
        uid = uuid.uuid4()
        with engine.begin() as conn:
            cls = conn.execute(sa.select(us.classes).where(us.classes.c.class_id == body.class_id)
                               .with_for_update()).first()  # serialises this unit's bookings of the class
            if cls is None:
                raise NotFound(f"class {body.class_id} is not a class of unit {code}")
            if cls.status != "scheduled":
                raise Conflict(f"class {body.class_id} was cancelled")
            if cls.starts_at <= now:
                raise Conflict(f"class {body.class_id} has already started")
            _ensure_member(conn, body.member_id, cls.starts_at.date())
            live = conn.execute(sa.select(us.bookings.c.status).where(
                us.bookings.c.class_id == body.class_id, us.bookings.c.member_id == body.member_id,
                us.bookings.c.status != "rejected")).first()
            if live is not None:
                raise Conflict(f"member {body.member_id} already has a {live.status} booking for class "
                               f"{body.class_id}")
            pending = conn.execute(sa.select(sa.func.count()).where(
                us.bookings.c.class_id == body.class_id, us.bookings.c.status == "pending")).scalar_one()
            if cls.booked_count + pending >= cls.capacity:
                raise Conflict(f"class {body.class_id} is full as far as this unit knows ({cls.booked_count} booked "
                               f"centrally + {pending} pending here of {cls.capacity})")
            conn.execute(us.bookings.insert().values(booking_uid=uid, class_id=body.class_id,
                                                     member_id=body.member_id, status="pending"))
            add_event(conn, topic="bookings", key=str(body.class_id), event_id=str(uid), payload={
                "type": "booking.requested", "booking_uid": str(uid), "class_id": body.class_id,
                "member_id": body.member_id, "requested_at": now})
        on_write()
        return BookingOut(booking_uid=str(uid), member_id=body.member_id, class_id=body.class_id, status="pending")

    @app.get("/bookings/{booking_uid}", response_model=BookingOut, tags=["desk"],
             summary="A booking made at this desk, with the centre's verdict")
    def get_booking(booking_uid: uuid.UUID, principal: Staff) -> BookingOut:
        with engine.connect() as conn:
            row = conn.execute(sa.select(us.bookings).where(us.bookings.c.booking_uid == booking_uid)).first()
        if row is None:
            raise NotFound(f"booking {booking_uid} was not made at this desk")
        return _booking_out(row)

    @app.get("/notifications", response_model=list[NotificationOut], tags=["desk"],
             summary="Compensations from the centre (rejected bookings and check-ins), newest first")
    def list_notifications(principal: Staff, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[NotificationOut]:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(us.notifications).order_by(us.notifications.c.id.desc()).limit(limit)).all()
        return [NotificationOut(id=r.id, kind=r.kind, message=r.message, created_at=r.created_at) for r in rows]

    @app.get("/status", response_model=UnitStatus, tags=["desk"], summary="Link health and local counts")
    def status(principal: Staff) -> UnitStatus:
        return unit_status(code, engine)

    return app


def unit_status(code: str, engine: sa.engine.Engine) -> UnitStatus:
    with engine.connect() as conn:
        def count(table, *where) -> int:
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()

        by_status = {}
        for table in (us.checkins, us.bookings):
            by_status[table.name] = dict(conn.execute(sa.select(table.c.status, sa.func.count())
                                                      .group_by(table.c.status)).all())
        unit_id = us.get_state(conn, "unit_id")
        return UnitStatus(unit=code, unit_id=int(unit_id) if unit_id else None,
                          link_ok_at=us.get_state(conn, "link_ok_at"), link_error=us.get_state(conn, "link_error") or None,
                          outbox_pending=count(outbox_events, outbox_events.c.sent_at.is_(None)),
                          feed_seq=int(us.get_state(conn, "feed_seq", "0")), roster=count(us.roster),
                          classes=count(us.classes), checkins=by_status["checkins"], bookings=by_status["bookings"],
                          notifications=count(us.notifications))


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from gymchain.sync.link import add_link_arguments, open_unit

    parser = argparse.ArgumentParser(prog="python -m gymchain.sync.edge", description=__doc__.splitlines()[0])
    add_link_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="e.g. 8101")
    parser.add_argument("--no-link", action="store_true", help="serve the desk only (run gymchain.sync.link apart)")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port}: expected 1 to 65535")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    engine, link = open_unit(args, parser)
    stop = threading.Event()
    if not args.no_link:
        threading.Thread(target=link.run, args=(stop, args.interval, args.max_idle, args.max_backoff), name=f"link-{args.unit}", daemon=True).start()
    try:
        uvicorn.run(create_edge_app(args.unit, engine, link.wake.set), host=args.host, port=args.port, log_level="warning")
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
