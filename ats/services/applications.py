"""Applications: create, read (one or a page), move through the pipeline, legal hold."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, func, select, text, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, events
from ..auth import Principal
from ..db import constraint_name, new_id, utcnow
from ..errors import AlreadyExists, FieldError, NotFound, ValidationFailed, VersionConflict
from ..models import Application, Document, JobPosting, Note, StatusChange
from ..pipeline import Status, check_move, parse_status
from ..roles import Permission
from ..views import (
    Address,
    ApplicationView,
    Candidate,
    Consent,
    DocumentView,
    HistoryEntry,
    JobRef,
    NoteView,
    Ref,
)
from .access import application_scope
from .jobs import escape_like
from .stages import stages_of

ORDER_COLUMNS = ("date", "name", "status")
ORDERS = ("asc", "desc")
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


async def create_application(
    session: AsyncSession,
    principal: Principal,
    job: JobPosting,
    *,
    candidate: dict[str, Any],
    cover_letter: str | None = None,
    custom_fields: dict[str, Any] | None = None,
    source: str | None = None,
    consent: ConsentInput | None = None,
    email_pointer: str = "/candidate/email",
) -> Application:
    """Insert an application in ``new`` with its first history entry; one per email per posting."""
    email = str(candidate["email"]).strip()
    now = utcnow()
    application = Application(
        id=new_id(),
        account_id=job.account_id,
        job_id=job.id,
        status=Status.NEW.value,
        status_changed_at=now,
        cover_letter=cover_letter,
        custom_fields=custom_fields or {},
        source=source,
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
    session.add(application)
    session.add(
        StatusChange(
            id=new_id(),
            account_id=job.account_id,
            application_id=application.id,
            status=Status.NEW.value,
            from_status=None,
            changed_at=now,
            changed_by_id=principal.id if by_someone else None,
            changed_by_name=actor_name(principal) if by_someone else None,
        )
    )
    # One flush for both rows; the unique index (job, lower(email)) is the duplicate check, so two
    # concurrent applies with one email cannot both pass. A duplicate fails the whole request.
    try:
        await session.flush()
    except IntegrityError as exc:
        if constraint_name(exc) != "uq_applications_job_id_email":
            raise
        raise _duplicate_error(email_pointer, principal) from None
    await audit.record(
        session,
        principal,
        "application.created",
        object_type="application",
        object_id=application.id,
        data={"job_id": str(job.id), "channel": "public" if principal.type == "public" else "recruiter"},
        account_id=job.account_id,
    )
    events.queue(session, "application.created", application_id=application.id, account_id=job.account_id)
    return application


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


# ---- reading: one query for the page, one per related collection, whatever the page size ----

_APP = Application.__table__.c


# The related collections of a page in one statement: PostgreSQL builds each list as JSON (in the
# order the API shows it) and msgspec decodes it straight into the structs.
RELATED_SQL = text(
    """
SELECT a.id,
  coalesce((SELECT json_agg(json_build_object(
      'status', h.status, 'changed_at', h.changed_at,
      'changed_by', CASE WHEN h.changed_by_id IS NULL THEN NULL
                         ELSE json_build_object('id', h.changed_by_id, 'name', h.changed_by_name) END,
      'note', h.note, 'reason', h.reason) ORDER BY h.changed_at, h.id)
    FROM status_history h WHERE h.application_id = a.id), '[]')::text AS history,
  coalesce((SELECT json_agg(json_build_object(
      'id', n.id, 'content', n.content, 'internal', n.internal,
      'author', CASE WHEN n.author_id IS NULL THEN NULL
                     ELSE json_build_object('id', n.author_id, 'name', n.author_name) END,
      'created_at', n.created_at, 'updated_at', n.updated_at) ORDER BY n.created_at, n.id)
    FROM notes n WHERE n.application_id = a.id), '[]')::text AS notes,
  coalesce((SELECT json_agg(json_build_object(
      'id', d.id, 'type', d.type, 'filename', d.filename, 'mime_type', d.mime_type, 'size', d.size,
      'upload_status', d.upload_status,
      'url', CAST(:api_base AS text) || '/applications/' || d.application_id || '/documents/' || d.id)
      ORDER BY d.created_at, d.id)
    FROM documents d WHERE d.application_id = a.id), '[]')::text AS documents
FROM unnest(CAST(:ids AS uuid[])) AS a(id)
"""
)
_history = msgspec.json.Decoder(list[HistoryEntry])
_notes = msgspec.json.Decoder(list[NoteView])
_documents = msgspec.json.Decoder(list[DocumentView])


async def build_views(
    session: AsyncSession, account_id: uuid.UUID, rows: list[Any], *, api_base: str
) -> list[ApplicationView]:
    """Turn application rows (with ``job_title``) into the §5 shape with one more statement."""
    if not rows:
        return []
    stages = await stages_of(session, account_id)
    related = {
        r.id: (_history.decode(r.history), _notes.decode(r.notes), _documents.decode(r.documents))
        for r in await session.execute(RELATED_SQL, {"ids": [r.id for r in rows], "api_base": api_base})
    }
    views = []
    for r in rows:
        stage_id, stage_name = stages[r.status]
        views.append(
            ApplicationView(
                id=r.id,
                job=JobRef(r.job_id, r.job_title),
                status=r.status,
                stage=Ref(stage_id, stage_name),
                status_history=related[r.id][0],
                candidate=Candidate(
                    r.name,
                    r.salutation,
                    r.first_name,
                    r.last_name,
                    r.email,
                    r.phone,
                    Address(r.street, r.postal_code, r.city, r.country),
                ),
                documents=related[r.id][2],
                cover_letter=r.cover_letter,
                custom_fields=r.custom_fields,
                rating=round(r.rating_total / r.rating_count, 2) if r.rating_count else None,
                rating_count=r.rating_count,
                notes=related[r.id][1],
                consent=Consent(
                    r.consent_privacy_policy,
                    r.consent_privacy_policy_version,
                    r.consent_talent_pool,
                    r.consented_at,
                    r.consent_ip,
                ),
                source=r.source,
                legal_hold=r.legal_hold,
                version=r.version,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
        )
    return views


def _base_select() -> Select[Any]:
    return select(Application.__table__, JobPosting.title.label("job_title")).join(
        JobPosting, JobPosting.id == Application.job_id
    )


async def get_view(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, *, api_base: str
) -> ApplicationView:
    principal.scope(Permission.READ)
    row = (
        await session.execute(_base_select().where(Application.id == application_id, application_scope(principal)))
    ).first()
    if row is None:
        raise NotFound("No such application")
    return (await build_views(session, principal.account_id, [row], api_base=api_base))[0]


class Cursor(msgspec.Struct, array_like=True):
    """Where the next page starts; ``total`` is the count taken when the walk began (not recounted)."""

    orderby: str
    order: str
    value: Any
    id: uuid.UUID
    page: int
    total: int


def encode_cursor(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).decode().rstrip("=")


def decode_cursor(raw: str) -> Cursor:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        return msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()), type=Cursor)
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise ValidationFailed(errors=[FieldError("cursor", "is not a cursor this API issued")]) from None


@dataclass
class ApplicationFilters:
    job_id: uuid.UUID | None = None
    statuses: list[str] = field(default_factory=list)
    stage_id: uuid.UUID | None = None
    search: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    orderby: str = "date"
    order: str = "desc"
    page: int = 1
    per_page: int = 20
    cursor: str | None = None


@dataclass
class ApplicationPage:
    views: list[ApplicationView]
    total: int
    page: int
    per_page: int
    next_cursor: str | None


def parse_statuses(raw: str | None, pointer: str = "status") -> list[str]:
    if not raw:
        return []
    return [parse_status(part.strip(), pointer).value for part in raw.split(",") if part.strip()]


def _sort_key(orderby: str) -> Any:
    if orderby == "name":
        return func.lower(Application.name)
    if orderby == "status":
        return Application.status_rank
    return Application.created_at


def _cursor_value(orderby: str, sort_key: Any) -> Any:
    """The sort key as PostgreSQL computed it (its lower() is what the index holds)."""
    return sort_key.isoformat() if orderby == "date" else sort_key


def _cursor_literal(orderby: str, value: Any) -> Any:
    """The cursor's sort value, checked against what its ``orderby`` produces (a forged one is a 422)."""
    bad = ValidationFailed(errors=[FieldError("cursor", "is not a cursor this API issued")])
    if orderby == "date":
        if not isinstance(value, str):
            raise bad
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise bad from None
        if parsed.tzinfo is None:
            raise bad
        return parsed
    if orderby == "status":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 100:
            raise bad
        return value
    if not isinstance(value, str) or "\x00" in value:
        raise bad
    return value


async def list_applications(
    session: AsyncSession, principal: Principal, filters: ApplicationFilters, *, api_base: str
) -> ApplicationPage:
    """One page: keyset when ``cursor`` is given (deep pages stay fast), else page number."""
    principal.scope(Permission.READ)
    where: list[ColumnElement[bool]] = [application_scope(principal)]
    if filters.job_id is not None:
        where.append(Application.job_id == filters.job_id)
    if filters.statuses:
        where.append(Application.status.in_(filters.statuses))
    if filters.search:
        # Lower-cased by PostgreSQL, like the indexed expression, so both agree on every script.
        pattern = func.lower("%" + escape_like(filters.search.strip()) + "%")
        where.append(func.lower(Application.name + " " + Application.email).like(pattern, escape="\\"))
    if filters.date_from is not None:
        where.append(Application.created_at >= filters.date_from)
    if filters.date_to is not None:
        where.append(Application.created_at < filters.date_to)
    key = _sort_key(filters.orderby)
    descending = filters.order == "desc"
    page = filters.page
    query = _base_select().add_columns(key.label("sort_key")).where(*where)
    if filters.cursor:
        # Deep pages: no OFFSET and no recount, so page 10,000 costs what page 1 does.
        cursor = decode_cursor(filters.cursor)
        if (cursor.orderby, cursor.order) != (filters.orderby, filters.order):
            raise ValidationFailed(errors=[FieldError("cursor", "was issued for another orderby or order")])
        boundary = tuple_(key, Application.id)
        value = tuple_(_cursor_literal(cursor.orderby, cursor.value), cursor.id)
        query = query.where(boundary < value if descending else boundary > value)
        page, total = cursor.page, cursor.total
    else:
        total = int(await session.scalar(select(func.count()).select_from(Application).where(*where)) or 0)
        query = query.offset((page - 1) * filters.per_page)
    order = [key.desc(), Application.id.desc()] if descending else [key.asc(), Application.id.asc()]
    rows = list(await session.execute(query.order_by(*order).limit(filters.per_page + 1)))
    more = len(rows) > filters.per_page
    rows = rows[: filters.per_page]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(
            Cursor(
                filters.orderby, filters.order, _cursor_value(filters.orderby, last.sort_key), last.id, page + 1, total
            )
        )
    views = await build_views(session, principal.account_id, rows, api_base=api_base)
    return ApplicationPage(views, total, page, filters.per_page, next_cursor)


# ---- changes ----


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
    await session.flush()
    await audit.record(
        session,
        principal,
        "note.created",
        object_type="note",
        object_id=note.id,
        data={"application_id": str(application.id), "internal": internal},
    )
    return note


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
) -> Application:
    """Move under the status machine, checked against the status at this moment (row lock)."""
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
        return application
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
    events.queue(
        session,
        "application.status_changed",
        application_id=application.id,
        account_id=application.account_id,
        from_status=current.value,
        to_status=wanted.value,
    )
    return application


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
    return application


async def document_rows(session: AsyncSession, application_ids: list[uuid.UUID]) -> list[Document]:
    """Documents of these applications, oldest first (for views that need name and extension)."""
    if not application_ids:
        return []
    rows = await session.scalars(
        select(Document)
        .where(Document.application_id.in_(application_ids))
        .order_by(Document.application_id, Document.created_at, Document.id)
    )
    return list(rows)
