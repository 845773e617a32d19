"""Applications, read: one or a page in the §5 shape, with a bounded number of statements whatever its size."""

from __future__ import annotations

import uuid
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

import msgspec
from sqlalchemy import ColumnElement, DateTime, Integer, Select, String, bindparam, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from .. import events
from ..auth import Principal
from ..errors import FieldError, NotFound, ValidationFailed
from ..models import Application, Document, JobPosting
from ..pipeline import parse_status
from ..roles import Permission, Scope
from ..statements import Compiled
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


# Application rows arrive as plain tuples (``applications.*``, then ``job_title``, then ``sort_key`` on a page);
# a named tuple reads them by attribute at C speed, so the §5 shape is built from rows and ORM objects alike.
_Row = namedtuple(  # type: ignore[misc]
    "_Row", [c.name for c in Application.__table__.columns] + ["job_title", "sort_key"], defaults=(None,)
)
_RELATED = Compiled(RELATED_SQL)


async def build_views(
    session: AsyncSession, account_id: uuid.UUID, rows: list[Any], *, api_base: str
) -> list[ApplicationView]:
    """Turn application rows (``applications.*`` then ``job_title``) into the §5 shape with one more statement."""
    if not rows:
        return []
    stages = await stages_of(session, account_id)
    related = {
        app_id: (_history.decode(history), _notes.decode(notes), _documents.decode(documents))
        for app_id, history, notes, documents in await _RELATED.rows(session, {"ids": [_row(r).id for r in rows]})
    }
    views = []
    for r in map(_row, rows):
        history, notes, documents = related[r.id]
        docs = [d.view(document_url(api_base, r.id, d.id)) for d in documents]
        views.append(assemble(r, r.job_title, Ref(*stages[r.status]), history, notes, docs))
    return views


def _row(r: Any) -> Any:
    return _Row(*r)


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
    row = await _BY_ID.first(session, {"id_1": application_id})
    assert row is not None, "the caller holds the application"
    return (await build_views(session, _row(row).account_id, [row], api_base=api_base))[0]


def _base_select() -> Select[Any]:
    return select(Application.__table__, JobPosting.title.label("job_title")).join(
        JobPosting, JobPosting.id == Application.job_id
    )


#: One application of an account-wide caller, compiled once (a hiring manager's scope is built per request).
_ONE = Compiled(
    _base_select().where(Application.id == bindparam("id_1"), Application.account_id == bindparam("account_id_1"))
)


#: One application by id alone: the event payloads' read, after the caller checked access and flushed.
_BY_ID = Compiled(_base_select().where(Application.id == bindparam("id_1")))


async def get_view(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    api_base: str,
    current: ApplicationView | None = None,
) -> ApplicationView:
    """The application as ``principal`` reads it.

    ``current``: the application as an admin read it in this transaction after its last write (the payload of the
    event that write queued, :func:`event_view`): an account-wide caller reads exactly that (the same statements'
    answer, no second read).
    """
    principal.scope(Permission.READ)
    row: Any
    if (
        current is not None
        and current.id == application_id
        and api_base == events.api_base(session)
        and _account_wide(principal)
    ):
        return current
    if _account_wide(principal):
        row = await _ONE.first(session, {"id_1": application_id, "account_id_1": principal.account_id})
    else:
        query = _base_select().where(Application.id == application_id, application_scope(principal))
        row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("No such application")
    return (await build_views(session, principal.account_id, [row], api_base=api_base))[0]


def _account_wide(principal: Principal) -> bool:
    return principal.scope(Permission.READ) is not Scope.HIRING_TEAM


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


class _Shape(NamedTuple):
    """What a list statement's text depends on (its values travel as parameters)."""

    job: bool
    statuses: int
    search: bool
    date_from: bool
    date_to: bool
    updated_since: bool
    orderby: str
    order: str
    cursor: bool


_CURSOR_TYPES: dict[str, Any] = {"date": DateTime(timezone=True), "name": String(), "status": Integer()}


def _list_statements(shape: _Shape, scope: ColumnElement[bool] | None = None) -> tuple[Select[Any], Select[Any]]:
    """The count and the page statement of one shape, with named parameters (names as SQLAlchemy would pick).

    ``scope``: a hiring manager's visibility clause; account-wide callers bind ``account_id_1``.
    """
    where: list[ColumnElement[bool]] = [Application.account_id == bindparam("account_id_1") if scope is None else scope]
    if shape.job:
        where.append(Application.job_id == bindparam("job_id_1"))
    if shape.statuses:
        where.append(
            Application.status.in_(
                [bindparam(f"status_1_{i}", type_=Application.status.type) for i in range(1, shape.statuses + 1)]
            )
        )
    if shape.search:
        # Lower-cased by PostgreSQL, like the indexed expression, so both agree on every script.
        pattern = func.lower(bindparam("lower_1", type_=String()))
        name = func.lower(Application.name + bindparam("name_1", " ", type_=String()) + Application.email)
        where.append(name.like(pattern, escape="\\"))
    dates = 0
    for present, op in ((shape.date_from, "__ge__"), (shape.date_to, "__lt__")):
        if present:
            dates += 1
            where.append(getattr(Application.created_at, op)(bindparam(f"created_at_{dates}")))
    if shape.updated_since:
        where.append(Application.updated_at >= bindparam("updated_at_1", type_=DateTime(timezone=True)))
    key = _sort_key(shape.orderby)
    descending = shape.order == "desc"
    page = _base_select().add_columns(key.label("sort_key")).where(*where)
    params = 0
    if shape.cursor:
        boundary = tuple_(key, Application.id)
        value = tuple_(
            bindparam("param_1", type_=_CURSOR_TYPES[shape.orderby]), bindparam("param_2", type_=Application.id.type)
        )
        page = page.where(boundary < value if descending else boundary > value)
        params = 2
    order = [key.desc(), Application.id.desc()] if descending else [key.asc(), Application.id.asc()]
    page = page.order_by(*order).limit(bindparam(f"param_{params + 1}", type_=Integer()))
    if not shape.cursor:
        page = page.offset(bindparam(f"param_{params + 2}", type_=Integer()))
    count = select(func.count()).select_from(Application).where(*where)
    return count, page


_compiled_lists: dict[_Shape, tuple[Compiled, Compiled]] = {}


def _compiled_list(shape: _Shape) -> tuple[Compiled, Compiled]:
    """An account-wide caller's statements of this shape, compiled once per process."""
    found = _compiled_lists.get(shape)
    if found is None:
        count, page = _list_statements(shape)
        found = _compiled_lists[shape] = (Compiled(count), Compiled(page))
    return found


async def list_applications(
    session: AsyncSession, principal: Principal, filters: ApplicationFilters, *, api_base: str
) -> ApplicationPage:
    """One page: keyset when ``cursor`` is given (deep pages stay fast), else page number."""
    principal.scope(Permission.READ)
    shape = _Shape(
        filters.job_id is not None,
        len(filters.statuses),
        bool(filters.search),
        filters.date_from is not None,
        filters.date_to is not None,
        filters.updated_since is not None,
        filters.orderby,
        filters.order,
        bool(filters.cursor),
    )
    params: dict[str, Any] = {}
    if filters.job_id is not None:
        params["job_id_1"] = filters.job_id
    params.update((f"status_1_{i}", status) for i, status in enumerate(filters.statuses, start=1))
    if filters.search:
        params["name_1"] = " "
        params["lower_1"] = "%" + escape_like(filters.search.strip()) + "%"
    dates = [d for d in (filters.date_from, filters.date_to) if d is not None]
    params.update((f"created_at_{i}", d) for i, d in enumerate(dates, start=1))
    if filters.updated_since is not None:
        params["updated_at_1"] = filters.updated_since
    page = filters.page
    page_params = dict(params)
    if filters.cursor:
        # Deep pages: no OFFSET and no recount, so page 10,000 costs what page 1 does.
        cursor = decode_cursor(filters.cursor)
        if (cursor.orderby, cursor.order) != (filters.orderby, filters.order):
            raise ValidationFailed(errors=[FieldError("cursor", "was issued for another orderby or order")])
        page_params["param_1"] = _cursor_literal(cursor.orderby, cursor.value)
        page_params["param_2"] = cursor.id
        page_params["param_3"] = filters.per_page + 1
        page, total = cursor.page, cursor.total
    else:
        page_params["param_1"] = filters.per_page + 1
        page_params["param_2"] = (page - 1) * filters.per_page
    rows: list[Any]
    if _account_wide(principal):
        params["account_id_1"] = page_params["account_id_1"] = principal.account_id
        count_sql, page_sql = _compiled_list(shape)
        if not filters.cursor:
            total = int((await count_sql.first(session, params) or (0,))[0])
        rows = await page_sql.rows(session, page_params)
    else:
        count_query, page_query = _list_statements(shape, application_scope(principal))
        if not filters.cursor:
            total = int(await session.scalar(count_query, params) or 0)
        rows = list(await session.execute(page_query, page_params))
    more = len(rows) > filters.per_page
    rows = rows[: filters.per_page]
    next_cursor = None
    if more and rows:
        last = _row(rows[-1])
        next_cursor = encode_cursor(
            Cursor(
                filters.orderby,
                filters.order,
                _cursor_value(filters.orderby, last.sort_key),
                last.id,
                page + 1,
                total,
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
