"""Erasure (§8): every row holding the applicant's data and every S3 object under it, all versions.

The rows go in one transaction together with a durable :class:`PendingDeletion` for the objects;
the objects go right after, and whatever S3 refuses is retried by the background jobs until done.
No transaction is open while S3 or the mail server is called: a pending deletion is claimed by
moving its ``next_attempt_at`` past a lease, not by holding its row lock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import anyio.to_thread
from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ats.storage import Documents, StorageUnavailable

from .. import audit, events, mail, payloads
from ..auth import Principal
from ..db import UnitOfWork, new_id, utcnow
from ..errors import FieldError, LegalHold, NotFound, ValidationFailed
from ..models import (
    Application,
    Candidate,
    CandidateMerge,
    Document,
    IdempotencyKey,
    Note,
    PendingDeletion,
    Rating,
    StatusChange,
)
from ..roles import Permission
from ..vocabulary import ERASURE_REASONS, ErasureReason
from . import webhooks
from .applications import get_application_row
from .documents import application_prefix

log = logging.getLogger("ats.erasure")

MAX_BACKOFF = 3600
# While one process deletes a prefix, the others leave its pending deletion alone this long; a process
# that dies mid-way leaves it to the next one after that (deleting twice is harmless).
LEASE = timedelta(minutes=10)


def parse_reason(value: str, pointer: str = "reason") -> ErasureReason:
    """An erasure reason code (§8), or 422 naming ``pointer`` and listing every code; the value is never echoed."""
    if value not in ERASURE_REASONS:
        raise ValidationFailed(
            f"Unknown erasure reason; valid values: {', '.join(ERASURE_REASONS)}",
            errors=[FieldError(pointer, f"must be one of {', '.join(ERASURE_REASONS)}", "invalid_reason")],
            extra={"allowed": list(ERASURE_REASONS)},
        )
    return cast(ErasureReason, value)


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
    principal: Principal,
    application_id: uuid.UUID,
    *,
    reason: ErasureReason,
    notified: bool = False,
    permission: Permission = Permission.COMPLIANCE,
    lease: timedelta = timedelta(0),
    forget_person: bool = True,
) -> tuple[Receipt, uuid.UUID]:
    """In the caller's transaction: delete every row, record the objects to delete, audit.

    The pending deletion is due after ``lease``: until then it belongs to the caller. With ``forget_person``,
    the candidate goes too when this was the last of their applications.
    """
    reason = parse_reason(reason)  # the audit log keeps it forever: only a code of the list gets there
    found = await get_application_row(session, principal, application_id, permission=permission)
    # The person's row first, then the application's (the order every erasure takes: no deadlock); holding it,
    # an apply attaching to this person has either committed (and is seen below) or waits for this one.
    await lock_candidate(session, found.candidate_id)
    application = await get_application_row(session, principal, application_id, permission=permission, lock=True)
    if application.legal_hold:
        raise LegalHold("The application is under legal hold and cannot be erased")
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
        next_attempt_at=utcnow() + lease,
    )
    session.add(pending)
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.resource_id == application.id))
    await webhooks.forget_application(session, application.id)  # its webhook bodies and delivery logs
    # history, notes, ratings and documents go with it (ON DELETE CASCADE)
    await session.execute(delete(Application).where(Application.id == application.id))
    if forget_person:
        await forget_candidate_if_alone(session, application.candidate_id)
    event = await audit.record(
        session,
        principal,
        "application.erased",
        object_type="application",
        object_id=application.id,
        data={
            "reason": reason,
            "notified": notified,
            "counts": {k: v for k, v in counts.items() if k != "objects"},
        },
    )
    await redact_events(session, application.account_id, application.id)
    events.queue(
        session,
        "application.erased",
        data=payloads.erased(application.id, application.job_id),
        application_id=application.id,
        account_id=application.account_id,
        job_id=application.job_id,
    )
    receipt = Receipt(application.id, event.at, counts, event.id, "pending")
    return receipt, pending.id


_REDACT = text(
    f"UPDATE outbox_events SET data = {payloads.REDACTED_SQL} "
    "WHERE account_id = :account_id AND application_id = :application_id"
)


async def redact_events(session: AsyncSession, account_id: uuid.UUID, application_id: uuid.UUID) -> None:
    """The application's earlier events keep ids only (§12): the feed and webhooks carry nothing of the person."""
    await session.execute(_REDACT, {"account_id": account_id, "application_id": application_id})


_REDACT_PERSON = text(
    f"""
    WITH redacted AS (
        UPDATE outbox_events e SET data = {payloads.REDACTED_CANDIDATE_SQL}
        WHERE e.account_id = :account_id AND e.application_id IS NULL AND e.type <> 'candidate.erased'
          AND e.candidate_id IN (
              SELECT CAST(:candidate_id AS uuid)
              UNION ALL SELECT c.id FROM candidates c WHERE c.merged_into_id = :candidate_id
              UNION ALL SELECT m.survivor_id FROM candidate_merges m
                        WHERE m.account_id = :account_id AND m.merged_id = :candidate_id
          )
          AND (
              e.candidate_id = :candidate_id
              OR e.candidate_id IN (SELECT c.id FROM candidates c WHERE c.merged_into_id = :candidate_id)
              OR (e.type IN ('candidate.merged', 'candidate.merge_undone')
                  AND e.data->>'merged_id' = CAST(:candidate_id AS text))
              OR EXISTS (
                  SELECT 1 FROM candidate_merges m
                  WHERE m.account_id = :account_id AND m.merged_id = :candidate_id
                    AND m.survivor_id = e.candidate_id AND e.occurred_at >= m.created_at
                    AND (m.undone_at IS NULL OR e.occurred_at <= m.undone_at)
              )
          )
        RETURNING e.id, e.candidate_id
    )
    DELETE FROM webhook_deliveries d USING redacted r WHERE d.ordering_key = r.candidate_id AND d.event_id = r.id
    """
)


async def redact_person_events(session: AsyncSession, account_id: uuid.UUID, candidate_id: uuid.UUID) -> None:
    """The person's earlier events keep ids only (§12), and their webhook bodies and logs go: the person's own
    events, those of people merged into them, and the survivor's events while this person was merged into it
    (they carry this person's emails, phones, links)."""
    await session.execute(_REDACT_PERSON, {"account_id": account_id, "candidate_id": candidate_id})


async def lock_candidate(session: AsyncSession, candidate_id: uuid.UUID) -> None:
    await session.execute(select(Candidate.id).where(Candidate.id == candidate_id).with_for_update())


async def forget_candidate_if_alone(session: AsyncSession, candidate_id: uuid.UUID) -> bool:
    """Delete the person (held locked by the caller) when no application of theirs remains; merge records
    that could restore them lose what they kept. True when the person was deleted."""
    remaining = await session.scalar(select(Application.id).where(Application.candidate_id == candidate_id).limit(1))
    if remaining is not None:
        return False
    deleted = await session.scalar(
        delete(Candidate).where(Candidate.id == candidate_id).returning(Candidate.account_id)
    )
    if deleted is None:
        return False
    await redact_person_events(session, deleted, candidate_id)
    await forget_merges(session, deleted, candidate_id)
    events.queue(session, "candidate.erased", account_id=deleted, candidate_id=candidate_id)
    return True


async def forget_merges(session: AsyncSession, account_id: uuid.UUID, candidate_id: uuid.UUID) -> None:
    """Merges involving an erased person keep ids only: what they kept for an undo is wiped (undo is then 409)."""
    await session.execute(
        update(CandidateMerge)
        .where(
            CandidateMerge.account_id == account_id,
            or_(CandidateMerge.survivor_id == candidate_id, CandidateMerge.merged_id == candidate_id),
            CandidateMerge.erased_at.is_(None),
        )
        .values(snapshot=None, erased_at=utcnow())
    )


async def erase(
    uow: UnitOfWork,
    store: Documents,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    reason: str,
    mailer: mail.Mailer | None,
    upload_url_ttl: int,
) -> Receipt:
    """Erase one application now; with a ``mailer``, tell the applicant first (SMTP down: nothing erased).

    The receipt says whether S3 is done or still being retried. ``reason`` is a code of
    :data:`~ats.vocabulary.ERASURE_REASONS` (422 otherwise, before anything is sent or erased).
    """
    code = parse_reason(reason)
    if mailer is not None:
        async with uow() as session:
            application = await get_application_row(
                session, principal, application_id, permission=Permission.COMPLIANCE
            )
            if application.legal_hold:
                raise LegalHold("The application is under legal hold and cannot be erased")
            name, email = application.name, application.email
        # Outside any transaction; the rows are checked again under their lock below.
        subject, body = mail.erasure_notice(name)
        await mailer.send(to=email, subject=subject, body=body)
    async with uow() as session:
        receipt, pending_id = await erase_rows(
            session, principal, application_id, reason=code, notified=mailer is not None, lease=LEASE
        )
    deleted = await process_pending(uow, store, upload_url_ttl=upload_url_ttl, pending_ids=[pending_id])
    if deleted is not None:
        receipt.counts["objects"] = deleted
        receipt.storage = "erased"
    return receipt


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: uuid.UUID
    prefix: str
    created_at: datetime


async def process_pending(
    uow: UnitOfWork,
    store: Documents,
    *,
    upload_url_ttl: int,
    pending_ids: Sequence[uuid.UUID] | None = None,
    account_id: uuid.UUID | None = None,
    batch: int = 50,
) -> int | None:
    """Delete the objects of pending deletions (the ones named, or every due one, or an account's); None when S3
    failed for any.

    Due ones are taken ``batch`` at a time until none is left (each outcome moves a row's next attempt into the
    future or deletes it, so this ends): one sweep finishes every erasure that can be finished now.
    """
    total: int | None = 0
    while True:
        claimed, removed = await _process_batch(
            uow, store, upload_url_ttl=upload_url_ttl, pending_ids=pending_ids, account_id=account_id, batch=batch
        )
        total = None if total is None or removed is None else total + removed
        if pending_ids is not None or claimed < batch:
            return total


async def _process_batch(
    uow: UnitOfWork,
    store: Documents,
    *,
    upload_url_ttl: int,
    pending_ids: Sequence[uuid.UUID] | None,
    account_id: uuid.UUID | None,
    batch: int,
) -> tuple[int, int | None]:
    """One batch: each claimed in a short transaction (``SKIP LOCKED``, then leased), its objects deleted with no
    transaction open, and the outcome recorded in another. Returns how many were claimed and the objects removed.
    """
    async with uow() as session:
        query = select(PendingDeletion).with_for_update(skip_locked=True)
        if account_id is not None:
            query = query.where(PendingDeletion.account_id == account_id)
        if pending_ids is not None:
            query = query.where(PendingDeletion.id.in_(pending_ids))
        else:
            query = query.where(PendingDeletion.next_attempt_at <= utcnow()).order_by(PendingDeletion.next_attempt_at)
        limit = batch if pending_ids is None else len(pending_ids)
        due = list((await session.scalars(query.limit(limit))).all())
        for row in due:
            row.next_attempt_at = utcnow() + LEASE
        claimed = [_Claimed(row.id, row.prefix, row.created_at) for row in due]
    total: int | None = 0
    outcomes: dict[uuid.UUID, int | StorageUnavailable] = {}
    for claim in claimed:
        try:
            outcomes[claim.id] = await anyio.to_thread.run_sync(store.delete_prefix, claim.prefix)
        except StorageUnavailable as exc:
            outcomes[claim.id] = exc
    if not claimed:
        return 0, total
    async with uow() as session:
        rows = await session.scalars(
            select(PendingDeletion).where(PendingDeletion.id.in_(list(outcomes))).with_for_update()
        )
        for row in rows:
            outcome = outcomes[row.id]
            if isinstance(outcome, StorageUnavailable):
                row.attempts += 1
                row.last_error = type(outcome).__name__
                row.next_attempt_at = utcnow() + timedelta(seconds=min(MAX_BACKOFF, 5 * 2**row.attempts))
                log.warning("erasure of stored objects deferred (attempt %d)", row.attempts)
                total = None
                continue
            if total is not None:
                total += outcome
            # A presigned upload issued before the erasure stays valid until it expires and could
            # still write an object: one more pass after that, then the promise is kept.
            final_pass = row.created_at + timedelta(seconds=upload_url_ttl + 60)
            if utcnow() < final_pass:
                row.last_error = None
                row.next_attempt_at = final_pass
            else:
                await session.delete(row)
    return len(claimed), total


async def pending_count(session: AsyncSession, account_id: uuid.UUID | None = None) -> int:
    """Erasures whose objects S3 has refused so far (waiting for a retry)."""
    query = select(func.count()).select_from(PendingDeletion).where(PendingDeletion.last_error.is_not(None))
    if account_id is not None:
        query = query.where(PendingDeletion.account_id == account_id)
    return int(await session.scalar(query) or 0)


@dataclass
class PersonReceipt:
    """One receipt for a person's erasure: every application, with the totals of what went."""

    candidate_id: uuid.UUID
    erased_at: datetime
    applications: list[uuid.UUID]
    counts: dict[str, int]
    audit_event_id: uuid.UUID
    storage: str  # "erased", or "pending" while S3 refuses and the deletion is being retried


async def erase_person(
    uow: UnitOfWork,
    store: Documents,
    principal: Principal,
    candidate_id: uuid.UUID,
    *,
    reason: str,
    upload_url_ttl: int,
) -> PersonReceipt:
    """Erase a candidate: every application (rows and stored objects), the person, what merges kept of them.

    All rows go in one transaction that holds the person's row first: an apply attaching to them either
    committed before (its application is erased too) or runs after and makes a new person. Refused (409,
    listing them) while any application is under legal hold; nothing is erased then.
    """
    code = parse_reason(reason)
    async with uow() as session:
        person = await session.scalar(
            select(Candidate)
            .where(Candidate.id == candidate_id, Candidate.account_id == principal.account_id)
            .with_for_update()
        )
        if person is None:
            raise NotFound("No such candidate")
        principal.scope(Permission.COMPLIANCE)
        applications = list(
            await session.execute(
                select(Application.id, Application.legal_hold)
                .where(Application.candidate_id == candidate_id)
                .order_by(Application.created_at, Application.id)
            )
        )
        held = [str(a.id) for a in applications if a.legal_hold]
        if held:
            raise LegalHold(
                "Applications of this candidate are under legal hold; nothing was erased",
                extra={"applications": held},
            )
        totals = {"applications": len(applications), "documents": 0, "objects": 0, "notes": 0, "ratings": 0}
        totals["history"] = 0
        pending_ids = []
        for application in applications:
            receipt, pending_id = await erase_rows(
                session, principal, application.id, reason=code, lease=LEASE, forget_person=False
            )
            pending_ids.append(pending_id)
            for key, value in receipt.counts.items():
                totals[key] = totals.get(key, 0) + value
        await session.execute(delete(Candidate).where(Candidate.id == candidate_id))
        await redact_person_events(session, person.account_id, candidate_id)
        await forget_merges(session, person.account_id, candidate_id)
        event = await audit.record(
            session,
            principal,
            "candidate.erased",
            object_type="candidate",
            object_id=candidate_id,
            data={"reason": code, "counts": {k: v for k, v in totals.items() if k != "objects"}},
        )
        events.queue(session, "candidate.erased", account_id=person.account_id, candidate_id=candidate_id)
        result = PersonReceipt(candidate_id, event.at, [a.id for a in applications], totals, event.id, "pending")
    deleted = await process_pending(uow, store, upload_url_ttl=upload_url_ttl, pending_ids=pending_ids)
    if deleted is not None:
        result.counts["objects"] = deleted
        result.storage = "erased"
    return result
