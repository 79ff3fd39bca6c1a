"""LGPD erasure (art. 18 VI) of the member-linked data a service other than members keeps.

The members service's ``POST /members/{id}/erase`` asks every service that keeps data about a member to erase it
(over HTTP with the caller's own token, so the callee authorises again: no service imports another's package),
then cancels the future bookings, deletes the notes and anonymises the member in its own transaction. A service
mounts :func:`erasure_router` with an *eraser*: a function that deletes or anonymises that service's data about
one member inside the given connection's transaction and returns how many documents or rows it touched, by store.
The route writes the audit row (action ``erase``, subject the member, the counts as detail) in the same
transaction. Erasing twice finds nothing the second time, so an erasure that failed halfway is simply retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from gymchain.common import audit
from gymchain.common.db import get_session
from gymchain.common.errors import Forbidden
from gymchain.common.http import request_id
from gymchain.common.security.rbac import ADMIN, MEMBER, require_roles
from gymchain.common.security.tokens import Principal

PATH = "/members/{member_id}/personal-data"
Eraser = Callable[[sa.Connection, int], dict[str, int]]


class ErasureOut(BaseModel):
    member_id: int
    service: str
    erased: dict[str, int]  # store (collection or table) -> documents or rows deleted or anonymised


def erasure_router(service: str, eraser: Eraser, covers: str) -> APIRouter:
    """``DELETE /members/{member_id}/personal-data`` for one service; ``covers`` names what it erases (docs)."""
    router = APIRouter(tags=["privacy"])

    @router.delete(PATH, response_model=ErasureOut,
                   summary=f"Erase a member's {covers} (LGPD, called by the members service's erasure): the member "
                           "themself or an admin")
    def erase_member_data(member_id: Annotated[int, Path(ge=1, le=2**62)],
                          principal: Annotated[Principal, Depends(require_roles(MEMBER, ADMIN))],
                          db: Annotated[Session, Depends(get_session)], request: Request) -> ErasureOut:
        if principal.role == MEMBER and principal.member_id != member_id:
            raise Forbidden("members may only erase their own data")
        erased = eraser(db.connection(), member_id)
        audit.record(db, principal, "erase", "member", [member_id], request_id=request_id(request),
                     detail={"service": service} | erased)
        db.commit()
        return ErasureOut(member_id=member_id, service=service, erased=erased)

    return router
