"""Applications (§5): list, get, create, move, legal hold, notes and ratings."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.errors import BadRequest
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import application_views, applications, jobs, notes, ratings, sources
from ats.services.applications import note_view
from ats.views import ApplicationView, NoteView, RatingSummary, RatingView
from ats.vocabulary import EMAIL_PATTERN

from .deps import account_member, provide_principal_after_session, requires
from .paging import check_date_range, check_page, day_end, day_start, page_meta, parse_updated_since
from .schemas import Input, Many, One, whole

Text300 = Annotated[str, msgspec.Meta(max_length=300)]
Text150 = Annotated[str, msgspec.Meta(max_length=150)]
Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
CriterionName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class AddressIn(Input):
    street: Text300 | None = None
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    city: Text150 | None = None
    country: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class CandidateIn(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=EMAIL_PATTERN)]
    salutation: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    first_name: Text150 | None = None
    last_name: Text150 | None = None
    phone: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    address: AddressIn | None = None


class ApplicationCreate(Input):
    job_id: uuid.UUID
    candidate: CandidateIn
    source: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    referrer_id: uuid.UUID | None = None  # a user of the account who referred the candidate
    cover_letter: Annotated[str, msgspec.Meta(max_length=100_000)] | None = None
    custom_fields: dict[str, Any] = {}


class StatusMove(Input):
    status: Annotated[str, msgspec.Meta(max_length=50)]
    note: Annotated[str, msgspec.Meta(max_length=20_000)] | None = None
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class ApplicationPatch(Input):
    legal_hold: bool


class NoteIn(Input):
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
    internal: bool = True


class NotePatch(Input):
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)] | msgspec.UnsetType = msgspec.UNSET
    internal: bool | msgspec.UnsetType = msgspec.UNSET


class RatingIn(Input):
    rating: Score
    criteria: dict[CriterionName, Score] = {}


def parse_if_match(request: Request[Any, Any, Any]) -> int | None:
    """``If-Match: "3"`` (or ``W/"3"``) → 3; absent → None; anything else → 400."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise BadRequest('If-Match must be an ETag this API issued, such as "3"')
    return int(value)


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


class ApplicationController(Controller):
    path = "/applications"
    tags = ["applications"]
    dependencies = {"principal": Provide(provide_principal_after_session)}  # every handler takes db_session

    @get("/", guards=[requires(Permission.READ)])
    async def list_applications(
        self,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
        job_id: uuid.UUID | None = None,
        status: str | None = None,
        search: Annotated[str, msgspec.Meta(max_length=200)] | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        orderby: application_views.OrderBy = "date",
        order: application_views.Order = "desc",
        page: int = 1,
        per_page: int = 20,
        cursor: Annotated[str, msgspec.Meta(max_length=500)] | None = None,
        updated_since: Annotated[str, msgspec.Meta(max_length=64)] | None = None,
    ) -> Many[ApplicationView]:
        check_page(page, per_page)
        check_date_range(date_from, date_to)
        changed_since = parse_updated_since(updated_since)
        result = await application_views.list_applications(
            db_session,
            principal,
            application_views.ApplicationFilters(
                job_id=job_id,
                statuses=application_views.parse_statuses(status),
                search=search or None,
                date_from=day_start(date_from),
                date_to=day_end(date_to),
                orderby=orderby,
                order=order,
                page=page,
                per_page=per_page,
                cursor=cursor,
                updated_since=changed_since,
            ),
            api_base=runtime.api_base,
        )
        return Many(result.views, page_meta(result.total, result.page, result.per_page, result.next_cursor))

    @post("/", guards=[requires(Permission.ADD_CANDIDATES)])
    async def create_application(
        self, data: ApplicationCreate, db_session: AsyncSession, principal: Principal, runtime: Runtime
    ) -> Response[One[ApplicationView]]:
        """A recruiter adds a candidate; the history starts with ``new`` by this user."""
        # Locked: a concurrent DELETE of the posting waits, then sees this application (409).
        job = await jobs.get_job(db_session, principal, data.job_id, permission=Permission.ADD_CANDIDATES, lock=True)
        await sources.check_source(db_session, job.account_id, data.source, "/source")
        candidate = msgspec.to_builtins(data.candidate)
        candidate.update(candidate.pop("address", None) or {})
        row = await applications.create_application(
            db_session,
            principal,
            job,
            candidate=candidate,
            cover_letter=data.cover_letter,
            custom_fields=data.custom_fields,
            source=data.source,
            referrer_id=data.referrer_id,
        )
        view = await application_views.get_view(db_session, principal, row.id, api_base=runtime.api_base)
        return Response(One(view), status_code=201, headers=etag(view.version))

    @get("/{application_id:uuid}", guards=[requires(Permission.READ)])
    async def get_application(
        self, application_id: uuid.UUID, db_session: AsyncSession, principal: Principal, runtime: Runtime
    ) -> Response[One[ApplicationView]]:
        view = await application_views.get_view(db_session, principal, application_id, api_base=runtime.api_base)
        return Response(One(view), headers=etag(view.version))

    @put("/{application_id:uuid}/status", guards=[account_member])
    async def move(
        self,
        request: Request[Any, Any, Any],
        application_id: uuid.UUID,
        data: StatusMove,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
    ) -> Response[One[ApplicationView]]:
        """§4: 409 with the allowed targets, 422 for an unknown status, 412 for a stale If-Match."""
        moved = await applications.move(
            db_session,
            principal,
            application_id,
            data.status,
            note=data.note,
            reason=data.reason,
            expected_version=parse_if_match(request),
        )
        view = await application_views.get_view(
            db_session, principal, application_id, api_base=runtime.api_base, current=moved
        )
        return Response(One(view), headers=etag(view.version))

    @patch("/{application_id:uuid}", guards=[account_member])
    async def patch_application(
        self,
        request: Request[Any, Any, Any],
        application_id: uuid.UUID,
        data: ApplicationPatch,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
    ) -> Response[One[ApplicationView]]:
        await applications.set_legal_hold(
            db_session, principal, application_id, data.legal_hold, expected_version=parse_if_match(request)
        )
        view = await application_views.get_view(db_session, principal, application_id, api_base=runtime.api_base)
        return Response(One(view), headers=etag(view.version))

    @post("/{application_id:uuid}/notes", guards=[account_member])
    async def add_note(
        self, application_id: uuid.UUID, data: NoteIn, db_session: AsyncSession, principal: Principal
    ) -> One[NoteView]:
        row = await notes.add_note(db_session, principal, application_id, content=data.content, internal=data.internal)
        return One(note_view(row))

    @get("/{application_id:uuid}/notes", guards=[requires(Permission.READ)])
    async def list_notes(
        self,
        application_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        updated_since: Annotated[str, msgspec.Meta(max_length=64)] | None = None,
    ) -> Many[NoteView]:
        since = parse_updated_since(updated_since)
        rows = await notes.list_notes(db_session, principal, application_id, updated_since=since)
        return whole([note_view(n) for n in rows])

    @patch("/{application_id:uuid}/notes/{note_id:uuid}", guards=[account_member])
    async def update_note(
        self,
        application_id: uuid.UUID,
        note_id: uuid.UUID,
        data: NotePatch,
        db_session: AsyncSession,
        principal: Principal,
    ) -> One[NoteView]:
        row = await notes.update_note(
            db_session,
            principal,
            application_id,
            note_id,
            content=None if isinstance(data.content, msgspec.UnsetType) else data.content,
            internal=None if isinstance(data.internal, msgspec.UnsetType) else data.internal,
        )
        return One(note_view(row))

    @delete("/{application_id:uuid}/notes/{note_id:uuid}", status_code=204, guards=[account_member])
    async def delete_note(
        self, application_id: uuid.UUID, note_id: uuid.UUID, db_session: AsyncSession, principal: Principal
    ) -> None:
        await notes.delete_note(db_session, principal, application_id, note_id)

    @put("/{application_id:uuid}/rating", guards=[account_member])
    async def set_rating(
        self, application_id: uuid.UUID, data: RatingIn, db_session: AsyncSession, principal: Principal
    ) -> One[RatingSummary]:
        summary = await ratings.set_rating(
            db_session, principal, application_id, rating=data.rating, criteria=dict(data.criteria)
        )
        return One(summary)

    @get("/{application_id:uuid}/ratings", guards=[requires(Permission.READ)])
    async def list_ratings(
        self,
        application_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        updated_since: Annotated[str, msgspec.Meta(max_length=64)] | None = None,
    ) -> Many[RatingView]:
        since = parse_updated_since(updated_since)
        return whole(await ratings.list_ratings(db_session, principal, application_id, updated_since=since))
