"""Per-reviewer ratings: one per reviewer per application, replaced on repeat; the mean kept on the row."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, events, payloads
from ..auth import Principal
from ..db import new_id, utcnow
from ..errors import FieldError, ValidationFailed
from ..models import Application, Rating
from ..roles import Permission
from ..views import RatingSummary, RatingView, Ref
from .applications import actor_name, get_application_row

MIN, MAX = 1, 5


def check_rating(rating: int, criteria: dict[str, int]) -> None:
    errors = []
    if not MIN <= rating <= MAX:
        errors.append(FieldError("/rating", f"must be between {MIN} and {MAX}"))
    for name, value in criteria.items():
        if not MIN <= value <= MAX:
            errors.append(FieldError(f"/criteria/{name}", f"must be between {MIN} and {MAX}"))
    if errors:
        raise ValidationFailed(errors=errors)


async def set_rating(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    rating: int,
    criteria: dict[str, int],
) -> RatingSummary:
    """Upsert the caller's rating; the application's total and count change in the same transaction."""
    check_rating(rating, criteria)
    application = await get_application_row(session, principal, application_id, permission=Permission.WORK, lock=True)
    assert principal.id is not None
    now = utcnow()
    created_at = await session.scalar(
        insert(Rating)
        .values(
            id=new_id(),
            account_id=application.account_id,
            application_id=application.id,
            reviewer_id=principal.id,
            reviewer_name=actor_name(principal),
            rating=rating,
            criteria=criteria,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[Rating.application_id, Rating.reviewer_id],
            set_={
                "rating": rating,
                "criteria": criteria,
                "updated_at": now,
                "reviewer_name": actor_name(principal),
            },
        )
        .returning(Rating.created_at)
    )
    total, count = (
        await session.execute(
            select(func.coalesce(func.sum(Rating.rating), 0), func.count()).where(
                Rating.application_id == application.id
            )
        )
    ).one()
    await session.execute(
        update(Application)
        .where(Application.id == application.id)
        .values(rating_total=int(total), rating_count=int(count), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    application.rating_total, application.rating_count, application.updated_at = int(total), int(count), now
    await audit.record(
        session,
        principal,
        "rating.set",
        object_type="application",
        object_id=application.id,
        data={"rating": rating, "criteria_count": len(criteria)},
    )
    average = round(int(total) / int(count), 2) if count else None
    view = RatingView(Ref(principal.id, actor_name(principal)), rating, criteria, created_at or now, now)
    events.queue(
        session,
        "rating.set",
        data=payloads.rating(view, application.id, average=average, count=int(count)),
        application_id=application.id,
        account_id=application.account_id,
        job_id=application.job_id,
    )
    return RatingSummary(rating, criteria, average, int(count))


def rating_view(row: Rating) -> RatingView:
    return RatingView(Ref(row.reviewer_id, row.reviewer_name), row.rating, row.criteria, row.created_at, row.updated_at)


async def list_ratings(
    session: AsyncSession, principal: Principal, application_id: uuid.UUID, *, updated_since: datetime | None = None
) -> list[RatingView]:
    application = await get_application_row(session, principal, application_id)
    query = select(Rating).where(Rating.application_id == application.id)
    if updated_since is not None:
        query = query.where(Rating.updated_at >= updated_since)
    return [rating_view(r) for r in await session.scalars(query.order_by(Rating.created_at, Rating.id))]
