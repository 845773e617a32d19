"""The change feed (§12): ``GET /api/v1/events`` replays the account's events in order (admin)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import feed

from .deps import provide_principal, requires


class EventOut(msgspec.Struct):
    """One event, exactly as the outbox envelope is (and as a webhook posts it)."""

    id: str
    type: str
    account_id: str
    position: int
    occurred_at: Annotated[str, msgspec.Meta(description="RFC 3339 UTC, when the change committed")]
    data: dict[str, Any]


class FeedMeta(msgspec.Struct):
    next_after: Annotated[int, msgspec.Meta(description="the `after` to ask with next")]
    has_more: bool
    oldest_position: Annotated[int | None, msgspec.Meta(description="the oldest event still retained")]


class Feed(msgspec.Struct):
    data: list[EventOut]
    meta: FeedMeta


class EventController(Controller):
    path = "/events"
    tags = ["events"]
    guards = [requires(Permission.INTEGRATIONS)]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def list_events(
        self,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
        after: int | None = None,
        types: Annotated[str, msgspec.Meta(max_length=2000)] | None = None,
        limit: int = feed.DEFAULT_LIMIT,
    ) -> Feed:
        page = await feed.read(
            db_session,
            principal.account_id,
            after=after,
            types=feed.parse_types(types),
            limit=limit,
            retention=runtime.settings.event_retention,
        )
        return Feed(
            [msgspec.convert(e, EventOut) for e in page.events],
            FeedMeta(page.next_after, page.has_more, page.oldest_position),
        )
