"""API keys: random secrets shown once, stored as hashes, expiring, revocable."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..auth import API_KEY_PREFIX, Principal, hash_secret, new_secret
from ..db import new_id, utcnow
from ..errors import NotFound
from ..models import ApiKey
from .users import check_role


async def create_api_key(
    session: AsyncSession, actor: Principal, *, name: str, role: str, ttl_seconds: int
) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is never stored nor shown again."""
    check_role(role)
    secret = new_secret(API_KEY_PREFIX)
    now = utcnow()
    key = ApiKey(
        id=new_id(),
        account_id=actor.account_id,
        name=name.strip(),
        role=role,
        key_hash=hash_secret(secret),
        prefix=secret[: len(API_KEY_PREFIX) + 4],
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(key)
    await session.flush()
    await audit.record(session, actor, "api_key.created", object_type="api_key", object_id=key.id, data={"role": role})
    return key, secret


async def list_api_keys(session: AsyncSession, actor: Principal) -> list[ApiKey]:
    return list(
        (
            await session.scalars(
                select(ApiKey).where(ApiKey.account_id == actor.account_id).order_by(ApiKey.created_at, ApiKey.id)
            )
        ).all()
    )


async def get_api_key(session: AsyncSession, actor: Principal, key_id: uuid.UUID) -> ApiKey:
    key = await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.account_id == actor.account_id))
    if key is None:
        raise NotFound("No such API key")
    return key


async def revoke_api_key(session: AsyncSession, actor: Principal, key_id: uuid.UUID) -> None:
    key = await get_api_key(session, actor, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        await audit.record(session, actor, "api_key.revoked", object_type="api_key", object_id=key.id)
