"""Units, areas, plans and contracts."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel
from sqlalchemy import select

from gymchain.common.errors import CONSTRAINT_MESSAGES, Conflict, NotFound
from gymchain.common.security.rbac import ensure_unit

from ..dependencies import DB, Admin, Caller, Managers, MemberId, member_for
from ..models import Area, Contract, Plan, Unit
from ..schemas import AreaCreate, AreaOut, ContractCreate, ContractOut, PlanCreate, PlanOut, UnitCreate, UnitOut

router = APIRouter()
CONSTRAINT_MESSAGES["uq_contracts_active"] = "this member already has an active contract"


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
UnitId = Annotated[int, Path(ge=1, le=2**62)]


def all_rows(db, model, schema: type[BaseModel]) -> list:
    return [schema.model_validate(row, from_attributes=True) for row in db.scalars(select(model).order_by(model.id))]


def add_row(db, row, schema: type[BaseModel]):
    db.add(row)
    db.commit()
    return schema.model_validate(row, from_attributes=True)


@router.get("/units", response_model=list[UnitOut], tags=["units"], summary="All units of the chain")
def list_units(principal: Caller, db: DB) -> list[UnitOut]:
    return all_rows(db, Unit, UnitOut)


@router.post("/units", response_model=UnitOut, status_code=201, tags=["units"], summary="Open a unit (admin)")
def create_unit(body: UnitCreate, principal: Admin, db: DB) -> UnitOut:
    return add_row(db, Unit(**body.model_dump()), UnitOut)


@router.get("/units/{unit_id}/areas", response_model=list[AreaOut], tags=["units"],
            summary="Areas of a unit (your own unit; admin: any)")
def list_areas(unit_id: UnitId, principal: Caller, db: DB) -> list[AreaOut]:
    ensure_unit(principal, unit_id)
    areas = db.scalars(select(Area).where(Area.unit_id == unit_id).order_by(Area.id))
    return [AreaOut.model_validate(a, from_attributes=True) for a in areas]


@router.post("/areas", response_model=AreaOut, status_code=201, tags=["units"],
             summary="Add an area to a unit (manager of the unit, admin)")
def create_area(body: AreaCreate, principal: Managers, db: DB) -> AreaOut:
    ensure_unit(principal, body.unit_id)
    if db.get(Unit, body.unit_id) is None:
        raise NotFound(f"unit {body.unit_id} not found")
    return add_row(db, Area(**body.model_dump()), AreaOut)


@router.get("/plans", response_model=list[PlanOut], tags=["plans"], summary="Membership plans")
def list_plans(principal: Caller, db: DB) -> list[PlanOut]:
    return all_rows(db, Plan, PlanOut)


@router.post("/plans", response_model=PlanOut, status_code=201, tags=["plans"], summary="Create a plan (admin)")
def create_plan(body: PlanCreate, principal: Admin, db: DB) -> PlanOut:
    return add_row(db, Plan(**body.model_dump()), PlanOut)


@router.post("/contracts", response_model=ContractOut, status_code=201, tags=["plans"],
             summary="Sign a member up to a plan (manager of the member's unit, admin); one active contract each")
def create_contract(body: ContractCreate, principal: Managers, db: DB) -> ContractOut:
    member = member_for(principal, db, body.member_id, staff_roles=("manager", "admin"))
    plan = db.get(Plan, body.plan_id)
    if plan is None:
        raise NotFound(f"plan {body.plan_id} not found")
    if member.status != "active":
        raise Conflict(f"member {member.id} was erased")
    if body.starts_on < date.today() - timedelta(days=31):
        raise Conflict(f"starts_on {body.starts_on} is more than a month in the past")
    contract = Contract(member_id=member.id, plan_id=plan.id, unit_id=member.unit_id, starts_on=body.starts_on,
                        ends_on=add_months(body.starts_on, body.months),
                        monthly_price_cents=plan.monthly_price_cents, status="active")
    return add_row(db, contract, ContractOut)


@router.get("/members/{member_id}/contracts", response_model=list[ContractOut], tags=["plans"],
            summary="A member's contracts (the member, staff of the unit, admin)")
def member_contracts(member_id: MemberId, principal: Caller, db: DB) -> list[ContractOut]:
    member = member_for(principal, db, member_id)
    rows = db.scalars(select(Contract).where(Contract.member_id == member.id).order_by(Contract.starts_on.desc()))
    return [ContractOut.model_validate(c, from_attributes=True) for c in rows]
