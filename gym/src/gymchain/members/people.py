"""Members and their personal data: encryption on write, decryption on read, audit, export and erasure."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gymchain.common import audit
from gymchain.common.errors import CONSTRAINT_MESSAGES, Conflict, NotFound
from gymchain.common.security import pii
from gymchain.common.security.tokens import Principal

from .models import Member, Unit
from .schemas import MemberCreate, MemberOut, MemberUpdate

CONSTRAINT_MESSAGES.update({
    "uq_members_email_index": "a member with this e-mail already exists",
    "uq_members_cpf_index": "a member with this CPF already exists",
})
PII_FIELDS = ("full_name", "email", "cpf", "phone", "birth_date")


def field_name(field: str) -> str:
    """Associated data of a column's ciphertext: a value cannot be moved to another column."""
    return f"members.{field}"


def seal(field: str, value: str | None) -> str | None:
    return pii.encrypt(value, field_name(field))


def unseal(member: Member, field: str) -> str | None:
    return pii.decrypt(getattr(member, f"{field}_enc"), field_name(field))


def mask_cpf(cpf: str | None) -> str | None:
    return None if cpf is None else f"***.{cpf[3:6]}.{cpf[6:9]}-**"


def member_out(member: Member) -> MemberOut:
    birth = unseal(member, "birth_date")
    return MemberOut(id=member.id, unit_id=member.unit_id, full_name=unseal(member, "full_name"),
                     email=unseal(member, "email"), cpf_masked=mask_cpf(unseal(member, "cpf")),
                     phone=unseal(member, "phone"), birth_date=date.fromisoformat(birth) if birth else None,
                     camera_consent=member.camera_consent, status=member.status, created_at=member.created_at)


def create_member(session: Session, body: MemberCreate) -> Member:
    if session.get(Unit, body.unit_id) is None:
        raise NotFound(f"unit {body.unit_id} not found")
    now = datetime.now(UTC)
    member = Member(unit_id=body.unit_id, full_name_enc=seal("full_name", body.full_name),
                    email_enc=seal("email", str(body.email)), email_index=pii.blind_index(str(body.email), "email"),
                    cpf_enc=seal("cpf", body.cpf), cpf_index=pii.blind_index(body.cpf, "cpf"),
                    phone_enc=seal("phone", body.phone),
                    birth_date_enc=seal("birth_date", body.birth_date.isoformat() if body.birth_date else None),
                    camera_consent=body.camera_consent, consent_updated_at=now)
    session.add(member)
    session.flush()
    return member


def update_member(member: Member, body: MemberUpdate) -> list[str]:
    if member.status == "erased":
        raise Conflict(f"member {member.id} was erased; their data cannot be changed")
    changed = []
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None and field == "full_name":
            continue
        setattr(member, f"{field}_enc", seal(field, str(value) if value is not None else None))
        if field == "email":
            member.email_index = pii.blind_index(str(value), "email") if value else None
        changed.append(field)
    return changed


def list_members(session: Session, unit_id: int | None, email: str | None, cpf: str | None,
                 limit: int, offset: int) -> list[Member]:
    query = select(Member).order_by(Member.id).limit(limit).offset(offset)
    if unit_id is not None:
        query = query.where(Member.unit_id == unit_id)
    if email:
        query = query.where(Member.email_index == pii.blind_index(email, "email"))
    if cpf:
        query = query.where(Member.cpf_index == pii.blind_index(cpf, "cpf"))
    return list(session.scalars(query))


def set_consent(member: Member, consent: bool) -> None:
    if member.status == "erased":
        raise Conflict(f"member {member.id} was erased")
    member.camera_consent = consent
    member.consent_updated_at = datetime.now(UTC)


def anonymise(member: Member) -> None:
    """Erasure: every personal field and its blind index cleared; visits and bookings stay, now anonymous."""
    for field in PII_FIELDS:
        setattr(member, f"{field}_enc", None)
    member.email_index = member.cpf_index = None
    member.camera_consent = False
    member.status = "erased"
    member.erased_at = datetime.now(UTC)


def audit_rows(session: Session, member_id: int, limit: int = 500) -> list[dict]:
    rows = session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.subject_type == "member",
                                                          audit.AuditEntry.subject_id == member_id)
                           .order_by(audit.AuditEntry.id.desc()).limit(limit))
    return [{"at": r.at.isoformat(), "actor_user_id": r.actor_user_id, "actor_role": r.actor_role,
             "action": r.action} for r in rows]


def audit_member(session: Session, principal: Principal, action: str, members: list[Member], request_id: str,
                 detail: dict | None = None) -> None:
    """One audit row per member, grouped by unit so each row carries the member's unit."""
    by_unit: dict[int, list[int]] = {}
    for member in members:
        by_unit.setdefault(member.unit_id, []).append(member.id)
    for unit_id, ids in by_unit.items():
        audit.record(session, principal, action, "member", ids, unit_id=unit_id, request_id=request_id,
                     detail=detail)
