"""The request owns its transaction, and no connection waits in one while S3 answers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ats import ATSConfig, ATSPlugin
from ats.runtime import Runtime
from ats.settings import Settings
from tests.conftest import new_account
from tests.integration.helpers import make_application, make_job
from tests.samples import PDF

APP_NAME = "ats-one-connection"


@pytest.fixture
async def one_connection(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine with a pool of exactly one connection: whoever holds it blocks everyone else."""
    engine = create_async_engine(
        str(settings.database_url),
        pool_size=1,
        max_overflow=0,
        pool_timeout=5,
        connect_args={"application_name": APP_NAME, "options": "-c timezone=UTC"},
    )
    yield engine
    await engine.dispose()


async def _idle_in_transaction(settings: Settings) -> list[str]:
    """The app's connections that sit in an open transaction doing nothing, seen from outside its pool."""
    observer = create_async_engine(str(settings.database_url), poolclass=NullPool)
    try:
        async with observer.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT state FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                    " AND state LIKE 'idle in transaction%'"
                ),
                {"name": APP_NAME},
            )
            return [row.state for row in rows]
    finally:
        await observer.dispose()


async def test_erasure_waiting_on_s3_holds_no_connection(
    settings: Settings, one_connection: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While an erasure waits on a (held-up, real) S3 delete: nothing is idle in a transaction, and other
    requests, reads and writes, run on the pool's only connection."""
    app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=settings, engine=one_connection, background_jobs=False))])
    # Not the test client: it answers one request at a time. Requests here run side by side in this loop.
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
        runtime: Runtime = app.state["ats_runtime"]
        account = await new_account(client, runtime)
        job = await make_job(account)
        doomed = await make_application(account, job["id"])
        other = await make_application(account, job["id"])
        url = f"/api/v1/applications/{doomed['id']}"
        uploaded = await client.post(f"{url}/documents", files={"file": ("cv.pdf", PDF)}, headers=account.headers)
        assert uploaded.status_code == 201, uploaded.text

        in_s3, release = threading.Event(), threading.Event()
        delete_prefix = runtime.documents.delete_prefix

        def held_up(prefix: str) -> int:
            in_s3.set()
            release.wait(30)
            return delete_prefix(prefix)

        monkeypatch.setattr(runtime.documents, "delete_prefix", held_up)
        erasing = asyncio.create_task(client.delete(f"{url}?reason=candidate_request", headers=account.headers))
        try:
            deadline = time.monotonic() + 20
            while not in_s3.is_set():
                assert not erasing.done(), erasing.result().text
                assert time.monotonic() < deadline, "the erasure never reached S3"
                await asyncio.sleep(0.01)

            assert await _idle_in_transaction(settings) == []
            other_url = f"/api/v1/applications/{other['id']}"
            read = await client.get(other_url, headers=account.headers)
            assert read.status_code == 200, read.text
            note = await client.post(f"{other_url}/notes", json={"content": "meanwhile"}, headers=account.headers)
            assert note.status_code == 201, note.text
            assert await _idle_in_transaction(settings) == []
            assert not erasing.done()
        finally:
            release.set()
        erased = await erasing
        assert erased.status_code == 200, erased.text
        receipt = erased.json()["data"]
        assert receipt["storage"] == "erased" and receipt["counts"]["objects"] == 1
        assert (await client.get(url, headers=account.headers)).status_code == 404


async def test_a_failed_login_is_kept(client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    """``keeps_work`` on the error class: the failed login's audit event commits with the 401."""
    account = await new_account(client, runtime)
    failed = await client.post("/api/v1/auth/token", json={"email": account.admin_email, "password": "wrong-password"})
    assert failed.status_code == 401
    async with runtime.transaction() as session:
        kept = await session.scalar(
            text("SELECT count(*) FROM audit_events WHERE action = 'auth.login_failed' AND object_id = :id"),
            {"id": account.admin_id},
        )
    assert kept == 1
