"""Recruiting stats (§10): one read-only endpoint over the caller's visible applications."""

from __future__ import annotations

import uuid
from datetime import date

import msgspec
from litestar import Controller, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.roles import Permission
from ats.services import stats

from .deps import provide_principal, requires
from .paging import check_date_range
from .schemas import One


class MonthStats(msgspec.Struct):
    month: str
    total: int
    by_source: dict[str, int]


class JobStats(msgspec.Struct):
    job_id: uuid.UUID
    title: str
    by_status: dict[str, int]


class TimeToHire(msgspec.Struct):
    median: float | None
    p90: float | None


class StatsOut(msgspec.Struct):
    total: int
    by_status: dict[str, int]
    by_source: dict[str, int]
    by_month: list[MonthStats]
    by_job: list[JobStats]
    conversion: dict[str, float]
    time_to_hire_days: TimeToHire
    time_in_stage_days: dict[str, float | None]


class StatsController(Controller):
    path = "/stats"
    tags = ["stats"]
    guards = [requires(Permission.STATS)]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def get_stats(
        self,
        db_session: AsyncSession,
        principal: Principal,
        job_id: uuid.UUID | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> One[StatsOut]:
        """Counts, monthly trend, per-job pipeline, conversion and durations of the visible applications."""
        check_date_range(date_from, date_to)
        result = await stats.compute_stats(db_session, principal, job_id=job_id, date_from=date_from, date_to=date_to)
        return One(msgspec.convert(result, StatsOut, from_attributes=True))
