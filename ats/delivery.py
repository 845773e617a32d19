"""Webhook delivery (§12), run by every API process in the background; nothing of it is on a request's path.

1. **Fan-out**: each account's new outbox events (after its ``webhook_cursors`` position; outbox positions commit
   in order, so none is skipped) become one ``webhook_deliveries`` row per matching active subscription, with the
   body serialised once. The cursor row is taken ``FOR UPDATE SKIP LOCKED``: one process fans out an account.
2. **Claim**: due deliveries are leased (``leased_until``, a lease token) in a short transaction that holds the
   subscriptions' rows ``SKIP LOCKED``, so the per-subscription cap on deliveries in flight holds across
   processes and no two processes send one delivery. A later event of an application waits while an earlier one
   to the same subscription is still pending.
3. **Attempt**: the POST happens with no transaction open; its outcome is recorded in a new one (the attempt log,
   the next try with exponential backoff and jitter, 410 disabling the subscription, five days of failures
   disabling it and mailing the account's admins). A process that dies mid-attempt lets its lease expire and the
   delivery is sent again, with the same ``webhook-id``: at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import msgspec
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from . import mail, outbox, webhook_http
from .db import UnitOfWork, new_id, utcnow
from .models import OutboxEvent, User, WebhookAttempt, WebhookDelivery, WebhookSubscription
from .settings import Settings
from .vocabulary import WEBHOOK_ALL_EVENTS

log = logging.getLogger("ats.webhooks")

#: How long delivery logs (attempts, finished deliveries) are kept.
LOG_DAYS = 30
#: Deliveries in flight per process, over all subscriptions.
MAX_IN_FLIGHT = 64
#: Outbox events fanned out per account and round.
FAN_OUT_BATCH = 500
#: The share of a retry delay added at random, so retries of many deliveries spread out.
JITTER = 0.25


def retry_delay(attempt: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling from the base up to the cap,
    plus up to 25 % jitter (never less than the schedule, so the retries always span what it promises)."""
    base = min(settings.webhooks_retry_base * 2.0 ** min(attempt - 1, 60), settings.webhooks_retry_cap)
    return float(base * (1 + JITTER * (rng or random).random()))


def schedule(settings: Settings) -> list[float]:
    """The delays between the attempts of one delivery, without jitter (the least each one waits)."""
    return [
        min(settings.webhooks_retry_base * 2.0 ** min(n - 1, 60), settings.webhooks_retry_cap)
        for n in range(1, settings.webhooks_max_attempts)
    ]


def body_of(event: OutboxEvent) -> bytes:
    """The request body: the event's envelope (:func:`ats.outbox.envelope`), serialised once for every try."""
    return msgspec.json.encode(
        outbox.envelope(
            id=event.id,
            type=event.type,
            account_id=event.account_id,
            position=event.position,
            occurred_at=event.occurred_at,
            data=event.data,
        )
    )


def matches(subscription: WebhookSubscription, event: OutboxEvent) -> bool:
    """The subscription wants the event: its type, and (when set) its job and the application's status."""
    if WEBHOOK_ALL_EVENTS not in subscription.events and event.type not in subscription.events:
        return False
    if subscription.job_ids and event.job_id not in subscription.job_ids:
        return False
    if subscription.statuses:
        status = event.data.get("status") if isinstance(event.data, dict) else None
        if status not in subscription.statuses:
            return False
    return True


def signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    """The current secret, and the previous one while it is still valid (24 h after a rotation)."""
    found = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        found.append(subscription.previous_secret)
    return found


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    account_id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    body: bytes
    attempts: int
    lease: uuid.UUID
    url: str
    secrets: list[str]


_CURSORS = text(
    """
    SELECT c.account_id, c.last_position FROM webhook_cursors c
    JOIN event_positions p ON p.account_id = c.account_id
    WHERE p.last > c.last_position
    LIMIT 20
    FOR UPDATE OF c SKIP LOCKED
    """
)

_DUE_SUBSCRIPTIONS = text(
    """
    SELECT s.id FROM webhook_subscriptions s
    WHERE s.active AND EXISTS (
        SELECT 1 FROM webhook_deliveries d
        WHERE d.subscription_id = s.id AND d.status = 'pending' AND d.next_attempt_at <= :now
          AND (d.leased_until IS NULL OR d.leased_until < :now)
    )
    LIMIT 200
    FOR NO KEY UPDATE OF s SKIP LOCKED
    """
)

_CLAIM = text(
    """
    WITH subscription AS (SELECT unnest(:subscriptions) AS id),
    chosen AS (
        SELECT c.id FROM subscription s
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM webhook_deliveries b
            WHERE b.subscription_id = s.id AND b.status = 'pending' AND b.lease IS NOT NULL AND b.leased_until >= :now
        ) busy
        CROSS JOIN LATERAL (
            SELECT d.id FROM webhook_deliveries d
            WHERE d.subscription_id = s.id AND d.status = 'pending' AND d.next_attempt_at <= :now
              AND (d.leased_until IS NULL OR d.leased_until < :now) AND d.body IS NOT NULL
              AND (d.ordering_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM webhook_deliveries e
                  WHERE e.subscription_id = d.subscription_id AND e.ordering_key = d.ordering_key
                    AND e.status = 'pending' AND e.position < d.position
              ))
            ORDER BY d.next_attempt_at, d.position
            LIMIT greatest(:cap - busy.n, 0)
        ) c
        LIMIT :limit
    )
    UPDATE webhook_deliveries w SET leased_until = :lease_until, lease = :lease
    FROM chosen WHERE w.id = chosen.id
    RETURNING w.id, w.account_id, w.subscription_id, w.event_id, w.body, w.attempts
    """
).bindparams(bindparam("subscriptions", type_=ARRAY(PG_UUID(as_uuid=True))))


class Engine:
    """Fans out, claims and sends; several engines (processes) share the work through PostgreSQL alone."""

    def __init__(self, uow: UnitOfWork, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.uow = uow
        self.settings = settings
        self.client = client or webhook_http.new_client()
        self.rng = random.Random()
        self._finished = asyncio.Event()  # an attempt ended: its subscription may have room for the next

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- fan-out --------------------------------------------------------------------------------------------------

    async def fan_out(self) -> int:
        """Turn new outbox events into deliveries; returns how many deliveries were created."""
        created = 0
        async with self.uow() as session:
            for account_id, last in (await session.execute(_CURSORS)).all():
                created += await self._fan_out_account(session, account_id, int(last))
        return created

    async def _fan_out_account(self, session: AsyncSession, account_id: uuid.UUID, last: int) -> int:
        events = list(
            await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.account_id == account_id, OutboxEvent.position > last)
                .order_by(OutboxEvent.position)
                .limit(FAN_OUT_BATCH)
            )
        )
        if not events:
            return 0
        subscriptions = list(
            await session.scalars(
                select(WebhookSubscription).where(
                    WebhookSubscription.account_id == account_id, WebhookSubscription.active.is_(True)
                )
            )
        )
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for event in events:
            wanted = [s for s in subscriptions if event.position > s.from_position and matches(s, event)]
            if not wanted:
                continue
            body = body_of(event)
            key = event.application_id or event.candidate_id or event.job_id
            rows += [
                {
                    "id": new_id(),
                    "account_id": account_id,
                    "subscription_id": s.id,
                    "event_id": event.id,
                    "event_type": event.type,
                    "position": event.position,
                    "application_id": event.application_id,
                    "ordering_key": key,
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for s in wanted
            ]
        if rows:
            await session.execute(insert(WebhookDelivery).values(rows).on_conflict_do_nothing())
        await session.execute(
            text("UPDATE webhook_cursors SET last_position = :p WHERE account_id = :a"),
            {"p": events[-1].position, "a": account_id},
        )
        return len(rows)

    # -- claim, send, record --------------------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries (at most ``ATS_WEBHOOKS_CONCURRENCY`` in flight per subscription)."""
        if limit <= 0:
            return []
        now = utcnow()
        lease = new_id()
        async with self.uow() as session:
            subscriptions = list((await session.scalars(_DUE_SUBSCRIPTIONS, {"now": now})).all())
            if not subscriptions:
                return []
            rows = (
                await session.execute(
                    _CLAIM,
                    {
                        "subscriptions": subscriptions,
                        "now": now,
                        "cap": self.settings.webhooks_concurrency,
                        "limit": limit,
                        "lease": lease,
                        "lease_until": now + timedelta(seconds=self.settings.webhooks_timeout + 30),
                    },
                )
            ).all()
            if not rows:
                return []
            subs = {
                s.id: s
                for s in await session.scalars(
                    select(WebhookSubscription).where(WebhookSubscription.id.in_({r.subscription_id for r in rows}))
                )
            }
        return [
            Claimed(
                r.id,
                r.account_id,
                r.subscription_id,
                r.event_id,
                bytes(r.body),
                int(r.attempts),
                lease,
                subs[r.subscription_id].url,
                signing_secrets(subs[r.subscription_id], now),
            )
            for r in rows
        ]

    async def attempt(self, claimed: Claimed) -> webhook_http.Outcome:
        """Send one claimed delivery and record what happened."""
        settings = self.settings
        headers = webhook_http.headers_for(str(claimed.event_id), claimed.secrets, claimed.body)
        outcome = await webhook_http.post(
            self.client,
            claimed.url,
            claimed.body,
            headers,
            time_limit=settings.webhooks_timeout,
            allow_http=settings.webhooks_allow_http,
            allow_private=settings.webhooks_allow_private,
        )
        if outcome.error and outcome.error.startswith("refused"):
            log.warning("webhook delivery %s to subscription %s %s", claimed.id, claimed.subscription_id, outcome.error)
        await self.record(claimed, outcome)
        return outcome

    async def record(self, claimed: Claimed, outcome: webhook_http.Outcome) -> None:
        now = utcnow()
        attempts = claimed.attempts + 1
        gone = outcome.status_code == 410
        next_at: datetime | None = None
        if outcome.ok:
            status = "delivered"
        elif gone or attempts >= self.settings.webhooks_max_attempts:
            status = "failed"
        else:
            status = "pending"
            next_at = now + timedelta(seconds=retry_delay(attempts, self.settings, self.rng))
        error = outcome.error if outcome.error is None else outcome.error[:300]
        notify: WebhookSubscription | None = None
        async with self.uow() as session:
            # A success of a healthy subscription changes only the delivery. Otherwise the subscription is locked
            # first, as claiming does, so the two never wait for each other in opposite order.
            query = select(WebhookSubscription).where(WebhookSubscription.id == claimed.subscription_id)
            subscription = await session.scalar(query)
            if subscription is not None and not (outcome.ok and subscription.failing_since is None):
                subscription = await session.scalar(query.with_for_update().execution_options(populate_existing=True))
            if subscription is None:  # deleted meanwhile, its deliveries with it
                return
            values: dict[str, Any] = {
                "status": status,
                "attempts": attempts,
                "next_attempt_at": next_at,
                "leased_until": None,
                "lease": None,
                "last_status_code": outcome.status_code,
                "last_error": error,
            }
            if outcome.ok:
                values["delivered_at"] = now
            updated = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == claimed.id, WebhookDelivery.lease == claimed.lease)
                .values(**values)
            )
            # 0 rows: the lease expired and another process took the delivery over (log the attempt only), or the
            # delivery is gone (erased with its application)
            if updated.rowcount == 0 and await session.get(WebhookDelivery, claimed.id) is None:  # type: ignore[attr-defined]
                return
            session.add(
                WebhookAttempt(
                    id=new_id(),
                    delivery_id=claimed.id,
                    attempted_at=now,
                    status_code=outcome.status_code,
                    duration_ms=outcome.duration_ms,
                    error=error,
                    next_attempt_at=next_at,
                )
            )
            if outcome.ok:
                if subscription.failing_since is not None:
                    subscription.failing_since = None
            elif gone and subscription.active:
                subscription.active, subscription.disabled_reason, subscription.updated_at = False, "gone", now
                log.warning("webhook subscription %s disabled: the receiver answered 410", subscription.id)
            else:
                subscription.failing_since = subscription.failing_since or now
                limit = timedelta(seconds=self.settings.webhooks_disable_after)
                if subscription.active and subscription.failing_since <= now - limit:
                    subscription.active, subscription.disabled_reason = False, "failing"
                    subscription.updated_at = now
                    notify = subscription
                    log.warning("webhook subscription %s disabled after 5 days of failures", subscription.id)
        if notify is not None:
            await self._tell_admins(notify)

    async def _tell_admins(self, subscription: WebhookSubscription) -> None:
        """Mail each active admin of the account that the subscription was disabled (after the commit)."""
        async with self.uow() as session:
            emails = list(
                await session.scalars(
                    select(User.email).where(
                        User.account_id == subscription.account_id, User.role == "admin", User.active.is_(True)
                    )
                )
            )
        subject = "A webhook subscription was disabled"
        since = f"{subscription.failing_since:%Y-%m-%d %H:%M}" if subscription.failing_since else "days"
        body = (
            f"The webhook subscription {subscription.id} (posting to {subscription.url}) has failed every\n"
            f"delivery since {since} UTC and was disabled. Events are no longer sent to it.\n\n"
            "Fix the receiver, then set the subscription active again (PATCH /api/v1/webhooks/{id} "
            '{"active": true}); the change feed (GET /api/v1/events) replays what it missed.\n'
        )
        for email in emails:
            try:
                await mail.send(self.settings, to=email, subject=subject, body=body)
            except Exception as exc:
                log.warning(
                    "mailing an admin about webhook subscription %s failed: %s", subscription.id, type(exc).__name__
                )

    # -- rounds ---------------------------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """One round, waiting for its attempts: fan out, then send what is due. Returns the attempts made."""
        await self.fan_out()
        claimed = await self.claim(MAX_IN_FLIGHT)
        await asyncio.gather(*(self._attempt_logged(c) for c in claimed))
        return len(claimed)

    async def _attempt_logged(self, claimed: Claimed) -> None:
        try:
            await self.attempt(claimed)
        except Exception as exc:  # PostgreSQL went away: the lease expires and the delivery is tried again
            log.warning("webhook delivery %s not recorded: %s", claimed.id, type(exc).__name__)
        finally:
            self._finished.set()

    async def run_forever(self) -> None:
        """Forever: fan out and claim every ``ATS_WEBHOOKS_POLL_INTERVAL``; attempts run as tasks of their own."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                claimed: list[Claimed] = []
                try:
                    await self.fan_out()
                    claimed = await self.claim(MAX_IN_FLIGHT - len(in_flight))
                except Exception as exc:  # PostgreSQL may be down: try again next round
                    log.warning("webhook delivery round failed: %s", type(exc).__name__)
                for c in claimed:
                    task = asyncio.create_task(self._attempt_logged(c))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if claimed:
                    await asyncio.sleep(0)
                    continue
                # nothing to claim: wait for the poll interval, or less when one of ours finishes
                self._finished.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finished.wait(), self.settings.webhooks_poll_interval)
        finally:
            for task in in_flight:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*in_flight, return_exceptions=True)
            await self.aclose()

    async def prune(self) -> int:
        """Delete delivery logs older than 30 days: attempts, and deliveries no longer pending."""
        cutoff = utcnow() - timedelta(days=LOG_DAYS)
        async with self.uow() as session:
            attempts = await session.execute(delete(WebhookAttempt).where(WebhookAttempt.attempted_at < cutoff))
            deliveries = await session.execute(
                delete(WebhookDelivery).where(WebhookDelivery.created_at < cutoff, WebhookDelivery.status != "pending")
            )
        return int(attempts.rowcount or 0) + int(deliveries.rowcount or 0)  # type: ignore[attr-defined]
