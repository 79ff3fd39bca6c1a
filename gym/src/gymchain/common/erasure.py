"""LGPD access and portability (art. 18 II/V) and erasure (art. 18 VI) of the member-linked data a service other
than members keeps.

The members service's ``GET /members/{id}/export`` and ``POST /members/{id}/erase`` ask every service that keeps
data about a member to export or erase it (over HTTP with the caller's own token, so the callee authorises again:
no service imports another's package). A service mounts :func:`personal_data_router` at ``PATH`` with

- an *exporter*: a function that reads that service's data about one member through the given connection and
  returns it by store (collection or table) as lists of records (``GET``; datetimes and the like are encoded to
  JSON by the route);
- an *eraser*: a function that deletes or anonymises that data inside the given connection's transaction and
  returns how many documents or rows it touched, by store (``DELETE``).

Each route writes its audit row (action ``export`` or ``erase``, subject the member, the counts as detail) in the
same transaction. Erasing twice finds nothing the second time, so an erasure that failed halfway is simply retried.

Who may call: the member themself or an admin; the export also a manager of the member's unit (as the members
service's export allows). The services share the platform's PostgreSQL database, so the manager's unit is checked
against ``members.unit_id`` directly, the same rule as the members service's ``managed_member``: no second HTTP
call, and a manager's token is accepted only for the members of their own unit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy.orm import Session

from gymchain.common import audit
from gymchain.common.db import get_session
from gymchain.common.errors import Forbidden, NotFound
from gymchain.common.http import request_id
from gymchain.common.security.rbac import ADMIN, MANAGER, MEMBER, ensure_unit, require_roles
from gymchain.common.security.tokens import Principal

PATH = "/members/{member_id}/personal-data"
Eraser = Callable[[sa.Connection, int], dict[str, int]]
Exporter = Callable[[sa.Connection, int], dict[str, list[dict[str, Any]]]]
MemberId = Annotated[int, Path(ge=1, le=2**62, description="member id")]
DB = Annotated[Session, Depends(get_session)]


class ErasureOut(BaseModel):
    member_id: int
    service: str
    erased: dict[str, int]  # store (collection or table) -> documents or rows deleted or anonymised


class ExportOut(BaseModel):
    member_id: int
    service: str
    exported_at: datetime
    data: dict[str, list[dict[str, Any]]]  # store (collection, table, or "frames") -> the member's records


def member_unit(conn: sa.Connection, member_id: int) -> int | None:
    return conn.execute(sa.text("SELECT unit_id FROM members WHERE id = :m"), {"m": member_id}).scalar()


def rows(conn: sa.Connection, sql: str, member_id: int) -> list[dict[str, Any]]:
    """The rows of a ``SELECT ... WHERE member_id = :m`` as dicts (for exporters of tables)."""
    return [dict(r) for r in conn.execute(sa.text(sql), {"m": member_id}).mappings()]


def personal_data_router(service: str, *, covers: str, exporter: Exporter, eraser: Eraser) -> APIRouter:
    """``GET`` and ``DELETE /members/{member_id}/personal-data`` for one service; ``covers`` names the data (docs)."""
    router = APIRouter(tags=["privacy"])

    @router.get(PATH, response_model=ExportOut,
                summary=f"Export a member's {covers} (LGPD access and portability, called by the members "
                        "service's export): the member themself, manager of the member's unit, admin")
    def export_member_data(member_id: MemberId,
                           principal: Annotated[Principal, Depends(require_roles(MEMBER, MANAGER, ADMIN))],
                           db: DB, request: Request) -> ExportOut:
        if principal.role == MEMBER and principal.member_id != member_id:
            raise Forbidden("members may only export their own data")
        conn = db.connection()
        unit_id = member_unit(conn, member_id)
        if principal.role == MANAGER:
            if unit_id is None:
                raise NotFound(f"member {member_id} not found")
            ensure_unit(principal, unit_id)
        data = jsonable_encoder(exporter(conn, member_id))
        audit.record(db, principal, "export", "member", [member_id], unit_id=unit_id, request_id=request_id(request),
                     detail={"service": service} | {store: len(records) for store, records in data.items()})
        db.commit()
        return ExportOut(member_id=member_id, service=service, exported_at=datetime.now(UTC), data=data)

    @router.delete(PATH, response_model=ErasureOut,
                   summary=f"Erase a member's {covers} (LGPD, called by the members service's erasure): the member "
                           "themself or an admin")
    def erase_member_data(member_id: MemberId,
                          principal: Annotated[Principal, Depends(require_roles(MEMBER, ADMIN))],
                          db: DB, request: Request) -> ErasureOut:
        if principal.role == MEMBER and principal.member_id != member_id:
            raise Forbidden("members may only erase their own data")
        erased = eraser(db.connection(), member_id)
        audit.record(db, principal, "erase", "member", [member_id], request_id=request_id(request),
                     detail={"service": service} | erased)
        db.commit()
        return ErasureOut(member_id=member_id, service=service, erased=erased)

    return router
