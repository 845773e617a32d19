"""Domain events: queued by services, written to the outbox (§12) just before their transaction commits, and
handed to host code (``application.created`` …) only after it committed.

A service calls :func:`queue` (synchronous: it only notes the event and its payload, the state at that moment);
the one place that commits a session (the request's, a unit of work's) calls :func:`commit`, which appends every
queued event to the outbox in that transaction, commits, then feeds the plugin's listeners from what was appended.
A rollback drops them all: no row, no listener call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .statements import account_lock

log = logging.getLogger("ats.events")

#: Every event type the outbox, the change feed and the plugin's listeners know (§12).
EVENTS: frozenset[str] = frozenset(
    {
        "application.created",
        "application.status_changed",
        "application.updated",
        "application.erased",
        "note.created",
        "note.updated",
        "note.deleted",
        "rating.set",
        "document.uploaded",
        "document.deleted",
        "job.created",
        "job.updated",
        "job.deleted",
        "candidate.created",
        "candidate.updated",
        "candidate.merged",
        "candidate.erased",
        "candidate.merge_undone",
    }
)
_PENDING = "ats_pending_events"
_WRITTEN = "ats_written_events"
#: Where the session factory keeps the recruiter API's base path (document URLs in payloads name it).
API_BASE_KEY = "ats_api_base"
DEFAULT_API_BASE = "/api/v1"

#: The columns of ``outbox_events`` an event's ids fill (the feed and webhook filters use them).
_ID_COLUMNS = ("application_id", "job_id", "candidate_id")


@dataclass(slots=True)
class Pending:
    name: str
    data: dict[str, Any] | None
    ids: dict[str, Any]


def queue(session: AsyncSession, name: str, *, data: dict[str, Any] | None = None, **ids: Any) -> None:
    """Hold an event until the session commits; ``account_id`` is required, a rollback drops it.

    ``data`` is the payload (the state at this moment, built by :mod:`ats.payloads`); without it the payload is
    the ids given (``queue(session, "candidate.created", account_id=…, candidate_id=…)``).
    """
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}")
    if not isinstance(ids.get("account_id"), uuid.UUID):
        raise ValueError(f"event {name!r} needs an account_id")
    session.info.setdefault(_PENDING, []).append(Pending(name, data, ids))


def ids_payload(ids: dict[str, Any]) -> dict[str, Any]:
    """The payload of an event queued without ``data``: its ids (and codes) as JSON values."""
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in ids.items() if k != "account_id"}


def api_base(session: AsyncSession) -> str:
    """The recruiter API's base path, as the plugin mounted it (for document URLs in payloads)."""
    return str(session.info.get(API_BASE_KEY, DEFAULT_API_BASE))


async def write_pending(session: AsyncSession) -> None:
    """Append every queued event to the outbox, in order, in the session's open transaction."""
    pending: list[Pending] = session.info.pop(_PENDING, [])
    if not pending:
        return
    from . import outbox  # here: ats.db imports this module, and ats.outbox imports ats.db

    written = session.info.setdefault(_WRITTEN, [])
    by_account: dict[uuid.UUID, list[Pending]] = {}
    for item in pending:
        by_account.setdefault(item.ids["account_id"], []).append(item)
    for account_id, items in by_account.items():  # one statement per account (a transaction has one, mostly)
        events = [
            outbox.Event(
                item.name,
                item.data if item.data is not None else ids_payload(item.ids),
                **{column: item.ids.get(column) for column in _ID_COLUMNS},
            )
            for item in items
        ]
        appended_all = await outbox.append_many(session, account_id, events)
        for item, event, appended in zip(items, events, appended_all, strict=True):
            envelope = outbox.envelope(
                id=appended.id,
                type=appended.type,
                account_id=appended.account_id,
                position=appended.position,
                occurred_at=appended.occurred_at,
                data=event.data,
            )
            written.append((item, envelope))


async def lock_for_payload(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Take the account's lock before reading an event's payload from the database.

    Positions follow commit order under this lock (the audit and outbox appends take it at commit); a payload read
    under it sees every earlier position's change, so a consumer applying events in order never steps back (a
    person's ``applications[].status``, an application's notes). Payloads built from what the transaction itself
    inserted need no lock: nothing else can have changed them.
    """
    await account_lock(session, account_id)


def discard(session: AsyncSession) -> None:
    """Forget what a rolled-back transaction queued or wrote (its events and its audit records)."""
    from . import audit  # here: ats.db imports this module, and ats.audit imports ats.db

    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)
    audit.discard(session)


async def commit(session: AsyncSession, emit: Callable[..., Any] | None) -> None:
    """Append the recorded audit events and the queued events (the account's lock is taken only now, so the
    transaction holds it for these statements and the commit), commit, then hand the events to host listeners."""
    from . import audit

    try:
        # Every account's lock this commit needs, in one order for every transaction (a failed login audits each
        # account the email belongs to): two commits never wait on each other's second lock.
        accounts = audit.pending_accounts(session) | {p.ids["account_id"] for p in session.info.get(_PENDING, [])}
        for account_id in sorted(accounts, key=str):
            await account_lock(session, account_id)
        await audit.write_pending(session)
        await write_pending(session)
        await session.commit()
    except BaseException:
        discard(session)
        raise
    emit_committed(session, emit)


def emit_committed(session: AsyncSession, emit: Callable[..., Any] | None) -> None:
    """Hand committed events to host listeners; a listener's failure never undoes the request.

    A listener gets the ids it always got (``application_id``, ``account_id`` …) and ``event``: the envelope as
    the outbox holds it (id, type, position, occurred_at, data).
    """
    written: list[tuple[Pending, dict[str, Any]]] = session.info.pop(_WRITTEN, [])
    session.info.pop(_PENDING, None)
    for item, envelope in written:
        if emit is None:
            continue
        try:
            emit(item.name, **item.ids, event=envelope)
        except Exception:
            log.exception("emitting %s failed", item.name)
