"""Job postings (§3) and the account's stages (§4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.pipeline import Status, generic_next
from ats.roles import Permission
from ats.services import jobs, stages
from ats.views import Job, QuestionOut, questions_out

__all__ = ["Job", "QuestionOut", "questions_out"]  # the shapes live in the domain (events carry them too)
from ats.vocabulary import EmploymentType, JobStatus, QuestionType

from .deps import account_member, provide_principal, requires
from .paging import check_page, page_meta, parse_updated_since
from .schemas import Input, Many, One, whole

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=r"\S")]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Short = Annotated[str, msgspec.Meta(max_length=300)]
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class Question(Input):
    key: Key
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    type: QuestionType
    required: bool = False
    choices: list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]] | None = None


class JobCreate(Input):
    title: Title
    description: Annotated[str, msgspec.Meta(max_length=100_000)] | None = None
    location: Short | None = None
    department: Short | None = None
    employment_type: EmploymentType = "full_time"
    status: JobStatus = "draft"
    closes_at: AwareDatetime | None = None
    hiring_team: list[uuid.UUID] = []
    application_questions: list[Question] = []


class JobUpdate(Input):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Annotated[str, msgspec.Meta(max_length=100000)] | msgspec.UnsetType | None = msgspec.UNSET
    location: Short | msgspec.UnsetType | None = msgspec.UNSET
    department: Short | msgspec.UnsetType | None = msgspec.UNSET
    employment_type: EmploymentType | msgspec.UnsetType = msgspec.UNSET
    status: JobStatus | msgspec.UnsetType = msgspec.UNSET
    closes_at: AwareDatetime | msgspec.UnsetType | None = msgspec.UNSET
    hiring_team: list[uuid.UUID] | msgspec.UnsetType = msgspec.UNSET
    application_questions: list[Question] | msgspec.UnsetType = msgspec.UNSET


def job_values(data: JobCreate | JobUpdate) -> dict[str, Any]:
    """The fields the request set, as plain values for the service."""
    values = {name: getattr(data, name) for name in data.__struct_fields__ if getattr(data, name) is not msgspec.UNSET}
    if "application_questions" in values:
        values["application_questions"] = msgspec.to_builtins(values["application_questions"])
    if values.get("closes_at") is not None:
        values["closes_at"] = values["closes_at"].astimezone(UTC)  # stored and answered in UTC
    return values


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/", guards=[requires(Permission.READ)])
    async def list_jobs(
        self,
        db_session: AsyncSession,
        principal: Principal,
        status: JobStatus | None = None,
        search: Annotated[str, msgspec.Meta(max_length=200)] | None = None,
        page: int = 1,
        per_page: int = 20,
        updated_since: Annotated[str, msgspec.Meta(max_length=64)] | None = None,
    ) -> Many[Job]:
        check_page(page, per_page)
        filters = jobs.JobFilters(
            status=status,
            search=search,
            offset=(page - 1) * per_page,
            limit=per_page,
            updated_since=parse_updated_since(updated_since),
        )
        rows, total = await jobs.list_jobs(db_session, principal, filters)
        return Many([jobs.view(r) for r in rows], page_meta(total, page, per_page))

    @post("/", guards=[requires(Permission.WRITE_JOBS)])
    async def create_job(self, data: JobCreate, db_session: AsyncSession, principal: Principal) -> One[Job]:
        return One(jobs.view(await jobs.create_job(db_session, principal, job_values(data))))

    @get("/{job_id:uuid}", guards=[requires(Permission.READ)])
    async def get_job(self, job_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> One[Job]:
        return One(jobs.view(await jobs.get_job(db_session, principal, job_id)))

    @patch("/{job_id:uuid}", guards=[account_member])
    async def update_job(
        self, job_id: uuid.UUID, data: JobUpdate, db_session: AsyncSession, principal: Principal
    ) -> One[Job]:
        return One(jobs.view(await jobs.update_job(db_session, principal, job_id, job_values(data))))

    @delete("/{job_id:uuid}", status_code=204, guards=[account_member])
    async def delete_job(self, job_id: uuid.UUID, db_session: AsyncSession, principal: Principal) -> None:
        await jobs.delete_job(db_session, principal, job_id)


class StageOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    status: str
    position: int
    allowed_next: list[str]


class StageController(Controller):
    path = "/stages"
    tags = ["pipeline"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/", guards=[requires(Permission.READ)])
    async def list_stages(self, db_session: AsyncSession, principal: Principal) -> Many[StageOut]:
        """Each account's seven stages with where each may go next (reopening depends on the application)."""
        rows = await stages.list_stages(db_session, principal.account_id)
        return whole(
            [
                StageOut(r.id, r.name, r.status, r.position, [s.value for s in generic_next(Status(r.status))])
                for r in rows
            ]
        )
