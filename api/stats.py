"""Recruiting stats (§10): one read-only endpoint over the caller's visible applications."""

from __future__ import annotations

import uuid
from datetime import date

from litestar import Controller, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats.auth import Principal
from ats.roles import Permission
from ats.services import stats

from .deps import provide_principal, requires
from .paging import check_date_range
from .schemas import One


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
    ) -> One[stats.Stats]:
        """Counts, monthly trend, per-job pipeline, conversion and durations of the visible applications."""
        check_date_range(date_from, date_to)
        result = await stats.compute_stats(db_session, principal, job_id=job_id, date_from=date_from, date_to=date_to)
        return One(result)
