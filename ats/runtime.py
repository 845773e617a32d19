"""What one running ATS holds: settings, the database engine, the document store, limiters."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ats.storage import Documents, make_client

from . import events
from .db import UnitOfWork, create_engine, session_factory
from .ratelimit import Limiter, RateLimiter, RedisRateLimiter
from .settings import Settings


class Runtime:
    """Not a dataclass on purpose: Litestar passes it through DI without validating its fields."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        documents: Documents,
        login_limiter: Limiter,
        login_ip_limiter: Limiter,
        public_limiter: Limiter,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = sessions
        self.uow = UnitOfWork(sessions)
        self.documents = documents
        self.login_limiter = login_limiter
        self.login_ip_limiter = login_ip_limiter
        self.public_limiter = public_limiter
        self.api_base = events.DEFAULT_API_BASE  # where document URLs point; the plugin sets its prefix

    @classmethod
    def create(cls, settings: Settings, engine: AsyncEngine | None = None) -> Runtime:
        if settings.database_url is None and engine is None:
            raise RuntimeError("ATS_DATABASE_URL is not set and no engine was given")
        engine = engine or create_engine(str(settings.database_url), pool_size=settings.database_pool_size)
        client = make_client(
            settings.s3_endpoint_url,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
            settings.s3_region,
            settings.s3_timeout,
        )
        # Presigned URLs name the address browsers reach S3 at; the server's own client may use another one.
        presigner = (
            make_client(
                settings.s3_public_endpoint_url,
                settings.s3_access_key_id,
                settings.s3_secret_access_key,
                settings.s3_region,
                settings.s3_timeout,
            )
            if settings.s3_public_endpoint_url
            else None
        )
        limits = {
            # One address may try several accounts (an office behind NAT): a wider limit per IP.
            "login": (settings.login_rate_limit, settings.login_rate_window),
            "login_ip": (settings.login_rate_limit * 10, settings.login_rate_window),
            "public": (settings.public_rate_limit, 60),
        }
        limiters: dict[str, Limiter]
        if settings.redis_url:
            import redis.asyncio

            redis_client = redis.asyncio.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
            limiters = {name: RedisRateLimiter(redis_client, n, w, name) for name, (n, w) in limits.items()}
        else:
            limiters = {name: RateLimiter(n, w) for name, (n, w) in limits.items()}
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            documents=Documents(client, settings.s3_bucket, presigner),
            login_limiter=limiters["login"],
            login_ip_limiter=limiters["login_ip"],
            public_limiter=limiters["public"],
        )

    @property
    def api_base(self) -> str:
        """The recruiter API's base path; every session knows it too (document URLs in event payloads)."""
        return self._api_base

    @api_base.setter
    def api_base(self, api_base: str) -> None:
        self._api_base = api_base
        self.sessions.configure(info={events.API_BASE_KEY: api_base})

    @property
    def emit(self) -> Callable[..., Any] | None:
        """Where committed events go (the app's ``emit``); requests and units of work share it."""
        return self.uow.emit

    @emit.setter
    def emit(self, emit: Callable[..., Any] | None) -> None:
        self.uow.emit = emit

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session whose work commits on success and rolls back on error (CLI, tests): the unit of work."""
        return self.uow()
