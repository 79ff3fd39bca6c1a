"""Tables of the auth service: users and their refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from gymchain.common.db import Base


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email_enc: Mapped[str | None] = mapped_column(Text)  # AES-GCM ciphertext (common.security.pii)
    email_index: Mapped[str | None] = mapped_column(String(64), unique=True)  # HMAC blind index for login lookup
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2id; NULL once erased
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    unit_id: Mapped[int | None] = mapped_column(BigInteger)
    member_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint("role IN ('member', 'trainer', 'manager', 'admin')", name="role"),
        CheckConstraint("role = 'admin' OR unit_id IS NOT NULL", name="unit_required"),
        CheckConstraint("role <> 'member' OR member_id IS NOT NULL", name="member_link"),
    )


class RefreshToken(Base):
    """One row per issued refresh token; a login's rotations share a ``family_id``.

    Presenting a token that was already used (or revoked) means it leaked: the whole family is revoked.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    family_id: Mapped[str] = mapped_column(String(32), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # sha256 of the token
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"),)
