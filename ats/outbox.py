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

from .audit import lock_chain
from .db import new_id, utcnow
from .statements import run_text

_dumps = msgspec.json.Encoder().encode

#: The next position of the account and the event, in one statement (psycopg's form: it runs on the session's
#: connection, :func:`ats.statements.run_text`).
APPEND_SQL = (
    "WITH p AS ( INSERT INTO event_positions (account_id, last) VALUES (%(account_id)s, 1) "
    "ON CONFLICT (account_id) DO UPDATE SET last = event_positions.last + 1 RETURNING last ) "
    "INSERT INTO outbox_events (id, account_id, position, type, occurred_at, application_id, job_id, candidate_id, "
    "data) SELECT %(id)s, %(account_id)s, p.last, %(type)s, %(occurred_at)s, %(application_id)s, %(job_id)s, "
    "%(candidate_id)s, %(data)s::JSONB FROM p RETURNING position"
)


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
    """Append one event in the caller's transaction and return its id and position.

    Under the account's lock (the audit chain's, taken first in every writer; once per transaction).
    """
    await lock_chain(session, account_id)
    event_id, at = new_id(), utcnow()
    ((position,),) = await run_text(
        session,
        APPEND_SQL,
        {
            "id": event_id,
            "account_id": account_id,
            "type": type,
            "occurred_at": at,
            "application_id": application_id,
            "job_id": job_id,
            "candidate_id": candidate_id,
            "data": Jsonb(data, dumps=_dumps),
        },
    )
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
