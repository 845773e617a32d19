"""Real PostgreSQL and S3 for the whole run: embedded, in a throwaway data dir of the suite's own.

The developer's ``ATS_*`` variables are ignored (removed from the environment for the run): an exported
``ATS_DATA_DIR`` or ``ATS_DATABASE_URL`` of a dev setup must never be written to by the suite.

Isolation: every test works in an account of its own (every row and query is account-scoped),
so tests neither see nor clean up each other's data and can run concurrent requests for real.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ats import migrate
from ats.app import create_app
from ats.embedded import EmbeddedServices, ensure_services, wait_for
from ats.runtime import Runtime
from ats.settings import Settings, load_settings

PASSWORD = "correct horse battery"


def suite_environment(environ: Mapping[str, str], data_dir: Path) -> dict[str, str]:
    """The environment the suite runs in: ``environ`` without any ``ATS_*`` variable, plus the suite's own settings."""
    env = {k: v for k, v in environ.items() if not k.startswith("ATS_")}
    env.update(ATS_DATA_DIR=str(data_dir), ATS_EMBEDDED_FAST="true", ATS_DEMO_ACCOUNT="false")
    return env


@pytest.fixture(scope="session", autouse=True)
def suite_data_dir() -> Iterator[Path]:
    """A fresh data dir; for the whole run the process (and any child it starts) sees only the suite's ATS_*."""
    data_dir = Path(tempfile.mkdtemp(prefix="ats-test-"))
    env = suite_environment(os.environ, data_dir)
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name not in env]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        yield data_dir
    with contextlib.suppress(OSError):
        data_dir.rmdir()  # only when empty: no service was started (a unit-only run)


@pytest.fixture(scope="session")
def services(suite_data_dir: Path) -> Iterator[tuple[Settings, EmbeddedServices]]:
    settings, started = ensure_services(load_settings(suite_environment(os.environ, suite_data_dir)))
    # The app runs as the embedded ``ats_app`` role; migrations ran as ``ats_owner``, which granted it.
    assert settings.database_url and settings.database_owner_url
    migrate.upgrade_and_grant(settings.database_url, settings.database_owner_url)
    runtime = Runtime.create(settings)
    # SeaweedFS answers before it accepts writes: wait for a real write.
    wait_for(runtime.documents.ensure_bucket, timeout=90)
    wait_for(lambda: runtime.documents.client.put_object(Bucket=settings.s3_bucket, Key="probe", Body=b"x"), 90)
    runtime.documents.client.delete_object(Bucket=settings.s3_bucket, Key="probe")
    yield settings, started
    started.stop(kill_s3=True)


@pytest.fixture(scope="session")
def settings(services: tuple[Settings, EmbeddedServices]) -> Settings:
    # Webhooks: the suite's receivers listen on loopback over plain http, and retries come within a second.
    return dataclasses.replace(
        services[0],
        login_rate_limit=5,
        public_rate_limit=1000,
        webhooks_allow_http=True,
        webhooks_allow_private=True,
        webhooks_retry_base=0.05,
        webhooks_retry_cap=0.4,
        webhooks_poll_interval=0.1,
        webhooks_timeout=5.0,
    )


@pytest.fixture(scope="session")
def owner_url(services: tuple[Settings, EmbeddedServices]) -> str:
    """The schema owner's URL (migrations; tests that tamper with the audit log as its owner could)."""
    assert services[0].database_owner_url
    return services[0].database_owner_url


@pytest.fixture(scope="session")
def superuser_url(services: tuple[Settings, EmbeddedServices]) -> str:
    """The embedded cluster's superuser (tests that create roles or databases)."""
    assert services[1].postgres is not None
    return services[1].postgres.superuser_url


@pytest.fixture
async def as_owner(owner_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine connected as the schema owner, disposed after the test."""
    engine = create_async_engine(owner_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def runtime(app: Litestar, client: AsyncTestClient[Litestar]) -> Runtime:
    from ats.plugin import app_runtime

    found: Runtime = app_runtime(app)
    return found


@dataclass
class Account:
    """A fresh account with an admin, and helpers to act as its users."""

    id: uuid.UUID
    admin_id: uuid.UUID
    admin_email: str
    token: str
    client: AsyncTestClient[Litestar]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def user(self, role: str, name: str | None = None) -> tuple[str, dict[str, str]]:
        """Create a user with ``role``; return its id and auth headers."""
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        response = await self.client.post(
            "/api/v1/users",
            json={"email": email, "name": name or role.title(), "role": role, "password": PASSWORD},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        token = await login(self.client, email)
        return response.json()["data"]["id"], {"Authorization": f"Bearer {token}"}


async def login(client: AsyncTestClient[Litestar], email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def new_account(client: AsyncTestClient[Litestar], runtime: Runtime) -> Account:
    from ats.services import accounts

    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime.transaction() as session:
        account, admin = await accounts.create_account(
            session, "Test " + uuid.uuid4().hex[:6], admin_email=email, admin_password=PASSWORD
        )
    token = await login(client, email)
    return Account(account.id, admin.id, email, token, client)


@pytest.fixture
async def account(client: AsyncTestClient[Litestar], runtime: Runtime) -> Account:
    return await new_account(client, runtime)


@pytest.fixture
async def other_account(client: AsyncTestClient[Litestar], runtime: Runtime) -> Account:
    return await new_account(client, runtime)


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a problem-details answer with ``status`` (and ``code``) and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code"} <= body.keys()
    if code is not None:
        assert body["code"] == code, body
    return body
