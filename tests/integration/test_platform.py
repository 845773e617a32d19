"""The plugin in a host app, health, OpenAPI, and behaviour with PostgreSQL stopped."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from ats import ATSConfig, ATSPlugin, migrate
from ats.embedded import EmbeddedPostgres
from ats.settings import Settings
from tests.conftest import PASSWORD, Account, problem
from tests.integration.helpers import assert_jsonapi


async def test_plugin_mounts_under_a_prefix_in_a_host_app(settings: Settings, account: Account) -> None:
    @get("/hello")
    async def hello() -> dict[str, str]:
        return {"host": "yes"}

    seen: list[str] = []
    host = Litestar(route_handlers=[hello], plugins=[ATSPlugin(ATSConfig(settings=settings, path_prefix="/ats"))])
    async with AsyncTestClient(app=host) as client:
        assert (await client.get("/hello")).json() == {"host": "yes"}
        token = await client.post("/ats/api/v1/auth/token", json={"email": account.admin_email, "password": PASSWORD})
        assert token.status_code == 200
        me = await client.get("/ats/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert me.status_code == 200 and me.json()["data"]["account"]["id"] == str(account.id)
        assert (await client.get("/ats/health/live")).status_code == 200
        problem(await client.get("/ats/api/v1/nothing-here"), 404, "not_found")
        assert (await client.get("/api/v1/me")).status_code == 404  # nothing mounted outside the prefix
    del seen


async def test_health_and_openapi(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/health/live")).json()["status"] == "ok"
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": "ok", "storage": "ok"}
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/auth/token" in spec["paths"] and "/api/v1/users" in spec["paths"]


async def test_metrics_in_prometheus_format(client: AsyncTestClient[Litestar], account: Account) -> None:
    await client.get("/api/v1/me", headers=account.headers)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "ats_requests_total" in response.text
    assert 'path="/api/v1/me"' in response.text
    assert str(account.id) not in response.text


async def test_unknown_route_and_method_are_problems(client: AsyncTestClient[Litestar], account: Account) -> None:
    problem(await client.get("/api/v1/does-not-exist", headers=account.headers), 404, "not_found")
    problem(await client.put("/api/v1/me", headers=account.headers), 405, "method_not_allowed")


async def test_huge_body_is_refused(client: AsyncTestClient[Litestar]) -> None:
    huge = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'", "password": "x"}'
    response = await client.post("/api/v1/auth/token", content=huge, headers={"Content-Type": "application/json"})
    problem(response, 413, "payload_too_large")


async def test_postgres_stopped_gives_503_never_500(settings: Settings) -> None:
    """A throwaway real PostgreSQL, stopped under a running app."""
    root = Path(tempfile.mkdtemp(prefix="ats-pgdown-"))
    pg = EmbeddedPostgres(root, fast=True)
    pg.start()
    try:
        migrate.upgrade_and_grant(pg.app_url, pg.owner_url)
        app = Litestar(plugins=[ATSPlugin(ATSConfig(settings=dataclasses.replace(settings, database_url=pg.app_url)))])
        async with AsyncTestClient(app=app) as client:
            assert (await client.get("/health/ready")).status_code == 200
            pg.stop()
            ready = await client.get("/health/ready")
            body = problem(ready, 503, "service_unavailable")
            assert "database" in body["detail"]
            login = await client.post("/api/v1/auth/token", json={"email": "a@example.com", "password": "whatever1"})
            problem(login, 503, "service_unavailable")
            me = await client.get("/api/v1/me", headers={"Authorization": "Bearer ats_at_x"})
            problem(me, 503, "service_unavailable")
            postings = await client.get("/public/v1/job_postings")
            assert assert_jsonapi(postings, 503)["errors"][0]["code"] == "service_unavailable"
            for response in (ready, login, me, postings):
                assert "Traceback" not in response.text and "SELECT" not in response.text
            pg.start()
            assert (await client.get("/health/ready")).status_code == 200
    finally:
        pg.stop()
