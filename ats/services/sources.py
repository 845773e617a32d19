"""The account's controlled list of application sources (§13): what a recruiter's ``source`` is picked from."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..auth import Principal
from ..errors import FieldError, NotFound, ValidationFailed
from ..models import Account
from ..roles import Permission

MAX_SOURCES = 100


def clean(sources: list[str]) -> list[str]:
    """Trimmed, each once (case-insensitively, the first spelling kept), empty ones dropped."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in sources:
        value = " ".join(raw.split())
        if value and value.casefold() not in seen:
            seen.add(value.casefold())
            out.append(value)
    return out


async def list_sources(session: AsyncSession, principal: Principal) -> list[str]:
    principal.scope(Permission.READ)
    found = await session.scalar(select(Account.application_sources).where(Account.id == principal.account_id))
    return list(found or [])


async def set_sources(session: AsyncSession, principal: Principal, sources: list[str]) -> list[str]:
    """Replace the list (admin); applications keep the source they were given."""
    principal.scope(Permission.MANAGE_USERS)
    account = await session.get(Account, principal.account_id, with_for_update=True)
    if account is None:
        raise NotFound("No such account")
    cleaned = clean(sources)
    if len(cleaned) > MAX_SOURCES:
        raise ValidationFailed(errors=[FieldError("/sources", f"at most {MAX_SOURCES} sources")])
    if cleaned != list(account.application_sources):
        account.application_sources = cleaned
        await session.flush()
        await audit.record(session, principal, "account.updated", data={"fields": ["application_sources"]})
    return cleaned


async def check_source(session: AsyncSession, account_id: uuid.UUID, source: str | None, pointer: str) -> None:
    """A recruiter's ``source`` must be on the account's list once it has one (422 listing them)."""
    if source is None:
        return
    allowed = list(await session.scalar(select(Account.application_sources).where(Account.id == account_id)) or [])
    if allowed and source.casefold() not in {a.casefold() for a in allowed}:
        raise ValidationFailed(
            f"Unknown source; valid values: {', '.join(allowed)}",
            errors=[FieldError(pointer, f"must be one of {', '.join(allowed)}", "invalid_source")],
            extra={"allowed": allowed},
        )
