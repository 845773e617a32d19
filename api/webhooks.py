"""Webhook subscriptions and their delivery logs (§12, admin only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import webhooks

from .deps import provide_principal, requires
from .paging import check_page, page_meta
from .schemas import Input, Many, One, whole

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
EventName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
StatusName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class FiltersIn(Input):
    job_ids: list[uuid.UUID] = []
    statuses: list[StatusName] = []


class WebhookCreate(Input):
    url: Url
    events: list[EventName]
    filters: FiltersIn | None = None
    active: bool = True


class WebhookUpdate(Input):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    events: list[EventName] | msgspec.UnsetType = msgspec.UNSET
    filters: FiltersIn | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class Filters(msgspec.Struct):
    job_ids: list[uuid.UUID]
    statuses: list[str]


class Webhook(msgspec.Struct):
    id: uuid.UUID
    url: str
    events: list[str]
    filters: Filters
    active: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None
    secret: str | None = None  # on create and rotate-secret only

    @classmethod
    def of(cls, row: WebhookSubscription, secret: str | None = None) -> Webhook:
        return cls(
            row.id,
            row.url,
            list(row.events),
            Filters(list(row.job_ids), list(row.statuses)),
            row.active,
            row.disabled_reason,
            row.created_at,
            row.updated_at,
            row.previous_secret_expires_at,
            secret,
        )


class Attempt(msgspec.Struct):
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, row: WebhookAttempt) -> Attempt:
        return cls(row.attempted_at, row.status_code, row.duration_ms, row.error, row.next_attempt_at)


class Delivery(msgspec.Struct):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    position: int
    application_id: uuid.UUID | None
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempts: list[Attempt]

    @classmethod
    def of(cls, row: WebhookDelivery, attempts: list[WebhookAttempt] | None = None) -> Delivery:
        return cls(
            row.id,
            row.event_id,
            row.event_type,
            row.position,
            row.application_id,
            row.status,
            row.attempts,
            row.next_attempt_at if row.status == "pending" else None,
            row.created_at,
            row.delivered_at,
            row.last_status_code,
            row.last_error,
            [Attempt.of(a) for a in attempts or []],
        )


def _filters(value: FiltersIn | None) -> webhooks.Filters:
    return webhooks.Filters(list(value.job_ids), list(value.statuses)) if value else webhooks.Filters([], [])


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]
    guards = [requires(Permission.INTEGRATIONS)]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def list_webhooks(self, db_session: AsyncSession, principal: Principal) -> Many[Webhook]:
        return whole([Webhook.of(r) for r in await webhooks.list_subscriptions(db_session, principal)])

    @post("/")
    async def create_webhook(
        self, data: WebhookCreate, db_session: AsyncSession, principal: Principal, runtime: Runtime
    ) -> One[Webhook]:
        """The secret (`whsec_…`) is in this response only."""
        row, secret = await webhooks.create_subscription(
            db_session,
            principal,
            runtime.settings,
            url=data.url,
            events=list(data.events),
            filters=_filters(data.filters),
            active=data.active,
        )
        return One(Webhook.of(row, secret))

    @get("/{webhook_id:uuid}")
    async def get_webhook(self, webhook_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> One[Webhook]:
        return One(Webhook.of(await webhooks.get_subscription(db_session, principal, webhook_id)))

    @patch("/{webhook_id:uuid}")
    async def update_webhook(
        self,
        webhook_id: uuid.UUID,
        data: WebhookUpdate,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
    ) -> One[Webhook]:
        row = await webhooks.update_subscription(
            db_session,
            principal,
            runtime.settings,
            webhook_id,
            url=None if isinstance(data.url, msgspec.UnsetType) else data.url,
            events=None if isinstance(data.events, msgspec.UnsetType) else list(data.events),
            filters=None if isinstance(data.filters, msgspec.UnsetType) else _filters(data.filters),
            active=None if isinstance(data.active, msgspec.UnsetType) else data.active,
        )
        return One(Webhook.of(row))

    @delete("/{webhook_id:uuid}", status_code=204)
    async def delete_webhook(self, webhook_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> None:
        await webhooks.delete_subscription(db_session, principal, webhook_id)

    @post("/{webhook_id:uuid}/rotate-secret", status_code=200)
    async def rotate_secret(
        self, webhook_id: uuid.UUID, db_session: AsyncSession, principal: Principal
    ) -> One[Webhook]:
        """The new secret is in this response only; the old one keeps signing (alongside) for 24 hours."""
        row, secret = await webhooks.rotate_secret(db_session, principal, webhook_id)
        return One(Webhook.of(row, secret))

    @post("/{webhook_id:uuid}/ping", status_code=202)
    async def ping(self, webhook_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> One[Delivery]:
        return One(Delivery.of(await webhooks.ping(db_session, principal, webhook_id)))

    @get("/{webhook_id:uuid}/deliveries")
    async def list_deliveries(
        self,
        webhook_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        page: int = 1,
        per_page: int = 50,
    ) -> Many[Delivery]:
        check_page(page, per_page)
        rows, total = await webhooks.list_deliveries(db_session, principal, webhook_id, page=page, per_page=per_page)
        return Many([Delivery.of(d, a) for d, a in rows], page_meta(total, page, per_page))

    @post("/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/redeliver", status_code=202)
    async def redeliver(
        self, webhook_id: uuid.UUID, delivery_id: uuid.UUID, db_session: AsyncSession, principal: Principal
    ) -> One[Delivery]:
        return One(Delivery.of(await webhooks.redeliver(db_session, principal, webhook_id, delivery_id)))
