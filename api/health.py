"""Liveness and readiness."""

from __future__ import annotations

import anyio
import anyio.to_thread
import msgspec
from litestar import Controller, get
from sqlalchemy import text

from ats.errors import ServiceUnavailable
from ats.runtime import Runtime


class Health(msgspec.Struct):
    status: str
    database: str | None = None
    storage: str | None = None


async def check_database(runtime: Runtime) -> bool:
    try:
        with anyio.fail_after(3):
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


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
    async def ready(self, runtime: Runtime) -> Health:
        """503 when PostgreSQL or S3 does not answer."""
        db_ok, s3_ok = await check_database(runtime), await check_storage(runtime)
        if not (db_ok and s3_ok):
            down = [name for name, ok in (("database", db_ok), ("storage", s3_ok)) if not ok]
            raise ServiceUnavailable(f"Not ready: {', '.join(down)} unavailable")
        return Health("ok", "ok", "ok")
