"""Short-lived JWT access tokens (HS256). Refresh tokens are opaque and live in the auth service's table."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from gymchain.common.errors import Unauthorized
from gymchain.common.settings import Settings, get_settings

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: int
    role: str
    unit_id: int | None
    member_id: int | None

    def claims(self) -> dict:
        return {"sub": str(self.user_id), "role": self.role, "unit": self.unit_id, "mid": self.member_id}


def issue_access_token(principal: Principal, settings: Settings | None = None) -> tuple[str, int]:
    """Return (token, lifetime in seconds)."""
    settings = settings or get_settings()
    now = datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims = principal.claims() | {"iss": settings.jwt_issuer, "iat": now, "exp": now + lifetime,
                                   "jti": uuid.uuid4().hex, "typ": "access"}
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM), int(lifetime.total_seconds())


def decode_access_token(token: str, settings: Settings | None = None) -> Principal:
    settings = settings or get_settings()
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=[ALGORITHM], issuer=settings.jwt_issuer,
                            options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("access token expired; refresh it at /api/auth/refresh") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid access token") from None
    if claims.get("typ") != "access" or claims.get("role") not in ROLES:
        raise Unauthorized("invalid access token")
    return Principal(int(claims["sub"]), claims["role"], claims.get("unit"), claims.get("mid"))


def new_refresh_token() -> tuple[str, str]:
    """Return (token for the client, sha256 hex digest to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


ROLES = ("member", "trainer", "manager", "admin")
