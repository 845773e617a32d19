"""SQLAlchemy base, engine and session factory."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from . import events

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """An async engine on psycopg 3 that fails fast when PostgreSQL is unreachable.

    Overflow connections are closed when returned, so a pool sized for the expected concurrency
    (not a small pool with a large overflow) avoids opening a connection per request under load.
    """
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max(2, pool_size // 4),
        pool_pre_ping=True,
        hide_parameters=True,  # bound values are applicant data: never in an error message
        pool_timeout=10,
        # UTC sessions: timestamps PostgreSQL renders itself (in JSON) come out in UTC too.
        connect_args={"connect_timeout": 3, "application_name": "ats", "options": "-c timezone=UTC"},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class UnitOfWork:
    """Transactions for work that commits on its own, outside a request's: ``async with uow() as session:``.

    The block's work commits when it ends without an error and rolls back otherwise; its queued events
    are written to the outbox in its transaction and go to ``emit`` only after the commit. The connection
    goes back to the pool when the block ends, so a service that calls S3 or SMTP between two blocks
    holds none meanwhile.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], emit: Callable[..., Any] | None = None) -> None:
        self.sessions = sessions
        self.emit = emit  # set by the plugin once the app exists

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            try:
                yield session
            except BaseException:
                events.discard(session)
                await session.rollback()
                raise
            await events.commit(session, self.emit)


def constraint_name(exc: IntegrityError) -> str | None:
    """The constraint PostgreSQL named in an integrity error (psycopg's diagnostics)."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return str(name) if name else None
