"""The audit log: list with filters, verify the hash chain against the signed checkpoints, seal (admin, compliance)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from ats import audit, audit_seal
from ats.auth import Principal
from ats.roles import Permission
from ats.runtime import Runtime

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


class Checkpoint(msgspec.Struct):
    seq: int
    head: str
    count: int
    at: datetime


class SealResult(msgspec.Struct):
    sealed: bool
    checkpoint: Checkpoint | None


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
    async def verify(self, runtime: Runtime, principal: Principal) -> One[audit.VerifyResult]:
        store = audit_seal.checkpoint_store(runtime.documents.client, runtime.settings)
        public = audit_seal.signing_key(runtime.settings).public_key()
        return One(await audit_seal.verify_account(runtime.uow, store, public, principal.account_id))

    @post("/seal", status_code=200)
    async def seal(self, runtime: Runtime, principal: Principal) -> One[SealResult]:
        """Write a signed checkpoint of this account's events now (when there are events since the last one)."""
        store = audit_seal.checkpoint_store(runtime.documents.client, runtime.settings)
        key = audit_seal.signing_key(runtime.settings)
        written = await audit_seal.seal(runtime.uow, store, key, account_id=principal.account_id)
        one = written[0] if written else None
        return One(SealResult(one is not None, Checkpoint(one.seq, one.head, one.count, one.at) if one else None))
