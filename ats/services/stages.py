"""Each account's seven stages, one per status, created with the account."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import new_id
from ..models import Stage
from ..pipeline import STAGE_NAMES, STATUSES, Status, position

# Stages never change after creation: a per-process cache saves a query on every read.
_cache: dict[uuid.UUID, dict[str, tuple[uuid.UUID, str]]] = {}


async def create_stages(session: AsyncSession, account_id: uuid.UUID) -> None:
    session.add_all(
        Stage(id=new_id(), account_id=account_id, status=s, name=STAGE_NAMES[Status(s)], position=position(s))
        for s in STATUSES
    )
    await session.flush()


async def stages_of(session: AsyncSession, account_id: uuid.UUID) -> dict[str, tuple[uuid.UUID, str]]:
    """``{status: (stage_id, name)}`` for the account."""
    cached = _cache.get(account_id)
    if cached is not None:
        return cached
    rows = await session.execute(select(Stage.status, Stage.id, Stage.name).where(Stage.account_id == account_id))
    found = {status: (stage_id, name) for status, stage_id, name in rows}
    if len(found) == len(STATUSES):
        _cache[account_id] = found
    return found


async def list_stages(session: AsyncSession, account_id: uuid.UUID) -> list[Stage]:
    return list(
        (await session.scalars(select(Stage).where(Stage.account_id == account_id).order_by(Stage.position))).all()
    )


async def status_of_stage(session: AsyncSession, account_id: uuid.UUID, stage_id: uuid.UUID) -> str | None:
    for status, (sid, _) in (await stages_of(session, account_id)).items():
        if sid == stage_id:
            return status
    return None
