"""The append-only audit log: one event per action, hash-chained per account.

``hash = sha256(prev_hash + canonical(event))`` where ``canonical`` is the event's fields as
sorted, compact JSON. Events carry ids, counts and reasons, never an applicant's personal data.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from .auth import Principal
from .db import new_id, utcnow
from .models import AuditEvent

GENESIS = "0" * 64

ACTIONS: frozenset[str] = frozenset(
    {
        "application.created",
        "application.updated",
        "application.status_changed",
        "note.created",
        "note.updated",
        "note.deleted",
        "rating.set",
        "document.uploaded",
        "document.downloaded",
        "document.deleted",
        "application.exported",
        "application.erased",
        "retention.run",
        "auth.login",
        "auth.login_failed",
        "auth.logout",
        "user.created",
        "user.updated",
        "user.deactivated",
        "api_key.created",
        "api_key.revoked",
        "job.created",
        "job.updated",
        "job.deleted",
        "account.updated",
        "candidate.updated",
        "candidate.exported",
        "candidate.erased",
        "candidate.merged",
        "candidate.merge_undone",
    }
)


def _json_default(value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not serialisable in an audit event: {type(value).__name__}")


def canonical(event: dict[str, Any]) -> bytes:
    """The bytes that are hashed: sorted keys, no whitespace, UUIDs and times as strings."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=_json_default).encode()


def chain_hash(prev_hash: str, event: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(event)).hexdigest()


def event_body(row: AuditEvent) -> dict[str, Any]:
    """The hashed fields of a stored event."""
    return {
        "id": str(row.id),
        "seq": row.seq,
        "at": row.at.astimezone(UTC).isoformat(),
        "account_id": str(row.account_id),
        "actor": {"type": row.actor_type, "id": str(row.actor_id) if row.actor_id else None},
        "action": row.action,
        "object_type": row.object_type,
        "object_id": str(row.object_id) if row.object_id else None,
        "data": row.data,
    }


async def record(
    session: AsyncSession,
    actor: Principal,
    action: str,
    *,
    object_type: str | None = None,
    object_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
    account_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction; concurrent writers of one account queue."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    account = account_id or actor.account_id
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"audit:{account}"})
    last = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.account_id == account)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    row = AuditEvent(
        id=new_id(),
        account_id=account,
        seq=seq,
        at=utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=json.loads(canonical(data or {})),
        prev_hash=prev,
    )
    row.hash = chain_hash(prev, event_body(row))
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``sealed_through``: the last seq a valid checkpoint covers; ``unsealed``: the events after it."""

    ok: bool
    checked: int
    head: str | None
    broken_at: int | None = None
    reason: str | None = None
    sealed_through: int | None = None
    unsealed: int = 0


def record_of(row: AuditEvent) -> dict[str, Any]:
    """A stored event as exported (``ats audit export``): its hashed fields, ``prev_hash`` and ``hash``."""
    return {**event_body(row), "prev_hash": row.prev_hash, "hash": row.hash}


_LINK_FIELDS = ("prev_hash", "hash")


def verify_records(records: list[dict[str, Any]]) -> VerifyResult:
    """Check one account's exported events in ``seq`` order: contiguous, linked and each hash right."""
    prev = GENESIS
    for index, record in enumerate(records, start=1):
        seq = record.get("seq")
        if seq != index:
            return VerifyResult(
                False, index - 1, prev, seq if isinstance(seq, int) else index, "sequence gap or reorder"
            )
        if record.get("prev_hash") != prev:
            return VerifyResult(False, index - 1, prev, seq, "broken link")
        body = {k: v for k, v in record.items() if k not in _LINK_FIELDS}
        if chain_hash(prev, body) != record.get("hash"):
            return VerifyResult(False, index - 1, prev, seq, "hash mismatch")
        prev = str(record["hash"])
    return VerifyResult(True, len(records), prev if records else None)


def verify_rows(rows: list[AuditEvent]) -> VerifyResult:
    """Check one account's events in ``seq`` order: contiguous, linked and each hash right."""
    return verify_records([record_of(row) for row in rows])


def select_account_rows(account_id: uuid.UUID) -> Select[AuditEvent]:
    return select(AuditEvent).where(AuditEvent.account_id == account_id).order_by(AuditEvent.seq)


async def account_rows(session: AsyncSession, account_id: uuid.UUID) -> list[AuditEvent]:
    """An account's events in ``seq`` order."""
    return list((await session.scalars(select_account_rows(account_id))).all())


async def verify_account(session: AsyncSession, account_id: uuid.UUID) -> VerifyResult:
    """The hash chain alone (``ats.audit_seal.verify_account`` adds the signed checkpoints)."""
    return verify_rows(await account_rows(session, account_id))


async def accounts_with_events(session: AsyncSession) -> list[uuid.UUID]:
    return list((await session.scalars(select(AuditEvent.account_id).group_by(AuditEvent.account_id))).all())


async def count(session: AsyncSession, account_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).where(AuditEvent.account_id == account_id)) or 0)


async def list_events(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    object_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEvent], int]:
    """One page of an account's events, newest first, and the total that match."""
    where = [AuditEvent.account_id == account_id]
    if object_id is not None:
        # Notes, ratings and documents name their application in ``data``.
        where.append(or_(AuditEvent.object_id == object_id, AuditEvent.data["application_id"].astext == str(object_id)))
    if actor_id is not None:
        where.append(AuditEvent.actor_id == actor_id)
    if action is not None:
        where.append(AuditEvent.action == action)
    if date_from is not None:
        where.append(AuditEvent.at >= date_from)
    if date_to is not None:
        where.append(AuditEvent.at < date_to)
    total = int(await session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0)
    rows = await session.scalars(
        select(AuditEvent).where(*where).order_by(AuditEvent.seq.desc()).offset(offset).limit(limit)
    )
    return list(rows), total
