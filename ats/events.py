"""Events for host code (``application.created`` …), emitted only after their transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("ats.events")

EVENTS: frozenset[str] = frozenset(
    {
        "application.created",
        "application.status_changed",
        "application.erased",
        "document.uploaded",
        "candidate.created",
        "candidate.updated",
        "candidate.merged",
        "candidate.erased",
        "candidate.merge_undone",
    }
)
_PENDING = "ats_pending_events"


def queue(session: AsyncSession, name: str, **payload: Any) -> None:
    """Hold an event until the session's transaction commits; a rollback drops it."""
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}")
    session.info.setdefault(_PENDING, []).append((name, payload))


def take(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    pending: list[tuple[str, dict[str, Any]]] = session.info.pop(_PENDING, [])
    return pending


def emit_committed(session: AsyncSession, emit: Callable[..., Any] | None) -> None:
    """Hand committed events to host listeners; a listener's failure never undoes the request."""
    for name, payload in take(session):
        if emit is None:
            continue
        try:
            emit(name, **payload)
        except Exception:
            log.exception("emitting %s failed", name)
