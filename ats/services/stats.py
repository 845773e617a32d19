"""Recruiting stats (§10): counts, months, jobs, conversion and durations, aggregated in PostgreSQL.

Every figure is over one set of applications: the caller's account, narrowed by ``job_id``, by
``date_from``/``date_to`` (inclusive days, UTC, on ``created_at``) and, for hiring managers, by the
postings whose ``hiring_team`` holds them. Statuses, their order and the conversion milestones come
from :mod:`ats.pipeline`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Float,
    Select,
    case,
    cast,
    extract,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import Principal
from ..db import utcnow
from ..errors import NotFound
from ..models import Application, JobPosting, StatusChange
from ..pipeline import FLOW, MILESTONES, STATUSES, Status
from ..roles import Permission
from .access import application_scope, job_scope

MONTHS = 12
UNKNOWN_SOURCE = "unknown"
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class MonthCount:
    month: str  # YYYY-MM
    total: int
    by_source: dict[str, int]


@dataclass(frozen=True, slots=True)
class JobCount:
    job_id: uuid.UUID
    title: str
    by_status: dict[str, int]


@dataclass(frozen=True, slots=True)
class Percentiles:
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class Stats:
    total: int
    by_status: dict[str, int]
    by_source: dict[str, int]
    by_month: list[MonthCount]
    by_job: list[JobCount]
    conversion: dict[str, float]
    time_to_hire_days: Percentiles
    time_in_stage_days: dict[str, float | None]


def month_window(end: date, months: int = MONTHS) -> tuple[date, date]:
    """The first day of the oldest of ``months`` months ending with ``end``'s, and of the month after."""
    last = end.year * 12 + end.month - 1
    first = last - (months - 1)
    return date(first // 12, first % 12 + 1, 1), date((last + 1) // 12, (last + 1) % 12 + 1, 1)


def share(part: int, whole: int) -> float:
    """``part / whole`` rounded to 4 places; 0 when there is nothing to divide."""
    return round(part / whole, 4) if whole else 0.0


def round_days(value: float | None) -> float | None:
    """Days are reported to 2 places (about a quarter of an hour)."""
    return None if value is None else round(value, 2)


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


def _days(interval: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(extract("epoch", interval), Float) / SECONDS_PER_DAY


def _count_by_status(status: ColumnElement[str]) -> list[ColumnElement[int]]:
    return [func.count().filter(status == s).label(s) for s in STATUSES]


async def compute_stats(
    session: AsyncSession,
    principal: Principal,
    *,
    job_id: uuid.UUID | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Stats:
    """The §10 stats of the applications the caller may see; an unseen ``job_id`` is :class:`NotFound`."""
    account_id = principal.account_id
    jobs = job_scope(principal, Permission.STATS)
    if job_id is not None:
        found = await session.scalar(select(JobPosting.id).where(JobPosting.id == job_id, jobs))
        if found is None:
            raise NotFound("Job posting not found")

    where = [application_scope(principal, Permission.STATS)]
    if job_id is not None:
        where.append(Application.job_id == job_id)
    if date_from is not None:
        where.append(Application.created_at >= _day_start(date_from))
    if date_to is not None:
        where.append(Application.created_at < _day_start(date_to + timedelta(days=1)))
    apps = (
        select(
            Application.id,
            Application.job_id,
            Application.status,
            func.coalesce(func.nullif(Application.source, ""), UNKNOWN_SOURCE).label("source"),
            Application.created_at,
        )
        .where(*where)
        .cte("apps")
    )
    history = (
        select(StatusChange.id, StatusChange.application_id, StatusChange.status, StatusChange.changed_at)
        .join(apps, apps.c.id == StatusChange.application_id)
        .where(StatusChange.account_id == account_id)
        .cte("history")
    )

    summary = (await session.execute(_summary_query(apps, history))).mappings().one()
    total = int(summary["total"])
    by_source_rows = await session.execute(
        select(apps.c.source, func.count()).group_by(apps.c.source).order_by(apps.c.source)
    )
    months = await session.execute(_month_query(apps, date_to or utcnow().date()))
    job_rows = (await session.execute(_job_query(apps, jobs, job_id))).mappings()
    stage_rows = await session.execute(_time_in_stage_query(history))
    in_stage: dict[str, float] = {status: days for status, days in stage_rows}

    return Stats(
        total=total,
        by_status={s: int(summary[s]) for s in STATUSES},
        by_source={source: int(n) for source, n in by_source_rows},
        by_month=[MonthCount(month, int(n), dict(sources)) for month, n, sources in months],
        by_job=[JobCount(r["id"], r["title"], {s: int(r[s]) for s in STATUSES}) for r in job_rows],
        conversion={m.value: share(int(summary[f"reached_{m.value}"]), total) for m in MILESTONES},
        time_to_hire_days=Percentiles(round_days(summary["hire_median"]), round_days(summary["hire_p90"])),
        time_in_stage_days={s: round_days(in_stage.get(s)) for s in STATUSES},
    )


def _summary_query(apps: CTE, history: CTE) -> Select[*tuple[Any, ...]]:
    """Total, current status counts, milestones reached and time to hire, in one row."""
    # The furthest place in the flow an application ever held: skipping a stage still passes it.
    flow_place = case({s.value: FLOW.index(s) for s in FLOW}, value=history.c.status)
    reach = (
        select(
            history.c.application_id,
            func.max(flow_place).label("furthest"),
            func.min(history.c.changed_at).filter(history.c.status == Status.HIRED.value).label("hired_at"),
        )
        .group_by(history.c.application_id)
        .subquery("reach")
    )
    hire_days = _days(reach.c.hired_at - apps.c.created_at)
    return select(
        func.count().label("total"),
        *_count_by_status(apps.c.status),
        *[func.count().filter(reach.c.furthest >= FLOW.index(m)).label(f"reached_{m.value}") for m in MILESTONES],
        func.percentile_cont(0.5).within_group(hire_days).label("hire_median"),
        func.percentile_cont(0.9).within_group(hire_days).label("hire_p90"),
    ).select_from(apps.outerjoin(reach, reach.c.application_id == apps.c.id))


def _month_query(apps: CTE, end: date) -> Select[*tuple[Any, ...]]:
    """Twelve rows, oldest first, ending with ``end``'s month (UTC); months without applications are 0."""
    oldest, after = month_window(end)
    month_of = func.date_trunc("month", func.timezone("UTC", apps.c.created_at))
    per_source = (
        select(month_of.label("month"), apps.c.source, func.count().label("n"))
        .where(apps.c.created_at >= _day_start(oldest), apps.c.created_at < _day_start(after))
        .group_by(month_of, apps.c.source)
        .subquery("per_source")
    )
    series = (
        func.generate_series(
            datetime.combine(oldest, time.min),
            datetime.combine(after, time.min) - timedelta(days=1),
            literal_column("interval '1 month'"),
        )
        .table_valued("month")
        .render_derived(name="months")
    )
    return (
        select(
            func.to_char(series.c.month, "YYYY-MM"),
            cast(func.coalesce(func.sum(per_source.c.n), 0), BigInteger),
            func.coalesce(
                func.jsonb_object_agg(per_source.c.source, per_source.c.n, type_=JSONB).filter(
                    per_source.c.source.is_not(None)
                ),
                func.jsonb_build_object(type_=JSONB),
            ),
        )
        .select_from(series.outerjoin(per_source, per_source.c.month == series.c.month))
        .group_by(series.c.month)
        .order_by(series.c.month)
    )


def _job_query(apps: CTE, jobs: ColumnElement[bool], job_id: uuid.UUID | None) -> Select[*tuple[Any, ...]]:
    """Status counts per posting with applications in the set (the asked-for posting even without any)."""
    query = select(JobPosting.id, JobPosting.title, *_count_by_status(apps.c.status)).where(jobs)
    if job_id is not None:
        query = query.outerjoin(apps, apps.c.job_id == JobPosting.id).where(JobPosting.id == job_id)
    else:
        query = query.join(apps, apps.c.job_id == JobPosting.id)
    return query.group_by(JobPosting.id, JobPosting.title).order_by(JobPosting.title, JobPosting.id)


def _time_in_stage_query(history: CTE) -> Select[*tuple[Any, ...]]:
    """Median days from entering a status to the application's next entry (or to now, if still there)."""
    left_at = func.lead(history.c.changed_at).over(
        partition_by=history.c.application_id, order_by=(history.c.changed_at, history.c.id)
    )
    stints = select(
        history.c.status, (func.coalesce(left_at, func.now()) - history.c.changed_at).label("spent")
    ).subquery("stints")
    return select(stints.c.status, func.percentile_cont(0.5).within_group(_days(stints.c.spent))).group_by(
        stints.c.status
    )
