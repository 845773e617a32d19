"""Step one of an export (§8): gather every stored field of one application into a plain bundle."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ats.exports import (
    ExportBundle,
    ExportDocument,
    ExportHistoryEntry,
    ExportNote,
    ExportPrivacy,
    ExportRating,
    ExportWebhookDelivery,
    PersonExport,
)

from .. import audit
from ..auth import Principal
from ..db import utcnow
from ..errors import NotFound
from ..models import Account, Application, Candidate, Document, JobPosting, Note, Rating, StatusChange
from ..pipeline import CLOSED
from ..roles import Permission
from .applications import get_application_row
from .retention import Policy
from .webhooks import sent_for_application, sent_for_candidate

FORMATS = ("json", "pdf", "zip")
# Columns an export leaves out on purpose: where the bytes live and the secret that unlocks an
# upload are the service's business, not the applicant's data. Everything else is exported.
NOT_EXPORTED: dict[str, frozenset[str]] = {
    "documents": frozenset({"storage_key", "upload_token_hash", "staged_until", "account_id", "application_id"}),
    "status_history": frozenset({"account_id", "application_id"}),
    "notes": frozenset({"account_id", "application_id"}),
    "ratings": frozenset({"account_id", "application_id"}),
}


def retention_ends(application: Application, policy: Policy) -> datetime | None:
    """When retention erases the application (§8), if that is known yet: it is rejected or withdrawn.

    ``None`` while the application is open. A legal hold is reported on its own: it suspends this date.
    """
    if application.status not in {s.value for s in CLOSED}:
        return None
    ends = application.status_changed_at + timedelta(days=policy.retention_days)
    if application.consent_talent_pool and application.consented_at is not None:
        ends = max(ends, application.consented_at + timedelta(days=policy.talent_pool_days))
    return ends


def privacy_of(account: Account, application: Application, policy: Policy) -> ExportPrivacy:
    """The controller (§14, falling back to the account's name) and the retention this application is under."""
    return ExportPrivacy(
        controller_name=account.controller_name or account.name,
        controller_email=account.controller_email,
        controller_address=account.controller_address,
        dpo_email=account.controller_dpo_email,
        supervisory_authority=account.supervisory_authority,
        retention_days=policy.retention_days,
        talent_pool_days=policy.talent_pool_days,
        retention_ends=retention_ends(application, policy),
        legal_hold=application.legal_hold,
    )


def row_dict(row: Any) -> dict[str, Any]:
    """Every mapped column of a row, by name."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


async def bundle_of(
    session: AsyncSession, application: Application, account: Account, *, include_internal: bool, policy: Policy
) -> tuple[ExportBundle, list[Document]]:
    """One application's export bundle (not audited: the caller records the export), and its document rows."""
    job = await session.get(JobPosting, application.job_id)
    assert job is not None
    history = list(
        await session.scalars(
            select(StatusChange)
            .where(StatusChange.application_id == application.id)
            .order_by(StatusChange.changed_at, StatusChange.id)
        )
    )
    ratings = list(
        await session.scalars(
            select(Rating).where(Rating.application_id == application.id).order_by(Rating.created_at, Rating.id)
        )
    )
    notes = list(
        await session.scalars(
            select(Note).where(Note.application_id == application.id).order_by(Note.created_at, Note.id)
        )
    )
    documents = list(
        await session.scalars(
            select(Document).where(Document.application_id == application.id).order_by(Document.created_at, Document.id)
        )
    )
    bundle = ExportBundle(
        application=row_dict(application),
        job={"id": job.id, "title": job.title, "department": job.department, "location": job.location},
        history=[
            ExportHistoryEntry(
                h.status,
                h.changed_at,
                h.changed_by_name,
                h.note if include_internal else None,  # a move's note is an internal note
                h.reason,
                h.id,
                h.from_status,
                h.changed_by_id,
            )
            for h in history
        ],
        ratings=[
            ExportRating(r.reviewer_name, r.rating, r.criteria, r.created_at, r.updated_at, r.id, r.reviewer_id)
            for r in ratings
        ],
        notes=[
            ExportNote(n.id, n.content, n.internal, n.author_name, n.created_at, n.updated_at, n.author_id)
            for n in notes
        ],
        documents=[
            ExportDocument(
                d.id,
                d.type,
                d.filename,
                d.mime_type,
                d.size,
                d.upload_status,
                d.created_at,
                d.extension,
                d.uploaded_at,
                d.name,
            )
            for d in documents
        ],
        webhook_deliveries=[
            ExportWebhookDelivery(sent.url, sent.event_type, sent.delivered_at)
            for sent in await sent_for_application(session, application.id)
        ],
        generated_at=utcnow(),
        include_internal=include_internal,
        privacy=privacy_of(account, application, policy),
    )
    return bundle, documents


async def gather(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    include_internal: bool,
    fmt: str,
    policy: Policy,
) -> tuple[ExportBundle, list[tuple[str, str]]]:
    """The bundle and, for the ZIP, each uploaded document's (filename, storage key); audited."""
    application = await get_application_row(session, principal, application_id, permission=Permission.COMPLIANCE)
    account = await session.get(Account, application.account_id)
    assert account is not None
    bundle, documents = await bundle_of(session, application, account, include_internal=include_internal, policy=policy)
    files = [(d.filename, d.storage_key) for d in documents if d.upload_status == "uploaded"]
    await audit.record(
        session,
        principal,
        "application.exported",
        object_type="application",
        object_id=application.id,
        data={"format": fmt, "include_internal": include_internal, "documents": len(files)},
    )
    return bundle, files


async def gather_person(
    session: AsyncSession,
    principal: Principal,
    candidate_id: uuid.UUID,
    *,
    include_internal: bool,
    fmt: str,
    policy: Policy,
) -> tuple[PersonExport, list[tuple[str, str, str]]]:
    """A person's whole record (§13): the candidate and every application's bundle, and for the ZIP each uploaded
    document as (application number, filename, storage key); one ``candidate.exported`` audit event."""
    person = await session.scalar(
        select(Candidate).where(
            Candidate.id == candidate_id,
            Candidate.account_id == principal.account_id,
            Candidate.merged_into_id.is_(None),
        )
    )
    if person is None:
        raise NotFound("No such candidate")
    principal.scope(Permission.COMPLIANCE)
    account = await session.get(Account, person.account_id)
    assert account is not None
    rows = list(
        await session.scalars(
            select(Application)
            .where(Application.candidate_id == person.id)
            .order_by(Application.created_at, Application.id)
        )
    )
    bundles: list[ExportBundle] = []
    files: list[tuple[str, str, str]] = []
    for n, application in enumerate(rows, start=1):
        bundle, documents = await bundle_of(
            session, application, account, include_internal=include_internal, policy=policy
        )
        bundles.append(bundle)
        files += [(str(n), d.filename, d.storage_key) for d in documents if d.upload_status == "uploaded"]
    export = PersonExport(
        candidate={k: v for k, v in row_dict(person).items() if k not in ("account_id", "version", "merged_into_id")},
        applications=bundles,
        generated_at=utcnow(),
        include_internal=include_internal,
        webhook_deliveries=[
            ExportWebhookDelivery(sent.url, sent.event_type, sent.delivered_at)
            for sent in await sent_for_candidate(session, person.id)
        ],
    )
    await audit.record(
        session,
        principal,
        "candidate.exported",
        object_type="candidate",
        object_id=person.id,
        data={
            "format": fmt,
            "include_internal": include_internal,
            "applications": len(rows),
            "documents": len(files),
        },
    )
    return export, files
