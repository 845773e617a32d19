"""The public API (JSON:API, no auth): active job postings (§3) and applying (§6)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from ats.careers import job_posting_json_ld
from ats.errors import NotFound
from ats.models import JobPosting
from ats.runtime import Runtime
from ats.services import careers_board, jobs

from .http_cache import cached_document
from .jobs import questions_out
from .jsonapi import JSONAPI, check_accept, fieldset, page_links, public_base, sparse
from .paging import check_jsonapi_page

JOB_POSTING_FIELDS = (
    "title",
    "description",
    "location",
    "department",
    "employment_type",
    "closes_at",
    "application_questions",
    "created_at",
)
FieldsJobPosting = Annotated[str | None, QueryParameter(name="fields[job_posting]")]


def job_posting_resource(job: JobPosting, base: str, organization: str | None = None) -> dict[str, Any]:
    """``base``: the public API's base path; ``links.self`` is the posting's public URL; ``meta.json_ld`` its
    schema.org ``JobPosting`` when the hiring organisation is known."""
    resource: dict[str, Any] = {
        "id": str(job.id),
        "type": "job_posting",
        "attributes": {
            "title": job.title,
            "description": job.description,
            "location": job.location,
            "department": job.department,
            "employment_type": job.employment_type,
            "closes_at": job.closes_at,
            "application_questions": questions_out(job.application_questions),
            "created_at": job.created_at,
        },
        "links": {"self": f"{base}/job_postings/{job.id}"},
    }
    if organization is not None:
        resource["meta"] = {"json_ld": _json_ld(job, organization)}
    return resource


def _json_ld(job: JobPosting, organization: str) -> dict[str, Any]:
    return job_posting_json_ld(
        job_id=str(job.id),
        title=job.title,
        description=job.description,
        employment_type=job.employment_type,
        location=job.location,
        created_at=job.created_at,
        closes_at=job.closes_at,
        organization=organization,
    )


class PublicJobPostingController(Controller):
    path = "/job_postings"
    tags = ["public"]

    @get("/", media_type=JSONAPI)
    async def list_postings(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        runtime: Runtime,
        page_number: Annotated[int, QueryParameter(name="page[number]")] = 1,
        page_size: Annotated[int, QueryParameter(name="page[size]")] = 20,
        fields: FieldsJobPosting = None,
        board: Annotated[str | None, QueryParameter(name="filter[board]")] = None,
    ) -> Response[bytes]:
        """Active postings only: published, and not past ``closes_at``; ``filter[board]`` for one account's board."""
        check_accept(request)
        check_jsonapi_page(page_number, page_size)
        wanted = fieldset("fields[job_posting]", fields, JOB_POSTING_FIELDS)
        base = public_base(runtime.api_base)
        account_id = None
        if board is not None:
            found = await careers_board.account_by_slug(db_session, board)
            if found is None:
                raise NotFound("No such careers board")
            account_id = found[0]
        rows, total = await jobs.list_active_jobs(
            db_session, offset=(page_number - 1) * page_size, limit=page_size, account_id=account_id
        )
        names = await careers_board.account_names(db_session, {r.account_id for r in rows})
        return cached_document(
            request,
            {
                "data": [sparse(job_posting_resource(r, base, names[r.account_id]), wanted) for r in rows],
                "meta": {"total": total, "page": page_number, "per_page": page_size},
                "links": page_links(request, f"{base}/job_postings", page_number, page_size, total),
            },
        )

    @get("/{posting_id:uuid}", media_type=JSONAPI)
    async def get_posting(
        self,
        request: Request[Any, Any, Any],
        posting_id: uuid.UUID,
        db_session: AsyncSession,
        runtime: Runtime,
        fields: FieldsJobPosting = None,
    ) -> Response[bytes]:
        check_accept(request)
        wanted = fieldset("fields[job_posting]", fields, JOB_POSTING_FIELDS)
        job = await jobs.get_active_job(db_session, posting_id)
        if job is None:
            raise NotFound("No such job posting")
        names = await careers_board.account_names(db_session, {job.account_id})
        resource = job_posting_resource(job, public_base(runtime.api_base), names[job.account_id])
        body = {"data": sparse(resource, wanted), "links": {"self": resource["links"]["self"]}}
        return cached_document(request, body)
