"""Business rules of the auth service: login, refresh-token rotation with reuse detection, users."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gymchain.common.errors import CONSTRAINT_MESSAGES, Forbidden, NotFound, Unauthorized
from gymchain.common.security import pii
from gymchain.common.security.passwords import hash_password, needs_rehash, verify_password
from gymchain.common.security.rbac import ADMIN, MANAGER, MEMBER, TRAINER
from gymchain.common.security.tokens import Principal, hash_refresh_token, issue_access_token, new_refresh_token
from gymchain.common.settings import get_settings

from .models import RefreshToken, User
from .schemas import TokenPair, UserCreate, UserOut

CONSTRAINT_MESSAGES.update({
    "uq_users_email_index": "a user with this e-mail already exists",
    "uq_users_member_id": "this member already has a login",
    "ck_users_unit_required": "unit_id is required for every role but admin",
    "ck_users_member_link": "member_id is required for role member",
})


def principal_of(user: User) -> Principal:
    return Principal(user.id, user.role, user.unit_id, user.member_id)


def _now() -> datetime:
    return datetime.now(UTC)


def issue_pair(session: Session, user: User, family_id: str | None = None) -> TokenPair:
    """A new access token plus a refresh token in ``family_id`` (a new family at login)."""
    access, lifetime = issue_access_token(principal_of(user))
    token, digest = new_refresh_token()
    session.add(RefreshToken(user_id=user.id, family_id=family_id or uuid.uuid4().hex, token_hash=digest,
                             expires_at=_now() + timedelta(days=get_settings().refresh_token_days)))
    return TokenPair(access_token=access, expires_in=lifetime, refresh_token=token, role=user.role,
                     unit_id=user.unit_id, member_id=user.member_id)


def login(session: Session, email: str, password: str) -> TokenPair:
    user = session.scalars(select(User).where(User.email_index == pii.blind_index(email, "email"))).first()
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        raise Unauthorized("wrong e-mail or password")
    if needs_rehash(user.password_hash):  # the hashing parameters were raised since this hash was made
        user.password_hash = hash_password(password)
    pair = issue_pair(session, user)
    session.commit()
    return pair


def revoke_family(session: Session, family_id: str) -> None:
    session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                               RefreshToken.revoked_at.is_(None)).values(revoked_at=_now()))


def refresh(session: Session, token: str) -> TokenPair:
    """Rotate: the presented token is spent and a new one of the same family returned.

    The row is locked (FOR UPDATE), so two concurrent refreshes with one token cannot both succeed: the second
    sees ``used_at`` set, which counts as reuse and revokes the family.
    """
    row = session.scalars(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
                          .with_for_update()).first()
    if row is None or row.expires_at <= _now():
        raise Unauthorized("refresh token unknown or expired; log in again")
    if row.used_at is not None or row.revoked_at is not None:
        revoke_family(session, row.family_id)
        session.commit()
        raise Unauthorized("refresh token already used: every session of this login was revoked; log in again")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("account disabled")
    row.used_at = _now()
    pair = issue_pair(session, user, family_id=row.family_id)
    session.commit()
    return pair


def logout(session: Session, token: str) -> None:
    row = session.scalars(select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))).first()
    if row is not None:
        revoke_family(session, row.family_id)
        session.commit()


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=pii.decrypt(user.email_enc, "users.email"), role=user.role,
                   unit_id=user.unit_id, member_id=user.member_id, is_active=user.is_active)


def ensure_may_create(principal: Principal, body: UserCreate) -> None:
    """Admins create anyone; managers create members and trainers of their own unit."""
    if principal.role == ADMIN:
        return
    if principal.role != MANAGER or body.role not in (MEMBER, TRAINER):
        raise Forbidden(f"role {principal.role!r} may not create a {body.role!r} user")
    if body.unit_id != principal.unit_id:
        raise Forbidden(f"unit {body.unit_id} is outside your unit ({principal.unit_id})")


def create_user(session: Session, body: UserCreate) -> User:
    user = User(email_enc=pii.encrypt(str(body.email), "users.email"), email_index=pii.blind_index(body.email, "email"),
                password_hash=hash_password(body.password), role=body.role,
                unit_id=None if body.role == ADMIN and body.unit_id is None else body.unit_id,
                member_id=body.member_id)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session, unit_id: int | None, role: str | None, limit: int, offset: int) -> list[User]:
    query = select(User).order_by(User.id).limit(limit).offset(offset)
    if unit_id is not None:
        query = query.where(User.unit_id == unit_id)
    if role is not None:
        query = query.where(User.role == role)
    return list(session.scalars(query))


def erase_member_login(session: Session, principal: Principal, member_id: int) -> User:
    """LGPD erasure of a member's login: disabled, e-mail and password hash removed, tokens revoked."""
    if principal.role == MEMBER and principal.member_id != member_id:
        raise Forbidden("members may only erase their own login")
    if principal.role not in (MEMBER, ADMIN):
        raise Forbidden(f"role {principal.role!r} may not erase logins")
    user = session.scalars(select(User).where(User.member_id == member_id).with_for_update()).first()
    if user is None:
        raise NotFound(f"no login for member {member_id}")
    user.is_active, user.email_enc, user.email_index, user.password_hash = False, None, None, None
    session.execute(update(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
                    .values(revoked_at=_now()))
    return user
