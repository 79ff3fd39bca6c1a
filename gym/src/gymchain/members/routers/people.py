"""Members, their consent, visits, notes, and the LGPD tools (export, erasure, audit trail)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from gymchain.common import audit, erasure
from gymchain.common.errors import BadRequest, Conflict, Forbidden, Unavailable
from gymchain.common.security.rbac import ADMIN, MEMBER, scoped_unit
from gymchain.common.settings import get_settings

from .. import booking as booking_service
from .. import checkins as checkin_service
from .. import notes, people
from ..dependencies import DB, Caller, Managers, MemberId, RequestId, Staff, get_member, managed_member, member_for
from ..models import Booking, ClassSession, Contract, Member
from ..schemas import (
    AuditOut,
    BookingOut,
    CheckInOut,
    ConsentUpdate,
    MemberCreate,
    MemberOut,
    MemberUpdate,
    NoteCreate,
    NoteOut,
)

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/members", response_model=list[MemberOut], tags=["members"],
            summary="List members (staff: their unit; admin: any or all). Exact lookup by e-mail or CPF.")
def list_members(principal: Staff, db: DB, rid: RequestId, unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                 email: Annotated[str | None, Query(max_length=254)] = None,
                 cpf: Annotated[str | None, Query(max_length=14)] = None, limit: Limit = 50,
                 offset: Offset = 0) -> list[MemberOut]:
    members = people.list_members(db, scoped_unit(principal, unit_id), email, cpf, limit, offset)
    people.audit_member(db, principal, "read", members, rid, {"via": "list"})
    db.commit()
    return [people.member_out(m) for m in members]


@router.post("/members", response_model=MemberOut, status_code=201, tags=["members"],
             summary="Register a member (manager of the unit, admin); personal data is encrypted at rest")
def create_member(body: MemberCreate, principal: Managers, db: DB, rid: RequestId) -> MemberOut:
    scoped_unit(principal, body.unit_id)
    member = people.create_member(db, body)
    people.audit_member(db, principal, "create", [member], rid)
    db.commit()
    return people.member_out(member)


@router.get("/members/me", response_model=MemberOut, tags=["members"], summary="The calling member's own record")
def me(principal: Caller, db: DB, rid: RequestId) -> MemberOut:
    if principal.role != MEMBER or principal.member_id is None:
        raise Forbidden("only members have a member record; staff use /members/{id}")
    member = get_member(db, principal.member_id)
    people.audit_member(db, principal, "read", [member], rid)
    db.commit()
    return people.member_out(member)


@router.get("/members/{member_id}", response_model=MemberOut, tags=["members"],
            summary="One member (the member, staff of the unit, admin)")
def get_one(member_id: MemberId, principal: Caller, db: DB, rid: RequestId) -> MemberOut:
    member = member_for(principal, db, member_id)
    people.audit_member(db, principal, "read", [member], rid)
    db.commit()
    return people.member_out(member)


@router.patch("/members/{member_id}", response_model=MemberOut, tags=["members"],
              summary="Change name, e-mail or phone (the member, manager of the unit, admin)")
def update(body: MemberUpdate, member: Annotated[Member, Depends(managed_member)], principal: Caller, db: DB,
           rid: RequestId) -> MemberOut:
    changed = people.update_member(member, body)
    if not changed:
        raise BadRequest("nothing to change: give full_name, email or phone")
    people.audit_member(db, principal, "update", [member], rid, {"fields": changed})
    db.commit()
    return people.member_out(member)


@router.put("/members/{member_id}/consent", response_model=MemberOut, tags=["privacy"],
            summary="Give or withdraw consent to camera analytics (the member, manager of the unit, admin)")
def consent(body: ConsentUpdate, member: Annotated[Member, Depends(managed_member)], principal: Caller, db: DB,
            rid: RequestId) -> MemberOut:
    people.set_consent(member, body.camera_consent)
    people.audit_member(db, principal, "consent", [member], rid, {"camera_consent": body.camera_consent})
    db.commit()
    return people.member_out(member)


@router.get("/members/{member_id}/visits", response_model=list[CheckInOut], tags=["check-ins"],
            summary="A member's visits, newest first (the member, staff of the unit, admin)")
def visits(member_id: MemberId, principal: Caller, db: DB, limit: Limit = 50, offset: Offset = 0) -> list[CheckInOut]:
    member = member_for(principal, db, member_id)
    return checkin_service.visits(db, member.id, limit, offset)


@router.get("/members/{member_id}/bookings", response_model=list[BookingOut], tags=["bookings"],
            summary="A member's bookings, newest first (the member, staff of the unit, admin)")
def member_bookings(member_id: MemberId, principal: Caller, db: DB, limit: Limit = 50,
                    offset: Offset = 0) -> list[BookingOut]:
    member = member_for(principal, db, member_id)
    rows = list(db.scalars(select(Booking).where(Booking.member_id == member.id)
                           .order_by(Booking.created_at.desc(), Booking.id.desc()).limit(limit).offset(offset)))
    return booking_service.booking_outs(db, rows)


@router.get("/members/{member_id}/notes", response_model=list[NoteOut], tags=["notes"],
            summary="Staff notes on a member (trainer or manager of the unit, admin), from the document store")
def list_notes(member_id: MemberId, principal: Staff, db: DB, rid: RequestId, limit: Limit = 50) -> list[NoteOut]:
    member = member_for(principal, db, member_id)
    people.audit_member(db, principal, "read", [member], rid, {"via": "notes"})
    db.commit()
    return notes.list_notes(member.id, limit)


@router.post("/members/{member_id}/notes", response_model=NoteOut, status_code=201, tags=["notes"],
             summary="Add a staff note on a member (trainer or manager of the unit, admin)")
def add_note(member_id: MemberId, body: NoteCreate, principal: Staff, db: DB, rid: RequestId) -> NoteOut:
    member = member_for(principal, db, member_id)
    if member.status != "active":
        raise Conflict(f"member {member.id} was erased")
    note = notes.add_note(member.id, principal.user_id, body.text)
    people.audit_member(db, principal, "update", [member], rid, {"via": "notes"})
    db.commit()
    return note


# the services keeping member-linked data of their own, asked for it by the export and to erase it by the erasure
ELSEWHERE = ("assistant", "vision", "analytics")


def forwarded_headers(request: Request) -> dict[str, str]:
    """The caller's own token (the other service authorises again) and the request id (one trace)."""
    return {"Authorization": request.headers.get("Authorization", ""),
            "X-Request-ID": getattr(request.state, "request_id", "")}


def export_elsewhere(member_id: int, request: Request) -> dict[str, dict]:
    """Ask every other service holding the member's data for it, with the caller's own token (HTTP, not an import):
    service -> store -> records. Any failure stops the export: no partial export is ever returned."""
    headers = forwarded_headers(request)
    urls = get_settings().service_urls()
    exported = {}
    for service in ELSEWHERE:
        try:
            response = httpx.get(urls[service] + erasure.PATH.format(member_id=member_id), headers=headers,
                                 timeout=10)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{service} service unreachable, the member's data was not exported "
                              f"({type(exc).__name__})") from None
        if response.status_code != 200:
            raise Unavailable(f"{service} service refused to export the member's data ({response.status_code}); "
                              "nothing was exported")
        try:
            exported[service] = dict(response.json()["data"])
        except (ValueError, KeyError, TypeError):
            raise Unavailable(f"{service} service answered the export without its data; nothing was "
                              "exported") from None
    return exported


@router.get("/members/{member_id}/export", tags=["privacy"],
            summary="LGPD data export: everything held about a member, as JSON, including what the assistant, "
                    "vision and analytics services keep (the member, manager, admin)")
def export(member: Annotated[Member, Depends(managed_member)], principal: Caller, db: DB, rid: RequestId,
           request: Request) -> dict:
    elsewhere = export_elsewhere(member.id, request)
    contracts = db.scalars(select(Contract).where(Contract.member_id == member.id).order_by(Contract.id))
    bookings = db.execute(select(Booking, ClassSession).join(ClassSession, ClassSession.id == Booking.class_id)
                          .where(Booking.member_id == member.id).order_by(Booking.id)).all()
    profile = people.member_out(member).model_dump(mode="json")
    profile["cpf"] = people.unseal(member, "cpf")
    document = {
        "exported_at": datetime.now(UTC).isoformat(), "member": profile,
        "contracts": [{"id": c.id, "plan_id": c.plan_id, "starts_on": c.starts_on.isoformat(),
                       "ends_on": c.ends_on.isoformat(), "status": c.status} for c in contracts],
        "bookings": [{"id": b.id, "class": c.title, "starts_at": c.starts_at.isoformat(), "status": b.status}
                     for b, c in bookings],
        "visits": [v.model_dump(mode="json") for v in checkin_service.visits(db, member.id, 100_000, 0)],
        "notes": [n.model_dump(mode="json") for n in notes.list_notes(member.id, 10_000)],
        "audit_trail": people.audit_rows(db, member.id),
    } | elsewhere
    people.audit_member(db, principal, "export", [member], rid, {"elsewhere": {
        service: {store: len(records) for store, records in data.items()} for service, data in elsewhere.items()}})
    db.commit()
    return document


# the other services' erasures, the login last: if one fails, the member can still log in and retry (each erasure
# is idempotent); service -> (path, answers that mean done; auth's 404 = the member had no login)
ERASURES = {service: (erasure.PATH, (200,)) for service in ELSEWHERE} | {
    "auth": ("/users/by-member/{member_id}", (204, 404))}


def erase_elsewhere(member_id: int, request: Request) -> dict[str, dict]:
    """Ask every other service holding the member's data to erase it, with the caller's own token (HTTP, not an
    import); returns what each one erased. Any failure stops the erasure before the member is anonymised."""
    headers = forwarded_headers(request)
    urls = get_settings().service_urls()
    erased = {}
    for service, (path, done) in ERASURES.items():
        try:
            response = httpx.delete(urls[service] + path.format(member_id=member_id), headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{service} service unreachable, the member was not erased "
                              f"({type(exc).__name__})") from None
        if response.status_code not in done:
            raise Unavailable(f"{service} service refused to erase the member's data ({response.status_code}); "
                              "the member was not erased")
        if response.status_code == 200:
            erased[service] = response.json()["erased"]
    return erased


@router.post("/members/{member_id}/erase", response_model=MemberOut, tags=["privacy"],
             summary="LGPD erasure: anonymise the member, cancel future bookings, delete notes, assistant "
                     "conversations, posture feedback, churn scores and login (the member themself, admin)")
def erase(member_id: MemberId, principal: Caller, db: DB, rid: RequestId, request: Request) -> MemberOut:
    member = member_for(principal, db, member_id, staff_roles=(ADMIN,))
    if member.status == "erased":
        raise Conflict(f"member {member.id} was already erased")
    elsewhere = erase_elsewhere(member.id, request)
    future = db.scalars(select(Booking.id).join(ClassSession, ClassSession.id == Booking.class_id).where(
        Booking.member_id == member.id, Booking.status != "cancelled",
        ClassSession.starts_at > datetime.now(UTC))).all()
    for booking_id in future:
        booking, cls = booking_service.lock_booking(db, booking_id)
        booking_service.cancel(db, booking, cls)
    people.anonymise(member)
    removed_notes = notes.delete_notes(member.id, bind=db.connection())
    people.audit_member(db, principal, "erase", [member], rid,
                        {"cancelled_bookings": len(future), "deleted_notes": removed_notes, "elsewhere": elsewhere})
    db.commit()
    return people.member_out(member)


@router.get("/audit", response_model=list[AuditOut], tags=["privacy"],
            summary="Who read or changed personal data (manager: their unit; admin: all)")
def audit_log(principal: Managers, db: DB, subject_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
              unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None, limit: Limit = 100,
              offset: Offset = 0) -> list[AuditOut]:
    unit = scoped_unit(principal, unit_id)
    query = select(audit.AuditEntry).order_by(audit.AuditEntry.id.desc()).limit(limit).offset(offset)
    if unit is not None:
        query = query.where(audit.AuditEntry.unit_id == unit)
    if subject_id is not None:
        query = query.where(audit.AuditEntry.subject_id == subject_id)
    return [AuditOut.model_validate(r, from_attributes=True) for r in db.scalars(query)]
