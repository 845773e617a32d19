"""Erasure (§8): every row holding the applicant's data and every S3 object under it, all versions.

The rows go in one transaction together with a durable :class:`PendingDeletion` for the objects;
the objects go right after, and whatever S3 refuses is retried by the background jobs until done.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ats.storage import StorageUnavailable

from .. import audit, events, mail
from ..auth import Principal
from ..db import new_id, utcnow
from ..errors import LegalHold
from ..models import Application, Document, IdempotencyKey, Note, PendingDeletion, Rating, StatusChange
from ..roles import Permission
from ..runtime import Runtime
from .applications import get_application_row
from .documents import application_prefix

log = logging.getLogger("ats.erasure")

MAX_BACKOFF = 3600


@dataclass
class Receipt:
    application_id: uuid.UUID
    erased_at: datetime
    counts: dict[str, int]
    audit_event_id: uuid.UUID
    storage: str  # "erased", or "pending" while S3 refuses and the deletion is being retried


async def _count(session: AsyncSession, model: type, application_id: uuid.UUID) -> int:
    column = model.application_id  # type: ignore[attr-defined]
    return int(await session.scalar(select(func.count()).where(column == application_id)) or 0)


async def erase_rows(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    reason: str,
    notify: bool,
    permission: Permission = Permission.COMPLIANCE,
) -> tuple[Receipt, uuid.UUID]:
    """In the caller's transaction: notify, delete every row, record the objects to delete, audit."""
    application = await get_application_row(session, principal, application_id, permission=permission, lock=True)
    if application.legal_hold:
        raise LegalHold("The application is under legal hold and cannot be erased")
    if notify:
        subject, body = mail.erasure_notice(application.name)
        await mail.send(runtime.settings, to=application.email, subject=subject, body=body)
    counts = {
        "documents": await _count(session, Document, application.id),
        "objects": 0,
        "notes": await _count(session, Note, application.id),
        "ratings": await _count(session, Rating, application.id),
        "history": await _count(session, StatusChange, application.id),
    }
    pending = PendingDeletion(
        id=new_id(),
        account_id=application.account_id,
        application_id=application.id,
        prefix=application_prefix(application.account_id, application.id),
        attempts=0,
        created_at=utcnow(),
        next_attempt_at=utcnow(),
    )
    session.add(pending)
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.resource_id == application.id))
    # history, notes, ratings and documents go with it (ON DELETE CASCADE)
    await session.execute(delete(Application).where(Application.id == application.id))
    event = await audit.record(
        session,
        principal,
        "application.erased",
        object_type="application",
        object_id=application.id,
        data={
            "reason": reason,
            "notified": notify,
            "counts": {k: v for k, v in counts.items() if k != "objects"},
        },
    )
    events.queue(session, "application.erased", application_id=application.id, account_id=application.account_id)
    receipt = Receipt(application.id, event.at, counts, event.id, "pending")
    return receipt, pending.id


async def erase(
    runtime: Runtime, principal: Principal, application_id: uuid.UUID, *, reason: str, notify: bool
) -> Receipt:
    """Erase one application now; the receipt says whether S3 is done or still being retried."""
    async with runtime.transaction() as session:
        receipt, pending_id = await erase_rows(
            session, runtime, principal, application_id, reason=reason, notify=notify
        )
    deleted = await process_pending(runtime, pending_id)
    if deleted is not None:
        receipt.counts["objects"] = deleted
        receipt.storage = "erased"
    return receipt


async def process_pending(
    runtime: Runtime,
    pending_id: uuid.UUID | None = None,
    *,
    account_id: uuid.UUID | None = None,
    batch: int = 50,
) -> int | None:
    """Delete the objects of due pending deletions (one, or an account's, or all); None when S3 failed.

    ``SKIP LOCKED``: a deletion another process is working on is left to it.
    """
    total: int | None = 0
    async with runtime.transaction() as session:
        query = select(PendingDeletion).with_for_update(skip_locked=True)
        if account_id is not None:
            query = query.where(PendingDeletion.account_id == account_id)
        if pending_id is not None:
            query = query.where(PendingDeletion.id == pending_id)
        else:
            query = query.where(PendingDeletion.next_attempt_at <= utcnow()).order_by(PendingDeletion.next_attempt_at)
        due = list((await session.scalars(query.limit(batch))).all())
        for row in due:
            try:
                deleted = await anyio.to_thread.run_sync(runtime.documents.delete_prefix, row.prefix)
            except StorageUnavailable as exc:
                row.attempts += 1
                row.last_error = type(exc).__name__
                row.next_attempt_at = utcnow() + timedelta(seconds=min(MAX_BACKOFF, 5 * 2**row.attempts))
                log.warning("erasure of stored objects deferred (attempt %d)", row.attempts)
                total = None
                continue
            if total is not None:
                total += deleted
            # A presigned upload issued before the erasure stays valid until it expires and could
            # still write an object: one more pass after that, then the promise is kept.
            final_pass = row.created_at + timedelta(seconds=runtime.settings.upload_url_ttl + 60)
            if utcnow() < final_pass:
                row.last_error = None
                row.next_attempt_at = final_pass
            else:
                await session.delete(row)
    return total


async def pending_count(session: AsyncSession, account_id: uuid.UUID | None = None) -> int:
    """Erasures whose objects S3 has refused so far (waiting for a retry)."""
    query = select(func.count()).select_from(PendingDeletion).where(PendingDeletion.last_error.is_not(None))
    if account_id is not None:
        query = query.where(PendingDeletion.account_id == account_id)
    return int(await session.scalar(query) or 0)
