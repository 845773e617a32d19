"""``ATSPlugin``: the whole API as one Litestar plugin; the standalone app is this plugin alone.

This is the composition root: the one module (with ``ats.app``) that imports the web layer (``ats.api``) and
wires it to the domain. import-linter keeps everything else from doing so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from litestar._asgi.utils import wrap_in_exception_handler
from litestar.config.app import AppConfig
from litestar.events import EventListener, listener
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins import InitPlugin
from litestar.plugins.prometheus import PrometheusConfig
from sqlalchemy.ext.asyncio import AsyncEngine

from . import events, migrate
from .api.cors import CORSMiddleware, add_cors_headers
from .api.deps import STATE_KEY, runtime_of
from .api.errors import by_path
from .api.health import STORAGE_READY_KEY
from .api.logging import RequestMetrics, configure_logging, request_logging_middleware
from .api.metrics import metrics_controller
from .api.openapi import API_DESCRIPTION, OfflineSwagger, OpenAPIJson, assets_router
from .api.routes import build_routers
from .runtime import Runtime
from .services import careers_board
from .settings import Settings, load_settings
from .worker import background_jobs

if TYPE_CHECKING:
    from litestar import Litestar

log = logging.getLogger("ats")


async def _ignore_event(*_: Any, **__: Any) -> None:
    return None


def _emit_heard(app: Litestar, ignoring: EventListener) -> Callable[..., Any] | None:
    """The app's ``emit`` for the events a host listens to; ``None`` when none does.

    An event only the no-op listener hears would still be queued to Litestar's emitter and run as a task of its own
    (per event, per request): the listeners are fixed when the app is built, so those are left out here.
    """
    heard = frozenset(
        event
        for event, listeners in app.event_emitter.listeners.items()
        if any(other is not ignoring for other in listeners)
    )
    if not heard:
        return None

    def emit(event_id: str, *args: Any, **kwargs: Any) -> None:
        if event_id in heard:
            app.emit(event_id, *args, **kwargs)

    return emit


async def _say_if_not_migrated(runtime: Runtime) -> None:
    """One line at start-up when the schema is not this code's (a host app migrates with ``ats db upgrade``);
    readiness answers 503 with the same words until it is."""
    try:
        async with runtime.engine.connect() as conn:
            problem = await migrate.schema_problem(conn)
    except Exception:  # PostgreSQL not up yet: readiness tells
        return
    if problem is not None:
        log.error("%s; until then readiness is 503 and requests that need the database fail", problem)


#: Backoff between attempts to reach S3 at start-up: doubling from the first to the cap, with jitter.
STORAGE_RETRY_FIRST = 0.5
STORAGE_RETRY_CAP = 10.0


async def _ensure_storage(app: Litestar, runtime: Runtime, *, warn: bool) -> bool:
    """One attempt: the bucket exists (readiness then reports storage), then its CORS rule; True when both are done.

    An S3 without bucket CORS (501) counts as done: the API works without the rule.
    """
    settings = runtime.settings
    if not app.state.get(STORAGE_READY_KEY):
        try:
            with anyio.fail_after(settings.s3_timeout + 1):
                await anyio.to_thread.run_sync(runtime.documents.ensure_bucket, abandon_on_cancel=True)
        except Exception as exc:
            (log.warning if warn else log.debug)("document storage not ready: %s", type(exc).__name__)
            return False
        app.state[STORAGE_READY_KEY] = True
    try:
        with anyio.fail_after(settings.s3_timeout + 5):
            await careers_board.sync_bucket_cors(runtime.uow, runtime.documents, settings.cors_origins, clear=False)
    except Exception as exc:
        if "NotImplemented" in str(exc) or "501" in str(exc):
            log.warning("document storage has no bucket CORS: %s", type(exc).__name__)
            return True
        (log.warning if warn else log.debug)("document storage CORS rule not set: %s", type(exc).__name__)
        return False
    return True


async def _ensure_storage_until_done(app: Litestar, runtime: Runtime) -> None:
    delay = STORAGE_RETRY_FIRST
    attempts = 1
    while True:
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: replicas do not retry in step
        attempts += 1
        # warn now and then (every 10th attempt), not at every retry
        if await _ensure_storage(app, runtime, warn=attempts % 10 == 0):
            log.info("document storage ready after %d attempts", attempts)
            return
        delay = min(delay * 2, STORAGE_RETRY_CAP)


async def _warm_pool(runtime: Runtime) -> None:
    """Open the pool's connections now (all at once, then back to the pool), not on the first busy second.

    Best effort: PostgreSQL not up yet is readiness's to report, and the pool opens connections on demand then.
    """
    engine = runtime.engine
    size = int(getattr(engine.sync_engine.pool, "size", lambda: 0)())
    if size <= 0:
        return
    opened = await asyncio.gather(*(engine.connect() for _ in range(size)), return_exceptions=True)
    for conn in opened:
        if isinstance(conn, BaseException):
            log.debug("database pool not warmed: %s", type(conn).__name__)
        else:
            await conn.close()


@dataclass
class ATSConfig:
    """How the plugin mounts: settings (default: ``ATS_*``), path prefix, optionally the host's engine."""

    settings: Settings | None = None
    path_prefix: str = ""
    engine: AsyncEngine | None = None
    background_jobs: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)

    def resolved_settings(self) -> Settings:
        base = self.settings or load_settings()
        return dataclasses.replace(base, **self.overrides) if self.overrides else base


def app_runtime(app: Litestar) -> Runtime:
    """The running ATS of an app that mounts the plugin (after start-up): its engine, sessions, documents."""
    return runtime_of(app.state)


class ATSPlugin(InitPlugin):
    """Adds the recruiter API, the public API and health checks, with their state and error handlers."""

    def __init__(self, config: ATSConfig | None = None) -> None:
        self.config = config or ATSConfig()
        self.settings = self.config.resolved_settings()
        self.prefix = "/" + self.config.path_prefix.strip("/") if self.config.path_prefix.strip("/") else ""
        self._ignoring = listener(*events.EVENTS)(_ignore_event)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        configure_logging(self.settings.log_format, self.settings.log_level)
        app_config.route_handlers.extend(
            build_routers(self.prefix, self.settings.max_body_bytes, self.settings.max_upload_bytes)
        )
        app_config.lifespan.append(self._lifespan)
        # Litestar refuses to emit an event nobody listens to: a no-op listener makes every ATS
        # event always emittable, and host listeners add to it.
        app_config.listeners.append(self._ignoring)
        # The request log and the Prometheus metrics (labelled by route template, never by ids or query strings):
        # one pure ASGI layer, outermost.
        metrics = RequestMetrics(
            PrometheusConfig(app_name="ats", prefix="ats", group_path=True, exclude_unhandled_paths=True)
        )
        app_config.middleware.insert(0, DefineMiddleware(request_logging_middleware, metrics=metrics))
        # Inside the request log (preflights are logged too), outside everything that could refuse a preflight.
        app_config.middleware.insert(
            1,
            DefineMiddleware(
                CORSMiddleware,
                prefix=self.prefix,
                origins=self.settings.cors_origins,
                dashboard_origins=self.settings.cors_dashboard_origins,
            ),
        )
        # An error raised in a middleware (the 401 of authentication, a database outage while resolving the
        # token) becomes its response here, inside the request log and the metrics: both see the status sent.
        app_config.middleware.append(wrap_in_exception_handler)
        app_config.before_send.append(add_cors_headers)
        app_config.route_handlers.append(metrics_controller(f"{self.prefix}/metrics", self.settings.metrics_token))
        fallback = by_path(self.prefix)
        app_config.exception_handlers.setdefault(NotFoundException, fallback)
        app_config.exception_handlers.setdefault(MethodNotAllowedException, fallback)
        if app_config.openapi_config is None or app_config.openapi_config.title == "Litestar API":
            app_config.openapi_config = OpenAPIConfig(
                title="ats",
                version="1.0.0",
                description=API_DESCRIPTION,
                use_handler_docstrings=True,
                path="/schema",
                render_plugins=[OfflineSwagger(self.prefix), OpenAPIJson(self.prefix)],
            )
            app_config.route_handlers.append(assets_router())
        return app_config

    @asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        if settings.database_url is None or settings.s3_endpoint_url is None:
            from .embedded import ensure_services

            settings, _ = await anyio.to_thread.run_sync(ensure_services, settings)
        runtime = Runtime.create(settings, engine=self.config.engine)
        runtime.emit = _emit_heard(app, self._ignoring)
        runtime.api_base = f"{self.prefix}/api/v1"
        app.state[STATE_KEY] = runtime
        await _warm_pool(runtime)
        await _say_if_not_migrated(runtime)
        # The bucket and its CORS rule: tried once now; an S3 that is not up yet (compose starts it alongside)
        # is retried in the background with backoff until it answers, and readiness stays 503 meanwhile.
        app.state[STORAGE_READY_KEY] = False
        storage = None
        if not await _ensure_storage(app, runtime, warn=True):
            storage = asyncio.create_task(_ensure_storage_until_done(app, runtime))
        jobs = asyncio.create_task(background_jobs(runtime)) if self.config.background_jobs else None
        try:
            yield
        finally:
            if storage is not None:
                storage.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await storage
            if jobs is not None:
                jobs.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await jobs
            if self.config.engine is None:
                await runtime.engine.dispose()
