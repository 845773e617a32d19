"""``Idempotency-Key``: the first request claims the key in its own transaction; retries replay it."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import utcnow
from ..errors import Conflict, FieldError, ValidationFailed
from ..models import IdempotencyKey

MAX_KEY = 200


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    body: bytes


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def claim(session: AsyncSession, scope: str, key: str, body: bytes) -> Replay | None:
    """``None`` when this request owns the key; the stored answer when the key was used before.

    A concurrent request with the same key waits on the unique index until the first commits
    (then replays it) or rolls back (then owns the key).
    """
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed(errors=[FieldError("Idempotency-Key", f"must be 1 to {MAX_KEY} characters")])
    digest = request_hash(body)
    claimed = await session.scalar(
        insert(IdempotencyKey)
        .values(key=key, scope=scope, request_hash=digest, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    if claimed is not None:
        return None
    stored = (
        await session.execute(
            select(IdempotencyKey.request_hash, IdempotencyKey.status_code, IdempotencyKey.response).where(
                IdempotencyKey.key == key, IdempotencyKey.scope == scope
            )
        )
    ).first()
    if stored is None or stored.status_code is None or stored.response is None:
        raise Conflict("A request with this Idempotency-Key is still being processed")
    if stored.request_hash != digest:
        raise ValidationFailed(
            "This Idempotency-Key was used with a different request body",
            errors=[FieldError("Idempotency-Key", "was used with a different request body", "key_reused")],
        )
    return Replay(stored.status_code, stored.response)


async def remember(
    session: AsyncSession, scope: str, key: str, status_code: int, body: bytes, *, resource_id: uuid.UUID | None
) -> None:
    """Store the answer to replay; ``resource_id`` ties it to the application so erasure removes it."""
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == key, IdempotencyKey.scope == scope)
        .values(status_code=status_code, response=body, resource_id=resource_id)
    )
