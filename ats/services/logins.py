"""Token login, refresh with rotation, logout, and turning a bearer secret into a principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..auth import (
    ACCESS_PREFIX,
    API_KEY_PREFIX,
    REFRESH_PREFIX,
    Principal,
    hash_secret,
    new_secret,
    verify_password,
)
from ..db import new_id, utcnow
from ..errors import BadRequest, LoginFailed, RateLimited, RefreshTokenReused, Unauthorized
from ..models import ApiKey, AuthToken, User
from ..ratelimit import Limiter
from ..statements import Compiled

INVALID_LOGIN = "Invalid email or password"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPair:
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str


async def _issue_pair(
    session: AsyncSession, user: User, family_id: uuid.UUID, access_ttl: int, refresh_ttl: int
) -> TokenPair:
    now = utcnow()
    access, refresh = new_secret(ACCESS_PREFIX), new_secret(REFRESH_PREFIX)
    session.add_all(
        [
            AuthToken(
                id=new_id(),
                account_id=user.account_id,
                user_id=user.id,
                kind="access",
                token_hash=hash_secret(access),
                family_id=family_id,
                created_at=now,
                expires_at=now + timedelta(seconds=access_ttl),
            ),
            AuthToken(
                id=new_id(),
                account_id=user.account_id,
                user_id=user.id,
                kind="refresh",
                token_hash=hash_secret(refresh),
                family_id=family_id,
                created_at=now,
                expires_at=now + timedelta(seconds=refresh_ttl),
            ),
        ]
    )
    await session.flush()
    return TokenPair(access_token=access, expires_in=access_ttl, refresh_token=refresh)


async def login(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    client_ip: str,
    limiter: Limiter,
    ip_limiter: Limiter,
    access_ttl: int,
    refresh_ttl: int,
) -> TokenPair:
    """Check the password; every failure looks the same; failures past the limit are refused.

    Three counters, so a stranger cannot lock the owner out from elsewhere:

    - per (email, client IP), ``limiter.limit``: guessing one account's password from one address;
    - per client IP, ``ip_limiter.limit`` (wider): one address trying many emails;
    - per email, ``ip_limiter.limit`` too, a ceiling far above the first: credential stuffing against
      one account from many addresses. Locking the owner out this way takes that many failures, i.e.
      ``ip_limiter.limit / limiter.limit`` addresses, not five guesses from anywhere.
    """
    email_hash = hash_secret(email.strip().lower())
    keys = [
        (limiter, "login:" + hash_secret(email_hash + "|" + client_ip)),
        (ip_limiter, "login-ip:" + client_ip),
        (ip_limiter, "login-email:" + email_hash),
    ]
    # Counted before the slow password check, so parallel attempts cannot outrun the limit;
    # a success (or a refusal) takes its hits back.
    waits = [await counter.hit(key) for counter, key in keys]
    if max(waits):
        # A refused attempt tried no password: it does not count, so a blocked address cannot
        # keep the per-email ceiling (the owner's other addresses) shut by hammering.
        for counter, key in keys:
            await counter.undo(key)
        raise RateLimited(max(waits), "Too many failed logins; try again later")
    # Emails are unique per account, not globally: a login names the active user with this
    # email and this password, whichever account holds it.
    candidates = list(
        (
            await session.scalars(
                select(User).where(func.lower(User.email) == func.lower(email.strip()), User.active.is_(True))
            )
        ).all()
    )
    user: User | None = None
    for candidate in candidates:
        if await anyio.to_thread.run_sync(verify_password, candidate.password_hash, password):
            user = candidate
            break
    if not candidates:
        await anyio.to_thread.run_sync(verify_password, None, password)
    if user is None:
        for candidate in candidates:
            await audit.record(
                session,
                Principal(type="user", id=candidate.id, account_id=candidate.account_id, role=candidate.role),
                "auth.login_failed",
                object_type="user",
                object_id=candidate.id,
            )
        raise LoginFailed(INVALID_LOGIN)
    for counter, key in keys:
        await counter.undo(key)
    pair = await _issue_pair(session, user, new_id(), access_ttl, refresh_ttl)
    await audit.record(
        session,
        Principal(type="user", id=user.id, account_id=user.account_id, role=user.role),
        "auth.login",
        object_type="user",
        object_id=user.id,
    )
    return pair


async def refresh(session: AsyncSession, refresh_token: str, *, access_ttl: int, refresh_ttl: int) -> TokenPair:
    """Rotate: the used refresh token and its family stop working; a reused one revokes the family."""
    row = await session.scalar(
        select(AuthToken)
        .where(AuthToken.token_hash == hash_secret(refresh_token), AuthToken.kind == "refresh")
        .with_for_update()
    )
    now = utcnow()
    if row is None:
        raise Unauthorized("Invalid refresh token")
    if row.revoked_at is not None:
        # A refresh token used twice is a stolen one: end the whole session family.
        await _revoke_family(session, row.family_id)
        raise RefreshTokenReused("Invalid refresh token")
    if row.expires_at <= now:
        raise Unauthorized("Invalid refresh token")
    user = await session.scalar(select(User).where(User.id == row.user_id, User.active.is_(True)))
    if user is None:
        raise Unauthorized("Invalid refresh token")
    await _revoke_family(session, row.family_id)
    return await _issue_pair(session, user, row.family_id, access_ttl, refresh_ttl)


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(AuthToken)
        .where(AuthToken.family_id == family_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def logout(session: AsyncSession, principal: Principal) -> None:
    """End the caller's session: its access token and the refresh token issued with it."""
    if principal.type == "api_key":
        raise BadRequest("API keys have no session to end; revoke the key with DELETE /api/v1/api-keys/{id}")
    if principal.type == "user" and principal.token_id is not None:
        family = await session.scalar(select(AuthToken.family_id).where(AuthToken.id == principal.token_id))
        if family is not None:
            await _revoke_family(session, family)
        await audit.record(session, principal, "auth.logout", object_type="user", object_id=principal.id)


# Every authenticated request runs one of these: compiled once (see ats.statements).
_API_KEY = Compiled(
    select(ApiKey.id, ApiKey.account_id, ApiKey.role, ApiKey.name).where(
        ApiKey.key_hash == bindparam("key_hash_1"),
        ApiKey.revoked_at.is_(None),
        ApiKey.expires_at > bindparam("expires_at_1"),
    )
)
_ACCESS_TOKEN = Compiled(
    select(AuthToken.id, User.id, User.account_id, User.role, User.name)
    .join(User, User.id == AuthToken.user_id)
    .where(
        AuthToken.token_hash == bindparam("token_hash_1"),
        AuthToken.kind == "access",
        AuthToken.revoked_at.is_(None),
        AuthToken.expires_at > bindparam("expires_at_1"),
        User.active.is_(True),
    )
)


async def authenticate(session: AsyncSession, secret: str) -> Principal | None:
    """The principal for a bearer secret, or ``None`` when it is unknown, expired or revoked."""
    now = utcnow()
    digest = hash_secret(secret)
    if secret.startswith(API_KEY_PREFIX):
        key = await _API_KEY.first(session, {"key_hash_1": digest, "expires_at_1": now})
        if key is None:
            return None
        key_id, key_account, key_role, key_name = key
        return Principal(type="api_key", id=key_id, account_id=key_account, role=key_role, name=key_name)
    if not secret.startswith(ACCESS_PREFIX):
        return None
    found = await _ACCESS_TOKEN.first(session, {"token_hash_1": digest, "expires_at_1": now})
    if found is None:
        return None
    token_id, user_id, account_id, role, name = found
    return Principal(type="user", id=user_id, account_id=account_id, role=role, name=name, token_id=token_id)
