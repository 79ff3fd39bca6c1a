"""Role-based access with unit scoping, as FastAPI dependencies.

Roles: ``member`` (their own data), ``trainer`` and ``manager`` (their unit; managers also administer it),
``admin`` (the whole chain). Every service validates the bearer token itself (the gateway does too), so a service
reached directly is no softer than through the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from gymchain.common.errors import Forbidden, Unauthorized
from gymchain.common.security.tokens import ROLES, Principal, decode_access_token

MEMBER, TRAINER, MANAGER, ADMIN = ROLES
STAFF = (TRAINER, MANAGER, ADMIN)

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False,
                                     description="Access token from POST /api/auth/token (through the gateway)")


def current_principal(token: Annotated[str | None, Depends(bearer_scheme)]) -> Principal:
    if not token:
        raise Unauthorized()
    return decode_access_token(token)


def require_roles(*roles: str) -> Callable[..., Principal]:
    """Dependency factory: the caller must hold one of ``roles``."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role!r} may not do this (needs one of: {', '.join(roles)})")
        return principal

    return dependency


def ensure_unit(principal: Principal, unit_id: int) -> None:
    """Non-admins act only inside their own unit."""
    if principal.role != ADMIN and principal.unit_id != unit_id:
        raise Forbidden(f"unit {unit_id} is outside your unit ({principal.unit_id})")


def scoped_unit(principal: Principal, requested: int | None) -> int | None:
    """The unit a listing is limited to: admins choose (None = all), everyone else gets their own."""
    if principal.role == ADMIN:
        return requested
    if requested is not None and requested != principal.unit_id:
        raise Forbidden(f"unit {requested} is outside your unit ({principal.unit_id})")
    return principal.unit_id


def ensure_member_access(principal: Principal, member_id: int, member_unit_id: int,
                         staff_roles: tuple[str, ...] = STAFF) -> None:
    """A member reaches only their own record; staff in ``staff_roles`` reach their unit's members; admin all."""
    if principal.role == MEMBER:
        if principal.member_id != member_id:
            raise Forbidden("members may only access their own data")
        return
    if principal.role not in staff_roles:
        raise Forbidden(f"role {principal.role!r} may not do this")
    ensure_unit(principal, member_unit_id)
