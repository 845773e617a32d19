"""Webhook subscriptions (§12, admin): where an account's events go, their secrets, their delivery logs.

Sending is :mod:`ats.delivery`'s work, in the background; nothing here calls out. The secret is returned when a
subscription is created or its secret rotated, and never again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from .. import outbox
from ..auth import Principal
from ..db import new_id, utcnow
from ..delivery import LOG_DAYS
from ..errors import Conflict, ErrorCollector, NotFound
from ..models import JobPosting, WebhookAttempt, WebhookDelivery, WebhookSubscription
from ..pipeline import STATUSES
from ..settings import Settings
from ..vocabulary import WEBHOOK_ALL_EVENTS, WEBHOOK_EVENT_TYPES, WEBHOOK_PING
from ..webhook_http import new_secret, url_problem

#: How long a rotated-out secret still signs deliveries.
PREVIOUS_SECRET_TTL = timedelta(hours=24)
MAX_EVENTS = 50
MAX_FILTER_VALUES = 100


@dataclass(frozen=True, slots=True)
class Filters:
    job_ids: list[uuid.UUID]
    statuses: list[str]


async def _check(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    url: str | None,
    events: list[str] | None,
    filters: Filters | None,
) -> None:
    """Every problem of the input at once, each under its JSON pointer."""
    errors = ErrorCollector()
    if url is not None:
        problem = url_problem(
            url, allow_http=settings.webhooks_allow_http, allow_private=settings.webhooks_allow_private
        )
        if problem:
            errors.add("/url", problem)
    if events is not None:
        if not events:
            errors.add("/events", "must name at least one event type (or *)")
        if len(events) > MAX_EVENTS:
            errors.add("/events", f"must name at most {MAX_EVENTS} event types")
        known = {*WEBHOOK_EVENT_TYPES, WEBHOOK_ALL_EVENTS}
        for index, name in enumerate(events):
            if name not in known:
                errors.add(f"/events/{index}", f"unknown event type; valid: *, {', '.join(WEBHOOK_EVENT_TYPES)}")
    if filters is not None:
        if len(filters.job_ids) > MAX_FILTER_VALUES:
            errors.add("/filters/job_ids", f"must list at most {MAX_FILTER_VALUES} jobs")
        elif filters.job_ids:
            found = set(
                await session.scalars(
                    select(JobPosting.id).where(
                        JobPosting.account_id == principal.account_id, JobPosting.id.in_(set(filters.job_ids))
                    )
                )
            )
            for index, job_id in enumerate(filters.job_ids):
                if job_id not in found:
                    errors.add(f"/filters/job_ids/{index}", "no such job posting")
        for index, status in enumerate(filters.statuses):
            if status not in STATUSES:
                errors.add(f"/filters/statuses/{index}", f"unknown status; valid: {', '.join(STATUSES)}")
    errors.raise_if_any()


async def create_subscription(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    url: str,
    events: list[str],
    filters: Filters,
    active: bool = True,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret; events after this moment (the account's last position) go to it."""
    await _check(session, principal, settings, url=url, events=events, filters=filters)
    last = await session.scalar(
        text("SELECT last FROM event_positions WHERE account_id = :a"), {"a": principal.account_id}
    )
    # the account's fan-out starts here unless it already runs (an account with no subscription has no cursor)
    await session.execute(
        text(
            "INSERT INTO webhook_cursors (account_id, last_position) VALUES (:a, :p) "
            "ON CONFLICT (account_id) DO NOTHING"
        ),
        {"a": principal.account_id, "p": int(last or 0)},
    )
    now = utcnow()
    secret = new_secret()
    row = WebhookSubscription(
        id=new_id(),
        account_id=principal.account_id,
        url=url,
        events=list(dict.fromkeys(events)),
        job_ids=list(dict.fromkeys(filters.job_ids)),
        statuses=list(dict.fromkeys(filters.statuses)),
        active=active,
        secret=secret,
        from_position=int(last or 0),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row, secret


async def list_subscriptions(session: AsyncSession, principal: Principal) -> list[WebhookSubscription]:
    return list(
        await session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.account_id == principal.account_id)
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        )
    )


async def get_subscription(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, *, lock: bool = False
) -> WebhookSubscription:
    query = select(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id, WebhookSubscription.account_id == principal.account_id
    )
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound("No such webhook subscription")
    return row


async def update_subscription(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    subscription_id: uuid.UUID,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    filters: Filters | None = None,
    active: bool | None = None,
) -> WebhookSubscription:
    row = await get_subscription(session, principal, subscription_id, lock=True)
    await _check(session, principal, settings, url=url, events=events, filters=filters)
    if url is not None:
        row.url = url
    if events is not None:
        row.events = list(dict.fromkeys(events))
    if filters is not None:
        row.job_ids = list(dict.fromkeys(filters.job_ids))
        row.statuses = list(dict.fromkeys(filters.statuses))
    if active is not None:
        if active and not row.active:  # turned back on: the failure clock starts again
            row.disabled_reason, row.failing_since = None, None
        row.active = active
    row.updated_at = utcnow()
    await session.flush()
    return row


async def delete_subscription(session: AsyncSession, principal: Principal, subscription_id: uuid.UUID) -> None:
    """The subscription, its pending deliveries and its delivery log."""
    row = await get_subscription(session, principal, subscription_id, lock=True)
    await session.delete(row)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID
) -> tuple[WebhookSubscription, str]:
    """A new secret; the one it replaces still signs (alongside) for 24 hours."""
    row = await get_subscription(session, principal, subscription_id, lock=True)
    now = utcnow()
    secret = new_secret()
    row.previous_secret, row.previous_secret_expires_at = row.secret, now + PREVIOUS_SECRET_TTL
    row.secret, row.updated_at = secret, now
    await session.flush()
    return row, secret


async def ping(session: AsyncSession, principal: Principal, subscription_id: uuid.UUID) -> WebhookDelivery:
    """Queue a ``webhook.ping`` event for this subscription alone (it is not in the outbox nor the feed)."""
    row = await get_subscription(session, principal, subscription_id)
    if not row.active:
        raise Conflict("The subscription is not active; set it active to ping it")
    now = utcnow()
    event_id = new_id()
    body = msgspec.json.encode(
        outbox.envelope(
            id=event_id,
            type=WEBHOOK_PING,
            account_id=row.account_id,
            position=0,
            occurred_at=now,
            data={"subscription_id": str(row.id)},
        )
    )
    delivery = WebhookDelivery(
        id=new_id(),
        account_id=row.account_id,
        subscription_id=row.id,
        event_id=event_id,
        event_type=WEBHOOK_PING,
        position=0,
        body=body,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery


async def list_deliveries(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, *, page: int, per_page: int
) -> tuple[list[tuple[WebhookDelivery, list[WebhookAttempt]]], int]:
    """The last 30 days' deliveries, newest first, each with its attempts (oldest first); and their total."""
    await get_subscription(session, principal, subscription_id)
    since = utcnow() - timedelta(days=LOG_DAYS)
    where = (WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.created_at >= since)
    total = int(await session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0)
    deliveries = list(
        await session.scalars(
            select(WebhookDelivery)
            .where(*where)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.position.desc(), WebhookDelivery.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    if deliveries:
        for attempt in await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)), WebhookAttempt.attempted_at >= since)
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in deliveries], total


async def redeliver(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery again, now, with the same event id and body (a new round of retries if it fails)."""
    subscription = await get_subscription(session, principal, subscription_id)
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.subscription_id == subscription.id)
        .with_for_update()
    )
    if delivery is None:
        raise NotFound("No such delivery")
    if not subscription.active:
        raise Conflict("The subscription is not active; set it active to redeliver")
    if delivery.status == "pending":
        raise Conflict("The delivery is still pending: it is being tried")
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, utcnow()
    delivery.leased_until = delivery.lease = None
    await session.flush()
    return delivery


async def forget_application(session: AsyncSession, application_id: uuid.UUID) -> None:
    """Erasure (§12 privacy): the application's deliveries go, with their bodies and logs, sent or not.

    The ``application.erased`` tombstone (ids only) is kept: it still has to reach the subscriptions.
    """
    await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.application_id == application_id, WebhookDelivery.event_type != "application.erased"
        )
    )


@dataclass(frozen=True, slots=True)
class Sent:
    """Where an application's data was sent: the subscription's URL, the event and when it arrived."""

    url: str
    event_type: str
    delivered_at: datetime


async def sent_for_application(session: AsyncSession, application_id: uuid.UUID) -> list[Sent]:
    rows = await session.execute(
        select(WebhookSubscription.url, WebhookDelivery.event_type, WebhookDelivery.delivered_at)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.application_id == application_id, WebhookDelivery.delivered_at.is_not(None))
        .order_by(WebhookDelivery.delivered_at, WebhookDelivery.id)
    )
    return [Sent(url, event_type, at) for url, event_type, at in rows.all() if at is not None]


async def sent_for_candidate(session: AsyncSession, candidate_id: uuid.UUID) -> list[Sent]:
    """Where the person's own events (``candidate.*``) were sent; their applications' are listed per application.

    Such a delivery has no application and is ordered by the person (``ordering_key``).
    """
    rows = await session.execute(
        select(WebhookSubscription.url, WebhookDelivery.event_type, WebhookDelivery.delivered_at)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.ordering_key == candidate_id,
            WebhookDelivery.application_id.is_(None),
            WebhookDelivery.delivered_at.is_not(None),
        )
        .order_by(WebhookDelivery.delivered_at, WebhookDelivery.id)
    )
    return [Sent(url, event_type, at) for url, event_type, at in rows.all() if at is not None]
