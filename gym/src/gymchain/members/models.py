"""Tables of the members service. Invariants live in the database (unique, check, partial unique indexes).

- one live booking per member and class: partial unique index ``uq_bookings_live`` (status <> 'cancelled');
- never more confirmed bookings than seats: ``class_sessions.booked_count`` is changed only by conditional
  UPDATEs under the class row's lock and is bounded by ``CHECK (booked_count BETWEEN 0 AND capacity)``;
- one open check-in per member: partial unique index ``uq_checkins_open``;
- one active contract per member: partial unique index ``uq_contracts_active``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gymchain.common.db import Base

TZ = DateTime(timezone=True)


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    city: Mapped[str] = mapped_column(String(80), nullable=False)


class Area(Base):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (UniqueConstraint("unit_id", "name"),
                      CheckConstraint("capacity BETWEEN 1 AND 2000", name="capacity"))


class Member(Base):
    """Personal data only as AES-GCM ciphertext (``*_enc``) plus HMAC blind indexes for lookups."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), nullable=False)
    full_name_enc: Mapped[str | None] = mapped_column(Text)
    email_enc: Mapped[str | None] = mapped_column(Text)
    email_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    cpf_enc: Mapped[str | None] = mapped_column(Text)
    cpf_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    birth_date_enc: Mapped[str | None] = mapped_column(Text)
    camera_consent: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    consent_updated_at: Mapped[datetime | None] = mapped_column(TZ)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="active")
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now(), nullable=False)
    erased_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (CheckConstraint("status IN ('active', 'erased')", name="status"),
                      Index("ix_members_unit_id", "unit_id", "id"))


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    monthly_price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    weekly_class_limit: Mapped[int | None] = mapped_column(Integer)  # NULL = unlimited
    all_units: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")

    __table_args__ = (CheckConstraint("monthly_price_cents >= 0", name="price"),
                      CheckConstraint("weekly_class_limit IS NULL OR weekly_class_limit > 0", name="class_limit"))


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), nullable=False)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), nullable=False)
    starts_on: Mapped[date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[date] = mapped_column(Date, nullable=False)
    monthly_price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="active")
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint("ends_on > starts_on", name="dates"),
        CheckConstraint("status IN ('active', 'cancelled', 'ended')", name="status"),
        Index("uq_contracts_active", "member_id", unique=True, postgresql_where=text("status = 'active'")),
    )


class ClassSession(Base):
    __tablename__ = "class_sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False)
    title: Mapped[str] = mapped_column(String(80), nullable=False)
    trainer_user_id: Mapped[int | None] = mapped_column(BigInteger)
    starts_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    booked_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="scheduled")

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="times"),
        CheckConstraint("capacity BETWEEN 1 AND 500", name="capacity"),
        CheckConstraint("booked_count BETWEEN 0 AND capacity", name="seats"),
        CheckConstraint("status IN ('scheduled', 'cancelled')", name="status"),
        Index("ix_class_sessions_unit_start", "unit_id", "starts_at"),
    )


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("class_sessions.id"), nullable=False)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now(), nullable=False)
    origin_event_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # idempotency key for unit sync

    __table_args__ = (
        CheckConstraint("status IN ('confirmed', 'waitlisted', 'cancelled')", name="status"),
        Index("uq_bookings_live", "class_id", "member_id", unique=True,
              postgresql_where=text("status <> 'cancelled'")),
        Index("ix_bookings_class_queue", "class_id", "status", "created_at"),
        Index("ix_bookings_member", "member_id", "created_at"),
    )


class CheckIn(Base):
    __tablename__ = "checkins"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), nullable=False)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), nullable=False)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), nullable=False)
    checked_in_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now(), nullable=False)
    checked_out_at: Mapped[datetime | None] = mapped_column(TZ)
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default="desk")
    origin_event_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # idempotency key for unit sync

    __table_args__ = (
        CheckConstraint("checked_out_at IS NULL OR checked_out_at >= checked_in_at", name="times"),
        CheckConstraint("source IN ('desk', 'app', 'turnstile', 'sync', 'seed')", name="source"),
        Index("uq_checkins_open", "member_id", unique=True, postgresql_where=text("checked_out_at IS NULL")),
        Index("ix_checkins_open_area", "area_id", postgresql_where=text("checked_out_at IS NULL")),
        Index("ix_checkins_member_time", "member_id", "checked_in_at"),
        Index("ix_checkins_unit_time", "unit_id", "checked_in_at"),
    )
