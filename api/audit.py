"""The audit log: list with filters, and verify the hash chain (admin, compliance)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats import audit
from ats.auth import Principal
from ats.roles import Permission

from .deps import provide_principal, requires
from .paging import check_date_range, check_page, day_end, day_start, page_meta
from .schemas import Many, One


class Actor(msgspec.Struct):
    type: str
    id: uuid.UUID | None


class AuditEventOut(msgspec.Struct):
    id: uuid.UUID
    seq: int
    at: datetime
    account_id: uuid.UUID
    actor: Actor
    action: str
    object_type: str | None
    object_id: uuid.UUID | None
    data: dict[str, Any]
    hash: str


class AuditController(Controller):
    path = "/audit-events"
    tags = ["audit"]
    guards = [requires(Permission.COMPLIANCE)]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/")
    async def list_events(
        self,
        db_session: AsyncSession,
        principal: Principal,
        application_id: uuid.UUID | None = None,
        actor_id: uuid.UUID | None = None,
        action: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> Many[AuditEventOut]:
        check_page(page, per_page)
        check_date_range(date_from, date_to)
        if action is not None and action not in audit.ACTIONS:
            from ats.errors import FieldError, ValidationFailed

            raise ValidationFailed(errors=[FieldError("action", "must be one of " + ", ".join(sorted(audit.ACTIONS)))])
        rows, total = await audit.list_events(
            db_session,
            principal.account_id,
            object_id=application_id,
            actor_id=actor_id,
            action=action,
            date_from=day_start(date_from),
            date_to=day_end(date_to),
            offset=(page - 1) * per_page,
            limit=per_page,
        )
        return Many(
            [
                AuditEventOut(
                    r.id,
                    r.seq,
                    r.at,
                    r.account_id,
                    Actor(r.actor_type, r.actor_id),
                    r.action,
                    r.object_type,
                    r.object_id,
                    r.data,
                    r.hash,
                )
                for r in rows
            ],
            page_meta(total, page, per_page),
        )

    @get("/verify")
    async def verify(self, db_session: AsyncSession, principal: Principal) -> One[audit.VerifyResult]:
        return One(await audit.verify_account(db_session, principal.account_id))
