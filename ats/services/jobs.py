"""Job postings: CRUD, the "active" rule, hiring teams and application questions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, events, payloads
from ..auth import Principal
from ..db import new_id, utcnow
from ..errors import Conflict, ErrorCollector, NotFound
from ..models import Application, JobPosting, User
from ..roles import Permission
from ..statements import Compiled
from ..views import Job, questions_out
from .access import job_scope

MAX_QUESTIONS = 50


def is_active(job: JobPosting, now: datetime | None = None) -> bool:
    """Published, and not past ``closes_at``."""
    now = now or utcnow()
    return job.status == "published" and (job.closes_at is None or job.closes_at > now)


def view(row: JobPosting) -> Job:
    """The posting as the recruiter API returns it (§3), and as its events carry it."""
    return Job(
        row.id,
        row.title,
        row.description,
        row.location,
        row.department,
        row.employment_type,
        row.status,
        is_active(row),
        row.closes_at,
        list(row.hiring_team),
        questions_out(row.application_questions),
        row.created_at,
        row.updated_at,
    )


def active_clause(now: datetime | None = None) -> Any:
    now = now or utcnow()
    return and_(JobPosting.status == "published", or_(JobPosting.closes_at.is_(None), JobPosting.closes_at > now))


def check_questions(questions: list[dict[str, Any]], errors: ErrorCollector, base: str) -> None:
    """Shape of ``application_questions``: unique keys; choices for (and only for) choice questions."""
    if len(questions) > MAX_QUESTIONS:
        errors.add(base, f"at most {MAX_QUESTIONS} questions")
    seen: set[str] = set()
    for index, question in enumerate(questions):
        pointer = f"{base}/{index}"
        key = question.get("key")
        if key in seen:
            errors.add(f"{pointer}/key", "must be unique", "duplicate")
        seen.add(str(key))
        qtype = question.get("type")
        choices = question.get("choices")
        if qtype == "choice":
            if not choices:
                errors.add(f"{pointer}/choices", "a choice question needs at least one choice", "required")
            elif len(set(choices)) != len(choices):
                errors.add(f"{pointer}/choices", "choices must be unique", "duplicate")
        elif choices:
            errors.add(f"{pointer}/choices", "only choice questions have choices")


async def check_hiring_team(
    session: AsyncSession, account_id: uuid.UUID, team: list[uuid.UUID], errors: ErrorCollector, base: str
) -> None:
    if not team:
        return
    found = set((await session.scalars(select(User.id).where(User.account_id == account_id, User.id.in_(team)))).all())
    for index, user_id in enumerate(team):
        if user_id not in found:
            errors.add(f"{base}/{index}", "no such user in this account", "not_found")


@dataclass
class JobFilters:
    status: str | None = None
    search: str | None = None
    offset: int = 0
    limit: int = 20
    updated_since: datetime | None = None


async def list_jobs(session: AsyncSession, principal: Principal, filters: JobFilters) -> tuple[list[JobPosting], int]:
    where = [job_scope(principal)]
    if filters.status:
        where.append(JobPosting.status == filters.status)
    if filters.search:
        where.append(JobPosting.title.ilike("%" + escape_like(filters.search) + "%", escape="\\"))
    if filters.updated_since is not None:
        where.append(JobPosting.updated_at >= filters.updated_since)
    total = int(await session.scalar(select(func.count()).select_from(JobPosting).where(*where)) or 0)
    rows = await session.scalars(
        select(JobPosting)
        .where(*where)
        .order_by(JobPosting.created_at.desc(), JobPosting.id.desc())
        .offset(filters.offset)
        .limit(filters.limit)
    )
    return list(rows), total


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def get_job(
    session: AsyncSession,
    principal: Principal,
    job_id: uuid.UUID,
    *,
    permission: Permission = Permission.READ,
    lock: bool = False,
) -> JobPosting:
    """A posting the caller may see (404 otherwise); then ``permission`` must hold (403 otherwise)."""
    query = select(JobPosting).where(JobPosting.id == job_id, job_scope(principal))
    if lock:
        query = query.with_for_update()
    job = await session.scalar(query)
    if job is None:
        raise NotFound("No such job posting")
    principal.scope(permission)
    return job


async def create_job(session: AsyncSession, principal: Principal, values: dict[str, Any]) -> JobPosting:
    principal.scope(Permission.WRITE_JOBS)
    errors = ErrorCollector()
    check_questions(values.get("application_questions", []), errors, "/application_questions")
    await check_hiring_team(session, principal.account_id, values.get("hiring_team", []), errors, "/hiring_team")
    errors.raise_if_any()
    now = utcnow()
    job = JobPosting(id=new_id(), account_id=principal.account_id, created_at=now, updated_at=now, **values)
    job.employment_type = values.get("employment_type") or "full_time"
    job.status = values.get("status") or "draft"
    job.hiring_team = values.get("hiring_team", [])
    job.application_questions = values.get("application_questions", [])
    session.add(job)
    await session.flush()
    await audit.record(
        session, principal, "job.created", object_type="job", object_id=job.id, data={"status": job.status}
    )
    _queue_job_event(session, "job.created", job)
    return job


def _queue_job_event(session: AsyncSession, name: str, job: JobPosting) -> None:
    events.queue(session, name, data=payloads.job(view(job)), job_id=job.id, account_id=job.account_id)


async def update_job(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, values: dict[str, Any]
) -> JobPosting:
    job = await get_job(session, principal, job_id, permission=Permission.WRITE_JOBS, lock=True)
    errors = ErrorCollector()
    if "application_questions" in values:
        check_questions(values["application_questions"], errors, "/application_questions")
    if "hiring_team" in values:
        await check_hiring_team(session, principal.account_id, values["hiring_team"], errors, "/hiring_team")
    errors.raise_if_any()
    changed = sorted(k for k, v in values.items() if getattr(job, k) != v)
    for key in changed:
        setattr(job, key, values[key])
    if changed:
        job.updated_at = utcnow()
        await session.flush()
        await audit.record(
            session, principal, "job.updated", object_type="job", object_id=job.id, data={"fields": changed}
        )
        _queue_job_event(session, "job.updated", job)
    return job


async def delete_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> None:
    job = await get_job(session, principal, job_id, permission=Permission.WRITE_JOBS, lock=True)
    has_applications = await session.scalar(select(Application.id).where(Application.job_id == job.id).limit(1))
    if has_applications is not None:
        raise Conflict("The job posting has applications; close it instead", extra={"code_hint": "close_instead"})
    await session.delete(job)
    await session.flush()
    await audit.record(session, principal, "job.deleted", object_type="job", object_id=job.id)
    _queue_job_event(session, "job.deleted", job)


async def list_active_jobs(
    session: AsyncSession, *, offset: int = 0, limit: int = 20, account_id: uuid.UUID | None = None
) -> tuple[list[JobPosting], int]:
    """Active postings for the public API (every account unless one is named)."""
    where = [active_clause()]
    if account_id is not None:
        where.append(JobPosting.account_id == account_id)
    total = int(await session.scalar(select(func.count()).select_from(JobPosting).where(*where)) or 0)
    rows = await session.scalars(
        select(JobPosting)
        .where(*where)
        .order_by(JobPosting.created_at.desc(), JobPosting.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def _active_by_id(lock: bool) -> Compiled:
    table = JobPosting.__table__
    query = select(table).where(
        JobPosting.id == bindparam("id_1"),
        JobPosting.status == bindparam("status_1"),
        or_(JobPosting.closes_at.is_(None), JobPosting.closes_at > bindparam("closes_at_1")),
    )
    return Compiled(query.with_for_update(read=True) if lock else query)


#: An open posting by id (the statement ``active_clause`` gives), compiled once: the public apply's first read.
_ACTIVE_BY_ID = {lock: _active_by_id(lock) for lock in (False, True)}
_JOB_ATTRIBUTES = [JobPosting.__mapper__.get_property_by_column(c).key for c in JobPosting.__table__.columns]


async def get_active_job(session: AsyncSession, job_id: uuid.UUID, *, lock: bool = False) -> JobPosting | None:
    """An open posting (``lock``: shared, so that it cannot close or go while an application is added).

    The row comes back as a posting object outside the session: nothing reads it lazily or writes it.
    """
    row = await _ACTIVE_BY_ID[lock].first(session, {"id_1": job_id, "status_1": "published", "closes_at_1": utcnow()})
    return JobPosting(**dict(zip(_JOB_ATTRIBUTES, row, strict=True))) if row is not None else None
