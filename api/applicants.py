"""Seed-compatible JSON:API views of applications for recruiters (type ``applicant``), §5."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, put
from litestar.di import Provide
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.errors import BadRequest, Conflict, FieldError, ValidationFailed
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import application_views, applications
from ats.services.stages import stages_of, status_of_stage
from ats.views import ApplicationView

from .applications import parse_if_match
from .deps import account_member, provide_principal_after_session, requires
from .jsonapi import JSONAPI, applicant_document_resource, check_accept, document, fieldset, page_links, sparse
from .paging import check_jsonapi_page, parse_updated_since
from .schemas import Input

APPLICANT_FIELDS = ("application_stage_id", "created_at", "email", "name", "applicant_documents")
DOCUMENT_FIELDS = ("applicant_id", "extension", "name", "upload_status")
FieldsApplicant = Annotated[str | None, QueryParameter(name="fields[applicant]")]
FieldsDocument = Annotated[str | None, QueryParameter(name="fields[applicant_document]")]


class ApplicantAttributes(Input):
    application_stage_id: uuid.UUID


class ApplicantData(Input):
    type: str  # another type is a 409 (JSON:API), checked in the handler
    attributes: ApplicantAttributes
    id: uuid.UUID | None = None


class ApplicantUpdate(Input):
    data: ApplicantData


def applicant_resource(view: ApplicationView, document_ids: list[str], api_base: str) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "type": "applicant",
        "attributes": {
            "application_stage_id": str(view.stage.id),
            "created_at": view.created_at,
            "email": view.candidate.email,
            "name": view.candidate.name,
        },
        "relationships": {
            "applicant_documents": {"data": [{"id": d, "type": "applicant_document"} for d in document_ids]}
        },
        "meta": {},
        "links": {"self": f"{api_base}/applicants/{view.id}"},
    }


async def _documents(
    session: AsyncSession, views: list[ApplicationView], include: bool, fields: frozenset[str] | None = None
) -> tuple[dict[uuid.UUID, list[str]], list[dict[str, Any]]]:
    """Relationship ids come from the views; ``included`` needs names and extensions, one query."""
    ids = {v.id: [str(d.id) for d in v.documents] for v in views}
    if not include:
        return ids, []
    rows = await application_views.document_rows(session, [v.id for v in views])
    return ids, [sparse(applicant_document_resource(d), fields) for d in rows]


def _include_flag(include: str | None) -> bool:
    """JSON:API 1.1: an include path the server does not support is a 400 naming the parameter."""
    if include is None or include == "":
        return False
    if include != "applicant_documents":
        raise BadRequest(
            "Unsupported include",
            errors=[FieldError("include", "only applicant_documents can be included", "unsupported_include")],
        )
    return True


class ApplicantController(Controller):
    path = "/applicants"
    tags = ["applicants (JSON:API)"]
    dependencies = {"principal": Provide(provide_principal_after_session)}  # every handler takes db_session

    @get("/", guards=[requires(Permission.READ)], media_type=JSONAPI)
    async def list_applicants(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
        job_posting_id: Annotated[uuid.UUID | None, QueryParameter(name="filter[job_posting_id]")] = None,
        stage_id: Annotated[uuid.UUID | None, QueryParameter(name="filter[application_stage_id]")] = None,
        updated_since: Annotated[str | None, QueryParameter(name="filter[updated_since]", max_length=64)] = None,
        page_number: Annotated[int, QueryParameter(name="page[number]")] = 1,
        page_size: Annotated[int, QueryParameter(name="page[size]")] = 20,
        include: str | None = None,
        fields_applicant: FieldsApplicant = None,
        fields_document: FieldsDocument = None,
    ) -> Response[bytes]:
        check_accept(request)
        check_jsonapi_page(page_number, page_size)
        with_documents = _include_flag(include)
        wanted = fieldset("fields[applicant]", fields_applicant, APPLICANT_FIELDS)
        wanted_documents = fieldset("fields[applicant_document]", fields_document, DOCUMENT_FIELDS)
        since = parse_updated_since(updated_since, "filter[updated_since]")
        statuses: list[str] = []
        if stage_id is not None:
            status = await status_of_stage(db_session, principal.account_id, stage_id)
            if status is None:
                raise ValidationFailed(errors=[FieldError("filter[application_stage_id]", "no such stage")])
            statuses = [status]
        result = await application_views.list_applications(
            db_session,
            principal,
            application_views.ApplicationFilters(
                job_id=job_posting_id, statuses=statuses, page=page_number, per_page=page_size, updated_since=since
            ),
            api_base=runtime.api_base,
        )
        ids, included = await _documents(db_session, result.views, with_documents, wanted_documents)
        api_base = runtime.api_base
        body: dict[str, Any] = {
            "data": [sparse(applicant_resource(v, ids[v.id], api_base), wanted) for v in result.views],
            "meta": {"total": result.total, "page": page_number, "per_page": page_size},
            "links": page_links(request, f"{api_base}/applicants", page_number, page_size, result.total),
        }
        if with_documents:
            body["included"] = included
        return document(body)

    @get("/{applicant_id:uuid}", guards=[requires(Permission.READ)], media_type=JSONAPI)
    async def get_applicant(
        self,
        request: Request[Any, Any, Any],
        applicant_id: uuid.UUID,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
        include: str | None = None,
        fields_applicant: FieldsApplicant = None,
        fields_document: FieldsDocument = None,
    ) -> Response[bytes]:
        check_accept(request)
        with_documents = _include_flag(include)
        wanted = fieldset("fields[applicant]", fields_applicant, APPLICANT_FIELDS)
        wanted_documents = fieldset("fields[applicant_document]", fields_document, DOCUMENT_FIELDS)
        view = await application_views.get_view(db_session, principal, applicant_id, api_base=runtime.api_base)
        ids, included = await _documents(db_session, [view], with_documents, wanted_documents)
        resource = applicant_resource(view, ids[view.id], runtime.api_base)
        body: dict[str, Any] = {"data": sparse(resource, wanted), "links": {"self": resource["links"]["self"]}}
        if with_documents:
            body["included"] = included
        return document(body, headers={"ETag": f'"{view.version}"'})

    @patch("/{applicant_id:uuid}", guards=[account_member], media_type=JSONAPI)
    async def update_applicant(
        self,
        request: Request[Any, Any, Any],
        applicant_id: uuid.UUID,
        data: ApplicantUpdate,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
    ) -> Response[bytes]:
        """JSON:API's update: ``application_stage_id`` is the one writable attribute (a status move under §4)."""
        return await _move(request, applicant_id, data, db_session, principal, runtime)

    @put("/{applicant_id:uuid}", guards=[account_member], media_type=JSONAPI)
    async def move_applicant(
        self,
        request: Request[Any, Any, Any],
        applicant_id: uuid.UUID,
        data: ApplicantUpdate,
        db_session: AsyncSession,
        principal: Principal,
        runtime: Runtime,
    ) -> Response[bytes]:
        """The seed's clients' update, kept beside ``PATCH``: the same move, the same media type rules."""
        return await _move(request, applicant_id, data, db_session, principal, runtime)


async def _move(
    request: Request[Any, Any, Any],
    applicant_id: uuid.UUID,
    data: ApplicantUpdate,
    db_session: AsyncSession,
    principal: Principal,
    runtime: Runtime,
) -> Response[bytes]:
    """Moving ``application_stage_id`` is a status move under §4, nothing else; type and id must match (409)."""
    if data.data.type != "applicant":
        raise Conflict(errors=[FieldError("/data/type", "must be 'applicant'", "type_mismatch")])
    if data.data.id is not None and data.data.id != applicant_id:
        raise Conflict(errors=[FieldError("/data/id", "does not match the URL", "id_mismatch")])
    stages = await stages_of(db_session, principal.account_id)
    wanted = next(
        (status for status, (sid, _) in stages.items() if sid == data.data.attributes.application_stage_id),
        None,
    )
    if wanted is None:
        # Not one of this account's stages: same answer as an unknown status, listing the valid ones.
        raise ValidationFailed(
            "Unknown application_stage_id",
            errors=[FieldError("/data/attributes/application_stage_id", "is not a stage of this account")],
            extra={"allowed": [str(sid) for sid, _ in stages.values()]},
        )
    moved = await applications.move(
        db_session, principal, applicant_id, wanted, expected_version=parse_if_match(request)
    )
    view = await application_views.get_view(
        db_session, principal, applicant_id, api_base=runtime.api_base, current=moved
    )
    ids, _ = await _documents(db_session, [view], False)
    resource = applicant_resource(view, ids[view.id], runtime.api_base)
    return document(
        {"data": resource, "links": {"self": resource["links"]["self"]}}, headers={"ETag": f'"{view.version}"'}
    )
