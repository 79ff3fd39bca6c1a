"""Audit log of who read or changed personal data (LGPD art. 37: record of processing operations).

Rows are written in the caller's transaction, so a change and its audit row commit together; reads are audited
too (one row per member whose personal data was shown).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, func, insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from gymchain.common.db import Base
from gymchain.common.security.tokens import Principal

ACTIONS = ("read", "create", "update", "export", "erase", "consent")


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_role: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    unit_id: Mapped[int | None] = mapped_column(BigInteger)
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")

    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id", "at"),
                      Index("ix_audit_log_actor", "actor_user_id", "at"))


def record(session: Session, principal: Principal | None, action: str, subject_type: str,
           subject_ids: list[int], *, unit_id: int | None = None, request_id: str | None = None,
           detail: dict | None = None) -> None:
    """Add one audit row per subject to the session's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is not one of {ACTIONS}")
    if not subject_ids:
        return
    rows = [{"actor_user_id": principal.user_id if principal else None,
             "actor_role": principal.role if principal else "system", "action": action,
             "subject_type": subject_type, "subject_id": sid, "unit_id": unit_id, "request_id": request_id,
             "detail": detail or {}} for sid in subject_ids]
    session.execute(insert(AuditEntry), rows)
