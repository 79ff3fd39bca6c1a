"""Request and response bodies of the members service (bounded fields; never ORM objects or ciphertexts)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator

NAME = Field(min_length=2, max_length=120)
ID = Field(ge=1, le=2**62)


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


def cpf_is_valid(cpf: str) -> bool:
    """Brazilian CPF: 11 digits, not all equal, two mod-11 check digits."""
    digits = [int(c) for c in cpf]
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for n in (9, 10):
        total = sum(d * w for d, w in zip(digits[:n], range(n + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != digits[n]:
            return False
    return True


def clean_cpf(value: str) -> str:
    digits = re.sub(r"[.\-\s]", "", value)
    if not digits.isdigit() or not cpf_is_valid(digits):
        raise ValueError("expected a valid CPF (11 digits with correct check digits, e.g. 529.982.247-25)")
    return digits


class UnitOut(Schema):
    id: int
    code: str
    name: str
    city: str


class UnitCreate(Schema):
    code: str = Field(min_length=2, max_length=32, pattern=r"^[A-Z0-9-]+$", examples=["SP-PAULISTA"])
    name: str = NAME
    city: str = Field(min_length=2, max_length=80)


AreaKind = Literal["weights", "cardio", "studio", "pool", "functional", "reception", "other"]


class AreaCreate(Schema):
    unit_id: int = ID
    name: str = Field(min_length=2, max_length=80)
    kind: AreaKind
    capacity: int = Field(ge=1, le=2000)


class AreaOut(AreaCreate):
    id: int


class MemberCreate(Schema):
    unit_id: int = ID
    full_name: str = NAME
    email: EmailStr = Field(max_length=254)
    cpf: str = Field(min_length=11, max_length=14, description="Brazilian CPF, with or without punctuation")
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{8,20}$")
    birth_date: date | None = None
    camera_consent: bool = Field(False, description="consent to camera analytics (LGPD art. 11, biometric data)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"unit_id": 1, "full_name": "Ana Souza", "email": "ana@example.com", "cpf": "529.982.247-25",
         "phone": "+55 11 91234-5678", "birth_date": "1990-04-12", "camera_consent": False}]})

    @field_validator("cpf")
    @classmethod
    def _valid_cpf(cls, value: str) -> str:
        return clean_cpf(value)

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth(cls, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= date.today():
            raise ValueError("expected a birth date between 1900-01-01 and today")
        return value


class MemberUpdate(Schema):
    full_name: str | None = Field(None, min_length=2, max_length=120)
    email: EmailStr | None = Field(None, max_length=254)
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{8,20}$")


class MemberOut(Schema):
    id: int
    unit_id: int
    full_name: str | None
    email: str | None
    cpf_masked: str | None = Field(description="only the middle digits, e.g. ***.982.247-**")
    phone: str | None
    birth_date: date | None
    camera_consent: bool
    status: Literal["active", "erased"]
    created_at: datetime


class ConsentUpdate(Schema):
    camera_consent: bool


class PlanCreate(Schema):
    code: str = Field(min_length=2, max_length=32, pattern=r"^[A-Z0-9-]+$")
    name: str = Field(min_length=2, max_length=80)
    monthly_price_cents: int = Field(ge=0, le=10_000_000)
    weekly_class_limit: int | None = Field(None, ge=1, le=50)
    all_units: bool = False


class PlanOut(PlanCreate):
    id: int


class ContractCreate(Schema):
    member_id: int = ID
    plan_id: int = ID
    starts_on: date
    months: int = Field(12, ge=1, le=36)


class ContractOut(Schema):
    id: int
    member_id: int
    plan_id: int
    unit_id: int
    starts_on: date
    ends_on: date
    monthly_price_cents: int
    status: str


class ClassCreate(Schema):
    area_id: int = ID
    title: str = Field(min_length=2, max_length=80)
    starts_at: AwareDatetime
    duration_minutes: int = Field(60, ge=15, le=240)
    capacity: int = Field(ge=1, le=500)
    trainer_user_id: int | None = Field(None, ge=1, le=2**62)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"area_id": 3, "title": "Spinning", "starts_at": "2026-12-07T18:00:00-03:00", "duration_minutes": 45,
         "capacity": 20}]})


class ClassOut(Schema):
    id: int
    unit_id: int
    area_id: int
    title: str
    trainer_user_id: int | None
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked_count: int
    seats_left: int
    status: Literal["scheduled", "cancelled"]


class BookingCreate(Schema):
    class_id: int = ID
    member_id: int | None = Field(None, ge=1, le=2**62, description="defaults to the calling member")


class BookingOut(Schema):
    id: int
    class_id: int
    member_id: int
    status: Literal["confirmed", "waitlisted", "cancelled"]
    created_at: datetime
    waitlist_position: int | None = None


class CheckInCreate(Schema):
    member_id: int | None = Field(None, ge=1, le=2**62, description="defaults to the calling member")
    area_id: int = ID
    source: Literal["desk", "app", "turnstile"] = "desk"


class CheckInOut(Schema):
    id: int
    member_id: int
    unit_id: int
    area_id: int
    checked_in_at: datetime
    checked_out_at: datetime | None
    source: str


class AreaOccupancy(Schema):
    area_id: int
    name: str
    kind: str
    capacity: int
    present: int = Field(description="open check-ins in the area (check-ins older than 4 h count as left)")
    ratio: float
    sensor_people: float | None = Field(None, description="latest people count from the area's sensors, if any")


class OccupancyOut(Schema):
    unit_id: int
    at: datetime
    areas: list[AreaOccupancy]


class OccupancyPoint(Schema):
    bucket: datetime
    area_id: int
    mean_people: float
    peak_people: int
    peak_ratio: float


class CheckinRatePoint(Schema):
    bucket: datetime
    checkins: int


class OccupancyHistoryOut(Schema):
    unit_id: int
    start: datetime
    end: datetime
    bucket: str
    areas: list[OccupancyPoint]
    checkins: list[CheckinRatePoint]


class NoteCreate(Schema):
    text: str = Field(min_length=1, max_length=2000)


class NoteOut(Schema):
    id: str
    member_id: int
    author_user_id: int
    text: str
    created_at: datetime


class AuditOut(Schema):
    id: int
    at: datetime
    actor_user_id: int | None
    actor_role: str
    action: str
    subject_type: str
    subject_id: int
    unit_id: int | None
    request_id: str | None
