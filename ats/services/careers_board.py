"""An account's public careers board: its slug and the browser origins allowed to call the public API."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ats.storage import Documents

from ..careers import is_slug, normalize_origins
from ..db import UnitOfWork
from ..errors import AlreadyExists, FieldError, NotFound, ValidationFailed
from ..models import Account


@dataclass(frozen=True, slots=True)
class Board:
    slug: str
    allowed_origins: list[str]


async def free_slug(session: AsyncSession, base: str) -> str:
    """``base`` when no board has it yet, else ``base`` with a random suffix (a new account's slug)."""
    if not await session.scalar(select(exists().where(Account.board_slug == base))):
        return base
    suffix = "-" + secrets.token_hex(3)
    return base[: 63 - len(suffix)].rstrip("-") + suffix


async def get_board(session: AsyncSession, account_id: uuid.UUID) -> Board:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound("No such account")
    return Board(account.board_slug, list(account.board_origins))


async def update_board(
    session: AsyncSession, account_id: uuid.UUID, *, slug: str | None = None, allowed_origins: list[str] | None = None
) -> Board:
    """Change the slug and/or the allowed origins; 422 naming the field for a malformed one, 409 for a taken slug."""
    account = await session.get(Account, account_id, with_for_update=True)
    if account is None:
        raise NotFound("No such account")
    errors: list[FieldError] = []
    if slug is not None and not is_slug(slug):
        errors.append(
            FieldError("/slug", "2 to 63 lower-case letters, digits and inner hyphens", "invalid"),
        )
    origins: list[str] | None = None
    if allowed_origins is not None:
        try:
            origins = normalize_origins(allowed_origins)
        except ValueError as exc:
            errors.append(FieldError("/allowed_origins", str(exc), "invalid"))
    if errors:
        raise ValidationFailed("The careers board settings are invalid", errors=errors)
    if slug is not None and slug != account.board_slug:
        taken = await session.scalar(select(exists().where(Account.board_slug == slug, Account.id != account_id)))
        if taken:
            raise AlreadyExists("Another careers board has this slug")
        account.board_slug = slug
    if origins is not None:
        account.board_origins = origins
    try:
        await session.flush()
    except IntegrityError:  # a concurrent request took the slug between the check and the write
        raise AlreadyExists("Another careers board has this slug") from None
    return Board(account.board_slug, list(account.board_origins))


async def account_by_slug(session: AsyncSession, slug: str) -> tuple[uuid.UUID, str] | None:
    """The id and name of the account whose board is ``slug``."""
    row = (await session.execute(select(Account.id, Account.name).where(Account.board_slug == slug))).first()
    return (row[0], row[1]) if row else None


async def origin_allowed(session: AsyncSession, origin: str) -> bool:
    """Whether any account's board allows ``origin`` (the GIN index on ``board_origins`` answers it)."""
    return bool(await session.scalar(select(exists().where(Account.board_origins.contains([origin])))))


async def all_board_origins(session: AsyncSession) -> set[str]:
    """Every origin some board allows (for the bucket's CORS rule)."""
    rows = await session.scalars(select(func.unnest(Account.board_origins)).distinct())
    return set(rows)


async def account_names(session: AsyncSession, account_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Account names by id: the ``hiringOrganization`` of their postings."""
    if not account_ids:
        return {}
    rows = await session.execute(select(Account.id, Account.name).where(Account.id.in_(account_ids)))
    return {row[0]: row[1] for row in rows}


async def sync_bucket_cors(
    uow: UnitOfWork, documents: Documents, static_origins: tuple[str, ...], *, clear: bool = True
) -> list[str]:
    """Give the bucket one CORS rule for every origin that may call /public/v1 (configured ones and boards').

    The service owns the bucket's CORS configuration; with ``clear=False`` (start-up) an empty list leaves
    whatever the bucket has alone, so a deployment that uses no browser origins never loses a rule set by hand.
    """
    async with uow() as session:
        origins = sorted(await all_board_origins(session) | set(static_origins))
    if origins or clear:
        await anyio.to_thread.run_sync(documents.put_cors, origins, abandon_on_cancel=True)
    return origins
