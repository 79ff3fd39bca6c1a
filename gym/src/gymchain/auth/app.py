"""The auth service app (port 8001): ``uvicorn gymchain.auth.app:app``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.orm import Session

from gymchain.common import audit
from gymchain.common.db import get_session
from gymchain.common.errors import BadRequest, NotFound
from gymchain.common.http import create_app, request_id
from gymchain.common.security.rbac import ADMIN, MANAGER, current_principal, require_roles, scoped_unit
from gymchain.common.security.tokens import Principal

from . import service
from .models import User
from .schemas import RefreshRequest, Role, TokenPair, UserCreate, UserOut

DESCRIPTION = """Logins for members and staff. `POST /token` (OAuth2 password flow: `username` is the e-mail)
returns a short-lived JWT access token and an opaque refresh token. Each `POST /refresh` spends the refresh token
and returns a new pair; presenting a spent token again revokes every token of that login (theft detection).
Roles: member, trainer, manager, admin; every role but admin belongs to one unit."""

app = create_app("auth", DESCRIPTION)
DB = Annotated[Session, Depends(get_session)]
Caller = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_roles(MANAGER, ADMIN))]


@app.post("/token", response_model=TokenPair, tags=["tokens"], summary="Log in (OAuth2 password flow)")
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], db: DB) -> TokenPair:
    if not form.username or len(form.username) > 254 or not form.password or len(form.password) > 128:
        raise BadRequest("username (the e-mail) and password are required, at most 254/128 characters")
    return service.login(db, form.username, form.password)


@app.post("/refresh", response_model=TokenPair, tags=["tokens"], summary="Rotate a refresh token")
def refresh(body: RefreshRequest, db: DB) -> TokenPair:
    return service.refresh(db, body.refresh_token)


@app.post("/logout", status_code=204, tags=["tokens"], summary="Revoke the refresh tokens of this login")
def logout(body: RefreshRequest, db: DB) -> Response:
    service.logout(db, body.refresh_token)
    return Response(status_code=204)


@app.get("/me", response_model=UserOut, tags=["users"], summary="The calling user")
def me(principal: Caller, db: DB) -> UserOut:
    user = db.get(User, principal.user_id)
    if user is None or not user.is_active:
        raise NotFound("your user no longer exists")
    return service.user_out(user)


@app.post("/users", response_model=UserOut, status_code=201, tags=["users"],
          summary="Create a login (admin: any; manager: members and trainers of their unit)")
def create_user(body: UserCreate, principal: Staff, db: DB, request: Request) -> UserOut:
    service.ensure_may_create(principal, body)
    user = service.create_user(db, body)
    audit.record(db, principal, "create", "user", [user.id], unit_id=user.unit_id, request_id=request_id(request))
    db.commit()
    return service.user_out(user)


@app.get("/users", response_model=list[UserOut], tags=["users"],
         summary="List logins (admin: any unit; manager: their unit)")
def list_users(principal: Staff, db: DB, request: Request, unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
               role: Role | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
               offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[UserOut]:
    users = service.list_users(db, scoped_unit(principal, unit_id), role, limit, offset)
    audit.record(db, principal, "read", "user", [u.id for u in users], request_id=request_id(request))
    db.commit()
    return [service.user_out(u) for u in users]


@app.delete("/users/by-member/{member_id}", status_code=204, tags=["users"],
            summary="Erase a member's login (LGPD): the member themself or an admin")
def erase_member_login(member_id: Annotated[int, Path(ge=1, le=2**62)], principal: Caller, db: DB,
                       request: Request) -> Response:
    user = service.erase_member_login(db, principal, member_id)
    audit.record(db, principal, "erase", "user", [user.id], unit_id=user.unit_id, request_id=request_id(request))
    db.commit()
    return Response(status_code=204)
