"""The change feed (§12): an account's outbox events in position order, and their pruning after retention.

Positions commit in order (see :mod:`ats.outbox`), so a reader that asks for everything after the last
position it saw never misses an event, whatever was committing meanwhile. Events older than
``ATS_EVENT_RETENTION`` are not served (and the background sweep deletes them); asking for what came after a
position whose successors are gone is :class:`~ats.errors.EventsPruned`, naming the oldest position available.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import events, outbox
from ..db import UnitOfWork, utcnow
from ..errors import EventsPruned, FieldError, ValidationFailed
from ..models import EventPosition, OutboxEvent

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_POSITION = 2**63 - 1  # positions are bigint


@dataclass
class FeedPage:
    events: list[dict[str, Any]]
    next_after: int  # the ``after`` to ask with next: the last position served (or the one asked for)
    has_more: bool
    oldest_position: int | None  # the oldest event still retained; None when none is


def parse_types(raw: str | None, pointer: str = "types") -> list[str]:
    """``a,b`` → the event types; an unknown one is a 422 naming ``pointer`` and listing every type."""
    if not raw:
        return []
    wanted = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [t for t in wanted if t not in events.EVENTS]
    if unknown:
        known = ", ".join(sorted(events.EVENTS))
        raise ValidationFailed(
            f"Unknown event type; valid values: {known}",
            errors=[FieldError(pointer, f"must be event types of: {known}", "invalid_type")],
        )
    return wanted


def check_paging(after: int | None, limit: int) -> None:
    errors = []
    if after is not None and not 0 <= after <= MAX_POSITION:
        errors.append(FieldError("after", f"must be between 0 and {MAX_POSITION}"))
    if not 1 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", f"must be between 1 and {MAX_LIMIT}"))
    if errors:
        raise ValidationFailed("Invalid paging", errors=errors)


async def read(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    after: int | None,
    types: list[str],
    limit: int,
    retention: int,
    now: datetime | None = None,
) -> FeedPage:
    """Up to ``limit`` events after position ``after`` (omitted: from the oldest retained), oldest first."""
    check_paging(after, limit)
    cutoff = (now or utcnow()) - timedelta(seconds=retention)
    oldest = await session.scalar(
        select(OutboxEvent.position)
        .where(OutboxEvent.account_id == account_id, OutboxEvent.occurred_at >= cutoff)
        .order_by(OutboxEvent.position)
        .limit(1)
    )
    if after is not None:
        # The first position that could still be served: the oldest retained, or (all pruned) the next one.
        first = oldest
        if first is None:
            last = await session.scalar(select(EventPosition.last).where(EventPosition.account_id == account_id))
            first = int(last or 0) + 1
        if after + 1 < first:
            raise EventsPruned(
                f"Events after position {after} are no longer retained; the oldest available is {first}",
                errors=[FieldError("after", f"is older than the oldest retained event ({first})", "pruned")],
                extra={"oldest_position": first if oldest is not None else None, "after": first - 1},
            )
    start = after if after is not None else (int(oldest) - 1 if oldest is not None else 0)
    query = (
        select(
            OutboxEvent.id,
            OutboxEvent.type,
            OutboxEvent.account_id,
            OutboxEvent.position,
            OutboxEvent.occurred_at,
            OutboxEvent.data,
        )
        .where(OutboxEvent.account_id == account_id, OutboxEvent.position > start, OutboxEvent.occurred_at >= cutoff)
        .order_by(OutboxEvent.position)
        .limit(limit + 1)
    )
    if types:
        query = query.where(OutboxEvent.type.in_(types))
    rows = list(await session.execute(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    page = [
        outbox.envelope(
            id=r.id, type=r.type, account_id=r.account_id, position=r.position, occurred_at=r.occurred_at, data=r.data
        )
        for r in rows
    ]
    next_after = int(rows[-1].position) if rows else start
    return FeedPage(page, next_after, has_more, int(oldest) if oldest is not None else None)


async def prune(uow: UnitOfWork, *, retention: int, batch: int = 5000) -> int:
    """Delete outbox events older than ``retention`` seconds, in batches (several processes: harmless)."""
    cutoff = utcnow() - timedelta(seconds=retention)
    removed = 0
    while True:
        async with uow() as session:
            due = (
                select(OutboxEvent.id)
                .where(OutboxEvent.occurred_at < cutoff)
                .order_by(OutboxEvent.occurred_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            result: Any = await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(due)))
            count = int(result.rowcount or 0)
        removed += count
        if count < batch:
            return removed
