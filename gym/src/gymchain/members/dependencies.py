"""Shared route dependencies of the members service: session, caller, and "this member exists and you may see it"."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.orm import Session

from gymchain.common.db import get_session
from gymchain.common.errors import NotFound
from gymchain.common.http import request_id
from gymchain.common.security.rbac import (
    ADMIN,
    MANAGER,
    TRAINER,
    current_principal,
    ensure_member_access,
    require_roles,
)
from gymchain.common.security.tokens import Principal

from .models import Member

DB = Annotated[Session, Depends(get_session)]
Caller = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_roles(TRAINER, MANAGER, ADMIN))]
Managers = Annotated[Principal, Depends(require_roles(MANAGER, ADMIN))]
Admin = Annotated[Principal, Depends(require_roles(ADMIN))]
MemberId = Annotated[int, Path(ge=1, le=2**62, description="member id")]
RequestId = Annotated[str, Depends(request_id)]


def get_member(db: Session, member_id: int) -> Member:
    member = db.get(Member, member_id)
    if member is None:
        raise NotFound(f"member {member_id} not found")
    return member


def member_for(principal: Principal, db: Session, member_id: int,
               staff_roles: tuple[str, ...] = (TRAINER, MANAGER, ADMIN)) -> Member:
    """The member, if the caller may act on them: themself, staff of the member's unit, or an admin."""
    member = get_member(db, member_id)
    ensure_member_access(principal, member.id, member.unit_id, staff_roles)
    return member


def managed_member(member_id: MemberId, principal: Caller, db: DB) -> Member:
    """Managers and admins (and the member themself) only: changes, export."""
    return member_for(principal, db, member_id, staff_roles=(MANAGER, ADMIN))
