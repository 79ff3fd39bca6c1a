"""Request and response bodies of the auth service."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

Role = Literal["member", "trainer", "manager", "admin"]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenPair(Schema):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="access token lifetime in seconds")
    refresh_token: str = Field(description="opaque, single use: each refresh returns a new one")
    role: Role
    unit_id: int | None
    member_id: int | None


class RefreshRequest(Schema):
    refresh_token: str = Field(min_length=20, max_length=200)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"refresh_token": "Q2h...x"}]})


class UserCreate(Schema):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=8, max_length=128)
    role: Role
    unit_id: int | None = Field(None, ge=1, le=2**31)
    member_id: int | None = Field(None, ge=1, le=2**62)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": "carla@example.com", "password": "a-long-password", "role": "member", "unit_id": 1,
         "member_id": 42}]})


class UserOut(Schema):
    id: int
    email: str | None
    role: Role
    unit_id: int | None
    member_id: int | None
    is_active: bool
