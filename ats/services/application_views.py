"""Applications, read: one or a page in the §5 shape, with a bounded number of statements whatever its size."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import ColumnElement, Select, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import Principal
from ..errors import FieldError, NotFound, ValidationFailed
from ..models import Application, Document, JobPosting
from ..pipeline import parse_status
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
    document_url,
)
from .access import application_scope
from .cursor import Cursor, decode_cursor, encode_cursor
from .jobs import escape_like
from .stages import stages_of

OrderBy = Literal["date", "name", "status"]
Order = Literal["asc", "desc"]


class DocumentRow(msgspec.Struct):
    """A document as the related-collections statement returns it; its URL is the API's to build."""

    id: uuid.UUID
    type: str
    filename: str
    mime_type: str | None
    size: int | None
    upload_status: str

    def view(self, url: str) -> DocumentView:
        return DocumentView(self.id, self.type, self.filename, self.mime_type, self.size, self.upload_status, url)


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
      'upload_status', d.upload_status)
      ORDER BY d.created_at, d.id)
    FROM documents d WHERE d.application_id = a.id), '[]')::text AS documents
FROM unnest(CAST(:ids AS uuid[])) AS a(id)
"""
)
_history = msgspec.json.Decoder(list[HistoryEntry])
_notes = msgspec.json.Decoder(list[NoteView])
_documents = msgspec.json.Decoder(list[DocumentRow])


async def build_views(
    session: AsyncSession, account_id: uuid.UUID, rows: list[Any], *, api_base: str
) -> list[ApplicationView]:
    """Turn application rows (with ``job_title``) into the §5 shape with one more statement."""
    if not rows:
        return []
    stages = await stages_of(session, account_id)
    related = {
        r.id: (_history.decode(r.history), _notes.decode(r.notes), _documents.decode(r.documents))
        for r in await session.execute(RELATED_SQL, {"ids": [r.id for r in rows]})
    }
    views = []
    for r in rows:
        history, notes, documents = related[r.id]
        docs = [d.view(document_url(api_base, r.id, d.id)) for d in documents]
        views.append(assemble(r, r.job_title, Ref(*stages[r.status]), history, notes, docs))
    return views


def assemble(
    r: Any, job_title: str, stage: Ref, history: list[HistoryEntry], notes: list[NoteView], docs: list[DocumentView]
) -> ApplicationView:
    """The §5 shape of an application row (or ORM object) and its related collections: built here only."""
    return ApplicationView(
        id=r.id,
        job=JobRef(r.job_id, job_title),
        status=r.status,
        stage=stage,
        status_history=history,
        candidate=Candidate(
            r.name,
            r.salutation,
            r.first_name,
            r.last_name,
            r.email,
            r.phone,
            Address(r.street, r.postal_code, r.city, r.country),
        ),
        documents=docs,
        cover_letter=r.cover_letter,
        custom_fields=r.custom_fields,
        rating=round(r.rating_total / r.rating_count, 2) if r.rating_count else None,
        rating_count=r.rating_count,
        notes=notes,
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
        utm_source=r.utm_source,
        utm_medium=r.utm_medium,
        utm_campaign=r.utm_campaign,
        referrer_id=r.referrer_id,
    )


def document_view(document: Document, api_base: str) -> DocumentView:
    """A document row in the §5 shape."""
    url = document_url(api_base, document.application_id, document.id)
    return DocumentView(
        document.id,
        document.type,
        document.filename,
        document.mime_type,
        document.size,
        document.upload_status,
        url,
    )


def new_view(
    application: Application,
    job_title: str,
    stage: Ref,
    changed_by: Ref | None,
    documents: list[Document],
    *,
    api_base: str,
) -> ApplicationView:
    """A just-created application in the §5 shape, from what is in memory (no statement: the apply path)."""
    history = [HistoryEntry(application.status, application.status_changed_at, changed_by, None, None)]
    return assemble(application, job_title, stage, history, [], [document_view(d, api_base) for d in documents])


async def event_view(session: AsyncSession, application_id: uuid.UUID, *, api_base: str) -> ApplicationView:
    """The application as an admin reads it now, for its event's payload (the caller already checked access)."""
    row = (await session.execute(_base_select().where(Application.id == application_id))).one()
    return (await build_views(session, row.account_id, [row], api_base=api_base))[0]


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


@dataclass
class ApplicationFilters:
    job_id: uuid.UUID | None = None
    statuses: list[str] = field(default_factory=list)
    stage_id: uuid.UUID | None = None
    search: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    orderby: OrderBy = "date"
    order: Order = "desc"
    page: int = 1
    per_page: int = 20
    cursor: str | None = None
    updated_since: datetime | None = None


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
    if filters.updated_since is not None:
        where.append(Application.updated_at >= filters.updated_since)
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
