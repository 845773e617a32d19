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

import msgspec
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from .db import new_id, utcnow
from .statements import account_lock, run_text

_dumps = msgspec.json.Encoder().encode

#: The account's next ``n`` positions and its events, one statement for every event of a transaction (after the
#: account's lock). The events arrive as parallel arrays; ``ord`` numbers them in the order they happened.
APPEND_SQL = (
    "WITH p AS ( INSERT INTO event_positions (account_id, last) VALUES (%(account_id)s, %(n)s) "
    "ON CONFLICT (account_id) DO UPDATE SET last = event_positions.last + %(n)s RETURNING last ) "
    "INSERT INTO outbox_events (id, account_id, position, type, occurred_at, application_id, job_id, candidate_id, "
    "data) SELECT e.id, %(account_id)s, p.last - %(n)s + e.ord, e.type, %(occurred_at)s, e.application_id, e.job_id, "
    "e.candidate_id, e.data FROM p, unnest(%(ids)s::uuid[], %(types)s::text[], %(application_ids)s::uuid[], "
    "%(job_ids)s::uuid[], %(candidate_ids)s::uuid[], %(data)s::jsonb[]) "
    "WITH ORDINALITY AS e(id, type, application_id, job_id, candidate_id, data, ord) RETURNING position"
)


@dataclass(frozen=True, slots=True)
class Event:
    """One event to append: its type, payload and the ids the feed and webhook filters use."""

    type: str
    data: dict[str, Any]
    application_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    candidate_id: uuid.UUID | None = None


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
    (appended,) = await append_many(session, account_id, [Event(type, data, application_id, job_id, candidate_id)])
    return appended


async def append_many(session: AsyncSession, account_id: uuid.UUID, events: list[Event]) -> list[Appended]:
    """Append an account's events, in order, in the caller's transaction: the account's lock (unless this
    transaction holds it already) and one statement, whatever their number."""
    if not events:
        return []
    await account_lock(session, account_id)
    ids, at, n = [new_id() for _ in events], utcnow(), len(events)
    rows = await run_text(
        session,
        APPEND_SQL,
        {
            "account_id": account_id,
            "n": n,
            "occurred_at": at,
            "ids": ids,
            "types": [e.type for e in events],
            "application_ids": [e.application_id for e in events],
            "job_ids": [e.job_id for e in events],
            "candidate_ids": [e.candidate_id for e in events],
            "data": [Jsonb(e.data, dumps=_dumps) for e in events],
        },
    )
    first = int(max(row[0] for row in rows)) - n + 1
    return [Appended(i, account_id, first + k, e.type, at) for k, (i, e) in enumerate(zip(ids, events, strict=True))]


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
