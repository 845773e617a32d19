"""Token login, refresh, logout and /me."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.errors import NotFound
from ats.runtime import Runtime
from ats.services import accounts, logins, users

from .deps import client_ip, provide_principal
from .schemas import Input, One


class TokenRequest(Input):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class RefreshRequest(Input):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AccountRef(msgspec.Struct):
    id: str
    name: str


class Me(msgspec.Struct):
    id: str | None
    email: str | None
    name: str
    role: str
    type: str
    account: AccountRef


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/token", opt={"exclude_from_auth": True}, status_code=200)
    async def token(
        self, request: Request[Any, Any, Any], data: TokenRequest, db_session: AsyncSession, runtime: Runtime
    ) -> logins.TokenPair:
        """Log in with email and password; wrong credentials get one generic 401."""
        pair = await logins.login(
            db_session,
            email=data.email,
            password=data.password,
            client_ip=client_ip(request, runtime.settings.trusted_proxies),
            limiter=runtime.login_limiter,
            ip_limiter=runtime.login_ip_limiter,
            access_ttl=runtime.settings.access_token_ttl,
            refresh_ttl=runtime.settings.refresh_token_ttl,
        )
        return pair

    @post("/refresh", opt={"exclude_from_auth": True}, status_code=200)
    async def refresh(self, data: RefreshRequest, db_session: AsyncSession, runtime: Runtime) -> logins.TokenPair:
        """A new pair; the used refresh token stops working (a reuse ends the whole session)."""
        pair = await logins.refresh(
            db_session,
            data.refresh_token,
            access_ttl=runtime.settings.access_token_ttl,
            refresh_ttl=runtime.settings.refresh_token_ttl,
        )
        return pair

    @post("/logout", status_code=204, dependencies={"principal": Provide(provide_principal)})
    async def logout(self, db_session: AsyncSession, principal: Principal) -> None:
        await logins.logout(db_session, principal)


class MeController(Controller):
    path = "/me"
    tags = ["auth"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def me(self, db_session: AsyncSession, principal: Principal) -> One[Me]:
        account = await accounts.get_account(db_session, principal.account_id)
        if account is None:
            raise NotFound("No such account")
        email = None
        if principal.type == "user" and principal.id is not None:
            email = (await users.get_user(db_session, principal, principal.id)).email
        return One(
            Me(
                id=str(principal.id) if principal.id else None,
                email=email,
                name=principal.name,
                role=principal.role,
                type=principal.type,
                account=AccountRef(str(account.id), account.name),
            )
        )
