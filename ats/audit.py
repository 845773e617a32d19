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

from psycopg.types.json import Jsonb
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .auth import Principal
from .db import new_id, utcnow
from .models import AuditEvent
from .statements import account_lock, run_text

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


#: The append, one statement under the account's lock: the chain head (or the genesis), then the event whose
#: ``seq`` and ``hash`` PostgreSQL derives from it. ``hash`` is ``chain_hash`` computed in SQL: the canonical JSON
#: ends with ``"seq":N}`` (``seq`` sorts last), so Python sends what comes before the number.
APPEND_SQL = (
    "INSERT INTO audit_events (id, account_id, seq, at, actor_type, actor_id, action, object_type, object_id, "
    "data, prev_hash, hash) "
    "SELECT %(id)s::UUID, %(account_id)s::UUID, coalesce(last.seq, 0) + 1, %(at)s::TIMESTAMP WITH TIME ZONE, "
    "%(actor_type)s::VARCHAR, %(actor_id)s::UUID, %(action)s::VARCHAR, %(object_type)s::VARCHAR, "
    "%(object_id)s::UUID, %(data)s::JSONB, coalesce(last.hash, %(genesis)s::VARCHAR), "
    "encode(sha256(convert_to(coalesce(last.hash, %(genesis)s::VARCHAR) || %(canonical_head)s::VARCHAR "
    "|| (coalesce(last.seq, 0) + 1)::text || '}', 'UTF8')), 'hex') "
    "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT audit_events.seq, audit_events.hash FROM audit_events "
    "WHERE audit_events.account_id = %(account_id)s::UUID ORDER BY audit_events.seq DESC LIMIT 1) AS last ON true "
    "RETURNING audit_events.seq, audit_events.prev_hash, audit_events.hash"
)


def canonical_head(body: dict[str, Any]) -> str:
    """The canonical JSON of an event's hashed fields up to its ``seq`` value: ``{…,"seq":``."""
    text = canonical({**body, "seq": 0}).decode()
    if max(body) > "seq" or not text.endswith(',"seq":0}'):  # pragma: no cover - the field names are fixed
        raise ValueError("seq must be the last field of the canonical JSON")
    return text[: -len("0}")]


_PENDING = "ats_pending_audit"


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
    """Record one event in the caller's transaction; it is appended to the chain when the transaction commits.

    The append (:func:`write_pending`, called by :func:`ats.events.commit` just before the commit) takes the
    account's lock and runs :data:`APPEND_SQL`, which reads the head under it: concurrent writers of one account
    queue only for their last statements, not for the rest of their work. The returned row is not in the session
    (the audit log is append-only: nothing to track); its ``id`` and ``at`` are final, its ``seq`` and ``hash`` are
    set by the append.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    account = account_id or actor.account_id
    if session.new or session.dirty or session.deleted:
        await session.flush()  # the caller's pending rows are written first, as before
    row = AuditEvent(
        id=new_id(),
        account_id=account,
        at=utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=json.loads(canonical(data or {})),
    )
    session.info.setdefault(_PENDING, []).append(row)
    return row


async def write_pending(session: AsyncSession) -> None:
    """Append the transaction's recorded events to their accounts' chains, in the order recorded.

    Under each account's lock, once per transaction (``ats.events.commit`` takes every account's it will append to
    first, in one order; a payload read may have taken one already: ``events.lock_for_payload``).
    """
    pending: list[AuditEvent] = session.info.pop(_PENDING, [])
    for row in pending:
        body = event_body(row)
        del body["seq"]
        await account_lock(session, row.account_id)
        ((row.seq, row.prev_hash, row.hash),) = await run_text(
            session,
            APPEND_SQL,
            {
                "id": row.id,
                "account_id": row.account_id,
                "at": row.at,
                "actor_type": row.actor_type,
                "actor_id": row.actor_id,
                "action": row.action,
                "object_type": row.object_type,
                "object_id": row.object_id,
                "data": Jsonb(row.data),
                "genesis": GENESIS,
                "canonical_head": canonical_head(body),
            },
        )


def pending_accounts(session: AsyncSession) -> set[uuid.UUID]:
    """The accounts whose chains the transaction will append to at commit."""
    return {row.account_id for row in session.info.get(_PENDING, [])}


def discard(session: AsyncSession) -> None:
    """Forget the recorded events of a transaction that is rolled back."""
    session.info.pop(_PENDING, None)


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
