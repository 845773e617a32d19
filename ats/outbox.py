"""The transactional outbox (§12): every domain event is appended in the transaction of its change.

Positions increase per account. The ``event_positions`` row of the account stays locked until the
transaction ends, so an account's events commit in position order and a reader that has seen
position N never later finds a smaller one appear. The audit chain's advisory lock is taken first, in
every writer, so the two per-account locks are always acquired in the same order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from .db import new_id, utcnow

_APPEND = text(
    """
    WITH p AS (
        INSERT INTO event_positions (account_id, last) VALUES (:account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET last = event_positions.last + 1
        RETURNING last
    )
    INSERT INTO outbox_events (id, account_id, position, type, occurred_at, application_id, job_id, candidate_id, data)
    SELECT :id, :account_id, p.last, :type, :occurred_at, :application_id, :job_id, :candidate_id, :data
    FROM p
    RETURNING position
    """
).bindparams(bindparam("data", type_=JSONB))


@dataclass(frozen=True, slots=True)
class Appended:
    id: uuid.UUID
    account_id: uuid.UUID
    position: int
    type: str
    occurred_at: datetime


async def append(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    type: str,
    data: dict[str, Any],
    application_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    candidate_id: uuid.UUID | None = None,
) -> Appended:
    """Append one event in the caller's transaction and return its id and position."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"audit:{account_id}"}
    )
    event_id, at = new_id(), utcnow()
    position = (
        await session.execute(
            _APPEND,
            {
                "id": event_id,
                "account_id": account_id,
                "type": type,
                "occurred_at": at,
                "application_id": application_id,
                "job_id": job_id,
                "candidate_id": candidate_id,
                "data": data,
            },
        )
    ).scalar_one()
    return Appended(event_id, account_id, int(position), type, at)


def envelope(
    *, id: uuid.UUID, type: str, account_id: uuid.UUID, position: int, occurred_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """One event as the feed lists it and a webhook posts it (§12): the same bytes for both."""
    return {
        "id": str(id),
        "type": type,
        "account_id": str(account_id),
        "position": position,
        "occurred_at": occurred_at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
