"""Events for host code (``application.created`` …), emitted only after their transaction commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

EVENTS: frozenset[str] = frozenset(
    {"application.created", "application.status_changed", "application.erased", "document.uploaded"}
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
    for name, payload in take(session):
        if emit is not None:
            emit(name, **payload)
