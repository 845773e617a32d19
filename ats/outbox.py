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
#: account's lock). The events arrive as one JSON array of objects (one parameter: a ``jsonb[]`` of payloads would be
#: quoted element by element on the client, ~0.4 ms per apply); ``ord`` numbers them in the order they happened.
APPEND_SQL = (
    "WITH p AS ( INSERT INTO event_positions (account_id, last) VALUES (%(account_id)s, %(n)s) "
    "ON CONFLICT (account_id) DO UPDATE SET last = event_positions.last + %(n)s RETURNING last ) "
    "INSERT INTO outbox_events (id, account_id, position, type, occurred_at, application_id, job_id, candidate_id, "
    "data) SELECT e.id, %(account_id)s, p.last - %(n)s + e.ord, e.type, %(occurred_at)s, e.application_id, e.job_id, "
    "e.candidate_id, e.data FROM p, ROWS FROM (jsonb_to_recordset(%(events)s::jsonb) AS (id uuid, type text, "
    "application_id uuid, job_id uuid, candidate_id uuid, data jsonb)) WITH ORDINALITY "
    "AS e(id, type, application_id, job_id, candidate_id, data, ord) RETURNING position"
)


def append_params(account_id: uuid.UUID, at: datetime, events: list[dict[str, Any]]) -> dict[str, Any]:
    """:data:`APPEND_SQL`'s parameters: ``events`` as ``{id, type, application_id, job_id, candidate_id, data}``."""
    return {"account_id": account_id, "n": len(events), "occurred_at": at, "events": Jsonb(events, dumps=_dumps)}


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
        append_params(
            account_id,
            at,
            [
                {
                    "id": i,
                    "type": e.type,
                    "application_id": e.application_id,
                    "job_id": e.job_id,
                    "candidate_id": e.candidate_id,
                    "data": e.data,
                }
                for i, e in zip(ids, events, strict=True)
            ],
        ),
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
