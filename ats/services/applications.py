"""Applications, written: create, move through the pipeline, legal hold (reads: :mod:`.application_views`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, events, payloads
from .. import custom_fields as custom_fields_rule
from ..auth import Principal
from ..db import new_id, utcnow
from ..errors import AlreadyExists, FieldError, NotFound, ValidationFailed, VersionConflict
from ..models import Application, Document, JobPosting, Note, StatusChange, User
from ..pipeline import Status, check_move, parse_status
from ..roles import Permission
from ..statements import RowInsert
from ..views import ApplicationView, CandidateApplication, JobRef, NoteView, Ref
from . import application_views, candidates
from .access import application_scope
from .stages import stages_of

CANDIDATE_FIELDS = (
    "name",
    "salutation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
)


@dataclass
class ConsentInput:
    privacy_policy: bool
    privacy_policy_version: str | None
    talent_pool: bool
    ip_address: str | None


def actor_name(principal: Principal) -> str | None:
    return principal.name or None


_INSERT_APPLICATION = RowInsert(Application, returning=[Application.status_rank])
_INSERT_HISTORY = RowInsert(StatusChange)


async def create_application(
    session: AsyncSession,
    principal: Principal,
    job: JobPosting,
    *,
    candidate: dict[str, Any],
    cover_letter: str | None = None,
    custom_fields: dict[str, Any] | None = None,
    source: str | None = None,
    utm: dict[str, str | None] | None = None,
    referrer_id: uuid.UUID | None = None,
    consent: ConsentInput | None = None,
    email_pointer: str = "/candidate/email",
    custom_fields_pointer: str = "/custom_fields",
    announce: bool = True,
) -> Application:
    """Insert an application in ``new`` with its first history entry; one per email per posting.

    ``announce=False``: the caller adds more (the public apply's documents) and then calls
    :func:`announce_created` itself, so that the event carries the application as it commits.
    """
    bounds = custom_fields_rule.problems(custom_fields or {}, custom_fields_pointer)
    if bounds:
        raise ValidationFailed("custom_fields exceed the bounds every export can carry", errors=bounds)
    if referrer_id is not None:
        referrer = await session.scalar(
            select(User.id).where(User.id == referrer_id, User.account_id == job.account_id)
        )
        if referrer is None:
            raise ValidationFailed(errors=[FieldError("/referrer_id", "is not a user of this account", "not_found")])
    email = str(candidate["email"]).strip()
    now = utcnow()
    consent_values = None
    if consent is not None:
        consent_values = {
            "consent_privacy_policy": consent.privacy_policy,
            "consent_privacy_policy_version": consent.privacy_policy_version,
            "consent_talent_pool": consent.talent_pool,
            "consented_at": now,
            "consent_ip": consent.ip_address,
        }
    # The person first (one statement: found by lower(email) or inserted); the application links to them.
    application_id = new_id()
    candidate_id = await candidates.attach(
        session,
        job.account_id,
        candidate,
        source=source,
        consent=consent_values,
        now=now,
        application=CandidateApplication(application_id, JobRef(job.id, job.title), Status.NEW.value),
    )
    application = Application(
        id=application_id,
        account_id=job.account_id,
        job_id=job.id,
        candidate_id=candidate_id,
        status=Status.NEW.value,
        status_changed_at=now,
        cover_letter=cover_letter,
        custom_fields=custom_fields or {},
        source=source,
        utm_source=(utm or {}).get("utm_source"),
        utm_medium=(utm or {}).get("utm_medium"),
        utm_campaign=(utm or {}).get("utm_campaign"),
        referrer_id=referrer_id,
        legal_hold=False,
        rating_total=0,
        rating_count=0,
        version=1,
        created_by=principal.id,
        created_at=now,
        updated_at=now,
        **{k: (candidate.get(k) or None) for k in CANDIDATE_FIELDS if k not in ("name", "email")},
        name=str(candidate["name"]).strip(),
        email=email,
    )
    if consent is not None:
        application.consent_privacy_policy = consent.privacy_policy
        application.consent_privacy_policy_version = consent.privacy_policy_version
        application.consent_talent_pool = consent.talent_pool
        application.consented_at = now
        application.consent_ip = consent.ip_address
    by_someone = principal.type in ("user", "api_key")
    history = StatusChange(
        id=new_id(),
        account_id=job.account_id,
        application_id=application.id,
        status=Status.NEW.value,
        from_status=None,
        changed_at=now,
        changed_by_id=principal.id if by_someone else None,
        changed_by_name=actor_name(principal) if by_someone else None,
        note=None,
        reason=None,
    )
    # Only inserted: the statements a flush of the two rows sends, compiled once, the objects kept out of the
    # session. The unique index (job, lower(email)) is the duplicate check, so two concurrent applies with one
    # email cannot both pass. A duplicate fails the whole request.
    if session.new or session.dirty or session.deleted:
        await session.flush()
    try:
        returned = await _INSERT_APPLICATION.one(session, application)
    except UniqueViolation as exc:
        if exc.diag.constraint_name != "uq_applications_job_id_email":
            raise
        raise _duplicate_error(email_pointer, principal) from None
    assert returned is not None
    (application.status_rank,) = returned
    await _INSERT_HISTORY.one(session, history)
    await audit.record(
        session,
        principal,
        "application.created",
        object_type="application",
        object_id=application.id,
        data={"job_id": str(job.id), "channel": "public" if principal.type == "public" else "recruiter"},
        account_id=job.account_id,
    )
    if announce:
        await announce_created(session, principal, application, job, [])
    return application


async def announce_created(
    session: AsyncSession, principal: Principal, application: Application, job: JobPosting, documents: list[Document]
) -> None:
    """Queue ``application.created`` with the application as created, built from memory (no statement)."""
    by_someone = principal.type in ("user", "api_key")
    changed_by = Ref(principal.id, actor_name(principal)) if by_someone and principal.id else None
    stage = Ref(*(await stages_of(session, job.account_id))[application.status])
    view = application_views.new_view(
        application, job.title, stage, changed_by, documents, api_base=events.api_base(session)
    )
    events.queue(
        session,
        "application.created",
        data=payloads.application(view),
        application_id=application.id,
        account_id=job.account_id,
        job_id=job.id,
    )


async def _queue_application_event(
    session: AsyncSession, name: str, application: Application, **extra: Any
) -> ApplicationView:
    """Queue an application event with the application as an admin reads it now (after the flush); that view."""
    await events.lock_for_payload(session, application.account_id)
    view = await application_views.event_view(session, application.id, api_base=events.api_base(session))
    events.queue(
        session,
        name,
        data=payloads.application(view),
        application_id=application.id,
        account_id=application.account_id,
        job_id=application.job_id,
        **extra,
    )
    return view


def _duplicate_error(pointer: str, principal: Principal) -> Exception:
    detail = "An application with this email already exists for this job posting"
    if principal.type == "public":
        return ValidationFailed(detail, errors=[FieldError(pointer, detail, "duplicate")])
    return AlreadyExists(detail, errors=[FieldError(pointer, detail, "duplicate")])


async def get_application_row(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    permission: Permission = Permission.READ,
    lock: bool = False,
) -> Application:
    """An application the caller may see (404 otherwise); then ``permission`` must hold (403)."""
    query = select(Application).where(Application.id == application_id, application_scope(principal))
    if lock:
        query = query.with_for_update(of=Application)
    row = await session.scalar(query)
    if row is None:
        raise NotFound("No such application")
    principal.scope(permission)
    return row


async def insert_note(
    session: AsyncSession, application: Application, principal: Principal, content: str, *, internal: bool
) -> Note:
    """A note on an application (also a move's ``note``), audited as ``note.created``."""
    now = utcnow()
    note = Note(
        id=new_id(),
        account_id=application.account_id,
        application_id=application.id,
        author_id=principal.id,
        author_name=actor_name(principal),
        content=content,
        internal=internal,
        created_at=now,
        updated_at=now,
    )
    session.add(note)
    application.updated_at = now  # its JSON (§5) embeds its notes: ``updated_since`` finds it
    await session.flush()
    await audit.record(
        session,
        principal,
        "note.created",
        object_type="note",
        object_id=note.id,
        data={"application_id": str(application.id), "internal": internal},
    )
    queue_note_event(session, "note.created", note)
    return note


def note_view(row: Note) -> NoteView:
    author = Ref(row.author_id, row.author_name) if row.author_id else None
    return NoteView(row.id, row.content, row.internal, author, row.created_at, row.updated_at)


def queue_note_event(session: AsyncSession, name: str, note: Note) -> None:
    """Queue a note event with the note as it is now (for ``note.deleted``: as it was)."""
    events.queue(
        session,
        name,
        data=payloads.note(note_view(note), note.application_id),
        application_id=note.application_id,
        account_id=note.account_id,
        note_id=note.id,
    )


async def touch(session: AsyncSession, application_id: uuid.UUID) -> None:
    """A note, rating or document of the application changed: so did its JSON (§5), for ``updated_since``."""
    await session.execute(
        update(Application)
        .where(Application.id == application_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def check_version(application: Application, expected: int | None) -> None:
    if expected is not None and expected != application.version:
        raise VersionConflict(
            f"The application changed (version {application.version}, If-Match {expected})",
            extra={"version": application.version},
        )


async def move(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    target: str,
    *,
    note: str | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
    status_pointer: str = "/status",
) -> ApplicationView | None:
    """Move under the status machine, checked against the status at this moment (row lock).

    The application as an admin reads it after the move (its event's payload; ``None`` when nothing moved): a
    caller who reads as an admin answers with it (:func:`application_views.get_view`'s ``current``).
    """
    application = await get_application_row(session, principal, application_id, permission=Permission.WORK, lock=True)
    wanted = parse_status(target, status_pointer)
    check_version(application, expected_version)
    current = Status(application.status)
    previous = Status(application.previous_status) if application.previous_status else None
    outcome = check_move(current, wanted, previous)
    now = utcnow()
    if not outcome.changed:
        if note:  # no move, no history entry; the note is still kept as an internal note
            await insert_note(session, application, principal, note, internal=True)
        return None
    application.status = wanted.value
    application.previous_status = outcome.previous_after.value if outcome.previous_after else None
    application.status_changed_at = now
    application.version += 1
    application.updated_at = now
    session.add(
        StatusChange(
            id=new_id(),
            account_id=application.account_id,
            application_id=application.id,
            status=wanted.value,
            from_status=current.value,
            changed_at=now,
            changed_by_id=principal.id,
            changed_by_name=actor_name(principal),
            note=note,
            reason=reason,
        )
    )
    await session.flush()
    if note:
        await insert_note(session, application, principal, note, internal=True)
    await audit.record(
        session,
        principal,
        "application.status_changed",
        object_type="application",
        object_id=application.id,
        data={
            "from": current.value,
            "to": wanted.value,
            "with_note": bool(note),
            "with_reason": bool(reason),
        },
    )
    return await _queue_application_event(
        session, "application.status_changed", application, from_status=current.value, to_status=wanted.value
    )


async def set_legal_hold(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    legal_hold: bool,
    *,
    expected_version: int | None = None,
) -> Application:
    application = await get_application_row(
        session, principal, application_id, permission=Permission.COMPLIANCE, lock=True
    )
    check_version(application, expected_version)
    if application.legal_hold != legal_hold:
        application.legal_hold = legal_hold
        application.version += 1
        application.updated_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            principal,
            "application.updated",
            object_type="application",
            object_id=application.id,
            data={"fields": ["legal_hold"], "legal_hold": legal_hold},
        )
        await _queue_application_event(session, "application.updated", application)
    return application
