"""The public API (JSON:API, no auth): active job postings (§3) and applying (§6)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from ats.errors import NotFound
from ats.models import JobPosting
from ats.runtime import Runtime
from ats.services import jobs

from .jobs import questions_out
from .jsonapi import JSONAPI, check_accept, document, fieldset, page_links, public_base, sparse
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


def job_posting_resource(job: JobPosting, base: str) -> dict[str, Any]:
    """``base``: the public API's base path; ``links.self`` is the posting's public URL."""
    return {
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
    ) -> Response[bytes]:
        """Active postings only: published, and not past ``closes_at``."""
        check_accept(request)
        check_jsonapi_page(page_number, page_size)
        wanted = fieldset("fields[job_posting]", fields, JOB_POSTING_FIELDS)
        base = public_base(runtime.api_base)
        rows, total = await jobs.list_active_jobs(db_session, offset=(page_number - 1) * page_size, limit=page_size)
        return document(
            {
                "data": [sparse(job_posting_resource(r, base), wanted) for r in rows],
                "meta": {"total": total, "page": page_number, "per_page": page_size},
                "links": page_links(request, f"{base}/job_postings", page_number, page_size, total),
            }
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
        resource = job_posting_resource(job, public_base(runtime.api_base))
        return document({"data": sparse(resource, wanted), "links": {"self": resource["links"]["self"]}})
