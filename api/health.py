"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
import msgspec
from litestar import Controller, Request, get

from ats import migrate
from ats.errors import ServiceUnavailable
from ats.runtime import Runtime

#: app.state key: True once start-up has made sure the bucket exists (until then readiness is 503).
STORAGE_READY_KEY = "ats_storage_ready"


class Health(msgspec.Struct):
    status: str
    database: str | None = None
    storage: str | None = None


async def check_database(runtime: Runtime) -> str | None:
    """Why the database cannot serve requests (unreachable, or not at this code's schema), or ``None``."""
    try:
        with anyio.fail_after(3):
            async with runtime.engine.connect() as conn:
                return await migrate.schema_problem(conn)
    except Exception:
        return "database unavailable"


async def check_storage(runtime: Runtime) -> bool:
    try:
        with anyio.fail_after(runtime.settings.s3_timeout + 1):
            await anyio.to_thread.run_sync(runtime.documents.ping, abandon_on_cancel=True)
        return True
    except Exception:
        return False


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live")
    async def live(self) -> Health:
        return Health("ok")

    @get("/ready")
    async def ready(self, request: Request[Any, Any, Any], runtime: Runtime) -> Health:
        """503 when PostgreSQL or S3 does not answer, or while start-up has not yet made sure the bucket exists."""
        bucket_ensured = request.app.state.get(STORAGE_READY_KEY, True) is not False
        db_problem = await check_database(runtime)
        s3_ok = bucket_ensured and await check_storage(runtime)
        if db_problem is not None or not s3_ok:
            down = [problem for problem in (db_problem, None if s3_ok else "storage unavailable") if problem]
            raise ServiceUnavailable(f"Not ready: {'; '.join(down)}")
        return Health("ok", "ok", "ok")
