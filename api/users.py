"""Users and API keys administration (admin only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, TypeVar

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.models import ApiKey as ApiKeyRow
from ats.models import User as UserRow
from ats.roles import Permission, Role
from ats.runtime import Runtime
from ats.services import api_keys, users
from ats.vocabulary import EMAIL_PATTERN

from .deps import provide_principal, requires
from .paging import parse_updated_since
from .schemas import Input, Many, One, whole

T = TypeVar("T")

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=EMAIL_PATTERN)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]


class UserCreate(Input):
    email: Email
    name: Name
    role: Role
    password: Password


class UserUpdate(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET


class User(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, row: UserRow) -> User:
        return cls(row.id, row.email, row.name, row.role, row.active, row.created_at)


class ApiKeyCreate(Input):
    name: Name
    role: Role


class ApiKey(msgspec.Struct):
    id: uuid.UUID
    name: str
    role: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    key: str | None = None

    @classmethod
    def of(cls, row: ApiKeyRow, secret: str | None = None) -> ApiKey:
        return cls(row.id, row.name, row.role, row.prefix, row.created_at, row.expires_at, row.revoked_at, secret)


def _unset_to_none(value: T | msgspec.UnsetType) -> T | None:
    return None if isinstance(value, msgspec.UnsetType) else value


class UserController(Controller):
    path = "/users"
    tags = ["users"]
    guards = [requires(Permission.MANAGE_USERS)]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def list_users(
        self,
        db_session: AsyncSession,
        principal: Principal,
        updated_since: Annotated[str, msgspec.Meta(max_length=64)] | None = None,
    ) -> Many[User]:
        since = parse_updated_since(updated_since)
        return whole([User.of(u) for u in await users.list_users(db_session, principal, updated_since=since)])

    @post("/")
    async def create_user(self, data: UserCreate, db_session: AsyncSession, principal: Principal) -> One[User]:
        row = await users.create_user(
            db_session,
            principal,
            email=data.email,
            name=data.name,
            role=data.role.value,
            password=data.password,
        )
        return One(User.of(row))

    @get("/{user_id:uuid}")
    async def get_user(self, user_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> One[User]:
        return One(User.of(await users.get_user(db_session, principal, user_id)))

    @patch("/{user_id:uuid}")
    async def update_user(
        self, user_id: uuid.UUID, data: UserUpdate, db_session: AsyncSession, principal: Principal
    ) -> One[User]:
        role = _unset_to_none(data.role)
        row = await users.update_user(
            db_session,
            principal,
            user_id,
            name=_unset_to_none(data.name),
            role=role.value if role else None,
            active=_unset_to_none(data.active),
            password=_unset_to_none(data.password),
        )
        return One(User.of(row))

    @delete("/{user_id:uuid}", status_code=204)
    async def deactivate_user(self, user_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> None:
        await users.deactivate_user(db_session, principal, user_id)


class ApiKeyController(Controller):
    path = "/api-keys"
    tags = ["api keys"]
    guards = [requires(Permission.MANAGE_USERS)]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def list_keys(self, db_session: AsyncSession, principal: Principal) -> Many[ApiKey]:
        return whole([ApiKey.of(k) for k in await api_keys.list_api_keys(db_session, principal)])

    @post("/")
    async def create_key(
        self, data: ApiKeyCreate, db_session: AsyncSession, principal: Principal, runtime: Runtime
    ) -> One[ApiKey]:
        """The key's secret is in this response only."""
        row, secret = await api_keys.create_api_key(
            db_session,
            principal,
            name=data.name,
            role=data.role.value,
            ttl_seconds=runtime.settings.api_key_ttl,
        )
        return One(ApiKey.of(row, secret))

    @get("/{key_id:uuid}")
    async def get_key(self, key_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> One[ApiKey]:
        return One(ApiKey.of(await api_keys.get_api_key(db_session, principal, key_id)))

    @delete("/{key_id:uuid}", status_code=204)
    async def revoke_key(self, key_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> None:
        await api_keys.revoke_api_key(db_session, principal, key_id)
