"""The public API (JSON:API, no auth): active job postings (§3) and applying (§6)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from ats.errors import NotFound
from ats.models import JobPosting
from ats.services import jobs

from .jobs import questions_out
from .jsonapi import JSONAPI, check_accept, document
from .paging import check_page


def job_posting_resource(job: JobPosting) -> dict[str, Any]:
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
    }


class PublicJobPostingController(Controller):
    path = "/job_postings"
    tags = ["public"]

    @get("/", media_type=JSONAPI)
    async def list_postings(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        page_number: Annotated[int, QueryParameter(name="page[number]")] = 1,
        page_size: Annotated[int, QueryParameter(name="page[size]")] = 20,
    ) -> Response[bytes]:
        """Active postings only: published, and not past ``closes_at``."""
        check_accept(request)
        check_page(page_number, page_size)
        rows, total = await jobs.list_active_jobs(db_session, offset=(page_number - 1) * page_size, limit=page_size)
        return document(
            {
                "data": [job_posting_resource(r) for r in rows],
                "meta": {"total": total, "page": page_number, "per_page": page_size},
            }
        )

    @get("/{posting_id:uuid}", media_type=JSONAPI)
    async def get_posting(
        self, request: Request[Any, Any, Any], posting_id: uuid.UUID, db_session: AsyncSession
    ) -> Response[bytes]:
        check_accept(request)
        job = await jobs.get_active_job(db_session, posting_id)
        if job is None:
            raise NotFound("No such job posting")
        return document({"data": job_posting_resource(job)})
