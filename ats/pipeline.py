"""The status machine: one source of truth for validation, transitions, /stages, stats and the docs.

``new → screening → interview → offer → hired``, plus ``rejected`` and ``withdrawn``.
Open statuses may move to any later status in the flow (skipping allowed), ``rejected`` or
``withdrawn``; ``hired`` is terminal; ``rejected`` and ``withdrawn`` may only reopen to the status
held just before.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import FieldError, TransitionNotAllowed, ValidationFailed


class Status(StrEnum):
    NEW = "new"
    SCREENING = "screening"
    INTERVIEW = "interview"
    OFFER = "offer"
    HIRED = "hired"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


FLOW: tuple[Status, ...] = (Status.NEW, Status.SCREENING, Status.INTERVIEW, Status.OFFER, Status.HIRED)
CLOSED: tuple[Status, ...] = (Status.REJECTED, Status.WITHDRAWN)
STATUSES: tuple[str, ...] = tuple(s.value for s in (*FLOW, *CLOSED))
TERMINAL: frozenset[Status] = frozenset({Status.HIRED})
# Stages that count as "reached" for conversion: every flow status after new.
MILESTONES: tuple[Status, ...] = FLOW[1:]
STAGE_NAMES: dict[Status, str] = {s: s.value.title() for s in Status}


def position(status: str) -> int:
    """1-based place of a status: the flow first, then rejected and withdrawn."""
    return STATUSES.index(status) + 1


def parse_status(value: str, pointer: str = "/status") -> Status:
    """A status, or 422 listing every valid value."""
    try:
        return Status(value)
    except ValueError:
        raise ValidationFailed(
            f"Unknown status; valid values: {', '.join(STATUSES)}",
            errors=[FieldError(pointer, f"must be one of {', '.join(STATUSES)}", "invalid_status")],
            extra={"allowed": list(STATUSES)},
        ) from None


def allowed_next(current: Status, previous: Status | None = None) -> list[Status]:
    """Where an application in ``current`` may go (``previous``: the status held before a close)."""
    if current in TERMINAL:
        return []
    if current in CLOSED:
        return [previous] if previous is not None and previous not in CLOSED else []
    later = list(FLOW[FLOW.index(current) + 1 :])
    return [*later, *CLOSED]


def generic_next(current: Status) -> list[Status]:
    """``allowed_next`` without an application's history, as ``/stages`` shows it."""
    if current in CLOSED:
        return []
    return allowed_next(current)


@dataclass(frozen=True, slots=True)
class Move:
    """The outcome of a checked move: ``changed`` is False for the no-op to the same status."""

    source: Status
    target: Status
    changed: bool
    previous_after: Status | None


def check_move(current: Status, target: Status, previous: Status | None) -> Move:
    """Apply the table: same status is a no-op; anything not allowed is 409 with the allowed targets."""
    if target == current:
        return Move(current, target, False, previous)
    allowed = allowed_next(current, previous)
    if target not in allowed:
        names = [s.value for s in allowed]
        raise TransitionNotAllowed(
            f"Cannot move from {current.value} to {target.value}; allowed: {', '.join(names) or 'none'}",
            extra={"allowed": names, "from": current.value, "to": target.value},
        )
    # Closing remembers where the application was, so that it can reopen there.
    previous_after = current if target in CLOSED else None
    return Move(current, target, True, previous_after)


def rank_sql(column: str = "status") -> str:
    """SQL for the pipeline position of ``column`` (used for ``orderby=status``)."""
    whens = " ".join(f"WHEN '{s}' THEN {position(s)}" for s in STATUSES)
    return f"CASE {column} {whens} END"
